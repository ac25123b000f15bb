//! The build as a library operation: resolved options in, outputs and a
//! report out. `clx build` turns its arguments into [`BuildOptions`], calls
//! [`run`] (or keeps a [`Build`] open for watch mode) and maps the outcome
//! to an exit status; everything between lives here.

use crate::config::Config;
use crate::course::plan::Plan;
use crate::course::planner::{self, CourseInputs, PlanError};
use crate::plugin::Registry;
use crate::report::Report;
use crate::run::engine::{Engine, EngineError, EngineOptions};
use crate::run::output::{self, OutputError};
use crate::store::SessionStatus;

/// Everything one build needs, resolved before work starts.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The course spec, its root, the output folder and how to plan.
    pub course: CourseInputs,
    /// How the engine runs the plan: workers, cache, time-outs.
    pub engine: EngineOptions,
    /// Empty the course's output roots first (`--clean`).
    pub clean: bool,
}

/// Why a build stopped before it finished; a failed deck is not one (it
/// goes into the report and the build goes on).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The course could not be planned (bad spec, layout or file).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The engine could not run the plan, or was interrupted.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// An output root could not be emptied for `--clean`.
    #[error(transparent)]
    Output(#[from] OutputError),
}

impl BuildError {
    /// Whether the build stopped because of Ctrl-C or SIGTERM, which the
    /// binary reports as an interruption rather than an error.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, BuildError::Engine(EngineError::Interrupted))
    }
}

/// A course being built: one engine that serves the first build and, in
/// watch mode, every rebuild (its workers stay warm in between).
pub struct Build<'r> {
    registry: &'r Registry,
    course: CourseInputs,
    clean: bool,
    engine: Engine<'r>,
    /// How long the last plan took, until the build it is for.
    planned_in: std::cell::Cell<Option<std::time::Duration>>,
}

impl<'r> Build<'r> {
    /// Start the engine (and its workers) for the course in `options`;
    /// nothing is planned or built yet.
    pub fn open(registry: &'r Registry, config: &'r Config, options: BuildOptions) -> Result<Self, BuildError> {
        let engine = Engine::new(registry, config, options.engine)?;
        Ok(Build { registry, course: options.course, clean: options.clean, engine, planned_in: Default::default() })
    }

    /// Plan the course as it is on disk now.
    pub fn plan(&self) -> Result<Plan, PlanError> {
        let started = std::time::Instant::now();
        let plan = planner::plan(&self.course, self.registry);
        self.planned_in.set(Some(started.elapsed()));
        plan
    }

    /// Plan and build once.
    pub fn build(&mut self, report: &mut Report) -> Result<(), BuildError> {
        let plan = self.plan()?;
        self.build_plan(&plan, report)
    }

    /// Build a plan made by [`Build::plan`]. `--clean` applies to the first
    /// build only.
    pub fn build_plan(&mut self, plan: &Plan, report: &mut Report) -> Result<(), BuildError> {
        if std::mem::take(&mut self.clean) {
            for root in &plan.roots {
                output::clean_root(root)?;
            }
        }
        if let Some(took) = self.planned_in.take() {
            self.engine.planned_in(took);
        }
        Ok(self.engine.build(plan, report)?)
    }

    /// The report the last build wrote for `--timings`.
    pub fn timings_report(&self) -> Option<&std::path::Path> {
        self.engine.timings_report()
    }

    /// Whether Ctrl-C or SIGTERM reached the workers.
    pub fn interrupted(&self) -> bool {
        self.engine.interrupted()
    }

    /// The course inputs this build was opened with (watch mode needs its
    /// root and output).
    pub fn course(&self) -> &CourseInputs {
        &self.course
    }

    /// Stop the workers and record how the session ended.
    pub fn finish(self, status: SessionStatus) -> Result<(), BuildError> {
        Ok(self.engine.finish(status)?)
    }
}

/// How a session ends, from what its last build returned.
pub fn session_status(outcome: &Result<(), BuildError>) -> SessionStatus {
    match outcome {
        Ok(()) => SessionStatus::Done,
        Err(e) if e.is_interrupted() => SessionStatus::Interrupted,
        Err(_) => SessionStatus::Failed,
    }
}

/// Build a course once: plan, run every job, sweep, close the session.
pub fn run(registry: &Registry, config: &Config, options: BuildOptions, report: &mut Report) -> Result<(), BuildError> {
    let mut build = Build::open(registry, config, options)?;
    let outcome = build.build(report);
    build.finish(session_status(&outcome))?;
    outcome
}
