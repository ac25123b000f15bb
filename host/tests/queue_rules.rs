//! The queue's and the cache's rules, written once against the `Queue` and
//! `Cache` contracts and checked on every backend: SQLite always, PostgreSQL
//! on a throwaway cluster of its own (one database per rule).

use clx::report::Location;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use clx::run::protocol::Event;
use clx::run::worker::{release, told, JobSlot};
use clx::store::job::JobPayload;
use clx::store::{
    requirement, BlobHash, Cache, CacheEntry, CacheKey, ErrorCategory, JobError, JobId, JobOutcome, JobStatus, Lookup,
    NewJob, Queue, Requeued, SessionId, SessionStatus, StoreLocation, StoredOutput, WorkerId, WorkerStatus,
    MAX_ATTEMPTS,
};
use clx_e2e::pg::PgCluster;

/// A store to check a rule on; [`Store::open`] gives another connection.
struct Store {
    location: StoreLocation,
    _dir: tempfile::TempDir,
}

impl Store {
    fn open(&self) -> Box<dyn Queue> {
        self.location.open_queue().expect("open the queue")
    }

    fn cache(&self) -> Box<dyn Cache> {
        self.location.open_cache().expect("open the cache")
    }

    /// Overwrite a stored blob's bytes behind the cache's back, as a failing
    /// disk or a stray write would.
    fn damage(&self, blob: &BlobHash) {
        match &self.location {
            StoreLocation::Local { cache, .. } => {
                let (prefix, rest) = blob.to_hex().split_at(2);
                let path = cache.join("blobs").join(prefix).join(rest);
                assert!(path.exists(), "{}", path.display());
                std::fs::write(path, b"damaged").unwrap();
            }
            StoreLocation::Postgres(url) => {
                let mut db = postgres::Client::connect(url.as_secret_str(), postgres::NoTls).unwrap();
                let sql = "UPDATE clx_cache_blobs SET bytes = 'damaged' WHERE hash = $1";
                assert_eq!(db.execute(sql, &[&blob.to_hex()]).unwrap(), 1);
            }
        }
    }

    /// A connection of its own to a PostgreSQL store's database, to change
    /// behind the queue's back what a clock, a server or a lost worker would.
    fn direct(&self) -> postgres::Client {
        let StoreLocation::Postgres(url) = &self.location else { unreachable!("a PostgreSQL store") };
        postgres::Client::connect(url.as_secret_str(), postgres::NoTls).unwrap()
    }

    fn sqlite() -> Store {
        let dir = tempfile::tempdir().unwrap();
        let location = StoreLocation::resolve(None, &dir.path().join("q.db"), &dir.path().join("cache")).unwrap();
        Store { location, _dir: dir }
    }

    fn postgres(cluster: &PgCluster, database: &str) -> Store {
        Store::at(&cluster.database(database))
    }

    /// A PostgreSQL store at `url`.
    fn at(url: &str) -> Store {
        let dir = tempfile::tempdir().unwrap();
        let location = StoreLocation::resolve(Some(url), dir.path(), dir.path()).unwrap();
        Store { location, _dir: dir }
    }
}

fn key(name: &str) -> CacheKey {
    CacheKey::builder().job_type(name).finish()
}

fn types(t: &str) -> Vec<String> {
    vec![t.to_owned()]
}

/// What the queue carries for a job: these rules never look inside.
fn payload() -> &'static JobPayload {
    static PAYLOAD: std::sync::OnceLock<JobPayload> = std::sync::OnceLock::new();
    PAYLOAD.get_or_init(|| JobPayload {
        plugin: "p".into(),
        plugin_version: "1".into(),
        plugin_library: "lib".into(),
        plugin_config: "{}".into(),
        job_type: "a".into(),
        source_path: "x".into(),
        source: BlobHash::of(b"x"),
        siblings: Vec::new(),
        outputs: Vec::new(),
        options: serde_json::Value::Null,
        tool_identity: "tool".into(),
        time_limit_secs: None,
    })
}

fn new_job<'a>(source: &'a str, priority: i64, cache_key: &'a CacheKey) -> NewJob<'a> {
    NewJob { job_type: "a", source, priority, payload: payload(), cache_key }
}

/// Each rule as a test on SQLite (in module `$sqlite`), and all of them on
/// one PostgreSQL cluster (test `$postgres`).
macro_rules! rules {
    ($sqlite:ident, $postgres:ident: $($rule:ident),* $(,)?) => {
        mod $sqlite {
            $(
                #[test]
                fn $rule() {
                    super::$rule(&super::Store::sqlite());
                }
            )*
        }

        #[test]
        fn $postgres() {
            let cluster = PgCluster::start();
            let mut n = 0;
            $(
                n += 1;
                eprintln!("{}", stringify!($rule));
                $rule(&Store::postgres(&cluster, &format!("rule{n}")));
            )*
            assert!(n > 0);
        }
    };
}

rules!(
    sqlite,
    every_queue_rule_holds_on_postgres:
    claim_takes_each_job_once_in_priority_order,
    sessions_never_see_each_others_jobs,
    cancelled_job_stays_cancelled_when_its_worker_reports,
    lost_worker_requeues_until_attempts_are_used_up,
    every_terminal_state_has_finished_at,
    a_job_carries_only_the_result_its_own_worker_recorded,
    retry_makes_a_failed_job_pending_again,
    submit_many_returns_ids_in_the_order_of_its_jobs_all_pending,
    hand_over_records_the_outcome_and_takes_the_next_job,
    hand_over_leaves_a_cancelled_job_cancelled_and_still_claims,
    hand_over_ignores_the_outcome_of_a_job_the_worker_no_longer_owns,
    hand_over_hands_each_job_to_one_worker_across_connections,
    a_worker_shows_busy_with_its_job_and_counts_what_it_finished,
    a_job_claimed_with_the_last_outcome_is_held_by_its_worker_until_it_finishes,
    settled_among_names_the_jobs_that_reached_a_terminal_state,
    heartbeat_holds_a_job_only_for_the_worker_whose_claim_is_current,
    a_released_job_goes_back_to_pending_only_while_its_worker_holds_it,
    a_heartbeat_answer_about_a_finished_job_never_stops_the_next_one,
    a_stop_for_an_earlier_claim_of_a_retried_job_never_stops_its_new_claim,
    a_worker_tells_its_host_a_job_taken_over_from_it_was_dropped_not_done,
);

