//! Finding, loading and checking converter plugins.
//!
//! `search` decides where to look, `loader` turns one file into a checked
//! plugin (or a reason why not), `registry` puts the loaded plugins together:
//! one owner per job type, and file classification for the course model.

pub mod loader;
pub mod registry;
pub mod search;

pub use loader::{LoadError, LoadedPlugin};
pub use registry::{Candidate, CandidateStatus, Registry};
pub use search::{Found, SearchDir, SearchOrigin, SearchPath};
