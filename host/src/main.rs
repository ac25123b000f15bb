//! The `clx` binary: parse the command line, run the command, render errors.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = if commands::completions::wants_version(&args) {
        // Leaked once: the process prints the text and exits.
        let text: &'static str = Box::leak(commands::completions::version_text().into_boxed_str());
        let matches = cli::Cli::command().version(text).long_version(text).get_matches_from(args);
        cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    } else {
        cli::Cli::parse_from(args)
    };
    // The database URL, password included, has been read (clap takes the
    // variable); no process clx starts inherits it, and its text in this
    // process's environment block is overwritten. A worker gets it passed
    // explicitly and takes it the same way.
    clx::sys::take_secret_env(clx::store::QUEUE_URL_VAR);
    init_tracing(&cli.global.log_level);
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", render(&e));
            clx::report::ExitStatus::Usage.into()
        }
    }
}

/// The error and its causes, `: `-separated, leaving out a cause whose text
/// the message already carries (typed errors often include their source).
fn render(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    let mut last = text.clone();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) && !cause.ends_with(&last) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        last = cause;
    }
    text
}

fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}