rules!(
    sqlite_cache,
    every_cache_rule_holds_on_postgres:
    a_damaged_output_blob_is_a_miss_that_drops_it_and_its_entry,
    storing_the_same_bytes_again_replaces_a_damaged_blob,
    verify_drops_the_damaged_blobs_and_keeps_the_rest,
);

/// An entry of one output, stored with its blob.
fn stored_entry(cache: &dyn Cache, key: &CacheKey, bytes: &[u8]) -> (BlobHash, CacheEntry) {
    let blob = cache.put_blob(bytes).unwrap();
    let entry = CacheEntry { outputs: vec![("html".into(), StoredOutput::Blob(blob.clone()))], issues: vec![] };
    cache.put(key, &entry).unwrap();
    (blob, entry)
}

fn a_damaged_output_blob_is_a_miss_that_drops_it_and_its_entry(store: &Store) {
    let cache = store.cache();
    let (blob, entry) = stored_entry(&*cache, &key("k"), b"<html>page</html>");
    assert_eq!(cache.lookup(&key("k")).unwrap(), Lookup::Hit(entry));
    store.damage(&blob);
    assert_eq!(cache.lookup(&key("k")).unwrap(), Lookup::Healed { damaged: vec![blob.clone()] });
    assert_eq!(cache.get(&key("k")).unwrap(), None, "the entry is dropped");
    assert_eq!(cache.lookup(&key("k")).unwrap(), Lookup::Miss);
    assert!(!cache.blob_hashes().unwrap().contains(&blob), "the damaged blob is dropped");
}

fn storing_the_same_bytes_again_replaces_a_damaged_blob(store: &Store) {
    let cache = store.cache();
    let blob = cache.put_blob(b"print('source')").unwrap();
    store.damage(&blob);
    assert!(cache.get_blob(&blob).is_err());
    assert_eq!(cache.put_blob(b"print('source')").unwrap(), blob);
    assert_eq!(cache.get_blob(&blob).unwrap(), b"print('source')");
}

fn verify_drops_the_damaged_blobs_and_keeps_the_rest(store: &Store) {
    let cache = store.cache();
    let (good, good_entry) = stored_entry(&*cache, &key("good"), b"good page");
    let (bad, _) = stored_entry(&*cache, &key("bad"), b"bad page");
    store.damage(&bad);
    let verified = cache.verify().unwrap();
    assert_eq!((verified.intact, verified.dropped), (1, vec![bad.clone()]));
    assert_eq!(cache.blob_hashes().unwrap(), vec![good]);
    assert_eq!(cache.lookup(&key("good")).unwrap(), Lookup::Hit(good_entry), "the rest of the cache stays");
    assert_eq!(cache.lookup(&key("bad")).unwrap(), Lookup::Miss);
    assert_eq!(cache.verify().unwrap().dropped, vec![], "nothing left to drop");
}

fn claim_takes_each_job_once_in_priority_order(store: &Store) {
    let q = store.open();
    let s = q.start_session("spec").unwrap();
    let low = q.submit(s, new_job("x", 0, &key("k1"))).unwrap();
    let high = q.submit(s, new_job("y", 5, &key("k2"))).unwrap();
    let w = q.register_worker(s, &types("a"), 1).unwrap();
    let first = q.claim(s, w, &types("a")).unwrap().unwrap();
    assert_eq!((first.id, first.payload.as_ref(), &first.cache_key), (high, Ok(payload()), &key("k2")));
    assert_eq!(q.claim(s, w, &types("a")).unwrap().unwrap().id, low);
    assert!(q.claim(s, w, &types("a")).unwrap().is_none());
}

fn sessions_never_see_each_others_jobs(store: &Store) {
    let q = store.open();
    let s1 = q.start_session("one").unwrap();
    let s2 = q.start_session("two").unwrap();
    q.submit(s1, new_job("x", 0, &key("k"))).unwrap();
    let w = q.register_worker(s2, &types("a"), 1).unwrap();
    assert!(q.claim(s2, w, &types("a")).unwrap().is_none());
}

fn cancelled_job_stays_cancelled_when_its_worker_reports(store: &Store) {
    let q = store.open();
    let s = q.start_session("spec").unwrap();
    let id = q.submit(s, new_job("x", 0, &key("k"))).unwrap();
    let w = q.register_worker(s, &types("a"), 1).unwrap();
    q.claim(s, w, &types("a")).unwrap();
    assert_eq!(q.cancel(&[id]).unwrap(), 1);
    assert!(!q.heartbeat(w, Some(id)).unwrap(), "the worker learns its job is unwanted");
    q.complete(id, w, "{}").unwrap();
    q.fail(id, w, &JobError::internal("late"), None).unwrap();
    assert_eq!(q.requeue(id, &JobError::worker("lost")).unwrap(), Requeued::Terminal);
    let job = q.job(id).unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    assert!(job.finished_at.is_some());
}

fn lost_worker_requeues_until_attempts_are_used_up(store: &Store) {
    let q = store.open();
    let s = q.start_session("spec").unwrap();
    let id = q.submit(s, new_job("x", 0, &key("k"))).unwrap();
    let w = q.register_worker(s, &types("a"), 1).unwrap();
    for _ in 1..MAX_ATTEMPTS {
        q.claim(s, w, &types("a")).unwrap().unwrap();
        assert_eq!(q.requeue(id, &JobError::worker("killed")).unwrap(), Requeued::Pending);
    }
    q.claim(s, w, &types("a")).unwrap().unwrap();
    assert_eq!(q.requeue(id, &JobError::worker("killed")).unwrap(), Requeued::Terminal);
    let job = q.job(id).unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert!(job.finished_at.is_some());
    let error = job.error.unwrap();
    assert_eq!(error.category, ErrorCategory::Worker);
    assert!(error.message.contains("gave up after 2 attempts"), "{}", error.message);
}

