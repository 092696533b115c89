//! headend's DHCPv6 server against independently written peers (issue 4, Proof):
//! ISC perfdhcp -6 in relay mode (`-A 1`, RFC 8415 §19 Relay-Forward) completing
//! SOLICIT/ADVERTISE/REQUEST/REPLY, ISC dhclient -6 as a directly attached client on a
//! veth segment getting an IA_NA address and an IA_PD prefix (shared/docs/peers.md §3.5,
//! §4), and a scripted eUE (seed 000 Table 6 eUE-1..eUE-4) whose exchange tshark
//! decodes without warnings (peers.md §11). The eUE client is our own wire codec; the
//! checks on what comes back use the wire crate's typed CableLabs decoder.

use crate::common;

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use common::{
    decode_problems, peers_available, run_ok, scratch, split_frames, veth_pair, Dhclient, Netns,
    Proc, HEADEND, READY_LINE, READY_TIMEOUT,
};
use headend_wire::cablelabs::{ClVendorOptionsV6, DssId, ProvisioningServerV6};
use headend_wire::dhcpv6::code;
use headend_wire::dhcpv6::{parse, Builder, Message, MessageType, Packet};

/// The server end of the veth segment.
const SRV: &str = "2001:db8:1::1";
/// The client end (perfdhcp's own address, which it puts in link-address).
const CLI: &str = "2001:db8:1::2";
/// The lab CMTS link (examples/lab/headend.toml).
const LAB_LINK: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 1);
/// The CM behind which the scripted eUE sits (17.1026 from the relay).
const CM_MAC: [u8; 6] = [0x00, 0x10, 0x18, 0xaa, 0x00, 0x01];
/// The scripted eUE.
const EUE_MAC: [u8; 6] = [0x00, 0x10, 0x18, 0xaa, 0x00, 0x02];
/// This server's DSS_ID in every config here.
const DSS_ID: &str = "headend-peer";

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The common `[dhcpv6]` keys (CableLabs values for eCMs and eUEs).
fn dhcpv6_common() -> String {
    format!(
        r#"dss_id = "{DSS_ID}"
provisioning_server = ["prov.example.net"]
realm = "BASIC.1"
tftp_servers = ["{SRV}"]
config_file = '"cm-basic.cfg"'
syslog_servers = ["{SRV}"]
time_servers = ["{SRV}"]
time_offset = 0
dns_servers = ["{SRV}"]
fqdn = 'if device.family == "pktc" {{ "eue-" + account.id.replace(":", "") + ".example.net" }} else {{ () }}'
"#
    )
}

