//! `clx build`: plan the course, run the plan, report; with `--watch`, keep
//! the workers warm and rebuild on every change.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clx::build::{self, Build, BuildError, BuildOptions};
use clx::config::{Config, ConfigError, StateDir};
use clx::course::plan::Plan;
use clx::course::planner::{CourseInputs, PlanError, PlanOptions, Printer, PRINT_JOB_TYPE};
use clx::course::spec::SpecError;
use clx::plugin::{CandidateStatus, Registry};
use clx::report::{Diagnostic, ExitStatus, Location, MessageFormat, Report};
use clx::run::engine::{EngineError, EngineOptions};
use clx::signals::Interrupt;
use clx::store::SessionStatus;
use clx::watch::CourseWatcher;
use clx_plugin_api::suggest;

use crate::cli::{BuildArgs, GlobalArgs};

/// Told about every finished build of a watched course (`clx serve`
/// serves and reloads from it).
pub(super) trait AfterBuild {
    fn built(&mut self, plan: &Plan, report: &Report) -> Result<()>;
}

impl AfterBuild for () {
    fn built(&mut self, _: &Plan, _: &Report) -> Result<()> {
        Ok(())
    }
}

pub fn run(global: &GlobalArgs, args: BuildArgs) -> Result<ExitCode> {
    run_with(global, args, &mut ())
}

/// `clx build`, telling `after` about every finished build.
pub(super) fn run_with(global: &GlobalArgs, args: BuildArgs, after: &mut dyn AfterBuild) -> Result<ExitCode> {
    let format = args.message_format;
    match build(global, args, after) {
        Ok(code) => Ok(code),
        // An interruption and a reader gone away are no problem of the course.
        Err(e)
            if e.chain().any(|c| {
                c.is::<super::StdoutError>() || c.downcast_ref::<BuildError>().is_some_and(BuildError::is_interrupted)
            }) =>
        {
            Err(e)
        }
        Err(e) => {
            // Whatever stops a build before it runs (spec, config, plan,
            // arguments) is a diagnostic like any other, so JSON readers
            // and CI annotations see it too.
            let mut report = Report::new(true).with_format(format);
            report.diagnostic(stop_diagnostic(&e));
            Ok(ExitStatus::Usage.into())
        }
    }
}

/// The diagnostic of an error that stops the build, at its file and
/// position when it has them.
fn stop_diagnostic(e: &anyhow::Error) -> Diagnostic {
    for cause in e.chain() {
        let refused = match cause.downcast_ref::<BuildError>() {
            Some(BuildError::Engine(EngineError::Config(config))) => Some(config),
            _ => cause.downcast_ref::<ConfigError>(),
        };
        if let Some(config) = refused {
            let (file, at) = config.position();
            let location = at.map_or(Location::NONE, |(l, c)| Location::at(l, c));
            return Diagnostic::error(in_course(file), location, config.message());
        }
        let spec = match cause.downcast_ref::<PlanError>() {
            Some(PlanError::Spec(spec)) => Some(spec),
            _ => cause.downcast_ref::<SpecError>(),
        };
        if let Some(spec) = spec {
            let location = spec.position().map_or(Location::NONE, |(l, c)| Location::at(l, c));
            return Diagnostic::error(in_course(spec.file()), location, spec.message());
        }
    }
    Diagnostic::error("", Location::NONE, crate::render(e))
}

/// A course file as every other message names it: relative to the course
/// root (the nearest folder above it with `slides/`).
fn in_course(path: &Path) -> String {
    match path.ancestors().skip(1).find(|d| d.join("slides").is_dir()) {
        Some(root) => clx::course::paths::display(root, path),
        None => path.display().to_string(),
    }
}

