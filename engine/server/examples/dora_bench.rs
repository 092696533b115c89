//! CPU cost of the DHCPv4 pipeline, without sockets or disk: DISCOVER +
//! REQUEST per client through `Dhcpv4::handle` with the lab configuration
//! (auto-provisioning expression, policies with Rhai option expressions,
//! CableLabs options), over a memory store pre-loaded with leases.
//!
//! `cargo run --release -p headend-server --example dora_bench -- [clients] [preloaded]`

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use headend_model::trace::Trace;
use headend_server::dhcpv4::{Inbound, Outcome};
use headend_store::{ClientKey, Lease4, LeaseProtocol, LeaseState, Mutation};
use headend_wire::dhcpv4::{code, Builder, MessageType, Packet, BOOTREQUEST};

mod common;
use common::lab;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn request(mac: [u8; 6], mtype: MessageType, extra: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut b = Builder::new();
    b.op = BOOTREQUEST;
    b.htype = 1;
    b.hlen = 6;
    b.hops = 1;
    b.xid = u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]);
    b.giaddr = Ipv4Addr::new(127, 0, 0, 2);
    b.chaddr[..6].copy_from_slice(&mac);
    b.push_option(code::MESSAGE_TYPE, &[u8::from(mtype)]);
    b.push_option(code::CLIENT_ID, &[&[1u8][..], &mac[..]].concat());
    b.push_option(code::VENDOR_CLASS, b"docsis3.0:");
    b.push_option(
        code::PARAMETER_REQUEST_LIST,
        &[1, 2, 3, 4, 7, 66, 67, 122, 125],
    );
    b.push_option(
        code::VENDOR_SPECIFIC_VI,
        &[0, 0, 0x11, 0x8b, 7, 1, 2, 123, 124, 124, 1, 7],
    );
    for (c, d) in extra {
        b.push_option(*c, d);
    }
    b.push_option(
        code::RELAY_AGENT_INFO,
        &[1, 4, b'c', b'm', b'-', b'1', 2, 6, 0, 0x10, 0x95, 0, 0, 1],
    );
    b.encode(1500).unwrap_or_default()
}

fn main() {
    let (clients, preload) = lab::args();
    let Some(server) = lab::lab_server(|snap| {
        let pool = snap
            .pool("cm-lab")
            .map(|p| p.ranges[0].0)
            .unwrap_or(Ipv4Addr::new(10, 1, 0, 10));
        let base = u32::from(pool) + 200_000;
        (0..preload)
            .map(|i| {
                let mac = lab::preload_mac(i);
                Mutation::PutLease4(Lease4 {
                    ip: Ipv4Addr::from(base + i),
                    client: ClientKey::from_hardware(1, &mac),
                    hwaddr: mac.to_vec(),
                    state: LeaseState::Active,
                    commit_time: 2_000_000_000,
                    lifetime: 86_400,
                    relay: Ipv4Addr::new(127, 0, 0, 2),
                    protocol: LeaseProtocol::Dhcp,
                    pool: "cm-lab".into(),
                    trusted_id: None,
                    trusted_id_type: None,
                    hostname: None,
                    relay_info: None,
                })
            })
            .collect()
    }) else {
        return;
    };
    let svc = server.dhcpv4();
    let local = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 6767);
    let source = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), 67);
    let reqs: Vec<[u8; 6]> = (0..clients)
        .map(|i| [0, 0x10, 0x95, (i >> 16) as u8, (i >> 8) as u8, i as u8])
        .collect();
    let t0 = Instant::now();
    let mut acks = 0u32;
    for mac in &reqs {
        let d = request(*mac, MessageType::Discover, &[]);
        let out = svc.handle(
            &Inbound {
                data: &d,
                source,
                local,
            },
            &mut Trace::disabled(),
        );
        let Outcome::Reply { packet, .. } = out else {
            continue;
        };
        let Ok(p) = Packet::parse(&packet) else {
            continue;
        };
        let r = request(
            *mac,
            MessageType::Request,
            &[
                (code::SERVER_ID, vec![127, 0, 0, 1]),
                (code::REQUESTED_IP, p.yiaddr.octets().to_vec()),
            ],
        );
        if let Outcome::Reply { .. } = svc.handle(
            &Inbound {
                data: &r,
                source,
                local,
            },
            &mut Trace::disabled(),
        ) {
            acks += 1;
        }
    }
    lab::report(
        acks,
        "DORA",
        "2 packets, request building included",
        t0.elapsed(),
        preload,
        "leases",
    );
}
