//! The embedded [`Store`]: one sled database in a directory, with the lease
//! table and its two indexes (by client, by relay; seed 004 section 5.2), the
//! accounts (section 2), the fixed bindings keyed by client and relay
//! (section 5.3) and server metadata.
//!
//! Layout (one sled tree each):
//!
//! | tree                | key                                        | value  |
//! |---------------------|--------------------------------------------|--------|
//! | `leases4`           | IPv4 address (4 bytes)                     | record |
//! | `leases4_by_client` | client-key length (1) + client key + IPv4  | empty  |
//! | `leases4_by_relay`  | relay IPv4 (4) + IPv4                      | empty  |
//! | `accounts`          | account id (UTF-8)                         | record |
//! | `fixed4`            | client-key length (1) + client key + relay | record |
//! | `meta`              | key (UTF-8)                                | raw    |
//! | `leases6`           | IPv6 address (16) + prefix length (1)      | record |
//! | `leases6_by_duid`   | DUID length (1) + DUID + IAID (4) + lease6 key | empty |
//! | `timeline`          | device MAC (UTF-8)                         | record |
//!
//! A record is one format-version byte (1) followed by the postcard encoding
//! of the Rust type; any other version is refused as [`StoreError::Corrupt`].
//! Addresses are big-endian, so every scan returns address order.
//!
//! Every [`Store::apply`] is one sled transaction across all nine trees, so a
//! batch and the index changes it implies are recovered all or nothing.
//!
//! Damage: one undecodable record must not take the service down (issue 21,
//! "a corrupted store means no service"). The `load_*` scans skip such a
//! record, log it with its tree and key and count it
//! ([`Store::skipped_records`]), so the server starts degraded and loud;
//! [`SledStore::check`] lists every bad record and [`SledStore::repair`]
//! moves them to the `quarantine` tree (kept, not deleted, for an operator
//! or a later version to recover), removing index entries that name no
//! record.
//!
//! Durability: sled's own periodic flusher is switched off; data reaches the
//! disk only through [`Store::sync`] (`Db::flush`: write the log, then
//! `fsync`). What a crash can lose:
//! * **SIGKILL / process crash**: nothing that `sync` returned `Ok` for, so
//!   nothing the group committer acknowledged. Batches applied but not yet
//!   synced may or may not survive, each one whole or not at all.
//! * **Power loss / kernel crash**: the same, provided the disk honours
//!   `fsync` (no volatile write cache that lies about flushes).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sled::transaction::{
    ConflictableTransactionResult, TransactionError, Transactional, TransactionalTree,
};
use sled::{IVec, Tree};

use crate::codec;
use crate::{
    Account, ClientKey, FixedBinding4, Lease4, Lease6, Lease6Key, Mutation, Store, StoreError,
};

const T_LEASES4: &str = "leases4";
const T_BY_CLIENT: &str = "leases4_by_client";
const T_BY_RELAY: &str = "leases4_by_relay";
const T_ACCOUNTS: &str = "accounts";
const T_FIXED4: &str = "fixed4";
const T_META: &str = "meta";
const T_LEASES6: &str = "leases6";
const T_BY_DUID: &str = "leases6_by_duid";
const T_TIMELINE: &str = "timeline";
const T_RECORDS: &str = "records";
const T_QUARANTINE: &str = "quarantine";

const EMPTY: &[u8] = &[];

/// Tuning of the sled database.
#[derive(Debug, Clone)]
pub struct SledOptions {
    /// Bytes of page cache sled may keep in memory (sled default: 1 GiB).
    pub cache_capacity: u64,
}

impl Default for SledOptions {
    fn default() -> Self {
        // 1M leases with both indexes plus 1M accounts took 423 MB on disk
        // (million_leases_load_time); a cache of that order keeps start-up
        // scans and lookups mostly in memory.
        SledOptions {
            cache_capacity: 512 << 20,
        }
    }
}

/// A [`Store`] backed by a sled database directory.
pub struct SledStore {
    db: sled::Db,
    leases4: Tree,
    by_client: Tree,
    by_relay: Tree,
    accounts: Tree,
    fixed4: Tree,
    meta: Tree,
    leases6: Tree,
    by_duid: Tree,
    timeline: Tree,
    records: Tree,
    path: PathBuf,
    /// Undecodable records the `load_*` scans skipped.
    skipped: AtomicU64,
}

/// A record of the store that cannot be read back, or an index entry that
/// names no record: where it is and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// The sled tree.
    pub tree: &'static str,
    /// Its key.
    pub key: Vec<u8>,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for BadRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} key ", self.tree)?;
        for b in &self.key {
            write!(f, "{b:02x}")?;
        }
        write!(f, ": {}", self.problem)
    }
}

fn hex_key(k: &[u8]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn sled_err(e: sled::Error) -> StoreError {
    match e {
        sled::Error::Corruption { .. } => StoreError::Corrupt {
            tree: "sled",
            detail: e.to_string(),
        },
        other => StoreError::Backend(other.to_string()),
    }
}

fn open_err(path: &Path, e: sled::Error) -> StoreError {
    match &e {
        // sled reports a failed `flock` as a plain I/O error with this text.
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            StoreError::Locked(path.display().to_string())
        }
        _ => sled_err(e),
    }
}

/// One mutation with its keys and record already encoded, so that the
/// transaction closure (which sled may run several times) does no fallible
/// or expensive work.
enum Op {
    PutLease {
        ip: [u8; 4],
        rec: Vec<u8>,
        client_key: Vec<u8>,
        relay_key: [u8; 8],
    },
    DeleteLease {
        ip: [u8; 4],
    },
    PutLease6 {
        key: [u8; 17],
        rec: Vec<u8>,
        duid_key: Vec<u8>,
    },
    DeleteLease6 {
        key: [u8; 17],
    },
    Put {
        table: Table,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        table: Table,
        key: Vec<u8>,
    },
}

#[derive(Clone, Copy)]
enum Table {
    Accounts,
    Fixed4,
    Meta,
    Timeline,
    Records,
}

