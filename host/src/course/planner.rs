//! spec -> course -> plan: every job and copy of a build with its exact
//! output paths.
//!
//! Decisions: a topic's data files and generated images go to the variant
//! folders its decks go to (so an `html="no"` topic adds nothing to the Html
//! folders); a generated image replaces a committed file of the same path; a
//! diagram referenced by several topics is one job; when two sources claim
//! the same output path the first wins and the build warns.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use clx_plugin_api::notebook::{NotebookOptions, NotebookOutput, NotebookRequirements};
use serde_json::{json, Value};

use crate::course::lang::Lang;
use crate::course::layout::{
    sanitize_file_stem, slide_variants, topic_file_in, variants, Format, Kind, Layout, Top, Variant,
};
use crate::course::model::{Course, CourseFile, Deck, FileRole, Section, Topic};
use crate::course::plan::{Classifier, JobClass, Plan, PlannedCopy, PlannedJob, PlannedOutput, PlannedPrint};
use crate::course::scan::{self, is_ignored_dir, is_safe_relative, CourseError};
use crate::course::spec::{self, SpecError};
use crate::report::{Diagnostic, Location};

/// Decks first: they are slow, diagrams fill the gaps.
const DECK_PRIORITY: i64 = 10;
const DIAGRAM_PRIORITY: i64 = 0;

/// Every deck in the first language before any in the second: a deck whose
/// languages run the same code then has one run to share (the notebook
/// plugin hands it over through the workers' shared folder) instead of two
/// running side by side.
fn deck_priority(lang: Lang) -> i64 {
    if lang == Lang::ALL[0] {
        DECK_PRIORITY + 1
    } else {
        DECK_PRIORITY
    }
}

#[derive(Debug, Clone)]
/// Build choices that are not part of the course itself.
pub struct PlanOptions {
    /// Image formats every diagram is rendered to (those its plugin offers).
    pub diagram_formats: Vec<String>,
    /// What the site around the pages gets (assets, math).
    pub site: crate::course::site::SiteOptions,
    /// Every deck's completed and speaker kinds also as a reveal.js
    /// presentation (`[output] slides`, `--slides`).
    pub slides: bool,
    /// Every deck's completed page also printed to PDF (`[output] pdf`,
    /// `--pdf`).
    pub pdf: bool,
    /// The plugin job type that prints pages (`pdf`), when one is loaded.
    pub printer: Option<Printer>,
}

/// The job type that prints a framed page to PDF, and its plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printer {
    /// The plugin serving the job type.
    pub plugin: String,
    /// The job type (`pdf`).
    pub job_type: String,
}

/// The job type a plugin declares to print pages to PDF.
pub const PRINT_JOB_TYPE: &str = "pdf";

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            diagram_formats: vec!["png".to_owned()],
            site: Default::default(),
            slides: false,
            pdf: false,
            printer: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
/// Why a course could not be planned at all.
pub enum PlanError {
    #[error(transparent)]
    /// The course spec is missing or malformed.
    Spec(#[from] SpecError),
    #[error(transparent)]
    /// The course files could not be read.
    Course(#[from] CourseError),
    /// The sweep and `--clean` remove what the build does not produce below
    /// each output root, so a root that overlaps the course's own files
    /// would delete them.
    #[error(
        "output folder {} is inside the course's slides/ folder; the build would delete decks there: \
         pass an --output-dir outside {}",
        root.display(), slides.display()
    )]
    OutputInSlides {
        /// The output root that lies inside `slides/`.
        root: PathBuf,
        /// The course's `slides/` folder.
        slides: PathBuf,
    },
    #[error(
        "output folder {} contains the course's {what} {}; the build would delete it: pass an --output-dir \
         that does not contain the course",
        root.display(), input.display()
    )]
    /// An output root contains the spec or the course root itself.
    OutputContainsCourse {
        /// The output root that contains it.
        root: PathBuf,
        /// What it contains, for the message (`root folder`, `spec`).
        what: &'static str,
        /// The contained course file or folder.
        input: PathBuf,
    },
}

/// Where a course is and where its outputs go: everything the front end
/// reads, resolved before any work starts.
#[derive(Debug, Clone)]
pub struct CourseInputs {
    /// The course spec (XML).
    pub spec: PathBuf,
    /// The course root: the directory holding `slides/`.
    pub data_dir: PathBuf,
    /// The output root (`public/` and `speaker/` go below it).
    pub out_dir: PathBuf,
    /// Build choices (diagram formats, site assets).
    pub options: PlanOptions,
}

/// Plan the build of a course.
pub fn plan(inputs: &CourseInputs, classifier: &dyn Classifier) -> Result<Plan, PlanError> {
    let spec = spec::parse_file(&inputs.spec)?;
    let course = Course::load(spec, &inputs.data_dir, classifier)?;
    let plan = plan_course(&course, &inputs.out_dir, &inputs.options);
    check_roots(inputs, &plan.roots)?;
    Ok(plan)
}

/// Refuse output roots that overlap the course: inside `slides/`, or
/// holding the course root or the spec.
pub fn check_roots(inputs: &CourseInputs, roots: &[PathBuf]) -> Result<(), PlanError> {
    let data_dir = resolve(&inputs.data_dir);
    let slides = data_dir.join("slides");
    let spec = resolve(&inputs.spec);
    for root in roots {
        let resolved = resolve(root);
        if resolved.starts_with(&slides) {
            return Err(PlanError::OutputInSlides { root: root.clone(), slides });
        }
        for (what, input) in [("root folder", &data_dir), ("spec", &spec)] {
            if input.starts_with(&resolved) {
                return Err(PlanError::OutputContainsCourse { root: root.clone(), what, input: input.clone() });
            }
        }
    }
    Ok(())
}

