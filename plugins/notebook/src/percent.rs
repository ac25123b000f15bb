//! Stage 2: a jupytext-compatible reader for percent-format decks (`# %%` /
//! `// %%`), and the PEP 8 spacing rules its writer shares.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::cell::{Cell, CellType};

/// A deck read into cells.
#[derive(Debug, Clone, Default)]
pub struct Deck {
    pub cells: Vec<Cell>,
    /// The `-*- coding: … -*-` line, re-emitted by the code writer.
    pub encoding: Option<String>,
    /// Cell metadata keys that occur in the deck (for jupytext's filter).
    pub metadata_keys: BTreeSet<String>,
}

struct Marker {
    cell_type: CellType,
    metadata: Map<String, Value>,
}

/// `# %% [markdown] lang="de"` -> the cell's type and metadata.
fn parse_marker(line: &str, comment: &str) -> Option<Marker> {
    let rest = line.trim_start().strip_prefix(comment)?.trim_start();
    let rest = rest.strip_prefix("%%")?;
    let rest = rest.trim_start_matches('%');
    if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
        return None;
    }
    let options = rest.trim();
    let mut metadata = Map::new();
    let mut cell_type = CellType::Code;
    // The bracketed forms of `CELL_TYPE_WORDS`.
    let (title, meta_text) =
        match [("[markdown]", CellType::Markdown), ("[md]", CellType::Markdown), ("[raw]", CellType::Raw)]
            .into_iter()
            .find_map(|(pat, ty)| options.find(pat).map(|pos| (pat, ty, pos)))
        {
            Some((pat, ty, pos)) => {
                cell_type = ty;
                if pat == "[md]" {
                    metadata.insert("region_name".into(), Value::from("md"));
                }
                (options[..pos].trim(), options[pos + pat.len()..].trim())
            }
            None => {
                let split = first_key_position(options).unwrap_or(options.len());
                (options[..split].trim(), options[split..].trim())
            }
        };
    if !title.is_empty() {
        metadata.insert("title".into(), Value::from(title));
    }
    parse_metadata(meta_text, &mut metadata);
    Some(Marker { cell_type, metadata })
}

/// The words a cell header takes in brackets (`# %% [markdown]`); a code
/// cell has none.
pub const CELL_TYPE_WORDS: &[&str] = &["markdown", "md", "raw"];

/// A bracketed word in a cell header that is no cell type (`[markdwon]`):
/// the reader would take it for the title of a code cell, and the cell's
/// text would run as code. The message says what to write instead.
pub fn unknown_cell_type(cell: &Cell) -> Option<String> {
    let title = cell.metadata.get("title")?.as_str()?;
    let word = title.strip_prefix('[')?.strip_suffix(']')?;
    if word.is_empty() || !word.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_') {
        return None;
    }
    let advice = clx_plugin_api::suggest::advice(
        word,
        CELL_TYPE_WORDS.iter().copied(),
        |n| format!("`[{n}]`"),
        "write [markdown], [md] or [raw], or nothing for a code cell",
    );
    Some(format!("unknown cell type `[{word}]` in the cell header{advice}"))
}

/// The type of the cell a marker line opens; `None` if the line is no marker.
pub fn marker_type(line: &str, comment: &str) -> Option<CellType> {
    parse_marker(line, comment).map(|m| m.cell_type)
}

fn is_key_start(s: &str) -> bool {
    let mut chars = s.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok {
        return false;
    }
    let key_len = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')).unwrap_or(s.len());
    s[key_len..].starts_with('=')
}

fn first_key_position(s: &str) -> Option<usize> {
    let mut pos = 0;
    for token in s.split(' ') {
        if is_key_start(token) {
            return Some(pos);
        }
        pos += token.len() + 1;
    }
    None
}

