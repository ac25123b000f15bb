//! A deck page's frame: the title, language, stylesheet, header and footer
//! the course site puts around a page a plugin wrote. A plain type of the
//! plan, so the plan, the site and the engine that applies it share it
//! without importing each other.

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
        out.push_str(&text[body_open..body_close]);
        out.push_str(&self.footer);
        out.push_str(&text[body_close..]);
        out.into_bytes()
    }
}

/// `s` safe as HTML text and attribute values.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
