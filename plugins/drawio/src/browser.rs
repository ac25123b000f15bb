//! One headless Chromium with the draw.io web app loaded, kept for the
//! worker's lifetime; one page reused for every diagram.
//!
//! Driven over the DevTools protocol with `chromiumoxide` (its CDP types are
//! generated ahead of time, so building needs no network; the browser
//! fetcher is off and Debian's Chromium is used), on a small tokio runtime
//! of the converter's own behind a synchronous face.
//!
//! The page may read nothing but the draw.io app's own files (and the sketch
//! font) and `data:` URIs: a diagram is author input, and an `<image>` in it
//! must not make the build read `/etc/passwd` into an SVG or talk to a server.
//! Every request the page makes is paused by the DevTools `Fetch` domain and
//! only those are let through; the rest fail and are reported, so the
//! converter can warn about the reference. Proxy and resolver flags close the
//! network as well, for anything the interception might not see.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::fetch::{
    ContinueRequestParams, EnableParams as FetchEnableParams, EventRequestPaused, FailRequestParams,
    FulfillRequestParams, HeaderEntry, RequestPattern,
};
use chromiumoxide::cdp::browser_protocol::network::ErrorReason;
use chromiumoxide::cdp::browser_protocol::page::{CaptureScreenshotFormat, PrintToPdfParams, Viewport};
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures::StreamExt;
use serde::Deserialize;

/// Renders before the page is replaced by a fresh one.
const RECYCLE_AFTER: usize = 200;

#[derive(Debug, Clone, Deserialize)]
pub struct Bounds {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

#[derive(Debug, Deserialize)]
struct Rendered {
    bounds: Bounds,
    pages: usize,
}

#[derive(Debug, Clone)]
pub struct Engine {
    pub chromium: PathBuf,
    pub app: PathBuf,
    pub font_css: Option<PathBuf>,
}

impl Engine {
    /// Folders whose files the page may load: the app and the font's folder.
    fn allowed_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.app.clone()];
        dirs.extend(self.font_css.as_ref().and_then(|css| css.parent()).map(Path::to_path_buf));
        // The page sees the paths as given; a symlinked install resolves elsewhere.
        let canonical: Vec<PathBuf> = dirs.iter().filter_map(|d| d.canonicalize().ok()).collect();
        dirs.extend(canonical);
        dirs
    }
}

/// What one render produced.
pub struct Output {
    pub bytes: Vec<u8>,
    pub pages: usize,
    /// URLs the diagram asked for that were refused (outside images).
    pub refused: Vec<String>,
}

/// How long the browser took to become ready, phase by phase.
#[derive(Debug, Clone, Copy)]
pub struct StartTimes {
    /// Chromium's process until its DevTools socket answers.
    pub launch: Duration,
    /// A blank page with the request filter in place.
    pub page: Duration,
    /// The draw.io export page loaded and prepared.
    pub app: Duration,
}

pub struct Session {
    rt: tokio::runtime::Runtime,
    browser: Browser,
    page: Page,
    /// The page pages are printed on, opened with the first print.
    printer: Option<Printer>,
    renders: usize,
    refused: Arc<Mutex<Vec<String>>>,
    pub times: StartTimes,
    /// Chromium profile and the launcher script.
    _dir: tempfile::TempDir,
    /// Chromium's own temp dir when the worker's is too deep for a socket.
    _short: Option<tempfile::TempDir>,
}

fn err(context: &str, e: impl std::fmt::Display) -> String {
    format!("{context}: {e}")
}

const FLAGS: [&str; 17] = [
    "--disable-gpu",
    // One process instead of a browser, a zygote, a renderer and a network
    // service: a third less CPU to start (it competes with the decks for
    // the cores) and a fraction of the memory. What a separate renderer
    // would isolate is already fenced off by the request filter, and a
    // crashed renderer ends the session, which restarts for the next job.
    "--single-process",
    "--no-zygote",
    // No profile databases written (and synced) at start; the page keeps
    // nothing between sessions anyway.
    "--incognito",
    // The full browser's hinting on Linux; the headless build's default
    // (full) draws web fonts a pixel wider here and there.
    "--font-render-hinting=slight",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
    "--disable-dev-shm-usage",
    "--allow-file-access-from-files",
    // No name resolves and every http(s)/ws connection, loopback included,
    // goes to a proxy that does not exist.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://0.0.0.0:9",
    "--proxy-bypass-list=<-loopback>",
];

