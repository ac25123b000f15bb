//! ANSI SGR escapes (kernel tracebacks, coloured prints) to HTML.
//!
//! Hand-written: the converter crates on crates.io either emit classes that
//! need their own stylesheet, do not escape the text around the codes, or do
//! not keep state across codes (IPython writes `ESC[1m` and `ESC[31m`
//! separately and expects both to hold). The sixteen basic colours become
//! classes styled by the page (Jupyter's palette); 256-colour and true-colour
//! codes, which IPython uses for keywords in tracebacks, become inline styles.

use super::escape;

const NAMES: [&str; 8] = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Color {
    /// 0-7 basic, 8-15 intense.
    Basic(u8),
    Rgb(u8, u8, u8),
}

impl Color {
    /// xterm's 256-colour table: 16 basic, a 6x6x6 cube, 24 greys.
    fn indexed(n: u32) -> Option<Color> {
        let n = u8::try_from(n).ok()?;
        Some(match n {
            0..=15 => Color::Basic(n),
            16..=231 => {
                let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
                let i = n - 16;
                Color::Rgb(level(i / 36), level((i / 6) % 6), level(i % 6))
            }
            _ => {
                let g = 8 + 10 * (n - 232);
                Color::Rgb(g, g, g)
            }
        })
    }

    fn class(self, layer: &str) -> Option<String> {
        match self {
            Color::Basic(n) => {
                let intense = if n >= 8 { "-intense" } else { "" };
                Some(format!("ansi-{}{intense}-{layer}", NAMES[usize::from(n % 8)]))
            }
            Color::Rgb(..) => None,
        }
    }

    fn style(self, property: &str) -> Option<String> {
        match self {
            Color::Rgb(r, g, b) => Some(format!("{property}:rgb({r},{g},{b})")),
            Color::Basic(_) => None,
        }
    }
}

/// The graphic state SGR codes change; it carries across codes and lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct State {
    fg: Option<Color>,
    bg: Option<Color>,
    bold: bool,
    faint: bool,
    italic: bool,
    underline: bool,
    inverse: bool,
}

impl State {
    /// Extended colour after 38/48: `5;n` or `2;r;g;b`; consumes its parameters.
    fn extended(params: &mut impl Iterator<Item = u32>) -> Option<Color> {
        match params.next()? {
            5 => Color::indexed(params.next()?),
            2 => {
                let mut channel = || params.next().and_then(|v| u8::try_from(v).ok());
                let (r, g, b) = (channel()?, channel()?, channel()?);
                Some(Color::Rgb(r, g, b))
            }
            _ => None,
        }
    }

    fn apply(&mut self, params: &str) {
        // An empty parameter list, or an empty field, means 0 (reset).
        let mut codes = params.split(';').map(|p| p.parse::<u32>().unwrap_or(0));
        while let Some(code) = codes.next() {
            match code {
                0 => *self = State::default(),
                1 => self.bold = true,
                2 => self.faint = true,
                3 => self.italic = true,
                4 => self.underline = true,
                7 => self.inverse = true,
                22 => (self.bold, self.faint) = (false, false),
                23 => self.italic = false,
                24 => self.underline = false,
                27 => self.inverse = false,
                30..=37 => self.fg = Some(Color::Basic((code - 30) as u8)),
                38 => self.fg = State::extended(&mut codes),
                39 => self.fg = None,
                40..=47 => self.bg = Some(Color::Basic((code - 40) as u8)),
                48 => self.bg = State::extended(&mut codes),
                49 => self.bg = None,
                90..=97 => self.fg = Some(Color::Basic((code - 90 + 8) as u8)),
                100..=107 => self.bg = Some(Color::Basic((code - 100 + 8) as u8)),
                _ => {}
            }
        }
    }

    /// The opening tag for this state, or None for plain text.
    fn open_tag(&self) -> Option<String> {
        if *self == State::default() {
            return None;
        }
        let (fg, bg) = if self.inverse { (self.bg, self.fg) } else { (self.fg, self.bg) };
        let mut classes = Vec::new();
        let mut styles = Vec::new();
        if let Some(c) = fg {
            classes.extend(c.class("fg"));
            styles.extend(c.style("color"));
        } else if self.inverse {
            classes.push("ansi-default-inverse-fg".to_owned());
        }
        if let Some(c) = bg {
            classes.extend(c.class("bg"));
            styles.extend(c.style("background-color"));
        } else if self.inverse {
            classes.push("ansi-default-inverse-bg".to_owned());
        }
        for (on, class) in [
            (self.bold, "ansi-bold"),
            (self.faint, "ansi-faint"),
            (self.italic, "ansi-italic"),
            (self.underline, "ansi-underline"),
        ] {
            if on {
                classes.push(class.to_owned());
            }
        }
        let mut tag = String::from("<span");
        if !classes.is_empty() {
            tag.push_str(&format!(" class=\"{}\"", classes.join(" ")));
        }
        if !styles.is_empty() {
            tag.push_str(&format!(" style=\"{}\"", styles.join(";")));
        }
        tag.push('>');
        Some(tag)
    }
}

