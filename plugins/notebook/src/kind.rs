//! Stage 3: which cells a kind keeps and how it changes them.

use serde_json::json;

use crate::cell::{Cell, CellType};
use crate::cell_id::CellIds;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Completed,
    CodeAlong,
    Speaker,
}

impl Kind {
    pub fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "completed" => Kind::Completed,
            "code-along" => Kind::CodeAlong,
            "speaker" => Kind::Speaker,
            _ => return None,
        })
    }

    fn deleted_tags(self) -> &'static [&'static str] {
        match self {
            Kind::Completed => &["del", "notes", "voiceover", "start"],
            Kind::CodeAlong => &["alt", "completed", "del", "notes", "voiceover"],
            Kind::Speaker => &["del", "start"],
        }
    }

    fn clears_contents(self) -> bool {
        self == Kind::CodeAlong
    }
}

/// Tags every cell may carry. `workshop` / `end-workshop` mark the bounds
/// of an exercise block and `private` a cell for private documents: the
/// outputs here do not depend on them, but decks use them, so they are not
/// typos.
const COMMON_TAGS: &[&str] = &[
    "slide",
    "subslide",
    "fragment",
    "notes",
    "voiceover",
    "private",
    "alt",
    "completed",
    "del",
    "workshop",
    "end-workshop",
];
/// `allow-untranslated` only tells a deck checker that German text in a
/// shared code cell is meant; `raises-exception` and `skip-execution` steer
/// the kernel.
const CODE_ONLY_TAGS: &[&str] = &["keep", "start", "allow-untranslated", "raises-exception", "skip-execution"];
/// `nodataurl` keeps a cell's images as links where images get inlined.
const MARKDOWN_ONLY_TAGS: &[&str] = &["answer", "nodataurl"];
/// When a cell has several, the first one in this order wins (the
/// older Python tool picked one at random). A voiceover is narration for the
/// speaker, so it shows as a speaker note in a slideshow.
const SLIDE_TAGS: &[(&str, &str)] = &[
    ("slide", "slide"),
    ("subslide", "subslide"),
    ("fragment", "fragment"),
    ("notes", "notes"),
    ("voiceover", "notes"),
];

fn is_known(tag: &str, cell_type: CellType) -> bool {
    let own: &[&str] = match cell_type {
        CellType::Code => CODE_ONLY_TAGS,
        CellType::Markdown => MARKDOWN_ONLY_TAGS,
        CellType::Raw => &[],
    };
    COMMON_TAGS.contains(&tag) || own.contains(&tag)
}

fn known_tags(cell_type: CellType) -> String {
    let own: &[&str] = if cell_type == CellType::Code { CODE_ONLY_TAGS } else { MARKDOWN_ONLY_TAGS };
    COMMON_TAGS.iter().chain(own).copied().collect::<Vec<_>>().join(", ")
}

/// `; did you mean `keep`? Known tags …` for a misspelt tag: the cell's own
/// tags first, then a tag of the other cell type (`answer` on a code cell).
fn tag_advice(tag: &str, cell_type: CellType) -> String {
    let own: &[&str] = if cell_type == CellType::Code { CODE_ONLY_TAGS } else { MARKDOWN_ONLY_TAGS };
    let all = COMMON_TAGS.iter().chain(own).chain(CODE_ONLY_TAGS).chain(MARKDOWN_ONLY_TAGS).copied();
    let known = format!("known tags there are {}", known_tags(cell_type));
    clx_plugin_api::suggest::advice(tag, all, |n| format!("`{n}`"), &known)
}

/// A cell the author probably did not mean to write that way (an unknown
/// tag, a language that is neither de nor en), reported so typos surface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellWarning {
    pub message: String,
    pub rendered_line: usize,
}

