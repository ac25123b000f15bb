//! How fast the engine moves jobs: a build of N trivial testkit jobs through
//! the real queue, pool and cache, cold (workers start, every job runs) and
//! warm (everything from the cache, no worker starts).
//!
//! Run: `cargo build --workspace && cargo bench -p clx-e2e --bench engine`.
//! Prints medians of several runs and the per-job cost; the machine is noisy,
//! so compare medians, not single runs.

use std::time::{Duration, Instant};

use clx_e2e::*;

const JOBS: usize = 200;
const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let files: Vec<(String, String)> = (0..JOBS).map(|i| (format!("j{i:03}.testjob"), format!("ok {i}"))).collect();
    let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let plugins = plugin_dir(&["clx-fixture-testkit"]);
    let course = TestCourse::new(&[("many", &refs)]);
    let build = |env: &Env, extra: &[&str]| {
        let started = Instant::now();
        let out = env
            .clx()
            .arg("--plugin-dir")
            .arg(plugins.path())
            .arg("build")
            .arg(course.spec())
            .args(extra)
            .output()
            .expect("run clx");
        assert!(out.status.success(), "{}", stderr(&out));
        started.elapsed()
    };
    for workers in [1, 2] {
        let flag = format!("testkit={workers}");
        let mut cold = Vec::new();
        let mut warm = Vec::new();
        for _ in 0..RUNS {
            let env = Env::new();
            cold.push(build(&env, &["--workers", &flag]));
            warm.push(build(&env, &["--workers", &flag]));
        }
        let (c, w) = (median(cold), median(warm));
        println!(
            "{JOBS} jobs, {workers} worker(s): cold build {:.3} s ({:.2} ms/job), cached rebuild {:.3} s; ratio {:.1}x",
            c.as_secs_f64(),
            c.as_secs_f64() * 1000.0 / JOBS as f64,
            w.as_secs_f64(),
            c.as_secs_f64() / w.as_secs_f64()
        );
    }
}
