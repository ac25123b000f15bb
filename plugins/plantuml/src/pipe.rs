//! One long-lived PlantUML JVM in `-pipe` mode: a diagram in on stdin, its
//! image (or `ERROR` report) out on stdout, framed by a random delimiter.
//! One request in flight at a time, so an answer can never be misattributed.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use std::os::unix::process::CommandExt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Image(Vec<u8>),
    /// 0-based line inside the block, and PlantUML's messages.
    SyntaxError { line: u32, message: String },
}

#[derive(Debug, thiserror::Error)]
pub enum PipeError {
    #[error("cannot start `{java}`: {source}; install Java (scripts/setup)")]
    Spawn { java: String, source: std::io::Error },
    #[error("the PlantUML JVM exited unexpectedly")]
    Died,
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
        cmd.args(["-Djava.awt.headless=true", "-DPLANTUML_LIMIT_SIZE=8192", "-Xmx512m", "-XX:+UseSerialGC", "-jar"])
            .arg(&tools.jar)
            .args(["-pipe", "-charset", "UTF-8", "-filename", "plantuml.pu", "-pipeNoStderr"])
            .arg(format!("-t{format}"))
            .args(if format == "png" { &["-Sdpi=200"][..] } else { &[][..] })
            .arg("-pipedelimitor")
            .arg(&delimiter)
            .current_dir(cwd.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own group, so a timeout kills the JVM and a hung `dot`
            // together; the parent-death signal ends it with the worker.
            .process_group(0);
        // SAFETY: prctl only sets a flag on the child.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|source| PipeError::Spawn { java: tools.java.display().to_string(), source })?;
        let stdin = child.stdin.take().ok_or(PipeError::Died)?;
        let mut stdout = child.stdout.take().ok_or(PipeError::Died)?;
        let (tx, out) = mpsc::channel();
        std::thread::spawn(move || {
            let mut chunk = vec![0u8; 64 * 1024];
            while let Ok(n) = stdout.read(&mut chunk) {
                if n == 0 || tx.send(chunk[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Ok(PipeJvm { child, stdin, out, buffer: Vec::new(), delimiter: delimiter.into_bytes(), _cwd: cwd, fresh: true })
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
        self.stdin.write_all(request.as_bytes()).and_then(|_| self.stdin.flush()).map_err(|_| PipeError::Died)?;
        let deadline = Instant::now() + timeout;
        let end = self.delimiter.len() + 1;
        let mut searched = 0;
        loop {
            if let Some(pos) = memchr::memmem::find(&self.buffer[searched..], &self.delimiter) {
                let pos = searched + pos;
                if self.buffer.len() >= pos + end {
                    let payload: Vec<u8> = self.buffer[..pos].to_vec();
                    self.buffer.drain(..pos + end);
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
                Err(RecvTimeoutError::Disconnected) => return Err(PipeError::Died),
            }
        }
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

/// `java -jar plantuml.jar -version`, first line.
pub fn version(tools: &Tools) -> Result<String, String> {
    let out = Command::new(&tools.java)
        .arg("-jar")
        .arg(&tools.jar)
        .arg("-version")
        .output()
        .map_err(|e| format!("cannot run `{}` ({e}); install Java: scripts/setup", tools.java.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .next()
        .filter(|l| l.starts_with("PlantUML"))
        .map(str::to_owned)
        .ok_or_else(|| format!("{} is not a PlantUML jar (-version printed nothing); run scripts/setup", tools.jar.display()))
}
