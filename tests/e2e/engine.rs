//! The build engine with real workers: the graphviz plugin and the testkit
//! fixture plugin (a real cdylib that sleeps, fails, panics, hangs or aborts
//! on request), through the real queue, pool and cache.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use clx_e2e::*;

const DOT: &str = "digraph G { rankdir=LR; Kurs -> Übung -> Lösung; }\n";

struct Build {
    env: Env,
    course: TestCourse,
    plugins: tempfile::TempDir,
    log: std::path::PathBuf,
}

impl Build {
    fn new(topics: &[(&str, &[(&str, &str)])]) -> Build {
        let env = Env::new();
        let log = env.home.path().join("testkit.log");
        Build { course: TestCourse::new(topics), plugins: plugin_dir(&["clx-fixture-testkit"]), env, log }
    }

    fn cmd(&self, extra: &[&str]) -> std::process::Command {
        let mut cmd = self.env.clx();
        cmd.arg("--plugin-dir")
            .arg(self.plugins.path())
            .arg("build")
            .arg(self.course.spec())
            .args(extra)
            .env("CLX_TESTKIT_LOG", &self.log);
        cmd
    }

    fn run(&self, extra: &[&str]) -> std::process::Output {
        self.cmd(extra).output().expect("run clx build")
    }

    /// `(pid, source)` of every conversion the testkit plugin ran.
    fn conversions(&self) -> Vec<(u32, String)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(p, s)| (p.parse().unwrap_or(0), s.to_owned())))
            .collect()
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn graphviz_renders_dot_to_png_and_svg_in_every_variant_folder() {
    let b = Build::new(&[("graph", &[("graph.dot", DOT)])]);
    std::fs::write(b.course.root().join("clx.toml"), "diagram-formats = [\"png\", \"svg\"]\n").unwrap();
    let out = b.run(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pngs = b.course.outputs_ending("img/graph.png");
    assert!(pngs.len() >= 4, "expected the image in every variant folder: {:#?}", b.course.output_files());
    let (w, h) = png_size(&read(&pngs[0]));
    assert!(w > 100 && h > 20, "implausible size {w}x{h}");
    let svgs = b.course.outputs_ending("img/graph.svg");
    assert_eq!(svgs.len(), pngs.len());
    let svg = String::from_utf8(read(&svgs[0])).unwrap();
    assert!(svg.contains("<svg") && svg.contains("Übung"), "{svg}");
}

#[test]
fn panicking_converter_fails_its_job_and_the_rest_is_built() {
    let b =
        Build::new(&[("mixed", &[("good.testjob", "ok"), ("bad.testjob", "panic on purpose"), ("data.csv", "a,b")])]);
    let out = b.run(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("bad.testjob") && err.contains("panicked"), "{err}");
    assert!(!b.course.outputs_ending("img/good.txt").is_empty(), "{:#?}", b.course.output_files());
    assert!(b.course.outputs_ending("img/bad.txt").is_empty());
    assert!(!b.course.outputs_ending("data.csv").is_empty());
}

#[test]
fn a_plugins_warning_log_is_shown_by_default_and_its_info_only_at_log_level_info() {
    let b = Build::new(&[("t", &[("a.testjob", "log \u{1b}[31mcoloured\u{1b}[0m note")])]);
    let out = b.run(&[]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let warning = err.lines().find(|l| l.contains("warn: ")).unwrap_or_else(|| panic!("no plugin warning: {err}"));
    assert!(
        warning.starts_with("warning: ") && warning.contains("a.testjob") && warning.contains("testkit"),
        "{warning}"
    );
    assert!(!warning.contains("\\x1b") && !warning.contains("\\u{1b}"), "colour codes arrive unescaped: {warning}");
    assert!(!err.contains("info: "), "info is not shown by default: {err}");

    let b = Build::new(&[("t", &[("a.testjob", "log quiet note")])]);
    let out = b.run(&["--no-cache"]);
    assert!(out.status.success());
    let out = b.cmd(&["--no-cache"]).env_remove("CLX_LOG").arg("--log-level").arg("info").output().unwrap();
    let err = stderr(&out);
    assert!(err.contains("info: quiet note"), "info shows at --log-level info: {err}");
    assert!(!err.contains("debug: quiet note"), "{err}");
}

#[test]
fn unchanged_rebuild_starts_no_worker_and_replays_warnings() {
    let b = Build::new(&[("t", &[("a.testjob", "warn check the label"), ("b.testjob", "ok")])]);
    let first = b.run(&[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stderr(&first).contains("check the label"));
    assert_eq!(b.conversions().len(), 2);
    let files = b.course.output_files();
    let mtime = std::fs::metadata(b.course.out().join(&files[0])).unwrap().modified().unwrap();

    let second = b.run(&[]);
    let err = stderr(&second);
    assert!(second.status.success(), "{err}");
    assert_eq!(b.conversions().len(), 2, "a cached rebuild converted again");
    assert!(err.contains("check the label"), "warnings replay from the cache: {err}");
    assert!(err.contains("2 from cache"), "{err}");
    assert_eq!(b.course.output_files(), files);
    assert_eq!(std::fs::metadata(b.course.out().join(&files[0])).unwrap().modified().unwrap(), mtime);
    let workers = b.env.run(&["workers", "list"]);
    let pids: std::collections::HashSet<_> = b.conversions().into_iter().map(|(p, _)| p).collect();
    assert!(pids.len() <= 2, "{pids:?}");
    assert!(stdout(&workers).lines().count() <= 3, "{}", stdout(&workers));

    let forced = b.run(&["--no-cache"]);
    assert!(forced.status.success());
    assert_eq!(b.conversions().len(), 4, "--no-cache converts again");
}

#[test]
fn changed_tool_identity_invalidates_the_cache() {
    let b = Build::new(&[("t", &[("a.testjob", "ok")])]);
    assert!(b.run(&[]).status.success());
    assert!(b.cmd(&[]).env("CLX_TESTKIT_IDENTITY", "testkit 2").output().unwrap().status.success());
    assert_eq!(b.conversions().len(), 2);
}

#[test]
fn an_aborting_worker_is_replaced_and_its_job_fails_once_naming_the_plugin() {
    let b = Build::new(&[("t", &[("boom.testjob", "abort"), ("fine.testjob", "ok"), ("more.testjob", "ok")])]);
    let out = b.run(&["--workers", "testkit=1"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("boom.testjob") && err.contains("worker of plugin `testkit` killed by signal 6"), "{err}");
    assert!(!err.contains("gave up after"), "an abort would abort again: not retried: {err}");
    let runs = b.conversions();
    assert_eq!(runs.iter().filter(|(_, s)| s.ends_with("boom.testjob")).count(), 1, "{runs:?}");
    assert!(!b.course.outputs_ending("img/fine.txt").is_empty());
    assert!(!b.course.outputs_ending("img/more.txt").is_empty());
    let pids: std::collections::HashSet<_> = runs.iter().map(|(p, _)| *p).collect();
    assert!(pids.len() >= 2, "a replacement worker ran the rest: {runs:?}");
}

#[test]
fn hung_job_is_killed_at_its_deadline() {
    let b = Build::new(&[("t", &[("stuck.testjob", "hang"), ("fine.testjob", "ok")])]);
    let started = Instant::now();
    let out = b.run(&["--job-timeout", "2"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("stuck.testjob") && err.contains("timed out after 2 s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    for (pid, _) in b.conversions() {
        assert!(!alive(pid), "worker {pid} survived");
    }
}

#[test]
fn failed_job_is_listed_by_jobs_and_status() {
    let b = Build::new(&[("t", &[("bad.testjob", "fail the label is missing"), ("ok.testjob", "ok")])]);
    let out = b.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let jobs = b.env.run(&["jobs", "list", "--status", "failed"]);
    assert!(stdout(&jobs).contains("bad.testjob"), "{}", stdout(&jobs));
    assert!(!stdout(&jobs).contains("ok.testjob"));
    let status = b.env.run(&["status", "--json"]);
    assert_eq!(status.status.code(), Some(1), "recent failures are a warning");
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["jobs"]["failed"], 1);
    assert_eq!(v["jobs"]["done"], 1);
    let stats = b.env.run(&["cache", "stats"]);
    assert!(stdout(&stats).contains("entries: 2"), "{}", stdout(&stats));
    assert!(b.env.run(&["cache", "clear"]).status.success());
    assert!(stdout(&b.env.run(&["cache", "stats"])).contains("entries: 0"));

    // Fixed and rebuilt: the old failure is history, no longer listed.
    let source = b.course.root().join("slides/module_100_test/topic_100_t/bad.testjob");
    std::fs::write(source, "ok fixed").unwrap();
    assert_eq!(b.run(&[]).status.code(), Some(0));
    let jobs = stdout(&b.env.run(&["jobs", "list", "--status", "failed"]));
    assert!(!jobs.contains("bad.testjob"), "{jobs}");
    assert!(stdout(&b.env.run(&["jobs", "list"])).contains("bad.testjob"), "the history is kept");
}

/// Ctrl-C and `kill -9` of the host leave no worker behind.
#[test]
fn no_worker_outlives_an_interrupted_or_killed_host() {
    for signal in [libc_signal::SIGINT, libc_signal::SIGKILL] {
        let b = Build::new(&[("t", &[("a.testjob", "sleep 30000"), ("b.testjob", "sleep 30000")])]);
        let mut child = b.cmd(&["--workers", "testkit=2"]).stderr(Stdio::null()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while b.conversions().len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let workers: Vec<u32> = b.conversions().into_iter().map(|(p, _)| p).collect();
        assert_eq!(workers.len(), 2, "both jobs should be running");
        std::process::Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().unwrap();
        let status = child.wait().unwrap();
        if signal == libc_signal::SIGINT {
            assert_eq!(status.code(), Some(130));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while workers.iter().any(|p| alive(*p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        for p in &workers {
            assert!(!alive(*p), "worker {p} outlived the host (signal {signal})");
        }
    }
}

mod libc_signal {
    pub const SIGINT: i32 = 2;
    pub const SIGKILL: i32 = 9;
}

#[test]
fn a_thousand_jobs_on_four_workers_each_run_exactly_once() {
    let files: Vec<(String, String)> = (0..1000).map(|i| (format!("j{i:04}.testjob"), format!("ok {i}"))).collect();
    let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let b = Build::new(&[("many", &refs)]);
    let out = b.run(&["--workers", "testkit=4"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let runs = b.conversions();
    assert_eq!(runs.len(), 1000, "every job runs exactly once");
    let unique: std::collections::HashSet<_> = runs.iter().map(|(_, s)| s.clone()).collect();
    assert_eq!(unique.len(), 1000);
    let pids: std::collections::HashSet<_> = runs.iter().map(|(p, _)| *p).collect();
    assert_eq!(pids.len(), 4, "four workers shared the work");
    let outputs = b.course.outputs_ending(".txt");
    assert_eq!(outputs.len(), 1000 * 14);
    let sample = std::fs::read_to_string(b.course.outputs_ending("img/j0999.txt")[0].clone()).unwrap();
    assert!(sample.contains("999"), "{sample}");
}

#[test]
fn killed_busy_worker_is_replaced_and_its_job_runs_again() {
    let b = Build::new(&[("t", &[("slow.testjob", "sleep 1500"), ("a.testjob", "ok"), ("b.testjob", "ok")])]);
    let child = b.cmd(&["--workers", "testkit=1"]).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let victim = loop {
        if let Some((pid, _)) = b.conversions().into_iter().find(|(_, s)| s.ends_with("slow.testjob")) {
            break pid;
        }
        assert!(Instant::now() < deadline, "slow job never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Command::new("kill").args(["-9", &victim.to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("slow.testjob") && err.contains("retrying"), "{err}");
    let runs = b.conversions();
    assert_eq!(runs.iter().filter(|(_, s)| s.ends_with("slow.testjob")).count(), 2, "{runs:?}");
    assert_eq!(runs.iter().filter(|(_, s)| s.ends_with("a.testjob")).count(), 1, "{runs:?}");
    assert!(runs.iter().any(|(p, _)| *p != victim), "a replacement worker ran");
    assert_eq!(b.course.outputs_ending("img/slow.txt").len(), 14);
}

#[test]
fn two_builds_on_one_queue_never_touch_each_other() {
    let first = Build::new(&[("one", &[("x.testjob", "sleep 300"), ("y.testjob", "sleep 300")])]);
    let second = TestCourse::new(&[("two", &[("z.testjob", "sleep 300"), ("w.testjob", "sleep 300")])]);
    let mut other = first.env.clx();
    other
        .arg("--plugin-dir")
        .arg(first.plugins.path())
        .arg("build")
        .arg(second.spec())
        .env("CLX_TESTKIT_LOG", &first.log);
    let a = first.cmd(&[]).stderr(Stdio::piped()).spawn().unwrap();
    let b = other.stderr(Stdio::piped()).spawn().unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success(), "{}\n{}", stderr(&a), stderr(&b));
    let runs = first.conversions();
    assert_eq!(runs.len(), 4, "{runs:?}");
    assert_eq!(first.course.outputs_ending(".txt").len(), 28);
    assert_eq!(second.outputs_ending(".txt").len(), 28);
    let v: serde_json::Value = serde_json::from_slice(&first.env.run(&["status", "--json"]).stdout).unwrap();
    assert_eq!(v["jobs"]["done"], 2, "the latest build's own jobs only: {v:#}");
}

#[test]
fn rebuild_after_the_host_was_killed_cleans_up_and_succeeds() {
    let b = Build::new(&[("t", &[("a.testjob", "sleep 30000"), ("b.testjob", "ok")])]);
    let mut child = b.cmd(&["--workers", "testkit=1"]).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.conversions().is_empty() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::write(b.course.root().join("slides/module_100_test/topic_100_t/a.testjob"), "ok now").unwrap();
    let out = b.run(&[]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("cleaned up 1 build"), "{err}");
    assert_eq!(b.course.outputs_ending(".txt").len(), 28);
}

/// Builds where what a job does is switched by a file the test writes, so
/// its input (and cache key) stays the same while its behaviour changes.
fn switched(topics: &[(&str, &[(&str, &str)])]) -> (Build, std::path::PathBuf) {
    let b = Build::new(topics);
    let switch = b.env.home.path().join("switch");
    (b, switch)
}

fn runs_of(b: &Build, name: &str) -> usize {
    b.conversions().iter().filter(|(_, s)| s.ends_with(name)).count()
}

#[test]
fn a_job_that_times_out_is_failed_and_never_lands_an_older_cached_result() {
    let (b, switch) = switched(&[("t", &[("slow.testjob", "ok first result"), ("data.csv", "a,b")])]);
    let run = |extra: &[&str]| b.cmd(extra).env("CLX_TESTKIT_SWITCH", &switch).output().unwrap();
    assert!(run(&[]).status.success());
    assert!(!b.course.outputs_ending("img/slow.txt").is_empty(), "{:#?}", b.course.output_files());

    std::fs::write(&switch, "hang").unwrap();
    let out = run(&["--no-cache", "--job-timeout", "2"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "a timed-out job fails the build: {err}");
    assert!(err.contains("slow.testjob") && err.contains("timed out after 2 s"), "{err}");
    assert!(err.contains("0 built, 0 from cache, 1 failed"), "the old result was counted as built: {err}");
    assert!(
        b.course.outputs_ending("img/slow.txt").is_empty(),
        "the old result is not presented as this build's: {:#?}",
        b.course.output_files()
    );
    let status = b.env.run(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["jobs"]["failed"], 1, "{v}");
}

#[test]
fn no_cache_never_falls_back_to_a_cached_result_when_the_worker_is_lost() {
    let (b, switch) = switched(&[("t", &[("boom.testjob", "ok first result")])]);
    let run = |extra: &[&str]| b.cmd(extra).env("CLX_TESTKIT_SWITCH", &switch).output().unwrap();
    assert!(run(&[]).status.success());
    assert!(run(&["--no-cache"]).status.success());
    assert_eq!(runs_of(&b, "boom.testjob"), 2, "--no-cache reruns the job");

    std::fs::write(&switch, "abort").unwrap();
    let out = run(&["--no-cache"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("killed by signal 6") && err.contains("0 built"), "{err}");
    assert!(b.course.outputs_ending("img/boom.txt").is_empty(), "{:#?}", b.course.output_files());
}

#[test]
fn a_job_killed_at_its_deadline_is_not_run_twice() {
    let b = Build::new(&[("t", &[("stuck.testjob", "hang")])]);
    let out = b.run(&["--job-timeout", "2"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(runs_of(&b, "stuck.testjob"), 1, "a deterministic hang ran again");
}

#[test]
fn an_environment_error_is_not_cached_and_the_job_runs_again() {
    let (b, switch) = switched(&[("t", &[("deck.testjob", "ok rendered")])]);
    let run = || b.cmd(&[]).env("CLX_TESTKIT_SWITCH", &switch).output().unwrap();
    std::fs::write(&switch, "missing the deno kernel is not installed").unwrap();
    let out = run();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the deno kernel is not installed"), "{err}");
    let jobs = stdout(&b.env.run(&["jobs", "list", "--status", "failed"]));
    assert!(jobs.contains("tool"), "filed as a tool problem: {jobs}");

    // The author installs the tool; nothing in the course changed.
    std::fs::remove_file(&switch).unwrap();
    let out = run();
    assert!(out.status.success(), "the old error was replayed: {}", stderr(&out));
    assert_eq!(runs_of(&b, "deck.testjob"), 2, "{:?}", b.conversions());
    assert!(!b.course.outputs_ending("img/deck.txt").is_empty());
    let jobs = stdout(&b.env.run(&["jobs", "list", "--status", "failed"]));
    assert_eq!(jobs.trim(), "no jobs", "a failure a later build fixed is history");
}

#[test]
fn an_input_error_is_cached_and_replayed() {
    let b = Build::new(&[("t", &[("bad.testjob", "fail the label is missing")])]);
    assert_eq!(b.run(&[]).status.code(), Some(1));
    let out = b.run(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("bad.testjob:1: the label is missing"), "{err}");
    assert_eq!(runs_of(&b, "bad.testjob"), 1, "an input error replays from the cache");
}

#[test]
fn a_plugin_panic_names_the_plugin_and_where_and_is_not_cached() {
    let b = Build::new(&[("t", &[("bad.testjob", "panic on purpose")])]);
    let out = b.run(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("plugin `testkit` failed: converter panicked at "), "{err}");
    assert!(err.contains("testkit/src/lib.rs:") && err.contains("on purpose"), "{err}");
    let jobs = stdout(&b.env.run(&["jobs", "list", "--status", "failed"]));
    assert!(jobs.contains("plugin"), "filed as a plugin error: {jobs}");
    assert_eq!(b.run(&[]).status.code(), Some(1));
    assert_eq!(runs_of(&b, "bad.testjob"), 2, "a panic is not replayed from the cache");
}

#[test]
fn changed_plugin_settings_rerun_the_jobs() {
    let b = Build::new(&[("t", &[("a.testjob", "ok")])]);
    assert!(b.run(&[]).status.success());
    std::fs::write(b.course.root().join("clx.toml"), "[converters.testkit]\ncell_timeout = 5\n").unwrap();
    let out = b.run(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(runs_of(&b, "a.testjob"), 2, "a changed [converters.testkit] replayed the old result");
    assert!(b.run(&[]).status.success());
    assert_eq!(runs_of(&b, "a.testjob"), 2);
}

#[test]
fn a_rebuilt_plugin_library_reruns_the_jobs() {
    let b = Build::new(&[("t", &[("a.testjob", "ok")])]);
    let lib = library("clx-fixture-testkit");
    let copy = b.plugins.path().join(lib.file_name().unwrap());
    std::fs::remove_file(&copy).unwrap();
    std::fs::copy(&lib, &copy).unwrap();
    assert!(b.run(&[]).status.success());
    // Same name and version, different bytes: what a rebuilt plugin looks like.
    std::fs::OpenOptions::new().append(true).open(&copy).unwrap().write_all(b"rebuilt").unwrap();
    let out = b.run(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(runs_of(&b, "a.testjob"), 2, "a rebuilt plugin replayed the old result");
}

#[test]
fn an_unchanged_rebuild_starts_no_probe_and_changed_settings_do() {
    let b = Build::new(&[("t", &[("a.testjob", "ok")])]);
    let probes = b.env.home.path().join("probes.log");
    let run = || b.cmd(&[]).env("CLX_TESTKIT_PROBE_LOG", &probes).output().unwrap();
    let count = || std::fs::read_to_string(&probes).unwrap_or_default().lines().count();
    assert!(run().status.success());
    assert_eq!(count(), 1);
    let out = run();
    assert!(out.status.success() && stderr(&out).contains("1 from cache"), "{}", stderr(&out));
    assert_eq!(count(), 1, "an unchanged rebuild asked the plugin again");
    std::fs::write(b.course.root().join("clx.toml"), "[converters.testkit]\nx = 1\n").unwrap();
    assert!(run().status.success());
    assert_eq!(count(), 2, "changed settings are probed anew");
}

#[test]
fn a_plugin_that_aborts_or_panics_while_starting_fails_its_jobs_not_the_build() {
    for (var, how) in [
        ("CLX_TESTKIT_ON_START", "abort"),
        ("CLX_TESTKIT_ON_IDENTITY", "abort"),
        ("CLX_TESTKIT_ON_START", "panic"),
        ("CLX_TESTKIT_ON_IDENTITY", "fail"),
    ] {
        let b = Build::new(&[("t", &[("a.testjob", "ok"), ("data.csv", "a,b")])]);
        let out = b.cmd(&[]).env(var, how).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{var}={how}: {err}");
        assert!(err.contains("a.testjob") && err.contains("testkit"), "{var}={how}: {err}");
        match how {
            "abort" => assert!(err.contains("testkit plugin crashed while starting (killed by signal 6)"), "{err}"),
            "panic" => assert!(err.contains("panicked at") && err.contains("asked for a panic"), "{err}"),
            _ => assert!(err.contains("asked for a failure"), "{err}"),
        }
        assert!(!b.course.outputs_ending("data.csv").is_empty(), "the rest is built: {:#?}", b.course.output_files());
    }
}

#[test]
fn a_plugin_that_hangs_while_starting_is_stopped_and_named() {
    let b = Build::new(&[("t", &[("a.testjob", "ok"), ("data.csv", "a,b")])]);
    let started = Instant::now();
    let out = b.cmd(&["--job-timeout", "2"]).env("CLX_TESTKIT_ON_IDENTITY", "hang").output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the testkit plugin did not start within 2 s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(processes_with_env("CLX_HOME", &b.env.state_dir()).is_empty(), "the hung probe was left running");
}

#[test]
fn a_deck_whose_kernel_is_missing_fails_every_build_and_is_never_replayed_from_the_cache() {
    // No C++ kernel (xeus-cpp) can be installed from the registries here, so
    // a C++ deck meets a missing kernelspec: the machine's fault, not the deck's.
    let env = Env::new();
    let course = TestCourse::new(&[("t", &[("slides_t.cpp", "// %%\nint x = 1;\n")])]);
    for round in ["first", "second"] {
        let out = env.clx().arg("build").arg(course.spec()).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{round} build: {err}");
        assert!(err.contains("xcpp17"), "the error names the kernelspec it looked for: {err}");
        assert!(err.contains(", 0 from cache, 2 failed"), "{round} build must run both language jobs again: {err}");
    }
}
