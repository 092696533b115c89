//! Peer scenarios shared by the headend tests and the Kea control runs, so the same
//! assertions are checked against the reference server (shared/docs/peers.md §3, §4, §11).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};

use super::{
    decode_problems, hex_of, mac_from_u64, split_frames, tshark_fields, tshark_verbose, veth_pair,
    Capture, Dhclient, Dhcp4Server, Netns, PerfReport, Perfdhcp,
};

/// The loopback server address; perfdhcp is the relay 127.0.0.2 (peers.md §3.1).
pub const SERVER: &str = "127.0.0.1";
/// perfdhcp's local address, which it puts in giaddr.
pub const RELAY: &str = "127.0.0.2";
/// First MAC of the load run. perfdhcp 2.2 counts MACs up from `-b mac=` octet by
/// octet (client i gets last octet `(b5 + i) % 256` and the one before `b4 + i / 256`),
/// so bases end in `00` and client counts are multiples of 256 to keep the ranges
/// contiguous and predictable.
const BASE_MAC: u64 = 0x000c_0100_1000;
/// Clients per run.
const CLIENTS: u32 = 1024;
/// Option 60 of a DOCSIS 3.0 modem (peers.md §3.6).
pub const DOCSIS_VCI: &str = "docsis3.0:0501010601";
/// Option 125: enterprise 4491, 4 bytes, CL_V4OPTION_ORO asking for sub-options 2 and 6.
pub const OPT125_ORO: &str = "0000118b0401020206";
/// Appended to perfdhcp's own option 55: 122 and 125.
pub const OPT55_CL: &str = "7a7d";

fn require_completed(what: &str, r: &PerfReport, server: &dyn Dhcp4Server) -> Result<()> {
    ensure!(
        r.discover_offer.completed(999) && r.request_ack.completed(999),
        "{what}: fewer than 99.9 % of exchanges completed against {}: {}\n{} log:\n{}",
        server.name(),
        r.summary(),
        server.name(),
        server.log()
    );
    Ok(())
}

/// DORA at 500/s for 5 s over 1,024 relayed clients, ≥ 99.9 % completed in both
/// exchanges; then the server restarts on the same store and a second run whose first
/// 512 clients are new and last 512 are from the first run must give the old clients
/// their old addresses and the new ones addresses nobody held.
pub fn dora_then_restart(server: &mut dyn Dhcp4Server, ns: &Netns) -> Result<()> {
    server.start(ns)?;
    let first = Perfdhcp::new(500, CLIENTS)
        .period(5)
        .base_mac(&mac_from_u64(BASE_MAC))
        .print_leases()
        .run(ns, RELAY, SERVER)?;
    require_completed("500/s for 5 s", &first, server)?;
    let before = first.lease_map().context("first run")?;
    // 2,500 exchanges cycle through the 1,024 MACs more than twice.
    ensure!(
        before.len() >= 1014,
        "only {} of {CLIENTS} clients were ACKed: {}",
        before.len(),
        first.summary()
    );
    let held: BTreeSet<Ipv4Addr> = before.values().copied().collect();

    server.stop()?;
    server.start(ns)?;

    // New clients first: a server that forgot its leases hands them the old addresses.
    let half = u64::from(CLIENTS / 2);
    let second = Perfdhcp::new(500, CLIENTS)
        .exchanges(CLIENTS)
        .base_mac(&mac_from_u64(BASE_MAC - half))
        .print_leases()
        .run(ns, RELAY, SERVER)?;
    require_completed("after restart", &second, server)?;
    let after = second.lease_map().context("second run")?;
    let (mut kept, mut fresh) = (0, 0);
    for (client, addr) in &after {
        match before.get(client) {
            Some(old) => {
                ensure!(
                    old == addr,
                    "client {client} had {old} before the restart and got {addr} after"
                );
                kept += 1;
            }
            None => {
                ensure!(
                    !held.contains(addr),
                    "new client {client} got {addr}, still leased to another client before the restart"
                );
                fresh += 1;
            }
        }
    }
    ensure!(
        kept >= 505 && fresh >= 505,
        "after the restart {kept} known and {fresh} new clients were ACKed (expected 512 each): {}",
        second.summary()
    );
    server.stop()
}