/// A veth segment: `vs0` (SRV) in the server namespace, `vc0` (CLI) in the client's,
/// without duplicate address detection so the addresses are usable at once; waits
/// until the link-local addresses are too (dhclient -6 sends from one).
fn segment6() -> Result<(Netns, Netns)> {
    let srv = Netns::new()?;
    let cli = Netns::new()?;
    veth_pair(&srv, "vs0", &cli, "vc0")?;
    srv.ip(&["addr", "add", &format!("{SRV}/64"), "dev", "vs0", "nodad"])?;
    cli.ip(&["addr", "add", &format!("{CLI}/64"), "dev", "vc0", "nodad"])?;
    let deadline = Instant::now() + Duration::from_secs(10);
    for (ns, dev) in [(&srv, "vs0"), (&cli, "vc0")] {
        loop {
            let out = ns.ip(&["-6", "addr", "show", "dev", dev, "scope", "link"])?;
            if out.contains("fe80") && !out.contains("tentative") {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "no usable link-local address on {dev}: {out}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok((srv, cli))
}

/// `headend run` (the real binary) in `ns`; returns the process and its listeners
/// from the ready line (`headend: ready ([::1]:port, …)`).
fn start(ns: Option<&Netns>, config: &Path) -> Result<(Proc, Vec<std::net::SocketAddr>)> {
    common::headend_check(config)?;
    let mut cmd = match ns {
        Some(ns) => ns.command(HEADEND),
        None => Command::new(HEADEND),
    };
    cmd.arg("run").arg("--config").arg(config);
    let mut proc = Proc::spawn("headend run", cmd)?;
    proc.wait_for(READY_LINE, READY_TIMEOUT)?;
    let out = proc.output();
    let line = out
        .lines()
        .find(|l| l.contains(READY_LINE))
        .context("no ready line")?;
    let inner = line
        .split_once('(')
        .and_then(|(_, r)| r.rsplit_once(')'))
        .map(|(l, _)| l)
        .context("ready line without listeners")?;
    let addrs = inner
        .split(", ")
        .map(|a| a.trim().parse().context("listener address"))
        .collect::<Result<Vec<_>>>()?;
    Ok((proc, addrs))
}

/// One exchange of a perfdhcp -6 report.
#[derive(Debug, Default, Clone, Copy)]
struct Stats6 {
    sent: u64,
    received: u64,
    rejected: u64,
    non_unique: u64,
}

/// The SOLICIT-ADVERTISE and REQUEST-REPLY statistics of a perfdhcp -6 report.
fn perf6_report(text: &str) -> Result<(Stats6, Stats6)> {
    let mut sections: BTreeMap<&str, Stats6> = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("***Statistics for: ") {
            current = Some(rest.trim_end_matches('*'));
            continue;
        }
        let Some(name) = current else { continue };
        let Some((k, v)) = line.split_once(": ") else {
            continue;
        };
        let Ok(n) = v.trim().parse::<u64>() else {
            continue;
        };
        let s = sections.entry(name).or_default();
        match k {
            "sent packets" => s.sent = n,
            "received packets" => s.received = n,
            "rejected leases" => s.rejected = n,
            "non unique addresses" => s.non_unique = n,
            _ => {}
        }
    }
    let sa = *sections
        .get("SOLICIT-ADVERTISE")
        .with_context(|| format!("no SOLICIT-ADVERTISE statistics in:\n{text}"))?;
    let rr = *sections
        .get("REQUEST-REPLY")
        .with_context(|| format!("no REQUEST-REPLY statistics in:\n{text}"))?;
    Ok((sa, rr))
}

#[test]
fn perfdhcp6_relayed_sarr_completes() -> Result<()> {
    if !peers_available("peer_dhcpv6", &["perfdhcp"])? {
        return Ok(());
    }
    let dir = scratch("perfdhcp6")?;
    let (srv, cli) = segment6()?;
    // The pool serves only perfdhcp's link-address: a reply proves the
    // Relay-Forward's link-address selected it.
    let config = write(
        dir.path(),
        "headend.toml",
        &format!(
            r#"[server]
name = "peer-perfdhcp6"
store = "{store}"
[dhcpv6]
listen = ["[{SRV}]:547"]
{common}
[[pool6]]
name = "relayed"
prefix = "2001:db8:1::/64"
links = ["{CLI}"]
"#,
            store = dir.path().join("store").display(),
            common = dhcpv6_common()
        ),
    )?;
    let (mut server, _) = start(Some(&srv), &config)?;
    // A DOCSIS 3.0 eCM's option 16 and CL ORO (32, 33, 34, 37, 38), as in the benchmark.
    let mut cmd = cli.command("perfdhcp");
    cmd.args([
        "-6",
        "-A",
        "1",
        "-l",
        "vc0",
        "-r",
        "200",
        "-R",
        "1000",
        "-p",
        "5",
        "-W",
        "1000000",
        "-o",
        "16,0000118b0009646f63736973332e30",
        "-o",
        "17,0000118b0001000a00200021002200250026",
        SRV,
    ]);
    let out = run_ok("perfdhcp -6 -A 1", cmd, Duration::from_secs(40))?;
    let (sa, rr) = perf6_report(&out)?;
    let log = || server.output_tail(4000);
    for (what, s) in [("SOLICIT-ADVERTISE", sa), ("REQUEST-REPLY", rr)] {
        ensure!(
            s.sent >= 900 && s.received * 1000 >= s.sent * 999,
            "{what}: {s:?} (< 99.9 % answered)\n{out}\nheadend:\n{}",
            log()
        );
        ensure!(s.rejected == 0 && s.non_unique == 0, "{what}: {s:?}\n{out}");
    }
    server.stop(Duration::from_secs(20))?;
    Ok(())
}

#[test]
fn dhclient6_gets_an_address_then_a_delegated_prefix() -> Result<()> {
    if !peers_available("peer_dhcpv6", &["dhclient"])? {
        return Ok(());
    }
    let dir = scratch("dhclient6")?;
    let (srv, cli) = segment6()?;
    // Direct clients only: the pools list the server interface's address, so the link
    // is known from the interface the SOLICIT arrived on (ff02::1:2 on vs0).
    let config = write(
        dir.path(),
        "headend.toml",
        &format!(
            r#"[server]
name = "peer-dhclient6"
store = "{store}"
[dhcpv6]
listen = ["[::]:547"]
interfaces = ["vs0"]
{common}
[[pool6]]
name = "segment"
prefix = "2001:db8:1::/64"
links = ["{SRV}"]
[[pool6]]
name = "routers"
kind = "pd"
prefix = "2001:db8:8000::/40"
delegated_length = 56
links = ["{SRV}"]
"#,
            store = dir.path().join("store").display(),
            common = dhcpv6_common()
        ),
    )?;
    let (mut server, _) = start(Some(&srv), &config)?;
    let bound = |calls: &[BTreeMap<String, String>], key: &str| {
        calls.iter().find_map(|c| c.get(key).cloned())
    };

    let na_dir = dir.path().join("na");
    std::fs::create_dir_all(&na_dir)?;
    let mut client = Dhclient::start_v6(&cli, "vc0", &na_dir, 30, &["-N"])?;
    let calls = match client.wait_reason("BOUND6", Duration::from_secs(25), |c| {
        bound(c, "new_ip6_address").is_some()
    }) {
        Ok(c) => c,
        Err(e) => bail!("{e:#}\nheadend:\n{}", server.output_tail(4000)),
    };
    client.stop()?;
    let addr: Ipv6Addr = bound(&calls, "new_ip6_address")
        .context("no address")?
        .parse()
        .context("new_ip6_address")?;
    ensure!(
        within(addr, "2001:db8:1::".parse()?, 64),
        "dhclient -6 -N got {addr}"
    );
    ensure!(
        bound(&calls, "new_dhcp6_name_servers").as_deref() == Some(SRV),
        "option 23: {calls:?}"
    );

    let pd_dir = dir.path().join("pd");
    std::fs::create_dir_all(&pd_dir)?;
    let mut client = Dhclient::start_v6(&cli, "vc0", &pd_dir, 30, &["-P"])?;
    let calls = match client.wait_reason("BOUND6", Duration::from_secs(25), |c| {
        bound(c, "new_ip6_prefix").is_some()
    }) {
        Ok(c) => c,
        Err(e) => bail!("{e:#}\nheadend:\n{}", server.output_tail(4000)),
    };
    client.stop()?;
    let text = bound(&calls, "new_ip6_prefix").context("no prefix")?;
    let (p, len) = text.split_once('/').context("new_ip6_prefix without /")?;
    let p: Ipv6Addr = p.parse().context("new_ip6_prefix")?;
    ensure!(
        len == "56"
            && within(p, "2001:db8:8000::".parse()?, 40)
            && u128::from(p) & (u128::MAX >> 56) == 0,
        "dhclient -6 -P got {text}"
    );
    server.stop(Duration::from_secs(20))?;
    Ok(())
}

/// Whether `a` lies in `net/len`.
fn within(a: Ipv6Addr, net: Ipv6Addr, len: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    u128::from(a) & mask == u128::from(net) & mask
}

fn tlv(out: &mut Vec<u8>, code: u16, v: &[u8]) -> Result<()> {
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&u16::try_from(v.len())?.to_be_bytes());
    out.extend_from_slice(v);
    Ok(())
}

/// The eUE's DUID-LL.
fn eue_duid() -> Vec<u8> {
    let mut d = vec![0, 3, 0, 1];
    d.extend_from_slice(&EUE_MAC);
    d
}

/// The options of the eUE-1 SOLICIT of seed 000 Table 6 (and of its REQUEST, eUE-4):
/// ORO with 39 and 17, vendor class `pktc2.0`, the 4491 device options 1 (CL ORO
/// 32/33/34/2171), 2-10, 35 (5.18 flows, 5.38 dual stack), 36, correlation id 2172,
/// and an empty FQDN with S=1 N=0 O=0.
fn eue_options(b: &mut Builder) -> Result<()> {
    eue_options_fqdn(b, 0x01)
}

/// [`eue_options`] with option 39's flags octet `flags` (RFC 4704 section 4.1).
fn eue_options_fqdn(b: &mut Builder, flags: u8) -> Result<()> {
    b.client_id(&eue_duid())?;
    b.client_fqdn(flags, "", false)?;
    b.oro(&[code::CLIENT_FQDN, code::DNS_SERVERS, code::VENDOR_OPTS])?;
    b.vendor_class(4491, &[b"pktc2.0"])?;
    let mut vo = Vec::new();
    tlv(&mut vo, 1, &[0, 32, 0, 33, 0, 34, 0x08, 0x7b])?;
    tlv(&mut vo, 2, b"EDVA")?;
    tlv(&mut vo, 3, b"<ECM><EMTA>")?;
    tlv(&mut vo, 4, b"SN000123")?;
    tlv(&mut vo, 5, b"HW1.0")?;
    tlv(&mut vo, 6, b"SW2.1")?;
    tlv(&mut vo, 7, b"BOOT1")?;
    tlv(&mut vo, 8, b"001018")?;
    tlv(&mut vo, 9, b"EUE-1000")?;
    tlv(&mut vo, 10, b"Example Vendor")?;
    tlv(&mut vo, 35, &[18, 2, 0, 7, 38, 1, 1])?;
    tlv(&mut vo, 36, &EUE_MAC)?;
    tlv(&mut vo, 2172, &[0, 0, 0x12, 0x34])?;
    b.vendor_opts(4491, &vo)?;
    Ok(())
}

/// Wraps a client message in the lab CMTS's Relay-Forward (link 2001:db8:100::1,
/// 17.1026 = the CM's MAC).
fn relay_forward(inner: &[u8]) -> Result<Vec<u8>> {
    let mut r = Builder::relay(
        MessageType::RelayForw,
        0,
        LAB_LINK,
        "fe80::210:18ff:feaa:2".parse()?,
    );
    r.interface_id(b"cable-1/0/0")?;
    let mut vo = Vec::new();
    tlv(&mut vo, 1026, &CM_MAC)?;
    r.vendor_opts(4491, &vo)?;
    r.relay_msg(inner)?;
    Ok(r.finish())
}

/// Sends `packet`, returns the client message inside the Relay-Reply.
fn ask(sock: &UdpSocket, to: SocketAddrV6, packet: &[u8]) -> Result<Vec<u8>> {
    sock.send_to(packet, to)?;
    let mut buf = vec![0u8; 65_536];
    let (n, _) = sock.recv_from(&mut buf).context("no answer from headend")?;
    match parse(buf.get(..n).context("length")?)? {
        Packet::Relay(r) => {
            ensure!(r.msg_type == MessageType::RelayRepl, "not a Relay-Reply");
            ensure!(r.link_address == LAB_LINK, "link {}", r.link_address);
            ensure!(
                r.interface_id() == Some(&b"cable-1/0/0"[..]),
                "Interface-Id not echoed"
            );
            Ok(r.relay_msg().to_vec())
        }
        Packet::Message(_) => bail!("answer not wrapped in a Relay-Reply"),
    }
}

fn message(buf: &[u8]) -> Result<Message<'_>> {
    match parse(buf)? {
        Packet::Message(m) => Ok(m),
        Packet::Relay(_) => bail!("nested relay"),
    }
}

