//! The peer scenarios run against Kea 2.2, the reference server, to tell a harness or
//! peer problem from a headend one (shared/docs/peers.md §3). Ignored by default because
//! they test Kea, not headend: `cargo test -p headend --test integration peer_kea_control:: -- --ignored`.

use crate::common;

use anyhow::Result;

use common::scenarios::{self, RELAY, SEGMENT_SERVER};
use common::{peers_available, scratch, KeaLayout, KeaServer, Netns};

const LOOPBACK: KeaLayout<'static> = KeaLayout {
    interface: "lo/127.0.0.1",
    socket_type: "udp",
    subnet: "10.10.0.0/16",
    pool: "10.10.0.10 - 10.10.255.250",
    relay: Some(RELAY),
    router: "10.10.0.1",
    threads: None,
};

#[test]
#[ignore = "checks the harness against Kea; run with --ignored"]
fn kea_dora_500_per_second_and_leases_survive_restart() -> Result<()> {
    if !peers_available("peer_kea_control", &["perfdhcp", "kea-dhcp4"])? {
        return Ok(());
    }
    let dir = scratch("kea-dora")?;
    let ns = Netns::loopback_relay()?;
    let mut kea = KeaServer::new(dir.path(), &LOOPBACK)?;
    scenarios::dora_then_restart(&mut kea, &ns)
}

#[test]
#[ignore = "checks the harness against Kea; run with --ignored"]
fn kea_cablelabs_options_in_offer_and_ack_decode_cleanly() -> Result<()> {
    if !peers_available("peer_kea_control", &["perfdhcp", "tshark", "kea-dhcp4"])? {
        return Ok(());
    }
    let dir = scratch("kea-cl")?;
    let ns = Netns::loopback_relay()?;
    let mut kea = KeaServer::new(dir.path(), &LOOPBACK)?;
    scenarios::cablelabs_options(&mut kea, &ns, dir.path())
}

#[test]
#[ignore = "checks the harness against Kea; run with --ignored"]
fn kea_dhclient_gets_an_address_on_a_veth_segment() -> Result<()> {
    if !peers_available("peer_kea_control", &["dhclient", "kea-dhcp4"])? {
        return Ok(());
    }
    let dir = scratch("kea-dhclient")?;
    let (srv, cli) = scenarios::segment()?;
    let layout = KeaLayout {
        interface: "vs0",
        socket_type: "raw",
        subnet: "192.0.2.0/24",
        pool: "192.0.2.100 - 192.0.2.200",
        relay: None,
        router: SEGMENT_SERVER,
        threads: None,
    };
    let mut kea = KeaServer::new(dir.path(), &layout)?;
    scenarios::dhclient_bound(&mut kea, &srv, &cli, dir.path())
}
