//! Graphviz converter: `.dot` / `.gv` -> PNG or SVG via the `dot` program.
//!
//! Written exactly as a third-party plugin would be: it depends on
//! `clx-plugin-api` only, implements `Plugin`, and exports it.

use std::io::Write;
use std::process::{Command, Stdio};

use clx_plugin_api::*;

pub struct Graphviz {
    dot: String,
}

impl Plugin for Graphviz {
    fn manifest() -> Manifest {
        Manifest::new("graphviz", env!("CARGO_PKG_VERSION"))
            .description("Graphviz diagrams rendered by `dot`")
            .job_type(
                JobTypeDecl::new("graphviz", Role::Diagram)
                    .description("Graphviz .dot/.gv -> PNG/SVG")
                    .suffixes(&[".dot", ".gv"])
                    .formats(&["png", "svg"]),
            )
    }

    fn new(config: &str) -> Result<Self, String> {
        let config: serde_json::Value =
            serde_json::from_str(config).map_err(|e| format!("invalid [plugins.graphviz] config: {e}"))?;
        let dot = config.get("dot").and_then(|v| v.as_str()).unwrap_or("dot").to_owned();
        Ok(Graphviz { dot })
    }

    fn tool_identity(&self, _job_type: &str) -> Result<String, String> {
        let out = Command::new(&self.dot).arg("-V").output().map_err(|e| self.missing(e))?;
        // `dot -V` prints its version on stderr.
        Ok(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }

    fn convert(&self, job: &Job, _host: &Host<'_>) -> Result<JobResult, Issue> {
        let mut result = JobResult::new();
        for out in job.outputs.iter() {
            match self.render(&job.source, &out.format) {
                Ok(bytes) => result.output(&out.id, bytes),
                Err(issue) => result.failed_output(&out.id, issue.message.as_str()).issue(issue),
            };
        }
        Ok(result)
    }
}

impl Graphviz {
    fn missing(&self, e: std::io::Error) -> String {
        format!("cannot run `{}` ({e}); install Graphviz: scripts/setup (or apt-get install graphviz)", self.dot)
    }

    fn render(&self, source: &[u8], format: &str) -> Result<Vec<u8>, Issue> {
        if format != "png" && format != "svg" {
            return Err(Issue::error(format!("graphviz cannot produce `{format}` (png, svg)")));
        }
        let mut child = Command::new(&self.dot)
            .arg(format!("-T{format}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Issue::error(self.missing(e)))?;
        // Write stdin from a thread: dot may fill stdout before it has read all input.
        let mut stdin = child.stdin.take().ok_or_else(|| Issue::error("dot has no stdin"))?;
        let input = source.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().map_err(|e| Issue::error(format!("dot failed: {e}")))?;
        let _ = writer.join();
        if out.status.success() && !out.stdout.is_empty() {
            return Ok(out.stdout);
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        let mut issue = Issue::error(format!("dot: {stderr}"));
        if let Some(line) = error_line(&stderr) {
            issue = issue.at_line(line);
        }
        Err(issue)
    }
}

/// `dot` reports syntax errors as "... syntax error in line 3 near ...".
fn error_line(stderr: &str) -> Option<u32> {
    let rest = &stderr[stderr.find("in line ")? + "in line ".len()..];
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

export_plugin!(Graphviz);

#[cfg(test)]
mod tests {
    #[test]
    fn error_line_reads_dots_syntax_error() {
        assert_eq!(super::error_line("Error: <stdin>: syntax error in line 3 near '->'"), Some(3));
        assert_eq!(super::error_line("Warning: nothing"), None);
    }
}