/// The sled key of a management record: the table's tag, then the key.
fn record_key(table: crate::RecordTable, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(table.tag());
    k.extend_from_slice(key.as_bytes());
    k
}

fn prepare(batch: &[Mutation]) -> Result<Vec<Op>, StoreError> {
    codec::validate(batch)?;
    batch
        .iter()
        .map(|m| {
            Ok(match m {
                Mutation::PutLease4(l) => Op::PutLease {
                    ip: l.ip.octets(),
                    rec: codec::encode_lease(T_LEASES4, l)?,
                    client_key: codec::client_index_key(&l.client, l.ip)?,
                    relay_key: codec::relay_index_key(l.relay, l.ip),
                },
                Mutation::DeleteLease4(ip) => Op::DeleteLease { ip: ip.octets() },
                Mutation::PutLease6(l) => Op::PutLease6 {
                    key: codec::lease6_key(l.key()),
                    rec: codec::encode_lease(T_LEASES6, l)?,
                    duid_key: codec::duid_index_key(&l.duid, l.iaid, l.key())?,
                },
                Mutation::DeleteLease6(k) => Op::DeleteLease6 {
                    key: codec::lease6_key(*k),
                },
                Mutation::PutAccount(a) => Op::Put {
                    table: Table::Accounts,
                    key: a.id.as_bytes().to_vec(),
                    value: codec::encode(T_ACCOUNTS, a)?,
                },
                Mutation::DeleteAccount(id) => Op::Delete {
                    table: Table::Accounts,
                    key: id.as_bytes().to_vec(),
                },
                Mutation::PutFixed4(f) => Op::Put {
                    table: Table::Fixed4,
                    key: codec::fixed_key(&f.client, f.relay)?,
                    value: codec::encode(T_FIXED4, f)?,
                },
                Mutation::DeleteFixed4 { client, relay } => Op::Delete {
                    table: Table::Fixed4,
                    key: codec::fixed_key(client, *relay)?,
                },
                Mutation::PutMeta { key, value } => Op::Put {
                    table: Table::Meta,
                    key: key.as_bytes().to_vec(),
                    value: value.clone(),
                },
                Mutation::PutRecord { table, key, value } => Op::Put {
                    table: Table::Records,
                    key: record_key(*table, key),
                    value: value.clone(),
                },
                Mutation::DeleteRecord { table, key } => Op::Delete {
                    table: Table::Records,
                    key: record_key(*table, key),
                },
                Mutation::PutTimeline(t) => Op::Put {
                    table: Table::Timeline,
                    key: t.device.as_bytes().to_vec(),
                    value: codec::encode(T_TIMELINE, t)?,
                },
            })
        })
        .collect()
}

/// Remove the index entries of the lease record `old`, which is being
/// replaced or deleted.
fn unindex(
    by_client: &TransactionalTree,
    by_relay: &TransactionalTree,
    old: &IVec,
) -> ConflictableTransactionResult<(), StoreError> {
    match decode_lease4(old) {
        Ok(old) => {
            if let Ok(k) = codec::client_index_key(&old.client, old.ip) {
                by_client.remove(k)?;
            }
            by_relay.remove(&codec::relay_index_key(old.relay, old.ip)[..])?;
        }
        Err(e) => {
            // Refusing the write would make the address unusable forever;
            // index entries left behind are filtered out on read.
            tracing::warn!(error = %e, "overwriting an undecodable lease record");
        }
    }
    Ok(())
}

/// Remove the by-DUID index entry of the lease6 record `old`.
fn unindex6(
    by_duid: &TransactionalTree,
    old: &IVec,
) -> ConflictableTransactionResult<(), StoreError> {
    match decode_lease6_record(old) {
        Ok(old) => {
            if let Ok(k) = codec::duid_index_key(&old.duid, old.iaid, old.key()) {
                by_duid.remove(k)?;
            }
        }
        Err(e) => tracing::warn!(error = %e, "overwriting an undecodable lease6 record"),
    }
    Ok(())
}

/// Up to `limit` records of `tree` with keys above `after` (from the first
/// when `None`), in key order: one page of a scan.
fn page<T>(
    tree: &Tree,
    after: Option<Vec<u8>>,
    limit: usize,
    decode: impl Fn(&[u8], &[u8]) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let lo = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
    tree.range::<Vec<u8>, _>((lo, std::ops::Bound::Unbounded))
        .take(limit)
        .map(|item| {
            let (k, v) = item.map_err(sled_err)?;
            decode(&k, &v)
        })
        .collect()
}

fn decode_lease6(key: &[u8], value: &[u8]) -> Result<Lease6, StoreError> {
    let lease = decode_lease6_record(value)?;
    if key.len() != 17 || codec::lease6_suffix(key) != Some(lease.key()) {
        return Err(StoreError::Corrupt {
            tree: T_LEASES6,
            detail: format!(
                "record for {}/{} stored under another key",
                lease.address, lease.prefix_len
            ),
        });
    }
    Ok(lease)
}

/// A v4 lease record of either format version.
fn decode_lease4(value: &[u8]) -> Result<Lease4, StoreError> {
    codec::decode_lease::<Lease4, codec::legacy::Lease4V1>(T_LEASES4, value)
}

/// A v6 lease record of either format version.
fn decode_lease6_record(value: &[u8]) -> Result<Lease6, StoreError> {
    codec::decode_lease::<Lease6, codec::legacy::Lease6V1>(T_LEASES6, value)
}

fn key_ip(tree: &'static str, key: &[u8]) -> Result<Ipv4Addr, StoreError> {
    let octets: [u8; 4] = key.try_into().map_err(|_| StoreError::Corrupt {
        tree,
        detail: format!("key of {} bytes, expected an IPv4 address", key.len()),
    })?;
    Ok(Ipv4Addr::from(octets))
}

fn decode_lease(ip: Ipv4Addr, value: &[u8]) -> Result<Lease4, StoreError> {
    let lease = decode_lease4(value)?;
    if lease.ip != ip {
        return Err(StoreError::Corrupt {
            tree: T_LEASES4,
            detail: format!("record for {} stored under key {ip}", lease.ip),
        });
    }
    Ok(lease)
}

