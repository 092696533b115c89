//! `headend explain --from-store` (issue 20): a known device explained with
//! its account and leases as the site's store holds them — asked of the
//! running server over its control socket, and read from the store once the
//! server has stopped — its exchanges made against them, from the relay of
//! its lease when no --relay is given.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::{start_headend, Netns, Proc, HEADEND};
use serde_json::Value;

fn explain(config: &std::path::Path, extra: &[&str]) -> Value {
    let out = Command::new(HEADEND)
        .args(["explain", "--config"])
        .arg(config)
        .args([
            "--mac",
            "00:10:95:10:00:02",
            "--option",
            "60=docsis3.0:",
            "--json",
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "explain: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ack_yiaddr(r: &Value) -> Option<String> {
    r["dhcpv4"]["request"]["ack"]["yiaddr"]
        .as_str()
        .map(str::to_string)
}

#[test]
fn a_known_device_is_explained_from_its_stored_account_and_lease() {
    let dir = common::scratch("explain-store").unwrap();
    let config = dir.path().join("headend.toml");
    std::fs::write(
        &config,
        format!(
            r#"[server]
store = "{}/store"
[dhcpv4]
listen = ["127.0.0.1:6767"]
[provisioning]
auto_provision = {{ expr = 'if device.family == "docsis" {{ ["modems"] }} else {{ [] }}' }}
[[domain]]
name = "modems"
[[pool]]
name = "modems"
domains = ["modems"]
relays = ["127.0.0.2"]
network = "10.9.0.0/16"
ranges = [["10.9.0.10", "10.9.255.250"]]
"#,
            dir.path().display()
        ),
    )
    .unwrap();
    let ns = Netns::new().unwrap();
    let mut server = start_headend(&ns, &config).unwrap();
    // Three modems boot through the CMTS 127.0.0.2; the second is explained.
    let mut sim = ns.command(HEADEND);
    sim.args([
        "simulate",
        "--server4",
        "127.0.0.1:6767",
        "--cm",
        "3",
        "--dhcp-only",
        "--rate",
        "20",
    ]);
    let mut p = Proc::spawn("headend simulate", sim).unwrap();
    assert!(
        p.wait(Duration::from_secs(30)).unwrap().success(),
        "{}",
        p.output()
    );

    // No relay given and nothing stored: a local-segment client, no pool.
    let plain = explain(&config, &[]);
    assert_eq!(ack_yiaddr(&plain), None, "{plain:#}");

    // From the running server: its account and lease, the lease's relay.
    let live = explain(&config, &["--from-store"]);
    let stored = &live["stored"];
    assert_eq!(stored["account"]["domains"][0], "modems", "{live:#}");
    let ip = stored["leases"][0]["ip"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.9."), "{live:#}");
    assert_eq!(ack_yiaddr(&live).as_deref(), Some(ip.as_str()), "{live:#}");

    // The server stopped: the same from the store itself.
    server.stop(Duration::from_secs(15)).unwrap();
    let offline = explain(&config, &["--from-store"]);
    assert_eq!(
        offline["stored"]["leases"][0]["ip"],
        ip.as_str(),
        "{offline:#}"
    );
    assert_eq!(ack_yiaddr(&offline).as_deref(), Some(ip.as_str()));

    // The text form says where the facts come from.
    let text = Command::new(HEADEND)
        .args(["explain", "--config"])
        .arg(&config)
        .args([
            "--mac",
            "00:10:95:10:00:02",
            "--option",
            "60=docsis3.0:",
            "--from-store",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("stored account 00:10:95:10:00:02 (store): domains modems"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "stored lease {ip} (active) pool modems via 127.0.0.2"
        )),
        "{text}"
    );
}