/// Every option of a message but the IAs (whose lifetimes and status may differ), as
/// `(code, value)`.
fn non_ia_options(m: &Message<'_>) -> Vec<(u16, Vec<u8>)> {
    m.options
        .iter()
        .filter(|(c, _)| *c != code::IA_NA && *c != code::IA_PD)
        .map(|(c, v)| (c, v.to_vec()))
        .collect()
}

/// eUE-3's validity test on an ADVERTISE or REPLY: CL_OPTION_CCCV6 with sub-options
/// 1, 3 and 6, sub-option 1 equal to our DSS_ID, no sub-option 2.
fn assert_eue3_valid(m: &Message<'_>) -> Result<ClVendorOptionsV6> {
    let (_, o17) = m
        .options
        .iter()
        .find(|(c, _)| *c == code::VENDOR_OPTS)
        .context("no option 17")?;
    let cl = ClVendorOptionsV6::from_option17(o17)?.context("option 17 is not 4491")?;
    let c6 = cl.cccv6.clone().context("no CL_OPTION_CCCV6")?;
    ensure!(c6.valid_for_eue(), "CCCv6 not valid for an eUE: {c6:?}");
    ensure!(
        c6.primary == Some(DssId::new(DSS_ID.as_bytes())),
        "sub-option 1 {:?}",
        c6.primary
    );
    ensure!(c6.secondary.is_none(), "sub-option 2 sent to an eUE");
    ensure!(!c6.provisioning_disabled(), "{c6:?}");
    ensure!(
        c6.provisioning_server == Some(ProvisioningServerV6::Fqdn("prov.example.net".into())),
        "{c6:?}"
    );
    ensure!(c6.realm.as_deref() == Some("BASIC.1"), "{c6:?}");
    // Only what the CL ORO asked for.
    ensure!(
        cl.tftp_servers == vec![SRV.parse::<Ipv6Addr>()?]
            && cl.config_file_name.as_deref() == Some("cm-basic.cfg")
            && cl.syslog_servers == vec![SRV.parse::<Ipv6Addr>()?]
            && cl.time_servers.is_empty()
            && cl.ccc.is_none()
            && cl.ip_pref.is_none(),
        "{cl:?}"
    );
    Ok(cl)
}

