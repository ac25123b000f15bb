//! What a build tells the user: a progress bar on a terminal (plain lines
//! otherwise), every warning and error with file and location, and a summary.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Warning,
    Error,
}

/// One diagnostic, already located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub level: Level,
    /// File the diagnostic is about, as the user knows it.
    pub file: String,
    /// `line 3`, `cell 2`, `3:14` … or empty.
    pub location: String,
    pub message: String,
}

impl Diagnostic {
    pub fn error(file: impl Into<String>, location: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic { level: Level::Error, file: file.into(), location: location.into(), message: message.into() }
    }

    pub fn warning(file: impl Into<String>, location: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic { level: Level::Warning, file: file.into(), location: location.into(), message: message.into() }
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.level {
            Level::Warning => "warning",
            Level::Error => "error",
        };
        match (self.file.is_empty(), self.location.is_empty()) {
            (true, _) => write!(f, "{level}: {}", self.message),
            (false, true) => write!(f, "{level}: {}: {}", self.file, self.message),
            (false, false) => write!(f, "{level}: {}: {}: {}", self.file, self.location, self.message),
        }
    }
}

pub struct Report {
    bar: Option<ProgressBar>,
    started: Instant,
    total: u64,
    done: u64,
    pub built: usize,
    pub cached: usize,
    pub failed: usize,
    pub written: usize,
    pub unchanged: usize,
    pub removed: usize,
    pub diagnostics: Vec<Diagnostic>,
    quiet: bool,
    /// Put in front of the summary (watch mode: what changed).
    pub label: Option<String>,
}

impl Report {
    pub fn new(quiet: bool) -> Report {
        Report {
            bar: None,
            started: Instant::now(),
            total: 0,
            done: 0,
            built: 0,
            cached: 0,
            failed: 0,
            written: 0,
            unchanged: 0,
            removed: 0,
            diagnostics: Vec::new(),
            quiet,
            label: None,
        }
    }

    /// Start showing progress over `total` jobs.
    pub fn start_jobs(&mut self, total: usize) {
        self.total = total as u64;
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

    /// A job reached its end; `what` names its source.
    pub fn job_finished(&mut self, what: &str) {
        self.done += 1;
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.done);
                bar.set_message(what.to_owned());
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
        let line = d.to_string();
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
        self.diagnostics.push(d);
    }

    pub fn note(&self, message: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{message}")),
            None => eprintln!("{message}"),
        }
    }

    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.level == Level::Error).count()
    }

    /// Finish: clear the bar and print the summary. Returns whether the build
    /// succeeded (no error at all).
    pub fn finish(&mut self) -> bool {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let errors = self.errors();
        let warnings = self.diagnostics.len() - errors;
        let secs = self.started.elapsed().as_secs_f64();
        eprintln!(
            "{}{} in {secs:.2}s: {} built, {} from cache, {} failed; {} files written, {} unchanged, {} removed{}",
            self.label.as_deref().map(|l| format!("{l}: ")).unwrap_or_default(),
            if errors == 0 { "Finished" } else { "Failed" },
            self.built,
            self.cached,
            self.failed,
            self.written,
            self.unchanged,
            self.removed,
            match (errors, warnings) {
                (0, 0) => String::new(),
                (e, w) => format!("; {e} error(s), {w} warning(s)"),
            }
        );
        if errors > 0 {
            eprintln!("errors:");
            // One line each: tracebacks and tool output were shown above.
            for d in self.diagnostics.iter().filter(|d| d.level == Level::Error) {
                let text = d.to_string();
                let first = text.lines().next().unwrap_or_default();
                let more = if text.contains('\n') { " […]" } else { "" };
                eprintln!("  {first}{more}");
            }
        }
        errors == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_problem_from_two_jobs_is_recorded_once() {
        let mut report = Report::new(true);
        let d = Diagnostic::error("slides_a.py", "line 2", "template error");
        report.diagnostic(d.clone());
        report.diagnostic(d.clone());
        report.diagnostic(Diagnostic::error("slides_a.py", "line 3", "template error"));
        assert_eq!(report.errors(), 2);
    }
}
