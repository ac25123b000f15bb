//! What a build tells the user: a progress bar on a terminal (plain lines
//! otherwise), every warning and error with file and location, and a summary.
//! Tools read the same as JSON lines on stdout (`--message-format json`), and
//! GitHub Actions gets workflow annotations so problems show on the diff.

use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How bad a diagnostic is. `Info` carries a converter's remarks that are
/// neither warnings nor errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A converter's remark that needs no action.
    Info,
    /// Something likely wrong; the build still succeeds unless `--strict`.
    Warning,
    /// Something that cost an output; the build fails.
    Error,
}

impl Level {
    /// The level as printed and stored (`info`, `warning`, `error`); [`Level::parse`] reads it back.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }

    /// The level of a stored severity name; unknown names count as errors
    /// so nothing serious is ever shown as harmless.
    pub fn parse(s: &str) -> Level {
        match s {
            "info" => Level::Info,
            "warning" => Level::Warning,
            _ => Level::Error,
        }
    }
}

/// Where in a file a diagnostic points: a spec position (`line:column`), or
/// a deck's cell and line. Every part is optional; an empty location shows
/// nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Location {
    /// 1-based line in the file.
    pub line: Option<u32>,
    /// 1-based column, when known (spec and configuration positions).
    pub column: Option<u32>,
    /// 1-based number of the deck cell the problem is in.
    pub cell: Option<u32>,
}

impl Location {
    /// No location: the diagnostic is about the whole file.
    pub const NONE: Location = Location { line: None, column: None, cell: None };

    /// A `line:column` position, as in a spec or configuration file.
    pub fn at(line: u32, column: u32) -> Location {
        Location { line: Some(line), column: Some(column), cell: None }
    }

    /// A line without a column.
    pub fn line(line: u32) -> Location {
        Location { line: Some(line), ..Location::NONE }
    }

    /// A place in a deck: its cell and line, either of which may be unknown.
    pub fn cell(cell: Option<u32>, line: Option<u32>) -> Location {
        Location { line, column: None, cell }
    }

    /// Whether the location is empty (nothing to print after the file).
    pub fn is_none(&self) -> bool {
        *self == Location::NONE
    }

    /// Read back what [`Display`](std::fmt::Display) wrote (the queue stores
    /// locations as text); anything else is no location.
    pub fn parse(text: &str) -> Location {
        let num = |s: &str| s.trim().parse::<u32>().ok();
        if let Some((l, c)) = text.split_once(':') {
            if let (Some(l), Some(c)) = (num(l), num(c)) {
                return Location::at(l, c);
            }
        }
        let mut loc = Location::NONE;
        for part in text.split(", ") {
            match part.split_once(' ') {
                Some(("cell", n)) => loc.cell = num(n),
                Some(("line", n)) => loc.line = num(n),
                _ => return Location::NONE,
            }
        }
        loc
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column, self.cell) {
            (Some(l), Some(c), _) => write!(f, "{l}:{c}"),
            (Some(l), None, Some(c)) => write!(f, "cell {c}, line {l}"),
            (Some(l), None, None) => write!(f, "line {l}"),
            (None, _, Some(c)) => write!(f, "cell {c}"),
            (None, _, None) => Ok(()),
        }
    }
}

/// One warning or error (or remark) about a file, as shown to the user and recorded in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    /// How bad it is.
    pub level: Level,
    /// The file as the user should see it in messages (relative to the course root where possible).
    pub file: String,
    /// Where in the file; may be empty.
    pub location: Location,
    /// What is wrong and, where possible, what to do about it.
    pub message: String,
}

impl Diagnostic {
    /// An error about `file` at `location`.
    pub fn error(file: impl Into<String>, location: Location, message: impl Into<String>) -> Self {
        Diagnostic { level: Level::Error, file: file.into(), location, message: message.into() }
    }

    /// A warning about `file` at `location`.
    pub fn warning(file: impl Into<String>, location: Location, message: impl Into<String>) -> Self {
        Diagnostic { level: Level::Warning, file: file.into(), location, message: message.into() }
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.level.as_str(), self.body())
    }
}

impl Diagnostic {
    /// The diagnostic without its level: `file:line:column: message`, the
    /// form editors and terminals turn into a link; a deck's cell follows
    /// the position (`file:12: cell 4: message`).
    pub fn body(&self) -> String {
        let mut place = self.file.clone();
        if !place.is_empty() {
            if let Some(line) = self.location.line {
                place.push_str(&format!(":{line}"));
                if let Some(column) = self.location.column {
                    place.push_str(&format!(":{column}"));
                }
            }
            place.push_str(": ");
        }
        if let Some(cell) = self.location.cell {
            let own = format!("cell {cell}: ");
            // A converter may already have named the cell.
            if !self.message.starts_with(&own) {
                place.push_str(&own);
            }
        }
        format!("{place}{}", self.message)
    }

