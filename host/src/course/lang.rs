//! The two output languages and the texts that come in both.

/// An output language: every course is built in German and in English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lang {
    De,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::De, Lang::En];

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
    pub de: String,
    pub en: String,
}

impl Text {
    pub fn new(de: impl Into<String>, en: impl Into<String>) -> Text {
        Text { de: de.into(), en: en.into() }
    }

    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::De => &self.de,
            Lang::En => &self.en,
        }
    }
}
