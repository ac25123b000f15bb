//! The Linux side of [`crate::sys`]: `prctl` and `/proc`.

use std::path::Path;
use std::time::{Duration, Instant};

pub(super) fn hide_memory() {
    // SAFETY: prctl with PR_SET_DUMPABLE only sets a flag on this process.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

pub(super) fn adopt_orphans() -> bool {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER only sets a flag on this process.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 }
}

/// A process as `/proc/<pid>/stat` describes it.
struct Stat {
    pid: libc::pid_t,
    /// `Z`: exited, not yet reaped.
    state: char,
    parent: libc::pid_t,
    session: libc::pid_t,
}

/// Every process `/proc` shows; one that vanishes while being read is skipped.
fn processes() -> Vec<Stat> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: libc::pid_t = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // The command name may hold spaces and parentheses: fields follow the last `)`.
            let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
            let (state, parent, _group, session) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
            Some(Stat {
                pid,
                state: state.chars().next()?,
                parent: parent.parse().ok()?,
                session: session.parse().ok()?,
            })
        })
        .collect()
}

pub(super) fn kill_escaped_children() -> usize {
    let me = std::process::id() as libc::pid_t;
    // SAFETY: getsid(0) only reads this process's session id.
    let ours = unsafe { libc::getsid(0) };
    let mut killed = 0;
    // Killing a session's leader hands its children to us: look again until
    // no escaped child is left (bounded, against a fork bomb).
    for _ in 0..50 {
        let all = processes();
        let escaped: Vec<libc::pid_t> =
            all.iter().filter(|p| p.parent == me && p.session != ours).map(|p| p.pid).collect();
        if escaped.is_empty() {
            break;
        }
        let sessions: std::collections::BTreeSet<libc::pid_t> =
            all.iter().filter(|p| escaped.contains(&p.pid)).map(|p| p.session).collect();
        for p in all.iter().filter(|p| p.session != ours && sessions.contains(&p.session)) {
            // SAFETY: kill only sends a signal to a process of an escaped session.
            unsafe {
                libc::kill(p.pid, libc::SIGKILL);
            }
            killed += 1;
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        for pid in escaped {
            // SAFETY: waitpid on our own child, which we just killed; no
            // status is read.
            while unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) } == 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    killed
}

pub(super) fn kill_escaped_children_at_exit(limit: Duration) -> usize {
    let me = std::process::id() as libc::pid_t;
    let deadline = Instant::now() + limit;
    let mut killed = 0;
    loop {
        killed += kill_escaped_children();
        let running = processes().iter().any(|p| p.parent == me && p.state != 'Z');
        if !running || Instant::now() >= deadline {
            return killed + kill_escaped_children();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub(super) fn reports_every_change(path: &Path) -> bool {
    // Magic numbers of statfs(2)'s f_type, as linux/magic.h names them.
    const V9FS: i64 = 0x0102_1997; // WSL2's Windows drives, some VM shares
    const FUSE: i64 = 0x6573_5546; // container engines' shares from macOS and Windows
    const NFS: i64 = 0x6969;
    const SMB: i64 = 0x517b;
    const SMB2: i64 = 0xfe53_4d42;
    const CIFS: i64 = 0xff53_4d42;
    match nix::sys::statfs::statfs(path) {
        #[allow(clippy::unnecessary_cast)] // the field's width differs between targets
        Ok(fs) => !matches!(fs.filesystem_type().0 as i64, V9FS | FUSE | NFS | SMB | SMB2 | CIFS),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_of_a_process_is_read_from_proc() {
        let me = std::process::id() as libc::pid_t;
        let mine = processes().into_iter().find(|p| p.pid == me).expect("this process in /proc");
        // SAFETY: getsid and getppid only read ids.
        let (session, parent) = unsafe { (libc::getsid(0), libc::getppid()) };
        assert_eq!((mine.session, mine.parent), (session, parent));
    }
}
