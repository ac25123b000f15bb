//! Stage 4a: the nbformat 4.5 notebook and its JSON bytes, laid out exactly
//! as Python's `json.dumps(indent=1, sort_keys=True, ensure_ascii=False)`
//! does, so outputs are byte-identical to the older Python tool's.

use serde_json::{json, Map, Value};

use crate::cell::{Cell, CellType};
use crate::lang::ProgLang;

/// Notebook-level facts the reader found.
#[derive(Debug, Clone)]
pub struct NotebookMeta {
    pub prog_lang: ProgLang,
    pub encoding: Option<String>,
    /// Sorted cell metadata keys of the deck (the older Python tool's order was random).
    pub cell_metadata_keys: Vec<String>,
}

/// The nbformat notebook as JSON (what the HTML renderer consumes).
pub fn notebook_value(cells: &[Cell], meta: &NotebookMeta) -> Value {
    let mut filter: Vec<&str> = meta.cell_metadata_keys.iter().map(String::as_str).collect();
    filter.push("-all");
    let mut jupytext = Map::new();
    jupytext.insert("cell_metadata_filter".into(), Value::from(filter.join(",")));
    if let Some(encoding) = &meta.encoding {
        jupytext.insert("encoding".into(), Value::from(encoding.as_str()));
    }
    jupytext.insert("main_language".into(), Value::from(meta.prog_lang.main_language()));
    jupytext.insert("notebook_metadata_filter".into(), Value::from("-all"));
    json!({
        "cells": cells.iter().map(cell_value).collect::<Vec<_>>(),
        "metadata": {
            "jupytext": jupytext,
            "kernelspec": meta.prog_lang.kernelspec(),
            "language_info": meta.prog_lang.language_info(),
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    })
}

fn cell_value(cell: &Cell) -> Value {
    let source: Vec<Value> = split_lines_keep_ends(&cell.source).into_iter().map(Value::from).collect();
    let mut value = json!({
        "cell_type": cell.cell_type.name(),
        "id": cell.id,
        "metadata": cell.metadata,
        "source": source,
    });
    if cell.cell_type == CellType::Code {
        if let Value::Object(map) = &mut value {
            map.insert("execution_count".into(), Value::Null);
            map.insert("outputs".into(), json!([]));
        }
    }
    value
}

/// Python's `str.splitlines(keepends=True)`, which nbformat uses.
pub fn split_lines_keep_ends(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let end = match c {
            '\r' => match chars.peek() {
                Some((_, '\n')) => {
                    chars.next();
                    i + 2
                }
                _ => i + 1,
            },
            '\n' | '\u{0b}' | '\u{0c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
                i + c.len_utf8()
            }
            _ => continue,
        };
        out.push(&text[start..end]);
        start = end;
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// The file bytes: JSON plus a final newline.
pub fn to_bytes(notebook: &Value) -> Vec<u8> {
    let mut out = String::new();
    write_value(&mut out, notebook, 0);
    out.push('\n');
    out.into_bytes()
}

fn indent(out: &mut String, level: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', level));
}

fn write_value(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, level + 1);
                write_value(out, item, level + 1);
            }
            indent(out, level);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            // Python sorts by code point; Rust's str order is byte order,
            // which is the same for UTF-8.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, level + 1);
                write_string(out, key);
                out.push_str(": ");
                write_value(out, &map[key.as_str()], level + 1);
            }
            indent(out, level);
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_layout_matches_python_json_dumps() {
        let v = json!({"b": [1, "ö\"\u{1}"], "a": {}, "c": []});
        let text = String::from_utf8(to_bytes(&v)).unwrap_or_default();
        assert_eq!(text, "{\n \"a\": {},\n \"b\": [\n  1,\n  \"ö\\\"\\u0001\"\n ],\n \"c\": []\n}\n");
    }

    #[test]
    fn sources_split_like_python_splitlines() {
        assert_eq!(split_lines_keep_ends("a\nb\r\nc\rd\n"), vec!["a\n", "b\r\n", "c\r", "d\n"]);
        assert!(split_lines_keep_ends("").is_empty());
    }
}
