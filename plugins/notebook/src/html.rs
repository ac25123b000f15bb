//! Stage 4: one self-contained HTML page per variant, in the look of the
//! classic Jupyter notebook: prompts, highlighted code ([`highlight`]),
//! markdown with math left as written ([`markdown`]), and every kind of
//! output, ANSI colours included ([`ansi`]). The page loads nothing: the
//! host puts it in the course's frame, which brings navigation, the shared
//! stylesheet and a local MathJax.

mod ansi;
mod highlight;
mod markdown;

use serde_json::Value;

use crate::lang::ProgLang;

pub(crate) const CSS: &str = include_str!("../assets/page.css");

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

/// ANSI-coloured text (streams, plain-text results) as HTML.
pub fn ansi_to_html(text: &str) -> String {
    ansi::to_html(text)
}

/// A traceback with its colours, the line IPython's arrow (`---->`) points
/// at set apart so the eye finds it.
fn traceback_html(text: &str) -> String {
    let lines = ansi::lines(text);
    let last = lines.len().saturating_sub(1);
    let mut out = String::new();
    for (i, line) in lines.into_iter().enumerate() {
        let newline = if i < last { "\n" } else { "" };
        let arrow = line.plain.trim_start();
        if arrow.starts_with("-->") || (arrow.starts_with("--") && arrow.trim_start_matches('-').starts_with('>')) {
            out.push_str(&format!("<span class=\"tb-failing-line\">{}{newline}</span>", line.html));
        } else {
            out.push_str(&line.html);
            out.push_str(newline);
        }
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
        return format!("<div class=\"output_markdown rendered_html\">{}</div>", markdown::to_html(&text_of(md)));
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
                        traceback_html(&tb.join("\n"))
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

pub(crate) fn cell_html(cell: &Value, lang: ProgLang, out: &mut String) {
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
            // An empty cell never ran, whatever count a kernel echoed for it.
            let n = match cell["execution_count"].as_u64() {
                Some(n) if !source.trim().is_empty() => n.to_string(),
                _ => " ".to_owned(),
            };
            let name = lang.name();
            out.push_str(&format!(
                "<div class=\"input\"><div class=\"prompt input_prompt\">In&nbsp;[{n}]:</div><div class=\"inner_cell\"><div class=\"input_area\"><div class=\"highlight hl-{name}\"><pre>{}</pre></div></div></div></div>",
                highlight::highlight(&source, name)
            ));
            outputs(cell, out);
        }
        "markdown" => {
            out.push_str(&format!(
                "<div class=\"inner_cell\"><div class=\"text_cell_render rendered_html\">{}</div></div>",
                markdown::to_html(&source)
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
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1.0\">\n<title>Notebook</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main><div id=\"notebook\"><div class=\"container\" id=\"notebook-container\">\n{body}</div></div></main>\n</body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(cells: Value) -> String {
        render(&json!({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), ProgLang::Python)
    }

    #[test]
    fn an_empty_code_cell_shows_a_blank_prompt_even_with_an_echoed_count() {
        let html = page(json!([
            {"cell_type": "code", "id": "a", "source": "x = 1", "execution_count": 3, "outputs": [], "metadata": {}},
            {"cell_type": "code", "id": "b", "source": "\n  ", "execution_count": 3, "outputs": [], "metadata": {}}
        ]));
        assert!(html.contains("In&nbsp;[3]:"), "{html}");
        assert_eq!(html.matches("In&nbsp;[ ]:").count(), 1, "{html}");
    }

    #[test]
    fn the_line_a_traceback_points_at_is_marked_and_keeps_its_colours() {
        let tb = [
            "\u{1b}[31mZeroDivisionError\u{1b}[39m    Traceback (most recent call last)",
            "\u{1b}[32m      1\u{1b}[39m y = \u{1b}[32m2\u{1b}[39m\n\u{1b}[32m----> \u{1b}[39m\u{1b}[32m2\u{1b}[39m f(\u{1b}[32m0\u{1b}[39m)\n",
            "\u{1b}[31mZeroDivisionError\u{1b}[39m: division by zero",
        ];
        let html = page(json!([{"cell_type": "code", "id": "a", "source": "f(0)", "execution_count": 1,
            "outputs": [{"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": tb}],
            "metadata": {"tags": ["raises-exception"]}}]));
        assert!(
            html.contains("<span class=\"tb-failing-line\"><span class=\"ansi-green-fg\">----&gt; </span><span class=\"ansi-green-fg\">2</span> f(<span class=\"ansi-green-fg\">0</span>)\n</span>"),
            "{html}"
        );
        assert!(
            html.contains("<span class=\"ansi-red-fg\">ZeroDivisionError</span>: division by zero</pre>"),
            "{html}"
        );
        assert_eq!(html.matches("tb-failing-line\"").count(), 1, "{html}");
    }

    #[test]
    fn markdown_math_reaches_the_page_untouched() {
        let html = page(json!([{"cell_type": "markdown", "id": "m", "metadata": {},
            "source": "$$(a^b - c)\\, da\\, db\\, dc$$"}]));
        assert!(html.contains("$$(a^b - c)\\, da\\, db\\, dc$$"), "{html}");
    }

    #[test]
    fn the_page_is_the_same_for_the_same_notebook() {
        let cells = json!([{"cell_type": "code", "id": "a", "source": "import os\nprint(len(os.sep))", "execution_count": 1,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "1\n"}], "metadata": {}}]);
        assert_eq!(page(cells.clone()), page(cells));
    }
}
