//! Beyond one machine: a real PostgreSQL server (a throwaway cluster per
//! test) as the queue and the shared cache, `clx worker serve` daemons as
//! another user who cannot read the course, and the faults a network of
//! machines has: a worker killed mid-job, a worker stopped past its lease,
//! the database restarted mid-build.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clx_e2e::pg::{PgCluster, TestUser};
use clx_e2e::*;

const SPEC: &str = "course-specs/python-course.xml";

fn example_course() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("clx-course-").tempdir().expect("temp dir");
    copy_tree(&repo_root().join("examples/python-course"), dir.path());
    dir
}

fn assert_same_tree(actual: &Path, expected: &BTreeMap<String, Vec<u8>>, what: &str) {
    let actual = file_tree(actual);
    let differ: Vec<&String> = expected.keys().filter(|k| actual.get(*k) != expected.get(*k)).collect();
    let extra: Vec<&String> = actual.keys().filter(|k| !expected.contains_key(*k)).collect();
    assert!(
        differ.is_empty() && extra.is_empty(),
        "{what}: differs from the local build: {differ:#?}; extra: {extra:#?}"
    );
}

/// The example course built the ordinary way: SQLite, local workers.
fn local_reference() -> BTreeMap<String, Vec<u8>> {
    let env = Env::new();
    let course = example_course();
    let out = env.clx().arg("build").arg(course.path().join(SPEC)).output().expect("run clx");
    assert!(out.status.success(), "local build: {}", stderr(&out));
    file_tree(&course.path().join("output"))
}

/// A `clx worker serve` daemon with a home of its own, as `user` when given.
struct Server {
    child: Child,
    home: tempfile::TempDir,
}

impl Server {
    fn start(url: &str, user: Option<&TestUser>) -> Server {
        Server::start_with(url, user, |_, _| {})
    }

    /// [`Server::start`] with these fixture plugins installed for its user.
    fn start_with_plugins(url: &str, user: Option<&TestUser>, fixtures: &[&str]) -> Server {
        Server::start_with(url, user, |home, _| {
            let plugins = home.join("data/clx/plugins");
            for fixture in fixtures {
                let lib = library(fixture);
                std::fs::create_dir_all(&plugins).expect("mkdir");
                std::fs::copy(&lib, plugins.join(lib.file_name().expect("file name"))).expect("install plugin");
            }
        })
    }

