//! The Rust-side trait a plugin author implements, and the adapter that turns
//! it into the ABI objects of [`crate::module`].
//!
//! The adapter is where panics stop: a panic must never unwind across an
//! `extern "C"` boundary (that aborts the whole process), so every call into
//! author code is wrapped in `catch_unwind` and turned into an error.

use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RResult, RStr, RString, RVec},
};

use crate::module::{AbiConverter, AbiConverter_TO, ConverterBox, HostServicesRef, PluginMod};
use crate::types::{Issue, IssueKind, Job, JobResult, LogLevel, Manifest};

/// What a converter plugin implements; see the [crate documentation](crate)
/// for what the host passes and expects.
///
/// One value is created per worker process and serves all of that worker's
/// jobs, one at a time, so expensive state (a JVM, a browser) belongs in
/// `Self`, started on first use. Every method may panic without taking the
/// host down: the panic becomes an error for that call.
pub trait Plugin: Send + Sync + Sized + 'static {
    /// Who the plugin is and which job types it handles. Must be cheap: the
    /// host calls it whenever it loads the plugin.
    fn manifest() -> Manifest;

    /// Create the converter. `config` is the plugin's `[converters.<name>]`
    /// section of `clx.toml` as a JSON object (`{}` when there is none); an
    /// `Err` should name that section and say what is wrong. Keep it cheap:
    /// the host also creates a converter just to ask
    /// [`tool_identity`](Self::tool_identity).
    fn new(config: &str) -> Result<Self, String>;

    /// Name and version of the external tool behind `job_type`, part of the
    /// cache key, asked once per build before any job is queued. `Err` (the
    /// tool is missing: say how to install it) fails that job type's jobs
    /// without caching anything. Plugins without an external tool keep the
    /// default, the empty string.
    fn tool_identity(&self, _job_type: &str) -> Result<String, String> {
        Ok(String::new())
    }

    /// Do one job: answer every [`Job::outputs`](crate::Job::outputs) entry
    /// by its id and report issues. `Err` fails every requested output with
    /// that issue, which is what `?` on an [`Issue`] gives.
    fn convert(&self, job: &Job, host: &Host<'_>) -> Result<JobResult, Issue>;

    /// What `clx doctor`, run in a course, should tell about this plugin's
    /// readiness for that course (an environment it would build, a file it
    /// would need): one line each. Most plugins say nothing (the default);
    /// the tool itself is covered by [`tool_identity`](Plugin::tool_identity).
    fn doctor(&self, _course_root: &str) -> Vec<String> {
        Vec::new()
    }
}

/// The host's services as seen from plugin code, passed to
/// [`Plugin::convert`]. Outside `clx`, [`Host::standalone`] provides one.
pub struct Host<'a> {
    inner: HostServicesRef<'a>,
}

impl<'a> Host<'a> {
    /// Wrap the services a host passes across the boundary; the adapter
    /// behind [`export_plugin!`](crate::export_plugin) does this.
    pub fn new(inner: HostServicesRef<'a>) -> Self {
        Host { inner }
    }

    /// Send a log line to the host's logger (the worker's stderr, which `clx`
    /// shows according to `--log-level`). Never print to stdout: the worker
    /// talks to the host there.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.inner.log(level, message.into());
    }

    /// Log at [`LogLevel::Info`].
    pub fn info(&self, message: &str) {
        self.log(LogLevel::Info, message);
    }

    /// Log at [`LogLevel::Warn`]. For problems in the course author's input
    /// return an [`Issue`] instead: issues are shown with file and line and
    /// replayed from the cache, logs are not.
    pub fn warn(&self, message: &str) {
        self.log(LogLevel::Warn, message);
    }

    /// Report that `done` of `total` steps of the current job are finished.
    pub fn progress(&self, done: u32, total: u32, message: &str) {
        self.inner.progress(done, total, message.into());
    }

    /// Whether the host no longer wants the current job (the build was
    /// interrupted, or the job was handed to another worker). Check it between
    /// expensive steps and return early with any error.
    pub fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }
}

