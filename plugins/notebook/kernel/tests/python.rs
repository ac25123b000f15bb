//! Against the real python3 kernel from the tools venv (`scripts/setup`).

use std::path::PathBuf;
use std::time::Duration;

use clx_kernel::{Executor, KernelError};

fn venv() -> PathBuf {
    let tools = std::env::var_os("CLX_TOOLS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".local/share/clx/tools")
    });
    let venv = tools.join("venv");
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
