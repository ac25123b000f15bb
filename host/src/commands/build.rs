//! `clx build`: plan the course, run the plan, report; with `--watch`, keep
//! the workers warm and rebuild on every change.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clx::config::Config;
use clx::engine::{Engine, EngineError, EngineOptions};
use clx::plan::Plan;
use clx::planner::{self, PlanOptions};
use clx::plugin::{CandidateStatus, Registry};
use clx::report::{Diagnostic, Report};
use clx::watch::CourseWatcher;

use crate::cli::{BuildArgs, GlobalArgs};
use crate::commands::inspect::{cache_dir, queue_path, scratch_dir};

struct Course {
    spec: PathBuf,
    data_dir: PathBuf,
    out_dir: PathBuf,
    plan_options: PlanOptions,
}

impl Course {
    fn plan(&self, registry: &Registry) -> Result<Plan, planner::PlanError> {
        planner::plan(&self.spec, &self.data_dir, &self.out_dir, registry, &self.plan_options)
    }
}

pub fn run(global: &GlobalArgs, args: BuildArgs) -> Result<ExitCode> {
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
    let (registry, config) = super::discover_plugins(global, Some(&data_dir))?;
    let mut plan_options = PlanOptions::default();
    if let Some(formats) = &config.diagram_formats {
        plan_options.diagram_formats = formats.clone();
    }
    let course = Course { spec, data_dir, out_dir, plan_options };
    let options = engine_options(global, &args, &config, &course)?;
    if let Some((job_type, _)) = args.workers.iter().find(|(t, _)| registry.job_type(t).is_none()) {
        let known: Vec<String> = registry.job_types().map(|(_, d)| d.name.to_string()).collect();
        bail!("--workers {job_type}=…: no plugin handles job type `{job_type}`; known: {}", known.join(", "));
    }

    let plan = course.plan(&registry)?;
    if args.clean {
        for root in &plan.roots {
            clx::output::clean_root(root)?;
        }
    }
    let mut engine = Engine::new(&registry, &config, options)?;
    let mut report = Report::new(false);
    // A plugin that cannot be used may be the one this course needs: say so
    // here, not only in `clx plugins list`.
    for candidate in &registry.candidates {
        if let (CandidateStatus::Broken(_) | CandidateStatus::Conflict { .. }, Some(reason)) =
            (&candidate.status, candidate.status.reason())
        {
            report.diagnostic(Diagnostic::warning(
                candidate.path.display().to_string(),
                "",
                format!("plugin not used: {reason}; see `clx plugins list`"),
            ));
        }
    }
    let outcome = engine.build(&plan, &mut report);
    if !args.watch || matches!(outcome, Err(EngineError::Interrupted)) {
        return finish(engine, outcome, report);
    }
    outcome?;
    report.finish();
    watch(&course, &registry, engine)
}

fn engine_options(global: &GlobalArgs, args: &BuildArgs, config: &Config, course: &Course) -> Result<EngineOptions> {
    let mut workers = config.workers.clone();
    workers.extend(args.workers.iter().cloned());
    Ok(EngineOptions {
        exe: std::env::current_exe().context("cannot find the clx executable to start workers from")?,
        queue: queue_path(),
        cache: cache_dir(),
        scratch: scratch_dir(),
        label: course.spec.display().to_string(),
        no_cache: args.no_cache,
        workers,
        job_deadline: Duration::from_secs(args.job_timeout.max(1)),
        log_level: global.log_level.clone(),
        keep_stale: args.keep_directory,
    })
}

fn finish(engine: Engine<'_>, outcome: Result<(), EngineError>, mut report: Report) -> Result<ExitCode> {
    let status = match &outcome {
        Ok(()) => "done",
        Err(EngineError::Interrupted) => "interrupted",
        Err(_) => "failed",
    };
    engine.finish(status)?;
    match outcome {
        Ok(()) => Ok(if report.finish() { ExitCode::SUCCESS } else { ExitCode::from(1) }),
        Err(EngineError::Interrupted) => {
            report.finish();
            eprintln!("interrupted; every output written so far is complete, run `clx build` again to finish");
            Ok(ExitCode::from(130))
        }
        Err(e) => Err(e.into()),
    }
}

/// Rebuild on every change until Ctrl-C or SIGTERM. Errors are reported and
/// never stop the watcher.
fn watch(course: &Course, registry: &Registry, mut engine: Engine<'_>) -> Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).context("cannot install the Ctrl-C handler")?;
    }
    let watcher = CourseWatcher::new(&course.data_dir, &course.out_dir)?;
    eprintln!("watching {} for changes (Ctrl-C to stop)", course.data_dir.display());
    loop {
        let changed = watcher.next_change(Duration::from_millis(250));
        if stop.load(Ordering::Relaxed) || engine.interrupted() {
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
        match course.plan(registry) {
            Ok(plan) => match engine.build(&plan, &mut report) {
                Ok(()) => {}
                Err(EngineError::Interrupted) => break,
                Err(e) => report.diagnostic(Diagnostic::error("", "", e.to_string())),
            },
            Err(e) => report.diagnostic(Diagnostic::error("", "", format!("{e:#}"))),
        }
        report.finish();
    }
    engine.finish("done")?;
    eprintln!("stopped watching");
    Ok(ExitCode::SUCCESS)
}

fn existing(path: &Path, what: &str) -> Result<PathBuf> {
    path.canonicalize().with_context(|| format!("{what} {} not found", path.display()))
}
