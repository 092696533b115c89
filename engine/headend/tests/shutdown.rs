//! Graceful stop, as systemd drives it: `headend run` tells a notify socket
//! READY=1 once it serves and WATCHDOG=1 at half the interval asked; SIGTERM
//! in the middle of a TFTP transfer lets that transfer finish, says
//! STOPPING=1 and exits 0; the next start serves the lease acknowledged
//! before the stop. The configuration's `[log]` asks for JSON logs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use headend_wire::dhcpv4::{code, Builder, MessageType, Packet, BOOTREQUEST};

const CONFIG: &str = r#"
[server]
store = "state"

[log]
level = "info"
filter = "headend_server=info"
format = "json"

[dhcpv4]
listen = ["127.0.0.1:0"]

[[pool]]
name = "p"
relays = ["127.0.0.2"]
network = "10.60.0.0/16"
ranges = [["10.60.0.10", "10.60.255.250"]]

[tftp]
listen = ["127.0.0.1:0"]
root = "tftp"
allow_unknown_devices = true
"#;

/// The static file fetched across the stop: 100 full 512-octet blocks and a short one.
const FILE_LEN: usize = 100 * 512 + 17;

struct Headend {
    child: Child,
    dhcp: SocketAddr,
    tftp: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for Headend {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Headend {
    fn start(dir: &Path, notify: &Path) -> Headend {
        let mut child = Command::new(env!("CARGO_BIN_EXE_headend"))
            .args(["run", "--config"])
            .arg(dir.join("headend.toml"))
            .env_remove("RUST_LOG")
            .env("NOTIFY_SOCKET", notify)
            .env("WATCHDOG_USEC", "300000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn headend");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let keep = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("headend: ready (") {
                    let _ = tx.send(rest.trim_end_matches(')').to_string());
                }
                keep.lock().unwrap().push(line);
            }
        });
        let Ok(list) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!(
                "headend did not become ready:\n{}",
                lines.lock().unwrap().join("\n")
            );
        };
        // DHCPv4 listeners come first, then TFTP.
        let addrs: Vec<SocketAddr> = list.split(", ").map(|a| a.parse().unwrap()).collect();
        assert_eq!(addrs.len(), 2, "{list}");
        Headend {
            child,
            dhcp: addrs[0],
            tftp: addrs[1],
            stderr: lines,
        }
    }

    fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM failed");
    }

    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "headend still running {within:?} after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }
}

/// Notifications received on the socket within `within`, until one contains `want`.
fn expect_notification(sock: &UnixDatagram, want: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        let Ok(n) = sock.recv(&mut buf) else { continue };
        let msg = String::from_utf8_lossy(&buf[..n]).to_string();
        let done = msg.lines().any(|l| l == want);
        seen.push(msg);
        if done {
            return seen;
        }
    }
    panic!("no {want} within {within:?}; got {seen:?}");
}

fn request(mac: [u8; 6], mtype: MessageType, extra: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut b = Builder::new();
    b.op = BOOTREQUEST;
    b.htype = 1;
    b.hlen = 6;
    b.hops = 1;
    b.xid = u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]);
    b.giaddr = Ipv4Addr::new(127, 0, 0, 2);
    b.chaddr[..6].copy_from_slice(&mac);
    b.push_option(code::MESSAGE_TYPE, &[u8::from(mtype)]);
    for (c, d) in extra {
        b.push_option(*c, d);
    }
    // RFC 8357: answer to our source port (no root needed).
    b.push_option(code::RELAY_AGENT_INFO, &[19, 0]);
    b.encode(1500).unwrap()
}

/// One exchange: sends `msg` (retried a few times) and returns the reply's type and yiaddr.
fn exchange(sock: &UdpSocket, to: SocketAddr, msg: &[u8]) -> (MessageType, Ipv4Addr) {
    let mut buf = [0u8; 2048];
    for _ in 0..5 {
        sock.send_to(msg, to).unwrap();
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            let p = Packet::parse(&buf[..n]).unwrap();
            return (p.options.message_type().unwrap(), p.yiaddr);
        }
    }
    panic!("no reply from {to}");
}

