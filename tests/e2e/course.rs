//! Whole courses with every shipped plugin: the exact output tree.

use std::path::Path;

use clx_e2e::*;

/// Copy a course tree into a temp dir, so builds never write into the repo.
fn copy_course(src: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(src, dir.path());
    dir
}

fn expected(name: &str) -> Vec<String> {
    let path = repo_root().join("tests/fixtures").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines: Vec<String> = text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect();
    lines.sort();
    lines
}

/// Every output file, except that a course root's assets folder counts as
/// one entry (`…/_site/`): what it holds is the site's business, not the
/// course layout's.
fn outputs(out: &Path) -> Vec<String> {
    let mut files = Vec::new();
    collect(out, out, &mut files);
    for f in &mut files {
        if let Some(at) = f.find("/_site/") {
            f.truncate(at + "/_site/".len());
        }
    }
    files.sort();
    files.dedup();
    files
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(root, &p, files);
        } else {
            files.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
        }
    }
}

fn assert_same(actual: &[String], expected: &[String]) {
    let missing: Vec<_> = expected.iter().filter(|e| !actual.contains(e)).collect();
    let extra: Vec<_> = actual.iter().filter(|a| !expected.contains(a)).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing: {missing:#?}\nunexpected: {extra:#?}");
    assert_eq!(actual.len(), expected.len());
}

#[test]
fn example_course_builds_exactly_the_expected_files() {
    let env = Env::new();
    let course = copy_course(&repo_root().join("examples/python-course"));
    let spec = course.path().join("course-specs/python-course.xml");
    let out = env.clx().arg("build").arg(&spec).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));
    let out_dir = course.path().join("output");
    assert_same(&outputs(&out_dir), &expected("python-course.expected.txt"));

    // Executed by a real kernel: printed text and a computed value show up,
    // and a deck importing its sibling helper module works.
    let html = |rel: &str| std::fs::read_to_string(out_dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let hello = html("public/En/Python Basics/Slides/Html/Completed/First Steps/01 Hello, World.html");
    assert!(hello.contains("output_stream output_stdout\"><pre>Hello, World!"), "{hello}");
    assert!(hello.contains("The answer is 42"));
    let data = html("public/En/Python Basics/Slides/Html/Completed/Data Reading and Drawing/01 Reading Data CSV.html");
    assert!(data.contains("<pre>86.0</pre>"), "the helper module's mean() ran: {data}");
    rendered_in_chromium(
        &out_dir.join("public/En/Python Basics/Slides/Html/Completed/First Steps/01 Hello, World.html"),
    );
    let code_along = html("public/En/Python Basics/Slides/Html/Code-Along/First Steps/01 Hello, World.html");
    assert!(!code_along.contains("output_stream"), "code-along never runs a kernel");
    // Diagrams rendered by the real PlantUML and draw.io, beside the decks.
    for image in ["flow.png", "pipeline.png"] {
        let path =
            out_dir.join("public/De/Python Grundlagen/Folien/Html/Completed/Daten Lesen und Zeichnen/img").join(image);
        let (w, h) = png_size(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
        assert!(w > 50 && h > 50, "{image}: {w}x{h}");
    }

    // Unchanged rebuild: everything from the cache, nothing rewritten.
    let again = env.clx().arg("build").arg(&spec).output().expect("run clx");
    let err = stderr(&again);
    assert!(again.status.success(), "{err}");
    assert!(err.contains(" 0 built") && err.contains(" 0 files written"), "{err}");
}

#[test]
fn appendix_a_course_builds_the_documented_tree() {
    let env = Env::new();
    let course = copy_course(&repo_root().join("tests/fixtures/appendix-a"));
    let spec = course.path().join("course-specs/test-spec-1.xml");
    let out = env.clx().arg("build").arg(&spec).output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_same(&outputs(&course.path().join("output")), &expected("appendix-a.expected.txt"));
}

#[test]
fn a_failing_cell_fails_only_the_executed_pages_of_its_deck() {
    let env = Env::new();
    let bad = "# %% [markdown]\n# Fehler\n\n# %%\nx = 1\n\n# %%\nraise ValueError(\"kaputt\")\n";
    let good = "# %%\nprint(\"fine\")\n";
    let course = TestCourse::new(&[("bad", &[("slides_bad.py", bad)]), ("good", &[("slides_good.py", good)])]);
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("slides_bad.py") && err.contains("cell 3") && err.contains("ValueError: kaputt"), "{err}");
    let files = course.output_files();
    let count = |needle: &str| files.iter().filter(|f| f.contains(needle)).count();
    assert_eq!(count("slides_bad.ipynb"), 6, "every notebook of the failing deck is written: {files:#?}");
    assert_eq!(count("slides_bad.py"), 2, "and its code files");
    assert_eq!(count("Code-Along/Woche 1/01 slides_bad.html") + count("Code-Along/Week 1/01 slides_bad.html"), 2);
    assert_eq!(count("slides_bad.html"), 2, "only code-along HTML; executed pages fail");
    assert_eq!(count("slides_good.html"), 6, "the other deck is fine");
}

