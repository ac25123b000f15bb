//! Child processes that must not outlive the process that started them.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Make `cmd`'s child lead a process group of its own (so it and whatever
/// it starts are signalled and killed as one) and die with the thread that
/// spawns it, even when that thread's process is killed with `kill -9`;
/// the start fails when the parent is already gone by the time the child
/// runs. The signal reaches only the child: when the child may fork the
/// program that does the work (a launcher), start it in a group its
/// [`GroupGuard`] leads instead ([`join_group_dying_with_parent`]).
///
/// Linux: `setpgid` and `PR_SET_PDEATHSIG`. Elsewhere: the group only; the
/// child outlives a killed parent until the parent's cleanup finds it.
pub fn own_group_dying_with_parent(cmd: &mut Command) {
    dying_with_parent_in(cmd, Some(0));
}

/// Start `cmd`'s child in `guard`'s process group, dying with the thread
/// that spawns it as [`own_group_dying_with_parent`] says: whatever the
/// child forks stays in the group, which the guard kills when this process
/// dies, however it dies, at any moment of the start.
pub fn join_group_dying_with_parent(cmd: &mut Command, guard: &GroupGuard) {
    dying_with_parent_in(cmd, Some(guard.pid));
}

/// [`dying_with_parent`], in process group `group` first when given (0: a
/// group of the child's own).
fn dying_with_parent_in(cmd: &mut Command, group: Option<libc::pid_t>) {
    // SAFETY: getpid is async-signal-safe; it runs in the parent here.
    let parent = unsafe { libc::getpid() };
    // SAFETY: setpgid, prctl and getppid are async-signal-safe and touch
    // only the child. A parent killed between the fork and the prctl would
    // leave the child running for good: the getppid check refuses the start.
    unsafe {
        cmd.pre_exec(move || {
            let joined = group.is_none_or(|group| libc::setpgid(0, group) == 0);
            if !joined || !set_parent_death_signal() || libc::getppid() != parent {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A process in another process's group that kills the whole group when
/// this process dies, however it dies, `kill -9` included.
///
/// The parent-death signal reaches only the process clx started. A
/// launcher that forks the program doing the work (JJava's launcher JVM
/// starts the kernel's JVM; a shell wrapper forks its command) dies with
/// clx, but what it forked is orphaned and lives on. The guard blocks on a
/// pipe only this process writes to; when this process is gone the system
/// closes the pipe, and the guard kills its group, itself included. Other
/// ways were weighed: a subreaper only adopts orphans while it lives, and
/// a killed worker is no longer there to kill them; a PID namespace or a
/// cgroup would end every member with its leader but needs privileges or
/// user namespaces that containers and some distributions deny. A pipe and
/// a process group work for any program and on every Unix.
///
/// The guard leads the group and is forked before the program joins it
/// ([`join_group_dying_with_parent`]), so no moment of the start leaves a
/// launcher's child unguarded, and it holds none of the descriptors the
/// program is started with (reserved ports, pipes). It blocks the signals
/// a kernel's group gets (SIGINT interrupts, SIGTERM asks to stop), so it
/// lives until the group is killed with SIGKILL or this process dies.
/// Dropping the guard kills and reaps it.
#[derive(Debug)]
pub struct GroupGuard {
    pid: libc::pid_t,
}

impl GroupGuard {
    /// Fork a guard leading a new process group, for a program to join.
    pub fn lead() -> std::io::Result<GroupGuard> {
        let watch = lifeline()?;
        // The guard starts with every signal blocked, so none the group
        // gets can end it (nor run a handler of ours in the copy), and
        // this thread's own mask comes back right after the fork.
        // SAFETY: sigfillset and pthread_sigmask only fill and swap signal
        // masks owned here. In the child, which never returns from here,
        // only async-signal-safe calls run (the parent's other threads are
        // not copied, so nothing may allocate or take a lock). setpgid on
        // our own child that has not exec'd is allowed, and done on both
        // sides so the guard is in the group once this returns.
        unsafe {
            let (mut all, mut before) = (std::mem::zeroed(), std::mem::zeroed());
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut before);
            let pid = libc::fork();
            if pid == 0 {
                guard(watch);
            }
            let forked = std::io::Error::last_os_error();
            libc::pthread_sigmask(libc::SIG_SETMASK, &before, std::ptr::null_mut());
            if pid < 0 {
                return Err(forked);
            }
            libc::setpgid(pid, pid);
            Ok(GroupGuard { pid })
        }
    }

    /// The group the guard leads: its own process id.
    pub fn group(&self) -> i32 {
        self.pid
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        // SAFETY: signals and reaps only the guard, our own child, which
        // nothing else waits for; SIGKILL ends it at once.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

/// The read end of a pipe whose write end this process holds until it
/// dies, both closed on `exec`: a reader sees end-of-file exactly when no
/// process holding the write end is left. Made once per process.
fn lifeline() -> std::io::Result<libc::c_int> {
    static LIFELINE: std::sync::OnceLock<Result<libc::c_int, i32>> = std::sync::OnceLock::new();
    let made = LIFELINE.get_or_init(|| {
        let mut fds = [0 as libc::c_int; 2];
        // Both ends stay open for the process's lifetime: the write end is
        // the lifeline itself, the read end what guards inherit.
        if imp::cloexec_pipe(&mut fds) {
            Ok(fds[0])
        } else {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EMFILE))
        }
    });
    made.map_err(std::io::Error::from_raw_os_error)
}

/// The guard, in a child forked from a process with threads and started
/// with every signal blocked (only SIGKILL ends it): lead a group of its
/// own, keep only the lifeline (a copy of its write end held here would
/// keep it open forever, and a pipe whose reader waits for a kernel's
/// end-of-file must not stay open here either), wait until the lifeline
/// ends, then kill the group.
fn guard(watch: libc::c_int) -> ! {
    // SAFETY: only async-signal-safe calls on this process's own
    // descriptors, signal dispositions and process group.
    unsafe {
        if libc::setpgid(0, 0) != 0 || libc::dup2(watch, 0) != 0 {
            libc::_exit(0);
        }
        imp::name_guard();
        imp::close_from(1);
        let mut byte = 0u8;
        loop {
            let read = libc::read(0, (&raw mut byte).cast(), 1);
            if read == 0 || (read < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR)) {
                break;
            }
        }
        libc::kill(0, libc::SIGKILL);
        libc::_exit(0)
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
    dying_with_parent_in(cmd, None);
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
    pub(super) fn cloexec_pipe(fds: &mut [libc::c_int; 2]) -> bool {
        // SAFETY: pipe2 writes two descriptors into the array it is given.
        unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) == 0 }
    }

    /// Name the guard in `ps` and `/proc` (it is a copy of its parent).
    pub(super) fn name_guard() {
        // SAFETY: PR_SET_NAME copies at most 16 bytes of the NUL-terminated name.
        unsafe {
            libc::prctl(libc::PR_SET_NAME, c"clx-guard".as_ptr());
        }
    }

    /// Close every descriptor from `first` on (async-signal-safe).
    pub(super) fn close_from(first: libc::c_int) {
        // SAFETY: close_range only closes this process's descriptors.
        if unsafe { libc::syscall(libc::SYS_close_range, first as libc::c_uint, libc::c_uint::MAX, 0) } != 0 {
            super::close_each_from(first);
        }
    }

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
    pub(super) fn cloexec_pipe(fds: &mut [libc::c_int; 2]) -> bool {
        // SAFETY: pipe writes two descriptors into the array; fcntl only
        // flags them. A child another thread forks in between keeps them
        // until it execs.
        unsafe {
            libc::pipe(fds.as_mut_ptr()) == 0
                && fds.iter().all(|&fd| libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) == 0)
        }
    }

    pub(super) fn name_guard() {}

    pub(super) fn close_from(first: libc::c_int) {
        super::close_each_from(first);
    }

    pub(super) fn group_has_running_member(_group: u32) -> Option<bool> {
        None
    }

    pub(super) fn umask() -> Option<u32> {
        None
    }
}

/// Close descriptors from `first` up to the soft limit on open files
/// (at most 65536), one call each: where `close_range` is missing.
fn close_each_from(first: libc::c_int) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct it is given.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur.min(65536) as libc::c_int
    } else {
        1024
    };
    for fd in first..max {
        // SAFETY: closing a descriptor this process may not have is harmless.
        unsafe {
            libc::close(fd);
        }
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
    fn a_guard_outlives_every_signal_its_group_gets_but_sigkill_and_is_reaped_when_dropped() {
        let guard = GroupGuard::lead().unwrap();
        let mut cmd = Command::new("sleep");
        cmd.arg("60");
        join_group_dying_with_parent(&mut cmd, &guard);
        let mut child = cmd.spawn().unwrap();
        let group = guard.group();
        // SAFETY: getpgid only reads the group of our own child.
        assert_eq!(unsafe { libc::getpgid(child.id() as libc::pid_t) }, group, "the child joined the guard's group");
        // SIGTERM, as kernels are asked to stop (SIGINT may be ignored by
        // the test itself when started in the background, and its children
        // inherit that).
        // SAFETY: signals only the group this test started.
        unsafe {
            libc::killpg(group, libc::SIGTERM);
        }
        assert!(!child.wait().unwrap().success(), "SIGTERM ends the sleep");
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(group_has_running_member(group as u32), Some(true), "SIGTERM leaves the guard running");
        let pid = guard.pid;
        drop(guard);
        // SAFETY: waitpid on a pid that is no longer our child only fails.
        let waited = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
        assert_eq!(waited, -1, "the dropped guard is reaped");
        assert_eq!(group_has_running_member(group as u32), Some(false));
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
