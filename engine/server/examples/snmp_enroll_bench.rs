//! Load generator for `bench/snmp-enroll.sh`: many eUEs on loopback.
//!
//! - `enroll [eues] [seconds]`: runs headend's SNMP provisioning server in
//!   this process (memory store; every eUE at its own 127.0.x.y known to the
//!   device registry, as DHCP would have leased it; files from the built-in
//!   generator, generated once per eUE and then cached) and plays each eUE:
//!   an RFC 4682 enrollment INFORM from 127.0.x.y:16161, then on the same
//!   socket — the eUE's agent port — the SET, answered with a Response.
//!   One enrollment = INFORM → Response → SET → Response. Prints the rate
//!   and the process CPU per enrollment (server and load generator both).
//! - `inform <host:port|headend> [clients] [seconds]`: only INFORM → Response
//!   against any receiver (net-snmp's snmptrapd, or this server with no
//!   lease for the sender, so it answers and identifies but sets nothing).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use headend_abi::Protocol;
use headend_model::snapshot::Snapshot;
use headend_server::runtime::Server;
use headend_server::shared::{system_clock, DeviceContext, StaticResolver};
use headend_snmp::{CommunityMessage, Message, Oid, Pdu, PduType, Value, VarBind, Version};
use headend_store::MemoryStore;
use tokio::net::UdpSocket;

const AGENT_PORT: u16 = 16161;

fn o(s: &str) -> Oid {
    s.parse().unwrap()
}

fn inform(request_id: i32, mac: [u8; 6]) -> Vec<u8> {
    CommunityMessage {
        version: Version::V2c,
        community: b"bench".to_vec(),
        pdu: Pdu::new(
            PduType::Inform,
            request_id,
            vec![
                VarBind::new(o("1.3.6.1.2.1.1.3.0"), Value::TimeTicks(100)),
                VarBind::new(
                    o("1.3.6.1.6.3.1.1.4.1.0"),
                    Value::Oid(o("1.3.6.1.2.1.140.0.1")),
                ),
                VarBind::new(
                    o("1.3.6.1.2.1.1.1.0"),
                    Value::OctetString(b"bench eUE".to_vec()),
                ),
                VarBind::new(
                    o("1.3.6.1.2.1.140.1.1.3.0"),
                    Value::OctetString(b"1.0".to_vec()),
                ),
                VarBind::new(
                    o("1.3.6.1.2.1.140.1.1.7.0"),
                    Value::OctetString(b"pktc2.0:".to_vec()),
                ),
                VarBind::new(o("1.3.6.1.2.1.2.2.1.6.1"), Value::OctetString(mac.to_vec())),
                VarBind::new(o("1.3.6.1.2.1.140.1.3.3.0"), Value::Gauge32(7)),
            ],
        ),
    }
    .encode()
}

fn cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let t = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn eue_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, (i / 250 + 1) as u8, (i % 250 + 1) as u8)
}

fn eue_mac(i: usize) -> [u8; 6] {
    [0x00, 0x10, 0x95, 0x0e, (i >> 8) as u8, i as u8]
}

/// Starts the server; returns its SNMP address and the stop sender.
fn start_server(
    rt: &tokio::runtime::Runtime,
    eues: usize,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("headend.toml");
    std::fs::write(
        &path,
        format!(
            r#"[server]
store = "state"
[tftp]
listen = ["127.0.0.1:0"]
root = "."
cmts_shared_secret = "bench-secret"
cache_entries = {cache}
[[tftp.config_file]]
name = "*.bin"
generator = "builtin:docsis-cm"
[snmp]
listen = ["127.0.0.1:0"]
communities = ["bench"]
agent_community = "bench-w"
agent_port = {AGENT_PORT}
retries = 2
timeout_ms = 1000
config_file = {{ expr = '"mta-" + device.mac.replace(":", "") + ".bin"' }}
"#,
            cache = eues.max(16) * 2
        ),
    )
    .unwrap();
    let snap = Snapshot::load(&path, 1).unwrap();
    let server = Server::with_store(
        &path,
        snap,
        Arc::new(MemoryStore::default()),
        system_clock(),
    )
    .unwrap();
    let statics = Arc::new(StaticResolver::default());
    for i in 0..eues {
        let ip = IpAddr::V4(eue_ip(i));
        let m = eue_mac(i);
        let mac = m
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        statics.insert(
            ip,
            DeviceContext::from_parts(Protocol::Lease, &mac, None, None, Some(ip)),
        );
    }
    server.devices().register(statics);
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(
        server.run(move |b| tx.send(b.to_vec()).unwrap(), async move {
            let _ = stopped.await;
        }),
    );
    let bound = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let snmp = *bound.last().unwrap();
    (snmp, stop, dir)
}

