//! The in-memory DHCPv6 binding table (RFC 8415 §4.2 "binding", §6.2
//! IA_NA, §6.3 IA_PD): every address and prefix lease by resource and by
//! (DUID, IAID, kind), plus short advertise holds.
//!
//! Allocation never scans a pool: the first candidate for a client is a
//! hash of (pool, DUID, IAID) inside the pool's space, so a client that
//! lost its binding gets the same address back, and a /64 with a million
//! leases finds a free address in one or two probes. Small spaces (up to
//! 2^16 slots) fall back to a full linear walk from that point so that a
//! nearly full prefix pool still finds its last free prefix.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::net::Ipv6Addr;

use headend_model::hash::FastMap;
use headend_model::v6::{Pool6, Pool6Kind};
use headend_store::{Lease6, Lease6Key, Lease6Kind, LeaseState, UnixTime};

/// Advertise holds kept at most: beyond it a SOLICIT is still answered but
/// its resource is not reserved (the REQUEST's pick, a hash of the client,
/// finds the same one unless somebody took it meanwhile), so a SOLICIT
/// flood costs bounded memory.
pub const MAX_HOLDS: usize = 65_536;

/// Random probes in a large space before giving up.
const PROBES: u64 = 64;
/// Spaces up to this many slots are walked completely when probes fail.
const WALK_LIMIT: u128 = 1 << 16;

/// Identity of one IA of one client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IaKey {
    /// Client DUID.
    pub duid: Vec<u8>,
    /// IAID.
    pub iaid: u32,
    /// Address or prefix.
    pub kind: Lease6Kind,
}

/// An advertised resource held for a client until `until`.
#[derive(Debug, Clone)]
struct Hold {
    ia: IaKey,
    until: UnixTime,
}

/// The lease kind a pool hands out.
pub fn lease_kind(k: Pool6Kind) -> Lease6Kind {
    match k {
        Pool6Kind::Na => Lease6Kind::Na,
        Pool6Kind::Pd => Lease6Kind::Pd,
    }
}

/// Every DHCPv6 binding, in memory.
#[derive(Debug, Default)]
pub struct LeaseTable6 {
    by_key: FastMap<Lease6Key, Lease6>,
    by_ia: FastMap<IaKey, Vec<Lease6Key>>,
    holds: FastMap<Lease6Key, Hold>,
    /// Every binding with an end, by end time: the sweep touches only what
    /// ended, never the whole table (a million bindings, once a second,
    /// under the lock the packet path takes).
    ends: BTreeSet<(UnixTime, Lease6Key)>,
    /// The IAs of each client, by DUID: leasequery by client id (RFC 5007)
    /// finds a client's bindings without a walk.
    by_duid: FastMap<Vec<u8>, Vec<(u32, Lease6Kind)>>,
    /// Every resource in key order: the cursor of leasequery's walks
    /// (RFC 5460), which hold the lock one slice at a time.
    order: BTreeSet<Lease6Key>,
}

fn ia_of(l: &Lease6) -> IaKey {
    IaKey {
        duid: l.duid.clone(),
        iaid: l.iaid,
        kind: l.kind,
    }
}

/// The `n`-th slot of a pool: an address (slot 0, the Subnet-Router
/// anycast address, is never used) or a prefix.
fn slot(pool: &Pool6, n: u128) -> Lease6Key {
    let base = u128::from(pool.prefix.network());
    let shift = 128 - u32::from(pool.delegated_length);
    let off = n.checked_shl(shift).unwrap_or(0);
    Lease6Key {
        address: Ipv6Addr::from(base | off),
        prefix_len: pool.delegated_length,
    }
}

impl LeaseTable6 {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads stored bindings; records whose end is past are dropped.
    pub fn load(&mut self, leases: Vec<Lease6>, now: UnixTime) {
        for l in leases {
            if l.is_current(now) {
                self.bind(l);
            }
        }
    }

