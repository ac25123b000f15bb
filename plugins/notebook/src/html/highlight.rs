//! Code cells highlighted with syntect's grammars but written with
//! Pygments' short token classes (`k`, `kn`, `nb`, `nn`, `s2`, ...), the
//! class set nbconvert pages use, so the page's stylesheet can colour them
//! as JupyterLab does (keywords bold green, builtins green, imported module
//! names in the variable colour, definitions blue).

use std::sync::OnceLock;

use syntect::parsing::{ParseState, Scope, ScopeStack, SyntaxSet};
use syntect::util::LinesWithEndings;

use super::escape;

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(SyntaxSet::load_defaults_newlines)
}

/// The grammar for a deck language, by its name (`ProgLang::name`), so a new
/// language falls back to plain text instead of failing to compile here.
fn extension(lang: &str) -> &'static str {
    match lang {
        "python" => "py",
        "cpp" => "cpp",
        "csharp" => "cs",
        "java" => "java",
        // No TypeScript grammar ships with syntect; JavaScript is close.
        "typescript" => "js",
        "rust" => "rs",
        _ => "txt",
    }
}

/// Pygments class for a TextMate scope (dotted name), or None to look at the
/// enclosing scope. Order matters: the first matching prefix wins.
fn class_of(scope: &str) -> Option<&'static str> {
    const RULES: &[(&str, &str)] = &[
        ("comment.block.documentation", "sd"),
        ("comment.block", "cm"),
        ("comment", "c1"),
        ("punctuation.definition.comment", "c1"),
        ("constant.character.escape", "se"),
        ("string.quoted.docstring", "sd"),
        ("string.quoted.double", "s2"),
        ("string.quoted.single", "s1"),
        ("string.regexp", "sr"),
        ("string", "s"),
        ("constant.numeric.integer", "mi"),
        ("constant.numeric.float", "mf"),
        ("constant.numeric", "m"),
        ("constant.language", "kc"),
        ("keyword.control.import", "kn"),
        ("keyword.other.import", "kn"),
        ("keyword.control.directive", "cp"),
        ("keyword.other.using", "kn"),
        ("keyword.other.package", "kn"),
        ("keyword.operator.word", "ow"),
        ("keyword.operator.logical.python", "ow"),
        ("keyword.operator", "o"),
        ("keyword", "k"),
        ("storage.type.string", "sa"),
        ("storage.modifier.conversion", "si"),
        ("storage.type.function", "k"),
        ("storage.type.class", "k"),
        ("storage.type.namespace", "k"),
        ("storage.type.struct", "k"),
        ("storage.type.enum", "k"),
        ("storage.type.interface", "k"),
        ("storage.type.impl", "k"),
        ("storage.type.trait", "k"),
        ("storage.type.module", "k"),
        ("storage.type.mod", "k"),
        ("storage.modifier", "k"),
        ("storage.type", "kt"),
        ("support.function.builtin", "nb"),
        ("support.function.magic", "fm"),
        ("support.type.exception", "ne"),
        ("support.type", "nb"),
        ("support.class", "nc"),
        ("variable.language", "bp"),
        ("entity.name.function.decorator", "nd"),
        ("meta.annotation", "nd"),
        ("punctuation.definition.annotation", "nd"),
        ("entity.name.function", "nf"),
        ("entity.name.class", "nc"),
        ("entity.name.struct", "nc"),
        ("entity.name.enum", "nc"),
        ("entity.name.interface", "nc"),
        ("entity.name.trait", "nc"),
        ("entity.name.type", "nc"),
        ("entity.name.namespace", "nn"),
        ("entity.name.module", "nn"),
        ("meta.import-name", "nn"),
        ("meta.statement.import", "nn"),
        ("meta.path", "nn"),
        ("entity.other.inherited-class", "nc"),
        ("entity.name.tag", "nt"),
        ("entity.other.attribute-name", "na"),
        ("variable.parameter", "n"),
        ("punctuation.section.interpolation", "si"),
        ("punctuation", "p"),
    ];
    RULES.iter().find(|(prefix, _)| scope.starts_with(prefix)).map(|(_, class)| *class)
}

/// The token's class: the innermost scope that maps to one, except that
/// inside a string, comment or number every part (quotes, comment markers,
/// the decimal point) takes the outermost such class, bar escapes and
/// interpolations.
fn class_for(stack: &[Scope]) -> Option<&'static str> {
    let mut container = None;
    let mut inner = None;
    for scope in stack {
        let name = scope.build_string();
        if name.starts_with("meta.interpolation") || (name.starts_with("source.") && name.ends_with(".embedded")) {
            container = None;
            inner = None;
            continue;
        }
        if let Some(class) = class_of(&name) {
            inner = Some(class);
            let whole = (class.starts_with('c') && class != "cp")
                || (class.starts_with('s') && !matches!(class, "se" | "si" | "sa"))
                || class.starts_with('m');
            if whole && container.is_none() {
                container = Some(class);
            }
        }
    }
    match inner {
        Some(class @ ("se" | "si")) => Some(class),
        _ => container.or(inner),
    }
}

