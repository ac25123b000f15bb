//! `clx build --timings`: where one build's time went, as a report a person
//! opens in a browser (HTML) and a program reads (JSON).
//!
//! The engine marks its phases as they pass (plan, tool identities,
//! hashing, submit, landing the cached results, running the jobs, the
//! generated pages, the sweep). The jobs' own times come from the queue's
//! record, not from the engine's clock: a job's row says when it was
//! submitted, when a worker claimed it and when it ended, whichever worker
//! and machine ran it, so the report shows remote workers' lanes as well as
//! local ones.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::store::JobRecord;

/// One phase of a build, in seconds from the build's start.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// What the build did.
    pub name: &'static str,
    /// When it began.
    pub start: f64,
    /// When it ended.
    pub end: f64,
}

/// One job a worker ran, in seconds from the build's start.
#[derive(Debug, Clone, Serialize)]
pub struct RunJob {
    /// The source file (or what else the job converts).
    pub source: String,
    /// Its job type.
    pub job_type: String,
    /// The worker's lane: its id in the queue.
    pub worker: Option<i64>,
    /// How it ended (`done`, `failed`, …).
    pub status: String,
    /// When it was submitted.
    pub queued: f64,
    /// When its last attempt started; `None` if no worker claimed it.
    pub started: Option<f64>,
    /// When it ended.
    pub finished: Option<f64>,
    /// How often it was started.
    pub attempts: i64,
}

/// A job whose result came from the cache.
#[derive(Debug, Clone, Serialize)]
pub struct CachedJob {
    /// The source file.
    pub source: String,
    /// Its job type.
    pub job_type: String,
}

/// What `--timings` records of one build.
#[derive(Debug, Serialize)]
pub struct Timings {
    #[serde(skip)]
    clock: Instant,
    /// When the build started, in seconds since the epoch.
    pub started_at: f64,
    /// How long the whole build took, in seconds.
    pub total: f64,
    /// The build's phases in order.
    pub phases: Vec<Phase>,
    /// The jobs workers ran, in the order they were submitted.
    pub jobs: Vec<RunJob>,
    /// The jobs answered from the cache.
    pub cached: Vec<CachedJob>,
}

impl Timings {
    /// Start the clock: now is second 0 of the report.
    pub fn start() -> Timings {
        let started_at = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default();
        Timings {
            clock: Instant::now(),
            started_at,
            total: 0.0,
            phases: Vec::new(),
            jobs: Vec::new(),
            cached: Vec::new(),
        }
    }

    /// Seconds since the start.
    pub fn now(&self) -> f64 {
        self.clock.elapsed().as_secs_f64()
    }

    /// Record a phase that began at `start` (from [`Timings::now`]) and ends now.
    pub fn phase(&mut self, name: &'static str, start: f64) {
        let end = self.now();
        self.phases.push(Phase { name, start, end });
    }

    /// Record a phase measured before the clock started (the plan, made
    /// before the engine saw it): it ends at second 0.
    pub fn before(&mut self, name: &'static str, took: f64) {
        self.phases.insert(0, Phase { name, start: -took, end: 0.0 });
    }

    /// Record a cache hit.
    pub fn cached(&mut self, source: &str, job_type: &str) {
        self.cached.push(CachedJob { source: source.to_owned(), job_type: job_type.to_owned() });
    }

    /// Record the jobs of this build from the queue's rows (jobs submitted
    /// before the clock started belong to an earlier build of the session).
    pub fn jobs_from(&mut self, rows: Vec<JobRecord>) {
        let at = |t: f64| t - self.started_at;
        let mut jobs: Vec<RunJob> = rows
            .into_iter()
            .filter(|r| r.created_at >= self.started_at)
            .map(|r| RunJob {
                source: r.source,
                job_type: r.job_type,
                worker: r.worker.map(|w| w.0),
                status: r.status.as_str().to_owned(),
                queued: at(r.created_at),
                started: r.started_at.map(at),
                finished: r.finished_at.map(at),
                attempts: r.attempts,
            })
            .collect();
        jobs.sort_by(|a, b| a.queued.total_cmp(&b.queued).then_with(|| a.source.cmp(&b.source)));
        self.jobs = jobs;
    }

    /// Stop the clock and write `timings.html` and `timings.json` into
    /// `dir`; returns the HTML file.
    pub fn write(mut self, dir: &Path) -> std::io::Result<PathBuf> {
        self.total = self.now();
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_vec_pretty(&self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("timings.json"), json)?;
        let html = dir.join("timings.html");
        std::fs::write(&html, self.html())?;
        Ok(html)
    }

