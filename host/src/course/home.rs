//! The course home page: an `index.html` at the top of every output course
//! root, so a participant who opens the folder (from disk, a web server or a
//! git host) sees the course's sections and topics in order and reaches every
//! page, notebook, code file, standalone page (`Role::Page`) and data file
//! from there.
//!
//! The page is made from the plan itself: it links exactly the files this
//! build writes into its root, with relative links only, so it never points
//! at something another tree has (the public page never names a speaker
//! file). A deck's file that its job failed to produce this build is not
//! linked, and the deck is marked as failed: the engine picks those parts of
//! the page once the jobs have landed. It carries no timestamp: an unchanged
//! plan and outcome give the same bytes, and the output tree then leaves the
//! file alone. The site's frame (stylesheet, header, footer) is added by
//! `site`, as for every deck page.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use crate::course::frame::esc;
use crate::course::lang::Lang;
use crate::course::layout::{Layout, Top};
use crate::course::model::{Course, FileRole, Topic};
use crate::course::plan::{PagePart, Plan, PlannedPage};

/// The file name of the home page in each course root.
pub const HOME_PAGE: &str = "index.html";

/// One home page per course root, for the plan as it stands.
pub fn pages(course: &Course, layout: &Layout, plan: &Plan) -> Vec<PlannedPage> {
    let mut pages = Vec::new();
    for top in Top::ALL {
        for lang in Lang::ALL {
            let root = layout.course_root(top, lang);
            let to = root.join(HOME_PAGE);
            // A course file of that name already owns the spot: it wins.
            let taken = plan.copies.iter().any(|c| c.to == to)
                || plan.jobs.iter().flat_map(|j| &j.outputs).any(|o| o.destinations.contains(&to));
            if taken {
                continue;
            }
            let parts = render(course, layout, plan, top, lang, &root);
            pages.push(PlannedPage { to, parts });
        }
    }
    pages
}

/// A link on the page: its text and the target relative to the course root.
struct Link {
    label: String,
    rel: PathBuf,
}

/// The page being written: fixed text, and the parts that depend on which
/// outputs the build produces.
#[derive(Default)]
struct Page {
    parts: Vec<PagePart>,
    text: String,
}

impl Page {
    fn push_str(&mut self, s: &str) {
        self.text.push_str(s);
    }

    fn needs(&mut self, needs: Vec<PathBuf>, produced: String, failed: String) {
        self.flush();
        self.parts.push(PagePart::Needs { needs, produced, failed });
    }

    /// The title `page` proposes, or `fallback`, once the build wrote it.
    fn title(&mut self, page: PathBuf, fallback: String) {
        self.flush();
        self.parts.push(PagePart::Title { page, fallback });
    }

    fn flush(&mut self) {
        if !self.text.is_empty() {
            self.parts.push(PagePart::Fixed(std::mem::take(&mut self.text).into_bytes()));
        }
    }

    fn finish(mut self) -> Vec<PagePart> {
        self.flush();
        self.parts
    }
}

