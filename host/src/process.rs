//! Signals to processes clx started or recorded: is a host or worker still
//! there, and killing a worker's process group (the worker and whatever its
//! plugin started: kernels, JVMs, browsers).

/// Whether a process with this pid exists. A pid that was reused by an
/// unrelated process reads as alive; callers only delay cleanup because of it.
pub fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether any process of the group still exists (zombies included).
pub fn group_alive(group: u32) -> bool {
    let Ok(group) = libc::pid_t::try_from(group) else { return false };
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::killpg(group, 0) == 0 }
}

/// SIGKILL to every process of the group.
pub fn kill_group(group: u32) {
    let Ok(group) = libc::pid_t::try_from(group) else { return };
    // SAFETY: killpg only sends a signal; the group is a worker spawned with
    // process_group(0), so its id is the worker's pid.
    unsafe {
        libc::killpg(group, libc::SIGKILL);
    }
}
