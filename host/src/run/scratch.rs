//! Scratch folders for workers.
//!
//! Every worker runs with `TMPDIR` set to a folder of its own under
//! `<state dir>/tmp/`, so whatever the worker and the tools it starts put in
//! the temp dir (job work dirs, kernel connection files, browser profiles,
//! Chromium's sockets) lands there. A worker killed mid-job cannot clean up
//! after itself, and its tools cannot either; the pool removes the folder
//! once the worker's process group is dead. Folders named after a clx host
//! that was itself killed are removed by the next host that starts.

use std::path::{Path, PathBuf};

/// Hands out per-worker scratch folders under one root, named after this
/// host process so a later host can tell which are stale.
pub struct Scratch {
    root: PathBuf,
    host: u32,
    next: usize,
}

impl Scratch {
    /// Scratch space under `root` for this process; removes what hosts that
    /// are no longer running left behind.
    pub fn new(root: PathBuf) -> std::io::Result<Scratch> {
        std::fs::create_dir_all(&root)?;
        let scratch = Scratch { root, host: std::process::id(), next: 0 };
        scratch.sweep(|host| host != scratch.host && !crate::process::alive(host));
        Ok(scratch)
    }

    /// A new, empty folder for one worker.
    pub fn create(&mut self) -> std::io::Result<PathBuf> {
        self.next += 1;
        let dir = self.root.join(format!("{}-{}", self.host, self.next));
        // Left over from an earlier host with the same pid: not ours to keep.
        remove(&dir);
        std::fs::create_dir(&dir)?;
        Ok(dir)
    }

    /// Remove every folder this host handed out (its workers are all dead).
    pub fn clear(&self) {
        self.sweep(|host| host == self.host);
    }

    fn sweep(&self, wanted: impl Fn(u32) -> bool) {
        let Ok(entries) = std::fs::read_dir(&self.root) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let host = name.to_str().and_then(|n| n.split('-').next()).and_then(|pid| pid.parse().ok());
            if host.is_some_and(&wanted) {
                remove(&entry.path());
            }
        }
    }
}

/// Best effort: a folder that cannot be removed now is swept later.
pub fn remove(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::debug!("cannot remove {}: {e}", dir.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_of_dead_hosts_are_swept_and_live_ones_kept() {
        let root = tempfile::tempdir().unwrap();
        // Pid 1 runs for as long as the machine does; no pid is this large.
        let live = root.path().join("1-1");
        let dead = root.path().join(format!("{}-3", i32::MAX));
        for dir in [&live, &dead] {
            std::fs::create_dir_all(dir.join("profile")).unwrap();
        }
        let mut scratch = Scratch::new(root.path().to_owned()).unwrap();
        assert!(live.exists());
        assert!(!dead.exists());
        let mine = scratch.create().unwrap();
        std::fs::write(mine.join("connection.json"), "{}").unwrap();
        scratch.clear();
        assert!(!mine.exists());
        assert!(live.exists());
    }
}
