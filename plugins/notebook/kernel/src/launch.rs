//! What every process started for a kernel shares, plainly spawned kernels
//! and fork servers alike: the environment it sees, the transport its client
//! uses, its own process group, the lock around spawning, and the loopback
//! ports a TCP kernel listens on.

use std::path::Path;

use crate::kernelspec::Kernelspec;
use crate::KernelError;

/// The environment variables kernels may see, when the course restricts
/// them; unset, kernels inherit clx's whole environment.
static ENV_ALLOWLIST: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Start every later kernel of this process with only these variables of
/// clx's own environment (plus its kernelspec's `env` and the few that clx
/// sets for every kernel), so tokens in the shell that ran `clx build` do not
/// reach the decks. Set once per process; later calls are ignored.
pub fn pass_only_env(names: Vec<String>) {
    let _ = ENV_ALLOWLIST.set(names);
}

/// Where kernels keep the caches that would go below `$HOME` (`tool` is
/// the tool's name) when the user has none they can write.
static HOMELESS_CACHES: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Kernels of a user without a writable home directory (a system user, a
/// container's `nobody`, systemd's `DynamicUser`) keep the caches of the
/// tools they run (Deno, npm, Matplotlib, anything following XDG) below
/// `dir`. Set once per process; later calls are ignored.
pub fn cache_without_home_in(dir: std::path::PathBuf) {
    let _ = HOMELESS_CACHES.set(dir);
}

/// The cache variables kernels get when `$HOME` is missing or cannot be
/// written; a variable clx's environment already sets is left alone.
fn homeless_cache_vars() -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
    let Some(dir) = HOMELESS_CACHES.get() else { return Vec::new() };
    if home_is_writable() {
        return Vec::new();
    }
    [("XDG_CACHE_HOME", "xdg"), ("DENO_DIR", "deno"), ("npm_config_cache", "npm"), ("MPLCONFIGDIR", "matplotlib")]
        .into_iter()
        .filter(|(var, _)| std::env::var_os(var).is_none_or(|v| v.is_empty()))
        .map(|(var, tool)| (var.into(), dir.join(tool).into()))
        .collect()
}

