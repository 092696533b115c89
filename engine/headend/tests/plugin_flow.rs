//! Issue 3 end to end: `headend run` with the real `flow-select.wasm`
//! (built by `plugins/build.sh`) answers an eUE's DHCPv4 DISCOVER with option
//! 122 sub-options 3 and 6 chosen by the plugin; replacing the plugin file
//! and sending SIGHUP changes the answer for the next packet, while a steady
//! stream of DISCOVERs sent across the reload is answered in full. A reload
//! naming a file that is not a valid plugin is refused and the old plugin
//! keeps answering.
//!
//! Runs on 127.0.0.1 with ephemeral ports: the test plays the relay agent
//! (giaddr 127.0.0.1) and receives the replies on its own port
//! (`relay_port`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{dist_plugin, Proc, HEADEND, READY_LINE, READY_TIMEOUT};
use headend_wire::cablelabs::{Ccc, ProvisioningServer};
use headend_wire::dhcpv4::Packet;

const CONFIG: &str = r#"
[server]
name = "plugin-e2e"
store = "state"

[dhcpv4]
listen = ["127.0.0.1:0"]
relay_port = @RELAY_PORT@

[provisioning]
auto_provision = { expr = 'if device.family == "pktc" { ["emta"] } else { [] }' }

[[domain]]
name = "emta"

[[pool]]
name = "mta"
domains = ["emta"]
relays = ["127.0.0.1"]
network = "10.2.0.0/16"
ranges = [["10.2.0.10", "10.2.15.250"]]

# What a site without the plugin would send.
[[policy]]
name = "packetcable"
enforced = true
domains = ["emta"]
[policy.options]
"122/3" = "prov.policy.example"
"122/6" = "BASIC.2"

[[plugin]]
name = "flow"
path = "flow.wasm"
hooks = ["flow-select"]
[plugin.config]
voice_domain = "emta"
voice_flow = "HYBRID.2"
provisioning_server = "prov.plugin.example"
# Read by the replacement plugin (plugins/testing/broken in mode "ok").
flow = "HYBRID.1"
"#;

/// A relayed DHCPDISCOVER from a PacketCable 2.0 eUE that asks for option 122.
fn discover(n: u32) -> Vec<u8> {
    let mut p = vec![0u8; 236];
    p[0] = 1; // BOOTREQUEST
    p[1] = 1;
    p[2] = 6;
    p[3] = 1; // hops
    p[4..8].copy_from_slice(&(0x5000_0000 | n).to_be_bytes());
    p[24..28].copy_from_slice(&[127, 0, 0, 1]); // giaddr
    p[28..34].copy_from_slice(&[0x00, 0x10, 0x95, 0x0e, (n >> 8) as u8, n as u8]);
    p.extend_from_slice(&[99, 130, 83, 99]);
    p.extend_from_slice(&[53, 1, 1]);
    let vc = b"pktc2.0:050412020007"; // TLV 5.18 supported flows: secure|hybrid|basic
    p.push(60);
    p.push(vc.len() as u8);
    p.extend_from_slice(vc);
    p.extend_from_slice(&[55, 3, 1, 3, 122]);
    p.push(255);
    p
}

/// Option 122 of the OFFER answering DISCOVER `n`, waiting up to `wait`.
fn offer_122(sock: &UdpSocket, n: u32, wait: Duration) -> Option<Ccc> {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 1500];
    while Instant::now() < deadline {
        sock.set_read_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))
        .unwrap();
        let Ok(len) = sock.recv(&mut buf) else {
            continue;
        };
        let Ok(pkt) = Packet::parse(&buf[..len]) else {
            continue;
        };
        if pkt.xid != (0x5000_0000 | n) {
            continue;
        }
        let raw = pkt.options.get(122)?;
        return Ccc::decode(&raw).ok();
    }
    None
}

struct Running {
    proc: Proc,
    server: SocketAddr,
}

fn start(dir: &Path) -> Running {
    let mut cmd = Command::new(HEADEND);
    cmd.arg("run").arg("--config").arg(dir.join("headend.toml"));
    cmd.env("RUST_LOG", "info");
    let mut proc = Proc::spawn("headend run", cmd).unwrap();
    proc.wait_for(READY_LINE, READY_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}\n{}", proc.output_tail(4000)));
    let out = proc.output();
    let line = out.lines().find(|l| l.contains(READY_LINE)).unwrap();
    let addr = line
        .split(['(', ')', ','])
        .find_map(|s| s.trim().parse::<SocketAddr>().ok())
        .unwrap();
    Running { proc, server: addr }
}

