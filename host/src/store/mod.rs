//! The record: the job queue and the content-addressed cache. This is the
//! only place in the host that speaks SQL.

pub mod backend;
pub mod cache;
pub mod db;
pub mod job;
pub mod pg;
pub mod queue;

pub use backend::{Cache, Queue, StoreLocation};
