//! A course saved by Windows editors (CRLF line ends, a UTF-8 byte-order
//! mark in front) builds exactly like the same course saved on Linux: the
//! same notebooks, code files and pages, byte for byte, from the same
//! course environment.

use std::path::Path;

use clx_e2e::*;

/// What a Windows editor or `git config core.autocrlf true` makes of a text file.
fn save_as_windows_would(path: &Path) {
    let text = std::fs::read_to_string(path).expect("read a course file");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(text.replace("\r\n", "\n").replace('\n', "\r\n").as_bytes());
    std::fs::write(path, bytes).expect("rewrite a course file");
}

/// The example Python course with a `clx.toml` and the course's own
/// `macros.j2`, so every kind of text file clx reads is in it.
fn python_course() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(&repo_root().join("examples/python-course"), dir.path());
    std::fs::write(dir.path().join("clx.toml"), "[site]\nfooter = \"Made for the line-end test\"\n")
        .expect("write clx.toml");
    let templates = dir.path().join("templates/python");
    std::fs::create_dir_all(&templates).expect("templates dir");
    std::fs::copy(repo_root().join("plugins/notebook/templates/python/macros.j2"), templates.join("macros.j2"))
        .expect("copy macros.j2");
    dir
}

fn build(env: &Env, course: &Path) {
    let out = env.clx().arg("build").arg(course.join("course-specs/python-course.xml")).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Decks, spec, templates, settings and package lists: what the author
/// writes, as opposed to data the course copies as it is.
fn authored(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let deck = rel.starts_with("slides/") && (name.starts_with("slides_") || name.starts_with("topic_"));
    deck || rel.ends_with(".xml")
        || rel.ends_with(".j2")
        || name == "clx.toml"
        || name == "requirements.txt"
        || name == "requirements.lock"
}

#[test]
fn a_course_saved_with_crlf_and_byte_order_marks_builds_byte_identical_outputs() {
    let env = Env::new();
    let (unix, windows) = (python_course(), python_course());
    let mut rewritten = Vec::new();
    for rel in file_tree(windows.path()).into_keys().filter(|rel| authored(rel)) {
        save_as_windows_would(&windows.path().join(&rel));
        rewritten.push(rel);
    }
    assert!(rewritten.len() >= 10, "decks, spec, template, clx.toml, package lists: {rewritten:?}");

    build(&env, unix.path());
    build(&env, windows.path());

    let (expected, actual) = (file_tree(&unix.path().join("output")), file_tree(&windows.path().join("output")));
    let compared: Vec<&String> =
        expected.keys().filter(|p| p.ends_with(".ipynb") || p.ends_with(".py") || p.ends_with(".html")).collect();
    assert!(compared.iter().filter(|p| p.ends_with(".ipynb")).count() >= 20, "{compared:?}");
    for path in compared {
        assert!(actual.get(path) == expected.get(path), "{path} differs when the course is saved on Windows");
    }
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the same files, under the same names"
    );
    let lock = |course: &Path| std::fs::read(course.join("requirements.lock")).expect("read the lock");
    assert!(
        lock(windows.path()).starts_with(b"\xEF\xBB\xBF"),
        "the lock made from the same packages is left as the author's checkout has it"
    );
    let envs = std::fs::read_dir(env.state_dir().join("envs")).expect("envs dir").flatten();
    assert_eq!(envs.filter(|e| e.path().is_dir()).count(), 1, "one course environment serves both checkouts");
}
