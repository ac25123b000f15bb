//! The build plan: every job and every copy a build performs, with the exact
//! output paths. The course model produces it; the engine executes it. Data
//! only flows this way: spec -> course -> plan -> jobs -> results -> outputs.

use std::path::{Path, PathBuf};

use crate::course::lang::Lang;

/// Everything one build does.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Converter jobs, one per deck language or diagram.
    pub jobs: Vec<PlannedJob>,
    /// Files copied as they are.
    pub copies: Vec<PlannedCopy>,
    /// Files the host generates itself (the course home pages).
    pub pages: Vec<PlannedPage>,
    /// The directories the build owns (the four course roots): stale files
    /// inside them are swept after the build, nothing outside is touched.
    pub roots: Vec<PathBuf>,
    /// Problems found while planning (unknown topic, duplicate id, …); the
    /// rest of the plan is still built.
    pub diagnostics: Vec<crate::report::Diagnostic>,
    /// Deck pages -> the frame they are written in (title, language,
    /// stylesheet, navigation), applied as each lands.
    pub frames: std::collections::BTreeMap<PathBuf, crate::course::frame::PageFrame>,
    /// Pages printed to PDF once they have landed (`[output] pdf`).
    pub prints: Vec<PlannedPrint>,
}

impl Plan {
    /// Whether the course itself has an error (an unknown topic, an
    /// unreadable deck): such a build writes what it can but removes
    /// nothing, so a typo never costs published pages.
    pub fn has_input_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.level == crate::report::Level::Error)
    }

    /// Every job of the build: the converters', then the prints'.
    pub fn every_job(&self) -> impl Iterator<Item = &PlannedJob> {
        self.jobs.iter().chain(self.prints.iter().map(|p| &p.job))
    }
}

/// One converter job: one source, many outputs.
#[derive(Debug, Clone)]
pub struct PlannedJob {
    /// The plugin providing `job_type`.
    pub plugin: String,
    /// The job type the plugin runs (e.g. a deck or a diagram converter).
    pub job_type: String,
    /// The source file on disk.
    pub source: PathBuf,
    /// The source as the user should see it in messages (relative to the course root).
    pub display: String,
    /// The page language of a deck's job (a deck has one job per language).
    pub lang: Option<Lang>,
    /// Files the converter may read, relative to the source's directory (`/`-separated).
    pub siblings: Vec<(String, PathBuf)>,
    /// What the job produces and where each output is written.
    pub outputs: Vec<PlannedOutput>,
    /// Job options, handed to the plugin as JSON.
    pub options: serde_json::Value,
    /// Higher runs first (slow decks before quick diagrams keeps cores busy).
    pub priority: i64,
}

impl PlannedJob {
    /// The job as progress lines name it: the source and, for a deck, the
    /// language, so its German and English jobs are told apart.
    pub fn progress_name(&self) -> String {
        match self.lang {
            Some(lang) => format!("{} ({})", self.display, lang.code()),
            None => self.display.clone(),
        }
    }
}

/// A job whose source is a page this build writes: the completed HTML page
/// of a deck, printed to PDF in its frame. It can run only once the page
/// has landed, so the engine submits it then, and not at all when the page
/// was not produced.
#[derive(Debug, Clone)]
pub struct PlannedPrint {
    /// The deck the page comes from (the home page lists the PDF with it).
    pub deck: PathBuf,
    /// The course root the page lies in: the page and the files it embeds
    /// reach the printer named relative to it.
    pub root: PathBuf,
    /// The job: its source is the framed page in the output tree, its one
    /// output the PDF; its siblings (the files the page embeds) are found
    /// in the page once it is written.
    pub job: PlannedJob,
}

/// One output of a job and every place it goes.
#[derive(Debug, Clone)]
pub struct PlannedOutput {
    /// Unique within the job.
    pub id: String,
    /// The format the plugin is asked for (`html`, `ipynb`, `png`, …).
    pub format: String,
    /// Format parameters handed to the plugin as JSON (language, kind, …).
    pub params: serde_json::Value,
    /// Where the bytes are written; a diagram's image goes beside the decks
    /// in every variant folder.
    pub destinations: Vec<PathBuf>,
}

