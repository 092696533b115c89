//! CPU cost of the DHCPv6 pipeline, without sockets or disk: SOLICIT +
//! REQUEST per eUE through `Dhcpv6::handle`, each inside a Relay-Forward
//! from the lab CMTS (link 2001:db8:100::1, CableLabs 17.1026 modem MAC),
//! with the full eUE-1 option set of seed 000 Table 6 and the lab
//! configuration (auto-provisioning expression, FQDN expression, CableLabs
//! CCCv6 / syslog / TFTP options), over a memory store pre-loaded with
//! bindings. The DHCPv6 counterpart of `dora_bench`.
//!
//! `cargo run --release -p headend-server --example sarr_bench -- [clients] [preloaded]`

use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::Instant;

use headend_model::trace::Trace;
use headend_server::dhcpv6::Outcome6;
use headend_store::{Lease6, Lease6Kind, LeaseState, Mutation};
use headend_wire::dhcpv6::{code, parse, Builder, EncodeError, MessageType, Packet};

mod common;
use common::lab;

#[path = "../tests/common/eue6.rs"]
mod eue6;
use eue6::{duid_ll, eue1_options, relay_forward, CM_MAC, LINK};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The eUE-1 SOLICIT (or, with `server`/`addr`, the REQUEST) of one eUE,
/// relayed by the lab CMTS.
fn message(
    mtype: MessageType,
    mac: &[u8; 6],
    server: Option<&[u8]>,
    addr: Option<Ipv6Addr>,
) -> Result<Vec<u8>, EncodeError> {
    let xid = u32::from_be_bytes([0, mac[3], mac[4], mac[5]]);
    let mut b = Builder::message(mtype, xid);
    eue1_options(&mut b, mac, addr)?;
    if let Some(s) = server {
        b.server_id(s)?;
    }
    relay_forward(&b.finish(), 0, Some(&CM_MAC))
}

/// Server DUID and the first IA_NA address of a relayed ADVERTISE.
fn offer(packet: &[u8]) -> Option<(Vec<u8>, Ipv6Addr)> {
    let Ok(Packet::Relay(r)) = parse(packet) else {
        return None;
    };
    let inner = r.relay_msg().to_vec();
    let Ok(Packet::Message(m)) = parse(&inner) else {
        return None;
    };
    let server = m.options.get(code::SERVERID)?.to_vec();
    let ia = m.options.ia_nas().next()?.ok()?;
    let a = ia.addresses().next()?.ok()?;
    Some((server, a.addr))
}

fn main() {
    let (clients, preload) = lab::args();
    let Some(server) = lab::lab_server(|_| {
        // Bindings of other eUEs in the upper half of the lab's eUE /64.
        let base = u128::from(Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0x8000, 0, 0, 0));
        (0..preload)
            .map(|i| {
                let mac = lab::preload_mac(i);
                Mutation::PutLease6(Lease6 {
                    kind: Lease6Kind::Na,
                    address: Ipv6Addr::from(base + u128::from(i)),
                    prefix_len: 128,
                    duid: duid_ll(&mac),
                    iaid: 1,
                    state: LeaseState::Active,
                    commit_time: 2_000_000_000,
                    preferred: 86_400,
                    valid: 86_400,
                    link: LINK,
                    pool: "eue6".into(),
                    mac: Some(mac.to_vec()),
                    modem_mac: None,
                    fqdn: None,
                    relay: None,
                })
            })
            .collect()
    }) else {
        return;
    };
    let svc = server.dhcpv6();
    let source = SocketAddrV6::new(LINK, 547, 0, 0);
    let macs: Vec<[u8; 6]> = (0..clients)
        .map(|i| [0x00, 0x10, 0x18, (i >> 16) as u8, (i >> 8) as u8, i as u8])
        .collect();
    let t0 = Instant::now();
    let mut replies = 0u32;
    for mac in &macs {
        let Ok(s) = message(MessageType::Solicit, mac, None, None) else {
            continue;
        };
        let Outcome6::Reply { packet, .. } = svc.handle(&s, source, &mut Trace::disabled()) else {
            continue;
        };
        let Some((server_id, addr)) = offer(&packet) else {
            continue;
        };
        let Ok(r) = message(MessageType::Request, mac, Some(&server_id), Some(addr)) else {
            continue;
        };
        if let Outcome6::Reply { durable: true, .. } =
            svc.handle(&r, source, &mut Trace::disabled())
        {
            replies += 1;
        }
    }
    lab::report(
        replies,
        "relayed eUE SARR",
        "2 packets, request building and ADVERTISE parsing included",
        t0.elapsed(),
        preload,
        "bindings",
    );
}
