//! A misbehaving-on-request converter for testing the host: the first word of
//! a `.testjob` source says what to do.
//!
//! * `ok TEXT`       outputs TEXT
//! * `warn TEXT`     outputs TEXT and reports a warning on line 1
//! * `sleep MS TEXT` sleeps, then outputs TEXT
//! * `fail TEXT`     fails with TEXT on line 1
//! * `panic TEXT`    panics
//! * `abort`         aborts the process
//! * `exit`          exits the process with code 3
//! * `hang`          never returns
//! * `missing TEXT`  fails with TEXT as an environment issue (a missing tool)
//! * `log TEXT`      outputs TEXT after logging it through the host at every
//!   level, with a progress message between
//! * `steps MS TEXT` reports `1/2 halfway`, sleeps, reports `2/2 finishing`
//!
//! With `CLX_TESTKIT_SWITCH` naming a file that exists, that file's contents
//! are used instead of the source: a test changes what a job does without
//! changing its input (and so its cache key). `CLX_TESTKIT_ON_START` and
//! `CLX_TESTKIT_ON_IDENTITY` (`abort`, `hang`, `panic`, `fail`) make `new()`
//! or `tool_identity()` misbehave; with `CLX_TESTKIT_PROBE_LOG` set, every
//! `tool_identity()` call appends `<pid>` to that file, with
//! `CLX_TESTKIT_START_LOG` every `new()` (a converter started).
//!
//! With `CLX_TESTKIT_LOG` set, every conversion first appends
//! `<pid> <source path>` to that file, so tests can count how often each job
//! ran and find the worker that runs a job.

use std::time::Duration;

use clx_plugin_api::*;

pub struct Testkit;

impl Plugin for Testkit {
    fn manifest() -> Manifest {
        Manifest::new("testkit", "0.1.0")
            .description("test converter that misbehaves on request")
            .job_type(JobTypeDecl::new("testkit", Role::Diagram).suffixes(&[".testjob"]).formats(&["txt"]))
    }

    fn new(_config: &str) -> Result<Self, String> {
        log_pid("CLX_TESTKIT_START_LOG")?;
        misbehave("CLX_TESTKIT_ON_START")?;
        Ok(Testkit)
    }

    fn tool_identity(&self, _job_type: &str) -> Result<String, String> {
        log_pid("CLX_TESTKIT_PROBE_LOG")?;
        misbehave("CLX_TESTKIT_ON_IDENTITY")?;
        Ok(std::env::var("CLX_TESTKIT_IDENTITY").unwrap_or_else(|_| "testkit 1".to_owned()))
    }

    fn convert(&self, job: &Job, host: &Host<'_>) -> Result<JobResult, Issue> {
        if let Ok(log) = std::env::var("CLX_TESTKIT_LOG") {
            use std::io::Write;
            let line = format!("{} {}\n", std::process::id(), job.source_path);
            // One write of a short line to an O_APPEND file is atomic, so
            // concurrent workers never interleave their lines.
            let appended = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .and_then(|mut f| f.write_all(line.as_bytes()));
            if let Err(e) = appended {
                return Err(Issue::error(format!("cannot append to {log}: {e}")));
            }
        }
        let switched = std::env::var("CLX_TESTKIT_SWITCH").ok().and_then(|f| std::fs::read_to_string(f).ok());
        let text = match &switched {
            Some(text) => text.trim(),
            None => job.source_text()?.trim(),
        };
        let (verb, rest) = text.split_once(' ').unwrap_or((text, ""));
        let mut result = JobResult::new();
        let payload = match verb {
            "ok" => rest.to_owned(),
            "warn" => {
                result.issue(Issue::warning(rest).at_line(1));
                rest.to_owned()
            }
            "sleep" => {
                let (ms, text) = rest.split_once(' ').unwrap_or((rest, ""));
                let ms: u64 = ms.parse().map_err(|_| Issue::error("sleep needs milliseconds").at_line(1))?;
                std::thread::sleep(Duration::from_millis(ms));
                text.to_owned()
            }
            "fail" => return Err(Issue::error(rest).at_line(1)),
            "missing" => return Err(Issue::error(rest).environment()),
            "log" => {
                host.log(LogLevel::Debug, &format!("debug: {rest}"));
                host.info(&format!("info: {rest}"));
                host.progress(1, 2, "halfway");
                host.warn(&format!("warn: {rest}"));
                rest.to_owned()
            }
            "panic" => panic!("{rest}"),
            "abort" => std::process::abort(),
            "exit" => std::process::exit(3),
            "hang" => loop {
                std::thread::sleep(Duration::from_secs(3600));
            },
            "steps" => {
                let (ms, text) = rest.split_once(' ').unwrap_or((rest, ""));
                let ms: u64 = ms.parse().map_err(|_| Issue::error("steps needs milliseconds").at_line(1))?;
                host.progress(1, 2, "halfway");
                std::thread::sleep(Duration::from_millis(ms));
                host.progress(2, 2, "finishing");
                text.to_owned()
            }
            other => return Err(Issue::error(format!("unknown testkit verb `{other}`")).at_line(1)),
        };
        for out in job.outputs.iter() {
            result.output(&out.id, payload.clone().into_bytes());
        }
        Ok(result)
    }
}

/// Misbehave as the variable `var` asks.
fn misbehave(var: &str) -> Result<(), String> {
    match std::env::var(var).as_deref() {
        Ok("abort") => std::process::abort(),
        Ok("hang") => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
        Ok("panic") => panic!("{var} asked for a panic"),
        Ok("fail") => Err(format!("{var} asked for a failure")),
        _ => Ok(()),
    }
}

export_plugin!(Testkit);

/// Append this process's id to the file the variable `var` names, if set.
fn log_pid(var: &str) -> Result<(), String> {
    use std::io::Write;
    let Ok(log) = std::env::var(var) else { return Ok(()) };
    let line = format!("{}\n", std::process::id());
    let appended =
        std::fs::OpenOptions::new().create(true).append(true).open(&log).and_then(|mut f| f.write_all(line.as_bytes()));
    appended.map_err(|e| format!("cannot append to {log}: {e}"))
}
