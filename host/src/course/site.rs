//! The course as one site: the assets folder every course root gets, and
//! the frame every deck page is put in (its title and language, the shared
//! stylesheet, and a header to move around the course).
//!
//! A converter renders a page once per deck and language and the result is
//! cached by the deck's content, so the frame cannot be part of the page the
//! converter makes: adding a deck would change its neighbours' "next" links
//! and execute them again. The plan therefore carries a [`PageFrame`] per deck
//! page, and the page is put in it as it is written; every link in it is
//! relative, so the folder works from disk and from any web server.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use crate::course::frame::{esc, PageFrame};
use crate::course::home::{href, HOME_PAGE};
use crate::course::lang::Lang;
use crate::course::layout::{Format, Kind, Layout, Top, Variant};
use crate::course::model::{Course, FileRole};
use crate::course::plan::{Plan, PlannedCopy, PlannedPage};
use crate::course::present::{Presentation, REVEAL_DIR};
use crate::report::{Diagnostic, Location};

/// The folder of shared files in every course root; its name starts with
/// `_` so no section or format folder can take it.
pub const ASSETS_DIR: &str = "_site";

/// The stylesheet the home page and every deck page share.
pub const STYLESHEET: &str = "site.css";

const SITE_CSS: &str = include_str!("site.css");

/// The course search: the script every page loads, and the index the build
/// writes beside it (a script too, so it loads from disk).
const SEARCH_JS: &str = include_str!("search.js");
const SEARCH_SCRIPT: &str = "search.js";
const SEARCH_INDEX: &str = "search-index.js";

/// The folder below the assets folder MathJax is copied to.
const MATHJAX_DIR: &str = "mathjax";

/// MathJax reads the delimiters the pages keep as written; `\(…\)` and
/// `\[…\]` come from `text/latex` outputs and raw HTML.
const MATHJAX_CONFIG: &str = r#"<script>window.MathJax={tex:{inlineMath:[['$','$'],['\\(','\\)']],displayMath:[['$$','$$'],['\\[','\\]']],processEscapes:true,processEnvironments:true}};</script>"#;

/// The author's own stylesheet in the assets folder, linked after ours.
const CUSTOM_STYLESHEET: &str = "custom.css";

/// What the site gets beyond the course itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteOptions {
    /// A MathJax 3 directory (`tex-chtml-full.js` and its fonts), copied
    /// into every assets folder; without it math stays as written.
    pub mathjax: Option<PathBuf>,
    /// A reveal.js release, copied into the assets folder of every course
    /// root with presentations.
    pub reveal: Option<PathBuf>,
    /// `[site]` of `clx.toml`.
    pub settings: SiteSettings,
}

/// `[site]` in `clx.toml`: the look and the names a published course
/// carries. Paths are relative to the `clx.toml` that names them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SiteSettings {
    /// A stylesheet linked after the site's own on every page.
    pub stylesheet: Option<PathBuf>,
    /// An image shown at the start of every page's header.
    pub logo: Option<PathBuf>,
    /// Shown beside the logo and in the footer.
    pub organisation: Option<String>,
    /// Shown in the footer and as the pages' author.
    pub author: Option<String>,
    /// A line of text at the foot of every page.
    pub footer: Option<String>,
}

impl SiteSettings {
    /// `other` (a more specific file, at `base`) over `self`, field by field.
    pub fn merge(&mut self, other: SiteSettings, base: &Path) {
        if let Some(p) = other.stylesheet {
            self.stylesheet = Some(base.join(p));
        }
        if let Some(p) = other.logo {
            self.logo = Some(base.join(p));
        }
        self.organisation = other.organisation.or(self.organisation.take());
        self.author = other.author.or(self.author.take());
        self.footer = other.footer.or(self.footer.take());
    }
}

