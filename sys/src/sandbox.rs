//! Kernels in a sandbox: each kernel (or fork server, whose kernels inherit
//! it) runs under bubblewrap (`bwrap`) with the system read-only, the
//! user's home, clx's config and the state dir (queue, cache) hidden behind
//! empty in-memory folders, and only what a deck needs put back: its run
//! directory, the worker's temp dir, the course environments and the tools,
//! optionally without any network. This module is the one place that knows
//! bubblewrap and how this system may refuse it; other systems get an error
//! saying the sandbox needs Linux.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What a sandboxed kernel sees besides the read-only system.
#[derive(Debug, Clone, Default)]
pub struct Sandbox {
    /// Hidden behind an empty folder: the home directory, clx's config,
    /// the state dir.
    pub hidden: Vec<PathBuf>,
    /// Put back writable (inside a hidden folder or not): run directories,
    /// the temp dir, tool caches.
    pub writable: Vec<PathBuf>,
    /// Put back read-only: course environments, the tools dir, venvs.
    pub readable: Vec<PathBuf>,
    /// `false`: no network at all, loopback included; only kernels that
    /// speak over Unix sockets (ipykernel) can run so.
    pub network: bool,
}

static SANDBOX: OnceLock<Sandbox> = OnceLock::new();

/// Run every later kernel of this process in `sandbox`, after checking that
/// bubblewrap can make one on this machine; the error says why not and what
/// to do. Set once per process; later calls only check.
pub fn run_kernels_sandboxed(sandbox: Sandbox) -> Result<(), String> {
    if cfg!(not(target_os = "linux")) {
        return Err("sandbox = true needs Linux: bubblewrap builds the sandbox from Linux namespaces".to_owned());
    }
    let probe =
        std::process::Command::new(BWRAP).args(arguments(&sandbox, Path::new("/bin/true"))).arg("/bin/true").output();
    match probe {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("sandbox = true needs bubblewrap (`bwrap`), which is not installed: run scripts/setup \
                        (or apt-get install bubblewrap)"
                .to_owned())
        }
        Err(e) => return Err(format!("cannot run bubblewrap (`bwrap`) for sandbox = true: {e}")),
        Ok(out) if !out.status.success() => {
            let said = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            return Err(format!(
                "bubblewrap cannot make a sandbox on this machine ({said}); {}",
                why_namespaces_fail().unwrap_or_else(|| "check that unprivileged user namespaces are \
                                                          allowed (sysctl user.max_user_namespaces)"
                    .to_owned())
            ));
        }
        Ok(_) => {}
    }
    let _ = SANDBOX.set(sandbox);
    Ok(())
}

/// Whether kernels run without network; TCP kernels cannot then be reached.
pub fn without_network() -> bool {
    SANDBOX.get().is_some_and(|s| !s.network)
}

const BWRAP: &str = "bwrap";

/// The program and leading arguments that start `program` in the sandbox,
/// or `program` itself when kernels are not sandboxed.
pub fn wrap(program: &str) -> (OsString, Vec<OsString>) {
    match SANDBOX.get() {
        Some(sandbox) => {
            let mut args = arguments(sandbox, Path::new(program));
            args.push(program.into());
            (BWRAP.into(), args)
        }
        None => (program.into(), Vec::new()),
    }
}

fn arguments(sandbox: &Sandbox, program: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> =
        ["--ro-bind", "/", "/", "--die-with-parent", "--unshare-ipc"].iter().map(OsString::from).collect();
    if !sandbox.network {
        args.push("--unshare-net".into());
    }
    let by_depth = |paths: &[PathBuf]| {
        let mut paths: Vec<PathBuf> = paths.iter().filter(|p| p.is_absolute()).cloned().collect();
        paths.sort_by_key(|p| p.components().count());
        paths
    };
    // Hidden first, then what is put back inside, shallow before deep.
    // A home of `/` (some system users have one) is not hidden: that would
    // hide the system itself.
    for hidden in by_depth(&sandbox.hidden).into_iter().filter(|p| p.is_dir() && p.parent().is_some()) {
        args.extend(["--tmpfs".into(), hidden.into_os_string()]);
    }
    let mut readable = sandbox.readable.clone();
    // The interpreter a venv links to may live in a hidden folder (uv's
    // Pythons are under the home directory): its installation goes back too.
    if let Some(prefix) = std::fs::canonicalize(program).ok().and_then(|p| Some(p.parent()?.parent()?.to_owned())) {
        readable.push(prefix);
    }
    for (option, paths) in [("--ro-bind-try", readable), ("--bind-try", sandbox.writable.clone())] {
        for path in by_depth(&paths) {
            args.extend([option.into(), path.clone().into_os_string(), path.into_os_string()]);
        }
    }
    args.push("--".into());
    args
}

/// Why this machine refuses unprivileged namespaces, from the settings that
/// decide it.
fn why_namespaces_fail() -> Option<String> {
    let read = |file: &str| std::fs::read_to_string(file).ok().map(|s| s.trim().to_owned());
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return Some(
            "unprivileged user namespaces are switched off (kernel.unprivileged_userns_clone = 0): \
             sysctl -w kernel.unprivileged_userns_clone=1"
                .to_owned(),
        );
    }
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Some(
            "user namespaces are switched off (user.max_user_namespaces = 0): raise it with sysctl".to_owned(),
        );
    }
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return Some(
            "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1): \
             give bwrap an AppArmor profile that allows userns, or set the sysctl to 0"
                .to_owned(),
        );
    }
    if Path::new("/.dockerenv").exists() {
        return Some(
            "in a Docker container the default seccomp profile refuses new namespaces: run it with \
             --security-opt seccomp=unconfined (and --security-opt apparmor=unconfined on AppArmor hosts)"
                .to_owned(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_folders_come_before_what_is_put_back_inside_them() {
        let home = std::env::temp_dir();
        let inside = home.join("run");
        let sandbox =
            Sandbox { hidden: vec![home.clone()], writable: vec![inside.clone()], readable: vec![], network: false };
        let args: Vec<String> =
            arguments(&sandbox, Path::new("/nonexistent")).iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let tmpfs = args.iter().position(|a| a == "--tmpfs").expect("hidden");
        let bind = args.iter().position(|a| a == "--bind-try").expect("put back");
        assert!(tmpfs < bind && args[bind + 1] == inside.to_string_lossy(), "{args:?}");
        assert!(args.contains(&"--unshare-net".to_owned()) && args.last().map(String::as_str) == Some("--"));
    }
}
