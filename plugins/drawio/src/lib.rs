//! draw.io converter: `.drawio` -> PNG or SVG.

use clx_plugin_api::*;

pub struct Drawio;

impl Plugin for Drawio {
    fn manifest() -> Manifest {
        Manifest::new("drawio", env!("CARGO_PKG_VERSION"))
            .description("draw.io diagrams rendered by the draw.io renderer")
            .job_type(
                JobTypeDecl::new("drawio", Role::Diagram)
                    .description("draw.io -> PNG (scale 3) / SVG")
                    .suffixes(&[".drawio"])
                    .formats(&["png", "svg"]),
            )
    }

    fn new(_config: &str) -> Result<Self, String> {
        Ok(Drawio)
    }

    fn convert(&self, job: &Job, _host: &Host<'_>) -> Result<JobResult, Issue> {
        Err(Issue::error(format!(
            "{}: the draw.io converter is not available in this version of clx",
            job.source_path
        )))
    }
}

export_plugin!(Drawio);