/// The `[site]` logo as a `data:` URI for the decks' title cells; `None`
/// without a logo or when it cannot be read (`add` reports that). Embedded,
/// not linked: a notebook is opened wherever it lies (downloaded, uploaded
/// to a notebook server, shown by a code host), where no path to the assets
/// folder leads, and a page and its notebook then show the same cell.
pub fn logo_uri(settings: &SiteSettings) -> Option<String> {
    use base64::Engine as _;
    let path = settings.logo.as_ref()?;
    let bytes = std::fs::read(path).ok()?;
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    Some(format!("data:{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes)))
}

/// The assets of every course root, the frame of every deck page the plan
/// writes, and the home pages put in the same frame.
pub fn add(course: &Course, layout: &Layout, options: &SiteOptions, plan: &mut Plan) {
    let site = Site::new(course, layout, options, plan);
    let planned: BTreeSet<&Path> =
        plan.every_job().flat_map(|j| &j.outputs).flat_map(|o| &o.destinations).map(PathBuf::as_path).collect();
    let decks = decks(course, layout, &planned);
    let dense = dense_images(course, plan);
    let mut frames = BTreeMap::new();
    for (i, deck) in decks.iter().enumerate() {
        let pages = deck.html.iter().map(|(&(lang, kind), page)| (page, site.deck_frame(&decks, i, lang, kind, page)));
        let slides = deck.slides.iter().map(|(&(lang, kind), page)| (page, site.slides_frame(deck, lang, kind, page)));
        for (page, mut frame) in pages.chain(slides) {
            let dir = page.parent().unwrap_or(page);
            frame.images = dense
                .iter()
                .filter_map(|(image, density)| {
                    let rel = image.strip_prefix(dir).ok()?;
                    Some((rel.to_string_lossy().replace('\\', "/"), *density))
                })
                .collect();
            frames.insert(page.clone(), frame);
        }
    }
    for page in &mut plan.pages {
        let Some((top, lang)) = site.home_of(&page.to) else { continue };
        page.map_text(|bytes| site.home_frame(top, lang).apply(bytes));
    }
    let presenting = |root: &Path| decks.iter().flat_map(|d| d.slides.values()).any(|p| p.starts_with(root));
    if options.reveal.is_none() && decks.iter().any(|d| !d.slides.is_empty()) {
        plan.diagnostics.push(Diagnostic::error(
            "clx.toml",
            Location::NONE,
            "[output] slides: reveal.js is not installed, so the presentations cannot show; run scripts/setup",
        ));
    }
    for top in Top::ALL {
        for lang in Lang::ALL {
            let assets = layout.course_root(top, lang).join(ASSETS_DIR);
            if let Some(reveal) = options.reveal.as_deref().filter(|_| presenting(&layout.course_root(top, lang))) {
                plan.copies.extend(tree_copies(reveal, &assets.join(REVEAL_DIR)));
            }
            plan.pages.push(PlannedPage::fixed(assets.join(STYLESHEET), SITE_CSS.as_bytes().to_vec()));
            plan.pages.push(PlannedPage::fixed(assets.join(SEARCH_SCRIPT), SEARCH_JS.as_bytes().to_vec()));
            plan.pages.push(PlannedPage::fixed(assets.join(SEARCH_INDEX), site.search_index(&decks, top, lang)));
            let mut copy = |from: &Path, to: PathBuf| plan.copies.push(PlannedCopy { from: from.to_owned(), to });
            if let Some(css) = &site.stylesheet {
                copy(css, assets.join(CUSTOM_STYLESHEET));
            }
            if let Some((logo, name)) = &site.logo {
                copy(logo, assets.join(name));
            }
            if let Some(mathjax) = &options.mathjax {
                plan.copies.extend(tree_copies(mathjax, &assets.join(MATHJAX_DIR)));
            }
        }
    }
    plan.frames = frames;
    if let Some(index) = site.root_index() {
        plan.pages.push(index);
    }
}

/// What every frame of the course shares.
struct Site<'a> {
    course: &'a Course,
    layout: &'a Layout,
    options: &'a SiteOptions,
    /// The author's stylesheet, when it exists.
    stylesheet: Option<PathBuf>,
    /// The logo and its name in the assets folder, when it exists.
    logo: Option<(PathBuf, String)>,
}

impl<'a> Site<'a> {
    /// The settings checked: a stylesheet or logo that is not there is an
    /// error in the build report, and the rest of the site is built.
    fn new(course: &'a Course, layout: &'a Layout, options: &'a SiteOptions, plan: &mut Plan) -> Site<'a> {
        let mut existing = |key: &str, path: &Option<PathBuf>| {
            let path = path.as_ref()?;
            if path.is_file() {
                return Some(path.clone());
            }
            plan.diagnostics.push(Diagnostic::error(
                "clx.toml",
                Location::NONE,
                format!(
                    "[site] {key} = {}: no such file; fix the path (relative to the clx.toml naming it)",
                    path.display()
                ),
            ));
            None
        };
        let stylesheet = existing("stylesheet", &options.settings.stylesheet);
        let logo = existing("logo", &options.settings.logo).map(|p| {
            let ext = p.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_else(|| "png".to_owned());
            (p, format!("logo.{ext}"))
        });
        Site { course, layout, options, stylesheet, logo }
    }

    /// `(top, lang)` when `path` is the home page of a course root.
    fn home_of(&self, path: &Path) -> Option<(Top, Lang)> {
        Top::ALL
            .into_iter()
            .flat_map(|top| Lang::ALL.map(|lang| (top, lang)))
            .find(|&(top, lang)| self.layout.course_root(top, lang).join(HOME_PAGE) == path)
    }

    /// The stylesheets (and MathJax, for deck pages) a page in `dir` links.
    fn head(&self, root: &Path, dir: &Path, math: bool) -> String {
        let assets = root.join(ASSETS_DIR);
        let mut head =
            format!("<link rel=\"stylesheet\" href=\"{}\">\n", href(&relative(dir, &assets.join(STYLESHEET))));
        let search = href(&relative(dir, &assets.join(SEARCH_SCRIPT)));
        let _ = writeln!(head, "<script defer src=\"{search}\"></script>");
        if self.stylesheet.is_some() {
            let _ = writeln!(
                head,
                "<link rel=\"stylesheet\" href=\"{}\">",
                href(&relative(dir, &assets.join(CUSTOM_STYLESHEET)))
            );
        }
        if let Some(author) = &self.options.settings.author {
            let _ = writeln!(head, "<meta name=\"author\" content=\"{}\">", esc(author));
        }
        if math && self.options.mathjax.is_some() {
            let script = href(&relative(dir, &assets.join(MATHJAX_DIR).join("tex-chtml-full.js")));
            let _ = writeln!(head, "{MATHJAX_CONFIG}\n<script defer src=\"{script}\"></script>");
        }
        head
    }

    /// The search box; its results link relative to the course root.
    fn search_box(&self, root: &Path, dir: &Path, lang: Lang) -> String {
        let mut to_root = href(&relative(dir, root));
        if !to_root.is_empty() {
            to_root.push('/');
        }
        let (label, placeholder) =
            if lang == Lang::De { ("Suche", "Kurs durchsuchen") } else { ("Search", "Search the course") };
        format!(
            "<form class=\"clx-search-form\" role=\"search\" onsubmit=\"return false\">\
             <input type=\"search\" class=\"clx-search\" data-root=\"{to_root}\" aria-label=\"{label}\" \
             placeholder=\"{placeholder}\" autocomplete=\"off\"></form>\n"
        )
    }

    /// The search index of one course root: every deck page the reader of
    /// that tree sees (the speaker's pages in the speaker tree, else the
    /// completed ones), with its title, section, headings, and per word the
    /// decks holding it. A script assigning `window.clxSearch`.
    fn search_index(&self, decks: &[DeckPages], top: Top, lang: Lang) -> Vec<u8> {
        let root = self.layout.course_root(top, lang);
        let kinds: &[Kind] = if top == Top::Speaker { &[Kind::Speaker] } else { &[Kind::Completed, Kind::CodeAlong] };
        let mut docs = Vec::new();
        let mut words: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
        for deck in decks {
            let Some(page) = kinds.iter().find_map(|&k| deck.html.get(&(lang, k))) else { continue };
            let text = clx_plugin_api::text::decode_owned(std::fs::read(&deck.source).unwrap_or_default());
            let text = text.unwrap_or_default();
            let found = crate::course::deck_text::searchable(&text, lang.code(), top == Top::Speaker);
            let title = &deck.title[lang_index(lang)];
            let id = docs.len();
            for word in tokens(title).chain(tokens(&found.text)) {
                words.entry(word).or_default().insert(id);
            }
            let section = self.course.sections.get(deck.section).map(|s| s.name.get(lang)).unwrap_or_default();
            docs.push(serde_json::json!({
                "t": title, "s": section, "u": href(&relative(&root, page)), "h": found.headings,
            }));
        }
        let index = serde_json::json!({ "docs": docs, "words": words });
        format!("window.clxSearch = {index};\n").into_bytes()
    }

    /// Logo and organisation, leading to the course home page.
    fn brand(&self, root: &Path, dir: &Path) -> String {
        let settings = &self.options.settings;
        if self.logo.is_none() && settings.organisation.is_none() {
            return String::new();
        }
        let mut brand = format!("<a class=\"clx-brand\" href=\"{}\">", href(&relative(dir, &root.join(HOME_PAGE))));
        if let Some((_, name)) = &self.logo {
            let alt = settings.organisation.as_deref().unwrap_or("Logo");
            let src = href(&relative(dir, &root.join(ASSETS_DIR).join(name)));
            let _ = write!(brand, "<img class=\"clx-logo\" src=\"{src}\" alt=\"{}\">", esc(alt));
        }
        if let Some(org) = &settings.organisation {
            let _ = write!(brand, "<span class=\"clx-organisation\">{}</span>", esc(org));
        }
        brand.push_str("</a>\n");
        brand
    }

    /// The footer text, author and organisation; nothing when none is set.
    fn footer(&self) -> String {
        let settings = &self.options.settings;
        let parts: Vec<String> = [&settings.footer, &settings.author, &settings.organisation]
            .into_iter()
            .flatten()
            .map(|p| esc(p))
            .collect();
        if parts.is_empty() {
            return String::new();
        }
        format!("<footer class=\"clx-footer\">{}</footer>\n", parts.join(" · "))
    }

    /// The output folder's own `index.html`: every course found there (this
    /// one included, built or not), per tree and language. Courses built
    /// into the same folder before show up; each build writes it anew.
    fn root_index(&self) -> Option<PlannedPage> {
        let out = self.layout.course_root(Top::Public, Lang::En).parent()?.parent()?.parent()?.to_owned();
        let mut courses: BTreeMap<(Top, String), BTreeMap<Lang, PathBuf>> = BTreeMap::new();
        for top in Top::ALL {
            for lang in Lang::ALL {
                let ours = self.layout.course_root(top, lang);
                let found = std::fs::read_dir(out.join(top.dir()).join(lang.dir()))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.join(HOME_PAGE).is_file() && *p != ours);
                for root in found.chain([ours.clone()]) {
                    let name = if root == ours {
                        self.course.spec.name.get(Lang::En).to_owned()
                    } else {
                        root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
                    };
                    courses.entry((top, name)).or_default().insert(lang, root.join(HOME_PAGE));
                }
            }
        }
        let mut body = String::new();
        for top in Top::ALL {
            let rows: Vec<_> = courses.iter().filter(|((t, _), _)| *t == top).collect();
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(
                body,
                "<section>\n<h2>{}</h2>\n<ul class=\"files\">",
                if top == Top::Public { "Courses / Kurse" } else { "Speaker editions / Ausgaben für Vortragende" }
            );
            for ((_, name), langs) in rows {
                let links: Vec<String> = langs
                    .iter()
                    .map(|(lang, home)| {
                        let label = if *lang == Lang::De { "Deutsch" } else { "English" };
                        format!("<a href=\"{}\" hreflang=\"{}\">{label}</a>", href(&relative(&out, home)), lang.code())
                    })
                    .collect();
                let _ = writeln!(body, "<li><span class=\"title\">{}</span> {}</li>", esc(name), links.join(" "));
            }
            body.push_str("</ul>\n</section>\n");
        }
        let stylesheet =
            href(&relative(&out, &self.layout.course_root(Top::Public, Lang::En).join(ASSETS_DIR).join(STYLESHEET)));
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Courses</title>\n\
             <link rel=\"stylesheet\" href=\"{stylesheet}\">\n</head>\n<body class=\"clx-home-page\">\n<main>\n\
             <h1>Courses</h1>\n{body}</main>\n{}</body>\n</html>\n",
            self.footer()
        );
        Some(PlannedPage::fixed(out.join(HOME_PAGE), html.into_bytes()))
    }

    fn home_frame(&self, top: Top, lang: Lang) -> PageFrame {
        let root = self.layout.course_root(top, lang);
        let other = if lang == Lang::De { Lang::En } else { Lang::De };
        let to = relative(&root, &self.layout.course_root(top, other).join(HOME_PAGE));
        let course_name = self.course.spec.name.get(lang);
        let header = format!(
            "<header class=\"clx-header\">\n{}<nav class=\"clx-crumbs\"><span class=\"clx-home\">{}</span></nav>\n{}\
             <nav class=\"clx-switch\"><a class=\"clx-lang\" hreflang=\"{code}\" lang=\"{code}\" href=\"{}\">{}</a></nav>\n</header>\n",
            self.brand(&root, &root),
            esc(course_name),
            self.search_box(&root, &root, lang),
            href(&to),
            if other == Lang::De { "Deutsch" } else { "English" },
            code = other.code()
        );
        PageFrame {
            title: course_name.to_owned(),
            lang,
            head: self.head(&root, &root, false),
            header,
            footer: self.footer(),
            images: BTreeMap::new(),
        }
    }
}

