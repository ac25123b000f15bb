//! Load one library file and prove it is a usable clx plugin.
//!
//! `abi_stable` does the heavy lifting: it refuses a root module whose
//! plugin-api version is semver-incompatible with ours and compares the layout
//! of every type reachable from it. We add our own checks on what the plugin
//! says about itself, because a compatible library can still declare garbage.

use std::ffi::CStr;
use std::path::{Path, PathBuf};

use abi_stable::library::{lib_header_from_raw_library, LibraryError, RawLibrary};
use abi_stable::std_types::RResult;
use clx_plugin_api::{
    check_api_version, ApiVersionFn, ConverterBox, Manifest, PluginModRef, API_VERSION, API_VERSION_SYMBOL,
};

/// Why a library file is not a usable plugin; `clx plugins list` shows it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// The dynamic loader refused the file; holds its message.
    #[error("not a loadable library: {0}")]
    NotALibrary(String),
    /// A library, but without the symbols a clx plugin exports.
    #[error("not a clx plugin (it exports no clx root module)")]
    NotAPlugin,
    /// Names both versions and what to rebuild against.
    #[error("{0}")]
    IncompatibleVersion(String),
    /// The plugin-api version matches but the types' layout does not;
    /// holds abi_stable's account of the difference.
    #[error("its plugin-api types do not match this clx (incompatible layout); rebuild the plugin against clx-plugin-api {API_VERSION}: {0}")]
    IncompatibleLayout(String),
    /// The plugin's root module could not be initialised; holds why.
    #[error("the plugin failed to initialise: {0}")]
    InitFailed(String),
    /// The plugin loaded but describes itself wrongly (a bad name, no
    /// version, no job type, no suffix or format); holds what is wrong.
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
}

/// A plugin that passed every check.
pub struct LoadedPlugin {
    /// The library file it was loaded from.
    pub path: PathBuf,
    /// The plugin's root module: the entry points the host calls.
    pub module: PluginModRef,
    /// What the plugin says about itself: name, version, job types.
    pub manifest: Manifest,
    /// The plugin-api version it was built against, as it reports it.
    pub api_version: String,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin").field("path", &self.path).field("manifest", &self.manifest).finish()
    }
}

impl LoadedPlugin {
    /// The plugin's name from its manifest: what `requires-plugins` and
    /// shadowing go by.
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
    let library = RawLibrary::load_at(path).map_err(classify_error)?;
    // abi_stable lets a newer 0.x minor through to its layout check, whose
    // report names neither version: ask the plugin which one it was built
    // against first, and say so in both versions' words.
    if let Some(found) = declared_api_version(&library) {
        check_api_version(&found, API_VERSION).map_err(LoadError::IncompatibleVersion)?;
    }
    // SAFETY: the library is never unloaded (it is leaked below), so the
    // header's 'static references stay valid.
    let header = unsafe { lib_header_from_raw_library(&library) }.map_err(classify_error)?;
    std::mem::forget(library);
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
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => LoadError::IncompatibleVersion(
            check_api_version(&actual_version.to_string(), API_VERSION).err().unwrap_or_else(|| {
                format!("built against plugin-api {actual_version}, which this clx ({API_VERSION}) refuses")
            }),
        ),
        LibraryError::AbiInstability(details) => {
            // abi_stable's report is many lines; the first names the mismatch.
            let text = details.to_string();
            LoadError::IncompatibleLayout(text.lines().take(3).collect::<Vec<_>>().join(" "))
        }
        other => LoadError::InitFailed(other.to_string()),
    }
}

/// The plugin-api version a plugin built with `export_plugin!` declares;
/// `None` for plugins built before that symbol existed (abi_stable's own
/// version check still applies to them).
fn declared_api_version(library: &RawLibrary) -> Option<String> {
    // SAFETY: `export_plugin!` defines this symbol with exactly this type.
    let read: ApiVersionFn = *unsafe { library.get::<ApiVersionFn>(API_VERSION_SYMBOL.as_bytes()) }.ok()?;
    let version = read();
    if version.is_null() {
        return None;
    }
    // SAFETY: a non-null answer points to a NUL-terminated string in the
    // library's static memory, mapped while `library` lives.
    let version = unsafe { CStr::from_ptr(version) };
    Some(version.to_string_lossy().chars().take(64).collect())
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
        // A printer claims no file: its pages come from the host.
        let claims = jt.role != clx_plugin_api::Role::Print;
        if (claims && jt.suffixes.is_empty()) || jt.suffixes.iter().any(|s| !s.starts_with('.') || s.len() < 2) {
            return bad(format!("job type `{}` must claim file suffixes like \".dot\"", jt.name));
        }
        if jt.formats.is_empty() {
            return bad(format!("job type `{}` declares no output format", jt.name));
        }
    }
    Ok(())
}
