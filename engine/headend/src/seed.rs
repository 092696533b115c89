//! `headend store seed|stats`: fill a store with synthetic leases for
//! benchmarks (the DHCPv4 target is measured with 1,000,000 leases present)
//! and report what a store holds.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use headend_model::snapshot::Snapshot;
use headend_store::{ClientKey, Lease4, LeaseProtocol, LeaseState, Mutation, SledStore, Store};

/// Writes `count` active leases from `pool` into the configured store.
pub fn seed(config: &Path, pool: &str, count: u32) -> Result<()> {
    let snap = Snapshot::load(config, 1).map_err(|e| anyhow!("{e}"))?;
    let p = snap
        .pool(pool)
        .ok_or_else(|| anyhow!("no pool {pool:?} in the configuration"))?;
    std::fs::create_dir_all(&snap.store_path)?;
    let store = SledStore::open(&snap.store_path)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let lifetime = p.lifetime.unwrap_or(86_400).max(86_400);
    let relay = p
        .relays
        .first()
        .copied()
        .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
    let mut addrs = p
        .ranges
        .iter()
        .flat_map(|(a, b)| u32::from(*a)..=u32::from(*b))
        .map(std::net::Ipv4Addr::from)
        .filter(|ip| !p.exclude.contains(ip));
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..count {
        let Some(ip) = addrs.next() else {
            bail!("pool {pool:?} has fewer than {count} addresses");
        };
        let mac = [
            0x02,
            0x00,
            (i >> 24) as u8,
            (i >> 16) as u8,
            (i >> 8) as u8,
            i as u8,
        ];
        batch.push(Mutation::PutLease4(Lease4 {
            ip,
            client: ClientKey::from_hardware(1, &mac),
            hwaddr: mac.to_vec(),
            state: LeaseState::Active,
            commit_time: now,
            lifetime,
            relay,
            protocol: LeaseProtocol::Dhcp,
            pool: p.name.clone(),
            trusted_id: None,
            trusted_id_type: None,
            hostname: None,
        }));
        if batch.len() == 10_000 {
            store.apply(&batch)?;
            batch.clear();
        }
    }
    store.apply(&batch)?;
    store.sync()?;
    println!(
        "seeded {count} leases into {} (pool {pool})",
        snap.store_path.display()
    );
    Ok(())
}

/// Prints what the configured store holds.
pub fn stats(config: &Path) -> Result<()> {
    let snap = Snapshot::load(config, 1).map_err(|e| anyhow!("{e}"))?;
    let store = SledStore::open(&snap.store_path)?;
    let leases = store.load_leases4()?;
    let active = leases
        .iter()
        .filter(|l| l.state == LeaseState::Active)
        .count();
    println!("leases: {} ({} active)", leases.len(), active);
    println!("accounts: {}", store.load_accounts()?.len());
    Ok(())
}