impl std::fmt::Write for Page {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

fn render(course: &Course, layout: &Layout, plan: &Plan, top: Top, lang: Lang, root: &Path) -> Vec<PagePart> {
    let de = lang == Lang::De;
    let title = course.spec.name.get(lang);
    let mut body = Page::default();
    let _ = write!(
        body,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n</head>\n<body class=\"clx-home-page\">\n<main>\n",
        lang.code(),
        esc(title)
    );
    let _ = writeln!(body, "<h1>{}</h1>", esc(title));
    if top == Top::Speaker {
        let _ =
            writeln!(body, "<p class=\"tree\">{}</p>", if de { "Ausgabe für Vortragende" } else { "Speaker edition" });
    }
    let description = course.spec.description.get(lang).trim();
    if !description.is_empty() {
        let _ = writeln!(body, "<p class=\"description\">{}</p>", esc(description));
    }
    for section in &course.sections {
        let _ = writeln!(body, "<section>\n<h2>{}</h2>\n<ol class=\"topics\">", esc(section.name.get(lang)));
        for topic in &section.topics {
            topic_item(&mut body, topic, plan, lang, root);
        }
        body.push_str("</ol>\n</section>\n");
    }
    let groups = dir_groups(course, layout, plan, top, lang, root);
    if !groups.is_empty() {
        let _ = writeln!(body, "<section>\n<h2>{}</h2>", if de { "Weitere Dateien" } else { "More files" });
        for (name, links) in groups {
            let _ = writeln!(body, "<h3>{}</h3>\n<ul class=\"files\">", esc(&name));
            for link in links {
                let _ = writeln!(body, "<li>{}</li>", anchor(&link));
            }
            body.push_str("</ul>\n");
        }
        body.push_str("</section>\n");
    }
    body.push_str("</main>\n</body>\n</html>\n");
    body.finish()
}

/// A topic: each deck with its pages, notebooks and code, then the topic's
/// data files.
fn topic_item(body: &mut Page, topic: &Topic, plan: &Plan, lang: Lang, root: &Path) {
    let mut decks = Vec::new();
    let mut pages = Vec::new();
    let mut data = Vec::new();
    for file in &topic.files {
        match &file.role {
            FileRole::Deck(deck) => {
                // The deck's own outputs and the PDFs printed from its pages.
                let printed = plan.prints.iter().filter(|p| p.deck == file.path).map(|p| &p.job);
                let mut links: Vec<Link> = plan
                    .jobs
                    .iter()
                    .filter(|j| j.source == file.path)
                    .chain(printed)
                    .flat_map(|j| &j.outputs)
                    .flat_map(|o| &o.destinations)
                    .filter_map(|d| d.strip_prefix(root).ok())
                    .map(|rel| Link { label: variant_label(rel, lang), rel: rel.to_owned() })
                    .collect();
                if links.is_empty() {
                    continue;
                }
                links.sort_by_key(|l| variant_rank(&l.rel));
                decks.push((format!("{:02} {}", deck.number, deck.title.get(lang)), links));
            }
            FileRole::Data => {
                // The same file lands beside every variant; one link is enough.
                let first =
                    plan.copies.iter().filter(|c| c.from == file.path).find_map(|c| c.to.strip_prefix(root).ok());
                if let Some(rel) = first {
                    data.push(Link { label: file.rel.clone(), rel: rel.to_owned() });
                }
            }
            FileRole::Page(_) => {
                // One file per language and tree: the one in this root.
                pages.extend(
                    plan.jobs
                        .iter()
                        .filter(|j| j.source == file.path)
                        .flat_map(|j| &j.outputs)
                        .flat_map(|o| &o.destinations)
                        .filter_map(|d| d.strip_prefix(root).ok())
                        .map(|rel| Link { label: page_label(rel), rel: rel.to_owned() }),
                );
            }
            FileRole::Diagram(_) => {}
        }
    }
    if decks.is_empty() && pages.is_empty() && data.is_empty() {
        return;
    }
    body.push_str("<li class=\"topic\">\n");
    if decks.is_empty() {
        let _ = writeln!(body, "<span class=\"title\">{}</span>", esc(&topic.id));
    }
    // A file of a deck is linked only when this build produced it (a cell
    // that raises fails the executed pages, not the notebooks); a deck
    // missing any is marked, so nobody takes it for complete.
    for (title, links) in decks {
        let _ = write!(body, "<div class=\"deck\"><span class=\"title\">{}</span><span class=\"links\">", esc(&title));
        let files: Vec<PathBuf> = links.iter().map(|l| root.join(&l.rel)).collect();
        for (link, file) in links.iter().zip(&files) {
            body.needs(vec![file.clone()], format!(" {}", anchor(link)), String::new());
        }
        body.push_str("</span>");
        let failed = if lang == Lang::De { "in diesem Build fehlgeschlagen" } else { "failed in this build" };
        body.needs(files, String::new(), format!(" <span class=\"failed\">{failed}</span>"));
        body.push_str("</div>\n");
    }
    // A page is linked only when this build wrote it, as a deck's files
    // are, under the title it proposes (its file name without one).
    for link in &pages {
        let failed = if lang == Lang::De { "in diesem Build fehlgeschlagen" } else { "failed in this build" };
        let file = root.join(&link.rel);
        body.needs(
            vec![file.clone()],
            format!("<div class=\"page\"><a href=\"{}\">", href(&link.rel)),
            format!("<div class=\"page\">{} <span class=\"failed\">{failed}</span></div>\n", esc(&link.label)),
        );
        body.title(file.clone(), esc(&link.label));
        body.needs(vec![file], "</a></div>\n".to_owned(), String::new());
    }
    if !data.is_empty() {
        let parts: Vec<String> = data.iter().map(anchor).collect();
        let _ = writeln!(body, "<div class=\"data\">{}</div>", parts.join(" "));
    }
    body.push_str("</li>\n");
}

/// Each dir group's files in this root, by group name.
fn dir_groups(
    course: &Course,
    layout: &Layout,
    plan: &Plan,
    top: Top,
    lang: Lang,
    root: &Path,
) -> BTreeMap<String, Vec<Link>> {
    let mut groups: BTreeMap<String, Vec<Link>> = BTreeMap::new();
    for group in &course.dir_groups {
        let base = layout.dir_group_base(top, lang, &group.name);
        for copy in &plan.copies {
            let (Ok(inside), Ok(rel)) = (copy.to.strip_prefix(&base), copy.to.strip_prefix(root)) else { continue };
            let links = groups.entry(group.name.clone()).or_default();
            if !links.iter().any(|l| l.rel == rel) {
                links.push(Link { label: slash_path(inside), rel: rel.to_owned() });
            }
        }
    }
    groups
}

/// A page's name as its file has it, without the format: `01 handout`.
fn page_label(rel: &Path) -> String {
    rel.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned())
}