/// Drop, id and transform the cells for one (kind, lang).
pub fn filter_cells(cells: &[Cell], kind: Kind, lang: &str) -> (Vec<Cell>, Vec<CellWarning>) {
    let mut ids = CellIds::default();
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (index, cell) in cells.iter().enumerate() {
        if let Some(other) = cell.lang().filter(|l| !["de", "en"].contains(l)) {
            warnings.push(CellWarning {
                message: format!(
                    "cell language `{other}` is neither de nor en, so the cell is in no output; write lang=\"de\" or lang=\"en\""
                ),
                rendered_line: cell.rendered_line,
            });
        }
        if !is_included(cell, kind, lang) {
            continue;
        }
        let mut cell = cell.clone();
        cell.id = ids.assign(&cell.source, index);
        if let Some((_, slide_type)) = SLIDE_TAGS.iter().find(|(t, _)| cell.has_tag(t)) {
            cell.metadata.insert("slideshow".into(), json!({ "slide_type": slide_type }));
        }
        if cell.cell_type != CellType::Raw {
            for tag in cell.tags() {
                if !is_known(tag, cell.cell_type) {
                    warnings.push(CellWarning {
                        message: format!(
                            "unknown tag `{tag}` on a {} cell{}",
                            cell.cell_type.name(),
                            tag_advice(tag, cell.cell_type),
                        ),
                        rendered_line: cell.rendered_line,
                    });
                }
            }
        }
        match cell.cell_type {
            CellType::Code => {
                if kind.clears_contents() && !(cell.has_tag("keep") || cell.has_tag("start")) {
                    cell.source.clear();
                }
            }
            CellType::Markdown => {
                if cell.has_tag("notes") {
                    cell.source = format!("<div style='background:yellow'>\n{}\n</div>", cell.source);
                } else if cell.has_tag("voiceover") {
                    cell.source = format!("<div style='background: #FFEEBA; color: black;'>\n{}\n</div>", cell.source);
                }
                if cell.has_tag("answer") {
                    let prefix = if lang == "en" { "*Answer:* " } else { "*Antwort:* " };
                    cell.source =
                        if kind.clears_contents() { prefix.to_owned() } else { format!("{prefix}{}", cell.source) };
                }
            }
            CellType::Raw => {}
        }
        out.push(cell);
    }
    (out, warnings)
}

