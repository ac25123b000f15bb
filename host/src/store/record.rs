//! The queue's vocabulary, shared by every backend: ids, statuses, the
//! records `clx status` and the engine read, and what a worker reports.
//! Nothing here knows where the queue lives.

use serde::Serialize;

use crate::report::Location;

/// How often a job may be started before a lost worker fails it for good.
pub const MAX_ATTEMPTS: i64 = 2;

/// A build session (one `clx build` or watch session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SessionId(pub i64);
/// A job in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct JobId(pub i64);
/// A worker registered with the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct WorkerId(pub i64);

/// Why a job failed, kept in structured form so reports can show file,
/// location and message, and tools can tell input errors from crashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobError {
    /// What went wrong, for people.
    pub message: String,
    /// `line 3`, `cell 2`, … when the error has a place in the source.
    pub location: Option<Location>,
    /// What kind of failure it is.
    pub category: ErrorCategory,
}

/// What caused a job's failure: who has to act.
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
    /// The category as stored and shown.
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
    /// The source is wrong, at `location` when known.
    pub fn input(message: impl Into<String>, location: Option<Location>) -> Self {
        JobError::new(ErrorCategory::Input, message, location)
    }
    /// An external tool is missing or broken.
    pub fn tool(message: impl Into<String>) -> Self {
        JobError::new(ErrorCategory::Tool, message, None)
    }
    /// The worker died, hung or timed out.
    pub fn worker(message: impl Into<String>) -> Self {
        JobError::new(ErrorCategory::Worker, message, None)
    }
    /// The plugin itself failed.
    pub fn plugin(message: impl Into<String>) -> Self {
        JobError::new(ErrorCategory::Plugin, message, None)
    }
    /// A bug or an environment problem in clx itself.
    pub fn internal(message: impl Into<String>) -> Self {
        JobError::new(ErrorCategory::Internal, message, None)
    }
    /// The job was cancelled.
    pub fn cancelled(message: impl Into<String>) -> Self {
        JobError::new(ErrorCategory::Cancelled, message, None)
    }
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for a worker.
    Pending,
    /// Claimed by a worker.
    Running,
    /// Converted.
    Done,
    /// Ended without its result (or with errors).
    Failed,
    /// Cancelled by the user or by the end of its build.
    Cancelled,
}

impl JobStatus {
    /// Every status, in the order `clx status` lists them.
    pub const ALL: [JobStatus; 5] =
        [JobStatus::Pending, JobStatus::Running, JobStatus::Done, JobStatus::Failed, JobStatus::Cancelled];

    /// The status as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// A status from its stored text.
    pub fn parse(s: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the job is over: done, failed or cancelled.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Done | JobStatus::Failed | JobStatus::Cancelled)
    }
}

/// How a build session stands or ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    /// The build runs.
    Running,
    /// The build ended.
    Done,
    /// Ctrl-C or SIGTERM ended the build.
    Interrupted,
    /// The build could not run to its end.
    Failed,
    /// Its host died without closing it; found by the next one.
    Crashed,
}

impl SessionStatus {
    /// The status as stored and shown.
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
    /// Alive, with no job.
    Idle,
    /// Alive and running a job.
    Busy,
    /// Stopped by the host at the end of a build.
    Stopped,
    /// Lost: crashed, killed or hung.
    Dead,
}

impl WorkerStatus {
    /// The status as stored and shown.
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

/// How a worker's job ended, as [`crate::store::Queue::hand_over`] records it.
#[derive(Debug, Clone, Copy)]
pub enum JobOutcome<'a> {
    /// Converted; `result` is what it produced (the cache entry as JSON).
    Done {
        /// The cache entry as JSON.
        result: &'a str,
    },
    /// Failed; `result` is what the converter produced when it ran at all
    /// (outputs that failed, issues).
    Failed {
        /// Why.
        error: &'a JobError,
        /// The cache entry as JSON, when the converter ran.
        result: Option<&'a str>,
    },
}

/// A job as `clx jobs list` and the build loop see it.
#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    /// The job's id.
    pub id: JobId,
    /// The session it belongs to.
    pub session: SessionId,
    /// Its job type.
    pub job_type: String,
    /// What `clx jobs list` shows: the source file, or what else it converts.
    pub source: String,
    /// Where it stands.
    pub status: JobStatus,
    /// How often it was started.
    pub attempts: i64,
    /// The worker that holds or last held it.
    pub worker: Option<WorkerId>,
    /// When it was submitted (seconds since the epoch).
    pub created_at: f64,
    /// When its latest attempt started.
    pub started_at: Option<f64>,
    /// When it ended.
    pub finished_at: Option<f64>,
    /// Why it failed, when it did.
    pub error: Option<JobError>,
    /// The result this job's worker produced in this run (a cache entry as
    /// JSON), set only together with `done` or `failed` by that worker. The
    /// engine lands only this, never whatever the cache holds under the key.
    #[serde(skip)]
    pub result: Option<String>,
    /// The last progress its plugin reported (`3/12 cell 3`), if any.
    pub progress: Option<String>,
}

/// A `clx worker serve` that is alive (it beat within a lease period), as
/// a build asks for it: what it serves and what it said about itself.
#[derive(Debug, Clone)]
pub struct ServerRecord {
    /// The worker's id.
    pub id: WorkerId,
    /// The machine it runs on.
    pub host: String,
    /// Its process id (on its own machine).
    pub pid: i64,
    /// What it can meet (see [`crate::store::requirement`]).
    pub requirements: Vec<String>,
    /// What it registered as its capabilities (JSON written by the worker).
    pub capabilities: String,
}

/// A worker as `clx workers` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerRecord {
    /// The worker's id.
    pub id: WorkerId,
    /// Its session (0 for a `clx worker serve` of any session).
    pub session: SessionId,
    /// The job types it takes.
    pub job_types: Vec<String>,
    /// Its process id (on its own machine).
    pub pid: i64,
    /// What it is doing.
    pub status: WorkerStatus,
    /// When it last proved it was alive.
    pub heartbeat: f64,
    /// The job it runs, if any.
    pub current_job: Option<JobId>,
    /// Jobs it converted.
    pub jobs_done: i64,
    /// Jobs that failed in its hands.
    pub jobs_failed: i64,
    /// When it registered.
    pub started_at: f64,
}

/// A build session as `clx status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionRecord {
    /// The session's id.
    pub id: SessionId,
    /// What it builds (the spec path).
    pub spec: String,
    /// Its host's process id.
    pub pid: i64,
    /// How it stands or ended.
    pub status: SessionStatus,
    /// When it started.
    pub started_at: f64,
    /// When it ended.
    pub finished_at: Option<f64>,
}

/// What happened to a job whose worker was lost or let it go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeued {
    /// Back to pending for another attempt.
    Pending,
    /// Its attempts are used up (or it was cancelled meanwhile): terminal.
    Terminal,
    /// Not running for whoever asked: already pending again, or another
    /// worker's claim now. Left as it is.
    Elsewhere,
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