/// Checks one record (key, value) of a record tree.
type RecordCheck = fn(&[u8], &[u8]) -> Result<(), StoreError>;

fn decode_account(key: &[u8], value: &[u8]) -> Result<Account, StoreError> {
    let a: Account = codec::decode(T_ACCOUNTS, value)?;
    if a.id.as_bytes() != key {
        return Err(StoreError::Corrupt {
            tree: T_ACCOUNTS,
            detail: format!("account {:?} stored under another key", a.id),
        });
    }
    Ok(a)
}

fn decode_fixed4(key: &[u8], value: &[u8]) -> Result<FixedBinding4, StoreError> {
    let f: FixedBinding4 = codec::decode(T_FIXED4, value)?;
    if codec::fixed_key(&f.client, f.relay).ok().as_deref() != Some(key) {
        return Err(StoreError::Corrupt {
            tree: T_FIXED4,
            detail: format!(
                "binding of {} on {} stored under another key",
                f.client.to_hex(),
                f.relay
            ),
        });
    }
    Ok(f)
}

impl SledStore {
    /// A tree of the same database for state other components keep beside the
    /// leases (plugin key/value storage); durable with the next [`Store::sync`].
    pub fn extra_tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        self.db.open_tree(format!("x-{name}")).map_err(sled_err)
    }

    /// Open (or create) the database in directory `path` with default options.
    pub fn open(path: &Path) -> Result<SledStore, StoreError> {
        Self::open_with(path, &SledOptions::default())
    }

    /// Open (or create) the database in directory `path`.
    pub fn open_with(path: &Path, opts: &SledOptions) -> Result<SledStore, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(opts.cache_capacity)
            // Durability comes only from our explicit `sync`; a background
            // flusher would add fsyncs competing with the group committer.
            .flush_every_ms(None)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|e| open_err(path, e))?;
        let tree = |name: &str| db.open_tree(name).map_err(sled_err);
        Ok(SledStore {
            leases4: tree(T_LEASES4)?,
            by_client: tree(T_BY_CLIENT)?,
            by_relay: tree(T_BY_RELAY)?,
            accounts: tree(T_ACCOUNTS)?,
            fixed4: tree(T_FIXED4)?,
            meta: tree(T_META)?,
            leases6: tree(T_LEASES6)?,
            by_duid: tree(T_BY_DUID)?,
            timeline: tree(T_TIMELINE)?,
            records: tree(T_RECORDS)?,
            path: path.to_path_buf(),
            skipped: AtomicU64::new(0),
            db,
        })
    }

    /// Every decodable record of `tree`; an undecodable one is logged,
    /// counted and skipped. An error of the scan itself (sled's own
    /// corruption) ends that tree's scan, counted and logged likewise: what
    /// was read is still served.
    fn load_tolerant<T>(
        &self,
        tree: &Tree,
        name: &'static str,
        decode: impl Fn(&[u8], &[u8]) -> Result<T, StoreError>,
    ) -> Vec<T> {
        let mut out = Vec::new();
        for item in tree.iter() {
            match item {
                Ok((k, v)) => match decode(&k, &v) {
                    Ok(t) => out.push(t),
                    Err(e) => {
                        self.skipped.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(tree = name, key = %hex_key(&k), error = %e, "skipping an undecodable store record (see `headend store check`)");
                    }
                },
                Err(e) => {
                    self.skipped.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(tree = name, error = %e, read = out.len(), "store scan failed; serving what was read (see `headend store check`)");
                    break;
                }
            }
        }
        out
    }

    /// The record trees with their decoders, for [`SledStore::check`].
    fn record_trees(&self) -> [(&Tree, &'static str, RecordCheck); 5] {
        [
            (&self.leases4, T_LEASES4, |k, v| {
                decode_lease(key_ip(T_LEASES4, k)?, v).map(drop)
            }),
            (&self.accounts, T_ACCOUNTS, |k, v| {
                decode_account(k, v).map(drop)
            }),
            (&self.fixed4, T_FIXED4, |k, v| decode_fixed4(k, v).map(drop)),
            (&self.leases6, T_LEASES6, |k, v| {
                decode_lease6(k, v).map(drop)
            }),
            (&self.timeline, T_TIMELINE, |_, v| {
                codec::decode::<crate::DeviceTimeline>(T_TIMELINE, v).map(drop)
            }),
        ]
    }

    /// Every record that cannot be read back and every index entry that
    /// names no record (`headend store check`). Read-only.
    pub fn check(&self) -> Result<Vec<BadRecord>, StoreError> {
        let mut bad = Vec::new();
        for (tree, name, decode) in self.record_trees() {
            for item in tree.iter() {
                let (k, v) = item.map_err(sled_err)?;
                if let Err(e) = decode(&k, &v) {
                    bad.push(BadRecord {
                        tree: name,
                        key: k.to_vec(),
                        problem: e.to_string(),
                    });
                }
            }
        }
        // Index entries: well formed, and naming a readable record of the
        // client / relay / DUID they are filed under.
        for (tree, name) in [(&self.by_client, T_BY_CLIENT), (&self.by_relay, T_BY_RELAY)] {
            for item in tree.iter() {
                let (k, _) = item.map_err(sled_err)?;
                let ok = codec::ip_suffix(&k).is_some_and(|ip| {
                    self.lease4(ip).ok().flatten().is_some_and(|l| {
                        if name == T_BY_CLIENT {
                            codec::client_prefix(&l.client).is_ok_and(|p| k.starts_with(&p))
                        } else {
                            k.starts_with(&l.relay.octets())
                        }
                    })
                });
                if !ok {
                    bad.push(BadRecord {
                        tree: name,
                        key: k.to_vec(),
                        problem: "index entry names no lease of its key".into(),
                    });
                }
            }
        }
        for item in self.by_duid.iter() {
            let (k, _) = item.map_err(sled_err)?;
            let ok = codec::lease6_suffix(&k).is_some_and(|key| {
                self.lease6(key).ok().flatten().is_some_and(|l| {
                    codec::duid_index_key(&l.duid, l.iaid, l.key()).is_ok_and(|ik| ik[..] == k[..])
                })
            });
            if !ok {
                bad.push(BadRecord {
                    tree: T_BY_DUID,
                    key: k.to_vec(),
                    problem: "index entry names no lease of its key".into(),
                });
            }
        }
        Ok(bad)
    }

    /// Moves every bad record [`SledStore::check`] finds into the
    /// `quarantine` tree (key: tree name, a zero byte, the original key;
    /// value: the original bytes) and drops index entries that name no
    /// record, then syncs (`headend store repair`). Returns what it moved.
    pub fn repair(&self) -> Result<Vec<BadRecord>, StoreError> {
        let bad = self.check()?;
        let quarantine = self.db.open_tree(T_QUARANTINE).map_err(sled_err)?;
        for b in &bad {
            let tree = self.db.open_tree(b.tree).map_err(sled_err)?;
            if let Some(v) = tree.get(&b.key).map_err(sled_err)? {
                if !matches!(b.tree, T_BY_CLIENT | T_BY_RELAY | T_BY_DUID) {
                    let mut qk = b.tree.as_bytes().to_vec();
                    qk.push(0);
                    qk.extend_from_slice(&b.key);
                    quarantine.insert(qk, v).map_err(sled_err)?;
                }
            }
            tree.remove(&b.key).map_err(sled_err)?;
        }
        self.db.flush().map_err(sled_err)?;
        Ok(bad)
    }

    /// Records moved aside by [`SledStore::repair`].
    pub fn quarantined(&self) -> Result<usize, StoreError> {
        Ok(self.db.open_tree(T_QUARANTINE).map_err(sled_err)?.len())
    }

    /// Every record of the store, as the mutations that recreate it
    /// (`headend store export`, in this order: metadata, accounts, fixed
    /// bindings, leases, DHCPv6 leases, timelines). Undecodable records are
    /// skipped and counted as the `load_*` scans do.
    pub fn export(&self) -> Result<Vec<Mutation>, StoreError> {
        let mut out = Vec::new();
        for item in self.meta.iter() {
            let (k, v) = item.map_err(sled_err)?;
            out.push(Mutation::PutMeta {
                key: String::from_utf8_lossy(&k).into_owned(),
                value: v.to_vec(),
            });
        }
        for item in self.records.iter() {
            let (k, v) = item.map_err(sled_err)?;
            let Some(table) = k.first().copied().and_then(crate::RecordTable::of_tag) else {
                continue;
            };
            out.push(Mutation::PutRecord {
                table,
                key: String::from_utf8_lossy(&k[1..]).into_owned(),
                value: v.to_vec(),
            });
        }
        out.extend(self.load_accounts()?.into_iter().map(Mutation::PutAccount));
        out.extend(self.load_fixed4()?.into_iter().map(Mutation::PutFixed4));
        out.extend(self.load_leases4()?.into_iter().map(Mutation::PutLease4));
        out.extend(self.load_leases6()?.into_iter().map(Mutation::PutLease6));
        out.extend(
            self.load_tolerant(&self.timeline, T_TIMELINE, |_, v| {
                codec::decode::<crate::DeviceTimeline>(T_TIMELINE, v)
            })
            .into_iter()
            .map(Mutation::PutTimeline),
        );
        Ok(out)
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db.size_on_disk().map_err(sled_err)
    }

    /// Leases whose addresses are listed (as key suffixes) by an index scan,
    /// keeping only those the predicate accepts: an entry can only be stale
    /// after an undecodable record was overwritten (see `unindex`).
    fn leases_from_index(
        &self,
        scan: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
        index: &'static str,
        belongs: impl Fn(&Lease4) -> bool,
    ) -> Result<Vec<Lease4>, StoreError> {
        let mut out = Vec::new();
        for item in scan {
            let (k, _) = item.map_err(sled_err)?;
            let ip = codec::ip_suffix(&k).ok_or_else(|| StoreError::Corrupt {
                tree: index,
                detail: format!("index key of {} bytes", k.len()),
            })?;
            match self.lease4(ip)? {
                Some(l) if belongs(&l) => out.push(l),
                _ => tracing::warn!(%ip, index, "skipping stale index entry"),
            }
        }
        Ok(out)
    }
}

