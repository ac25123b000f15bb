//! What a deck can reach: a deck is code from the course, run by a worker
//! that may hold the shared database's password and that other courses'
//! builds trust. It must not find the password anywhere it can look, and
//! nothing it starts may outlive it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clx_e2e::pg::PgCluster;
use clx_e2e::*;

/// The password in the database URL; trust authentication ignores it.
const PASSWORD: &str = "Pw7s3cretXq";

/// Prints its environment and the environment of every ancestor and of the
/// worker (`JPY_PARENT_PID`), as far as `/proc` lets it.
const SNOOPING_DECK: &str = r#"# %% [markdown]
# Snoop

# %%
import os
print("own environment:", dict(os.environ))

# %%
def ancestors():
    pid, found = os.getpid(), []
    while pid > 1:
        with open("/proc/%d/stat" % pid) as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
        found.append(pid)
    return found

for pid in ancestors() + [int(os.environ.get("JPY_PARENT_PID", "0"))]:
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            print("environ of", pid, f.read().replace(b"\0", b" ").decode(errors="replace"))
    except OSError as e:
        print("environ of", pid, "unreadable:", e)
"#;

fn pages_of(course: &TestCourse, deck: &str) -> Vec<String> {
    let pages = course.outputs_ending(&format!("{deck}.html"));
    let completed: Vec<String> = pages
        .iter()
        .filter(|p| p.to_string_lossy().contains("/Completed/"))
        .map(|p| std::fs::read_to_string(p).expect("read page"))
        .collect();
    assert!(!completed.is_empty(), "completed pages of {deck}: {:#?}", course.output_files());
    completed
}

fn assert_no_password(course: &TestCourse, deck: &str) {
    for page in pages_of(course, deck) {
        assert!(page.contains("own environment:") && page.contains("CLX_HOME"), "the deck ran: {page}");
        assert!(page.matches("environ of").count() >= 2, "the deck looked at its ancestors: {page}");
        assert!(!page.contains(PASSWORD), "the database password reached a page");
        assert!(!page.contains("CLX_QUEUE_URL=postgres"), "the database URL reached a page");
    }
}

/// Build `course` with remote workers only, through the queue at `url`,
/// then stop `server`, the worker serving it.
fn build_on_remote_workers(env: &Env, url: &str, course: &TestCourse, mut server: Child) {
    let out = env.build_on_remote_workers(url, &course.spec());
    let _ = server.kill();
    let _ = server.wait();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A `clx worker serve` in `env`, given the URL the way an administrator
/// would: in its environment.
fn serve(env: &Env, url: &str) -> Child {
    env.clx()
        .env("CLX_QUEUE_URL", url)
        .args(["worker", "serve"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start clx worker serve")
}

#[test]
fn a_deck_finds_the_database_password_neither_in_its_environment_nor_in_its_ancestors() {
    let cluster = PgCluster::start();
    cluster.database("snoop");
    let url = format!("postgres://clx:{PASSWORD}@127.0.0.1:{}/snoop", cluster.port);
    let env = Env::new();

    // Workers of the build's own, started by `clx build`.
    let course = TestCourse::new(&[("snoop", &[("slides_snoop.py", SNOOPING_DECK)])]);
    let out = env.clx().env("CLX_QUEUE_URL", &url).arg("build").arg(course.spec()).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains(PASSWORD), "{}", stderr(&out));
    assert_no_password(&course, "slides_snoop");

    // A long-running worker another machine's build uses.
    let remote = Env::new();
    let server = serve(&remote, &url);
    let course = TestCourse::new(&[("snoop", &[("slides_snoop.py", &SNOOPING_DECK.replace("Snoop", "Remote"))])]);
    build_on_remote_workers(&env, &url, &course, server);
    assert_no_password(&course, "slides_snoop");
}

/// Processes whose command line is exactly `args`.
fn processes_running(args: &[&str]) -> Vec<u32> {
    let wanted: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
    live_processes()
        .into_iter()
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted))
        .collect()
}

