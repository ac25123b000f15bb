//! Load one library file and prove it is a usable clx plugin.
//!
//! `abi_stable` does the heavy lifting: it refuses a root module whose
//! plugin-api version is semver-incompatible with ours and compares the layout
//! of every type reachable from it. We add our own checks on what the plugin
//! says about itself, because a compatible library can still declare garbage.

use std::path::{Path, PathBuf};

use abi_stable::library::{lib_header_from_path, LibraryError};
use abi_stable::std_types::RResult;
use clx_plugin_api::{ConverterBox, Manifest, PluginModRef, API_VERSION};

#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    #[error("not a loadable library: {0}")]
    NotALibrary(String),
    #[error("not a clx plugin (it exports no clx root module)")]
    NotAPlugin,
    #[error(
        "built against plugin-api {found}, this clx needs {needed}; rebuild the plugin against clx-plugin-api {needed}"
    )]
    IncompatibleVersion { found: String, needed: String },
    #[error("its plugin-api types do not match this clx (incompatible layout); rebuild the plugin against clx-plugin-api {API_VERSION}: {0}")]
    IncompatibleLayout(String),
    #[error("the plugin failed to initialise: {0}")]
    InitFailed(String),
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
}

/// A plugin that passed every check.
pub struct LoadedPlugin {
    pub path: PathBuf,
    pub module: PluginModRef,
    pub manifest: Manifest,
    pub api_version: String,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin").field("path", &self.path).field("manifest", &self.manifest).finish()
    }
}

impl LoadedPlugin {
    pub fn name(&self) -> &str {
        self.manifest.name.as_str()
    }

    /// Create the plugin's converter; `config` is a JSON object.
    pub fn new_converter(&self, config: &str) -> Result<ConverterBox, String> {
        match (self.module.new_converter())(config.into()) {
            RResult::ROk(c) => Ok(c),
            RResult::RErr(e) => Err(e.into()),
        }
    }
}

/// Load and check the library at `path`. Never panics on a bad file.
pub fn load(path: &Path) -> Result<LoadedPlugin, LoadError> {
    let header = lib_header_from_path(path).map_err(classify_error)?;
    let module = header.init_root_module::<PluginModRef>().map_err(classify_error)?;
    let api_version = module.api_version().as_str().to_owned();
    let manifest = match (module.manifest())() {
        RResult::ROk(m) => m,
        RResult::RErr(e) => return Err(LoadError::InitFailed(e.into())),
    };
    validate(&manifest)?;
    Ok(LoadedPlugin { path: path.to_path_buf(), module, manifest, api_version })
}

fn classify_error(e: LibraryError) -> LoadError {
    match e {
        LibraryError::OpenError { err, .. } => LoadError::NotALibrary(err.to_string()),
        LibraryError::GetSymbolError { .. } => LoadError::NotAPlugin,
        LibraryError::IncompatibleVersionNumber { expected_version, actual_version, .. } => {
            LoadError::IncompatibleVersion {
                found: actual_version.to_string(),
                needed: format!("{}.{}.x", expected_version.major, expected_version.minor),
            }
        }
        LibraryError::AbiInstability(details) => {
            // abi_stable's report is many lines; the first names the mismatch.
            let text = details.to_string();
            LoadError::IncompatibleLayout(text.lines().take(3).collect::<Vec<_>>().join(" "))
        }
        other => LoadError::InitFailed(other.to_string()),
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn validate(m: &Manifest) -> Result<(), LoadError> {
    let bad = |msg: String| Err(LoadError::InvalidManifest(msg));
    if !is_identifier(&m.name) {
        return bad(format!("plugin name {:?} must be 1-64 chars of a-z, 0-9, '-', '_'", m.name.as_str()));
    }
    if m.version.is_empty() {
        return bad(format!("plugin `{}` declares no version", m.name));
    }
    if m.job_types.is_empty() {
        return bad(format!("plugin `{}` registers no job type", m.name));
    }
    for jt in m.job_types.iter() {
        if !is_identifier(&jt.name) {
            return bad(format!("job type name {:?} must be 1-64 chars of a-z, 0-9, '-', '_'", jt.name.as_str()));
        }
        if jt.suffixes.is_empty() || jt.suffixes.iter().any(|s| !s.starts_with('.') || s.len() < 2) {
            return bad(format!("job type `{}` must claim file suffixes like \".dot\"", jt.name));
        }
        if jt.formats.is_empty() {
            return bad(format!("job type `{}` declares no output format", jt.name));
        }
    }
    Ok(())
}