fn every_terminal_state_has_finished_at(store: &Store) {
    let q = store.open();
    let s = q.start_session("spec").unwrap();
    let w = q.register_worker(s, &types("a"), 1).unwrap();
    let done = q.submit(s, new_job("x", 0, &key("k"))).unwrap();
    q.claim(s, w, &types("a")).unwrap();
    q.complete(done, w, "{}").unwrap();
    let failed = q.submit(s, new_job("y", 0, &key("k"))).unwrap();
    q.claim(s, w, &types("a")).unwrap();
    q.fail(failed, w, &JobError::input("bad", Some(Location::line(3))), None).unwrap();
    let left = q.submit(s, new_job("z", 0, &key("k"))).unwrap();
    q.finish_session(s, SessionStatus::Done).unwrap();
    for id in [done, failed, left] {
        let job = q.job(id).unwrap();
        assert!(job.status.is_terminal(), "{:?}", job.status);
        assert!(job.finished_at.is_some(), "{:?}", job.status);
    }
    let e = q.job(failed).unwrap().error.unwrap();
    assert_eq!((e.message.as_str(), e.location.map(|l| l.to_string())), ("bad", Some("line 3".to_owned())));
}

fn a_job_carries_only_the_result_its_own_worker_recorded(store: &Store) {
    let q = store.open();
    let s = q.start_session("spec").unwrap();
    let w = q.register_worker(s, &types("a"), 1).unwrap();
    let id = q.submit(s, new_job("x", 0, &key("k"))).unwrap();
    q.claim(s, w, &types("a")).unwrap();
    assert_eq!(q.requeue(id, &JobError::worker("killed")).unwrap(), Requeued::Pending);
    q.claim(s, w, &types("a")).unwrap();
    q.fail_running(id, &JobError::worker("timed out")).unwrap();
    let job = q.job(id).unwrap();
    assert_eq!((job.status, job.result), (JobStatus::Failed, None));
    q.retry(&[id]).unwrap();
    q.claim(s, w, &types("a")).unwrap();
    q.complete(id, w, "{\"outputs\":[]}").unwrap();
    assert_eq!(q.job(id).unwrap().result.as_deref(), Some("{\"outputs\":[]}"));
}

fn retry_makes_a_failed_job_pending_again(store: &Store) {
    let q = store.open();
    let s = q.start_session("spec").unwrap();
    let w = q.register_worker(s, &types("a"), 1).unwrap();
    let id = q.submit(s, new_job("x", 0, &key("k"))).unwrap();
    q.claim(s, w, &types("a")).unwrap();
    q.fail(id, w, &JobError::input("bad", None), None).unwrap();
    assert_eq!(q.retry(&[id]).unwrap(), 1);
    let job = q.job(id).unwrap();
    assert_eq!((job.status, job.attempts, job.error.is_none()), (JobStatus::Pending, 0, true));
}

fn submit_many_returns_ids_in_the_order_of_its_jobs_all_pending(store: &Store) {
    let q = store.open();
    let s = q.start_session("spec").unwrap();
    let k = key("k");
    let jobs = [new_job("x", 0, &k), new_job("y", 5, &k), new_job("z", 0, &k)];
    let ids = q.submit_many(s, &jobs).unwrap();
    assert_eq!(ids.len(), 3);
    for (id, job) in ids.iter().zip(&jobs) {
        let record = q.job(*id).unwrap();
        assert_eq!((record.source.as_str(), record.status, record.attempts), (job.source, JobStatus::Pending, 0));
    }
    let w = q.register_worker(s, &types("a"), 1).unwrap();
    assert_eq!(q.claim(s, w, &types("a")).unwrap().unwrap().id, ids[1], "priority still decides");
    assert!(q.submit_many(s, &[]).unwrap().is_empty());
}

fn hand_over_records_the_outcome_and_takes_the_next_job(store: &Store) {
    let q = store.open();
    let s = q.start_session("spec").unwrap();
    let k = key("k");
    let ids = q.submit_many(s, &[new_job("x", 0, &k), new_job("y", 0, &k), new_job("z", 0, &k)]).unwrap();
    let w = q.register_worker(s, &types("a"), 1).unwrap();
    let first = q.claim(s, w, &types("a")).unwrap().unwrap();
    let second = q
        .hand_over(s, w, first.id, JobOutcome::Done { result: "{\"outputs\":[]}" }, &types("a"))
        .unwrap()
        .next
        .unwrap();
    let error = JobError::input("bad", Some(Location::line(2)));
    let third = q
        .hand_over(s, w, second.id, JobOutcome::Failed { error: &error, result: Some("{}") }, &types("a"))
        .unwrap()
        .next
        .unwrap();
    assert_eq!([first.id, second.id, third.id], [ids[0], ids[1], ids[2]]);

    let done = q.job(first.id).unwrap();
    assert_eq!((done.status, done.result.as_deref(), done.error), (JobStatus::Done, Some("{\"outputs\":[]}"), None));
    assert!(done.finished_at.is_some());
    let failed = q.job(second.id).unwrap();
    assert_eq!((failed.status, failed.result.as_deref(), failed.error), (JobStatus::Failed, Some("{}"), Some(error)));
    assert!(failed.finished_at.is_some());
    let running = q.job(third.id).unwrap();
    assert_eq!((running.status, running.worker, running.attempts), (JobStatus::Running, Some(w), 1));
    assert!(running.started_at.is_some() && running.finished_at.is_none());

    let last = JobOutcome::Failed { error: &JobError::plugin("panicked"), result: None };
    assert!(q.hand_over(s, w, third.id, last, &types("a")).unwrap().next.is_none(), "nothing left");
    let failed = q.job(third.id).unwrap();
    assert_eq!((failed.status, failed.result), (JobStatus::Failed, None));
}

