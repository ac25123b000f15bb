//! PlantUML converter: `.pu` / `.puml` / `.plantuml` -> PNG or SVG.

use clx_plugin_api::*;

pub struct PlantUml;

impl Plugin for PlantUml {
    fn manifest() -> Manifest {
        Manifest::new("plantuml", env!("CARGO_PKG_VERSION"))
            .description("PlantUML diagrams rendered by the PlantUML jar")
            .job_type(
                JobTypeDecl::new("plantuml", Role::Diagram)
                    .description("PlantUML -> PNG (200 dpi) / SVG")
                    .suffixes(&[".pu", ".puml", ".plantuml"])
                    .formats(&["png", "svg"]),
            )
    }

    fn new(_config: &str) -> Result<Self, String> {
        Ok(PlantUml)
    }

    fn convert(&self, job: &Job, _host: &Host<'_>) -> Result<JobResult, Issue> {
        Err(Issue::error(format!(
            "{}: the PlantUML converter is not available in this version of clx",
            job.source_path
        )))
    }
}

export_plugin!(PlantUml);
