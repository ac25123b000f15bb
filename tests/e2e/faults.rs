//! Fault injection on the real example course: workers and the host die
//! mid-build, an output folder is blocked, the state databases are corrupt.
//! Whatever happens, a build either succeeds with exactly the bytes of a
//! clean build or fails naming the cause, a plain rebuild repairs the tree,
//! and no process started for the build outlives it.

use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clx_e2e::*;

/// Relative path -> bytes of every file under an output dir.
type Tree = BTreeMap<String, Vec<u8>>;

/// A copy of the example course, so builds never write into the repo.
struct Course {
    dir: tempfile::TempDir,
}

impl Course {
    fn spec(&self) -> PathBuf {
        self.dir.path().join("course-specs/python-course.xml")
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("output")
    }
}

/// A new state dir and a new course copy.
fn fresh() -> (Env, Course) {
    let env = Env::new();
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(&repo_root().join("examples/python-course"), dir.path());
    assert!(processes_with_env("CLX_HOME", &env.state_dir()).is_empty(), "a new state dir has processes");
    (env, Course { dir })
}

/// A `clx build` in flight. Its stderr goes to an unnamed file rather than a
/// pipe, so a chatty build never blocks on a full pipe while a test sleeps.
struct Running {
    child: Child,
    log: std::fs::File,
}

impl Running {
    fn finish(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().expect("wait for clx build");
        let mut err = String::new();
        self.log.rewind().expect("rewind log");
        self.log.read_to_string(&mut err).expect("read log");
        (status.code(), err)
    }
}

fn spawn_build(env: &Env, course: &Course, extra: &[&str]) -> Running {
    let log = tempfile::tempfile().expect("log file");
    let child = env
        .clx()
        .arg("build")
        .arg(course.spec())
        .args(extra)
        .stdout(Stdio::null())
        .stderr(log.try_clone().expect("clone log"))
        .spawn()
        .expect("spawn clx build");
    Running { child, log }
}

fn build(env: &Env, course: &Course) -> (Option<i32>, String) {
    spawn_build(env, course, &[]).finish()
}

/// The output of one clean build, shared by every test: clean builds are
/// byte-for-byte deterministic, and each costs seconds of two cores.
fn reference() -> &'static Tree {
    static REFERENCE: OnceLock<Tree> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let (env, course) = fresh();
        let (code, err) = build(&env, &course);
        assert_eq!(code, Some(0), "the clean reference build failed: {err}");
        assert_nothing_left(&env, "reference build");
        file_tree(&course.out())
    })
}

/// Every reference file outside `except` (a folder) must be there with the
/// same bytes; without `except`, nothing else may be there either, which
/// also rules out leftover `.clx-*.tmp` files.
fn compare_to_reference(out: &Path, except: Option<&str>, context: &str) {
    let actual = file_tree(out);
    let skipped = |rel: &str| except.is_some_and(|dir| rel.starts_with(&format!("{dir}/")));
    let expected: Vec<_> = reference().iter().filter(|(rel, _)| !skipped(rel)).collect();
    let missing: Vec<_> = expected.iter().filter(|(rel, _)| !actual.contains_key(*rel)).map(|(r, _)| r).collect();
    let differ: Vec<_> =
        expected.iter().filter(|(r, b)| actual.get(*r).is_some_and(|a| a != *b)).map(|(r, _)| r).collect();
    let extra: Vec<_> = match except {
        Some(_) => actual.keys().filter(|rel| is_temp_file(rel)).collect(),
        None => actual.keys().filter(|rel| !reference().contains_key(*rel)).collect(),
    };
    assert!(
        missing.is_empty() && differ.is_empty() && extra.is_empty(),
        "{context}: the output differs from a clean build\nmissing: {missing:#?}\ndifferent bytes: {differ:#?}\nunexpected: {extra:#?}"
    );
}

fn is_temp_file(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name.starts_with(".clx-") && name.ends_with(".tmp")
}

