//! The SNMP provisioning server against real, independent peers on
//! loopback (ephemeral ports), IPv4 and IPv6: net-snmp's `snmpinform` (v2c,
//! and v3 authPriv SHA/AES after engine-id discovery) sends the enrollment
//! INFORM and gets its Response; net-snmp's `snmpd` plays the eUE agent
//! whose pktcMtaDevConfigFile / pktcMtaDevProvConfigHash receive the SET
//! (read back with `snmpget`); `curl` fetches the file the SET names over
//! TFTP and its SHA-1 equals the hash that was SET; bad input (wrong
//! community, wrong USM password, malformed BER) is counted per reason.
//! The tools come from the Debian packages `snmp` and `snmpd` (installed
//! by `scripts/setup --peers`); a missing tool fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::*;
use headend_abi::Protocol;
use headend_server::counters::Family;
use headend_server::shared::{DeviceContext, StaticResolver};
use sha1::Digest;

const MAC: &str = "00:10:95:0e:12:34";

fn tool(name: &str) -> String {
    for dir in ["/usr/bin", "/usr/sbin"] {
        let p = format!("{dir}/{name}");
        if std::path::Path::new(&p).exists() {
            return p;
        }
    }
    panic!("{name} is missing: install the Debian packages snmp and snmpd (scripts/setup --peers)");
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Running {
    bound: Vec<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<Result<(), headend_server::runtime::ServerError>>>,
    counters: Arc<headend_server::counters::Counters>,
    rt: tokio::runtime::Runtime,
    bed_dir: tempfile::TempDir,
}

impl Running {
    fn start(agent_port: u16) -> Running {
        // An engine id of its own per server: net-snmp keeps per-engine state
        // (localised keys) and parallel tests must not share it.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let engine_id = format!("8000118b04{:016x}{:08x}", nanos as u64, std::process::id());
        let config = format!(
            r#"
[server]
store = "state"

[tftp]
listen = ["127.0.0.1:0", "[::1]:0"]
root = "."
cmts_shared_secret = "lab-secret"
[[tftp.config_file]]
name = "*.bin"
generator = "builtin:docsis-cm"

[snmp]
listen = ["127.0.0.1:0", "[::1]:0"]
communities = ["lab-inform"]
agent_community = "lab-write"
agent_port = {agent_port}
retries = 2
timeout_ms = 500
engine_id = "{engine_id}"
config_file = {{ expr = '"mta-" + device.mac.replace(":", "") + ".bin"' }}
[[snmp.user]]
name = "informuser"
auth = "SHA"
auth_password = "authpass123"
privacy = "AES"
privacy_password = "privpass123"
"#
        );
        let bed = bed(&config);
        // The eUE at loopback, as DHCP would have handed it over.
        let statics = Arc::new(StaticResolver::default());
        for ip in ["127.0.0.1", "::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            statics.insert(
                ip,
                DeviceContext::from_parts(Protocol::Lease, MAC, None, None, Some(ip)),
            );
        }
        bed.server.devices().register(statics);
        let counters = bed.server.counters().clone();
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
            counters,
            rt,
            bed_dir: bed.dir,
        }
    }

    /// The SNMP listener of a family (TFTP binds first, two per family in order).
    fn snmp(&self, v6: bool) -> SocketAddr {
        *self
            .bound
            .iter()
            .filter(|a| a.is_ipv6() == v6)
            .nth(1)
            .unwrap()
    }

    fn tftp(&self, v6: bool) -> SocketAddr {
        *self.bound.iter().find(|a| a.is_ipv6() == v6).unwrap()
    }

    fn drops(&self, reason: &str) -> u64 {
        self.counters
            .drops_in(Family::Snmp)
            .get(reason)
            .copied()
            .unwrap_or(0)
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

fn target(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(_) => format!("udp:{a}"),
        SocketAddr::V6(_) => format!("udp6:{a}"),
    }
}