    /// The human line: `error:`/`warning:` coloured on a terminal, and no
    /// colour code at all (not even a tool's, inside the message) elsewhere.
    pub fn to_human(&self, colour: bool) -> String {
        if !colour {
            return format!("{}: {}", self.level.as_str(), console::strip_ansi_codes(&self.body()));
        }
        let level = match self.level {
            Level::Error => console::style("error").red().bold().force_styling(true),
            Level::Warning => console::style("warning").yellow().bold().force_styling(true),
            Level::Info => console::style("info").cyan().force_styling(true),
        };
        format!("{level}: {}", self.body())
    }
}

/// The process exit status of a command, as scripts and CI read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything was built (or is an exact cache hit).
    Success = 0,
    /// The build ran, but some outputs failed (see the errors).
    Failed = 1,
    /// clx could not run at all: bad arguments, spec, config or state.
    Usage = 2,
    /// Ctrl-C or SIGTERM.
    Interrupted = 130,
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status as u8)
    }
}

/// How diagnostics and the summary are printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum MessageFormat {
    /// Lines for people on stderr.
    #[default]
    Human,
    /// One JSON object per diagnostic on stdout and a summary object last;
    /// progress and notes stay on stderr.
    Json,
}

impl Diagnostic {
    /// The diagnostic as one JSON object (`"reason": "diagnostic"`).
    pub fn to_json(&self, job_type: Option<&str>) -> serde_json::Value {
        serde_json::json!({
            "reason": "diagnostic",
            "level": self.level.as_str(),
            "file": self.file,
            "line": self.location.line,
            "column": self.location.column,
            "cell": self.location.cell,
            "message": self.message,
            "job_type": job_type,
        })
    }

    /// A GitHub Actions workflow command (`::error file=…,line=…::message`);
    /// the runner turns it into an annotation on the file.
    pub fn to_annotation(&self) -> String {
        let command = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "notice",
        };
        let mut props = Vec::new();
        if !self.file.is_empty() {
            props.push(format!("file={}", escape_property(&self.file)));
        }
        if let Some(line) = self.location.line {
            props.push(format!("line={line}"));
        }
        if let Some(col) = self.location.column {
            props.push(format!("col={col}"));
        }
        let message = match self.location.cell {
            Some(cell) => format!("cell {cell}: {}", self.message),
            None => self.message.clone(),
        };
        let props = if props.is_empty() { String::new() } else { format!(" {}", props.join(",")) };
        format!("::{command}{props}::{}", escape_data(&message))
    }
}

/// Workflow command data: `%`, CR and LF would end or corrupt the command.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Property values also must not contain the separators `:` and `,`.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The user-facing account of one build: progress, diagnostics as they come, and the counts the summary shows.
pub struct Report {
    bar: Option<ProgressBar>,
    started: Instant,
    total: u64,
    done: u64,
    /// Jobs whose outputs were produced by running a converter this build.
    pub built: usize,
    /// Jobs whose outputs came from the cache without running a converter.
    pub cached: usize,
    /// Jobs that failed to produce at least one of their outputs (each with an error diagnostic).
    pub failed: usize,
    /// Of the failed jobs, those whose failure was replayed from the cache
    /// (an input error, unchanged since it was recorded) rather than run.
    pub failed_from_cache: usize,
    /// Output files written because they were new or their bytes changed.
    pub written: usize,
    /// Output files left alone because they already held the right bytes.
    pub unchanged: usize,
    /// Stale files swept from the output roots (no longer produced by the course).
    pub removed: usize,
    /// Every diagnostic reported so far, in order, including ones not printed again in watch mode.
    pub diagnostics: Vec<Diagnostic>,
    quiet: bool,
    /// Put in front of the summary (watch mode: what changed).
    pub label: Option<String>,
    format: MessageFormat,
    /// Also print GitHub Actions annotations (`GITHUB_ACTIONS=true`).
    annotations: bool,
    /// Source as displayed -> its job type, for the JSON diagnostics.
    job_types: HashMap<String, String>,
    /// Warnings fail the build (`--strict`).
    strict: bool,
    /// Colour the level of human lines (stderr is a terminal).
    colour: bool,
    /// Diagnostics an earlier build of this `--watch` run showed: recorded
    /// and counted, but not printed again.
    shown_before: HashSet<Diagnostic>,
}

