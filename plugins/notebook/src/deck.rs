//! One deck through stages 1-4 for one (lang, kind, format).

use serde_json::Value;

use crate::cell::Cell;
use crate::code;
use crate::ipynb::{self, NotebookMeta};
use crate::kind::{self, CellWarning, Kind};
use crate::lang::ProgLang;
use crate::percent;
use crate::template::{self, Byline, Globals};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ipynb,
    Code,
    Html,
    /// A reveal.js presentation of the executed deck ([`crate::slides`]).
    Slides,
}

impl Format {
    pub fn parse(name: &str) -> Option<Format> {
        Some(match name {
            "ipynb" | "notebook" => Format::Ipynb,
            "code" => Format::Code,
            "html" => Format::Html,
            "slides" => Format::Slides,
            _ => return None,
        })
    }
}

/// Everything about a deck that does not change between its outputs.
#[derive(Debug, Clone, Copy)]
pub struct DeckInput<'a> {
    pub text: &'a str,
    pub lang: &'a str,
    pub prog_lang: ProgLang,
    /// The author, organisation and logo the title cells name.
    pub byline: Byline<'a>,
    /// A course's `macros.j2`; `None` uses the built-in one.
    pub macros: Option<&'a str>,
}

/// What is wrong with a deck; `line` is 1-based in the deck source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeckError {
    pub line: Option<u32>,
    pub message: String,
}

/// The filtered cells of one variant plus what the notebook needs.
#[derive(Debug, Clone)]
pub struct Variant {
    pub cells: Vec<Cell>,
    pub meta: NotebookMeta,
    pub warnings: Vec<CellWarning>,
    /// The rendered deck, for mapping cell lines back to the source.
    pub rendered: String,
}

impl Variant {
    /// The nbformat notebook (input of the HTML renderer).
    pub fn notebook(&self) -> Value {
        ipynb::notebook_value(&self.cells, &self.meta)
    }
}

/// Stages 1-3.
pub fn build_variant(input: &DeckInput<'_>, kind: Kind, format: Format) -> Result<Variant, DeckError> {
    let comment = input.prog_lang.comment();
    let globals = Globals {
        is_notebook: format == Format::Ipynb,
        is_html: matches!(format, Format::Html | Format::Slides),
        lang: input.lang,
        byline: input.byline,
    };
    let macros = input.macros.unwrap_or_else(|| input.prog_lang.builtin_macros());
    let rendered = template::render(input.text, comment, macros, &globals)
        .map_err(|e| DeckError { line: e.line, message: e.message })?;
    let deck = percent::read(&rendered, comment, input.prog_lang.is_python());
    check_cells(&deck.cells, &rendered, input.text)?;
    let (cells, warnings) = kind::filter_cells(&deck.cells, kind, input.lang);
    let meta = NotebookMeta {
        prog_lang: input.prog_lang,
        encoding: deck.encoding.clone(),
        cell_metadata_keys: deck.metadata_keys.iter().cloned().collect(),
    };
    Ok(Variant { cells, meta, warnings, rendered })
}

/// Stages 1-4 for the ipynb and code formats.
pub fn deck_outputs(input: &DeckInput<'_>, kind: Kind, format: Format) -> Result<Vec<u8>, DeckError> {
    let variant = build_variant(input, kind, format)?;
    match format {
        Format::Ipynb => Ok(ipynb::to_bytes(&variant.notebook())),
        Format::Code => Ok(code::to_bytes(&variant.cells, input.prog_lang, variant.meta.encoding.as_deref())),
        Format::Html | Format::Slides => {
            Err(DeckError { line: None, message: "HTML rendering is not available yet".into() })
        }
    }
}

/// A marker whose metadata cannot be parsed is almost always a typo
/// (`lang=de` instead of `lang="de"`); the older Python tool silently kept such
/// cells in every language, so it is an error here.
fn check_cells(cells: &[Cell], rendered: &str, source: &str) -> Result<(), DeckError> {
    for cell in cells {
        if let Some(message) = percent::unknown_cell_type(cell) {
            return Err(DeckError { line: source_line(rendered, cell.rendered_line, source), message });
        }
        if let Some(Value::String(text)) = cell.metadata.get("incorrectly_encoded_metadata") {
            return Err(DeckError {
                line: source_line(rendered, cell.rendered_line, source),
                message: format!(
                    "cannot read the cell metadata `{text}`: write each value as a JSON or Python literal, e.g. lang=\"de\" tags=[\"keep\"]"
                ),
            });
        }
    }
    Ok(())
}

/// The deck line a rendered line came from. Templates can add or remove
/// lines, so this looks for the same text in the source, nearest first.
pub fn source_line(rendered: &str, rendered_line: usize, source: &str) -> Option<u32> {
    if rendered_line == 0 {
        return None;
    }
    let wanted = rendered.lines().nth(rendered_line - 1)?.trim_end();
    let candidates: Vec<usize> =
        source.lines().enumerate().filter(|(_, l)| l.trim_end() == wanted).map(|(i, _)| i + 1).collect();
    let best = candidates.into_iter().min_by_key(|&l| l.abs_diff(rendered_line))?;
    u32::try_from(best).ok()
}
