//! `clx worker`: the process the pool starts; see `clx::run::worker`.

use std::process::ExitCode;

use anyhow::Result;
use clx::run::worker::{self, WorkerConfig};
use clx::store::queue::SessionId;

use crate::cli::WorkerArgs;

pub fn run(args: WorkerArgs) -> Result<ExitCode> {
    let config = WorkerConfig {
        plugin: args.plugin,
        queue: args.queue,
        cache: args.cache,
        session: SessionId(args.session),
        job_types: args.job_types,
        // Passed by environment so it never shows in `ps`.
        plugin_config: std::env::var("CLX_PLUGIN_CONFIG").unwrap_or_else(|_| "{}".to_owned()),
    };
    worker::run(config)?;
    Ok(ExitCode::SUCCESS)
}
