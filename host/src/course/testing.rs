//! Test helpers for the front end: a classifier that answers as the real
//! plugins would, course files on disk, and specs.

use std::path::Path;

use clx_plugin_api::Role;

use crate::course::plan::{Classifier, JobClass};
use crate::course::spec::CourseSpec;

/// The notebook/plantuml/drawio plugins' claims, as the real registry would answer.
pub(crate) struct TestClassifier;

impl Classifier for TestClassifier {
    fn classify(&self, name: &str) -> Option<JobClass> {
        let ext = name.rsplit_once('.').map(|(_, e)| e)?;
        let class = |plugin: &str, job_type: &str, role, formats: &[&str]| JobClass {
            plugin: plugin.into(),
            job_type: job_type.into(),
            role,
            formats: formats.iter().map(|f| f.to_string()).collect(),
            numbered: false,
            densities: Default::default(),
            suffix: format!(".{ext}"),
        };
        if name.ends_with(".handout.md") {
            // A third party's page type with a compound suffix.
            return Some(JobClass {
                suffix: ".handout.md".into(),
                ..class("handouts", "handout", Role::Page, &["html"])
            });
        }
        match ext {
            "py" if name.starts_with("slides_") || name.starts_with("topic_") => {
                Some(class("notebook", "notebook", Role::Slides, &["ipynb", "code", "html"]))
            }
            "pu" | "puml" | "plantuml" => Some(class("plantuml", "plantuml", Role::Diagram, &["png", "svg"])),
            "drawio" => Some(class("drawio", "drawio", Role::Diagram, &["png", "svg"])),
            // A third party's numbered page type.
            "page" => Some(JobClass { numbered: true, ..class("pages", "page", Role::Page, &["html"]) }),
            _ => None,
        }
    }

    fn suffixes(&self, role: Role) -> Vec<String> {
        let suffixes: &[&str] = match role {
            Role::Slides => &[".py"],
            Role::Diagram => &[".pu", ".puml", ".plantuml", ".drawio"],
            _ => &[],
        };
        suffixes.iter().map(|s| s.to_string()).collect()
    }
}

pub(crate) fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

pub(crate) fn spec(root: &Path, topics: &[(&str, &[&str])]) -> CourseSpec {
    let sections: String = topics
        .iter()
        .map(|(name, ids)| {
            let topics: String = ids.iter().map(|id| format!("<topic>{id}</topic>")).collect();
            format!("<section><name><de>{name}</de><en>{name}</en></name><topics>{topics}</topics></section>")
        })
        .collect();
    let text = format!(
        "<course><name><de>K</de><en>C</en></name><prog-lang>python</prog-lang>\
         <description><de/><en/></description><certificate><de/><en/></certificate>\
         <github><de/><en/></github><sections>{sections}</sections></course>"
    );
    crate::course::spec::parse_str(&text, &root.join("course-specs/c.xml")).unwrap()
}