fn parse_metadata(mut text: &str, metadata: &mut Map<String, Value>) {
    loop {
        text = text.trim_start();
        if text.is_empty() {
            return;
        }
        if is_key_start(text) {
            let eq = text.find('=').unwrap_or(0);
            let key = &text[..eq];
            if let Some((value, rest)) = parse_value(&text[eq + 1..]) {
                if rest.is_empty() || rest.starts_with(' ') {
                    metadata.insert(key.to_owned(), value);
                    text = rest;
                    continue;
                }
            }
            metadata.insert("incorrectly_encoded_metadata".into(), Value::from(text.trim_end()));
            return;
        }
        // A bare word after the pairs is a flag.
        let end = text.find(' ').unwrap_or(text.len());
        metadata.insert(text[..end].to_owned(), Value::Null);
        text = &text[end..];
    }
}

/// A JSON or Python literal at the start of `s`; returns it and the rest.
fn parse_value(s: &str) -> Option<(Value, &str)> {
    let s = s.trim_start();
    let first = s.chars().next()?;
    match first {
        '"' | '\'' => {
            let mut out = String::new();
            let mut chars = s.char_indices().skip(1);
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        let (_, e) = chars.next()?;
                        out.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                    }
                    c if c == first => return Some((Value::from(out), &s[i + 1..])),
                    c => out.push(c),
                }
            }
            None
        }
        '[' | '(' => {
            let close = if first == '[' { ']' } else { ')' };
            let mut items = Vec::new();
            let mut rest = s[1..].trim_start();
            loop {
                if let Some(r) = rest.strip_prefix(close) {
                    return Some((Value::Array(items), r));
                }
                let (v, r) = parse_value(rest)?;
                items.push(v);
                rest = r.trim_start();
                if let Some(r) = rest.strip_prefix(',') {
                    rest = r.trim_start();
                } else if !rest.starts_with(close) {
                    return None;
                }
            }
        }
        '{' => {
            let mut map = Map::new();
            let mut rest = s[1..].trim_start();
            loop {
                if let Some(r) = rest.strip_prefix('}') {
                    return Some((Value::Object(map), r));
                }
                let (k, r) = parse_value(rest)?;
                let r = r.trim_start().strip_prefix(':')?;
                let (v, r) = parse_value(r)?;
                map.insert(k.as_str()?.to_owned(), v);
                rest = r.trim_start();
                if let Some(r) = rest.strip_prefix(',') {
                    rest = r.trim_start();
                } else if !rest.starts_with('}') {
                    return None;
                }
            }
        }
        _ => {
            let end = s.find([' ', ',', ']', '}', ')']).unwrap_or(s.len());
            let word = &s[..end];
            let value = match word {
                "True" | "true" => Value::Bool(true),
                "False" | "false" => Value::Bool(false),
                "None" | "null" => Value::Null,
                _ => serde_json::from_str::<serde_json::Number>(word).ok().map(Value::Number)?,
            };
            Some((value, &s[end..]))
        }
    }
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

/// Remove the comment token from a markdown/raw line.
fn uncomment<'a>(line: &'a str, comment: &str) -> &'a str {
    let spaced = format!("{comment} ");
    if let Some(rest) = line.strip_prefix(spaced.as_str()) {
        rest
    } else if let Some(rest) = line.strip_prefix(comment) {
        rest
    } else {
        line
    }
}

/// `# %matplotlib inline` -> `%matplotlib inline` in code cells.
fn uncomment_magic(line: &str, comment: &str) -> String {
    let Some(rest) = line.strip_prefix(comment) else { return line.to_owned() };
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    if is_magic(rest, comment) {
        rest.to_owned()
    } else {
        line.to_owned()
    }
}

/// Whether a code line is a magic the writer must comment out.
pub fn is_magic(line: &str, comment: &str) -> bool {
    let magic = line.strip_prefix("%%").or_else(|| line.strip_prefix('%'));
    if let Some(name) = magic {
        return name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    }
    comment == "#" && (line.starts_with('!') || line.starts_with('?'))
}

