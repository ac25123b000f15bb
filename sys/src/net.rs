//! Whether a server has started listening.

/// Whether every port has a listening TCP socket on this machine.
///
/// Linux: read from the kernel's socket tables (`/proc/net/tcp`,
/// `tcp6`) rather than by connecting: a bare TCP connect without a
/// protocol greeting is noise some servers (Jupyter kernels) log or choke
/// on. Elsewhere: a connect to each port on loopback, closed at once.
pub fn listening(ports: &[u16]) -> bool {
    imp::listening(ports)
}

#[cfg(target_os = "linux")]
mod imp {
    pub(super) fn listening(ports: &[u16]) -> bool {
        let mut found = vec![false; ports.len()];
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let Ok(text) = std::fs::read_to_string(table) else { continue };
            for line in text.lines().skip(1) {
                let mut fields = line.split_whitespace();
                let (Some(_), Some(local), Some(_), Some(state)) =
                    (fields.next(), fields.next(), fields.next(), fields.next())
                else {
                    continue;
                };
                // State 0A is LISTEN; the local address ends in `:PORT` (hex).
                if state != "0A" {
                    continue;
                }
                let Some(port) = local.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok()) else {
                    continue;
                };
                for (seen, wanted) in found.iter_mut().zip(ports) {
                    *seen |= port == *wanted;
                }
            }
        }
        found.iter().all(|f| *f)
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub(super) fn listening(ports: &[u16]) -> bool {
        ports.iter().all(|&port| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bound_listener_is_seen_and_every_port_must_listen() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(super::listening(&[port]));
        // Port 0 never listens; a freed port could be taken again by any
        // process on the machine before the check.
        assert!(!super::listening(&[port, 0]));
    }
}
