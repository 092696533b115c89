//! systemd's service notification protocol (sd_notify(3)) in a few lines:
//! `READY=1` once every listener is bound, `WATCHDOG=1` at half the
//! watchdog interval, `STOPPING=1` when a stop begins.
//!
//! Outside systemd (`NOTIFY_SOCKET` unset) every call does nothing, so the
//! binary has no runtime dependency on systemd.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Where the service manager listens, if it asked for notifications.
fn socket_addr() -> Option<SocketAddr> {
    let path = std::env::var_os("NOTIFY_SOCKET")?;
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
    match bytes.split_first() {
        // "@name" is a Linux abstract socket.
        Some((b'@', name)) => {
            <SocketAddr as std::os::linux::net::SocketAddrExt>::from_abstract_name(name).ok()
        }
        Some((b'/', _)) => SocketAddr::from_pathname(&path).ok(),
        _ => None,
    }
}

/// Sends one notification (newline-separated `KEY=value` lines); false when
/// there is no manager or the send failed (never fatal: the service runs on).
pub fn notify(state: &str) -> bool {
    let Some(addr) = socket_addr() else {
        return false;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return false;
    };
    sock.send_to_addr(state.as_bytes(), &addr).is_ok()
}

/// How often to send `WATCHDOG=1`: half the interval systemd asked for
/// (`WATCHDOG_USEC`), when that request is meant for this process.
pub fn watchdog_period() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn notification_reaches_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let addr = SocketAddr::from_pathname(&path).unwrap();
        let sock = UnixDatagram::unbound().unwrap();
        sock.send_to_addr(b"READY=1", &addr).unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }
}
