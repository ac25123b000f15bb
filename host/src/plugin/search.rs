//! The plugin search path, in order: `--plugin-dir` / `CLX_PLUGIN_PATH`,
//! `plugins` from `clx.toml`, the directory of the `clx` executable, its
//! `plugins/` and `../lib/clx/plugins` (where `scripts/install` puts them),
//! then the user data dir.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SearchOrigin {
    CommandLine,
    Config,
    Executable,
    UserData,
}

impl SearchOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchOrigin::CommandLine => "--plugin-dir/CLX_PLUGIN_PATH",
            SearchOrigin::Config => "clx.toml",
            SearchOrigin::Executable => "beside clx",
            SearchOrigin::UserData => "user data dir",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SearchDir {
    pub path: PathBuf,
    pub origin: SearchOrigin,
    /// Whether every dynamic library here is a candidate. The executable's own
    /// directory is shared with other files (in a cargo target dir, with every
    /// library of the workspace), so there only `*clx_plugin_*` libraries count.
    pub every_library: bool,
}

#[derive(Debug, Clone, Default)]
pub struct SearchPath {
    pub dirs: Vec<SearchDir>,
}

impl SearchPath {
    /// Build the search path. `explicit` holds `--plugin-dir` entries, which
    /// replace `CLX_PLUGIN_PATH` (clap merges the two).
    pub fn new(explicit: &[PathBuf], config: &[PathBuf], exe: Option<&Path>, user_data: Option<&Path>) -> Self {
        let mut dirs = Vec::new();
        let mut push = |path: PathBuf, origin, every_library| {
            if !dirs.iter().any(|d: &SearchDir| d.path == path) {
                dirs.push(SearchDir { path, origin, every_library });
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

    /// Candidate library files, in search order; within a directory sorted by name.
    pub fn candidates(&self) -> Vec<(PathBuf, SearchOrigin)> {
        let mut out = Vec::new();
        for dir in &self.dirs {
            let Ok(entries) = std::fs::read_dir(&dir.path) else { continue };
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_dynamic_library(p))
                .filter(|p| dir.every_library || is_named_like_plugin(p))
                .collect();
            files.sort();
            out.extend(files.into_iter().map(|p| (p, dir.origin)));
        }
        out
    }
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
        let found: Vec<_> = path.candidates().into_iter().map(|(p, _)| p).collect();
        assert_eq!(found, vec![dir.path().join("libclx_plugin_a.so")]);
    }

    #[test]
    fn explicit_dirs_offer_every_library_and_come_first() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("libanything.so"), b"x").unwrap();
        std::fs::write(b.path().join("libclx_plugin_b.so"), b"x").unwrap();
        let path = SearchPath::new(&[a.path().to_path_buf()], &[], Some(&b.path().join("clx")), None);
        let found: Vec<_> = path.candidates().into_iter().collect();
        assert_eq!(found[0], (a.path().join("libanything.so"), SearchOrigin::CommandLine));
        assert_eq!(found[1], (b.path().join("libclx_plugin_b.so"), SearchOrigin::Executable));
    }

    #[test]
    fn an_installed_clx_finds_the_plugins_in_its_prefix_lib() {
        let path = SearchPath::new(&[], &[], Some(Path::new("/opt/x/bin/clx")), None);
        let dir = path.dirs.iter().find(|d| d.path == Path::new("/opt/x/lib/clx/plugins"));
        assert!(dir.is_some_and(|d| d.every_library && d.origin == SearchOrigin::Executable));
    }
}
