//! What clx asks of the operating system to keep a deck away from the
//! credentials and to leave nothing of it behind: every call that only some
//! systems have lives here, behind functions that say what they achieve.
//!
//! On Linux each does what its name says (`prctl`, `/proc`). Elsewhere the
//! fallbacks are documented per function: the secret is still removed from
//! the environment, but memory protection and orphan collection are
//! unavailable, which is what a user of such a system must know.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as imp;

#[cfg(not(target_os = "linux"))]
mod other;
#[cfg(not(target_os = "linux"))]
use other as imp;

/// Take a secret variable out of this process's environment: returns its
/// value, overwrites the text the process was started with (which
/// `/proc/<pid>/environ` shows to anyone allowed to read it, root included)
/// and removes the variable, so no process started later inherits it.
///
/// Call it before the process starts any thread: the environment is not
/// locked against a concurrent reader.
pub fn take_secret_env(name: &str) -> Option<String> {
    let value = std::env::var(name).ok();
    scrub_env(name);
    std::env::remove_var(name);
    value
}

/// Overwrite the value of `name` in place in the C environment, every copy.
fn scrub_env(name: &str) {
    extern "C" {
        static mut environ: *mut *mut libc::c_char;
    }
    let prefix = format!("{name}=");
    // SAFETY: `environ` is a NULL-terminated array of NUL-terminated strings
    // owned by this process; the caller guarantees no other thread reads or
    // changes it. Only the bytes after `NAME=` and before the NUL change.
    unsafe {
        let mut entry = environ;
        if entry.is_null() {
            return;
        }
        while !(*entry).is_null() {
            let text = std::ffi::CStr::from_ptr(*entry).to_bytes();
            if text.starts_with(prefix.as_bytes()) {
                let value = (*entry).add(prefix.len());
                std::ptr::write_bytes(value, b'*', text.len() - prefix.len());
            }
            entry = entry.add(1);
        }
    }
}

/// Make this process's memory and `/proc/<pid>` files (environment, memory,
/// open files) unreadable to other processes of the same user, and never
/// dump its core, as ssh-agent does: a deck running as the same user cannot
/// read the database password out of the worker. Lost again at `exec`, so
/// the kernels and tools it starts are ordinary processes.
///
/// Linux: `prctl(PR_SET_DUMPABLE, 0)`. Elsewhere: nothing (a same-user
/// process may read the worker's memory; run workers as their own user).
pub fn hide_memory() {
    imp::hide_memory();
}

/// Die when the parent does, even when it is killed by `kill -9`, so no
/// worker outlives its build. Returns `false` when the parent is already
/// gone.
///
/// Linux: `PR_SET_PDEATHSIG`. Elsewhere: `true`, and a worker notices its
/// host's death only when the pipe to it closes.
pub fn die_with_parent() -> bool {
    clx_sys::process::die_with_parent()
}

/// Become the process that inherits every orphan among its descendants:
/// a process a deck started and detached (`setsid`, a double fork) becomes
/// this process's child when its own parent dies, where
/// [`kill_escaped_children`] finds it.
///
/// Linux: `PR_SET_CHILD_SUBREAPER`. Elsewhere: `false` (orphans go to init,
/// out of reach).
pub fn adopt_orphans() -> bool {
    imp::adopt_orphans()
}

/// Kill and reap every child of this process that left its session: a
/// process a deck detached with `setsid` and that this process adopted
/// (see [`adopt_orphans`]), together with everything in that session.
/// Processes this one started itself stay in its session (kernels have a
/// process group of their own, not a session), so they are left alone.
/// Returns how many processes were killed.
///
/// Linux: read from `/proc`. Elsewhere: 0.
pub fn kill_escaped_children() -> usize {
    imp::kill_escaped_children()
}

/// Once this process has stopped what it started itself: wait (up to
/// `limit`) until none of its own children still runs, killing the escaped
/// ones (see [`kill_escaped_children`]) as they arrive. A child's children
/// are handed over only when it has exited, so this is the moment nothing a
/// deck started can still come. Returns how many processes were killed.
///
/// Linux: read from `/proc`. Elsewhere: 0 at once.
pub fn kill_escaped_children_at_exit(limit: std::time::Duration) -> usize {
    imp::kill_escaped_children_at_exit(limit)
}

/// Whether every change to files below `path` reaches a file-system
/// watcher, whoever makes it. Not so where the file system belongs to
/// another system: a Windows drive seen from WSL2 (`/mnt/c`), a folder a
/// container engine shares from its host, a network share (NFS, SMB) —
/// an edit made on the other side sends no event, and watch mode must
/// look for changes itself.
///
/// Linux: the file system's type from `statfs` (9p, FUSE, NFS, SMB and
/// CIFS do not report everything). Elsewhere: `true` (macOS's FSEvents and
/// Windows' change notifications cover local disks; shares there are
/// untested).
pub fn reports_every_change(path: &std::path::Path) -> bool {
    imp::reports_every_change(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_secret_is_gone_from_the_environment_and_its_children() {
        std::env::set_var("CLX_TEST_SECRET_VAR", "hunter2");
        assert_eq!(take_secret_env("CLX_TEST_SECRET_VAR").as_deref(), Some("hunter2"));
        assert!(std::env::var_os("CLX_TEST_SECRET_VAR").is_none());
        let out = std::process::Command::new("env").output().unwrap();
        assert!(!String::from_utf8_lossy(&out.stdout).contains("hunter2"));
    }
}
