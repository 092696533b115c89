//! The PacketCable Hybrid flow end to end (issue 12's end-to-end proof), one
//! test per family, each inside a network namespace running `headend run`:
//!
//! - IPv6: `examples/lab/eue6.py` gets the eUE its DHCPv6 lease with CCCv6
//!   naming the provisioning server ::1 and HYBRID.2; from the leased
//!   address, net-snmp's `snmpinform` sends the RFC 4682 enrollment INFORM
//!   (eUE-15), headend SETs pktcMtaDevConfigFile and
//!   pktcMtaDevProvConfigHash on the eUE's agent — net-snmp's `snmpd` on the
//!   leased address (eUE-19); `curl` from that address fetches the file the
//!   SET named over TFTP, blksize 1428, and its SHA-1 equals the hash SET
//!   (eUE-22/23); `logger` sends the eUE's syslog status notification
//!   (eUE-24); the status INFORM "pass" is answered (eUE-25).
//! - IPv4: the eCM's DORA through the lab CMTS relay (`examples/lab/dora.py`,
//!   CM1–CM4), its DOCSIS file by TFTP (`curl`, from the leased address),
//!   the time from headend's RFC 868 server on port 37 (`rdate`, UDP and
//!   TCP, from the leased address); then the eUE behind it (option 82.2 =
//!   the eCM's MAC, 43.32 correlation id) gets option 122 with HYBRID.2 and
//!   provisioning server 127.0.0.1 (type 1), and the same SNMP / TFTP /
//!   syslog / status steps follow with the CableLabs MIB family.
//!
//! `headend device show` asks the running server and lists every step in
//! order (for IPv4, the eUE's steps and its linked eCM's).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Netns, Proc, HEADEND, READY_LINE, READY_TIMEOUT};

fn dist(name: &str) -> PathBuf {
    common::dist_plugin(name).unwrap_or_else(|| {
        panic!("plugins/dist/{name}.wasm missing: run plugins/build.sh (scripts/setup does)")
    })
}

const CONFIG: &str = r#"
[server]
store = "state"

[provisioning]
auto_provision = { expr = 'if device.family == "pktc" { ["emta"] } else { [] }' }

[[domain]]
name = "emta"

[dhcpv6]
listen = ["[::1]:6547"]
dss_id = "headend-test"
provisioning_server = ["::1"]
realm = "HYBRID.2"
config_file = '"mta-" + device.mac.replace(":", "") + ".bin"'
tftp_servers = ["::1"]

[[pool6]]
name = "eue6"
prefix = "2001:db8:2::/64"
links = ["2001:db8:100::1"]
domains = ["emta"]

[tftp]
listen = ["[::1]:6969"]
root = "tftp"

[[tftp.config_file]]
name = "*.bin"
generator = "eue-config"

[snmp]
listen = ["[::1]:6162"]
communities = ["lab-inform"]
agent_community = "lab-write"
agent_port = 6161
timeout_ms = 1000
config_file = '"mta-" + device.mac.replace(":", "") + ".bin"'

[syslog]
listen = ["[::1]:6514"]

[[plugin]]
name = "eue-config"
path = "@EUE@"
hooks = ["config-file"]
[plugin.config]
file_pattern = "*.bin"
flow = "HYBRID.2"
operator_domain = "voice.test.example"
dns_servers = ["2001:db8:100::53"]
"#;

fn json_str(json: &str, key: &str) -> String {
    let pat = format!("\"{key}\": \"");
    let start = json
        .find(&pat)
        .map(|i| i + pat.len())
        .unwrap_or_else(|| panic!("{key} in {json}"));
    let end = json[start..].find('"').unwrap() + start;
    json[start..end].to_string()
}