/// One deck in course order, with every page of it the plan writes.
struct DeckPages {
    source: PathBuf,
    section: usize,
    /// Per language: `NN Title`.
    title: [String; 2],
    /// (language, kind) -> HTML page.
    html: BTreeMap<(Lang, Kind), PathBuf>,
    /// (language, kind) -> notebook.
    notebooks: BTreeMap<(Lang, Kind), PathBuf>,
    /// (language, kind) -> presentation.
    slides: BTreeMap<(Lang, Kind), PathBuf>,
    /// (language, kind) -> the page printed to PDF.
    pdfs: BTreeMap<(Lang, Kind), PathBuf>,
}

fn decks(course: &Course, layout: &Layout, planned: &BTreeSet<&Path>) -> Vec<DeckPages> {
    let mut out = Vec::new();
    for (s, section) in course.sections.iter().enumerate() {
        for topic in &section.topics {
            for file in &topic.files {
                let FileRole::Deck(deck) = &file.role else { continue };
                let mut pages = DeckPages {
                    source: file.path.clone(),
                    section: s,
                    title: Lang::ALL.map(|l| format!("{:02} {}", deck.number, deck.title.get(l))),
                    html: BTreeMap::new(),
                    notebooks: BTreeMap::new(),
                    slides: BTreeMap::new(),
                    pdfs: BTreeMap::new(),
                };
                for lang in Lang::ALL {
                    for kind in [Kind::CodeAlong, Kind::Completed, Kind::Speaker] {
                        for format in [Format::Html, Format::Notebook, Format::Slides, Format::Pdf] {
                            let v = Variant { lang, format, kind };
                            let path = layout.deck_path(v, &section.name, deck.number, &deck.title, deck.prog_lang.ext);
                            if !planned.contains(path.as_path()) {
                                continue;
                            }
                            let map = match format {
                                Format::Html => &mut pages.html,
                                Format::Slides => &mut pages.slides,
                                Format::Pdf => &mut pages.pdfs,
                                _ => &mut pages.notebooks,
                            };
                            map.insert((lang, kind), path);
                        }
                    }
                }
                if !pages.html.is_empty() {
                    out.push(pages);
                }
            }
        }
    }
    out
}