fn is_included(cell: &Cell, kind: Kind, lang: &str) -> bool {
    let tags = cell.tags();
    if kind.deleted_tags().iter().any(|t| tags.contains(t)) {
        return false;
    }
    cell.lang().is_none_or(|l| l == lang)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value};

    fn slide_type(cell: &Cell) -> Option<&Value> {
        cell.metadata.get("slideshow").and_then(|s| s.get("slide_type"))
    }

    fn cell(cell_type: CellType, source: &str, meta: Value) -> Cell {
        let metadata: Map<String, Value> = meta.as_object().cloned().unwrap_or_default();
        Cell::new(cell_type, source.to_owned(), metadata)
    }

    #[test]
    fn code_along_empties_code_unless_keep_or_start_and_drops_alt() {
        let cells = vec![
            cell(CellType::Code, "a", json!({})),
            cell(CellType::Code, "b", json!({"tags": ["keep"]})),
            cell(CellType::Code, "c", json!({"tags": ["start"]})),
            cell(CellType::Code, "d", json!({"tags": ["alt"]})),
        ];
        let (out, _) = filter_cells(&cells, Kind::CodeAlong, "de");
        let sources: Vec<_> = out.iter().map(|c| c.source.as_str()).collect();
        assert_eq!(sources, vec!["", "b", "c"]);
        let (out, _) = filter_cells(&cells, Kind::Completed, "de");
        let sources: Vec<_> = out.iter().map(|c| c.source.as_str()).collect();
        assert_eq!(sources, vec!["a", "b", "d"]);
    }

    #[test]
    fn several_slide_tags_pick_slide_before_subslide_before_notes() {
        let cells = vec![cell(CellType::Markdown, "x", json!({"tags": ["notes", "subslide", "slide"]}))];
        let (out, _) = filter_cells(&cells, Kind::Speaker, "en");
        assert_eq!(slide_type(&out[0]), Some(&json!("slide")));
    }

    #[test]
    fn answers_get_the_language_prefix_and_notes_the_yellow_div() {
        let cells = vec![
            cell(CellType::Markdown, "42", json!({"tags": ["answer"]})),
            cell(CellType::Markdown, "n", json!({"tags": ["notes"]})),
        ];
        let (out, _) = filter_cells(&cells, Kind::CodeAlong, "en");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].source, "*Answer:* ");
        let (out, _) = filter_cells(&cells, Kind::Speaker, "de");
        assert_eq!(out[0].source, "*Antwort:* 42");
        assert_eq!(out[1].source, "<div style='background:yellow'>\nn\n</div>");
    }

    fn sources(cells: &[Cell], kind: Kind) -> Vec<String> {
        filter_cells(cells, kind, "de").0.into_iter().map(|c| c.source).collect()
    }

    #[test]
    fn a_completed_solution_is_dropped_from_code_along_only() {
        let cells = vec![
            cell(CellType::Code, "todo", json!({"tags": ["start"]})),
            cell(CellType::Code, "done", json!({"tags": ["completed"]})),
        ];
        assert_eq!(sources(&cells, Kind::CodeAlong), vec!["todo"]);
        assert_eq!(sources(&cells, Kind::Completed), vec!["done"]);
        assert_eq!(sources(&cells, Kind::Speaker), vec!["done"]);
    }

    #[test]
    fn a_voiceover_is_for_the_speaker_only_and_marked_as_a_note() {
        let cells = vec![
            cell(CellType::Markdown, "Read this aloud.", json!({"tags": ["voiceover"]})),
            cell(CellType::Code, "x", json!({"tags": ["voiceover"]})),
        ];
        assert!(sources(&cells, Kind::Completed).is_empty());
        assert!(sources(&cells, Kind::CodeAlong).is_empty());
        let (out, warnings) = filter_cells(&cells, Kind::Speaker, "de");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(out[0].source, "<div style='background: #FFEEBA; color: black;'>\nRead this aloud.\n</div>");
        assert_eq!(out[1].source, "x");
        assert_eq!(slide_type(&out[0]), Some(&json!("notes")));
        assert_eq!(slide_type(&out[1]), Some(&json!("notes")));
    }

    #[test]
    fn todays_tag_vocabulary_is_known_and_changes_nothing_else() {
        let code_tags = [
            "private",
            "workshop",
            "end-workshop",
            "allow-untranslated",
            "raises-exception",
            "skip-execution",
            "completed",
        ];
        let markdown_tags = ["private", "workshop", "end-workshop", "nodataurl", "completed"];
        let mut cells: Vec<Cell> = code_tags.iter().map(|t| cell(CellType::Code, t, json!({ "tags": [t] }))).collect();
        cells.extend(markdown_tags.iter().map(|t| cell(CellType::Markdown, t, json!({ "tags": [t] }))));
        for kind in [Kind::Completed, Kind::Speaker] {
            let (out, warnings) = filter_cells(&cells, kind, "en");
            assert!(warnings.is_empty(), "{kind:?}: {warnings:?}");
            let kept: Vec<&str> = out.iter().map(|c| c.source.as_str()).collect();
            let all: Vec<&str> = code_tags.iter().chain(&markdown_tags).copied().collect();
            assert_eq!(kept, all, "{kind:?}");
            assert!(out.iter().all(|c| !c.metadata.contains_key("slideshow")));
        }
    }

    #[test]
    fn execution_and_validation_tags_on_markdown_are_still_reported() {
        let cells = vec![
            cell(CellType::Markdown, "m", json!({"tags": ["skip-execution"]})),
            cell(CellType::Code, "c", json!({"tags": ["nodataurl"]})),
        ];
        let (_, warnings) = filter_cells(&cells, Kind::Completed, "de");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].message.contains("`skip-execution` on a markdown cell"), "{warnings:?}");
        assert!(warnings[1].message.contains("`nodataurl` on a code cell"), "{warnings:?}");
        assert!(warnings[1].message.contains("raises-exception"), "the message lists the known tags: {warnings:?}");
    }

    #[test]
    fn other_languages_are_dropped_and_unknown_tags_and_languages_reported() {
        let cells = vec![
            cell(CellType::Code, "x", json!({"lang": "fr"})),
            cell(CellType::Code, "y", json!({"tags": ["tpyo"]})),
        ];
        let (out, unknown) = filter_cells(&cells, Kind::Completed, "de");
        assert_eq!(out.len(), 1);
        assert_eq!(unknown.len(), 2);
        assert!(unknown[0].message.contains("`fr` is neither de nor en"), "{unknown:?}");
        assert!(unknown[1].message.contains("unknown tag `tpyo` on a code cell"), "{unknown:?}");
        let kepp = vec![cell(CellType::Code, "y", json!({"tags": ["kepp"]}))];
        let (_, unknown) = filter_cells(&kepp, Kind::Completed, "de");
        assert!(unknown[0].message.contains("code cell; did you mean `keep`? Known tags there are"), "{unknown:?}");
    }
}
