//! `clx build`: plan the course, run the plan, report; with `--watch`, keep
//! the workers warm and rebuild on every change.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clx::build::{self, Build, BuildError, BuildOptions};
use clx::config::{Config, StateDir};
use clx::course::planner::{CourseInputs, PlanOptions};
use clx::plugin::{CandidateStatus, Registry};
use clx::report::{Diagnostic, ExitStatus, Location, Report};
use clx::run::engine::EngineOptions;
use clx::signals::Interrupt;
use clx::store::SessionStatus;
use clx::watch::CourseWatcher;

use crate::cli::{BuildArgs, GlobalArgs};

pub fn run(global: &GlobalArgs, args: BuildArgs) -> Result<ExitCode> {
    let course = course_inputs(&args)?;
    let (registry, config) = super::discover_plugins(global, Some(&course.data_dir))?;
    // A course that names its plugins stops before anything is written.
    registry.check_requirements(&config.required_plugins)?;
    let course = CourseInputs { options: plan_options(&config), ..course };
    if let Some((job_type, _)) = args.workers.iter().find(|(t, _)| registry.job_type(t).is_none()) {
        let known: Vec<String> = registry.job_types().map(|(_, d)| d.name.to_string()).collect();
        bail!("--workers {job_type}=…: no plugin handles job type `{job_type}`; known: {}", known.join(", "));
    }
    let engine = engine_options(global, &args, &config, &course)?;
    let options = BuildOptions { course, engine, clean: args.clean };

    let mut build = Build::open(&registry, &config, options)?;
    // Plan errors (a broken spec) stop the build before anything is written.
    let plan = build.plan()?;
    let mut report = Report::new(false).with_format(args.message_format);
    report.set_job_types(plan.jobs.iter().map(|j| (j.display.clone(), j.job_type.clone())));
    warn_unused_plugins(&registry, &mut report);
    let outcome = build.build_plan(&plan, &mut report);
    if !args.watch || outcome.as_ref().is_err_and(BuildError::is_interrupted) {
        return finish(build, outcome, report);
    }
    outcome?;
    report.finish();
    watch(build)
}

/// Where the course is and where its outputs go, checked before any work.
fn course_inputs(args: &BuildArgs) -> Result<CourseInputs> {
    let spec = existing(&args.spec, "course spec")?;
    if spec.is_dir() {
        bail!(
            "{} is a directory; pass the course spec file, e.g. {}",
            args.spec.display(),
            args.spec.join("course.xml").display()
        );
    }
    let data_dir = match &args.data_dir {
        Some(d) => existing(d, "data directory")?,
        None => spec
            .parent()
            .and_then(Path::parent)
            .map(Path::to_owned)
            .context("cannot tell the course root from the spec's path; pass it with --data-dir")?,
    };
    if !data_dir.join("slides").is_dir() {
        bail!(
            "{} has no slides/ directory; pass the course root with --data-dir (default: the spec's grandparent)",
            data_dir.display()
        );
    }
    let out_dir = args.output_dir.clone().unwrap_or_else(|| data_dir.join("output"));
    Ok(CourseInputs { spec, data_dir, out_dir, options: PlanOptions::default() })
}

fn plan_options(config: &Config) -> PlanOptions {
    let mut options = PlanOptions::default();
    if let Some(formats) = &config.diagram_formats {
        options.diagram_formats = formats.clone();
    }
    options
}

fn warn_unused_plugins(registry: &Registry, report: &mut Report) {
    for candidate in &registry.candidates {
        if let (
            CandidateStatus::Broken(_) | CandidateStatus::Conflict { .. } | CandidateStatus::Unsafe(_),
            Some(reason),
        ) = (&candidate.status, candidate.status.reason())
        {
            report.diagnostic(Diagnostic::warning(
                candidate.path.display().to_string(),
                Location::NONE,
                format!("plugin not used: {reason}; see `clx plugins list`"),
            ));
        }
    }
}

fn engine_options(
    global: &GlobalArgs,
    args: &BuildArgs,
    config: &Config,
    course: &CourseInputs,
) -> Result<EngineOptions> {
    let mut workers = config.workers.clone();
    workers.extend(args.workers.iter().cloned());
    let state = StateDir::from_env();
    Ok(EngineOptions {
        exe: std::env::current_exe().context("cannot find the clx executable to start workers from")?,
        store: super::store_location(global, config)?,
        local_workers: args.local_workers,
        scratch: state.scratch(),
        label: course.spec.display().to_string(),
        no_cache: args.no_cache,
        workers,
        job_deadline: Duration::from_secs(args.job_timeout.max(1)),
        log_level: global.log_level.clone(),
        keep_stale: args.keep_directory,
        interrupt: Interrupt::install().context("cannot install the Ctrl-C handler")?,
    })
}

fn finish(build: Build<'_>, outcome: Result<(), BuildError>, mut report: Report) -> Result<ExitCode> {
    build.finish(build::session_status(&outcome))?;
    let status = match outcome {
        Ok(()) => {
            if report.finish() {
                ExitStatus::Success
            } else {
                ExitStatus::Failed
            }
        }
        Err(e) if e.is_interrupted() => {
            report.finish();
            eprintln!("interrupted; every output written so far is complete, run `clx build` again to finish");
            ExitStatus::Interrupted
        }
        Err(e) => return Err(e.into()),
    };
    Ok(status.into())
}

fn watch(mut build: Build<'_>) -> Result<ExitCode> {
    let (data_dir, out_dir) = (build.course().data_dir.clone(), build.course().out_dir.clone());
    let watcher = CourseWatcher::new(&data_dir, &out_dir)?;
    eprintln!("watching {} for changes (Ctrl-C to stop)", data_dir.display());
    loop {
        let changed = watcher.next_change(Duration::from_millis(250));
        if build.interrupted() {
            break;
        }
        if changed.is_empty() {
            continue;
        }
        let mut report = Report::new(true);
        let mut names: Vec<&str> = changed.iter().map(String::as_str).take(3).collect();
        let more = changed.len().saturating_sub(names.len());
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        names.sort();
        report.label = Some(format!("changed {}{more}", names.join(", ")));
        match build.plan() {
            Ok(plan) => match build.build_plan(&plan, &mut report) {
                Ok(()) => {}
                Err(e) if e.is_interrupted() => break,
                Err(e) => report.diagnostic(Diagnostic::error("", Location::NONE, e.to_string())),
            },
            Err(e) => report.diagnostic(Diagnostic::error("", Location::NONE, format!("{e:#}"))),
        }
        report.finish();
    }
    build.finish(SessionStatus::Done)?;
    eprintln!("stopped watching");
    Ok(ExitStatus::Success.into())
}

fn existing(path: &Path, what: &str) -> Result<PathBuf> {
    path.canonicalize().with_context(|| format!("{what} {} not found", path.display()))
}