    /// A daemon whose home (and command) `prepare` fills first.
    fn start_with(url: &str, user: Option<&TestUser>, prepare: impl FnOnce(&Path, &mut Command)) -> Server {
        let home = tempfile::Builder::new().prefix("clx-worker-").tempdir().expect("temp dir");
        for d in ["state", "tmp", "config", "data"] {
            std::fs::create_dir(home.path().join(d)).expect("mkdir");
        }
        let log = std::fs::File::create(home.path().join("serve.log")).expect("log file");
        let mut cmd = Command::new(clx_bin());
        // The machine's environment stays (proxies, certificate bundles for
        // PyPI); everything of clx's and the home are the worker's own.
        cmd.env("HOME", home.path())
            .env_remove("CLX_PLUGIN_PATH")
            .env_remove("CLX_LOG")
            .env_remove("XDG_CACHE_HOME")
            .env("CLX_HOME", home.path().join("state"))
            .env("TMPDIR", home.path().join("tmp"))
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("CLX_TOOLS_DIR", tools_dir())
            .env("CLX_QUEUE_URL", url)
            .args(["--log-level", "info", "worker", "serve"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        prepare(home.path(), &mut cmd);
        if let Some(u) = user {
            u.own(home.path());
            u.apply(&mut cmd);
        }
        Server { child: cmd.spawn().expect("start clx worker serve"), home }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("serve.log")).unwrap_or_default()
    }

    /// SIGTERM, then wait: it must exit by itself, with success, and leave
    /// no process (kernels, JVMs) behind.
    fn stop(mut self) {
        signal(self.pid(), "TERM");
        let status = wait_for(&mut self.child, Duration::from_secs(60)).unwrap_or_else(|| {
            let threads = thread_states(self.pid());
            let _ = self.child.kill();
            panic!("clx worker serve did not stop on SIGTERM: {}\nits threads:\n{threads}", self.log())
        });
        assert!(status.success(), "clx worker serve exited with {status}: {}", self.log());
        self.assert_nothing_left();
    }

    fn assert_nothing_left(&self) {
        let state = self.home.path().join("state");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !processes_with_env("CLX_HOME", &state).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let left = processes_with_env("CLX_HOME", &state);
        assert!(left.is_empty(), "processes left behind by a worker: {left:?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().is_ok_and(|s| s.success());
    assert!(ok, "kill -{name} {pid}");
}

fn wait_for(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// `clx build` of a fresh copy of the example course against `url`, with
/// no workers of its own, started in the background.
struct HostBuild {
    env: Env,
    course: tempfile::TempDir,
    child: Child,
}

impl HostBuild {
    fn start(url: &str, local_workers: &str) -> HostBuild {
        let env = Env::new();
        let course = example_course();
        let child = env
            .clx()
            .env("CLX_QUEUE_URL", url)
            .args(["build", "--local-workers", local_workers])
            .arg(course.path().join(SPEC))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start clx build");
        HostBuild { env, course, child }
    }

    /// Wait for the build; it must succeed. Returns its stderr.
    fn finish(self) -> (String, PathBuf, Env, tempfile::TempDir) {
        let out = self.child.wait_with_output().expect("wait for clx build");
        let err = stderr(&out);
        assert!(out.status.success(), "build failed ({:?}): {err}", out.status.code());
        (err, self.course.path().join("output"), self.env, self.course)
    }
}

/// Poll `sql` (one value) until `done` accepts it.
fn poll(cluster: &PgCluster, db: &str, sql: &str, done: impl Fn(&str) -> bool, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let value = cluster.try_psql(db, sql).unwrap_or_default().trim().to_owned();
        if done(&value) {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what} (last: {value:?})");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The pid and worker id of a `clx worker serve` running a notebook job.
fn busy_notebook_worker(cluster: &PgCluster, db: &str) -> (u32, i64, i64) {
    let row = poll(
        cluster,
        db,
        "SELECT w.pid, w.id, j.id FROM clx_jobs j JOIN clx_workers w ON w.id = j.worker
         WHERE j.status = 'running' AND j.job_type = 'notebook' AND w.session IS NULL LIMIT 1",
        |v| !v.is_empty(),
        "a notebook job running on a remote worker",
    );
    let mut parts = row.split('|');
    let mut next = || parts.next().expect("three columns").parse::<i64>().expect("a number");
    let (pid, worker, job) = (next(), next(), next());
    (pid as u32, worker, job)
}

/// The user remote workers run as: another one than the host's, who cannot
/// read the course, but may run the tools installed for the host.
fn worker_user() -> Option<TestUser> {
    let user = TestUser::ensure("clx-worker")?;
    user.allow_traverse(&tools_dir().join("venv"));
    let python = tools_dir().join("venv/bin/python3");
    if let Ok(real) = std::fs::canonicalize(&python) {
        user.allow_traverse(&real);
    }
    Some(user)
}

/// A new database on `cluster` and two `clx worker serve` daemons for it.
fn two_servers(cluster: &PgCluster, db: &str, user: Option<&TestUser>) -> (String, Vec<Server>) {
    let url = cluster.database(db);
    let servers = vec![Server::start(&url, user), Server::start(&url, user)];
    (url, servers)
}

fn stop_all(servers: Vec<Server>) {
    for s in servers {
        s.stop();
    }
}

#[test]
fn remote_workers_build_the_course_byte_for_byte_through_kills_stops_and_a_database_restart() {
    let expected = local_reference();
    let cluster = PgCluster::start();
    let user = worker_user();
    if user.is_none() {
        eprintln!("not root: remote workers run as this user (another user needs root to create)");
    }

    // Clean: two remote workers as another user, none on the host.
    let (url, servers) = two_servers(&cluster, "clean", user.as_ref());
    let (err, out, _env, _course) = HostBuild::start(&url, "0").finish();
    assert!(err.contains("15 built, 0 from cache, 0 failed"), "{err}");
    assert_same_tree(&out, &expected, "clean remote build");
    let served: Vec<String> =
        cluster.psql("clean", "SELECT DISTINCT worker FROM clx_jobs").lines().map(str::to_owned).collect();
    assert!(servers.iter().all(|s| s.log().contains("serving")), "both servers started");
    assert!(!served.is_empty());
    stop_all(servers);

    // kill -9 mid-job: the job's lease runs out and the other worker runs it.
    let (url, servers) = two_servers(&cluster, "killed", user.as_ref());
    let build = HostBuild::start(&url, "0");
    let (pid, _, job) = busy_notebook_worker(&cluster, "killed");
    let (victim, survivor): (Vec<Server>, Vec<Server>) = servers.into_iter().partition(|s| s.pid() == pid);
    signal(pid, "KILL");
    let (_, out, _env, _course) = build.finish();
    assert_same_tree(&out, &expected, "build with a worker killed mid-job");
    assert_eq!(
        cluster.psql("killed", &format!("SELECT status, attempts FROM clx_jobs WHERE id={job}")).trim(),
        "done|2"
    );
    for s in victim {
        s.assert_nothing_left();
    }
    stop_all(survivor);

    // SIGSTOP past the lease, then SIGCONT: the job ran elsewhere and the
    // late worker's result is dropped, not recorded over the other one.
    let (url, servers) = two_servers(&cluster, "stopped", user.as_ref());
    let build = HostBuild::start(&url, "0");
    let (pid, worker, job) = busy_notebook_worker(&cluster, "stopped");
    signal(pid, "STOP");
    poll(
        &cluster,
        "stopped",
        &format!("SELECT coalesce(worker, 0) <> {worker} AND attempts = 2 FROM clx_jobs WHERE id={job}"),
        |v| v == "t",
        "the stopped worker's job to be claimed again",
    );
    signal(pid, "CONT");
    let (_, out, _env, _course) = build.finish();
    assert_same_tree(&out, &expected, "build with a worker stopped past its lease");
    let late = cluster.psql("stopped", &format!("SELECT worker <> {worker} FROM clx_jobs WHERE id={job}"));
    assert_eq!(late.trim(), "t", "the job's result is the second worker's");
    stop_all(servers);

    // The database restarts mid-build: host and workers reconnect.
    let (url, servers) = two_servers(&cluster, "restarted", user.as_ref());
    let build = HostBuild::start(&url, "0");
    poll(&cluster, "restarted", "SELECT count(*) FROM clx_jobs WHERE status = 'done'", |v| v != "0", "a finished job");
    cluster.restart();
    let (_, out, _env, _course) = build.finish();
    assert_same_tree(&out, &expected, "build across a database restart");
    stop_all(servers);
}

#[test]
fn a_second_machine_builds_the_same_course_entirely_from_the_shared_cache() {
    let cluster = PgCluster::start();
    let url = cluster.database("shared");
    let (_, first, _e1, _c1) = HostBuild::start(&url, "2").finish();
    // Another state dir, another copy of the course, no worker at all.
    let (err, second, _e2, _c2) = HostBuild::start(&url, "0").finish();
    assert!(err.contains("0 built, 15 from cache, 0 failed"), "{err}");
    assert_eq!(file_tree(&first), file_tree(&second));

    let env = Env::new();
    let stats = env.clx().env("CLX_QUEUE_URL", &url).args(["cache", "stats"]).output().expect("run clx");
    assert!(stats.status.success(), "{}", stderr(&stats));
    assert!(stdout(&stats).contains("entries: 15"), "{}", stdout(&stats));

    // A database a newer clx has migrated is refused with what to do.
    cluster.psql("shared", "INSERT INTO clx_schema(version) VALUES (999)");
    let status = env.clx().env("CLX_QUEUE_URL", &url).arg("status").output().expect("run clx");
    assert_eq!(status.status.code(), Some(2));
    assert!(stderr(&status).contains("newer than this clx understands"), "{}", stderr(&status));
}

#[test]
fn an_unreachable_database_stops_the_build_before_anything_is_written() {
    let env = Env::new();
    let course = example_course();
    let port = clx_e2e::pg::free_port();
    let out = env
        .clx()
        .env("CLX_QUEUE_URL", format!("postgres://clx@127.0.0.1:{port}/clx"))
        .arg("build")
        .arg(course.path().join(SPEC))
        .output()
        .expect("run clx");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("clx@127.0.0.1:{port}/clx")) && err.contains("CLX_QUEUE_URL"), "{err}");
    assert!(!course.path().join("output").exists(), "no output tree was started");
}

#[test]
fn sslmode_require_speaks_tls_and_refuses_a_certificate_it_cannot_check() {
    let cluster = PgCluster::start_with_tls();
    let url = format!("{}?sslmode=require", cluster.database("tls"));
    let env = Env::new();
    let trusted = env
        .clx()
        .env("CLX_QUEUE_URL", &url)
        .env("SSL_CERT_FILE", cluster.certificate())
        .arg("status")
        .output()
        .expect("run clx");
    assert!(trusted.status.success(), "{}", stderr(&trusted));
    assert!(stdout(&trusted).contains("no build has run yet"), "{}", stdout(&trusted));

    // The system's CAs did not sign this server's certificate: no silent
    // fallback to an unchecked connection.
    let untrusted = env
        .clx()
        .env("CLX_QUEUE_URL", &url)
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .arg("status")
        .output()
        .expect("run clx");
    assert_eq!(untrusted.status.code(), Some(2), "{}", stderr(&untrusted));
    assert!(stderr(&untrusted).contains("certificate"), "{}", stderr(&untrusted));
}

#[test]
fn sslmode_verify_full_checks_the_host_name_and_a_password_in_the_query_is_never_shown() {
    let cluster = PgCluster::start_with_tls();
    let url = format!("{}?sslmode=verify-full&password=Qpw9secret", cluster.database("verified"));
    let env = Env::new();
    let status = |url: &str| {
        env.clx().env("CLX_QUEUE_URL", url).env("SSL_CERT_FILE", cluster.certificate()).arg("status").output()
    };
    let trusted = status(&url).expect("run clx");
    assert!(trusted.status.success(), "{}", stderr(&trusted));
    assert!(stdout(&trusted).contains("no build has run yet"), "{}", stdout(&trusted));

    // The certificate names 127.0.0.1, not localhost.
    let other_name = status(&url.replace("127.0.0.1", "localhost")).expect("run clx");
    let err = stderr(&other_name);
    assert_eq!(other_name.status.code(), Some(2), "{err}");
    assert!(err.contains("certificate") && !err.contains("Qpw9secret"), "{err}");
}

#[test]
fn jobs_no_connected_worker_can_serve_fail_with_the_missing_job_types() {
    let cluster = PgCluster::start();
    let url = cluster.database("unserved");
    let env = Env::new();
    let course = example_course();
    let out = env.build_on_remote_workers(&url, &course.path().join(SPEC));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("wait for a worker"), "{err}");
    for job_type in ["notebook", "plantuml", "drawio"] {
        assert!(err.contains(&format!("serves `{job_type}` jobs")), "{job_type}: {err}");
    }
    assert!(err.contains("clx worker serve --types"), "{err}");
    // Everything that needs no worker is still written.
    assert!(course.path().join("output").exists());
}

/// CPU time (user + system, in clock ticks) of a process; 0 once it is gone.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which may hold spaces: utime and stime are 14th and 15th.
    let after = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

#[test]
fn a_spinning_cell_on_a_remote_worker_is_stopped_at_the_job_timeout() {
    let cluster = PgCluster::start();
    let url = cluster.database("time_limit");
    let server = Server::start(&url, None);
    let env = Env::new();
    let course = TestCourse::new(&[("t", &[("slides_t.py", "# %%\nwhile True:\n    pass\n")])]);
    // The cell's own limit is far away: the job's must stop it.
    std::fs::write(course.root().join("clx.toml"), "[converters.notebook]\ncell_timeout = 90\n").unwrap();
    let started = Instant::now();
    let out = env
        .clx()
        .env("CLX_QUEUE_URL", &url)
        .args(["build", "--local-workers", "0", "--job-timeout", "5"])
        .arg(course.spec())
        .output()
        .expect("run clx");
    let err = stderr(&out);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("timed out after 5 s"), "{err}\nworker log:\n{}", server.log());
    assert!(err.contains("0 built, 0 from cache, 2 failed"), "{err}");
    // Two jobs, one after the other on the one remote worker.
    assert!(took < Duration::from_secs(45), "the build took {took:?}: {err}");

    // Nothing the stopped jobs started still spins on the worker's machine.
    let state = server.home.path().join("state");
    let before: Vec<(u32, u64)> =
        processes_with_env("CLX_HOME", &state).into_iter().map(|p| (p, cpu_ticks(p))).collect();
    std::thread::sleep(Duration::from_secs(2));
    let spinning: Vec<u32> =
        before.iter().filter(|(p, ticks)| cpu_ticks(*p).saturating_sub(*ticks) > 100).map(|(p, _)| *p).collect();
    assert!(spinning.is_empty(), "still spinning after the time-out: {spinning:?}\n{}", server.log());
    assert!(server.log().contains("passed its 5 s limit"), "{}", server.log());
    server.stop();
}

/// A one-deck course built against `url` by remote workers only.
fn remote_build(url: &str) -> (i32, String) {
    let course = TestCourse::new(&[("t", &[("slides_t.py", "# %%\nprint(6 * 7)\n")])]);
    let out = Env::new().build_on_remote_workers(url, &course.spec());
    (out.status.code().unwrap_or(-1), stderr(&out))
}

#[test]
fn a_remote_worker_waits_out_a_database_outage_and_stops_at_once_on_sigterm() {
    let cluster = PgCluster::start();
    let url = cluster.database("outage");
    // Down before the worker starts: it waits instead of exiting.
    cluster.stop();
    let mut server = Server::start(&url, None);
    std::thread::sleep(Duration::from_secs(3));
    assert!(server.child.try_wait().unwrap().is_none(), "exited while the database was down: {}", server.log());
    assert!(server.log().contains("waiting for it to come back"), "{}", server.log());
    cluster.resume();
    let (code, err) = remote_build(&url);
    assert_eq!(code, 0, "the worker did not serve once the database was back: {err}\n{}", server.log());
    assert!(err.contains("2 built"), "{err}");

    // Down while it serves, longer than one connection keeps retrying is
    // not needed to show the same path: it waits, then serves again.
    cluster.stop();
    std::thread::sleep(Duration::from_secs(4));
    assert!(server.child.try_wait().unwrap().is_none(), "exited during the outage: {}", server.log());
    cluster.resume();
    let (code, err) = remote_build(&url);
    assert_eq!(code, 0, "{err}\n{}", server.log());

    // SIGTERM while it waits for the database ends it at once.
    cluster.stop();
    std::thread::sleep(Duration::from_secs(2));
    let asked = Instant::now();
    signal(server.pid(), "TERM");
    let status = wait_for(&mut server.child, Duration::from_secs(10));
    let took = asked.elapsed();
    let status = status.unwrap_or_else(|| panic!("SIGTERM did not end the waiting worker: {}", server.log()));
    assert!(status.success(), "{status}: {}", server.log());
    assert!(took < Duration::from_secs(3), "took {took:?} to stop");
    server.assert_nothing_left();
}

#[test]
fn status_against_a_shared_database_is_healthy_again_after_a_worker_was_killed() {
    let cluster = PgCluster::start();
    let url = cluster.database("killed");
    let server = Server::start(&url, None);
    poll(&cluster, "killed", "SELECT count(DISTINCT pid) FROM clx_workers", |v| v == "1", "the worker registering");
    signal(server.pid(), "KILL");
    let status = |env: &Env| env.clx().env("CLX_QUEUE_URL", &url).args(["status"]).output().expect("clx status");
    let env = Env::new();
    // Past a lease period without a heartbeat, the worker is gone.
    std::thread::sleep(Duration::from_secs(17));
    let out = status(&env);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("health: healthy"), "{}", stdout(&out));
    let listed = env.clx().env("CLX_QUEUE_URL", &url).args(["workers", "list"]).output().expect("clx workers list");
    assert!(stdout(&listed).contains("dead"), "{}", stdout(&listed));
}