/// Workers, kernels, Java and Chromium inherit `CLX_HOME`; once the build is
/// over, none of them may be left. Dying takes a moment, hence the wait.
fn assert_no_processes_left(env: &Env, context: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = processes_with_env("CLX_HOME", &env.state_dir());
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            let left: Vec<String> = left.iter().map(|&p| format!("{p}: {}", args(p).join(" "))).collect();
            panic!("{context}: processes outlived the build by 15 s: {left:#?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// No process and no temp file of the build is left.
fn assert_nothing_left(env: &Env, context: &str) {
    assert_no_processes_left(env, context);
    assert_no_scratch_left(env, context);
}

/// Workers' temp files (job work dirs, kernel connection files, browser
/// profiles and sockets) go to scratch folders in `<CLX_HOME>/tmp`; a host
/// that ended, however its workers died, leaves neither that nor the temp
/// dir it was given holding anything.
fn assert_no_scratch_left(env: &Env, context: &str) {
    for root in [env.state_dir().join("tmp"), env.temp_dir()] {
        let left: Vec<String> = match std::fs::read_dir(&root) {
            Ok(entries) => entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
            Err(_) => Vec::new(),
        };
        assert!(left.is_empty(), "{context}: temp files left in {}: {left:?}", root.display());
    }
}

fn args(pid: u32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|&b| b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
}

/// `clx worker` processes the host started (its children).
fn workers_of(host: u32) -> Vec<u32> {
    live_processes()
        .into_iter()
        // A `worker --probe` asks a plugin for its tool identity before the
        // pool starts: it is no worker, and killing it fails the plugin's
        // jobs with a "crashed while starting" error by design.
        .filter(|&pid| {
            let args = args(pid);
            parent_of(pid) == Some(host) && args.iter().any(|a| a == "worker") && !args.iter().any(|a| a == "--probe")
        })
        .collect()
}

fn send(signal: &str, pid: u32) {
    // The target may have exited meanwhile; that is part of the game.
    let _ = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).stderr(Stdio::null()).status();
}

/// xorshift64: enough randomness for timings without a dependency. The
/// seed is printed and `CLX_FAULT_SEED` sets it, to replay a failing run
/// (as far as the machine's timing allows).
struct Rng(u64);

impl Rng {
    fn new(test: &str) -> Rng {
        let clock = || SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
        let seed = std::env::var("CLX_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(clock).max(1);
        println!("{test}: seed {seed} (CLX_FAULT_SEED={seed} replays it)");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from + 1))
    }
}

fn error_lines(err: &str) -> Vec<&str> {
    err.lines().map(str::trim_start).filter(|l| l.starts_with("error:")).collect()
}

#[test]
fn randomly_killed_workers_never_leave_wrong_outputs() {
    let mut rng = Rng::new("randomly_killed_workers_never_leave_wrong_outputs");
    for round in 1..=3 {
        let (env, course) = fresh();
        let run = spawn_build(&env, &course, &["--workers", "notebook=2"]);
        let mut killed = Vec::new();
        for _ in 0..2 + rng.below(2) {
            std::thread::sleep(rng.millis(300, 3000));
            // None between a loss and its replacement, or once the build is over.
            let workers = workers_of(run.child.id());
            if !workers.is_empty() {
                let victim = workers[rng.below(workers.len() as u64) as usize];
                let plugin = args(victim).into_iter().find(|a| a.contains("libclx_plugin_")).unwrap_or_default();
                send("KILL", victim);
                killed.push((victim, plugin.rsplit('/').next().unwrap_or_default().to_owned()));
            }
        }
        let (code, err) = run.finish();
        let context = format!("round {round}, killed {killed:?}");
        println!("{context}: exit {code:?} {}", error_lines(&err).join(" | "));
        match code {
            Some(0) => {}
            Some(1) => {
                // A job whose worker is lost twice fails by design; so does a
                // plugin whose workers die three times before they are ready.
                // Any other error means a kill did damage it must not.
                let errors = error_lines(&err);
                let by_kill = |l: &&str| {
                    l.contains("killed by signal 9")
                        && (l.contains("gave up after 2 attempts") || l.contains("cannot start"))
                };
                assert!(
                    !errors.is_empty() && errors.iter().all(by_kill),
                    "{context}: exit 1 not from a lost worker: {err}"
                );
                let (code, err) = build(&env, &course);
                assert_eq!(code, Some(0), "{context}: the rebuild after a lost job failed: {err}");
            }
            other => panic!("{context}: exit {other:?}: {err}"),
        }
        compare_to_reference(&course.out(), None, &context);
        assert_nothing_left(&env, &context);
    }
}

