//! `headend store seed|stats`: fill a store with synthetic leases for
//! benchmarks (the DHCPv4 and DHCPv6 targets are measured with 1,000,000
//! bindings present) and report what a store holds.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use headend_model::snapshot::Snapshot;
use headend_model::v6::{Pool6, Pool6Kind};
use headend_store::{
    ClientKey, Lease4, Lease6, Lease6Kind, LeaseProtocol, LeaseState, Mutation, SledStore, Store,
};

/// Writes `count` active bindings from `pool` (a `[[pool]]` or a
/// `[[pool6]]`) into the configured store.
pub fn seed(config: &Path, pool: &str, count: u32) -> Result<()> {
    let snap = Snapshot::load(config, 1).map_err(|e| anyhow!("{e}"))?;
    let pool6 = snap
        .dhcpv6
        .as_ref()
        .and_then(|d| d.pools.iter().find(|p| p.name == pool));
    if let Some(p6) = pool6 {
        return seed6(&snap, p6, count);
    }
    let p = snap
        .pool(pool)
        .ok_or_else(|| anyhow!("no pool or pool6 {pool:?} in the configuration"))?;
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

/// Writes `count` DHCPv6 bindings of [[pool6]] `p`: the slots after the
/// Subnet-Router anycast address (addresses) or the first prefixes, each
/// bound to DUID-LL `02:00:…` with IAID 1 and the pool's first link.
fn seed6(snap: &Snapshot, p: &Pool6, count: u32) -> Result<()> {
    std::fs::create_dir_all(&snap.store_path)?;
    let store = SledStore::open(&snap.store_path)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let first = u128::from(p.kind == Pool6Kind::Na);
    if p.capacity().saturating_sub(first) < u128::from(count) {
        bail!("pool6 {:?} has fewer than {count} slots", p.name);
    }
    let shift = 128 - u32::from(p.delegated_length);
    let base = u128::from(p.prefix.network());
    let kind = match p.kind {
        Pool6Kind::Na => Lease6Kind::Na,
        Pool6Kind::Pd => Lease6Kind::Pd,
    };
    let link = p
        .links
        .first()
        .copied()
        .unwrap_or(std::net::Ipv6Addr::UNSPECIFIED);
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..count {
        let off = (first + u128::from(i))
            .checked_shl(shift)
            .ok_or_else(|| anyhow!("pool6 {:?}: slot {i} out of range", p.name))?;
        let mac = [
            0x02,
            0x00,
            (i >> 24) as u8,
            (i >> 16) as u8,
            (i >> 8) as u8,
            i as u8,
        ];
        // DUID-LL (RFC 8415 §11.4): type 3, hardware type 1 (Ethernet), MAC.
        let mut duid = vec![0x00, 0x03, 0x00, 0x01];
        duid.extend_from_slice(&mac);
        batch.push(Mutation::PutLease6(Lease6 {
            kind,
            address: std::net::Ipv6Addr::from(base | off),
            prefix_len: p.delegated_length,
            duid,
            iaid: 1,
            state: LeaseState::Active,
            commit_time: now,
            preferred: p.preferred_lifetime.max(86_400),
            valid: p.valid_lifetime.max(86_400),
            link,
            pool: p.name.clone(),
            mac: Some(mac.to_vec()),
            modem_mac: None,
            fqdn: None,
        }));
        if batch.len() == 10_000 {
            store.apply(&batch)?;
            batch.clear();
        }
    }
    store.apply(&batch)?;
    store.sync()?;
    println!(
        "seeded {count} DHCPv6 bindings into {} (pool6 {})",
        snap.store_path.display(),
        p.name
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
    let leases6 = store.load_leases6()?;
    let active6 = leases6
        .iter()
        .filter(|l| l.state == LeaseState::Active)
        .count();
    println!("leases6: {} ({} active)", leases6.len(), active6);
    println!("accounts: {}", store.load_accounts()?.len());
    Ok(())
}