#[test]
fn a_remote_workers_progress_reaches_jobs_list_and_the_building_host() {
    let cluster = PgCluster::start();
    let url = cluster.database("progress");
    let server = Server::start_with_plugins(&url, None, &["clx-fixture-testkit"]);
    let plugins = plugin_dir(&["clx-fixture-testkit"]);
    // Long enough between its two steps for the host to look at the queue.
    let course = TestCourse::new(&[("t", &[("slow.testjob", "steps 3000 done")])]);
    let env = Env::new();
    let out = env
        .clx()
        .env("CLX_QUEUE_URL", &url)
        .args(["--log-level", "debug", "--plugin-dir"])
        .arg(plugins.path())
        .args(["build", "--local-workers", "0"])
        .arg(course.spec())
        .output()
        .expect("run clx");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}\n{}", server.log());
    // The host showed the step it read from the queue while the job ran.
    assert!(err.lines().any(|l| l.contains("DEBUG") && l.contains("slow.testjob: 1/2 halfway")), "{err}");
    // `clx jobs list` shows the last step the remote worker reported.
    let jobs = env.clx().env("CLX_QUEUE_URL", &url).args(["jobs", "list"]).output().expect("clx jobs list");
    let jobs = stdout(&jobs);
    let job = jobs.lines().find(|l| l.contains("slow.testjob")).unwrap_or_default();
    assert!(job.contains(" done ") && job.contains("2/2 finishing"), "{jobs}");
    server.stop();
}

