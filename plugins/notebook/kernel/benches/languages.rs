//! Kernel start and a 20-cell deck per course language, on the kernels that
//! are installed (python3 always; Deno with `scripts/setup --kernels
//! typescript`; JJava with `--kernels java`; evcxr with `--kernels rust`). Python is measured twice:
//! forked from a running fork server and started plainly. Prints medians;
//! run with `cargo bench -p clx-kernel --bench languages`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clx_kernel::{Executor, ForkOptions};

const LIMIT: Duration = Duration::from_secs(300);
const STARTS: usize = 5;
const DECKS: usize = 3;

fn venv() -> PathBuf {
    clx_plugin_api::tools_dir().unwrap_or_default().join("venv")
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// A course language's name, its kernelspec, and its `i`-th cell.
type Language = (&'static str, &'static str, fn(usize) -> String);

/// How a row's kernels start.
#[derive(Clone, Copy, PartialEq)]
enum Start {
    /// A fresh executor per kernel: no warm kernel, no fork server.
    Plain,
    /// From the fork server of one executor, started before measuring.
    Forked,
}

fn main() {
    let python: fn(usize) -> String = |i| format!("x{i} = {i}\nx{i} * 2");
    let rows: [(Language, Start); 5] = [
        (("python", "python3", python), Start::Forked),
        (("python", "python3", python), Start::Plain),
        (("typescript", "deno", |i| format!("const x{i}: number = {i};\nx{i} * 2")), Start::Plain),
        (("java", "java", |i| format!("int x{i} = {i};\nx{i} * 2")), Start::Plain),
        (("rust", "rust", |i| format!("let x{i}: i64 = {i};\nx{i} * 2")), Start::Plain),
    ];
    println!(
        "{:<11} {:<8} {:<7} {:>14} {:>20}",
        "language", "kernel", "start", "start (median)", "20-cell deck (median)"
    );
    // `CLX_BENCH_LANGUAGES=typescript,python` measures only those.
    let only = std::env::var("CLX_BENCH_LANGUAGES").unwrap_or_default();
    for ((lang, kernel, cell), start) in rows {
        if !only.is_empty() && !only.split(',').any(|l| l == lang) {
            continue;
        }
        let how = match (lang, start) {
            (_, Start::Forked) => "forked",
            ("python", Start::Plain) => "plain",
            _ => "",
        };
        let probe = match Executor::new(&[venv()]) {
            Ok(e) => e,
            Err(e) => {
                println!("{lang:<11} {kernel:<8} cannot start kernels: {e}");
                continue;
            }
        };
        if probe.kernelspec(kernel).is_err() {
            println!("{lang:<11} {kernel:<8} not installed (scripts/setup --kernels {lang})");
            continue;
        }
        drop(probe);
        let dir = tempfile::tempdir().expect("temp dir");
        let plain =
            || Executor::with_fork(&[venv()], ForkOptions { enabled: false, preload: Vec::new() }).expect("executor");
        let server = (start == Start::Forked).then(|| {
            let exec = Executor::new(&[venv()]).expect("executor");
            let session = exec.session_for(lang, kernel, dir.path()).expect("the fork server starts");
            assert!(session.is_forked(), "not forked: {:?}", exec.take_notes());
            drop(session);
            exec
        });
        // The time from asking for a kernel to its first answer; plainly
        // with a fresh executor each time, so no warm kernel is waiting.
        let starts: Vec<Duration> = (0..STARTS)
            .map(|_| {
                let mut fresh = None;
                let exec = server.as_ref().unwrap_or_else(|| fresh.insert(plain()));
                let t = Instant::now();
                let mut session = exec.session_for(lang, kernel, dir.path()).expect("kernel starts");
                session.run("1", LIMIT).expect("first cell");
                t.elapsed()
            })
            .collect();
        let decks: Vec<Duration> = (0..DECKS)
            .map(|_| {
                let mut fresh = None;
                let exec = server.as_ref().unwrap_or_else(|| fresh.insert(plain()));
                let t = Instant::now();
                let mut session = exec.session_for(lang, kernel, dir.path()).expect("kernel starts");
                for i in 0..20 {
                    let run = session.run(&cell(i), LIMIT).expect("cell runs");
                    assert!(run.error.is_none(), "cell {i} failed: {:?}", run.error);
                }
                t.elapsed()
            })
            .collect();
        println!(
            "{lang:<11} {kernel:<8} {how:<7} {:>12.0} ms {:>18.0} ms",
            median(starts).as_secs_f64() * 1000.0,
            median(decks).as_secs_f64() * 1000.0
        );
    }
}