/// DISCOVER then REQUEST; the acknowledged address.
fn dora(sock: &UdpSocket, to: SocketAddr, mac: [u8; 6]) -> Ipv4Addr {
    let (t, offered) = exchange(sock, to, &request(mac, MessageType::Discover, &[]));
    assert_eq!(t, MessageType::Offer);
    let SocketAddr::V4(server) = to else {
        panic!("IPv4 listener expected")
    };
    let req = request(
        mac,
        MessageType::Request,
        &[
            (code::SERVER_ID, server.ip().octets().to_vec()),
            (code::REQUESTED_IP, offered.octets().to_vec()),
        ],
    );
    let (t, acked) = exchange(sock, to, &req);
    assert_eq!(t, MessageType::Ack);
    assert_eq!(acked, offered);
    acked
}

/// A TFTP read in octet mode, 512-octet blocks, acknowledged one by one;
/// `after_first` runs once the first block is in (the transfer is then in
/// flight on the server).
fn tftp_get(to: SocketAddr, name: &str, after_first: impl FnOnce()) -> Vec<u8> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut rrq = vec![0, 1];
    rrq.extend_from_slice(name.as_bytes());
    rrq.push(0);
    rrq.extend_from_slice(b"octet\0");
    sock.send_to(&rrq, to).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    let mut expect: u16 = 1;
    let mut after_first = Some(after_first);
    // Bounded: the file has 101 blocks; a few duplicates are tolerated.
    for _ in 0..400 {
        let (n, from) = sock.recv_from(&mut buf).expect("TFTP DATA");
        let pkt = &buf[..n];
        assert!(n >= 4 && pkt[1] == 3, "not DATA: {pkt:?}");
        let block = u16::from_be_bytes([pkt[2], pkt[3]]);
        if block == expect {
            out.extend_from_slice(&pkt[4..]);
            expect += 1;
        }
        if block == 1 {
            if let Some(f) = after_first.take() {
                f();
            }
        } else {
            // A slow client: the rest of the transfer spans the stop (~1 s).
            std::thread::sleep(Duration::from_millis(10));
        }
        sock.send_to(&[0, 4, pkt[2], pkt[3]], from).unwrap();
        if block == expect - 1 && n - 4 < 512 {
            return out;
        }
    }
    panic!("TFTP transfer did not end");
}

#[test]
fn sigterm_finishes_transfers_exits_zero_and_restarts_clean() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("headend.toml"), CONFIG).unwrap();
    std::fs::create_dir(dir.path().join("tftp")).unwrap();
    let content: Vec<u8> = (0..FILE_LEN).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.path().join("tftp/big.bin"), &content).unwrap();
    let notify_path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();

    let mut h = Headend::start(dir.path(), &notify_path);
    let ready = expect_notification(&notify, "READY=1", Duration::from_secs(5));
    assert!(
        ready.iter().any(|m| m.contains("MAINPID=")),
        "READY=1 carries MAINPID: {ready:?}"
    );
    expect_notification(&notify, "WATCHDOG=1", Duration::from_secs(3));

    let client = UdpSocket::bind("127.0.0.2:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mac = [0x02, 0x5d, 0, 0, 0, 1];
    let leased = dora(&client, h.dhcp, mac);

    // SIGTERM once the transfer is running: it must still complete.
    let got = tftp_get(h.tftp, "big.bin", || h.sigterm());
    assert!(
        got == content,
        "the transfer across SIGTERM was cut or corrupted ({} of {FILE_LEN} octets)",
        got.len()
    );
    let status = h.wait_exit(Duration::from_secs(15));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status:?}:\n{}",
        h.log()
    );
    expect_notification(&notify, "STOPPING=1", Duration::from_secs(2));
    let log = h.log();
    let json: Vec<&str> = log.lines().filter(|l| l.starts_with('{')).collect();
    assert!(
        json.iter()
            .any(|l| l.contains("\"level\":\"INFO\"") && l.contains("stopping")),
        "[log] format = \"json\" gives JSON lines, the stop among them:\n{log}"
    );
    assert!(
        !log.contains("unfinished"),
        "a transfer was left unfinished:\n{log}"
    );
    drop(h);

    // The next start is clean and knows the lease acknowledged before the stop.
    let mut h = Headend::start(dir.path(), &notify_path);
    let (t, offered) = exchange(&client, h.dhcp, &request(mac, MessageType::Discover, &[]));
    assert_eq!(t, MessageType::Offer);
    assert_eq!(
        offered, leased,
        "the restarted server offers the leased address"
    );
    h.sigterm();
    let status = h.wait_exit(Duration::from_secs(15));
    assert_eq!(
        status.code(),
        Some(0),
        "second stop: {status:?}:\n{}",
        h.log()
    );
}
