//! HTML variants: executed once per job in a real Jupyter kernel (the
//! speaker cell set), completed HTML takes its outputs from that run by cell
//! id, code-along HTML never runs a kernel.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clx_plugin_api::{Host, Issue, Job, JobResult};
use serde_json::Value;

use crate::html;
use crate::kind::Kind;
use crate::lang::ProgLang;

/// The project's tools venv (`scripts/setup`), where ipykernel lives.
pub fn tools_venv() -> PathBuf {
    clx_plugin_api::tools_dir().unwrap_or_else(|| PathBuf::from(".")).join("venv")
}

/// Cheap stand-in for the kernel's version in the cache key: the venv's
/// ipykernel install (path and modification time).
pub fn kernel_identity() -> String {
    let venv = tools_venv();
    let stamp = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    let kernel = venv.join("share/jupyter/kernels/python3/kernel.json");
    format!("python3 kernel {} ({})", kernel.display(), stamp(&kernel))
}

fn seed_work_dir(job: &Job) -> Result<PathBuf, String> {
    let dir = Path::new(job.work_dir.as_str()).join("kernel");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for file in job.siblings.iter() {
        let rel = file.path.as_str();
        if rel.split('/').any(|c| c == ".." || c.is_empty()) {
            continue;
        }
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, file.bytes.as_slice()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(dir)
}

fn has_code(nb: &Value) -> bool {
    nb["cells"].as_array().is_some_and(|c| c.iter().any(|c| c["cell_type"] == "code"))
}

/// Run the speaker notebook; one retry on a fresh kernel if the kernel died.
fn run(
    speaker: &Value,
    prog_lang: ProgLang,
    job: &Job,
    executor: &clx_kernel::Executor,
    timeout: Duration,
    host: &Host<'_>,
) -> Result<Value, Issue> {
    let path = job.source_path.as_str();
    let kernel = clx_kernel::kernel_for(prog_lang.name())
        .ok_or_else(|| Issue::error(format!("no Jupyter kernel is known for {}", prog_lang.name())).in_file(path))?;
    let dir = seed_work_dir(job).map_err(|m| Issue::error(m).in_file(path))?;
    let mut last = None;
    for attempt in 0..2 {
        let mut nb = speaker.clone();
        let mut session = executor.session(kernel, &dir).map_err(|e| Issue::error(e.to_string()).in_file(path))?;
        match clx_kernel::execute(&mut nb, &mut session, timeout) {
            Ok(()) => return Ok(nb),
            Err(e) if e.is_kernel_death() && attempt == 0 => {
                host.warn(&format!("{path}: {e}; retrying with a fresh kernel"));
                last = Some(e);
            }
            Err(clx_kernel::ExecuteError::CellFailed { cell, ename, evalue, excerpt, traceback }) => {
                let message = format!(
                    "raised {ename}: {evalue}\n--- cell {cell} ---\n{excerpt}\n--- traceback ---\n{traceback}\n\
                     (tag the cell `raises-exception` if the error is intended)"
                );
                return Err(Issue::error(message).in_file(path).at_cell(cell as u32));
            }
            Err(e) => return Err(Issue::error(e.to_string()).in_file(path)),
        }
    }
    Err(Issue::error(last.map(|e| e.to_string()).unwrap_or_default()).in_file(path))
}

/// Answer the HTML requests `(id, kind, notebook of that variant)` of a job.
/// The speaker notebook is executed once; executed kinds take its outputs.
pub fn html_outputs(
    requests: Vec<(String, Kind, Value)>,
    speaker: Option<Value>,
    prog_lang: ProgLang,
    job: &Job,
    executor: Option<Result<&clx_kernel::Executor, String>>,
    timeout: Duration,
    host: &Host<'_>,
    result: &mut JobResult,
) {
    let path = job.source_path.as_str();
    let wants_run = requests.iter().any(|(_, k, _)| *k != Kind::CodeAlong);
    let executed: Option<Result<Value, Issue>> = match (executor, speaker) {
        (Some(exec), Some(speaker)) if wants_run && has_code(&speaker) => Some(match exec {
            Ok(exec) => run(&speaker, prog_lang, job, exec, timeout, host),
            Err(e) => Err(Issue::error(format!("cannot start Jupyter kernels: {e}; run scripts/setup")).in_file(path)),
        }),
        _ => None,
    };
    if let Some(Err(issue)) = &executed {
        result.issue(issue.clone());
    }
    for (id, kind, mut nb) in requests {
        if kind != Kind::CodeAlong {
            match &executed {
                Some(Ok(done)) => clx_kernel::copy_outputs(done, &mut nb),
                Some(Err(issue)) => {
                    result.failed_output(&id, issue.message.as_str());
                    continue;
                }
                None => {}
            }
        }
        result.output(&id, html::render(&nb, prog_lang).into_bytes());
    }
}