/// Start a build, signal the host once a worker runs, rebuild.
fn signal_host_mid_build(signal: &str, test: &str) {
    let mut rng = Rng::new(test);
    let (env, course) = fresh();
    let run = spawn_build(&env, &course, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while workers_of(run.child.id()).is_empty() {
        assert!(Instant::now() < deadline, "no worker started within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Otherwise every "no process left" check here would pass vacuously.
    assert!(!processes_with_env("CLX_HOME", &env.state_dir()).is_empty(), "CLX_HOME does not find the workers");
    std::thread::sleep(rng.millis(0, 2000));
    send(signal, run.child.id());
    let (code, err) = run.finish();
    println!("{test}: SIG{signal} gave exit {code:?}");
    if signal == "INT" {
        assert_eq!(code, Some(130), "{err}");
        assert!(err.contains("interrupted"), "{err}");
    }
    // Before the rebuild: what the dead host started must go by itself.
    assert_no_processes_left(&env, &format!("after SIG{signal} to the host"));
    if signal == "INT" {
        assert_no_scratch_left(&env, "after SIGINT to the host");
    }
    let (code, err) = build(&env, &course);
    assert_eq!(code, Some(0), "rebuild after SIG{signal}: {err}");
    compare_to_reference(&course.out(), None, &format!("rebuild after SIG{signal}"));
    // A killed host cannot remove its temp files; the next one does.
    assert_nothing_left(&env, &format!("rebuild after SIG{signal}"));
}

#[test]
fn host_killed_mid_build_leaves_nothing_a_rebuild_cannot_repair() {
    signal_host_mid_build("KILL", "host_killed_mid_build_leaves_nothing_a_rebuild_cannot_repair");
}

#[test]
fn host_interrupted_mid_build_exits_130_and_a_rebuild_completes_it() {
    signal_host_mid_build("INT", "host_interrupted_mid_build_exits_130_and_a_rebuild_completes_it");
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|ids| ids.split_whitespace().next()) == Some("0")
}

#[test]
fn a_file_in_place_of_an_output_folder_fails_that_folder_only() {
    const BLOCKED: &str = "public/En/Python Basics/Slides/Notebooks/Completed/First Steps";
    let (env, course) = fresh();
    // Root writes through permission bits; a file where a folder must be
    // created stops it too. The bits are for the runs that are not root.
    let blocker = course.out().join(BLOCKED);
    std::fs::create_dir_all(blocker.parent().expect("parent")).expect("mkdir");
    std::fs::write(&blocker, "in the way\n").expect("write blocker");
    chmod(&blocker, 0o444);
    let (code, err) = build(&env, &course);
    assert_eq!(code, Some(1), "a blocked folder fails the build, everything else is written: {err}");
    let says_why = |l: &&str| {
        let l = l.to_lowercase();
        l.contains("is a file where clx needs a folder") && l.contains("move it away")
    };
    assert!(
        error_lines(&err).iter().any(|l| l.contains(BLOCKED) && says_why(l)),
        "no error names {BLOCKED} and the reason: {err}"
    );
    assert!(reference().keys().any(|rel| rel.starts_with(&format!("{BLOCKED}/"))), "{BLOCKED} holds no output");
    compare_to_reference(&course.out(), Some(BLOCKED), "build with a blocked folder");
    assert_nothing_left(&env, "build with a blocked folder");

    // The sweep may have removed the blocker already: it is no output.
    let _ = std::fs::remove_file(&blocker);
    let (code, err) = build(&env, &course);
    assert_eq!(code, Some(0), "rebuild without the blocker: {err}");
    compare_to_reference(&course.out(), None, "rebuild without the blocker");

    if !is_root() {
        let file = course.out().join(format!("{BLOCKED}/01 Hello, World.ipynb"));
        let dir = file.parent().expect("parent");
        // Changed bytes, so the build has to replace the file.
        std::fs::write(&file, "stale").expect("write");
        chmod(&file, 0o444);
        chmod(dir, 0o555);
        let (code, err) = build(&env, &course);
        chmod(dir, 0o755);
        chmod(&file, 0o644);
        assert_eq!(code, Some(1), "{err}");
        let named = |l: &&str| l.contains("01 Hello, World.ipynb") && l.to_lowercase().contains("permission denied");
        assert!(error_lines(&err).iter().any(named), "{err}");
        let (code, err) = build(&env, &course);
        assert_eq!(code, Some(0), "rebuild with the permissions back: {err}");
        compare_to_reference(&course.out(), None, "rebuild with the permissions back");
    }
    assert_nothing_left(&env, "rebuilds after a blocked folder");
}

fn garbage(path: &Path) {
    std::fs::write(path, b"garbage ".repeat(512)).expect("overwrite");
}

fn halve(path: &Path) {
    let file = std::fs::OpenOptions::new().write(true).open(path).expect("open");
    file.set_len(file.metadata().expect("size").len() / 2).expect("truncate");
}

#[test]
fn corrupt_cache_or_queue_database_is_moved_aside_and_the_build_completes() {
    let (env, course) = fresh();
    let (code, err) = build(&env, &course);
    assert_eq!(code, Some(0), "{err}");
    // Trailing blank lines change the deck's cache key but none of its
    // outputs: the rebuild has real work (the queue is opened) and must
    // still equal the reference.
    let deck = course.dir.path().join("slides/module_100_basics/topic_110_variables.py");
    let mut text = std::fs::read_to_string(&deck).expect("read deck");
    text.push_str("\n\n");
    std::fs::write(&deck, text).expect("write deck");

    let cases = [
        ("cache/index.db", "overwritten with garbage", garbage as fn(&Path)),
        ("cache/index.db", "truncated to half its size", halve),
        ("queue.db", "overwritten with garbage", garbage),
    ];
    for (db, how, corrupt) in cases {
        let case = Env::new();
        copy_tree(&env.state_dir(), &case.state_dir());
        let file = case.state_dir().join(db);
        corrupt(&file);
        let damaged = std::fs::read(&file).expect("read damaged file");
        let (code, err) = build(&case, &course);
        let context = format!("{db} {how}");
        assert_eq!(code, Some(0), "{context}: {err}");
        let warned = format!("warning: {} was damaged", file.display());
        assert!(err.lines().any(|l| l.starts_with(&warned) && l.contains(".corrupt")), "{context}: {err}");
        // Kept for a post-mortem, never silently deleted.
        let aside = case.state_dir().join(format!("{db}.corrupt"));
        assert_eq!(std::fs::read(&aside).expect("moved-aside file"), damaged, "{context}");
        compare_to_reference(&course.out(), None, &context);
        assert_nothing_left(&case, &context);
        // The fresh database works for the commands that read it.
        let status = case.run(&["cache", "stats"]);
        assert!(status.status.success(), "{context}: {}", stderr(&status));
    }
}

/// Set every cache blob's modification time two hours back, as if the
/// cache had been filled by a build long ago.
fn age_blobs(dir: &Path) {
    let old = SystemTime::now() - Duration::from_secs(7200);
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = e.path();
        if path.is_dir() {
            age_blobs(&path);
        } else {
            let file = std::fs::File::options().append(true).open(&path).expect("open blob");
            file.set_modified(old).expect("age blob");
        }
    }
}

#[test]
fn cache_prune_beside_a_build_loses_nothing() {
    let (env, course) = fresh();
    let (code, err) = build(&env, &course);
    assert_eq!(code, Some(0), "{err}");
    age_blobs(&env.state_dir().join("cache/blobs"));

    let running = spawn_build(&env, &course, &["--no-cache"]);
    let pid = running.child.id();
    let mut prunes = 0;
    while alive(pid) && prunes < 2000 {
        let out = env.run(&["cache", "prune", "--older-than-days", "0"]);
        assert!(out.status.success(), "{}", stderr(&out));
        prunes += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, err) = running.finish();
    assert!(prunes > 1, "the build ended before a prune ran beside it");
    assert_eq!(code, Some(0), "a prune beside the build failed jobs: {err}");
    compare_to_reference(&course.out(), None, "build beside cache prune");
    assert_nothing_left(&env, "build beside cache prune");
}

/// A process a cell starts in a kernel forked by the fork server (the
/// usual Python kernel) dies with a worker killed mid-deck, though neither
/// it nor the kernel is the worker's child: the fork server's guard kills
/// the kernel's group when the server goes with the worker.
#[test]
fn processes_a_cell_starts_in_a_forked_kernel_die_with_a_worker_killed_mid_deck() {
    let env = Env::new();
    let running = env.home.path().join("deck-running");
    let deck = format!(
        "# %%\nimport subprocess, time\nsubprocess.Popen(['sleep', '313'])\nopen({:?}, 'w').close()\ntime.sleep(100)\n",
        running.display().to_string()
    );
    let course = TestCourse::new(&[("slow", &[("slides_slow.py", &deck)])]);
    let run = build_until_the_deck_runs(&env, &course, &running);
    let started: Vec<u32> = processes_with_env("CLX_HOME", &env.state_dir())
        .into_iter()
        .filter(|&pid| args(pid) == ["sleep", "313"])
        .collect();
    let workers = workers_of(run.child.id());
    assert!(!started.is_empty() && !workers.is_empty(), "no worker runs the deck's cell");
    let survivors = kill_workers_then_host(run, &workers, &started);
    assert!(survivors.is_empty(), "a cell's process outlived its killed worker by 10 s: {survivors:#?}");
    assert_no_processes_left(&env, "after kill -9 of the worker, then of the host");
}

/// Kill `workers` with SIGKILL and give the processes `watched` 10 s to
/// go with them; then kill the host too (it retries the deck on a new
/// worker, and killing that one must leave nothing either). Those of
/// `watched` still alive after the 10 s, each with its command line.
fn kill_workers_then_host(run: Running, workers: &[u32], watched: &[u32]) -> Vec<String> {
    for &pid in workers {
        send("KILL", pid);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while watched.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let survivors = watched.iter().filter(|&&p| alive(p)).map(|&p| format!("{p}: {}", args(p).join(" "))).collect();
    send("KILL", run.child.id());
    let _ = run.finish();
    survivors
}

/// Start a build of `course` and wait until its deck has created `running`.
fn build_until_the_deck_runs(env: &Env, course: &TestCourse, running: &Path) -> Running {
    let log = tempfile::tempfile().expect("log file");
    let child = env
        .clx()
        .arg("build")
        .arg(course.spec())
        .stdout(Stdio::null())
        .stderr(log.try_clone().expect("clone log"))
        .spawn()
        .expect("spawn clx build");
    let run = Running { child, log };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !running.exists() {
        assert!(Instant::now() < deadline, "the deck did not run within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    run
}

/// A kernelspec whose launcher forks the real kernel and waits for it, as
/// JJava's launcher JVM does: the parent-death signal reaches only the
/// launcher, so the forked kernel is what must not outlive the worker.
/// Without `JPY_PARENT_PID` ipykernel, like JJava's kernel, does not watch
/// for its parent's death itself.
fn install_forking_kernelspec(env: &Env) {
    let spec = env.home.path().join("data/jupyter/kernels/forking-python");
    std::fs::create_dir_all(&spec).expect("mkdir");
    let python = tools_dir().join("venv/bin/python");
    let argv = [
        "/bin/sh",
        "-c",
        "unset JPY_PARENT_PID; \"$0\" -m ipykernel_launcher -f \"$1\" & wait",
        &python.to_string_lossy(),
        "{connection_file}",
    ];
    let json = serde_json::json!({"argv": argv, "display_name": "Python (forked)", "language": "python"});
    std::fs::write(spec.join("kernel.json"), json.to_string()).expect("write kernelspec");
}

/// The kernels forking launchers started.
fn forked_kernels(env: &Env) -> Vec<u32> {
    processes_with_env("CLX_HOME", &env.state_dir())
        .into_iter()
        .filter(|&pid| {
            args(pid).iter().any(|a| a == "ipykernel_launcher")
                && parent_of(pid).is_some_and(|parent| args(parent).first().is_some_and(|a| a == "/bin/sh"))
        })
        .collect()
}

#[test]
fn kernels_their_launchers_forked_die_with_a_worker_killed_mid_deck() {
    let env = Env::new();
    install_forking_kernelspec(&env);
    // The deck says when it runs (kernels started ahead for the next deck
    // run too), then sleeps for longer than the test takes.
    let running = env.home.path().join("deck-running");
    let deck = format!("# %%\nimport time\nopen({:?}, 'w').close()\ntime.sleep(100)\n", running.display().to_string());
    let course = TestCourse::new(&[("slow", &[("slides_slow.py", &deck)])]);
    std::fs::write(course.root().join("clx.toml"), "[converters.notebook.kernels]\npython = \"forking-python\"\n")
        .expect("clx.toml");
    let run = build_until_the_deck_runs(&env, &course, &running);
    let kernels = forked_kernels(&env);
    let workers = workers_of(run.child.id());
    assert!(!kernels.is_empty() && !workers.is_empty(), "no worker runs the deck in a forked kernel");
    let survivors = kill_workers_then_host(run, &workers, &kernels);
    assert!(survivors.is_empty(), "forked kernels outlived their killed worker by 10 s: {survivors:#?}");
    assert_no_processes_left(&env, "after kill -9 of the worker, then of the host");
}
