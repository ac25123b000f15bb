//! The bad-input corpus (`tests/bad-inputs`): every broken spec, deck,
//! diagram, config and plugin a course author can produce, each with the
//! exact diagnostics and exit code `clx` must answer with. See
//! `tests/bad-inputs/README.md` for the case format.
//!
//! `CLX_BLESS=1 cargo test -p clx-e2e --test e2e bad_input` rewrites each
//! case's expected lines from what clx prints now; review the diff.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use clx_e2e::*;

#[derive(Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the author did wrong, in their words.
    what: String,
    /// `clx` arguments; `{root}` is the course copy, `{spec}` its spec.
    #[serde(default = "default_args")]
    args: Vec<String>,
    /// The directory clx runs in (`{root}`, `{root}/slides`, …); default:
    /// the test's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cwd: Option<String>,
    /// Fixture libraries (crate names) put into `{root}/plugins`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    plugin_libs: Vec<String>,
    exit: i32,
    /// Every `error: …` line clx prints (first lines only), as a set.
    #[serde(default)]
    errors: Vec<String>,
    #[serde(default)]
    warnings: Vec<String>,
    /// Outputs (relative to `{root}/output`) that must be written anyway.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    written: Vec<String>,
}

fn default_args() -> Vec<String> {
    vec!["build".into(), "{spec}".into()]
}

fn corpus() -> PathBuf {
    repo_root().join("tests/bad-inputs")
}

/// Lines starting with `prefix`, as a set: jobs finish in any order.
/// Paths that differ between machines read `{root}` (the course copy) and
/// `{target}` (where the built plugins are).
fn lines(stderr: &str, prefix: &str, root: &Path) -> BTreeSet<String> {
    let root = root.to_string_lossy();
    let target = target_dir().to_string_lossy().into_owned();
    stderr
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(|l| l.replace(root.as_ref(), "{root}").replace(&target, "{target}"))
        .collect()
}

/// Run one case; `Err` describes every way it differs from its expectation.
fn run_case(dir: &Path) -> Result<(), String> {
    let case_file = dir.join("case.toml");
    let text = std::fs::read_to_string(&case_file).map_err(|e| format!("{}: {e}", case_file.display()))?;
    let mut case: Case = toml::from_str(&text).map_err(|e| format!("{}: {e}", case_file.display()))?;
    let course = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = course.path().canonicalize().map_err(|e| e.to_string())?;
    copy_tree(&corpus().join("_base"), &root);
    overlay(dir, &root);
    if !case.plugin_libs.is_empty() {
        let libs: Vec<&str> = case.plugin_libs.iter().map(String::as_str).collect();
        let plugins = plugin_dir(&libs);
        copy_tree(plugins.path(), &root.join("plugins"));
    }
    let spec = root.join("course-specs/course.xml");
    let fill = |a: &String| a.replace("{spec}", &spec.to_string_lossy()).replace("{root}", &root.to_string_lossy());
    let env = Env::new();
    let mut clx = env.clx();
    if let Some(cwd) = &case.cwd {
        clx.current_dir(fill(cwd));
    }
    let out = clx.args(case.args.iter().map(fill)).output().map_err(|e| e.to_string())?;
    let err = stderr(&out);
    let (errors, warnings) = (lines(&err, "error: ", &root), lines(&err, "warning: ", &root));
    let exit = out.status.code().unwrap_or(-1);

    if std::env::var_os("CLX_BLESS").is_some() {
        case.exit = exit;
        case.errors = errors.into_iter().collect();
        case.warnings = warnings.into_iter().collect();
        let text = toml::to_string(&case).map_err(|e| e.to_string())?;
        std::fs::write(&case_file, text).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let mut problems = Vec::new();
    if exit != case.exit {
        problems.push(format!("exit code {exit}, expected {}", case.exit));
    }
    for (kind, got, want) in [("errors", &errors, &case.errors), ("warnings", &warnings, &case.warnings)] {
        let want: BTreeSet<String> = want.iter().cloned().collect();
        for missing in want.difference(got) {
            problems.push(format!("missing {kind} line: {missing}"));
        }
        for extra in got.difference(&want) {
            problems.push(format!("unexpected {kind} line: {extra}"));
        }
    }
    // The same problem (say, for German and English) is printed once.
    let mut seen = BTreeSet::new();
    for line in err.lines().filter(|l| l.starts_with("error: ") || l.starts_with("warning: ")) {
        if !seen.insert(line) {
            problems.push(format!("printed twice: {line}"));
        }
    }
    for rel in &case.written {
        if !root.join("output").join(rel).is_file() {
            problems.push(format!("output not written: {rel}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\n{}\n--- stderr ---\n{err}", problems.join("\n"), case.what))
    }
}

/// Copy the case's course files (everything but `case.toml`) over the base.
fn overlay(case: &Path, root: &Path) {
    for e in std::fs::read_dir(case).expect("read case").flatten() {
        let to = root.join(e.file_name());
        if e.file_name() == "case.toml" {
            continue;
        }
        if e.path().is_dir() {
            copy_tree(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).expect("copy case file");
        }
    }
}

#[test]
fn every_bad_input_gets_its_exact_diagnostics_and_exit_code() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("tests/bad-inputs")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("case.toml").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "the corpus shrank to {} cases", cases.len());
    // Most cases fail fast; a few start kernels or a JVM. Three at a time
    // keeps two cores busy without starving the other tests.
    let queue = Mutex::new(cases.iter());
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                let Some(dir) = next else { break };
                if let Err(e) = run_case(dir) {
                    let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
                    failures.lock().unwrap_or_else(|e| e.into_inner()).push(format!("== {name}: {e}"));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_default();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

/// Every file below `dir` with its bytes and modification time.
fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime)> {
    let mut files = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read output dir").flatten() {
            let path = e.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let modified = e.metadata().and_then(|m| m.modified()).expect("mtime");
                files.insert(path.clone(), (std::fs::read(&path).expect("read output"), modified));
            }
        }
    }
    files
}

