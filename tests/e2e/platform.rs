//! What a third-party plugin and a course that depends on plugins can rely
//! on: required plugins stop a build that cannot succeed, and files of an
//! installed but unusable plugin are errors, never silent copies.

use std::path::PathBuf;

use clx_e2e::*;

/// The user plugin dir of `env` (`$XDG_DATA_HOME/clx/plugins`), created.
fn user_plugin_dir(env: &Env) -> PathBuf {
    let dir = env.home.path().join("data/clx/plugins");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn build(env: &Env, course: &TestCourse) -> std::process::Output {
    env.clx().arg("build").arg(course.spec()).output().expect("run clx build")
}

#[test]
fn a_file_only_an_unusable_plugin_claims_is_an_error_not_a_copy() {
    let env = Env::new();
    // The rival comes after the shipped graphviz on the search path, so it
    // loses the `graphviz` job type and none of its job types are used.
    std::fs::copy(library("clx-fixture-rival"), user_plugin_dir(&env).join("librival.so")).unwrap();
    let course = TestCourse::new(&[("notes", &[("todo.rivalnote", "remember\n"), ("data.txt", "kept\n")])]);
    let out = build(&env, &course);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("todo.rivalnote"), "{err}");
    assert!(
        err.contains("plugin `rival`") && err.contains("job type `graphviz` already provided by graphviz"),
        "the error names the plugin and why it is unusable: {err}"
    );
    let files = course.output_files();
    assert!(!files.iter().any(|f| f.ends_with("todo.rivalnote")), "copied raw: {files:#?}");
    assert!(files.iter().any(|f| f.ends_with("data.txt")), "the rest still builds: {files:#?}");
}

#[test]
fn a_required_plugin_that_is_missing_unusable_or_too_old_stops_the_build_with_exit_2() {
    let env = Env::new();
    std::fs::copy(library("clx-fixture-rival"), user_plugin_dir(&env).join("librival.so")).unwrap();
    let course = TestCourse::new(&[("data", &[("data.txt", "kept\n")])]);
    let require = |line: &str| std::fs::write(course.root().join("clx.toml"), format!("requires-plugins = [{line}]\n"));
    for (line, expected) in [
        (r#""mermaid""#, "requires plugin `mermaid`, but no plugin named `mermaid` is installed"),
        (r#""rival""#, "librival.so is not usable (conflict: job type `graphviz` already provided by graphviz"),
        (r#""graphviz >= 9""#, "libclx_plugin_graphviz.so is version 0.1.0; install a matching version"),
    ] {
        require(line).unwrap();
        let out = build(&env, &course);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{line}: {err}");
        assert!(err.contains(expected), "{line}: {err}");
        assert!(!course.out().exists(), "{line}: nothing is written before the check: {err}");
    }
    require(r#""graphviz >= 0.1", "notebook""#).unwrap();
    let out = build(&env, &course);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(course.output_files().iter().any(|f| f.ends_with("data.txt")));
}

/// The whole path of a third-party plugin: scaffold, build with cargo,
/// install, and a course that requires it builds with its outputs and
/// warnings. Its dependencies compile once into `target/scaffold`.
#[test]
fn a_scaffolded_plugin_builds_installs_and_converts_a_course_that_requires_it() {
    let env = Env::new();
    let crate_dir = env.home.path().join("clx-plugin-shout");
    let out = env.clx().args(["plugins", "new", "shout", "--dir"]).arg(&crate_dir).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    // A clx run from its build tree has no installed copy: its own source stands in.
    let api = repo_root().join("plugin-api").canonicalize().unwrap();
    assert!(manifest.contains("clx-plugin-api = \"0.2\""), "{manifest}");
    assert!(
        manifest.contains(&format!("[patch.crates-io]\nclx-plugin-api = {{ path = \"{}\" }}", api.display())),
        "{manifest}"
    );
    let library = cargo_build_plugin(&crate_dir, "shout");
    let out = env.clx().args(["plugins", "install"]).arg(&library).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let list = stdout(&env.run(&["plugins", "list"]));
    assert!(list.lines().any(|l| l.starts_with("shout ") && l.ends_with(" ok")), "{list}");

    let course = TestCourse::new(&[("notes", &[("note.shout", "hi\nTODO finish\n")])]);
    std::fs::write(course.root().join("clx.toml"), "requires-plugins = [\"shout >= 0.1\"]\n").unwrap();
    let out = build(&env, &course);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("warning: slides/module_100_test/topic_100_notes/note.shout:2: a TODO is left"), "{err}");
    // A page: one copy per language in the section's Pages folder of the
    // public and the speaker tree, under its own name, and nowhere else.
    let pages = course.outputs_ending("/Slides/Pages/Week 1/note.txt");
    assert_eq!(pages.len(), 2, "{:#?}", course.output_files());
    assert!(pages.iter().any(|p| p.to_string_lossy().contains("/public/En/")), "{pages:?}");
    assert!(pages.iter().any(|p| p.to_string_lossy().contains("/speaker/En/")), "{pages:?}");
    assert_eq!(course.outputs_ending("/Folien/Seiten/Woche 1/note.txt").len(), 2, "{:#?}", course.output_files());
    assert!(course.outputs_ending("img/note.txt").is_empty(), "a page is no diagram");
    assert_eq!(std::fs::read_to_string(&pages[0]).unwrap(), "HI\nTODO FINISH\n");
}
