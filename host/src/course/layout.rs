//! Where every output goes:
//! `<out>/<public|speaker>/<De|En>/<Course>/<Folien|Slides>/<Html|Notebooks|Presentations|Pdf|Python…>/<Code-Along|Completed|Speaker>/<Section>/<NN> <Title>.<ext>`.

use std::path::{Path, PathBuf};

use crate::course::lang::{Lang, Text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
/// Which audience a deck variant is for: what the code cells hold and which tree it lands in.
pub enum Kind {
    /// Code cells left for students to fill in during the lecture (public tree).
    CodeAlong,
    /// Every code cell filled in (public tree).
    Completed,
    /// Complete, with the speaker notes (speaker tree only).
    Speaker,
}

impl Kind {
    /// The kind as plugins and output ids name it (`code-along`, `completed`, `speaker`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::CodeAlong => "code-along",
            Kind::Completed => "completed",
            Kind::Speaker => "speaker",
        }
    }

    fn dir(self) -> &'static str {
        match self {
            Kind::CodeAlong => "Code-Along",
            Kind::Completed => "Completed",
            Kind::Speaker => "Speaker",
        }
    }

    fn top(self) -> Top {
        match self {
            Kind::Speaker => Top::Speaker,
            _ => Top::Public,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
/// The file format of a deck variant.
pub enum Format {
    /// A rendered HTML page (folder `Html`).
    Html,
    /// A Jupyter notebook (folder `Notebooks`).
    Notebook,
    /// Plain source code in the course's programming language (folder named by it, e.g. `Python`).
    Code,
    /// A reveal.js presentation (folder `Presentations`, beside `Html`;
    /// opt-in, completed and speaker kinds only).
    Slides,
    /// The completed HTML page printed to PDF (folder `Pdf`, beside
    /// `Html`; opt-in, completed kind only). Printed from the framed page
    /// after it lands, not by the deck's job.
    Pdf,
}

impl Format {
    /// The format name a slides plugin is asked for.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Notebook => "ipynb",
            Format::Code => "code",
            Format::Slides => "slides",
            Format::Pdf => "pdf",
        }
    }
}

/// The two trees of a course output: what students get and what only the speaker gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Top {
    /// What students get (`public/`).
    Public,
    /// What only the speaker gets (`speaker/`).
    Speaker,
}

impl Top {
    /// Both trees, for walking every course root.
    pub const ALL: [Top; 2] = [Top::Public, Top::Speaker];

    /// The folder directly below `<out>`.
    pub fn dir(self) -> &'static str {
        match self {
            Top::Public => "public",
            Top::Speaker => "speaker",
        }
    }
}

/// One output variant of a deck in one language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Variant {
    /// The page language.
    pub lang: Lang,
    /// The file format.
    pub format: Format,
    /// The audience, which also picks the top tree.
    pub kind: Kind,
}

impl Variant {
    /// The output id a slides job uses for this variant (unique within the job).
    pub fn output_id(self) -> String {
        format!("{}-{}", self.format.as_str(), self.kind.as_str())
    }
}

/// The presentations of one language (`[output] slides`): the completed
/// deck for the class and the speaker's, with the notes.
pub fn slide_variants(lang: Lang) -> [Variant; 2] {
    [Kind::Completed, Kind::Speaker].map(|kind| Variant { lang, format: Format::Slides, kind })
}

/// The variants of one language, in the order the outputs are listed: public html and
/// notebook (code-along, completed), code (completed), then speaker html and
/// notebook. 7, or 4 without HTML.
pub fn variants(lang: Lang, skip_html: bool) -> Vec<Variant> {
    let formats: &[Format] = if skip_html { &[Format::Notebook] } else { &[Format::Html, Format::Notebook] };
    let mut out = Vec::with_capacity(7);
    for &format in formats {
        for kind in [Kind::CodeAlong, Kind::Completed] {
            out.push(Variant { lang, format, kind });
        }
    }
    out.push(Variant { lang, format: Format::Code, kind: Kind::Completed });
    for &format in formats {
        out.push(Variant { lang, format, kind: Kind::Speaker });
    }
    out
}

