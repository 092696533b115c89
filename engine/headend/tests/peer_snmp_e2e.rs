//! The PacketCable Hybrid flow end to end for an eUE over IPv6 (the SNMP
//! part of issue 12's end-to-end proof): inside a network namespace, `headend run`;
//! `examples/lab/eue6.py` gets the eUE its DHCPv6 lease with CCCv6 naming
//! the provisioning server ::1 and HYBRID.2; from the leased address,
//! net-snmp's `snmpinform` sends the RFC 4682 enrollment INFORM
//! (eUE-15), headend SETs pktcMtaDevConfigFile and pktcMtaDevProvConfigHash
//! on the eUE's agent — net-snmp's `snmpd` on the leased address (eUE-19);
//! `curl` from that address fetches the file the SET named over TFTP and its
//! SHA-1 equals the hash SET (eUE-22/23); `logger` sends the eUE's syslog
//! status notification (eUE-24); the status INFORM "pass" is
//! answered (eUE-25); `headend device show` lists the steps in order.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Netns, Proc, HEADEND, READY_LINE, READY_TIMEOUT};

fn dist(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugins/dist")
        .join(format!("{name}.wasm"));
    assert!(
        p.is_file(),
        "{} missing: run plugins/build.sh (scripts/setup does)",
        p.display()
    );
    p.canonicalize().unwrap()
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

#[test]
fn eue6_hybrid_flow_inform_set_tftp_status() {
    assert!(
        common::peers_available(
            "peer_snmp_e2e",
            &["curl", "python3", "snmpinform", "snmpget", "snmpd"]
        )
        .unwrap(),
        "peers missing (scripts/setup --peers installs snmp and snmpd)"
    );
    let eue = dist("eue-config");
    let dir = common::scratch("snmp-e2e").unwrap();
    std::fs::create_dir_all(dir.path().join("tftp")).unwrap();
    let config = dir.path().join("headend.toml");
    std::fs::write(&config, CONFIG.replace("@EUE@", &eue.display().to_string())).unwrap();
    common::headend_check(&config).unwrap();

    let ns = Netns::new().unwrap();
    let mut cmd = ns.command(HEADEND);
    cmd.arg("run")
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "info,headend_server::snmp=debug");
    let mut proc = Proc::spawn("headend run", cmd).unwrap();
    proc.wait_for(READY_LINE, READY_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}\n{}", proc.output_tail(4000)));

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
        proc.output_tail(4000)
    );
    let address = json_str(&json, "address");
    assert_eq!(json_str(&json, "realm"), "HYBRID.2", "{json}");
    ns.add_addr("lo", &format!("{address}/128")).unwrap();

    // The eUE's agent: snmpd on the leased address, port 6161.
    let snmpd_conf = dir.path().join("snmpd.conf");
    std::fs::write(
        &snmpd_conf,
        format!(
            "agentAddress udp6:[{address}]:6161\nrwcommunity6 lab-write ::1/128\nrwcommunity6 lab-write {address}/128\n\
             override -rw .1.3.6.1.2.1.140.1.2.9.0 octet_str \"\"\n\
             override -rw .1.3.6.1.2.1.140.1.2.11.0 octet_str \"\"\n"
        ),
    )
    .unwrap();
    let mut snmpd = ns.command("snmpd");
    snmpd
        .args(["-f", "-m", "", "-Lf"])
        .arg(dir.path().join("snmpd.log"))
        .arg("-C")
        .arg("-c")
        .arg(&snmpd_conf)
        .arg("-p")
        .arg(dir.path().join("snmpd.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut agent = Proc::spawn("snmpd", snmpd).unwrap();
    let get = |oid: &str| -> Option<String> {
        let out = ns
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
                "-Ov",
                "-Ox",
            ])
            .arg(format!("udp6:[{address}]:6161"))
            .arg(oid)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let until = Instant::now() + Duration::from_secs(10);
    while get("1.3.6.1.2.1.140.1.2.9.0").is_none() {
        assert!(Instant::now() < until, "snmpd did not start");
        std::thread::sleep(Duration::from_millis(100));
    }

    // INFORMs from the leased address (net-snmp's clientaddr).
    let conf_dir = dir.path().join("snmpconf");
    std::fs::create_dir_all(&conf_dir).unwrap();
    std::fs::write(
        conf_dir.join("snmp.conf"),
        format!("clientaddr [{address}]\n"),
    )
    .unwrap();
    let inform = |args: &[&str]| {
        let out = ns
            .command("snmpinform")
            .env("SNMPCONFPATH", &conf_dir)
            .env("SNMP_PERSISTENT_DIR", &conf_dir)
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
                "udp6:[::1]:6162",
                "",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "snmpinform: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            proc.output_tail(4000)
        );
    };
    let mac_hex = mac.replace(':', "");
    inform(&[
        "1.3.6.1.2.1.140.0.1",
        "1.3.6.1.2.1.1.1.0",
        "s",
        "eUE e2e",
        "1.3.6.1.2.1.140.1.1.3.0",
        "s",
        "1.0",
        "1.3.6.1.2.1.140.1.1.7.0",
        "s",
        "pktc2.0:",
        "1.3.6.1.2.1.2.2.1.6.1",
        "x",
        &mac_hex,
        "1.3.6.1.2.1.140.1.3.3.0",
        "u",
        "305419896",
    ]);
    let mut url = Vec::new();
    let until = Instant::now() + Duration::from_secs(10);
    while url.is_empty() {
        if Instant::now() >= until {
            let show = Command::new(HEADEND)
                .args(["device", "show", "--config"])
                .arg(&config)
                .args(["--mac", mac])
                .output()
                .unwrap();
            panic!(
                "no SET at snmpd\n{}\n{}",
                String::from_utf8_lossy(&show.stdout),
                proc.output_tail(2000)
            );
        }
        url = get("1.3.6.1.2.1.140.1.2.9.0")
            .map(|s| hex_string(&s))
            .unwrap_or_default();
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = String::from_utf8(url).unwrap();
    assert_eq!(url, format!("tftp://[::1]:6969/mta-{mac_hex}.bin"));
    let hash = hex_string(&get("1.3.6.1.2.1.140.1.2.11.0").unwrap());

    // eUE-22/23: the file the SET named, from the leased address, blksize 1428.
    let got = dir.path().join("got.bin");
    let st = ns
        .command("curl")
        .args([
            "-sS",
            "-g",
            "--tftp-blksize",
            "1428",
            "--interface",
            &address,
            "-o",
        ])
        .arg(&got)
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let bytes = std::fs::read(&got).unwrap();
    assert_eq!(
        headend_config_file::config_hash(&bytes).to_vec(),
        hash,
        "SHA-1 of the file = the hash SET"
    );

    // eUE-24: the eUE's syslog notification of its provisioning status
    // (util-linux logger, RFC 5424, the MAC in the message).
    let st = ns
        .command("logger")
        .args([
            "--server",
            "::1",
            "--port",
            "6514",
            "--udp",
            "--rfc5424",
            "-t",
            "MTA[PACKETCABLE]",
            "-p",
            "local0.info",
        ])
        .arg(format!("<4000950100> provisioning complete MAC={mac}"))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "logger: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    std::thread::sleep(Duration::from_millis(300));

    // eUE-25: provisioning status pass.
    inform(&[
        "1.3.6.1.2.1.140.0.2",
        "1.3.6.1.2.1.2.2.1.6.1",
        "x",
        &mac_hex,
        "1.3.6.1.2.1.140.1.3.3.0",
        "u",
        "305419896",
        "1.3.6.1.2.1.140.1.1.8.0",
        "i",
        "1",
    ]);

    // The timeline of the running server, in order.
    std::thread::sleep(Duration::from_millis(300));
    let out = Command::new(HEADEND)
        .args(["device", "show", "--config"])
        .arg(&config)
        .args(["--mac", mac])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "device show: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    let want = [
        "eUE-1", "eUE-2", "eUE-3", "eUE-4", "eUE-15", "eUE-18", "eUE-19", "eUE-19", "eUE-22",
        "eUE-23", "eUE-24", "eUE-25",
    ];
    let pos: Vec<Option<usize>> = want
        .iter()
        .map(|w| steps.iter().position(|s| s == w))
        .collect();
    assert!(pos.iter().all(Option::is_some), "steps {steps:?}\n{text}");
    let idx = [
        "eUE-4", "eUE-15", "eUE-18", "eUE-19", "eUE-22", "eUE-24", "eUE-25",
    ]
    .map(|w| steps.iter().position(|s| *s == w).unwrap());
    assert!(
        idx.windows(2).all(|w| w[0] < w[1]),
        "order {steps:?}\n{text}"
    );
    assert!(text.contains("pass"), "{text}");
    let _ = agent.stop(Duration::from_secs(5));
    proc.stop(Duration::from_secs(15)).unwrap();
}
