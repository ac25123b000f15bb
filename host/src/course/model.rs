//! The course model: the spec's sections with their topics resolved to
//! directories and files below `<course root>/slides/`, each file
//! classified as a deck, a diagram source or a data file.
//!
//! Decks are numbered per section, in topic order and then file order; a
//! deck's title comes from its header line (see `deck_text`). Finding the
//! files is `scan`'s job.

use std::path::{Path, PathBuf};

use clx_plugin_api::Role;

use clx_plugin_api::suggest;

use crate::course::deck_text::{self, DeckFacts};
use crate::course::lang::Text;
use crate::course::layout::{sanitize_name, ProgLang};
use crate::course::plan::{Classifier, JobClass};
use crate::course::scan::{dir_topic, display, file_topic, CourseError, TopicMap};
use crate::course::spec::{CourseSpec, DirGroupSpec, TopicSpec};
use crate::report::{Diagnostic, Location};

#[derive(Debug, Clone)]
/// A course as read from disk: its spec resolved against the files below `slides/`.
pub struct Course {
    /// The parsed spec the course was loaded from.
    pub spec: CourseSpec,
    /// The data dir: the directory holding `slides/`.
    pub root: PathBuf,
    /// The course's `<prog-lang>`, which names the code output folder.
    pub prog_lang: ProgLang,
    /// The sections in spec order, each with the topics found for it.
    pub sections: Vec<Section>,
    /// Folders the spec asks to be copied into the output as they are.
    pub dir_groups: Vec<DirGroupSpec>,
    /// Unknown topics, duplicate ids, unreadable decks: the rest still builds.
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, Clone)]
/// One section of the course: a titled, ordered list of topics.
pub struct Section {
    /// The section title in both languages, as in the spec.
    pub name: Text,
    /// The topics found for it, in spec order; unknown ids are left out (and reported).
    pub topics: Vec<Topic>,
}

#[derive(Debug, Clone)]
/// One topic: a directory (or single file) of decks, diagrams and data.
pub struct Topic {
    /// The topic id the spec names it by: the folder or file name without its `topic_NNN_` prefix and extension.
    pub id: String,
    /// The topic directory, or the deck of a single-file topic.
    pub path: PathBuf,
    /// The directory file paths are relative to: the topic directory, or the
    /// module directory of a single-file topic.
    pub base: PathBuf,
    /// Set in the spec to build no HTML for the topic's decks (notebooks and code only).
    pub skip_html: bool,
    /// Every file of the topic, each with what the build does with it.
    pub files: Vec<CourseFile>,
}

#[derive(Debug, Clone)]
/// A file of a topic and its role in the build.
pub struct CourseFile {
    /// The file on disk.
    pub path: PathBuf,
    /// Relative to the topic's base, `/`-separated.
    pub rel: String,
    /// What the build does with it: convert, render or copy.
    pub role: FileRole,
}

#[derive(Debug, Clone)]
/// What the build does with a course file, as decided by the plugins that claim it.
pub enum FileRole {
    /// A slide deck: one job per language, many variants each.
    Deck(Deck),
    /// A diagram source, rendered to images beside the decks.
    Diagram(JobClass),
    /// A standalone document (`Role::Page`): one output per language.
    Page(JobClass),
    /// Any file no plugin claims: copied as it is.
    Data,
}

#[derive(Debug, Clone)]
/// What a deck adds to its file: its plugin, place and title.
pub struct Deck {
    /// The plugin and job type that convert it.
    pub class: JobClass,
    /// 1-based within its section.
    pub number: u32,
    /// Sanitised, ready to be a file name.
    pub title: Text,
    /// From the deck's extension, else the course's.
    pub prog_lang: ProgLang,
    /// Local files its markdown refers to, with their deck line.
    pub local_references: Vec<(u32, String)>,
}

impl CourseFile {
    /// Where a diagram's image lands, relative to the topic: `img/<stem>.<format>`
    /// (stem = the file name minus the suffix its job type claimed it by,
    /// else minus its last extension).
    pub fn image_rel(&self, format: &str) -> String {
        format!("img/{}.{format}", self.stem())
    }

    /// The file's name without its directories.
    pub fn name(&self) -> &str {
        self.rel.rsplit('/').next().unwrap_or(&self.rel)
    }