/// snmpget -Ox output ("Hex-STRING: 74 66 …", or `""` while empty) → bytes.
fn hex_string(s: &str) -> Vec<u8> {
    s.trim_start_matches("Hex-STRING:")
        .split_whitespace()
        .filter_map(|h| u8::from_str_radix(h, 16).ok().filter(|_| h.len() == 2))
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The peers both tests need (and `extra`), a scratch directory with a TFTP
/// root, and `config` written there with the eue-config plugin's path.
fn prepare(name: &str, config: &str, extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let mut tools = vec![
        "curl",
        "python3",
        "snmpinform",
        "snmpget",
        "snmpd",
        "logger",
    ];
    tools.extend_from_slice(extra);
    assert!(
        common::peers_available("peer_snmp_e2e", &tools).unwrap(),
        "peers missing (scripts/setup --peers installs snmp, snmpd and rdate)"
    );
    let eue = dist("eue-config");
    let dir = common::scratch(name).unwrap();
    std::fs::create_dir_all(dir.path().join("tftp")).unwrap();
    let path = dir.path().join("headend.toml");
    std::fs::write(&path, config.replace("@EUE@", &eue.display().to_string())).unwrap();
    (dir, path)
}

/// `headend run` in a fresh namespace (set up by `prepare` first), ready.
fn start(config: &Path, prepare: impl FnOnce(&Netns)) -> (Netns, Proc) {
    common::headend_check(config).unwrap();
    let ns = Netns::new().unwrap();
    prepare(&ns);
    let mut cmd = ns.command(HEADEND);
    cmd.arg("run")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info,headend_server::snmp=debug");
    let mut proc = Proc::spawn("headend run", cmd).unwrap();
    proc.wait_for(READY_LINE, READY_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}\n{}", proc.output_tail(4000)));
    (ns, proc)
}

/// `a` as a host prefix and as a transport address.
fn host_of(a: IpAddr) -> (String, String) {
    match a {
        IpAddr::V4(a) => (format!("{a}/32"), a.to_string()),
        IpAddr::V6(a) => (format!("{a}/128"), format!("[{a}]")),
    }
}

/// The eUE's agent: net-snmp's `snmpd` on the eUE's leased address (port
/// 6161), writable with the agent community from headend's SNMP
/// listener, holding the two objects the SET writes.
struct Agent<'a> {
    ns: &'a Netns,
    target: String,
    proc: Proc,
}

