//! The frame of a deck's reveal.js presentation: reveal's stylesheets and
//! script from the course's assets folder, MathJax as on the pages, and the
//! speaker-notes plugin in the speaker's version only. The notebook plugin
//! writes the slides themselves; like a page, a presentation is cached by
//! its deck alone and put in this frame as it is written.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::course::frame::{esc, PageFrame};
use crate::course::lang::Lang;

/// The folder below the assets folder reveal.js is copied to.
pub const REVEAL_DIR: &str = "reveal";

/// The files of a reveal.js release a presentation loads, as `scripts/setup`
/// keeps them.
const STYLESHEETS: [&str; 3] = ["dist/reset.css", "dist/reveal.css", "dist/theme/white.css"];
const SCRIPT: &str = "dist/reveal.js";
const NOTES: &str = "plugin/notes/notes.js";

/// What a presentation's frame is made of.
pub struct Presentation<'a> {
    /// `NN Title – Course`.
    pub title: String,
    /// The presentation's language.
    pub lang: Lang,
    /// Its course root's assets folder as a relative URL from the
    /// presentation's folder (`../../../../_site`).
    pub assets: String,
    /// MathJax's script and configuration, when the assets hold it:
    /// (path below the assets folder, inline configuration).
    pub mathjax: Option<(&'a str, &'a str)>,
    /// The speaker's version: with reveal's speaker view and the notes.
    pub speaker: bool,
    /// `[site] author`, named in the head.
    pub author: Option<&'a str>,
}

impl Presentation<'_> {
    /// The frame the presentation is written in.
    pub fn frame(&self) -> PageFrame {
        let link = |rel: &str| format!("{}/{rel}", self.assets);
        let mut head = String::new();
        for css in STYLESHEETS {
            let _ = writeln!(head, "<link rel=\"stylesheet\" href=\"{}\">", link(&format!("{REVEAL_DIR}/{css}")));
        }
        if let Some(author) = self.author {
            let _ = writeln!(head, "<meta name=\"author\" content=\"{}\">", esc(author));
        }
        if let Some((script, config)) = self.mathjax {
            let _ = writeln!(head, "{config}\n<script defer src=\"{}\"></script>", link(script));
        }
        let mut footer = format!("<script src=\"{}\"></script>\n", link(&format!("{REVEAL_DIR}/{SCRIPT}")));
        if self.speaker {
            let _ = writeln!(footer, "<script src=\"{}\"></script>", link(&format!("{REVEAL_DIR}/{NOTES}")));
        }
        // Numbers as `current/total` so a class can follow along; the hash
        // keeps the slide across a reload (and the live preview's reloads).
        let plugins = if self.speaker { "[RevealNotes]" } else { "[]" };
        let _ = writeln!(
            footer,
            "<script>Reveal.initialize({{hash:true,slideNumber:'c/t',center:false,plugins:{plugins}}});</script>"
        );
        PageFrame {
            title: self.title.clone(),
            lang: self.lang,
            head,
            header: String::new(),
            footer,
            images: BTreeMap::new(),
        }
    }
}