/// A path as the author knows it: relative to the current directory when
/// it is below it.
fn shown(path: &Path) -> String {
    let here = std::env::current_dir().ok().and_then(|d| d.canonicalize().ok());
    match here.as_deref().and_then(|h| path.strip_prefix(h).ok()) {
        Some(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => path.display().to_string(),
    }
}

fn build(global: &GlobalArgs, args: BuildArgs, after: &mut dyn AfterBuild) -> Result<ExitCode> {
    let course = course_inputs(&args)?;
    lock_python_packages(&course.data_dir);
    let (registry, config) = super::discover_plugins(global, Some(&course.data_dir))?;
    // A course that names its plugins stops before anything is written.
    registry.check_requirements(&config.required_plugins)?;
    let course = CourseInputs { options: plan_options(&config, &registry, &args), ..course };
    let known: Vec<String> = registry.job_types().map(|(_, d)| d.name.to_string()).collect();
    let advice = |job_type: &str| {
        let rest = format!("known: {}", known.join(", "));
        suggest::advice(job_type, known.iter().map(String::as_str), |n| format!("`{n}`"), &rest)
    };
    if let Some((job_type, _)) = args.workers.iter().find(|(t, _)| registry.job_type(t).is_none()) {
        bail!("--workers {job_type}=…: no plugin handles job type `{job_type}`{}", advice(job_type));
    }
    if let Some(job_type) = config.workers.keys().find(|t| registry.job_type(t).is_none()) {
        let message = format!("[workers] {job_type}: no plugin handles job type `{job_type}`{}", advice(job_type));
        return Err(config.error_at(&["workers", job_type], message).into());
    }
    let engine = engine_options(global, &args, &config, &course)?;
    let options = BuildOptions { course, engine, clean: args.clean };

    let mut build = Build::open(&registry, &config, options)?;
    // Plan errors (a broken spec) stop the build before anything is written.
    let plan = build.plan()?;
    let strict = args.strict || config.strict;
    let mut report = Report::new(false).with_format(args.message_format).strict(strict);
    report.set_job_types(plan.jobs.iter().map(|j| (j.display.clone(), j.job_type.clone())));
    warn_unused_plugins(&registry, &mut report);
    let outcome = build.build_plan(&plan, &mut report);
    if !args.watch || outcome.as_ref().is_err_and(BuildError::is_interrupted) {
        return finish(build, outcome, report);
    }
    outcome?;
    report.finish();
    print_timings(&build);
    after.built(&plan, &report)?;
    watch(build, args.poll, args.message_format, strict, report.diagnostics.iter().cloned().collect(), after)
}

/// Lock the course's `requirements.txt` when it has no lock made from it,
/// before planning, so the lock's text is what the jobs carry. A lock that
/// cannot be made is a warning: the decks then install the file as written
/// and report what fails.
fn lock_python_packages(root: &Path) {
    match clx::lockfile::ensure(root) {
        Ok(Some(locked)) => {
            if let Some(line) = super::env::resolved_line(&locked) {
                eprintln!("{line}");
            }
        }
        Ok(None) => {}
        Err(e @ clx::lockfile::LockError::NotUtf8 { .. }) => {
            eprintln!("warning: {e}; until then the decks run without the course's packages")
        }
        Err(e) => eprintln!("warning: {}: cannot lock the course's Python packages: {e}", clx::lockfile::REQUIREMENTS),
    }
}

/// Where the course is and where its outputs go, checked before any work.
fn course_inputs(args: &BuildArgs) -> Result<CourseInputs> {
    let given = match &args.spec {
        Some(spec) => spec.clone(),
        None => find_spec(&std::env::current_dir().context("cannot read the current directory")?)?,
    };
    let spec = existing(&given, "course spec")?;
    if spec.is_dir() {
        bail!(
            "{} is a directory; pass the course spec file, e.g. {}",
            given.display(),
            given.join("course.xml").display()
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

fn plan_options(config: &Config, registry: &Registry, args: &BuildArgs) -> PlanOptions {
    let mut options = PlanOptions::default();
    if let Some(formats) = &config.diagram_formats {
        options.diagram_formats = formats.clone();
    }
    options.slides = args.slides || config.slides;
    options.pdf = args.pdf || config.pdf;
    options.printer = registry
        .job_type(PRINT_JOB_TYPE)
        .map(|(plugin, decl)| Printer { plugin: plugin.name().to_owned(), job_type: decl.name.to_string() });
    options.site.mathjax = mathjax_dir();
    if options.slides {
        options.site.reveal = tool_dir("CLX_REVEAL", "reveal.js", REVEAL_VERSION, "dist/reveal.js");
    }
    options.site.settings = config.site.clone();
    options
}

/// The MathJax `scripts/setup` installed: `CLX_MATHJAX`, else the version
/// it installs in the tools dir.
fn mathjax_dir() -> Option<PathBuf> {
    tool_dir("CLX_MATHJAX", "mathjax", MATHJAX_VERSION, "tex-chtml-full.js")
}

/// A tool `scripts/setup` installed: `$variable`, else
/// `<tools>/<name>/<version>`, when it holds `file`.
fn tool_dir(variable: &str, name: &str, version: &str, file: &str) -> Option<PathBuf> {
    let dir = std::env::var_os(variable)
        .map(PathBuf::from)
        .or_else(|| clx_plugin_api::tools_dir().map(|t| t.join(name).join(version)))?;
    dir.join(file).is_file().then_some(dir)
}

/// The MathJax release `scripts/setup` installs.
const MATHJAX_VERSION: &str = "3.2.2";

/// The reveal.js release `scripts/setup` installs.
const REVEAL_VERSION: &str = "5.2.1";

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
        store: super::store_location(&args.queue, config)?,
        local_workers: args.local_workers,
        scratch: state.scratch(),
        label: course.spec.display().to_string(),
        no_cache: args.no_cache,
        workers,
        job_deadline: Duration::from_secs(args.job_timeout.max(1)),
        log_level: global.log_level.clone(),
        keep_stale: args.keep_directory,
        timings: args.timings.then(|| state.timings()),
        interrupt: Interrupt::install().context("cannot install the Ctrl-C handler")?,
    })
}

fn finish(build: Build<'_>, outcome: Result<(), BuildError>, mut report: Report) -> Result<ExitCode> {
    let mut timings = build.timings_report().map(Path::to_owned);
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
            timings = None;
            eprintln!("interrupted; every output written so far is complete, run `clx build` again to finish");
            ExitStatus::Interrupted
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(html) = timings {
        eprintln!("timings: {}", html.display());
    }
    Ok(status.into())
}

/// Where `--timings` put the last build's report, after its summary.
fn print_timings(build: &Build<'_>) {
    if let Some(html) = build.timings_report() {
        eprintln!("timings: {}", html.display());
    }
}

/// `shown`: the diagnostics printed so far; a rebuild prints only new ones.
fn watch(
    mut build: Build<'_>,
    poll: Option<u64>,
    format: MessageFormat,
    strict: bool,
    mut shown: HashSet<Diagnostic>,
    after: &mut dyn AfterBuild,
) -> Result<ExitCode> {
    let (data_dir, out_dir) = (build.course().data_dir.clone(), build.course().out_dir.clone());
    let watcher = CourseWatcher::new(&data_dir, &out_dir, poll.map(Duration::from_millis))?;
    match watcher.poll_interval() {
        None => eprintln!("watching {} for changes (Ctrl-C to stop)", data_dir.display()),
        Some(every) => eprintln!(
            "watching {} for changes, looking every {} ms (Ctrl-C to stop)",
            data_dir.display(),
            every.as_millis()
        ),
    }
    loop {
        let changed = watcher.next_change(Duration::from_millis(250));
        if build.interrupted() {
            break;
        }
        if changed.is_empty() {
            continue;
        }
        let mut report = Report::new(true).with_format(format).strict(strict).shown_before(shown.clone());
        let mut names: Vec<&str> = changed.iter().map(String::as_str).take(3).collect();
        let more = changed.len().saturating_sub(names.len());
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        names.sort();
        report.label = Some(format!("changed {}{more}", names.join(", ")));
        let plan = match build.plan() {
            Ok(plan) => {
                match build.build_plan(&plan, &mut report) {
                    Ok(()) => {}
                    Err(e) if e.is_interrupted() => break,
                    Err(e) => report.diagnostic(stop_diagnostic(&e.into())),
                }
                Some(plan)
            }
            // A broken spec stops this rebuild only, at its file and line.
            Err(e) => {
                report.diagnostic(stop_diagnostic(&e.into()));
                None
            }
        };
        report.finish();
        print_timings(&build);
        if let Some(plan) = plan {
            after.built(&plan, &report)?;
        }
        shown.extend(std::mem::take(&mut report.diagnostics));
    }
    build.finish(SessionStatus::Done)?;
    eprintln!("stopped watching");
    Ok(ExitStatus::Success.into())
}

/// The spec of the course around `here`, as cargo finds its manifest: the
/// nearest folder (this one or above) with `course-specs/`, and there the
/// one `*.xml`.
fn find_spec(here: &Path) -> Result<PathBuf> {
    let Some(dir) = here.ancestors().map(|d| d.join("course-specs")).find(|d| d.is_dir()) else {
        bail!(
            "no course spec given and no course-specs/ folder in {} or above; pass the spec, e.g. \
             `clx build course-specs/course.xml`, or run clx inside a course",
            here.display()
        );
    };
    let mut specs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml") && p.is_file())
        .collect();
    specs.sort();
    match specs.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("{} holds no *.xml course spec; pass the spec to build", dir.display()),
        many => {
            let names: Vec<String> = many.iter().map(|p| shown(p)).collect();
            bail!("{} holds several course specs; pass the one to build: {}", dir.display(), names.join(", "))
        }
    }
}

fn existing(path: &Path, what: &str) -> Result<PathBuf> {
    path.canonicalize().with_context(|| format!("{what} {} not found", path.display()))
}
