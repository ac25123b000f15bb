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
    // `clx doctor` in the course lists every unmet requirement, not the first.
    require(r#""mermaid", "rival", "graphviz >= 9", "notebook""#).unwrap();
    let out = env.clx().arg("doctor").current_dir(course.root()).output().unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    let unmet: Vec<&str> = text.lines().filter(|l| l.starts_with("UNMET ")).collect();
    assert_eq!(unmet.len(), 3, "{text}");
    for (line, plugin) in unmet.iter().zip(["`mermaid`", "`rival`", "`graphviz >= 9`"]) {
        assert!(line.contains(plugin), "{line}");
    }
    require(r#""graphviz >= 0.1", "notebook""#).unwrap();
    let out = build(&env, &course);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(course.output_files().iter().any(|f| f.ends_with("data.txt")));
}

/// `clx plugins new NAME ARGS…` into the home dir, built with cargo and
/// installed as an author would; returns the crate dir.
fn scaffold_and_install(env: &Env, name: &str, args: &[&str]) -> PathBuf {
    let crate_dir = env.home.path().join(format!("clx-plugin-{name}"));
    let out = env.clx().args(["plugins", "new", name, "--dir"]).arg(&crate_dir).args(args).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let library = cargo_build_plugin(&crate_dir, name);
    let out = env.clx().args(["plugins", "install"]).arg(&library).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    crate_dir
}

/// The whole path of third-party plugins: scaffold a diagram and a page
/// plugin with compound suffixes, build them with cargo, install them, and a
/// course that requires them builds: the page keeps its name, shows its
/// topic's diagram from disk and is listed on the home page. Their
/// dependencies compile once into `target/scaffold`.
#[test]
fn a_scaffolded_plugin_builds_installs_and_converts_a_course_that_requires_it() {
    let env = Env::new();
    let handout = scaffold_and_install(&env, "handout", &["--role", "page", "--suffix", ".handout.md"]);
    let manifest = std::fs::read_to_string(handout.join("Cargo.toml")).unwrap();
    // A clx run from its build tree has no installed copy: its own source stands in.
    let api = repo_root().join("plugin-api").canonicalize().unwrap();
    assert!(manifest.contains("clx-plugin-api = \"0.3\""), "{manifest}");
    assert!(
        manifest.contains(&format!("[patch.crates-io]\nclx-plugin-api = {{ path = \"{}\" }}", api.display())),
        "{manifest}"
    );
    scaffold_and_install(&env, "flow", &["--role", "diagram", "--suffix", ".flow.txt"]);
    let list = stdout(&env.run(&["plugins", "list"]));
    for name in ["handout ", "flow "] {
        assert!(list.lines().any(|l| l.starts_with(name) && l.ends_with(" ok")), "{list}");
    }

    let course = TestCourse::new(&[(
        "notes",
        &[
            ("cheat_sheet.v2.handout.md", "Cheat sheet & <more>\nTODO finish\n![the order](img/order.svg)\n"),
            ("order.flow.txt", "a -> b\n"),
        ],
    )]);
    std::fs::write(course.root().join("clx.toml"), "requires-plugins = [\"handout >= 0.1\", \"flow\"]\n").unwrap();
    let out = env.clx().args(["--log-level", "debug", "build"]).arg(course.spec()).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.lines().any(|l| l.contains("DEBUG") && l.contains("cheat_sheet.v2.handout.md: 2/2 en-html")), "{err}");
    assert!(
        err.contains("warning: slides/module_100_test/topic_100_notes/cheat_sheet.v2.handout.md:2: a TODO is left"),
        "{err}"
    );
    // A page: one copy per language in the section's Pages folder of the
    // public and the speaker tree, named for its stem as written.
    let pages = course.outputs_ending("/Slides/Pages/Week 1/cheat_sheet.v2.html");
    assert_eq!(pages.len(), 2, "{:#?}", course.output_files());
    assert!(pages.iter().any(|p| p.to_string_lossy().contains("/public/En/")), "{pages:?}");
    assert!(pages.iter().any(|p| p.to_string_lossy().contains("/speaker/En/")), "{pages:?}");
    let seiten = course.outputs_ending("/Folien/Seiten/Woche 1/cheat_sheet.v2.html");
    assert_eq!(seiten.len(), 2, "{:#?}", course.output_files());
    assert!(course.outputs_ending("img/cheat_sheet.v2.html").is_empty(), "a page is no diagram");
    for page in pages.iter().chain(&seiten) {
        let html = std::fs::read_to_string(page).unwrap();
        assert!(html.contains("<p>TODO FINISH</p>"), "{html}");
        // The page links its topic's diagram, which lies beside it on disk.
        let src = html.split("<img src=\"").nth(1).and_then(|r| r.split('"').next()).expect("an image");
        assert_eq!(src, "img/order.svg");
        let image = std::fs::read_to_string(page.parent().unwrap().join(src)).unwrap();
        assert!(image.starts_with("<svg") && image.contains("A -&gt; B"), "{image}");
    }
    // The diagram also lies beside the decks, named for its stem.
    assert!(!course.outputs_ending("/Html/Completed/Week 1/img/order.svg").is_empty(), "{:#?}", course.output_files());
    // The plugin's progress reached the queue: `clx jobs list` shows the last step.
    let jobs = stdout(&env.run(&["jobs", "list"]));
    let job = jobs.lines().find(|l| l.contains("cheat_sheet.v2.handout.md")).unwrap_or_default();
    assert!(job.contains(" done ") && job.contains("2/2 en-html"), "{jobs}");
    // The home page of each tree lists the page under the title it proposes
    // (its first line, escaped once), the file keeping its own name.
    let home = std::fs::read_to_string(course.out().join("public/En/Test Course/index.html")).unwrap();
    let listed = r#"<a href="Slides/Pages/Week%201/cheat_sheet.v2.html">Cheat sheet &amp; &lt;more&gt;</a>"#;
    assert!(home.contains(listed), "{home}");
    let heim = std::fs::read_to_string(course.out().join("speaker/De/Testkurs/index.html")).unwrap();
    assert!(heim.contains(">Cheat sheet &amp; &lt;more&gt;</a>"), "{heim}");

    // A misspelt setting of its typed configuration: one error at its line
    // in clx.toml, exit 2, no job run.
    std::fs::write(
        course.root().join("clx.toml"),
        "requires-plugins = [\"handout >= 0.1\", \"flow\"]\n\n[converters.handout]\ntodo_wrd = \"FIXME\"\n",
    )
    .unwrap();
    let out = build(&env, &course);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        errors,
        ["error: clx.toml:4:1: unknown setting `todo_wrd` in [converters.handout]; did you mean `todo_word`? It knows `todo_word`"],
        "{err}"
    );
}