/// Chromium binds its singleton socket at
/// `$TMPDIR/org.chromium.Chromium.XXXXXX/SingletonSocket`; a Unix socket
/// path holds at most 107 bytes, so a longer `TMPDIR` (a deep `CLX_HOME`)
/// kills Chromium at start.
const SOCKET_SUFFIX: usize = "/org.chromium.Chromium.XXXXXX/SingletonSocket".len();
const SOCKET_PATH_MAX: usize = 107;
/// Prefix of the short temp dirs made in `/tmp`; the worker's pid follows,
/// so one left by a killed worker can be recognised and removed.
const SHORT_PREFIX: &str = "clx-drawio-";

/// A temp dir for Chromium short enough for its socket, when the inherited
/// one is not: a fresh folder in `/tmp`, removed when the session ends.
fn short_tmpdir(tmp: &Path) -> Result<Option<tempfile::TempDir>, String> {
    if tmp.as_os_str().len() + SOCKET_SUFFIX <= SOCKET_PATH_MAX {
        return Ok(None);
    }
    let base = Path::new("/tmp");
    sweep_short_dirs(base);
    tempfile::Builder::new()
        .prefix(&format!("{SHORT_PREFIX}{}-", std::process::id()))
        .tempdir_in(base)
        .map(Some)
        .map_err(|e| {
            format!(
                "the temp dir {} is too long for Chromium's socket ({} bytes; at most {} fit) and no short folder \
                 could be made in /tmp ({e}); set CLX_HOME to a shorter path",
                tmp.display(),
                tmp.as_os_str().len() + SOCKET_SUFFIX,
                SOCKET_PATH_MAX
            )
        })
}

