//! Plain data that crosses the plugin boundary.
//!
//! Every type is `#[repr(C)]` + `StableAbi`, so `abi_stable` can prove at load
//! time that host and plugin agree on its layout.

use abi_stable::{
    std_types::{ROption, RResult, RString, RVec},
    StableAbi,
};

/// What a job type does with the files it claims, and so where its outputs
/// land. A one-byte code rather than an enum, so later versions can add roles
/// without changing the layout: a clx that meets a role it does not know
/// (from a newer plugin) refuses that job type's files with a clear error
/// instead of refusing the whole plugin.
///
/// | role | one job per | outputs land in (per language, public and speaker trees) | siblings |
/// | --- | --- | --- | --- |
/// | [`Role::Slides`] | deck and language | `<Slides>/<Html\|Notebooks\|Code>/<kind>/<Section>/NN Title.<ext>` | the topic's other files |
/// | [`Role::Diagram`] | source file | `<section>/img/<stem>.<format>` in every variant folder of the topic | none |
/// | [`Role::Page`] | source file | `<Slides>/Pages/<Section>/[NN ]<stem>.<format>` (`Folien/Seiten` in German), the topic's `img/` and data files beside it | the topic's other files |
/// | [`Role::Print`] | page the host wrote (`[output] pdf`) | `<Slides>/Pdf/Completed/<Section>/NN Title.pdf` | the files the page embeds, named from its course root |
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Role(u8);

#[allow(non_upper_case_globals)]
impl Role {
    /// One deck in, many variant outputs (notebooks, code, HTML) out, one job
    /// per language; decks are numbered within their section.
    pub const Slides: Role = Role(0);
    /// One source in, one image per format in the topic's `img/` folder out.
    pub const Diagram: Role = Role(1);
    /// A standalone document: one source in, one output per language in the
    /// type's first declared format (the output params carry
    /// `"lang": "de"|"en"`), kept under its own stem in the `Pages` folder of
    /// each section, in the public and the speaker tree, with its topic's
    /// `img/` and data files beside it.
    pub const Page: Role = Role(2);
    /// Prints a page the host has written (a deck's completed HTML page in
    /// its frame) to PDF; claims no course file, so declares no suffix. The
    /// job's source is the page, its siblings every file the page embeds
    /// (stylesheets, scripts, images, MathJax and its fonts) named relative
    /// to the course root, and its options `{"page": <the page's path from
    /// the course root>, "lang": "de"|"en", "footer": <the course title>}`.
    pub const Print: Role = Role(3);

    /// The roles this plugin-api knows.
    pub const KNOWN: [Role; 4] = [Role::Slides, Role::Diagram, Role::Page, Role::Print];

    /// The role's one-byte code, as it crosses the boundary.
    pub fn code(self) -> u8 {
        self.0
    }

    /// The role with this code; it may be one this version does not know.
    pub fn from_code(code: u8) -> Role {
        Role(code)
    }

    /// Whether this version of plugin-api knows the role.
    pub fn is_known(self) -> bool {
        Role::KNOWN.contains(&self)
    }

    /// The role's name as `clx plugins list` and `clx plugins info` show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Slides => "slides",
            Role::Diagram => "diagram",
            Role::Page => "page",
            Role::Print => "print",
            _ => "unknown",
        }
    }
}

impl std::fmt::Debug for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.is_known() {
            true => f.write_str(self.as_str()),
            false => write!(f, "unknown role {}", self.0),
        }
    }
}

/// A job type a plugin registers.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct JobTypeDecl {
    /// Unique across all loaded plugins, e.g. `plantuml`.
    pub name: RString,
    /// What the host asks of the job type's jobs and where their outputs go.
    pub role: Role,
    /// One line for `clx plugins info`; may be empty.
    pub description: RString,
    /// File name suffixes claimed, with the dot: `.puml`, or compound
    /// (`.handout.txt`). The part of a file name before the suffix is the stem
    /// its outputs are named after, kept as written.
    pub suffixes: RVec<RString>,
    /// When not empty, a file is claimed only if its name also starts with
    /// one of these (`slides_`).
    pub name_prefixes: RVec<RString>,
    /// Output formats the job type can produce: `png`, `svg`, `ipynb`.
    pub formats: RVec<RString>,
    /// For [`Role::Page`]: whether its outputs are numbered within their
    /// section (`01 handout.html`, counted among the section's pages only,
    /// never renumbering its decks). Other roles ignore it.
    pub numbered: bool,
    /// Raster formats rendered at more than one pixel per CSS pixel (a
    /// diagram drawn at scale 3 for sharp print): pages show such an image
    /// at its drawn size, not its pixel size. Formats not listed are 1.
    pub densities: RVec<FormatDensity>,
}