impl Store for SledStore {
    fn load_leases4(&self) -> Result<Vec<Lease4>, StoreError> {
        Ok(self.load_tolerant(&self.leases4, T_LEASES4, |k, v| {
            decode_lease(key_ip(T_LEASES4, k)?, v)
        }))
    }

    fn leases4_by_client(&self, client: &ClientKey) -> Result<Vec<Lease4>, StoreError> {
        // A key too long to be stored has no leases.
        let Ok(prefix) = codec::client_prefix(client) else {
            return Ok(Vec::new());
        };
        self.leases_from_index(self.by_client.scan_prefix(prefix), T_BY_CLIENT, |l| {
            l.client == *client
        })
    }

    fn leases4_by_relay(&self, relay: Ipv4Addr) -> Result<Vec<Lease4>, StoreError> {
        self.leases_from_index(self.by_relay.scan_prefix(relay.octets()), T_BY_RELAY, |l| {
            l.relay == relay
        })
    }

    fn leases4_by_relay_page(
        &self,
        relay: Ipv4Addr,
        after: Option<Ipv4Addr>,
        limit: usize,
    ) -> Result<Vec<Lease4>, StoreError> {
        let lo = match after {
            Some(a) => std::ops::Bound::Excluded(codec::relay_index_key(relay, a).to_vec()),
            None => std::ops::Bound::Included(relay.octets().to_vec()),
        };
        let hi = match u32::from(relay).checked_add(1) {
            Some(n) => std::ops::Bound::Excluded(Ipv4Addr::from(n).octets().to_vec()),
            None => std::ops::Bound::Unbounded,
        };
        let scan = self.by_relay.range::<Vec<u8>, _>((lo, hi));
        let mut out = self.leases_from_index(scan.take(limit), T_BY_RELAY, |l| l.relay == relay)?;
        out.truncate(limit);
        Ok(out)
    }

