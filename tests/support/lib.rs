//! Shared helpers for the end-to-end tests: where the built `clx` binary and
//! plugin libraries are, and a command builder that isolates each test's
//! state (queue, cache, config) in a temp dir while keeping the real tools.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `target/<profile>`: the tests binary lives in `target/<profile>/deps`.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir").to_path_buf();
    assert!(
        dir.join("clx").exists(),
        "{} has no clx binary: run `cargo build --workspace` before the tests (scripts/test does)",
        dir.display()
    );
    dir
}

pub fn clx_bin() -> PathBuf {
    target_dir().join("clx")
}

/// Path of a built library, by crate name (`clx-plugin-graphviz`).
pub fn library(crate_name: &str) -> PathBuf {
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        crate_name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    let path = target_dir().join(file);
    assert!(path.exists(), "{} missing: run `cargo build --workspace`", path.display());
    path
}

/// The tools dir `scripts/setup` filled, resolved before tests move `HOME`-based dirs.
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CLX_TOOLS_DIR") {
        return dir.into();
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".local/share"));
    data.join("clx/tools")
}

/// One isolated clx environment: its own state dir, config dir and user data dir.
pub struct Env {
    pub home: tempfile::TempDir,
}

impl Default for Env {
    fn default() -> Self {
        Env::new()
    }
}

impl Env {
    pub fn new() -> Env {
        Env { home: tempfile::tempdir().expect("temp dir") }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.home.path().join("state")
    }

    /// A `clx` command in this environment.
    pub fn clx(&self) -> Command {
        let mut cmd = Command::new(clx_bin());
        cmd.env("CLX_HOME", self.state_dir())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("XDG_DATA_HOME", self.home.path().join("data"))
            .env("CLX_TOOLS_DIR", tools_dir())
            .env_remove("CLX_PLUGIN_PATH")
            .env_remove("CLX_LOG");
        cmd
    }

    /// Run `clx ARGS` and return its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.clx().args(args).output().expect("run clx")
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A PNG's width and height, after checking its signature.
pub fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 24, "PNG too short: {} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR", "PNG does not start with IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}
