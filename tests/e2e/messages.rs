//! `clx build --message-format json` and GitHub Actions annotations: what CI
//! and editors read instead of the human lines.

use clx_e2e::{stderr, stdout, Env, TestCourse};
use serde_json::Value;

/// A course from `clx init` with one deck cell that raises and one that
/// refers to a missing template: two errors in two files.
fn broken_course(env: &Env) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("course");
    let out = env.clx().arg("init").arg(&root).output().expect("run clx init");
    assert!(out.status.success(), "{}", stderr(&out));
    let deck = root.join("slides/module_100_intro/topic_110_next_steps.py");
    let mut text = std::fs::read_to_string(&deck).expect("deck");
    text.push_str("\n# %%\nraise ValueError(\"kaputt\")\n");
    std::fs::write(&deck, text).expect("write deck");
    (dir, root.join("course-specs/course.xml"))
}

#[test]
fn json_messages_are_one_object_per_diagnostic_with_the_summary_last() {
    let env = Env::new();
    let (_dir, spec) = broken_course(&env);
    let out = env
        .clx()
        .args(["build", "--message-format", "json"])
        .arg(&spec)
        .env_remove("GITHUB_ACTIONS")
        .output()
        .expect("run clx");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let objects: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object per line: {e}: {l}")))
        .collect();
    let (summary, diagnostics) = objects.split_last().expect("at least the summary");
    assert_eq!(summary["reason"], "build-finished", "{text}");
    assert_eq!(summary["success"], false);
    assert_eq!(summary["errors"], 1, "{text}");
    assert!(summary["built"].as_u64().is_some_and(|n| n >= 1), "{text}");
    assert!(diagnostics.iter().all(|d| d["reason"] == "diagnostic"), "{text}");
    let errors: Vec<&Value> = diagnostics.iter().filter(|d| d["level"] == "error").collect();
    assert_eq!(errors.len(), 1, "one object per diagnostic, the German and English failure counted once: {text}");
    let e = errors[0];
    assert_eq!(e["file"], "slides/module_100_intro/topic_110_next_steps.py");
    assert_eq!(e["job_type"], "notebook");
    assert!(e["cell"].as_u64().is_some() && e["line"].as_u64().is_some(), "{e}");
    assert!(e["message"].as_str().is_some_and(|m| m.contains("ValueError: kaputt")), "{e}");
    // The human lines are not mixed into stdout, and no annotation outside Actions.
    assert!(!text.contains("error: ") && !stderr(&out).contains("::error"), "{text}");
}

#[test]
fn github_actions_gets_workflow_annotations_with_file_and_line() {
    let env = Env::new();
    let (_dir, spec) = broken_course(&env);
    let out = env.clx().arg("build").arg(&spec).env("GITHUB_ACTIONS", "true").output().expect("run clx");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let annotation = err.lines().find(|l| l.starts_with("::error ")).unwrap_or_else(|| panic!("no annotation: {err}"));
    assert!(
        annotation.starts_with("::error file=slides/module_100_intro/topic_110_next_steps.py,line="),
        "{annotation}"
    );
    let (_, message) = annotation.split_once("::cell ").expect("the cell leads the message");
    assert!(message.contains("ValueError: kaputt") && !message.contains('\n'), "{annotation}");
    // The human message is still there for people reading the log.
    assert!(err.contains("error: slides/module_100_intro/topic_110_next_steps.py:"), "{err}");
    assert!(!err.contains('\x1b'), "no colour codes in a pipe: {err:?}");
}

#[test]
fn a_clean_build_prints_only_the_summary_object() {
    let env = Env::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("course");
    assert!(env.clx().arg("init").arg(&root).output().expect("init").status.success());
    let out = env
        .clx()
        .args(["build", "--message-format", "json"])
        .arg(root.join("course-specs/course.xml"))
        .output()
        .expect("run clx");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let summary: Value = serde_json::from_str(lines[0]).expect("JSON");
    assert_eq!(summary["success"], true);
    assert_eq!(summary["errors"], 0);
}

/// A spec or config error stops the build before it runs; CI and editors
/// read it in JSON and as an annotation like any other diagnostic.
#[test]
fn errors_that_stop_the_build_are_json_objects_and_annotations_with_their_position() {
    let env = Env::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("course");
    assert!(env.clx().arg("init").arg(&root).output().expect("init").status.success());
    let spec = root.join("course-specs/course.xml");
    let good = std::fs::read_to_string(&spec).expect("spec");
    std::fs::write(&spec, good.replacen("<section>", "<secton>", 1).replacen("</section>", "</secton>", 1))
        .expect("break the spec");
    let config = root.join("clx.toml");
    let cases = [("course-specs/course.xml", "unknown element <secton> in <sections>; did you mean <section>?")];
    for (file, message) in cases {
        let out = env
            .clx()
            .args(["build", "--message-format", "json"])
            .arg(&spec)
            .env("GITHUB_ACTIONS", "true")
            .output()
            .expect("run clx");
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let text = stdout(&out);
        let objects: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
        assert_eq!(objects.len(), 1, "{text}");
        let d = &objects[0];
        assert_eq!((d["reason"].as_str(), d["level"].as_str()), (Some("diagnostic"), Some("error")), "{d}");
        assert_eq!(d["file"], file, "{d}");
        assert!(d["line"].as_u64().is_some() && d["column"].as_u64().is_some(), "{d}");
        assert_eq!(d["message"], message, "{d}");
        let err = stderr(&out);
        let annotation = format!("::error file={},line={},col={}::", file.replace(':', "%3A"), d["line"], d["column"]);
        assert!(err.lines().any(|l| l.starts_with(&annotation) && l.ends_with(message)), "{annotation}\n{err}");
    }
    std::fs::write(&spec, &good).expect("mend the spec");
    std::fs::write(&config, "[workers]\nnotebook = \"3\"\n").expect("config");
    let out = env.clx().args(["build", "--message-format", "json"]).arg(&spec).output().expect("run clx");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let d: Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON object");
    assert_eq!((d["file"].as_str(), d["line"].as_u64(), d["column"].as_u64()), (Some("clx.toml"), Some(2), Some(1)));
    assert_eq!(d["message"], "`workers.notebook` must be a whole number, not the string \"3\"");
}

/// A deck failing alike in German and English is two failed jobs and one
/// error, shown once: the summary says which number counts what, and the
/// progress lines name each job's language.
#[test]
fn the_summary_counts_jobs_and_distinct_messages_and_progress_names_each_language() {
    let env = Env::new();
    let course = TestCourse::new(&[("bad", &[("slides_bad.py", "# %%\nraise ValueError(\"kaputt\")\n")])]);
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().filter(|l| l.starts_with("error: ")).count(), 1, "{err}");
    let summary = err.lines().find(|l| l.starts_with("Failed in ")).unwrap_or_else(|| panic!("no summary: {err}"));
    let (_, counts) = summary.split_once("s: ").expect("time, then counts");
    assert!(counts.starts_with("2 jobs: 0 built, 0 from cache, 2 failed; "), "{summary}");
    assert!(counts.ends_with(" removed; 1 distinct error, 0 distinct warnings"), "{summary}");
    let mut progress: Vec<&str> =
        err.lines().filter_map(|l| l.strip_prefix('[')?.split_once("] ")).map(|l| l.1).collect();
    progress.sort_unstable();
    let deck = "slides/module_100_test/topic_100_bad/slides_bad.py";
    assert_eq!(progress, [format!("{deck} (de)"), format!("{deck} (en)")], "{err}");
}