/// Remove short temp dirs whose worker died without cleaning up.
fn sweep_short_dirs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(SHORT_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() && !clx_sys::process::alive(pid) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Chromium's own explanation of a failed start: its fatal lines, else its
/// last words.
fn launch_error(chromium: &Path, e: chromiumoxide::error::CdpError) -> String {
    use chromiumoxide::error::CdpError;
    let stderr = match &e {
        CdpError::LaunchExit(_, s) | CdpError::LaunchTimeout(s) | CdpError::LaunchIo(_, s) => {
            String::from_utf8_lossy(s.as_slice()).into_owned()
        }
        _ => String::new(),
    };
    let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let fatal: Vec<&str> = lines.iter().copied().filter(|l| l.contains("FATAL")).collect();
    let said = if fatal.is_empty() { lines.last().copied().unwrap_or_default().to_owned() } else { fatal.join("; ") };
    match e {
        CdpError::Io(io) => {
            format!("cannot run Chromium at {} ({io}); install it with scripts/setup", chromium.display())
        }
        CdpError::LaunchExit(status, _) => {
            format!("Chromium ({}) exited at start ({status}): {said}", chromium.display())
        }
        CdpError::LaunchTimeout(_) => {
            format!("Chromium ({}) did not open its DevTools port within 60 s: {said}", chromium.display())
        }
        other => format!("cannot start Chromium ({}): {other}", chromium.display()),
    }
}

/// Whether the page may load `url`: `data:` and files under `allowed`.
fn permitted(url: &str, allowed: &[PathBuf]) -> bool {
    if url.starts_with("data:") {
        return true;
    }
    let Some(path) = file_path(url) else { return false };
    // Chromium hands URLs over canonical, but a `..` must never climb out.
    if path.split('/').any(|seg| seg == "..") {
        return false;
    }
    let path = Path::new(&path);
    allowed.iter().any(|dir| path.starts_with(dir))
}

/// The path a `file://` URL names, without query and fragment.
fn file_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("file://")?;
    percent_decode(rest.split(['?', '#']).next().unwrap_or_default())
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `page` (blank) with every request paused and let through only when
/// [`permitted`] by the folders in `allowed` at that moment; the refused
/// URLs are recorded in `refused`. A request for the `served` page is
/// answered with its HTML.
async fn filtered_page(
    page: Page,
    allowed: Arc<Mutex<Vec<PathBuf>>>,
    refused: Arc<Mutex<Vec<String>>>,
    served: Option<Served>,
) -> Result<Page, String> {
    let mut paused = page.event_listener::<EventRequestPaused>().await.map_err(|e| err("request filter", e))?;
    let filter_page = page.clone();
    tokio::spawn(async move {
        while let Some(event) = paused.next().await {
            let url = event.request.url.clone();
            let id = event.request_id.clone();
            let ok = permitted(&url, &allowed.lock().unwrap_or_else(|e| e.into_inner()));
            // Recorded before the request fails, so the render that
            // asked for it finds it when it finishes.
            let answer = if let Some(page) = served.as_ref().filter(|p| file_path(&url) == Some(p.path.clone())) {
                let mut fulfil = FulfillRequestParams::new(id, 200);
                fulfil.response_headers = Some(vec![HeaderEntry::new("Content-Type", "text/html; charset=utf-8")]);
                fulfil.body = Some(base64::engine::general_purpose::STANDARD.encode(page.html).into());
                filter_page.execute(fulfil).await.map(|_| ())
            } else if ok {
                filter_page.execute(ContinueRequestParams::new(id)).await.map(|_| ())
            } else {
                refused.lock().unwrap_or_else(|e| e.into_inner()).push(url);
                filter_page.execute(FailRequestParams::new(id, ErrorReason::BlockedByClient)).await.map(|_| ())
            };
            // The page went away; the session notices on its next call.
            if answer.is_err() {
                break;
            }
        }
    });
    let all = RequestPattern::builder().url_pattern("*").build();
    page.execute(FetchEnableParams::builder().pattern(all).build()).await.map_err(|e| err("request filter", e))?;
    Ok(page)
}

impl Session {
    pub fn start(engine: &Engine) -> Result<Session, String> {
        let tmp = std::env::temp_dir();
        let short = short_tmpdir(&tmp)?;
        let dir = tempfile::Builder::new().prefix("clx-drawio-").tempdir().map_err(|e| err("temp dir", e))?;
        // Chromium must die with its worker even when the host is killed:
        // a launcher sets the parent-death signal, then execs Chromium.
        let launcher = dir.path().join("chromium");
        std::fs::write(
            &launcher,
            format!("#!/bin/sh\nexec setpriv --pdeathsig KILL {} \"$@\"\n", engine.chromium.display()),
        )
        .map_err(|e| err("launcher", e))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755)).map_err(|e| err("launcher", e))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| err("runtime", e))?;
        let mut config = BrowserConfig::builder()
            .chrome_executable(&launcher)
            .no_sandbox()
            .user_data_dir(dir.path().join("profile"))
            .launch_timeout(Duration::from_secs(60))
            .request_timeout(Duration::from_secs(60))
            .viewport(None)
            .args(FLAGS)
            // The first tab is the page: no second tab (and renderer) to
            // open. It must start blank: a document that loaded before the
            // request filter was in place keeps loading files unfiltered.
            .arg("about:blank");
        if let Some(short) = &short {
            config = config.env("TMPDIR", short.path().display().to_string());
        }
        let config = config.build().map_err(|e| err("browser options", e))?;
        let chromium = engine.chromium.clone();
        let allowed = Arc::new(Mutex::new(engine.allowed_dirs()));
        let served = Served { path: engine.app.join(EXPORT_PAGE).display().to_string(), html: EXPORT_HTML };
        let refused = Arc::new(Mutex::new(Vec::new()));
        let filter_refused = Arc::clone(&refused);
        let started = Instant::now();
        // Launched from a task on the runtime's own thread, which lives as
        // long as the session: the parent-death signal follows the thread
        // that forked, and the caller may be a short-lived starter thread.
        let launched = rt.block_on(rt.spawn(async move {
            let (browser, mut handler) = Browser::launch(config).await.map_err(|e| launch_error(&chromium, e))?;
            tokio::spawn(async move { while handler.next().await.is_some() {} });
            let launch = started.elapsed();
            // Chromium's own first tab: opening a second one costs a renderer.
            let page = filtered_page(first_tab(&browser).await?, allowed, filter_refused, Some(served)).await?;
            Ok::<_, String>((browser, page, launch))
        }));
        let (browser, page, launch) = launched.map_err(|e| err("browser start", e))??;
        let page_ready = started.elapsed();
        let times = StartTimes { launch, page: page_ready - launch, app: Duration::ZERO };
        let mut session =
            Session { rt, browser, page, printer: None, renders: 0, refused, times, _dir: dir, _short: short };
        session.load(engine)?;
        session.times.app = started.elapsed() - page_ready;
        Ok(session)
    }

    fn eval(&self, js: &str) -> Result<serde_json::Value, String> {
        let params = EvaluateParams::builder()
            .expression(js)
            .await_promise(true)
            .return_by_value(true)
            .build()
            .map_err(|e| err("evaluate", e))?;
        let result = self.rt.block_on(self.page.evaluate_expression(params)).map_err(|e| err("draw.io page", e))?;
        Ok(result.value().cloned().unwrap_or(serde_json::Value::Null))
    }

    /// Most of a browser's start is this load: V8 compiling and running the
    /// 2 MB viewer bundle. Its compiled code is not kept between browsers:
    /// Chromium keeps code caches only for scripts fetched over HTTP(S), not
    /// for `file://`, and DevTools' `Page.produceCompilationCache` keeps what
    /// it produces inside the renderer (Chromium 156 sends no
    /// `compilationCacheProduced` event), so there is nothing to store.
    fn load(&mut self, engine: &Engine) -> Result<(), String> {
        let url = export_url(&engine.app);
        self.rt
            .block_on(async {
                self.page.goto(url).await?;
                self.page.wait_for_navigation().await.map(|_| ())
            })
            .map_err(|e| err("open the draw.io export page", e))?;
        if let Some(css) = &engine.font_css {
            let url = serde_json::to_string(&format!("file://{}", css.display())).unwrap_or_default();
            self.eval(&format!("window.__clxFontCss = {url}; true"))?;
        }
        self.eval(include_str!("../js/setup.js"))?;
        self.renders = 0;
        Ok(())
    }

    /// Render `xml` on the page; returns the bounds and the page count.
    fn render(
        &mut self,
        engine: &Engine,
        xml: &str,
        format: &str,
        scale: f64,
        border: u32,
    ) -> Result<(Bounds, usize), String> {
        if self.renders >= RECYCLE_AFTER {
            self.load(engine)?;
        }
        self.renders += 1;
        self.refused.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let data = serde_json::json!({"xml": xml, "format": format, "scale": scale, "border": border, "bg": "#ffffff", "embedImages": "1"});
        let js = format!("({})({})", include_str!("../js/render.js").trim(), data);
        let value = self.eval(&js)?;
        let text = value.as_str().ok_or("draw.io returned no bounds")?;
        let rendered: Rendered = serde_json::from_str(text).map_err(|e| err("draw.io bounds", e))?;
        Ok((rendered.bounds, rendered.pages))
    }

    /// PNG of the diagram at `scale`, framed like draw.io desktop.
    pub fn png(&mut self, engine: &Engine, xml: &str, scale: f64, border: u32) -> Result<Output, String> {
        let (b, pages) = self.render(engine, xml, "png", scale, border)?;
        if b.width <= 0.0 || b.height <= 0.0 {
            return Err("the diagram is empty".into());
        }
        let width = (b.width + b.x).ceil() as i64 + 1;
        let height = (b.height + b.y).ceil() as i64 + 1;
        let metrics = SetDeviceMetricsOverrideParams::new(width, height, 1.0, false);
        // draw.io puts `border` unscaled on the right and bottom but scaled
        // on the left and top; cutting the difference off the left and top
        // leaves the same margin on every side.
        let cut = f64::from(border) * (scale - 1.0);
        let clip = Viewport { x: cut, y: cut, width: width as f64 - cut, height: height as f64 - cut, scale: 1.0 };
        let shot = ScreenshotParams::builder().format(CaptureScreenshotFormat::Png).clip(clip).build();
        let png = self
            .rt
            .block_on(async {
                self.page.execute(metrics).await?;
                self.page.screenshot(shot).await
            })
            .map_err(|e| err("screenshot", e))?;
        Ok(Output { bytes: png, pages, refused: self.take_refused() })
    }

    pub fn svg(&mut self, engine: &Engine, xml: &str) -> Result<Output, String> {
        let (_, pages) = self.render(engine, xml, "svg", 1.0, 0)?;
        let value = self.eval(include_str!("../js/svg.js"))?;
        let svg = value.as_str().ok_or("draw.io returned no SVG")?;
        Ok(Output { bytes: svg.as_bytes().to_vec(), pages, refused: self.take_refused() })
    }

    /// Print the page at `file` to PDF (A4, backgrounds, the page's print
    /// stylesheet) with `footer` (HTML) at the foot of every sheet, once its
    /// math is typeset. The page may load files below `dir` only.
    pub fn pdf(&mut self, dir: &Path, file: &Path, footer: &str) -> Result<Output, String> {
        if self.printer.is_none() {
            let allowed = Arc::new(Mutex::new(Vec::new()));
            let refused = Arc::new(Mutex::new(Vec::new()));
            let opened = self.rt.block_on(async {
                let blank = self.browser.new_page("about:blank").await.map_err(|e| err("new page", e))?;
                filtered_page(blank, Arc::clone(&allowed), Arc::clone(&refused), None).await
            })?;
            self.printer = Some(Printer { page: opened, allowed, refused });
        }
        let Some(printer) = &self.printer else { return Err("no page to print on".into()) };
        let mut dirs = vec![dir.to_owned()];
        dirs.extend(dir.canonicalize().ok());
        *printer.allowed.lock().unwrap_or_else(|e| e.into_inner()) = dirs;
        printer.refused.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let url = file_url(file);
        let params = PrintToPdfParams::builder()
            .display_header_footer(true)
            .header_template("<span></span>")
            .footer_template(footer)
            .print_background(true)
            .paper_width(A4_INCHES.0)
            .paper_height(A4_INCHES.1)
            .margin_top(0.6)
            .margin_bottom(0.7)
            .margin_left(0.6)
            .margin_right(0.6)
            .build();
        let typeset = EvaluateParams::builder()
            .expression(include_str!("../js/typeset.js"))
            .await_promise(true)
            .return_by_value(true)
            .build()
            .map_err(|e| err("evaluate", e))?;
        let page = &printer.page;
        let pdf = self
            .rt
            .block_on(async {
                page.goto(url).await?;
                page.wait_for_navigation().await?;
                page.evaluate_expression(typeset).await?;
                page.pdf(params).await
            })
            .map_err(|e| err("print the page", e))?;
        let refused = std::mem::take(&mut *printer.refused.lock().unwrap_or_else(|e| e.into_inner()));
        Ok(Output { bytes: without_print_time(pdf), pages: 1, refused })
    }

    fn take_refused(&self) -> Vec<String> {
        std::mem::take(&mut *self.refused.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The page prints happen on, with the folders it may load from now.
struct Printer {
    page: Page,
    allowed: Arc<Mutex<Vec<PathBuf>>>,
    refused: Arc<Mutex<Vec<String>>>,
}

/// `pdf` with the moment of printing that Chromium stamps into its
/// `/CreationDate` and `/ModDate` replaced by the Unix epoch, so printing the
/// same page twice gives the same bytes (a rebuild with `--no-cache`, another
/// worker, another time zone). The replacement has the stamp's length, so
/// the byte offsets in the file's cross-reference table stay right.
fn without_print_time(mut pdf: Vec<u8>) -> Vec<u8> {
    for key in [&b"/CreationDate (D:"[..], b"/ModDate (D:"] {
        let Some(at) = pdf.windows(key.len()).position(|w| w == key) else { continue };
        let start = at + key.len();
        let Some(len) = pdf[start..].iter().position(|&b| b == b')') else { continue };
        // YYYYMMDDHHmmSS, then `Z` or an offset such as `+01'00'`.
        let epoch: &[u8] = match len {
            15 => b"19700101000000Z",
            21 => b"19700101000000+00'00'",
            _ => continue,
        };
        pdf[start..start + len].copy_from_slice(epoch);
    }
    pdf
}

/// Where the export page is opened: in the app's folder, so that draw.io
/// resolves the relative paths it builds itself (stencils, shapes, the
/// images of icon libraries) against the app, as for its own export3.html.
/// No file is there: the request filter answers with the page.
fn export_url(app: &Path) -> String {
    file_url(&app.join(EXPORT_PAGE))
}

const EXPORT_PAGE: &str = "clx-export.html";

/// The plugin's export page (see its head for how it differs from the
/// app's export3.html).
const EXPORT_HTML: &str = include_str!("../js/export.html");

/// A page the request filter answers itself instead of letting it load.
struct Served {
    /// The file the page pretends to be.
    path: String,
    html: &'static str,
}

/// A4 in inches, as `Page.printToPDF` measures paper.
const A4_INCHES: (f64, f64) = (8.27, 11.69);

/// A `file://` URL for `path`, each byte outside the unreserved set escaped.
fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

impl Drop for Session {
    /// Chromium is killed and reaped here, not asked to close: its profile
    /// is a scratch folder removed next, and a browser left exiting after
    /// this session's runtime is gone was reaped by no one (a defunct
    /// Chromium per build where pid 1 does not reap).
    fn drop(&mut self) {
        let _ = self.rt.block_on(self.browser.kill());
    }
}

/// The blank tab Chromium opened at its start. The connection learns of it
/// by target discovery shortly after the launch and attaches to it.
async fn first_tab(browser: &Browser) -> Result<Page, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pages = browser.pages().await.map_err(|e| err("first tab", e))?;
        if let Some(page) = pages.into_iter().next() {
            return Ok(page);
        }
        if Instant::now() > deadline {
            return Err("Chromium showed no tab within 60 s of its start".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub fn app_version(app: &Path) -> String {
    std::fs::read_to_string(app.join("js/diagramly/Init.js"))
        .ok()
        .and_then(|t| t.split("VERSION = '").nth(1).and_then(|r| r.split('\'').next()).map(str::to_owned))
        .unwrap_or_else(|| "14.6.12".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_apps_files_and_data_uris_are_permitted() {
        let allowed = [PathBuf::from("/opt/draw io/app")];
        assert!(permitted("data:image/png;base64,AAAA", &allowed));
        assert!(permitted("file:///opt/draw%20io/app/js/app.min.js", &allowed));
        assert!(!permitted("file:///opt/draw%20io/app/../secret.png", &allowed));
        assert!(!permitted("file:///opt/draw%20io/application/x.png", &allowed));
        assert!(!permitted("file:///etc/hostname", &allowed));
        assert!(!permitted("http://127.0.0.1:8080/x.png", &allowed));
        assert!(!permitted("blob:null/1234", &allowed));
    }

    #[test]
    fn the_export_page_is_recognised_by_the_file_it_pretends_to_be() {
        let app = Path::new("/opt/draw io/app+1");
        let url = export_url(app);
        assert_eq!(file_path(&url), Some(app.join(EXPORT_PAGE).display().to_string()));
        // As Chromium spells it, with what it leaves unescaped.
        assert_eq!(file_path("file:///opt/draw%20io/app+1/clx-export.html"), file_path(&url));
    }

    #[test]
    fn a_temp_dir_too_deep_for_chromiums_socket_gets_a_short_one_in_tmp() {
        assert!(short_tmpdir(Path::new("/tmp/clx/tmp/123-1")).unwrap().is_none());
        let deep = PathBuf::from(format!("/home/{}/tmp/123-1", "x".repeat(80)));
        let short = short_tmpdir(&deep).unwrap().expect("a short dir");
        assert!(short.path().starts_with("/tmp"));
        assert!(short.path().as_os_str().len() + SOCKET_SUFFIX <= SOCKET_PATH_MAX, "{}", short.path().display());
    }

    #[test]
    fn a_pdf_keeps_its_length_and_loses_the_moment_it_was_printed() {
        let printed =
            b"<</Creator (x)\n/CreationDate (D:20261206010005+01'00')\n/ModDate (D:20261206010005Z)>>".to_vec();
        let fixed = without_print_time(printed.clone());
        assert_eq!(fixed.len(), printed.len());
        assert_eq!(
            String::from_utf8(fixed).unwrap(),
            "<</Creator (x)\n/CreationDate (D:19700101000000+00'00')\n/ModDate (D:19700101000000Z)>>"
        );
    }
}
