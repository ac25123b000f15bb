//! The course spec: the XML file naming the course, its sections and topics,
//! and the extra directories copied verbatim (dir groups).
//!
//! Lenient where it costs nothing: element lookup uses local
//! names so a default namespace does not break parsing; texts are trimmed;
//! `<topic id="…">` is accepted; only an `html` value meaning "no" skips
//! HTML; a topic without an id is an error with its position.

use std::path::{Path, PathBuf};

use roxmltree::{Document, Node};

use clx_plugin_api::suggest;

use crate::course::layout::sanitize_name;

pub use crate::course::lang::Text;

/// A parsed course spec: the course's names, sections and topic order, and the folders copied as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseSpec {
    /// The spec file as given (used to locate messages).
    pub file: PathBuf,
    /// The course title in both languages; sanitised, it names the course's output folder.
    pub name: Text,
    /// The `<prog-lang>` value as written (e.g. `python`), resolved to a language later so an unknown one is reported with its position.
    pub prog_lang: String,
    /// Where `<prog-lang>` is, so an unknown language can be located.
    pub prog_lang_at: (u32, u32),
    /// The `<description>` in both languages, shown on the course home page.
    pub description: Text,
    /// The `<certificate>` text in both languages; read and kept, though the build does not use it yet.
    pub certificate: Text,
    /// The `<github>` repository link in both languages; read and kept, though the build does not use it yet.
    pub github: Text,
    /// The `<author>`, when given; otherwise the site settings may name one.
    pub author: Option<String>,
    /// The sections in document order.
    pub sections: Vec<SectionSpec>,
    /// In document order, wherever they appear (also nested in a topic).
    pub dir_groups: Vec<DirGroupSpec>,
    /// Problems that do not stop the build (e.g. a section without topics).
    pub warnings: Vec<SpecWarning>,
}

/// A problem in the spec that does not stop the build, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecWarning {
    /// 1-based line in the spec file.
    pub line: u32,
    /// 1-based column in the spec file.
    pub column: u32,
    /// What is wrong and what to do about it.
    pub message: String,
}

/// A `<section>`: its title and the topics it lists, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionSpec {
    /// The section title in both languages.
    pub name: Text,
    /// The `<topic>` entries in document order.
    pub topics: Vec<TopicSpec>,
}

/// A `<topic>` entry of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// The topic id, matched against the topic folders and files below `slides/`.
    pub id: String,
    /// Set when the topic's `html` attribute means "no": its decks get notebooks and code but no HTML.
    pub skip_html: bool,
    /// Position of the `<topic>` element, so an unknown id can be located.
    pub line: u32,
    /// 1-based column of the `<topic>` element.
    pub column: u32,
}

/// A `<dir-group>`: a folder of the course copied into the output as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGroupSpec {
    /// Output folder below the course dir; empty = the course dir itself.
    pub name: String,
    /// Source directory relative to the course root; empty = the course root.
    pub path: String,
    /// Folders of `path` to copy; empty = the whole of `path`.
    pub subdirs: Vec<String>,
    /// 1-based line of the `<dir-group>` element.
    pub line: u32,
}

/// Why a course spec could not be read or parsed; every variant but `Read` carries a position.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{}: cannot read the course spec: {source}; check the path", file.display())]
    /// The spec file could not be read (missing, unreadable).
    Read {
        /// The spec file.
        file: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:1: the course spec is not UTF-8 (byte {offset}); save it as UTF-8", file.display())]
    /// The spec file has bytes that are not UTF-8.
    NotUtf8 {
        /// The spec file.
        file: PathBuf,
        /// 1-based line of the first bad byte.
        line: u32,
        /// Byte offset of the first bad byte from the start of the file.
        offset: usize,
    },
    #[error("{}:{line}:{column}: {message}", file.display())]
    /// The spec is not well-formed XML.
    Xml {
        /// The spec file.
        file: PathBuf,
        /// 1-based line of the problem.
        line: u32,
        /// 1-based column of the problem.
        column: u32,
        /// The XML parser's description of the problem.
        message: String,
    },
    #[error("{}:{line}:{column}: <{parent}> lacks the required element <{element}>; add it", file.display())]
    /// An element lacks a child element the spec requires.
    Missing {
        /// The spec file.
        file: PathBuf,
        /// 1-based line of the problem.
        line: u32,
        /// 1-based column of the problem.
        column: u32,
        /// The element that lacks the child.
        parent: String,
        /// The required child element's name.
        element: String,
    },
    #[error("{}:{line}:{column}: {message}", file.display())]
    /// Well-formed XML that breaks the spec's rules (unknown element, topic without id, …).
    Invalid {
        /// The spec file.
        file: PathBuf,
        /// 1-based line of the problem.
        line: u32,
        /// 1-based column of the problem.
        column: u32,
        /// What is wrong and what to do about it.
        message: String,
    },
}

