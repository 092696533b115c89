//! The simulator against servers headend had no part in (issue 15: it must
//! not depend on headend beyond the specs): ISC Kea 2.2 answers the cable
//! modems' DHCP (relayed, next-server and boot file per subnet, as an
//! operator would configure it), tftpd-hpa serves a static DOCSIS file
//! built with its CM MIC and CMTS MIC, and `headend simulate` runs the
//! modems' flow: DORA, then the file by TFTP with both MICs checked. Kea
//! sends no time server here, so the modems skip ToD (as DOCSIS allows).
//! With the wrong CMTS secret, every modem must report the CMTS MIC.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::{peers_available, scratch, Netns, Proc, HEADEND};
use headend_config_file::docsis::CmConfig;
use serde_json::Value;

const SECRET: &str = "cmts-shared-secret";

fn kea_config(dir: &Path) -> String {
    format!(
        r#"{{ "Dhcp4": {{
  "interfaces-config": {{ "interfaces": [ "lo/127.0.0.1" ], "dhcp-socket-type": "udp" }},
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{dir}/leases4.csv", "lfc-interval": 3600 }},
  "valid-lifetime": 3600, "renew-timer": 1800, "rebind-timer": 3150,
  "subnet4": [ {{
      "id": 1, "subnet": "10.10.0.0/16", "relay": {{ "ip-addresses": [ "127.0.0.2" ] }},
      "pools": [ {{ "pool": "10.10.0.10 - 10.10.255.250" }} ],
      "next-server": "127.0.0.1", "boot-file-name": "cm.cfg",
      "option-data": [ {{ "name": "routers", "data": "10.10.0.1" }} ] }} ],
  "loggers": [ {{ "name": "kea-dhcp4", "output_options": [ {{ "output": "stdout" }} ], "severity": "INFO" }} ]
}} }}
"#,
        dir = dir.display()
    )
}

fn simulate(ns: &Netns, args: &[&str]) -> (bool, Value, String) {
    let mut cmd = ns.command(HEADEND);
    cmd.args([
        "simulate",
        "--server4",
        "127.0.0.1:67",
        "--relay",
        "127.0.0.2",
        "--tftp-port",
        "6969",
        "--json",
        "--duration",
        "60",
    ])
    .args(args);
    let mut p = Proc::spawn_stdout("headend simulate", cmd).unwrap();
    let status = p.wait(Duration::from_secs(90)).unwrap();
    let out = p.output();
    let json = out
        .find('{')
        .and_then(|i| serde_json::from_str::<Value>(&out[i..]).ok())
        .unwrap_or_else(|| panic!("no JSON report ({status}):\n{out}"));
    let text = serde_json::to_string_pretty(&json).unwrap();
    (status.success(), json, text)
}

#[test]
fn cable_modems_provision_from_kea_and_tftpd_hpa() {
    let _heavy = common::heavy();
    if !peers_available("sim_peers", &["kea-dhcp4", "in.tftpd"]).unwrap() {
        return;
    }
    let dir = scratch("sim-peers").unwrap();
    let root = dir.path().join("tftp");
    std::fs::create_dir_all(&root).unwrap();
    let mut cm = CmConfig::new();
    cm.network_access(true).max_cpe(4);
    std::fs::write(root.join("cm.cfg"), cm.build(SECRET.as_bytes()).unwrap()).unwrap();
    let config = dir.path().join("kea4.json");
    std::fs::write(&config, kea_config(dir.path())).unwrap();

    let ns = Netns::loopback_relay().unwrap();
    ns.ip(&["route", "add", "local", "10.0.0.0/8", "dev", "lo"])
        .unwrap();
    let sbin = |t: &str| {
        common::find_on_path(t)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let mut kea_cmd = ns.command(&sbin("kea-dhcp4"));
    kea_cmd
        .arg("-c")
        .arg(&config)
        .env("KEA_LOCKFILE_DIR", dir.path())
        .env("KEA_PIDFILE_DIR", dir.path());
    let mut kea = Proc::spawn("kea-dhcp4", kea_cmd).unwrap();
    kea.wait_for("DHCP4_STARTED", Duration::from_secs(30))
        .unwrap();
    // tftpd-hpa in the foreground, chrooted to the root, on its own port.
    let mut tftpd_cmd = ns.command(&sbin("in.tftpd"));
    tftpd_cmd
        .args(["-L", "-u", "root", "-a", "127.0.0.1:6969", "-s"])
        .arg(&root);
    let mut tftpd = Proc::spawn("in.tftpd", tftpd_cmd).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let (ok, r, text) = simulate(&ns, &["--cm", "200", "--cmts-secret", SECRET]);
    let d = &r["devices"][0];
    assert_eq!(d["kind"], "CM", "{text}");
    assert_eq!(d["completed"], 200, "{text}\n{}", kea.output_tail(2000));
    let steps: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["eCM DHCPv4 (CM1-CM4)", "eCM config file"], "{text}");
    assert_eq!(r["violations"].as_array().unwrap().len(), 0, "{text}");
    assert!(ok, "{text}");

    // The wrong secret: the CMTS MIC no longer verifies, on every modem.
    let (ok, r, text) = simulate(
        &ns,
        &[
            "--cm",
            "20",
            "--cmts-secret",
            "not-the-secret",
            "--mac-offset",
            "1000",
        ],
    );
    assert!(!ok, "{text}");
    let v = r["violations"].as_array().unwrap();
    assert!(
        v.iter().any(|v| v["rule"] == "cm-mic" && v["count"] == 20),
        "{text}"
    );
    assert_eq!(r["devices"][0]["failed"], 20, "{text}");

    tftpd.stop(Duration::from_secs(5)).unwrap();
    kea.stop(Duration::from_secs(15)).unwrap();
}