fn hand_over_leaves_a_cancelled_job_cancelled_and_still_claims(store: &Store) {
    let q = store.open();
    let s = q.start_session("spec").unwrap();
    let k = key("k");
    let ids = q.submit_many(s, &[new_job("x", 0, &k), new_job("y", 0, &k)]).unwrap();
    let w = q.register_worker(s, &types("a"), 1).unwrap();
    q.claim(s, w, &types("a")).unwrap();
    q.cancel(&[ids[0]]).unwrap();
    let next = q.hand_over(s, w, ids[0], JobOutcome::Done { result: "{}" }, &types("a")).unwrap().next;
    assert_eq!(next.map(|j| j.id), Some(ids[1]));
    let job = q.job(ids[0]).unwrap();
    assert_eq!((job.status, job.result), (JobStatus::Cancelled, None));
    assert!(job.finished_at.is_some());
}

fn hand_over_ignores_the_outcome_of_a_job_the_worker_no_longer_owns(store: &Store) {
    let (q, s, id, lost, other) = a_job_taken_over(store);
    let late = q.hand_over(s, lost, id, JobOutcome::Done { result: "stale" }, &types("a")).unwrap().next;
    assert!(late.is_none());
    let job = q.job(id).unwrap();
    assert_eq!((job.status, job.worker, job.attempts, job.result), (JobStatus::Running, Some(other), 2, None));
    q.hand_over(s, other, id, JobOutcome::Done { result: "fresh" }, &types("a")).unwrap();
    assert_eq!(q.job(id).unwrap().result.as_deref(), Some("fresh"));
}

/// The pool took a job's first worker for lost and requeued the job, which
/// another worker then claimed: the second attempt. The queue, the session,
/// the job, the lost worker and the other.
fn a_job_taken_over(store: &Store) -> (Box<dyn Queue>, SessionId, JobId, WorkerId, WorkerId) {
    let q = store.open();
    let s = q.start_session("spec").unwrap();
    let id = q.submit(s, new_job("x", 0, &key("k"))).unwrap();
    let lost = q.register_worker(s, &types("a"), 1).unwrap();
    let other = q.register_worker(s, &types("a"), 2).unwrap();
    q.claim(s, lost, &types("a")).unwrap();
    assert_eq!(q.requeue(id, &JobError::worker("hung")).unwrap(), Requeued::Pending);
    assert_eq!(q.claim(s, other, &types("a")).unwrap().map(|j| j.id), Some(id));
    (q, s, id, lost, other)
}

fn hand_over_hands_each_job_to_one_worker_across_connections(store: &Store) {
    let host = store.open();
    let s = host.start_session("spec").unwrap();
    let keys: Vec<CacheKey> = (0..60).map(|i| key(&format!("k{i}"))).collect();
    let jobs: Vec<NewJob<'_>> = keys.iter().map(|k| new_job("x", 0, k)).collect();
    let mut submitted = host.submit_many(s, &jobs).unwrap();
    let handles: Vec<_> = (0..3)
        .map(|n| {
            let location = store.location.clone();
            std::thread::spawn(move || {
                let q = location.open_queue().unwrap();
                let w = q.register_worker(s, &types("a"), n).unwrap();
                let mut taken = Vec::new();
                let mut next = q.claim(s, w, &types("a")).unwrap();
                while let Some(job) = next {
                    taken.push(job.id);
                    next = q.hand_over(s, w, job.id, JobOutcome::Done { result: "{}" }, &types("a")).unwrap().next;
                }
                taken
            })
        })
        .collect();
    let mut taken: Vec<JobId> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    taken.sort();
    submitted.sort();
    assert_eq!(taken, submitted, "every job taken exactly once");
    assert!(host.jobs(Some(s), None, 100).unwrap().iter().all(|j| j.status == JobStatus::Done && j.attempts == 1));
}

fn a_worker_shows_busy_with_its_job_and_counts_what_it_finished(store: &Store) {
    let q = store.open();
    let s = q.start_session("spec").unwrap();
    let k = key("k");
    let ids = q.submit_many(s, &[new_job("x", 0, &k), new_job("y", 0, &k), new_job("z", 0, &k)]).unwrap();
    let w = q.register_worker(s, &types("a"), 1).unwrap();
    let record = |q: &dyn Queue| q.workers(true).unwrap().into_iter().find(|r| r.id == w).unwrap();
    assert_eq!((record(&*q).status, record(&*q).current_job), (WorkerStatus::Idle, None));

    q.claim(s, w, &types("a")).unwrap();
    assert_eq!((record(&*q).status, record(&*q).current_job), (WorkerStatus::Busy, Some(ids[0])));
    q.hand_over(s, w, ids[0], JobOutcome::Done { result: "{}" }, &types("a")).unwrap();
    let error = JobError::input("bad", None);
    q.hand_over(s, w, ids[1], JobOutcome::Failed { error: &error, result: None }, &types("a")).unwrap();
    let busy = record(&*q);
    assert_eq!(
        (busy.status, busy.current_job, busy.jobs_done, busy.jobs_failed),
        (WorkerStatus::Busy, Some(ids[2]), 1, 1)
    );
    q.hand_over(s, w, ids[2], JobOutcome::Done { result: "{}" }, &types("a")).unwrap();
    let idle = record(&*q);
    assert_eq!((idle.status, idle.current_job, idle.jobs_done, idle.jobs_failed), (WorkerStatus::Idle, None, 2, 1));

    q.mark_worker_stopped(w).unwrap();
    assert_eq!(record(&*q).status, WorkerStatus::Stopped);
    assert!(q.workers(false).unwrap().iter().all(|r| r.id != w), "a stopped worker is listed only with all");
}