/// The home page links only files the build produced: the pages a raising
/// cell failed are left out and the deck is marked, in both languages, and
/// the build after the fix links them again.
#[test]
fn the_home_page_marks_a_failed_deck_and_links_it_again_once_fixed() {
    let env = Env::new();
    let deck = "# %% [markdown]\n# Fehler\n\n# %%\nx = 1\n\n# %%\nraise ValueError(\"kaputt\")\n";
    let course =
        TestCourse::new(&[("bad", &[("slides_bad.py", deck)]), ("good", &[("slides_good.py", "# %%\nx = 2\n")])]);
    let homes = ["public/De/Testkurs/index.html", "public/En/Test Course/index.html"].map(|h| course.out().join(h));
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    for (home, marker) in homes.iter().zip(["in diesem Build fehlgeschlagen", "failed in this build"]) {
        let hrefs = crate::install::check_links(home);
        let page = std::fs::read_to_string(home).expect("home page");
        assert_eq!(page.matches(marker).count(), 1, "only the failed deck is marked: {page}");
        let bad: Vec<&String> = hrefs.iter().filter(|h| h.contains("slides_bad")).collect();
        assert!(bad.iter().any(|h| h.ends_with(".ipynb")), "what was produced is linked: {hrefs:#?}");
        assert!(!bad.iter().any(|h| h.contains("/Completed/") && h.ends_with(".html")), "{hrefs:#?}");
        assert!(hrefs.iter().any(|h| h.contains("/Completed/") && h.ends_with("slides_good.html")), "{hrefs:#?}");
    }
    let bad = course.root().join("slides/module_100_test/topic_100_bad/slides_bad.py");
    std::fs::write(&bad, deck.replace("raise ValueError(\"kaputt\")", "x + 1")).expect("fix the deck");
    let out = env.clx().arg("build").arg(course.spec()).output().expect("run clx");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for home in &homes {
        let hrefs = crate::install::check_links(home);
        let page = std::fs::read_to_string(home).expect("home page");
        assert!(!page.contains("class=\"failed\""), "{page}");
        assert!(hrefs.iter().any(|h| h.contains("/Completed/") && h.ends_with("slides_bad.html")), "{hrefs:#?}");
    }
}

/// Open a page in headless Chromium: the DOM it builds has the cells, the
/// highlighted code and the rendered table; the screenshot is kept in
/// target/tmp for a look.
fn rendered_in_chromium(page: &Path) {
    let dom = render_in_chromium(page, "example-course-hello-world.png", (1200, 1600));
    assert!(dom.matches("class=\"cell border-box-sizing").count() >= 4, "cells: {dom}");
    assert!(
        dom.contains("<span class=\"source python\"") || dom.contains("class=\"support function"),
        "highlighted code: {dom}"
    );
    assert!(dom.contains("<table>") && dom.contains("<td><code>len()</code></td>"), "markdown table: {dom}");
}

fn build(env: &Env, args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let out = env.clx().arg("build").args(args).output().expect("run clx");
    (out.status.code(), stderr(&out))
}

#[test]
fn bad_specs_and_paths_name_the_problem_and_exit_non_zero() {
    let env = Env::new();
    let course = TestCourse::new(&[("one", &[("data.txt", "x")])]);
    let spec = course.spec();
    let write = |xml: &str| std::fs::write(&spec, xml).unwrap();
    let good = std::fs::read_to_string(&spec).unwrap();

    write("<course>\n  <name><de>a</de>\n</course>\n");
    let (code, err) = build(&env, &[spec.as_os_str()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("course.xml:2:3: <name> opened here is never closed"), "the line it opened: {err}");

    write(&good.replace("<name><de>Testkurs</de><en>Test Course</en></name>", ""));
    let (code, err) = build(&env, &[spec.as_os_str()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("<name>"), "{err}");

    write(&good.replace("<topic>one</topic>", "<topic>one</topic><topic>nowhere</topic>"));
    let (code, err) = build(&env, &[spec.as_os_str()]);
    assert_eq!(code, Some(1), "unknown topic is an error, the rest is built: {err}");
    assert!(err.contains("nowhere"), "{err}");
    assert!(!course.outputs_ending("data.txt").is_empty(), "the known topic was still built");

    write(&good.replace("<topics>", "").replace("</topics>", "").replace("<topic>one</topic>", ""));
    let (code, err) = build(&env, &[spec.as_os_str()]);
    assert_eq!(code, Some(2), "a course without topics would build nothing and remove everything: {err}");
    assert!(err.contains("no section lists a topic, so the course would build nothing"), "{err}");

    write(&good);
    let twin = course.root().join("slides/module_200_other/topic_100_one");
    std::fs::create_dir_all(&twin).unwrap();
    std::fs::write(twin.join("x.txt"), "y").unwrap();
    let (code, err) = build(&env, &[spec.as_os_str()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("duplicate topic id `one`") && err.contains("module_200_other"), "{err}");

    let (code, err) = build(&env, &[spec.as_os_str(), "-d".as_ref(), "/nonexistent/course".as_ref()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("data directory /nonexistent/course not found"), "{err}");
    let (code, err) = build(&env, &["/nonexistent/course.xml".as_ref()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("course spec /nonexistent/course.xml not found"), "{err}");
}

#[test]
fn renamed_source_loses_its_old_outputs_but_git_dirs_stay() {
    let env = Env::new();
    let plugins = plugin_dir(&["clx-fixture-testkit"]);
    let course = TestCourse::new(&[("t", &[("old.testjob", "ok"), ("keep.txt", "k")])]);
    let run = || {
        let out = env.clx().arg("--plugin-dir").arg(plugins.path()).arg("build").arg(course.spec()).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    run();
    let root = course.out().join("public/En/Test Course");
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(root.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    let topic = course.root().join("slides/module_100_test/topic_100_t");
    std::fs::rename(topic.join("old.testjob"), topic.join("new.testjob")).unwrap();
    run();
    assert!(course.outputs_ending("img/old.txt").is_empty(), "{:#?}", course.output_files());
    assert_eq!(course.outputs_ending("img/new.txt").len(), 14);
    assert_eq!(course.outputs_ending("keep.txt").len(), 14);
    assert!(root.join(".git/HEAD").exists(), "a .git directory inside an output root is never swept");
}
