//! The output tree: atomic, hash-aware writes and the post-build sweep.
//!
//! A file is written only when its bytes change (so an unchanged rebuild
//! touches nothing and keeps mtimes), always through a temp file in the same
//! directory and a rename (so a reader or a crash never sees half a file).
//! After the build, files inside the course roots that the build did not
//! produce are removed; `.git` directories and anything outside the roots are
//! never touched.

use std::collections::HashSet;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Why an output could not be written, or the output tree not cleaned.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// Writing the file (or its temp file, or its folder) failed.
    #[error("cannot write {path}: {source}; check that folder's permissions and the free disk space")]
    Write {
        /// The output file being written.
        path: PathBuf,
        /// The underlying failure.
        source: std::io::Error,
    },
    /// A file sits where the output's path needs a folder.
    #[error("cannot write {path}: {blocker} is a file where clx needs a folder; move it away (or build with --clean)")]
    FileInTheWay {
        /// The output file being written.
        path: PathBuf,
        /// The file that is in the way, one of the output's ancestors.
        blocker: PathBuf,
    },
    /// A folder sits at the output's own path.
    #[error("cannot write {path}: a folder is in the way; move it away (or build with --clean)")]
    FolderInTheWay {
        /// The output file being written.
        path: PathBuf,
    },
    /// The source of a copied file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The course file being copied.
        path: PathBuf,
        /// The underlying failure.
        source: std::io::Error,
    },
    /// Removing a stale output or emptying a root for `--clean` failed.
    #[error("cannot clean {path}: {source}")]
    Clean {
        /// The file or folder that could not be listed or removed.
        path: PathBuf,
        /// The underlying failure.
        source: std::io::Error,
    },
}

/// Whether a write touched the disk; the report counts the two apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The file was new or its bytes differed, and was replaced.
    Written,
    /// The file already held exactly these bytes; left alone, mtime kept.
    Unchanged,
}

/// The files one build produces.
#[derive(Debug, Default)]
pub struct OutputTree {
    roots: Vec<PathBuf>,
    produced: HashSet<PathBuf>,
}

impl OutputTree {
    /// An empty tree for a build writing below `roots`, the only folders
    /// the sweep will ever remove files from.
    pub fn new(roots: Vec<PathBuf>) -> OutputTree {
        OutputTree { roots, produced: HashSet::new() }
    }

    /// Write `bytes` to `path` unless it already holds exactly them.
    pub fn write(&mut self, path: &Path, bytes: &[u8]) -> Result<Written, OutputError> {
        self.produced.insert(path.to_owned());
        write_if_changed(path, bytes)
    }

    /// Copy a file, with the same rules as [`OutputTree::write`]; an
    /// executable source (a script in a dir group) stays executable.
    pub fn copy(&mut self, from: &Path, to: &Path) -> Result<Written, OutputError> {
        let read_err = |source| OutputError::Read { path: from.to_owned(), source };
        let bytes = std::fs::read(from).map_err(read_err)?;
        let executable = std::fs::metadata(from).map_err(read_err)?.permissions().mode() & 0o111 != 0;
        self.produced.insert(to.to_owned());
        write_with_mode(to, &bytes, if executable { 0o777 } else { 0o666 })
    }

    /// Whether this build wrote or copied `path` (unchanged bytes count, and
    /// so does a write that failed: the sweep keeps its older file).
    pub fn produced(&self, path: &Path) -> bool {
        self.produced.contains(path)
    }

    /// Remove files under the roots that this build did not produce, and the
    /// directories that become empty. Returns the removed files.
    pub fn sweep(&self) -> Result<Vec<PathBuf>, OutputError> {
        let mut removed = Vec::new();
        for root in &self.roots {
            if root.is_dir() {
                self.sweep_dir(root, &mut removed)?;
            }
        }
        Ok(removed)
    }

    fn sweep_dir(&self, dir: &Path, removed: &mut Vec<PathBuf>) -> Result<bool, OutputError> {
        let clean_err = |source| OutputError::Clean { path: dir.to_owned(), source };
        let mut empty = true;
        for entry in std::fs::read_dir(dir).map_err(clean_err)? {
            let entry = entry.map_err(clean_err)?;
            let path = entry.path();
            let kind = entry.file_type().map_err(clean_err)?;
            if entry.file_name() == ".git" {
                empty = false;
            } else if kind.is_dir() {
                if self.sweep_dir(&path, removed)? {
                    std::fs::remove_dir(&path).map_err(|source| OutputError::Clean { path: path.clone(), source })?;
                } else {
                    empty = false;
                }
            } else if self.produced.contains(&path) {
                empty = false;
            } else {
                std::fs::remove_file(&path).map_err(|source| OutputError::Clean { path: path.clone(), source })?;
                removed.push(path);
            }
        }
        Ok(empty)
    }
}

/// Empty `root` (for `--clean`), keeping every `.git` directory.
pub fn clean_root(root: &Path) -> Result<(), OutputError> {
    if !root.is_dir() {
        return Ok(());
    }
    let clean_err = |path: &Path| {
        let path = path.to_owned();
        move |source| OutputError::Clean { path, source }
    };
    for entry in std::fs::read_dir(root).map_err(clean_err(root))? {
        let entry = entry.map_err(clean_err(root))?;
        let path = entry.path();
        if entry.file_name() == ".git" {
            continue;
        }
        if entry.file_type().map_err(clean_err(&path))?.is_dir() {
            clean_root(&path)?;
            // Still holds a `.git` somewhere below: keep it.
            let _ = std::fs::remove_dir(&path);
        } else {
            std::fs::remove_file(&path).map_err(clean_err(&path))?;
        }
    }
    Ok(())
}

