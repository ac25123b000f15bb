//! Stage 4: one self-contained HTML page per variant, in the look of the
//! classic Jupyter notebook: prompts, highlighted code (syntect, CSS
//! classes), markdown (pulldown-cmark, tables and raw HTML; math left for
//! MathJax), and every kind of output.

use std::sync::OnceLock;

use pulldown_cmark::{html::push_html, Options, Parser};
use serde_json::Value;
use syntect::html::{ClassStyle, ClassedHTMLGenerator};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

use crate::lang::ProgLang;

const CSS: &str = r#"
body{margin:0;background:#fff;font-family:"Helvetica Neue",Helvetica,Arial,sans-serif;font-size:14px;line-height:1.43;color:#000}
#notebook{padding-top:20px;padding-bottom:20px}
#notebook-container{max-width:1140px;margin:0 auto;padding:15px;background:#fff;box-shadow:0 0 12px 1px rgba(87,87,87,.2)}
.cell{display:flex;flex-direction:column;padding:5px;margin:0;border:1px solid transparent;border-radius:2px;width:100%;box-sizing:border-box}
.input,.output_area{display:flex;flex-direction:row;align-items:stretch}
.prompt{min-width:14ex;padding:.4em;text-align:right;font-family:monospace;line-height:1.21429em;flex:none;user-select:none}
.input_prompt{color:#303f9f;border-top:1px solid transparent}
.output_prompt{color:#d84315}
.inner_cell,.output_subarea{flex:1;min-width:0}
.input_area{border:1px solid #cfcfcf;border-radius:2px;background:#f7f7f7;line-height:1.21429em}
.input_area pre{margin:0;padding:.4em;background:transparent;border:0;font-size:14px;white-space:pre-wrap;overflow-x:auto}
pre{font-family:Menlo,Monaco,Consolas,"Courier New",monospace}
.output_subarea{padding:.4em .4em 0 .4em;overflow-x:auto}
.output_subarea pre{margin:0;padding:0;white-space:pre-wrap;word-wrap:break-word}
.output_stderr{background:#fdd}
.output_subarea img{max-width:100%}
.text_cell_render{padding:.5em .5em .5em .4em;outline:none;overflow-x:auto}
.text_cell .prompt{display:none}
.text_cell_render table{border-collapse:collapse;margin:1em 0}
.text_cell_render th,.text_cell_render td{border:1px solid #ccc;padding:4px 8px}
.text_cell_render img{max-width:100%}
.raw_cell pre{margin:0;padding:.4em}
.c,.comment{color:#408080;font-style:italic}.keyword,.storage{color:#008000;font-weight:bold}
.string{color:#ba2121}.constant.numeric{color:#666}.entity.name.function{color:#00f}
.entity.name.class,.entity.name.type{color:#00f;font-weight:bold}.support.function{color:#008000}
.keyword.operator{color:#666;font-weight:normal}.constant.language{color:#008000;font-weight:bold}
.ansi-bold{font-weight:bold}
"#;

const MATHJAX: &str = r#"<script>window.MathJax={tex:{inlineMath:[['$','$'],['\\(','\\)']],displayMath:[['$$','$$'],['\\[','\\]']],processEscapes:true}};</script>
<script async src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml-full.js"></script>"#;

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(SyntaxSet::load_defaults_newlines)
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

fn highlight(code: &str, lang: ProgLang) -> String {
    let set = syntaxes();
    let token = match lang {
        ProgLang::Python => "py",
        ProgLang::Cpp => "cpp",
        ProgLang::CSharp => "cs",
        ProgLang::Java => "java",
        // No TypeScript grammar ships with syntect; JavaScript is close.
        ProgLang::TypeScript => "js",
    };
    let syntax = set.find_syntax_by_extension(token).unwrap_or_else(|| set.find_syntax_plain_text());
    let mut generator = ClassedHTMLGenerator::new_with_class_style(syntax, set, ClassStyle::Spaced);
    for line in LinesWithEndings::from(code) {
        if generator.parse_html_for_line_which_includes_newline(line).is_err() {
            return escape(code);
        }
    }
    generator.finalize()
}

fn markdown(text: &str) -> String {
    let mut out = String::new();
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    push_html(&mut out, Parser::new_ext(text, options));
    out
}

/// ANSI SGR colours (tracebacks) to HTML spans; everything else escaped.
/// Hand-written: Jupyter tracebacks use only bold and the 16 basic colours,
/// and the converter crates on crates.io either emit classes that need their
/// own stylesheet or do not escape the text around the codes.
pub fn ansi_to_html(text: &str) -> String {
    const COLORS: [&str; 8] = ["#000", "#e75c58", "#00a250", "#ddb62b", "#208ffb", "#d160c4", "#60c6c8", "#c5c1b4"];
    let mut out = String::new();
    let mut open = false;
    let mut rest = text;
    while let Some(pos) = rest.find('\u{1b}') {
        out.push_str(&escape(&rest[..pos]));
        rest = &rest[pos + 1..];
        let Some(body) = rest.strip_prefix('[') else { continue };
        let end = body.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(body.len());
        let (params, command) = (&body[..end], body[end..].chars().next());
        rest = body.get(end + 1..).unwrap_or("");
        if command != Some('m') {
            continue;
        }
        if open {
            out.push_str("</span>");
            open = false;
        }
        let mut style = Vec::new();
        for p in params.split(';').filter_map(|p| p.parse::<u32>().ok()) {
            match p {
                1 => style.push("font-weight:bold".to_owned()),
                30..=37 => style.push(format!("color:{}", COLORS[(p - 30) as usize])),
                40..=47 => style.push(format!("background-color:{}", COLORS[(p - 40) as usize])),
                90..=97 => style.push(format!("color:{}", COLORS[(p - 90) as usize])),
                _ => {}
            }
        }
        if !style.is_empty() {
            out.push_str(&format!("<span style=\"{}\">", style.join(";")));
            open = true;
        }
    }
    out.push_str(&escape(rest));
    if open {
        out.push_str("</span>");
    }
    out
}

fn rich(data: &Value) -> String {
    if let Some(html) = data.get("text/html") {
        return format!("<div class=\"output_html rendered_html\">{}</div>", text_of(html));
    }
    if let Some(svg) = data.get("image/svg+xml") {
        return format!("<div class=\"output_svg\">{}</div>", text_of(svg));
    }
    for mime in ["image/png", "image/jpeg", "image/gif"] {
        if let Some(b64) = data.get(mime) {
            let b64: String = text_of(b64).chars().filter(|c| !c.is_whitespace()).collect();
            return format!("<div class=\"output_png\"><img src=\"data:{mime};base64,{b64}\"></div>");
        }
    }
    if let Some(md) = data.get("text/markdown") {
        return format!("<div class=\"output_markdown rendered_html\">{}</div>", markdown(&text_of(md)));
    }
    if let Some(latex) = data.get("text/latex") {
        return format!("<div class=\"output_latex\">{}</div>", escape(&text_of(latex)));
    }
    if let Some(text) = data.get("text/plain") {
        return format!("<div class=\"output_text\"><pre>{}</pre></div>", ansi_to_html(&text_of(text)));
    }
    String::new()
}

fn outputs(cell: &Value, out: &mut String) {
    let Some(list) = cell["outputs"].as_array().filter(|l| !l.is_empty()) else { return };
    out.push_str("<div class=\"output_wrapper\"><div class=\"output\">");
    // Consecutive stream messages of one stream show as one block, as in Jupyter.
    let mut merged: Vec<Value> = Vec::new();
    for o in list {
        if let (Some(last), "stream") = (merged.last_mut(), o["output_type"].as_str().unwrap_or("")) {
            if last["output_type"] == "stream" && last["name"] == o["name"] {
                let text = text_of(&last["text"]) + &text_of(&o["text"]);
                last["text"] = Value::from(text);
                continue;
            }
        }
        merged.push(o.clone());
    }
    for o in &merged {
        let (prompt, body) = match o["output_type"].as_str().unwrap_or("") {
            "stream" => {
                let name = o["name"].as_str().unwrap_or("stdout");
                (
                    String::new(),
                    format!(
                        "<div class=\"output_text output_stream output_{name}\"><pre>{}</pre></div>",
                        ansi_to_html(&text_of(&o["text"]))
                    ),
                )
            }
            "execute_result" => {
                let n = o["execution_count"].as_u64().map(|n| n.to_string()).unwrap_or_default();
                (format!("Out[{n}]:"), rich(&o["data"]))
            }
            "display_data" => (String::new(), rich(&o["data"])),
            "error" => {
                let tb: Vec<String> =
                    o["traceback"].as_array().map(|t| t.iter().map(text_of).collect()).unwrap_or_default();
                (
                    String::new(),
                    format!(
                        "<div class=\"output_text output_error\"><pre>{}</pre></div>",
                        ansi_to_html(&tb.join("\n"))
                    ),
                )
            }
            _ => continue,
        };
        out.push_str(&format!(
            "<div class=\"output_area\"><div class=\"prompt output_prompt\">{prompt}</div><div class=\"output_subarea\">{body}</div></div>"
        ));
    }
    out.push_str("</div></div>");
}

fn cell_html(cell: &Value, lang: ProgLang, out: &mut String) {
    let kind = cell["cell_type"].as_str().unwrap_or("raw");
    let class = match kind {
        "code" => "code_cell",
        "markdown" => "text_cell",
        _ => "raw_cell",
    };
    let tags: String = cell["metadata"]["tags"]
        .as_array()
        .map(|t| t.iter().filter_map(Value::as_str).map(|t| format!(" celltag_{}", escape(t))).collect())
        .unwrap_or_default();
    let id = escape(cell["id"].as_str().unwrap_or(""));
    out.push_str(&format!("<div class=\"cell border-box-sizing {class} rendered{tags}\" id=\"cell-id={id}\">"));
    let source = text_of(&cell["source"]);
    match kind {
        "code" => {
            let n = cell["execution_count"].as_u64().map(|n| n.to_string()).unwrap_or_else(|| " ".into());
            out.push_str(&format!(
                "<div class=\"input\"><div class=\"prompt input_prompt\">In&nbsp;[{n}]:</div><div class=\"inner_cell\"><div class=\"input_area\"><div class=\"highlight\"><pre>{}</pre></div></div></div></div>",
                highlight(&source, lang)
            ));
            outputs(cell, out);
        }
        "markdown" => {
            out.push_str(&format!(
                "<div class=\"inner_cell\"><div class=\"text_cell_render rendered_html\">{}</div></div>",
                markdown(&source)
            ));
        }
        _ => out.push_str(&format!("<div class=\"inner_cell\"><pre>{}</pre></div>", escape(&source))),
    }
    out.push_str("</div>\n");
}

/// The page for one notebook (nbformat 4 JSON).
pub fn render(notebook: &Value, lang: ProgLang) -> String {
    let mut body = String::new();
    for cell in notebook["cells"].as_array().into_iter().flatten() {
        cell_html(cell, lang, &mut body);
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1.0\">\n<title>Notebook</title>\n<style>{CSS}</style>\n{MATHJAX}\n</head>\n<body>\n<main><div id=\"notebook\"><div class=\"container\" id=\"notebook-container\">\n{body}</div></div></main>\n</body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_colours_become_spans_and_text_is_escaped() {
        let html = ansi_to_html("\u{1b}[0;31mZeroDivisionError\u{1b}[0m: <b>");
        assert_eq!(html, "<span style=\"color:#e75c58\">ZeroDivisionError</span>: &lt;b&gt;");
    }
}
