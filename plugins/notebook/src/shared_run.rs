//! A deck's run handed from one language's job to the other's within a
//! build.
//!
//! The German and English pages of a deck usually run the same code cells:
//! only the prose differs. Running them twice costs a kernel per deck and
//! language, most of a cold build's time. So the first language's job keeps
//! the outputs of its run in the folder this build's workers share
//! ([`clx_plugin_api::shared_dir`]), under a key of everything that decides
//! what the code prints (the deck file and its siblings, the job options but
//! the page language, the kernel, the cell time-out and the code cells as
//! they run), and the second language's job renders its pages from them.
//! The host queues every deck of the first language before any of the
//! second, so the run is usually done when it is looked for; a job that
//! comes while the run is still going waits for it (a lock per key).
//!
//! The folder lives as long as one build: what a page shows is always this
//! build's own run. Only runs that succeeded are kept: a failing run is run
//! again, so each language reports its failing cell at its own line. Decks
//! whose languages run different code (a code cell tagged with a language)
//! have different keys and run twice, as before.

use std::path::PathBuf;

use serde_json::Value;
use sha3::{Digest, Sha3_256};

use crate::execute::RunContext;

/// Where one run's outputs are kept in the shared folder.
pub struct SharedRun {
    path: PathBuf,
}

impl SharedRun {
    /// The place of the run of `notebook` (the speaker notebook, as it will
    /// run) for this job; `None` when the build's workers share no folder.
    pub fn find(notebook: &Value, ctx: &RunContext<'_>) -> Option<SharedRun> {
        let dir = clx_plugin_api::shared_dir()?;
        Some(SharedRun { path: dir.join("notebook-runs").join(format!("{}.json", key(notebook, ctx))) })
    }

    /// Wait while another job of the build runs the same code, then hold
    /// it off until the returned lock is dropped: a job that finds no kept
    /// run runs the code holding it, so the other language's job waits for
    /// that run instead of starting a second one beside it. `None` when the
    /// lock cannot be had (each job then runs on its own).
    pub fn lock(&self) -> Option<std::fs::File> {
        let dir = self.path.parent()?;
        std::fs::create_dir_all(dir).ok()?;
        clx_kernel::rundir::lock_exclusive(&self.path.with_extension("lock")).ok()
    }

    /// `notebook` with the outputs of the kept run, and the run directory
    /// that run's outputs name (as pages show it); `None` when there is no
    /// kept run, or one that does not fit.
    pub fn take(&self, notebook: &Value) -> Option<(Value, String)> {
        let kept: Value = serde_json::from_slice(&std::fs::read(&self.path).ok()?).ok()?;
        let runs = kept["cells"].as_array()?;
        let mut nb = notebook.clone();
        let cells: Vec<&mut Value> =
            nb["cells"].as_array_mut()?.iter_mut().filter(|c| c["cell_type"] == "code").collect();
        if cells.len() != runs.len() {
            return None;
        }
        for (cell, run) in cells.into_iter().zip(runs) {
            cell["outputs"] = run["outputs"].clone();
            cell["execution_count"] = run["execution_count"].clone();
        }
        Some((nb, kept["run_dir"].as_str()?.to_owned()))
    }

    /// Keep the outputs of `executed`, whose run directory pages show as
    /// `run_dir`. Written under a temporary name and renamed, so a reader
    /// never sees half of it; a run that cannot be kept is simply run again.
    pub fn keep(&self, executed: &Value, run_dir: &str) {
        let Some(cells) = executed["cells"].as_array() else { return };
        let runs: Vec<Value> = cells
            .iter()
            .filter(|c| c["cell_type"] == "code")
            .map(|c| serde_json::json!({"outputs": c["outputs"], "execution_count": c["execution_count"]}))
            .collect();
        let kept = serde_json::json!({"run_dir": run_dir, "cells": runs});
        let Some(dir) = self.path.parent() else { return };
        let temp = self.path.with_extension(format!("{}.part", std::process::id()));
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&temp, kept.to_string()))
            .and_then(|()| std::fs::rename(&temp, &self.path));
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
    }
}

