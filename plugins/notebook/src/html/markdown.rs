//! Markdown cells to HTML with pulldown-cmark, math kept for MathJax.
//!
//! CommonMark treats `\,` `\\` `\(` as escapes and `_` `*` as emphasis, which
//! mangles TeX. The parser's math extension takes `$…$` and `$$…$$` out of
//! the markdown pass whole; they are written back with dollars, HTML-escaped,
//! which MathJax reads from the text and a reader without scripts sees as
//! the author wrote them. The LaTeX delimiters
//! `\(…\)` and `\[…\]` that Jupyter also accepts are first turned into dollar
//! delimiters, outside code and raw HTML, so the same extension protects them.

use std::ops::Range;

use pulldown_cmark::{html::push_html, CowStr, Event, Options, Parser, Tag};

use super::escape;

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS | Options::ENABLE_MATH
}

/// Byte ranges the LaTeX delimiters must not be looked for in: code spans,
/// code blocks, raw HTML and math already delimited by dollars.
fn protected(text: &str) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    for (event, range) in Parser::new_ext(text, options()).into_offset_iter() {
        match event {
            Event::Code(_) | Event::Html(_) | Event::InlineHtml(_) | Event::InlineMath(_) | Event::DisplayMath(_) => {
                ranges.push(range)
            }
            Event::Start(Tag::CodeBlock(_) | Tag::HtmlBlock) => ranges.push(range),
            _ => {}
        }
    }
    ranges
}

/// Is the character at `at` escaped by an odd run of backslashes before it?
fn escaped(text: &str, at: usize) -> bool {
    text.as_bytes()[..at].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

/// `\(x\)` -> `$x$` and `\[x\]` -> `$$x$$`, where the pair lies outside the
/// protected ranges, holds no `$` and no blank line (a paragraph break ends
/// math in markdown as it does in Jupyter).
fn latex_delimiters_to_dollars(text: &str) -> String {
    if !text.contains("\\(") && !text.contains("\\[") {
        return text.to_owned();
    }
    let protected = protected(text);
    let inside = |at: usize| protected.iter().any(|r| r.contains(&at));
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find('\\') {
        let open = search + found;
        search = open + 1;
        let (close, dollars) = match text.as_bytes().get(open + 1) {
            Some(b'(') => ("\\)", "$"),
            Some(b'[') => ("\\]", "$$"),
            _ => continue,
        };
        if escaped(text, open) || inside(open) {
            continue;
        }
        let body_start = open + 2;
        let Some(len) = text[body_start..].find(close) else { continue };
        let body = &text[body_start..body_start + len];
        let lines: Vec<&str> = body.split('\n').collect();
        let blank_line = lines.len() > 2 && lines[1..lines.len() - 1].iter().any(|l| l.trim().is_empty());
        if body.contains('$') || blank_line || body.trim().is_empty() {
            continue;
        }
        let body = if dollars == "$" { body.trim() } else { body };
        out.push_str(&text[copied..open]);
        out.push_str(dollars);
        out.push_str(body);
        out.push_str(dollars);
        copied = body_start + len + 2;
        search = copied;
    }
    out.push_str(&text[copied..]);
    out
}

/// Math events as MathJax input, escaped for HTML.
fn math_html(tex: &str, display: bool) -> String {
    if display {
        format!("<span class=\"math math-display\">$${}$$</span>", escape(tex))
    } else {
        format!("<span class=\"math math-inline\">${}$</span>", escape(tex))
    }
}

/// A markdown cell (or `text/markdown` output) as HTML.
pub fn to_html(text: &str) -> String {
    let source = latex_delimiters_to_dollars(text);
    let events = Parser::new_ext(&source, options()).map(|event| match event {
        Event::InlineMath(tex) => Event::InlineHtml(CowStr::from(math_html(&tex, false))),
        Event::DisplayMath(tex) => Event::InlineHtml(CowStr::from(math_html(&tex, true))),
        other => other,
    });
    let mut out = String::new();
    push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_math_keeps_thin_spaces_subscripts_stars_and_line_breaks() {
        let html = to_html("Integrate:\n\n$$\\int_0^1 f(x)\\,dx = a*b*c \\\\ x_1 + x_2$$\n");
        assert!(
            html.contains("<span class=\"math math-display\">$$\\int_0^1 f(x)\\,dx = a*b*c \\\\ x_1 + x_2$$</span>"),
            "{html}"
        );
    }

    #[test]
    fn the_reported_formula_keeps_its_thin_spaces() {
        let html = to_html("$$\\frac{\\partial}{\\partial a}(a^b - c)\\, da\\, db\\, dc$$");
        assert!(html.contains("$$\\frac{\\partial}{\\partial a}(a^b - c)\\, da\\, db\\, dc$$"), "{html}");
    }

    #[test]
    fn inline_dollar_math_is_not_emphasis_and_is_html_escaped() {
        let html = to_html("Let $a_1 * b_2 < c_3 \\& d$ hold, *really*.");
        assert_eq!(
            html,
            "<p>Let <span class=\"math math-inline\">$a_1 * b_2 &lt; c_3 \\&amp; d$</span> hold, <em>really</em>.</p>\n"
        );
    }

    #[test]
    fn latex_delimiters_survive_markdown_too() {
        let html = to_html("Inline \\( x_i * y_i \\) and\n\n\\[\n\\sum_i x_i\\,y_i \\\\ z_*\n\\]\n");
        assert!(html.contains("<span class=\"math math-inline\">$x_i * y_i$</span>"), "{html}");
        assert!(html.contains("<span class=\"math math-display\">$$\n\\sum_i x_i\\,y_i \\\\ z_*\n$$</span>"), "{html}");
    }

    #[test]
    fn delimiters_in_code_or_escaped_stay_text() {
        let html = to_html("`\\(a_b\\)` and \\\\(no\\\\) and\n\n```\n\\[x\\]\n```\n");
        assert!(html.contains("<code>\\(a_b\\)</code>"), "{html}");
        assert!(!html.contains("math-inline"), "{html}");
        assert!(html.contains("<pre><code>\\[x\\]\n</code></pre>"), "{html}");
    }

    #[test]
    fn tables_and_inline_code_still_render() {
        let html = to_html("| f | what |\n|---|---|\n| `len()` | $n$ items |\n");
        assert!(html.contains("<td><code>len()</code></td>"), "{html}");
        assert!(html.contains("<td><span class=\"math math-inline\">$n$</span> items</td>"), "{html}");
    }
}