/// What the layout needs to know about a programming language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgLang {
    /// As in the spec and the job options: `python`.
    pub name: &'static str,
    /// The folder of the code outputs: `Python`.
    pub dir: &'static str,
    /// Extension of code outputs, without the dot.
    pub ext: &'static str,
}

const PROG_LANGS: &[ProgLang] = &[
    ProgLang { name: "python", dir: "Python", ext: "py" },
    ProgLang { name: "cpp", dir: "Cpp", ext: "cpp" },
    ProgLang { name: "csharp", dir: "CSharp", ext: "cs" },
    ProgLang { name: "java", dir: "Java", ext: "java" },
    ProgLang { name: "typescript", dir: "TypeScript", ext: "ts" },
    ProgLang { name: "rust", dir: "Rust", ext: "rs" },
];

impl ProgLang {
    /// What a course with an unknown `<prog-lang>` is built as.
    pub const FALLBACK: ProgLang = PROG_LANGS[0];

    /// Every `<prog-lang>` value clx knows.
    pub fn names() -> impl Iterator<Item = &'static str> {
        PROG_LANGS.iter().map(|p| p.name)
    }

    /// By the spec's `<prog-lang>` value (case-insensitive).
    pub fn by_name(name: &str) -> Option<ProgLang> {
        let name = name.trim().to_ascii_lowercase();
        PROG_LANGS.iter().copied().find(|p| p.name == name)
    }

    /// By a deck's file extension (without the dot); `.c` decks are C++ decks.
    pub fn by_extension(ext: &str) -> Option<ProgLang> {
        let name = match ext {
            "py" => "python",
            "cpp" | "c" => "cpp",
            "cs" => "csharp",
            "java" => "java",
            "ts" => "typescript",
            "rs" | "rust" => "rust",
            _ => return None,
        };
        ProgLang::by_name(name)
    }

    /// Every accepted programming language name, comma-separated, for "did you mean" messages.
    pub fn known_names() -> String {
        ProgLang::names().collect::<Vec<_>>().join(", ")
    }
}

