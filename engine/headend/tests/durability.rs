//! Durability of acknowledged leases: `headend run` serves DORA exchanges on
//! loopback, is killed with SIGKILL in the middle of the load, and every
//! lease it had ACKed must be in the store when it is opened again; a
//! restarted server (one packet worker, `--workers 1`) must then honour
//! those leases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use headend_store::{ClientKey, LeaseState, SledStore, Store};
use headend_wire::dhcpv4::{code, Builder, MessageType, Packet, BOOTREQUEST};

const CONFIG: &str = r#"
[server]
store = "state"
[dhcpv4]
listen = ["127.0.0.1:0"]
[[pool]]
name = "p"
relays = ["127.0.0.2"]
network = "10.50.0.0/16"
ranges = [["10.50.0.10", "10.50.255.250"]]
[[policy]]
name = "p"
enforced = true
domains = ["all"]
[policy.options]
routers = "10.50.0.1"
host-name = { expr = '"d-" + device.mac.replace(":", "")' }
"#;

struct Headend {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Headend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `headend run` on the test's config, with `extra` arguments of `run`.
fn start(dir: &std::path::Path, extra: &[&str]) -> Headend {
    let mut child = Command::new(env!("CARGO_BIN_EXE_headend"))
        .args(["--log", "warn", "run", "--config"])
        .arg(dir.join("headend.toml"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn headend");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("headend: ready (") {
                let _ = tx.send(rest.trim_end_matches(')').to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("headend did not become ready")
        .parse()
        .expect("ready line carries the address");
    Headend { child, addr }
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

fn mac_of(i: u32) -> [u8; 6] {
    let b = i.to_be_bytes();
    [0x02, 0xaa, b[0], b[1], b[2], b[3]]
}

#[test]
fn sigkill_loses_no_acknowledged_lease() {
    // `HEADEND_DURABILITY_TRIALS=20` repeats it (bench/sigkill-durability.sh).
    let trials: u32 = std::env::var("HEADEND_DURABILITY_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .clamp(1, 100);
    let mut total = 0;
    for t in 1..=trials {
        let acked = kill_trial();
        total += acked;
        eprintln!("durability trial {t}/{trials}: {acked} leases ACKed before SIGKILL, 0 lost");
    }
    eprintln!("durability: {trials} trial(s), {total} ACKed leases, 0 lost");
}

/// One trial: DORA load, SIGKILL, every ACKed lease checked in the store
/// and honoured by a restarted server; how many were ACKed.
fn kill_trial() -> usize {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("headend.toml"), CONFIG).unwrap();
    let h = start(dir.path(), &[]);
    let sock = UdpSocket::bind("127.0.0.2:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let server_id = match h.addr {
        SocketAddr::V4(a) => *a.ip(),
        SocketAddr::V6(_) => unreachable!(),
    };

    // Pipelined DORA for many clients until the deadline; ACKs recorded as they come.
    let mut acked: HashMap<[u8; 6], Ipv4Addr> = HashMap::new();
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut next = 0u32;
    let window = 64;
    let mut in_flight = 0;
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline && next < 200_000 {
        while in_flight < window {
            sock.send_to(&request(mac_of(next), MessageType::Discover, &[]), h.addr)
                .unwrap();
            next += 1;
            in_flight += 1;
        }
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            in_flight = 0; // lost ones are simply retried with new clients
            continue;
        };
        let Ok(p) = Packet::parse(&buf[..n]) else {
            continue;
        };
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&p.chaddr[..6]);
        match p.options.message_type() {
            Some(MessageType::Offer) => {
                let req = request(
                    mac,
                    MessageType::Request,
                    &[
                        (code::SERVER_ID, server_id.octets().to_vec()),
                        (code::REQUESTED_IP, p.yiaddr.octets().to_vec()),
                    ],
                );
                sock.send_to(&req, h.addr).unwrap();
            }
            Some(MessageType::Ack) => {
                acked.insert(mac, p.yiaddr);
                in_flight -= 1;
            }
            _ => in_flight -= 1,
        }
    }
    // Kill it while requests are still in flight.
    for i in 0..window as u32 {
        let _ = sock.send_to(
            &request(mac_of(next + i), MessageType::Discover, &[]),
            h.addr,
        );
    }
    let mut h = h;
    h.child.kill().unwrap(); // SIGKILL
    h.child.wait().unwrap();
    assert!(
        acked.len() > 100,
        "too few exchanges completed: {}",
        acked.len()
    );

    let store = SledStore::open(&dir.path().join("state")).unwrap();
    let mut missing = 0;
    for (mac, ip) in &acked {
        match store.lease4(*ip).unwrap() {
            Some(l)
                if l.client == ClientKey::from_hardware(1, mac)
                    && l.state == LeaseState::Active => {}
            other => {
                missing += 1;
                eprintln!("lost lease {ip} of {mac:02x?}: {other:?}");
            }
        }
    }
    assert_eq!(
        missing,
        0,
        "{missing} of {} acknowledged leases lost",
        acked.len()
    );
    drop(store);

    // A restarted server knows them: a returning client gets its address back
    // (from a one-worker runtime this time, `run --workers 1`).
    let h2 = start(dir.path(), &["--workers", "1"]);
    let (mac, ip) = acked.iter().next().map(|(m, i)| (*m, *i)).unwrap();
    sock.send_to(&request(mac, MessageType::Discover, &[]), h2.addr)
        .unwrap();
    let t0 = Instant::now();
    loop {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "no offer after restart"
        );
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let p = Packet::parse(&buf[..n]).unwrap();
        if p.chaddr[..6] == mac && p.options.message_type() == Some(MessageType::Offer) {
            assert_eq!(
                p.yiaddr, ip,
                "the restarted server offers the client its own lease"
            );
            break;
        }
    }
    acked.len()
}