/// Write an ordinary (not executable) file; see [`write_with_mode`].
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<Written, OutputError> {
    write_with_mode(path, bytes, 0o666)
}

/// Write `bytes` to `path` unless it already holds exactly them. The file
/// gets `mode` less the umask, as any program's new file would: outputs are
/// published (a web server reads them), so the temp file's private 0600
/// must not survive the rename. A file whose bytes are unchanged but whose
/// mode is not what a fresh write would give (written by an older clx) gets
/// its mode fixed and keeps its mtime.
pub fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<Written, OutputError> {
    let write_err = |source| OutputError::Write { path: path.to_owned(), source };
    let wanted = umask().map(|mask| mode & !mask);
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.is_dir() {
            return Err(OutputError::FolderInTheWay { path: path.to_owned() });
        }
        if meta.len() == bytes.len() as u64 && std::fs::read(path).map(|old| old == bytes).unwrap_or(false) {
            if let Some(wanted) = wanted.filter(|&w| meta.permissions().mode() & 0o777 != w) {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted)).map_err(write_err)?;
            }
            return Ok(Written::Unchanged);
        }
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    if let Err(e) = std::fs::create_dir_all(dir) {
        // The io error ("File exists", "Not a directory") does not say
        // which part of the path is the problem; the user needs to know.
        return Err(match dir.ancestors().find(|a| a.is_file()) {
            Some(blocker) => OutputError::FileInTheWay { path: path.to_owned(), blocker: blocker.to_owned() },
            None => write_err(e),
        });
    }
    // The mode goes to open(2), so the kernel applies the umask.
    let mut tmp = tempfile::Builder::new()
        .prefix(".clx-")
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(write_err)?;
    tmp.write_all(bytes).map_err(write_err)?;
    tmp.persist(path).map_err(|e| write_err(e.error))?;
    Ok(Written::Written)
}

/// The process's umask, read once; `None` where the system cannot tell.
fn umask() -> Option<u32> {
    static UMASK: OnceLock<Option<u32>> = OnceLock::new();
    *UMASK.get_or_init(clx_sys::process::umask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_where_a_folder_must_go_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "in the way").unwrap();
        let err = write_if_changed(&dir.path().join("a/b/c.txt"), b"x").unwrap_err();
        assert!(matches!(&err, OutputError::FileInTheWay { blocker, .. } if blocker == &dir.path().join("a")), "{err}");
        std::fs::create_dir_all(dir.path().join("d/e.txt")).unwrap();
        let err = write_if_changed(&dir.path().join("d/e.txt"), b"x").unwrap_err();
        assert!(matches!(err, OutputError::FolderInTheWay { .. }), "{err}");
    }

    #[test]
    fn unchanged_bytes_keep_the_file_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b.txt");
        let mut tree = OutputTree::new(vec![dir.path().to_owned()]);
        assert_eq!(tree.write(&path, b"x").unwrap(), Written::Written);
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert_eq!(tree.write(&path, b"x").unwrap(), Written::Unchanged);
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), before);
        assert_eq!(tree.write(&path, b"y").unwrap(), Written::Written);
        assert_eq!(std::fs::read(&path).unwrap(), b"y");
    }

    #[test]
    fn sweep_removes_stale_files_but_never_git() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside.txt");
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join(".git/HEAD"), "ref").unwrap();
        std::fs::create_dir_all(root.join("old")).unwrap();
        std::fs::write(root.join("old/stale.txt"), "s").unwrap();
        std::fs::write(&outside, "o").unwrap();
        let mut tree = OutputTree::new(vec![root.clone()]);
        tree.write(&root.join("keep.txt"), b"k").unwrap();
        let removed = tree.sweep().unwrap();
        assert_eq!(removed, vec![root.join("old/stale.txt")]);
        assert!(!root.join("old").exists());
        assert!(root.join(".git/HEAD").exists());
        assert!(root.join("keep.txt").exists());
        assert!(outside.exists());
    }

    #[test]
    fn clean_root_keeps_git_directories() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub/.git")).unwrap();
        std::fs::write(dir.path().join("sub/.git/x"), "").unwrap();
        std::fs::write(dir.path().join("sub/y"), "").unwrap();
        std::fs::write(dir.path().join("z"), "").unwrap();
        clean_root(dir.path()).unwrap();
        assert!(dir.path().join("sub/.git/x").exists());
        assert!(!dir.path().join("sub/y").exists());
        assert!(!dir.path().join("z").exists());
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn outputs_get_the_mode_the_umask_allows_and_copies_keep_the_exec_bit() {
        let mask = umask().expect("Linux tells the umask");
        let dir = tempfile::tempdir().unwrap();
        let mut tree = OutputTree::new(vec![dir.path().to_owned()]);
        let page = dir.path().join("out/page.html");
        tree.write(&page, b"<p>").unwrap();
        assert_eq!(mode(&page), 0o666 & !mask);
        let script = dir.path().join("run.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        tree.copy(&script, &dir.path().join("out/run.sh")).unwrap();
        assert_eq!(mode(&dir.path().join("out/run.sh")), 0o777 & !mask);
        // An unchanged file left private by an older build is opened up.
        std::fs::set_permissions(&page, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(tree.write(&page, b"<p>").unwrap(), Written::Unchanged);
        assert_eq!(mode(&page), 0o666 & !mask);
    }
}