/// How many image pixels make one CSS pixel in a format's output.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct FormatDensity {
    /// The output format (`png`).
    pub format: RString,
    /// Image pixels per CSS pixel, at least 1.
    pub density: u32,
}

impl JobTypeDecl {
    /// A job type claiming nothing yet; add [`suffixes`](Self::suffixes) and
    /// [`formats`](Self::formats), which the host requires.
    pub fn new(name: &str, role: Role) -> Self {
        JobTypeDecl {
            name: name.into(),
            role,
            description: RString::new(),
            suffixes: RVec::new(),
            name_prefixes: RVec::new(),
            formats: RVec::new(),
            numbered: false,
            densities: RVec::new(),
        }
    }

    /// Set the one-line description.
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.into();
        self
    }

    /// Claim files ending in these suffixes, each with its dot (`.dot`).
    pub fn suffixes(mut self, suffixes: &[&str]) -> Self {
        self.suffixes = suffixes.iter().map(|s| RString::from(*s)).collect();
        self
    }

    /// Claim only files whose name also starts with one of these (`slides_`).
    pub fn name_prefixes(mut self, prefixes: &[&str]) -> Self {
        self.name_prefixes = prefixes.iter().map(|s| RString::from(*s)).collect();
        self
    }

    /// The output formats the job type can produce, most wanted first
    /// (`png`, `svg`).
    pub fn formats(mut self, formats: &[&str]) -> Self {
        self.formats = formats.iter().map(|s| RString::from(*s)).collect();
        self
    }

    /// Number this page type's outputs within their section (see
    /// [`JobTypeDecl::numbered`](struct.JobTypeDecl.html#structfield.numbered)).
    pub fn numbered(mut self, numbered: bool) -> Self {
        self.numbered = numbered;
        self
    }

    /// Declare that `format`'s images have `density` pixels per CSS pixel
    /// (`.density("png", 3)` for PNGs rendered at scale 3).
    pub fn density(mut self, format: &str, density: u32) -> Self {
        self.densities.retain(|d| d.format.as_str() != format);
        self.densities.push(FormatDensity { format: format.into(), density: density.max(1) });
        self
    }

    /// The pixels per CSS pixel of `format`'s images: 1 unless declared.
    pub fn density_of(&self, format: &str) -> u32 {
        self.densities.iter().find(|d| d.format.as_str() == format).map_or(1, |d| d.density)
    }

    /// Whether this job type claims a file with this name (no directories).
    pub fn claims(&self, file_name: &str) -> bool {
        self.claimed_suffix(file_name).is_some()
    }

    /// The declared suffix by which this job type claims `file_name`, the
    /// longest when several match (`.handout.txt` before `.txt`), or `None`
    /// when it does not claim the file. What precedes it is the output's
    /// stem: `welcome.handout.txt` becomes `welcome.html`.
    pub fn claimed_suffix(&self, file_name: &str) -> Option<&str> {
        let prefix_ok =
            self.name_prefixes.is_empty() || self.name_prefixes.iter().any(|p| file_name.starts_with(p.as_str()));
        if !prefix_ok {
            return None;
        }
        self.suffixes.iter().map(RString::as_str).filter(|s| file_name.ends_with(s)).max_by_key(|s| s.len())
    }
}

/// Who a plugin is and what it handles.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The plugin's name: 1-64 characters of `a-z`, `0-9`, `-`, `_`. Its
    /// `clx.toml` section is `[converters.<name>]`.
    pub name: RString,
    /// The plugin's own version, part of every cache key: raise it when the
    /// output for the same input changes.
    pub version: RString,
    /// One line for `clx plugins list`; may be empty.
    pub description: RString,
    /// The job types the plugin registers; at least one.
    pub job_types: RVec<JobTypeDecl>,
}

impl Manifest {
    /// A manifest registering no job type yet; `version` is usually
    /// `env!("CARGO_PKG_VERSION")`.
    pub fn new(name: &str, version: &str) -> Self {
        Manifest { name: name.into(), version: version.into(), description: RString::new(), job_types: RVec::new() }
    }

    /// Set the one-line description.
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.into();
        self
    }

    /// Register one more job type.
    pub fn job_type(mut self, decl: JobTypeDecl) -> Self {
        self.job_types.push(decl);
        self
    }
}

/// A file the job may read besides its source (helper modules, data, includes).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    /// Path relative to the source's directory, `/`-separated; may start
    /// with `../`.
    pub path: RString,
    /// The file's content.
    pub bytes: RVec<u8>,
}