    fn html(&self) -> String {
        let first = self.phases.first().map_or(0.0, |p| p.start.min(0.0));
        let span = (self.total - first).max(1e-3);
        let left = |t: f64| (t - first) / span * 100.0;
        let width = |a: f64, b: f64| ((b - a) / span * 100.0).max(0.2);
        let mut out = String::new();
        out.push_str(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>clx build timings</title>\n<style>\n\
             body{font:14px system-ui,sans-serif;margin:1.5rem;color:#222}\n\
             .lane{position:relative;height:1.6rem;border-bottom:1px solid #eee;margin-left:11rem}\n\
             .lane>b{position:absolute;left:-11rem;width:10.5rem;overflow:hidden;white-space:nowrap;font-weight:normal}\n\
             .bar{position:absolute;top:.2rem;height:1.2rem;border-radius:2px;overflow:hidden;font-size:11px;\
             white-space:nowrap;color:#fff;padding-left:2px;box-sizing:border-box}\n\
             .phase{background:#5b7fa6}.job{background:#3f9b6b}.job.failed{background:#c0392b}\
             .wait{background:#ddd;color:#555}\n\
             table{border-collapse:collapse;margin-top:1rem}td,th{padding:.15rem .6rem;text-align:left;\
             border-bottom:1px solid #eee}td.n{text-align:right;font-variant-numeric:tabular-nums}\n\
             </style></head><body>\n",
        );
        let built = self.jobs.len();
        out.push_str(&format!(
            "<h1>clx build timings</h1>\n<p id=\"summary\">{:.2} s: {built} job(s) run by workers, {} from the cache.</p>\n",
            self.total,
            self.cached.len()
        ));
        out.push_str("<h2>Phases</h2>\n<div class=\"lane\"><b>build</b>");
        for p in &self.phases {
            out.push_str(&format!(
                "<div class=\"bar phase\" style=\"left:{:.3}%;width:{:.3}%\" title=\"{} {:.3} s\">{}</div>",
                left(p.start),
                width(p.start, p.end),
                escape(p.name),
                p.end - p.start,
                escape(p.name)
            ));
        }
        out.push_str("</div>\n<h2>Workers</h2>\n");
        let mut lanes: Vec<Option<i64>> = self.jobs.iter().map(|j| j.worker).collect();
        lanes.sort();
        lanes.dedup();
        for lane in lanes {
            let name = lane.map_or_else(|| "never claimed".to_owned(), |w| format!("worker {w}"));
            out.push_str(&format!("<div class=\"lane\"><b>{name}</b>"));
            for job in self.jobs.iter().filter(|j| j.worker == lane) {
                let (Some(start), end) = (job.started, job.finished.unwrap_or(self.total)) else { continue };
                let failed = if job.status == "done" { "" } else { " failed" };
                out.push_str(&format!(
                    "<div class=\"bar job{failed}\" data-source=\"{}\" style=\"left:{:.3}%;width:{:.3}%\" \
                     title=\"{} ({}) {:.3} s\">{}</div>",
                    escape(&job.source),
                    left(start),
                    width(start, end),
                    escape(&job.source),
                    escape(&job.job_type),
                    end - start,
                    escape(&job.source)
                ));
            }
            out.push_str("</div>\n");
        }
        out.push_str(
            "<h2>Jobs run</h2>\n<table id=\"jobs\"><tr><th>source</th><th>type</th><th>worker</th><th>status</th>\
             <th>queued at</th><th>waited</th><th>ran</th><th>attempts</th></tr>\n",
        );
        for job in &self.jobs {
            let waited = job.started.map_or(String::new(), |s| format!("{:.3}", s - job.queued));
            let ran = job.started.zip(job.finished).map_or(String::new(), |(s, f)| format!("{:.3}", f - s));
            out.push_str(&format!(
                "<tr class=\"job-row\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{:.3}</td>\
                 <td class=\"n\">{waited}</td><td class=\"n\">{ran}</td><td class=\"n\">{}</td></tr>\n",
                escape(&job.source),
                escape(&job.job_type),
                job.worker.map_or(String::new(), |w| w.to_string()),
                escape(&job.status),
                job.queued,
                job.attempts
            ));
        }
        out.push_str("</table>\n<h2>From the cache</h2>\n<table id=\"cached\"><tr><th>source</th><th>type</th></tr>\n");
        for job in &self.cached {
            out.push_str(&format!(
                "<tr class=\"cached-row\"><td>{}</td><td>{}</td></tr>\n",
                escape(&job.source),
                escape(&job.job_type)
            ));
        }
        out.push_str("</table>\n</body></html>\n");
        out
    }
}

/// A build's clock when `--timings` asked for one, nothing otherwise: the
/// engine marks its phases the same way either way.
#[derive(Debug, Default)]
pub struct Stopwatch(Option<Timings>);

impl Stopwatch {
    /// A running clock when `on`.
    pub fn new(on: bool) -> Stopwatch {
        Stopwatch(on.then(Timings::start))
    }

    /// Seconds since the start (0 without a clock).
    pub fn now(&self) -> f64 {
        self.0.as_ref().map_or(0.0, Timings::now)
    }

    /// See [`Timings::phase`].
    pub fn phase(&mut self, name: &'static str, start: f64) {
        if let Some(t) = &mut self.0 {
            t.phase(name, start);
        }
    }

    /// See [`Timings::before`].
    pub fn before(&mut self, name: &'static str, took: f64) {
        if let Some(t) = &mut self.0 {
            t.before(name, took);
        }
    }

    /// See [`Timings::cached`].
    pub fn cached(&mut self, source: &str, job_type: &str) {
        if let Some(t) = &mut self.0 {
            t.cached(source, job_type);
        }
    }

    /// The timings, if the clock ran.
    pub fn into_inner(self) -> Option<Timings> {
        self.0
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_and_cache_hits_reach_both_files() {
        let mut t = Timings::start();
        t.before("plan", 0.01);
        let at = t.now();
        t.phase("hashing", at);
        t.cached("slides/a <b>.py", "notebook");
        let dir = tempfile::tempdir().unwrap();
        let html = std::fs::read_to_string(t.write(dir.path()).unwrap()).unwrap();
        assert!(html.contains("slides/a &lt;b&gt;.py"), "{html}");
        assert!(html.contains(">plan<") && html.contains(">hashing<"), "{html}");
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("timings.json")).unwrap()).unwrap();
        assert_eq!(json["phases"][0]["name"], "plan");
        assert_eq!(json["cached"][0]["job_type"], "notebook");
    }
}