impl<'a> Agent<'a> {
    fn start(ns: &'a Netns, dir: &Path, eue: IpAddr, manager: IpAddr, objects: [&str; 2]) -> Self {
        let (transport, community) = if eue.is_ipv4() {
            ("udp", "rwcommunity")
        } else {
            ("udp6", "rwcommunity6")
        };
        let target = format!("{transport}:{}:6161", host_of(eue).1);
        let conf = dir.join("snmpd.conf");
        let mut text = format!(
            "agentAddress {target}\n{community} lab-write {}\n{community} lab-write {}\n",
            host_of(manager).0,
            host_of(eue).0
        );
        for o in objects {
            text.push_str(&format!("override -rw .{o} octet_str \"\"\n"));
        }
        std::fs::write(&conf, text).unwrap();
        let mut snmpd = ns.command("snmpd");
        snmpd
            .args(["-f", "-m", "", "-Lf"])
            .arg(dir.join("snmpd.log"))
            .arg("-C")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(dir.join("snmpd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let agent = Agent {
            ns,
            target,
            proc: Proc::spawn("snmpd", snmpd).unwrap(),
        };
        let until = Instant::now() + Duration::from_secs(10);
        while agent.get(objects[0]).is_none() {
            assert!(Instant::now() < until, "snmpd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        agent
    }

    fn get(&self, oid: &str) -> Option<String> {
        let out = self
            .ns
            .command("snmpget")
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
            .args(["-Ov", "-Ox"])
            .arg(&self.target)
            .arg(oid)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Waits for the SET: the values of the two objects (URL, hash).
    fn wait_set(&self, objects: [&str; 2], show: impl Fn() -> String) -> (String, Vec<u8>) {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self
                .get(objects[0])
                .map(|s| hex_string(&s))
                .unwrap_or_default();
            if !url.is_empty() {
                let hash = hex_string(&self.get(objects[1]).unwrap_or_default());
                return (String::from_utf8(url).unwrap(), hash);
            }
            assert!(Instant::now() < until, "no SET at snmpd\n{}", show());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(mut self) {
        let _ = self.proc.stop(Duration::from_secs(5));
    }
}

/// net-snmp's `snmpinform` (v2c) from the eUE's leased address.
struct Informer<'a> {
    ns: &'a Netns,
    conf_dir: PathBuf,
    target: String,
}

impl<'a> Informer<'a> {
    fn new(ns: &'a Netns, dir: &Path, eue: IpAddr, target: &str) -> Self {
        let conf_dir = dir.join("snmpconf");
        std::fs::create_dir_all(&conf_dir).unwrap();
        let client = host_of(eue).1;
        std::fs::write(conf_dir.join("snmp.conf"), format!("clientaddr {client}\n")).unwrap();
        Informer {
            ns,
            conf_dir,
            target: target.to_string(),
        }
    }

    fn send(&self, args: &[&str], log: impl Fn() -> String) {
        let out = self
            .ns
            .command("snmpinform")
            .env("SNMPCONFPATH", &self.conf_dir)
            .env("SNMP_PERSISTENT_DIR", &self.conf_dir)
            .args([
                "-m",
                "",
                "-v",
                "2c",
                "-c",
                "lab-inform",
                "-r",
                "1",
                "-t",
                "2",
            ])
            .arg(&self.target)
            .arg("")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "snmpinform: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            log()
        );
    }
}

/// util-linux `logger`: the eUE's RFC 5424 syslog notification (eUE-24).
fn syslog_status(ns: &Netns, server: &str, mac: &str) {
    let st = ns
        .command("logger")
        .args(["--server", server, "--port", "6514", "--udp", "--rfc5424"])
        .args(["-t", "MTA[PACKETCABLE]", "-p", "local0.info"])
        .arg(format!("<4000950100> provisioning complete MAC={mac}"))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "logger: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    std::thread::sleep(Duration::from_millis(300));
}

/// `curl` fetches a TFTP URL from a given source address.
fn tftp_get(ns: &Netns, url: &str, from: &str, blksize: u32, to: &Path) -> Vec<u8> {
    let st = ns
        .command("curl")
        .args(["-sS", "-g", "--tftp-blksize", &blksize.to_string()])
        .args(["--interface", from, "-o"])
        .arg(to)
        .arg(url)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    std::fs::read(to).unwrap()
}

/// `headend device show`: its text, and the steps of each device it lists
/// (`device …` first, then `linked …`), in order.
fn device_show(config: &Path, mac: &str) -> (String, Vec<(String, Vec<String>)>) {
    let out = Command::new(HEADEND)
        .args(["device", "show", "--config"])
        .arg(config)
        .args(["--mac", mac])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "device show: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut devices: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if let Some(step_line) = line.strip_prefix("  ") {
            // "  HH:MM:SS.mmm  <step, padded to 22> <outcome> <detail>"
            let rest = step_line.split_once("  ").map(|(_, r)| r).unwrap_or("");
            let step = rest.split("  ").next().unwrap_or("").trim().to_string();
            if let Some((_, steps)) = devices.last_mut() {
                steps.push(step);
            }
        } else if !line.trim().is_empty() {
            devices.push((line.to_string(), Vec::new()));
        }
    }
    (text, devices)
}

/// Every step of `want` is present, and those of `order` come in this order.
fn assert_steps(steps: &[String], want: &[&str], order: &[&str], text: &str) {
    for w in want {
        assert!(
            steps.iter().any(|s| s == w),
            "{w} missing: {steps:?}\n{text}"
        );
    }
    let idx: Vec<usize> = order
        .iter()
        .filter_map(|w| steps.iter().position(|s| s == w))
        .collect();
    assert!(
        idx.len() == order.len() && idx.windows(2).all(|w| w[0] < w[1]),
        "order {order:?} in {steps:?}\n{text}"
    );
}

const EUE_STEPS: [&str; 11] = [
    "eUE-1", "eUE-2", "eUE-3", "eUE-4", "eUE-15", "eUE-18", "eUE-19", "eUE-22", "eUE-23", "eUE-24",
    "eUE-25",
];
const EUE_ORDER: [&str; 8] = [
    "eUE-1", "eUE-4", "eUE-15", "eUE-18", "eUE-19", "eUE-22", "eUE-24", "eUE-25",
];

#[test]
fn eue6_hybrid_flow_inform_set_tftp_status() {
    let (dir, config) = prepare("snmp-e2e", CONFIG, &[]);
    let (ns, mut proc) = start(&config, |_| ());
    let log = || proc.output_tail(4000);

    // eUE-1 … eUE-4: DHCPv6 through a Relay-Forward (correlation id 0x12345678).
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lab/eue6.py");
    let mac = "00:10:95:0e:77:01";
    let out = ns
        .command("python3")
        .arg(&script)
        .args(["--server", "[::1]:6547", "--mac", mac])
        .output()
        .unwrap();
    let json = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "eue6.py: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        log()
    );
    let address = json_str(&json, "address");
    assert_eq!(json_str(&json, "realm"), "HYBRID.2", "{json}");
    ns.add_addr("lo", &format!("{address}/128")).unwrap();
    let eue_ip: IpAddr = address.parse().unwrap();

