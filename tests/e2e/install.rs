//! `scripts/install` into a temp prefix, then the installed `clx` used the
//! way an author does: from another directory, on a course `clx init` made,
//! with the home pages checked link by link and opened in Chromium.
//!
//! The test installs the profile the tests were built with (`--profile
//! debug --no-build`): a release build inside `cargo test` would take many
//! minutes on a small machine, and the script's copy logic is the same.

use std::path::{Path, PathBuf};
use std::process::Command;

use clx_e2e::{cargo_build_plugin, percent_decode, render_in_chromium, stderr, stdout, target_dir, tools_dir, Env};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

fn install(prefix: &Path) {
    let target = target_dir();
    let profile = target.file_name().and_then(|n| n.to_str()).expect("profile dir name").to_owned();
    let out = Command::new(repo_root().join("scripts/install"))
        .args(["--prefix"])
        .arg(prefix)
        .args(["--profile", &profile, "--no-build", "--no-setup"])
        .env("CARGO_TARGET_DIR", target.parent().expect("target dir"))
        .output()
        .expect("run scripts/install");
    assert!(out.status.success(), "install failed: {}", stderr(&out));
}

/// The installed binary, isolated like every e2e run, started elsewhere.
fn installed(env: &Env, prefix: &Path, cwd: &Path) -> Command {
    let mut cmd = Command::new(prefix.join("bin/clx"));
    cmd.current_dir(cwd)
        .env("CLX_HOME", env.state_dir())
        .env("XDG_CONFIG_HOME", env.home.path().join("config"))
        .env("XDG_DATA_HOME", env.home.path().join("data"))
        .env("CLX_TOOLS_DIR", tools_dir())
        .env("TMPDIR", env.temp_dir())
        .env_remove("CLX_PLUGIN_PATH")
        .env_remove("CLX_LOG");
    cmd
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every `href` of a home page, checked to be relative and to name a file
/// in the page's own tree (a public page never leads to the speaker's).
pub(crate) fn check_links(page: &Path) -> Vec<String> {
    let html = std::fs::read_to_string(page).expect("home page");
    let root = page.parent().expect("course root");
    let hrefs: Vec<String> =
        html.split("href=\"").skip(1).map(|rest| rest.split('"').next().unwrap_or_default().to_owned()).collect();
    assert!(!hrefs.is_empty(), "{} links nothing", page.display());
    for href in &hrefs {
        assert!(!href.contains("://") && !href.starts_with('/'), "not relative: {href}");
        let target = root.join(percent_decode(href));
        assert!(target.is_file(), "{}: link {href} resolves to no file", page.display());
        let tree = root.parent().and_then(Path::parent).expect("tree").canonicalize().expect("tree");
        assert!(target.canonicalize().expect("target").starts_with(&tree), "{href} leaves {}", tree.display());
    }
    hrefs
}

fn build_course(env: &Env, prefix: &Path, elsewhere: &Path, lang: &str) -> PathBuf {
    let root = elsewhere.join(format!("{lang}-course"));
    let out = installed(env, prefix, elsewhere)
        .args(["init", &format!("{lang}-course"), "--lang", lang, "--name", "Erster Kurs"])
        .output()
        .expect("clx init");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = installed(env, prefix, &root).args(["build", "course-specs/course.xml"]).output().expect("clx build");
    assert_eq!(out.status.code(), Some(0), "{lang}: {}", stderr(&out));
    let output = root.join("output");
    let homes: Vec<PathBuf> = ["public/De", "public/En", "speaker/De", "speaker/En"]
        .iter()
        .map(|tree| output.join(tree).join("Erster Kurs/index.html"))
        .collect();
    for home in &homes {
        let hrefs = check_links(home);
        let speaker = home.to_string_lossy().contains("/speaker/");
        assert_eq!(hrefs.iter().any(|h| h.contains("/Speaker/")), speaker, "{}: {hrefs:#?}", home.display());
        assert!(hrefs.iter().any(|h| h.ends_with(".ipynb")), "{hrefs:#?}");
        if !speaker {
            assert!(hrefs.iter().any(|h| h.contains("/Code-Along/") && h.ends_with(".html")), "{hrefs:#?}");
            assert!(hrefs.iter().any(|h| h.ends_with("numbers.csv")), "the data file: {hrefs:#?}");
        }
    }
    let page = std::fs::read_to_string(&homes[1]).expect("home page");
    let welcome = page.find("01 Welcome").expect("first topic");
    let next = page.find("02 Next steps").expect("second topic");
    assert!(welcome < next, "topics in spec order");
    let files = files_below(&output);
    assert!(files.iter().any(|f| f.ends_with("img/overview.png")), "the diagram is rendered");
    // An unchanged rebuild leaves the home pages alone.
    let out = installed(env, prefix, &root).args(["build", "course-specs/course.xml"]).output().expect("rebuild");
    assert!(stderr(&out).contains(" 0 files written"), "{}", stderr(&out));
    homes[1].clone()
}

#[test]
fn installed_clx_inits_builds_and_publishes_a_browsable_course_from_any_directory() {
    let prefix = tempfile::tempdir().expect("prefix");
    let keep = prefix.path().join("bin/keep-me");
    std::fs::create_dir_all(keep.parent().expect("bin")).expect("bin");
    std::fs::write(&keep, "not clx's").expect("marker");
    install(prefix.path());
    let manifest = std::fs::read_to_string(prefix.path().join("lib/clx/install-manifest")).expect("manifest");
    for file in ["bin/clx", "share/man/man1/clx.1", "share/bash-completion/completions/clx"] {
        assert!(prefix.path().join(file).is_file() && manifest.lines().any(|l| l == file), "{file}: {manifest}");
    }
    assert_eq!(manifest.lines().filter(|l| l.starts_with("lib/clx/plugins/")).count(), 4, "{manifest}");

    let env = Env::new();
    let elsewhere = tempfile::tempdir().expect("work dir");
    let version = installed(&env, prefix.path(), elsewhere.path()).arg("--version").output().expect("--version");
    let version = stdout(&version);
    assert!(version.contains("plugin-api "), "{version}");
    for plugin in ["notebook", "plantuml", "drawio", "graphviz"] {
        let line = version.lines().find(|l| l.starts_with(&format!("plugin {plugin} "))).unwrap_or_default();
        assert!(line.contains(&prefix.path().join("lib/clx/plugins").display().to_string()), "{plugin}: {version}");
    }
    for args in [&["plugins", "list"][..], &["doctor"]] {
        let out = installed(&env, prefix.path(), elsewhere.path()).args(args).output().expect("run");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}{}", stdout(&out), stderr(&out));
    }

    let home = build_course(&env, prefix.path(), elsewhere.path(), "python");
    if tools_dir().join("venv/share/jupyter/kernels/deno/kernel.json").is_file() {
        build_course(&env, prefix.path(), elsewhere.path(), "typescript");
    }
    rendered_in_chromium(&home);

    // Installing again changes nothing; uninstalling removes exactly it.
    install(prefix.path());
    let again = std::fs::read_to_string(prefix.path().join("lib/clx/install-manifest")).expect("manifest");
    assert_eq!(again, manifest);
    let out = Command::new(repo_root().join("scripts/uninstall")).arg("--prefix").arg(prefix.path()).output();
    assert!(out.expect("uninstall").status.success());
    assert_eq!(files_below(prefix.path()), vec![keep.clone()]);
    assert!(!prefix.path().join("lib").exists() && !prefix.path().join("share").exists());
}

