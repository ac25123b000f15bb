//! The worker's stdout protocol: one line per event, which the pool reads.
//! The lines only make the host react fast; the queue stays the record, so
//! a lost line costs time, never a result. A `clx worker serve` on another
//! machine speaks through its row in the queue instead: what it serves and
//! with which tools ([`Capability`]).

use crate::store::{JobId, WorkerId};

pub use clx_plugin_api::LogLevel;

/// The level's word on the wire.
fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    }
}

fn parse_level(word: &str) -> Option<LogLevel> {
    [LogLevel::Trace, LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error]
        .into_iter()
        .find(|l| level_name(*l) == word)
}

/// A line the worker sends to the host. Plugin messages travel as JSON
/// strings, so a newline or a colour code in them cannot break the framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The plugin is loaded and the worker registered in the queue under
    /// this id; a worker that dies before this counts as failing to start.
    Ready(WorkerId),
    /// The worker claimed this job and began converting it; the job's
    /// deadline runs from here.
    Started(JobId),
    /// The job has ended in the queue: the worker's outcome is committed,
    /// or the job ended before it (cancelled).
    Done(JobId),
    /// The worker let go of the job without its outcome recorded: another
    /// worker took it over (its lease ran out) or it is back in the queue.
    /// Its real outcome is still to come; the host waits for it.
    Dropped(JobId),
    /// No job left to claim; the worker waits for a line on its stdin.
    Idle,
    /// The plugin logged while converting `job`.
    Log {
        /// The job being converted.
        job: JobId,
        /// The severity the plugin gave.
        level: LogLevel,
        /// The plugin's text.
        message: String,
    },
    /// The plugin reported how far `job` is.
    Progress {
        /// The job being converted.
        job: JobId,
        /// Steps finished so far.
        done: u32,
        /// Steps in all; 0 when the plugin does not know.
        total: u32,
        /// The plugin's text.
        message: String,
    },
}

impl Event {
    /// Read one line as the worker wrote it; `None` for anything else (a
    /// stray print from a plugin is ignored, not fatal).
    pub fn parse(line: &str) -> Option<Event> {
        let (word, arg) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
        let id = || arg.parse::<i64>().ok();
        Some(match word {
            "ready" => Event::Ready(WorkerId(id()?)),
            "started" => Event::Started(JobId(id()?)),
            "done" => Event::Done(JobId(id()?)),
            "dropped" => Event::Dropped(JobId(id()?)),
            "idle" => Event::Idle,
            "log" => {
                let mut parts = arg.splitn(3, ' ');
                let level = parse_level(parts.next()?)?;
                let job = JobId(parts.next()?.parse().ok()?);
                let message = serde_json::from_str(parts.next()?).ok()?;
                Event::Log { job, level, message }
            }
            "progress" => {
                let mut parts = arg.splitn(4, ' ');
                let job = JobId(parts.next()?.parse().ok()?);
                let done = parts.next()?.parse().ok()?;
                let total = parts.next()?.parse().ok()?;
                let message = serde_json::from_str(parts.next()?).ok()?;
                Event::Progress { job, done, total, message }
            }
            _ => return None,
        })
    }

    /// The event as one line, newline included, for [`Event::parse`].
    pub fn line(&self) -> String {
        match self {
            Event::Ready(w) => format!("ready {}\n", w.0),
            Event::Started(j) => format!("started {}\n", j.0),
            Event::Done(j) => format!("done {}\n", j.0),
            Event::Dropped(j) => format!("dropped {}\n", j.0),
            Event::Idle => "idle\n".to_owned(),
            Event::Log { job, level, message } => format!("log {} {} {}\n", level_name(*level), job.0, json(message)),
            Event::Progress { job, done, total, message } => {
                format!("progress {} {done} {total} {}\n", job.0, json(message))
            }
        }
    }
}

fn json(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// A plugin's progress as people read it (`3/12 cell 3`): on the progress
/// line, in the log and in `clx jobs list`.
pub fn progress_text(done: u32, total: u32, message: &str) -> String {
    if total > 0 {
        format!("{done}/{total} {message}")
    } else {
        message.to_owned()
    }
}

/// What a `clx worker serve` says of one job type it serves, in its
/// workers' rows: a build with no workers of its own keys its jobs with the
/// tool identity found here, so the building machine needs no tools.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Capability {
    /// The job type.
    #[serde(rename = "type")]
    pub job_type: String,
    /// Its plugin's name.
    pub plugin: String,
    /// Its plugin's version.
    pub version: String,
    /// The hash of its plugin library.
    pub library: String,
    /// The tool identity under the plugin's default settings (no
    /// `[converters.<plugin>]` table), or why this machine has none.
    pub identity: Result<String, String>,
}

impl Capability {
    /// The capabilities a worker registered; nothing for text another clx
    /// wrote in another shape.
    pub fn parse_all(text: &str) -> Vec<Capability> {
        serde_json::from_str(text).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_reads_back_as_written_even_with_newlines_and_colour_codes() {
        let events = [
            Event::Ready(WorkerId(3)),
            Event::Started(JobId(7)),
            Event::Done(JobId(7)),
            Event::Dropped(JobId(8)),
            Event::Idle,
            Event::Log { job: JobId(7), level: LogLevel::Warn, message: "two\nlines \u{1b}[31mred\u{1b}[0m".into() },
            Event::Progress { job: JobId(7), done: 2, total: 5, message: "cell 2 of 5".into() },
        ];
        for event in events {
            let line = event.line();
            assert_eq!(line.matches('\n').count(), 1, "one line: {line:?}");
            assert_eq!(Event::parse(&line), Some(event));
        }
    }
}