impl SpecError {
    /// The spec file the problem is in.
    pub fn file(&self) -> &Path {
        match self {
            SpecError::Read { file, .. }
            | SpecError::NotUtf8 { file, .. }
            | SpecError::Xml { file, .. }
            | SpecError::Missing { file, .. }
            | SpecError::Invalid { file, .. } => file,
        }
    }

    /// The message without the file and position.
    pub fn message(&self) -> String {
        let text = self.to_string();
        let prefix = match self.position() {
            Some((line, column)) => format!("{}:{line}:{column}: ", self.file().display()),
            None => format!("{}: ", self.file().display()),
        };
        text.strip_prefix(&prefix).map(str::to_owned).unwrap_or(text)
    }

    /// (line, column) of the problem, when it has one.
    pub fn position(&self) -> Option<(u32, u32)> {
        match self {
            SpecError::Read { .. } => None,
            SpecError::NotUtf8 { line, .. } => Some((*line, 1)),
            SpecError::Xml { line, column, .. }
            | SpecError::Missing { line, column, .. }
            | SpecError::Invalid { line, column, .. } => Some((*line, *column)),
        }
    }
}

/// Read and parse a spec file.
pub fn parse_file(path: &Path) -> Result<CourseSpec, SpecError> {
    let bytes = std::fs::read(path).map_err(|source| SpecError::Read { file: path.to_owned(), source })?;
    let text = clx_plugin_api::text::decode_owned(bytes).map_err(|e| SpecError::NotUtf8 {
        file: path.to_owned(),
        line: e.line,
        offset: e.offset,
    })?;
    parse_str(&text, path)
}

/// Parse spec text; `file` is only used in messages.
pub fn parse_str(text: &str, file: &Path) -> Result<CourseSpec, SpecError> {
    let doc = Document::parse(text).map_err(|e| xml_error(text, file, &e))?;
    let parser = Parser { doc: &doc, file };
    parser.check_vocabulary(doc.root_element())?;
    let spec = parser.course()?;
    parser.check_topics(&spec)?;
    Ok(spec)
}

/// A parser error as the author can act on it. An element left open is
/// noticed only where its parent closes, often many lines later: the
/// message names the line where it opened.
fn xml_error(text: &str, file: &Path, e: &roxmltree::Error) -> SpecError {
    let pos = e.pos();
    let (line, column, message) = match e {
        roxmltree::Error::UnclosedRootNode => match open_tag_at(text, None, None) {
            Some((l, c, name)) => {
                (l, c, format!("<{name}> opened here is never closed before the file ends; add </{name}>"))
            }
            None => (pos.row, pos.col, format!("malformed XML: {e}; fix the markup at that position")),
        },
        roxmltree::Error::UnexpectedCloseTag(expected, actual, _) => match open_tag_at(text, Some(pos), Some(expected))
        {
            Some((l, c, _)) => (
                l,
                c,
                format!(
                    "<{expected}> opened here is never closed (line {}, column {} closes <{actual}> instead); \
                     add </{expected}>",
                    pos.row, pos.col
                ),
            ),
            None => (pos.row, pos.col, format!("malformed XML: {e}; fix the markup at that position")),
        },
        _ => (pos.row, pos.col, format!("malformed XML: {e}; fix the markup at that position")),
    };
    SpecError::Xml { file: file.to_owned(), line, column, message }
}

