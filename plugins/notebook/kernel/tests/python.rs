//! Against the real python3 kernel from the tools venv (`scripts/setup`).

use std::path::PathBuf;
use std::time::Duration;

use clx_kernel::{Executor, KernelError};

fn venv() -> PathBuf {
    let venv = clx_plugin_api::tools_dir().unwrap_or_default().join("venv");
    assert!(venv.join("bin/python").exists(), "{} missing: run scripts/setup", venv.display());
    venv
}

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn runs_cells_in_a_fresh_kernel_with_the_deck_directory_as_cwd() {
    let exec = Executor::new(&[venv()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("helper.py"), "def twice(x):\n    return 2 * x\n").unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/n.txt"), "21").unwrap();
    let mut s = exec.session("python3", dir.path()).unwrap();

    let run = s.run("print('Hallo Welt')\nx = 6 * 7\nx", LIMIT).unwrap();
    assert_eq!(run.execution_count, Some(1), "the setup ran silently");
    assert_eq!(run.outputs[0]["output_type"], "stream");
    assert_eq!(run.outputs[0]["text"], "Hallo Welt\n");
    assert_eq!(run.outputs[1]["output_type"], "execute_result");
    assert_eq!(run.outputs[1]["data"]["text/plain"], "42");

    let run = s.run("import helper\nhelper.twice(int(open('data/n.txt').read()))", LIMIT).unwrap();
    assert_eq!(run.outputs[0]["data"]["text/plain"], "42", "{:?}", run.outputs);

    let run = s.run("1/0", LIMIT).unwrap();
    let error = run.error.expect("the cell raised");
    assert_eq!(error.ename, "ZeroDivisionError");
    assert!(run.outputs[0]["traceback"].as_array().is_some_and(|t| !t.is_empty()));
}

#[test]
fn a_dead_kernel_and_a_stuck_cell_are_errors() {
    let exec = Executor::new(&[venv()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut s = exec.session("python3", dir.path()).unwrap();
    let err = s.run("import os\nos._exit(3)", LIMIT).unwrap_err();
    assert!(err.is_kernel_death(), "{err}");

    let mut s = exec.session("python3", dir.path()).unwrap();
    let err = s.run("import time\ntime.sleep(60)", Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err, KernelError::CellTimeout { secs: 1 }), "{err}");
}

#[test]
fn missing_kernelspec_names_the_fix() {
    let exec = Executor::new(&[venv()]).unwrap();
    let err = exec.session("no-such-kernel", std::path::Path::new("/")).err().expect("must fail");
    let text = err.to_string();
    assert!(text.contains("no-such-kernel") && text.contains("install"), "{text}");
}

#[test]
fn executes_a_notebook_and_reports_the_failing_cell() {
    let exec = Executor::new(&[venv()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut nb = serde_json::json!({"cells": [
        {"cell_type": "markdown", "id": "m", "source": "# Title", "metadata": {}},
        {"cell_type": "code", "id": "a", "source": ["x = 1\n", "print(x + 1)"], "metadata": {}, "outputs": []},
        {"cell_type": "code", "id": "s", "source": "raise SystemExit", "metadata": {"tags": ["skip-execution"]}, "outputs": []},
        {"cell_type": "code", "id": "r", "source": "int('x')", "metadata": {"tags": ["raises-exception"]}, "outputs": []},
        {"cell_type": "code", "id": "b", "source": "undefined_name", "metadata": {}, "outputs": []}
    ]});
    let mut s = exec.session("python3", dir.path()).unwrap();
    let err = clx_kernel::execute(&mut nb, &mut s, LIMIT).unwrap_err();
    match err {
        clx_kernel::ExecuteError::CellFailed { cell, ename, excerpt, traceback, .. } => {
            assert_eq!((cell, ename.as_str(), excerpt.as_str()), (5, "NameError", "undefined_name"));
            assert!(traceback.contains("NameError") && !traceback.contains('\u{1b}'), "{traceback}");
        }
        other => panic!("{other}"),
    }
    assert_eq!(nb["cells"][1]["outputs"][0]["text"], "2\n");
    assert_eq!(nb["cells"][2]["outputs"], serde_json::json!([]), "skip-execution is not run");
    assert_eq!(nb["cells"][3]["outputs"][0]["ename"], "ValueError");
}
