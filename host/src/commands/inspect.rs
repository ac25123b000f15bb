//! `clx status`, `clx workers`, `clx jobs`, `clx cache`: read (and, for
//! cancel/retry/prune/clear, change) the queue and cache a build uses. They
//! work while a build runs and after one crashed, because SQLite is the record.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clx::config::Config;
use clx::run::pool::HEARTBEAT_TIMEOUT;
use clx::store::{now, JobId, JobStatus, Queue, StoreLocation, WorkerStatus};

use crate::cli::{CacheCommand, JobsCommand, QueueArgs, WorkersCommand};

fn location(queue: &QueueArgs) -> Result<StoreLocation> {
    super::store_location(queue, &Config::load(None)?)
}

fn open_queue(queue: &QueueArgs) -> Result<Box<dyn Queue>> {
    let queue = location(queue)?.open_queue()?;
    queue.reap_stale()?;
    Ok(queue)
}

fn age(t: f64) -> String {
    let secs = (now() - t).max(0.0);
    if secs < 90.0 {
        format!("{secs:.0}s ago")
    } else if secs < 5400.0 {
        format!("{:.0}m ago", secs / 60.0)
    } else {
        format!("{:.1}h ago", secs / 3600.0)
    }
}

/// `clx status`: exit 0 healthy, 1 warning (recent failures, old pending
/// jobs), 2 error (a live worker stopped heartbeating).
pub fn status(args: &QueueArgs, json: bool) -> Result<ExitCode> {
    let queue = open_queue(args)?;
    let sessions = queue.sessions(1)?;
    let current = sessions.first();
    let counts = queue.counts(current.map(|s| s.id))?;
    let workers = queue.workers(false)?;
    let failures = queue.jobs(current.map(|s| s.id), Some(JobStatus::Failed), 10)?;
    let oldest = queue.oldest_pending()?;
    let hung: Vec<_> = workers.iter().filter(|w| now() - w.heartbeat > HEARTBEAT_TIMEOUT.as_secs_f64()).collect();
    let level = if !hung.is_empty() {
        2
    } else if !failures.is_empty() || oldest.is_some_and(|t| now() - t > 600.0) {
        1
    } else {
        0
    };
    let health = ["healthy", "warning", "error"][level];
    if json {
        let value = serde_json::json!({
            "health": health,
            "session": current,
            "jobs": counts.iter().map(|(s, n)| (s.as_str(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
            "oldest_pending": oldest,
            "workers": workers,
            "recent_failures": failures,
        });
        outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::from(level as u8));
    }
    match current {
        Some(s) => outln!("build {} ({}): {}, started {}", s.id.0, s.spec, s.status.as_str(), age(s.started_at)),
        None => outln!("no build has run yet (queue: {})", location(args)?.describe()),
    }
    let counts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {}", s.as_str())).collect();
    outln!("jobs: {}", counts.join(", "));
    if let Some(t) = oldest {
        outln!("oldest pending job: created {}", age(t));
    }
    let mut by_type: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for w in &workers {
        let e = by_type.entry(w.job_types.join(",")).or_default();
        if w.status == WorkerStatus::Busy {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    if by_type.is_empty() {
        outln!("workers: none running");
    }
    for (t, (busy, idle)) in by_type {
        outln!("workers {t}: {busy} busy, {idle} idle");
    }
    for w in &hung {
        outln!("error: worker {} (pid {}) has not sent a heartbeat since {}", w.id.0, w.pid, age(w.heartbeat));
    }
    if !failures.is_empty() {
        outln!("recent failures:");
        for j in &failures {
            let e = j.error.as_ref();
            let loc = e.and_then(|e| e.location).map(|l| format!(": {l}")).unwrap_or_default();
            outln!("  job {} {}{loc}: {}", j.id.0, j.source, e.map(|e| e.message.as_str()).unwrap_or("failed"));
        }
    }
    outln!("health: {health}");
    Ok(ExitCode::from(level as u8))
}

pub fn workers(queue: &QueueArgs, cmd: WorkersCommand) -> Result<ExitCode> {
    let WorkersCommand::List = cmd;
    let queue = open_queue(queue)?;
    let workers = queue.workers(true)?;
    if workers.is_empty() {
        outln!("no workers recorded");
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:>6} {:>6} {:>8} {:<10} {:<9} {:>6} {:>6}  HEARTBEAT",
        "ID",
        "BUILD",
        "PID",
        "TYPES",
        "STATUS",
        "DONE",
        "FAILED"
    );
    for w in workers.iter().take(50) {
        outln!(
            "{:>6} {:>6} {:>8} {:<10} {:<9} {:>6} {:>6}  {}",
            w.id.0,
            w.session.0,
            w.pid,
            w.job_types.join(","),
            w.status.as_str(),
            w.jobs_done,
            w.jobs_failed,
            age(w.heartbeat)
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn jobs(queue: &QueueArgs, cmd: JobsCommand) -> Result<ExitCode> {
    let queue = open_queue(queue)?;
    match cmd {
        JobsCommand::List { status } => {
            let status = match status {
                Some(s) => Some(JobStatus::parse(&s).with_context(|| {
                    format!("unknown job status `{s}`; use pending, running, done, failed or cancelled")
                })?),
                None => None,
            };
            let mut jobs = queue.jobs(None, status, 200)?;
            if status == Some(JobStatus::Failed) {
                // A failure a later build fixed is history, not a problem:
                // the same source and job type done by a later job hides it.
                // One pass over the done jobs (the latest per source and
                // type), not one per failure: a long-lived queue holds many.
                let mut latest_done = std::collections::HashMap::new();
                for d in queue.jobs(None, Some(JobStatus::Done), usize::MAX >> 1)? {
                    let id = latest_done.entry((d.job_type, d.source)).or_insert(d.id.0);
                    *id = (*id).max(d.id.0);
                }
                jobs.retain(|f| {
                    latest_done.get(&(f.job_type.clone(), f.source.clone())).is_none_or(|&done| done < f.id.0)
                });
            }
            if jobs.is_empty() {
                outln!("no jobs");
                return Ok(ExitCode::SUCCESS);
            }
            outln!(
                "{:>6} {:>6} {:<10} {:<9} {:>3}  {:<16}  SOURCE",
                "ID",
                "BUILD",
                "TYPE",
                "STATUS",
                "TRY",
                "PROGRESS"
            );
            for j in jobs {
                let error = j.error.map(|e| format!("  [{}] {}", e.category.as_str(), e.message)).unwrap_or_default();
                // The last step its plugin reported: where a running job is, or where a failed one stopped.
                let progress = j.progress.unwrap_or_else(|| "-".to_owned());
                outln!(
                    "{:>6} {:>6} {:<10} {:<9} {:>3}  {progress:<16}  {}{error}",
                    j.id.0,
                    j.session.0,
                    j.job_type,
                    j.status.as_str(),
                    j.attempts,
                    j.source
                );
            }
        }
        JobsCommand::Cancel { ids } => {
            let ids = if ids.is_empty() {
                let mut all = queue.jobs(None, Some(JobStatus::Pending), usize::MAX >> 1)?;
                all.extend(queue.jobs(None, Some(JobStatus::Running), usize::MAX >> 1)?);
                all.into_iter().map(|j| j.id).collect()
            } else {
                ids.into_iter().map(JobId).collect::<Vec<_>>()
            };
            outln!("cancelled {} job(s)", queue.cancel(&ids)?);
        }
        JobsCommand::Retry { ids } => {
            anyhow::ensure!(!ids.is_empty(), "name the jobs to retry (see `clx jobs list --status failed`)");
            let ids: Vec<JobId> = ids.into_iter().map(JobId).collect();
            let n = queue.retry(&ids)?;
            outln!("{n} job(s) back in the queue; a running build picks them up, or run `clx build` again");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn cache(queue: &QueueArgs, cmd: CacheCommand) -> Result<ExitCode> {
    let cache = location(queue)?.open_cache()?;
    match cmd {
        CacheCommand::Stats => {
            let s = cache.stats()?;
            outln!("cache: {}", s.path.display());
            outln!("entries: {}", s.entries);
            outln!("blobs: {} ({:.1} MiB)", s.blobs, s.blob_bytes as f64 / 1048576.0);
        }
        CacheCommand::Prune { older_than_days } => {
            let (entries, blobs) = cache.prune(Duration::from_secs(older_than_days * 86400))?;
            outln!("removed {entries} entries and {blobs} blobs unused for {older_than_days} days");
        }
        CacheCommand::Verify => {
            let verified = cache.verify()?;
            for blob in &verified.dropped {
                outln!("dropped blob {}: its bytes did not match its hash", blob.to_hex());
            }
            outln!(
                "checked {} blobs: {} intact, {} dropped (their jobs run again at the next build)",
                verified.intact + verified.dropped.len(),
                verified.intact,
                verified.dropped.len()
            );
        }
        CacheCommand::Clear => {
            cache.clear()?;
            outln!("cache cleared");
        }
    }
    Ok(ExitCode::SUCCESS)
}
