//! Finding the course's files: topic directories and single-file topics
//! below `slides/`, in sorted order so the result does not depend on the
//! file system.
//!
//! Ignore rules look only at path components below the course root (a
//! course stored under `~/build/` still works); hidden files are never
//! course files; a single-file topic pulls in only referenced files that
//! exist; a file directly in a module directory is a topic only when a
//! plugin claims it as slides (so `my_image_v2.png` does not become topic
//! `v2`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clx_plugin_api::Role;

use crate::course::deck_text;
pub use crate::course::paths::{display, is_safe_relative};
use crate::course::plan::Classifier;
use crate::report::{Diagnostic, Location};

#[derive(Debug, thiserror::Error)]
/// Why a course's files could not be read at all.
pub enum CourseError {
    #[error("{}: no slides/ directory; the course root (--data-dir) must contain slides/", root.display())]
    /// The course root has no `slides/` directory: most likely the wrong `--data-dir`.
    NoSlides {
        /// The course root that was searched.
        root: PathBuf,
    },
    #[error("{}: cannot read: {source}", path.display())]
    /// A file or directory below the course root could not be read.
    Io {
        /// What could not be read.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CourseError + '_ {
    move |source| CourseError::Io { path: path.to_owned(), source }
}

/// Directory names that never hold course files (tool caches, build output,
/// editor folders), plus everything starting with `_` or `.`.
pub fn is_ignored_dir(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "__pycache__",
        ".git",
        ".ipynb_checkpoints",
        ".mypy_cache",
        ".pytest_cache",
        ".tox",
        ".venv",
        ".vs",
        ".vscode",
        ".idea",
        "build",
        "dist",
        ".cargo",
        "target",
        "out",
        "CMakeFiles",
        "bin",
        "obj",
        "localdata",
    ];
    name.starts_with('_')
        || name.starts_with('.')
        || NAMES.contains(&name)
        || name.contains(".egg-info")
        || name.contains("cmake-build-")
        || name.ends_with(".bkp")
        || name.ends_with(".bak")
}

/// Files that are never course files: hidden files (`.gitkeep`, editor
/// locks) and backups.
pub fn is_ignored_file(name: &str) -> bool {
    name.starts_with('.') || name.ends_with(".keras") || name.ends_with(".bkp") || name.ends_with(".bak")
}

/// `topic_100_abc_def[.py]` -> `abc_def`: drop the last extension and the
/// first two `_`-separated parts. Empty when there are fewer than three.
pub fn topic_id(name: &str) -> String {
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    let mut parts = stem.splitn(3, '_');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(rest)) => rest.to_owned(),
        _ => String::new(),
    }
}

/// Topic ids found below `slides/`.
#[derive(Debug, Default)]
pub struct TopicMap {
    /// Topic id -> its directory (or single-file deck) below `slides/`.
    pub topics: BTreeMap<String, PathBuf>,
    /// Files in a module directory named like a single-file topic
    /// (`topic_120_project.pyy`) that no plugin reads, by the id they would
    /// have: what an unknown topic id most likely meant.
    pub unclaimed: BTreeMap<String, PathBuf>,
    /// Duplicate topic ids and other problems met while scanning; the scan still goes on.
    pub diagnostics: Vec<Diagnostic>,
}

