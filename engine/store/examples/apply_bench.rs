//! CPU cost of the sled store's write path per DHCPv6 binding: `apply` of
//! groups of `--group` `PutLease6` mutations (half new bindings, half
//! renewals of existing ones, as in a boot storm), each followed by `sync`,
//! over a store preloaded with `--preload` bindings.
//!
//! ```text
//! cargo run --release -p headend-store --example apply_bench -- \
//!     [--preload 200000] [--leases 50000] [--group 32] [--dir PATH]
//! ```
//!
//! Prints wall time and process CPU time (user + system, all threads,
//! sled's own included) per binding, for `apply` alone and with `sync`.

use std::error::Error;
use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use headend_store::{Lease6, Lease6Kind, LeaseState, Mutation, SledStore, Store};

struct Args {
    preload: u32,
    leases: u32,
    group: u32,
    dir: Option<PathBuf>,
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut a = Args {
        preload: 200_000,
        leases: 50_000,
        group: 32,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--preload" => a.preload = v.parse()?,
            "--leases" => a.leases = v.parse()?,
            "--group" => a.group = v.parse()?,
            "--dir" => a.dir = Some(v.into()),
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    if a.group == 0 {
        return Err("--group must be positive".into());
    }
    Ok(a)
}

fn lease(n: u32, t: u64) -> Lease6 {
    let c = n.to_be_bytes();
    let mut duid = vec![0x00, 0x01, 0x00, 0x01, 0x2a, 0x2b, 0x2c, 0x2d, 0x02, 0x00];
    duid.extend_from_slice(&c);
    Lease6 {
        kind: Lease6Kind::Na,
        address: Ipv6Addr::from(0x2001_0db8_0001_0000_0000_0000_0000_0000u128 | u128::from(n)),
        prefix_len: 128,
        duid,
        iaid: 1,
        state: LeaseState::Active,
        commit_time: t,
        preferred: 3600,
        valid: 7200,
        link: "2001:db8:1::2".parse().unwrap_or(Ipv6Addr::UNSPECIFIED),
        pool: "bench6".into(),
        mac: Some(vec![0x02, 0x00, c[0], c[1], c[2], c[3]]),
        modem_mac: None,
        fqdn: None,
        relay: None,
    }
}

/// User + system CPU time of this process (all threads), from
/// `/proc/self/stat` (fields 14 and 15, in USER_HZ = 100 ticks per second).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) may hold spaces; count fields after its ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn run(
    store: &SledStore,
    a: &Args,
    first: u32,
    sync: bool,
) -> Result<(Duration, Duration), Box<dyn Error>> {
    let t0 = Instant::now();
    let c0 = cpu();
    let mut n = 0u32;
    while n < a.leases {
        let batch: Vec<Mutation> = (0..a.group)
            .map(|i| {
                let k = n + i;
                // Every other one renews a preloaded binding.
                let id = if k % 2 == 0 {
                    first + k
                } else {
                    k % a.preload.max(1)
                };
                Mutation::PutLease6(lease(id, 1_800_000_000 + u64::from(k)))
            })
            .collect();
        store.apply(&batch)?;
        if sync {
            store.sync()?;
        }
        n += a.group;
    }
    Ok((t0.elapsed(), cpu().saturating_sub(c0)))
}

fn main() -> Result<(), Box<dyn Error>> {
    let a = parse_args()?;
    let tmp;
    let dir = match &a.dir {
        Some(d) => d.clone(),
        None => {
            tmp = std::env::temp_dir().join(format!("headend-apply-bench-{}", std::process::id()));
            tmp.clone()
        }
    };
    let store = SledStore::open(&dir)?;
    let t0 = Instant::now();
    for chunk in (0..a.preload).collect::<Vec<_>>().chunks(1024) {
        let b: Vec<Mutation> = chunk
            .iter()
            .map(|&n| Mutation::PutLease6(lease(n, 1_700_000_000)))
            .collect();
        store.apply(&b)?;
    }
    store.sync()?;
    println!("preloaded {} bindings in {:?}", a.preload, t0.elapsed());
    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(a.leases);
    let (w, c) = run(&store, &a, a.preload, false)?;
    println!(
        "apply only, groups of {}: {:.1} us wall, {:.1} us CPU per binding",
        a.group,
        per(w),
        per(c)
    );
    let (w, c) = run(&store, &a, a.preload + a.leases, true)?;
    println!(
        "apply + sync, groups of {}: {:.1} us wall, {:.1} us CPU per binding",
        a.group,
        per(w),
        per(c)
    );
    drop(store);
    if a.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