/// `Slides/Html/Completed/…` -> `HTML completed`; what a participant
/// recognises, in the page's language.
fn variant_label(rel: &Path, lang: Lang) -> String {
    let parts: Vec<String> =
        rel.components().skip(1).take(2).map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    let de = lang == Lang::De;
    let format = match parts.first().map(String::as_str) {
        Some("Html") => "HTML".to_owned(),
        Some("Notebooks") => "Notebook".to_owned(),
        Some("Presentations") if de => "Folien".to_owned(),
        Some("Presentations") => "Slides".to_owned(),
        Some("Pdf") => "PDF".to_owned(),
        Some(other) => other.to_owned(),
        None => String::new(),
    };
    let kind = match parts.get(1).map(String::as_str) {
        Some("Completed") if de => "vollständig",
        Some("Completed") => "completed",
        Some("Code-Along") => "code-along",
        Some("Speaker") if de => "Vortrag",
        Some("Speaker") => "speaker",
        _ => "",
    };
    if kind.is_empty() {
        format
    } else {
        format!("{format} {kind}")
    }
}

/// HTML first, then PDF, slides, notebooks, code; completed before code-along before speaker.
fn variant_rank(rel: &Path) -> (u8, u8) {
    let mut parts = rel.components().skip(1).map(|c| c.as_os_str().to_string_lossy().into_owned());
    let format = match parts.next().as_deref() {
        Some("Html") => 0,
        Some("Pdf") => 1,
        Some("Presentations") => 2,
        Some("Notebooks") => 3,
        _ => 4,
    };
    let kind = match parts.next().as_deref() {
        Some("Completed") => 0,
        Some("Code-Along") => 1,
        _ => 2,
    };
    (format, kind)
}

fn anchor(link: &Link) -> String {
    format!("<a href=\"{}\">{}</a>", href(&link.rel), esc(&link.label))
}

/// A relative URL: each segment percent-encoded, so spaces, umlauts, `#` and
/// `?` in names survive every way the folder is served.
pub(crate) fn href(rel: &Path) -> String {
    let mut out = String::new();
    for (i, c) in rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .enumerate()
    {
        if i > 0 {
            out.push('/');
        }
        for b in c.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// A relative path with `/` between its parts, as URLs and plugins name it.
pub(crate) fn slash_path(p: &Path) -> String {
    p.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_listed_under_its_topic_and_linked_only_once_written() {
        use crate::course::planner::{plan_course, PlanOptions};
        use crate::course::testing::{spec, write, TestClassifier};
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "slides/module_000_a/topic_100_x/cheat_sheet.v2.handout.md", "c");
        let course = Course::load(spec(root, &[("S", &["x"])]), root, &TestClassifier).unwrap();
        let out = root.join("out");
        let plan = plan_course(&course, &out, &PlanOptions::default());
        let home = plan.pages.iter().find(|p| p.to == out.join("public/En/C/index.html")).unwrap();
        let written = String::from_utf8(home.bytes(|_| true)).unwrap();
        assert!(written.contains(r#"<a href="Slides/Pages/S/cheat_sheet.v2.html">cheat_sheet.v2</a>"#), "{written}");
        let titled = String::from_utf8(home.bytes_titled(|_| true, |_| Some("Cheat & sheet".into()))).unwrap();
        assert!(titled.contains(r#"<a href="Slides/Pages/S/cheat_sheet.v2.html">Cheat &amp; sheet</a>"#), "{titled}");
        let failed = String::from_utf8(home.bytes(|_| false)).unwrap();
        assert!(failed.contains("cheat_sheet.v2 <span class=\"failed\">"), "{failed}");
        assert!(!failed.contains("</a></div>"), "{failed}");
        assert!(!failed.contains("Pages/S/cheat_sheet.v2.html"), "{failed}");
    }

    #[test]
    fn links_are_relative_and_percent_encoded() {
        let rel = Path::new("Folien/Html/Completed/Einführung/01 Was & wie?.html");
        assert_eq!(href(rel), "Folien/Html/Completed/Einf%C3%BChrung/01%20Was%20%26%20wie%3F.html");
    }

    #[test]
    fn variants_are_named_and_ordered_for_people() {
        let html = Path::new("Slides/Html/Code-Along/W/01 A.html");
        let code = Path::new("Slides/Python/Completed/W/01 A.py");
        assert_eq!(variant_label(html, Lang::En), "HTML code-along");
        assert_eq!(variant_label(code, Lang::De), "Python vollständig");
        assert!(variant_rank(html) < variant_rank(code));
    }
}