    // The RFC 4682 (IETF) MIB family.
    const OBJECTS: [&str; 2] = ["1.3.6.1.2.1.140.1.2.9.0", "1.3.6.1.2.1.140.1.2.11.0"];
    let agent = Agent::start(&ns, dir.path(), eue_ip, "::1".parse().unwrap(), OBJECTS);
    let informer = Informer::new(&ns, dir.path(), eue_ip, "udp6:[::1]:6162");
    let mac_hex = mac.replace(':', "");
    #[rustfmt::skip]
    informer.send(&[
        "1.3.6.1.2.1.140.0.1",
        "1.3.6.1.2.1.1.1.0", "s", "eUE e2e",
        "1.3.6.1.2.1.140.1.1.3.0", "s", "1.0",
        "1.3.6.1.2.1.140.1.1.7.0", "s", "pktc2.0:",
        "1.3.6.1.2.1.2.2.1.6.1", "x", &mac_hex,
        "1.3.6.1.2.1.140.1.3.3.0", "u", "305419896",
    ], log);
    let (url, hash) = agent.wait_set(OBJECTS, || {
        format!("{}\n{}", device_show(&config, mac).0, log())
    });
    assert_eq!(url, format!("tftp://[::1]:6969/mta-{mac_hex}.bin"));

    // eUE-22/23: the file the SET named, from the leased address, blksize 1428.
    let bytes = tftp_get(&ns, &url, &address, 1428, &dir.path().join("got.bin"));
    assert_eq!(
        headend_config_file::config_hash(&bytes).to_vec(),
        hash,
        "SHA-1 of the file = the hash SET"
    );

    syslog_status(&ns, "::1", mac);

    // eUE-25: provisioning status pass.
    #[rustfmt::skip]
    informer.send(&[
        "1.3.6.1.2.1.140.0.2",
        "1.3.6.1.2.1.2.2.1.6.1", "x", &mac_hex,
        "1.3.6.1.2.1.140.1.3.3.0", "u", "305419896",
        "1.3.6.1.2.1.140.1.1.8.0", "i", "1",
    ], log);

    // The timeline of the running server, in order.
    std::thread::sleep(Duration::from_millis(300));
    let (text, devices) = device_show(&config, mac);
    let steps = &devices.first().expect("the device's section").1;
    assert_steps(steps, &EUE_STEPS, &EUE_ORDER, &text);
    assert!(text.contains("pass"), "{text}");
    agent.stop();
    proc.stop(Duration::from_secs(15)).unwrap();
}

/// The IPv4 lab: an eCM and the eUE behind it through the CMTS relay
/// 127.0.0.2; the ToD server on port 37 of 192.0.2.37.
const CONFIG4: &str = r#"
[server]
store = "state"

[dhcpv4]
listen = ["127.0.0.1:6767"]

[provisioning]
auto_provision = { expr = '''
    if device.family == "pktc" { ["emta"] } else if device.family == "docsis" { ["cablemodems"] } else { [] }
''' }

[[domain]]
name = "cablemodems"

[[domain]]
name = "emta"

[[pool]]
name = "cm"
domains = ["cablemodems"]
relays = ["127.0.0.2"]
network = "10.1.0.0/16"
ranges = [["10.1.0.10", "10.1.0.200"]]
policies = ["docsis"]

[[pool]]
name = "mta"
domains = ["emta"]
relays = ["127.0.0.2"]
network = "10.2.0.0/16"
ranges = [["10.2.0.10", "10.2.0.200"]]
policies = ["packetcable"]

[[policy]]
name = "docsis"
enforced = true
[policy.options]
time-servers = ["192.0.2.37"]
time-offset = 0
log-servers = ["127.0.0.1"]
"server.next-server" = "127.0.0.1"
"server.boot-file" = { expr = '"cm-" + device.mac.replace(":", "") + ".cfg"' }

[[policy]]
name = "packetcable"
enforced = true
[policy.options]
log-servers = ["127.0.0.1"]
"122/3" = "127.0.0.1"
"122/6" = "HYBRID.2"