fn a_job_claimed_with_the_last_outcome_is_held_by_its_worker_until_it_finishes(store: &Store) {
    let q = store.open();
    let s = q.start_session("spec").unwrap();
    let w = q.register_worker(s, &types("a"), 1).unwrap();
    let first = q.submit(s, new_job("x", 0, &key("k1"))).unwrap();
    let second = q.submit(s, new_job("y", 0, &key("k2"))).unwrap();
    q.claim(s, w, &types("a")).unwrap().unwrap();
    let next = q.hand_over(s, w, first, JobOutcome::Done { result: "{}" }, &types("a")).unwrap().next;
    assert_eq!(next.map(|j| j.id), Some(second));
    // The worker dies before saying it started `second`: the pool finds it.
    assert_eq!(q.jobs_held_by(w).unwrap(), vec![second]);
    assert_eq!(q.requeue(second, &JobError::worker("killed")).unwrap(), Requeued::Pending);
    assert!(q.jobs_held_by(w).unwrap().is_empty());
}

fn settled_among_names_the_jobs_that_reached_a_terminal_state(store: &Store) {
    let q = store.open();
    let s = q.start_session("spec").unwrap();
    let w = q.register_worker(s, &types("a"), 1).unwrap();
    let k = key("k");
    let ids = q.submit_many(s, &[new_job("x", 0, &k), new_job("y", 0, &k), new_job("z", 0, &k)]).unwrap();
    q.claim(s, w, &types("a")).unwrap();
    q.complete(ids[0], w, "{}").unwrap();
    q.cancel(&[ids[1]]).unwrap();
    let mut settled = q.settled_among(&ids).unwrap();
    settled.sort();
    assert_eq!(settled, vec![ids[0], ids[1]], "the pending job has not settled");
    assert!(q.settled_among(&[]).unwrap().is_empty());
}

fn heartbeat_holds_a_job_only_for_the_worker_whose_claim_is_current(store: &Store) {
    let (q, _, id, lost, other) = a_job_taken_over(store);
    assert!(!q.heartbeat(lost, Some(id)).unwrap(), "another worker's claim is not the lost worker's");
    assert!(q.heartbeat(other, Some(id)).unwrap());
    q.complete(id, other, "{}").unwrap();
    assert!(!q.heartbeat(other, Some(id)).unwrap(), "a finished job is held by nobody");
    assert!(q.heartbeat(other, None).unwrap(), "a worker between jobs is only alive");
}

fn a_released_job_goes_back_to_pending_only_while_its_worker_holds_it(store: &Store) {
    let q = store.open();
    let s = q.start_session("spec").unwrap();
    let id = q.submit(s, new_job("x", 0, &key("k"))).unwrap();
    let first = q.register_worker(s, &types("a"), 1).unwrap();
    let second = q.register_worker(s, &types("a"), 2).unwrap();
    let stopped = JobError::worker("stopped");
    q.claim(s, first, &types("a")).unwrap();
    assert_eq!(q.release(id, first, &stopped).unwrap(), Requeued::Pending);
    let job = q.job(id).unwrap();
    assert_eq!((job.status, job.worker, job.result, job.finished_at), (JobStatus::Pending, None, None, None));
    assert_eq!(q.release(id, first, &stopped).unwrap(), Requeued::Elsewhere, "already pending");

    q.claim(s, second, &types("a")).unwrap();
    assert_eq!(q.release(id, first, &stopped).unwrap(), Requeued::Elsewhere, "another worker's claim");
    let job = q.job(id).unwrap();
    assert_eq!((job.status, job.worker, job.attempts), (JobStatus::Running, Some(second), 2));
    // Its attempts used up, a job given back fails for good, as a lost
    // worker's does.
    assert_eq!(q.release(id, second, &stopped).unwrap(), Requeued::Terminal);
    let job = q.job(id).unwrap();
    assert_eq!((job.status, job.result), (JobStatus::Failed, None));
    assert!(job.error.unwrap().message.contains("gave up after 2 attempts"));

    q.retry(&[id]).unwrap();
    q.claim(s, first, &types("a")).unwrap();
    q.cancel(&[id]).unwrap();
    assert_eq!(q.release(id, first, &stopped).unwrap(), Requeued::Terminal, "a cancelled job stays cancelled");
    assert_eq!(q.job(id).unwrap().status, JobStatus::Cancelled);
}

/// One beat of a worker's heartbeat (a connection of its own, as in a
/// worker), with the worker's own steps where the heartbeat thread may lose
/// the processor: `before_asking` after it saw which job runs,
/// `before_heeding` after the queue answered.
fn beat_with(
    store: &Store,
    worker: WorkerId,
    slot: &JobSlot,
    before_asking: impl FnOnce(),
    before_heeding: impl FnOnce(),
) {
    let heartbeat = store.open();
    let asked = slot.current();
    before_asking();
    let held = heartbeat.heartbeat(worker, asked.map(|c| c.job)).unwrap();
    before_heeding();
    slot.heard(asked, held);
}

fn a_heartbeat_answer_about_a_finished_job_never_stops_the_next_one(store: &Store) {
    let (q, s, ids, w) = two_jobs_and_a_claim(store);
    let slot = JobSlot::default();
    slot.start(ids[0]);
    let mut second = None;
    let hand_over_and_claim_the_next = || {
        slot.end();
        let done = JobOutcome::Done { result: "{}" };
        let next = q.hand_over(s, w, ids[0], done, &types("a")).unwrap().next.unwrap();
        second = Some(slot.start(next.id));
    };
    beat_with(store, w, &slot, hand_over_and_claim_the_next, || {});
    let second = second.unwrap();
    assert_eq!(second.job, ids[1]);
    assert!(!slot.is_stopped(second), "the second job was stopped by the answer about the first");

    // The answers about the second job itself still count.
    beat_with(store, w, &slot, || {}, || {});
    assert!(!slot.is_stopped(second), "the worker holds its second job");
    q.cancel(&[second.job]).unwrap();
    beat_with(store, w, &slot, || {}, || {});
    assert!(slot.is_stopped(second), "a cancelled job is stopped");
}

