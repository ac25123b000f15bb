//! Python kernels forked from a fork server, against the real python3
//! kernel from the tools venv (`scripts/setup`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clx_kernel::{Executor, ForkNote, ForkOptions, Session};
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(60);

fn venv() -> PathBuf {
    let venv = clx_plugin_api::tools_dir().unwrap_or_default().join("venv");
    assert!(venv.join("bin/python").exists(), "{} missing: run scripts/setup", venv.display());
    venv
}

fn plain() -> ForkOptions {
    ForkOptions { enabled: false, preload: Vec::new() }
}

/// The text a cell printed or returned.
fn text(session: &mut Session<'_>, code: &str) -> String {
    let run = session.run(code, LIMIT).expect("the cell runs");
    assert!(run.error.is_none(), "{code}: {:?}", run.error);
    run.outputs
        .iter()
        .map(|o| match o["output_type"].as_str() {
            Some("stream") => o["text"].as_str().unwrap_or_default().to_owned(),
            _ => o["data"]["text/plain"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// A kernelspec in its own data dir: `<prefix>/share/jupyter/kernels/<name>`.
fn kernelspec(prefix: &Path, name: &str, spec: Value) {
    let dir = prefix.join("share/jupyter/kernels").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("kernel.json"), spec.to_string()).unwrap();
}

/// Whether the process is gone: no such pid, or a zombie nobody reaped yet.
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()) == Some("Z"),
    }
}