    /// The name its outputs are called after: without the suffix that
    /// claimed it (`cheat_sheet.v2.handout.txt` gives `cheat_sheet.v2`), or
    /// without its last extension for a file no job type claims.
    pub fn stem(&self) -> &str {
        let name = self.name();
        match &self.role {
            FileRole::Diagram(class) | FileRole::Page(class) => class.stem(name),
            FileRole::Deck(deck) => deck.class.stem(name),
            FileRole::Data => name.rsplit_once('.').map_or(name, |(stem, _)| stem),
        }
    }
}

impl Course {
    /// Resolves `spec` against the course below `root`, with `classifier` deciding each file's role. Problems in single topics or decks land in `diagnostics`; only an unreadable course is an error.
    pub fn load(spec: CourseSpec, root: &Path, classifier: &dyn Classifier) -> Result<Course, CourseError> {
        let spec_display = display(root, &spec.file);
        let mut diagnostics: Vec<Diagnostic> = spec
            .warnings
            .iter()
            .map(|w| Diagnostic::warning(&spec_display, Location::at(w.line, w.column), &w.message))
            .collect();
        let prog_lang = course_lang(&spec, &spec_display).unwrap_or_else(|d| {
            diagnostics.push(d);
            ProgLang::FALLBACK
        });
        let map = TopicMap::scan(root, classifier)?;
        diagnostics.extend(map.diagnostics.iter().cloned());
        let mut sections = Vec::new();
        for section_spec in &spec.sections {
            let mut topics = Vec::new();
            let mut number = 0;
            for topic_spec in &section_spec.topics {
                let path = match find_topic(&map, root, &spec_display, topic_spec, classifier) {
                    Ok(path) => path,
                    Err(d) => {
                        diagnostics.push(*d);
                        continue;
                    }
                };
                let found = if path.is_dir() {
                    let (found, problems) = dir_topic(root, path)?;
                    diagnostics.extend(problems);
                    found
                } else {
                    file_topic(root, path)?
                };
                if found.files.is_empty() {
                    diagnostics.push(Diagnostic::warning(
                        &spec_display,
                        Location::at(topic_spec.line, topic_spec.column),
                        format!(
                            "topic `{}` ({}) has no files, so it produces nothing; add a slides_* deck or remove the topic",
                            topic_spec.id,
                            display(root, path)
                        ),
                    ));
                }
                let mut topic = Topic {
                    id: topic_spec.id.clone(),
                    path: path.clone(),
                    base: found.base,
                    skip_html: topic_spec.skip_html,
                    files: Vec::with_capacity(found.files.len()),
                };
                for (rel, path) in found.files {
                    let file = display(root, &path);
                    let (role, problems) = classify(&file, &path, &rel, classifier, prog_lang, number + 1);
                    diagnostics.extend(problems);
                    if let Some(role) = role {
                        if matches!(role, FileRole::Deck(_)) {
                            number += 1;
                        }
                        topic.files.push(CourseFile { path, rel, role });
                    }
                }
                diagnostics.extend(missing_references(root, &topic));
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

/// The course's language, resolved once; an unknown one is an error at
/// `<prog-lang>` (code outputs then go to the fallback's folder).
pub fn course_lang(spec: &CourseSpec, spec_file: &str) -> Result<ProgLang, Diagnostic> {
    ProgLang::by_name(&spec.prog_lang).ok_or_else(|| {
        let rest = format!(
            "use one of {} (code outputs go to `{}` meanwhile)",
            ProgLang::known_names(),
            ProgLang::FALLBACK.dir
        );
        let advice = suggest::advice(&spec.prog_lang, ProgLang::names(), |n| format!("`{n}`"), &rest);
        Diagnostic::error(
            spec_file,
            Location::at(spec.prog_lang_at.0, spec.prog_lang_at.1),
            format!("unknown <prog-lang> `{}`{advice}", spec.prog_lang),
        )
    })
}

/// Where a spec topic lives; an unknown id is an error at the `<topic>`
/// with the nearest id and any file that would be the topic but for its
/// suffix.
pub fn find_topic<'m>(
    map: &'m TopicMap,
    root: &Path,
    spec_file: &str,
    topic: &TopicSpec,
    classifier: &dyn Classifier,
) -> Result<&'m PathBuf, Box<Diagnostic>> {
    if let Some(path) = map.topics.get(&topic.id) {
        return Ok(path);
    }
    let id = &topic.id;
    let mut message = format!("topic `{id}` not found: no slides/<module>/topic_NNN_{id} directory or deck");
    if let Some(near) = suggest::nearest(id, map.topics.keys().map(String::as_str)) {
        message.push_str(&format!("; did you mean `{near}`?"));
    } else if let Some(file) = map.unclaimed.get(id) {
        message.push_str(&format!(
            "; {} would be it, but no plugin reads that suffix: decks end in {}",
            display(root, file),
            classifier.suffixes(Role::Slides).join(", ")
        ));
    } else {
        message.push_str("; fix the id or create the topic");
    }
    Err(Box::new(Diagnostic::error(spec_file, Location::at(topic.line, topic.column), message)))
}

/// What a topic's file is. `None` leaves the file out (its problem is in
/// the diagnostics); `number` is the number a deck gets.
pub fn classify(
    file: &str,
    path: &Path,
    rel: &str,
    classifier: &dyn Classifier,
    course_lang: ProgLang,
    number: u32,
) -> (Option<FileRole>, Vec<Diagnostic>) {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let mut problems = Vec::new();
    let role = match classifier.classify(name) {
        Some(class) if class.role == Role::Slides => match deck_text::read(path) {
            Ok(facts) => {
                let deck = deck(path, class, &facts, course_lang, number);
                problems.extend(deck_warnings(file, &deck, &facts, course_lang));
                Some(FileRole::Deck(deck))
            }
            Err(e) => {
                let at = e.line().map_or(Location::NONE, Location::line);
                problems.push(Diagnostic::error(file, at, e.to_string()));
                None
            }
        },
        Some(class) if class.role == Role::Diagram => Some(FileRole::Diagram(class)),
        Some(class) if class.role == Role::Page => Some(FileRole::Page(class)),
        Some(class) => {
            // A newer plugin's role: neither copy nor guess.
            problems.push(Diagnostic::error(
                file,
                Location::NONE,
                format!(
                    "not converted: plugin `{}` claims it for job type `{}` with a role this clx does not know ({:?}); upgrade clx",
                    class.plugin, class.job_type, class.role
                ),
            ));
            None
        }
        None => match classifier.claimed_by_unusable(name) {
            // Copying it raw would hide the missing converter.
            Some(claim) => {
                problems.push(Diagnostic::error(
                    file,
                    Location::NONE,
                    format!(
                        "not converted: plugin `{}` ({}) claims it for job type `{}` but is not used: {}; fix or remove the plugin (see `clx plugins list`)",
                        claim.plugin,
                        claim.path.display(),
                        claim.job_type,
                        claim.reason
                    ),
                ));
                None
            }
            None => {
                problems.extend(unconverted_source(file, name, classifier));
                Some(FileRole::Data)
            }
        },
    };
    (role, problems)
}

/// A warning per local link or image of a deck that points at no file the
/// build puts beside the deck (the topic's files and diagram images): the
/// page would show a broken image or link.
pub fn missing_references(root: &Path, topic: &Topic) -> Vec<Diagnostic> {
    let mut present: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for file in &topic.files {
        present.insert(file.rel.clone());
        if let FileRole::Diagram(class) = &file.role {
            present.extend(class.formats.iter().map(|f| file.image_rel(f)));
        }
    }
    let mut warnings = Vec::new();
    for file in &topic.files {
        let FileRole::Deck(deck) = &file.role else { continue };
        let dir = file.rel.rsplit_once('/').map_or("", |(dir, _)| dir);
        for (line, target) in &deck.local_references {
            let rel = if dir.is_empty() { target.clone() } else { format!("{dir}/{target}") };
            if present.contains(&rel) || present.contains(target) {
                continue;
            }
            if target.contains('\\') {
                let slashed = target.replace('\\', "/");
                warnings.push(Diagnostic::warning(
                    display(root, &file.path),
                    Location::line(*line),
                    format!(
                        "`{target}` separates folders with `\\`, which a page on Linux or macOS and a notebook \
                         viewer do not follow; write `{slashed}`"
                    ),
                ));
                continue;
            }
            let advice = suggest::advice(
                target,
                present.iter().map(String::as_str),
                |n| format!("`{n}`"),
                "fix the path or add the file to the topic",
            );
            warnings.push(Diagnostic::warning(
                display(root, &file.path),
                Location::line(*line),
                format!("`{target}` is not in the built course, so the page shows a broken link or image{advice}"),
            ));
        }
    }
    warnings
}

fn deck(path: &Path, class: JobClass, facts: &DeckFacts, course_lang: ProgLang, number: u32) -> Deck {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let title = match &facts.header {
        Some((de, en)) => Text::new(sanitize_name(de), sanitize_name(en)),
        None => Text::new(stem.clone(), stem),
    };
    let ext = path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    let prog_lang = ProgLang::by_extension(&ext).unwrap_or(course_lang);
    Deck { class, number, title, prog_lang, local_references: facts.local_references.clone() }
}

/// What a deck's facts say the author likely did not mean.
fn deck_warnings(file: &str, deck: &Deck, facts: &DeckFacts, course_lang: ProgLang) -> Vec<Diagnostic> {
    let mut warnings = Vec::new();
    if deck.prog_lang != course_lang {
        warnings.push(Diagnostic::warning(
            file,
            Location::NONE,
            format!(
                "a {} deck in a {} course (<prog-lang>); its code outputs go to `{}` beside the others, \
                 rename it to .{} if it was meant to be {}",
                deck.prog_lang.name, course_lang.name, deck.prog_lang.dir, course_lang.ext, course_lang.name
            ),
        ));
    }
    let one_sided = match (facts.first_de_cell, facts.first_en_cell) {
        (Some(line), None) => Some((line, "German", "English", "en")),
        (None, Some(line)) => Some((line, "English", "German", "de")),
        _ => None,
    };
    if let Some((line, has, lacks, code)) = one_sided {
        warnings.push(Diagnostic::warning(
            file,
            Location::line(line),
            format!(
                "the deck has {has} cells but no {lacks} ones, so its {lacks} page shows only the title; \
                 add cells with lang=\"{code}\""
            ),
        ));
    }
    warnings
}

/// Diagram and image-source suffixes some plugin might read: such a file
/// that no loaded plugin claims is most likely a typo or a missing plugin,
/// not data to publish as it is.
const SOURCE_LIKE: &[&str] =
    &[".pu", ".puml", ".plantuml", ".iuml", ".uml", ".drawio", ".dio", ".drawio.xml", ".dot", ".gv", ".mmd"];

/// A warning for a file no plugin claims that looks like a deck (its name
/// starts like one) or a diagram source; plain data gets none.
fn unconverted_source(file: &str, name: &str, classifier: &dyn Classifier) -> Option<Diagnostic> {
    let ext = name.find('.').map_or("", |i| &name[i..]);
    let last = name.rfind('.').map_or("", |i| &name[i..]);
    let deck_like = (name.starts_with("slides_") || name.starts_with("topic_")) && !last.is_empty();
    let suffix = SOURCE_LIKE.iter().find(|s| **s == ext || **s == last);
    let (what, role, suffix) = match suffix {
        _ if deck_like => ("a deck", Role::Slides, last),
        Some(suffix) => ("a diagram", Role::Diagram, *suffix),
        None => return None,
    };
    let known = classifier.suffixes(role);
    let rest = if known.is_empty() {
        "no plugin here reads any".to_owned()
    } else {
        format!("the plugins read {}", known.join(", "))
    };
    let advice = suggest::advice(suffix, known.iter().map(String::as_str), |n| format!("`{n}`"), &rest);
    Some(Diagnostic::warning(
        file,
        Location::NONE,
        format!("looks like {what}, but no plugin reads `{suffix}` files, so it is copied as it is{advice}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::testing::{spec, write, TestClassifier};
    use crate::report::Level;

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
    fn decks_are_numbered_per_section_in_topic_then_file_order() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "slides/module_000_a/topic_100_x/slides_x2.py", "# {{ header(\"Zwei: B\", 'Two [B]') }}\n");
        write(root, "slides/module_000_a/topic_100_x/slides_x1.py", "no header\n");
        write(root, "slides/module_000_a/topic_110_y.py", "# {{header('Ypsilon', 'Why?')}}\n");
        write(root, "slides/module_000_a/topic_120_z/slides_z.py", "");
        let course = Course::load(spec(root, &[("S1", &["y", "x"]), ("S2", &["z"])]), root, &TestClassifier).unwrap();
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
    fn an_unknown_topic_names_the_nearest_id_or_the_file_with_an_unread_suffix() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "slides/module_000_a/topic_100_pandas/slides_p.py", "");
        write(root, "slides/module_000_a/topic_120_project.pyy", "");
        let map = TopicMap::scan(root, &TestClassifier).unwrap();
        let at = |id: &str| TopicSpec { id: id.into(), skip_html: false, line: 3, column: 5 };
        let message = |id: &str| find_topic(&map, root, "c.xml", &at(id), &TestClassifier).unwrap_err().to_string();
        assert_eq!(
            message("pandsa"),
            "error: c.xml:3:5: topic `pandsa` not found: no slides/<module>/topic_NNN_pandsa directory or deck; \
             did you mean `pandas`?"
        );
        assert_eq!(
            message("project"),
            "error: c.xml:3:5: topic `project` not found: no slides/<module>/topic_NNN_project directory or deck; \
             slides/module_000_a/topic_120_project.pyy would be it, but no plugin reads that suffix: decks end in .py"
        );
        assert!(find_topic(&map, root, "c.xml", &at("pandas"), &TestClassifier).is_ok());
    }

    #[test]
    fn a_file_is_classified_by_the_plugins_and_source_like_leftovers_warn() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let python = ProgLang::FALLBACK;
        write(root, "slides_a.py", "# {{ header('A', 'B') }}\n# %% lang=\"de\"\nx\n");
        let (role, problems) =
            classify("slides_a.py", &root.join("slides_a.py"), "slides_a.py", &TestClassifier, python, 4);
        assert!(matches!(role, Some(FileRole::Deck(Deck { number: 4, .. }))), "{role:?}");
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            problems,
            ["warning: slides_a.py:2: the deck has German cells but no English ones, so its English page shows only \
              the title; add cells with lang=\"en\""]
        );
        for (name, warns) in [("data.csv", false), ("pic.uml", true), ("slides_b.pyy", true), ("x.drawio.xml", true)] {
            let (role, problems) = classify(name, &root.join(name), name, &TestClassifier, python, 1);
            assert!(matches!(role, Some(FileRole::Data)), "{name}");
            assert_eq!(problems.len(), usize::from(warns), "{name}: {problems:?}");
        }
        let (_, problems) = classify("slides_b.pyy", Path::new("x"), "slides_b.pyy", &TestClassifier, python, 1);
        assert!(problems[0].message.contains("did you mean `.py`?"), "{problems:?}");
    }