    fn lease4(&self, ip: Ipv4Addr) -> Result<Option<Lease4>, StoreError> {
        self.leases4
            .get(ip.octets())
            .map_err(sled_err)?
            .map(|v| decode_lease(ip, &v))
            .transpose()
    }

    fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        self.accounts
            .get(id.as_bytes())
            .map_err(sled_err)?
            .map(|v| codec::decode(T_ACCOUNTS, &v))
            .transpose()
    }

    fn scan_accounts(&self, after: Option<&str>, limit: usize) -> Result<Vec<Account>, StoreError> {
        page(
            &self.accounts,
            after.map(|a| a.as_bytes().to_vec()),
            limit,
            decode_account,
        )
    }

    fn load_accounts(&self) -> Result<Vec<Account>, StoreError> {
        Ok(self.load_tolerant(&self.accounts, T_ACCOUNTS, decode_account))
    }

    fn load_fixed4(&self) -> Result<Vec<FixedBinding4>, StoreError> {
        Ok(self.load_tolerant(&self.fixed4, T_FIXED4, decode_fixed4))
    }

    fn scan_leases4(
        &self,
        after: Option<Ipv4Addr>,
        limit: usize,
    ) -> Result<Vec<Lease4>, StoreError> {
        page(
            &self.leases4,
            after.map(|a| a.octets().to_vec()),
            limit,
            |k, v| decode_lease(key_ip(T_LEASES4, k)?, v),
        )
    }

    fn scan_leases6(
        &self,
        after: Option<Lease6Key>,
        limit: usize,
    ) -> Result<Vec<Lease6>, StoreError> {
        page(
            &self.leases6,
            after.map(|a| codec::lease6_key(a).to_vec()),
            limit,
            decode_lease6,
        )
    }

    fn load_leases6(&self) -> Result<Vec<Lease6>, StoreError> {
        Ok(self.load_tolerant(&self.leases6, T_LEASES6, decode_lease6))
    }

    fn skipped_records(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    fn leases6_by_duid(&self, duid: &[u8]) -> Result<Vec<Lease6>, StoreError> {
        let Ok(prefix) = codec::duid_prefix(duid) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for item in self.by_duid.scan_prefix(prefix) {
            let (k, _) = item.map_err(sled_err)?;
            let key = codec::lease6_suffix(&k).ok_or_else(|| StoreError::Corrupt {
                tree: T_BY_DUID,
                detail: format!("index key of {} bytes", k.len()),
            })?;
            match self.lease6(key)? {
                Some(l) if l.duid == duid => out.push(l),
                _ => tracing::warn!(address = %key.address, "skipping stale leases6 index entry"),
            }
        }
        Ok(out)
    }

    fn lease6(&self, key: Lease6Key) -> Result<Option<Lease6>, StoreError> {
        let k = codec::lease6_key(key);
        self.leases6
            .get(k)
            .map_err(sled_err)?
            .map(|v| decode_lease6(&k, &v))
            .transpose()
    }

    fn timeline(&self, device: &str) -> Result<Option<crate::DeviceTimeline>, StoreError> {
        self.timeline
            .get(device.as_bytes())
            .map_err(sled_err)?
            .map(|v| codec::decode(T_TIMELINE, &v))
            .transpose()
    }

    fn record(&self, table: crate::RecordTable, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .records
            .get(record_key(table, key))
            .map_err(sled_err)?
            .map(|v| v.to_vec()))
    }

    fn records(
        &self,
        table: crate::RecordTable,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let lo = vec![table.tag()];
        let hi = match before {
            Some(b) => record_key(table, b),
            None => vec![table.tag() + 1],
        };
        let mut out = Vec::new();
        for item in self.records.range(lo..hi).rev().take(limit) {
            let (k, v) = item.map_err(sled_err)?;
            out.push((String::from_utf8_lossy(&k[1..]).into_owned(), v.to_vec()));
        }
        Ok(out)
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .meta
            .get(key.as_bytes())
            .map_err(sled_err)?
            .map(|v| v.to_vec()))
    }

    fn apply(&self, batch: &[Mutation]) -> Result<(), StoreError> {
        let ops = prepare(batch)?;
        // Timelines are written apart from leases (a batch of device
        // timelines every second), one insert each: they need no atomicity
        // together, and a plain insert takes only the shared side of sled's
        // concurrency lock, where a sled batch or transaction takes the
        // exclusive side — so a lease commit (a transaction) waits for at
        // most one timeline insert, never for a whole batch of them.
        if !ops.is_empty()
            && ops.iter().all(|op| {
                matches!(
                    op,
                    Op::Put {
                        table: Table::Timeline,
                        ..
                    }
                )
            })
        {
            for op in ops {
                if let Op::Put { key, value, .. } = op {
                    self.timeline.insert(key, value).map_err(sled_err)?;
                }
            }
            return Ok(());
        }
        let trees = (
            &self.leases4,
            &self.by_client,
            &self.by_relay,
            &self.accounts,
            &self.fixed4,
            &self.meta,
            &self.leases6,
            &self.by_duid,
            &self.timeline,
            &self.records,
        );
        let res = trees.transaction(
            |(
                leases4,
                by_client,
                by_relay,
                accounts,
                fixed4,
                meta,
                leases6,
                by_duid,
                timeline,
                records,
            )|
             -> ConflictableTransactionResult<(), StoreError> {
                for op in &ops {
                    match op {
                        Op::PutLease {
                            ip,
                            rec,
                            client_key,
                            relay_key,
                        } => {
                            if let Some(old) = leases4.insert(&ip[..], rec.as_slice())? {
                                unindex(by_client, by_relay, &old)?;
                            }
                            by_client.insert(client_key.as_slice(), EMPTY)?;
                            by_relay.insert(&relay_key[..], EMPTY)?;
                        }
                        Op::DeleteLease { ip } => {
                            if let Some(old) = leases4.remove(&ip[..])? {
                                unindex(by_client, by_relay, &old)?;
                            }
                        }
                        Op::PutLease6 { key, rec, duid_key } => {
                            if let Some(old) = leases6.insert(&key[..], rec.as_slice())? {
                                unindex6(by_duid, &old)?;
                            }
                            by_duid.insert(duid_key.as_slice(), EMPTY)?;
                        }
                        Op::DeleteLease6 { key } => {
                            if let Some(old) = leases6.remove(&key[..])? {
                                unindex6(by_duid, &old)?;
                            }
                        }
                        Op::Put { table, key, value } => {
                            let t = match table {
                                Table::Accounts => accounts,
                                Table::Fixed4 => fixed4,
                                Table::Meta => meta,
                                Table::Timeline => timeline,
                                Table::Records => records,
                            };
                            t.insert(key.as_slice(), value.as_slice())?;
                        }
                        Op::Delete { table, key } => {
                            let t = match table {
                                Table::Accounts => accounts,
                                Table::Fixed4 => fixed4,
                                Table::Meta => meta,
                                Table::Timeline => timeline,
                                Table::Records => records,
                            };
                            t.remove(key.as_slice())?;
                        }
                    }
                }
                Ok(())
            },
        );
        match res {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(sled_err(e)),
        }
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.db.flush().map(drop).map_err(sled_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::{self, store_suite};
    use std::time::{Duration, Instant};
    use tempfile::TempDir;

    fn make() -> (SledStore, TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path()).unwrap();
        (s, dir)
    }

    store_suite!(make);

    /// Reopen a directory whose previous handle was just dropped: sled's
    /// background writer may hold the file lock for a moment after the drop.
    fn reopen(path: &Path) -> SledStore {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match SledStore::open(path) {
                Err(StoreError::Locked(_)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => return other.unwrap(),
            }
        }
    }

    fn raw_keys(t: &Tree) -> Vec<Vec<u8>> {
        t.iter().keys().map(|k| k.unwrap().to_vec()).collect()
    }

    #[test]
    fn second_open_is_locked() {
        let (s, dir) = make();
        let e = SledStore::open(dir.path()).unwrap_err();
        match e {
            StoreError::Locked(p) => assert_eq!(p, dir.path().display().to_string()),
            other => panic!("expected Locked, got {other}"),
        }
        drop(s);
    }

    #[test]
    fn reopen_after_drop_recovers_everything() {
        let dir = tempfile::tempdir().unwrap();
        let leases: Vec<_> = (0..500)
            .map(|n| suite::lease(n, n % 37, (n % 5) as u8))
            .collect();
        let acc = suite::account("00:10:18:00:00:01", "cm");
        let fx = suite::fixed(3, 1, Ipv4Addr::new(10, 1, 0, 3));
        {
            let s = SledStore::open(dir.path()).unwrap();
            let mut batch: Vec<_> = leases.iter().cloned().map(Mutation::PutLease4).collect();
            batch.push(Mutation::PutAccount(acc.clone()));
            batch.push(Mutation::PutFixed4(fx.clone()));
            batch.push(Mutation::PutMeta {
                key: "duid".into(),
                value: vec![0, 3, 0, 1, 1, 2, 3, 4, 5, 6],
            });
            s.apply(&batch).unwrap();
            // Move one lease so the reopened indexes must reflect the move.
            s.apply(&[Mutation::PutLease4(suite::lease(7, 1000, 9))])
                .unwrap();
            s.apply(&[Mutation::DeleteLease4(leases[8].ip)]).unwrap();
            s.sync().unwrap();
        }
        let s = reopen(dir.path());
        let mut want = leases.clone();
        want[7] = suite::lease(7, 1000, 9);
        want.remove(8);
        assert_eq!(s.load_leases4().unwrap(), want);
        assert_eq!(s.load_accounts().unwrap(), vec![acc]);
        assert_eq!(s.load_fixed4().unwrap(), vec![fx]);
        assert_eq!(
            s.meta("duid").unwrap(),
            Some(vec![0, 3, 0, 1, 1, 2, 3, 4, 5, 6])
        );
        assert_eq!(
            s.leases4_by_client(&suite::client(1000)).unwrap(),
            vec![suite::lease(7, 1000, 9)]
        );
        for c in 0..37 {
            let mine: Vec<_> = want
                .iter()
                .filter(|l| l.client == suite::client(c))
                .cloned()
                .collect();
            assert_eq!(s.leases4_by_client(&suite::client(c)).unwrap(), mine);
        }
        assert_eq!(raw_keys(&s.by_client).len(), want.len());
        assert_eq!(raw_keys(&s.by_relay).len(), want.len());
    }

    #[test]
    fn leases6_and_server_duid_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let leases: Vec<_> = (0..300).map(|n| suite::lease6(n, n % 17, n % 3)).collect();
        {
            let s = SledStore::open(dir.path()).unwrap();
            let mut batch: Vec<_> = leases.iter().cloned().map(Mutation::PutLease6).collect();
            batch.push(Mutation::PutMeta {
                key: crate::META_SERVER_DUID.into(),
                value: vec![0, 1, 0, 1, 9, 9, 9, 9, 0, 0x10, 1, 2, 3, 4],
            });
            s.apply(&batch).unwrap();
            s.apply(&[Mutation::DeleteLease6(leases[0].key())]).unwrap();
            s.sync().unwrap();
        }
        let s = reopen(dir.path());
        assert_eq!(s.load_leases6().unwrap(), leases[1..].to_vec());
        assert_eq!(raw_keys(&s.by_duid).len(), leases.len() - 1);
        assert_eq!(
            s.meta(crate::META_SERVER_DUID).unwrap(),
            Some(vec![0, 1, 0, 1, 9, 9, 9, 9, 0, 0x10, 1, 2, 3, 4])
        );
        let mine = s.leases6_by_duid(&leases[5].duid).unwrap();
        assert_eq!(
            mine.len(),
            leases[1..]
                .iter()
                .filter(|l| l.duid == leases[5].duid)
                .count()
        );
        assert!(mine
            .windows(2)
            .all(|w| (w[0].iaid, w[0].address) < (w[1].iaid, w[1].address)));
    }

    #[test]
    fn index_trees_hold_exactly_one_entry_per_lease() {
        let (s, _dir) = make();
        let a = suite::lease(1, 1, 1);
        s.apply(&[Mutation::PutLease4(a.clone())]).unwrap();
        s.apply(&[Mutation::PutLease4(suite::lease(1, 2, 2))])
            .unwrap();
        s.apply(&[Mutation::PutLease4(suite::lease(2, 2, 2))])
            .unwrap();
        let c2 = codec::client_prefix(&suite::client(2)).unwrap();
        let with_ip = |p: &[u8], ip: u8| {
            let mut k = p.to_vec();
            k.extend_from_slice(&[10, 0, 0, ip]);
            k
        };
        assert_eq!(
            raw_keys(&s.by_client),
            vec![with_ip(&c2, 1), with_ip(&c2, 2)]
        );
        assert_eq!(
            raw_keys(&s.by_relay),
            vec![
                vec![192, 0, 2, 2, 10, 0, 0, 1],
                vec![192, 0, 2, 2, 10, 0, 0, 2]
            ]
        );
        s.apply(&[
            Mutation::DeleteLease4(Ipv4Addr::new(10, 0, 0, 1)),
            Mutation::DeleteLease4(Ipv4Addr::new(10, 0, 0, 2)),
        ])
        .unwrap();
        assert!(raw_keys(&s.by_client).is_empty());
        assert!(raw_keys(&s.by_relay).is_empty());
        assert!(raw_keys(&s.leases4).is_empty());
    }

    #[test]
    fn records_start_with_the_format_version() {
        let (s, _dir) = make();
        let l = suite::lease(3, 1, 1);
        s.apply(&[
            Mutation::PutLease4(l.clone()),
            Mutation::PutAccount(suite::account("a", "cm")),
        ])
        .unwrap();
        let raw = s.leases4.get(l.ip.octets()).unwrap().unwrap();
        // Lease records are version 2 since they carry relay data.
        assert_eq!(raw[0], codec::FORMAT_V2);
        assert_eq!(postcard::from_bytes::<Lease4>(&raw[1..]).unwrap(), l);
        let raw = s.accounts.get(b"a").unwrap().unwrap();
        assert_eq!(raw[0], codec::FORMAT_V1);
    }

    #[test]
    fn unknown_version_byte_is_corrupt() {
        let (s, _dir) = make();
        let l = suite::lease(3, 1, 1);
        s.apply(&[
            Mutation::PutLease4(l.clone()),
            Mutation::PutAccount(suite::account("a", "cm")),
            Mutation::PutFixed4(suite::fixed(1, 1, l.ip)),
        ])
        .unwrap();
        let bump = |t: &Tree| {
            let (k, v) = t.first().unwrap().unwrap();
            let mut v = v.to_vec();
            v[0] = 9;
            t.insert(k, v).unwrap();
        };
        bump(&s.leases4);
        bump(&s.accounts);
        bump(&s.fixed4);
        let is_version_err = |e: StoreError, tree: &str| matches!(&e, StoreError::Corrupt { tree: t, detail } if *t == tree && detail.contains("version 9"));
        // A lookup of the record names the damage; a start-up scan skips it
        // and counts it, so the rest of the store is served.
        assert!(is_version_err(s.lease4(l.ip).unwrap_err(), T_LEASES4));
        assert!(is_version_err(
            s.leases4_by_client(&l.client).unwrap_err(),
            T_LEASES4
        ));
        assert!(is_version_err(s.account("a").unwrap_err(), T_ACCOUNTS));
        assert_eq!(s.load_leases4().unwrap(), vec![]);
        assert_eq!(s.load_accounts().unwrap(), vec![]);
        assert_eq!(s.load_fixed4().unwrap(), vec![]);
        assert_eq!(s.skipped_records(), 3);
        let bad = s.check().unwrap();
        let trees: Vec<&str> = bad.iter().map(|b| b.tree).collect();
        assert!(
            trees.contains(&T_LEASES4) && trees.contains(&T_ACCOUNTS) && trees.contains(&T_FIXED4),
            "{bad:?}"
        );
        assert!(
            bad.iter()
                .all(|b| b.problem.contains("version 9") || b.problem.contains("index")),
            "{bad:?}"
        );
    }

    #[test]
    fn record_under_wrong_key_is_corrupt() {
        let (s, _dir) = make();
        let l = suite::lease(3, 1, 1);
        s.leases4
            .insert([10, 0, 0, 4], codec::encode_lease(T_LEASES4, &l).unwrap())
            .unwrap();
        let corrupt = |r: Result<Option<Lease4>, StoreError>| {
            matches!(
                r,
                Err(StoreError::Corrupt {
                    tree: T_LEASES4,
                    ..
                })
            )
        };
        assert!(corrupt(s.lease4(Ipv4Addr::new(10, 0, 0, 4))));
        assert_eq!(s.load_leases4().unwrap(), vec![]);
        s.leases4.clear().unwrap();
        s.leases4
            .insert([10, 0, 0], codec::encode_lease(T_LEASES4, &l).unwrap())
            .unwrap();
        assert_eq!(s.load_leases4().unwrap(), vec![]);
        s.accounts
            .insert(
                b"b",
                codec::encode(T_ACCOUNTS, &suite::account("a", "cm")).unwrap(),
            )
            .unwrap();
        assert_eq!(s.load_accounts().unwrap(), vec![]);
        assert_eq!(s.skipped_records(), 3);
        let bad = s.check().unwrap();
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(
            bad[0].problem.contains("expected an IPv4 address"),
            "{}",
            bad[0]
        );
        assert!(
            bad[1].problem.contains("stored under another key"),
            "{}",
            bad[1]
        );
    }

    #[test]
    fn a_damaged_store_serves_the_rest_and_repair_quarantines_the_damage() {
        // Issue 21: one undecodable record used to stop `headend run`
        // (the load scans collected into a Result).
        let (s, dir) = make();
        let leases: Vec<Lease4> = (1..=3).map(|n| suite::lease(n, n, 1)).collect();
        let mut batch: Vec<Mutation> = leases.iter().cloned().map(Mutation::PutLease4).collect();
        batch.push(Mutation::PutAccount(suite::account("a", "cm")));
        s.apply(&batch).unwrap();
        let broken = Ipv4Addr::new(10, 9, 9, 9);
        s.leases4
            .insert(broken.octets(), vec![1u8, 0xff, 0xff])
            .unwrap();
        s.accounts.insert(b"z", vec![1u8, 0xfe]).unwrap();
        // An index entry naming no lease.
        s.by_relay
            .insert([10, 0, 0, 1, 10, 8, 8, 8], EMPTY)
            .unwrap();
        assert_eq!(s.load_leases4().unwrap(), leases);
        assert_eq!(s.load_accounts().unwrap().len(), 1);
        assert_eq!(s.skipped_records(), 2);
        let bad = s.check().unwrap();
        let found: Vec<(&str, Vec<u8>)> = bad.iter().map(|b| (b.tree, b.key.clone())).collect();
        assert_eq!(
            found,
            vec![
                (T_LEASES4, broken.octets().to_vec()),
                (T_ACCOUNTS, b"z".to_vec()),
                (T_BY_RELAY, vec![10, 0, 0, 1, 10, 8, 8, 8]),
            ]
        );
        assert_eq!(
            bad[0].to_string().split(':').next(),
            Some("leases4 key 0a090909")
        );
        // Export skips what it cannot read and keeps the rest.
        let exported = s.export().unwrap();
        assert_eq!(
            exported
                .iter()
                .filter(|m| matches!(m, Mutation::PutLease4(_)))
                .count(),
            3
        );
        let moved = s.repair().unwrap();
        assert_eq!(moved, bad);
        assert!(s.check().unwrap().is_empty());
        assert_eq!(
            s.quarantined().unwrap(),
            2,
            "records kept, index entries dropped"
        );
        drop(s);
        let s = reopen(dir.path());
        assert_eq!(s.load_leases4().unwrap(), leases);
        assert_eq!(s.skipped_records(), 0);
    }

    #[test]
    fn corrupt_old_record_can_be_overwritten_and_stale_index_is_skipped() {
        let (s, _dir) = make();
        let old = suite::lease(5, 1, 1);
        s.apply(&[Mutation::PutLease4(old.clone())]).unwrap();
        s.leases4.insert(old.ip.octets(), vec![9u8, 1, 2]).unwrap();
        let new = suite::lease(5, 2, 2);
        s.apply(&[Mutation::PutLease4(new.clone())]).unwrap();
        assert_eq!(s.lease4(old.ip).unwrap(), Some(new.clone()));
        // The old client's index entry could not be removed but is not served.
        assert_eq!(raw_keys(&s.by_client).len(), 2);
        assert_eq!(s.leases4_by_client(&old.client).unwrap(), vec![]);
        assert_eq!(s.leases4_by_relay(old.relay).unwrap(), vec![]);
        assert_eq!(s.leases4_by_client(&new.client).unwrap(), vec![new]);
    }

    #[test]
    fn transaction_is_atomic_across_trees() {
        // A batch that fails validation half-way must leave every tree untouched.
        let (s, _dir) = make();
        let mut bad = suite::fixed(1, 1, Ipv4Addr::new(10, 1, 0, 1));
        bad.client = ClientKey(vec![0; 256]);
        let e = s
            .apply(&[
                Mutation::PutLease4(suite::lease(1, 1, 1)),
                Mutation::PutMeta {
                    key: "k".into(),
                    value: vec![1],
                },
                Mutation::PutFixed4(bad),
            ])
            .unwrap_err();
        assert!(matches!(e, StoreError::Invalid(_)));
        for t in [&s.leases4, &s.by_client, &s.by_relay, &s.meta, &s.fixed4] {
            assert!(raw_keys(t).is_empty());
        }
    }

    /// Write 1,000,000 leases and time `load_leases4` after a reopen:
    /// `cargo test -p headend-store --release -- --ignored --nocapture million`.
    #[test]
    #[ignore]
    fn million_leases_load_time() {
        let dir = tempfile::tempdir().unwrap();
        const N: u32 = 1_000_000;
        {
            let s = SledStore::open(dir.path()).unwrap();
            let t = Instant::now();
            for chunk in 0..N / 10_000 {
                let batch: Vec<_> = (chunk * 10_000..(chunk + 1) * 10_000)
                    .map(|n| Mutation::PutLease4(suite::lease(n, n, (n % 250) as u8)))
                    .collect();
                s.apply(&batch).unwrap();
            }
            let accounts: Vec<_> = (0..N)
                .map(|n| {
                    let mut a = suite::account(&suite::client(n).to_hex(), "cm");
                    a.attributes.clear();
                    Mutation::PutAccount(a)
                })
                .collect();
            for chunk in accounts.chunks(10_000) {
                s.apply(chunk).unwrap();
            }
            s.sync().unwrap();
            eprintln!(
                "wrote {N} leases + {N} accounts in {:?}, {} MB on disk",
                t.elapsed(),
                s.size_on_disk().unwrap() >> 20
            );
        }
        let t = Instant::now();
        let s = reopen(dir.path());
        eprintln!("reopen: {:?}", t.elapsed());
        let t = Instant::now();
        let all = s.load_leases4().unwrap();
        eprintln!("load_leases4: {} in {:?}", all.len(), t.elapsed());
        assert_eq!(all.len(), N as usize);
        let t = Instant::now();
        let accounts = s.load_accounts().unwrap();
        eprintln!("load_accounts: {} in {:?}", accounts.len(), t.elapsed());
        assert_eq!(accounts.len(), N as usize);
        let t = Instant::now();
        let all = s.load_leases4().unwrap();
        eprintln!(
            "load_leases4 again (warm): {} in {:?}",
            all.len(),
            t.elapsed()
        );
    }
}
