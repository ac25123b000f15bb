//! Where a deck runs: a directory whose path depends only on what is being
//! built, so pages that print a path or a file's location come out the same
//! on every build. A lock beside it keeps it private to one job at a time;
//! a second build of the same course waits for the first to leave it.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::KernelError;

/// A claimed, freshly emptied run directory; removed and released on drop.
pub struct RunDir {
    path: PathBuf,
    /// Holds the `flock`; the kernel drops it if this process dies.
    _lock: std::fs::File,
}

impl RunDir {
    /// Claim `<root>/<key>/`, waiting while another job holds it, and empty
    /// it (a job killed mid-run leaves its files behind).
    pub fn claim(root: &Path, key: &str) -> Result<RunDir, KernelError> {
        let io = |what: &str, path: &Path| {
            let message = format!("{what} {}", path.display());
            move |e| KernelError::Io(message, e)
        };
        std::fs::create_dir_all(root).map_err(io("cannot create", root))?;
        let lock_path = root.join(format!("{key}.lock"));
        let lock = lock_exclusive(&lock_path).map_err(io("cannot lock", &lock_path))?;
        let path = root.join(key);
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(io("cannot empty", &path))?;
        }
        std::fs::create_dir_all(&path).map_err(io("cannot create", &path))?;
        Ok(RunDir { path, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Open (creating) `path` and wait for an exclusive `flock` on it. The lock
/// goes with the returned file, and with the process if it dies.
pub fn lock_exclusive(path: &Path) -> std::io::Result<std::fs::File> {
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
    loop {
        // SAFETY: flock on a descriptor we own; no memory is involved.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(lock);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        // Before the lock goes with the file: the next holder finds it empty.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn the_same_key_gives_the_same_empty_path_and_waits_for_its_holder() {
        let root = tempfile::tempdir().unwrap();
        let first = RunDir::claim(root.path(), "k").unwrap();
        let path = first.path().to_owned();
        std::fs::write(path.join("left.txt"), "x").unwrap();
        let released = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (root, released) = (root.path().to_owned(), released.clone());
            std::thread::spawn(move || {
                let second = RunDir::claim(&root, "k").unwrap();
                assert!(released.load(Ordering::SeqCst), "claimed while the first job held it");
                (second.path().to_owned(), std::fs::read_dir(second.path()).unwrap().count())
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        released.store(true, Ordering::SeqCst);
        drop(first);
        let (second_path, entries) = waiter.join().unwrap();
        assert_eq!(second_path, path);
        assert_eq!(entries, 0, "the second job starts in an empty directory");
        assert!(!path.exists(), "removed after its job");
    }
}