    #[test]
    fn the_course_language_is_resolved_once_and_an_unknown_one_names_the_nearest() {
        let tmp = tempfile::tempdir().unwrap();
        let mut spec = spec(tmp.path(), &[("S", &["x"])]);
        assert_eq!(course_lang(&spec, "c.xml").unwrap().name, "python");
        spec.prog_lang = "pyhton".into();
        let d = course_lang(&spec, "c.xml").unwrap_err();
        assert!(d.message.starts_with("unknown <prog-lang> `pyhton`; did you mean `python`?"), "{d}");
    }

    #[test]
    fn diagram_images_go_to_the_topic_img_folder_with_the_last_extension_replaced() {
        let f = CourseFile { path: PathBuf::new(), rel: "pu/my.diag.pu".into(), role: FileRole::Data };
        assert_eq!(f.image_rel("png"), "img/my.diag.png");
    }

    #[test]
    fn a_diagram_image_is_named_for_the_stem_before_its_compound_suffix() {
        let class = JobClass {
            plugin: "ascii".into(),
            job_type: "ascii".into(),
            role: Role::Diagram,
            formats: vec!["png".into()],
            numbered: false,
            suffix: ".ascii.txt".into(),
            densities: Default::default(),
        };
        let f =
            CourseFile { path: PathBuf::new(), rel: "flows/order.v2.ascii.txt".into(), role: FileRole::Diagram(class) };
        assert_eq!(f.image_rel("png"), "img/order.v2.png");
    }
}
