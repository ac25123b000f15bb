//! The one place the host reads a deck's content. The host otherwise treats
//! course files as opaque bytes for the plugins; it looks inside a deck only
//! for what the output layout needs: the title of `{{ header("DE", "EN") }}`
//! (it names the output files), for a single-file topic, which module
//! files the deck refers to (they are copied beside it), and the words a
//! reader may search for ([`searchable`]).

use std::path::Path;

use crate::course::paths::is_safe_relative;

/// What the host learns from a deck's text: plain facts, no judgement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeckFacts {
    /// The titles of its header line, when it has one.
    pub header: Option<(String, String)>,
    /// The first line of a cell marked `lang="de"` and of one marked
    /// `lang="en"`: a deck with one but not the other builds a page in the
    /// other language that shows nothing but its title.
    pub first_de_cell: Option<u32>,
    /// The first line of a cell marked `lang="en"`; see `first_de_cell`.
    pub first_en_cell: Option<u32>,
    /// Local files the deck's markdown refers to (`![](img/x.png)`,
    /// `[see](data/y.csv)`, `<img src="…">`), with their line: relative
    /// paths only, without `#fragment` or `?query`.
    pub local_references: Vec<(u32, String)>,
}

#[derive(Debug, thiserror::Error)]
/// Why a deck's text could not be read for its title, cells and references.
pub enum DeckTextError {
    #[error("cannot read the deck: {0}")]
    /// The file could not be read at all.
    Read(#[from] std::io::Error),
    #[error("the deck is not UTF-8 (byte {offset}); save it as UTF-8")]
    /// The file has bytes that are not UTF-8.
    NotUtf8 {
        /// 1-based line of the first bad byte.
        line: u32,
        /// Byte offset of the first bad byte from the start of the file.
        offset: usize,
    },
}

impl DeckTextError {
    /// The deck line the problem is on, when it has one.
    pub fn line(&self) -> Option<u32> {
        match self {
            DeckTextError::Read(_) => None,
            DeckTextError::NotUtf8 { line, .. } => Some(*line),
        }
    }
}

/// Read what the host needs from a deck.
pub fn read(path: &Path) -> Result<DeckFacts, DeckTextError> {
    let bytes = std::fs::read(path)?;
    let text = clx_plugin_api::text::decode_owned(bytes)
        .map_err(|e| DeckTextError::NotUtf8 { line: e.line, offset: e.offset })?;
    Ok(facts(&text))
}

/// The facts of a deck's text (see [`DeckFacts`]).
pub fn facts(text: &str) -> DeckFacts {
    let mut facts = DeckFacts { header: find_header(text), ..DeckFacts::default() };
    for (number, line) in (1u32..).zip(text.lines()) {
        // Markdown cells are comment lines; code is no reference.
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.starts_with("//") {
            facts.local_references.extend(link_targets(line).into_iter().map(|t| (number, t)));
        }
        let Some(header) = cell_header(line) else { continue };
        let slot = if has_lang(header, "de") {
            &mut facts.first_de_cell
        } else if has_lang(header, "en") {
            &mut facts.first_en_cell
        } else {
            continue;
        };
        slot.get_or_insert(number);
    }
    facts
}

/// The local targets of markdown links and images and of `<img src>` on
/// one line. URLs, anchors, absolute paths and Jinja expressions are left
/// out: only a relative path can be checked against the course.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let end = rest.find(')').unwrap_or(rest.len());
        // `[a](b "title")`: the target is the first word.
        targets.push(rest[..end].split_whitespace().next().unwrap_or_default().to_owned());
    }
    let mut rest = line;
    while let Some(at) = rest.find("<img") {
        rest = &rest[at + 4..];
        let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
        if let Some(src) = tag.find("src=").map(|i| &tag[i + 4..]) {
            let quote = src.chars().next().filter(|q| *q == '"' || *q == '\'');
            if let Some(q) = quote {
                targets.extend(src[1..].split(q).next().map(str::to_owned));
            }
        }
    }
    targets
        .into_iter()
        .map(|t| t.split(['#', '?']).next().unwrap_or_default().trim_start_matches("./").to_owned())
        .filter(|t| !t.is_empty() && !t.contains("{{") && !t.contains(':') && is_safe_relative(t))
        .collect()
}

/// The rest of a percent-format cell line (`# %% …`, `// %% …`).
fn cell_header(line: &str) -> Option<&str> {
    let line = line.trim_start();
    ["# %%", "// %%"].iter().find_map(|marker| line.strip_prefix(marker))
}