/// One output the host wants from a job.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct OutputRequest {
    /// Identifies the output in the result; chosen by the host, unique within
    /// the job (`png` for a diagram, `html-speaker` for a deck).
    pub id: RString,
    /// One of the job type's declared formats.
    pub format: RString,
    /// Output parameters as a JSON object: `{}` for a diagram,
    /// `{"kind":"speaker"}` for a deck.
    pub params: RString,
}

/// Everything a converter needs to do one job.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The job type, one of those the plugin registered.
    pub job_type: RString,
    /// Path of the source as the user knows it (relative to the course root,
    /// `/`-separated), for messages.
    pub source_path: RString,
    /// The source file's content.
    pub source: RVec<u8>,
    /// Other files the job may read (none for diagrams).
    pub siblings: RVec<InputFile>,
    /// What the host wants back; answer each by its id.
    pub outputs: RVec<OutputRequest>,
    /// Job options as a JSON object: `{}` for a diagram; language, programming
    /// language, author, macros and `execute` for a deck.
    pub options: RString,
    /// A scratch directory that exists for the duration of the job and is
    /// deleted after it.
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

    /// How the user knows the sibling `sibling_path` (a path from
    /// [`InputFile::path`]): joined to the directory of
    /// [`source_path`](Self::source_path), `..` resolved. Use it for
    /// [`Issue::in_file`] when an issue is about a sibling.
    pub fn path_of_sibling(&self, sibling_path: &str) -> String {
        let mut parts: Vec<&str> = self.source_path.split('/').collect();
        parts.pop();
        for part in sibling_path.split('/') {
            match part {
                "" | "." => {}
                ".." if parts.last().is_some_and(|p| *p != "..") => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        parts.join("/")
    }

    /// The source as text without a leading byte-order mark (see
    /// [`text`](crate::text)), or an input error at the line of the first
    /// byte that is not UTF-8.
    pub fn source_text(&self) -> Result<&str, Issue> {
        crate::text::decode(&self.source).map_err(|e| {
            Issue::error(format!("the file is not UTF-8 (byte {}); save it as UTF-8", e.offset))
                .in_file(self.source_path.as_str())
                .at_line(e.line)
        })
    }
}

/// How bad an [`Issue`] is.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; shown like a warning.
    Info,
    /// Shown; the job still succeeds.
    Warning,
    /// Shown; the build fails even if every output was produced.
    Error,
}

impl Severity {
    /// The severity's name as stored in the cache and shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// What an [`Issue`] is about. It decides whether the job's result may be
/// cached: only a result that depends on nothing but the course's input can be
/// replayed on a later build.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IssueKind {
    /// The course's input is wrong (a syntax error, a cell that raises, a
    /// broken diagram): the same input gives the same error, so the result
    /// is cached and the issue replayed until the input changes.
    #[default]
    Input,
    /// The machine is not ready (a tool, kernel or kernelspec is missing, a
    /// tool crashed or timed out): the result is never cached, so the job
    /// runs again on the next build, when the author may have fixed it.
    Environment,
    /// The plugin itself failed (it panicked): never cached, reported as a
    /// plugin error rather than an error in the course.
    Plugin,
}

impl IssueKind {
    /// The kind's name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueKind::Input => "input",
            IssueKind::Environment => "environment",
            IssueKind::Plugin => "plugin",
        }
    }
}

/// A diagnostic about the job, replayed from the cache on every build when it
/// is of [`IssueKind::Input`].
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// How bad it is.
    pub severity: Severity,
    /// What is wrong and what to do about it, in one line.
    pub message: RString,
    /// File the issue is about, shown as given; `None` means the job's source
    /// ([`Job::source_path`]).
    pub file: ROption<RString>,
    /// 1-based line in `file`.
    pub line: ROption<u32>,
    /// 1-based column in that line, shown after the line (`file:3:7`).
    pub column: ROption<u32>,
    /// 1-based cell number, for decks.
    pub cell: ROption<u32>,
    /// Whether the issue is about the input, the machine or the plugin;
    /// [`IssueKind::Input`] unless set with [`Issue::environment`] or
    /// [`Issue::of_kind`].
    pub kind: IssueKind,
}

impl Issue {
    /// An issue about the job's source, with no line or cell.
    pub fn new(severity: Severity, message: impl Into<String>) -> Self {
        Issue {
            severity,
            message: RString::from(message.into()),
            file: ROption::RNone,
            line: ROption::RNone,
            column: ROption::RNone,
            cell: ROption::RNone,
            kind: IssueKind::Input,
        }
    }

    /// An [`Severity::Error`] issue.
    pub fn error(message: impl Into<String>) -> Self {
        Issue::new(Severity::Error, message)
    }