/// The services behind [`Host::standalone`]: logs go to stderr when
/// `CLX_PLUGIN_TEST_LOG` is set and are dropped otherwise, progress is
/// ignored, and nothing is ever cancelled.
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
    /// benchmarks: `plugin.convert(&job, host)` inside `f` works as it does
    /// in a worker, except that panics are not caught (the test should see
    /// them) and nothing is cancelled.
    ///
    /// ```
    /// use clx_plugin_api::{Host, Job};
    ///
    /// let job = Job::new("upper", "slides/intro/hello.up", "hello").with_output("txt", "txt", "{}");
    /// let shout = Host::standalone(|host| {
    ///     host.info("converting");
    ///     assert!(!host.is_cancelled());
    ///     job.source_text().map(str::to_uppercase)
    /// });
    /// assert_eq!(shout.ok().as_deref(), Some("HELLO"));
    /// ```
    pub fn standalone<R>(f: impl FnOnce(&Host<'_>) -> R) -> R {
        let services = StandaloneHost;
        let inner = crate::module::HostServices_TO::from_ptr(&services, TD_Opaque);
        let host = Host::new(inner);
        f(&host)
    }
}

std::thread_local! {
    /// Where the last panic on this thread happened, recorded by the hook
    /// [`record_panic_locations`] installs: the payload does not say.
    static PANIC_AT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Keep the place of every panic, so the error names `file:line` of the
/// plugin's code. Chains to the previous hook, which still prints as before.
fn record_panic_locations() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(l) = info.location() {
                let at = format!("{}:{}:{}", l.file(), l.line(), l.column());
                PANIC_AT.with(|p| *p.borrow_mut() = Some(at));
            }
            previous(info);
        }));
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    };
    match PANIC_AT.with(|p| p.borrow_mut().take()) {
        Some(at) => format!("at {at}: {message}"),
        None => message,
    }
}

struct Adapter<P>(P);

impl<P: Plugin> AbiConverter for Adapter<P> {
    fn tool_identity(&self, job_type: RStr<'_>) -> RResult<RString, RString> {
        match catch_unwind(AssertUnwindSafe(|| self.0.tool_identity(job_type.as_str()))) {
            Ok(Ok(id)) => RResult::ROk(id.into()),
            Ok(Err(e)) => RResult::RErr(e.into()),
            Err(p) => RResult::RErr(format!("plugin panicked {}", panic_message(&*p)).into()),
        }
    }

    fn doctor(&self, course_root: RStr<'_>) -> RVec<RString> {
        match catch_unwind(AssertUnwindSafe(|| self.0.doctor(course_root.as_str()))) {
            Ok(lines) => lines.into_iter().map(RString::from).collect(),
            Err(p) => RVec::from(vec![RString::from(format!("plugin panicked {}", panic_message(&*p)))]),
        }
    }

    fn convert(&self, job: &Job, host: HostServicesRef<'_>) -> JobResult {
        let host = Host::new(host);
        let outcome = catch_unwind(AssertUnwindSafe(|| self.0.convert(job, &host)));
        match outcome {
            Ok(Ok(result)) => result,
            Ok(Err(issue)) => JobResult::failed(job, issue),
            Err(p) => JobResult::failed(
                job,
                Issue::error(format!("converter panicked {}", panic_message(&*p))).of_kind(IssueKind::Plugin),
            ),
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
    record_panic_locations();
    match catch_unwind(|| P::new(config.as_str())) {
        Ok(Ok(p)) => RResult::ROk(AbiConverter_TO::from_value(Adapter(p), TD_Opaque)),
        Ok(Err(e)) => RResult::RErr(e.into()),
        Err(p) => RResult::RErr(format!("plugin start panicked {}", panic_message(&*p)).into()),
    }
}

/// Build the root module for `P`; called by [`export_plugin!`](crate::export_plugin),
/// which is how plugins should use it.
pub fn root_module<P: Plugin>() -> PluginMod {
    PluginMod {
        api_version: RStr::from_str(crate::API_VERSION),
        manifest: manifest_of::<P>,
        new_converter: new_converter_of::<P>,
    }
}