async fn play_eue(
    i: usize,
    server: SocketAddr,
    deadline: Instant,
    done: Arc<AtomicU64>,
    timeouts: Arc<AtomicU64>,
) {
    let sock = UdpSocket::bind(SocketAddr::new(IpAddr::V4(eue_ip(i)), AGENT_PORT))
        .await
        .unwrap();
    let mac = eue_mac(i);
    let mut rid = (i as i32) << 12;
    let mut buf = vec![0u8; 2048];
    while Instant::now() < deadline {
        rid = rid.wrapping_add(1) & 0x7fff_ffff;
        sock.send_to(&inform(rid, mac), server).await.unwrap();
        let (mut got_resp, mut got_set) = (false, false);
        while !(got_resp && got_set) {
            let r = tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf)).await;
            let Ok(Ok((n, from))) = r else {
                timeouts.fetch_add(1, Ordering::Relaxed);
                break;
            };
            let Ok(Message::Community(m)) = Message::decode(&buf[..n]) else {
                continue;
            };
            match m.pdu.kind {
                PduType::Response if m.pdu.request_id == rid => got_resp = true,
                PduType::Set => {
                    let reply = CommunityMessage {
                        pdu: m.pdu.response_echo(),
                        ..m
                    }
                    .encode();
                    sock.send_to(&reply, from).await.unwrap();
                    got_set = true;
                }
                _ => {}
            }
        }
        if got_resp && got_set {
            done.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn inform_client(
    target: SocketAddr,
    deadline: Instant,
    done: Arc<AtomicU64>,
    timeouts: Arc<AtomicU64>,
    k: usize,
) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut rid = (k as i32) << 16;
    let mut buf = vec![0u8; 2048];
    while Instant::now() < deadline {
        rid = rid.wrapping_add(1) & 0x7fff_ffff;
        sock.send_to(&inform(rid, eue_mac(k)), target)
            .await
            .unwrap();
        loop {
            let r = tokio::time::timeout(Duration::from_secs(1), sock.recv_from(&mut buf)).await;
            let Ok(Ok((n, _))) = r else {
                timeouts.fetch_add(1, Ordering::Relaxed);
                break;
            };
            if let Ok(Message::Community(m)) = Message::decode(&buf[..n]) {
                if m.pdu.kind == PduType::Response && m.pdu.request_id == rid {
                    done.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
}

fn measure(
    rt: &tokio::runtime::Runtime,
    what: &str,
    secs: u64,
    done: &Arc<AtomicU64>,
    timeouts: &Arc<AtomicU64>,
) {
    // 1 s warm-up, then the measured window.
    std::thread::sleep(Duration::from_secs(1));
    let (d0, c0, t0) = (done.load(Ordering::Relaxed), cpu_secs(), Instant::now());
    std::thread::sleep(Duration::from_secs(secs));
    let (d1, c1, el) = (
        done.load(Ordering::Relaxed),
        cpu_secs(),
        t0.elapsed().as_secs_f64(),
    );
    let n = (d1 - d0) as f64;
    println!(
        "{what}: {n:.0} in {el:.1} s = {:.0}/s; process CPU {:.2} s = {:.1} us each (server and load generator); timeouts {}",
        n / el,
        c1 - c0,
        if n > 0.0 { (c1 - c0) / n * 1e6 } else { 0.0 },
        timeouts.load(Ordering::Relaxed)
    );
    let _ = rt;
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let timeouts = Arc::new(AtomicU64::new(0));
    match args.get(1).map(String::as_str) {
        Some("enroll") => {
            let eues: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(512).min(60_000);
            let secs: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
            let (server, stop, _dir) = start_server(&rt, eues);
            let deadline = Instant::now() + Duration::from_secs(secs + 1);
            for i in 0..eues {
                rt.spawn(play_eue(i, server, deadline, done.clone(), timeouts.clone()));
            }
            measure(&rt, &format!("headend enrollments ({eues} eUEs)"), secs, &done, &timeouts);
            std::thread::sleep(Duration::from_millis(1200));
            let _ = stop.send(());
        }
        Some("inform") => {
            let target = args.get(2).cloned().unwrap_or_else(|| "headend".into());
            let clients: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(64);
            let secs: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(10);
            let (addr, stop) = if target == "headend" {
                let (a, s, d) = start_server(&rt, 0);
                std::mem::forget(d);
                (a, Some(s))
            } else {
                (target.parse().unwrap(), None)
            };
            let deadline = Instant::now() + Duration::from_secs(secs + 1);
            for k in 0..clients {
                rt.spawn(inform_client(addr, deadline, done.clone(), timeouts.clone(), k));
            }
            measure(&rt, &format!("INFORM receipt at {target} ({clients} clients)"), secs, &done, &timeouts);
            std::thread::sleep(Duration::from_millis(1200));
            if let Some(s) = stop {
                let _ = s.send(());
            }
        }
        _ => eprintln!("usage: snmp_enroll_bench enroll [eues] [seconds] | inform <host:port|headend> [clients] [seconds]"),
    }
}