impl TopicMap {
    /// Walks `slides/` below `root` and maps every topic id to its path, using `classifier` to recognise single-file topics.
    pub fn scan(root: &Path, classifier: &dyn Classifier) -> Result<TopicMap, CourseError> {
        let slides = root.join("slides");
        if !slides.is_dir() {
            return Err(CourseError::NoSlides { root: root.to_owned() });
        }
        let mut map = TopicMap::default();
        let links = Links::new(root);
        let slides_at = canonical(&slides);
        for (module_name, module) in sorted_entries(root, &slides, &mut map.diagnostics)? {
            if !module.is_dir() || is_ignored_dir(&module_name) {
                continue;
            }
            if let Some(problem) = links.problem(&module, std::slice::from_ref(&slides_at)) {
                map.diagnostics.push(problem);
                continue;
            }
            let module_at = canonical(&module);
            for (name, path) in sorted_entries(root, &module, &mut map.diagnostics)? {
                if let Some(problem) = links.problem(&path, std::slice::from_ref(&module_at)) {
                    if !is_ignored_dir(&name) && !is_ignored_file(&name) {
                        map.diagnostics.push(problem);
                    }
                    continue;
                }
                let is_topic = if path.is_dir() {
                    !is_ignored_dir(&name)
                } else {
                    !is_ignored_file(&name) && classifier.classify(&name).is_some_and(|c| c.role == Role::Slides)
                };
                let id = topic_id(&name);
                if id.is_empty() {
                    continue;
                }
                if !is_topic {
                    if path.is_file() && name.starts_with("topic_") {
                        map.unclaimed.entry(id).or_insert(path);
                    }
                    continue;
                }
                match map.topics.get(&id) {
                    Some(first) => map.diagnostics.push(Diagnostic::warning(
                        display(root, &path),
                        Location::NONE,
                        format!(
                            "duplicate topic id `{id}`: {} and {}; the first is used, rename the other",
                            display(root, first),
                            display(root, &path)
                        ),
                    )),
                    None => {
                        map.topics.insert(id, path);
                    }
                }
            }
        }
        Ok(map)
    }
}

/// A topic's files before classification: (`/`-separated path relative to `base`, path).
pub(super) struct FoundTopic {
    pub(super) base: PathBuf,
    pub(super) files: Vec<(String, PathBuf)>,
}

pub(super) fn dir_topic(root: &Path, dir: &Path) -> Result<(FoundTopic, Vec<Diagnostic>), CourseError> {
    let (files, diagnostics) = walk_files(root, dir, &is_ignored_dir)?;
    Ok((FoundTopic { base: dir.to_owned(), files }, diagnostics))
}

/// A file as (`/`-separated path relative to a base, path).
pub type RelFile = (String, PathBuf);

/// Every file below `dir` that is not ignored, sorted, as (`/`-separated
/// path relative to `dir`, path); `skip_dir` says which directory names to
/// leave out. Symbolic links are followed only while they stay inside the
/// course `root` and do not lead back to a folder being walked; the links
/// that are not followed come back as warnings.
pub fn walk_files(
    root: &Path,
    dir: &Path,
    skip_dir: &dyn Fn(&str) -> bool,
) -> Result<(Vec<RelFile>, Vec<Diagnostic>), CourseError> {
    let mut walk = Walk { links: Links::new(root), skip_dir, files: Vec::new(), diagnostics: Vec::new() };
    walk.dir(dir, "", &mut vec![canonical(dir)])?;
    walk.files.sort();
    Ok((walk.files, walk.diagnostics))
}

struct Walk<'a> {
    links: Links,
    skip_dir: &'a dyn Fn(&str) -> bool,
    files: Vec<(String, PathBuf)>,
    diagnostics: Vec<Diagnostic>,
}

impl Walk<'_> {
    /// `open`: the canonical folders from the walk's start down to `dir`.
    fn dir(&mut self, dir: &Path, prefix: &str, open: &mut Vec<PathBuf>) -> Result<(), CourseError> {
        for (name, path) in sorted_entries(&self.links.root, dir, &mut self.diagnostics)? {
            let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
            let wanted = if path.is_dir() { !(self.skip_dir)(&name) } else { !is_ignored_file(&name) };
            if !wanted {
                continue;
            }
            if let Some(problem) = self.links.problem(&path, open) {
                self.diagnostics.push(problem);
                continue;
            }
            if path.is_dir() {
                open.push(canonical(&path));
                self.dir(&path, &rel, open)?;
                open.pop();
            } else if path.is_file() {
                self.files.push((rel, path));
            }
        }
        Ok(())
    }
}

/// The rules for symbolic links below the course root: a link is followed
/// only when it stays inside the course (a link to `~/.ssh` would publish
/// it) and does not lead back to a folder it sits in (which would repeat
/// the course until the path gets too long).
struct Links {
    root: PathBuf,
    canonical_root: PathBuf,
}

impl Links {
    fn new(root: &Path) -> Links {
        Links { root: root.to_owned(), canonical_root: canonical(root) }
    }

