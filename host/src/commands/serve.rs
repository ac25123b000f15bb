//! `clx serve`: build the course, serve its output directory, rebuild on
//! every change and reload the pages open in a browser.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clx::course::plan::Plan;
use clx::preview::Preview;
use clx::report::Report;

use super::build::AfterBuild;
use crate::cli::{GlobalArgs, PreviewArgs};

pub fn run(global: &GlobalArgs, args: PreviewArgs) -> Result<ExitCode> {
    let PreviewArgs { port, host, open, mut build } = args;
    build.watch = true;
    let mut server = Server { addr: SocketAddr::new(host, port.unwrap_or(0)), open, preview: None };
    super::build::run_with(global, build, &mut server)
}

/// Starts serving after the first build (so the first page a browser asks
/// for exists) and tells the server about every build after it.
struct Server {
    addr: SocketAddr,
    open: bool,
    preview: Option<Preview>,
}

impl AfterBuild for Server {
    fn built(&mut self, plan: &Plan, report: &Report) -> Result<()> {
        if let Some(preview) = &self.preview {
            preview.built(plan, report);
            return Ok(());
        }
        let Some(out_dir) = plan.roots.first().and_then(|r| out_dir_of(r)) else {
            anyhow::bail!("the course has no output folder to serve");
        };
        let preview = Preview::start(&out_dir, self.addr)?;
        preview.built(plan, report);
        if !self.addr.ip().is_loopback() {
            eprintln!("warning: serving on {}: every machine that reaches it can read the course", self.addr.ip());
        }
        // The participants' pages first: those are what an author checks.
        let homes: Vec<String> = plan
            .roots
            .iter()
            .filter_map(|r| r.canonicalize().ok())
            .filter(|r| r.starts_with(out_dir.join("public")))
            .map(|r| preview.url(&r.join("index.html")))
            .collect();
        eprintln!("serving {} on {}", out_dir.display(), preview.url(&out_dir));
        for home in &homes {
            eprintln!("  {home}");
        }
        if self.open {
            if let Some(home) = homes.first() {
                if let Err(e) = webbrowser::open(home) {
                    eprintln!("warning: cannot open a browser: {e}; open {home} yourself");
                }
            }
        }
        self.preview = Some(preview);
        Ok(())
    }
}

/// `<out>/public/En/<Course>` -> `<out>`.
fn out_dir_of(root: &std::path::Path) -> Option<PathBuf> {
    root.parent()?.parent()?.parent()?.canonicalize().ok()
}
