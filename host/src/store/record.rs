//! The queue's vocabulary, shared by every backend: ids, statuses, the
//! records `clx status` and the engine read, and what a worker reports.
//! Nothing here knows where the queue lives.

use serde::Serialize;

use crate::report::Location;

/// How often a job may be started before a lost worker fails it for good.
pub const MAX_ATTEMPTS: i64 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SessionId(pub i64);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct JobId(pub i64);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct WorkerId(pub i64);

/// Why a job failed, kept in structured form so reports can show file,
/// location and message, and tools can tell input errors from crashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobError {
    pub message: String,
    /// `line 3`, `cell 2`, … when the error has a place in the source.
    pub location: Option<Location>,
    pub category: ErrorCategory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorCategory {
    /// The source is wrong; the user fixes it.
    Input,
    /// An external tool is missing or broken.
    Tool,
    /// The worker died, hung or timed out.
    Worker,
    /// The plugin itself failed (it panicked, or could not start).
    Plugin,
    /// A bug or an environment problem in clx itself.
    Internal,
    /// The user cancelled the job or the build was interrupted.
    Cancelled,
}

impl ErrorCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCategory::Input => "input",
            ErrorCategory::Tool => "tool",
            ErrorCategory::Worker => "worker",
            ErrorCategory::Plugin => "plugin",
            ErrorCategory::Internal => "internal",
            ErrorCategory::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(s: &str) -> ErrorCategory {
        match s {
            "input" => ErrorCategory::Input,
            "tool" => ErrorCategory::Tool,
            "worker" => ErrorCategory::Worker,
            "plugin" => ErrorCategory::Plugin,
            "cancelled" => ErrorCategory::Cancelled,
            _ => ErrorCategory::Internal,
        }
    }
}

impl JobError {
    fn new(category: ErrorCategory, message: impl Into<String>, location: Option<Location>) -> Self {
        JobError { message: message.into(), location, category }
    }
    pub fn input(message: impl Into<String>, location: Option<Location>) -> Self {
        JobError::new(ErrorCategory::Input, message, location)
    }
    pub fn tool(message: impl Into<String>) -> Self {
        JobError::new(ErrorCategory::Tool, message, None)
    }
    pub fn worker(message: impl Into<String>) -> Self {
        JobError::new(ErrorCategory::Worker, message, None)
    }
    pub fn plugin(message: impl Into<String>) -> Self {
        JobError::new(ErrorCategory::Plugin, message, None)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        JobError::new(ErrorCategory::Internal, message, None)
    }
    pub fn cancelled(message: impl Into<String>) -> Self {
        JobError::new(ErrorCategory::Cancelled, message, None)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Pending,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] =
        [JobStatus::Pending, JobStatus::Running, JobStatus::Done, JobStatus::Failed, JobStatus::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Done | JobStatus::Failed | JobStatus::Cancelled)
    }
}

/// How a build session stands or ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    Running,
    Done,
    Interrupted,
    Failed,
    /// Its host died without closing it; found by the next one.
    Crashed,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Running => "running",
            SessionStatus::Done => "done",
            SessionStatus::Interrupted => "interrupted",
            SessionStatus::Failed => "failed",
            SessionStatus::Crashed => "crashed",
        }
    }

    pub(crate) fn parse(s: &str) -> SessionStatus {
        match s {
            "running" => SessionStatus::Running,
            "done" => SessionStatus::Done,
            "interrupted" => SessionStatus::Interrupted,
            "failed" => SessionStatus::Failed,
            _ => SessionStatus::Crashed,
        }
    }
}

/// What a worker is doing: busy or idle as the jobs it runs show, stopped or
/// dead as the host recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerStatus {
    Idle,
    Busy,
    /// Stopped by the host at the end of a build.
    Stopped,
    /// Lost: crashed, killed or hung.
    Dead,
}

impl WorkerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerStatus::Idle => "idle",
            WorkerStatus::Busy => "busy",
            WorkerStatus::Stopped => "stopped",
            WorkerStatus::Dead => "dead",
        }
    }

    pub(crate) fn parse(s: &str) -> WorkerStatus {
        match s {
            "idle" => WorkerStatus::Idle,
            "busy" => WorkerStatus::Busy,
            "stopped" => WorkerStatus::Stopped,
            _ => WorkerStatus::Dead,
        }
    }
}

/// How a worker's job ended, as [`crate::store::Queue::finish_and_claim`] records it.
#[derive(Debug, Clone, Copy)]
pub enum JobOutcome<'a> {
    /// Converted; `result` is what it produced (the cache entry as JSON).
    Done { result: &'a str },
    /// Failed; `result` is what the converter produced when it ran at all
    /// (outputs that failed, issues).
    Failed { error: &'a JobError, result: Option<&'a str> },
}

/// A job as `clx jobs list` and the build loop see it.
#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    pub id: JobId,
    pub session: SessionId,
    pub job_type: String,
    pub source: String,
    pub status: JobStatus,
    pub attempts: i64,
    pub worker: Option<WorkerId>,
    pub created_at: f64,
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    pub error: Option<JobError>,
    /// The result this job's worker produced in this run (a cache entry as
    /// JSON), set only together with `done` or `failed` by that worker. The
    /// engine lands only this, never whatever the cache holds under the key.
    #[serde(skip)]
    pub result: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkerRecord {
    pub id: WorkerId,
    pub session: SessionId,
    pub job_types: Vec<String>,
    pub pid: i64,
    pub status: WorkerStatus,
    pub heartbeat: f64,
    pub current_job: Option<JobId>,
    pub jobs_done: i64,
    pub jobs_failed: i64,
    pub started_at: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionRecord {
    pub id: SessionId,
    pub spec: String,
    pub pid: i64,
    pub status: SessionStatus,
    pub started_at: f64,
    pub finished_at: Option<f64>,
}

/// What happened to a job whose worker was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeued {
    /// Back to pending for another attempt.
    Pending,
    /// Its attempts are used up (or it was cancelled meanwhile): terminal.
    Terminal,
}

/// A damaged state file that was moved aside and replaced by an empty one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The file that was damaged.
    pub path: std::path::PathBuf,
    /// Where its bytes are now.
    pub moved_to: std::path::PathBuf,
    /// What was wrong with it.
    pub reason: String,
}

impl std::fmt::Display for Recovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} was damaged ({}); moved it to {} and started afresh, so some work is done again",
            self.path.display(),
            self.reason,
            self.moved_to.display()
        )
    }
}

/// Seconds since the Unix epoch: the time stamps of queue rows and cache entries.
pub fn now() -> f64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}
