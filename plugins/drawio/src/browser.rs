//! One headless Chromium with the draw.io web app loaded, kept for the
//! worker's lifetime; one page reused for every diagram.
//!
//! Driven over the DevTools protocol with `chromiumoxide` (its CDP types are
//! generated ahead of time, so building needs no network; the browser
//! fetcher is off and Debian's Chromium is used), on a small tokio runtime
//! of the converter's own behind a synchronous face.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::page::{CaptureScreenshotFormat, Viewport};
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

pub struct Engine {
    pub chromium: PathBuf,
    pub app: PathBuf,
    pub font_css: Option<PathBuf>,
}

pub struct Session {
    rt: tokio::runtime::Runtime,
    browser: Browser,
    page: Page,
    renders: usize,
    /// Chromium profile and the launcher script.
    _dir: tempfile::TempDir,
}

fn err(context: &str, e: impl std::fmt::Display) -> String {
    format!("{context}: {e}")
}

const FLAGS: [&str; 11] = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
    "--disable-dev-shm-usage",
    "--allow-file-access-from-files",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
];

impl Session {
    pub fn start(engine: &Engine) -> Result<Session, String> {
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
        let config = BrowserConfig::builder()
            .chrome_executable(&launcher)
            .no_sandbox()
            .user_data_dir(dir.path().join("profile"))
            .launch_timeout(Duration::from_secs(60))
            .request_timeout(Duration::from_secs(60))
            .viewport(None)
            .args(FLAGS)
            .build()
            .map_err(|e| err("browser options", e))?;
        let (browser, page) = rt.block_on(async {
            let (browser, mut handler) = Browser::launch(config).await.map_err(|e| {
                err(&format!("cannot start Chromium ({}); install it with scripts/setup", engine.chromium.display()), e)
            })?;
            tokio::spawn(async move { while handler.next().await.is_some() {} });
            let page = browser.new_page("about:blank").await.map_err(|e| err("new page", e))?;
            Ok::<_, String>((browser, page))
        })?;
        let mut session = Session { rt, browser, page, renders: 0, _dir: dir };
        session.load(engine)?;
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

    fn load(&mut self, engine: &Engine) -> Result<(), String> {
        let url = format!("file://{}", engine.app.join("export3.html").display());
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
        let data = serde_json::json!({"xml": xml, "format": format, "scale": scale, "border": border, "bg": "#ffffff", "embedImages": "1"});
        let js = format!("({})({})", include_str!("../js/render.js").trim(), data);
        let value = self.eval(&js)?;
        let text = value.as_str().ok_or("draw.io returned no bounds")?;
        let rendered: Rendered = serde_json::from_str(text).map_err(|e| err("draw.io bounds", e))?;
        Ok((rendered.bounds, rendered.pages))
    }

    /// PNG of the diagram at `scale`, framed like draw.io desktop.
    pub fn png(&mut self, engine: &Engine, xml: &str, scale: f64, border: u32) -> Result<(Vec<u8>, usize), String> {
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
        Ok((png, pages))
    }

    pub fn svg(&mut self, engine: &Engine, xml: &str) -> Result<(Vec<u8>, usize), String> {
        let (_, pages) = self.render(engine, xml, "svg", 1.0, 0)?;
        let value = self.eval(include_str!("../js/svg.js"))?;
        let svg = value.as_str().ok_or("draw.io returned no SVG")?;
        Ok((svg.as_bytes().to_vec(), pages))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.rt.block_on(self.browser.close());
    }
}

pub fn app_version(app: &Path) -> String {
    std::fs::read_to_string(app.join("js/diagramly/Init.js"))
        .ok()
        .and_then(|t| t.split("VERSION = '").nth(1).and_then(|r| r.split('\'').next()).map(str::to_owned))
        .unwrap_or_else(|| "14.6.12".into())
}