/// A file the host copies as it is (data files, images, dir groups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCopy {
    /// The source file on disk.
    pub from: PathBuf,
    /// The destination below an output root.
    pub to: PathBuf,
}

/// A file the host generates itself. Its text is fixed by the plan but for
/// the parts that link job outputs: whether a job produced them is known
/// only once its result has landed, and a page must not link a file this
/// build failed to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPage {
    /// The destination below an output root.
    pub to: PathBuf,
    /// The page's text, in order, fixed parts and parts that depend on job outputs.
    pub parts: Vec<PagePart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// One piece of a generated page.
pub enum PagePart {
    /// Bytes written as they are.
    Fixed(Vec<u8>),
    /// `produced` when this build produced every file in `needs`, else `failed`.
    Needs {
        /// Output files that must all have been produced by this build.
        needs: Vec<PathBuf>,
        /// The text written when they were (typically a link to them).
        produced: String,
        /// The text written when any was not (typically the name marked as failed).
        failed: String,
    },
    /// When this build produced `page`: the title the page proposes
    /// (escaped), else `fallback`; nothing when it was not produced.
    Title {
        /// The generated page's output file.
        page: PathBuf,
        /// Text written when the page proposes no title (already escaped).
        fallback: String,
    },
}

impl PlannedPage {
    /// A page that depends on no output.
    pub fn fixed(to: PathBuf, bytes: Vec<u8>) -> PlannedPage {
        PlannedPage { to, parts: vec![PagePart::Fixed(bytes)] }
    }

    /// Whether the page links no job output, so its bytes are known before
    /// any job lands (the site's assets).
    pub fn is_fixed(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, PagePart::Fixed(_)))
    }

    /// The page's bytes, given which files this build produced; no page
    /// proposes a title.
    pub fn bytes(&self, produced: impl Fn(&Path) -> bool) -> Vec<u8> {
        self.bytes_titled(produced, |_| None)
    }

    /// The page's bytes, given which files this build produced and the
    /// title each produced page proposes (unescaped).
    pub fn bytes_titled(&self, produced: impl Fn(&Path) -> bool, title: impl Fn(&Path) -> Option<String>) -> Vec<u8> {
        let mut out = Vec::new();
        for part in &self.parts {
            match part {
                PagePart::Fixed(bytes) => out.extend_from_slice(bytes),
                PagePart::Needs { needs, produced: done, failed } => {
                    let text = if needs.iter().all(|p| produced(p)) { done } else { failed };
                    out.extend_from_slice(text.as_bytes());
                }
                PagePart::Title { page, fallback } if produced(page) => match title(page) {
                    Some(title) => out.extend_from_slice(crate::course::frame::esc(&title).as_bytes()),
                    None => out.extend_from_slice(fallback.as_bytes()),
                },
                PagePart::Title { .. } => {}
            }
        }
        out
    }

    /// Rewrite the page with `f` (put it in a frame, say), keeping the parts
    /// that depend on the build: `f` sees each of them as a placeholder it
    /// leaves alone.
    pub fn map_text(&mut self, f: impl FnOnce(&[u8]) -> Vec<u8>) {
        const HOLE: &[u8] = b"\0clx-page-part\0";
        let mut joined = Vec::new();
        let mut needs = Vec::new();
        for part in self.parts.drain(..) {
            match part {
                PagePart::Fixed(bytes) => joined.extend_from_slice(&bytes),
                part => {
                    joined.extend_from_slice(HOLE);
                    needs.push(part);
                }
            }
        }
        let mapped = f(&joined);
        let mut needs = needs.into_iter();
        let mut rest = mapped.as_slice();
        loop {
            let at = rest.windows(HOLE.len()).position(|w| w == HOLE);
            let text = &rest[..at.unwrap_or(rest.len())];
            if !text.is_empty() {
                self.parts.push(PagePart::Fixed(text.to_vec()));
            }
            let Some(at) = at else { break };
            self.parts.extend(needs.next());
            rest = &rest[at + HOLE.len()..];
        }
    }
}