[tftp]
listen = ["127.0.0.1:6969"]
root = "tftp"
cmts_shared_secret = "e2e-cmts-secret"

[[tftp.config_file]]
name = "*.cfg"
generator = "builtin:docsis-cm"

[[tftp.config_file]]
name = "*.bin"
generator = "eue-config"

[tod]
listen = ["192.0.2.37:37"]

[snmp]
listen = ["127.0.0.1:6162"]
communities = ["lab-inform"]
agent_community = "lab-write"
agent_port = 6161
timeout_ms = 1000
config_file = '"mta-" + device.mac.replace(":", "") + ".bin"'

[syslog]
listen = ["127.0.0.1:6514"]

[[plugin]]
name = "eue-config"
path = "@EUE@"
hooks = ["config-file"]
[plugin.config]
file_pattern = "*.bin"
flow = "HYBRID.2"
operator_domain = "voice.test.example"
dns_servers = ["192.0.2.53"]
"#;

/// `dora.py` through the lab relay 127.0.0.2: the ACK's yiaddr, and the
/// ACK as it printed it.
fn dora(ns: &Netns, args: &[&str], log: impl Fn() -> String) -> (String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lab/dora.py");
    let out = ns
        .command("python3")
        .arg(&script)
        .args(["--server", "127.0.0.1:6767"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "dora.py {args:?}: {text}{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        log()
    );
    let ack = text.split("ACK: yiaddr ").nth(1).expect("an ACK");
    let yiaddr = ack.split_whitespace().next().unwrap_or("").to_string();
    (yiaddr, ack.to_string())
}

/// The hex of an option in dora.py's listing (`  122 cablelabs-ccc  0305…`).
fn option_hex(listing: &str, code: u8) -> Option<String> {
    listing.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        if w.next()? == code.to_string() {
            w.last().map(str::to_string)
        } else {
            None
        }
    })
}

/// rdate (Debian `rdate`) on port 37: UDP (`-u`) or TCP.
fn rdate(ns: &Netns, udp: bool) -> String {
    let bin = ["/usr/sbin/rdate", "/usr/bin/rdate"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("rdate is not installed: scripts/setup --peers installs it");
    let mut cmd = ns.command(bin);
    cmd.arg("-p");
    if udp {
        cmd.arg("-u");
    }
    let out = cmd.arg("192.0.2.37").env("TZ", "UTC").output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "rdate udp={udp}: {text}");
    text
}