/// Every planned diagram image its converter draws at more than one pixel
/// per CSS pixel, with that density.
fn dense_images(course: &Course, plan: &Plan) -> Vec<(PathBuf, u32)> {
    let mut out = Vec::new();
    for file in course.sections.iter().flat_map(|s| &s.topics).flat_map(|t| &t.files) {
        let FileRole::Diagram(class) = &file.role else { continue };
        if class.densities.is_empty() {
            continue;
        }
        for job in plan.jobs.iter().filter(|j| j.source == file.path) {
            for output in &job.outputs {
                let Some(&density) = class.densities.get(&output.format).filter(|&&d| d > 1) else { continue };
                out.extend(output.destinations.iter().map(|d| (d.clone(), density)));
            }
        }
    }
    out
}

fn top_of(kind: Kind) -> Top {
    if kind == Kind::Speaker {
        Top::Speaker
    } else {
        Top::Public
    }
}

/// What a reader of a page in `top` may be sent to: the speaker sees
/// everything, participants only the public tree.
fn visible(from: Top, kind: Kind) -> bool {
    from == Top::Speaker || top_of(kind) == Top::Public
}

fn kind_label(kind: Kind, lang: Lang) -> &'static str {
    match (kind, lang) {
        (Kind::CodeAlong, _) => "Code-Along",
        (Kind::Completed, Lang::De) => "Vollständig",
        (Kind::Completed, Lang::En) => "Completed",
        (Kind::Speaker, Lang::De) => "Vortrag",
        (Kind::Speaker, Lang::En) => "Speaker",
    }
}