fn a_stop_for_an_earlier_claim_of_a_retried_job_never_stops_its_new_claim(store: &Store) {
    let (q, s, ids, w) = two_jobs_and_a_claim(store);
    let slot = JobSlot::default();
    let first = slot.start(ids[0]);
    q.cancel(&[ids[0]]).unwrap();
    let mut again = None;
    let retried_and_claimed_again = || {
        // The worker gives the cancelled job up; the user retries it and the
        // same worker claims it again before the answer is heeded.
        slot.end();
        assert!(release(&*q, w, first).unwrap(), "a cancelled job has ended");
        q.retry(&[ids[0]]).unwrap();
        let claimed = q.claim(s, w, &types("a")).unwrap().unwrap();
        again = Some(slot.start(claimed.id));
    };
    beat_with(store, w, &slot, || {}, retried_and_claimed_again);
    let again = again.unwrap();
    assert_eq!(again.job, ids[0]);
    assert!(!slot.is_stopped(again), "the new claim of the retried job was stopped by the old one's answer");
}

fn a_worker_tells_its_host_a_job_taken_over_from_it_was_dropped_not_done(store: &Store) {
    let (q, s, id, lost, other) = a_job_taken_over(store);
    let late = q.hand_over(s, lost, id, JobOutcome::Done { result: "stale" }, &types("a")).unwrap();
    assert_eq!(told(id, late.ended), Event::Dropped(id), "the job still runs under the other worker");
    let own = q.hand_over(s, other, id, JobOutcome::Done { result: "fresh" }, &types("a")).unwrap();
    assert_eq!(told(id, own.ended), Event::Done(id));

    // A job that ended before its worker reported (cancelled) has ended all
    // the same: its host lands it as it is.
    let next = q.submit(s, new_job("y", 0, &key("k2"))).unwrap();
    q.claim(s, other, &types("a")).unwrap();
    q.cancel(&[next]).unwrap();
    let cancelled = q.hand_over(s, other, next, JobOutcome::Done { result: "{}" }, &types("a")).unwrap();
    assert_eq!(told(next, cancelled.ended), Event::Done(next));
    assert_eq!(q.job(next).unwrap().status, JobStatus::Cancelled);
}

/// A TCP relay to a PostgreSQL server that can lose the reply to a
/// statement the server committed, as a dropped connection or a server
/// restart does: armed, it holds back what the server sends until
/// `ReadyForQuery`, and when a `CommandComplete` was among it, drops it all
/// and closes the connection.
struct Relay {
    port: u16,
    lose_next_reply: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
}

impl Relay {
    fn to(server: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let relay = Relay { port, lose_next_reply: Arc::default(), connections: Arc::new(AtomicUsize::new(0)) };
        let (lose, connections) = (Arc::clone(&relay.lose_next_reply), Arc::clone(&relay.connections));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                connections.fetch_add(1, Ordering::SeqCst);
                let upstream = TcpStream::connect(("127.0.0.1", server)).unwrap();
                let (mut from_client, mut to_server) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                std::thread::spawn(move || std::io::copy(&mut from_client, &mut to_server));
                let lose = Arc::clone(&lose);
                std::thread::spawn(move || relay_replies(upstream, client, &lose));
            }
        });
        relay
    }

    fn lose_next_reply(&self) {
        self.lose_next_reply.store(true, Ordering::SeqCst);
    }
}

/// The server's messages (a type byte, a length, the rest) to the client.
fn relay_replies(mut server: TcpStream, mut client: TcpStream, lose: &AtomicBool) {
    let mut held = Vec::new();
    let mut completed = false;
    loop {
        let mut header = [0u8; 5];
        if server.read_exact(&mut header).is_err() {
            break;
        }
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut body = vec![0u8; len - 4];
        if server.read_exact(&mut body).is_err() {
            break;
        }
        held.extend_from_slice(&header);
        held.extend_from_slice(&body);
        completed |= header[0] == b'C';
        let ready = header[0] == b'Z';
        if ready && completed && lose.swap(false, Ordering::SeqCst) {
            break;
        }
        if ready || !lose.load(Ordering::SeqCst) {
            if client.write_all(&held).is_err() {
                break;
            }
            held.clear();
            completed = false;
        }
    }
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = server.shutdown(std::net::Shutdown::Both);
}

/// The server committed a claim but its reply never came: the queue
/// connects again and runs the claim again, which returns the job the
/// claim took instead of taking a second one (that one would stay running
/// under a worker that never heard of it until its lease ran out, using
/// up an attempt). The same for a claim that records the last outcome.
#[test]
fn a_claim_whose_reply_was_lost_takes_no_second_job() {
    let cluster = PgCluster::start();
    let (store, relay) = relayed(&cluster);
    let q = store.open();
    let s = q.start_session("s").unwrap();
    let (k1, k2, k3) = (key("1"), key("2"), key("3"));
    let ids = q.submit_many(s, &[new_job("x", 2, &k1), new_job("y", 1, &k2), new_job("z", 0, &k3)]).unwrap();
    let w = q.register_worker(s, &types("a"), 1).unwrap();

    relay.lose_next_reply();
    assert_eq!(q.claim(s, w, &types("a")).unwrap().map(|j| j.id), Some(ids[0]));
    assert_eq!(relay.connections.load(Ordering::SeqCst), 2, "the reply was lost and the queue connected again");
    let status = |id: JobId| q.job(id).unwrap().status;
    assert_eq!((status(ids[1]), status(ids[2])), (JobStatus::Pending, JobStatus::Pending), "no second job taken");
    assert_eq!(q.job(ids[0]).unwrap().attempts, 1);

    relay.lose_next_reply();
    let handover = q.hand_over(s, w, ids[0], JobOutcome::Done { result: "{}" }, &types("a")).unwrap();
    assert_eq!(relay.connections.load(Ordering::SeqCst), 3);
    assert!(handover.ended, "the outcome was recorded by the statement whose reply was lost");
    assert_eq!(handover.next.map(|j| j.id), Some(ids[1]));
    assert_eq!((status(ids[0]), status(ids[2])), (JobStatus::Done, JobStatus::Pending), "no second job taken");
    let record = q.workers(false).unwrap().into_iter().find(|r| r.id == w).unwrap();
    assert_eq!((record.current_job, record.jobs_done), (Some(ids[1]), 1), "the outcome counted once");
}