/// `path` with symlinks and `..` resolved as far as it exists, the rest
/// appended lexically (an output root usually does not exist yet).
fn resolve(path: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut existing = path;
    loop {
        if let Ok(canonical) = existing.canonicalize() {
            let mut out = canonical;
            for part in missing.iter().rev() {
                match part {
                    std::path::Component::ParentDir => {
                        out.pop();
                    }
                    std::path::Component::Normal(name) => out.push(name),
                    _ => {}
                }
            }
            return out;
        }
        match (existing.parent(), existing.components().next_back()) {
            (Some(parent), Some(last)) => {
                missing.push(last);
                existing = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
            }
            _ => return path.to_owned(),
        }
    }
}

/// Plan an already loaded course.
pub fn plan_course(course: &Course, out_dir: &Path, opts: &PlanOptions) -> Plan {
    let layout = Layout::new(out_dir, &course.spec.name, course.prog_lang);
    let mut planner = Planner {
        course,
        layout,
        out: out_dir.to_owned(),
        opts,
        plan: Plan { diagnostics: course.diagnostics.clone(), ..Plan::default() },
        claims: HashMap::new(),
        diagram_jobs: BTreeMap::new(),
        macros: HashMap::new(),
        copies: BTreeMap::new(),
        page_numbers: HashMap::new(),
        logo: crate::course::site::logo_uri(&opts.site.settings),
        requirements: requirements(course),
    };
    if opts.pdf && opts.printer.is_none() {
        planner.plan.diagnostics.push(Diagnostic::error(
            "clx.toml",
            Location::NONE,
            format!(
                "[output] pdf: no loaded plugin prints pages (job type `{PRINT_JOB_TYPE}`, from the drawio plugin), \
                 so no PDF can be made; run scripts/setup and check `clx plugins list`"
            ),
        ));
    }
    for section in &course.sections {
        for topic in &section.topics {
            planner.topic(section, topic);
        }
    }
    for group in &course.dir_groups {
        planner.dir_group(group);
    }
    let mut plan = planner.plan;
    plan.copies = planner.copies.into_iter().map(|(to, from)| PlannedCopy { from, to }).collect();
    plan.roots = planner.layout.roots();
    plan.pages = crate::course::home::pages(course, &planner.layout, &plan);
    crate::course::site::add(course, &planner.layout, &opts.site, &mut plan);
    plan
}

struct Planner<'a> {
    course: &'a Course,
    layout: Layout,
    out: PathBuf,
    opts: &'a PlanOptions,
    plan: Plan,
    /// Output path -> the source that writes it (as displayed).
    claims: HashMap<PathBuf, String>,
    /// Diagram source -> index of its job in `plan.jobs`.
    diagram_jobs: BTreeMap<PathBuf, usize>,
    /// Per prog-lang: the course's `templates/<lang>/macros.j2`, or null.
    macros: HashMap<&'static str, Option<String>>,
    /// Copy target -> source, sorted by target.
    copies: BTreeMap<PathBuf, PathBuf>,
    /// Pages numbered so far, per section.
    page_numbers: HashMap<String, u32>,
    /// The `[site]` logo for the decks' title cells, read once.
    logo: Option<String>,
    /// The course's Python packages for its Python decks, read once.
    requirements: Option<NotebookRequirements>,
}

/// The course's Python packages (the path as the author knows it, for
/// messages): `requirements.lock` beside `requirements.txt` when there is
/// one, so the exact versions (not the loose list) are what the cache key
/// holds, else `requirements.txt`; `None` without `requirements.txt`.
fn requirements(course: &Course) -> Option<NotebookRequirements> {
    let path = course.root.join(crate::lockfile::REQUIREMENTS);
    let text = package_list(&path)?;
    let lock = course.root.join(crate::lockfile::LOCK);
    if let Some(locked) = package_list(&lock) {
        return Some(NotebookRequirements { path: course.display(&lock), text: locked, locked: true });
    }
    Some(NotebookRequirements { path: course.display(&path), text, locked: false })
}

/// A package list as its environment is named by: the same on a checkout
/// with Windows line ends, so every machine of a team shares one
/// environment and one cache key. (A list that is not UTF-8 is reported by
/// the lock step, which reads it first.)
fn package_list(path: &Path) -> Option<String> {
    let text = clx_plugin_api::text::decode_owned(std::fs::read(path).ok()?).ok()?;
    Some(clx_plugin_api::text::unix_newlines(&text).into_owned())
}