/// `clx build` as on a machine with no converter tools at all: an empty
/// `PATH` (no python, java, chromium, dot or uv) and an empty tools dir.
/// MathJax, a web asset every course root ships rather than a converter's
/// tool, comes from its own variable.
fn toolless_build(env: &Env, bare: &Path, args: &[&str], spec: &Path) -> std::process::Output {
    env.clx()
        .env("PATH", bare.join("bin"))
        .env("CLX_TOOLS_DIR", bare.join("tools"))
        .env("CLX_MATHJAX", tools_dir().join("mathjax/3.2.2"))
        .env_remove("JUPYTER_PATH")
        .arg("build")
        .args(args)
        .arg(spec)
        .output()
        .expect("run clx")
}

#[test]
fn a_host_without_tools_builds_on_remote_workers_the_same_bytes_as_a_local_build_and_shares_its_cache() {
    let expected = local_reference();
    let bare = tempfile::Builder::new().prefix("clx-bare-").tempdir().expect("temp dir");
    for d in ["bin", "tools"] {
        std::fs::create_dir(bare.path().join(d)).expect("mkdir");
    }
    // Proof that this host has no tools: on its own it converts nothing.
    let (env, course) = (Env::new(), example_course());
    let alone = toolless_build(&env, bare.path(), &[], &course.path().join(SPEC));
    assert_eq!(alone.status.code(), Some(1), "{}", stderr(&alone));
    assert!(stderr(&alone).contains("no PlantUML jar found"), "{}", stderr(&alone));
    assert!(stderr(&alone).contains("cannot run python3"), "{}", stderr(&alone));

    let cluster = PgCluster::start();
    let (url, servers) = two_servers(&cluster, "toolless", None);
    let (env, course) = (Env::new(), example_course());
    let out = toolless_build(&env, bare.path(), &["--queue", &url, "--local-workers", "0"], &course.path().join(SPEC));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}\n{}", servers[0].log());
    assert!(err.contains("15 built, 0 from cache, 0 failed"), "{err}");
    assert_same_tree(&course.path().join("output"), &expected, "build on a host without tools");

    // The keys are the ones a machine with the tools computes: its build
    // against the same database finds every result in the cache.
    let (env, course) = (Env::new(), example_course());
    let with_tools =
        env.clx().env("CLX_QUEUE_URL", &url).arg("build").arg(course.path().join(SPEC)).output().expect("run clx");
    let err = stderr(&with_tools);
    assert!(with_tools.status.success(), "{err}");
    assert!(err.contains("0 built, 15 from cache, 0 failed"), "{err}");
    stop_all(servers);
}

