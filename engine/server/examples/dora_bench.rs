//! CPU cost of the DHCPv4 pipeline, without sockets or disk: DISCOVER +
//! REQUEST per client through `Dhcpv4::handle` with the lab configuration
//! (auto-provisioning expression, policies with Rhai option expressions,
//! CableLabs options), over a memory store pre-loaded with leases.
//!
//! `cargo run --release -p headend-server --example dora_bench -- [clients] [preloaded]`

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use headend_model::snapshot::Snapshot;
use headend_model::trace::Trace;
use headend_server::dhcpv4::process::system_clock;
use headend_server::dhcpv4::{Inbound, Outcome};
use headend_server::runtime::Server;
use headend_store::{ClientKey, Lease4, LeaseProtocol, LeaseState, MemoryStore, Mutation, Store};
use headend_wire::dhcpv4::{code, Builder, MessageType, Packet, BOOTREQUEST};

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
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let clients = args.first().copied().unwrap_or(50_000);
    let preload = args.get(1).copied().unwrap_or(0);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lab/headend.toml");
    let snap = match Snapshot::load(&path, 1) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    let store = Arc::new(MemoryStore::default());
    if preload > 0 {
        let pool = snap
            .pool("cm-lab")
            .map(|p| p.ranges[0].0)
            .unwrap_or(Ipv4Addr::new(10, 1, 0, 10));
        let base = u32::from(pool) + 200_000;
        let mut batch = Vec::new();
        for i in 0..preload {
            let mac = [
                2,
                0,
                (i >> 24) as u8,
                (i >> 16) as u8,
                (i >> 8) as u8,
                i as u8,
            ];
            batch.push(Mutation::PutLease4(Lease4 {
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
            }));
        }
        let _ = store.apply(&batch);
    }
    let server = match Server::with_store(&path, snap, store as Arc<dyn Store>, system_clock()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
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
    let el = t0.elapsed();
    println!(
        "{acks} DORA exchanges in {:.3} s: {:.1} µs per exchange (2 packets, request building included), {:.0} exchanges/s on one core; {preload} leases preloaded",
        el.as_secs_f64(),
        el.as_secs_f64() * 1e6 / f64::from(acks.max(1)),
        f64::from(acks) / el.as_secs_f64()
    );
}