fn has_lang(header: &str, lang: &str) -> bool {
    let compact: String = header.chars().filter(|c| !c.is_whitespace()).collect();
    compact.contains(&format!("lang=\"{lang}\"")) || compact.contains(&format!("lang='{lang}'"))
}

/// The titles of `{{ header("DE", "EN") }}`: the first match on one line,
/// both captures greedy (`{{ header('a", "b', "c") }}` gives `a", "b` and
/// `c`), the way existing courses' titles were always read:
/// `{{\s*header\s*\(\s*["'](.*)["']\s*,\s*["'](.*)["']\s*\)\s*}}`.
pub fn find_header(text: &str) -> Option<(String, String)> {
    text.lines().find_map(header_in_line)
}

fn header_in_line(line: &str) -> Option<(String, String)> {
    let b = line.as_bytes();
    let skip_ws = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let is_quote = |i: usize| i < b.len() && (b[i] == b'"' || b[i] == b'\'');
    for (start, _) in line.match_indices("{{") {
        let mut i = skip_ws(start + 2);
        if !line[i..].starts_with("header") {
            continue;
        }
        i = skip_ws(i + "header".len());
        if b.get(i) != Some(&b'(') {
            continue;
        }
        i = skip_ws(i + 1);
        if !is_quote(i) {
            continue;
        }
        let g1 = i + 1;
        // Greedy: try the latest end of the first capture first, then the
        // latest end of the second.
        for e1 in (g1..b.len()).rev().filter(|&e| is_quote(e)) {
            let mut j = skip_ws(e1 + 1);
            if b.get(j) != Some(&b',') {
                continue;
            }
            j = skip_ws(j + 1);
            if !is_quote(j) {
                continue;
            }
            let g2 = j + 1;
            for e2 in (g2..b.len()).rev().filter(|&e| is_quote(e)) {
                let mut k = skip_ws(e2 + 1);
                if b.get(k) != Some(&b')') {
                    continue;
                }
                k = skip_ws(k + 1);
                if line[k..].starts_with("}}") {
                    return Some((line[g1..e1].to_owned(), line[g2..e2].to_owned()));
                }
            }
        }
    }
    None
}

/// The files a single-file deck refers to (see [`referenced_files`]).
pub fn references(deck: &Path) -> std::io::Result<Vec<String>> {
    let text = std::fs::read(deck)?;
    let text = String::from_utf8_lossy(&text);
    let ext = deck.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(referenced_files(&text, &ext))
}

/// Module-relative paths a single-file deck refers to: `<img src="…">` and
/// `import x` / `from x import …` (as `x.<ext>`). Only safe relative paths
/// are returned; whether they exist is the caller's check.
pub fn referenced_files(text: &str, ext: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("<img") {
        rest = &rest[at + 4..];
        let tag_end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..tag_end];
        if let Some(src_at) = tag.find("src=\"") {
            let value = &tag[src_at + 5..];
            if let Some(end) = value.find('"') {
                out.push(value[..end].to_owned());
            }
        }
    }
    for line in text.lines() {
        let line = line.trim_start();
        let names: Vec<&str> = if let Some(after) = line.strip_prefix("from") {
            let after = after.trim_start();
            if !line[4..].starts_with(char::is_whitespace) {
                continue;
            }
            let name = after.split_whitespace().next().unwrap_or("");
            let tail = after[name.len()..].trim_start();
            if !tail.starts_with("import") {
                continue;
            }
            vec![name]
        } else if let Some(after) = line.strip_prefix("import") {
            if !after.starts_with(char::is_whitespace) {
                continue;
            }
            after.split(',').filter_map(|part| part.split_whitespace().next()).collect()
        } else {
            continue;
        };
        for name in names {
            let name = name.trim_start_matches('.').trim_end_matches([';', '"', '\'']);
            if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                out.push(format!("{}.{ext}", name.replace('.', "/")));
            }
        }
    }
    out.retain(|p| is_safe_relative(p));
    out
}

/// What the course search finds a deck by, in one language.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Searchable {
    /// Markdown headings, in order.
    pub headings: Vec<String>,
    /// Markdown text and code.
    pub text: String,
}