impl Planner<'_> {
    /// Whether `source` may write `dest`: false when it is already written
    /// (by the same source: silently; by another: with a warning).
    fn claim(&mut self, dest: &Path, source: &str) -> bool {
        match self.claims.get(dest) {
            None => {
                self.claims.insert(dest.to_owned(), source.to_owned());
                true
            }
            Some(owner) if owner == source => false,
            Some(owner) => {
                let rel = dest.strip_prefix(&self.out).unwrap_or(dest);
                self.plan.diagnostics.push(Diagnostic::warning(
                    source,
                    Location::NONE,
                    format!(
                        "output {} is already written from {owner}; this file is not used there, rename one of them",
                        rel.display()
                    ),
                ));
                false
            }
        }
    }

    fn topic(&mut self, section: &Section, topic: &Topic) {
        let topic_variants: Vec<Variant> = Lang::ALL.iter().flat_map(|&l| self.variants(l, topic.skip_html)).collect();
        // Where the topic's files land: beside its decks in every variant
        // folder and, when it has pages, beside those too, so a page links
        // `img/x.png` or `data/t.csv` exactly as a deck does and the Pages
        // folder stays whole when moved or published on its own.
        let mut dirs: Vec<PathBuf> =
            topic_variants.iter().map(|&v| self.layout.section_dir(v, &section.name)).collect();
        if topic.files.iter().any(|f| matches!(f.role, FileRole::Page(_))) {
            for top in Top::ALL {
                dirs.extend(Lang::ALL.map(|lang| self.layout.pages_dir(top, lang, &section.name)));
            }
        }
        let mut generated = BTreeSet::new();
        for file in &topic.files {
            if let FileRole::Diagram(class) = &file.role {
                let formats = self.diagram_formats(file, &class.formats, &class.job_type);
                self.diagram(file, &formats, &dirs, &class.plugin, &class.job_type);
                generated.extend(formats.iter().map(|f| file.image_rel(f)));
            }
        }
        for file in &topic.files {
            if let FileRole::Page(class) = &file.role {
                self.page(section, topic, file, class);
            }
        }
        for file in &topic.files {
            if let FileRole::Deck(deck) = &file.role {
                let siblings = siblings(topic, file);
                for lang in Lang::ALL {
                    self.deck(section, topic, file, deck, lang, &siblings);
                }
            }
        }
        for file in &topic.files {
            if matches!(file.role, FileRole::Data) && !generated.contains(&file.rel) {
                let who = self.course.display(&file.path);
                for dir in &dirs {
                    let to = topic_file_in(dir, &file.rel);
                    if self.claim(&to, &who) {
                        self.copies.insert(to, file.path.clone());
                    }
                }
            }
        }
    }

    /// The configured formats this diagram's plugin can produce.
    fn diagram_formats(&mut self, file: &CourseFile, offered: &[String], job_type: &str) -> Vec<String> {
        let (ok, missing): (Vec<_>, Vec<_>) =
            self.opts.diagram_formats.iter().cloned().partition(|f| offered.is_empty() || offered.contains(f));
        if ok.is_empty() {
            // A diagram type with none of the image formats asked for (a
            // third-party converter to text, say) still renders, to its own
            // first format.
            return offered.iter().take(1).cloned().collect();
        }
        if !missing.is_empty() {
            self.plan.diagnostics.push(Diagnostic::warning(
                self.course.display(&file.path),
                Location::NONE,
                format!(
                    "{job_type} cannot produce {}; it offers {}: fix `diagram-formats` in clx.toml",
                    missing.join(", "),
                    offered.join(", ")
                ),
            ));
        }
        ok
    }

    /// A standalone document: one output per format and language, each going
    /// to the section's Pages folder of the public and the speaker tree; the
    /// topic's other files come along as siblings, as for a deck.
    fn page(&mut self, section: &Section, topic: &Topic, file: &CourseFile, class: &JobClass) {
        let who = self.course.display(&file.path);
        let stem = sanitize_file_stem(file.stem());
        let stem = if class.numbered {
            // Counted among the section's pages only: decks keep their numbers.
            let number = self.page_numbers.entry(section.name.en.clone()).or_insert(0);
            *number += 1;
            format!("{number:02} {stem}")
        } else {
            stem
        };
        let mut outputs = Vec::new();
        for lang in Lang::ALL {
            for format in class.formats.iter().take(1) {
                let file_name = format!("{stem}.{format}");
                let mut destinations = Vec::new();
                for top in Top::ALL {
                    let to = self.layout.page_path(top, lang, &section.name, &file_name);
                    if self.claim(&to, &who) {
                        destinations.push(to);
                    }
                }
                outputs.push(PlannedOutput {
                    id: format!("{}-{format}", lang.code()),
                    format: format.clone(),
                    params: json!({ "lang": lang.code() }),
                    destinations,
                });
            }
        }
        self.plan.jobs.push(PlannedJob {
            plugin: class.plugin.clone(),
            job_type: class.job_type.clone(),
            source: file.path.clone(),
            display: who,
            lang: None,
            siblings: siblings(topic, file),
            outputs,
            options: json!({}),
            priority: DIAGRAM_PRIORITY,
        });
    }

    /// A diagram: one image per format in each of `dirs` (the topic's
    /// variant folders and pages folders), under `img/`.
    fn diagram(&mut self, file: &CourseFile, formats: &[String], dirs: &[PathBuf], plugin: &str, job_type: &str) {
        if formats.is_empty() {
            return;
        }
        let who = self.course.display(&file.path);
        let mut outputs = Vec::new();
        for format in formats {
            let rel = file.image_rel(format);
            let mut destinations = Vec::new();
            for dir in dirs {
                let to = topic_file_in(dir, &rel);
                if self.claim(&to, &who) {
                    destinations.push(to);
                }
            }
            outputs.push(PlannedOutput { id: format.clone(), format: format.clone(), params: json!({}), destinations });
        }
        match self.diagram_jobs.get(&file.path) {
            // The same topic used again (another section): more destinations, same job.
            Some(&index) => {
                for (job_output, new) in self.plan.jobs[index].outputs.iter_mut().zip(outputs) {
                    job_output.destinations.extend(new.destinations);
                }
            }
            None => {
                self.diagram_jobs.insert(file.path.clone(), self.plan.jobs.len());
                self.plan.jobs.push(PlannedJob {
                    plugin: plugin.to_owned(),
                    job_type: job_type.to_owned(),
                    source: file.path.clone(),
                    display: who,
                    lang: None,
                    siblings: Vec::new(),
                    outputs,
                    options: json!({}),
                    priority: DIAGRAM_PRIORITY,
                });
            }
        }
    }

    fn deck(
        &mut self,
        section: &Section,
        topic: &Topic,
        file: &CourseFile,
        deck: &Deck,
        lang: Lang,
        siblings: &[(String, PathBuf)],
    ) {
        let who = self.course.display(&file.path);
        let offered = &deck.class.formats;
        let mut outputs = Vec::new();
        for v in self.variants(lang, topic.skip_html) {
            if !offered.is_empty() && !offered.iter().any(|f| f == v.format.as_str()) {
                continue;
            }
            let to = self.layout.deck_path(v, &section.name, deck.number, &deck.title, deck.prog_lang.ext);
            if !self.claim(&to, &who) {
                continue;
            }
            outputs.push(PlannedOutput {
                id: v.output_id(),
                format: v.format.as_str().to_owned(),
                params: notebook_value(&NotebookOutput { kind: v.kind.as_str().to_owned() }),
                destinations: vec![to],
            });
        }
        if outputs.is_empty() {
            return;
        }
        let options = NotebookOptions {
            lang: lang.code().to_owned(),
            prog_lang: deck.prog_lang.name.to_owned(),
            // The spec's author, else the one `[site]` names for the whole site.
            author: self.course.spec.author.clone().or_else(|| self.opts.site.settings.author.clone()),
            organisation: self.opts.site.settings.organisation.clone(),
            logo: self.logo.clone(),
            macros: self.macros(deck.prog_lang.name),
            execute: true,
            // Names the course, so two courses with the same deck paths run
            // their decks in different places.
            course: Some(scan::display(&self.course.root, &self.course.spec.file)),
            // The course's package list travels with each Python deck: being
            // part of the options, it is part of the cache key, so changing a
            // pin re-runs this course's decks and no others.
            requirements: (deck.prog_lang.name == "python").then(|| self.requirements.clone()).flatten(),
        };
        let options = notebook_value(&options);
        self.plan.jobs.push(PlannedJob {
            plugin: deck.class.plugin.clone(),
            job_type: deck.class.job_type.clone(),
            source: file.path.clone(),
            display: who,
            lang: Some(lang),
            siblings: siblings.to_vec(),
            outputs,
            options,
            priority: deck_priority(lang),
        });
        if self.opts.pdf && !topic.skip_html {
            self.print(section, file, deck, lang);
        }
    }

    /// Plan the PDF of the deck's completed page in `lang`, printed once
    /// the page has landed in its frame.
    fn print(&mut self, section: &Section, file: &CourseFile, deck: &Deck, lang: Lang) {
        let Some(printer) = self.opts.printer.clone() else { return };
        let page_variant = Variant { lang, format: Format::Html, kind: Kind::Completed };
        let page = self.layout.deck_path(page_variant, &section.name, deck.number, &deck.title, deck.prog_lang.ext);
        // Only a page this deck's job writes is printed.
        let who = self.course.display(&file.path);
        if self.claims.get(&page) != Some(&who) {
            return;
        }
        let pdf_variant = Variant { format: Format::Pdf, ..page_variant };
        let to = self.layout.deck_path(pdf_variant, &section.name, deck.number, &deck.title, deck.prog_lang.ext);
        if !self.claim(&to, &who) {
            return;
        }
        let root = self.layout.course_root(Top::Public, lang);
        let rel = page.strip_prefix(&root).map(crate::course::home::slash_path).unwrap_or_default();
        self.plan.prints.push(PlannedPrint {
            deck: file.path.clone(),
            root,
            job: PlannedJob {
                plugin: printer.plugin,
                job_type: printer.job_type,
                source: page,
                display: who,
                lang: Some(lang),
                siblings: Vec::new(),
                outputs: vec![PlannedOutput {
                    id: pdf_variant.output_id(),
                    format: Format::Pdf.as_str().to_owned(),
                    params: json!({}),
                    destinations: vec![to],
                }],
                options: json!({
                    "page": rel,
                    "lang": lang.code(),
                    "footer": self.course.spec.name.get(lang),
                }),
                priority: DECK_PRIORITY,
            },
        });
    }

    /// The variants of a deck in `lang`, with its presentations when asked
    /// for (a topic without HTML gets none: they are executed pages too).
    fn variants(&self, lang: Lang, skip_html: bool) -> Vec<Variant> {
        let mut out = variants(lang, skip_html);
        if self.opts.slides && !skip_html {
            out.extend(slide_variants(lang));
        }
        out
    }

    fn macros(&mut self, prog_lang: &'static str) -> Option<String> {
        if let Some(known) = self.macros.get(prog_lang) {
            return known.clone();
        }
        let path = self.course.root.join("templates").join(prog_lang).join("macros.j2");
        let text = match std::fs::read(&path).map(clx_plugin_api::text::decode_owned) {
            Ok(Ok(text)) => Some(text),
            // Without the course's macros a deck would quietly get the
            // built-in ones; say why instead.
            Ok(Err(at)) => {
                self.plan.diagnostics.push(Diagnostic::error(
                    self.course.display(&path),
                    Location::line(at.line),
                    format!("the file is not UTF-8 (byte {}); save it as UTF-8", at.offset),
                ));
                None
            }
            Err(_) => None,
        };
        self.macros.insert(prog_lang, text.clone());
        text
    }

    fn dir_group(&mut self, group: &crate::course::spec::DirGroupSpec) {
        let spec_file = self.course.display(&self.course.spec.file);
        let at = Location::line(group.line);
        // `code\solutions` is one odd folder name on Linux and macOS; the
        // spec is shared between systems, so it says `/` on all of them.
        if let Some(written) = std::iter::once(&group.path).chain(&group.subdirs).find(|p| p.contains('\\')) {
            self.plan.diagnostics.push(Diagnostic::error(
                &spec_file,
                at,
                format!(
                    "dir group `{}`: `{written}` separates folders with `\\`; write `{}` (clx reads `/` on every system)",
                    group.name,
                    written.replace('\\', "/")
                ),
            ));
            return;
        }
        // The copies of a dir group are published; a path that leaves the
        // course would publish whatever it names (`../..`, `/home/me`).
        if !stays_inside(&group.path) {
            self.plan.diagnostics.push(Diagnostic::error(
                &spec_file,
                at,
                format!(
                    "dir group `{}`: path `{}` must be relative and stay inside the course (no `..`, no leading `/`); \
                     move the folder into the course",
                    group.name, group.path
                ),
            ));
            return;
        }
        let base = self.course.root.join(&group.path);
        let sources: Vec<(String, PathBuf)> = if group.subdirs.is_empty() {
            vec![(String::new(), base)]
        } else {
            group.subdirs.iter().map(|s| (s.clone(), base.join(s))).collect()
        };
        for (subdir, dir) in sources {
            if !subdir.is_empty() && !is_safe_relative(&subdir) {
                self.plan.diagnostics.push(Diagnostic::error(
                    &spec_file,
                    at,
                    format!("dir group `{}`: subdir `{subdir}` must be a plain relative path", group.name),
                ));
                continue;
            }
            if !dir.is_dir() {
                self.plan.diagnostics.push(Diagnostic::error(
                    &spec_file,
                    at,
                    format!(
                        "dir group `{}`: source directory {} does not exist; fix <path>/<subdirs> or create it",
                        group.name,
                        self.course.display(&dir)
                    ),
                ));
                continue;
            }
            let skip = |name: &str| is_ignored_dir(name) || name == "pu" || name == "drawio";
            let files = match scan::walk_files(&self.course.root, &dir, &skip) {
                Ok((files, problems)) => {
                    self.plan.diagnostics.extend(problems);
                    files
                }
                Err(e) => {
                    self.plan.diagnostics.push(Diagnostic::error(&spec_file, at, e.to_string()));
                    continue;
                }
            };
            for (rel, from) in files {
                let who = self.course.display(&from);
                for top in Top::ALL {
                    for lang in Lang::ALL {
                        let mut to = self.layout.dir_group_base(top, lang, &group.name);
                        to.extend(subdir.split('/').filter(|s| !s.is_empty()));
                        to.extend(rel.split('/'));
                        if self.claim(&to, &who) {
                            self.copies.insert(to, from.clone());
                        }
                    }
                }
            }
        }
    }
}