#[test]
fn a_build_stopped_by_broken_inputs_removes_and_rewrites_nothing() {
    let env = Env::new();
    let course = tempfile::tempdir().expect("temp dir");
    let root = course.path().canonicalize().expect("canonical");
    copy_tree(&corpus().join("_base"), &root);
    let spec = root.join("course-specs/course.xml");
    let out = env.clx().arg("build").arg(&spec).output().expect("run clx");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let before = snapshot(&root.join("output"));
    assert!(before.len() > 10, "the good build wrote the course: {before:#?}");
    let good = std::fs::read_to_string(&spec).expect("spec");
    let broken_spec = good.replace("<section>", "<secton>").replace("</section>", "</secton>");
    let broken: [(&str, &str); 4] = [
        ("course-specs/course.xml", &broken_spec),
        ("course-specs/course.xml", &good.replace("<topic>intro</topic>", "")),
        ("clx.toml", "[workers]\nnotebook = \"3\"\n"),
        ("clx.toml", "[converters.notebook]\ncell_timeout = \"3\"\n"),
    ];
    for (file, text) in broken {
        std::fs::write(root.join(file), text).expect("break the course");
        let out = env.clx().arg("build").arg(&spec).output().expect("run clx");
        assert_eq!(out.status.code(), Some(2), "{file}: {}", stderr(&out));
        assert_eq!(snapshot(&root.join("output")), before, "{file}: {}", stderr(&out));
        std::fs::write(&spec, &good).expect("mend the spec");
        let _ = std::fs::remove_file(root.join("clx.toml"));
    }
    // A topic that is not found stops nothing else, but removes nothing either.
    std::fs::write(&spec, good.replace("<topic>intro</topic>", "<topic>intro</topic><topic>intor</topic>"))
        .expect("spec");
    let out = env.clx().arg("build").arg(&spec).output().expect("run clx");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("0 removed"), "{}", stderr(&out));
    let after: Vec<PathBuf> = snapshot(&root.join("output")).into_keys().collect();
    assert_eq!(after, before.into_keys().collect::<Vec<_>>());
}
