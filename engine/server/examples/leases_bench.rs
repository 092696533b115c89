//! Lease table micro-benchmark: loads 1,000,000 leases into a /11 pool and
//! measures the per-packet paths (DISCOVER+REQUEST of a new client, renewal
//! of a bound client) and the memory per lease.
//!
//! Run: `cargo run --release -p headend-server --example leases_bench`.

use std::net::Ipv4Addr;
use std::time::Instant;

use headend_server::leases::{LeaseTable, PoolSpec};
use headend_store::{ClientKey, Lease4, LeaseProtocol, LeaseState, TrustedIdType};

const LOADED: u32 = 1_000_000;
const OPS: u32 = 200_000;
const NOW: u64 = 1_700_000_000;

/// Resident set size of this process, from /proc/self/statm (0 if unreadable).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn client(n: u32) -> ClientKey {
    let b = n.to_be_bytes();
    ClientKey::from_hardware(1, &[0x00, 0x10, 0x95, b[1], b[2], b[3]])
}

/// A record shaped like a cable modem's: option 82 remote id, 8-byte pool name.
fn record(ip: Ipv4Addr, n: u32, commit: u64, lifetime: u32) -> Lease4 {
    let c = client(n);
    Lease4 {
        ip,
        hwaddr: c.0.get(1..).unwrap_or_default().to_vec(),
        client: c,
        state: LeaseState::Active,
        commit_time: commit,
        lifetime,
        relay: Ipv4Addr::new(10, 255, 0, 1),
        protocol: LeaseProtocol::Dhcp,
        pool: "cmts1-cm".into(),
        trusted_id: None,
        trusted_id_type: None::<TrustedIdType>,
        hostname: None,
        relay_info: None,
    }
}

fn main() {
    let base = u32::from(Ipv4Addr::new(10, 0, 0, 0));
    let pool = PoolSpec {
        name: "cmts1-cm".into(),
        ranges: vec![(Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(10, 31, 255, 255))],
        exclude: vec![Ipv4Addr::new(10, 0, 0, 0)],
        reserved: Vec::new(),
        stripe: (0, 1),
    };
    let rss0 = rss_bytes();
    let records: Vec<Lease4> = (1..=LOADED)
        .map(|i| {
            let mut l = record(Ipv4Addr::from(base + i), i, NOW - 600, 3600);
            match i % 10 {
                0 => {
                    l.state = LeaseState::Released;
                    l.lifetime = 100;
                }
                1 => l.commit_time = NOW - 7200,
                _ => {}
            }
            l
        })
        .collect();

    let mut t = LeaseTable::new();
    t.set_pools(std::slice::from_ref(&pool));
    let start = Instant::now();
    t.load(records, NOW);
    let load = start.elapsed();
    let rss1 = rss_bytes();
    println!(
        "load: {} leases in {:.0} ms ({:.0} ns/lease)",
        t.len(),
        load.as_secs_f64() * 1e3,
        load.as_nanos() as f64 / f64::from(LOADED)
    );
    println!(
        "memory: {:.0} bytes/lease by RSS, {:.0} bytes/lease by approx_bytes() \
         (includes the /11 pool's bitsets, {} KiB)",
        rss1.saturating_sub(rss0) as f64 / f64::from(LOADED),
        t.approx_bytes() as f64 / f64::from(LOADED),
        3 * (1u64 << 21) / 8 / 1024
    );

    // A reload that changes the pool (one more excluded address): the
    // table rebuilds that pool's allocator from every record, under the
    // lease lock; a reload that leaves pools alone keeps them as they are.
    let mut changed = pool.clone();
    changed.exclude.push(Ipv4Addr::new(10, 31, 255, 255));
    let start = Instant::now();
    t.set_pools(std::slice::from_ref(&changed));
    let rebuilt = start.elapsed();
    let start = Instant::now();
    t.set_pools(std::slice::from_ref(&changed));
    let kept = start.elapsed();
    // The reload path: snapshot under the lock, build without it, install
    // (replaying what changed meanwhile) under it.
    let mut back = pool.clone();
    back.exclude.push(Ipv4Addr::new(10, 31, 255, 254));
    let start = Instant::now();
    let Some(mut r) = t.begin_set_pools(std::slice::from_ref(&back)) else {
        println!("reload: the pool did not change?");
        return;
    };
    let begin = start.elapsed();
    let start = Instant::now();
    r.build();
    let off_lock = start.elapsed();
    let start = Instant::now();
    t.finish_set_pools(r);
    let finish = start.elapsed();
    println!(
        "reload: a changed pool rebuilt under the lock in {:.1} ms; off the lock: {:.1} ms + {:.1} ms under it, {:.1} ms without; unchanged pools kept in {:.3} ms ({} leases)",
        rebuilt.as_secs_f64() * 1e3,
        begin.as_secs_f64() * 1e3,
        finish.as_secs_f64() * 1e3,
        off_lock.as_secs_f64() * 1e3,
        kept.as_secs_f64() * 1e3,
        t.len()
    );

    // New clients: DISCOVER (pick + hold) then REQUEST (check + bind).
    let start = Instant::now();
    for k in 0..OPS {
        let c = client(LOADED + 1 + k);
        let Some(ip) = t.pick("cmts1-cm", &c, None, NOW) else {
            println!("pool exhausted after {k}");
            return;
        };
        t.hold_offer(ip, &c, NOW + 30);
        let ok = t.offer_of(&c, NOW) == Some(ip) && t.is_available_for(ip, &c, NOW);
        if !ok {
            println!("inconsistent offer for {ip}");
            return;
        }
        t.bind(record(ip, LOADED + 1 + k, NOW, 3600));
    }
    let dora = start.elapsed();
    println!(
        "new client pick+hold+check+bind: {:.0} ns/op ({} ops, {} leases loaded)",
        dora.as_nanos() as f64 / f64::from(OPS),
        OPS,
        LOADED
    );

    // Renewals of bound clients: pick (current binding) + check + bind.
    let start = Instant::now();
    let mut renewed = 0u32;
    for k in 0..OPS {
        let n = 2 + (k * 7919) % (LOADED - 2);
        if n % 10 < 2 {
            continue;
        }
        let c = client(n);
        let Some(ip) = t.pick("cmts1-cm", &c, None, NOW + 1) else {
            continue;
        };
        if t.is_available_for(ip, &c, NOW + 1) {
            t.bind(record(ip, n, NOW + 1, 3600));
            renewed += 1;
        }
    }
    let renew = start.elapsed();
    println!(
        "renewal pick+check+bind: {:.0} ns/op ({} ops)",
        renew.as_nanos() as f64 / f64::from(renewed.max(1)),
        renewed
    );

    let start = Instant::now();
    let swept = t.expire_due(NOW + 4000, usize::MAX);
    let sweep = start.elapsed();
    println!(
        "expire_due: {} expiries in {:.0} ms ({:.0} ns each)",
        swept,
        sweep.as_secs_f64() * 1e3,
        sweep.as_nanos() as f64 / swept.max(1) as f64
    );
    let s = t.stats(NOW + 4000);
    println!(
        "stats: active {} released {} expired {} free {}",
        s.active,
        s.released,
        s.expired,
        t.free_count("cmts1-cm", NOW + 4000)
    );
}
