//! Issue 5 end to end over loopback: `headend run` leases a DOCSIS modem an
//! address by DHCPv4 (the test plays the relay, giaddr 127.0.0.1), the
//! ACK's siaddr / option 125.4491.2 and boot file tell it where to fetch its
//! configuration, and curl (TFTP with blksize 1448, then HTTP), bound to
//! the leased address, downloads the generated DOCSIS file whose CM MIC and
//! CMTS MIC verify. An address without a lease gets TFTP error 2 / HTTP 403.
//!
//! The pool lives in 127.0.1.0/24 so the leased address is a local address
//! the client can send from: the config server resolves the device by the
//! request's source address through the lease table, as in production.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Proc, HEADEND, READY_LINE, READY_TIMEOUT};
use headend_config_file::{decode, Check};
use headend_wire::dhcpv4::Packet;

const CONFIG: &str = r#"
[server]
name = "tftp-e2e"
store = "state"

[dhcpv4]
listen = ["127.0.0.1:0"]
relay_port = @RELAY_PORT@

[provisioning]
auto_provision = { expr = 'if device.family == "docsis" { ["cablemodems"] } else { [] }' }

[[domain]]
name = "cablemodems"

[[pool]]
name = "cm"
domains = ["cablemodems"]
relays = ["127.0.0.1"]
network = "127.0.1.0/24"
ranges = [["127.0.1.10", "127.0.1.50"]]
policies = ["docsis"]

[[policy]]
name = "docsis"
enforced = true
[policy.options]
"server.next-server" = "127.0.0.1"
"server.boot-file" = { expr = '"cm-" + device.mac.replace(":", "") + ".cfg"' }
"125/4491/2" = ["127.0.0.1"]

[tftp]
listen = ["127.0.0.1:0"]
root = "tftp"
cmts_shared_secret = "DOCSIS"
[[tftp.config_file]]
name = "cm-*.cfg"
generator = "builtin:docsis-cm"

[http]
listen = ["127.0.0.1:0"]
"#;

const MAC: [u8; 6] = [0x00, 0x10, 0x95, 0x0e, 0x00, 0x05];

fn bootrequest(msg: u8, xid: u32, extra: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 236];
    p[0] = 1;
    p[1] = 1;
    p[2] = 6;
    p[3] = 1;
    p[4..8].copy_from_slice(&xid.to_be_bytes());
    p[24..28].copy_from_slice(&[127, 0, 0, 1]); // giaddr
    p[28..34].copy_from_slice(&MAC);
    p.extend_from_slice(&[99, 130, 83, 99, 53, 1, msg]);
    let vc = b"docsis3.0:";
    p.push(60);
    p.push(vc.len() as u8);
    p.extend_from_slice(vc);
    p.extend_from_slice(extra);
    p.extend_from_slice(&[55, 2, 1, 3, 255]);
    p
}

fn reply(sock: &UdpSocket, xid: u32) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 1500];
    while Instant::now() < deadline {
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            if Packet::parse(&buf[..n]).is_ok_and(|p| p.xid == xid) {
                return buf[..n].to_vec();
            }
        }
    }
    panic!("no reply to xid {xid:#x}");
}

