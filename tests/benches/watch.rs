//! Watch-mode latency: from saving a deck to its executed HTML page being
//! rewritten, with warm workers and a warm kernel. The deck's own execution
//! (a python3 kernel running its cells) is part of the figure.
//!
//! Run: `cargo build --workspace && CLX_TARGET_DIR=$PWD/target/debug cargo bench -p clx-e2e --bench watch`

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use clx_e2e::*;

fn main() {
    let env = Env::new();
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(&repo_root().join("examples/python-course"), dir.path());
    let spec = dir.path().join("course-specs/python-course.xml");
    let log = env.home.path().join("watch.log");
    let mut child = env
        .clx()
        .args(["build", "--watch"])
        .arg(&spec)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("clx runs");
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait("the first build", &|| read(&log).contains("watching"));
    let deck = dir.path().join("slides/module_100_basics/topic_100_hello_world/slides_hello_world.py");
    let page = dir.path().join("output/public/En/Python Basics/Slides/Html/Completed/First Steps/01 Hello, World.html");
    let original = read(&deck);
    let mut times = Vec::new();
    for i in 0..7 {
        let marker = format!("Hello, run {i}!");
        let edited = original.replace("print(\"Hello, World!\")", &format!("print(\"{marker}\")"));
        std::fs::write(&deck, edited).expect("edit deck");
        let saved = Instant::now();
        wait("the page", &|| read(&page).contains(&marker));
        times.push(saved.elapsed());
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = child.kill();
    let _ = child.wait();
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "watch: save deck -> executed HTML rewritten: median {:.0} ms over {} edits (min {:.0} ms, max {:.0} ms; includes the {} ms debounce and the deck's kernel run)",
        median.as_secs_f64() * 1000.0,
        times.len(),
        times[0].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0,
        150
    );
}
