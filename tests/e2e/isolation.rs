//! A build reads and writes only its own course: what it refuses to read,
//! what it refuses to write or remove, and how its files and output look to
//! the rest of the system.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use clx_e2e::*;

/// A course with one testkit diagram (no kernel, no JVM) and two data files.
fn testkit_course() -> TestCourse {
    TestCourse::new(&[(
        "first",
        &[("pu/d.testjob", "ok v1"), ("data/table.csv", "a,b\n"), ("data/run.sh", "#!/bin/sh\necho hi\n")],
    )])
}

fn build(env: &Env, plugins: &Path, spec: &Path, extra: &[&str]) -> std::process::Output {
    env.clx().arg("--plugin-dir").arg(plugins).arg("build").arg(spec).args(extra).output().expect("run clx")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// This process's umask, which the clx it starts inherits.
fn umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:")).expect("Umask line");
    u32::from_str_radix(line.trim(), 8).expect("octal umask")
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn listing_commands_end_quietly_when_the_reader_closes_the_pipe() {
    let env = Env::new();
    for args in [&["status"][..], &["jobs", "list"], &["workers", "list"], &["plugins", "list"], &["doctor"]] {
        let mut child = env.clx().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
        // The reader is gone before clx prints its first line (`| head -0`).
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "clx {args:?} panicked: {err}");
        assert_eq!(out.status.code(), Some(0), "clx {args:?}: {err}");
        assert_eq!(err, "", "clx {args:?} is not quiet");
    }
}

#[test]
fn output_to_a_full_disk_is_a_clear_error() {
    let env = Env::new();
    for args in [&["status"][..], &["plugins", "list"]] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
        let out = env.clx().args(args).stdout(full).output().expect("run clx");
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "clx {args:?} panicked: {err}");
        assert_eq!(out.status.code(), Some(2), "clx {args:?}: {err}");
        assert!(err.starts_with("error: cannot write to standard output: No space left on device"), "{err}");
    }
}

