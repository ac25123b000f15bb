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
    // A cold build of the example course executes real kernels: generous on
    // a loaded two-core machine, and the wait ends as soon as it is done.
    let deadline = Instant::now() + Duration::from_secs(120);
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
    wait_for("the fixed diagram", || {
        outputs(&course, "img/diagram.txt").iter().filter(|p| read(p).contains("v3")).count() == 14
    });

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

/// The example course under `--watch`: edit a deck, add a topic to the
/// spec, delete a data file, break and fix a PlantUML diagram.
#[test]
fn watch_follows_edits_of_the_example_course() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    copy_tree(&repo_root().join("examples/python-course"), root);
    let spec = root.join("course-specs/python-course.xml");
    let log = env.home.path().join("watch.log");
    let child = env
        .clx()
        .args(["build", "--watch"])
        .arg(&spec)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let w = Watching { child, log };
    wait_for_log(&w, "the first build", || w.log().contains("watching"));
    let out = root.join("output/public/En/Python Basics/Slides");
    let hello = out.join("Html/Completed/First Steps/01 Hello, World.html");
    assert!(read(&hello).contains("Hello, World!"));

    // Edit a deck: its executed page shows the new output.
    let deck = root.join("slides/module_100_basics/topic_100_hello_world/slides_hello_world.py");
    std::fs::write(&deck, read(&deck).replace("print(\"Hello, World!\")", "print(\"Hello, watcher!\")")).unwrap();
    wait_for_log(&w, "the edited deck", || read(&hello).contains("Hello, watcher!"));

    // Delete a data file: its copies go, everywhere.
    let csv = root.join("slides/module_200_data/topic_100_reading_data/data/scores.csv");
    let copies = || {
        let mut n = 0;
        for top in ["public", "speaker"] {
            for lang in ["De/Python Grundlagen/Folien", "En/Python Basics/Slides"] {
                let base = root.join("output").join(top).join(lang);
                n += walk_count(&base, "scores.csv");
            }
        }
        n
    };
    assert!(copies() > 0);
    std::fs::remove_file(&csv).unwrap();
    wait_for_log(&w, "the deleted data file", || copies() == 0);

    // Break a diagram: reported, the old image is gone; fix it: back.
    let pu = root.join("slides/module_300_functions/topic_100_functions/pu/call.pu");
    let good = read(&pu);
    let image = out.join("Html/Completed/Functions/img/call.png");
    let image_exists = || {
        out.join("Html/Completed")
            .read_dir()
            .into_iter()
            .flatten()
            .flatten()
            .any(|s| s.path().join("img/call.png").exists())
    };
    assert!(image_exists(), "{}", image.display());
    std::fs::write(&pu, good.replace("@enduml", "this is not plantuml ((\n@enduml")).unwrap();
    wait_for_log(&w, "the broken diagram's error", || w.log().contains("call.pu") && w.log().contains("PlantUML:"));
    wait_for_log(&w, "the stale image to go", || !image_exists());
    std::fs::write(&pu, &good).unwrap();
    wait_for_log(&w, "the fixed diagram", image_exists);

    // Add a topic to the spec: its outputs appear.
    let topic = root.join("slides/module_300_functions/topic_200_added");
    std::fs::create_dir_all(&topic).unwrap();
    std::fs::write(topic.join("slides_added.py"), "# %%\nprint(\"added\")\n").unwrap();
    std::fs::write(&spec, read(&spec).replace("<topic>lists</topic>", "<topic>lists</topic>\n<topic>added</topic>"))
        .unwrap();
    wait_for_log(&w, "the added topic", || walk_count(&root.join("output"), "slides_added.html") == 6);
}

fn walk_count(dir: &Path, name: &str) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            n += walk_count(&p, name);
        } else if p.file_name().is_some_and(|f| f.to_string_lossy().ends_with(name)) {
            n += 1;
        }
    }
    n
}