#[test]
fn processes_a_deck_detaches_with_setsid_do_not_outlive_the_build() {
    // A number no other test sleeps for finds this test's orphans.
    let seconds = format!("{}", 900_000 + std::process::id() % 99_999);
    let deck = |name: &str| {
        format!(
            "# %% [markdown]\n# {name}\n\n# %%\nimport subprocess\n\
             subprocess.Popen([\"setsid\", \"sleep\", \"{seconds}\"])\n\
             subprocess.run([\"setsid\", \"sh\", \"-c\", \"sleep {seconds} & exit 0\"])\n\
             print(\"detached\")\n"
        )
    };
    let env = Env::new();
    let course =
        TestCourse::new(&[("one", &[("slides_one.py", &deck("One"))]), ("two", &[("slides_two.py", &deck("Two"))])]);
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(pages_contain(&course, "slides_one", "detached"), "the deck ran its cell");
    let sleeping = || processes_running(&["sleep", &seconds]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sleeping().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let left = sleeping();
    for pid in &left {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    }
    assert!(left.is_empty(), "processes the decks detached outlived the build: {left:?}");
}

fn pages_contain(course: &TestCourse, deck: &str, text: &str) -> bool {
    pages_of(course, deck).iter().all(|p| p.contains(text))
}

/// Tries to read a file in `$HOME`, the state dir's queue database, to
/// connect to `PORT` on loopback and to write in its run directory; prints
/// `REACHED` or `refused` for each.
const REACHING_DECK: &str = r#"# %% [markdown]
# Reach

# %%
import os, socket

def attempt(what, action):
    try:
        action()
        print(what, "REACHED")
    except Exception as e:
        print(what, "refused:", type(e).__name__)

attempt("home", lambda: open(os.path.expanduser("~/secret.txt")).read())
attempt("queue", lambda: open(os.path.join(os.environ["CLX_HOME"], "queue.db"), "rb").read(16))
attempt("database", lambda: socket.create_connection(("127.0.0.1", PORT), timeout=5).close())
attempt("rundir", lambda: open("scratch.txt", "w").write("x"))
"#;

/// What the deck's English completed page says about each attempt.
fn reached(course: &TestCourse) -> Vec<String> {
    let page = pages_of(course, "slides_reach").into_iter().next().expect("a page");
    ["home", "queue", "database", "rundir"]
        .iter()
        .map(|what| {
            let verdict = if page.contains(&format!("{what} REACHED")) {
                "REACHED"
            } else if page.contains(&format!("{what} refused")) {
                "refused"
            } else {
                panic!("no verdict for {what}: {page}")
            };
            format!("{what} {verdict}")
        })
        .collect()
}

#[test]
fn a_sandboxed_deck_reaches_neither_the_home_nor_the_state_dir_nor_without_network_the_database() {
    let cluster = PgCluster::start();
    let env = Env::new();
    let home = env.home.path().join("home");
    std::fs::create_dir(&home).expect("mkdir home");
    std::fs::write(home.join("secret.txt"), "the user's own").expect("write secret");
    let deck = REACHING_DECK.replace("PORT", &cluster.port.to_string());
    let course = TestCourse::new(&[("reach", &[("slides_reach.py", &deck)])]);
    let build = || {
        let out = env.clx().env("HOME", &home).arg("build").arg(course.spec()).output().expect("run clx");
        assert!(out.status.success(), "{}", stderr(&out));
    };

    // Not sandboxed, the deck reaches all of it.
    build();
    assert_eq!(reached(&course), ["home REACHED", "queue REACHED", "database REACHED", "rundir REACHED"]);

    std::fs::write(course.root().join("clx.toml"), "[converters.notebook]\nsandbox = true\n").expect("clx.toml");
    build();
    assert_eq!(reached(&course), ["home refused", "queue refused", "database REACHED", "rundir REACHED"]);

    std::fs::write(course.root().join("clx.toml"), "[converters.notebook]\nsandbox = true\nnetwork = false\n")
        .expect("clx.toml");
    build();
    assert_eq!(reached(&course), ["home refused", "queue refused", "database refused", "rundir REACHED"]);
}

#[test]
fn a_worker_serving_with_sandbox_runs_every_deck_sandboxed_whatever_the_course_says() {
    let cluster = PgCluster::start();
    let url = cluster.database("boxed");
    let remote = Env::new();
    let home = remote.home.path().join("home");
    std::fs::create_dir(&home).expect("mkdir home");
    std::fs::write(home.join("secret.txt"), "the worker's own").expect("write secret");
    let server = remote
        .clx()
        .env("HOME", &home)
        .env("CLX_QUEUE_URL", &url)
        .args(["worker", "serve", "--sandbox"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start clx worker serve");
    let deck = REACHING_DECK.replace("PORT", &cluster.port.to_string());
    let course = TestCourse::new(&[("reach", &[("slides_reach.py", &deck)])]);
    build_on_remote_workers(&Env::new(), &url, &course, server);
    let verdicts = reached(&course);
    assert_eq!(verdicts[0], "home refused", "{verdicts:?}");
    assert_eq!(verdicts[3], "rundir REACHED", "{verdicts:?}");
}