    /// Number of bindings held.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Every binding, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Lease6> {
        self.by_key.values()
    }

    /// The binding of a resource.
    pub fn get(&self, key: &Lease6Key) -> Option<&Lease6> {
        self.by_key.get(key)
    }

    /// The bindings of one IA (current or not).
    pub fn of_ia(&self, ia: &IaKey) -> Vec<&Lease6> {
        self.by_ia
            .get(ia)
            .into_iter()
            .flatten()
            .filter_map(|k| self.by_key.get(k))
            .collect()
    }

    /// Every binding of one client, through the DUID index (leasequery).
    pub fn of_client(&self, duid: &[u8]) -> Vec<&Lease6> {
        let Some(ias) = self.by_duid.get(duid) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (iaid, kind) in ias {
            let ia = IaKey {
                duid: duid.to_vec(),
                iaid: *iaid,
                kind: *kind,
            };
            out.extend(self.of_ia(&ia));
        }
        out
    }

    /// Visits up to `max` bindings in key order after `after` (from the
    /// first when `None`); returns the key to go on after, `None` when
    /// the walk is done. Bindings made or dropped between two calls are
    /// seen or not, as they fall relative to the cursor.
    pub fn scan(
        &self,
        after: Option<Lease6Key>,
        max: usize,
        mut f: impl FnMut(&Lease6),
    ) -> Option<Lease6Key> {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut last = None;
        for (n, k) in self.order.range((from, Bound::Unbounded)).enumerate() {
            if n == max {
                return last;
            }
            if let Some(l) = self.by_key.get(k) {
                f(l);
            }
            last = Some(*k);
        }
        None
    }

    /// Every binding of one DUID (for `headend explain`).
    pub fn of_duid(&self, duid: &[u8]) -> Vec<&Lease6> {
        self.by_key.values().filter(|l| l.duid == duid).collect()
    }

    /// Whether `key` may be given to `ia` now: free, expired, released, or
    /// already this IA's; not declined-and-quarantined; not held for another IA.
    pub fn is_available_for(&self, key: &Lease6Key, ia: &IaKey, now: UnixTime) -> bool {
        if let Some(h) = self.holds.get(key) {
            if h.until > now && h.ia != *ia {
                return false;
            }
        }
        match self.by_key.get(key) {
            None => true,
            Some(l) if l.duid == ia.duid && l.iaid == ia.iaid => {
                l.state != LeaseState::Declined || !l.is_current(now)
            }
            Some(l) => !l.is_current(now) || l.state == LeaseState::Released,
        }
    }

    /// Picks a free slot of `pool` for `ia`, trying `wanted` first, never
    /// one `reserved` says is another client's, and holds it until
    /// `hold_until`.
    pub fn pick_and_hold(
        &mut self,
        pool: &Pool6,
        ia: &IaKey,
        wanted: Option<Lease6Key>,
        now: UnixTime,
        hold_until: UnixTime,
        reserved: &dyn Fn(&Lease6Key) -> bool,
    ) -> Option<Lease6Key> {
        let key = self.pick(pool, ia, wanted, now, reserved)?;
        if self.holds.len() < MAX_HOLDS || self.holds.contains_key(&key) {
            self.holds.insert(
                key,
                Hold {
                    ia: ia.clone(),
                    until: hold_until,
                },
            );
        }
        Some(key)
    }

    fn pick(
        &self,
        pool: &Pool6,
        ia: &IaKey,
        wanted: Option<Lease6Key>,
        now: UnixTime,
        reserved: &dyn Fn(&Lease6Key) -> bool,
    ) -> Option<Lease6Key> {
        let free = |k: &Lease6Key| self.is_available_for(k, ia, now) && !reserved(k);
        let in_pool = |k: &Lease6Key| {
            k.prefix_len == pool.delegated_length
                && pool.prefix.contains(&k.address)
                && !(pool.kind == Pool6Kind::Na && k.address == pool.prefix.network())
        };
        if let Some(w) = wanted.filter(|w| in_pool(w)) {
            if free(&w) {
                return Some(w);
            }
        }
        let cap = pool.capacity();
        // Slot 0 of an address pool is the Subnet-Router anycast address.
        let first = u128::from(pool.kind == Pool6Kind::Na);
        let usable = cap.saturating_sub(first);
        if usable == 0 {
            return None;
        }
        let mut h = DefaultHasher::new();
        pool.name.hash(&mut h);
        ia.hash(&mut h);
        let seed = h.finish();
        for i in 0..PROBES {
            let mut hi = DefaultHasher::new();
            (seed, i).hash(&mut hi);
            let r = (u128::from(hi.finish()) << 64 | u128::from(seed.rotate_left(17) ^ i)) % usable;
            let k = slot(pool, first + r);
            if free(&k) {
                return Some(k);
            }
        }
        if usable <= WALK_LIMIT {
            let start = u128::from(seed) % usable;
            for j in 0..usable {
                let k = slot(pool, first + (start + j) % usable);
                if free(&k) {
                    return Some(k);
                }
            }
        }
        None
    }

    /// Releases a hold (the client got another resource, or policy said no).
    pub fn unhold(&mut self, key: &Lease6Key) {
        self.holds.remove(key);
    }

    /// Records a binding, replacing whatever the resource had.
    pub fn bind(&mut self, lease: Lease6) {
        let key = lease.key();
        let ia = ia_of(&lease);
        if let Some(end) = lease.expires_at() {
            self.ends.insert((end, key));
        }
        if let Some(old) = self.by_key.insert(key, lease) {
            self.forget_end(&old);
            let old_ia = ia_of(&old);
            if old_ia != ia {
                self.unindex(&old_ia, &key);
            }
        } else {
            self.order.insert(key);
        }
        self.holds.remove(&key);
        if !self.by_ia.contains_key(&ia) {
            self.by_duid
                .entry(ia.duid.clone())
                .or_default()
                .push((ia.iaid, ia.kind));
        }
        let list = self.by_ia.entry(ia).or_default();
        if !list.contains(&key) {
            list.push(key);
        }
    }

    /// Drops `old`'s entry from the end-time index, unless the binding
    /// now in the table has the same end (its entry is then the current one).
    fn forget_end(&mut self, old: &Lease6) {
        let key = old.key();
        let now_end = self.by_key.get(&key).and_then(|l| l.expires_at());
        if let Some(end) = old.expires_at() {
            if now_end != Some(end) {
                self.ends.remove(&(end, key));
            }
        }
    }

    /// Changes one binding in place, keeping the end-time index right.
    fn update(&mut self, key: &Lease6Key, f: impl FnOnce(&mut Lease6)) -> Option<Lease6> {
        let old = self.by_key.get(key)?.clone();
        let l = self.by_key.get_mut(key)?;
        f(l);
        let new = l.clone();
        if old.expires_at() != new.expires_at() {
            self.forget_end(&old);
            if let Some(end) = new.expires_at() {
                self.ends.insert((end, *key));
            }
        }
        Some(new)
    }

    fn unindex(&mut self, ia: &IaKey, key: &Lease6Key) {
        if let Some(v) = self.by_ia.get_mut(ia) {
            v.retain(|k| k != key);
            if v.is_empty() {
                self.by_ia.remove(ia);
                if let Some(d) = self.by_duid.get_mut(&ia.duid) {
                    d.retain(|x| *x != (ia.iaid, ia.kind));
                    if d.is_empty() {
                        self.by_duid.remove(&ia.duid);
                    }
                }
            }
        }
    }

    /// Undoes `failed` (a binding whose commit did not reach the store) if
    /// it is still the record of its resource: back to the `durable` record,
    /// or dropped when there is none.
    pub fn restore(&mut self, failed: &Lease6, durable: Option<Lease6>) {
        let key = failed.key();
        if self.by_key.get(&key) != Some(failed) {
            return;
        }
        match durable {
            Some(d) => self.bind(d),
            None => {
                if let Some(old) = self.by_key.remove(&key) {
                    self.order.remove(&key);
                    self.forget_end(&old);
                    self.unindex(&ia_of(&old), &key);
                }
            }
        }
    }

    /// Marks the IA's binding of `key` released; returns the new record.
    pub fn release(&mut self, key: &Lease6Key, ia: &IaKey, now: UnixTime) -> Option<Lease6> {
        let l = self.by_key.get(key)?;
        if l.duid != ia.duid || l.iaid != ia.iaid || l.state != LeaseState::Active {
            return None;
        }
        self.update(key, |l| {
            l.state = LeaseState::Released;
            l.commit_time = now;
        })
    }

    /// Quarantines an address the client declined (RFC 8415 §18.4.7): the
    /// record stays with the declining DUID so the decline is on file
    /// against the device, and nobody gets the address for `hold` seconds.
    pub fn decline(
        &mut self,
        key: &Lease6Key,
        ia: &IaKey,
        now: UnixTime,
        hold: u32,
    ) -> Option<Lease6> {
        let l = self.by_key.get(key)?;
        if l.duid != ia.duid || l.iaid != ia.iaid {
            return None;
        }
        self.update(key, |l| {
            l.state = LeaseState::Declined;
            l.commit_time = now;
            l.preferred = 0;
            l.valid = hold;
        })
    }

    /// Drops bindings that ended by `now` (at most `max` per call, oldest
    /// end first) and expired holds; returns the dropped resources, for the
    /// caller to delete from the store.
    pub fn expire_due(&mut self, now: UnixTime, max: usize) -> Vec<Lease6Key> {
        self.expire_due_with(now, max, None)
    }

    /// [`LeaseTable6::expire_due`], also handing the ended active bindings
    /// to `ended` (for `lease.expired` events).
    pub fn expire_due_with(
        &mut self,
        now: UnixTime,
        max: usize,
        mut ended: Option<&mut Vec<Lease6>>,
    ) -> Vec<Lease6Key> {
        self.holds.retain(|_, h| h.until > now);
        let mut dead = Vec::new();
        while dead.len() < max {
            let Some(&(end, key)) = self.ends.first() else {
                break;
            };
            if end > now {
                break;
            }
            self.ends.pop_first();
            if let Some(old) = self.by_key.remove(&key) {
                self.order.remove(&key);
                self.unindex(&ia_of(&old), &key);
                if let Some(v) = ended.as_deref_mut() {
                    if old.state == headend_store::LeaseState::Active {
                        v.push(old);
                    }
                }
            }
            dead.push(key);
        }
        dead
    }

    /// Entries of the end-time index (one per binding with an end).
    pub fn timed(&self) -> usize {
        self.ends.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::Ipv6Net;

    fn pool(kind: Pool6Kind, prefix: &str, dl: u8) -> Pool6 {
        Pool6 {
            name: "p".into(),
            kind,
            prefix: prefix.parse::<Ipv6Net>().unwrap(),
            delegated_length: dl,
            links: vec![],
            domains: vec![],
            allow: None,
            deny: None,
            preferred_lifetime: 100,
            valid_lifetime: 200,
            rapid_commit: false,
            policies: vec![],
        }
    }

    fn ia(n: u32) -> IaKey {
        IaKey {
            duid: vec![0, 3, 0, 1, 0, 0x10, 0, 0, (n >> 8) as u8, n as u8],
            iaid: 1,
            kind: Lease6Kind::Na,
        }
    }

    fn lease(p: &Pool6, k: Lease6Key, ia: &IaKey, now: UnixTime) -> Lease6 {
        Lease6 {
            kind: lease_kind(p.kind),
            address: k.address,
            prefix_len: k.prefix_len,
            duid: ia.duid.clone(),
            iaid: ia.iaid,
            state: LeaseState::Active,
            commit_time: now,
            preferred: 100,
            valid: 200,
            link: Ipv6Addr::UNSPECIFIED,
            pool: p.name.clone(),
            mac: None,
            modem_mac: None,
            fqdn: None,
            relay: None,
        }
    }

    #[test]
    fn the_sweep_visits_only_what_ended_and_follows_every_change_of_end() {
        let p = pool(Pool6Kind::Na, "2001:db8::/64", 128);
        let mut t = LeaseTable6::new();
        let keys: Vec<Lease6Key> = (0..100)
            .map(|n| {
                let k = t
                    .pick_and_hold(&p, &ia(n), None, 0, 10, &|_| false)
                    .unwrap();
                // Ends spread over 0+200 .. 99+200.
                t.bind(lease(&p, k, &ia(n), u64::from(n)));
                k
            })
            .collect();
        assert_eq!(t.timed(), 100);
        // Renewed (bound again later): one index entry, the new end.
        t.bind(lease(&p, keys[0], &ia(0), 1000));
        // Released and declined move their ends too.
        assert!(t.release(&keys[1], &ia(1), 500).is_some());
        assert!(t.decline(&keys[2], &ia(2), 5, 10_000).is_some());
        assert_eq!(t.timed(), 100);
        // At 250, bindings that started at 50 or before ended (51), except
        // the three.
        let dead = t.expire_due(250, usize::MAX);
        assert_eq!(dead.len(), 48, "{dead:?}");
        assert!(!dead.contains(&keys[0]) && !dead.contains(&keys[1]) && !dead.contains(&keys[2]));
        assert_eq!(t.len(), 52);
        assert_eq!(t.timed(), 52);
        // `max` bounds one call; the rest come next time.
        assert_eq!(t.expire_due(10_000, 10).len(), 10);
        assert_eq!(t.expire_due(10_000, usize::MAX).len(), 41);
        assert_eq!(t.get(&keys[2]).map(|l| l.state), Some(LeaseState::Declined));
        assert_eq!(t.expire_due(10_006, usize::MAX), vec![keys[2]]);
        assert!(t.is_empty() && t.timed() == 0);
    }

    #[test]
    fn advertise_holds_are_bounded() {
        let p = pool(Pool6Kind::Na, "2001:db8::/64", 128);
        let mut t = LeaseTable6::new();
        for n in 0..(MAX_HOLDS as u32 + 50) {
            assert!(t
                .pick_and_hold(&p, &ia(n), None, 0, 100, &|_| false)
                .is_some());
        }
        assert_eq!(t.holds.len(), MAX_HOLDS);
    }

    #[test]
    fn same_client_same_address_and_holds_exclude_others() {
        let p = pool(Pool6Kind::Na, "2001:db8:1::/64", 128);
        let mut t = LeaseTable6::new();
        let a = t
            .pick_and_hold(&p, &ia(1), None, 10, 40, &|_| false)
            .unwrap();
        assert!(p.prefix.contains(&a.address) && a.address != p.prefix.network());
        // A fresh table gives the same first candidate: stable per client.
        let mut t2 = LeaseTable6::new();
        assert_eq!(
            t2.pick_and_hold(&p, &ia(1), None, 10, 40, &|_| false),
            Some(a)
        );
        // Held for client 1: client 2 asking for it explicitly gets another.
        let b = t
            .pick_and_hold(&p, &ia(2), Some(a), 10, 40, &|_| false)
            .unwrap();
        assert_ne!(a, b);
        assert!(!t.is_available_for(&a, &ia(2), 20));
        assert!(t.is_available_for(&a, &ia(2), 41), "hold expired");
    }

    #[test]
    fn resources_reserved_for_others_are_never_picked() {
        // A /124: 15 addresses, 5 of them reserved for somebody else.
        let p = pool(Pool6Kind::Na, "2001:db8::/124", 128);
        let reserved = |k: &Lease6Key| k.address.segments()[7] <= 5;
        let mut t = LeaseTable6::new();
        for n in 0..10 {
            let k = t
                .pick_and_hold(&p, &ia(n), None, 0, 100, &reserved)
                .unwrap();
            assert!(!reserved(&k), "{k:?}");
            t.bind(lease(&p, k, &ia(n), 0));
        }
        assert_eq!(t.pick_and_hold(&p, &ia(99), None, 0, 100, &reserved), None);
        // Even asked for by name.
        let r = slot(&p, 3);
        assert_eq!(
            t.pick_and_hold(&p, &ia(99), Some(r), 0, 100, &reserved),
            None
        );
    }

    #[test]
    fn small_pool_fills_exactly_then_exhausts() {
        // A /124 has 16 slots, slot 0 unused: 15 addresses.
        let p = pool(Pool6Kind::Na, "2001:db8::/124", 128);
        let mut t = LeaseTable6::new();
        let mut seen = std::collections::HashSet::new();
        for n in 0..15 {
            let k = t
                .pick_and_hold(&p, &ia(n), None, 0, 100, &|_| false)
                .unwrap();
            t.bind(lease(&p, k, &ia(n), 0));
            assert!(seen.insert(k));
        }
        assert_eq!(t.pick_and_hold(&p, &ia(99), None, 0, 100, &|_| false), None);
        // Expiry frees everything.
        assert_eq!(t.expire_due(1000, usize::MAX).len(), 15);
        assert!(t
            .pick_and_hold(&p, &ia(99), None, 1000, 1100, &|_| false)
            .is_some());
    }

    #[test]
    fn prefix_pool_hands_out_aligned_prefixes() {
        let p = pool(Pool6Kind::Pd, "2001:db8:8000::/40", 56);
        let mut t = LeaseTable6::new();
        let mut i = ia(1);
        i.kind = Lease6Kind::Pd;
        let k = t.pick_and_hold(&p, &i, None, 0, 10, &|_| false).unwrap();
        assert_eq!(k.prefix_len, 56);
        assert!(p.prefix.contains(&k.address));
        assert_eq!(
            u128::from(k.address) & ((1u128 << 72) - 1),
            0,
            "aligned to /56"
        );
    }

    #[test]
    fn decline_quarantines_and_release_frees() {
        let p = pool(Pool6Kind::Na, "2001:db8::/120", 128);
        let mut t = LeaseTable6::new();
        let k = t
            .pick_and_hold(&p, &ia(1), None, 0, 10, &|_| false)
            .unwrap();
        t.bind(lease(&p, k, &ia(1), 0));
        assert!(t.release(&k, &ia(2), 1).is_none(), "not theirs");
        let d = t.decline(&k, &ia(1), 5, 3600).unwrap();
        assert_eq!(d.state, LeaseState::Declined);
        assert!(!t.is_available_for(&k, &ia(2), 100));
        assert!(!t.is_available_for(&k, &ia(1), 100), "the decliner neither");
        assert!(t.is_available_for(&k, &ia(2), 3606));
        let k2 = t
            .pick_and_hold(&p, &ia(3), None, 0, 10, &|_| false)
            .unwrap();
        t.bind(lease(&p, k2, &ia(3), 0));
        assert!(t.release(&k2, &ia(3), 1).is_some());
        assert!(t.is_available_for(&k2, &ia(4), 2));
        assert_eq!(t.of_ia(&ia(3)).len(), 1);
    }

    #[test]
    fn million_bindings_in_a_slash_64_allocate_fast() {
        let p = pool(Pool6Kind::Na, "2001:db8:1::/64", 128);
        let mut t = LeaseTable6::new();
        let start = std::time::Instant::now();
        for n in 0..1_000_000u32 {
            let i = IaKey {
                duid: n.to_be_bytes().to_vec(),
                iaid: 0,
                kind: Lease6Kind::Na,
            };
            let k = t.pick_and_hold(&p, &i, None, 0, 10, &|_| false).unwrap();
            t.bind(lease(&p, k, &i, 0));
        }
        assert_eq!(t.len(), 1_000_000);
        let el = start.elapsed();
        eprintln!("1M allocations in {el:?}");
        assert!(el.as_secs() < 60, "{el:?}");
    }

    #[test]
    fn client_index_and_ordered_walk_follow_binds_and_expiry() {
        let p = pool(Pool6Kind::Na, "2001:db8::/120", 128);
        let mut t = LeaseTable6::new();
        let now = 1000;
        let mut keys = Vec::new();
        for n in 0..50 {
            let ia = ia(n % 10);
            let k = t
                .pick_and_hold(
                    &p,
                    &IaKey {
                        iaid: n,
                        ..ia.clone()
                    },
                    None,
                    now,
                    now + 5,
                    &|_| false,
                )
                .unwrap();
            let mut l = lease(&p, k, &IaKey { iaid: n, ..ia }, now);
            l.valid = if n % 2 == 0 { 100 } else { 10 };
            t.bind(l);
            keys.push(k);
        }
        // Ten clients, five IAs each.
        for n in 0..10 {
            assert_eq!(t.of_client(&ia(n).duid).len(), 5);
        }
        let walk = |t: &LeaseTable6| {
            let mut seen = Vec::new();
            let mut cur = None;
            loop {
                cur = t.scan(cur, 7, |l| seen.push(l.key()));
                if cur.is_none() {
                    break;
                }
            }
            seen
        };
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(walk(&t), sorted, "every binding once, in key order");
        // The short ones end: both indexes lose them.
        let dead = t.expire_due(now + 20, 1000);
        assert_eq!(dead.len(), 25);
        for n in 0..10 {
            assert!(t.of_client(&ia(n).duid).iter().all(|l| l.valid == 100));
        }
        assert_eq!(walk(&t).len(), 25);
        assert!(t.of_client(b"nobody").is_empty());
    }
}
