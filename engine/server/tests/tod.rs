//! The RFC 868 Time server end to end on loopback (ephemeral ports): raw
//! UDP and TCP clients, and the real `rdate` client (Debian package
//! `rdate`, installed by `.ci/run`; the test fails without it) over both
//! transports. The server clock is fixed, so the answer is exact.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use common::*;

/// The bed's clock: 2023-11-14 22:13:20 UTC.
const NOW: u64 = 1_700_000_000;
/// NOW in RFC 868 seconds since 1900.
const NOW_1900: u32 = 3_908_988_800;

const CONFIG: &str = r#"
[server]
store = "state"

[tod]
listen = ["127.0.0.1:0", "[::1]:0"]
"#;

/// A running server: its ToD addresses, and what stops it.
struct Running {
    bound: Vec<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<Result<(), headend_server::runtime::ServerError>>>,
    rt: tokio::runtime::Runtime,
    _bed_dir: tempfile::TempDir,
}

impl Running {
    fn start() -> Running {
        let bed = bed(CONFIG);
        assert_eq!(bed.clock.load(std::sync::atomic::Ordering::Relaxed), NOW);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = rt.spawn(
            bed.server
                .run(move |b| tx.send(b.to_vec()).unwrap(), async move {
                    let _ = stopped.await;
                }),
        );
        let bound = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Running {
            bound,
            stop: Some(stop),
            done: Some(done),
            rt,
            _bed_dir: bed.dir,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let (Some(stop), Some(done)) = (self.stop.take(), self.done.take()) {
            let _ = stop.send(());
            let _ = self.rt.block_on(done);
        }
    }
}

#[test]
fn udp_and_tcp_answer_the_seconds_since_1900_on_v4_and_v6() {
    let srv = Running::start();
    assert_eq!(srv.bound.len(), 2, "{:?}", srv.bound);
    for addr in &srv.bound {
        // UDP: an empty datagram (RFC 868) and a large one get the same 4 bytes.
        let any = if addr.is_ipv4() {
            "127.0.0.1:0"
        } else {
            "[::1]:0"
        };
        let sock = UdpSocket::bind(any).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for payload in [&[][..], &[0xa5; 1200][..]] {
            sock.send_to(payload, addr).unwrap();
            let mut buf = [0u8; 16];
            let (n, from) = sock.recv_from(&mut buf).unwrap();
            assert_eq!(from, *addr);
            assert_eq!(&buf[..n], &NOW_1900.to_be_bytes(), "UDP {addr}");
        }
        // TCP on the same port: 4 bytes, then the server closes.
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        tcp.read_to_end(&mut got).unwrap();
        assert_eq!(got, NOW_1900.to_be_bytes(), "TCP {addr}");
    }
}

fn rdate(args: &[&str], addr: SocketAddr) -> String {
    // Debian installs rdate in /usr/sbin, not always on a test's PATH.
    let bin = ["/usr/sbin/rdate", "/usr/bin/rdate"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("rdate is not installed: apt-get install rdate (.ci/run installs it)");
    let out = Command::new(bin)
        .args(args)
        .args(["-o", &addr.port().to_string(), &addr.ip().to_string()])
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "rdate {args:?}: {text}");
    text
}

#[test]
fn rdate_reads_the_time_over_udp_and_tcp() {
    let srv = Running::start();
    // -p: print only; -u: UDP (RFC 868 over UDP), TCP otherwise.
    for addr in &srv.bound {
        let family = if addr.is_ipv4() { "-4" } else { "-6" };
        for args in [&["-p", "-u", family][..], &["-p", family][..]] {
            let text = rdate(args, *addr);
            assert!(
                text.contains("Tue Nov 14 22:13:20 UTC 2023"),
                "rdate {args:?} {addr} printed: {text}"
            );
        }
    }
}
