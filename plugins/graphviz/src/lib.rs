//! Graphviz converter: `.dot` / `.gv` -> PNG or SVG via the `dot` program.
//!
//! Written exactly as a third-party plugin would be: it depends on
//! `clx-plugin-api` only and uses nothing the README's plugin guide does not
//! show.
//!
//! ```toml
//! [converters.graphviz]   # clx.toml, optional
//! dot = "/usr/bin/dot"    # default: `dot` from PATH
//! ```

use std::io::Write;
use std::process::{Command, Stdio};

use clx_plugin_api::*;

/// The converter: which `dot` to run. `dot` starts fast, so nothing is kept
/// running between jobs.
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
            serde_json::from_str(config).map_err(|e| format!("[converters.graphviz] is not valid: {e}"))?;
        let dot = match config.get("dot") {
            None => "dot".to_owned(),
            Some(serde_json::Value::String(path)) if !path.is_empty() => path.clone(),
            Some(other) => {
                return Err(format!(
                    "[converters.graphviz] `dot` must be the path of the dot program, not {other}; \
                     fix or remove it in clx.toml"
                ))
            }
        };
        Ok(Graphviz { dot })
    }

    /// `dot -V`: a Graphviz upgrade re-renders every diagram, and a missing
    /// `dot` fails the jobs before they are queued instead of being cached.
    fn tool_identity(&self, _job_type: &str) -> Result<String, String> {
        let out = Command::new(&self.dot).arg("-V").output().map_err(|e| self.missing(e))?;
        // `dot -V` prints its version on stderr.
        Ok(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }

    /// `dot` takes milliseconds, so there is nothing worth cancelling.
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
    use super::*;

    /// Whether `dot` is installed; tests that run it say so and pass when not.
    fn have_dot() -> bool {
        let found = Command::new("dot").arg("-V").output().is_ok();
        if !found {
            eprintln!("`dot` not installed: skipped");
        }
        found
    }

    #[test]
    fn error_line_reads_dots_syntax_error() {
        assert_eq!(error_line("Error: <stdin>: syntax error in line 3 near '->'"), Some(3));
        assert_eq!(error_line("Warning: nothing"), None);
    }

    #[test]
    fn config_errors_name_the_clx_toml_section() {
        for bad in ["not json", r#"{"dot": 3}"#, r#"{"dot": ""}"#] {
            let message = Graphviz::new(bad).err().unwrap_or_default();
            assert!(message.contains("[converters.graphviz]"), "{bad}: {message}");
        }
        assert!(Graphviz::new(r#"{"dot": "/opt/graphviz/bin/dot"}"#).is_ok());
    }

    #[test]
    fn a_missing_dot_fails_tool_identity_saying_how_to_install_it() {
        let graphviz = Graphviz::new(r#"{"dot": "/nonexistent/dot"}"#).expect("config is valid");
        let message = graphviz.tool_identity("graphviz").expect_err("dot is missing");
        assert!(message.contains("cannot run `/nonexistent/dot`"), "{message}");
        assert!(message.contains("install Graphviz"), "{message}");
    }

    #[test]
    fn renders_every_requested_format() {
        if !have_dot() {
            return;
        }
        let graphviz = Graphviz::new("{}").expect("default config");
        let job = Job::new("graphviz", "slides/intro/img/flow.dot", "digraph { a -> b }")
            .with_output("png", "png", "{}")
            .with_output("svg", "svg", "{}");
        let result = Host::standalone(|host| graphviz.convert(&job, host)).expect("renders");
        assert!(result.issues.is_empty(), "{:?}", result.issues);
        assert!(result.bytes("png").is_some_and(|png| png.starts_with(b"\x89PNG")));
        let svg = String::from_utf8_lossy(result.bytes("svg").unwrap_or_default()).into_owned();
        assert!(svg.contains("<svg"), "{svg}");
    }

    #[test]
    fn a_syntax_error_fails_the_output_with_its_line() {
        if !have_dot() {
            return;
        }
        let graphviz = Graphviz::new("{}").expect("default config");
        let job = Job::new("graphviz", "flow.dot", "digraph {\n a -> b\n -> }\n").with_output("png", "png", "{}");
        let result = Host::standalone(|host| graphviz.convert(&job, host)).expect("converts");
        assert_eq!(result.bytes("png"), None);
        assert_eq!(result.issues.len(), 1, "{:?}", result.issues);
        assert_eq!(result.issues[0].severity, Severity::Error);
        assert_eq!(result.issues[0].line.into_option(), Some(3));
    }
}
