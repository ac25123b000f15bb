//! The `clx` host library, in three wings that follow the pipeline:
//!
//! * [`course`] reads the course (spec, files, layout) and plans the build;
//! * [`store`] is the record: the job queue and the content-addressed cache,
//!   the only place that speaks SQL;
//! * [`run`] executes a plan: engine, worker pool, workers, output tree.
//!
//! [`build`] ties them together as one library operation. `ARCHITECTURE.md`
//! at the repository root is the map and lists the invariants.

#![warn(missing_docs, unreachable_pub)]

// `missing_docs` holds for the modules below without an `allow`; the others
// still have items to document.
pub mod build;
pub mod config;
pub mod course;
pub mod lockfile;
pub mod plugin;
pub mod preview;
pub mod process;
pub mod report;
pub mod run;
pub mod signals;
pub mod store;
pub mod watch;
