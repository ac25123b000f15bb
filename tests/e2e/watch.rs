//! `clx build --watch` driven through real edits of a course on disk.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use clx_e2e::*;

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for_log(w: &Watching, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}; clx said:\n{}", w.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Watching {
    child: Child,
    log: PathBuf,
}

impl Watching {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn rebuilds(&self) -> usize {
        self.log().lines().filter(|l| l.starts_with("changed ")).count()
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn outputs(course: &TestCourse, suffix: &str) -> Vec<PathBuf> {
    course.outputs_ending(suffix)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn watch_rebuilds_edits_additions_and_deletions_then_stops_cleanly() {
    let env = Env::new();
    let plugins = plugin_dir(&["clx-fixture-testkit"]);
    let course = TestCourse::new(&[(
        "first",
        &[("pu/diagram.testjob", "ok v1"), ("data/table.csv", "a,b\n"), ("notes.txt", "keep")],
    )]);
    let testkit_log = env.home.path().join("testkit.log");
    let log = env.home.path().join("watch.log");
    let child = env
        .clx()
        .arg("--plugin-dir")
        .arg(plugins.path())
        .args(["build", "--watch"])
        .arg(course.spec())
        .env("CLX_TESTKIT_LOG", &testkit_log)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let w = Watching { child, log };
    wait_for("the first build", || w.log().contains("watching"));
    let image = outputs(&course, "img/diagram.txt");
    assert_eq!(image.len(), 14, "{:#?}", course.output_files());
    assert!(read(&image[0]).contains("v1"));

    // Edit a diagram: only it is converted again, everywhere.
    let topic = course.root().join("slides/module_100_test/topic_100_first");
    std::fs::write(topic.join("pu/diagram.testjob"), "ok v2").unwrap();
    wait_for_log(&w, "the edited diagram", || image.iter().all(|p| read(p).contains("v2")));

    // Delete a data file: its copies go.
    std::fs::remove_file(topic.join("data/table.csv")).unwrap();
    wait_for("the removed data file", || outputs(&course, "data/table.csv").is_empty());
    assert_eq!(outputs(&course, "notes.txt").len(), 14, "other outputs stay");

    // Break the diagram: reported, watcher goes on; fix it: back.
    let before = w.rebuilds();
    std::fs::write(topic.join("pu/diagram.testjob"), "fail the arrow has no target").unwrap();
    wait_for("the error report", || w.log().contains("the arrow has no target") && w.rebuilds() > before);
    assert!(outputs(&course, "img/diagram.txt").is_empty(), "a failed diagram leaves no stale image");
    std::fs::write(topic.join("pu/diagram.testjob"), "ok v3").unwrap();
    wait_for("the fixed diagram", || outputs(&course, "img/diagram.txt").iter().filter(|p| read(p).contains("v3")).count() == 14);

    // Add a topic to the spec: replanned.
    let second = course.root().join("slides/module_100_test/topic_200_second");
    std::fs::create_dir_all(&second).unwrap();
    std::fs::write(second.join("extra.testjob"), "ok extra").unwrap();
    let spec = read(&course.spec()).replace("<topic>first</topic>", "<topic>first</topic><topic>second</topic>");
    std::fs::write(course.spec(), spec).unwrap();
    wait_for("the new topic", || outputs(&course, "img/extra.txt").len() == 14);

    let workers: Vec<u32> = read(&testkit_log).lines().filter_map(|l| l.split(' ').next()?.parse().ok()).collect();
    assert!(!workers.is_empty());
    let mut child = {
        let mut w = w;
        std::mem::replace(&mut w.child, std::process::Command::new("true").spawn().unwrap())
    };
    std::process::Command::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    wait_for("the workers to exit", || workers.iter().all(|p| !alive(*p)));
}
