//! One long-lived PlantUML JVM in `-pipe` mode: a diagram in on stdin, its
//! image (or `ERROR` report) out on stdout, framed by a random delimiter.
//! One request in flight at a time, so an answer can never be misattributed.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use std::os::unix::process::CommandExt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Image(Vec<u8>),
    /// 0-based line inside the block, and PlantUML's messages.
    SyntaxError {
        line: u32,
        message: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PipeError {
    /// Java or the jar is missing; the message names the fix.
    #[error("{0}")]
    Setup(String),
    #[error("cannot start `{java}`: {source}; install Java (scripts/setup)")]
    Spawn { java: String, source: std::io::Error },
    #[error("the PlantUML JVM exited unexpectedly{0}")]
    Died(String),
    #[error("PlantUML did not answer within {0} s")]
    Timeout(u64),
    #[error("PlantUML answered with something that is not an image: {0}")]
    Garbage(String),
}

pub struct Tools {
    pub java: PathBuf,
    pub jar: PathBuf,
}

pub struct PipeJvm {
    child: Child,
    stdin: ChildStdin,
    out: Receiver<Vec<u8>>,
    /// What the JVM wrote to stderr since the last answer.
    stderr: Arc<Mutex<Vec<u8>>>,
    buffer: Vec<u8>,
    delimiter: Vec<u8>,
    /// Work dir: relative `!include`s resolve here.
    _cwd: tempfile::TempDir,
    fresh: bool,
}

impl PipeJvm {
    pub fn start(tools: &Tools, format: &str) -> Result<PipeJvm, PipeError> {
        let delimiter = format!("__CLX_PLANTUML_{:016x}{:016x}__", rand_u64(), rand_u64());
        let cwd = tempfile::tempdir().map_err(|source| PipeError::Spawn { java: "a work dir".into(), source })?;
        let mut cmd = Command::new(&tools.java);
        // The client compiler only: a course's few dozen diagrams never repay
        // C2's compile threads, which cost a third of the JVM's CPU time and
        // about 20 MB at the peak; the images are byte for byte the same.
        cmd.args(["-Djava.awt.headless=true", "-DPLANTUML_LIMIT_SIZE=8192", "-Xmx512m", "-XX:+UseSerialGC"])
            .arg("-XX:TieredStopAtLevel=1")
            .arg("-jar")
            .arg(&tools.jar)
            .args(["-pipe", "-charset", "UTF-8", "-filename", "plantuml.pu", "-pipeNoStderr"])
            .arg(format!("-t{format}"))
            .args(if format == "png" { &["-Sdpi=200"][..] } else { &[][..] })
            .arg("-pipedelimitor")
            .arg(&delimiter)
            .current_dir(cwd.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group, so a timeout kills the JVM and a hung `dot`
            // together.
            .process_group(0);
        // The JVM must not outlive the worker. The signal fires when the
        // spawning *thread* ends, hence `spawn_from_long_lived_thread`.
        clx_sys::process::dying_with_parent(&mut cmd);
        let mut child = spawn_from_long_lived_thread(cmd)
            .map_err(|source| PipeError::Spawn { java: tools.java.display().to_string(), source })?;
        let stdin = child.stdin.take().ok_or_else(|| PipeError::Died(String::new()))?;
        let mut stdout = child.stdout.take().ok_or_else(|| PipeError::Died(String::new()))?;
        let mut stderr_pipe = child.stderr.take().ok_or_else(|| PipeError::Died(String::new()))?;
        let (tx, out) = mpsc::channel();
        std::thread::spawn(move || {
            let mut chunk = vec![0u8; 64 * 1024];
            while let Ok(n) = stdout.read(&mut chunk) {
                if n == 0 || tx.send(chunk[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        // Drained always: a JVM blocked on a full stderr pipe looks hung.
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut chunk = vec![0u8; 8 * 1024];
            while let Ok(n) = stderr_pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
                sink.extend_from_slice(&chunk[..n]);
                // Only the tail matters (OOM marker, last words before dying).
                if sink.len() > 64 * 1024 {
                    let cut = sink.len() - 16 * 1024;
                    sink.drain(..cut);
                }
            }
        });
        Ok(PipeJvm {
            child,
            stdin,
            out,
            stderr,
            buffer: Vec::new(),
            delimiter: delimiter.into_bytes(),
            _cwd: cwd,
            fresh: true,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Render one block. The first request after a start also pays for the
    /// JVM start and a cold JIT, so it gets a longer deadline.
    pub fn render(&mut self, block: &str, timeout: Duration) -> Result<Answer, PipeError> {
        let timeout = if self.fresh { timeout * 2 } else { timeout };
        self.fresh = false;
        let mut request = block.to_owned();
        request.push('\n');
        if self.stdin.write_all(request.as_bytes()).and_then(|_| self.stdin.flush()).is_err() {
            return Err(self.died());
        }
        let deadline = Instant::now() + timeout;
        let end = self.delimiter.len() + 1;
        let mut searched = 0;
        loop {
            if let Some(pos) = memchr::memmem::find(&self.buffer[searched..], &self.delimiter) {
                let pos = searched + pos;
                if self.buffer.len() >= pos + end {
                    let payload: Vec<u8> = self.buffer[..pos].to_vec();
                    self.buffer.drain(..pos + end);
                    let stderr = self.take_stderr();
                    if stderr.contains("OutOfMemoryError") {
                        // The payload is PlantUML's crash picture, not the diagram.
                        return Err(PipeError::Garbage(
                            "PlantUML ran out of memory (java.lang.OutOfMemoryError)".into(),
                        ));
                    }
                    return classify(payload);
                }
            }
            searched = self.buffer.len().saturating_sub(self.delimiter.len());
            let left = deadline.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(left) {
                Ok(chunk) => self.buffer.extend_from_slice(&chunk),
                Err(RecvTimeoutError::Timeout) => {
                    self.kill();
                    return Err(PipeError::Timeout(timeout.as_secs()));
                }
                Err(RecvTimeoutError::Disconnected) => return Err(self.died()),
            }
        }
    }

    fn take_stderr(&self) -> String {
        let mut sink = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let text = String::from_utf8_lossy(&sink).into_owned();
        sink.clear();
        text
    }

    /// The JVM is gone: reap it and keep its last words for the message.
    fn died(&mut self) -> PipeError {
        self.kill();
        // The stderr reader may still be copying the final bytes.
        std::thread::sleep(Duration::from_millis(20));
        let stderr = self.take_stderr();
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        PipeError::Died(if last.is_empty() { String::new() } else { format!(": {last}") })
    }

    pub fn kill(&mut self) {
        // SAFETY: signals only the JVM's own process group.
        unsafe {
            libc::killpg(self.child.id() as libc::pid_t, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Drop for PipeJvm {
    fn drop(&mut self) {
        self.kill();
    }
}

type SpawnRequest = (Command, Sender<std::io::Result<Child>>);

/// Spawn on one thread that lives as long as the process, so the JVM's
/// parent-death signal means "the worker died", not "the thread that
/// happened to start it ended".
fn spawn_from_long_lived_thread(cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("plantuml-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .ok();
        Mutex::new(tx)
    });
    let (reply, answer) = mpsc::channel();
    let unavailable = || std::io::Error::other("the PlantUML spawner thread is gone");
    spawner.lock().unwrap_or_else(|e| e.into_inner()).send((cmd, reply)).map_err(|_| unavailable())?;
    answer.recv().map_err(|_| unavailable())?
}

fn classify(payload: Vec<u8>) -> Result<Answer, PipeError> {
    if payload.starts_with(b"\x89PNG\r\n\x1a\n") && payload.ends_with(b"IEND\xaeB`\x82") {
        if contains(&payload, b"has crashed") {
            return Err(PipeError::Garbage("PlantUML crashed while drawing".into()));
        }
        return Ok(Answer::Image(payload));
    }
    let text = String::from_utf8_lossy(&payload);
    if let Some(report) = text.strip_prefix("ERROR\n") {
        let mut lines = report.lines();
        let line = lines.next().and_then(|l| l.trim().parse().ok()).unwrap_or(0);
        let message = lines.collect::<Vec<_>>().join("; ");
        return Ok(Answer::SyntaxError { line, message });
    }
    let trimmed = text.trim_end();
    if (trimmed.starts_with("<svg") || trimmed.starts_with("<?xml")) && trimmed.ends_with("</svg>") {
        if trimmed.contains("has crashed") {
            return Err(PipeError::Garbage("PlantUML crashed while drawing".into()));
        }
        return Ok(Answer::Image(payload));
    }
    if payload.is_empty() {
        return Err(PipeError::Garbage("an empty answer".into()));
    }
    Err(PipeError::Garbage(text.chars().take(80).collect()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS; enough for a delimiter that must
    // not appear in image bytes by chance.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish()
}
