//! PlantUML converter: `.pu` / `.puml` / `.plantuml` -> PNG (200 dpi) or SVG,
//! by the real PlantUML jar. One long-lived JVM per output format in `-pipe`
//! mode serves every diagram of the worker, so N diagrams cost one JVM start.

mod identity;
mod pipe;
mod source;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use clx_plugin_api::*;
use serde::Deserialize;

use crate::pipe::{Answer, PipeError, PipeJvm, Tools};

/// `[converters.plantuml]` in clx.toml.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    jar: Option<PathBuf>,
    java: Option<PathBuf>,
    /// Seconds one diagram may take (default 60).
    timeout: Option<u64>,
}

pub struct PlantUml {
    tools: Result<Tools, String>,
    timeout: Duration,
    jvms: Mutex<HashMap<String, PipeJvm>>,
    /// Tool identity, memoised per jar file as it was when asked.
    version: Mutex<Option<(JarStamp, String)>>,
}

/// A jar is re-identified when it is replaced (path, size or mtime change).
#[derive(Debug, Clone, PartialEq, Eq)]
struct JarStamp {
    path: PathBuf,
    size: u64,
    modified: Option<SystemTime>,
}

impl JarStamp {
    fn of(jar: &std::path::Path) -> Result<JarStamp, String> {
        let meta = std::fs::metadata(jar)
            .map_err(|e| format!("cannot read the PlantUML jar {} ({e}); run scripts/setup", jar.display()))?;
        Ok(JarStamp { path: jar.to_owned(), size: meta.len(), modified: meta.modified().ok() })
    }
}

/// Config, then `PLANTUML_JAR` / `JAVA_HOME`, then the tools dir and `PATH`.
fn find_tools(config: &Config) -> Result<Tools, String> {
    let jar = config
        .jar
        .clone()
        .or_else(|| std::env::var_os("PLANTUML_JAR").map(PathBuf::from))
        .or_else(|| clx_plugin_api::tools_dir().map(|d| d.join("plantuml/plantuml.jar")))
        .filter(|p| p.is_file())
        .ok_or(
            "no PlantUML jar found (set `jar` in [converters.plantuml] or PLANTUML_JAR); install it with scripts/setup",
        )?;
    let java = config
        .java
        .clone()
        .or_else(|| std::env::var_os("JAVA_HOME").map(|h| PathBuf::from(h).join("bin/java")).filter(|p| p.is_file()))
        .unwrap_or_else(|| PathBuf::from("java"));
    Ok(Tools { java, jar })
}

impl PlantUml {
    fn tools(&self) -> Result<&Tools, Issue> {
        self.tools.as_ref().map_err(|m| Issue::error(m.clone()))
    }

    /// Render with the format's JVM; if it died, restart it and try once more.
    fn render(&self, format: &str, block: &str) -> Result<Answer, PipeError> {
        let tools = match &self.tools {
            Ok(tools) => tools,
            Err(message) => return Err(PipeError::Setup(message.clone())),
        };
        let mut jvms = self.jvms.lock().unwrap_or_else(|e| e.into_inner());
        for attempt in 0..2 {
            if !jvms.contains_key(format) {
                jvms.insert(format.to_owned(), PipeJvm::start(tools, format)?);
            }
            let Some(jvm) = jvms.get_mut(format) else { continue };
            match jvm.render(block, self.timeout) {
                Err(PipeError::Died(_) | PipeError::Garbage(_)) if attempt == 0 => {
                    // A dead or confused JVM is replaced; the diagram gets one more try.
                    jvms.remove(format);
                }
                Err(e) => {
                    jvms.remove(format);
                    return Err(e);
                }
                Ok(answer) => return Ok(answer),
            }
        }
        Err(PipeError::Died(String::new()))
    }

    /// The JVM currently serving a format (for tests).
    pub fn jvm_pid(&self, format: &str) -> Option<u32> {
        self.jvms.lock().ok()?.get(format).map(PipeJvm::pid)
    }
}

impl Plugin for PlantUml {
    fn manifest() -> Manifest {
        Manifest::new("plantuml", env!("CARGO_PKG_VERSION"))
            .description("PlantUML diagrams rendered by the PlantUML jar")
            .job_type(
                JobTypeDecl::new("plantuml", Role::Diagram)
                    .description("PlantUML -> PNG (200 dpi) / SVG")
                    .suffixes(&[".pu", ".puml", ".plantuml"])
                    .formats(&["png", "svg"]),
            )
    }

    fn new(config: &str) -> Result<Self, String> {
        let config: Config =
            serde_json::from_str(config).map_err(|e| format!("invalid [converters.plantuml] in clx.toml: {e}"))?;
        Ok(PlantUml {
            tools: find_tools(&config),
            timeout: Duration::from_secs(config.timeout.unwrap_or(60)),
            jvms: Mutex::new(HashMap::new()),
            version: Mutex::new(None),
        })
    }

    fn tool_identity(&self, _job_type: &str) -> Result<String, String> {
        // The jar's version and hash: upgrading it re-renders. The JVM and
        // Graphviz (which lays out most diagrams) belong to it too.
        let tools = self.tools.as_ref().map_err(Clone::clone)?;
        let stamp = JarStamp::of(&tools.jar)?;
        let mut memo = self.version.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((known, identity)) = memo.as_ref() {
            if *known == stamp {
                return Ok(identity.clone());
            }
        }
        let identity = identity::identity(tools)?;
        *memo = Some((stamp, identity.clone()));
        Ok(identity)
    }

    fn convert(&self, job: &Job, _host: &Host<'_>) -> Result<JobResult, Issue> {
        let path = job.source_path.as_str();
        let text = job.source_text()?;
        let block = source::blocks(text).into_iter().next().ok_or_else(|| {
            Issue::error("no diagram found: put the diagram between a `@startuml` line and an `@enduml` line")
                .in_file(path)
        })?;
        let text = source::pipe_text(&block).map_err(|why| {
            Issue::error(format!("cannot render this PlantUML block: {why}")).in_file(path).at_line(block.first_line)
        })?;
        self.tools().map_err(|i| i.in_file(path))?;
        let mut result = JobResult::new();
        for request in job.outputs.iter() {
            let format = request.format.as_str();
            if format != "png" && format != "svg" {
                result.failed_output(&request.id, format!("PlantUML cannot produce `{format}` (png, svg)"));
                continue;
            }
            match self.render(format, &text) {
                Ok(Answer::Image(bytes)) => {
                    result.output(&request.id, bytes);
                }
                Ok(Answer::SyntaxError { line, message }) => {
                    let line = block.first_line + line;
                    let issue = Issue::error(format!("PlantUML: {message}")).in_file(path).at_line(line);
                    result.failed_output(&request.id, issue.message.as_str());
                    if !result.issues.iter().any(|i| i.message == issue.message) {
                        result.issue(issue);
                    }
                }
                Err(e) => {
                    let issue = Issue::error(e.to_string()).in_file(path);
                    result.failed_output(&request.id, issue.message.as_str());
                    result.issue(issue);
                }
            }
        }
        Ok(result)
    }
}

export_plugin!(PlantUml);
