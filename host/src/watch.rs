//! Watch mode: which file events matter, and how they are debounced.
//!
//! A rebuild replans the whole course and runs the plan through the same
//! engine (whose workers stay warm); the cache makes everything that did not
//! change a hit, so only the changed deck, diagram or data file costs work,
//! and the sweep removes outputs of files that are gone.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{PollWatcher, RecursiveMode, Watcher};

use crate::course::layout::Top;

/// Quiet time after the last event before a rebuild starts: editors write a
/// file in several steps (temp file, rename, chmod).
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// How often a polling watcher looks, where the file system sends no events.
pub const POLL: Duration = Duration::from_millis(500);

/// Why the course could not be watched.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The file-system watcher could not be set up on a path.
    #[error("cannot watch {path}: {source}")]
    Watch {
        /// The directory that was to be watched (the course root).
        path: PathBuf,
        /// The watcher's failure (e.g. the inotify watch limit reached).
        source: notify::Error,
    },
}

/// Watches a course's files and reports, debounced, which ones changed,
/// ignoring what the build itself writes.
pub struct CourseWatcher {
    _watcher: Box<dyn Watcher + Send>,
    /// `Some` when the watcher looks for changes instead of being told.
    poll: Option<Duration>,
    rx: mpsc::Receiver<notify::Result<notify::Event>>,
    root: PathBuf,
    /// Where the build writes: events below these are our own.
    ignored: Vec<PathBuf>,
}

impl CourseWatcher {
    /// Watch everything below `root` except `output` (our own writes). An
    /// output folder that holds the course (`-o .`) is not ignored whole,
    /// only the trees the build writes into, or no edit would ever count.
    ///
    /// `poll`: look for changes at this interval instead of waiting for
    /// events; `None` polls (every [`POLL`]) only where the file system
    /// does not report every writer's changes (see
    /// [`crate::sys::reports_every_change`]): an editor on the Windows side
    /// of WSL2 or on another machine of a network share changes files no
    /// event announces, and a watch mode that never rebuilds would look
    /// like a hang. A polling watcher compares modification times, which
    /// it reads in whole seconds: of two saves within one second it may
    /// see only the first.
    pub fn new(root: &Path, output: &Path, poll: Option<Duration>) -> Result<CourseWatcher, WatchError> {
        let (tx, rx) = mpsc::channel();
        let handler = move |e| {
            let _ = tx.send(e);
        };
        let poll = poll.or_else(|| (!crate::sys::reports_every_change(root)).then_some(POLL));
        let fail = |source| WatchError::Watch { path: root.to_owned(), source };
        let mut watcher: Box<dyn Watcher + Send> = match poll {
            Some(every) => {
                Box::new(PollWatcher::new(handler, notify::Config::default().with_poll_interval(every)).map_err(fail)?)
            }
            None => Box::new(notify::recommended_watcher(handler).map_err(fail)?),
        };
        watcher
            .watch(root, RecursiveMode::Recursive)
            .map_err(|source| WatchError::Watch { path: root.to_owned(), source })?;
        let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_owned());
        let (root, output) = (canon(root), canon(output));
        let ignored = if root.starts_with(&output) {
            Top::ALL.iter().map(|top| output.join(top.dir())).collect()
        } else {
            vec![output]
        };
        Ok(CourseWatcher { _watcher: watcher, poll, rx, root, ignored })
    }

    /// How often the watcher looks; `None` when the file system tells it.
    pub fn poll_interval(&self) -> Option<Duration> {
        self.poll
    }

    /// Wait up to `timeout` for relevant changes, then until things are quiet
    /// for [`DEBOUNCE`]. Returns the changed paths relative to the course
    /// root (empty: nothing happened).
    pub fn next_change(&self, timeout: Duration) -> BTreeSet<String> {
        let mut changed = BTreeSet::new();
        let until = Instant::now() + timeout;
        // Quiet is measured from the last *relevant* event: reads of the
        // output tree (a browser, a test) must not hold a rebuild back.
        let mut settle = until;
        loop {
            let now = Instant::now();
            let deadline = if changed.is_empty() { until } else { settle };
            if now >= deadline {
                return changed;
            }
            match self.rx.recv_timeout(deadline - now) {
                Ok(Ok(event)) => {
                    if matches!(event.kind, notify::EventKind::Access(_)) {
                        continue;
                    }
                    for path in event.paths {
                        if let Some(rel) = self.relevant(&path) {
                            changed.insert(rel);
                            settle = Instant::now() + DEBOUNCE;
                        }
                    }
                }
                Ok(Err(e)) => tracing::warn!("file watcher: {e}"),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return changed,
            }
        }
    }

    fn relevant(&self, path: &Path) -> Option<String> {
        if self.ignored.iter().any(|dir| path.starts_with(dir)) {
            return None;
        }
        let rel = path.strip_prefix(&self.root).ok()?;
        let name = rel.file_name()?.to_string_lossy();
        if is_editor_noise(&name) {
            return None;
        }
        let hidden = rel.components().any(|c| {
            let c = c.as_os_str().to_string_lossy();
            c.starts_with('.') || c == "__pycache__" || c == ".ipynb_checkpoints"
        });
        (!hidden).then(|| rel.to_string_lossy().into_owned())
    }
}

