//! `clx worker`: the process the pool starts; see `clx::run::worker`.
//! With `--probe` it only starts the plugin and prints its tool identities.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clx::run::worker::{self, WorkerConfig};
use clx::signals::Interrupt;
use clx::store::{SessionId, StoreLocation};

use crate::cli::{GlobalArgs, QueueArgs, ServeArgs, WorkerArgs, WorkerCommand};

pub fn run(global: &GlobalArgs, args: WorkerArgs) -> Result<ExitCode> {
    if let Some(WorkerCommand::Serve(serve)) = &args.command {
        return self::serve(global, &args.queue, serve);
    }
    let Some(plugin) = args.plugin else { anyhow::bail!("a worker needs --plugin") };
    // Passed by environment so it never shows in `ps`.
    let plugin_config = std::env::var("CLX_PLUGIN_CONFIG").unwrap_or_else(|_| "{}".to_owned());
    if args.probe {
        let answer = worker::probe(&plugin, &plugin_config, &args.job_types);
        println!("{}", serde_json::to_string(&answer).context("cannot encode the probe's answer")?);
        return Ok(ExitCode::SUCCESS);
    }
    let Some(session) = args.session else { anyhow::bail!("a worker needs --session") };
    let store = match (args.queue_db, args.cache_dir, args.queue.queue_url.as_deref()) {
        (Some(queue), Some(cache), _) => StoreLocation::Local { queue, cache },
        (None, None, Some(url)) => StoreLocation::resolve(Some(url), Path::new(""), Path::new(""))?,
        _ => anyhow::bail!("a worker needs --queue-db and --cache-dir, or a PostgreSQL --queue"),
    };
    let config = WorkerConfig { plugin, store, session: SessionId(session), job_types: args.job_types, plugin_config };
    worker::run(config)?;
    Ok(ExitCode::SUCCESS)
}

/// `clx worker serve`: serve every build that uses the same PostgreSQL
/// database, until SIGTERM or Ctrl-C.
fn serve(global: &GlobalArgs, queue: &QueueArgs, args: &ServeArgs) -> Result<ExitCode> {
    // Read by plugins when they make a converter; set while this process
    // has no other thread.
    if args.sandbox {
        std::env::set_var("CLX_SANDBOX", "1");
    }
    std::env::set_var(clx_plugin_api::SERVING_ENV, "1");
    let (registry, config) = super::discover_plugins(global, None)?;
    let store = super::store_location(queue, &config)?;
    if !store.is_shared() {
        anyhow::bail!(
            "clx worker serve needs a PostgreSQL queue: pass --queue postgres://USER@HOST/DB or set CLX_QUEUE_URL"
        );
    }
    let interrupt = Interrupt::install().context("cannot install the SIGTERM handler")?;
    let options = clx::run::serve::ServeOptions {
        store,
        types: args.types.clone(),
        jobs: args.jobs.map(|n| n as usize),
        interrupt,
    };
    clx::run::serve::serve(&registry, options)?;
    Ok(ExitCode::SUCCESS)
}
