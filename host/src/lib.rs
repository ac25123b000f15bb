//! The `clx` host library, in three wings that follow the pipeline:
//!
//! * [`course`] reads the course (spec, files, layout) and plans the build;
//! * [`store`] is the record: the job queue and the content-addressed cache,
//!   the only place that speaks SQL;
//! * [`run`] executes a plan: engine, worker pool, workers, output tree.
//!
//! [`build`] ties them together as one library operation. `ARCHITECTURE.md`
//! at the repository root is the map and lists the invariants.

// Every public item says what it is for, and nothing is `pub` that no other
// module can reach; `clippy -D warnings` turns both into errors.
#![warn(missing_docs, unreachable_pub)]

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
pub mod sys;
pub mod watch;