/// What an outside author has: an installed clx and no checkout. The
/// scaffold depends on the API by version, patched to the copy the install
/// put under PREFIX/share/clx, and builds, installs and lists as it is.
#[test]
fn a_plugin_scaffolded_by_an_installed_clx_builds_against_the_installed_api_copy() {
    let prefix = tempfile::tempdir().expect("prefix");
    install(prefix.path());
    let api = prefix.path().join("share/clx/plugin-api");
    let manifest = std::fs::read_to_string(prefix.path().join("lib/clx/install-manifest")).expect("manifest");
    for file in ["share/clx/plugin-api/Cargo.toml", "share/clx/plugin-api/src/lib.rs"] {
        assert!(manifest.lines().any(|l| l == file), "{file}: {manifest}");
    }
    let installed_toml = std::fs::read_to_string(api.join("Cargo.toml")).expect("installed Cargo.toml");
    assert!(!installed_toml.contains("workspace = true"), "workspace settings resolved: {installed_toml}");

    let env = Env::new();
    let elsewhere = tempfile::tempdir().expect("work dir");
    let out = installed(&env, prefix.path(), elsewhere.path())
        .args(["plugins", "new", "outside"])
        .output()
        .expect("plugins new");
    assert!(out.status.success(), "{}", stderr(&out));
    let crate_dir = elsewhere.path().join("clx-plugin-outside");
    let cargo_toml = std::fs::read_to_string(crate_dir.join("Cargo.toml")).expect("scaffold Cargo.toml");
    assert!(cargo_toml.contains("clx-plugin-api = \"0.3\""), "{cargo_toml}");
    let api = api.canonicalize().expect("installed api");
    assert!(cargo_toml.contains(&format!("clx-plugin-api = {{ path = \"{}\" }}", api.display())), "{cargo_toml}");
    let repo = repo_root().canonicalize().expect("repo");
    assert!(!cargo_toml.contains(&repo.display().to_string()), "no path into the clx tree: {cargo_toml}");

    let library = cargo_build_plugin(&crate_dir, "outside");
    let out = installed(&env, prefix.path(), elsewhere.path()).args(["plugins", "install"]).arg(&library).output();
    let out = out.expect("plugins install");
    assert!(out.status.success(), "{}", stderr(&out));
    let list = installed(&env, prefix.path(), elsewhere.path()).args(["plugins", "list"]).output().expect("list");
    let list = stdout(&list);
    assert!(list.lines().any(|l| l.starts_with("outside ") && l.ends_with(" ok")), "{list}");
}

/// The home page as a browser shows it: the links are there and it paints.
fn rendered_in_chromium(page: &Path) {
    let dom = render_in_chromium(page, "course-home-page.png", (1000, 800));
    assert!(dom.contains("<h1>Erster Kurs</h1>") && dom.contains("HTML completed"), "{dom}");
}
