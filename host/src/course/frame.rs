//! A deck page's frame: the title, language, stylesheet, header and footer
//! the course site puts around a page a plugin wrote. A plain type of the
//! plan, so the plan, the site and the engine that applies it share it
//! without importing each other.

use std::collections::BTreeMap;

use crate::course::lang::Lang;

/// How a deck page is framed: what replaces its title and language, and
/// what goes into its head and at the top of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageFrame {
    /// The page title, replacing the one the plugin wrote.
    pub title: String,
    /// The page language, set as the page's `lang` attribute.
    pub lang: Lang,
    /// Appended to the page's head (the shared stylesheet).
    pub head: String,
    /// Put first in the page's body.
    pub header: String,
    /// Put last in the page's body.
    pub footer: String,
    /// Images drawn at more than one pixel per CSS pixel, by their path
    /// relative to the page (`img/flow.png`): each `<img>` showing one is
    /// put in a `<picture>` whose source names its density, so it shows at
    /// the size it was drawn. (A `srcset` on the `<img>` itself would not
    /// do: its `src` counts as a 1x candidate, which a 1x screen picks.)
    pub images: BTreeMap<String, u32>,
}

impl PageFrame {
    /// `page` in this frame. A page that is not UTF-8 HTML with a head and a
    /// body is left as it is.
    pub fn apply(&self, page: &[u8]) -> Vec<u8> {
        let Ok(text) = std::str::from_utf8(page) else { return page.to_vec() };
        let (Some(head_end), Some(body)) = (text.find("</head>"), text.find("<body")) else {
            return page.to_vec();
        };
        let Some(body_open) = text[body..].find('>').map(|i| body + i + 1) else { return page.to_vec() };
        if body_open < head_end {
            return page.to_vec();
        }
        let mut head = text[..head_end].to_owned();
        if let Some(at) = head.find("<html lang=\"") {
            let start = at + "<html lang=\"".len();
            if let Some(len) = head[start..].find('"') {
                head.replace_range(start..start + len, self.lang.code());
            }
        }
        if let (Some(open), Some(close)) = (head.find("<title>"), head.find("</title>")) {
            if open < close {
                head.replace_range(open + "<title>".len()..close, &esc(&self.title));
            }
        }
        let body_close = text.rfind("</body>").filter(|&at| at >= body_open).unwrap_or(text.len());
        let mut out = String::with_capacity(page.len() + self.head.len() + self.header.len() + self.footer.len());
        out.push_str(&head);
        out.push_str(&self.head);
        out.push_str(&text[head_end..body_open]);
        out.push('\n');
        out.push_str(&self.header);
        out.push_str(&self.with_densities(&text[body_open..body_close]));
        out.push_str(&self.footer);
        out.push_str(&text[body_close..]);
        out.into_bytes()
    }
}

impl PageFrame {
    /// `body` with every `<img>` whose `src` is one of
    /// [`images`](Self::images) in a `<picture>` naming its density; an
    /// image the author sized (`width`, `srcset`) keeps the size given.
    fn with_densities(&self, body: &str) -> String {
        if self.images.is_empty() {
            return body.to_owned();
        }
        let mut out = String::with_capacity(body.len());
        let mut rest = body;
        while let Some(at) = rest.find("<img ") {
            out.push_str(&rest[..at]);
            rest = &rest[at..];
            let Some(end) = rest.find('>').map(|i| i + 1) else { break };
            let tag = &rest[..end];
            rest = &rest[end..];
            let src = tag.split(" src=\"").nth(1).and_then(|s| s.split('"').next());
            let density = src
                .filter(|_| !tag.contains("srcset=") && !tag.contains("width="))
                .and_then(|src| self.images.get(percent_encoding::percent_decode_str(src).decode_utf8_lossy().as_ref()))
                .filter(|&&d| d > 1);
            match (src, density) {
                (Some(src), Some(density)) => {
                    out.push_str(&format!("<picture><source srcset=\"{src} {density}x\">{tag}</picture>"))
                }
                _ => out.push_str(tag),
            }
        }
        out.push_str(rest);
        out
    }
}

/// `s` safe as HTML text and attribute values.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `text` as written by [`esc`] or any page: `&amp;`, `&lt;`, `&gt;`,
/// `&quot;`, `&apos;`, `&nbsp;` and numeric references as their characters;
/// anything else stays as written.
pub(crate) fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| Some((entity(&rest[1..end])?, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    let code = match name {
        "amp" => return Some('&'),
        "lt" => return Some('<'),
        "gt" => return Some('>'),
        "quot" => return Some('"'),
        "apos" => return Some('\''),
        "nbsp" => return Some(' '),
        _ => {
            let number = name.strip_prefix('#')?;
            match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            }
        }
    };
    char::from_u32(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dense_image_is_shown_at_its_drawn_size_and_an_author_sized_one_is_left_alone() {
        let frame = PageFrame {
            title: String::new(),
            lang: Lang::En,
            head: String::new(),
            header: String::new(),
            footer: String::new(),
            images: BTreeMap::from([("img/my flow.png".to_owned(), 3), ("img/plain.png".to_owned(), 1)]),
        };
        let body = "<p><img src=\"img/my%20flow.png\" alt=\"F\" /> <img width=\"50\" src=\"img/my%20flow.png\">\
                    <img src=\"img/plain.png\"><img src=\"img/other.png\"></p>";
        assert_eq!(
            frame.with_densities(body),
            "<p><picture><source srcset=\"img/my%20flow.png 3x\"><img src=\"img/my%20flow.png\" alt=\"F\" /></picture> \
             <img width=\"50\" src=\"img/my%20flow.png\"><img src=\"img/plain.png\"><img src=\"img/other.png\"></p>"
        );
    }
}
