//! A second plugin that claims the `graphviz` job type, so the host's conflict
//! report can be tested with two real libraries. Its second job type is one
//! no other plugin provides: when the rival loses the conflict, files only it
//! claims show what the host does with files of an unusable plugin.

use clx_plugin_api::*;

pub struct Rival;

impl Plugin for Rival {
    fn manifest() -> Manifest {
        Manifest::new("rival", "0.1.0")
            .job_type(JobTypeDecl::new("graphviz", Role::Diagram).suffixes(&[".dot"]).formats(&["png"]))
            .job_type(JobTypeDecl::new("rival-notes", Role::Diagram).suffixes(&[".rivalnote"]).formats(&["txt"]))
    }

    fn new(_config: &str) -> Result<Self, String> {
        Ok(Rival)
    }

    fn convert(&self, job: &Job, _host: &Host<'_>) -> Result<JobResult, Issue> {
        Ok(JobResult::failed(job, Issue::error("rival renders nothing")))
    }
}

export_plugin!(Rival);
