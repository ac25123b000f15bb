//! The plugin search path, in order: `--plugin-dir` / `CLX_PLUGIN_PATH`,
//! `plugins` from `clx.toml`, the directory of the `clx` executable, its
//! `plugins/` and `../lib/clx/plugins` (where `scripts/install` puts them),
//! then the user data dir.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
/// Which part of the search path a directory comes from; earlier parts win.
pub enum SearchOrigin {
    /// `--plugin-dir` or `CLX_PLUGIN_PATH`.
    CommandLine,
    /// `plugins` in a `clx.toml`.
    Config,
    /// Beside the `clx` executable, or where `scripts/install` puts plugins.
    Executable,
    /// `plugins/` in the user data dir, where `clx plugins install` copies to.
    UserData,
}

impl SearchOrigin {
    /// The origin as `clx plugins list` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            SearchOrigin::CommandLine => "--plugin-dir/CLX_PLUGIN_PATH",
            SearchOrigin::Config => "clx.toml",
            SearchOrigin::Executable => "beside clx",
            SearchOrigin::UserData => "user data dir",
        }
    }
}

/// One directory of the search path.
#[derive(Debug, Clone)]
pub struct SearchDir {
    /// The directory; it need not exist.
    pub path: PathBuf,
    /// Which part of the search path put it there.
    pub origin: SearchOrigin,
    /// Whether every dynamic library here is a candidate. The executable's own
    /// directory is shared with other files (in a cargo target dir, with every
    /// library of the workspace), so there only `*clx_plugin_*` libraries count.
    pub every_library: bool,
    /// Who put this directory on the path (`--plugin-dir`, a config file),
    /// so a plugin that comes with a cloned course is never a surprise.
    pub added_by: String,
}

/// A library on the search path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The library file.
    pub path: PathBuf,
    /// Which part of the search path its directory belongs to.
    pub origin: SearchOrigin,
    /// Who put its directory on the path, copied from [`SearchDir::added_by`].
    pub added_by: String,
    /// Why the library must not be loaded at all (others could change it).
    pub refused: Option<String>,
}

/// The directories searched for plugins, in order of precedence.
#[derive(Debug, Clone, Default)]
pub struct SearchPath {
    /// The directories, first wins; no directory twice.
    pub dirs: Vec<SearchDir>,
}

impl SearchPath {
    /// Build the search path. `explicit` holds `--plugin-dir` entries, which
    /// replace `CLX_PLUGIN_PATH` (clap merges the two).
    pub fn new(explicit: &[PathBuf], config: &[PathBuf], exe: Option<&Path>, user_data: Option<&Path>) -> Self {
        let mut dirs = Vec::new();
        let mut push = |path: PathBuf, origin: SearchOrigin, every_library| {
            if !dirs.iter().any(|d: &SearchDir| d.path == path) {
                dirs.push(SearchDir { path, origin, every_library, added_by: origin.as_str().to_owned() });
            }
        };
        for p in explicit {
            push(p.clone(), SearchOrigin::CommandLine, true);
        }
        for p in config {
            push(p.clone(), SearchOrigin::Config, true);
        }
        if let Some(dir) = exe.and_then(Path::parent) {
            push(dir.to_path_buf(), SearchOrigin::Executable, false);
            push(dir.join("plugins"), SearchOrigin::Executable, true);
            if let Some(prefix) = dir.parent() {
                push(prefix.join("lib").join("clx").join("plugins"), SearchOrigin::Executable, true);
            }
        }
        if let Some(dir) = user_data {
            push(dir.join("plugins"), SearchOrigin::UserData, true);
        }
        SearchPath { dirs }
    }

    /// Say more precisely who added `dir` (which config file, which flag).
    pub fn added_by(mut self, dir: &Path, by: impl Into<String>) -> Self {
        if let Some(d) = self.dirs.iter_mut().find(|d| d.path == dir) {
            d.added_by = by.into();
        }
        self
    }