/// `clx plugins new --role R` scaffolds a plugin of that role whose own
/// test asks for the outputs the host asks for, and passes.
#[test]
fn a_scaffold_of_every_role_declares_it_and_passes_its_own_test() {
    let env = Env::new();
    for (role, request) in
        [("slides", r#""html-completed", "html""#), ("diagram", r#""svg", "svg""#), ("page", r#""de-html", "html""#)]
    {
        let name = format!("my-{role}");
        let crate_dir = env.home.path().join(&name);
        let out = env.clx().args(["plugins", "new", &name, "--role", role, "--dir"]).arg(&crate_dir).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let lib = std::fs::read_to_string(crate_dir.join("src/lib.rs")).unwrap();
        let constant = format!("Role::{}{}", role[..1].to_uppercase(), &role[1..]);
        assert!(lib.contains(&constant) && lib.contains(&format!(".suffixes(&[\".{name}\"])")), "{lib}");
        assert!(lib.contains(&format!(".with_output({request}")), "{role}: the test asks what clx sends: {lib}");
        let tested = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["test", "--offline", "--quiet"])
            .current_dir(&crate_dir)
            .env("CARGO_TARGET_DIR", repo_root().join("target/scaffold"))
            .output()
            .unwrap();
        assert!(tested.status.success(), "{role}: {}{}", stdout(&tested), stderr(&tested));
    }
}
