//! Throughput of the job queue alone: no plugins, no cache, no files. The
//! SQLite queue by default; the PostgreSQL one when `CLX_BENCH_QUEUE_URL`
//! names a database (`scripts/bench-postgres` starts one).
//!
//! One process submits `QUEUE_BENCH_JOBS` trivial jobs (default 20,000) into
//! a fresh database with `submit_many`, as the engine submits a plan, then K
//! worker processes (K = 1, 2, 4) drain them as `clx worker` does: one
//! `claim`, then `hand_over` (the outcome and the next claim in one
//! transaction) until the queue is empty, each through its own queue on the
//! same file. Workers are this binary started again with `worker`; they open
//! the queue and register first and start claiming only when every one is
//! ready, so process start and schema checks stay out of the timing.
//!
//! Prints, per K, the median of `QUEUE_BENCH_RUNS` runs (default 5) of:
//! submit rate, drain rate (claim + complete) and the whole round trip
//! (submit, claim, complete), with the load average before and after, since
//! on a shared machine the figures move with it.
//!
//!     cargo bench -p clx --bench queue
//!     QUEUE_BENCH_JOBS=50000 QUEUE_BENCH_RUNS=7 QUEUE_BENCH_WORKERS=1,4 cargo bench -p clx --bench queue
//!     CLX_BENCH_QUEUE_URL=postgres://clx@127.0.0.1:5432/bench cargo bench -p clx --bench queue

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use clx::store::job::{JobPayload, OutputSpec};
use clx::store::{BlobHash, CacheKey, JobOutcome, NewJob, SessionId, StoreLocation};

/// A payload shaped like a deck's (the store encodes it at submission and
/// decodes it at each claim, as for a real build).
fn payload() -> JobPayload {
    let output = |id: &str, format: &str| OutputSpec {
        id: id.to_owned(),
        format: format.to_owned(),
        params: serde_json::json!({ "kind": "completed" }),
    };
    JobPayload {
        plugin: "notebook".into(),
        plugin_version: "0.1.0".into(),
        plugin_library: BlobHash::of(b"library").to_hex().to_owned(),
        plugin_config: "{}".into(),
        job_type: JOB_TYPE.into(),
        source_path: "slides/module_100/topic_100/slides_intro.py".into(),
        source: BlobHash::of(b"source"),
        siblings: Vec::new(),
        outputs: vec![output("de-completed-ipynb", "ipynb"), output("de-completed-html", "html")],
        options: serde_json::json!({ "lang": "de", "prog_lang": "python", "execute": true }),
        tool_identity: "python 3.12 ipykernel 6.29".into(),
        time_limit_secs: None,
    }
}

/// The SQLite file `db`, or the database `CLX_BENCH_QUEUE_URL` names.
fn location(db: &Path) -> StoreLocation {
    let url = std::env::var("CLX_BENCH_QUEUE_URL").ok();
    StoreLocation::resolve(url.as_deref(), db, &db.with_extension("cache")).expect("CLX_BENCH_QUEUE_URL")
}

const JOB_TYPE: &str = "bench";
/// Worker counts measured unless `QUEUE_BENCH_WORKERS` (say `1,4`) names others.
const WORKER_COUNTS: [usize; 3] = [1, 2, 4];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("worker") {
        let db = PathBuf::from(&args[2]);
        let session = SessionId(args[3].parse().expect("session id"));
        worker(&db, session);
        return;
    }
    let jobs: usize = std::env::var("QUEUE_BENCH_JOBS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let runs: usize = std::env::var("QUEUE_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    println!(
        "queue ({}): {jobs} trivial jobs, median of {runs} runs per worker count",
        location(Path::new("queue.db")).describe()
    );
    println!("load average before: {}", load_average());
    println!("{:>7}  {:>12}  {:>12}  {:>12}", "workers", "submit/s", "drain/s", "round trip/s");
    let counts: Vec<usize> = match std::env::var("QUEUE_BENCH_WORKERS") {
        Ok(v) => {
            v.split(',').map(|k| k.trim().parse().expect("QUEUE_BENCH_WORKERS: worker counts like 1,2,4")).collect()
        }
        Err(_) => WORKER_COUNTS.to_vec(),
    };
    for k in counts {
        let mut submit = Vec::new();
        let mut drain = Vec::new();
        let mut total = Vec::new();
        for _ in 0..runs {
            let run = run(jobs, k);
            submit.push(jobs as f64 / run.submit_secs);
            drain.push(jobs as f64 / run.drain_secs);
            total.push(jobs as f64 / (run.submit_secs + run.drain_secs));
        }
        println!("{k:>7}  {:>12.0}  {:>12.0}  {:>12.0}", median(submit), median(drain), median(total));
    }
    println!("load average after: {}", load_average());
}