/// tshark on the root namespace's loopback (where the test's own socket talks to
/// headend), stopping by itself after `packets`; returns once it captures.
fn capture_root_lo(filter: &str, packets: u32, file: &Path) -> Result<Proc> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-i", "lo", "-f", filter, "-a", "duration:40", "-c"])
        .arg(packets.to_string())
        .arg("-w")
        .arg(file);
    let mut proc = Proc::spawn("tshark capture", cmd)?;
    proc.wait_for("Capture started", Duration::from_secs(20))?;
    // dumpcap reports the start before its filter is attached; datagrams sent at once
    // can be missed.
    std::thread::sleep(Duration::from_secs(1));
    Ok(proc)
}

#[test]
fn scripted_eue_gets_a_valid_advertise_and_reply_that_tshark_decodes_cleanly() -> Result<()> {
    if !peers_available("peer_dhcpv6", &["tshark"])? {
        return Ok(());
    }
    let dir = scratch("eue6")?;
    let config = write(
        dir.path(),
        "headend.toml",
        &format!(
            r#"[server]
name = "peer-eue6"
store = "{store}"
[provisioning]
auto_provision = {{ expr = 'if device.family == "pktc" {{ ["emta"] }} else {{ [] }}' }}
[[domain]]
name = "emta"
[dhcpv6]
listen = ["[::1]:0"]
{common}
[[pool6]]
name = "eue6"
prefix = "2001:db8:101::/64"
links = ["{LAB_LINK}"]
domains = ["emta"]
"#,
            store = dir.path().join("store").display(),
            common = dhcpv6_common()
        ),
    )?;
    let (mut server, addrs) = start(None, &config)?;
    let Some(std::net::SocketAddr::V6(to)) = addrs.first().copied() else {
        bail!("no IPv6 listener: {addrs:?}");
    };
    let sock = UdpSocket::bind("[::1]:0")?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mine = sock.local_addr()?.port();
    // Both directions of our exchange on loopback, decoded as DHCPv6 on these ports.
    let pcap = dir.path().join("eue6.pcapng");
    let mut capture = capture_root_lo(
        &format!("udp and port {} and port {mine}", to.port()),
        4,
        &pcap,
    )?;

    let mut b = Builder::message(MessageType::Solicit, 0x00_e0e1);
    b.ia_na(1, 0, 0, |_| Ok(()))?;
    eue_options(&mut b)?;
    let adv_buf = ask(&sock, to, &relay_forward(&b.finish())?)?;
    let adv = message(&adv_buf)?;
    ensure!(adv.msg_type == MessageType::Advertise, "{:?}", adv.msg_type);
    ensure!(!adv.options.rapid_commit()?, "Rapid Commit to an eUE");
    let adv_cl = assert_eue3_valid(&adv)?;
    ensure!(
        adv_cl.correlation_id.is_none(),
        "correlation id echoed uninvited"
    );
    let server_id = adv.options.server_id()?.context("no server id")?.to_bytes();
    let ia = adv.options.ia_nas().next().context("no IA_NA")??;
    let addr = ia.addresses().next().context("no IAADDR")??.addr;
    let fqdn = adv.options.client_fqdn()?.context("no FQDN")?;
    ensure!(
        fqdn.flags == 0x01,
        "FQDN flags {:#x} (S=1 N=0 O=0)",
        fqdn.flags
    );
    ensure!(
        fqdn.domain_name()?.0 == "eue-001018aa0002.example.net",
        "FQDN name"
    );

    let mut b = Builder::message(MessageType::Request, 0x00_e0e2);
    b.server_id(&server_id)?;
    b.ia_na(1, 0, 0, |ib| {
        ib.ia_addr(addr, 0, 0)?;
        Ok(())
    })?;
    eue_options(&mut b)?;
    let rep_buf = ask(&sock, to, &relay_forward(&b.finish())?)?;
    let rep = message(&rep_buf)?;
    ensure!(rep.msg_type == MessageType::Reply, "{:?}", rep.msg_type);
    let rep_cl = assert_eue3_valid(&rep)?;
    ensure!(
        rep_cl == adv_cl,
        "REPLY's 17/4491 differs from the ADVERTISE's"
    );
    // eUE-4: every option and sub-option of the ADVERTISE is in the REPLY.
    let (a, r) = (non_ia_options(&adv), non_ia_options(&rep));
    for o in &a {
        ensure!(r.contains(o), "REPLY lacks ADVERTISE option {}", o.0);
    }
    let rep_ia = rep.options.ia_nas().next().context("no IA_NA in REPLY")??;
    let bound = rep_ia.addresses().next().context("no IAADDR in REPLY")??;
    ensure!(
        bound.addr == addr && bound.valid_lifetime > 0,
        "REPLY bound {} (advertised {addr})",
        bound.addr
    );

    capture
        .wait(Duration::from_secs(30))
        .context("tshark did not see the 4 datagrams")?;
    let decode_as = format!("udp.port=={},dhcpv6", to.port());
    let mut cmd = Command::new("tshark");
    cmd.arg("-n")
        .arg("-r")
        .arg(&pcap)
        .args(["-d", &decode_as, "-V", "-Y", "dhcpv6"]);
    let verbose = run_ok("tshark -r", cmd, Duration::from_secs(60))?;
    let frames = split_frames(&verbose);
    ensure!(
        frames.len() == 4,
        "expected SOLICIT, ADVERTISE, REQUEST, REPLY; got {} frames:\n{verbose}",
        frames.len()
    );
    if let Some(reply) = frames.last() {
        eprintln!("tshark's decode of the REPLY:\n{reply}");
    }
    let problems = decode_problems(&verbose);
    ensure!(problems.is_empty(), "tshark: {problems:?}\n{verbose}");
    for (i, f) in frames.iter().enumerate().skip(1).step_by(2) {
        for needle in [
            "Cable Television Laboratories",
            "TFTP Server Addresses",
            "Configuration File Name",
            "Syslog Servers",
            "CableLabs Client Configuration IPv6",
            "Primary SSID: headend-peer",
            "FQDN: prov.example.net.",
            "KRB Realm: BASIC.1.",
        ] {
            ensure!(f.contains(needle), "frame {}: no {needle:?}:\n{f}", i + 1);
        }
        for absent in ["Secondary DHCPv6 Server Selector ID", "Unknown"] {
            ensure!(!f.contains(absent), "frame {}: {absent:?}:\n{f}", i + 1);
        }
    }
    server.stop(Duration::from_secs(20))?;
    Ok(())
}

