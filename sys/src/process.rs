//! Child processes that must not outlive the process that started them.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Make `cmd`'s child lead a process group of its own (so it and whatever
/// it starts are signalled and killed as one) and die with the thread that
/// spawns it, even when that thread's process is killed with `kill -9`.
///
/// Linux: `setpgid` and `PR_SET_PDEATHSIG`. Elsewhere: the group only; the
/// child outlives a killed parent until the parent's cleanup finds it.
pub fn own_group_dying_with_parent(cmd: &mut Command) {
    // SAFETY: setpgid and prctl are async-signal-safe and touch only the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::setpgid(0, 0);
            set_parent_death_signal();
            Ok(())
        });
    }
}

/// Make `cmd`'s child die with the thread that spawns it; the start fails
/// when the parent is already gone by the time the child runs (the race
/// the signal alone leaves open). The signal fires when the spawning
/// *thread* ends: spawn from a thread that lives as long as the child may.
///
/// Linux: `PR_SET_PDEATHSIG` and a `getppid` check. Elsewhere: the check
/// only.
pub fn dying_with_parent(cmd: &mut Command) {
    // SAFETY: getpid is async-signal-safe; it runs in the parent here.
    let parent = unsafe { libc::getpid() };
    // SAFETY: prctl and getppid are async-signal-safe and touch only the child.
    unsafe {
        cmd.pre_exec(move || {
            if !set_parent_death_signal() || libc::getppid() != parent {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Die with SIGKILL when the parent does. Returns `false` when the parent
/// is already gone (this process was handed to init or a subreaper).
///
/// Linux: `PR_SET_PDEATHSIG`. Elsewhere: only the check; the process
/// notices its parent's death when a pipe to it closes.
pub fn die_with_parent() -> bool {
    // SAFETY: getppid only reads this process's parent id.
    let parent = unsafe { libc::getppid() };
    set_parent_death_signal() && parent != 1
}

/// Ask for SIGKILL when the parent thread ends; `false` if refused.
#[cfg(target_os = "linux")]
fn set_parent_death_signal() -> bool {
    // SAFETY: prctl with PR_SET_PDEATHSIG only sets a flag on this process.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn set_parent_death_signal() -> bool {
    true
}

/// Whether a process with this id exists (it may belong to another user).
pub fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: signal 0 checks for existence and permission, and sends nothing.
    let answer = unsafe { libc::kill(pid, 0) };
    answer == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether a process of the group runs (exists and is not a zombie):
/// `None` where the system offers no process table to tell.
///
/// Linux: read from `/proc`. Elsewhere: `None`.
pub fn group_has_running_member(group: u32) -> Option<bool> {
    imp::group_has_running_member(group)
}

/// The process's umask, read without setting it (setting it to read it
/// back would change it for every thread meanwhile); `None` where the
/// system cannot tell.
///
/// Linux: `/proc/self/status`. Elsewhere: `None`.
pub fn umask() -> Option<u32> {
    imp::umask()
}

/// This machine's name.
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that.
    let answer = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if answer != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_owned();
    (!name.is_empty()).then_some(name)
}

#[cfg(target_os = "linux")]
mod imp {
    pub(super) fn group_has_running_member(group: u32) -> Option<bool> {
        let entries = std::fs::read_dir("/proc").ok()?;
        let numeric =
            |e: &std::fs::DirEntry| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        Some(entries.flatten().filter(numeric).any(|e| {
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { return false };
            // After the command name (which may hold anything): state, ppid, pgrp.
            let mut fields = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default().split_whitespace();
            let state = fields.next();
            let pgrp = fields.nth(1).and_then(|g| g.parse::<u32>().ok());
            pgrp == Some(group) && state.is_some_and(|s| s != "Z" && s != "X")
        }))
    }

    pub(super) fn umask() -> Option<u32> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
        u32::from_str_radix(line.trim(), 8).ok()
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub(super) fn group_has_running_member(_group: u32) -> Option<bool> {
        None
    }

    pub(super) fn umask() -> Option<u32> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_an_unused_id_is_not() {
        assert!(alive(std::process::id()));
        assert!(!alive(u32::try_from(i32::MAX).unwrap()));
    }

    #[test]
    fn this_machine_has_a_name_and_this_process_a_running_group() {
        assert!(hostname().is_some());
        // SAFETY: getpgrp only reads this process's group id.
        let group = unsafe { libc::getpgrp() };
        assert_eq!(group_has_running_member(u32::try_from(group).unwrap()), Some(true));
    }

    #[test]
    fn a_child_started_dying_with_its_parent_runs() {
        let mut cmd = Command::new("true");
        dying_with_parent(&mut cmd);
        assert!(cmd.status().unwrap().success());
        let mut cmd = Command::new("true");
        own_group_dying_with_parent(&mut cmd);
        assert!(cmd.status().unwrap().success());
    }
}
