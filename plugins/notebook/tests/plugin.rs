//! The notebook job as the host runs it: options, one answer per requested
//! output, and issues that point at the deck line to fix.

use abi_stable::std_types::{ROption, RResult};
use clx_plugin_api::{Host, InputFile, Issue, Job, JobResult, OutputRequest, Plugin, Severity};
use clx_plugin_notebook::Notebook;
use serde_json::Value;

fn request(id: &str, format: &str, kind: &str) -> OutputRequest {
    OutputRequest { id: id.into(), format: format.into(), params: format!("{{\"kind\":\"{kind}\"}}").into() }
}

fn run(source: &str, path: &str, options: Value, outputs: Vec<OutputRequest>) -> Result<JobResult, Issue> {
    let job = Job {
        job_type: "notebook".into(),
        source_path: path.into(),
        source: source.as_bytes().to_vec().into(),
        siblings: Vec::<InputFile>::new().into(),
        outputs: outputs.into(),
        options: options.to_string().into(),
        work_dir: "".into(),
    };
    let plugin = Notebook::new("{}").expect("plugin");
    Host::standalone(|host| plugin.convert(&job, host))
}

fn options(lang: &str, prog_lang: &str) -> Value {
    serde_json::json!({"lang": lang, "prog_lang": prog_lang, "author": null, "macros": null, "execute": false})
}

fn ok_text(result: &JobResult, id: &str) -> String {
    let output = result.outputs.iter().find(|o| o.id.as_str() == id).expect("answered");
    match &output.result {
        RResult::ROk(bytes) => String::from_utf8(bytes.to_vec()).expect("utf-8"),
        RResult::RErr(e) => panic!("output {id} failed: {e}"),
    }
}

fn failure(result: &JobResult, id: &str) -> String {
    let output = result.outputs.iter().find(|o| o.id.as_str() == id).expect("answered");
    match &output.result {
        RResult::ROk(_) => panic!("output {id} unexpectedly succeeded"),
        RResult::RErr(e) => e.to_string(),
    }
}

const DECK: &str = "# j2 from 'macros.j2' import header\n# {{ header(\"Titel\", \"Title\") }}\n\n# %%\nx = 1\n";

#[test]
fn every_request_is_answered_and_html_is_rendered_without_a_kernel_when_execution_is_off() {
    let outputs =
        vec![request("a", "ipynb", "completed"), request("b", "code", "code-along"), request("c", "html", "speaker")];
    let result = run(DECK, "slides_x.py", options("en", "python"), outputs).expect("job runs");
    let notebook: Value = serde_json::from_str(&ok_text(&result, "a")).expect("ipynb is JSON");
    let cells = notebook["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 2, "one title cell in the job's language plus the code cell");
    assert_eq!(cells[0]["metadata"]["lang"], "en");
    assert!(ok_text(&result, "b").ends_with("# %%\n"), "code-along empties the code cell");
    let page = ok_text(&result, "c");
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("In&nbsp;[ ]:"), "{page}");
    assert!(page.contains("id=\"cell-id="), "cells carry their ids");
    assert!(result.issues.is_empty(), "{:?}", result.issues);
}

#[test]
fn a_template_error_fails_every_output_with_the_deck_line() {
    let deck = "# %%\nx = 1\n\n# %%\nd = {{1: 2}}\n";
    let result = run(
        deck,
        "topic/slides_bad.py",
        options("de", "python"),
        vec![request("a", "ipynb", "completed"), request("b", "code", "completed")],
    )
    .expect("job runs");
    assert!(failure(&result, "a").contains("template error"));
    assert!(failure(&result, "b").contains("template error"));
    assert_eq!(result.issues.len(), 1, "the same error is reported once: {:?}", result.issues);
    let issue = &result.issues[0];
    assert_eq!(issue.severity, Severity::Error);
    assert_eq!(issue.file, ROption::RSome("topic/slides_bad.py".into()));
    assert_eq!(issue.line, ROption::RSome(5));
}