/// What a loaded plugin says about a file: which job type claims it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobClass {
    /// The name of the plugin that claims the file.
    pub plugin: String,
    /// The job type within that plugin that converts it.
    pub job_type: String,
    /// Whether the file is a deck, a diagram or a page.
    pub role: clx_plugin_api::Role,
    /// Output formats the job type can produce.
    pub formats: Vec<String>,
    /// A page type whose outputs are numbered within their section.
    pub numbered: bool,
    /// Image pixels per CSS pixel of each raster format declared denser than 1.
    pub densities: std::collections::BTreeMap<String, u32>,
    /// The declared suffix that claimed the file (`.handout.txt`): what is
    /// left of the name before it is the stem its outputs are named after.
    pub suffix: String,
}

impl JobClass {
    /// `file_name` without the suffix that claimed it: `welcome.handout.txt`
    /// gives `welcome`. A name that is nothing but the suffix keeps its
    /// name minus the last extension, so no output is named `.html`.
    pub fn stem<'n>(&self, file_name: &'n str) -> &'n str {
        match file_name.strip_suffix(self.suffix.as_str()) {
            Some(stem) if !stem.is_empty() && !self.suffix.is_empty() => stem,
            _ => file_name.rsplit_once('.').map_or(file_name, |(stem, _)| stem),
        }
    }
}

/// Classifies course files by asking the loaded plugins (the host knows no
/// file type of its own).
pub trait Classifier {
    /// Which usable plugin's job type claims `file_name`, or `None` for a data file.
    fn classify(&self, file_name: &str) -> Option<JobClass>;

    /// When no usable plugin claims `file_name` but an installed, unusable
    /// one would: who, and why it is not used. Such a file is an error, not
    /// data to copy.
    fn claimed_by_unusable(&self, _file_name: &str) -> Option<UnusableClaim> {
        None
    }

    /// The suffixes (`.py`) the usable plugins read for `role`, for
    /// messages about a file none of them claims.
    fn suffixes(&self, _role: clx_plugin_api::Role) -> Vec<String> {
        Vec::new()
    }
}

/// An installed plugin that would claim a file but is not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusableClaim {
    /// The name of the unusable plugin.
    pub plugin: String,
    /// The plugin's manifest, so the user can find and fix it.
    pub path: PathBuf,
    /// The job type that would claim the file.
    pub job_type: String,
    /// Why the plugin is not used (its status's reason).
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_part_that_needs_a_file_the_build_did_not_produce_reads_its_failed_text() {
        let page = PlannedPage {
            to: PathBuf::from("out/index.html"),
            parts: vec![
                PagePart::Fixed(b"<p>".to_vec()),
                PagePart::Needs { needs: vec!["out/a.html".into()], produced: "a".into(), failed: "-".into() },
                PagePart::Needs {
                    needs: vec!["out/a.html".into(), "out/b.html".into()],
                    produced: "b".into(),
                    failed: "!".into(),
                },
            ],
        };
        assert_eq!(page.bytes(|_| true), b"<p>ab");
        assert_eq!(page.bytes(|p| p == Path::new("out/a.html")), b"<p>a!");
        assert_eq!(page.bytes(|_| false), b"<p>-!");
        let mut framed = page.clone();
        framed.map_text(|text| [b"<body>".as_slice(), text, b"</body>"].concat());
        assert_eq!(framed.bytes(|p| p == Path::new("out/a.html")), b"<body><p>a!</body>");
    }

    #[test]
    fn a_title_part_reads_the_pages_proposal_escaped_or_its_fallback_and_nothing_for_a_missing_page() {
        let page = PlannedPage {
            to: PathBuf::from("out/index.html"),
            parts: vec![PagePart::Title { page: "out/a.html".into(), fallback: "a".into() }],
        };
        let proposal = |_: &Path| Some("A <b> & c".to_owned());
        assert_eq!(page.bytes_titled(|_| true, proposal), b"A &lt;b&gt; &amp; c");
        assert_eq!(page.bytes_titled(|_| true, |_| None), b"a");
        assert_eq!(page.bytes_titled(|_| false, proposal), b"");
    }
}
