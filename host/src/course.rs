//! The course model: the spec's sections with their topics resolved to
//! directories and files below `<course root>/slides/`, each file
//! classified as a deck, a diagram source or a data file.
//!
//! Decisions (SPEC §2): everything is scanned in sorted order so the result
//! does not depend on the file system; ignore rules look only at path
//! components below the course root (a course stored under `~/build/` still
//! works); hidden files are never course files; a single-file topic pulls in
//! only referenced files that exist; a file directly in a module directory is
//! a topic only when a plugin claims it as slides (so `my_image_v2.png` does
//! not become topic `v2`).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use clx_plugin_api::Role;

use crate::layout::{sanitize_name, ProgLang};
use crate::plan::{Classifier, JobClass};
use crate::report::Diagnostic;
use crate::spec::{CourseSpec, DirGroupSpec, Text};

#[derive(Debug, thiserror::Error)]
pub enum CourseError {
    #[error("{}: no slides/ directory; the course root (--data-dir) must contain slides/", root.display())]
    NoSlides { root: PathBuf },
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CourseError + '_ {
    move |source| CourseError::Io { path: path.to_owned(), source }
}

#[derive(Debug, Clone)]
pub struct Course {
    pub spec: CourseSpec,
    /// The data dir: the directory holding `slides/`.
    pub root: PathBuf,
    /// The course's `<prog-lang>`, which names the code output folder.
    pub prog_lang: ProgLang,
    pub sections: Vec<Section>,
    pub dir_groups: Vec<DirGroupSpec>,
    /// Unknown topics, duplicate ids, unreadable decks: the rest still builds.
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, Clone)]
pub struct Section {
    pub name: Text,
    pub topics: Vec<Topic>,
}

#[derive(Debug, Clone)]
pub struct Topic {
    pub id: String,
    /// The topic directory, or the deck of a single-file topic.
    pub path: PathBuf,
    /// The directory file paths are relative to: the topic directory, or the
    /// module directory of a single-file topic.
    pub base: PathBuf,
    pub skip_html: bool,
    pub files: Vec<CourseFile>,
}

#[derive(Debug, Clone)]
pub struct CourseFile {
    pub path: PathBuf,
    /// Relative to the topic's base, `/`-separated.
    pub rel: String,
    pub role: FileRole,
}

#[derive(Debug, Clone)]
pub enum FileRole {
    Deck(Deck),
    Diagram(JobClass),
    Data,
}

#[derive(Debug, Clone)]
pub struct Deck {
    pub class: JobClass,
    /// 1-based within its section.
    pub number: u32,
    /// Sanitised, ready to be a file name.
    pub title: Text,
    /// From the deck's extension, else the course's.
    pub prog_lang: ProgLang,
}

impl CourseFile {
    /// Where a diagram's image lands, relative to the topic: `img/<stem>.<format>`
    /// (stem = the file name minus its last extension).
    pub fn image_rel(&self, format: &str) -> String {
        let name = self.rel.rsplit('/').next().unwrap_or(&self.rel);
        let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
        format!("img/{stem}.{format}")
    }
}

/// Directory names that never hold course files (course.md §2.4), plus
/// everything starting with `_` or `.` (SPEC §2).
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
    pub topics: BTreeMap<String, PathBuf>,
    pub diagnostics: Vec<Diagnostic>,
}