#[test]
fn unquoted_metadata_is_an_error_at_its_marker_line() {
    let deck = "# %%\nx = 1\n\n# %% lang=de\ny = 2\n";
    let result = run(deck, "slides_bad.py", options("de", "python"), vec![request("a", "ipynb", "completed")])
        .expect("job runs");
    assert!(failure(&result, "a").contains("lang=\"de\""));
    assert_eq!(result.issues[0].line, ROption::RSome(4));
}

#[test]
fn unknown_tags_are_warnings_with_the_cell_line() {
    let deck = "# %%\nx = 1\n\n# %% tags=[\"kepp\"]\ny = 2\n";
    let result =
        run(deck, "slides_t.py", options("de", "python"), vec![request("a", "ipynb", "completed")]).expect("job runs");
    ok_text(&result, "a");
    assert_eq!(result.issues.len(), 1);
    assert_eq!(result.issues[0].severity, Severity::Warning);
    assert!(result.issues[0].message.contains("kepp"));
    assert_eq!(result.issues[0].line, ROption::RSome(4));
}

#[test]
fn bad_options_and_requests_say_what_is_allowed() {
    let err = run(DECK, "slides_x.cob", options("de", "cobol"), vec![request("a", "ipynb", "completed")])
        .expect_err("unsupported language");
    assert!(err.message.contains("python, cpp, csharp, java, typescript or rust"), "{}", err.message);
    let result = run(
        DECK,
        "slides_x.py",
        options("de", "python"),
        vec![request("a", "pdf", "completed"), request("b", "ipynb", "everything")],
    )
    .expect("job runs");
    assert!(failure(&result, "a").contains("ipynb, code, html"));
    assert!(failure(&result, "b").contains("completed, code-along, speaker"));
}

#[test]
fn built_in_macros_give_one_title_per_language_with_the_author() {
    for (prog_lang, comment) in [("python", "#"), ("cpp", "//"), ("csharp", "//"), ("java", "//"), ("typescript", "//")]
    {
        let deck = if comment == "#" {
            DECK.to_owned()
        } else {
            "// %% [markdown] lang=\"de\" tags=[\"slide\"]\n// j2 from 'macros.j2' import header\n// {{ header(\"Titel\", \"Title\") }}\n\n// %%\nint x = 1;\n".to_owned()
        };
        for lang in ["de", "en"] {
            let mut opts = options(lang, prog_lang);
            opts["author"] = Value::from("Ada Lovelace");
            let result = run(
                &deck,
                "slides_x",
                opts,
                vec![request("a", "ipynb", "completed"), request("b", "code", "completed")],
            )
            .expect("job runs");
            let notebook: Value = serde_json::from_str(&ok_text(&result, "a")).expect("ipynb is JSON");
            let cells = notebook["cells"].as_array().expect("cells");
            assert_eq!(cells.len(), 2, "{prog_lang}/{lang}: {cells:?}");
            let title: String =
                cells[0]["source"].as_array().expect("lines").iter().filter_map(Value::as_str).collect();
            let expected = if lang == "de" { "<b>Titel</b>" } else { "<b>Title</b>" };
            assert!(title.contains(expected), "{prog_lang}/{lang}: {title}");
            assert!(
                title.contains("Ada Lovelace") && title.contains("data:image/svg+xml;base64,"),
                "{prog_lang}/{lang}: {title}"
            );
            let code = ok_text(&result, "b");
            assert!(code.contains("Ada Lovelace") && !code.contains("base64"), "{prog_lang}/{lang}: {code}");
        }
    }
}

#[test]
fn a_course_macros_file_replaces_the_built_in_one() {
    let mut opts = options("de", "python");
    opts["macros"] = Value::from("{% macro header(de, en) %}%% [markdown]\n# {{ de }} / {{ en }}{% endmacro %}");
    let result = run(DECK, "slides_x.py", opts, vec![request("a", "code", "completed")]).expect("job runs");
    assert_eq!(ok_text(&result, "a"), "# %% [markdown]\n# Titel / Title\n\n# %%\nx = 1\n");
}
