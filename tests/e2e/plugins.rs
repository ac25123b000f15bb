//! Plugin discovery and checking, with real built libraries.

use clx_e2e::*;
use serde_json::Value;

fn plugin_list(env: &Env, plugin_dir: Option<&std::path::Path>) -> Vec<Value> {
    let mut cmd = env.clx();
    cmd.args(["plugins", "list", "--json"]);
    if let Some(dir) = plugin_dir {
        cmd.arg("--plugin-dir").arg(dir);
    }
    let out = cmd.output().expect("run clx");
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("--json output parses");
    v["plugins"].as_array().expect("plugins array").clone()
}

fn by_file<'a>(list: &'a [Value], file: &str) -> &'a Value {
    list.iter()
        .find(|p| p["path"].as_str().is_some_and(|s| s.ends_with(file)))
        .unwrap_or_else(|| panic!("{file} not listed in {list:#?}"))
}

#[test]
fn lists_the_shipped_plugins_with_their_job_types() {
    let env = Env::new();
    let list = plugin_list(&env, None);
    for (name, job_type, claims) in [
        ("notebook", "notebook", ".py"),
        ("plantuml", "plantuml", ".puml"),
        ("drawio", "drawio", ".drawio"),
        ("graphviz", "graphviz", ".dot"),
    ] {
        let p = list.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(p["status"], "ok", "{p:#}");
        let jt = &p["job_types"][0];
        assert_eq!(jt["name"], job_type);
        assert!(jt["suffixes"].as_array().unwrap().iter().any(|s| s == claims), "{jt:#}");
    }
    // Test fixtures sit beside clx in the target dir but are not named like plugins.
    assert!(!list.iter().any(|p| p["path"].as_str().unwrap().contains("fixture")));
    let table = stdout(&env.run(&["plugins", "list"]));
    assert!(table.contains("notebook (slides_*|topic_* .py .cpp .cs .java .ts .rs)"), "{table}");
}

#[test]
fn a_plugin_built_against_an_incompatible_api_is_reported_and_skipped() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(library("clx-fixture-old-api"), dir.path().join("libold.so")).unwrap();
    let list = plugin_list(&env, Some(dir.path()));
    let old = by_file(&list, "libold.so");
    assert_eq!(old["status"], "incompatible");
    let reason = old["reason"].as_str().unwrap();
    assert!(reason.contains("built against plugin-api 0.0.3; this clx speaks 0.3.x: rebuild against 0.3"), "{reason}");
    // Everything else still loads.
    assert!(list.iter().any(|p| p["name"] == "graphviz" && p["status"] == "ok"));
    // The table names it by its file, as no manifest was read.
    let table = stdout(&env.clx().args(["plugins", "list", "--plugin-dir"]).arg(dir.path()).output().unwrap());
    let row = table.lines().find(|l| l.contains("incompatible")).unwrap_or_default();
    assert!(row.starts_with("libold.so "), "{table}");
}

#[test]
fn a_plugin_built_against_a_newer_api_names_both_versions_before_any_layout_check() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(library("clx-fixture-newer-api"), dir.path().join("libnewer.so")).unwrap();
    let list = plugin_list(&env, Some(dir.path()));
    let newer = by_file(&list, "libnewer.so");
    assert_eq!(newer["status"], "incompatible");
    let reason = newer["reason"].as_str().unwrap();
    assert_eq!(reason, "built against plugin-api 0.4.0; this clx speaks 0.3.x: rebuild against 0.3");
}

#[test]
fn a_random_library_or_file_is_reported_as_not_a_plugin() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("libtext.so"), "this is not a library\n").unwrap();
    // A real shared library that is not a clx plugin: the test fixture crate
    // graph has none, so use the C library every Linux system has.
    let libm = ["/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6", "/lib64/libm.so.6"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("libm");
    std::fs::copy(libm, dir.path().join("libm.so")).unwrap();
    let list = plugin_list(&env, Some(dir.path()));
    for file in ["libtext.so", "libm.so"] {
        let p = by_file(&list, file);
        assert_eq!(p["status"], "not a plugin", "{p:#}");
    }
    assert!(by_file(&list, "libm.so")["reason"].as_str().unwrap().contains("exports no clx root module"));
}

#[test]
fn two_plugins_claiming_one_job_type_are_reported() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(library("clx-fixture-rival"), dir.path().join("librival.so")).unwrap();
    let list = plugin_list(&env, Some(dir.path()));
    // --plugin-dir comes first in the search path, so the rival owns `graphviz`.
    assert_eq!(by_file(&list, "librival.so")["status"], "ok");
    let gv = list.iter().find(|p| p["name"] == "graphviz").unwrap();
    assert_eq!(gv["status"], "conflict");
    let reason = gv["reason"].as_str().unwrap();
    assert!(reason.contains("job type `graphviz` already provided by rival"), "{reason}");
}

#[test]
fn plugins_info_shows_job_types_and_unknown_names_fail() {
    let env = Env::new();
    let out = env.run(&["plugins", "info", "plantuml"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("job type `plantuml` (diagram)"), "{text}");
    assert!(text.contains(".pu .puml .plantuml"), "{text}");
    let out = env.run(&["plugins", "info", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no plugin named `nope`"), "{}", stderr(&out));
}

#[test]
fn plugins_install_refuses_a_world_writable_library_says_it_replaced_and_warns_when_shadowed() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("libclx_plugin_graphviz.so");
    std::fs::copy(library("clx-plugin-graphviz"), &lib).unwrap();
    let install = || env.clx().args(["plugins", "install"]).arg(&lib).output().unwrap();
    let installed = env.home.path().join("data/clx/plugins/libclx_plugin_graphviz.so");

    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = install();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is writable by every user"), "{}", stderr(&out));
    assert!(!installed.exists(), "nothing installed");

    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = install();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("installed graphviz "), "{}", stdout(&out));
    // The graphviz shipped beside clx comes first on the search path.
    let shipped = target_dir().join("libclx_plugin_graphviz.so");
    assert!(stderr(&out).contains(&format!("warning: clx uses {} instead", shipped.display())), "{}", stderr(&out));
    let out = install();
    assert!(stdout(&out).starts_with("replaced graphviz "), "{}", stdout(&out));
}