/// A dir group's `<path>`: empty or `.` (the course root itself) or plain
/// relative segments.
fn stays_inside(path: &str) -> bool {
    !path.contains(':')
        && Path::new(path)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir))
}

/// The files a deck's converter may read: the topic's other files except
/// decks and diagram sources, relative to the deck's directory.
fn siblings(topic: &Topic, deck: &CourseFile) -> Vec<(String, PathBuf)> {
    let deck_dir = deck.rel.rsplit_once('/').map_or("", |(dir, _)| dir);
    topic
        .files
        .iter()
        .filter(|f| matches!(f.role, FileRole::Data))
        .map(|f| (relative_to(deck_dir, &f.rel), f.path.clone()))
        .collect()
}

/// `/`-separated `path` as seen from directory `dir` (both relative to the same base).
fn relative_to(dir: &str, path: &str) -> String {
    let dir: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    let path: Vec<&str> = path.split('/').collect();
    let common = dir.iter().zip(&path).take_while(|(a, b)| a == b).count();
    let mut out: Vec<&str> = vec![".."; dir.len() - common];
    out.extend(&path[common..]);
    out.join("/")
}

/// A notebook option or output parameter as the job's JSON. These types
/// are plain strings, flags and options, which always convert.
fn notebook_value(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(spec: &Path, data_dir: &Path, out_dir: &Path, options: &PlanOptions) -> CourseInputs {
        CourseInputs {
            spec: spec.to_owned(),
            data_dir: data_dir.to_owned(),
            out_dir: out_dir.to_owned(),
            options: options.clone(),
        }
    }
    use crate::course::testing::TestClassifier;
    use crate::report::Level;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn outputs(plan: &Plan, out: &Path) -> Vec<String> {
        let mut all: Vec<String> = plan
            .jobs
            .iter()
            .flat_map(|j| &j.outputs)
            .flat_map(|o| &o.destinations)
            .chain(plan.copies.iter().map(|c| &c.to))
            .chain(plan.pages.iter().map(|p| &p.to))
            .map(|p| scan::display(out, p))
            // A course root's assets folder is one entry: the site's files, not the course layout.
            .map(|p| match p.find("/_site/") {
                Some(at) => p[..at + "/_site/".len()].to_owned(),
                None => p,
            })
            .collect();
        all.sort();
        all.dedup_by(|a, b| a == b && a.ends_with("/_site/"));
        all
    }

    fn expected(name: &str) -> Vec<String> {
        let path = repo().join("tests/fixtures").join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        text.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
    }

    fn assert_same(got: &[String], want: &[String]) {
        let missing: Vec<_> = want.iter().filter(|w| !got.contains(w)).collect();
        let extra: Vec<_> = got.iter().filter(|g| !want.contains(g)).collect();
        assert!(missing.is_empty() && extra.is_empty(), "missing: {missing:#?}\nextra: {extra:#?}");
        assert_eq!(got.len(), want.len(), "some output is planned twice");
    }

    #[test]
    fn appendix_a_course_plans_exactly_the_documented_tree() {
        let root = repo().join("tests/fixtures/appendix-a");
        let out = Path::new("/out");
        let plan = plan(
            &inputs(&root.join("course-specs/test-spec-1.xml"), &root, out, &PlanOptions::default()),
            &TestClassifier,
        )
        .unwrap();
        assert_eq!(plan.diagnostics, []);
        let got = outputs(&plan, out);
        assert_eq!(got.len(), 122 + HOME_PAGES);
        assert_same(&got, &expected("appendix-a.expected.txt"));
        assert_eq!(plan.jobs.iter().filter(|j| j.job_type == "notebook").count(), 6);
        assert_eq!(plan.jobs.iter().filter(|j| j.priority == DIAGRAM_PRIORITY).count(), 2);
        assert_eq!(
            plan.roots,
            ["public/De/Mein Kurs", "public/En/My Course", "speaker/De/Mein Kurs", "speaker/En/My Course"]
                .map(|r| out.join(r))
        );
    }

    #[test]
    fn example_course_plans_exactly_the_expected_files() {
        let root = repo().join("examples/python-course");
        let out = root.join("output");
        let plan = plan(
            &inputs(&root.join("course-specs/python-course.xml"), &root, &out, &PlanOptions::default()),
            &TestClassifier,
        )
        .unwrap();
        assert_eq!(plan.diagnostics, []);
        assert_same(&outputs(&plan, &out), &expected("python-course.expected.txt"));
    }

    /// Beyond the documented trees: a home page and an assets folder in each
    /// of the four course roots, and the output folder's index.
    const HOME_PAGES: usize = 9;

    #[test]
    fn the_other_reference_specs_plan_the_documented_counts_without_hidden_files() {
        let root = repo().join("tests/fixtures/appendix-a");
        let out = Path::new("/out");
        // The fixture's file counts per spec, minus each `img/.gitkeep` (14 per spec 4 and 5).
        for (spec, count, sample) in [
            ("test-spec-2.xml", 42, "public/De/Kurs 2/Folien/Python/Completed/Woche 1/include_me.py"),
            (
                "test-spec-3.xml",
                14,
                "speaker/En/Simple Notebook/Slides/Html/Speaker/Single Section/01 Simple Notebook.html",
            ),
            (
                "test-spec-4.xml",
                14,
                "public/En/Simple PlantUML/Slides/Html/Completed/Single Section/img/simple_diagram.png",
            ),
            (
                "test-spec-5.xml",
                14,
                "public/De/Einfaches Drawio/Folien/Notebooks/Code-Along/Einziger Abschnitt/img/simple_drawing.png",
            ),
        ] {
            let plan = plan(
                &inputs(&root.join("course-specs").join(spec), &root, out, &PlanOptions::default()),
                &TestClassifier,
            )
            .unwrap();
            let got = outputs(&plan, out);
            assert_eq!(got.len(), count + HOME_PAGES, "{spec}");
            assert!(got.iter().any(|p| p == sample), "{spec}: {sample} missing from {got:#?}");
            assert!(!got.iter().any(|p| p.contains("/.")), "{spec}: hidden file planned");
        }
    }

    #[test]
    fn pages_land_per_language_in_the_sections_pages_folder_numbered_apart_from_the_decks() {
        use crate::course::testing::{spec, write};
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "slides/module_000_a/topic_100_x/slides_x.py", "# %%\n1\n");
        write(root, "slides/module_000_a/topic_100_x/b.page", "b");
        write(root, "slides/module_000_a/topic_100_x/a.page", "a");
        write(root, "slides/module_000_a/topic_100_x/data.csv", "1,2");
        let course = Course::load(spec(root, &[("S", &["x"])]), root, &TestClassifier).unwrap();
        let out = root.join("out");
        let plan = plan_course(&course, &out, &PlanOptions::default());
        let pages: Vec<&PlannedJob> = plan.jobs.iter().filter(|j| j.job_type == "page").collect();
        assert_eq!(pages.len(), 2, "one job per page source");
        let a = pages.iter().find(|j| j.source.ends_with("a.page")).unwrap();
        let ids: Vec<&str> = a.outputs.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["de-html", "en-html"]);
        assert_eq!(a.outputs[1].params, json!({"lang": "en"}));
        let dests: Vec<String> =
            a.outputs.iter().flat_map(|o| &o.destinations).map(|d| scan::display(&out, d)).collect();
        assert_eq!(
            dests,
            [
                "public/De/K/Folien/Seiten/S/01 a.html",
                "speaker/De/K/Folien/Seiten/S/01 a.html",
                "public/En/C/Slides/Pages/S/01 a.html",
                "speaker/En/C/Slides/Pages/S/01 a.html",
            ]
        );
        let b = pages.iter().find(|j| j.source.ends_with("b.page")).unwrap();
        assert!(b.outputs[0].destinations[0].ends_with("02 b.html"), "{:?}", b.outputs[0].destinations);
        let siblings: Vec<&str> = a.siblings.iter().map(|(rel, _)| rel.as_str()).collect();
        assert!(siblings.contains(&"data.csv"), "a page gets the topic's files: {siblings:?}");
        let deck = plan.jobs.iter().find(|j| j.job_type == "notebook").unwrap();
        assert!(
            deck.outputs.iter().flat_map(|o| &o.destinations).all(|d| d.to_string_lossy().contains("/01 slides_x.")),
            "pages do not renumber the deck"
        );
    }

    #[test]
    fn a_page_is_named_for_its_stem_before_the_compound_suffix_kept_as_written() {
        use crate::course::testing::{spec, write};
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "slides/module_000_a/topic_100_x/welcome.handout.md", "w");
        write(root, "slides/module_000_a/topic_100_x/cheat_sheet.v2.handout.md", "c");
        write(root, "slides/module_000_a/topic_100_x/classes.puml", "@startuml\n@enduml\n");
        write(root, "slides/module_000_a/topic_100_x/data/table.csv", "1,2");
        let course = Course::load(spec(root, &[("S", &["x"])]), root, &TestClassifier).unwrap();
        let out = root.join("out");
        let plan = plan_course(&course, &out, &PlanOptions::default());
        let mut names: Vec<String> = plan
            .jobs
            .iter()
            .filter(|j| j.job_type == "handout")
            .flat_map(|j| &j.outputs)
            .flat_map(|o| &o.destinations)
            .filter(|d| d.starts_with(out.join("public/En")))
            .map(|d| scan::display(&out, d))
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["public/En/C/Slides/Pages/S/cheat_sheet.v2.html", "public/En/C/Slides/Pages/S/welcome.html"]
        );
        // The topic's images and data lie beside its pages, at the paths a
        // deck links them by, in every tree and language.
        let outputs = outputs(&plan, &out);
        for tree in ["public/En/C/Slides/Pages/S", "speaker/De/K/Folien/Seiten/S"] {
            for file in ["img/classes.png", "data/table.csv"] {
                let want = format!("{tree}/{file}");
                assert!(outputs.contains(&want), "{want} missing from {outputs:#?}");
            }
        }
    }

    #[test]
    fn deck_jobs_carry_language_options_outputs_and_siblings() {
        let root = repo().join("tests/fixtures/appendix-a");
        let plan = plan(
            &inputs(&root.join("course-specs/test-spec-1.xml"), &root, Path::new("/out"), &PlanOptions::default()),
            &TestClassifier,
        )
        .unwrap();
        let job = &plan.jobs.iter().find(|j| j.job_type == "notebook").unwrap();
        assert_eq!(
            job.display,
            "slides/module_000_test_1/topic_100_some_topic_from_test_1/slides_some_topic_from_test_1.py"
        );
        assert_eq!(job.options["lang"], "de");
        assert_eq!(job.options["prog_lang"], "python");
        assert_eq!(job.options["execute"], true);
        assert!(job.options["macros"].is_null());
        let ids: Vec<_> = job.outputs.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "html-code-along",
                "html-completed",
                "ipynb-code-along",
                "ipynb-completed",
                "code-completed",
                "html-speaker",
                "ipynb-speaker"
            ]
        );
        assert_eq!(job.outputs[5].params, json!({"kind": "speaker"}));
        let siblings: Vec<_> = job.siblings.iter().map(|(rel, _)| rel.as_str()).collect();
        assert_eq!(siblings, ["data/test.data", "img/my_diag.png", "img/my_drawing.png", "img/my_image.png"]);
        assert_eq!(job.priority, DECK_PRIORITY + 1, "German decks go first");
        let english = plan.jobs.iter().find(|j| j.source == job.source && j.lang == Some(Lang::En)).unwrap();
        assert_eq!(english.priority, DECK_PRIORITY);
    }

    #[test]
    fn diagram_job_has_one_output_per_format_going_to_every_variant_folder() {
        let root = repo().join("tests/fixtures/appendix-a");
        let opts = PlanOptions { diagram_formats: vec!["png".into(), "svg".into()], ..PlanOptions::default() };
        let plan =
            plan(&inputs(&root.join("course-specs/test-spec-1.xml"), &root, Path::new("/out"), &opts), &TestClassifier)
                .unwrap();
        let job = plan.jobs.iter().find(|j| j.job_type == "plantuml").unwrap();
        assert!(job.options.as_object().is_some_and(|o| o.is_empty()));
        assert_eq!(job.outputs.len(), 2);
        assert_eq!(job.outputs[1].id, "svg");
        assert_eq!(job.outputs[0].destinations.len(), 14);
        assert!(job.outputs[1].destinations.iter().all(|d| d.ends_with("img/my_diag.svg")));
        // The committed PNG is replaced by the rendered one, never copied over it.
        assert!(!plan.copies.iter().any(|c| c.to.ends_with("img/my_diag.png")));
    }

    #[test]
    fn unknown_topic_is_reported_and_the_rest_still_planned() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("slides/module_000_a/topic_100_x")).unwrap();
        std::fs::write(root.join("slides/module_000_a/topic_100_x/slides_x.py"), "").unwrap();
        std::fs::create_dir_all(root.join("course-specs")).unwrap();
        let spec = root.join("course-specs/c.xml");
        std::fs::write(
            &spec,
            "<course><name><de>K</de><en>C</en></name><prog-lang>python</prog-lang>\
             <description><de/><en/></description><certificate><de/><en/></certificate>\
             <github><de/><en/></github><sections><section><name><de>A</de><en>A</en></name>\
             <topics><topic>missing</topic><topic html=\"no\">x</topic></topics></section></sections></course>",
        )
        .unwrap();
        let plan = plan(&inputs(&spec, root, &root.join("out"), &PlanOptions::default()), &TestClassifier).unwrap();
        assert_eq!(plan.diagnostics.iter().filter(|d| d.level == Level::Error).count(), 1);
        assert_eq!(plan.jobs.len(), 2);
        assert!(plan.jobs.iter().all(|j| j.outputs.len() == 4));
    }

    /// A one-topic course in `dir/course` whose spec ends with `extra`.
    fn small_course(dir: &Path, extra: &str) -> PathBuf {
        let root = dir.join("course");
        std::fs::create_dir_all(root.join("slides/module_000_a/topic_100_x")).unwrap();
        std::fs::write(root.join("slides/module_000_a/topic_100_x/slides_x.py"), "").unwrap();
        std::fs::create_dir_all(root.join("course-specs")).unwrap();
        std::fs::write(
            root.join("course-specs/c.xml"),
            format!(
                "<course><name><de>K</de><en>C</en></name><prog-lang>python</prog-lang>\
                 <description><de/><en/></description><certificate><de/><en/></certificate>\
                 <github><de/><en/></github><sections><section><name><de>A</de><en>A</en></name>\
                 <topics><topic>x</topic></topics></section></sections>{extra}</course>"
            ),
        )
        .unwrap();
        root
    }

    #[test]
    fn python_decks_carry_the_course_requirements_file_and_nothing_without_one() {
        let tmp = tempfile::tempdir().unwrap();
        let root = small_course(tmp.path(), "");
        let spec = root.join("course-specs/c.xml");
        let opts = PlanOptions::default();
        let without = plan(&inputs(&spec, &root, &tmp.path().join("out"), &opts), &TestClassifier).unwrap();
        assert!(without.jobs.iter().all(|j| j.options.get("requirements").is_none()));
        std::fs::write(root.join("requirements.txt"), "six==1.16.0\n").unwrap();
        let with = plan(&inputs(&spec, &root, &tmp.path().join("out"), &opts), &TestClassifier).unwrap();
        assert_eq!(with.jobs.len(), 2);
        for job in &with.jobs {
            assert_eq!(job.options["requirements"]["path"], "requirements.txt");
            assert_eq!(job.options["requirements"]["text"], "six==1.16.0\n");
        }
    }

    #[test]
    fn dir_group_paths_that_leave_the_course_are_errors_and_copy_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("secret")).unwrap();
        std::fs::write(tmp.path().join("secret/key"), "k").unwrap();
        let groups = "<dir-groups><dir-group><name>Up</name><path>../secret</path></dir-group>\
                      <dir-group><name>Abs</name><path>SECRET</path></dir-group></dir-groups>"
            .replace("SECRET", &tmp.path().join("secret").to_string_lossy());
        let root = small_course(tmp.path(), &groups);
        let out = tmp.path().join("out");
        let plan =
            plan(&inputs(&root.join("course-specs/c.xml"), &root, &out, &PlanOptions::default()), &TestClassifier)
                .unwrap();
        assert!(plan.copies.is_empty(), "{:#?}", plan.copies);
        let errors: Vec<_> = plan.diagnostics.iter().filter(|d| d.level == Level::Error).collect();
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].message.contains("`../secret` must be relative and stay inside"), "{}", errors[0].message);
    }

    #[test]
    fn output_roots_overlapping_the_course_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = small_course(tmp.path(), "");
        let spec = root.join("course-specs/c.xml");
        let try_out = |out: &Path| plan(&inputs(&spec, &root, out, &PlanOptions::default()), &TestClassifier);
        let err = try_out(&root.join("slides")).unwrap_err();
        assert!(matches!(err, PlanError::OutputInSlides { .. }), "{err}");
        let err = try_out(&root.join("slides/module_000_a/../x")).unwrap_err();
        assert!(matches!(err, PlanError::OutputInSlides { .. }), "{err}");
        // A data dir that is itself where a course root lands.
        let nested = tmp.path().join("out/public/De/K");
        std::fs::create_dir_all(nested.parent().unwrap()).unwrap();
        std::fs::rename(&root, &nested).unwrap();
        let spec = nested.join("course-specs/c.xml");
        let err = plan(&inputs(&spec, &nested, &tmp.path().join("out"), &PlanOptions::default()), &TestClassifier)
            .unwrap_err();
        assert!(matches!(err, PlanError::OutputContainsCourse { what: "root folder", .. }), "{err}");
        // The default and the course folder itself are fine.
        assert!(plan(&inputs(&spec, &nested, &nested.join("output"), &PlanOptions::default()), &TestClassifier).is_ok());
        assert!(plan(&inputs(&spec, &nested, &nested, &PlanOptions::default()), &TestClassifier).is_ok());
    }

    #[test]
    fn relative_paths_climb_out_of_nested_deck_dirs() {
        assert_eq!(relative_to("", "data/x.csv"), "data/x.csv");
        assert_eq!(relative_to("nb", "data/x.csv"), "../data/x.csv");
        assert_eq!(relative_to("nb", "nb/x.csv"), "x.csv");
    }
}
