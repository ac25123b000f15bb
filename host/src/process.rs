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

/// A child process in a process group of its own: Ctrl-C in the terminal
/// reaches only clx, which then stops its children in order, and one
/// `killpg` takes the child together with everything it started (kernels,
/// JVMs, browsers).
#[derive(Debug)]
pub struct Group {
    child: std::process::Child,
}

/// How [`Group::wait_until`] ended.
#[derive(Debug)]
pub enum Waited {
    /// The child exited by itself.
    Exited(std::process::ExitStatus),
    /// The stop flag was raised; the group was killed.
    Stopped,
    /// The deadline passed; the group was killed.
    TimedOut,
}

impl Group {
    /// Start `cmd` as the leader of a new process group.
    pub fn spawn(cmd: &mut std::process::Command) -> std::io::Result<Group> {
        use std::os::unix::process::CommandExt;
        Ok(Group { child: cmd.process_group(0).spawn()? })
    }

    /// The child's pid, which is also its group's id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child's stdin, if piped and not taken yet.
    pub fn take_stdin(&mut self) -> Option<std::process::ChildStdin> {
        self.child.stdin.take()
    }

    /// The child's stdout, if piped and not taken yet.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// The child's stderr, if piped and not taken yet.
    pub fn take_stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.child.stderr.take()
    }

    /// The child's exit status, if it has exited.
    pub fn try_wait(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        self.child.try_wait()
    }

    /// Wait for the child to exit.
    pub fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child.wait()
    }

    /// SIGKILL to the whole group, and reap the child.
    pub fn kill(&mut self) {
        kill_group(self.id());
        let _ = self.child.wait();
    }

    /// Wait for the child until `deadline`, polling `stop`; past the
    /// deadline or once stopped the group is killed. An exited child's group
    /// is killed too: whatever it left behind goes with it.
    pub fn wait_until(&mut self, deadline: std::time::Instant, stop: &std::sync::atomic::AtomicBool) -> Waited {
        use std::sync::atomic::Ordering;
        let waited = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Waited::Exited(status),
                Ok(None) if stop.load(Ordering::Relaxed) => break Waited::Stopped,
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(2))
                }
                Ok(None) | Err(_) => break Waited::TimedOut,
            }
        };
        self.kill();
        waited
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

    fn shell(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script);
        cmd
    }

    #[test]
    fn a_child_that_exits_in_time_reports_its_status() {
        let mut group = Group::spawn(&mut shell("exit 3")).unwrap();
        let waited = group.wait_until(Instant::now() + Duration::from_secs(10), &AtomicBool::new(false));
        assert!(matches!(waited, Waited::Exited(s) if s.code() == Some(3)), "{waited:?}");
    }

    #[test]
    fn a_child_past_its_deadline_is_killed_with_its_group() {
        use std::io::BufRead;
        let mut cmd = shell("sleep 30 & echo $!; wait");
        let mut group = Group::spawn(cmd.stdout(std::process::Stdio::piped())).unwrap();
        let mut line = String::new();
        std::io::BufReader::new(group.take_stdout().unwrap()).read_line(&mut line).unwrap();
        let background: u32 = line.trim().parse().unwrap();
        let waited = group.wait_until(Instant::now() + Duration::from_millis(100), &AtomicBool::new(false));
        assert!(matches!(waited, Waited::TimedOut), "{waited:?}");
        // Dead, or a zombie until whoever adopted it reaps it.
        let running = || {
            std::fs::read_to_string(format!("/proc/{background}/stat"))
                .is_ok_and(|stat| !matches!(stat.rsplit_once(") ").map(|(_, r)| &r[..1]), Some("Z" | "X")))
        };
        let gone = Instant::now() + Duration::from_secs(5);
        while running() && Instant::now() < gone {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!running(), "the background sleep died with its group");
    }

    #[test]
    fn a_raised_stop_flag_kills_the_child() {
        let mut group = Group::spawn(&mut shell("sleep 30")).unwrap();
        let waited = group.wait_until(Instant::now() + Duration::from_secs(30), &AtomicBool::new(true));
        assert!(matches!(waited, Waited::Stopped), "{waited:?}");
    }
}