impl TopicMap {
    pub fn scan(root: &Path, classifier: &dyn Classifier) -> Result<TopicMap, CourseError> {
        let slides = root.join("slides");
        if !slides.is_dir() {
            return Err(CourseError::NoSlides { root: root.to_owned() });
        }
        let mut map = TopicMap::default();
        for (module_name, module) in sorted_entries(&slides)? {
            if !module.is_dir() || is_ignored_dir(&module_name) {
                continue;
            }
            for (name, path) in sorted_entries(&module)? {
                let is_topic = if path.is_dir() {
                    !is_ignored_dir(&name)
                } else {
                    !is_ignored_file(&name) && classifier.classify(&name).is_some_and(|c| c.role == Role::Slides)
                };
                let id = topic_id(&name);
                if !is_topic || id.is_empty() {
                    continue;
                }
                match map.topics.get(&id) {
                    Some(first) => map.diagnostics.push(Diagnostic::warning(
                        display(root, &path),
                        "",
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

impl Course {
    pub fn load(spec: CourseSpec, root: &Path, classifier: &dyn Classifier) -> Result<Course, CourseError> {
        let prog_lang =
            ProgLang::by_name(&spec.prog_lang).unwrap_or(ProgLang { name: "python", dir: "Python", ext: "py" });
        let spec_display = display(root, &spec.file);
        let map = TopicMap::scan(root, classifier)?;
        let mut diagnostics: Vec<Diagnostic> = spec
            .warnings
            .iter()
            .map(|w| Diagnostic::warning(&spec_display, format!("{}:{}", w.line, w.column), &w.message))
            .collect();
        if ProgLang::by_name(&spec.prog_lang).is_none() {
            diagnostics.push(Diagnostic::error(
                &spec_display,
                format!("{}:{}", spec.prog_lang_at.0, spec.prog_lang_at.1),
                format!(
                    "unknown <prog-lang> `{}`; use one of {} (code outputs go to `Python` meanwhile)",
                    spec.prog_lang,
                    ProgLang::known_names()
                ),
            ));
        }
        diagnostics.extend(map.diagnostics.iter().cloned());
        let mut sections = Vec::new();
        for section_spec in &spec.sections {
            let mut topics = Vec::new();
            let mut number = 0;
            for topic_spec in &section_spec.topics {
                let Some(path) = map.topics.get(&topic_spec.id) else {
                    diagnostics.push(Diagnostic::error(
                        &spec_display,
                        format!("{}:{}", topic_spec.line, topic_spec.column),
                        format!(
                            "topic `{}` not found: no slides/<module>/topic_NNN_{} directory or deck; fix the id or create the topic",
                            topic_spec.id, topic_spec.id
                        ),
                    ));
                    continue;
                };
                let found = if path.is_dir() { dir_topic(path)? } else { file_topic(root, path)? };
                let found_nothing = found.files.is_empty();
                let mut topic = Topic {
                    id: topic_spec.id.clone(),
                    path: path.clone(),
                    base: found.base,
                    skip_html: topic_spec.skip_html,
                    files: Vec::with_capacity(found.files.len()),
                };
                for (rel, path) in found.files {
                    let name = rel.rsplit('/').next().unwrap_or(&rel);
                    let role = match classifier.classify(name) {
                        Some(class) if class.role == Role::Slides => {
                            match deck(root, &path, class, prog_lang, number + 1) {
                                Ok(deck) => {
                                    number += 1;
                                    FileRole::Deck(deck)
                                }
                                Err(d) => {
                                    diagnostics.push(d);
                                    continue;
                                }
                            }
                        }
                        Some(class) => FileRole::Diagram(class),
                        None => FileRole::Data,
                    };
                    topic.files.push(CourseFile { path, rel, role });
                }
                if found_nothing {
                    diagnostics.push(Diagnostic::warning(
                        &spec_display,
                        format!("{}:{}", topic_spec.line, topic_spec.column),
                        format!(
                            "topic `{}` ({}) has no files, so it produces nothing; add a slides_* deck or remove the topic",
                            topic_spec.id,
                            display(root, path)
                        ),
                    ));
                }
                topics.push(topic);
            }
            sections.push(Section { name: section_spec.name.clone(), topics });
        }
        let dir_groups = spec.dir_groups.clone();
        Ok(Course { spec, root: root.to_owned(), prog_lang, sections, dir_groups, diagnostics })
    }

    /// A path as the user knows it: relative to the course root.
    pub fn display(&self, path: &Path) -> String {
        display(&self.root, path)
    }
}

fn deck(root: &Path, path: &Path, class: JobClass, course_lang: ProgLang, number: u32) -> Result<Deck, Diagnostic> {
    let text = std::fs::read(path)
        .map_err(|e| Diagnostic::error(display(root, path), "", format!("cannot read the deck: {e}")))?;
    let text = String::from_utf8(text).map_err(|e| {
        let (line, offset) = crate::spec::not_utf8_at(&e);
        Diagnostic::error(
            display(root, path),
            format!("line {line}"),
            format!("the deck is not UTF-8 (byte {offset}); save it as UTF-8"),
        )
    })?;
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let title = match find_header(&text) {
        Some((de, en)) => Text::new(sanitize_name(&de), sanitize_name(&en)),
        None => Text::new(stem.clone(), stem),
    };
    let ext = path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    let prog_lang = ProgLang::by_extension(&ext).unwrap_or(course_lang);
    Ok(Deck { class, number, title, prog_lang })
}

/// The titles of `{{ header("DE", "EN") }}`: the first match on one line,
/// both captures greedy as in the predecessor's regex
/// `{{\s*header\s*\(\s*["'](.*)["']\s*,\s*["'](.*)["']\s*\)\s*}}`.
pub fn find_header(text: &str) -> Option<(String, String)> {
    text.lines().find_map(header_in_line)
}

fn header_in_line(line: &str) -> Option<(String, String)> {
    let b = line.as_bytes();
    let skip_ws = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let is_quote = |i: usize| i < b.len() && (b[i] == b'"' || b[i] == b'\'');
    for (start, _) in line.match_indices("{{") {
        let mut i = skip_ws(start + 2);
        if !line[i..].starts_with("header") {
            continue;
        }
        i = skip_ws(i + "header".len());
        if b.get(i) != Some(&b'(') {
            continue;
        }
        i = skip_ws(i + 1);
        if !is_quote(i) {
            continue;
        }
        let g1 = i + 1;
        // Greedy: try the latest end of the first capture first, then the
        // latest end of the second.
        for e1 in (g1..b.len()).rev().filter(|&e| is_quote(e)) {
            let mut j = skip_ws(e1 + 1);
            if b.get(j) != Some(&b',') {
                continue;
            }
            j = skip_ws(j + 1);
            if !is_quote(j) {
                continue;
            }
            let g2 = j + 1;
            for e2 in (g2..b.len()).rev().filter(|&e| is_quote(e)) {
                let mut k = skip_ws(e2 + 1);
                if b.get(k) != Some(&b')') {
                    continue;
                }
                k = skip_ws(k + 1);
                if line[k..].starts_with("}}") {
                    return Some((line[g1..e1].to_owned(), line[g2..e2].to_owned()));
                }
            }
        }
    }
    None
}

/// A topic's files before classification: (`/`-separated path relative to `base`, path).
struct FoundTopic {
    base: PathBuf,
    files: Vec<(String, PathBuf)>,
}

fn dir_topic(dir: &Path) -> Result<FoundTopic, CourseError> {
    Ok(FoundTopic { base: dir.to_owned(), files: walk_files(dir, &is_ignored_dir)? })
}

/// Every file below `dir` that is not ignored, sorted, as (`/`-separated
/// path relative to `dir`, path); `skip_dir` says which directory names to
/// leave out.
pub fn walk_files(dir: &Path, skip_dir: &dyn Fn(&str) -> bool) -> Result<Vec<(String, PathBuf)>, CourseError> {
    let mut out = Vec::new();
    walk(dir, "", skip_dir, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(
    dir: &Path,
    prefix: &str,
    skip_dir: &dyn Fn(&str) -> bool,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), CourseError> {
    for (name, path) in sorted_entries(dir)? {
        let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        if path.is_dir() {
            if !skip_dir(&name) {
                walk(&path, &rel, skip_dir, out)?;
            }
        } else if path.is_file() && !is_ignored_file(&name) {
            out.push((rel, path));
        }
    }
    Ok(())
}

fn file_topic(root: &Path, deck: &Path) -> Result<FoundTopic, CourseError> {
    let module = deck.parent().unwrap_or(root).to_owned();
    let text = std::fs::read(deck).map_err(io_err(deck))?;
    let text = String::from_utf8_lossy(&text);
    let ext = deck.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    let deck_name = deck.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut files = vec![(deck_name, deck.to_owned())];
    for reference in referenced_files(&text, &ext) {
        let path = reference.split('/').fold(module.clone(), |p, c| p.join(c));
        let hidden = reference.split('/').any(|c| c.starts_with('.'));
        let ignored = reference.split('/').rev().skip(1).any(is_ignored_dir);
        if !hidden && !ignored && path.is_file() && !files.iter().any(|(rel, _)| *rel == reference) {
            files.push((reference, path));
        }
    }
    Ok(FoundTopic { base: module, files })
}

/// Module-relative paths a single-file deck refers to: `<img src="…">` and
/// `import x` / `from x import …` (as `x.<ext>`). Only safe relative paths
/// are returned; whether they exist is the caller's check.
pub fn referenced_files(text: &str, ext: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("<img") {
        rest = &rest[at + 4..];
        let tag_end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..tag_end];
        if let Some(src_at) = tag.find("src=\"") {
            let value = &tag[src_at + 5..];
            if let Some(end) = value.find('"') {
                out.push(value[..end].to_owned());
            }
        }
    }
    for line in text.lines() {
        let line = line.trim_start();
        let names: Vec<&str> = if let Some(after) = line.strip_prefix("from") {
            let after = after.trim_start();
            if !line[4..].starts_with(char::is_whitespace) {
                continue;
            }
            let name = after.split_whitespace().next().unwrap_or("");
            let tail = after[name.len()..].trim_start();
            if !tail.starts_with("import") {
                continue;
            }
            vec![name]
        } else if let Some(after) = line.strip_prefix("import") {
            if !after.starts_with(char::is_whitespace) {
                continue;
            }
            after.split(',').filter_map(|part| part.split_whitespace().next()).collect()
        } else {
            continue;
        };
        for name in names {
            let name = name.trim_start_matches('.').trim_end_matches([';', '"', '\'']);
            if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                out.push(format!("{}.{ext}", name.replace('.', "/")));
            }
        }
    }
    out.retain(|p| is_safe_relative(p));
    out
}

pub fn is_safe_relative(p: &str) -> bool {
    !p.is_empty() && !p.contains(':') && Path::new(p).components().all(|c| matches!(c, Component::Normal(_)))
}

/// Directory entries sorted by name (file names that are not UTF-8 are skipped:
/// they cannot appear in output names).
fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, CourseError> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        if let Ok(name) = entry.file_name().into_string() {
            entries.push((name, entry.path()));
        }
    }
    entries.sort();
    Ok(entries)
}

/// `path` relative to `root`, `/`-separated; the path itself when outside.
pub fn display(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rel) => rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"),
        Err(_) => path.display().to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::report::Level;

    /// The notebook/plantuml/drawio plugins' claims, as the real registry would answer.
    pub(crate) struct TestClassifier;

    impl Classifier for TestClassifier {
        fn classify(&self, name: &str) -> Option<JobClass> {
            let ext = name.rsplit_once('.').map(|(_, e)| e)?;
            let class = |plugin: &str, job_type: &str, role, formats: &[&str]| JobClass {
                plugin: plugin.into(),
                job_type: job_type.into(),
                role,
                formats: formats.iter().map(|f| f.to_string()).collect(),
            };
            match ext {
                "py" if name.starts_with("slides_") || name.starts_with("topic_") => {
                    Some(class("notebook", "notebook", Role::Slides, &["ipynb", "code", "html"]))
                }
                "pu" | "puml" | "plantuml" => Some(class("plantuml", "plantuml", Role::Diagram, &["png", "svg"])),
                "drawio" => Some(class("drawio", "drawio", Role::Diagram, &["png", "svg"])),
                _ => None,
            }
        }
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn spec(root: &Path, topics: &[(&str, &[&str])]) -> CourseSpec {
        let sections: String = topics
            .iter()
            .map(|(name, ids)| {
                let topics: String = ids.iter().map(|id| format!("<topic>{id}</topic>")).collect();
                format!("<section><name><de>{name}</de><en>{name}</en></name><topics>{topics}</topics></section>")
            })
            .collect();
        let text = format!(
            "<course><name><de>K</de><en>C</en></name><prog-lang>python</prog-lang>\
             <description><de/><en/></description><certificate><de/><en/></certificate>\
             <github><de/><en/></github><sections>{sections}</sections></course>"
        );
        crate::spec::parse_str(&text, &root.join("course-specs/c.xml")).unwrap()
    }

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
    fn ignore_rules_look_only_below_the_course_root() {
        let tmp = tempfile::tempdir().unwrap();
        // A course stored inside a directory called `build` must still work.
        let root = tmp.path().join("build").join("course");
        write(&root, "slides/module_000_a/topic_100_x/slides_x.py", "# {{ header('X', 'X') }}\n");
        write(&root, "slides/module_000_a/topic_100_x/build/ignored.txt", "");
        write(&root, "slides/module_000_a/topic_100_x/__pycache__/c.pyc", "");
        write(&root, "slides/module_000_a/topic_100_x/img/.gitkeep", "");
        write(&root, "slides/module_000_a/topic_100_x/img/a.png", "");
        write(&root, "slides/_drafts/topic_100_y/slides_y.py", "");
        let course = Course::load(spec(&root, &[("S", &["x", "y"])]), &root, &TestClassifier).unwrap();
        let rels: Vec<_> = course.sections[0].topics[0].files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["img/a.png", "slides_x.py"]);
        assert_eq!(course.sections[0].topics.len(), 1, "topic y lives in an ignored module");
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
    fn unknown_topic_is_an_error_and_the_rest_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "slides/module_000_a/topic_100_x/slides_x.py", "");
        let course = Course::load(spec(root, &[("S", &["nope", "x"])]), root, &TestClassifier).unwrap();
        let errors: Vec<_> = course.diagnostics.iter().filter(|d| d.level == Level::Error).collect();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("`nope`"));
        assert_eq!(errors[0].file, "course-specs/c.xml");
        assert_eq!(course.sections[0].topics.len(), 1);
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
    fn decks_are_numbered_per_section_in_topic_then_file_order() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "slides/module_000_a/topic_100_x/slides_x2.py", "# {{ header(\"Zwei: B\", 'Two [B]') }}\n");
        write(root, "slides/module_000_a/topic_100_x/slides_x1.py", "no header\n");
        write(root, "slides/module_000_a/topic_110_y.py", "# {{header('Ypsilon', 'Why?')}}\n");
        let course = Course::load(spec(root, &[("S1", &["y", "x"]), ("S2", &["x"])]), root, &TestClassifier).unwrap();
        let decks = |s: usize| -> Vec<(u32, String, String)> {
            course.sections[s]
                .topics
                .iter()
                .flat_map(|t| &t.files)
                .filter_map(|f| match &f.role {
                    FileRole::Deck(d) => Some((d.number, d.title.de.clone(), d.title.en.clone())),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(
            decks(0),
            [
                (1, "Ypsilon".into(), "Why".into()),
                (2, "slides_x1".into(), "slides_x1".into()),
                (3, "Zwei B".into(), "Two (B)".into())
            ]
        );
        assert_eq!(decks(1)[0].0, 1);
    }

    #[test]
    fn header_capture_is_greedy_like_the_predecessor() {
        assert_eq!(find_header(r#"# {{ header("A", "B") }}"#), Some(("A".into(), "B".into())));
        assert_eq!(find_header(r#"{{header('a", "b', "c")}}"#), Some(("a\", \"b".into(), "c".into())));
        assert_eq!(find_header("{{ header(\"A\",\n \"B\") }}"), None);
    }

    #[test]
    fn single_file_topic_pulls_in_existing_images_and_imports_only() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let deck = "import helper\nimport os, json\nfrom tools.fmt import x\n# import commented\n\
                    # <img src=\"img/pic.png\" alt=\"\">\n<img src=\"img/missing.png\">\n<img src=\"../escape.png\">\n";
        write(root, "slides/module_000_a/topic_100_x.py", deck);
        write(root, "slides/module_000_a/helper.py", "");
        write(root, "slides/module_000_a/tools/fmt.py", "");
        write(root, "slides/module_000_a/img/pic.png", "");
        write(root, "slides/escape.png", "");
        let course = Course::load(spec(root, &[("S", &["x"])]), root, &TestClassifier).unwrap();
        let topic = &course.sections[0].topics[0];
        let rels: Vec<_> = topic.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["topic_100_x.py", "img/pic.png", "helper.py", "tools/fmt.py"]);
        assert_eq!(topic.base, root.join("slides/module_000_a"));
    }

    #[test]
    fn diagram_images_go_to_the_topic_img_folder_with_the_last_extension_replaced() {
        let f = CourseFile { path: PathBuf::new(), rel: "pu/my.diag.pu".into(), role: FileRole::Data };
        assert_eq!(f.image_rel("png"), "img/my.diag.png");
    }
}
