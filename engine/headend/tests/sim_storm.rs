//! The boot-storm simulator against the lab (issue 15's CI-sized smoke
//! run): `headend simulate` drives 1,000 devices — cable modems, E-UEs and
//! the CPE behind them — through their whole flows against `headend run` on
//! the lab configuration (examples/lab/headend.toml, store on disk, the
//! shipped plugins), inside a network namespace whose `local` routes make
//! the leased addresses the devices' own (TFTP, ToD, SNMP and syslog go
//! from them). Every device must finish and no reply may break a rule.
//!
//! Two storms, each with its own server and namespace: the lab as shipped
//! (IP_PREF b'001: the eUEs provision over DHCPv4, CableLabs MIB), and the
//! lab told to provision eUEs over IPv6 (IP_PREF b'110: DHCPv6 eUE-1..4,
//! RFC 4682 MIB), then IPv6 all the way (eCMs over DHCPv6, Table 3; CPE
//! over DHCPv6). A third run shows the checker is not blind: a lab whose
//! eCM is given a DSS_ID that the DHCPv6 server does not use makes every
//! ADVERTISE invalid (Table 6 eUE-3), and the simulator says so. A fourth
//! mixes hostile traffic into the storm (MAC floods, forged DECLINEs,
//! INFORMs and TFTP requests from unleased addresses, malformed DHCPv4 and
//! DHCPv6): every legitimate device still provisions, no stranger gets a
//! file, nothing malformed is answered, and the server keeps running.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{start_headend, Netns, Proc, HEADEND};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The lab configuration copied into `dir` (store and TFTP root there),
/// its repository-relative paths made absolute, then `edit`ed.
fn lab_in(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("examples/lab/headend.toml")).unwrap();
    let text = text.replace("../../", &format!("{}/", repo().display()));
    std::fs::create_dir_all(dir.join("tftp")).unwrap();
    let path = dir.join("headend.toml");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

/// A namespace where the lab's pools are local addresses.
fn storm_netns() -> Netns {
    let ns = Netns::new().unwrap();
    ns.ip(&["route", "add", "local", "10.0.0.0/8", "dev", "lo"])
        .unwrap();
    ns.ip(&["-6", "route", "add", "local", "2001:db8::/32", "dev", "lo"])
        .unwrap();
    ns
}

/// Runs `headend simulate --lab ARGS --json` in `ns`; the report.
fn simulate(ns: &Netns, args: &[&str], server: &Proc) -> (bool, Value) {
    let mut cmd = ns.command(HEADEND);
    cmd.args(["simulate", "--lab", "--json", "--duration", "90"])
        .args(args);
    let mut p = Proc::spawn_stdout("headend simulate", cmd).unwrap();
    let status = p.wait(Duration::from_secs(120)).unwrap();
    let out = p.output();
    let json = out
        .find('{')
        .and_then(|i| serde_json::from_str::<Value>(&out[i..]).ok())
        .unwrap_or_else(|| {
            panic!(
                "no JSON report ({status}):\n{out}\nserver:\n{}",
                server.output_tail(4000)
            )
        });
    (status.success(), json)
}

fn plugins_built() -> bool {
    ["flow-select", "docsis-config", "eue-config", "mem-events"]
        .iter()
        .all(|p| common::dist_plugin(p).is_some())
}

/// Each kind of device in `want` is all completed; the steps in `steps`
/// were done `n` times each; no violation; nothing unfinished.
fn assert_clean(r: &Value, want: &[(&str, u64)], steps: &[(&str, u64)], log: &str) {
    let text = serde_json::to_string_pretty(r).unwrap();
    for (kind, n) in want {
        let d = r["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["kind"] == *kind)
            .unwrap_or_else(|| panic!("no {kind} in {text}"));
        assert_eq!(d["total"], *n, "{kind}: {text}\n{log}");
        assert_eq!(d["completed"], *n, "{kind} completed: {text}\n{log}");
        assert_eq!(d["failed"], 0, "{kind} failed: {text}\n{log}");
    }
    for (step, n) in steps {
        let s = r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == *step)
            .unwrap_or_else(|| panic!("step {step} missing: {text}"));
        assert_eq!(s["latency"]["count"], *n, "{step}: {text}");
    }
    assert_eq!(r["violations"].as_array().unwrap().len(), 0, "{text}");
    assert_eq!(r["stuck"].as_array().unwrap().len(), 0, "{text}");
    assert_eq!(r["unmatched"], 0, "{text}");
    // The generator kept up: the kernel dropped nothing at its sockets.
    assert_eq!(r["simulator_drops"], 0, "{text}");
}