/// The ip6.arpa name of `a` (RFC 3596 section 2.5).
fn ip6_arpa(a: Ipv6Addr) -> String {
    let mut s = String::new();
    for b in a.octets().iter().rev() {
        s.push_str(&format!("{:x}.{:x}.", b & 0x0f, b >> 4));
    }
    s + "ip6.arpa"
}

/// Issue 17 (DDNS proof, DHCPv6): after a relayed SOLICIT/ADVERTISE/REQUEST/
/// REPLY of an eUE asking for option 39 (S=1), BIND 9 started here holds the
/// AAAA, the DHCID and the ip6.arpa PTR of the bound address under the
/// name the REPLY carried; a RELEASE removes them.
#[test]
fn ddns_aaaa_and_ip6_arpa_ptr_after_a_dhcpv6_exchange() -> Result<()> {
    if !peers_available("peer_dhcpv6 ddns", &["named", "dig"])? {
        return Ok(());
    }
    let dir = scratch("ddns6")?;
    let bind_dir = dir.path().join("bind");
    std::fs::create_dir_all(&bind_dir)?;
    let mut named = common::Named::start(None, &bind_dir, common::free_udp_tcp_port()?)?;
    let config = write(
        dir.path(),
        "headend.toml",
        &format!(
            r#"[server]
store = "{store}"
[provisioning]
auto_provision = {{ expr = 'if device.family == "pktc" {{ ["emta"] }} else {{ [] }}' }}
[[domain]]
name = "emta"
[dhcpv6]
listen = ["[::1]:0"]
dss_id = "{DSS_ID}"
provisioning_server = ["prov.example.net"]
realm = "BASIC.1"
fqdn = '"eue-" + account.id.replace(":", "") + ".example.test"'
[[pool6]]
name = "eue6"
prefix = "2001:db8:101::/64"
links = ["{LAB_LINK}"]
domains = ["emta"]
[ddns]
server = "127.0.0.1:{port}"
forward_zones = ["example.test"]
reverse_zones = ["8.b.d.0.1.0.0.2.ip6.arpa"]
keys = [{{ name = "{key}", secret = "{secret}" }}]
rto_ms = 200
retry_initial_ms = 300
retry_max_s = 1
"#,
            store = dir.path().join("store").display(),
            port = named.port,
            key = common::DDNS_KEY,
            secret = common::DDNS_SECRET,
        ),
    )?;
    let (mut server, addrs) = start(None, &config)?;
    let Some(to) = addrs.iter().find_map(|a| match a {
        std::net::SocketAddr::V6(v6) => Some(*v6),
        std::net::SocketAddr::V4(_) => None,
    }) else {
        bail!("no IPv6 listener: {addrs:?}");
    };
    let sock = UdpSocket::bind("[::1]:0")?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))?;
    // SOLICIT/ADVERTISE/REQUEST/REPLY with option 39 flags `flags`: the
    // address, the server id, the REPLY's option 39 flags and name.
    let exchange = |flags: u8, xid: u32| -> Result<(Ipv6Addr, Vec<u8>, u8, String)> {
        let mut b = Builder::message(MessageType::Solicit, xid);
        b.ia_na(1, 0, 0, |_| Ok(()))?;
        eue_options_fqdn(&mut b, flags)?;
        let adv_buf = ask(&sock, to, &relay_forward(&b.finish())?)?;
        let adv = message(&adv_buf)?;
        ensure!(adv.msg_type == MessageType::Advertise, "{:?}", adv.msg_type);
        let server_id = adv.options.server_id()?.context("no server id")?.to_bytes();
        let addr = adv
            .options
            .ia_nas()
            .next()
            .context("no IA_NA")??
            .addresses()
            .next()
            .context("no IAADDR")??
            .addr;
        let mut b = Builder::message(MessageType::Request, xid + 1);
        b.server_id(&server_id)?;
        b.ia_na(1, 0, 0, |ib| {
            ib.ia_addr(addr, 0, 0)?;
            Ok(())
        })?;
        eue_options_fqdn(&mut b, flags)?;
        let rep_buf = ask(&sock, to, &relay_forward(&b.finish())?)?;
        let rep = message(&rep_buf)?;
        ensure!(rep.msg_type == MessageType::Reply, "{:?}", rep.msg_type);
        let f = rep.options.client_fqdn()?.context("no FQDN")?;
        Ok((addr, server_id, f.flags, f.domain_name()?.0))
    };
    let release = |addr: Ipv6Addr, server_id: &[u8], xid: u32| -> Result<()> {
        let mut b = Builder::message(MessageType::Release, xid);
        b.client_id(&eue_duid())?;
        b.server_id(server_id)?;
        b.ia_na(1, 0, 0, |ib| {
            ib.ia_addr(addr, 0, 0)?;
            Ok(())
        })?;
        let _ = ask(&sock, to, &relay_forward(&b.finish())?)?;
        Ok(())
    };
    let (addr, server_id, flags, name) = exchange(0x01, 0x00_d0d1)?;
    // RFC 4704 section 5: the server does the AAAA (S=1), O=0, N=0.
    ensure!(flags == 0x01, "option 39 flags of the REPLY {flags:#x}");
    ensure!(name == "eue-001018aa0002.example.test", "FQDN {name}");

    let t = Duration::from_secs(20);
    let log = |p: &Proc| p.output_tail(6000);
    named
        .wait(None, &name, "AAAA", t, |a| a == addr.to_string())
        .with_context(|| log(&server))?;
    named.wait(None, &ip6_arpa(addr), "PTR", t, |p| p == format!("{name}."))?;
    named.wait(None, &name, "DHCID", t, |d| !d.is_empty())?;

    // RELEASE: the records go.
    release(addr, &server_id, 0x00_d0d3)?;
    named
        .wait(None, &name, "AAAA", t, str::is_empty)
        .with_context(|| log(&server))?;
    named.wait(None, &ip6_arpa(addr), "PTR", t, str::is_empty)?;

    // S=0 (the client updates its AAAA itself): the REPLY says S=0 O=0 N=0
    // and the server adds the PTR only; the RELEASE removes that PTR.
    let (addr, server_id, flags, name) = exchange(0x00, 0x00_d0e1)?;
    ensure!(
        flags == 0x00,
        "option 39 flags of the REPLY to S=0 {flags:#x}"
    );
    named
        .wait(None, &ip6_arpa(addr), "PTR", t, |p| p == format!("{name}."))
        .with_context(|| log(&server))?;
    ensure!(
        named.dig(None, &name, "AAAA").is_empty(),
        "AAAA added for S=0"
    );
    ensure!(
        named.dig(None, &name, "DHCID").is_empty(),
        "DHCID added for S=0"
    );
    release(addr, &server_id, 0x00_d0e3)?;
    named
        .wait(None, &ip6_arpa(addr), "PTR", t, str::is_empty)
        .with_context(|| log(&server))?;
    server.stop(Duration::from_secs(20))?;
    named.stop()?;
    Ok(())
}