/// Where the innermost element (named `name`, or any) still open at
/// `until` (or the end) starts, and its name: a light scan over tags,
/// comments, CDATA and processing instructions.
fn open_tag_at<'t>(
    text: &'t str,
    until: Option<roxmltree::TextPos>,
    name: Option<&str>,
) -> Option<(u32, u32, &'t str)> {
    let end = match until {
        Some(pos) => byte_at(text, pos)?,
        None => text.len(),
    };
    let mut open: Vec<(&str, usize)> = Vec::new();
    let mut i = 0;
    while let Some(at) = text[i..end].find('<') {
        let start = i + at;
        let rest = &text[start..];
        let skip_to = |close: &str| rest.find(close).map(|e| start + e + close.len());
        let next = if rest.starts_with("<!--") {
            skip_to("-->")
        } else if rest.starts_with("<![CDATA[") {
            skip_to("]]>")
        } else if rest.starts_with("<?") {
            skip_to("?>")
        } else if rest.starts_with("<!") {
            skip_to(">")
        } else {
            let tag_end = skip_to(">")?;
            let tag = &text[start + 1..tag_end - 1];
            if let Some(closing) = tag.strip_prefix('/') {
                let closing = closing.trim();
                if let Some(k) = open.iter().rposition(|(n, _)| *n == closing) {
                    open.truncate(k);
                }
            } else if !tag.ends_with('/') {
                let tag_name = tag.split(|c: char| c.is_whitespace()).next().unwrap_or(tag);
                open.push((tag_name, start));
            }
            Some(tag_end)
        };
        i = next?.min(end);
    }
    let (found, at) = open.iter().rev().find(|(n, _)| name.is_none_or(|name| *n == name))?;
    let before = &text[..*at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some((u32::try_from(line).ok()?, u32::try_from(column).ok()?, found))
}

/// The byte offset of a (1-based, character-counted) text position.
fn byte_at(text: &str, pos: roxmltree::TextPos) -> Option<usize> {
    let line_start =
        if pos.row <= 1 { 0 } else { text.match_indices('\n').nth(usize::try_from(pos.row).ok()? - 2)?.0 + 1 };
    let column = usize::try_from(pos.col).ok()?.saturating_sub(1);
    Some(text[line_start..].char_indices().nth(column).map_or(text.len(), |(b, _)| line_start + b))
}

/// What each spec element may hold: its child elements (`None`: anything,
/// as in the texts of `<de>` and `<en>`) and its attributes. `parent` tells
/// the two kinds of `<name>` apart.
fn vocabulary(element: &str, parent: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    const BILINGUAL: &[&str] = &["de", "en"];
    const TEXT: &[&str] = &[];
    Some(match element {
        "course" => {
            (&["name", "prog-lang", "description", "certificate", "github", "author", "sections", "dir-groups"], &[])
        }
        "name" if parent == "dir-group" => (TEXT, &[]),
        "name" | "description" | "certificate" | "github" => (BILINGUAL, &[]),
        "de" | "en" => return None,
        "sections" => (&["section"], &[]),
        "section" => (&["name", "topics"], &[]),
        "topics" => (&["topic"], &[]),
        "topic" => (&["dir-group"], &["id", "html"]),
        "dir-groups" => (&["dir-group"], &[]),
        "dir-group" => (&["name", "path", "subdirs"], &[]),
        "subdirs" => (&["subdir"], &[]),
        _ => (TEXT, &[]),
    })
}

/// Every element name a spec knows, for "did you mean" across levels
/// (`<sectons>` for `<sections>`).
const ALL_ELEMENTS: &[&str] = &[
    "course",
    "name",
    "prog-lang",
    "description",
    "certificate",
    "github",
    "author",
    "sections",
    "section",
    "topics",
    "topic",
    "dir-groups",
    "dir-group",
    "path",
    "subdirs",
    "subdir",
    "de",
    "en",
];

struct Parser<'a, 'input> {
    doc: &'a Document<'input>,
    file: &'a Path,
}

impl<'a, 'input> Parser<'a, 'input> {
    fn pos(&self, node: Node) -> (u32, u32) {
        let p = self.doc.text_pos_at(node.range().start);
        (p.row, p.col)
    }

    fn invalid(&self, node: Node, message: String) -> SpecError {
        let (line, column) = self.pos(node);
        SpecError::Invalid { file: self.file.to_owned(), line, column, message }
    }

    fn child<'n>(&self, node: Node<'n, 'input>, name: &str) -> Option<Node<'n, 'input>> {
        node.children().find(|c| c.is_element() && c.tag_name().name() == name)
    }

    fn required<'n>(&self, node: Node<'n, 'input>, name: &str) -> Result<Node<'n, 'input>, SpecError> {
        self.child(node, name).ok_or_else(|| {
            let (line, column) = self.pos(node);
            SpecError::Missing {
                file: self.file.to_owned(),
                line,
                column,
                parent: node.tag_name().name().to_owned(),
                element: name.to_owned(),
            }
        })
    }

    fn invalid_at(&self, at: usize, message: String) -> SpecError {
        let p = self.doc.text_pos_at(at);
        SpecError::Invalid { file: self.file.to_owned(), line: p.row, column: p.col, message }
    }

    /// Every element and attribute below `node` is one the spec knows: a
    /// misspelt `<secton>` would otherwise drop its whole section, and with
    /// it every page the section builds.
    fn check_vocabulary(&self, node: Node) -> Result<(), SpecError> {
        let name = node.tag_name().name();
        let parent = node.parent_element().map_or("", |p| p.tag_name().name());
        if parent.is_empty() && name != "course" {
            // A root other than <course> gets its own message from `course`.
            return Ok(());
        }
        let Some((children, attributes)) = vocabulary(name, parent) else { return Ok(()) };
        for attribute in node.attributes().filter(|a| a.namespace().is_none()) {
            if attributes.contains(&attribute.name()) {
                continue;
            }
            let what = match suggest::nearest(attribute.name(), attributes.iter().copied()) {
                Some(near) => format!("unknown attribute `{}` on <{name}>; did you mean `{near}`?", attribute.name()),
                None if attributes.is_empty() => {
                    format!("<{name}> takes no attributes; remove `{}`", attribute.name())
                }
                None => format!(
                    "unknown attribute `{}` on <{name}>; it takes {}",
                    attribute.name(),
                    attributes.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
                ),
            };
            return Err(self.invalid_at(attribute.range_qname().start, what));
        }
        for child in node.children().filter(Node::is_element) {
            let child_name = child.tag_name().name();
            if !children.contains(&child_name) {
                let near = suggest::nearest(child_name, children.iter().copied())
                    .or_else(|| suggest::nearest(child_name, ALL_ELEMENTS.iter().copied()));
                let home =
                    ALL_ELEMENTS.iter().find(|p| vocabulary(p, "").is_some_and(|(c, _)| c.contains(&child_name)));
                let what = match (near, home) {
                    (_, Some(home)) => {
                        format!("<{child_name}> does not belong in <{name}>; move it into a <{home}>")
                    }
                    (Some(near), None) => {
                        format!("unknown element <{child_name}> in <{name}>; did you mean <{near}>?")
                    }
                    (None, None) if children.is_empty() => {
                        format!("<{name}> holds text only, not <{child_name}>; remove the element")
                    }
                    (None, None) => format!(
                        "unknown element <{child_name}> in <{name}>; <{name}> holds {}",
                        children.iter().map(|c| format!("<{c}>")).collect::<Vec<_>>().join(", ")
                    ),
                };
                return Err(self.invalid(child, what));
            }
            self.check_vocabulary(child)?;
        }
        Ok(())
    }

    /// A spec must build something, and each topic once: a topic listed
    /// twice would get two numbers and the second copy would overwrite
    /// the first's pages.
    fn check_topics(&self, spec: &CourseSpec) -> Result<(), SpecError> {
        let root = self.doc.root_element();
        let at = self.child(root, "sections").unwrap_or(root);
        if spec.sections.iter().all(|s| s.topics.is_empty()) {
            let what = if self.child(root, "sections").is_none() {
                "the course has no <sections>, so it would build nothing; add <sections><section>…</section></sections>"
            } else {
                "no section lists a topic, so the course would build nothing; add <topics><topic>id</topic></topics> to a section"
            };
            return Err(self.invalid(at, what.to_owned()));
        }
        let mut seen: std::collections::HashMap<&str, &TopicSpec> = std::collections::HashMap::new();
        for topic in spec.sections.iter().flat_map(|s| &s.topics) {
            if let Some(first) = seen.insert(&topic.id, topic) {
                return Err(SpecError::Invalid {
                    file: self.file.to_owned(),
                    line: topic.line,
                    column: topic.column,
                    message: format!(
                        "topic `{}` is listed twice, at lines {} and {}; list each topic once",
                        topic.id, first.line, topic.line
                    ),
                });
            }
        }
        Ok(())
    }

    fn course(&self) -> Result<CourseSpec, SpecError> {
        let root = self.doc.root_element();
        if root.tag_name().name() != "course" {
            return Err(self.invalid(
                root,
                format!("the root element is <{}>, expected <course>; is this a course spec?", root.tag_name().name()),
            ));
        }
        let name_node = self.required(root, "name")?;
        let name = self.text_pair(name_node)?;
        self.check_course_name(name_node, &name)?;
        let prog_lang_node = self.required(root, "prog-lang")?;
        let prog_lang_at = self.pos(prog_lang_node);
        let prog_lang = all_text(prog_lang_node).trim().to_owned();
        if prog_lang.is_empty() {
            return Err(
                self.invalid(prog_lang_node, "<prog-lang> is empty; write e.g. <prog-lang>python</prog-lang>".into())
            );
        }
        let description = self.text_pair(self.required(root, "description")?)?;
        let certificate = self.text_pair(self.required(root, "certificate")?)?;
        let github = self.text_pair(self.required(root, "github")?)?;
        let author = self.child(root, "author").map(|a| all_text(a).trim().to_owned()).filter(|a| !a.is_empty());
        let mut warnings = Vec::new();
        let mut sections = Vec::new();
        if let Some(list) = self.child(root, "sections") {
            for section in list.children().filter(|c| c.is_element() && c.tag_name().name() == "section") {
                let name = self.text_pair(self.required(section, "name")?)?;
                let Some(topics) = self.child(section, "topics") else {
                    let (line, column) = self.pos(section);
                    warnings.push(SpecWarning {
                        line,
                        column,
                        message: format!("section `{}` has no <topics>; it is skipped", name.en),
                    });
                    continue;
                };
                let topics = topics
                    .children()
                    .filter(|c| c.is_element() && c.tag_name().name() == "topic")
                    .map(|t| self.topic(t, &mut warnings))
                    .collect::<Result<Vec<_>, _>>()?;
                sections.push(SectionSpec { name, topics });
            }
        }
        let dir_groups = root
            .descendants()
            .filter(|n| n.is_element() && n.tag_name().name() == "dir-group")
            .map(|g| self.dir_group(g))
            .collect();
        Ok(CourseSpec {
            file: self.file.to_owned(),
            name,
            prog_lang,
            prog_lang_at,
            description,
            certificate,
            github,
            author,
            sections,
            dir_groups,
            warnings,
        })
    }

    fn text_pair(&self, node: Node) -> Result<Text, SpecError> {
        let de = all_text(self.required(node, "de")?).trim().to_owned();
        let en = all_text(self.required(node, "en")?).trim().to_owned();
        Ok(Text { de, en })
    }

    /// The course name becomes the folder every output of the course goes
    /// below; a name with nothing left after sanitising would make that
    /// folder the language folder itself, shared with other courses.
    fn check_course_name(&self, node: Node, name: &Text) -> Result<(), SpecError> {
        for (tag, text) in [("de", &name.de), ("en", &name.en)] {
            if sanitize_name(text).is_empty() {
                let at = self.child(node, tag).unwrap_or(node);
                let what = if text.is_empty() {
                    format!("the course name's <{tag}> is empty")
                } else {
                    format!(
                        "the course name <{tag}>{text}</{tag}> leaves nothing for a folder name once `/`, `.`, `?` \
                         and the like are dropped"
                    )
                };
                return Err(self.invalid(at, format!("{what}; give the course a name with letters or digits")));
            }
        }
        Ok(())
    }

    fn topic(&self, node: Node, warnings: &mut Vec<SpecWarning>) -> Result<TopicSpec, SpecError> {
        // The id is the topic's own text; child elements (a nested dir group)
        // contribute nothing, wherever they sit.
        let text: String =
            node.children().filter(|c| c.is_text()).filter_map(|c| c.text()).collect::<String>().trim().to_owned();
        let attr = node.attribute("id").map(str::trim);
        let id = match (attr, text.is_empty()) {
            (Some(a), true) => a.to_owned(),
            (Some(a), false) if a == text => text,
            (Some(a), false) => {
                return Err(
                    self.invalid(node, format!("<topic id=\"{a}\"> also has the text `{text}`; give the id only once"))
                )
            }
            (None, _) => text,
        };
        if id.is_empty() {
            return Err(self
                .invalid(node, "<topic> has no id; write <topic>my_topic</topic> or <topic id=\"my_topic\"/>".into()));
        }
        let (line, column) = self.pos(node);
        let skip_html = match node.attribute("html") {
            None => false,
            Some(v) if means_no(v) => true,
            Some(v) if means_yes(v) => false,
            Some(v) => {
                warnings.push(SpecWarning {
                    line,
                    column,
                    message: format!(
                        "topic `{id}`: html=\"{v}\" is neither yes nor no; HTML is built, write html=\"no\" to skip it"
                    ),
                });
                false
            }
        };
        Ok(TopicSpec { id, skip_html, line, column })
    }

    fn dir_group(&self, node: Node) -> DirGroupSpec {
        let text = |name: &str| self.child(node, name).map(|n| all_text(n).trim().to_owned()).unwrap_or_default();
        let subdirs = self
            .child(node, "subdirs")
            .map(|s| s.children().filter(|c| c.is_element()).map(|c| all_text(c).trim().to_owned()).collect())
            .unwrap_or_default();
        DirGroupSpec { name: text("name"), path: text("path"), subdirs, line: self.pos(node).0 }
    }
}