/// Everything that decides what the run prints, hashed: the deck file (both
/// languages' jobs carry the same), its path, its siblings, the options
/// without the page language, the kernel, the cell time-out, and each code
/// cell to run with its metadata (its tags decide how a failure counts).
fn key(notebook: &Value, ctx: &RunContext<'_>) -> String {
    let mut hasher = Sha3_256::new();
    let mut part = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    let job = ctx.job;
    part(job.source.as_slice());
    part(job.source_path.as_bytes());
    let mut options: Value = serde_json::from_str(job.options.as_str()).unwrap_or(Value::Null);
    if let Some(fields) = options.as_object_mut() {
        fields.remove("lang");
    }
    part(options.to_string().as_bytes());
    for sibling in job.siblings.iter() {
        part(sibling.path.as_bytes());
        part(sibling.bytes.as_slice());
    }
    part(ctx.prog_lang.name().as_bytes());
    part(ctx.kernel.as_bytes());
    part(&ctx.timeout.as_millis().to_le_bytes());
    let code = notebook["cells"].as_array().into_iter().flatten().filter(|c| c["cell_type"] == "code");
    for cell in code {
        part(cell["source"].to_string().as_bytes());
        part(cell["metadata"].to_string().as_bytes());
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::ProgLang;
    use clx_plugin_api::Job;
    use std::time::Duration;

    fn ctx<'a>(job: &'a Job, lang: &'a str) -> RunContext<'a> {
        RunContext {
            job,
            prog_lang: ProgLang::parse("python").unwrap(),
            lang,
            course: None,
            kernel: "python3",
            timeout: Duration::from_secs(120),
            source: "",
        }
    }

    fn notebook(code: &[&str], prose: &str) -> Value {
        let mut cells = vec![serde_json::json!({"cell_type": "markdown", "source": prose, "metadata": {}})];
        for (i, c) in code.iter().enumerate() {
            cells.push(serde_json::json!({"cell_type": "code", "id": format!("{prose}{i}"), "source": c,
                "metadata": {}, "outputs": [], "execution_count": null}));
        }
        serde_json::json!({"cells": cells})
    }

    fn job(options: &str) -> Job {
        let mut job = Job::new("notebook", "slides/t/slides_a.py", "# deck\n");
        job.options = options.into();
        job
    }

    #[test]
    fn the_languages_of_a_deck_share_a_key_when_they_run_the_same_code() {
        let (de, en) = (job(r#"{"lang":"de","prog_lang":"python"}"#), job(r#"{"lang":"en","prog_lang":"python"}"#));
        let same = key(&notebook(&["print(1)"], "Hallo"), &ctx(&de, "de"));
        assert_eq!(same, key(&notebook(&["print(1)"], "Hello"), &ctx(&en, "en")), "prose and page language differ");
        assert_ne!(same, key(&notebook(&["print(2)"], "Hello"), &ctx(&en, "en")), "the code differs");
        let other = job(r#"{"lang":"en","prog_lang":"python","requirements":"numpy"}"#);
        assert_ne!(same, key(&notebook(&["print(1)"], "Hello"), &ctx(&other, "en")), "the options differ");
        let mut sibling = job(r#"{"lang":"en","prog_lang":"python"}"#);
        sibling.siblings.push(clx_plugin_api::InputFile { path: "data.csv".into(), bytes: b"1,2".to_vec().into() });
        assert_ne!(same, key(&notebook(&["print(1)"], "Hello"), &ctx(&sibling, "en")), "a sibling differs");
    }

    #[test]
    fn a_kept_run_gives_its_outputs_to_the_other_languages_code_cells_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedRun { path: dir.path().join("runs/k.json") };
        let mut executed = notebook(&["1", "2"], "Hallo");
        executed["cells"][1]["outputs"] = serde_json::json!([{"output_type": "stream", "text": "one"}]);
        executed["cells"][1]["execution_count"] = 1.into();
        executed["cells"][2]["execution_count"] = 2.into();
        assert!(shared.take(&executed).is_none(), "nothing kept yet");
        shared.keep(&executed, "$CLX_HOME/run/de");
        let (got, run_dir) = shared.take(&notebook(&["1", "2"], "Hello")).unwrap();
        assert_eq!(run_dir, "$CLX_HOME/run/de");
        assert_eq!(got["cells"][0]["source"], "Hello", "this language's prose stays");
        assert_eq!(got["cells"][1]["outputs"][0]["text"], "one");
        assert_eq!(got["cells"][1]["id"], "Hello0", "this language's cell ids stay");
        assert_eq!(got["cells"][2]["execution_count"], 2);
        assert!(shared.take(&notebook(&["1"], "Hello")).is_none(), "another number of code cells does not fit");
        assert_eq!(std::fs::read_dir(dir.path().join("runs")).unwrap().count(), 1, "no temporary file left");
    }
}