impl Report {
    /// A report that prints progress and diagnostics to stderr; `quiet` keeps notes and the progress display off.
    pub fn new(quiet: bool) -> Report {
        Report {
            bar: None,
            started: Instant::now(),
            total: 0,
            done: 0,
            built: 0,
            cached: 0,
            failed: 0,
            failed_from_cache: 0,
            written: 0,
            unchanged: 0,
            removed: 0,
            diagnostics: Vec::new(),
            quiet,
            label: None,
            format: MessageFormat::Human,
            annotations: std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true"),
            job_types: HashMap::new(),
            strict: false,
            shown_before: HashSet::new(),
            colour: std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    /// Diagnostics shown by an earlier build (watch mode): an unchanged
    /// deck's old warning is not printed on every rebuild.
    pub fn shown_before(mut self, shown: HashSet<Diagnostic>) -> Report {
        self.shown_before = shown;
        self
    }

    /// Count every warning as an error (`--strict`).
    pub fn strict(mut self, strict: bool) -> Report {
        self.strict = strict;
        self
    }

    /// Print diagnostics and the summary as `format` asks (human lines or JSON).
    pub fn with_format(mut self, format: MessageFormat) -> Report {
        self.format = format;
        self
    }

    /// Which job type converts which source (as displayed), so JSON
    /// diagnostics can name it.
    pub fn set_job_types(&mut self, pairs: impl IntoIterator<Item = (String, String)>) {
        self.job_types.extend(pairs);
    }

    /// Start showing progress over `total` jobs, or `total` more when jobs
    /// already run (pages printed once they have landed).
    pub fn start_jobs(&mut self, total: usize) {
        self.total += total as u64;
        if let Some(bar) = &self.bar {
            bar.set_length(self.total);
            return;
        }
        if self.quiet || total == 0 || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = ProgressBar::new(self.total);
        if let Ok(style) = ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {wide_msg}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        self.bar = Some(bar);
    }

    /// A running job's progress message, shown in the progress bar (plain
    /// output has no place for it: it would drown the finished lines).
    pub fn progress(&self, what: &str, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{}: {message}", file_name(what)));
        }
    }

    /// A job reached its end; `what` names it (its source, and a deck's
    /// language: `slides/…/slides_intro.py (de)`).
    pub fn job_finished(&mut self, what: &str) {
        self.done += 1;
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.done);
                // The bar cuts a long message: the file's name and language
                // tell the jobs apart, the folders above do not fit.
                bar.set_message(file_name(what).to_owned());
            }
            None if !self.quiet && self.total > 0 => eprintln!("[{}/{}] {what}", self.done, self.total),
            None => {}
        }
    }

    /// Record a diagnostic and show it now, above the progress bar. The same
    /// problem reported again (a deck fails alike for German and English) is
    /// shown once.
    pub fn diagnostic(&mut self, d: Diagnostic) {
        if self.diagnostics.contains(&d) {
            return;
        }
        if self.shown_before.contains(&d) {
            self.diagnostics.push(d);
            return;
        }
        let mut err_lines = Vec::new();
        match self.format {
            MessageFormat::Human => err_lines.push(d.to_human(self.colour)),
            MessageFormat::Json => {
                let job_type = self.job_types.get(&d.file).map(String::as_str);
                print_json(&d.to_json(job_type));
            }
        }
        if self.annotations {
            err_lines.push(d.to_annotation());
        }
        let print = || err_lines.iter().for_each(|l| eprintln!("{l}"));
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
        self.diagnostics.push(d);
    }

    /// Print an informational line on stderr (above the progress bar, if any); silent when quiet.
    pub fn note(&self, message: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{message}")),
            None => eprintln!("{message}"),
        }
    }

    /// How many errors were reported.
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.level == Level::Error).count()
    }

    /// How many warnings were reported.
    pub fn warnings(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.level == Level::Warning).count()
    }

    /// Whether what was reported fails the build: an error, or under
    /// `--strict` a warning.
    pub fn failed(&self) -> bool {
        self.errors() > 0 || (self.strict && self.warnings() > 0)
    }

    /// Finish: clear the bar and print the summary. Returns whether the build
    /// succeeded (no error at all).
    pub fn finish(&mut self) -> bool {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let errors = self.errors();
        let warnings = self.warnings();
        let failed = self.failed();
        let secs = self.started.elapsed().as_secs_f64();
        // Jobs and messages are counted in their own units: a deck is a job
        // per language, and a problem both of its jobs hit is one message
        // (shown once). "2 failed" and "1 error" then do not read as a
        // contradiction.
        let jobs = self.built + self.cached + self.failed;
        let messages = || format!("{}, {}", counted(errors, "distinct error"), counted(warnings, "distinct warning"));
        eprintln!(
            "{}{} in {secs:.2}s: {}: {} built, {} from cache, {} failed{}; {} files written, {} unchanged, {} removed{}",
            self.label.as_deref().map(|l| format!("{l}: ")).unwrap_or_default(),
            if failed { "Failed" } else { "Finished" },
            counted(jobs, "job"),
            self.built,
            self.cached,
            self.failed,
            match self.failed_from_cache {
                0 => String::new(),
                n => format!(" ({n} replayed from cache)"),
            },
            self.written,
            self.unchanged,
            self.removed,
            match (errors, warnings) {
                (0, 0) => String::new(),
                (_, w) if self.strict && w > 0 => format!("; {} failed the build (--strict)", messages()),
                _ => format!("; {}", messages()),
            }
        );
        if self.format == MessageFormat::Json {
            print_json(&serde_json::json!({
                "reason": "build-finished",
                "success": !failed,
                "jobs": jobs,
                "built": self.built,
                "cached": self.cached,
                "failed": self.failed,
                "failed_from_cache": self.failed_from_cache,
                "written": self.written,
                "unchanged": self.unchanged,
                "removed": self.removed,
                "errors": errors,
                "warnings": warnings,
                "seconds": secs,
            }));
        } else if failed {
            eprintln!("errors:");
            // One line each: tracebacks and tool output were shown above.
            let fails = |d: &&Diagnostic| d.level == Level::Error || (self.strict && d.level == Level::Warning);
            for d in self.diagnostics.iter().filter(fails) {
                let text = console::strip_ansi_codes(&d.to_string()).into_owned();
                let first = text.lines().next().unwrap_or_default();
                let more = if text.contains('\n') { " […]" } else { "" };
                eprintln!("  {first}{more}");
            }
        }
        !failed
    }
}