#[test]
fn ecm_then_eue4_hybrid_flow_dora_file_tod_inform_set_tftp_status() {
    let (dir, config) = prepare("snmp-e2e4", CONFIG4, &["rdate"]);
    // The ToD server's address: a local route, so that its preferred source
    // can become the eCM's address once the eCM has one.
    let (ns, mut proc) = start(&config, |ns| {
        ns.ip(&[
            "route",
            "add",
            "local",
            "192.0.2.37/32",
            "dev",
            "lo",
            "table",
            "local",
        ])
        .unwrap();
    });
    let log = || proc.output_tail(4000);

    // CM1–CM4: the eCM's DORA through the CMTS relay.
    let cm_mac = "00:10:95:0e:40:01";
    let (cm_ip, cm_ack) = dora(&ns, &["--mac", cm_mac, "--vendor-class", "docsis3.0:"], log);
    assert!(cm_ip.starts_with("10.1.0."), "{cm_ack}");
    assert_eq!(
        option_hex(&cm_ack, 4).as_deref(),
        Some("c0000225"),
        "{cm_ack}"
    );
    let cm_hex = cm_mac.replace(':', "");
    assert!(
        cm_ack.contains(&format!("siaddr 127.0.0.1 file cm-{cm_hex}.cfg")),
        "{cm_ack}"
    );
    ns.add_addr("lo", &format!("{cm_ip}/32")).unwrap();

    // The eCM's config file by TFTP from its address: the built-in DOCSIS
    // generator's file, both MICs right for the CMTS shared secret.
    let cm_file = tftp_get(
        &ns,
        &format!("tftp://127.0.0.1:6969/cm-{cm_hex}.cfg"),
        &cm_ip,
        1448,
        &dir.path().join("cm.cfg"),
    );
    let decoded = headend_config_file::decode(&cm_file, Some(b"e2e-cmts-secret")).unwrap();
    assert_eq!(decoded.kind, headend_config_file::FileKind::Cm);
    assert_eq!(decoded.cm_mic, headend_config_file::Check::Verified);
    assert_eq!(decoded.cmts_mic, headend_config_file::Check::Verified);

    // ToD on port 37 from the eCM's address (rdate cannot bind one): the
    // route to the time server now prefers the eCM's address as source.
    ns.ip(&[
        "route",
        "replace",
        "local",
        "192.0.2.37/32",
        "dev",
        "lo",
        "src",
        &cm_ip,
        "table",
        "local",
    ])
    .unwrap();
    let year = {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        // Mean Gregorian year: right except in the hours around New Year.
        (1970 + secs / 31_556_952).to_string()
    };
    for udp in [true, false] {
        let t = rdate(&ns, udp);
        assert!(t.contains(&year), "rdate: {t}");
    }

    // eUE-1 … eUE-4: the eUE behind the eCM (82.2 = the eCM's MAC), its
    // correlation id in 43.32.
    let mac = "00:10:95:0e:40:02";
    #[rustfmt::skip]
    let (eue_ip, eue_ack) = dora(&ns, &[
        "--mac", mac, "--vendor-class", "pktc2.0:", "--remote-id", cm_mac,
        "--correlation-id", "305419896",
    ], log);
    assert!(eue_ip.starts_with("10.2.0."), "{eue_ack}");
    // 122.3 type 1 = 127.0.0.1; 122.6 = the realm "HYBRID.2" (RFC 3495 3.3, 3.6).
    let ccc = option_hex(&eue_ack, 122).expect("option 122");
    assert!(ccc.contains("0305017f000001"), "{ccc}");
    assert!(ccc.contains(&hex(b"HYBRID")), "{ccc}");
    ns.add_addr("lo", &format!("{eue_ip}/32")).unwrap();
    let eue: IpAddr = eue_ip.parse().unwrap();

    // The CableLabs MIB family this time (protocol-notes 12.2).
    let o = |s: &str| format!("1.3.6.1.4.1.4491.2.2.1.{s}");
    let (file_oid, hash_oid) = (o("1.2.5.0"), o("1.2.7.0"));
    let objects = [file_oid.as_str(), hash_oid.as_str()];
    let agent = Agent::start(&ns, dir.path(), eue, "127.0.0.1".parse().unwrap(), objects);
    let informer = Informer::new(&ns, dir.path(), eue, "udp:127.0.0.1:6162");
    let mac_hex = mac.replace(':', "");
    #[rustfmt::skip]
    informer.send(&[
        &o("2.0.1"),
        &o("1.1.4.0"), "x", &mac_hex,
        &o("1.3.4.0"), "u", "305419896",
    ], log);
    let (url, hash) = agent.wait_set(objects, || {
        format!("{}\n{}", device_show(&config, mac).0, log())
    });
    assert_eq!(url, format!("tftp://127.0.0.1:6969/mta-{mac_hex}.bin"));
    let bytes = tftp_get(&ns, &url, &eue_ip, 1448, &dir.path().join("mta.bin"));
    assert_eq!(
        headend_config_file::config_hash(&bytes).to_vec(),
        hash,
        "SHA-1 of the file = the hash SET"
    );

    syslog_status(&ns, "127.0.0.1", mac);
    #[rustfmt::skip]
    informer.send(&[
        &o("2.0.2"),
        &o("1.1.4.0"), "x", &mac_hex,
        &o("1.3.4.0"), "u", "305419896",
        &o("1.1.9.0"), "i", "1",
    ], log);

    std::thread::sleep(Duration::from_millis(300));
    let (text, devices) = device_show(&config, mac);
    let eue_steps = &devices.first().expect("the eUE's section").1;
    assert_steps(eue_steps, &EUE_STEPS, &EUE_ORDER, &text);
    let cm = devices
        .iter()
        .find(|(h, _)| h.starts_with("linked"))
        .unwrap_or_else(|| panic!("the eCM is linked to the eUE:\n{text}"));
    assert_steps(
        &cm.1,
        &[
            "CM1",
            "CM2",
            "CM3",
            "CM4",
            "CM5-CM10 config file",
            "CM5-CM10 ToD",
        ],
        &["CM1", "CM4", "CM5-CM10 config file", "CM5-CM10 ToD"],
        &text,
    );
    assert!(text.contains("pass"), "{text}");
    agent.stop();
    proc.stop(Duration::from_secs(15)).unwrap();
}