fn curl(args: &[&str]) -> (bool, Vec<u8>, String) {
    // Bounded: a hung transfer fails the test instead of blocking it.
    let mut args = args.to_vec();
    args.extend(["--max-time", "20"]);
    let o = Command::new("curl").args(&args).output().unwrap();
    (
        o.status.success(),
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn lease_then_download_generated_docsis_file() {
    if !common::peers_available("peer_tftp", &["curl"]).unwrap() {
        return;
    }
    let dir = common::scratch("peer-tftp").unwrap();
    std::fs::create_dir_all(dir.path().join("tftp")).unwrap();
    let relay = UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = CONFIG.replace(
        "@RELAY_PORT@",
        &relay.local_addr().unwrap().port().to_string(),
    );
    std::fs::write(dir.path().join("headend.toml"), config).unwrap();
    let mut cmd = Command::new(HEADEND);
    cmd.arg("run")
        .arg("--config")
        .arg(dir.path().join("headend.toml"));
    let mut proc = Proc::spawn("headend run", cmd).unwrap();
    proc.wait_for(READY_LINE, READY_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}\n{}", proc.output_tail(4000)));
    let line = proc
        .output()
        .lines()
        .find(|l| l.contains(READY_LINE))
        .unwrap()
        .to_string();
    // Listeners in order: DHCPv4, TFTP, HTTP.
    let addrs: Vec<SocketAddr> = line
        .split(['(', ')', ',', '[', ']', ' '])
        .filter_map(|s| s.trim().parse::<SocketAddr>().ok())
        .collect();
    assert_eq!(addrs.len(), 3, "{line}");
    let (dhcp, tftp, http) = (addrs[0], addrs[1], addrs[2]);
    // TFTP and HTTP are served on their own threads, apart from DHCP's
    // workers (issue 21: a firmware storm must not hold up DHCP).
    let threads: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", proc.pid()))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|c| c.trim().to_string())
        .collect();
    assert!(
        threads.iter().any(|t| t == "headend-files"),
        "no config-server thread: {threads:?}"
    );

    // DORA as the relay.
    relay
        .send_to(&bootrequest(1, 0x7f7f_0001, &[]), dhcp)
        .unwrap();
    let offer = reply(&relay, 0x7f7f_0001);
    let offer = Packet::parse(&offer).unwrap();
    let ip = offer.yiaddr;
    let sid = offer.options.get(54).unwrap().to_vec();
    let mut extra = vec![50, 4];
    extra.extend_from_slice(&ip.octets());
    extra.extend_from_slice(&[54, 4]);
    extra.extend_from_slice(&sid);
    relay
        .send_to(&bootrequest(3, 0x7f7f_0002, &extra), dhcp)
        .unwrap();
    let ack_bytes = reply(&relay, 0x7f7f_0002);
    let ack = Packet::parse(&ack_bytes).unwrap();
    assert_eq!(ack.message_type().map(u8::from), Some(5), "DHCPACK");
    assert_eq!(ack.yiaddr, ip);
    assert!(ip.octets()[..3] == [127, 0, 1], "{ip}");
    // Where and what to fetch, from the lease.
    assert_eq!(ack.siaddr, Ipv4Addr::LOCALHOST);
    let v = ack.options.get(125).unwrap();
    assert_eq!(&v[..4], &4491u32.to_be_bytes());
    assert!(v.windows(6).any(|w| w == [2, 4, 127, 0, 0, 1]), "{v:?}");
    let file = String::from_utf8_lossy(ack.boot_file().unwrap())
        .trim_end_matches('\0')
        .to_string();
    assert_eq!(file, "cm-0010950e0005.cfg");

    // TFTP, from the leased address, blksize 1448.
    let url = format!("tftp://{}:{}/{file}", ack.siaddr, tftp.port());
    let (ok, body, err) = curl(&[
        "-sS",
        "--interface",
        &ip.to_string(),
        "--tftp-blksize",
        "1448",
        &url,
    ]);
    assert!(ok, "{err}\n{}", proc.output_tail(4000));
    let f = decode(&body, Some(b"DOCSIS")).unwrap();
    assert_eq!(f.cm_mic, Check::Verified);
    assert_eq!(f.cmts_mic, Check::Verified);
    assert_eq!(f.find(3).map(|n| n.value.clone()), Some(vec![1]));

    // HTTP: the same bytes.
    let (ok, hbody, err) = curl(&[
        "-sS",
        "-f",
        "--interface",
        &ip.to_string(),
        &format!("http://127.0.0.1:{}/{file}", http.port()),
    ]);
    assert!(ok, "{err}\n{line}\n{}", proc.output_tail(4000));
    assert!(hbody == body, "HTTP and TFTP bytes differ");

    // No lease at this address: TFTP error 2 (access violation), HTTP 403.
    // curl exits 69 (CURLE_TFTP_PERM) exactly for TFTP error 2.
    let st = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "--interface", "127.0.1.200", &url])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(69));
    let (_, code, _) = curl(&[
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--interface",
        "127.0.1.200",
        &format!("http://127.0.0.1:{}/{file}", http.port()),
    ]);
    assert_eq!(code, b"403");
    proc.stop(Duration::from_secs(15)).unwrap();

    // `headend config-file show` (no network; the store is free again once
    // the server stopped) prints this device's file: byte-identical to the
    // download.
    let shown = dir.path().join("shown.cfg");
    let out = Command::new(HEADEND)
        .args(["config-file", "show", "--config"])
        .arg(dir.path().join("headend.toml"))
        .args(["--mac", "00:10:95:0e:00:05", "--file", &file, "--out"])
        .arg(&shown)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&shown).unwrap(),
        body,
        "show differs from the download"
    );
    assert!(text.contains("CM MIC"), "{text}");
}
