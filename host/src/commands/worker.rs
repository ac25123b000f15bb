//! `clx worker`: the process the pool starts; see `clx::run::worker`.
//! With `--probe` it only starts the plugin and prints its tool identities.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clx::run::worker::{self, WorkerConfig};
use clx::store::queue::SessionId;

use crate::cli::WorkerArgs;

pub fn run(args: WorkerArgs) -> Result<ExitCode> {
    // Passed by environment so it never shows in `ps`.
    let plugin_config = std::env::var("CLX_PLUGIN_CONFIG").unwrap_or_else(|_| "{}".to_owned());
    if args.probe {
        let answer = worker::probe(&args.plugin, &plugin_config, &args.job_types);
        println!("{}", serde_json::to_string(&answer).context("cannot encode the probe's answer")?);
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(queue), Some(cache), Some(session)) = (args.queue, args.cache, args.session) else {
        anyhow::bail!("a worker needs --queue, --cache and --session");
    };
    let config = WorkerConfig {
        plugin: args.plugin,
        queue,
        cache,
        session: SessionId(session),
        job_types: args.job_types,
        plugin_config,
    };
    worker::run(config)?;
    Ok(ExitCode::SUCCESS)
}
