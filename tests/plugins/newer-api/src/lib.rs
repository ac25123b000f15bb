//! A plugin as a future `clx-plugin-api` 0.4.0 would export it: the same
//! root-module name, a newer 0.x minor, a root module with another layout,
//! and the plain `clx_plugin_api_version` symbol saying `0.4.0`.
//!
//! `abi_stable` alone accepts a newer minor and then fails on the layout with
//! a report that names no version; the host must read the symbol first and
//! say "built against plugin-api 0.4.0; this clx speaks 0.3.x".

use std::ffi::{c_char, CStr};

use abi_stable::{
    declare_root_module_statics, export_root_module, library::RootModule, package_version_strings,
    prefix_type::PrefixTypeTrait, sabi_types::VersionStrings, std_types::RString, StableAbi,
};

/// What `clx_plugin_api_version` returns: this crate's version, NUL-terminated.
static API_VERSION: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
    Ok(version) => version,
    Err(_) => panic!("the crate version contains a NUL byte"),
};

/// Written out by hand with the signature `export_plugin!` gives it, because a
/// 0.1 `export_plugin!` would report 0.1.
#[unsafe(no_mangle)]
pub extern "C" fn clx_plugin_api_version() -> *const c_char {
    API_VERSION.as_ptr()
}

#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = NewerPluginModRef)))]
pub struct NewerPluginMod {
    pub api_version: abi_stable::std_types::RStr<'static>,
    pub describe: extern "C" fn() -> RString,
    #[sabi(last_prefix_field)]
    pub roles: extern "C" fn() -> u32,
}

impl RootModule for NewerPluginModRef {
    declare_root_module_statics! {NewerPluginModRef}
    const BASE_NAME: &'static str = "clx_plugin";
    const NAME: &'static str = "clx plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

extern "C" fn describe() -> RString {
    "newer-api".into()
}

extern "C" fn roles() -> u32 {
    3
}

#[export_root_module]
pub fn get_library() -> NewerPluginModRef {
    NewerPluginMod { api_version: env!("CARGO_PKG_VERSION").into(), describe, roles }.leak_into_prefix()
}