/// An RFC 4682 enrollment INFORM from net-snmp; returns (status, stderr).
fn inform(to: SocketAddr, auth: &[&str]) -> (bool, String) {
    // net-snmp's persistent per-engine state stays in a directory of this call.
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(tool("snmpinform"))
        .env("SNMP_PERSISTENT_DIR", state.path())
        .args(["-m", "", "-r", "1", "-t", "2"])
        .args(auth)
        .arg(target(to))
        .args([
            "",
            "1.3.6.1.2.1.140.0.1",
            "1.3.6.1.2.1.1.1.0",
            "s",
            "eUE lab",
            "1.3.6.1.2.1.140.1.1.3.0",
            "s",
            "1.0",
            "1.3.6.1.2.1.140.1.1.7.0",
            "s",
            "pktc2.0:",
            "1.3.6.1.2.1.2.2.1.6.1",
            "x",
            "0010950e1234",
            "1.3.6.1.2.1.140.1.3.3.0",
            "u",
            "305419896",
        ])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// snmpd as the eUE agent with the two writable RFC 4682 objects.
struct Agent {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Agent {
    fn start(port: u16) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("snmpd.conf");
        std::fs::write(
            &conf,
            format!(
                "agentAddress udp:127.0.0.1:{port},udp6:[::1]:{port}\n\
                 rwcommunity lab-write 127.0.0.1\nrwcommunity6 lab-write ::1\n\
                 override -rw .1.3.6.1.2.1.140.1.2.9.0 octet_str \"\"\n\
                 override -rw .1.3.6.1.2.1.140.1.2.11.0 octet_str \"\"\n"
            ),
        )
        .unwrap();
        let child = Command::new(tool("snmpd"))
            .args(["-f", "-m", "", "-Lf"])
            .arg(dir.path().join("snmpd.log"))
            .arg("-C")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(dir.path().join("snmpd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let a = Agent {
            child,
            port,
            _dir: dir,
        };
        // Ready when it answers a GET (bounded).
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if a.get("1.3.6.1.2.1.140.1.2.9.0").is_some() {
                return a;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("snmpd did not start on port {port}");
    }

    fn get(&self, oid: &str) -> Option<String> {
        let out = Command::new(tool("snmpget"))
            .args([
                "-m",
                "",
                "-v",
                "2c",
                "-c",
                "lab-write",
                "-t",
                "1",
                "-r",
                "0",
                "-Ov",
                "-Ox",
            ])
            .arg(format!("udp:127.0.0.1:{}", self.port))
            .arg(oid)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// "Hex-STRING: 74 66 …" → bytes.
fn hex_string(s: &str) -> Vec<u8> {
    s.trim_start_matches("Hex-STRING:")
        .split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// tshark on loopback for the test's ports (stopped by SIGINT, by PID).
struct Capture {
    child: Child,
    file: std::path::PathBuf,
}

impl Capture {
    fn start(dir: &std::path::Path, ports: &[u16]) -> Capture {
        let file = dir.join("snmp.pcapng");
        let filter = ports
            .iter()
            .map(|p| format!("udp port {p}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let child = Command::new(tool("tshark"))
            .args(["-i", "lo", "-a", "duration:60", "-f", &filter, "-w"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // dumpcap writes the file header once it captures.
        wait_for("tshark to start capturing", || {
            std::fs::metadata(&file).is_ok_and(|m| m.len() > 0)
        });
        std::thread::sleep(Duration::from_millis(500));
        Capture { child, file }
    }

    /// Stops the capture and decodes every frame on `ports` as SNMP.
    fn decode(mut self, ports: &[u16]) -> String {
        std::thread::sleep(Duration::from_millis(500));
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let mut cmd = Command::new(tool("tshark"));
        cmd.arg("-r").arg(&self.file);
        for p in ports {
            cmd.args(["-d", &format!("udp.port=={p},snmp")]);
        }
        let out = cmd.output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

#[test]
fn net_snmp_enrollment_v2c_and_v3_set_to_snmpd_then_tftp_serves_the_hashed_file() {
    let port = free_udp_port();
    let agent = Agent::start(port);
    let srv = Running::start(port);
    let snmp_ports = [srv.snmp(false).port(), srv.snmp(true).port(), port];
    let capture = Capture::start(srv.bed_dir.path(), &snmp_ports);
    for v6 in [false, true] {
        let to = srv.snmp(v6);
        // v2c enrollment INFORM: answered (snmpinform exits 0 only on the Response).
        let (ok, err) = inform(to, &["-v", "2c", "-c", "lab-inform"]);
        assert!(ok, "v2c INFORM to {to}: {err}");
        // The SET reached snmpd: the URL names our TFTP server, the hash is 20 octets.
        let mut url = Vec::new();
        wait_for("the SET at snmpd", || {
            url = agent
                .get("1.3.6.1.2.1.140.1.2.9.0")
                .map(|s| hex_string(&s))
                .unwrap_or_default();
            !url.is_empty()
        });
        let url = String::from_utf8(url).unwrap();
        let hash = hex_string(&agent.get("1.3.6.1.2.1.140.1.2.11.0").unwrap());
        assert_eq!(hash.len(), 20);
        // The SET always goes to the agent from the INFORM's address (IPv4 or IPv6 loopback).
        let tftp = srv.tftp(v6);
        let host = if v6 {
            format!("[::1]:{}", tftp.port())
        } else {
            format!("127.0.0.1:{}", tftp.port())
        };
        assert_eq!(
            url,
            format!("tftp://{host}/mta-0010950e1234.bin"),
            "v6={v6}"
        );
        // curl fetches exactly the bytes that were hashed.
        let file = srv.bed_dir.path().join(format!("fetched-{v6}.bin"));
        let out = Command::new(tool("curl"))
            .args(["-s", "-g", "--max-time", "10", "-o"])
            .arg(&file)
            .arg(&url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::read(&file).unwrap();
        assert!(!bytes.is_empty());
        assert_eq!(
            sha1::Sha1::digest(&bytes).to_vec(),
            hash,
            "SHA-1 of the served file = the hash SET"
        );
        // Reset the agent's objects for the next family.
        Command::new(tool("snmpset"))
            .args([
                "-m",
                "",
                "-v",
                "2c",
                "-c",
                "lab-write",
                "-t",
                "1",
                "-r",
                "0",
            ])
            .arg(format!("udp:127.0.0.1:{port}"))
            .args(["1.3.6.1.2.1.140.1.2.9.0", "s", ""])
            .output()
            .unwrap();
        // v3 authPriv SHA/AES: discovery (usmStatsUnknownEngineIDs Report), then the INFORM.
        let (ok, err) = inform(
            to,
            &[
                "-v",
                "3",
                "-u",
                "informuser",
                "-l",
                "authPriv",
                "-a",
                "SHA",
                "-A",
                "authpass123",
                "-x",
                "AES",
                "-X",
                "privpass123",
            ],
        );
        assert!(ok, "v3 INFORM to {to}: {err}");
    }
    assert!(
        srv.drops("unknown_engine_id") >= 2,
        "engine-id discovery answered by a Report"
    );
    // tshark decodes every SNMP frame of the exchanges, none malformed.
    let decoded = capture.decode(&snmp_ports);
    assert!(!decoded.contains("Malformed"), "{decoded}");
    for what in ["informRequest", "get-response", "set-request", "report"] {
        assert!(decoded.contains(what), "no {what} in:\n{decoded}");
    }
    let enrolled = srv
        .counters
        .get_in(Family::Snmp, headend_server::counters::Event::Enrolled);
    assert!(enrolled >= 2, "enrolled {enrolled}");
}

#[test]
fn bad_input_is_counted_per_reason_and_answered_as_snmp_says() {
    let srv = Running::start(free_udp_port());
    for v6 in [false, true] {
        let to = srv.snmp(v6);
        // Wrong community: no Response, snmpinform times out.
        let (ok, _) = inform(to, &["-v", "2c", "-c", "wrong", "-r", "0", "-t", "1"]);
        assert!(!ok);
        // Wrong USM password: a usmStatsWrongDigests Report, net-snmp says so.
        let (ok, err) = inform(
            to,
            &[
                "-v",
                "3",
                "-u",
                "informuser",
                "-l",
                "authPriv",
                "-a",
                "SHA",
                "-A",
                "wrongpass123",
                "-x",
                "AES",
                "-X",
                "privpass123",
            ],
        );
        assert!(!ok);
        assert!(err.contains("Authentication failure"), "{err}");
        // Malformed BER: dropped, nothing sent back, the server goes on.
        let any = if v6 { "[::1]:0" } else { "127.0.0.1:0" };
        let s = UdpSocket::bind(any).unwrap();
        s.send_to(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02], to)
            .unwrap();
        s.send_to(b"not snmp at all", to).unwrap();
    }
    wait_for("the drop counters", || srv.drops("malformed") >= 4);
    assert_eq!(srv.drops("bad_community"), 2);
    assert!(
        srv.drops("usm_digest") >= 2,
        "{:?}",
        srv.counters.drops_in(Family::Snmp)
    );
    // Still serving after all that.
    let (ok, err) = inform(srv.snmp(false), &["-v", "2c", "-c", "lab-inform"]);
    assert!(ok, "{err}");
}
