//! The back end: executes a plan. The engine turns planned jobs into cache
//! lookups and queue submissions, the pool runs worker processes, workers
//! run plugins, and every result lands in the output tree.

pub mod engine;
pub mod output;
pub mod pool;
pub mod protocol;
pub mod remote;
pub mod scratch;
pub mod serve;
pub mod timings;
pub mod worker;
