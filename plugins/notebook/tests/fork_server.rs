//! Python decks executed in kernels forked from the fork server, as the host
//! runs the plugin, against the real python3 kernel from the tools venv
//! (`scripts/setup`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RStr};
use clx_plugin_api::{Host, HostServices, HostServices_TO, Job, JobResult, LogLevel, OutputRequest, Plugin};
use clx_plugin_notebook::Notebook;
use serde_json::json;

/// A host that keeps the plugin's log lines.
#[derive(Default)]
struct Recorder {
    lines: Mutex<Vec<(LogLevel, String)>>,
}

impl HostServices for Recorder {
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        self.lines.lock().unwrap().push((level, message.to_string()));
    }

    fn progress(&self, _done: u32, _total: u32, _message: RStr<'_>) {}

    fn is_cancelled(&self) -> bool {
        false
    }
}

fn venv() -> std::path::PathBuf {
    let venv = clx_plugin_api::tools_dir().unwrap_or_default().join("venv");
    assert!(venv.join("bin/python").exists(), "{} missing: run scripts/setup", venv.display());
    venv
}

/// Run a deck's executed HTML pages; the pages and the log.
fn run(plugin: &Notebook, deck: &str, path: &str) -> (Vec<String>, Vec<(LogLevel, String)>) {
    let request = |id: &str, kind: &str| OutputRequest {
        id: id.into(),
        format: "html".into(),
        params: format!("{{\"kind\":\"{kind}\"}}").into(),
    };
    let options = json!({"lang": "en", "prog_lang": "python", "execute": true, "course": "fork-server-tests"});
    let job = Job {
        job_type: "notebook".into(),
        source_path: path.into(),
        source: deck.as_bytes().to_vec().into(),
        siblings: Vec::new().into(),
        outputs: vec![request("speaker", "speaker"), request("completed", "completed")].into(),
        options: options.to_string().into(),
        work_dir: "".into(),
    };
    let recorder = Recorder::default();
    let host = Host::new(HostServices_TO::from_ptr(&recorder, TD_Opaque));
    let result: JobResult = plugin.convert(&job, &host).expect("the job runs");
    assert!(result.issues.is_empty(), "{:?}", result.issues);
    let pages = result
        .outputs
        .iter()
        .map(|o| match &o.result {
            RResult::ROk(bytes) => String::from_utf8(bytes.to_vec()).expect("utf-8"),
            RResult::RErr(e) => panic!("output {} failed: {e}", o.id),
        })
        .collect();
    let lines = recorder.lines.lock().unwrap().clone();
    (pages, lines)
}

const DECK: &str = "# %% [markdown] lang=\"en\"\n# Title\n\n# %%\nimport os, sys\nprint('hello')\n\
                    print('warning', file=sys.stderr)\n\n# %%\n{'cwd': os.path.basename(os.getcwd()), 'n': 6 * 7}\n\n\
                    # %%\nfrom IPython.display import HTML\nHTML('<b>bold</b>')\n\n# %% tags=[\"raises-exception\"]\n\
                    def f():\n    return 1 / 0\nf()\n";

#[test]
fn executed_pages_from_a_forked_kernel_are_byte_identical_to_a_plain_start() {
    let forked = Notebook::new("{}").expect("plugin");
    let plain = Notebook::new(r#"{"fork-server": false}"#).expect("plugin");
    let (forked_pages, log) = run(&forked, DECK, "slides/m/slides_same.py");
    assert!(log.iter().any(|(_, l)| l.contains("forking kernels from a server")), "{log:?}");
    let (plain_pages, log) = run(&plain, DECK, "slides/m/slides_same.py");
    assert!(!log.iter().any(|(_, l)| l.contains("fork server")), "{log:?}");
    assert!(forked_pages[0].contains("hello") && forked_pages[0].contains("ZeroDivisionError"));
    assert_eq!(forked_pages, plain_pages);
}

#[test]
fn a_kernelspec_the_server_cannot_fork_is_logged_at_info_and_the_deck_still_runs() {
    let prefix = tempfile::tempdir().unwrap();
    let dir = prefix.path().join("share/jupyter/kernels/python3");
    std::fs::create_dir_all(&dir).unwrap();
    let launch = "from ipykernel import kernelapp; kernelapp.launch_new_instance()";
    let spec = json!({
        "argv": [venv().join("bin/python"), "-c", launch, "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python",
    });
    std::fs::write(dir.join("kernel.json"), spec.to_string()).unwrap();
    let plugin = Notebook::new(&json!({"venv": prefix.path()}).to_string()).expect("plugin");
    let (pages, log) = run(&plugin, DECK, "slides/m/slides_fallback.py");
    assert!(pages[0].contains("hello"), "the deck ran");
    let fallback: Vec<_> = log.iter().filter(|(_, l)| l.contains("without the fork server")).collect();
    assert_eq!(fallback.len(), 1, "{log:?}");
    assert_eq!(fallback[0].0, LogLevel::Info);
    assert!(fallback[0].1.contains("ipykernel_launcher"), "{}", fallback[0].1);
}

#[test]
fn preload_names_that_are_not_python_modules_are_refused() {
    let error = Notebook::new(r#"{"preload": ["numpy", "os; import shutil"]}"#).err().expect("refused");
    assert!(error.contains("`os; import shutil` is not a Python module name"), "{error}");
    assert!(Notebook::new(r#"{"preload": ["numpy", "matplotlib.pyplot", "_x"]}"#).is_ok());
}

/// Whether the process is gone: no such pid, or a zombie nobody reaped yet.
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()) == Some("Z"),
    }
}

#[test]
fn dropping_the_converter_leaves_neither_fork_server_nor_kernels_behind() {
    let plugin = Notebook::new(r#"{"preload": ["json"]}"#).expect("plugin");
    // The kernel names itself, its parent (the fork server) and a process
    // it leaves running.
    let deck = "# %%\nimport os, subprocess\nsleeper = subprocess.Popen(['sleep', '600'])\n\
                print('pids', os.getpid(), os.getppid(), sleeper.pid, 'end')\n";
    let (pages, _) = run(&plugin, deck, "slides/m/slides_pids.py");
    let text = &pages[0];
    let at = text.find("pids ").expect("the pids are printed") + "pids ".len();
    let end = at + text[at..].find(" end").expect("the pids end");
    let pids: Vec<i32> = text[at..end].split(' ').map(|p| p.parse().expect("a pid")).collect();
    let server = pids[1];
    let cmdline = std::fs::read(format!("/proc/{server}/cmdline")).unwrap_or_default();
    assert!(String::from_utf8_lossy(&cmdline).contains("A fork server for ipykernel"), "the kernel was forked");
    drop(plugin);
    let until = Instant::now() + Duration::from_secs(20);
    while !pids.iter().all(|p| gone(*p)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left: Vec<&i32> = pids.iter().filter(|p| !gone(**p)).collect();
    assert!(left.is_empty(), "still running: {left:?} of {pids:?}");
}
