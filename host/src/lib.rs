//! The `clx` host: CLI, course model, planner, SQLite queue, cache, worker
//! pool and plugin loader. `ARCHITECTURE.md` at the repository root is the map.

pub mod cache;
pub mod config;
pub mod course;
pub mod db;
pub mod engine;
pub mod job;
pub mod layout;
pub mod output;
pub mod plan;
pub mod planner;
pub mod plugin;
pub mod pool;
pub mod process;
pub mod queue;
pub mod report;
pub mod scratch;
pub mod spec;
pub mod watch;
pub mod worker;
