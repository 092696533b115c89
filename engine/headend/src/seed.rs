//! `headend store seed|stats`: fill a store with synthetic leases for
//! benchmarks (the DHCPv4 and DHCPv6 targets are measured with 1,000,000
//! bindings present) and report what a store holds.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use headend_model::snapshot::{Pool, Snapshot};
use headend_model::v6::{Pool6, Pool6Kind};
use headend_store::{
    ClientKey, Lease4, Lease6, Lease6Kind, LeaseProtocol, LeaseState, Mutation, SledStore, Store,
};
use headend_wire::dhcpv6::Duid;

/// Writes `count` active bindings from `pool` (a `[[pool]]` or a
/// `[[pool6]]`) into the configured store.
pub fn seed(config: &Path, pool: &str, count: u32, relay_agents: u32) -> Result<()> {
    let snap = Snapshot::load(config, 1).map_err(|e| anyhow!("{e}"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let pool6 = snap
        .dhcpv6
        .as_ref()
        .and_then(|d| d.pools.iter().find(|p| p.name == pool));
    let (what, bindings): (&str, Box<dyn Iterator<Item = Result<Mutation>>>) = match pool6 {
        Some(p6) => ("DHCPv6 bindings", Box::new(leases6(p6, count, now)?)),
        None => {
            let p = snap
                .pool(pool)
                .ok_or_else(|| anyhow!("no pool or pool6 {pool:?} in the configuration"))?;
            ("leases", Box::new(leases4(p, count, now, relay_agents)))
        }
    };
    std::fs::create_dir_all(&snap.store_path)?;
    let store = SledStore::open(&snap.store_path)?;
    // Written in batches as they are made: a large seed never sits in memory whole.
    let mut batch = Vec::with_capacity(10_000);
    for m in bindings {
        batch.push(m?);
        if batch.len() == batch.capacity() {
            store.apply(&batch)?;
            batch.clear();
        }
    }
    store.apply(&batch)?;
    store.sync()?;
    println!(
        "seeded {count} {what} into {} (pool {pool})",
        snap.store_path.display()
    );
    Ok(())
}

/// The MAC of synthetic client `i`: `02:00:` + `i` big-endian.
fn mac(i: u32) -> [u8; 6] {
    let b = i.to_be_bytes();
    [0x02, 0x00, b[0], b[1], b[2], b[3]]
}

/// `count` DHCPv4 leases on the first addresses of `p`'s ranges.
/// Option 82 of seeded lease `i` behind one of `agents` relay agents:
/// circuit id `seed/<i>` (82.1), the modem 00:10:95:xx:xx:xx of every 4
/// leases as remote id (82.2), relay id `relay-<i mod agents>` (82.12,
/// RFC 6925).
pub fn seed_relay_info(i: u32, agents: u32) -> Vec<u8> {
    let circuit = format!("seed/{i}");
    let modem = (i / 4).to_be_bytes();
    let relay = format!("relay-{}", i % agents.max(1));
    let mut v = Vec::with_capacity(32);
    for (code, data) in [
        (1u8, circuit.as_bytes()),
        (2, &[0x00, 0x10, 0x95, modem[1], modem[2], modem[3]][..]),
        (12, relay.as_bytes()),
    ] {
        v.push(code);
        v.push(data.len() as u8);
        v.extend_from_slice(data);
    }
    v
}

fn leases4(
    p: &Pool,
    count: u32,
    now: u64,
    relay_agents: u32,
) -> impl Iterator<Item = Result<Mutation>> + '_ {
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
    (0..count).map(move |i| {
        let Some(ip) = addrs.next() else {
            bail!("pool {:?} has fewer than {count} addresses", p.name);
        };
        let mac = mac(i);
        Ok(Mutation::PutLease4(Lease4 {
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
            relay_info: (relay_agents > 0).then(|| seed_relay_info(i, relay_agents)),
        }))
    })
}

/// `count` DHCPv6 bindings of `p`: the slots after the Subnet-Router
/// anycast address (addresses) or the first prefixes, each bound to
/// DUID-LL `02:00:…` with IAID 1 and the pool's first link.
fn leases6(p: &Pool6, count: u32, now: u64) -> Result<impl Iterator<Item = Result<Mutation>> + '_> {
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
    Ok((0..count).map(move |i| {
        let off = (first + u128::from(i))
            .checked_shl(shift)
            .ok_or_else(|| anyhow!("pool6 {:?}: slot {i} out of range", p.name))?;
        let mac = mac(i);
        let duid = Duid::Ll {
            hardware_type: 1, // Ethernet
            link_layer_address: &mac,
        }
        .to_bytes();
        Ok(Mutation::PutLease6(Lease6 {
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
            relay: None,
        }))
    }))
}

/// Prints what the configured store holds.
pub fn stats(config: &Path) -> Result<()> {
    let snap = Snapshot::load(config, 1).map_err(|e| anyhow!("{e}"))?;
    if let Some(url) = snap.database.as_deref() {
        let store = headend_store_pg::PgStore::connect(url, 1).map_err(|e| anyhow!("{e}"))?;
        for (name, n) in store.counts()? {
            println!("{name}: {n}");
        }
        return Ok(());
    }
    let store = SledStore::open(&snap.store_path)?;
    let counts = |name: &str, states: &mut dyn ExactSizeIterator<Item = LeaseState>| {
        let total = states.len();
        let active = states.filter(|s| *s == LeaseState::Active).count();
        println!("{name}: {total} ({active} active)");
    };
    counts("leases", &mut store.load_leases4()?.iter().map(|l| l.state));
    counts(
        "leases6",
        &mut store.load_leases6()?.iter().map(|l| l.state),
    );
    println!("accounts: {}", store.load_accounts()?.len());
    Ok(())
}
