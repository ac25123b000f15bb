//! Notebook converter: percent-format slide decks -> notebooks, code files and HTML.

use clx_plugin_api::*;

pub struct Notebook;

impl Plugin for Notebook {
    fn manifest() -> Manifest {
        Manifest::new("notebook", env!("CARGO_PKG_VERSION"))
            .description("Slide decks to Jupyter notebooks, code files and HTML pages")
            .job_type(
                JobTypeDecl::new("notebook", Role::Slides)
                    .description("percent-format deck -> .ipynb / code / HTML per language and kind")
                    .suffixes(&[".py", ".cpp", ".cs", ".java", ".ts"])
                    .name_prefixes(&["slides_", "topic_"])
                    .formats(&["ipynb", "code", "html"]),
            )
    }

    fn new(_config: &str) -> Result<Self, String> {
        Ok(Notebook)
    }

    fn convert(&self, job: &Job, _host: &Host<'_>) -> Result<JobResult, Issue> {
        Err(Issue::error(format!(
            "{}: the notebook converter is not available in this version of clx",
            job.source_path
        )))
    }
}

export_plugin!(Notebook);