/// Wait for processes that were signalled to be gone; `false` if they are
/// still there after a generous while (a liveness check, not a timing one).
fn all_gone(pids: &[i32]) -> bool {
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if pids.iter().all(|p| gone(*p)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn decks_forked_from_one_server_start_from_a_fresh_interpreter() {
    let exec = Executor::new(&[venv()]).unwrap();
    let (first, second, elsewhere) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(first.path().join("leaky_helper.py"), "import os\nos.environ['CLX_LEAKED'] = 'yes'\n").unwrap();

    let mut deck = exec.session("python3", first.path()).unwrap();
    assert!(deck.is_forked(), "{:?}", exec.take_notes());
    let server = exec.fork_server_pid("python3").expect("a fork server runs");
    let setup = format!(
        "leaked_variable = 42\nimport leaky_helper, os\nos.chdir({:?})\nprint(os.environ['CLX_LEAKED'], os.getcwd())",
        elsewhere.path().to_str().unwrap()
    );
    assert_eq!(text(&mut deck, &setup), format!("yes {}\n", elsewhere.path().display()));
    drop(deck);

    let mut deck = exec.session("python3", second.path()).unwrap();
    assert!(deck.is_forked());
    assert_eq!(exec.fork_server_pid("python3"), Some(server), "both decks come from the same server");
    let probe = "import os, sys\nprint('leaked_variable' in globals(), 'leaky_helper' in sys.modules, \
                 'CLX_LEAKED' in os.environ, os.getcwd())";
    assert_eq!(text(&mut deck, probe), format!("False False False {}\n", second.path().display()));
    let run = deck.run("import leaky_helper", LIMIT).unwrap();
    assert_eq!(run.error.map(|e| e.ename).as_deref(), Some("ModuleNotFoundError"), "the first deck's files stay there");
}

#[test]
fn a_forked_kernel_fills_a_notebook_exactly_as_a_plain_start_does() {
    let notebook = json!({"cells": [
        {"cell_type": "code", "id": "a", "source": "import sys, os\nprint('out'); print('err', file=sys.stderr)\n{'n': 1}", "metadata": {}, "outputs": []},
        {"cell_type": "code", "id": "b", "source": "from IPython.display import display, HTML, Markdown\ndisplay(HTML('<b>x</b>'), Markdown('*y*'))", "metadata": {}, "outputs": []},
        {"cell_type": "code", "id": "c", "source": "[name for name in dir() if not name.startswith('_')]", "metadata": {}, "outputs": []},
        {"cell_type": "code", "id": "d", "source": "open('data.txt').read(), sys.argv[1:2], __name__", "metadata": {}, "outputs": []},
        {"cell_type": "code", "id": "e", "source": "def f():\n    return 1 / 0\nf()", "metadata": {"tags": ["raises-exception"]}, "outputs": []},
    ]});
    let run = |fork: ForkOptions| {
        let exec = Executor::with_fork(&[venv()], fork).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data.txt"), "seed").unwrap();
        let mut session = exec.session("python3", dir.path()).unwrap();
        let forked = session.is_forked();
        let mut nb = notebook.clone();
        clx_kernel::execute(&mut nb, &mut session, LIMIT).expect("the notebook runs");
        (nb, forked)
    };
    let (forked, was_forked) = run(ForkOptions::default());
    let (plain, was_plain) = run(plain());
    assert!(was_forked && !was_plain);
    assert_eq!(forked, plain);
}

#[test]
fn dropping_the_executor_leaves_no_kernel_and_no_fork_server_behind() {
    let exec = Executor::new(&[venv()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut pids = Vec::new();
    // One kernel shut down after its deck, one still running (with a child
    // process of its own) when the executor goes.
    let finished = exec.session("python3", dir.path()).unwrap();
    pids.extend(finished.pid());
    drop(finished);
    let mut running = exec.session("python3", dir.path()).unwrap();
    pids.extend(running.pid());
    let sleeper = text(&mut running, "import subprocess\nprint(subprocess.Popen(['sleep', '600']).pid)");
    pids.push(sleeper.trim().parse().expect("a pid"));
    pids.extend(exec.fork_server_pid("python3"));
    assert_eq!(pids.len(), 4, "{pids:?}");
    assert!(running.is_forked());
    drop(running);
    drop(exec);
    assert!(all_gone(&pids), "still running: {:?}", pids.iter().filter(|p| !gone(**p)).collect::<Vec<_>>());
}

#[test]
fn a_python_kernelspec_that_does_not_run_ipykernel_launcher_starts_plainly_and_says_why() {
    let prefix = tempfile::tempdir().unwrap();
    let python = venv().join("bin/python");
    let launch = "from ipykernel import kernelapp; kernelapp.launch_new_instance()";
    kernelspec(
        prefix.path(),
        "python-c",
        json!({"argv": [python, "-c", launch, "-f", "{connection_file}"], "display_name": "c", "language": "python"}),
    );
    let exec = Executor::new(&[prefix.path().to_owned(), venv()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut session = exec.session("python-c", dir.path()).unwrap();
    assert!(!session.is_forked());
    assert_eq!(text(&mut session, "6 * 7"), "42");
    let notes = exec.take_notes();
    assert!(
        matches!(notes.as_slice(), [ForkNote::Fallback { kernel, reason }] if kernel == "python-c" && reason.contains("ipykernel_launcher")),
        "{notes:?}"
    );
    drop(session);
    let _again = exec.session("python-c", dir.path()).unwrap();
    assert_eq!(exec.take_notes(), [], "said once");
}

#[test]
fn a_preload_that_starts_a_thread_makes_the_server_unfit_and_kernels_start_plainly() {
    let prefix = tempfile::tempdir().unwrap();
    let modules = tempfile::tempdir().unwrap();
    std::fs::write(
        modules.path().join("starts_a_thread.py"),
        "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n",
    )
    .unwrap();
    let python = venv().join("bin/python");
    kernelspec(
        prefix.path(),
        "python-env",
        json!({
            "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "env", "language": "python",
            "env": {"PYTHONPATH": modules.path()},
        }),
    );
    let fork = ForkOptions { enabled: true, preload: vec!["starts_a_thread".into()] };
    let exec = Executor::with_fork(&[prefix.path().to_owned(), venv()], fork).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut session = exec.session("python-env", dir.path()).unwrap();
    assert!(!session.is_forked());
    assert_eq!(text(&mut session, "import starts_a_thread\n'ok'"), "'ok'");
    let notes = exec.take_notes();
    assert!(
        matches!(notes.as_slice(), [ForkNote::Fallback { reason, .. }] if reason.contains("starts_a_thread started a thread")),
        "{notes:?}"
    );
}

#[test]
fn a_preload_that_cannot_be_imported_is_reported_and_kernels_still_fork() {
    let fork = ForkOptions { enabled: true, preload: vec!["json".into(), "no_such_module_here".into()] };
    let exec = Executor::with_fork(&[venv()], fork).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut session = exec.session("python3", dir.path()).unwrap();
    assert!(session.is_forked());
    assert_eq!(text(&mut session, "import sys\n'json' in sys.modules"), "True");
    let notes = exec.take_notes();
    assert!(matches!(&notes[0], ForkNote::Started { preload, .. } if preload == &["json"]), "{notes:?}");
    assert!(
        matches!(&notes[1], ForkNote::PreloadFailed { module, error, .. }
            if module == "no_such_module_here" && error.contains("ModuleNotFoundError") && notes[1].is_warning()),
        "{notes:?}"
    );
}

#[test]
fn when_the_fork_server_dies_the_next_deck_starts_plainly_and_says_so() {
    let exec = Executor::new(&[venv()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let session = exec.session("python3", dir.path()).unwrap();
    assert!(session.is_forked());
    drop(session);
    let server = exec.fork_server_pid("python3").expect("a fork server runs");
    // SAFETY: kills the server this test started.
    unsafe {
        libc::kill(server, libc::SIGKILL);
    }
    assert!(all_gone(&[server]));
    exec.take_notes();
    let mut session = exec.session("python3", dir.path()).unwrap();
    assert!(!session.is_forked());
    assert_eq!(text(&mut session, "6 * 7"), "42");
    let notes = exec.take_notes();
    assert!(matches!(notes.as_slice(), [ForkNote::Fallback { reason, .. }] if reason.contains("died")), "{notes:?}");
}