#[test]
fn workers_with_different_tools_fail_a_toolless_build_naming_both_and_the_tool() {
    let cluster = PgCluster::start();
    let url = cluster.database("disagree");
    let first = Server::start(&url, None);
    // A second machine with one more kernel installed: a C++ kernelspec in
    // its user's Jupyter dir changes what its notebook jobs would run with.
    let second = Server::start_with(&url, None, |home, _| {
        let spec = home.join("data/jupyter/kernels/xcpp17");
        std::fs::create_dir_all(&spec).expect("mkdir");
        let json = r#"{"argv": ["/opt/xeus-cling/bin/xcpp", "-f", "{connection_file}", "-std=c++17"],
            "display_name": "C++17", "language": "c++"}"#;
        std::fs::write(spec.join("kernel.json"), json).expect("write kernelspec");
    });
    poll(
        &cluster,
        "disagree",
        "SELECT count(DISTINCT pid) FROM clx_workers WHERE 'notebook' = ANY(job_types)",
        |v| v == "2",
        "both workers serving notebooks",
    );
    let course = TestCourse::new(&[("t", &[("slides_t.py", "# %%\nprint(6 * 7)\n")])]);
    let out = Env::new().build_on_remote_workers(&url, &course.spec());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the workers serving `notebook` jobs have different tools"), "{err}");
    assert!(err.contains("cpp=xcpp17"), "names the tool: {err}");
    for server in [&first, &second] {
        assert!(err.contains(&format!("(pid {})", server.pid())), "names worker {}: {err}", server.pid());
    }
    first.stop();
    second.stop();
}