    /// Why the entry at `path` must not be followed; `open` holds the
    /// canonical folders the walk is inside.
    fn problem(&self, path: &Path, open: &[PathBuf]) -> Option<Diagnostic> {
        if !std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            return None;
        }
        let warn = |message: String| Some(Diagnostic::warning(display(&self.root, path), Location::NONE, message));
        let target = match path.canonicalize() {
            Ok(target) => target,
            // Too many levels of links: a loop among links.
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return warn("symbolic link loop; it is not followed, remove or fix the link".to_owned())
            }
            // A dangling link is no file; it was never part of the course.
            Err(_) => return None,
        };
        if !target.starts_with(&self.canonical_root) {
            return warn(format!(
                "symbolic link to {} leads outside the course; it is not followed, copy what it points to into the course",
                target.display()
            ));
        }
        if open.iter().any(|dir| dir.starts_with(&target)) {
            return warn(format!(
                "symbolic link loop: it leads back to {}, which holds it; it is not followed, remove the link",
                display(&self.canonical_root, &target)
            ));
        }
        None
    }
}

/// `path` with every link resolved, or as it is when that fails.
fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_owned())
}

pub(super) fn file_topic(root: &Path, deck: &Path) -> Result<FoundTopic, CourseError> {
    let module = deck.parent().unwrap_or(root).to_owned();
    let references = deck_text::references(deck).map_err(io_err(deck))?;
    let deck_name = deck.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut files = vec![(deck_name, deck.to_owned())];
    let links = Links::new(root);
    for reference in references {
        let path = reference.split('/').fold(module.clone(), |p, c| p.join(c));
        let hidden = reference.split('/').any(|c| c.starts_with('.'));
        let ignored = reference.split('/').rev().skip(1).any(is_ignored_dir);
        let outside = links.problem(&path, &[]).is_some();
        if !hidden && !ignored && !outside && path.is_file() && !files.iter().any(|(rel, _)| *rel == reference) {
            files.push((reference, path));
        }
    }
    Ok(FoundTopic { base: module, files })
}