/// A copy of every file below `from` to the same place below `to`.
fn tree_copies(from: &Path, to: &Path) -> Vec<PlannedCopy> {
    files_below(from)
        .into_iter()
        .filter_map(|file| {
            let rel = file.strip_prefix(from).ok()?.to_owned();
            Some(PlannedCopy { to: to.join(rel), from: file })
        })
        .collect()
}

/// Every file below `dir`, sorted.
pub(crate) fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => dirs.push(path),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

impl Site<'_> {
    fn slides_frame(&self, deck: &DeckPages, lang: Lang, kind: Kind, page: &Path) -> PageFrame {
        let assets = self.layout.course_root(top_of(kind), lang).join(ASSETS_DIR);
        let mathjax = format!("{MATHJAX_DIR}/tex-chtml-full.js");
        Presentation {
            title: format!("{} – {}", deck.title[lang_index(lang)], self.course.spec.name.get(lang)),
            lang,
            assets: href(&relative(page.parent().unwrap_or(page), &assets)),
            mathjax: self.options.mathjax.as_ref().map(|_| (mathjax.as_str(), MATHJAX_CONFIG)),
            speaker: kind == Kind::Speaker,
            author: self.options.settings.author.as_deref(),
        }
        .frame()
    }

    fn deck_frame(&self, decks: &[DeckPages], i: usize, lang: Lang, kind: Kind, page: &Path) -> PageFrame {
        let (course, layout) = (self.course, self.layout);
        let deck = &decks[i];
        let de = lang == Lang::De;
        let top = top_of(kind);
        let root = layout.course_root(top, lang);
        let dir = page.parent().unwrap_or(page);
        let link = |to: &Path| href(&relative(dir, to));
        let course_name = course.spec.name.get(lang);
        let section = course.sections.get(deck.section).map(|s| s.name.get(lang)).unwrap_or_default();
        let title = &deck.title[lang_index(lang)];
        let mut h = String::new();
        h.push_str("<header class=\"clx-header\">\n");
        h.push_str(&self.brand(&root, dir));
        h.push_str("<nav class=\"clx-crumbs\" aria-label=\"");
        h.push_str(if de { "Navigationspfad" } else { "Breadcrumb" });
        let _ = writeln!(
        h,
        "\"><a class=\"clx-home\" href=\"{}\">{}</a><span class=\"clx-sep\">›</span><span class=\"clx-section\">{}</span>\
         <span class=\"clx-sep\">›</span><span class=\"clx-deck\" aria-current=\"page\">{}</span></nav>",
        link(&root.join(HOME_PAGE)),
        esc(course_name),
        esc(section),
        esc(title)
    );
        // Previous and next deck in section order, in the same language and kind.
        h.push_str("<nav class=\"clx-pager\">");
        let neighbour =
            |j: Option<usize>| j.and_then(|j| decks.get(j)).and_then(|d| Some((d, d.html.get(&(lang, kind))?)));
        let prev = (0..i).rev().find(|&j| decks[j].html.contains_key(&(lang, kind)));
        let next = (i + 1..decks.len()).find(|&j| decks[j].html.contains_key(&(lang, kind)));
        if let Some((d, to)) = neighbour(prev) {
            let _ = write!(
                h,
                "<a class=\"clx-prev\" rel=\"prev\" href=\"{}\">‹ {}</a>",
                link(to),
                esc(&d.title[lang_index(lang)])
            );
        }
        if let Some((d, to)) = neighbour(next) {
            let _ = write!(
                h,
                "<a class=\"clx-next\" rel=\"next\" href=\"{}\">{} ›</a>",
                link(to),
                esc(&d.title[lang_index(lang)])
            );
        }
        h.push_str("</nav>\n");
        h.push_str(&self.search_box(&root, dir, lang));
        h.push_str("<nav class=\"clx-switch\">");
        // The same deck in the other kinds the reader may see, then as a
        // notebook, then in the other language.
        for other in [Kind::CodeAlong, Kind::Completed, Kind::Speaker] {
            if !visible(top, other) {
                continue;
            }
            if let Some(to) = deck.html.get(&(lang, other)) {
                if other == kind {
                    let _ = write!(h, "<span class=\"clx-kind clx-current\">{}</span>", kind_label(other, lang));
                } else {
                    let _ = write!(h, "<a class=\"clx-kind\" href=\"{}\">{}</a>", link(to), kind_label(other, lang));
                }
            }
        }
        if let Some(to) = deck.notebooks.get(&(lang, kind)) {
            let _ = write!(h, "<a class=\"clx-notebook\" href=\"{}\" download>Notebook</a>", link(to));
        }
        // The class presents the completed deck; the speaker their own.
        let presented = if kind == Kind::Speaker { Kind::Speaker } else { Kind::Completed };
        if let Some(to) = deck.slides.get(&(lang, presented)) {
            let label = if de { "Folien" } else { "Slides" };
            let _ = write!(h, "<a class=\"clx-slides\" href=\"{}\">{label}</a>", link(to));
        }
        // The hand-out is the completed page in the public tree: the
        // speaker's pages, in a tree of their own, do not link it.
        if let Some(to) = deck.pdfs.get(&(lang, Kind::Completed)).filter(|_| kind != Kind::Speaker) {
            let _ = write!(h, "<a class=\"clx-pdf\" href=\"{}\">PDF</a>", link(to));
        }
        let other_lang = if de { Lang::En } else { Lang::De };
        if let Some(to) = deck.html.get(&(other_lang, kind)) {
            let _ = write!(
                h,
                "<a class=\"clx-lang\" hreflang=\"{code}\" lang=\"{code}\" href=\"{}\">{}</a>",
                link(to),
                if de { "English" } else { "Deutsch" },
                code = other_lang.code()
            );
        }
        h.push_str("</nav>\n</header>\n");
        PageFrame {
            title: format!("{title} – {course_name}"),
            lang,
            head: self.head(&root, dir, true),
            header: h,
            footer: self.footer(),
            images: BTreeMap::new(),
        }
    }
}