#[test]
fn a_serving_worker_starts_each_converter_once_for_its_identity_and_its_first_job() {
    let cluster = PgCluster::start();
    let url = cluster.database("starts");
    let starts = tempfile::tempdir().expect("temp dir");
    let log = starts.path().join("new.log");
    let server = Server::start_with(&url, None, |home, cmd| {
        let plugins = home.join("data/clx/plugins");
        let lib = library("clx-fixture-testkit");
        std::fs::create_dir_all(&plugins).expect("mkdir");
        std::fs::copy(&lib, plugins.join(lib.file_name().expect("file name"))).expect("install plugin");
        cmd.env("CLX_TESTKIT_START_LOG", &log);
    });
    poll(
        &cluster,
        "starts",
        "SELECT count(*) FROM clx_workers WHERE 'testkit' = ANY(job_types)",
        |v| v == "1",
        "testkit served",
    );
    let course = TestCourse::new(&[("t", &[("a.testjob", "ok"), ("b.testjob", "ok")])]);
    let plugins = plugin_dir(&["clx-fixture-testkit"]);
    let env = Env::new();
    let out = env
        .clx()
        .env("CLX_QUEUE_URL", &url)
        .arg("--plugin-dir")
        .arg(plugins.path())
        .args(["build", "--local-workers", "0"])
        .arg(course.spec())
        .output()
        .expect("run clx");
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stderr(&out), server.log());
    let started = std::fs::read_to_string(&log).expect("the start log");
    assert_eq!(started.lines().count(), 1, "one converter asked for the identity and then serving: {started}");
    server.stop();
}

