//! Plain data that crosses the plugin boundary.
//!
//! Every type is `#[repr(C)]` + `StableAbi`, so `abi_stable` can prove at load
//! time that host and plugin agree on its layout.

use abi_stable::{
    std_types::{ROption, RResult, RString, RVec},
    StableAbi,
};

/// What a job type does with the files it claims.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// One deck in, many variant outputs (notebooks, code, HTML) out.
    Slides,
    /// One source in, one image in the topic's `img/` folder out.
    Diagram,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Slides => "slides",
            Role::Diagram => "diagram",
        }
    }
}

/// A job type a plugin registers.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct JobTypeDecl {
    /// Unique across all loaded plugins, e.g. `plantuml`.
    pub name: RString,
    pub role: Role,
    pub description: RString,
    /// File name suffixes claimed, with the dot: `.puml`.
    pub suffixes: RVec<RString>,
    /// When not empty, a file is claimed only if its name also starts with
    /// one of these (`slides_`).
    pub name_prefixes: RVec<RString>,
    /// Output formats the job type can produce: `png`, `svg`, `ipynb`.
    pub formats: RVec<RString>,
}

impl JobTypeDecl {
    pub fn new(name: &str, role: Role) -> Self {
        JobTypeDecl {
            name: name.into(),
            role,
            description: RString::new(),
            suffixes: RVec::new(),
            name_prefixes: RVec::new(),
            formats: RVec::new(),
        }
    }

    pub fn description(mut self, text: &str) -> Self {
        self.description = text.into();
        self
    }

    pub fn suffixes(mut self, suffixes: &[&str]) -> Self {
        self.suffixes = suffixes.iter().map(|s| RString::from(*s)).collect();
        self
    }

    pub fn name_prefixes(mut self, prefixes: &[&str]) -> Self {
        self.name_prefixes = prefixes.iter().map(|s| RString::from(*s)).collect();
        self
    }

    pub fn formats(mut self, formats: &[&str]) -> Self {
        self.formats = formats.iter().map(|s| RString::from(*s)).collect();
        self
    }

    /// Whether this job type claims a file with this name (no directories).
    pub fn claims(&self, file_name: &str) -> bool {
        let suffix_ok = self.suffixes.iter().any(|s| file_name.ends_with(s.as_str()));
        let prefix_ok =
            self.name_prefixes.is_empty() || self.name_prefixes.iter().any(|p| file_name.starts_with(p.as_str()));
        suffix_ok && prefix_ok
    }
}

/// Who a plugin is and what it handles.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub name: RString,
    pub version: RString,
    pub description: RString,
    pub job_types: RVec<JobTypeDecl>,
}

impl Manifest {
    pub fn new(name: &str, version: &str) -> Self {
        Manifest { name: name.into(), version: version.into(), description: RString::new(), job_types: RVec::new() }
    }

    pub fn description(mut self, text: &str) -> Self {
        self.description = text.into();
        self
    }

    pub fn job_type(mut self, decl: JobTypeDecl) -> Self {
        self.job_types.push(decl);
        self
    }
}

/// A file the job may read besides its source (helper modules, data, includes).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    /// Path relative to the source's directory, `/`-separated.
    pub path: RString,
    pub bytes: RVec<u8>,
}

/// One output the host wants from a job.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct OutputRequest {
    /// Identifies the output in the result; chosen by the host.
    pub id: RString,
    pub format: RString,
    /// Output parameters as a JSON object (`{"lang":"de","kind":"speaker"}`).
    pub params: RString,
}

/// Everything a converter needs to do one job.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub job_type: RString,
    /// Path of the source as the user knows it, for messages.
    pub source_path: RString,
    pub source: RVec<u8>,
    pub siblings: RVec<InputFile>,
    pub outputs: RVec<OutputRequest>,
    /// Job options as a JSON object.
    pub options: RString,
    /// A scratch directory that exists for the duration of the job.
    pub work_dir: RString,
}

impl Job {
    /// A job with no outputs yet, for plugin tests and benchmarks (the host
    /// builds jobs itself).
    pub fn new(job_type: &str, source_path: &str, source: impl Into<Vec<u8>>) -> Job {
        Job {
            job_type: job_type.into(),
            source_path: source_path.into(),
            source: source.into().into(),
            siblings: RVec::new(),
            outputs: RVec::new(),
            options: "{}".into(),
            work_dir: std::env::temp_dir().to_string_lossy().as_ref().into(),
        }
    }

    /// Request one more output.
    pub fn with_output(mut self, id: &str, format: &str, params: &str) -> Job {
        self.outputs.push(OutputRequest { id: id.into(), format: format.into(), params: params.into() });
        self
    }

    /// The source as text, or an input error naming the file.
    pub fn source_text(&self) -> Result<&str, Issue> {
        std::str::from_utf8(&self.source)
            .map_err(|e| Issue::error(format!("{} is not valid UTF-8: {e}", self.source_path)))
    }
}

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A diagnostic about the job's input, replayed from the cache on every build.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub severity: Severity,
    pub message: RString,
    /// File the issue is about; `None` means the job's source.
    pub file: ROption<RString>,
    /// 1-based line in `file`.
    pub line: ROption<u32>,
    /// 1-based cell number, for decks.
    pub cell: ROption<u32>,
}

impl Issue {
    pub fn new(severity: Severity, message: impl Into<String>) -> Self {
        Issue {
            severity,
            message: RString::from(message.into()),
            file: ROption::RNone,
            line: ROption::RNone,
            cell: ROption::RNone,
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        Issue::new(Severity::Error, message)
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Issue::new(Severity::Warning, message)
    }

    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = ROption::RSome(RString::from(file.into()));
        self
    }

    pub fn at_line(mut self, line: u32) -> Self {
        self.line = ROption::RSome(line);
        self
    }

    pub fn at_cell(mut self, cell: u32) -> Self {
        self.cell = ROption::RSome(cell);
        self
    }
}

/// The result for one requested output.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct JobOutput {
    pub id: RString,
    pub result: RResult<RVec<u8>, RString>,
}

/// What a converter returns: a result per requested output plus issues.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default, PartialEq, Eq)]
pub struct JobResult {
    pub outputs: RVec<JobOutput>,
    pub issues: RVec<Issue>,
}

impl JobResult {
    pub fn new() -> Self {
        JobResult::default()
    }

    pub fn output(&mut self, id: &str, bytes: Vec<u8>) -> &mut Self {
        self.outputs.push(JobOutput { id: id.into(), result: RResult::ROk(bytes.into()) });
        self
    }

    pub fn failed_output(&mut self, id: &str, message: impl Into<String>) -> &mut Self {
        self.outputs.push(JobOutput { id: id.into(), result: RResult::RErr(RString::from(message.into())) });
        self
    }

    pub fn issue(&mut self, issue: Issue) -> &mut Self {
        self.issues.push(issue);
        self
    }

    /// A result in which every requested output failed because of `issue`.
    pub fn failed(job: &Job, issue: Issue) -> Self {
        let mut result = JobResult::new();
        for request in job.outputs.iter() {
            result.failed_output(&request.id, issue.message.as_str());
        }
        result.issue(issue);
        result
    }
}

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}
