//! Group-commit cost on PostgreSQL: `apply` of BATCHES batches of SIZE
//! DHCPv4 lease upserts each (the committer's groups under a DORA storm),
//! on a throwaway cluster this program starts (`headend_store_pg::testing`).
//! Prints leases per second and microseconds per lease.
//!
//! `cargo run --release -p headend-store-pg --example apply_bench -- [batches] [size]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::time::Instant;

use headend_store::{ClientKey, Lease4, LeaseProtocol, LeaseState, Mutation, Store};
use headend_store_pg::{migrate, testing, PgStore};

fn main() {
    let mut args = std::env::args().skip(1);
    let batches: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let size: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let url = testing::database();
    migrate(&url).unwrap();
    let store = PgStore::connect(&url, 1).unwrap();
    let lease = |n: u32| {
        let mac = [
            0x02,
            0,
            (n >> 24) as u8,
            (n >> 16) as u8,
            (n >> 8) as u8,
            n as u8,
        ];
        Lease4 {
            ip: Ipv4Addr::from(0x0a00_0000 + n),
            client: ClientKey::from_hardware(1, &mac),
            hwaddr: mac.to_vec(),
            state: LeaseState::Active,
            commit_time: 1_800_000_000,
            lifetime: 86_400,
            relay: Ipv4Addr::new(10, 0, 0, 1),
            protocol: LeaseProtocol::Dhcp,
            pool: "bench".into(),
            trusted_id: None,
            trusted_id_type: None,
            hostname: None,
            relay_info: None,
        }
    };
    for round in ["insert", "update"] {
        let t = Instant::now();
        for b in 0..batches {
            let batch: Vec<Mutation> = (0..size)
                .map(|i| Mutation::PutLease4(lease(b * size + i)))
                .collect();
            store.apply(&batch).unwrap();
            store.sync().unwrap();
        }
        let n = f64::from(batches * size);
        let s = t.elapsed().as_secs_f64();
        println!(
            "{round}: {} leases in {batches} batches of {size}: {:.0} leases/s, {:.1} us per lease, {:.2} ms per batch",
            batches * size,
            n / s,
            s * 1e6 / n,
            s * 1e3 / f64::from(batches)
        );
    }
}