/// `1 job`, `2 jobs`.
fn counted(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// The last component of a `/`-separated course path, with what follows it
/// (`slides_intro.py (de)`).
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// One JSON line on stdout, flushed so a reader sees it as it happens.
fn print_json(value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (the reader went away) must not stop the build.
    let _ = writeln!(out, "{value}").and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_problem_from_two_jobs_is_recorded_once() {
        let mut report = Report::new(true);
        let d = Diagnostic::error("slides_a.py", Location::line(2), "template error");
        report.diagnostic(d.clone());
        report.diagnostic(d.clone());
        report.diagnostic(Diagnostic::error("slides_a.py", Location::line(3), "template error"));
        assert_eq!(report.errors(), 2);
    }

    #[test]
    fn a_diagnostic_shown_by_an_earlier_build_is_counted_but_not_repeated() {
        let d = Diagnostic::warning("slides_a.py", Location::line(2), "unknown tag");
        let mut report = Report::new(true).shown_before([d.clone()].into_iter().collect()).strict(true);
        report.diagnostic(d);
        assert_eq!(report.warnings(), 1);
        assert!(report.failed(), "--strict fails on the old warning too");
    }

    #[test]
    fn a_location_reads_file_line_column_and_the_cell_once() {
        let d = Diagnostic::error("a.py", Location::cell(Some(4), Some(11)), "cell 4: raised ValueError");
        assert_eq!(d.to_string(), "error: a.py:11: cell 4: raised ValueError");
        let d = Diagnostic::error("a.py", Location::cell(Some(4), Some(11)), "raised ValueError");
        assert_eq!(d.to_string(), "error: a.py:11: cell 4: raised ValueError");
        assert_eq!(Diagnostic::warning("s.xml", Location::at(3, 9), "w").to_string(), "warning: s.xml:3:9: w");
        assert_eq!(Diagnostic::warning("", Location::at(3, 9), "w").to_string(), "warning: w");
        let coloured = Diagnostic::error("a.py", Location::NONE, "\x1b[31mred\x1b[0m");
        assert_eq!(coloured.to_human(false), "error: a.py: red");
        assert!(coloured.to_human(true).starts_with("\x1b["));
    }

    #[test]
    fn the_progress_bar_names_the_deck_file_and_its_language() {
        assert_eq!(file_name("slides/module_100_m/topic_100_intro/slides_intro.py (de)"), "slides_intro.py (de)");
        assert_eq!(file_name("flow.pu"), "flow.pu");
    }

    #[test]
    fn annotations_escape_what_would_break_the_workflow_command() {
        let d = Diagnostic::error("slides/a,b:c.py", Location::cell(Some(3), Some(7)), "50% done\nthen failed");
        assert_eq!(d.to_annotation(), "::error file=slides/a%2Cb%3Ac.py,line=7::cell 3: 50%25 done%0Athen failed");
        let w = Diagnostic::warning("", Location::NONE, "plain");
        assert_eq!(w.to_annotation(), "::warning::plain");
    }

    #[test]
    fn json_diagnostics_carry_location_parts_and_job_type() {
        let d = Diagnostic::error("slides_a.py", Location::cell(Some(2), None), "boom");
        let v = d.to_json(Some("notebook"));
        assert_eq!(v["level"], "error");
        assert_eq!(v["cell"], 2);
        assert!(v["line"].is_null());
        assert_eq!(v["job_type"], "notebook");
    }
}
