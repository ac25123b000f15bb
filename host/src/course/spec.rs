//! The course spec: the XML file naming the course, its sections and topics,
//! and the extra directories copied verbatim (dir groups).
//!
//! Lenient where it costs nothing: element lookup uses local
//! names so a default namespace does not break parsing; texts are trimmed;
//! `<topic id="…">` is accepted; only an `html` value meaning "no" skips
//! HTML; a topic without an id is an error with its position.

use std::path::{Path, PathBuf};

use roxmltree::{Document, Node};

use crate::course::layout::sanitize_name;

pub use crate::course::lang::Text;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseSpec {
    /// The spec file as given (used to locate messages).
    pub file: PathBuf,
    pub name: Text,
    pub prog_lang: String,
    /// Where `<prog-lang>` is, so an unknown language can be located.
    pub prog_lang_at: (u32, u32),
    pub description: Text,
    pub certificate: Text,
    pub github: Text,
    pub author: Option<String>,
    pub sections: Vec<SectionSpec>,
    /// In document order, wherever they appear (also nested in a topic).
    pub dir_groups: Vec<DirGroupSpec>,
    /// Problems that do not stop the build (e.g. a section without topics).
    pub warnings: Vec<SpecWarning>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecWarning {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionSpec {
    pub name: Text,
    pub topics: Vec<TopicSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub id: String,
    pub skip_html: bool,
    /// Position of the `<topic>` element, so an unknown id can be located.
    pub line: u32,
    pub column: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGroupSpec {
    /// Output folder below the course dir; empty = the course dir itself.
    pub name: String,
    /// Source directory relative to the course root; empty = the course root.
    pub path: String,
    /// Folders of `path` to copy; empty = the whole of `path`.
    pub subdirs: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{}: cannot read the course spec: {source}; check the path", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: the course spec is not UTF-8 (byte {offset}); save it as UTF-8", file.display())]
    NotUtf8 { file: PathBuf, line: u32, offset: usize },
    #[error("{}:{line}:{column}: malformed XML: {message}; fix the markup at that position", file.display())]
    Xml { file: PathBuf, line: u32, column: u32, message: String },
    #[error("{}:{line}:{column}: <{parent}> lacks the required element <{element}>; add it", file.display())]
    Missing { file: PathBuf, line: u32, column: u32, parent: String, element: String },
    #[error("{}:{line}:{column}: {message}", file.display())]
    Invalid { file: PathBuf, line: u32, column: u32, message: String },
}

impl SpecError {
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
    let text = String::from_utf8(bytes).map_err(|e| {
        let (line, offset) = not_utf8_at(&e);
        SpecError::NotUtf8 { file: path.to_owned(), line, offset }
    })?;
    parse_str(&text, path)
}

/// The line (1-based) and byte offset of the first byte that is not UTF-8,
/// for an error the author can find in an editor.
pub fn not_utf8_at(e: &std::string::FromUtf8Error) -> (u32, usize) {
    let offset = e.utf8_error().valid_up_to();
    let line = e.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
    (u32::try_from(line).unwrap_or(u32::MAX), offset)
}

/// Parse spec text; `file` is only used in messages.
pub fn parse_str(text: &str, file: &Path) -> Result<CourseSpec, SpecError> {
    let doc = Document::parse(text).map_err(|e| {
        let pos = e.pos();
        SpecError::Xml { file: file.to_owned(), line: pos.row, column: pos.col, message: e.to_string() }
    })?;
    Parser { doc: &doc, file }.course()
}

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
            return Err(self.invalid(root, "<prog-lang> is empty; write e.g. <prog-lang>python</prog-lang>".into()));
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
        DirGroupSpec { name: text("name"), path: text("path"), subdirs }
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
        assert_eq!(err.position().map(|p| p.0), Some(3));
        let msg = err.to_string();
        assert!(msg.starts_with("x/spec.xml:3:"), "{msg}");
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
                .replace("SECTIONS", "");
            let err = parse_str(&text, Path::new("spec.xml")).unwrap_err();
            assert!(err.to_string().contains("give the course a name with letters or digits"), "{err}");
            assert_eq!(err.position().map(|p| p.0), Some(2), "{err}");
        }
    }

    #[test]
    fn namespaces_are_ignored() {
        let text = MINIMAL.replace("<course>", r#"<course xmlns="http://example.com/course">"#).replace("SECTIONS", "");
        let spec = parse_str(&text, Path::new("s.xml")).unwrap();
        assert_eq!(spec.name, Text::new("Kurs", "Course"));
        assert_eq!(spec.prog_lang, "python");
    }

    #[test]
    fn section_without_topics_is_skipped_with_a_warning() {
        let spec = parse("<sections><section><name><de>a</de><en>b</en></name></section></sections>").unwrap();
        assert!(spec.sections.is_empty());
        assert_eq!(spec.warnings.len(), 1);
    }

    #[test]
    fn author_is_optional() {
        assert_eq!(parse("").unwrap().author, None);
        assert_eq!(parse("<author> Ada L. </author>").unwrap().author.as_deref(), Some("Ada L."));
    }
}