/// Read a rendered deck.
pub fn read(text: &str, comment: &str, python: bool) -> Deck {
    // Like Python's splitlines for `\n` and `\r\n`: decks saved on Windows
    // read the same.
    let mut lines: Vec<&str> = text.lines().collect();
    let mut deck = Deck::default();
    let coding_prefix = format!("{comment} -*- coding:");
    if lines.first().is_some_and(|l| l.starts_with(&coding_prefix)) {
        deck.encoding = Some(lines[0].to_owned());
        lines.remove(0);
    }
    let mut offset = usize::from(deck.encoding.is_some());
    let header = yaml_header_len(&lines, comment);
    if header > 0 {
        lines.drain(..header);
        offset += header;
    }
    let markers: Vec<usize> = (0..lines.len()).filter(|&i| parse_marker(lines[i], comment).is_some()).collect();
    // (start of body, end of body, marker) per cell; text before the first
    // marker is a code cell of its own.
    let mut spans: Vec<(usize, usize, Option<Marker>)> = Vec::new();
    let first = markers.first().copied().unwrap_or(lines.len());
    if first > 0 {
        spans.push((0, first, None));
    }
    for (k, &m) in markers.iter().enumerate() {
        let end = markers.get(k + 1).copied().unwrap_or(lines.len());
        spans.push((m + 1, end, parse_marker(lines[m], comment)));
    }
    // An authored marker directly followed by an identical one (a C-family
    // deck that wraps a `header` which emits its own marker) is one cell.
    let spans: Vec<_> = {
        let mut kept: Vec<(usize, usize, Option<Marker>)> = Vec::new();
        let mut iter = spans.into_iter().peekable();
        while let Some(span) = iter.next() {
            let duplicate = match (&span.2, iter.peek()) {
                (Some(m), Some((_, _, Some(next)))) => {
                    span.0 == span.1 && m.cell_type == next.cell_type && m.metadata == next.metadata
                }
                _ => false,
            };
            if !duplicate {
                kept.push(span);
            }
        }
        kept
    };
    let count = spans.len();
    for (index, (start, end, marker)) in spans.into_iter().enumerate() {
        let has_marker = marker.is_some();
        let body = &lines[start..end];
        let n = body.len();
        let trailing = body.iter().rev().take_while(|l| is_blank(l)).count();
        // jupytext looks at the marker line too: two blank lines after a bare
        // marker are still "exactly two".
        let with_marker = n + usize::from(has_marker);
        let separator = if trailing == 2 && with_marker >= 3 {
            2
        } else if trailing >= 1 {
            1
        } else {
            0
        };
        let content = &body[..n - separator];
        let (cell_type, mut metadata) = match marker {
            Some(m) => (m.cell_type, m.metadata),
            None => (CellType::Code, Map::new()),
        };
        let source_lines: Vec<String> = match cell_type {
            CellType::Code => content.iter().map(|l| uncomment_magic(l, comment)).collect(),
            _ => content.iter().map(|l| uncomment(l, comment).to_owned()).collect(),
        };
        deck.metadata_keys.extend(metadata.keys().filter(|k| !is_internal_key(k)).cloned());
        if index + 1 < count {
            let next = &lines[end..];
            let expected = pep8_lines_between(content, next, python);
            if separator != expected {
                metadata.insert("lines_to_next_cell".into(), Value::from(separator));
            }
        }
        let mut cell = Cell::new(cell_type, source_lines.join("\n"), metadata);
        cell.rendered_line = if has_marker { start + offset } else { 0 };
        deck.cells.push(cell);
    }
    deck
}