#[test]
fn a_course_name_without_usable_characters_leaves_other_courses_alone() {
    let env = Env::new();
    let plugins = plugin_dir(&["clx-fixture-testkit"]);
    let course = testkit_course();
    let spec = std::fs::read_to_string(course.spec()).expect("spec");
    std::fs::write(course.spec(), spec.replace("<en>Test Course</en>", "<en>???</en>")).expect("spec");
    let other = course.out().join("public/En/Other Course/Slides/index.html");
    std::fs::create_dir_all(other.parent().expect("parent")).expect("mkdir");
    std::fs::write(&other, "another course").expect("write");
    let out = build(&env, plugins.path(), &course.spec(), &["--clean"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("<en>???</en> leaves nothing for a folder name"), "{}", stderr(&out));
    assert!(other.is_file(), "another course's output was removed");
    assert_eq!(course.output_files(), ["public/En/Other Course/Slides/index.html"], "something was written");
}

#[test]
fn an_output_folder_holding_the_course_is_refused_before_anything_is_removed() {
    let env = Env::new();
    let plugins = plugin_dir(&["clx-fixture-testkit"]);
    let course = testkit_course();
    // The course sits exactly where its own German output would go.
    let site = tempfile::tempdir().expect("temp dir");
    let root = site.path().join("public/De/Testkurs");
    copy_tree(course.root(), &root);
    let deck = root.join("slides/module_100_test/topic_100_first/pu/d.testjob");
    let out =
        build(&env, plugins.path(), &root.join("course-specs/course.xml"), &["-o", &site.path().to_string_lossy()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("contains the course's root folder"), "{err}");
    assert!(deck.is_file(), "the course's own files were swept");
}

#[test]
fn outputs_are_readable_by_others_as_the_umask_allows_and_scripts_stay_executable() {
    let env = Env::new();
    let plugins = plugin_dir(&["clx-fixture-testkit"]);
    let course = testkit_course();
    set_mode(&course.root().join("slides/module_100_test/topic_100_first/data/run.sh"), 0o755);
    let out = build(&env, plugins.path(), &course.spec(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mask = umask();
    let written = course.outputs_ending("img/d.txt");
    assert_eq!(written.len(), 14, "{:#?}", course.output_files());
    for (suffix, want) in [("img/d.txt", 0o666), ("data/table.csv", 0o666), ("data/run.sh", 0o777)] {
        for path in course.outputs_ending(suffix) {
            assert_eq!(mode(&path), want & !mask, "{}", path.display());
        }
    }
}

#[test]
fn watch_with_the_output_folder_at_the_course_root_still_rebuilds_on_edits() {
    let env = Env::new();
    let plugins = plugin_dir(&["clx-fixture-testkit"]);
    let course = testkit_course();
    let log = env.home.path().join("watch.log");
    let child = env
        .clx()
        .arg("--plugin-dir")
        .arg(plugins.path())
        .args(["build", "--watch", "-o"])
        .arg(course.root())
        .arg(course.spec())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn");
    let _guard = KillOnDrop(child);
    let image = course.root().join("public/En/Test Course/Slides/Html/Completed/Week 1/img/d.txt");
    let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done() {
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; clx said:\n{}", read(&log));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait("the first build", &|| read(&log).contains("watching"));
    assert!(read(&image).contains("v1"), "{}", read(&log));
    std::fs::write(course.root().join("slides/module_100_test/topic_100_first/pu/d.testjob"), "ok v2").expect("edit");
    wait("the rebuild", &|| read(&image).contains("v2"));
}

/// A `clx build --watch` that is stopped however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn symlinks_out_of_the_course_or_in_a_loop_are_not_followed_and_named_once() {
    let env = Env::new();
    let plugins = plugin_dir(&["clx-fixture-testkit"]);
    let course = testkit_course();
    let elsewhere = tempfile::tempdir().expect("temp dir");
    std::fs::write(elsewhere.path().join("id_rsa"), "PRIVATE KEY").expect("write");
    let topic = course.root().join("slides/module_100_test/topic_100_first");
    std::os::unix::fs::symlink(elsewhere.path(), topic.join("keys")).expect("symlink");
    std::os::unix::fs::symlink("..", topic.join("loop")).expect("symlink");
    let out = build(&env, plugins.path(), &course.spec(), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning: ")).collect();
    assert_eq!(warnings.len(), 2, "{err}");
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("warning: slides/module_100_test/topic_100_first/keys: symbolic link to")
                && w.contains("leads outside the course")),
        "{err}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("warning: slides/module_100_test/topic_100_first/loop: symbolic link loop")),
        "{err}"
    );
    let files = course.output_files();
    assert!(!files.iter().any(|f| f.contains("id_rsa") || f.contains("loop")), "{files:#?}");
    assert_eq!(course.outputs_ending("img/d.txt").len(), 14, "{files:#?}");
}

#[test]
fn a_plugin_directory_others_can_write_is_refused_with_the_reason_and_the_fix() {
    let env = Env::new();
    let course = testkit_course();
    let plugins = course.root().join("plugins");
    std::fs::create_dir(&plugins).expect("mkdir");
    let lib = library("clx-fixture-testkit");
    let copy = plugins.join(lib.file_name().expect("name"));
    std::fs::copy(&lib, &copy).expect("copy plugin");
    set_mode(&copy, 0o755);
    set_mode(&plugins, 0o777);
    let out = build(&env, &plugins, &course.spec(), &[]);
    let err = stderr(&out);
    let dir = plugins.display();
    assert!(
        err.contains(&format!(
            "warning: {}: plugin not used: the plugin directory {dir} is writable by other users (mode 777), who \
             could change the code clx loads; run `chmod go-w {dir}`",
            copy.display()
        )),
        "{err}"
    );
    set_mode(&plugins, 0o755);
    set_mode(&copy, 0o775);
    let list = env.clx().arg("--plugin-dir").arg(&plugins).args(["plugins", "list"]).output().expect("run clx");
    assert!(
        stdout(&list).contains(&format!("unsafe: the plugin library {} is writable", copy.display())),
        "{}",
        stdout(&list)
    );
}

#[test]
fn plugins_list_and_doctor_say_which_config_file_added_each_plugin_directory() {
    let env = Env::new();
    let course = testkit_course();
    let plugins = plugin_dir(&["clx-fixture-testkit"]);
    std::fs::write(course.root().join("clx.toml"), format!("plugins = [{:?}]\n", plugins.path())).expect("write");
    let toml = course.root().join("clx.toml");
    let want = format!("{}  (from course config {})", plugins.path().display(), toml.display());
    for args in [&["plugins", "list"][..], &["doctor"]] {
        let out = env.clx().args(args).current_dir(course.root()).output().expect("run clx");
        assert!(stdout(&out).contains(&want), "clx {args:?}:\n{}", stdout(&out));
    }
    let out = env.clx().args(["--plugin-dir"]).arg(plugins.path()).args(["plugins", "list"]).output().expect("clx");
    assert!(stdout(&out).contains(&format!("{}  (from --plugin-dir)", plugins.path().display())), "{}", stdout(&out));
}

#[test]
fn kernels_see_only_the_listed_environment_variables_when_the_course_restricts_them() {
    let deck = "# %%\nimport os\nprint('secret:', os.environ.get('CLX_TEST_SECRET', 'absent'))\n";
    let page_text = |restrict: bool| {
        let env = Env::new();
        let course = TestCourse::new(&[("t", &[("slides_t.py", deck)])]);
        if restrict {
            std::fs::write(course.root().join("clx.toml"), "[converters.notebook]\nenv = [\"HOME\", \"PATH\"]\n")
                .unwrap();
        }
        let out = env.clx().arg("build").arg(course.spec()).env("CLX_TEST_SECRET", "hunter2").output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let pages = course.outputs_ending("/Html/Completed/Week 1/01 slides_t.html");
        assert_eq!(pages.len(), 1, "{:#?}", course.output_files());
        std::fs::read_to_string(&pages[0]).unwrap()
    };
    assert!(page_text(false).contains("secret: hunter2"), "by default kernels inherit the environment");
    let restricted = page_text(true);
    assert!(restricted.contains("secret: absent"), "{restricted}");
    assert!(!restricted.contains("hunter2"));
}
