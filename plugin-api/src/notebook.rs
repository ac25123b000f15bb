//! The notebook job's vocabulary: the options the host's planner writes into
//! [`Job::options`](crate::Job) and the parameters of each requested output,
//! both JSON, which the notebook plugin reads back with these same types.
//! They change with this crate's version, like the rest of the contract.

use serde::{Deserialize, Serialize};

/// The options of one notebook job: one deck in one course language.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotebookOptions {
    /// The course language the deck is rendered in: `de` or `en`.
    pub lang: String,
    /// The deck's programming language: `python`, `cpp`, `csharp`, `java`,
    /// `typescript` or `rust`.
    pub prog_lang: String,
    /// The course's author, for the notebook's header.
    pub author: Option<String>,
    /// The course's organisation, for the notebook's header. Left out of
    /// the JSON when unset, as `logo` is, so the options of a course
    /// without them (and so its cache keys) stay as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    /// The course's logo for the notebook's header, as a `data:` URI: a
    /// notebook travels alone (downloaded, uploaded, opened where it lies),
    /// so only an embedded image shows wherever it is opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    /// The course's Jinja macros for this programming language.
    pub macros: Option<String>,
    /// Run the completed and speaker HTML in a kernel.
    pub execute: bool,
    /// The course, as the host names it: two courses with the same deck
    /// paths run their decks in different places.
    pub course: Option<String>,
    /// The course's `requirements.txt`, for Python decks: part of the
    /// options, so changing a pin re-runs that course's decks and no others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requirements: Option<NotebookRequirements>,
}

/// A course's package list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotebookRequirements {
    /// Where it is, as the host shows paths.
    #[serde(default = "NotebookRequirements::default_path")]
    pub path: String,
    /// Its text.
    pub text: String,
    /// `text` is a lock (`requirements.lock`): every package pinned with its
    /// hashes, to be installed exactly as it stands.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub locked: bool,
}

impl NotebookRequirements {
    fn default_path() -> String {
        "requirements.txt".to_owned()
    }
}

/// The parameters of one requested notebook output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotebookOutput {
    /// Which variant: `completed`, `code-along` or `speaker`.
    pub kind: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_round_trip_and_leave_out_missing_requirements() {
        let options = NotebookOptions {
            lang: "de".into(),
            prog_lang: "python".into(),
            author: None,
            organisation: None,
            logo: None,
            macros: Some("{% macro x() %}{% endmacro %}".into()),
            execute: true,
            course: Some("course-specs/python.xml".into()),
            requirements: None,
        };
        let json = serde_json::to_value(&options).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "lang": "de", "prog_lang": "python", "author": null,
                "macros": "{% macro x() %}{% endmacro %}", "execute": true, "course": "course-specs/python.xml",
            })
        );
        assert_eq!(serde_json::from_value::<NotebookOptions>(json).unwrap(), options);
    }

    #[test]
    fn organisation_and_logo_are_written_only_when_set() {
        let options = NotebookOptions {
            organisation: Some("Example Academy".into()),
            logo: Some("data:image/png;base64,AAAA".into()),
            ..NotebookOptions::default()
        };
        let json = serde_json::to_value(&options).unwrap();
        assert_eq!(json["organisation"], "Example Academy");
        assert_eq!(json["logo"], "data:image/png;base64,AAAA");
        assert_eq!(serde_json::from_value::<NotebookOptions>(json).unwrap(), options);
    }

    #[test]
    fn missing_fields_read_as_their_defaults() {
        let options: NotebookOptions = serde_json::from_str(r#"{"requirements": {"text": "pandas"}}"#).unwrap();
        assert_eq!((options.lang.as_str(), options.execute), ("", false));
        assert_eq!(options.requirements.unwrap().path, "requirements.txt");
        assert_eq!(serde_json::from_str::<NotebookOutput>("{}").unwrap().kind, "");
    }
}