/// A submission the server committed without its reply arriving is not
/// inserted again when the queue runs it again: the ids of the jobs it
/// inserted come back.
#[test]
fn a_submission_whose_reply_was_lost_inserts_its_jobs_once() {
    let cluster = PgCluster::start();
    let (store, relay) = relayed(&cluster);
    let q = store.open();
    let s = q.start_session("s").unwrap();
    let (k1, k2) = (key("1"), key("2"));
    relay.lose_next_reply();
    let ids = q.submit_many(s, &[new_job("x", 0, &k1), new_job("y", 0, &k2)]).unwrap();
    assert_eq!(relay.connections.load(Ordering::SeqCst), 2, "the reply was lost and the queue connected again");
    let mut all: Vec<JobId> = q.jobs(Some(s), None, 10).unwrap().iter().map(|j| j.id).collect();
    all.sort();
    assert_eq!(all, ids, "each job once, under the ids returned");
    assert_eq!(q.job(ids[0]).unwrap().source, "x");
}

/// A job its worker gave back is announced to idle workers by the
/// statement that puts it back, so a statement whose reply was lost (run
/// again, it finds the job pending and changes nothing) has announced it
/// all the same.
#[test]
fn a_job_given_back_is_announced_even_when_the_reply_was_lost() {
    let cluster = PgCluster::start();
    let (store, relay) = relayed(&cluster);
    let q = store.open();
    let s = q.start_session("s").unwrap();
    let k = key("1");
    let id = q.submit(s, new_job("x", 0, &k)).unwrap();
    let w = q.register_worker(s, &types("a"), 1).unwrap();
    q.claim(s, w, &types("a")).unwrap().unwrap();
    let mut idle = postgres::Client::connect(&cluster.url("relayed"), postgres::NoTls).unwrap();
    idle.batch_execute("LISTEN clx_jobs").unwrap();

    relay.lose_next_reply();
    let released = q.release(id, w, &JobError::worker("stopped")).unwrap();
    assert_eq!(relay.connections.load(Ordering::SeqCst), 2, "the reply was lost and the queue connected again");
    assert_eq!(released, Requeued::Elsewhere, "run again, the statement finds the job pending");
    assert_eq!(q.job(id).unwrap().status, JobStatus::Pending);
    use postgres::fallible_iterator::FallibleIterator;
    let mut notifications = idle.notifications();
    let woken = notifications.timeout_iter(std::time::Duration::from_secs(5)).next().unwrap();
    assert!(woken.is_some_and(|n| n.channel() == "clx_jobs"), "idle workers were told of the job");
}

/// A store on a database of `cluster` reached through a [`Relay`].
fn relayed(cluster: &PgCluster) -> (Store, Relay) {
    let url = cluster.database("relayed");
    let port: u16 = url.rsplit_once(':').and_then(|(_, rest)| rest.split('/').next()).unwrap().parse().unwrap();
    let relay = Relay::to(port);
    (Store::at(&url.replace(&format!(":{port}/"), &format!(":{}/", relay.port))), relay)
}

/// SQLite tells a dead host by its pid; the shared queue by its heartbeat.
#[test]
fn sqlite_reaps_the_session_of_a_host_that_died() {
    let store = Store::sqlite();
    let q = store.open();
    let s = q.start_session("spec").unwrap();
    let id = q.submit(s, new_job("x", 0, &key("k"))).unwrap();
    let StoreLocation::Local { queue, .. } = &store.location else { unreachable!("a SQLite store") };
    let db = rusqlite::Connection::open(queue).unwrap();
    db.execute("UPDATE sessions SET pid=?1 WHERE id=?2", rusqlite::params![i32::MAX, s.0]).unwrap();
    assert_eq!(q.reap_stale().unwrap(), 1);
    assert_eq!(q.job(id).unwrap().status, JobStatus::Cancelled);
    assert_eq!(q.sessions(1).unwrap()[0].status, SessionStatus::Crashed);
}

/// A shared queue tells a gone worker by its heartbeat: silent for a lease
/// period, it is recorded dead (and `clx status` is healthy again); a
/// paused one that beats again is back; a day after it ended its row goes.
#[test]
fn a_shared_queue_expires_workers_that_stopped_heartbeating() {
    let cluster = PgCluster::start();
    let store = Store::postgres(&cluster, "expiry");
    let mut db = store.direct();
    let q = store.open();
    let shared = q.shared().expect("a shared queue");
    let requirements = vec!["r".to_owned()];
    let alive = shared.register_server(&types("a"), &requirements, "{}", 1).unwrap();
    let killed = shared.register_server(&types("a"), &requirements, "{}", 2).unwrap();
    let paused = shared.register_server(&types("a"), &requirements, "{}", 3).unwrap();
    let silence = "UPDATE clx_workers SET heartbeat = heartbeat - 16 WHERE id = $1";
    db.execute(silence, &[&killed.0]).unwrap();
    db.execute(silence, &[&paused.0]).unwrap();
    q.reap_stale().unwrap();
    let ids = |all: bool| -> Vec<WorkerId> { q.workers(all).unwrap().iter().map(|w| w.id).collect() };
    assert_eq!(ids(false), vec![alive], "only the live worker counts");
    let dead = q.workers(true).unwrap();
    assert!(dead.iter().any(|w| w.id == killed && w.status == WorkerStatus::Dead), "{dead:?}");

    q.heartbeat(paused, None).unwrap();
    assert_eq!(ids(false), vec![paused, alive], "a paused worker that beats again is back");

    db.execute("UPDATE clx_workers SET stopped_at = stopped_at - 86401 WHERE id = $1", &[&killed.0]).unwrap();
    q.reap_stale().unwrap();
    assert!(!ids(true).contains(&killed), "a day after it ended, the row is removed");
}