/// Directory entries sorted by name. A name that is not UTF-8 cannot appear
/// in output names: it is left out with a warning in `diagnostics` that
/// shows it with its undecodable bytes replaced, so the author can find and
/// rename it.
fn sorted_entries(
    root: &Path,
    dir: &Path,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<Vec<(String, PathBuf)>, CourseError> {
    let mut entries = Vec::new();
    let mut unreadable = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        match entry.file_name().into_string() {
            Ok(name) => entries.push((name, entry.path())),
            Err(_) => unreadable.push(entry.path()),
        }
    }
    entries.sort();
    unreadable.sort();
    diagnostics.extend(unreadable.iter().map(|path| {
        let message = "the name is not valid UTF-8 (shown with \u{fffd} for the bytes that are not), so it is \
                       skipped; rename it";
        Diagnostic::warning(display(root, path), Location::NONE, message)
    }));
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::testing::{write, TestClassifier};
    use crate::report::Level;

    #[test]
    fn topic_id_drops_extension_and_first_two_parts() {
        assert_eq!(topic_id("topic_100_abc_def"), "abc_def");
        assert_eq!(topic_id("topic_110_another_topic_from_test_1.py"), "another_topic_from_test_1");
        assert_eq!(topic_id("topic_100_foo.bar"), "foo");
        assert_eq!(topic_id("img"), "");
        assert_eq!(topic_id("include_me.py"), "");
        assert_eq!(topic_id("topic_100"), "");
    }

    #[test]
    fn ignore_rules_cover_the_list_patterns_and_underscore_or_dot_dirs() {
        for name in [
            "__pycache__",
            ".git",
            "build",
            "target",
            "foo.egg-info",
            "cmake-build-debug",
            "old.bak",
            "_drafts",
            ".hidden",
        ] {
            assert!(is_ignored_dir(name), "{name} should be ignored");
        }
        for name in ["img", "data", "pu", "builder", "module_010_x"] {
            assert!(!is_ignored_dir(name), "{name} should not be ignored");
        }
        assert!(is_ignored_file(".gitkeep"));
        assert!(!is_ignored_file("x.csv"));
    }

    #[test]
    fn duplicate_id_warns_once_with_both_paths_and_the_first_sorted_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "slides/module_010_b/topic_100_x/slides_b.py", "");
        write(root, "slides/module_000_a/topic_200_x/slides_a.py", "");
        let map = TopicMap::scan(root, &TestClassifier).unwrap();
        assert_eq!(map.topics["x"], root.join("slides/module_000_a/topic_200_x"));
        assert_eq!(map.diagnostics.len(), 1);
        let d = &map.diagnostics[0];
        assert_eq!(d.level, Level::Warning);
        assert!(d.message.contains("slides/module_000_a/topic_200_x"), "{}", d.message);
        assert!(d.message.contains("slides/module_010_b/topic_100_x"), "{}", d.message);
    }

    #[test]
    fn names_that_are_not_utf8_are_skipped_with_a_warning_showing_them_lossily() {
        use std::os::unix::ffi::OsStrExt;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let topic = root.join("slides/module_000_a/topic_100_x");
        write(&topic, "slides_x.py", "");
        let bad = |dir: &Path| dir.join(std::ffi::OsStr::from_bytes(b"bild_\xff.png"));
        std::fs::write(bad(&topic), "p").unwrap();
        std::fs::write(bad(&root.join("slides/module_000_a")), "p").unwrap();
        let map = TopicMap::scan(root, &TestClassifier).unwrap();
        let (files, problems) = walk_files(root, &topic, &is_ignored_dir).unwrap();
        assert_eq!(files.iter().map(|(rel, _)| rel.as_str()).collect::<Vec<_>>(), ["slides_x.py"]);
        for (d, file) in [
            (&map.diagnostics[0], "slides/module_000_a/bild_\u{fffd}.png"),
            (&problems[0], "slides/module_000_a/topic_100_x/bild_\u{fffd}.png"),
        ] {
            assert_eq!((d.level, d.file.as_str()), (Level::Warning, file));
            assert!(d.message.contains("not valid UTF-8") && d.message.contains("rename it"), "{}", d.message);
        }
        assert_eq!((map.diagnostics.len(), problems.len()), (1, 1));
    }

    #[test]
    fn module_files_are_topics_only_when_claimed_as_slides() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "slides/module_000_a/my_image_v2.png", "");
        write(root, "slides/module_000_a/topic_100_v3.py", "");
        let map = TopicMap::scan(root, &TestClassifier).unwrap();
        assert_eq!(map.topics.keys().collect::<Vec<_>>(), ["v3"]);
    }

    #[test]
    fn symlinks_leaving_the_course_or_looping_are_not_followed_and_warned_about() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        write(&outside, "secret.txt", "s");
        let root = tmp.path().join("course");
        let topic = root.join("slides/module_000_a/topic_100_x");
        write(&topic, "slides_x.py", "");
        write(&root, "shared/logo.png", "p");
        std::os::unix::fs::symlink(&outside, topic.join("leak")).unwrap();
        std::os::unix::fs::symlink("..", topic.join("again")).unwrap();
        std::os::unix::fs::symlink("../../../shared", topic.join("shared")).unwrap();
        std::os::unix::fs::symlink("self", topic.join("self")).unwrap();
        let (files, problems) = walk_files(&root, &topic, &is_ignored_dir).unwrap();
        let rels: Vec<_> = files.iter().map(|(rel, _)| rel.as_str()).collect();
        assert_eq!(rels, ["shared/logo.png", "slides_x.py"]);
        let messages: Vec<_> = problems.iter().map(|d| format!("{}: {}", d.file, d.message)).collect();
        assert_eq!(messages.len(), 3, "{messages:#?}");
        assert!(messages[0].starts_with("slides/module_000_a/topic_100_x/again: symbolic link loop"), "{messages:#?}");
        assert!(messages[1].starts_with("slides/module_000_a/topic_100_x/leak: symbolic link to "), "{messages:#?}");
        assert!(messages[1].contains("leads outside the course"), "{messages:#?}");
        assert!(messages[2].starts_with("slides/module_000_a/topic_100_x/self: symbolic link loop"), "{messages:#?}");
    }
}
