//! In-memory [`Store`]: ordered maps behind one `RwLock`, for tests and for
//! `headend explain`, which must not touch the server's database. It follows
//! the same contract as the sled backend (seed 004 sections 5.2, 5.3: leases
//! indexed by client and by relay; fixed bindings keyed by client and relay),
//! returns results in the same order and rejects the same batches; nothing is
//! ever durable, so [`Store::sync`] does nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use parking_lot::RwLock;

use crate::codec;
use crate::{
    Account, ClientKey, FixedBinding4, Lease4, Lease6, Lease6Key, Mutation, Store, StoreError,
};

#[derive(Debug, Default)]
struct Tables {
    leases4: BTreeMap<Ipv4Addr, Lease4>,
    by_client: BTreeMap<ClientKey, BTreeSet<Ipv4Addr>>,
    by_relay: BTreeMap<Ipv4Addr, BTreeSet<Ipv4Addr>>,
    accounts: BTreeMap<String, Account>,
    // Keyed by the sled key bytes so `load_fixed4` returns the same order as sled.
    fixed4: BTreeMap<Vec<u8>, FixedBinding4>,
    meta: BTreeMap<String, Vec<u8>>,
    records: BTreeMap<(crate::RecordTable, String), Vec<u8>>,
    timelines: BTreeMap<String, crate::DeviceTimeline>,
    leases6: BTreeMap<Lease6Key, Lease6>,
    // Keyed like sled's index (DUID prefix, IAID, lease key) for the same order.
    by_duid: BTreeSet<Vec<u8>>,
}

impl Tables {
    fn unindex(&mut self, old: &Lease4) {
        if let Some(set) = self.by_client.get_mut(&old.client) {
            set.remove(&old.ip);
            if set.is_empty() {
                self.by_client.remove(&old.client);
            }
        }
        if let Some(set) = self.by_relay.get_mut(&old.relay) {
            set.remove(&old.ip);
            if set.is_empty() {
                self.by_relay.remove(&old.relay);
            }
        }
    }

    fn put_lease(&mut self, lease: &Lease4) {
        if let Some(old) = self.leases4.insert(lease.ip, lease.clone()) {
            self.unindex(&old);
        }
        self.by_client
            .entry(lease.client.clone())
            .or_default()
            .insert(lease.ip);
        self.by_relay
            .entry(lease.relay)
            .or_default()
            .insert(lease.ip);
    }

    fn delete_lease(&mut self, ip: Ipv4Addr) {
        if let Some(old) = self.leases4.remove(&ip) {
            self.unindex(&old);
        }
    }

    fn put_lease6(&mut self, lease: &Lease6) {
        if let Some(old) = self.leases6.insert(lease.key(), lease.clone()) {
            if let Ok(k) = codec::duid_index_key(&old.duid, old.iaid, old.key()) {
                self.by_duid.remove(&k);
            }
        }
        if let Ok(k) = codec::duid_index_key(&lease.duid, lease.iaid, lease.key()) {
            self.by_duid.insert(k);
        }
    }

    fn delete_lease6(&mut self, key: Lease6Key) {
        if let Some(old) = self.leases6.remove(&key) {
            if let Ok(k) = codec::duid_index_key(&old.duid, old.iaid, old.key()) {
                self.by_duid.remove(&k);
            }
        }
    }

    fn leases_at(&self, ips: Option<&BTreeSet<Ipv4Addr>>) -> Vec<Lease4> {
        ips.into_iter()
            .flatten()
            .filter_map(|ip| self.leases4.get(ip).cloned())
            .collect()
    }
}

/// A [`Store`] that keeps everything in memory and forgets it on drop.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: RwLock<Tables>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of lease records held.
    pub fn lease4_count(&self) -> usize {
        self.tables.read().leases4.len()
    }
}

impl Store for MemoryStore {
    fn load_leases4(&self) -> Result<Vec<Lease4>, StoreError> {
        Ok(self.tables.read().leases4.values().cloned().collect())
    }

    fn leases4_by_client(&self, client: &ClientKey) -> Result<Vec<Lease4>, StoreError> {
        let t = self.tables.read();
        Ok(t.leases_at(t.by_client.get(client)))
    }

    fn leases4_by_relay(&self, relay: Ipv4Addr) -> Result<Vec<Lease4>, StoreError> {
        let t = self.tables.read();
        Ok(t.leases_at(t.by_relay.get(&relay)))
    }

    fn lease4(&self, ip: Ipv4Addr) -> Result<Option<Lease4>, StoreError> {
        Ok(self.tables.read().leases4.get(&ip).cloned())
    }

    fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        Ok(self.tables.read().accounts.get(id).cloned())
    }

    fn scan_accounts(&self, after: Option<&str>, limit: usize) -> Result<Vec<Account>, StoreError> {
        use std::ops::Bound;
        let t = self.tables.read();
        let lo = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_string()));
        Ok(t.accounts
            .range((lo, Bound::Unbounded))
            .take(limit)
            .map(|(_, a)| a.clone())
            .collect())
    }

    fn load_accounts(&self) -> Result<Vec<Account>, StoreError> {
        Ok(self.tables.read().accounts.values().cloned().collect())
    }

    fn load_fixed4(&self) -> Result<Vec<FixedBinding4>, StoreError> {
        Ok(self.tables.read().fixed4.values().cloned().collect())
    }

    fn load_leases6(&self) -> Result<Vec<Lease6>, StoreError> {
        Ok(self.tables.read().leases6.values().cloned().collect())
    }

    fn leases6_by_duid(&self, duid: &[u8]) -> Result<Vec<Lease6>, StoreError> {
        let Ok(prefix) = codec::duid_prefix(duid) else {
            return Ok(Vec::new());
        };
        let t = self.tables.read();
        Ok(t.by_duid
            .range(prefix.clone()..)
            .take_while(|k| k.starts_with(&prefix))
            .filter_map(|k| codec::lease6_suffix(k))
            .filter_map(|k| t.leases6.get(&k).cloned())
            .collect())
    }

    fn lease6(&self, key: Lease6Key) -> Result<Option<Lease6>, StoreError> {
        Ok(self.tables.read().leases6.get(&key).cloned())
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tables.read().meta.get(key).cloned())
    }

    fn timeline(&self, device: &str) -> Result<Option<crate::DeviceTimeline>, StoreError> {
        Ok(self.tables.read().timelines.get(device).cloned())
    }

    fn scan_leases4(
        &self,
        after: Option<Ipv4Addr>,
        limit: usize,
    ) -> Result<Vec<Lease4>, StoreError> {
        use std::ops::Bound;
        let lo = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(self
            .tables
            .read()
            .leases4
            .range((lo, Bound::Unbounded))
            .take(limit)
            .map(|(_, l)| l.clone())
            .collect())
    }

    fn scan_leases6(
        &self,
        after: Option<Lease6Key>,
        limit: usize,
    ) -> Result<Vec<Lease6>, StoreError> {
        use std::ops::Bound;
        let lo = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(self
            .tables
            .read()
            .leases6
            .range((lo, Bound::Unbounded))
            .take(limit)
            .map(|(_, l)| l.clone())
            .collect())
    }

    fn record(&self, table: crate::RecordTable, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .tables
            .read()
            .records
            .get(&(table, key.to_string()))
            .cloned())
    }

    fn records(
        &self,
        table: crate::RecordTable,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        use std::ops::Bound;
        let t = self.tables.read();
        let hi = match before {
            Some(b) => Bound::Excluded((table, b.to_string())),
            None => Bound::Unbounded,
        };
        // Forward to the table's end, then newest first (a test store: the
        // scan of one table is fine).
        let mut v: Vec<_> = t
            .records
            .range((Bound::Included((table, String::new())), hi))
            .take_while(|((tb, _), _)| *tb == table)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect();
        v.reverse();
        v.truncate(limit);
        Ok(v)
    }

    fn apply(&self, batch: &[Mutation]) -> Result<(), StoreError> {
        // Validate (and build every fallible key) before taking the lock, so
        // a refused batch leaves no partial effect, as with sled.
        codec::validate(batch)?;
        let fixed_keys = batch
            .iter()
            .filter_map(|m| match m {
                Mutation::PutFixed4(f) => Some(codec::fixed_key(&f.client, f.relay)),
                Mutation::DeleteFixed4 { client, relay } => Some(codec::fixed_key(client, *relay)),
                _ => None,
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut fixed_keys = fixed_keys.into_iter();
        let mut t = self.tables.write();
        for m in batch {
            match m {
                Mutation::PutLease4(l) => t.put_lease(l),
                Mutation::DeleteLease4(ip) => t.delete_lease(*ip),
                Mutation::PutLease6(l) => t.put_lease6(l),
                Mutation::DeleteLease6(k) => t.delete_lease6(*k),
                Mutation::PutAccount(a) => {
                    t.accounts.insert(a.id.clone(), a.clone());
                }
                Mutation::DeleteAccount(id) => {
                    t.accounts.remove(id);
                }
                Mutation::PutFixed4(f) => {
                    if let Some(k) = fixed_keys.next() {
                        t.fixed4.insert(k, f.clone());
                    }
                }
                Mutation::DeleteFixed4 { .. } => {
                    if let Some(k) = fixed_keys.next() {
                        t.fixed4.remove(&k);
                    }
                }
                Mutation::PutMeta { key, value } => {
                    t.meta.insert(key.clone(), value.clone());
                }
                Mutation::PutRecord { table, key, value } => {
                    t.records.insert((*table, key.clone()), value.clone());
                }
                Mutation::DeleteRecord { table, key } => {
                    t.records.remove(&(*table, key.clone()));
                }
                Mutation::PutTimeline(tl) => {
                    t.timelines.insert(tl.device.clone(), tl.clone());
                }
            }
        }
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::{self, store_suite};

    fn make() -> (MemoryStore, ()) {
        (MemoryStore::new(), ())
    }

    store_suite!(make);

    #[test]
    fn index_sets_are_pruned_when_emptied() {
        let s = MemoryStore::new();
        let l = suite::lease(1, 7, 1);
        s.apply(&[Mutation::PutLease4(l.clone())]).unwrap();
        s.apply(&[Mutation::DeleteLease4(l.ip)]).unwrap();
        assert_eq!(s.lease4_count(), 0);
        let t = s.tables.read();
        assert!(t.by_client.is_empty());
        assert!(t.by_relay.is_empty());
    }
}