/// Append `text` as one token of `class`, merging it with the previous token
/// of the same class so runs like `:=` stay one span.
fn push_token(out: &mut String, current: &mut Option<&'static str>, class: Option<&'static str>, text: &str) {
    if text.is_empty() {
        return;
    }
    // Whitespace takes no colour: keep it outside spans, as Pygments does.
    let class = if text.trim().is_empty() { None } else { class };
    if class != *current {
        if current.is_some() {
            out.push_str("</span>");
        }
        if let Some(c) = class {
            out.push_str(&format!("<span class=\"{c}\">"));
        }
        *current = class;
    }
    out.push_str(&escape(text));
}

/// Highlighted HTML for `code` (no `<pre>`): escaped text in Pygments-class
/// spans, wrapped in one span naming the grammar's root scope.
pub fn highlight(code: &str, lang: &str) -> String {
    let set = syntaxes();
    let syntax = set.find_syntax_by_extension(extension(lang)).unwrap_or_else(|| set.find_syntax_plain_text());
    let mut state = ParseState::new(syntax);
    let mut stack = ScopeStack::new();
    let mut body = String::new();
    let mut current = None;
    for line in LinesWithEndings::from(code) {
        let Ok(ops) = state.parse_line(line, set) else { return escape(code) };
        let mut start = 0;
        for (pos, op) in ops {
            let pos = pos.min(line.len());
            push_token(&mut body, &mut current, class_for(stack.as_slice()), &line[start..pos]);
            start = pos;
            if stack.apply(&op).is_err() {
                return escape(code);
            }
        }
        push_token(&mut body, &mut current, class_for(stack.as_slice()), &line[start..]);
    }
    if current.is_some() {
        body.push_str("</span>");
    }
    let root = syntax.scope.build_string().replace('.', " ");
    format!("<span class=\"{}\">{body}</span>", escape(&root))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(html: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut rest = html;
        while let Some(pos) = rest.find("<span class=\"") {
            rest = &rest[pos + 13..];
            let (class, after) = rest.split_once("\">").unwrap_or(("", ""));
            let text = after.split("</span>").next().unwrap_or("").split('<').next().unwrap_or("");
            out.push((class.to_owned(), text.to_owned()));
            rest = after;
        }
        out
    }

    fn class_of_token(html: &str, token: &str) -> Option<String> {
        spans(html).into_iter().find(|(_, t)| t == token).map(|(c, _)| c)
    }

    #[test]
    fn python_tokens_get_pygments_classes() {
        let code = "import numpy as np\nfrom os import path\n\ndef area(r):\n    \"\"\"Doc.\"\"\"\n    # why\n    return len('ab') * 3.5 + 2 if r is not None else True\n\nclass Shape(object):\n    pass\n";
        let html = highlight(code, "python");
        assert!(html.starts_with("<span class=\"source python\">"), "{html}");
        let expect = [
            ("import", "kn"),
            ("as", "kn"),
            ("from", "kn"),
            ("def", "k"),
            ("area", "nf"),
            ("return", "k"),
            ("len", "nb"),
            ("&#39;ab&#39;", "s1"),
            ("&quot;&quot;&quot;Doc.&quot;&quot;&quot;", "sd"),
            ("3.5", "mf"),
            ("2", "mi"),
            ("None", "kc"),
            ("True", "kc"),
            ("class", "k"),
            ("Shape", "nc"),
            ("pass", "k"),
            ("# why\n", "c1"),
        ];
        for (token, class) in expect {
            assert_eq!(class_of_token(&html, token).as_deref(), Some(class), "{token}: {html}");
        }
        assert!(!html.contains("<span class=\"\">"), "{html}");
    }

    #[test]
    fn imported_module_names_are_namespace_tokens() {
        let html = highlight("import numpy as np\n", "python");
        assert_eq!(class_of_token(&html, "numpy").as_deref(), Some("nn"), "{html}");
    }

    #[test]
    fn strings_are_one_token_with_their_quotes_but_interpolations_are_code() {
        let html = highlight("s = f\"{len(x)!r} \\n\"\n", "python");
        assert_eq!(class_of_token(&html, "f").as_deref(), Some("sa"), "{html}");
        assert_eq!(class_of_token(&html, "&quot;").as_deref(), Some("s2"), "{html}");
        assert_eq!(class_of_token(&html, "{").as_deref(), Some("si"), "{html}");
        assert_eq!(class_of_token(&html, "len").as_deref(), Some("nb"), "{html}");
        assert_eq!(class_of_token(&html, "\\n").as_deref(), Some("se"), "{html}");
    }

    #[test]
    fn text_is_escaped_and_unknown_languages_are_plain() {
        let html = highlight("a < b && c > d\n", "no-such-language");
        assert_eq!(html, "<span class=\"text plain\">a &lt; b &amp;&amp; c &gt; d\n</span>");
    }
}
