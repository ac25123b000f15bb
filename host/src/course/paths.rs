//! Course-relative paths, as messages show them and as spec and deck
//! references must be.

use std::path::{Component, Path};

/// `path` relative to `root`, `/`-separated; the path itself when outside.
pub fn display(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rel) => rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"),
        Err(_) => path.display().to_string(),
    }
}

/// A relative path that stays below its base: no `..`, no root, no drive.
pub fn is_safe_relative(p: &str) -> bool {
    !p.is_empty() && !p.contains(':') && Path::new(p).components().all(|c| matches!(c, Component::Normal(_)))
}
