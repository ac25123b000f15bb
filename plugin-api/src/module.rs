//! The root module every plugin exports and the trait objects that cross the
//! boundary.
//!
//! `PluginMod` is an `abi_stable` prefix type: fields after the last prefix
//! field may be appended in later minor versions, and a host reading an older
//! plugin sees them as absent instead of reading garbage.

// sabi_trait expands impls inside a const item.
#![allow(non_local_definitions)]

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::{RRef, VersionStrings},
    std_types::{RBox, RResult, RStr, RString, RVec},
    StableAbi,
};

use crate::types::{Job, JobResult, LogLevel, Manifest};

/// Services the host offers a running converter. Plugin code uses them
/// through [`Host`](crate::Host); a host implements this trait.
#[sabi_trait]
pub trait HostServices {
    /// Emit a log line through the host's `tracing` subscriber.
    fn log(&self, level: LogLevel, message: RStr<'_>);

    /// Report progress within the current job: `done` of `total` steps.
    fn progress(&self, done: u32, total: u32, message: RStr<'_>);

    /// Whether the host wants the current job abandoned; the host does not
    /// use the result of a cancelled job.
    #[sabi(last_prefix_field)]
    fn is_cancelled(&self) -> bool;
}

/// A borrowed host-services object, as passed to `convert`.
pub type HostServicesRef<'a> = HostServices_TO<'a, RRef<'a, ()>>;

/// The converter object a plugin hands the host, one per worker. Plugins do
/// not implement it: [`export_plugin!`](crate::export_plugin) wraps their
/// [`Plugin`](crate::Plugin) in an adapter that catches panics.
#[sabi_trait]
pub trait AbiConverter: Send + Sync {
    /// Identity (name + version) of the external tool behind `job_type`; part
    /// of every cache key, so upgrading the tool invalidates old results.
    fn tool_identity(&self, job_type: RStr<'_>) -> RResult<RString, RString>;

    /// Do one job; never fails as a call: failures are in the result.
    #[sabi(last_prefix_field)]
    fn convert(&self, job: &Job, host: HostServicesRef<'_>) -> JobResult;

    /// Lines for `clx doctor` about the course at `course_root` (what the
    /// plugin would need or prepare for it). After the prefix, with a
    /// default body: for a plugin built before this method existed the host
    /// gets no lines.
    fn doctor(&self, _course_root: RStr<'_>) -> RVec<RString> {
        RVec::new()
    }
}

/// Owned converter object, as [`PluginMod::new_converter`] returns it.
pub type ConverterBox = AbiConverter_TO<'static, RBox<()>>;

/// The root module, which `abi_stable` finds in the library and checks before
/// the host calls anything in it. Built by [`root_module`](crate::root_module).
///
/// Fields are read through [`PluginModRef`]'s accessors of the same name.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// `clx-plugin-api` version the plugin was compiled against.
    pub api_version: RStr<'static>,

    /// The plugin's [`Plugin::manifest`](crate::Plugin::manifest), or the panic it raised.
    pub manifest: extern "C" fn() -> RResult<Manifest, RString>,

    /// Create a converter; `config` is the plugin's `[converters.<name>]`
    /// section of `clx.toml` as a JSON object.
    #[sabi(last_prefix_field)]
    pub new_converter: extern "C" fn(config: RStr<'_>) -> RResult<ConverterBox, RString>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "clx_plugin";
    const NAME: &'static str = "clx plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