/// A claim takes a pending job before one whose lease ran out, and the
/// expired one next; the worker that lost it cannot record an outcome.
/// Each claim is the one statement that also records the last outcome.
#[test]
fn a_shared_queue_claims_pending_jobs_before_an_expired_lease_and_fences_the_late_worker() {
    let cluster = PgCluster::start();
    let store = Store::postgres(&cluster, "lease");
    let mut db = store.direct();
    let (q, session, ids, lost) = two_jobs_and_a_claim(&store);
    let other = q.register_worker(session, &types("a"), 2).unwrap();
    db.execute("UPDATE clx_jobs SET lease_until = lease_until - 16 WHERE id = $1", &[&ids[0].0]).unwrap();

    assert_eq!(q.claim(session, other, &types("a")).unwrap().map(|j| j.id), Some(ids[1]), "pending first");
    let next = q.hand_over(session, other, ids[1], JobOutcome::Done { result: "{}" }, &types("a")).unwrap().next;
    assert_eq!(next.map(|j| j.id), Some(ids[0]), "then the job whose lease ran out");
    q.finish(ids[0], lost, JobOutcome::Done { result: "late" }).unwrap();
    let job = q.job(ids[0]).unwrap();
    assert_eq!((job.status, job.worker, job.attempts), (JobStatus::Running, Some(other), 2));
    let record = q.workers(false).unwrap().into_iter().find(|w| w.id == other).unwrap();
    assert_eq!((record.status, record.current_job, record.jobs_done), (WorkerStatus::Busy, Some(ids[0]), 1));
}

/// A serving worker records its outcome and takes the next job of any
/// running session in one statement, as a build's own worker does within
/// its session; the outcome is fenced by the worker like every other, and
/// what it holds and finished is what `clx workers list` shows.
#[test]
fn a_serving_worker_hands_over_its_outcome_and_takes_the_next_job_of_any_session() {
    let cluster = PgCluster::start();
    let store = Store::postgres(&cluster, "serving");
    let q = store.open();
    let shared = q.shared().expect("a shared queue");
    let requirements = vec![requirement("a", &payload().plugin_library)];
    let (first, second) = (q.start_session("one").unwrap(), q.start_session("two").unwrap());
    let (k1, k2) = (key("1"), key("2"));
    let x = q.submit(first, new_job("x", 0, &k1)).unwrap();
    let y = q.submit(second, new_job("y", 0, &k2)).unwrap();
    let w = shared.register_server(&types("a"), &requirements, "{}", 1).unwrap();
    let late = shared.register_server(&types("a"), &requirements, "{}", 2).unwrap();

    assert_eq!(shared.claim_any(w, &requirements).unwrap().map(|j| j.id), Some(x));
    let stale = shared.hand_over_any(late, x, JobOutcome::Done { result: "stale" }, &requirements).unwrap();
    assert!(!stale.ended, "another worker's outcome is not recorded");
    assert_eq!(stale.next.map(|j| j.id), Some(y), "the late worker still claims");
    shared.refuse(y, late).unwrap();

    let handover = shared.hand_over_any(w, x, JobOutcome::Done { result: "fresh" }, &requirements).unwrap();
    assert!(handover.ended);
    assert_eq!(handover.next.map(|j| j.id), Some(y), "the next job of another session");
    assert_eq!((q.job(x).unwrap().status, q.job(x).unwrap().result.as_deref()), (JobStatus::Done, Some("fresh")));
    let record = q.workers(false).unwrap().into_iter().find(|r| r.id == w).unwrap();
    assert_eq!((record.status, record.current_job, record.jobs_done), (WorkerStatus::Busy, Some(y), 1));
}

/// Statements are kept prepared per connection; a connection the server
/// ended is opened again and its statements prepared again, unseen.
#[test]
fn a_shared_queue_prepares_its_statements_again_on_a_new_connection() {
    let cluster = PgCluster::start();
    let store = Store::postgres(&cluster, "reconnect");
    let mut db = store.direct();
    let (q, session, ids, worker) = two_jobs_and_a_claim(&store);
    let ended =
        db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'clx'", &[]).unwrap();
    assert_eq!(ended.len(), 1, "the queue's one connection");
    let next = q.hand_over(session, worker, ids[0], JobOutcome::Done { result: "{}" }, &types("a")).unwrap().next;
    assert_eq!(next.map(|j| j.id), Some(ids[1]));
    assert_eq!(q.job(ids[0]).unwrap().status, JobStatus::Done);
}

/// A session with two jobs, the first at a higher priority, and a worker
/// that claimed that one.
fn two_jobs_and_a_claim(store: &Store) -> (Box<dyn Queue>, SessionId, Vec<JobId>, WorkerId) {
    let q = store.open();
    let session = q.start_session("s").unwrap();
    let (k1, k2) = (key("1"), key("2"));
    let ids = q.submit_many(session, &[new_job("urgent", 1, &k1), new_job("later", 0, &k2)]).unwrap();
    let worker = q.register_worker(session, &types("a"), 1).unwrap();
    assert_eq!(q.claim(session, worker, &types("a")).unwrap().map(|j| j.id), Some(ids[0]));
    (q, session, ids, worker)
}