/// The markdown (cells of `lang` or of no language) and code of a
/// percent-format deck, as a reader of `lang` sees them: `del` cells never,
/// `notes` and `voiceover` cells only for the speaker; template lines and
/// the header before the first cell are left out. A reading for search, not
/// the converter's: it need not be exact, only find the words.
pub fn searchable(text: &str, lang: &str, speaker: bool) -> Searchable {
    let mut out = Searchable::default();
    // (is markdown, comment prefix) of the cell being read; None: skipped.
    let mut cell: Option<(bool, &str)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(prefix) = ["# %%", "// %%"].into_iter().find(|m| trimmed.starts_with(*m)) {
            let header = &trimmed[prefix.len()..];
            let markdown = header.contains("[markdown]") || header.contains("[md]");
            let other_lang = header.contains("lang=") && !header.contains(&format!("lang=\"{lang}\""));
            let tagged = |tag: &str| header.contains(&format!("\"{tag}\""));
            let hidden = tagged("del") || (!speaker && (tagged("notes") || tagged("voiceover")));
            let comment = if prefix.starts_with('#') { "#" } else { "//" };
            cell = (!other_lang && !hidden && !header.contains("[raw]")).then_some((markdown, comment));
            continue;
        }
        let Some((markdown, comment)) = cell else { continue };
        if trimmed.contains("{{") || trimmed.contains("{%") || trimmed.starts_with(&format!("{comment} j2")) {
            continue;
        }
        let line = if markdown {
            let rest = trimmed.strip_prefix(comment).unwrap_or(trimmed);
            rest.strip_prefix(' ').unwrap_or(rest)
        } else {
            line
        };
        if markdown {
            let level = line.chars().take_while(|&c| c == '#').count();
            if (1..=6).contains(&level) && line[level..].starts_with(' ') {
                out.headings.push(line[level..].trim().to_owned());
            }
        }
        if !line.trim().is_empty() {
            out.text.push_str(line.trim());
            out.text.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_of_each_language_are_found_by_their_first_line() {
        let text =
            "# {{ header('A', 'B') }}\n# %% [markdown] lang=\"de\"\n# Hallo\n\n# %% lang = 'en' tags=[\"keep\"]\n";
        let found = facts(text);
        assert_eq!(found.header, Some(("A".into(), "B".into())));
        assert_eq!((found.first_de_cell, found.first_en_cell), (Some(2), Some(5)));
        assert_eq!(facts("# %%\nx = 1\n").first_de_cell, None);
        let refs = facts(
            "# ![a](img/x.png) and [see](data/y.csv \"t\") [web](https://e.org) [top](#top)\n\
             # <img src='img/z.svg' width=3> [up](../other.py) [me](./img/x.png#frag)\nprint(\"[a](code.txt)\")\n",
        );
        let refs: Vec<(u32, &str)> = refs.local_references.iter().map(|(l, t)| (*l, t.as_str())).collect();
        assert_eq!(refs, [(1, "img/x.png"), (1, "data/y.csv"), (2, "img/x.png"), (2, "img/z.svg")]);
    }

    #[test]
    fn search_reads_the_languages_markdown_headings_and_code_but_not_deleted_or_speaker_cells() {
        let deck = "# j2 from 'macros.j2' import header\n# {{ header(\"Titel\", \"Title\") }}\n\n\
                    # %% [markdown] lang=\"de\"\n# ## Schleifen\n# Wiederholen\n\n\
                    # %% [markdown] lang=\"en\"\n# ## Loops\n# Repeat\n\n\
                    # %% [markdown] lang=\"en\" tags=[\"notes\"]\n# Whisper\n\n\
                    # %% tags=[\"del\"]\nsecret = 1\n\n# %%\nfor i in range(3):\n    print(i)\n";
        let en = searchable(deck, "en", false);
        assert_eq!(en.headings, ["Loops"]);
        assert_eq!(en.text, "## Loops\nRepeat\nfor i in range(3):\nprint(i)\n");
        let speaker = searchable(deck, "en", true);
        assert!(speaker.text.contains("Whisper"));
        let de = searchable(deck, "de", false);
        assert_eq!(de.headings, ["Schleifen"]);
        assert!(!de.text.contains("Loops") && !de.text.contains("Titel") && !de.text.contains("secret"));
    }

    #[test]
    fn header_capture_is_greedy() {
        assert_eq!(find_header(r#"# {{ header("A", "B") }}"#), Some(("A".into(), "B".into())));
        assert_eq!(find_header(r#"{{header('a", "b', "c")}}"#), Some(("a\", \"b".into(), "c".into())));
        assert_eq!(find_header("{{ header(\"A\",\n \"B\") }}"), None);
    }
}
