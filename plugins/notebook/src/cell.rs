//! The cell model shared by every stage after the template.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellType {
    Code,
    Markdown,
    Raw,
}

impl CellType {
    pub fn name(self) -> &'static str {
        match self {
            CellType::Code => "code",
            CellType::Markdown => "markdown",
            CellType::Raw => "raw",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub cell_type: CellType,
    pub source: String,
    pub metadata: Map<String, Value>,
    /// Set by the filter stage; empty until then.
    pub id: String,
    /// 1-based line of the cell marker in the rendered deck (0 for text
    /// before the first marker); lets messages point at the cell.
    pub rendered_line: usize,
}

impl Cell {
    pub fn new(cell_type: CellType, source: String, metadata: Map<String, Value>) -> Self {
        Cell { cell_type, source, metadata, id: String::new(), rendered_line: 0 }
    }

    /// The `tags` metadata as strings, in authored order; anything that is
    /// not a list of strings counts as no tags, as in the older Python tool.
    pub fn tags(&self) -> Vec<&str> {
        match self.metadata.get("tags") {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags().contains(&tag)
    }

    /// The `lang` metadata; `None` when missing or empty.
    pub fn lang(&self) -> Option<&str> {
        match self.metadata.get("lang") {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            Some(Value::Null) | None => None,
            Some(Value::String(_)) => None,
            // A non-string lang never equals "de"/"en", so the cell is dropped.
            Some(_) => Some("\u{0}"),
        }
    }
}