#[test]
fn a_thousand_devices_provision_over_ipv4_against_the_lab() {
    let _heavy = common::heavy();
    if !plugins_built() {
        return;
    }
    let dir = common::scratch("sim-v4").unwrap();
    let config = lab_in(dir.path(), |t| t);
    let ns = storm_netns();
    let mut server = start_headend(&ns, &config).unwrap();
    let (ok, r) = simulate(
        &ns,
        &["--cm", "300", "--eue", "200", "--cpe", "500"],
        &server,
    );
    let log = server.output_tail(3000);
    assert_clean(
        &r,
        &[("CM", 300), ("E-UE", 200), ("CPE", 500)],
        &[
            ("eCM DHCPv4 (CM1-CM4)", 500),
            ("eCM ToD", 500),
            ("eCM config file", 500),
            ("eUE DHCPv4", 200),
            ("eUE-15 enrollment INFORM", 200),
            ("eUE-19 SET", 200),
            ("eUE config file (eUE-22/23)", 200),
            ("eUE-24 syslog", 200),
            ("eUE-25 status INFORM", 200),
            ("CPE DHCPv4", 500),
        ],
        &log,
    );
    assert!(ok, "exit status 0 when all is well");
    server.stop(Duration::from_secs(15)).unwrap();
}

#[test]
fn eues_provision_over_ipv6_when_the_server_prefers_it() {
    let _heavy = common::heavy();
    if !plugins_built() {
        return;
    }
    let dir = common::scratch("sim-v6").unwrap();
    let config = lab_in(dir.path(), |t| {
        let t2 = t.replace("\"125/4491/124\" = 1 ", "\"125/4491/124\" = 6 ");
        assert_ne!(t, t2, "the lab's IP_PREF line moved");
        t2
    });
    let ns = storm_netns();
    let mut server = start_headend(&ns, &config).unwrap();
    let (ok, r) = simulate(&ns, &["--eue", "200", "--cpe", "100"], &server);
    let log = server.output_tail(3000);
    assert_clean(
        &r,
        &[("E-UE", 200), ("CPE", 100)],
        &[
            ("eUE DHCPv6 (eUE-1..4)", 200),
            ("eUE-15 enrollment INFORM", 200),
            ("eUE config file (eUE-22/23)", 200),
            ("eUE-25 status INFORM", 200),
        ],
        &log,
    );
    assert!(ok);
    // IPv6 all the way: the eCMs over DHCPv6 (Table 3), their ToD and file
    // over IPv6, the CPE over DHCPv6. The same devices reboot: another seed,
    // so that their INFORMs carry new request-ids (the server takes a
    // repeated one for a retransmission of the answered enrollment).
    let (ok, r) = simulate(
        &ns,
        &[
            "--ecm-v6", "--cpe-v6", "--cm", "100", "--eue", "100", "--cpe", "100", "--seed", "2",
        ],
        &server,
    );
    let log = server.output_tail(3000);
    assert_clean(
        &r,
        &[("CM", 100), ("E-UE", 100), ("CPE", 100)],
        &[
            ("eCM DHCPv6 (Table 3)", 200),
            ("eCM ToD", 200),
            ("eCM config file", 200),
            ("eUE DHCPv6 (eUE-1..4)", 100),
            ("eUE-25 status INFORM", 100),
            ("CPE DHCPv6", 100),
        ],
        &log,
    );
    assert!(ok);
    server.stop(Duration::from_secs(15)).unwrap();
}

#[test]
fn a_dss_id_mismatch_is_reported_as_an_eue3_violation() {
    let _heavy = common::heavy();
    if !plugins_built() {
        return;
    }
    let dir = common::scratch("sim-bad").unwrap();
    let config = lab_in(dir.path(), |t| {
        let t2 = t
            .replace("\"125/4491/124\" = 1 ", "\"125/4491/124\" = 6 ")
            .replace(
                "\"125/4491/123/1\" = \"headend-lab\"",
                "\"125/4491/123/1\" = \"other-dss\"",
            );
        assert!(t2.contains("other-dss"), "the lab's CCCV6 line moved");
        t2
    });
    let ns = storm_netns();
    let mut server = start_headend(&ns, &config).unwrap();
    // Few retransmissions so that the eUEs give up within seconds.
    let (ok, r) = simulate(&ns, &["--eue", "20", "--dhcp-attempts", "2"], &server);
    assert!(!ok, "exit status 1 on violations");
    let text = serde_json::to_string_pretty(&r).unwrap();
    let v = r["violations"].as_array().unwrap();
    assert!(
        v.iter()
            .any(|v| v["rule"] == "eue3-advertise" && v["count"].as_u64().unwrap() >= 20),
        "{text}"
    );
    let sample = &r["violation_samples"][0];
    assert!(
        sample["detail"].as_str().unwrap().contains("DSS_ID"),
        "{text}"
    );
    assert!(
        sample["device"].as_str().unwrap().starts_with("00:10:95:"),
        "{text}"
    );
    server.stop(Duration::from_secs(15)).unwrap();
}