/// `html="no"` (and its synonyms) skips HTML; `html="yes"` or anything else
/// does not: an attribute written to keep HTML must never drop it.
fn means_no(value: &str) -> bool {
    matches!(value.trim().to_ascii_lowercase().as_str(), "no" | "false" | "0" | "off" | "none" | "skip")
}

fn means_yes(value: &str) -> bool {
    matches!(value.trim().to_ascii_lowercase().as_str(), "yes" | "true" | "1" | "on")
}

fn all_text(node: Node) -> String {
    node.descendants().filter(|n| n.is_text()).filter_map(|n| n.text()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"<course>
  <name><de>Kurs</de><en>Course</en></name>
  <prog-lang>python</prog-lang>
  <description><de>d</de><en>d</en></description>
  <certificate><de>c</de><en>c</en></certificate>
  <github><de>g</de><en>g</en></github>
  SECTIONS
</course>"#;

    fn parse(sections: &str) -> Result<CourseSpec, SpecError> {
        parse_str(&MINIMAL.replace("SECTIONS", sections), Path::new("spec.xml"))
    }

    #[test]
    fn malformed_xml_names_file_line_and_column() {
        let err = parse_str("<course>\n  <name>\n</course>", Path::new("x/spec.xml")).unwrap_err();
        assert_eq!(err.position(), Some((2, 3)), "where the unclosed element opened");
        let err = parse_str("<course>\n  <name a='1' a='2'/>\n</course>", Path::new("x/spec.xml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("x/spec.xml:2:") && msg.contains("malformed XML"), "{msg}");
    }

    #[test]
    fn missing_required_element_is_named_with_its_parent_position() {
        let text = MINIMAL.replace("  <prog-lang>python</prog-lang>\n", "");
        let err = parse_str(&text, Path::new("s.xml")).unwrap_err();
        match &err {
            SpecError::Missing { element, line, column, .. } => {
                assert_eq!(element, "prog-lang");
                assert_eq!((*line, *column), (1, 1));
            }
            other => panic!("expected Missing, got {other:?}"),
        }
        assert!(err.to_string().contains("<prog-lang>"));
    }

    #[test]
    fn bilingual_element_without_en_is_an_error_naming_en() {
        let text = MINIMAL.replace("<github><de>g</de><en>g</en></github>", "<github><de>g</de></github>");
        let err = parse_str(&text, Path::new("s.xml")).unwrap_err();
        assert!(
            matches!(&err, SpecError::Missing { element, parent, line: 6, .. } if element == "en" && parent == "github"),
            "{err:?}"
        );
    }

    #[test]
    fn topics_take_text_or_id_attribute_and_html_no_skips_html() {
        let spec = parse(
            r#"<sections><section><name><de>W 1</de><en>Week 1</en></name><topics>
                 <topic> intro </topic>
                 <topic id="vars" html="no"/>
                 <topic html="false">loops</topic>
                 <topic html="yes">funcs</topic>
               </topics></section></sections>"#,
        )
        .unwrap();
        let topics = &spec.sections[0].topics;
        let got: Vec<_> = topics.iter().map(|t| (t.id.as_str(), t.skip_html)).collect();
        assert_eq!(got, [("intro", false), ("vars", true), ("loops", true), ("funcs", false)]);
        assert_eq!(topics[0].line, 8);
    }

    #[test]
    fn topic_without_id_is_an_error_with_position() {
        let err = parse(
            r#"<sections><section><name><de>a</de><en>b</en></name><topics>
<topic/></topics></section></sections>"#,
        )
        .unwrap_err();
        assert_eq!(err.position(), Some((8, 1)));
    }

    #[test]
    fn dir_groups_are_collected_in_document_order_also_inside_topics() {
        let spec = parse(
            r#"<sections><section><name><de>a</de><en>b</en></name><topics>
                 <topic>t
                   <dir-group><name>Code/Solutions</name><path>code/solutions</path>
                     <subdirs><subdir>Example_1</subdir><subdir>Example_3</subdir></subdirs></dir-group>
                 </topic></topics></section></sections>
               <dir-groups><dir-group><name>Bonus</name><path>div/workshops</path></dir-group>
                 <dir-group><name/><path>root-files</path></dir-group></dir-groups>"#,
        )
        .unwrap();
        assert_eq!(spec.sections[0].topics[0].id, "t");
        let names: Vec<_> = spec.dir_groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["Code/Solutions", "Bonus", ""]);
        assert_eq!(spec.dir_groups[0].subdirs, ["Example_1", "Example_3"]);
        assert!(spec.dir_groups[1].subdirs.is_empty());
    }

    #[test]
    fn a_course_name_that_sanitises_to_nothing_is_an_error_at_its_element() {
        for (de, en) in [("Kurs", " "), ("...", "Course"), ("Kurs", "???")] {
            let text = MINIMAL
                .replace("<de>Kurs</de><en>Course</en>", &format!("<de>{de}</de><en>{en}</en>"))
                .replace("SECTIONS", ONE_TOPIC);
            let err = parse_str(&text, Path::new("spec.xml")).unwrap_err();
            assert!(err.to_string().contains("give the course a name with letters or digits"), "{err}");
            assert_eq!(err.position().map(|p| p.0), Some(2), "{err}");
        }
    }

    #[test]
    fn namespaces_are_ignored() {
        let text =
            MINIMAL.replace("<course>", r#"<course xmlns="http://example.com/course">"#).replace("SECTIONS", ONE_TOPIC);
        let spec = parse_str(&text, Path::new("s.xml")).unwrap();
        assert_eq!(spec.name, Text::new("Kurs", "Course"));
        assert_eq!(spec.prog_lang, "python");
    }

    const ONE_TOPIC: &str =
        "<sections><section><name><de>a</de><en>b</en></name><topics><topic>t</topic></topics></section></sections>";

    #[test]
    fn section_without_topics_is_skipped_with_a_warning() {
        let spec =
            parse(&ONE_TOPIC.replace("</sections>", "<section><name><de>a</de><en>b</en></name></section></sections>"))
                .unwrap();
        assert_eq!(spec.sections.len(), 1);
        assert_eq!(spec.warnings.len(), 1);
    }

    #[test]
    fn author_is_optional() {
        assert_eq!(parse(ONE_TOPIC).unwrap().author, None);
        let with_author = format!("<author> Ada L. </author>{ONE_TOPIC}");
        assert_eq!(parse(&with_author).unwrap().author.as_deref(), Some("Ada L."));
    }

    fn error(sections: &str) -> String {
        parse(sections).unwrap_err().to_string()
    }

    #[test]
    fn unknown_elements_and_attributes_are_errors_at_their_position_with_the_nearest_name() {
        let misspelt = ONE_TOPIC.replace("<section>", "<secton>").replace("</section>", "</secton>");
        assert_eq!(error(&misspelt), "spec.xml:7:13: unknown element <secton> in <sections>; did you mean <section>?");
        assert_eq!(
            error(&ONE_TOPIC.replace("<topic>t</topic>", "<topik>t</topik>")),
            "spec.xml:7:63: unknown element <topik> in <topics>; did you mean <topic>?"
        );
        assert_eq!(
            error(&format!("{ONE_TOPIC}<dir-gruops/>")),
            "spec.xml:7:109: unknown element <dir-gruops> in <course>; did you mean <dir-groups>?"
        );
        assert_eq!(
            error(&ONE_TOPIC.replace("<topic>", "<topic htm=\"no\">")),
            "spec.xml:7:70: unknown attribute `htm` on <topic>; did you mean `html`?"
        );
        assert_eq!(
            error(&ONE_TOPIC.replace("<section>", "<section id=\"1\">")),
            "spec.xml:7:22: <section> takes no attributes; remove `id`"
        );
        assert!(error(&format!("{ONE_TOPIC}<chapter/>")).contains("<course> holds <name>, <prog-lang>"));
        // The texts of <de> and <en> are free.
        assert!(parse(&ONE_TOPIC.replace("<de>a</de>", "<de>a <b>fett</b></de>")).is_ok());
    }

    #[test]
    fn an_element_left_open_is_named_where_it_opened() {
        let text = MINIMAL.replace("SECTIONS", &ONE_TOPIC.replace("</topics>", ""));
        let err = parse_str(&text, Path::new("spec.xml")).unwrap_err().to_string();
        assert_eq!(
            err,
            "spec.xml:7:55: <topics> opened here is never closed (line 7, column 79 closes <section> instead); \
             add </topics>"
        );
    }

    #[test]
    fn a_spec_without_topics_or_with_a_topic_twice_is_an_error() {
        assert!(error("").contains("the course has no <sections>"), "{}", error(""));
        let empty = "<sections><section><name><de>a</de><en>b</en></name><topics/></section></sections>";
        assert!(error(empty).starts_with("spec.xml:7:3: no section lists a topic"), "{}", error(empty));
        let twice = ONE_TOPIC.replace("<topic>t</topic>", "<topic>t</topic>\n<topic>t</topic>");
        assert_eq!(error(&twice), "spec.xml:8:1: topic `t` is listed twice, at lines 7 and 8; list each topic once");
    }
}
