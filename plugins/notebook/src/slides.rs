//! A deck as a reveal.js presentation: the executed notebook's cells, each
//! rendered as on the HTML page, grouped into slides by the slideshow
//! metadata their tags set (`slide`, `subslide`, `fragment`, `notes`). Only
//! the speaker's kind keeps `notes` cells, so only its presentation carries
//! speaker notes. The page loads nothing itself: the host puts it in a frame
//! that brings reveal.js, MathJax and the notes plugin from the course's
//! assets folder.

use serde_json::Value;

use crate::html;
use crate::lang::ProgLang;

const CSS: &str = include_str!("../assets/slides.css");

/// One slide: its cells and its notes.
#[derive(Default)]
struct Slide {
    /// Below the previous slide (a sub-slide), not beside it.
    vertical: bool,
    body: String,
    notes: String,
}

/// The slides so far and the one being filled.
#[derive(Default)]
struct Deck {
    done: Vec<Slide>,
    current: Slide,
}

impl Deck {
    /// A new slide, unless the current one is still empty (a deck's first
    /// cell usually starts a slide).
    fn start(&mut self, vertical: bool) {
        if self.current.body.is_empty() && self.current.notes.is_empty() {
            self.current.vertical &= vertical;
            return;
        }
        let done = std::mem::replace(&mut self.current, Slide { vertical, ..Slide::default() });
        self.done.push(done);
    }

    /// Horizontal `<section>`s holding the vertical ones.
    fn html(self) -> String {
        let mut out = String::new();
        for (i, slide) in self.done.into_iter().chain([self.current]).enumerate() {
            if !slide.vertical || i == 0 {
                if i > 0 {
                    out.push_str("</section>\n");
                }
                out.push_str("<section>\n");
            }
            out.push_str("<section>\n");
            out.push_str(&slide.body);
            if !slide.notes.is_empty() {
                out.push_str("<aside class=\"notes\">\n");
                out.push_str(&slide.notes);
                out.push_str("</aside>\n");
            }
            out.push_str("</section>\n");
        }
        out.push_str("</section>\n");
        out
    }
}

fn slide_type(cell: &Value) -> &str {
    cell["metadata"]["slideshow"]["slide_type"].as_str().unwrap_or("-")
}

/// A notes cell's text without the highlight the notebooks give it.
fn unwrap_note(cell: &Value) -> Value {
    let mut cell = cell.clone();
    let source = match &cell["source"] {
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect::<String>(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    };
    let inner = source
        .strip_prefix("<div style='background:yellow'>\n")
        .and_then(|s| s.strip_suffix("\n</div>"))
        .unwrap_or(&source)
        .to_owned();
    cell["source"] = Value::from(inner);
    cell
}

/// The presentation for one executed notebook (nbformat 4 JSON).
pub fn render(notebook: &Value, lang: ProgLang) -> String {
    let mut deck = Deck::default();
    for cell in notebook["cells"].as_array().into_iter().flatten() {
        let kind = slide_type(cell);
        match kind {
            "slide" => deck.start(false),
            "subslide" => deck.start(true),
            "skip" => continue,
            _ => {}
        }
        if kind == "notes" {
            html::cell_html(&unwrap_note(cell), lang, &mut deck.current.notes);
            continue;
        }
        let body = &mut deck.current.body;
        if kind == "fragment" {
            body.push_str("<div class=\"fragment\">");
            html::cell_html(cell, lang, body);
            body.push_str("</div>\n");
        } else {
            html::cell_html(cell, lang, body);
        }
    }
    let body = deck.html();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1.0\">\n<title>Slides</title>\n<style>{}{CSS}</style>\n</head>\n<body>\n<div class=\"reveal\"><div class=\"slides\">\n{body}</div></div>\n</body>\n</html>\n",
        html::CSS
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn md(id: &str, source: &str, slide_type: Option<&str>) -> Value {
        let metadata = match slide_type {
            Some(t) => json!({"slideshow": {"slide_type": t}}),
            None => json!({}),
        };
        json!({"cell_type": "markdown", "id": id, "source": source, "metadata": metadata})
    }

    fn slides(cells: Value) -> String {
        render(&json!({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), ProgLang::Python)
    }

    #[test]
    fn tags_make_slides_sub_slides_fragments_and_notes() {
        let html = slides(json!([
            md("t", "# Title", Some("slide")),
            md("a", "First", Some("slide")),
            md("n", "<div style='background:yellow'>\nSay hello\n</div>", Some("notes")),
            md("b", "Below", Some("subslide")),
            md("f", "Then this", Some("fragment")),
            md("c", "Second", Some("slide")),
        ]));
        let body = &html[html.find("<div class=\"slides\">").expect("slides")..];
        // Three horizontal slides; the second has two vertical ones.
        assert_eq!(body.matches("<section>\n<section>").count(), 3, "{body}");
        assert_eq!(body.matches("<section>").count(), 7, "{body}");
        assert_eq!(body.matches("<div class=\"fragment\">").count(), 1, "{body}");
        let notes = body.split("<aside class=\"notes\">").nth(1).expect("notes").split("</aside>").next().expect("end");
        assert!(notes.contains("Say hello") && !notes.contains("yellow"), "{notes}");
        let first = body.find("First").expect("first");
        let aside = body.find("<aside").expect("aside");
        let below = body.find("Below").expect("below");
        assert!(first < aside && aside < below, "the note belongs to the slide it follows: {body}");
    }

    #[test]
    fn cells_before_any_tag_open_the_first_slide_and_a_deck_without_notes_has_none() {
        let html = slides(json!([md("a", "Intro", None), md("b", "More", Some("slide"))]));
        assert_eq!(html.matches("<section>\n<section>").count(), 2, "{html}");
        assert!(!html.contains("<aside"), "{html}");
    }
}