    /// Candidate library files, in search order; within a directory sorted by name.
    pub fn candidates(&self) -> Vec<Found> {
        let mut out = Vec::new();
        for dir in &self.dirs {
            let Ok(entries) = std::fs::read_dir(&dir.path) else { continue };
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_dynamic_library(p))
                .filter(|p| dir.every_library || is_named_like_plugin(p))
                .collect();
            files.sort();
            let dir_refused = unsafe_because(&dir.path, "directory");
            out.extend(files.into_iter().map(|path| Found {
                refused: dir_refused.clone().or_else(|| unsafe_because(&path, "library")),
                path,
                origin: dir.origin,
                added_by: dir.added_by.clone(),
            }));
        }
        out
    }
}

/// Why loading code from `path` would let another user run code as us, the
/// way ssh judges its key files: it (or, for a link, what it points to) is
/// writable by group or others, or owned by someone but us and root.
fn unsafe_because(path: &Path, what: &str) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let shown = path.display();
    if meta.uid() != me && meta.uid() != 0 {
        return Some(format!(
            "the plugin {what} {shown} belongs to another user (uid {}), who could change the code clx loads; \
             use a copy you own (or have root own it)",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Some(format!(
            "the plugin {what} {shown} is writable by other users (mode {mode:o}), who could change the code clx \
             loads; run `chmod go-w {shown}`"
        ));
    }
    None
}

fn is_dynamic_library(path: &Path) -> bool {
    let suffix = std::env::consts::DLL_SUFFIX;
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(suffix))
}

fn is_named_like_plugin(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.contains("clx_plugin_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_dir_only_offers_libraries_named_like_plugins() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("clx");
        for name in ["libclx_plugin_a.so", "libother.so", "notes.txt"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let path = SearchPath::new(&[], &[], Some(&exe), None);
        let found: Vec<_> = path.candidates().into_iter().map(|f| f.path).collect();
        assert_eq!(found, vec![dir.path().join("libclx_plugin_a.so")]);
    }

    #[test]
    fn explicit_dirs_offer_every_library_and_come_first() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("libanything.so"), b"x").unwrap();
        std::fs::write(b.path().join("libclx_plugin_b.so"), b"x").unwrap();
        let path = SearchPath::new(&[a.path().to_path_buf()], &[], Some(&b.path().join("clx")), None);
        let found: Vec<_> = path.candidates().into_iter().map(|f| (f.path, f.origin)).collect();
        assert_eq!(found[0], (a.path().join("libanything.so"), SearchOrigin::CommandLine));
        assert_eq!(found[1], (b.path().join("libclx_plugin_b.so"), SearchOrigin::Executable));
    }

    #[test]
    fn an_installed_clx_finds_the_plugins_in_its_prefix_lib() {
        let path = SearchPath::new(&[], &[], Some(Path::new("/opt/x/bin/clx")), None);
        let dir = path.dirs.iter().find(|d| d.path == Path::new("/opt/x/lib/clx/plugins"));
        assert!(dir.is_some_and(|d| d.every_library && d.origin == SearchOrigin::Executable));
    }

    #[test]
    fn libraries_others_can_write_are_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libx.so");
        std::fs::write(&lib, b"x").unwrap();
        std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = SearchPath::new(&[dir.path().to_owned()], &[], None, None).added_by(dir.path(), "--plugin-dir");
        let found = path.candidates();
        assert_eq!(found[0].refused, None);
        assert_eq!(found[0].added_by, "--plugin-dir");
        std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o664)).unwrap();
        let refused = path.candidates()[0].refused.clone().unwrap();
        assert!(refused.contains("library") && refused.contains("chmod go-w"), "{refused}");
        std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let refused = path.candidates()[0].refused.clone().unwrap();
        assert!(refused.contains("directory") && refused.contains("mode 777"), "{refused}");
    }
}
