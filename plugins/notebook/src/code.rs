//! Stage 4b: the code file, i.e. jupytext's percent writer with all
//! metadata filtered out.

use crate::cell::{Cell, CellType};
use crate::lang::ProgLang;
use crate::percent::{is_magic, pep8_lines_between};

const UTF8_HEADER: &str = " -*- coding: utf-8 -*-";

pub fn to_bytes(cells: &[Cell], prog_lang: ProgLang, encoding: Option<&str>) -> Vec<u8> {
    let comment = prog_lang.comment();
    let mut lines: Vec<String> = Vec::new();
    if let Some(encoding) = encoding {
        lines.push(encoding.to_owned());
    } else if !prog_lang.is_python() && cells.iter().any(|c| !c.source.is_ascii()) {
        lines.push(format!("{comment}{UTF8_HEADER}"));
    }
    let texts: Vec<Vec<String>> = cells.iter().map(|c| cell_text(c, comment)).collect();
    for (i, (cell, text)) in cells.iter().zip(&texts).enumerate() {
        lines.extend(text.iter().cloned());
        if let Some(next) = texts.get(i + 1) {
            let blank = match cell.metadata.get("lines_to_next_cell").and_then(|v| v.as_u64()) {
                Some(n) => n as usize,
                None => pep8_lines_between(text, next, prog_lang.is_python()),
            };
            lines.extend(std::iter::repeat_n(String::new(), blank));
        }
    }
    let mut out = lines.join("\n");
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.into_bytes()
}

fn cell_text(cell: &Cell, comment: &str) -> Vec<String> {
    let marker = match cell.cell_type {
        CellType::Code => format!("{comment} %%"),
        CellType::Markdown => format!("{comment} %% [markdown]"),
        CellType::Raw => format!("{comment} %% [raw]"),
    };
    let mut text = vec![marker];
    if cell.source.is_empty() {
        return text;
    }
    let source_lines = cell.source.split('\n');
    match cell.cell_type {
        CellType::Code => text.extend(source_lines.map(|line| {
            if is_magic(line, comment) {
                format!("{comment} {line}")
            } else {
                line.to_owned()
            }
        })),
        _ => text.extend(source_lines.map(|line| {
            if line.is_empty() {
                comment.to_owned()
            } else {
                format!("{comment} {line}")
            }
        })),
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    #[test]
    fn emptied_cells_and_magics_and_markdown_comments() {
        let cells = vec![
            Cell::new(CellType::Markdown, "a\n\nb".into(), Map::new()),
            Cell::new(CellType::Code, String::new(), Map::new()),
            Cell::new(CellType::Code, "%time x".into(), Map::new()),
        ];
        let text = String::from_utf8(to_bytes(&cells, ProgLang::Python, None)).unwrap_or_default();
        assert_eq!(text, "# %% [markdown]\n# a\n#\n# b\n\n# %%\n\n# %%\n# %time x\n");
    }

    #[test]
    fn non_ascii_c_family_code_gets_a_coding_line_but_python_does_not() {
        let cells = vec![Cell::new(CellType::Markdown, "Hölzl".into(), Map::new())];
        let cs = String::from_utf8(to_bytes(&cells, ProgLang::CSharp, None)).unwrap_or_default();
        assert!(cs.starts_with("// -*- coding: utf-8 -*-\n// %% [markdown]"), "{cs}");
        let py = String::from_utf8(to_bytes(&cells, ProgLang::Python, None)).unwrap_or_default();
        assert!(py.starts_with("# %% [markdown]"), "{py}");
    }

    #[test]
    fn no_cells_is_a_single_newline() {
        assert_eq!(to_bytes(&[], ProgLang::Python, None), b"\n");
    }
}