#[test]
fn legitimate_devices_provision_through_hostile_traffic() {
    let _heavy = common::heavy();
    if !plugins_built() {
        return;
    }
    let dir = common::scratch("sim-hostile").unwrap();
    let config = lab_in(dir.path(), |t| t);
    let ns = storm_netns();
    let mut server = start_headend(&ns, &config).unwrap();
    let (ok, r) = simulate(
        &ns,
        &[
            "--cm",
            "200",
            "--eue",
            "100",
            "--cpe",
            "300",
            "--rate",
            "300",
            "--hostile",
            "mac-flood,decline,inform,tftp-other,malformed",
            "--hostile-rate",
            "2000",
        ],
        &server,
    );
    let log = server.output_tail(3000);
    assert_clean(&r, &[("CM", 200), ("E-UE", 100), ("CPE", 300)], &[], &log);
    assert!(ok);
    let text = serde_json::to_string_pretty(&r).unwrap();
    let mode = |m: &str| {
        r["hostile"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["mode"] == m)
            .cloned()
            .unwrap_or_else(|| panic!("{m} missing: {text}"))
    };
    for m in ["mac-flood", "decline", "inform", "tftp-other", "malformed"] {
        assert!(mode(m)["sent"].as_u64().unwrap() > 100, "{m}: {text}");
    }
    assert_eq!(
        mode("tftp-other")["answered"],
        0,
        "a stranger got a file: {text}"
    );
    assert!(
        mode("tftp-other")["refused"].as_u64().unwrap() > 0,
        "{text}"
    );
    assert_eq!(mode("malformed")["answered"], 0, "{text}");
    assert_eq!(mode("decline")["answered"], 0, "{text}");
    assert!(
        server.try_status().unwrap().is_none(),
        "the server died:\n{log}"
    );
    server.stop(Duration::from_secs(15)).unwrap();
}

#[test]
fn leases_are_renewed_over_time_in_both_families() {
    let _heavy = common::heavy();
    let dir = common::scratch("sim-renew").unwrap();
    let config = dir.path().join("headend.toml");
    std::fs::write(
        &config,
        format!(
            r#"[server]
store = "{}/store"
[dhcpv4]
listen = ["127.0.0.1:6767"]
[dhcpv6]
listen = ["[::1]:6547"]
preferred_lifetime = 4
valid_lifetime = 8
[[pool]]
name = "p4"
relays = ["127.0.0.2"]
network = "10.9.0.0/16"
ranges = [["10.9.0.10", "10.9.255.250"]]
lifetime = 6
[[pool6]]
name = "p6"
prefix = "2001:db8:9::/64"
links = ["2001:db8:100::1"]
"#,
            dir.path().display()
        ),
    )
    .unwrap();
    let ns = Netns::new().unwrap();
    let mut server = start_headend(&ns, &config).unwrap();
    // Leases of 6 s (T1 3 s) and bindings of 4 s preferred (T1 2 s), kept for 7 s.
    // Both families at once (two simulators), so the test lasts 7 s, not 14.
    let runs: Vec<_> = [
        ("DHCPv4", &["--cpe", "100"][..], 2),
        (
            "DHCPv6",
            &["--cpe", "100", "--cpe-v6", "--mac-offset", "1000"][..],
            3,
        ),
    ]
    .into_iter()
    .map(|(family, args, per_device)| {
        let mut cmd = ns.command(HEADEND);
        cmd.args([
            "simulate",
            "--server4",
            "127.0.0.1:6767",
            "--server6",
            "[::1]:6547",
            "--dhcp-only",
            "--renew",
            "--duration",
            "7",
            "--json",
        ])
        .args(args);
        let p = Proc::spawn_stdout("headend simulate", cmd).unwrap();
        (family, per_device, p)
    })
    .collect();
    for (family, per_device, mut p) in runs {
        p.wait(Duration::from_secs(30)).unwrap();
        let out = p.output();
        let r: Value = serde_json::from_str(&out[out.find('{').unwrap()..]).unwrap();
        let text = serde_json::to_string_pretty(&r).unwrap();
        assert_eq!(r["devices"][0]["completed"], 100, "{family}: {text}");
        assert_eq!(
            r["renewals"].as_u64().unwrap(),
            100 * per_device,
            "{family}: {text}"
        );
        assert_eq!(
            r["failures"].as_array().unwrap().len(),
            0,
            "{family}: {text}"
        );
        assert_eq!(
            r["violations"].as_array().unwrap().len(),
            0,
            "{family}: {text}"
        );
    }
    server.stop(Duration::from_secs(15)).unwrap();
}