/// A DOCSIS 3.0 modem's DORA (options 60, 125 with the CableLabs ORO, 55 asking for 122
/// and 125) captured with tshark: every OFFER and ACK carries option 122 and option 125
/// for enterprise 4491, and tshark decodes them without errors or warnings.
pub fn cablelabs_options(server: &mut dyn Dhcp4Server, ns: &Netns, dir: &Path) -> Result<()> {
    server.start(ns)?;
    let pcap = dir.join("cablelabs.pcapng");
    // 3 DORAs = 12 packets; perfdhcp 2.2 miscounts the last ACK of `-n 1`.
    let capture = Capture::start(ns, "lo", "udp port 67", Some(12), 30, &pcap)?;
    let report = Perfdhcp::new(10, 1)
        .exchanges(3)
        .option(60, &hex_of(DOCSIS_VCI))
        .option(125, OPT125_ORO)
        .option(55, OPT55_CL)
        .run(ns, RELAY, SERVER)?;
    let pcap = capture.stop()?;
    require_completed("CableLabs DORA", &report, server)?;

    let requests = tshark_fields(
        &pcap,
        "dhcp.option.dhcp == 1 || dhcp.option.dhcp == 3",
        &["dhcp.option.vendor_class_id"],
    )?;
    ensure!(
        !requests.is_empty()
            && requests
                .iter()
                .all(|r| r.first().map(String::as_str) == Some(DOCSIS_VCI)),
        "the captured requests do not carry option 60 {DOCSIS_VCI:?}: {requests:?}"
    );

    for (kind, code) in [("OFFER", 2), ("ACK", 5)] {
        let verbose = tshark_verbose(&pcap, &format!("dhcp.option.dhcp == {code}"))?;
        let frames = split_frames(&verbose);
        ensure!(
            !frames.is_empty(),
            "no {kind} captured from {}; its log:\n{}",
            server.name(),
            server.log()
        );
        for frame in &frames {
            let dhcp = frame
                .split_once("Dynamic Host Configuration Protocol")
                .map(|(_, d)| d)
                .unwrap_or(frame);
            let missing: Vec<&str> = [
                "Option: (122) CableLabs Client Configuration",
                "Option: (125) V-I Vendor-specific Information",
                "Enterprise: Cable Television Laboratories, Inc. (4491)",
            ]
            .into_iter()
            .filter(|needle| !dhcp.contains(needle))
            .collect();
            ensure!(
                missing.is_empty(),
                "{kind} from {} lacks {missing:?}; tshark:\n{dhcp}",
                server.name()
            );
            let problems = decode_problems(frame);
            ensure!(
                problems.is_empty(),
                "tshark flags the {kind} from {}: {problems:?}; tshark:\n{dhcp}",
                server.name()
            );
        }
    }
    server.stop()
}

/// Address plan of the broadcast segment: server end of the veth pair.
pub const SEGMENT_SERVER: &str = "192.0.2.1";
/// The pool on the segment.
pub const SEGMENT_POOL: (Ipv4Addr, Ipv4Addr) =
    (Ipv4Addr::new(192, 0, 2, 100), Ipv4Addr::new(192, 0, 2, 200));

/// Two namespaces joined by a veth pair: `vs0` (192.0.2.1/24) in the first, `vc0`
/// without an address in the second, as peers.md §2's `ksrv`/`kcli`.
pub fn segment() -> Result<(Netns, Netns)> {
    let srv = Netns::new()?;
    let cli = Netns::new()?;
    veth_pair(&srv, "vs0", &cli, "vc0")?;
    srv.add_addr("vs0", &format!("{SEGMENT_SERVER}/24"))?;
    Ok((srv, cli))
}

/// ISC dhclient on `vc0` gets an address from the segment's pool, with mask and router.
pub fn dhclient_bound(
    server: &mut dyn Dhcp4Server,
    srv: &Netns,
    cli: &Netns,
    dir: &Path,
) -> Result<()> {
    server.start(srv)?;
    let mut client = Dhclient::start(cli, "vc0", dir, 30)?;
    let vars = match client.wait_bound(Duration::from_secs(25)) {
        Ok(v) => v,
        Err(e) => bail!("{e:#}\n{} log:\n{}", server.name(), server.log()),
    };
    client.stop()?;
    let addr: Ipv4Addr = vars
        .get("new_ip_address")
        .context("BOUND without new_ip_address")?
        .parse()
        .context("new_ip_address is not an IPv4 address")?;
    ensure!(
        (SEGMENT_POOL.0..=SEGMENT_POOL.1).contains(&addr),
        "dhclient got {addr}, outside the pool {SEGMENT_POOL:?}"
    );
    ensure!(
        vars.get("new_subnet_mask").map(String::as_str) == Some("255.255.255.0"),
        "subnet mask: {vars:?}"
    );
    ensure!(
        vars.get("new_routers").map(String::as_str) == Some(SEGMENT_SERVER),
        "routers: {vars:?}"
    );
    server.stop()
}