#[test]
fn flow_select_plugin_end_to_end_with_hot_swap() {
    let (Some(flow), Some(broken)) = (dist_plugin("flow-select"), dist_plugin("broken")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let relay = UdpSocket::bind("127.0.0.1:0").unwrap();
    let relay_port = relay.local_addr().unwrap().port();
    std::fs::write(
        dir.path().join("headend.toml"),
        CONFIG.replace("@RELAY_PORT@", &relay_port.to_string()),
    )
    .unwrap();
    std::fs::copy(&flow, dir.path().join("flow.wasm")).unwrap();
    let mut run = start(dir.path());
    let send = |n: u32| {
        relay.send_to(&discover(n), run.server).unwrap();
    };

    // 1. The plugin's decision, not the policy's.
    send(1);
    let ccc = offer_122(&relay, 1, Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no OFFER\n{}", run.proc.output_tail(4000)));
    assert_eq!(ccc.realm.as_deref(), Some("HYBRID.2"));
    assert_eq!(
        ccc.provisioning_server,
        Some(ProvisioningServer::Fqdn("prov.plugin.example".into()))
    );

    // 2. Replace the plugin file and reload while DISCOVERs keep coming:
    //    every one is answered, and the answer changes.
    let tmp = dir.path().join("flow.wasm.new");
    std::fs::copy(&broken, &tmp).unwrap();
    std::fs::rename(&tmp, dir.path().join("flow.wasm")).unwrap();
    let total = 600u32;
    let mut answered = 0u32;
    let mut realms = Vec::new();
    for n in 0..total {
        let id = 100 + n;
        send(id);
        if n == total / 3 {
            run.proc.signal("HUP").unwrap();
        }
        if let Some(c) = offer_122(&relay, id, Duration::from_secs(2)) {
            answered += 1;
            realms.push(c.realm.unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(
        answered,
        total,
        "packets lost across the reload\n{}",
        run.proc.output_tail(4000)
    );
    assert_eq!(realms.first().map(String::as_str), Some("HYBRID.2"));
    assert_eq!(
        realms.last().map(String::as_str),
        Some("HYBRID.1"),
        "the replacement plugin did not take over\n{}",
        run.proc.output_tail(4000)
    );
    let switched = realms.iter().position(|r| r == "HYBRID.1").unwrap();
    assert!(
        realms[switched..].iter().all(|r| r == "HYBRID.1"),
        "answers flip-flopped after the swap: {realms:?}"
    );

    // 3. A file that is not a plugin is refused at reload; HYBRID.1 stays.
    std::fs::write(dir.path().join("flow.wasm"), b"\x7fELF not wasm").unwrap();
    run.proc.signal("HUP").unwrap();
    run.proc
        .wait_for("configuration rejected", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", run.proc.output_tail(4000)));
    send(5000);
    let ccc = offer_122(&relay, 5000, Duration::from_secs(5)).unwrap();
    assert_eq!(ccc.realm.as_deref(), Some("HYBRID.1"));
    assert!(
        run.proc.output().contains("headend.toml:"),
        "the refusal names the config line:\n{}",
        run.proc.output_tail(4000)
    );

    // 4. A property typo in a policy expression (issue 20) is refused at
    //    reload with its line and column, not warned about per packet.
    std::fs::copy(&broken, dir.path().join("flow.wasm")).unwrap();
    let typo = CONFIG
        .replace("@RELAY_PORT@", &relay_port.to_string())
        .replace(
            "\"122/6\" = \"BASIC.2\"",
            "\"122/6\" = \"BASIC.2\"\nhost-name = { expr = 'device.vendor_klass' }",
        );
    std::fs::write(dir.path().join("headend.toml"), typo).unwrap();
    run.proc.signal("HUP").unwrap();
    run.proc
        .wait_for("has no property `vendor_klass`", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", run.proc.output_tail(4000)));
    assert!(
        run.proc.output().contains("headend.toml:31:8:"),
        "the refusal names the line and column:\n{}",
        run.proc.output_tail(4000)
    );
    send(5001);
    let ccc = offer_122(&relay, 5001, Duration::from_secs(5)).unwrap();
    assert_eq!(
        ccc.realm.as_deref(),
        Some("HYBRID.1"),
        "the old configuration serves"
    );

    // 5. The real flow-select plugin with a config table that makes every
    //    call decline (a number where a flow name goes; issue 20) is refused
    //    at reload with the [[plugin]] line: its self-test declines with a
    //    config error.
    std::fs::copy(&flow, dir.path().join("flow.wasm")).unwrap();
    let declining = CONFIG
        .replace("@RELAY_PORT@", &relay_port.to_string())
        .replace("voice_flow = \"HYBRID.2\"", "voice_flow = 5");
    let plugin_line = declining.lines().position(|l| l == "[[plugin]]").unwrap() + 1;
    std::fs::write(dir.path().join("headend.toml"), declining).unwrap();
    run.proc.signal("HUP").unwrap();
    run.proc
        .wait_for("config key `voice_flow`", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", run.proc.output_tail(4000)));
    assert!(
        run.proc
            .output()
            .contains(&format!("headend.toml:{plugin_line}:")),
        "the refusal names the [[plugin]] line {plugin_line}:\n{}",
        run.proc.output_tail(4000)
    );
    send(5002);
    let ccc = offer_122(&relay, 5002, Duration::from_secs(5)).unwrap();
    assert_eq!(
        ccc.realm.as_deref(),
        Some("HYBRID.1"),
        "the old configuration and plugin serve"
    );
    run.proc.stop(Duration::from_secs(15)).unwrap();
}