/// Course and deck names as folder and file names: `C#` becomes `CSharp`,
/// brackets become parentheses, path and shell characters become `_`, and
/// punctuation that trips file systems or URLs is dropped.
pub fn sanitize_name(name: &str) -> String {
    let replaced = name.replace("C#", "CSharp");
    let mut out = String::with_capacity(replaced.len());
    for c in replaced.trim().chars() {
        match c {
            '{' | '[' => out.push('('),
            '}' | ']' => out.push(')'),
            '/' | '\\' | '$' | '#' | '%' | '&' | '<' | '>' | '*' | '=' | '^' | '€' | '|' => out.push('_'),
            ';' | '!' | '?' | '"' | '\'' | '`' | '.' | ':' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A file stem written as the author named it (`cheat_sheet.v2`), changed
/// only where a file system or URL needs it: path separators, control
/// characters and the characters Windows forbids become `_`, and leading
/// dots are dropped so the file is neither hidden nor a way out of its
/// folder. Unlike [`sanitize_name`] it keeps dots and case.
pub fn sanitize_file_stem(stem: &str) -> String {
    let kept: String = stem
        .trim()
        .chars()
        .map(|c| match c {
            '/' | '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let kept = kept.trim_start_matches('.');
    if kept.is_empty() {
        "_".to_owned()
    } else {
        kept.to_owned()
    }
}

/// A name that may nest folders (`Code/Solutions`, `Teil 1/Grundlagen`):
/// each segment sanitised on its own, empty segments dropped. Because `.` is
/// deleted no segment can climb out of the course dir.
pub fn sanitize_path(name: &str) -> PathBuf {
    name.split(['/', '\\']).map(sanitize_name).filter(|s| !s.is_empty()).collect()
}

/// A topic's file (`rel`, `/`-separated, relative to the topic) in one of
/// the folders its files land in (a variant's or the pages' section folder).
pub fn topic_file_in(dir: &Path, rel: &str) -> PathBuf {
    let mut p = dir.to_owned();
    p.extend(rel.split('/'));
    p
}

/// The output tree of one course below `<out>`.
#[derive(Debug, Clone)]
pub struct Layout {
    out: PathBuf,
    course_dir: Text,
    code: ProgLang,
}

impl Layout {
    /// The layout below `out` for a course titled `course_name` whose code outputs are in `code`.
    pub fn new(out: &Path, course_name: &Text, code: ProgLang) -> Layout {
        Layout {
            out: out.to_owned(),
            course_dir: Text::new(sanitize_name(&course_name.de), sanitize_name(&course_name.en)),
            code,
        }
    }

    /// `<out>/<public|speaker>/<De|En>/<Course>`.
    pub fn course_root(&self, top: Top, lang: Lang) -> PathBuf {
        self.out.join(top.dir()).join(lang.dir()).join(self.course_dir.get(lang))
    }

    /// The four directories the build owns.
    pub fn roots(&self) -> Vec<PathBuf> {
        Top::ALL.iter().flat_map(|&top| Lang::ALL.map(|lang| self.course_root(top, lang))).collect()
    }

    /// `…/<Course>/<Folien>/<Html>/<Code-Along>`.
    pub fn variant_dir(&self, v: Variant) -> PathBuf {
        let format_dir = match v.format {
            Format::Html => "Html",
            Format::Notebook => "Notebooks",
            Format::Code => self.code.dir,
            Format::Slides => "Presentations",
            Format::Pdf => "Pdf",
        };
        self.course_root(v.kind.top(), v.lang).join(v.lang.slides_dir()).join(format_dir).join(v.kind.dir())
    }

    /// `…/<Code-Along>/<Section>`: where a section's decks of variant `v` land.
    pub fn section_dir(&self, v: Variant, section: &Text) -> PathBuf {
        self.variant_dir(v).join(sanitize_path(section.get(v.lang)))
    }

    /// `<section dir>/<NN> <Title>.<ext>`; `title` is already sanitised.
    pub fn deck_path(&self, v: Variant, section: &Text, number: u32, title: &Text, code_ext: &str) -> PathBuf {
        let ext = match v.format {
            Format::Html | Format::Slides => "html",
            Format::Notebook => "ipynb",
            Format::Code => code_ext,
            Format::Pdf => "pdf",
        };
        self.section_dir(v, section).join(format!("{number:02} {}.{ext}", title.get(v.lang)))
    }

    /// A file of a topic (data file, generated image) beside the decks:
    /// `rel` is `/`-separated and relative to the topic.
    pub fn topic_file_path(&self, v: Variant, section: &Text, rel: &str) -> PathBuf {
        topic_file_in(&self.section_dir(v, section), rel)
    }

    /// `<course root>/<Slides|Folien>/<Pages|Seiten>/<Section>/<name>`: where
    /// a standalone document (`Role::Page`) lands, under its own name.
    pub fn page_path(&self, top: Top, lang: Lang, section: &Text, name: &str) -> PathBuf {
        self.pages_dir(top, lang, section).join(name)
    }

    /// `<course root>/<Slides|Folien>/<Pages|Seiten>/<Section>`: a section's
    /// pages, with the files of their topics (`img/`, data) beside them as
    /// beside the decks, so a page links them by the same relative paths.
    pub fn pages_dir(&self, top: Top, lang: Lang, section: &Text) -> PathBuf {
        let pages = match lang {
            Lang::De => "Seiten",
            Lang::En => "Pages",
        };
        self.course_root(top, lang).join(lang.slides_dir()).join(pages).join(sanitize_path(section.get(lang)))
    }

    /// Where a dir group lands in one course root.
    pub fn dir_group_base(&self, top: Top, lang: Lang, group_name: &str) -> PathBuf {
        self.course_root(top, lang).join(sanitize_path(group_name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_matches_the_documented_examples() {
        let cases = [
            ("Einfaches Draw.io", "Einfaches Drawio"),
            ("What's new?", "Whats new"),
            ("Kurs: [A]/B?", "Kurs (A)_B"),
            ("Course & C# {x}.", "Course _ CSharp (x)"),
            ("  C# Grundlagen: Teil 1  ", "CSharp Grundlagen Teil 1"),
            ("50% <off> *now* & #1", "50_ _off_ _now_ _ _1"),
            ("Titel: Teil 1?", "Titel Teil 1"),
            ("Title [1]", "Title (1)"),
        ];
        for (input, want) in cases {
            assert_eq!(sanitize_name(input), want, "sanitize({input:?})");
        }
    }

    #[test]
    fn a_file_stem_keeps_its_dots_and_loses_only_what_file_systems_refuse() {
        assert_eq!(sanitize_file_stem("cheat_sheet.v2"), "cheat_sheet.v2");
        assert_eq!(sanitize_file_stem("Welcome Ünits"), "Welcome Ünits");
        assert_eq!(sanitize_file_stem("a/b:c?"), "a_b_c_");
        assert_eq!(sanitize_file_stem("..hidden"), "hidden");
        assert_eq!(sanitize_file_stem(".."), "_");
    }

    #[test]
    fn section_names_are_sanitised_segment_wise_and_cannot_escape() {
        assert_eq!(sanitize_path("Woche 1"), PathBuf::from("Woche 1"));
        assert_eq!(sanitize_path(" Teil: 1 / Grundlagen? "), PathBuf::from("Teil 1/Grundlagen"));
        assert_eq!(sanitize_path("../../etc"), PathBuf::from("etc"));
        assert_eq!(sanitize_path(""), PathBuf::new());
    }

    #[test]
    fn seven_variants_per_language_or_four_without_html() {
        let all = variants(Lang::De, false);
        assert_eq!(all.len(), 7);
        assert_eq!(all[0], Variant { lang: Lang::De, format: Format::Html, kind: Kind::CodeAlong });
        assert_eq!(all.iter().filter(|v| v.kind == Kind::Speaker).count(), 2);
        let no_html = variants(Lang::En, true);
        assert_eq!(no_html.len(), 4);
        assert!(no_html.iter().all(|v| v.format != Format::Html));
    }

    #[test]
    fn deck_paths_follow_the_layout_formula() {
        let python = ProgLang::by_name("python").unwrap();
        let layout = Layout::new(Path::new("/o"), &Text::new("Mein Kurs", "My Course"), python);
        let v = Variant { lang: Lang::De, format: Format::Code, kind: Kind::Completed };
        let p = layout.deck_path(v, &Text::new("Woche 1", "Week 1"), 1, &Text::new("Folien", "Slides"), "py");
        assert_eq!(p, PathBuf::from("/o/public/De/Mein Kurs/Folien/Python/Completed/Woche 1/01 Folien.py"));
        let v = Variant { lang: Lang::En, format: Format::Notebook, kind: Kind::Speaker };
        let p = layout.topic_file_path(v, &Text::new("Woche 1", "Week 1"), "img/x.png");
        assert_eq!(p, PathBuf::from("/o/speaker/En/My Course/Slides/Notebooks/Speaker/Week 1/img/x.png"));
        assert_eq!(
            layout.roots(),
            ["/o/public/De/Mein Kurs", "/o/public/En/My Course", "/o/speaker/De/Mein Kurs", "/o/speaker/En/My Course"]
                .map(PathBuf::from)
        );
    }
}