/// One line of output: its HTML (spans closed at the end of the line, so a
/// caller can wrap lines) and its text without escapes.
pub struct Line {
    pub html: String,
    pub plain: String,
}

/// Split `text` into lines (without their `\n`) and convert each; the
/// graphic state carries over from line to line. Escapes other than SGR
/// (cursor movement, OSC titles) are dropped.
pub fn lines(text: &str) -> Vec<Line> {
    let mut state = State::default();
    text.split('\n').map(|line| convert_line(line, &mut state)).collect()
}

fn convert_line(line: &str, state: &mut State) -> Line {
    let mut html = String::new();
    let mut plain = String::new();
    let mut open = false;
    let push_text = |html: &mut String, open: &mut bool, state: &State, text: &str| {
        if text.is_empty() {
            return;
        }
        if !*open {
            if let Some(tag) = state.open_tag() {
                html.push_str(&tag);
                *open = true;
            }
        }
        html.push_str(&escape(text));
    };
    let mut rest = line;
    while let Some(pos) = rest.find('\u{1b}') {
        push_text(&mut html, &mut open, state, &rest[..pos]);
        plain.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(body) = after.strip_prefix('[') {
            // CSI: parameters and intermediates, then one final byte in @..~.
            let end = body.find(|c: char| ('@'..='~').contains(&c)).unwrap_or(body.len());
            let final_byte = body[end..].chars().next();
            rest = body.get(end + final_byte.map_or(0, char::len_utf8)..).unwrap_or("");
            if final_byte == Some('m') {
                let before = *state;
                state.apply(&body[..end]);
                if *state != before && open {
                    html.push_str("</span>");
                    open = false;
                }
            }
        } else if let Some(body) = after.strip_prefix(']') {
            // OSC: up to BEL or ESC \.
            let end = body.find(['\u{7}', '\u{1b}']).unwrap_or(body.len());
            let skip = if body[end..].starts_with('\u{1b}') { 2 } else { 1 };
            rest = body.get(end + skip..).unwrap_or("");
        } else {
            // A lone ESC or a two-byte escape: drop the next character too.
            let mut chars = after.chars();
            chars.next();
            rest = chars.as_str();
        }
    }
    push_text(&mut html, &mut open, state, rest);
    plain.push_str(rest);
    if open {
        html.push_str("</span>");
    }
    Line { html, plain }
}

/// Convert a whole text, keeping its newlines.
pub fn to_html(text: &str) -> String {
    lines(text).into_iter().map(|l| l.html).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_colours_become_classes_and_text_is_escaped() {
        let html = to_html("\u{1b}[0;31mZeroDivisionError\u{1b}[0m: <b>");
        assert_eq!(html, "<span class=\"ansi-red-fg\">ZeroDivisionError</span>: &lt;b&gt;");
    }

    #[test]
    fn state_accumulates_across_codes_until_reset() {
        let html = to_html("\u{1b}[1m\u{1b}[32mok\u{1b}[22m still green\u{1b}[39m plain");
        assert_eq!(
            html,
            "<span class=\"ansi-green-fg ansi-bold\">ok</span><span class=\"ansi-green-fg\"> still green</span> plain"
        );
    }

    #[test]
    fn ipython_keyword_colour_256_becomes_an_inline_rgb_and_bold() {
        // IPython 9 writes traceback keywords as ESC[38;5;28;01m ... ESC[39;00m.
        let html = to_html("\u{1b}[38;5;28;01mdef\u{1b}[39;00m f(x):");
        assert_eq!(html, "<span class=\"ansi-bold\" style=\"color:rgb(0,135,0)\">def</span> f(x):");
    }

    #[test]
    fn true_colour_grey_and_intense_codes_map_to_their_colours() {
        assert_eq!(to_html("\u{1b}[38;2;1;2;3mx"), "<span style=\"color:rgb(1,2,3)\">x</span>");
        assert_eq!(to_html("\u{1b}[38;5;244mx"), "<span style=\"color:rgb(128,128,128)\">x</span>");
        assert_eq!(to_html("\u{1b}[91;44mx"), "<span class=\"ansi-red-intense-fg ansi-blue-bg\">x</span>");
    }

    #[test]
    fn colour_carries_over_newlines_with_spans_closed_per_line() {
        let lines = lines("\u{1b}[31mone\ntwo\u{1b}[0m\nthree");
        let html: Vec<&str> = lines.iter().map(|l| l.html.as_str()).collect();
        assert_eq!(html, ["<span class=\"ansi-red-fg\">one</span>", "<span class=\"ansi-red-fg\">two</span>", "three"]);
        assert_eq!(lines[1].plain, "two");
    }

    #[test]
    fn other_escapes_are_dropped_not_printed() {
        assert_eq!(to_html("a\u{1b}[2Kb\u{1b}]0;title\u{7}c\u{1b}7d"), "abcd");
        assert_eq!(to_html("trailing\u{1b}"), "trailing");
        assert_eq!(to_html("cut\u{1b}[31"), "cut");
    }
}