/// Whether `$HOME` names a directory this process may write.
fn home_is_writable() -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) else { return false };
    let Ok(path) = std::ffi::CString::new(home.as_bytes()) else { return false };
    // SAFETY: access only reads the NUL-terminated path.
    unsafe { libc::access(path.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// Python's string-hash salt; set, so runs print sets alike.
const PYTHONHASHSEED: &str = "PYTHONHASHSEED";

/// The JVM options JJava's launcher hands to the kernel's JVM.
const JJAVA_JVM_OPTS: &str = "JJAVA_JVM_OPTS";

/// A deck's JVM lives for seconds: the client compiler alone starts it and
/// compiles jshell's snippets in well under half the CPU time of the tiered
/// default (a 20-cell deck 3.2 s instead of 7.4 s on the loaded 2-core
/// machine), and a serial collector suits one short-lived heap.
const DECK_JVM_OPTS: &str = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC";

/// The options a Java kernel's JVM starts with: `JJAVA_JVM_OPTS` as clx's
/// environment sets it, else [`DECK_JVM_OPTS`]. A kernelspec that runs
/// `java` itself gets them on its command line (the one `scripts/setup`
/// writes starts the kernel's JVM directly, one process the parent-death
/// signal reaches); JJava's launcher JVM gets them there too and hands the
/// variable on to the kernel's JVM.
pub(crate) fn jvm_options() -> String {
    std::env::var(JJAVA_JVM_OPTS).unwrap_or_else(|_| DECK_JVM_OPTS.to_owned())
}

/// The environment a kernel of a kernelspec starts with: clx's own (or only
/// its allowlisted part), the variables clx sets for every kernel, then the
/// kernelspec's `env`. A fork server starts with the same, so a forked
/// kernel sees exactly what a plainly started one would.
pub(crate) struct LaunchEnv {
    clear: bool,
    vars: Vec<(std::ffi::OsString, std::ffi::OsString)>,
}

impl LaunchEnv {
    pub(crate) fn for_spec(spec: &Kernelspec) -> LaunchEnv {
        let mut vars: Vec<(std::ffi::OsString, std::ffi::OsString)> = Vec::new();
        let clear = match ENV_ALLOWLIST.get() {
            Some(names) => {
                vars.extend(names.iter().filter_map(|n| Some((n.into(), std::env::var_os(n)?))));
                true
            }
            None => false,
        };
        vars.push(("JPY_PARENT_PID".into(), std::process::id().to_string().into()));
        vars.push(("PYDEVD_DISABLE_FILE_VALIDATION".into(), "1".into()));
        vars.push(("IPYTHONDIR".into(), std::env::temp_dir().join("clx-ipython").into()));
        vars.push(("DENO_NO_UPDATE_CHECK".into(), "1".into()));
        if std::env::var_os(PYTHONHASHSEED).is_none() {
            // Python salts string hashes per process, so a set of strings
            // prints in another order on every run; one seed makes a deck's
            // pages the same on every build and machine.
            vars.push((PYTHONHASHSEED.into(), "0".into()));
        }
        vars.extend(homeless_cache_vars());
        if Wire::for_spec(spec) == Wire::Tcp {
            // Deno styles values for a terminal unless told not to; the
            // escape codes would end up in the pages.
            vars.push(("NO_COLOR".into(), "1".into()));
        }
        if spec.spec.language.eq_ignore_ascii_case("java") && std::env::var_os(JJAVA_JVM_OPTS).is_none() {
            vars.push((JJAVA_JVM_OPTS.into(), DECK_JVM_OPTS.into()));
        }
        if let Some(env) = &spec.spec.env {
            vars.extend(env.iter().map(|(k, v)| (k.into(), v.into())));
        }
        LaunchEnv { clear, vars }
    }

    pub(crate) fn apply(&self, cmd: &mut std::process::Command) {
        if self.clear {
            cmd.env_clear();
        }
        cmd.envs(self.vars.iter().map(|(k, v)| (k, v)));
    }
}

/// How the client reaches the kernel's sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Unix sockets in the kernel's runtime dir: no ports to race for, but
    /// only kernels built on libzmq/pyzmq accept it.
    Ipc,
    /// Loopback ports: every kernel speaks it (Deno, evcxr, the JeroMQ and
    /// NetMQ kernels of Java and .NET accept nothing else).
    Tcp,
}

impl Wire {
    /// IPC only where the kernel is known to accept it: ipykernel.
    pub fn for_spec(spec: &Kernelspec) -> Wire {
        if spec.spec.argv.iter().any(|a| a.starts_with("ipykernel")) {
            Wire::Ipc
        } else {
            Wire::Tcp
        }
    }
}

/// Forking while another launch still holds its reserved listening sockets
/// would hand them to our child until it execs, and the other kernel's
/// client would then connect to a socket nobody accepts on. Reserving,
/// spawning and releasing happen under this lock.
pub(crate) static SPAWN_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// An exclusive lock, shared by every process of this user, held while a TCP
/// kernel goes from reserved ports to listening on them. `None` when the
/// lock file cannot be used (then starts are only serialised in-process).
pub(crate) fn port_lock() -> Option<std::fs::File> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    // Not TMPDIR: every worker has a private one, and the lock must be shared.
    let path = format!("/tmp/clx-kernel-ports-{uid}.lock");
    let file = std::fs::OpenOptions::new().create(true).truncate(false).read(true).write(true).open(path).ok()?;
    // SAFETY: flock on a descriptor this function owns; released on close.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0;
    locked.then_some(file)
}

/// Five free loopback ports, each still bound so no one else gets it
/// before the kernel is spawned.
pub(crate) fn reserve_ports() -> Result<([u16; 5], Vec<std::net::TcpListener>), KernelError> {
    let mut ports = [0u16; 5];
    let mut listeners = Vec::with_capacity(5);
    for port in &mut ports {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| KernelError::Io("cannot reserve a loopback port".into(), e))?;
        *port = listener.local_addr().map_err(|e| KernelError::Io("cannot reserve a loopback port".into(), e))?.port();
        listeners.push(listener);
    }
    Ok((ports, listeners))
}

/// Whether a failed start looks like a port taken by another process in
/// the moment between our release and the kernel's bind.
pub(crate) fn lost_a_port(error: &KernelError) -> bool {
    match error {
        KernelError::DiedAtStart { log, .. } | KernelError::Died { log, .. } => {
            let log = log.to_ascii_lowercase();
            log.contains("address already in use") || log.contains("addrinuse") || log.contains("address in use")
        }
        // Another kernel answered on the port: its replies fail our signature.
        KernelError::Protocol(_) => true,
        _ => false,
    }
}

/// The last lines of a kernel's or server's log, for an error message.
pub(crate) fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