/// Words as the search script splits them: lower case, letters, digits
/// and `_`, at least two characters.
fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| w.chars().count() > 1).map(str::to_lowercase)
}

fn lang_index(lang: Lang) -> usize {
    match lang {
        Lang::De => 0,
        Lang::En => 1,
    }
}

/// `to` relative to the directory `from` (both absolute, below one output
/// folder): `..` up to the common ancestor, then down.
pub fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to_parts: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to_parts).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in &to_parts[common..] {
        out.push(part.as_os_str());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_between_trees_go_up_to_the_common_folder() {
        let from = Path::new("/o/public/De/Kurs/Folien/Html/Completed/Woche 1");
        let to = Path::new("/o/public/En/Course/Slides/Html/Completed/Week 1/01 A.html");
        assert_eq!(href(&relative(from, to)), "../../../../../../En/Course/Slides/Html/Completed/Week%201/01%20A.html");
    }

    #[test]
    fn a_page_gets_its_title_language_stylesheet_and_header() {
        let frame = PageFrame {
            title: "01 Intro – Kurs".to_owned(),
            lang: Lang::De,
            head: "<link rel=\"stylesheet\" href=\"x.css\">\n".to_owned(),
            header: "<header>h</header>\n".to_owned(),
            footer: "<footer>f</footer>\n".to_owned(),
            images: BTreeMap::new(),
        };
        let page = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<title>Notebook</title>\n</head>\n<body>\n<main>m</main>\n</body>\n</html>\n";
        let framed = String::from_utf8(frame.apply(page.as_bytes())).unwrap();
        assert_eq!(
            framed,
            "<!DOCTYPE html>\n<html lang=\"de\">\n<head>\n<title>01 Intro – Kurs</title>\n\
             <link rel=\"stylesheet\" href=\"x.css\">\n</head>\n<body>\n<header>h</header>\n\n<main>m</main>\n<footer>f</footer>\n</body>\n</html>\n"
        );
        assert_eq!(frame.apply(b"not html"), b"not html");
    }
}
