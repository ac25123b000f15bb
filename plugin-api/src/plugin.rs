//! The Rust-side trait a plugin author implements, and the adapter that turns
//! it into the ABI objects of [`crate::module`].
//!
//! The adapter is where panics stop: a panic must never unwind across an
//! `extern "C"` boundary (that aborts the whole process), so every call into
//! author code is wrapped in `catch_unwind` and turned into an error.

use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RResult, RStr, RString},
};

use crate::module::{AbiConverter, AbiConverter_TO, ConverterBox, HostServicesRef, PluginMod};
use crate::types::{Issue, Job, JobResult, LogLevel, Manifest};

/// What a converter plugin implements. One value is created per worker
/// process and serves all of that worker's jobs, so expensive state (a JVM, a
/// browser) belongs in `Self`.
pub trait Plugin: Send + Sync + Sized + 'static {
    /// Who the plugin is and which job types it handles. Must be cheap: the
    /// host calls it whenever it loads the plugin.
    fn manifest() -> Manifest;

    /// Create the converter. `config` is the plugin's `clx.toml` section as a
    /// JSON object (`{}` when there is none).
    fn new(config: &str) -> Result<Self, String>;

    /// Name and version of the external tool behind `job_type`, part of the
    /// cache key. Plugins without an external tool keep the default.
    fn tool_identity(&self, _job_type: &str) -> Result<String, String> {
        Ok(String::new())
    }

    /// Do one job. `Err` fails every requested output with that issue.
    fn convert(&self, job: &Job, host: &Host<'_>) -> Result<JobResult, Issue>;
}

/// The host's services as seen from author code.
pub struct Host<'a> {
    inner: HostServicesRef<'a>,
}

impl<'a> Host<'a> {
    pub fn new(inner: HostServicesRef<'a>) -> Self {
        Host { inner }
    }

    pub fn log(&self, level: LogLevel, message: &str) {
        self.inner.log(level, message.into());
    }

    pub fn info(&self, message: &str) {
        self.log(LogLevel::Info, message);
    }

    pub fn warn(&self, message: &str) {
        self.log(LogLevel::Warn, message);
    }

    pub fn progress(&self, done: u32, total: u32, message: &str) {
        self.inner.progress(done, total, message.into());
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }
}

/// Host services that log through `tracing`-free stderr lines and never
/// cancel: what a plugin's own unit tests and benchmarks run against.
pub struct StandaloneHost;

impl crate::module::HostServices for StandaloneHost {
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        if std::env::var_os("CLX_PLUGIN_TEST_LOG").is_some() {
            eprintln!("[{level:?}] {message}");
        }
    }

    fn progress(&self, _done: u32, _total: u32, _message: RStr<'_>) {}

    fn is_cancelled(&self) -> bool {
        false
    }
}

impl Host<'_> {
    /// Run `f` with a host that is not a `clx` worker, for plugin tests and
    /// benchmarks: `Plugin::convert(&job, host)` works the same way.
    pub fn standalone<R>(f: impl FnOnce(&Host<'_>) -> R) -> R {
        let services = StandaloneHost;
        let inner = crate::module::HostServices_TO::from_ptr(&services, TD_Opaque);
        let host = Host::new(inner);
        f(&host)
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

struct Adapter<P>(P);

impl<P: Plugin> AbiConverter for Adapter<P> {
    fn tool_identity(&self, job_type: RStr<'_>) -> RResult<RString, RString> {
        match catch_unwind(AssertUnwindSafe(|| self.0.tool_identity(job_type.as_str()))) {
            Ok(Ok(id)) => RResult::ROk(id.into()),
            Ok(Err(e)) => RResult::RErr(e.into()),
            Err(p) => RResult::RErr(format!("plugin panicked: {}", panic_message(&*p)).into()),
        }
    }

    fn convert(&self, job: &Job, host: HostServicesRef<'_>) -> JobResult {
        let host = Host::new(host);
        let outcome = catch_unwind(AssertUnwindSafe(|| self.0.convert(job, &host)));
        match outcome {
            Ok(Ok(result)) => result,
            Ok(Err(issue)) => JobResult::failed(job, issue),
            Err(p) => JobResult::failed(job, Issue::error(format!("converter panicked: {}", panic_message(&*p)))),
        }
    }
}

extern "C" fn manifest_of<P: Plugin>() -> RResult<Manifest, RString> {
    match catch_unwind(P::manifest) {
        Ok(m) => RResult::ROk(m),
        Err(p) => RResult::RErr(format!("manifest panicked: {}", panic_message(&*p)).into()),
    }
}

extern "C" fn new_converter_of<P: Plugin>(config: RStr<'_>) -> RResult<ConverterBox, RString> {
    match catch_unwind(|| P::new(config.as_str())) {
        Ok(Ok(p)) => RResult::ROk(AbiConverter_TO::from_value(Adapter(p), TD_Opaque)),
        Ok(Err(e)) => RResult::RErr(e.into()),
        Err(p) => RResult::RErr(format!("plugin start panicked: {}", panic_message(&*p)).into()),
    }
}

/// Build the root module for `P`; called by [`export_plugin!`](crate::export_plugin).
pub fn root_module<P: Plugin>() -> PluginMod {
    PluginMod {
        api_version: RStr::from_str(crate::API_VERSION),
        manifest: manifest_of::<P>,
        new_converter: new_converter_of::<P>,
    }
}
