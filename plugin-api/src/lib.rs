//! The stable-ABI contract between the `clx` host and its converter plugins.
//!
//! A plugin is a `cdylib` that depends on this crate only, implements
//! [`Plugin`] and calls [`export_plugin!`] once at its crate root:
//!
//! ```ignore
//! use clx_plugin_api::*;
//!
//! struct Upper;
//!
//! impl Plugin for Upper {
//!     fn manifest() -> Manifest {
//!         Manifest::new("upper", env!("CARGO_PKG_VERSION")).job_type(
//!             JobTypeDecl::new("upper", Role::Diagram).suffixes(&[".txt"]).formats(&["txt"]),
//!         )
//!     }
//!     fn new(_config: &str) -> Result<Self, String> { Ok(Upper) }
//!     fn convert(&self, job: &Job, _host: &Host<'_>) -> Result<JobResult, Issue> {
//!         let text = job.source_text()?.to_uppercase();
//!         let mut result = JobResult::new();
//!         for out in job.outputs.iter() {
//!             result.output(&out.id, text.clone().into_bytes());
//!         }
//!         Ok(result)
//!     }
//! }
//!
//! export_plugin!(Upper);
//! ```
//!
//! The host checks every library before using it: `abi_stable` compares the
//! layout of every type reachable from [`PluginMod`] and the semver of this
//! crate (0.x minor versions are breaking), so a plugin built against an
//! incompatible API is refused with a message instead of crashing.

mod module;
mod plugin;
mod types;

pub use abi_stable;
pub use abi_stable::std_types::{RResult, RStr, RString, RVec};
pub use module::{
    AbiConverter, AbiConverter_TO, ConverterBox, HostServices, HostServicesRef, HostServices_TO, PluginMod,
    PluginModRef,
};
pub use plugin::{root_module, Host, Plugin, StandaloneHost};
pub use types::{
    InputFile, Issue, Job, JobOutput, JobResult, JobTypeDecl, LogLevel, Manifest, OutputRequest, Role, Severity,
};

/// Version of this crate, which is the plugin ABI version.
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Symbol under which `abi_stable` looks for a library's root module. Written
/// out because `macro_rules!` cannot compute symbol names; a unit test keeps it
/// equal to `abi_stable::library::ROOT_MODULE_LOADER_NAME`.
#[doc(hidden)]
pub const ROOT_MODULE_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

/// Export `$plugin` (a type implementing [`Plugin`]) as this library's root
/// module. Invoke exactly once per plugin crate.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        #[unsafe(no_mangle)]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::abi_stable::library::LibHeader = {
            extern "C" fn __clx_root_module() -> $crate::abi_stable::library::RootModuleResult {
                $crate::abi_stable::library::__call_root_module_loader(|| -> $crate::PluginModRef {
                    use $crate::abi_stable::prefix_type::PrefixTypeTrait;
                    $crate::root_module::<$plugin>().leak_into_prefix()
                })
            }
            unsafe {
                $crate::abi_stable::library::LibHeader::from_constructor::<$crate::PluginModRef>(
                    __clx_root_module,
                    $crate::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

/// Where `scripts/setup` installs external tools: `$CLX_TOOLS_DIR`, else
/// `$XDG_DATA_HOME/clx/tools`, else `~/.local/share/clx/tools`. Plugins look
/// for their tools here after their own config and environment variables.
pub fn tools_dir() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    if let Some(d) = std::env::var_os("CLX_TOOLS_DIR").filter(|d| !d.is_empty()) {
        return Some(d.into());
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("clx/tools"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_module_symbol_matches_abi_stable() {
        assert_eq!(ROOT_MODULE_SYMBOL, abi_stable::library::ROOT_MODULE_LOADER_NAME);
    }

    #[test]
    fn claims_needs_suffix_and_prefix_when_prefixes_given() {
        let decl =
            JobTypeDecl::new("notebook", Role::Slides).suffixes(&[".py", ".cpp"]).name_prefixes(&["slides_", "topic_"]);
        assert!(decl.claims("slides_intro.py"));
        assert!(decl.claims("topic_10_x.cpp"));
        assert!(!decl.claims("helper.py"));
        assert!(!decl.claims("slides_intro.txt"));
        let diagram = JobTypeDecl::new("plantuml", Role::Diagram).suffixes(&[".puml"]);
        assert!(diagram.claims("classes.puml"));
    }
}
