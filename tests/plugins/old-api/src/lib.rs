//! A plugin as an older `clx-plugin-api` (0.0.x) would have exported it: same
//! root-module name, older version, different layout. The host must refuse it
//! with a message, not crash.

use abi_stable::{
    declare_root_module_statics, export_root_module, library::RootModule, package_version_strings,
    prefix_type::PrefixTypeTrait, sabi_types::VersionStrings, std_types::RString, StableAbi,
};

#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = OldPluginModRef)))]
pub struct OldPluginMod {
    #[sabi(last_prefix_field)]
    pub name: extern "C" fn() -> RString,
}

impl RootModule for OldPluginModRef {
    declare_root_module_statics! {OldPluginModRef}
    const BASE_NAME: &'static str = "clx_plugin";
    const NAME: &'static str = "clx plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

extern "C" fn name() -> RString {
    "old-api".into()
}

#[export_root_module]
pub fn get_library() -> OldPluginModRef {
    OldPluginMod { name }.leak_into_prefix()
}