/// The 1, 5 and 15 minute load averages, as `uptime` shows them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

struct Run {
    submit_secs: f64,
    drain_secs: f64,
}

fn run(jobs: usize, workers: usize) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("queue.db");
    let queue = location(&db).open_queue().expect("open queue");
    let session = queue.start_session("bench").expect("session");
    // The real planner gives every job its own key; keep that shape without
    // hashing inside the timed loop.
    let keys: Vec<CacheKey> =
        (0..jobs).map(|i| CacheKey::builder().job_type(JOB_TYPE).source(&i.to_le_bytes()).finish()).collect();
    let sources: Vec<String> = (0..jobs).map(|i| format!("deck_{i}.py")).collect();
    let payload = payload();

    let start = Instant::now();
    let new_jobs: Vec<NewJob<'_>> = keys
        .iter()
        .zip(&sources)
        .map(|(cache_key, source)| NewJob { job_type: JOB_TYPE, source, priority: 0, payload: &payload, cache_key })
        .collect();
    let ids = queue.submit_many(session, &new_jobs).expect("submit");
    assert_eq!(ids.len(), jobs);
    let submit_secs = start.elapsed().as_secs_f64();

    let exe = std::env::current_exe().expect("own executable");
    let mut children: Vec<(Child, ChildStdin, BufReader<ChildStdout>)> = (0..workers)
        .map(|_| {
            let mut child = Command::new(&exe)
                .arg("worker")
                .arg(&db)
                .arg(session.0.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("start worker");
            let stdin = child.stdin.take().unwrap();
            let stdout = BufReader::new(child.stdout.take().unwrap());
            (child, stdin, stdout)
        })
        .collect();
    for (_, _, out) in &mut children {
        assert_eq!(read_line(out), "ready", "worker did not start");
    }
    let start = Instant::now();
    for (_, stdin, _) in &mut children {
        stdin.write_all(b"go\n").and_then(|()| stdin.flush()).expect("start signal");
    }
    let mut done = 0;
    for (child, _, out) in &mut children {
        done += read_line(out).parse::<usize>().expect("job count");
        assert!(child.wait().expect("worker exit").success(), "worker failed");
    }
    let drain_secs = start.elapsed().as_secs_f64();
    assert_eq!(done, jobs, "every job is claimed exactly once");
    Run { submit_secs, drain_secs }
}

/// Claim and complete until the queue is empty, as `clx worker` does; print how many.
fn worker(db: &Path, session: SessionId) {
    let queue = location(db).open_queue().expect("open queue");
    let types = vec![JOB_TYPE.to_owned()];
    let id = queue.register_worker(session, &types, std::process::id()).expect("register");
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).expect("start signal");
    let mut done = 0usize;
    let mut next = queue.claim(session, id, &types).expect("claim");
    while let Some(job) = next {
        next = queue.hand_over(session, id, job.id, JobOutcome::Done { result: "{}" }, &types).expect("complete").next;
        done += 1;
    }
    println!("{done}");
}

fn read_line(out: &mut impl BufRead) -> String {
    let mut line = String::new();
    out.read_line(&mut line).expect("worker output");
    line.trim().to_owned()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}
