//! The course model: the spec's sections with their topics resolved to
//! directories and files below `<course root>/slides/`, each file
//! classified as a deck, a diagram source or a data file.
//!
//! Decks are numbered per section, in topic order and then file order; a
//! deck's title comes from its header line (see `deck_text`). Finding the
//! files is `scan`'s job.

use std::path::{Path, PathBuf};

use clx_plugin_api::Role;

use crate::course::deck_text::deck;
use crate::course::lang::Text;
use crate::course::layout::ProgLang;
use crate::course::plan::{Classifier, JobClass};
use crate::course::scan::{dir_topic, display, file_topic, CourseError, TopicMap};
use crate::course::spec::{CourseSpec, DirGroupSpec};
use crate::report::{Diagnostic, Location};

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
    /// A standalone document (`Role::Page`): one output per language.
    Page(JobClass),
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

impl Course {
    pub fn load(spec: CourseSpec, root: &Path, classifier: &dyn Classifier) -> Result<Course, CourseError> {
        let prog_lang =
            ProgLang::by_name(&spec.prog_lang).unwrap_or(ProgLang { name: "python", dir: "Python", ext: "py" });
        let spec_display = display(root, &spec.file);
        let map = TopicMap::scan(root, classifier)?;
        let mut diagnostics: Vec<Diagnostic> = spec
            .warnings
            .iter()
            .map(|w| Diagnostic::warning(&spec_display, Location::at(w.line, w.column), &w.message))
            .collect();
        if ProgLang::by_name(&spec.prog_lang).is_none() {
            diagnostics.push(Diagnostic::error(
                &spec_display,
                Location::at(spec.prog_lang_at.0, spec.prog_lang_at.1),
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
                        Location::at(topic_spec.line, topic_spec.column),
                        format!(
                            "topic `{}` not found: no slides/<module>/topic_NNN_{} directory or deck; fix the id or create the topic",
                            topic_spec.id, topic_spec.id
                        ),
                    ));
                    continue;
                };
                let found = if path.is_dir() {
                    let (found, problems) = dir_topic(root, path)?;
                    // A topic used in several sections is walked for each; say it once.
                    for problem in problems {
                        if !diagnostics.contains(&problem) {
                            diagnostics.push(problem);
                        }
                    }
                    found
                } else {
                    file_topic(root, path)?
                };
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
                        Some(class) if class.role == Role::Diagram => FileRole::Diagram(class),
                        Some(class) if class.role == Role::Page => FileRole::Page(class),
                        Some(class) => {
                            // A newer plugin's role: neither copy nor guess.
                            diagnostics.push(Diagnostic::error(
                                display(root, &path),
                                Location::NONE,
                                format!(
                                    "not converted: plugin `{}` claims it for job type `{}` with a role this clx does not know ({:?}); upgrade clx",
                                    class.plugin, class.job_type, class.role
                                ),
                            ));
                            continue;
                        }
                        None => match classifier.claimed_by_unusable(name) {
                            // Copying it raw would hide the missing converter.
                            Some(claim) => {
                                let problem = Diagnostic::error(
                                    display(root, &path),
                                    Location::NONE,
                                    format!(
                                        "not converted: plugin `{}` ({}) claims it for job type `{}` but is not used: {}; fix or remove the plugin (see `clx plugins list`)",
                                        claim.plugin,
                                        claim.path.display(),
                                        claim.job_type,
                                        claim.reason
                                    ),
                                );
                                if !diagnostics.contains(&problem) {
                                    diagnostics.push(problem);
                                }
                                continue;
                            }
                            None => FileRole::Data,
                        },
                    };
                    topic.files.push(CourseFile { path, rel, role });
                }
                if found_nothing {
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
                numbered: false,
            };
            match ext {
                "py" if name.starts_with("slides_") || name.starts_with("topic_") => {
                    Some(class("notebook", "notebook", Role::Slides, &["ipynb", "code", "html"]))
                }
                "pu" | "puml" | "plantuml" => Some(class("plantuml", "plantuml", Role::Diagram, &["png", "svg"])),
                "drawio" => Some(class("drawio", "drawio", Role::Diagram, &["png", "svg"])),
                // A third party's numbered page type.
                "page" => Some(JobClass { numbered: true, ..class("pages", "page", Role::Page, &["html"]) }),
                _ => None,
            }
        }
    }

    pub(crate) fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub(crate) fn spec(root: &Path, topics: &[(&str, &[&str])]) -> CourseSpec {
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
        crate::course::spec::parse_str(&text, &root.join("course-specs/c.xml")).unwrap()
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