/// The processes running a Python of an environment under `envs`.
fn env_pythons(envs: &Path) -> Vec<u32> {
    use std::os::unix::ffi::OsStrExt;
    live_processes()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                let program = cmdline.split(|&b| b == 0).next().unwrap_or_default();
                program.starts_with(envs.as_os_str().as_bytes())
            })
        })
        .collect()
}

#[test]
fn a_serving_worker_starts_the_kernel_server_of_the_environment_it_built_last_before_a_build_asks() {
    let cluster = PgCluster::start();
    let url = cluster.database("ahead");
    let course = example_course();
    let local = Env::new();
    // The worker's machine built the course once (its environment among
    // what it keeps), as a daemon that served it before has.
    let server = Server::start_with(&url, None, |home, _| {
        let out = local
            .clx()
            .env("CLX_HOME", home.join("state"))
            .arg("build")
            .arg(course.path().join(SPEC))
            .output()
            .expect("run clx");
        assert!(out.status.success(), "local build: {}", stderr(&out));
    });
    let envs = server.home.path().join("state/envs");
    let deadline = Instant::now() + Duration::from_secs(60);
    while env_pythons(&envs).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let ahead = env_pythons(&envs);
    assert!(!ahead.is_empty(), "no kernel server of the environment started: {}", server.log());

    let expected = file_tree(&course.path().join("output"));
    let fresh = example_course();
    let out = Env::new().build_on_remote_workers(&url, &fresh.path().join(SPEC));
    assert!(out.status.success(), "{}\n{}", stderr(&out), server.log());
    assert_same_tree(&fresh.path().join("output"), &expected, "a build on the started server");
    assert!(
        ahead.iter().all(|pid| Path::new(&format!("/proc/{pid}")).exists()),
        "the server started ahead was replaced instead of used: {}",
        server.log()
    );
    server.stop();
}
