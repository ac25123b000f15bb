//! Executing a whole nbformat 4 notebook (as JSON) in one kernel session,
//! and carrying its outputs over to a filtered variant of the same deck.

use std::time::Duration;

use serde_json::Value;

use crate::executor::Session;
use crate::KernelError;

/// Why executing a notebook stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// A cell raised and was not tagged `raises-exception`.
    #[error("cell {cell} raised {ename}: {evalue}")]
    CellFailed {
        /// 1-based index among all cells of the notebook.
        cell: usize,
        ename: String,
        evalue: String,
        /// The first lines of the cell's source.
        excerpt: String,
        /// The traceback, ANSI colour codes removed.
        traceback: String,
    },
    #[error("cell {cell}: {source}")]
    Kernel { cell: usize, source: KernelError },
}

impl ExecuteError {
    /// Whether a fresh kernel might succeed (the kernel died; the cell did not fail).
    pub fn is_kernel_death(&self) -> bool {
        matches!(self, ExecuteError::Kernel { source, .. } if source.is_kernel_death())
    }
}

fn source_text(cell: &Value) -> String {
    match &cell["source"] {
        Value::String(s) => s.clone(),
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

fn has_tag(cell: &Value, tag: &str) -> bool {
    cell["metadata"]["tags"].as_array().is_some_and(|t| t.iter().any(|x| x == tag))
}

/// Run every code cell of `notebook` in order, filling in outputs and
/// execution counts. Cells tagged `skip-execution` are left alone; a cell
/// tagged `raises-exception` may raise.
pub fn execute(notebook: &mut Value, session: &mut Session<'_>, cell_timeout: Duration) -> Result<(), ExecuteError> {
    execute_until(notebook, session, cell_timeout, &|| false)
}

/// [`execute`], stopped when `stop` turns true (the job was cancelled or
/// passed its time limit): the running cell's kernel is killed.
pub fn execute_until(
    notebook: &mut Value,
    session: &mut Session<'_>,
    cell_timeout: Duration,
    stop: &dyn Fn() -> bool,
) -> Result<(), ExecuteError> {
    let Some(cells) = notebook["cells"].as_array_mut() else { return Ok(()) };
    for (index, cell) in cells.iter_mut().enumerate() {
        if cell["cell_type"] != "code" || has_tag(cell, "skip-execution") {
            continue;
        }
        let code = source_text(cell);
        let run = session
            .run_until(&code, cell_timeout, stop)
            .map_err(|source| ExecuteError::Kernel { cell: index + 1, source })?;
        cell["outputs"] = Value::Array(run.outputs);
        cell["execution_count"] = run.execution_count.map(Value::from).unwrap_or(Value::Null);
        if let Some(error) = run.error {
            if !has_tag(cell, "raises-exception") {
                let excerpt: Vec<&str> = code.lines().take(5).collect();
                return Err(ExecuteError::CellFailed {
                    cell: index + 1,
                    ename: error.ename,
                    evalue: error.evalue,
                    excerpt: excerpt.join("\n"),
                    traceback: strip_ansi(&error.traceback.join("\n")),
                });
            }
        }
    }
    Ok(())
}

/// Copy outputs and execution counts from an executed notebook into another
/// variant of the same deck, matching cells by id (the variants share ids).
pub fn copy_outputs(executed: &Value, target: &mut Value) {
    let Some(source_cells) = executed["cells"].as_array() else { return };
    let Some(cells) = target["cells"].as_array_mut() else { return };
    for cell in cells.iter_mut().filter(|c| c["cell_type"] == "code") {
        if let Some(done) = source_cells.iter().find(|c| c["id"] == cell["id"] && c["cell_type"] == "code") {
            cell["outputs"] = done["outputs"].clone();
            cell["execution_count"] = done["execution_count"].clone();
        }
    }
}

/// Remove ANSI escape sequences, for terminal-free reports.
pub fn strip_ansi(text: &str) -> String {
    strip_ansi_escapes::strip_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_ansi_removes_colour_codes_only() {
        let s = "\u{1b}[0;31mZeroDivisionError\u{1b}[0m: division by zero \u{1b}]8;;x\u{7}link";
        assert_eq!(strip_ansi(s), "ZeroDivisionError: division by zero link");
    }

    #[test]
    fn outputs_follow_cell_ids() {
        let executed = serde_json::json!({"cells": [
            {"cell_type": "code", "id": "a", "outputs": [{"output_type": "stream"}], "execution_count": 1},
            {"cell_type": "code", "id": "b", "outputs": [], "execution_count": 2}
        ]});
        let mut completed = serde_json::json!({"cells": [
            {"cell_type": "markdown", "id": "m"},
            {"cell_type": "code", "id": "a", "outputs": [], "execution_count": null}
        ]});
        copy_outputs(&executed, &mut completed);
        assert_eq!(completed["cells"][1]["execution_count"], 1);
        assert_eq!(completed["cells"][1]["outputs"][0]["output_type"], "stream");
    }
}
