//! Headless Chromium over the DevTools protocol, and `clx serve` running
//! for a browser to look at: what the page tests and the preview tests and
//! benchmark share.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures::StreamExt;
use serde_json::Value;

use crate::Env;

/// CLX_CHROMIUM, else `chromium` from PATH: the CDP client wants a full path.
pub fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CLX_CHROMIUM") {
        return path.into();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file())
        .expect("chromium on PATH (scripts/setup installs it)")
}

/// The options every test browser runs with: 1400x1000, no sandbox (a
/// container), and no network but loopback addresses, as a reader offline
/// would have.
pub fn browser_config(profile: &Path) -> BrowserConfig {
    BrowserConfig::builder()
        .chrome_executable(chromium())
        .no_sandbox()
        .user_data_dir(profile)
        .window_size(1400, 1000)
        .viewport(None)
        .launch_timeout(Duration::from_secs(60))
        .request_timeout(Duration::from_secs(60))
        .args([
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--disable-dev-shm-usage",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        ])
        .build()
        .expect("browser options")
}

/// One browser with one tab, driven from synchronous test code.
pub struct Tab {
    rt: tokio::runtime::Runtime,
    browser: Option<Browser>,
    page: Page,
    events: tokio::task::JoinHandle<()>,
    _profile: tempfile::TempDir,
}

impl Tab {
    pub fn open(url: &str) -> Tab {
        let profile = tempfile::tempdir().expect("profile dir");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let config = browser_config(profile.path());
        let (browser, page, events) = rt.block_on(async {
            let (browser, mut handler) =
                Browser::launch(config).await.expect("Chromium starts (scripts/setup installs it)");
            let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
            let page = browser.new_page(url).await.expect("page opens");
            page.wait_for_navigation().await.expect("page loads");
            (browser, page, events)
        });
        Tab { rt, browser: Some(browser), page, events, _profile: profile }
    }

    /// The value of a JavaScript expression in the page as it is now
    /// (`null` while a reload has no document yet).
    pub fn eval(&self, expression: &str) -> Value {
        let params = EvaluateParams::builder().expression(expression).return_by_value(true).build().expect("params");
        self.rt.block_on(async {
            match tokio::time::timeout(Duration::from_secs(5), self.page.evaluate_expression(params)).await {
                Ok(Ok(answer)) => answer.value().cloned().unwrap_or(Value::Null),
                _ => Value::Null,
            }
        })
    }

    /// Poll `condition` (a JavaScript expression) until it is `true`;
    /// returns how long that took.
    pub fn wait_until(&self, condition: &str, timeout: Duration) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if self.eval(condition) == Value::Bool(true) {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    pub fn goto(&self, url: &str) {
        self.rt.block_on(async {
            self.page.goto(url).await.expect("navigates");
        });
    }

    /// Emulate a media type (`print`, `screen`, or `""` for none) and media
    /// features (`prefers-color-scheme` = `dark`), as a reader's printer
    /// or system settings would ask.
    pub fn emulate_media(&self, media: &str, features: &[(&str, &str)]) {
        use chromiumoxide::cdp::browser_protocol::emulation::{MediaFeature, SetEmulatedMediaParams};
        let params = SetEmulatedMediaParams::builder()
            .media(media)
            .features(features.iter().map(|(name, value)| MediaFeature::new(*name, *value)).collect::<Vec<_>>())
            .build();
        self.rt.block_on(async {
            self.page.execute(params).await.expect("emulate media");
        });
    }

    /// Press a key (`ArrowRight`, `s`) as a reader would, with the focus on
    /// the page's body.
    pub fn press_key(&self, key: &str) {
        self.rt.block_on(async {
            let body = self.page.find_element("body").await.expect("a body");
            body.press_key(key).await.expect("key press");
        });
    }

    /// The value of `expression` in every other tab of the browser (a
    /// window the page opened), `null` where it cannot be evaluated.
    pub fn eval_in_other_tabs(&self, expression: &str) -> Vec<Value> {
        let Some(browser) = &self.browser else { return Vec::new() };
        self.rt.block_on(async {
            let mut values = Vec::new();
            for page in browser.pages().await.unwrap_or_default() {
                if page.target_id() == self.page.target_id() {
                    continue;
                }
                let params =
                    EvaluateParams::builder().expression(expression).return_by_value(true).build().expect("params");
                let value = match tokio::time::timeout(Duration::from_secs(5), page.evaluate_expression(params)).await {
                    Ok(Ok(answer)) => answer.value().cloned().unwrap_or(Value::Null),
                    _ => Value::Null,
                };
                values.push(value);
            }
            values
        })
    }

    pub fn screenshot(&self) -> Vec<u8> {
        let params = chromiumoxide::page::ScreenshotParams::builder().full_page(true).build();
        self.rt.block_on(async { self.page.screenshot(params).await.expect("screenshot") })
    }
}

impl Drop for Tab {
    fn drop(&mut self) {
        if let Some(mut browser) = self.browser.take() {
            self.rt.block_on(async {
                let _ = browser.close().await;
                let _ = browser.wait().await;
            });
        }
        self.events.abort();
    }
}

/// `clx serve` on a course spec, running in an [`Env`]; killed when dropped.
pub struct Serving {
    pub child: Child,
    pub log: PathBuf,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl Serving {
    /// Start serving and wait (up to two minutes: a cold build runs real
    /// kernels) until the first build is done and the address is printed.
    pub fn start(env: &Env, spec: &Path, extra: &[&str]) -> Serving {
        let log = env.home.path().join("serve.log");
        let child = env
            .clx()
            .arg("serve")
            .args(extra)
            .arg(spec)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("clx runs");
        let mut serving = Serving { child, log, base: String::new() };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let log = serving.log_text();
            if let Some(base) = log.lines().find_map(|l| l.split(" on http://").nth(1)) {
                serving.base = format!("http://{}", base.trim().trim_end_matches('/'));
                break;
            }
            if let Ok(Some(status)) = serving.child.try_wait() {
                panic!("clx serve exited with {status}:\n{log}");
            }
            assert!(Instant::now() < deadline, "clx serve printed no address:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
        serving
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The URL of a file below the output directory (`out`).
    pub fn url_of(&self, out: &Path, file: &Path) -> String {
        let rel = file.strip_prefix(out).expect("a file below the output dir");
        let mut url = self.base.clone();
        for part in rel.components() {
            url.push('/');
            for b in part.as_os_str().to_string_lossy().bytes() {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    url.push(b as char);
                } else {
                    url.push_str(&format!("%{b:02X}"));
                }
            }
        }
        url
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