    /// A [`Severity::Warning`] issue.
    pub fn warning(message: impl Into<String>) -> Self {
        Issue::new(Severity::Warning, message)
    }

    /// Point the issue at another file, given as the user knows it (like
    /// [`Job::source_path`]; for a sibling see [`Job::path_of_sibling`]).
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = ROption::RSome(RString::from(file.into()));
        self
    }

    /// Point the issue at a 1-based line of its file.
    pub fn at_line(mut self, line: u32) -> Self {
        self.line = ROption::RSome(line);
        self
    }

    /// Point the issue at a 1-based line and column of its file, as a
    /// parser reports them; editors jump to `file:line:column`.
    pub fn at(mut self, line: u32, column: u32) -> Self {
        self.line = ROption::RSome(line);
        self.column = ROption::RSome(column);
        self
    }

    /// Mark the issue as caused by the machine, not the course (a missing
    /// tool or kernel): the result is not cached, so the job runs again once
    /// the author fixed their setup.
    pub fn environment(self) -> Self {
        self.of_kind(IssueKind::Environment)
    }

    /// Set what the issue is about.
    pub fn of_kind(mut self, kind: IssueKind) -> Self {
        self.kind = kind;
        self
    }

    /// Point the issue at a 1-based cell of a deck.
    pub fn at_cell(mut self, cell: u32) -> Self {
        self.cell = ROption::RSome(cell);
        self
    }
}

/// The result for one requested output.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct JobOutput {
    /// The [`OutputRequest::id`] this answers.
    pub id: RString,
    /// The output's bytes, or why it could not be produced.
    pub result: RResult<RVec<u8>, RString>,
}

/// What a converter returns: a result per requested output plus issues.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default, PartialEq, Eq)]
pub struct JobResult {
    /// One entry per requested output; a request left unanswered fails.
    pub outputs: RVec<JobOutput>,
    /// Diagnostics for the course author, replayed on every cached build.
    pub issues: RVec<Issue>,
}

impl JobResult {
    /// A result with no outputs and no issues yet.
    pub fn new() -> Self {
        JobResult::default()
    }

    /// Answer output `id` with its bytes.
    pub fn output(&mut self, id: &str, bytes: Vec<u8>) -> &mut Self {
        self.outputs.push(JobOutput { id: id.into(), result: RResult::ROk(bytes.into()) });
        self
    }

    /// Answer output `id` with the reason it could not be produced. Add an
    /// [`Issue`] too when the author should see where and what to fix.
    pub fn failed_output(&mut self, id: &str, message: impl Into<String>) -> &mut Self {
        self.outputs.push(JobOutput { id: id.into(), result: RResult::RErr(RString::from(message.into())) });
        self
    }

    /// Report an issue.
    pub fn issue(&mut self, issue: Issue) -> &mut Self {
        self.issues.push(issue);
        self
    }

    /// The bytes produced for output `id`, if it succeeded: what a plugin's
    /// tests look at.
    pub fn bytes(&self, id: &str) -> Option<&[u8]> {
        self.outputs
            .iter()
            .find(|o| o.id.as_str() == id)
            .and_then(|o| o.result.as_ref().ok().into_option())
            .map(|b| b.as_slice())
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

/// Level of a log line sent through [`Host::log`](crate::Host::log); the
/// host's `--log-level` decides which are shown.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Details for whoever debugs the plugin.
    Debug,
    /// What the plugin is doing.
    Info,
    /// Something unexpected that does not fail the job.
    Warn,
    /// Something failed.
    Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sibling_is_named_from_the_course_root_like_its_source() {
        let job = Job::new("notebook", "slides/module_1/topic_2/slides_intro.py", "");
        assert_eq!(job.path_of_sibling("data/table.csv"), "slides/module_1/topic_2/data/table.csv");
        assert_eq!(job.path_of_sibling("./helper.py"), "slides/module_1/topic_2/helper.py");
        assert_eq!(job.path_of_sibling("../shared/util.py"), "slides/module_1/shared/util.py");
    }

    #[test]
    fn a_sibling_above_a_top_level_source_keeps_its_dots() {
        let job = Job::new("notebook", "slides_intro.py", "");
        assert_eq!(job.path_of_sibling("../x.py"), "../x.py");
        assert_eq!(job.path_of_sibling("x.py"), "x.py");
    }

    #[test]
    fn bytes_returns_only_outputs_that_succeeded() {
        let mut result = JobResult::new();
        result.output("png", b"image".to_vec()).failed_output("svg", "no");
        assert_eq!(result.bytes("png"), Some(&b"image"[..]));
        assert_eq!(result.bytes("svg"), None);
        assert_eq!(result.bytes("pdf"), None);
    }
}