/// Lines taken by a jupytext YAML header (`# ---` … `# ---` at the top,
/// plus one blank line after it); such a header is notebook metadata, not a
/// cell. Its contents are not interpreted: decks use it only to carry
/// jupytext's own settings, which clx fixes.
fn yaml_header_len(lines: &[&str], comment: &str) -> usize {
    let fence = format!("{comment} ---");
    if lines.first().is_none_or(|l| l.trim_end() != fence) {
        return 0;
    }
    for (i, line) in lines.iter().enumerate().skip(1) {
        if line.trim_end() == fence {
            let blank_after = lines.get(i + 1).is_some_and(|l| is_blank(l));
            return i + 1 + usize::from(blank_after);
        }
        if !line.starts_with(comment) {
            return 0;
        }
    }
    0
}

/// Keys jupytext keeps out of the notebook's `cell_metadata_filter`.
fn is_internal_key(key: &str) -> bool {
    matches!(
        key,
        "lines_to_next_cell"
            | "lines_to_end_of_cell_marker"
            | "cell_marker"
            | "skipline"
            | "noskipline"
            | "language"
            | "magic_args"
    )
}

// ---- PEP 8 spacing (jupytext's rules, used by reader and writer) ----------
//
// These mirror jupytext's `pep8.py` line for line (without its string-literal
// tracking), so the reader stores `lines_to_next_cell` exactly when jupytext
// would and the writer puts back the same number of blank lines.

/// Blank lines jupytext expects between two cells, given their text as it
/// appears in the file.
pub fn pep8_lines_between<S: AsRef<str>, T: AsRef<str>>(prev: &[S], next: &[T], python: bool) -> usize {
    if next.is_empty() {
        return 1;
    }
    if prev.is_empty() {
        return 0;
    }
    if !python {
        return 1;
    }
    if ends_with_function_or_class(prev) {
        return if has_code(next) { 2 } else { 1 };
    }
    if ends_with_code(prev) && next_is_function_or_class(next) {
        return 2;
    }
    1
}

fn is_definition(line: &str) -> bool {
    line.starts_with("def ") || line.starts_with("class ")
}

fn ends_with_function_or_class<S: AsRef<str>>(lines: &[S]) -> bool {
    let reversed: Vec<&str> = lines.iter().rev().map(|l| l.as_ref()).collect();
    for (i, line) in reversed.iter().enumerate() {
        if line.trim().is_empty() {
            if i > 0 && reversed[i - 1].trim().is_empty() {
                return false;
            }
            continue;
        }
        if line.starts_with('#') || line.starts_with(' ') {
            continue;
        }
        return is_definition(line);
    }
    false
}

fn ends_with_code<S: AsRef<str>>(lines: &[S]) -> bool {
    match lines.last() {
        Some(l) => !l.as_ref().trim().is_empty() && !l.as_ref().starts_with('#'),
        None => false,
    }
}

fn has_code<S: AsRef<str>>(lines: &[S]) -> bool {
    for (i, line) in lines.iter().enumerate() {
        let stripped = line.as_ref().trim();
        if stripped.starts_with('#') {
            continue;
        }
        if stripped.is_empty() {
            if i > 0 && lines[i - 1].as_ref().trim().is_empty() {
                return false;
            }
            continue;
        }
        return true;
    }
    false
}

