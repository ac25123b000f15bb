//! The two output languages and the texts that come in both.

/// An output language: every course is built in German and in English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lang {
    /// German: output folder `De`, slides folder `Folien`.
    De,
    /// English: output folder `En`, slides folder `Slides`.
    En,
}

impl Lang {
    /// Both languages in build order, for loops that produce one output per language.
    pub const ALL: [Lang; 2] = [Lang::De, Lang::En];

    /// The ISO 639-1 code (`de`, `en`), as used in `lang` attributes and messages.
    pub fn code(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }

    pub(crate) fn dir(self) -> &'static str {
        match self {
            Lang::De => "De",
            Lang::En => "En",
        }
    }

    pub(crate) fn slides_dir(self) -> &'static str {
        match self {
            Lang::De => "Folien",
            Lang::En => "Slides",
        }
    }
}

/// A pair of strings, one per output language.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text {
    /// The German string.
    pub de: String,
    /// The English string.
    pub en: String,
}

impl Text {
    /// A text from its German and its English string.
    pub fn new(de: impl Into<String>, en: impl Into<String>) -> Text {
        Text { de: de.into(), en: en.into() }
    }

    /// The string for `lang`.
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::De => &self.de,
            Lang::En => &self.en,
        }
    }
}
