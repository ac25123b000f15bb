//! The title a page plugin proposes for its page: the text of the page's
//! HTML `<title>` element. The course home page lists the page under it
//! instead of its file name. The plugin's text is not trusted: only the
//! element's characters are kept (entities decoded, control characters
//! dropped, white space collapsed, at most [`MAX_CHARS`]), and whoever
//! writes it into a page escapes it.
//!
//! Hand-rolled rather than an HTML parser: the title element is raw text
//! (no tags inside), found by its two tags, and nothing else of the page is
//! read; a parser would add a tree of crates for one element.

use crate::course::frame::unescape;

/// The longest title kept; a longer one is cut and ends in `…`.
pub const MAX_CHARS: usize = 100;

/// The page's proposed title, if it has a non-empty one.
pub fn proposed(html: &[u8]) -> Option<String> {
    let html = std::str::from_utf8(html).ok()?;
    let lower = html.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    let words: Vec<String> = unescape(&html[start..end])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let title = words.join(" ");
    if title.is_empty() {
        return None;
    }
    if title.chars().count() > MAX_CHARS {
        let cut: String = title.chars().take(MAX_CHARS - 1).collect();
        return Some(format!("{}…", cut.trim_end()));
    }
    Some(title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_element_is_the_proposal_with_its_entities_decoded() {
        let page =
            b"<!DOCTYPE html><html><HEAD><Title lang=\"en\">\n  Cheat sheet &amp; more &#x2014; v2 </title></head>";
        assert_eq!(proposed(page).as_deref(), Some("Cheat sheet & more \u{2014} v2"));
    }

    #[test]
    fn a_page_without_a_usable_title_proposes_none() {
        assert_eq!(proposed(b"<html><body><p>no title</p></body></html>"), None);
        assert_eq!(proposed(b"<title> \n\t</title>"), None);
        assert_eq!(proposed(b"<title>unclosed"), None);
        assert_eq!(proposed(b"\xff<title>x</title>"), None);
    }

    #[test]
    fn control_characters_and_runs_of_space_collapse_and_a_long_title_is_cut() {
        assert_eq!(proposed(b"<title>a\x07b\r\n\r\nc &unknown; &</title>").as_deref(), Some("a b c &unknown; &"));
        let long = format!("<title>{}</title>", "word ".repeat(40));
        let title = proposed(long.as_bytes()).unwrap();
        assert_eq!(title.chars().count(), MAX_CHARS);
        assert!(title.ends_with("word…") || title.ends_with('…'), "{title}");
    }
}