fn next_is_function_or_class<S: AsRef<str>>(lines: &[S]) -> bool {
    for (i, line) in lines.iter().enumerate() {
        let line = line.as_ref();
        if line.trim().is_empty() {
            if i > 0 && lines[i - 1].as_ref().trim().is_empty() {
                return false;
            }
            continue;
        }
        if is_definition(line) {
            return true;
        }
        if line.starts_with(['#', '@', ' ', ')']) {
            continue;
        }
        return false;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_with_types_titles_and_metadata() {
        let m = parse_marker(r#"# %% [markdown] lang="de" tags=["slide", 'notes']"#, "#").unwrap();
        assert_eq!(m.cell_type, CellType::Markdown);
        assert_eq!(Value::Object(m.metadata), serde_json::json!({"lang": "de", "tags": ["slide", "notes"]}));
        let m = parse_marker("# %% keep", "#").unwrap();
        assert_eq!(Value::Object(m.metadata), serde_json::json!({"title": "keep"}));
        let m = parse_marker("// %% lang=de", "//").unwrap();
        assert_eq!(Value::Object(m.metadata), serde_json::json!({"incorrectly_encoded_metadata": "lang=de"}));
        let m = parse_marker("#%% [md]", "#").unwrap();
        assert_eq!(Value::Object(m.metadata), serde_json::json!({"region_name": "md"}));
        assert!(parse_marker("# %%timeit", "#").is_none());
        assert!(parse_marker("x = 1 # %%", "#").is_none());
    }

    #[test]
    fn blank_lines_between_cells_become_lines_to_next_cell() {
        let deck = read("# %%\na = 1\n\n\n# %%\nb = 2\n# %% [markdown]\n# text\n\n\n\n# %%\nc\n", "#", true);
        let ltnc: Vec<_> = deck.cells.iter().map(|c| c.metadata.get("lines_to_next_cell").cloned()).collect();
        assert_eq!(ltnc, vec![Some(Value::from(2)), Some(Value::from(0)), None, None]);
        assert_eq!(deck.cells[2].source, "text\n\n", "blank lines beyond the separator stay in the cell");
    }

    #[test]
    fn prefix_text_and_encoding_and_magics() {
        let deck = read("// -*- coding: utf-8 -*-\n// %%\n// %%timeit\nx;\n", "//", false);
        assert_eq!(deck.encoding.as_deref(), Some("// -*- coding: utf-8 -*-"));
        assert_eq!(deck.cells.len(), 1);
        assert_eq!(deck.cells[0].source, "%%timeit\nx;");
        let deck = read("\n# %%\n# %matplotlib inline\n", "#", true);
        assert_eq!(deck.cells.len(), 2, "a blank prefix is an empty code cell");
        assert_eq!(deck.cells[1].source, "%matplotlib inline");
    }

    #[test]
    fn a_yaml_header_is_not_a_cell() {
        let deck = read("# ---\n# jupyter:\n#   jupytext: {}\n# ---\n\n# %%\nx = 1\n", "#", true);
        assert_eq!(deck.cells.len(), 1);
        assert_eq!(deck.cells[0].source, "x = 1");
        assert_eq!(deck.cells[0].rendered_line, 6);
        let deck = read("# ---\nnot yaml\n# ---\n# %%\n", "#", true);
        assert_eq!(deck.cells.len(), 2, "an unterminated or uncommented block is ordinary text");
    }

    #[test]
    fn two_blank_lines_after_a_def_are_pep8_and_not_recorded() {
        let deck = read("# %%\ndef f():\n    pass\n\n\n# %%\nf()\n", "#", true);
        assert_eq!(deck.cells[0].metadata.get("lines_to_next_cell"), None);
        let deck = read("// %%\nint f() {}\n\n\n// %%\nf();\n", "//", false);
        assert_eq!(deck.cells[0].metadata.get("lines_to_next_cell"), Some(&Value::from(2)));
    }

    #[test]
    fn unparsable_metadata_is_kept_as_jupytext_does() {
        let m = parse_marker("# %% tags=[\"a\" lang=\"de\"", "#").unwrap();
        assert!(m.metadata.contains_key("incorrectly_encoded_metadata"));
        let m = parse_marker("# %% [markdown] lang=\"de\" flag", "#").unwrap();
        assert_eq!(Value::Object(m.metadata), serde_json::json!({"lang": "de", "flag": null}));
    }

    #[test]
    fn windows_line_endings_read_like_unix_ones() {
        let unix = read("# %% [markdown] lang=\"de\"\n# Hallo\n\n# %%\nx = 1\n", "#", true);
        let windows = read("# %% [markdown] lang=\"de\"\r\n# Hallo\r\n\r\n# %%\r\nx = 1\r\n", "#", true);
        assert_eq!(unix.cells, windows.cells);
    }
}