/// Temp, backup and lock files editors write next to the real file.
pub fn is_editor_noise(name: &str) -> bool {
    name.starts_with(".~")
        || name.starts_with(".#")
        || name.starts_with('#')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".tmp")
        || name.ends_with(".bak")
        || name.ends_with(".bkp")
        || name == "4913"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_temp_and_lock_files_are_noise() {
        for n in [".~lock.x.odt#", ".#slides.py", "#slides.py#", "slides.py~", ".slides.py.swp", "4913", "x.tmp"] {
            assert!(is_editor_noise(n), "{n}");
        }
        for n in ["slides_intro.py", "data.csv", "diagram.pu"] {
            assert!(!is_editor_noise(n), "{n}");
        }
    }

    #[test]
    fn a_burst_of_writes_is_one_change_and_output_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("output");
        std::fs::create_dir_all(&out).unwrap();
        let w = CourseWatcher::new(dir.path(), &out, None).unwrap();
        std::fs::write(dir.path().join("a.py"), "1").unwrap();
        std::fs::write(dir.path().join("a.py"), "2").unwrap();
        std::fs::write(dir.path().join(".a.py.swp"), "x").unwrap();
        std::fs::write(out.join("ignored.html"), "x").unwrap();
        let changed = w.next_change(Duration::from_secs(5));
        assert_eq!(changed.into_iter().collect::<Vec<_>>(), vec!["a.py".to_owned()]);
    }

    #[test]
    fn a_polling_watcher_sees_an_edit_no_event_announced() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("output");
        std::fs::write(dir.path().join("a.py"), "1").unwrap();
        let w = CourseWatcher::new(dir.path(), &out, Some(Duration::from_millis(50))).unwrap();
        assert_eq!(w.poll_interval(), Some(Duration::from_millis(50)));
        // Polling compares modification times in whole seconds.
        std::thread::sleep(Duration::from_millis(1100));
        std::fs::write(dir.path().join("a.py"), "22").unwrap();
        let changed = w.next_change(Duration::from_secs(5));
        assert_eq!(changed.into_iter().collect::<Vec<_>>(), vec!["a.py".to_owned()]);
    }

    #[test]
    fn a_local_disk_gets_events_not_polling() {
        let dir = tempfile::tempdir().unwrap();
        assert!(crate::sys::reports_every_change(dir.path()));
        let w = CourseWatcher::new(dir.path(), &dir.path().join("output"), None).unwrap();
        assert_eq!(w.poll_interval(), None);
    }

    #[test]
    fn an_output_folder_holding_the_course_still_sees_edits() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("public/En")).unwrap();
        std::fs::create_dir_all(dir.path().join("slides")).unwrap();
        let w = CourseWatcher::new(dir.path(), dir.path(), None).unwrap();
        std::fs::write(dir.path().join("public/En/page.html"), "x").unwrap();
        std::fs::write(dir.path().join("slides/a.py"), "1").unwrap();
        let changed = w.next_change(Duration::from_secs(5));
        assert_eq!(changed.into_iter().collect::<Vec<_>>(), vec!["slides/a.py".to_owned()]);
    }
}
