//! The in-memory DHCPv4 lease table and address allocator: the hot,
//! authoritative state of every dynamic address binding (seed 004 sections
//! 5.1–5.3) and the server's choice of an address for a client
//! (RFC 2131 §4.3.1), with the lease life cycle of RFC 2131 §3.1: binding
//! (§4.3.2), DHCPDECLINE ("the server MUST mark the network address as not
//! available", §4.3.3: a quarantine) and DHCPRELEASE (§4.3.4: the address is
//! no longer allocated, the record stays so the client finds it again).
//!
//! Times are the caller's `now`; a call that takes none (`bind`,
//! `hold_offer`, `set_pools`) uses the latest `now` seen, so a lease is never
//! treated as ended before the server's clock says so.
//!
//! Every per-packet operation is O(1) amortised (plus O(log n) for the
//! ordered timer sets and O(log ranges) for range look-ups): each pool keeps a
//! bitset of occupied addresses, a cursor over never-used addresses and a
//! FIFO of freed addresses, and the table keeps per-pool timer sets so that
//! `has_free` and `pick` are exact at any `now` even when the periodic sweep
//! ([`LeaseTable::expire_due`]) is behind.
//!
//! Persistence is not done here: the methods that change a record return it
//! and the server hands it to the store's group committer.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::net::Ipv4Addr;

use headend_model::hash::FastMap;
use headend_store::{ClientKey, Lease4, LeaseState, UnixTime};

/// One address pool as the allocator sees it (seed 004 section 5.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolSpec {
    /// Pool name, unique in the configuration.
    pub name: String,
    /// Inclusive address ranges (range start, range stop); a range whose start
    /// is above its stop is empty.
    pub ranges: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// Addresses inside the ranges that must never be leased.
    pub exclude: Vec<Ipv4Addr>,
    /// Fixed-binding addresses inside the ranges: never allocated dynamically.
    pub reserved: Vec<Ipv4Addr>,
    /// (this node, nodes) of a cluster sharing the pool: never-used
    /// addresses are taken first from the 64-address blocks whose number
    /// modulo `nodes` is `this node`, so nodes allocating at once from one
    /// pool rarely pick the same address (the shared store settles the rest).
    /// `nodes` ≤ 1: no preference.
    pub stripe: (u32, u32),
}

/// Counters of the whole table at one instant, for stats and `headend explain`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaseStats {
    /// Active leases that have not expired.
    pub active: u64,
    /// Unexpired offer holds.
    pub offered: u64,
    /// Declined addresses still in quarantine.
    pub declined: u64,
    /// Released leases (kept for client affinity).
    pub released: u64,
    /// Active leases and quarantines whose time has ended (kept for affinity).
    pub expired: u64,
    /// Per-pool address counts, in `set_pools` order.
    pub pools: Vec<PoolStats>,
}

/// Address counts of one pool.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Pool name.
    pub name: String,
    /// Addresses in the pool's ranges.
    pub size: u64,
    /// Excluded or reserved addresses (never allocated dynamically).
    pub blocked: u64,
    /// Addresses bound, offered or quarantined now.
    pub used: u64,
    /// Addresses that may be allocated now.
    pub free: u64,
}

/// Utilisation of one pool for the management API: the allocator's counts
/// plus the declined and offered addresses in it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolUsage {
    /// Pool name.
    pub name: String,
    /// Addresses in the pool's ranges.
    pub size: u64,
    /// Excluded or reserved addresses.
    pub blocked: u64,
    /// Bound, offered or quarantined now.
    pub used: u64,
    /// Allocatable now.
    pub free: u64,
    /// Declined addresses still quarantined.
    pub declined: u64,
    /// Addresses held for an offer now.
    pub offered: u64,
}

/// Ended leases kept for `lease.expired` events between two sweeps.
pub const MAX_ENDED: usize = 65_536;

/// Slot index meaning "no slot" in the per-client chains.
const NIL: u32 = u32::MAX;

/// Most expired timers of its pool that one `pick` processes.
const PICK_SWEEP: usize = 32;

/// How long an address stays occupied by its lease record and offer hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Occupancy {
    /// Allocatable.
    Free,
    /// Occupied until (excluding) this second.
    Until(UnixTime),
    /// Occupied with no end (BOOTP lease, infinite quarantine).
    Forever,
}

impl Occupancy {
    fn of_lease(lease: &Lease4) -> Self {
        match lease.state {
            LeaseState::Released => Occupancy::Free,
            LeaseState::Active | LeaseState::Declined => lease
                .expires_at()
                .map_or(Occupancy::Forever, Occupancy::Until),
        }
    }

    /// The occupancy as seen at `now`.
    fn at(self, now: UnixTime) -> Self {
        match self {
            Occupancy::Until(t) if t <= now => Occupancy::Free,
            o => o,
        }
    }
}

/// A short reservation of an offered address (RFC 2131 §4.3.1: the server
/// need not reserve, but doing so keeps two clients from being offered the
/// same address).
#[derive(Debug, Clone)]
struct Hold {
    client: ClientKey,
    until: UnixTime,
}

/// `Hasher` for keys that already are uniformly distributed 64-bit hashes.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A fixed-size bitset.
#[derive(Debug, Default)]
struct Bits {
    words: Vec<u64>,
}

impl Bits {
    fn new(len: u64) -> Self {
        let words = usize::try_from(len.div_ceil(64)).unwrap_or(0);
        Bits {
            words: vec![0; words],
        }
    }

    fn get(&self, i: u32) -> bool {
        self.words
            .get((i >> 6) as usize)
            .is_some_and(|w| (w >> (i & 63)) & 1 == 1)
    }

    /// Sets bit `i` to `v`; returns its previous value.
    fn set(&mut self, i: u32, v: bool) -> bool {
        let Some(w) = self.words.get_mut((i >> 6) as usize) else {
            return false;
        };
        let mask = 1u64 << (i & 63);
        let old = *w & mask != 0;
        if v {
            *w |= mask;
        } else {
            *w &= !mask;
        }
        old
    }

    fn word(&self, w: usize) -> u64 {
        self.words.get(w).copied().unwrap_or(u64::MAX)
    }

    fn bytes(&self) -> usize {
        self.words.capacity() * 8
    }
}

/// A merged range of a pool, with the bitset offset of its first address.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
    base: u32,
}

/// The allocator state of one pool. Bit `off` of `used` is set when the
/// address is excluded, reserved, bound, held or quarantined; an address with
/// a lease record that is free is always `queued` (in `fifo`, or briefly in
/// `fresh`), so the cursor only has to look at `used | queued`.
#[derive(Debug)]
struct Pool {
    spec: PoolSpec,
    spans: Vec<Span>,
    size: u64,
    excluded: HashSet<u32>,
    reserved: HashSet<u32>,
    blocked: u64,
    used: Bits,
    /// The offset has an entry in `fifo` or `fresh` (one at most).
    queued: Bits,
    /// The queued address was freed again after it was queued: its FIFO
    /// position is too old and it moves to the back when it reaches the front.
    requeue: Bits,
    used_count: u64,
    /// The never-used scan has passed every offset below the cursor; an
    /// offset it passed while occupied comes back through `fresh` or `fifo`.
    cursor: u64,
    /// The cursor's first pass looks only at this node's stripe (see
    /// [`PoolSpec::stripe`]); the second pass, at every block.
    stripe_done: bool,
    /// Never-leased offsets below the cursor that became free again (an
    /// offer that was not taken).
    fresh: Vec<u32>,
    /// Freed offsets with a lease record, the address whose lease ended
    /// longest ago first.
    fifo: VecDeque<u32>,
    /// (end of occupancy, offset) of every address occupied for a finite
    /// time and not yet swept; those with a time `<= now` are free at `now`.
    timers: BTreeSet<(UnixTime, u32)>,
}

impl Pool {
    fn new(spec: PoolSpec) -> Self {
        let mut raw: Vec<(u32, u32)> = spec
            .ranges
            .iter()
            .map(|(a, b)| (u32::from(*a), u32::from(*b)))
            .filter(|(a, b)| a <= b)
            .collect();
        raw.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(raw.len());
        for (a, b) in raw {
            match merged.last_mut() {
                Some(last) if u64::from(a) <= u64::from(last.1) + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        let mut spans = Vec::with_capacity(merged.len());
        let mut size: u64 = 0;
        for (start, end) in merged {
            // Offsets are u32: the whole IPv4 space is 2^32 addresses, so every
            // base below `size` fits.
            let Ok(base) = u32::try_from(size) else { break };
            spans.push(Span { start, end, base });
            size += u64::from(end - start) + 1;
        }
        let mut pool = Pool {
            spans,
            size,
            excluded: HashSet::new(),
            reserved: HashSet::new(),
            blocked: 0,
            used: Bits::new(size),
            queued: Bits::new(size),
            requeue: Bits::new(size),
            used_count: 0,
            cursor: 0,
            stripe_done: spec.stripe.1 <= 1,
            fresh: Vec::new(),
            fifo: VecDeque::new(),
            timers: BTreeSet::new(),
            spec,
        };
        let excluded: HashSet<u32> = pool
            .spec
            .exclude
            .iter()
            .filter_map(|ip| pool.offset_of(u32::from(*ip)))
            .collect();
        let reserved: HashSet<u32> = pool
            .spec
            .reserved
            .iter()
            .filter_map(|ip| pool.offset_of(u32::from(*ip)))
            .collect();
        for off in excluded.iter().chain(reserved.iter()) {
            pool.mark_used(*off);
        }
        pool.blocked = pool.used_count;
        pool.excluded = excluded;
        pool.reserved = reserved;
        pool
    }

    fn offset_of(&self, ip: u32) -> Option<u32> {
        let i = self.spans.partition_point(|s| s.end < ip);
        let s = self.spans.get(i)?;
        (s.start <= ip).then(|| s.base + (ip - s.start))
    }

    fn ip_of(&self, off: u32) -> Option<Ipv4Addr> {
        let i = self
            .spans
            .partition_point(|s| s.base <= off)
            .checked_sub(1)?;
        let s = self.spans.get(i)?;
        let d = off - s.base;
        (d <= s.end - s.start).then(|| Ipv4Addr::from(s.start + d))
    }

    fn is_blocked(&self, off: u32) -> bool {
        self.blocked != 0 && (self.excluded.contains(&off) || self.reserved.contains(&off))
    }

    /// Offset of `ip` if the pool may hand it out dynamically.
    fn allocatable_offset(&self, ip: Ipv4Addr) -> Option<u32> {
        self.offset_of(u32::from(ip))
            .filter(|off| !self.is_blocked(*off))
    }

    fn free_bits(&self) -> u64 {
        self.size - self.used_count
    }

    fn mark_used(&mut self, off: u32) {
        if !self.used.set(off, true) {
            self.used_count += 1;
        }
    }

    fn mark_free(&mut self, off: u32, has_record: bool) {
        let was_used = self.used.set(off, false);
        if was_used {
            self.used_count -= 1;
        }
        if self.queued.get(off) {
            if was_used {
                self.requeue.set(off, true);
            }
        } else if has_record {
            self.queued.set(off, true);
            self.fifo.push_back(off);
        } else if u64::from(off) < self.cursor {
            self.queued.set(off, true);
            self.fresh.push(off);
        }
    }

    /// A never-leased free address, without taking it.
    fn peek_never_used(&mut self, by_ip: &FastMap<Ipv4Addr, u32>) -> Option<u32> {
        while let Some(&off) = self.fresh.last() {
            if self.used.get(off) {
                self.fresh.pop();
                self.queued.set(off, false);
                self.requeue.set(off, false);
                continue;
            }
            if self.ip_of(off).is_some_and(|ip| by_ip.contains_key(&ip)) {
                // Leased since it was queued: it belongs to the FIFO now.
                self.fresh.pop();
                self.requeue.set(off, false);
                self.fifo.push_back(off);
                continue;
            }
            return Some(off);
        }
        loop {
            if let Some(off) = self.scan_never_used() {
                return Some(off);
            }
            if self.stripe_done {
                return None;
            }
            // This node's blocks are all taken: the other nodes' next.
            self.stripe_done = true;
            self.cursor = 0;
        }
    }

    /// The cursor's scan of [`Pool::peek_never_used`].
    fn scan_never_used(&mut self) -> Option<u32> {
        let (me, nodes) = self.spec.stripe;
        while self.cursor < self.size {
            let w = (self.cursor >> 6) as usize;
            if !self.stripe_done && (w as u64) % u64::from(nodes) != u64::from(me) {
                self.cursor = (w as u64 + 1) * 64;
                continue;
            }
            let occupied = self.used.word(w) | self.queued.word(w);
            let free = !occupied & (u64::MAX << (self.cursor & 63));
            if free == 0 {
                self.cursor = (w as u64 + 1) * 64;
                continue;
            }
            let c = (w as u64) * 64 + u64::from(free.trailing_zeros());
            if c >= self.size {
                break;
            }
            self.cursor = c;
            return u32::try_from(c).ok();
        }
        self.cursor = self.size;
        None
    }

    /// The free address whose lease ended longest ago, without taking it.
    fn peek_freed(&mut self) -> Option<u32> {
        while let Some(&off) = self.fifo.front() {
            if self.used.get(off) {
                self.fifo.pop_front();
                self.queued.set(off, false);
                self.requeue.set(off, false);
            } else if self.requeue.set(off, false) {
                self.fifo.pop_front();
                self.fifo.push_back(off);
            } else {
                return Some(off);
            }
        }
        None
    }

    fn unswept_free(&self, now: UnixTime) -> Option<u32> {
        self.timers
            .first()
            .filter(|(t, _)| *t <= now)
            .map(|(_, off)| *off)
    }

    fn free_at(&self, now: UnixTime) -> u64 {
        let unswept = self.timers.range(..=(now, u32::MAX)).count() as u64;
        self.free_bits() + unswept
    }

    fn bytes(&self) -> usize {
        self.used.bytes()
            + self.queued.bytes()
            + self.requeue.bytes()
            + (self.excluded.capacity() + self.reserved.capacity()) * 8
            + self.fresh.capacity() * 4
            + self.fifo.capacity() * 4
            // B-tree nodes hold up to 11 keys and are at least half full.
            + self.timers.len() * 24
    }
}

/// Part of the address space where the same pools apply.
#[derive(Debug)]
struct Segment {
    start: u32,
    end: u32,
    /// (pool index, offset of `start` in that pool), in `set_pools` order.
    owners: Box<[(u32, u32)]>,
}

fn build_segments(pools: &[Pool]) -> Vec<Segment> {
    let mut cuts: Vec<u64> = pools
        .iter()
        .flat_map(|p| {
            p.spans
                .iter()
                .flat_map(|s| [u64::from(s.start), u64::from(s.end) + 1])
        })
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut owners: Vec<Vec<(u32, u32)>> = vec![Vec::new(); cuts.len().saturating_sub(1)];
    for (pi, p) in pools.iter().enumerate() {
        let Ok(pi) = u32::try_from(pi) else { break };
        for s in &p.spans {
            let first = cuts.partition_point(|&c| c < u64::from(s.start));
            let stop = cuts.partition_point(|&c| c <= u64::from(s.end));
            for k in first..stop {
                let (Some(cut), Some(list)) = (cuts.get(k), owners.get_mut(k)) else {
                    continue;
                };
                let Ok(cut) = u32::try_from(*cut) else {
                    continue;
                };
                list.push((pi, s.base + (cut - s.start)));
            }
        }
    }
    owners
        .into_iter()
        .enumerate()
        .filter(|(_, o)| !o.is_empty())
        .filter_map(|(k, o)| {
            let start = u32::try_from(*cuts.get(k)?).ok()?;
            let end = u32::try_from(cuts.get(k + 1)?.checked_sub(1)?).ok()?;
            Some(Segment {
                start,
                end,
                owners: o.into_boxed_slice(),
            })
        })
        .collect()
}

/// An address's state for filling allocators: its occupancy, and when the
/// lease of its record ended (`None` without a record).
type AddressState = (Ipv4Addr, Occupancy, Option<UnixTime>);

/// Fills the allocators of `pools` flagged in `targets` (new, empty) from
/// `addresses` at `now`: occupied offsets marked with their timers, freed
/// ones queued in the order their leases ended.
fn populate_pools(
    pools: &mut [Pool],
    segments: &[Segment],
    targets: &[bool],
    now: UnixTime,
    addresses: impl Iterator<Item = AddressState>,
) {
    let mut timers: Vec<Vec<(UnixTime, u32)>> = vec![Vec::new(); pools.len()];
    let mut freed: Vec<(UnixTime, Ipv4Addr)> = Vec::new();
    for (ip, occ, ended) in addresses {
        let Some(seg) = segment_of(segments, ip) else {
            continue;
        };
        let occ = occ.at(now);
        let d = u32::from(ip) - seg.start;
        let mut is_freed = false;
        for &(p, base) in seg.owners.iter() {
            let p = p as usize;
            if !targets.get(p).copied().unwrap_or(false) {
                continue;
            }
            let (Some(pool), Some(pool_timers)) = (pools.get_mut(p), timers.get_mut(p)) else {
                continue;
            };
            let off = base + d;
            if pool.is_blocked(off) {
                continue;
            }
            match occ {
                Occupancy::Free => is_freed = true,
                Occupancy::Until(t) => {
                    pool.mark_used(off);
                    pool_timers.push((t, off));
                }
                Occupancy::Forever => pool.mark_used(off),
            }
        }
        if let (true, Some(ended)) = (is_freed, ended) {
            freed.push((ended, ip));
        }
    }
    for (pool, t) in pools.iter_mut().zip(timers) {
        if t.is_empty() {
            continue;
        }
        if pool.timers.is_empty() {
            // Collecting sorts once and bulk-builds the tree: far cheaper
            // than a million random-order inserts at start-up.
            pool.timers = t.into_iter().collect();
        } else {
            pool.timers.extend(t);
        }
    }
    freed.sort_unstable();
    for (_, ip) in freed {
        let Some(seg) = segment_of(segments, ip) else {
            continue;
        };
        let d = u32::from(ip) - seg.start;
        for &(p, base) in seg.owners.iter() {
            if !targets.get(p as usize).copied().unwrap_or(false) {
                continue;
            }
            if let Some(pool) = pools.get_mut(p as usize) {
                if !pool.is_blocked(base + d) {
                    pool.mark_free(base + d, true);
                }
            }
        }
    }
}

fn segment_of(segments: &[Segment], ip: Ipv4Addr) -> Option<&Segment> {
    let ip = u32::from(ip);
    let i = segments.partition_point(|s| s.end < ip);
    segments.get(i).filter(|s| s.start <= ip)
}

/// The in-memory DHCPv4 lease table: every lease record by address and by
/// client, the offer holds, and one allocator per pool.
pub struct LeaseTable {
    /// Lease records; a record is only ever replaced (same address), never removed.
    slots: Vec<Lease4>,
    /// Whether ended leases are kept in `ended`.
    collect_ended: bool,
    /// Leases whose time ended, for `lease.expired` events.
    ended: Vec<Lease4>,
    /// Next slot of the same client-key hash (`NIL` ends the chain).
    next: Vec<u32>,
    by_ip: FastMap<Ipv4Addr, u32>,
    /// Hash of the client key → first slot of its chain; collisions share a
    /// chain and are told apart by comparing keys.
    by_client: HashMap<u64, u32, BuildHasherDefault<PreHashed>>,
    client_hasher: RandomState,
    holds: FastMap<Ipv4Addr, Hold>,
    offers: FastMap<ClientKey, Ipv4Addr>,
    hold_timers: BTreeSet<(UnixTime, Ipv4Addr)>,
    pools: Vec<Pool>,
    pool_index: FastMap<String, usize>,
    segments: Vec<Segment>,
    /// Latest `now` seen: the time used by calls that take none.
    clock: UnixTime,
    sweep_from: usize,
    /// While a [`PoolRebuild`] is built off the lock: the addresses whose
    /// state changed since its snapshot, replayed into the new allocators.
    touched: Option<Vec<Ipv4Addr>>,
    /// `touched` outgrew [`MAX_TOUCHED`]: the rebuild is done under the lock.
    touched_overflow: bool,
    /// Counts pool installations, so a rebuild overtaken by another is redone.
    pools_epoch: u64,
}

/// Addresses a pool rebuild replays at most (past it, it rebuilds under the lock).
const MAX_TOUCHED: usize = 1 << 20;

/// A pool change whose allocators are built away from the lease lock
/// (issue 21: a reload that changes a pool of 1,000,000 leases held the
/// lock 121 ms): [`LeaseTable::begin_set_pools`] takes a snapshot of every
/// address's state under the lock, [`PoolRebuild::build`] fills the new
/// allocators from it without the table, and
/// [`LeaseTable::finish_set_pools`] installs them under the lock, replaying
/// the addresses that changed meanwhile.
pub struct PoolRebuild {
    specs: Vec<PoolSpec>,
    fresh: Vec<bool>,
    snapshot: Vec<AddressState>,
    now: UnixTime,
    epoch: u64,
    built: Option<(Vec<Pool>, Vec<Segment>)>,
}

impl PoolRebuild {
    /// Fills the changed pools' allocators from the snapshot (no lock held).
    pub fn build(&mut self) {
        let mut pools: Vec<Pool> = self.specs.iter().cloned().map(Pool::new).collect();
        let segments = build_segments(&pools);
        populate_pools(
            &mut pools,
            &segments,
            &self.fresh,
            self.now,
            self.snapshot.iter().copied(),
        );
        // For the replay's look-ups by address.
        self.snapshot.sort_unstable_by_key(|a| a.0);
        self.built = Some((pools, segments));
    }
}

impl std::fmt::Debug for LeaseTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A million records are no use in a log line.
        f.debug_struct("LeaseTable")
            .field("records", &self.slots.len())
            .field("holds", &self.holds.len())
            .field("pools", &self.pools.len())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Default for LeaseTable {
    fn default() -> Self {
        Self::new()
    }
}

/// Iterator over the lease records of one client.
#[derive(Debug)]
pub struct ClientLeases<'a> {
    table: &'a LeaseTable,
    client: &'a ClientKey,
    cur: u32,
}

impl<'a> Iterator for ClientLeases<'a> {
    type Item = &'a Lease4;

    fn next(&mut self) -> Option<&'a Lease4> {
        while self.cur != NIL {
            let i = self.cur as usize;
            self.cur = self.table.next.get(i).copied().unwrap_or(NIL);
            if let Some(l) = self.table.slots.get(i) {
                if l.client == *self.client {
                    return Some(l);
                }
            }
        }
        None
    }
}

impl LeaseTable {
    /// An empty table with no pools.
    pub fn new() -> Self {
        LeaseTable {
            slots: Vec::new(),
            collect_ended: false,
            ended: Vec::new(),
            next: Vec::new(),
            by_ip: FastMap::default(),
            by_client: HashMap::default(),
            client_hasher: RandomState::new(),
            holds: FastMap::default(),
            offers: FastMap::default(),
            hold_timers: BTreeSet::new(),
            pools: Vec::new(),
            pool_index: FastMap::default(),
            segments: Vec::new(),
            clock: 0,
            sweep_from: 0,
            touched: None,
            touched_overflow: false,
            pools_epoch: 0,
        }
    }

    /// Number of lease records (any state).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the table holds no lease record.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Loads the stored records at start-up (a later record for the same
    /// address replaces an earlier one) and rebuilds every pool's allocator.
    pub fn load(&mut self, leases: impl IntoIterator<Item = Lease4>, now: UnixTime) {
        self.advance(now);
        let leases = leases.into_iter();
        let (hint, _) = leases.size_hint();
        // Head-room for growth: without it the first new client after a
        // large load doubles `slots` (a copy of every record) while the
        // server holds the lock, long enough to overflow socket buffers.
        let room = hint + hint / 2 + 65_536;
        self.slots.reserve(room);
        self.next.reserve(room);
        self.by_ip.reserve(room);
        self.by_client.reserve(room);
        for lease in leases {
            self.put_record(lease);
        }
        let specs: Vec<PoolSpec> = self.pools.iter().map(|p| p.spec.clone()).collect();
        self.pools = specs.into_iter().map(Pool::new).collect();
        let all = vec![true; self.pools.len()];
        self.populate(&all);
    }

    /// Installs a new pool configuration. Pools whose spec is unchanged keep
    /// their allocator; the others are rebuilt from the records. Every record
    /// is kept, including those whose address is now in no pool.
    pub fn set_pools(&mut self, pools: &[PoolSpec]) {
        self.pools_epoch += 1;
        let mut old: HashMap<String, Pool> = HashMap::with_capacity(self.pools.len());
        for p in self.pools.drain(..) {
            old.entry(p.spec.name.clone()).or_insert(p);
        }
        let mut fresh = Vec::with_capacity(pools.len());
        for spec in pools {
            match old.remove(&spec.name) {
                Some(p) if p.spec == *spec => {
                    self.pools.push(p);
                    fresh.push(false);
                }
                _ => {
                    self.pools.push(Pool::new(spec.clone()));
                    fresh.push(true);
                }
            }
        }
        self.pool_index.clear();
        for (i, p) in self.pools.iter().enumerate() {
            self.pool_index.entry(p.spec.name.clone()).or_insert(i);
        }
        self.segments = build_segments(&self.pools);
        self.sweep_from = 0;
        if fresh.contains(&true) {
            self.populate(&fresh);
        }
    }

    /// Starts installing a new pool configuration: when no pool changes it
    /// is installed at once and `None` is returned; otherwise the returned
    /// rebuild is to be [built](PoolRebuild::build) without the lock and
    /// handed to [`LeaseTable::finish_set_pools`].
    pub fn begin_set_pools(&mut self, pools: &[PoolSpec]) -> Option<PoolRebuild> {
        let fresh: Vec<bool> = pools
            .iter()
            .map(|spec| !self.pools.iter().any(|p| p.spec == *spec))
            .collect();
        if !fresh.contains(&true) {
            self.set_pools(pools);
            return None;
        }
        self.touched = Some(Vec::new());
        self.touched_overflow = false;
        Some(PoolRebuild {
            specs: pools.to_vec(),
            fresh,
            snapshot: self.address_states(),
            now: self.clock,
            epoch: self.pools_epoch,
            built: None,
        })
    }

    /// Installs a rebuild begun by [`LeaseTable::begin_set_pools`]:
    /// unchanged pools keep their live allocators, changed ones get the
    /// rebuilt ones with every address that changed since the snapshot
    /// brought up to date. Falls back to [`LeaseTable::set_pools`] when the
    /// rebuild was not built, was overtaken, or too much changed meanwhile.
    pub fn finish_set_pools(&mut self, rebuild: PoolRebuild) {
        let touched = self.touched.take();
        let PoolRebuild {
            specs,
            fresh,
            snapshot,
            epoch,
            built,
            ..
        } = rebuild;
        let (Some(mut touched), Some((mut pools, segments)), false, true) = (
            touched,
            built,
            self.touched_overflow,
            epoch == self.pools_epoch,
        ) else {
            self.set_pools(&specs);
            return;
        };
        // Unchanged pools: the live allocators, kept up to date all along.
        let mut live: Vec<Option<Pool>> = self.pools.drain(..).map(Some).collect();
        for (i, is_fresh) in fresh.iter().enumerate() {
            if *is_fresh {
                continue;
            }
            let found = live
                .iter_mut()
                .find(|p| p.as_ref().is_some_and(|p| p.spec == specs[i]))
                .and_then(Option::take);
            match (found, pools.get_mut(i)) {
                (Some(p), Some(slot)) => *slot = p,
                _ => {
                    // Cannot happen (the spec was live at the snapshot); stay correct.
                    self.pools = live.into_iter().flatten().collect();
                    self.set_pools(&specs);
                    return;
                }
            }
        }
        self.pools_epoch += 1;
        self.pools = pools;
        self.pool_index.clear();
        for (i, p) in self.pools.iter().enumerate() {
            self.pool_index.entry(p.spec.name.clone()).or_insert(i);
        }
        self.segments = segments;
        self.sweep_from = 0;
        touched.sort_unstable();
        touched.dedup();
        for ip in touched {
            let before = snapshot
                .binary_search_by_key(&ip, |a| a.0)
                .ok()
                .and_then(|i| snapshot.get(i))
                .map_or(Occupancy::Free, |a| a.1);
            self.sync_only(ip, before, Some(&fresh));
        }
    }

    /// The lease record of an address, in any state.
    pub fn lease(&self, ip: Ipv4Addr) -> Option<&Lease4> {
        self.by_ip
            .get(&ip)
            .and_then(|i| self.slots.get(*i as usize))
    }

    /// Calls `f` on the records of slots `from..from + max`, in any state,
    /// and returns the next slot to scan (`None` past the last): a caller
    /// walks the whole table in slices, releasing the lock between them
    /// (leasequery by MAC address or remote id, RFC 4388 / RFC 6148).
    pub fn scan(&self, from: usize, max: usize, mut f: impl FnMut(&Lease4)) -> Option<usize> {
        let end = from.saturating_add(max).min(self.slots.len());
        for l in self.slots.get(from..end).unwrap_or(&[]) {
            f(l);
        }
        (end < self.slots.len()).then_some(end)
    }

    /// All records of the client, in any state.
    pub fn leases_of<'a>(&'a self, client: &'a ClientKey) -> ClientLeases<'a> {
        let cur = self
            .by_client
            .get(&self.client_hash(client))
            .copied()
            .unwrap_or(NIL);
        ClientLeases {
            table: self,
            client,
            cur,
        }
    }

    /// Whether the pool still has an address to allocate at `now` (stage 4 of
    /// pool selection, seed 004 section 5.1). An unknown pool has none.
    pub fn has_free(&self, pool: &str, now: UnixTime) -> bool {
        self.pool(pool)
            .is_some_and(|p| p.free_bits() > 0 || p.unswept_free(now).is_some())
    }

    /// How many addresses of the pool can be allocated at `now`.
    pub fn free_count(&self, pool: &str, now: UnixTime) -> u64 {
        self.pool(pool).map_or(0, |p| p.free_at(now))
    }

    /// Chooses an address for `client` in `pool` (RFC 2131 §4.3.1), in this
    /// order: the client's current binding in the pool; the client's
    /// unexpired offer in the pool; the client's previous address in the pool
    /// (released or expired) if nobody else holds it; `requested` (option 50)
    /// if it is in the pool, not excluded or reserved, and free; a never-used
    /// address; the address whose lease ended longest ago. Reserves nothing,
    /// but sweeps up to 32 of the pool's ended leases and holds if
    /// [`LeaseTable::expire_due`] is behind. `None` = the pool is exhausted
    /// (or unknown).
    pub fn pick(
        &mut self,
        pool: &str,
        client: &ClientKey,
        requested: Option<Ipv4Addr>,
        now: UnixTime,
    ) -> Option<Ipv4Addr> {
        self.advance(now);
        let p = *self.pool_index.get(pool)?;
        // Help a sweep that is behind, so that ended offers count as never
        // used and ended leases queue in the order they ended; bounded, so
        // that a backlog never stalls one packet.
        self.sweep_pool(p, now, PICK_SWEEP);
        let pl = self.pools.get(p)?;

        let mut current: Option<&Lease4> = None;
        let mut previous: Option<(UnixTime, Ipv4Addr)> = None;
        for l in self.leases_of(client) {
            if pl.allocatable_offset(l.ip).is_none() {
                continue;
            }
            match l.state {
                LeaseState::Active if l.is_current(now) => {
                    if current.is_none_or(|c| c.commit_time < l.commit_time) {
                        current = Some(l);
                    }
                }
                LeaseState::Active | LeaseState::Released => {
                    let ended = l.expires_at().unwrap_or(l.commit_time);
                    if previous.is_none_or(|(e, _)| e < ended)
                        && self.is_available_for(l.ip, client, now)
                    {
                        previous = Some((ended, l.ip));
                    }
                }
                LeaseState::Declined => {}
            }
        }
        if let Some(c) = current {
            return Some(c.ip);
        }
        if let Some(ip) = self.offer_of(client, now) {
            if pl.allocatable_offset(ip).is_some() {
                return Some(ip);
            }
        }
        if let Some((_, ip)) = previous {
            return Some(ip);
        }
        if let Some(ip) = requested {
            if pl.allocatable_offset(ip).is_some() && self.is_available_for(ip, client, now) {
                return Some(ip);
            }
        }

        let pl = self.pools.get_mut(p)?;
        if let Some(off) = pl.peek_never_used(&self.by_ip) {
            return pl.ip_of(off);
        }
        // Every address free at `now` is reachable here: the sweep above
        // queued at least one of those whose time ended, if there were any.
        pl.peek_freed().and_then(|off| pl.ip_of(off))
    }

    /// Reserves an offered address for `client` until `until`. A client has
    /// at most one offer: a hold it had on another address is dropped.
    pub fn hold_offer(&mut self, ip: Ipv4Addr, client: &ClientKey, until: UnixTime) {
        if let Some(&prev) = self.offers.get(client) {
            if prev != ip {
                self.update(prev, |t| t.remove_hold(prev));
            }
        }
        self.update(ip, |t| {
            t.remove_hold(ip);
            t.holds.insert(
                ip,
                Hold {
                    client: client.clone(),
                    until,
                },
            );
            t.offers.insert(client.clone(), ip);
            t.hold_timers.insert((until, ip));
        });
    }

    /// Ends the hold on `ip` now if it is the one that ends at `until` (an
    /// offer recycled, withdrawn or taken; a later hold is left alone).
    pub fn end_hold(&mut self, ip: Ipv4Addr, until: UnixTime) {
        if self.holds.get(&ip).is_some_and(|h| h.until == until) {
            self.update(ip, |t| t.remove_hold(ip));
        }
    }

    /// The client's unexpired offer, if any.
    pub fn offer_of(&self, client: &ClientKey, now: UnixTime) -> Option<Ipv4Addr> {
        let ip = *self.offers.get(client)?;
        self.holds
            .get(&ip)
            .is_some_and(|h| h.until > now && h.client == *client)
            .then_some(ip)
    }

    /// Whether `client` may be bound to `ip` now: the address is in no one
    /// else's active lease or offer hold, and in nobody's quarantine (a
    /// declined address conflicts on the wire, whoever declined it).
    pub fn is_available_for(&self, ip: Ipv4Addr, client: &ClientKey, now: UnixTime) -> bool {
        if let Some(l) = self.lease(ip) {
            let blocks = match l.state {
                LeaseState::Active => l.client != *client && l.is_current(now),
                LeaseState::Declined => l.is_current(now),
                LeaseState::Released => false,
            };
            if blocks {
                return false;
            }
        }
        !self
            .holds
            .get(&ip)
            .is_some_and(|h| h.client != *client && h.until > now)
    }

    /// The first pool (in `set_pools` order) whose ranges contain `ip` and
    /// that does not exclude it. Reserved addresses belong to their pool.
    pub fn in_pool(&self, ip: Ipv4Addr) -> Option<&str> {
        let seg = segment_of(&self.segments, ip)?;
        let d = u32::from(ip) - seg.start;
        seg.owners.iter().find_map(|&(p, base)| {
            let pool = self.pools.get(p as usize)?;
            (!pool.excluded.contains(&(base + d))).then_some(pool.spec.name.as_str())
        })
    }

    /// Makes `lease` the active binding of `lease.ip` (RFC 2131 §4.3.2): it
    /// replaces any previous record of that address, and the holds on the
    /// address and the client's own offer end. Returns the previous record.
    pub fn bind(&mut self, lease: Lease4) -> Option<Lease4> {
        let ip = lease.ip;
        if let Some(&o) = self.offers.get(&lease.client) {
            if o != ip {
                self.update(o, |t| t.remove_hold(o));
            }
        }
        self.update(ip, |t| {
            t.remove_hold(ip);
            t.put_record(lease)
        })
    }

    /// Undoes `failed` (a binding whose commit did not reach the store): if
    /// it is still the record of its address, the address gets back its
    /// `durable` record, or, with none, a record that ended at `now` (the
    /// address is free, the client keeps its affinity). A later change of
    /// the address is left alone.
    pub fn restore(&mut self, failed: &Lease4, durable: Option<Lease4>, now: UnixTime) {
        if self.lease(failed.ip) != Some(failed) {
            return;
        }
        let record = durable.unwrap_or_else(|| Lease4 {
            state: LeaseState::Released,
            commit_time: now,
            lifetime: 0,
            ..failed.clone()
        });
        self.advance(now);
        self.update(failed.ip, |t| {
            t.put_record(record);
        });
    }

    /// DHCPRELEASE (RFC 2131 §4.3.4): if `ip` is bound to `client`, the lease
    /// becomes Released (its lifetime is cut so that it ends at `now`), the
    /// address is free again and the client keeps its affinity. Returns the
    /// record to persist.
    pub fn release(&mut self, ip: Ipv4Addr, client: &ClientKey, now: UnixTime) -> Option<Lease4> {
        self.advance(now);
        let l = self.lease(ip)?;
        if l.client != *client || l.state != LeaseState::Active {
            return None;
        }
        self.update(ip, |t| {
            if t.holds.get(&ip).is_some_and(|h| h.client == *client) {
                t.remove_hold(ip);
            }
            let l = t.record_mut(ip)?;
            let end = l.expires_at().map_or(now, |e| e.min(now));
            l.state = LeaseState::Released;
            l.lifetime = lifetime_between(l.commit_time, end);
            Some(l.clone())
        })
    }

    /// DHCPDECLINE (RFC 2131 §4.3.3, §3.1 step 5): if `ip` is bound to
    /// `client`, the address is quarantined (state Declined, not
    /// allocatable until `now + quarantine`). Returns the record to persist.
    ///
    /// Only a binding can be declined: a client declines after its ACK
    /// (RFC 2131 §3.1 step 5, the ARP check of the address it was given),
    /// so a DECLINE of a mere offer hold is refused — otherwise every
    /// DISCOVER + DECLINE pair would quarantine an address for an hour
    /// (issue 21, "DECLINE starvation").
    pub fn decline(
        &mut self,
        ip: Ipv4Addr,
        client: &ClientKey,
        now: UnixTime,
        quarantine: u32,
    ) -> Option<Lease4> {
        self.advance(now);
        let bound = self.lease(ip).is_some_and(|l| {
            l.client == *client && l.state == LeaseState::Active && l.is_current(now)
        });
        if !bound {
            return None;
        }
        self.update(ip, |t| {
            t.remove_hold(ip);
            let l = t.record_mut(ip)?;
            l.state = LeaseState::Declined;
            l.commit_time = now;
            l.lifetime = quarantine;
            Some(l.clone())
        })
    }

    /// Periodic sweep: offer holds, leases and quarantines that ended by `now`
    /// release their addresses (the records stay, for affinity). Handles at
    /// most `max` of them; returns how many.
    pub fn expire_due(&mut self, now: UnixTime, max: usize) -> usize {
        self.advance(now);
        let mut n = 0;
        while n < max {
            let Some(&(t, ip)) = self.hold_timers.first() else {
                break;
            };
            if t > now {
                break;
            }
            self.update(ip, |tb| tb.remove_hold(ip));
            // `remove_hold` only removes the timer of the current hold.
            self.hold_timers.remove(&(t, ip));
            n += 1;
        }
        // A flood's holds are gone: return their memory.
        if self.holds.capacity() > 4 * self.holds.len() + 1024 {
            self.holds.shrink_to(2 * self.holds.len());
            self.offers.shrink_to(2 * self.offers.len());
        }
        let count = self.pools.len();
        for k in 0..count {
            let p = (self.sweep_from + k) % count;
            n += self.sweep_pool(p, now, max - n);
            if n >= max {
                // Start the next sweep where this one stopped, so that one
                // pool's backlog does not starve the others.
                self.sweep_from = p;
                break;
            }
        }
        n
    }

    /// Counters at `now`. O(records): for stats, not per packet.
    pub fn stats(&self, now: UnixTime) -> LeaseStats {
        let mut s = LeaseStats::default();
        for l in &self.slots {
            match (l.state, l.is_current(now)) {
                (LeaseState::Active, true) => s.active += 1,
                (LeaseState::Declined, true) => s.declined += 1,
                (LeaseState::Released, _) => s.released += 1,
                (_, false) => s.expired += 1,
            }
        }
        s.offered = self.holds.values().filter(|h| h.until > now).count() as u64;
        s.pools = self
            .pools
            .iter()
            .map(|p| {
                let free = p.free_at(now);
                PoolStats {
                    name: p.spec.name.clone(),
                    size: p.size,
                    blocked: p.blocked,
                    used: p.size - p.blocked - free,
                    free,
                }
            })
            .collect();
        s
    }

    /// Keeps (or stops keeping) the leases whose time ends, for
    /// [`LeaseTable::take_ended`]: `lease.expired` events while somebody
    /// listens. At most [`MAX_ENDED`] wait; beyond, the oldest stay.
    pub fn collect_ended(&mut self, on: bool) {
        self.collect_ended = on;
        if !on {
            self.ended = Vec::new();
        }
    }

    /// The leases whose time ended since the last call.
    pub fn take_ended(&mut self) -> Vec<Lease4> {
        std::mem::take(&mut self.ended)
    }

    /// Per-pool utilisation at `now`, in `set_pools` order. O(records):
    /// for the management API, not per packet.
    pub fn pool_usage(&self, now: UnixTime) -> Vec<PoolUsage> {
        let mut out: Vec<PoolUsage> = self
            .pools
            .iter()
            .map(|p| {
                let free = p.free_at(now);
                PoolUsage {
                    name: p.spec.name.clone(),
                    size: p.size,
                    blocked: p.blocked,
                    used: p.size - p.blocked - free,
                    free,
                    declined: 0,
                    offered: 0,
                }
            })
            .collect();
        let index = |ip: Ipv4Addr| {
            let name = self.in_pool(ip)?;
            out.iter().position(|u| u.name == name)
        };
        let mut declined = vec![0u64; out.len()];
        let mut offered = vec![0u64; out.len()];
        for l in &self.slots {
            if l.state == LeaseState::Declined && l.is_current(now) {
                if let Some(i) = index(l.ip) {
                    declined[i] += 1;
                }
            }
        }
        for (ip, h) in &self.holds {
            if h.until > now {
                if let Some(i) = index(*ip) {
                    offered[i] += 1;
                }
            }
        }
        for (i, u) in out.iter_mut().enumerate() {
            u.declined = declined[i];
            u.offered = offered[i];
        }
        out
    }

    /// Approximate heap bytes of the table itself: records (with their own
    /// allocations), indexes, holds and allocators.
    pub fn approx_bytes(&self) -> usize {
        // hashbrown: one control byte per bucket, buckets ≈ capacity * 8 / 7.
        fn map<K, V, S>(m: &HashMap<K, V, S>) -> usize {
            m.capacity() * 8 / 7 * (std::mem::size_of::<(K, V)>() + 1)
        }
        // Each small Vec/String allocation costs at least one 32-byte malloc chunk.
        let alloc = |len: usize| {
            if len == 0 {
                0
            } else {
                len.div_ceil(16) * 16 + 16
            }
        };
        let records: usize = self
            .slots
            .iter()
            .map(|l| {
                alloc(l.client.0.len())
                    + alloc(l.hwaddr.len())
                    + alloc(l.pool.len())
                    + l.trusted_id.as_ref().map_or(0, |v| alloc(v.len()))
                    + l.hostname.as_ref().map_or(0, |h| alloc(h.len()))
            })
            .sum();
        self.slots.capacity() * std::mem::size_of::<Lease4>()
            + self.next.capacity() * 4
            + records
            + map(&self.by_ip)
            + map(&self.by_client)
            + map(&self.holds)
            + map(&self.offers)
            + self.hold_timers.len() * 24
            + self.pools.iter().map(Pool::bytes).sum::<usize>()
    }

    /// Frees up to `max` addresses of pool `p` whose occupancy ended by `now`.
    fn sweep_pool(&mut self, p: usize, now: UnixTime, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some(pool) = self.pools.get_mut(p) else {
                break;
            };
            let Some(&(t, off)) = pool.timers.first() else {
                break;
            };
            if t > now {
                break;
            }
            pool.timers.remove(&(t, off));
            n += 1;
            if let Some(ip) = pool.ip_of(off) {
                self.update(ip, |_| ());
                if self.collect_ended && self.ended.len() < MAX_ENDED {
                    // The timer of an active lease fires when the lease ends
                    // (by a sweep, or by a pick that helps one).
                    if let Some(l) = self.lease(ip) {
                        if l.state == LeaseState::Active && !l.is_current(now) {
                            let l = l.clone();
                            self.ended.push(l);
                        }
                    }
                }
            }
        }
        n
    }

    fn pool(&self, name: &str) -> Option<&Pool> {
        self.pool_index.get(name).and_then(|i| self.pools.get(*i))
    }

    fn advance(&mut self, now: UnixTime) {
        self.clock = self.clock.max(now);
    }

    fn client_hash(&self, client: &ClientKey) -> u64 {
        self.client_hasher.hash_one(client)
    }

    fn record_mut(&mut self, ip: Ipv4Addr) -> Option<&mut Lease4> {
        let i = *self.by_ip.get(&ip)?;
        self.slots.get_mut(i as usize)
    }

    /// The end of the address's occupancy as recorded, ignoring the clock:
    /// the key of its timers if it has any.
    fn raw_occupancy(&self, ip: Ipv4Addr) -> Occupancy {
        let lease = self.lease(ip).map_or(Occupancy::Free, Occupancy::of_lease);
        lease.max(hold_occupancy(&self.holds, ip))
    }

    /// Runs a change of the state of `ip`, then brings the pools that
    /// contain `ip` up to date.
    fn update<R>(&mut self, ip: Ipv4Addr, change: impl FnOnce(&mut Self) -> R) -> R {
        let before = self.raw_occupancy(ip);
        let r = change(self);
        self.sync(ip, before);
        r
    }

    /// Makes every pool containing `ip` agree with the address's state at the
    /// clock; `before` is the occupancy its timers were registered with.
    fn sync(&mut self, ip: Ipv4Addr, before: Occupancy) {
        if let Some(t) = &mut self.touched {
            if t.len() < MAX_TOUCHED {
                t.push(ip);
            } else {
                self.touched_overflow = true;
            }
        }
        self.sync_only(ip, before, None);
    }

    /// [`LeaseTable::sync`] for the pools flagged in `only` (all without).
    fn sync_only(&mut self, ip: Ipv4Addr, before: Occupancy, only: Option<&[bool]>) {
        let now = self.clock;
        if self.holds.get(&ip).is_some_and(|h| h.until <= now) {
            self.remove_hold(ip);
        }
        let occ = self.raw_occupancy(ip).at(now);
        let has_record = self.by_ip.contains_key(&ip);
        let Some(seg) = segment_of(&self.segments, ip) else {
            return;
        };
        let d = u32::from(ip) - seg.start;
        for &(p, base) in seg.owners.iter() {
            if only.is_some_and(|o| !o.get(p as usize).copied().unwrap_or(false)) {
                continue;
            }
            let Some(pool) = self.pools.get_mut(p as usize) else {
                continue;
            };
            let off = base + d;
            if let Occupancy::Until(t) = before {
                pool.timers.remove(&(t, off));
            }
            if pool.is_blocked(off) {
                continue;
            }
            match occ {
                Occupancy::Free => pool.mark_free(off, has_record),
                Occupancy::Until(t) => {
                    pool.mark_used(off);
                    pool.timers.insert((t, off));
                }
                Occupancy::Forever => pool.mark_used(off),
            }
        }
    }

    /// Fills the allocators of the pools flagged in `targets` (new, empty)
    /// from the records and holds, at the clock.
    fn populate(&mut self, targets: &[bool]) {
        let addresses = self.address_states();
        populate_pools(
            &mut self.pools,
            &self.segments,
            targets,
            self.clock,
            addresses.into_iter(),
        );
    }

    /// Every address with a record or a hold: its occupancy (not yet at
    /// any time) and, with a record, when its lease ended.
    fn address_states(&self) -> Vec<AddressState> {
        let holds = &self.holds;
        self.slots
            .iter()
            .map(|l| {
                (
                    l.ip,
                    Occupancy::of_lease(l).max(hold_occupancy(holds, l.ip)),
                    Some(l.expires_at().unwrap_or(l.commit_time)),
                )
            })
            .chain(
                holds
                    .iter()
                    .filter(|(ip, _)| !self.by_ip.contains_key(ip))
                    .map(|(ip, h)| (*ip, Occupancy::Until(h.until), None)),
            )
            .collect()
    }

    fn remove_hold(&mut self, ip: Ipv4Addr) {
        if let Some(h) = self.holds.remove(&ip) {
            self.hold_timers.remove(&(h.until, ip));
            if self.offers.get(&h.client) == Some(&ip) {
                self.offers.remove(&h.client);
            }
        }
    }

    /// Stores `lease` as the record of its address and keeps the client
    /// chains right; returns the record it replaces.
    fn put_record(&mut self, lease: Lease4) -> Option<Lease4> {
        let new_hash = self.client_hash(&lease.client);
        // NIL is the chain terminator: 2^32 - 1 records would mean every IPv4
        // address has one; the last is refused rather than corrupt the chains.
        let next_slot = u32::try_from(self.slots.len()).ok().filter(|i| *i != NIL);
        let i = match self.by_ip.entry(lease.ip) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                let i = next_slot?;
                e.insert(i);
                self.slots.push(lease);
                self.next.push(NIL);
                self.link(i, new_hash);
                return None;
            }
        };
        let slot = self.slots.get_mut(i as usize)?;
        let old = std::mem::replace(slot, lease);
        let old_hash = if old.client == slot.client {
            new_hash
        } else {
            self.client_hash(&old.client)
        };
        if old_hash != new_hash {
            self.unlink(i, old_hash);
            self.link(i, new_hash);
        }
        Some(old)
    }

    fn link(&mut self, i: u32, hash: u64) {
        let head = self.by_client.insert(hash, i).unwrap_or(NIL);
        if let Some(n) = self.next.get_mut(i as usize) {
            *n = head;
        }
    }

    fn unlink(&mut self, i: u32, hash: u64) {
        let after = self.next.get(i as usize).copied().unwrap_or(NIL);
        let Some(&head) = self.by_client.get(&hash) else {
            return;
        };
        if head == i {
            if after == NIL {
                self.by_client.remove(&hash);
            } else {
                self.by_client.insert(hash, after);
            }
            return;
        }
        let mut cur = head;
        while cur != NIL {
            let n = self.next.get(cur as usize).copied().unwrap_or(NIL);
            if n == i {
                if let Some(c) = self.next.get_mut(cur as usize) {
                    *c = after;
                }
                return;
            }
            cur = n;
        }
    }
}

/// How long the offer hold on `ip`, if any, occupies it.
fn hold_occupancy(holds: &FastMap<Ipv4Addr, Hold>, ip: Ipv4Addr) -> Occupancy {
    if holds.is_empty() {
        // Skips hashing the address on the common path.
        return Occupancy::Free;
    }
    holds
        .get(&ip)
        .map_or(Occupancy::Free, |h| Occupancy::Until(h.until))
}

/// Lifetime that makes a lease committed at `commit` end at `end`
/// (`u32::MAX` is reserved for "infinite").
fn lifetime_between(commit: UnixTime, end: UnixTime) -> u32 {
    u32::try_from(end.saturating_sub(commit))
        .unwrap_or(u32::MAX - 1)
        .min(u32::MAX - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use headend_store::LeaseProtocol;
    use std::collections::BTreeMap;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn key(n: u32) -> ClientKey {
        let b = n.to_be_bytes();
        ClientKey::from_hardware(1, &[0x00, 0x10, 0x95, b[1], b[2], b[3]])
    }

    fn lease(addr: Ipv4Addr, client: &ClientKey, commit: UnixTime, lifetime: u32) -> Lease4 {
        Lease4 {
            ip: addr,
            client: client.clone(),
            hwaddr: client.0.get(1..).unwrap_or_default().to_vec(),
            state: LeaseState::Active,
            commit_time: commit,
            lifetime,
            relay: Ipv4Addr::new(10, 0, 0, 254),
            protocol: LeaseProtocol::Dhcp,
            pool: "A".into(),
            trusted_id: None,
            trusted_id_type: None,
            hostname: None,
            relay_info: None,
        }
    }

    fn spec(name: &str, ranges: &[(&str, &str)], exclude: &[&str], reserved: &[&str]) -> PoolSpec {
        PoolSpec {
            name: name.into(),
            ranges: ranges.iter().map(|(a, b)| (ip(a), ip(b))).collect(),
            exclude: exclude.iter().map(|a| ip(a)).collect(),
            reserved: reserved.iter().map(|a| ip(a)).collect(),
            stripe: (0, 1),
        }
    }

    #[test]
    fn cluster_nodes_take_never_used_addresses_from_their_own_stripe_first() {
        // Two nodes, one pool of 256 addresses: four 64-address blocks.
        let mut specs = [
            spec("p", &[("10.0.0.0", "10.0.0.255")], &[], &[]),
            spec("p", &[("10.0.0.0", "10.0.0.255")], &[], &[]),
        ];
        specs[0].stripe = (0, 2);
        specs[1].stripe = (1, 2);
        let mut a = table(&specs[..1]);
        let mut b = table(&specs[1..]);
        let mut from_a = Vec::new();
        let mut from_b = Vec::new();
        for i in 0..128u32 {
            let k = key(i);
            let ip = a.pick("p", &k, None, 0).unwrap();
            a.bind(lease(ip, &k, 0, 3600));
            from_a.push(u32::from(ip) & 0xff);
            let k = key(1000 + i);
            let ip = b.pick("p", &k, None, 0).unwrap();
            b.bind(lease(ip, &k, 0, 3600));
            from_b.push(u32::from(ip) & 0xff);
        }
        // Each node's first 128 addresses are its own blocks: no overlap.
        assert!(from_a.iter().all(|o| (o / 64) % 2 == 0), "{from_a:?}");
        assert!(from_b.iter().all(|o| (o / 64) % 2 == 1), "{from_b:?}");
        // Its blocks full, a node goes on in the other's.
        let ip = a.pick("p", &key(5000), None, 0).unwrap();
        assert_eq!((u32::from(ip) & 0xff) / 64 % 2, 1);
    }

    fn table(pools: &[PoolSpec]) -> LeaseTable {
        let mut t = LeaseTable::new();
        t.set_pools(pools);
        t
    }

    /// Picks for `client` and binds what was picked, as a DHCPREQUEST would.
    fn take(
        t: &mut LeaseTable,
        pool: &str,
        client: &ClientKey,
        now: UnixTime,
        life: u32,
    ) -> Option<Ipv4Addr> {
        let a = t.pick(pool, client, None, now)?;
        assert!(t.is_available_for(a, client, now));
        t.bind(lease(a, client, now, life));
        Some(a)
    }

    #[test]
    fn never_used_addresses_come_in_order_and_pick_reserves_nothing() {
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.4")], &[], &[])]);
        assert_eq!(t.pick("A", &key(1), None, 0), Some(ip("10.0.0.1")));
        assert_eq!(t.pick("A", &key(2), None, 0), Some(ip("10.0.0.1")));
        t.hold_offer(ip("10.0.0.1"), &key(1), 10);
        assert_eq!(t.pick("A", &key(2), None, 0), Some(ip("10.0.0.2")));
        assert_eq!(t.pick("nope", &key(2), None, 0), None);
        assert!(!t.has_free("nope", 0));
    }

    #[test]
    fn current_binding_wins_over_requested_address() {
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.8")], &[], &[])]);
        t.bind(lease(ip("10.0.0.3"), &key(1), 0, 100));
        assert_eq!(
            t.pick("A", &key(1), Some(ip("10.0.0.5")), 50),
            Some(ip("10.0.0.3"))
        );
        // A binding outside the pool is not "in the pool".
        let mut t2 = table(&[
            spec("A", &[("10.0.0.1", "10.0.0.4")], &[], &[]),
            spec("B", &[("10.0.1.1", "10.0.1.4")], &[], &[]),
        ]);
        t2.bind(lease(ip("10.0.1.2"), &key(1), 0, 100));
        assert_eq!(t2.pick("A", &key(1), None, 50), Some(ip("10.0.0.1")));
    }

    #[test]
    fn a_repeated_discover_gets_the_same_offer_and_a_new_offer_drops_the_old_hold() {
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.4")], &[], &[])]);
        t.hold_offer(ip("10.0.0.1"), &key(1), 10);
        assert_eq!(t.pick("A", &key(1), None, 5), Some(ip("10.0.0.1")));
        assert_eq!(t.pick("A", &key(2), None, 5), Some(ip("10.0.0.2")));
        t.hold_offer(ip("10.0.0.2"), &key(1), 10);
        assert_eq!(t.offer_of(&key(1), 5), Some(ip("10.0.0.2")));
        assert!(t.is_available_for(ip("10.0.0.1"), &key(2), 5));
        assert_eq!(t.free_count("A", 5), 3);
    }

    #[test]
    fn affinity_after_release() {
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.4")], &[], &[])]);
        let a = take(&mut t, "A", &key(1), 100, 3600).unwrap();
        assert_eq!(t.free_count("A", 200), 3);
        let r = t.release(a, &key(1), 200).unwrap();
        assert_eq!(r.state, LeaseState::Released);
        assert_eq!(r.expires_at(), Some(200), "the lease ends at the release");
        assert_eq!(t.lease(a), Some(&r));
        assert_eq!(t.free_count("A", 200), 4);
        // Others get never-used addresses first, so the client finds its address again.
        assert_eq!(take(&mut t, "A", &key(2), 300, 3600), Some(ip("10.0.0.2")));
        assert_eq!(t.pick("A", &key(1), None, 400), Some(a));
        // A release by someone else, or a second release, changes nothing.
        assert_eq!(t.release(ip("10.0.0.2"), &key(1), 400), None);
        assert_eq!(t.release(a, &key(1), 400), None);
    }

    #[test]
    fn affinity_after_expiry_before_and_after_the_sweep() {
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.4")], &[], &[])]);
        let a = take(&mut t, "A", &key(1), 0, 100).unwrap();
        assert_eq!(t.pick("A", &key(1), None, 150), Some(a));
        assert_eq!(t.expire_due(150, usize::MAX), 0, "the pick swept it");
        assert_eq!(t.pick("A", &key(1), None, 160), Some(a));
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.4")], &[], &[])]);
        let a = take(&mut t, "A", &key(1), 0, 100).unwrap();
        assert_eq!(t.expire_due(150, usize::MAX), 1);
        assert_eq!(take(&mut t, "A", &key(2), 150, 100), Some(ip("10.0.0.2")));
        assert_eq!(t.pick("A", &key(1), Some(ip("10.0.0.4")), 160), Some(a));
        // Records stay for affinity.
        assert_eq!(t.leases_of(&key(1)).count(), 1);
    }

    #[test]
    fn the_sweep_hands_over_the_leases_that_ended() {
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.4")], &[], &[])]);
        let a = take(&mut t, "A", &key(1), 0, 100).unwrap();
        let b = take(&mut t, "A", &key(2), 0, 1000).unwrap();
        let released = take(&mut t, "A", &key(3), 0, 100).unwrap();
        t.release(released, &key(3), 50);
        t.collect_ended(true);
        t.expire_due(150, usize::MAX);
        let ips: Vec<Ipv4Addr> = t.take_ended().iter().map(|l| l.ip).collect();
        assert_eq!(
            ips,
            [a],
            "only the active lease whose time ended, not {b} nor the released one"
        );
    }

    #[test]
    fn previous_address_taken_by_someone_else_is_not_offered() {
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.2")], &[], &[])]);
        let a = take(&mut t, "A", &key(1), 0, 100).unwrap();
        t.release(a, &key(1), 10);
        take(&mut t, "A", &key(2), 20, 100).unwrap(); // .2, never used
                                                      // Only the released .1 is left: it goes to client 3, ending client 1's affinity.
        assert_eq!(take(&mut t, "A", &key(3), 30, 100), Some(a));
        assert_eq!(t.leases_of(&key(1)).count(), 0);
        assert_eq!(t.pick("A", &key(1), None, 40), None);
        assert!(!t.has_free("A", 40));
        // A previous address held for someone else is skipped too.
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.3")], &[], &[])]);
        let a = take(&mut t, "A", &key(1), 0, 100).unwrap();
        t.release(a, &key(1), 10);
        t.hold_offer(a, &key(2), 50);
        assert_eq!(t.pick("A", &key(1), None, 20), Some(ip("10.0.0.2")));
        assert_eq!(t.pick("A", &key(1), None, 50), Some(a));
    }

    #[test]
    fn requested_address_rules() {
        let mut t = table(&[
            spec(
                "A",
                &[("10.0.0.1", "10.0.0.10")],
                &["10.0.0.5"],
                &["10.0.0.6"],
            ),
            spec("B", &[("10.0.1.1", "10.0.1.10")], &[], &[]),
        ]);
        let c = key(1);
        assert_eq!(
            t.pick("A", &c, Some(ip("10.0.0.9")), 0),
            Some(ip("10.0.0.9"))
        );
        assert_eq!(
            t.pick("A", &c, Some(ip("10.0.0.5")), 0),
            Some(ip("10.0.0.1")),
            "excluded"
        );
        assert_eq!(
            t.pick("A", &c, Some(ip("10.0.0.6")), 0),
            Some(ip("10.0.0.1")),
            "reserved"
        );
        assert_eq!(
            t.pick("A", &c, Some(ip("10.0.1.3")), 0),
            Some(ip("10.0.0.1")),
            "other pool"
        );
        t.hold_offer(ip("10.0.0.9"), &key(2), 100);
        assert_eq!(
            t.pick("A", &c, Some(ip("10.0.0.9")), 0),
            Some(ip("10.0.0.1")),
            "held"
        );
        t.bind(lease(ip("10.0.0.8"), &key(3), 0, 100));
        assert_eq!(
            t.pick("A", &c, Some(ip("10.0.0.8")), 0),
            Some(ip("10.0.0.1")),
            "bound"
        );
        // A released address of someone else is not allocated: it may be requested.
        t.release(ip("10.0.0.8"), &key(3), 10);
        assert_eq!(
            t.pick("A", &c, Some(ip("10.0.0.8")), 20),
            Some(ip("10.0.0.8"))
        );
    }

    #[test]
    fn exclusions_and_reservations_are_never_handed_out() {
        let mut t = table(&[spec(
            "A",
            &[("10.0.0.1", "10.0.0.8")],
            &["10.0.0.2", "10.0.0.3", "10.9.9.9"],
            &["10.0.0.5"],
        )]);
        assert_eq!(t.free_count("A", 0), 5);
        let mut got = Vec::new();
        for n in 0..10 {
            match take(&mut t, "A", &key(n), 0, 100) {
                Some(a) => got.push(a),
                None => break,
            }
        }
        got.sort();
        let want: Vec<Ipv4Addr> = ["10.0.0.1", "10.0.0.4", "10.0.0.6", "10.0.0.7", "10.0.0.8"]
            .iter()
            .map(|a| ip(a))
            .collect();
        assert_eq!(got, want);
        assert!(!t.has_free("A", 0));
        assert_eq!(t.in_pool(ip("10.0.0.2")), None);
        assert_eq!(t.in_pool(ip("10.0.0.5")), Some("A"));
        assert_eq!(t.in_pool(ip("10.0.0.9")), None);
        // After expiry only the same five come back.
        t.expire_due(100, usize::MAX);
        assert_eq!(t.free_count("A", 100), 5);
        let s = t.stats(100);
        assert_eq!(
            s.pools[0],
            PoolStats {
                name: "A".into(),
                size: 8,
                blocked: 3,
                used: 0,
                free: 5
            }
        );
    }

    #[test]
    fn offers_expire() {
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.1")], &[], &[])]);
        let (c1, c2) = (key(1), key(2));
        t.hold_offer(ip("10.0.0.1"), &c1, 10);
        assert_eq!(t.offer_of(&c1, 9), Some(ip("10.0.0.1")));
        assert_eq!(t.offer_of(&c2, 9), None);
        assert!(!t.is_available_for(ip("10.0.0.1"), &c2, 9));
        assert!(t.is_available_for(ip("10.0.0.1"), &c1, 9));
        assert!(!t.has_free("A", 9));
        assert_eq!(t.pick("A", &c2, None, 9), None);
        assert_eq!(t.stats(9).offered, 1);
        // At `until` the hold is over, swept or not.
        assert_eq!(t.offer_of(&c1, 10), None);
        assert!(t.is_available_for(ip("10.0.0.1"), &c2, 10));
        assert!(t.has_free("A", 10));
        assert_eq!(t.free_count("A", 10), 1);
        assert_eq!(t.expire_due(10, usize::MAX), 1);
        assert_eq!(t.stats(10).offered, 0);
        assert_eq!(t.free_count("A", 10), 1);
        assert_eq!(t.pick("A", &c2, None, 10), Some(ip("10.0.0.1")));
        assert!(
            t.lease(ip("10.0.0.1")).is_none(),
            "an offer leaves no record"
        );
    }

    #[test]
    fn bind_clears_holds_and_returns_the_previous_record() {
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.4")], &[], &[])]);
        let (c1, c2) = (key(1), key(2));
        t.hold_offer(ip("10.0.0.1"), &c1, 100);
        // The client took another address (e.g. INIT-REBOOT): its offer ends.
        assert_eq!(t.bind(lease(ip("10.0.0.3"), &c1, 0, 50)), None);
        assert_eq!(t.offer_of(&c1, 1), None);
        assert!(t.is_available_for(ip("10.0.0.1"), &c2, 1));
        t.release(ip("10.0.0.3"), &c1, 10);
        let old = t.bind(lease(ip("10.0.0.3"), &c2, 20, 50)).unwrap();
        assert_eq!(old.client, c1);
        assert_eq!(old.state, LeaseState::Released);
        assert_eq!(t.leases_of(&c1).count(), 0);
        let mine: Vec<Ipv4Addr> = t.leases_of(&c2).map(|l| l.ip).collect();
        assert_eq!(mine, vec![ip("10.0.0.3")]);
    }

    #[test]
    fn a_binding_whose_commit_failed_is_rolled_back_to_the_durable_record() {
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.2")], &[], &[])]);
        let (c1, c2) = (key(1), key(2));
        // A first binding that never reached the store: the address is
        // free again, for anybody.
        let a = take(&mut t, "A", &c1, 0, 3600).unwrap();
        let failed = t.lease(a).cloned().unwrap();
        t.restore(&failed, None, 10);
        assert!(t.is_available_for(a, &c2, 10));
        assert_eq!(t.stats(10).active, 0);
        // A renewal that failed: back to the durable lease, still active.
        let durable = take(&mut t, "A", &c1, 20, 3600)
            .map(|ip| t.lease(ip).cloned().unwrap())
            .unwrap();
        let mut renewed = durable.clone();
        renewed.commit_time = 100;
        t.bind(renewed.clone());
        t.restore(&renewed, Some(durable.clone()), 100);
        assert_eq!(t.lease(durable.ip), Some(&durable));
        // A record changed since is left alone.
        t.restore(&renewed, None, 200);
        assert_eq!(t.lease(durable.ip), Some(&durable));
    }

    #[test]
    fn decline_quarantines_until_its_end() {
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.2")], &[], &[])]);
        let (c1, c2) = (key(1), key(2));
        let a = take(&mut t, "A", &c1, 0, 3600).unwrap();
        assert_eq!(t.decline(a, &c2, 100, 50), None, "not c2's");
        let d = t.decline(a, &c1, 100, 50).unwrap();
        assert_eq!(
            (d.state, d.commit_time, d.lifetime),
            (LeaseState::Declined, 100, 50)
        );
        assert_eq!(t.lease(a), Some(&d));
        // Nobody, not even the decliner, gets it during the quarantine.
        assert!(!t.is_available_for(a, &c1, 149));
        assert!(!t.is_available_for(a, &c2, 149));
        assert_eq!(t.pick("A", &c1, Some(a), 120), Some(ip("10.0.0.2")));
        take(&mut t, "A", &c2, 120, 3600).unwrap();
        assert!(!t.has_free("A", 149));
        assert_eq!(t.stats(149).declined, 1);
        assert_eq!(
            t.release(a, &c1, 130),
            None,
            "a quarantine cannot be released"
        );
        assert!(t.has_free("A", 150));
        assert_eq!(t.expire_due(150, usize::MAX), 1);
        assert_eq!(t.pick("A", &key(3), None, 150), Some(a));
        assert_eq!(t.stats(150).expired, 1);
        // A mere offer cannot be declined: the address stays offered, the
        // pool keeps it.
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.2")], &[], &[])]);
        t.hold_offer(ip("10.0.0.1"), &c1, 10);
        assert_eq!(t.decline(ip("10.0.0.1"), &c1, 5, 60), None, "only held");
        assert_eq!(t.offer_of(&c1, 5), Some(ip("10.0.0.1")));
        assert_eq!(t.stats(5).declined, 0);
        assert_eq!(
            t.decline(ip("10.0.0.2"), &c1, 5, 60),
            None,
            "neither held nor bound"
        );
    }

    #[test]
    fn exhaustion_and_recovery_reuse_the_address_that_ended_longest_ago() {
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.3")], &[], &[])]);
        t.bind(lease(ip("10.0.0.1"), &key(1), 0, 300));
        t.bind(lease(ip("10.0.0.2"), &key(2), 0, 100));
        t.bind(lease(ip("10.0.0.3"), &key(3), 0, 200));
        assert!(!t.has_free("A", 99));
        assert_eq!(t.pick("A", &key(9), None, 99), None);
        assert_eq!(t.free_count("A", 99), 0);
        // Not swept yet: counted all the same.
        assert!(t.has_free("A", 100));
        assert_eq!(t.free_count("A", 250), 2);
        // Swept in expiry order, one at a time.
        assert_eq!(t.expire_due(400, 1), 1);
        assert_eq!(t.expire_due(400, 5), 2);
        assert_eq!(t.expire_due(400, 5), 0);
        assert_eq!(take(&mut t, "A", &key(9), 400, 100), Some(ip("10.0.0.2")));
        assert_eq!(take(&mut t, "A", &key(8), 400, 100), Some(ip("10.0.0.3")));
        assert_eq!(take(&mut t, "A", &key(7), 400, 100), Some(ip("10.0.0.1")));
        assert_eq!(t.pick("A", &key(6), None, 400), None);
    }

    #[test]
    fn pick_helps_a_sweep_that_is_behind() {
        let base = u32::from(ip("10.0.1.0"));
        let mut t = table(&[spec("A", &[("10.0.1.0", "10.0.1.99")], &[], &[])]);
        // Leases ending in reverse address order, more than one pick sweeps.
        for i in 0..100u32 {
            t.bind(lease(Ipv4Addr::from(base + i), &key(i), 0, 1000 - i));
        }
        assert_eq!(t.free_count("A", 1000), 100);
        for k in 0..100u32 {
            let a = take(&mut t, "A", &key(1000 + k), 1000, 5000).unwrap();
            assert_eq!(a, Ipv4Addr::from(base + 99 - k), "pick {k}");
        }
        assert_eq!(t.expire_due(1000, usize::MAX), 0);
        assert!(!t.has_free("A", 1000));
    }

    #[test]
    fn a_freed_address_rebound_and_freed_again_goes_to_the_back() {
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.3")], &[], &[])]);
        for n in 1..=3 {
            take(&mut t, "A", &key(n), 0, 1000).unwrap();
        }
        t.release(ip("10.0.0.1"), &key(1), 10);
        t.release(ip("10.0.0.2"), &key(2), 20);
        // Client 1 comes back to .1 and releases it again after .2.
        assert_eq!(take(&mut t, "A", &key(1), 30, 1000), Some(ip("10.0.0.1")));
        t.release(ip("10.0.0.1"), &key(1), 40);
        assert_eq!(t.pick("A", &key(9), None, 50), Some(ip("10.0.0.2")));
    }

    #[test]
    fn bootp_leases_never_expire() {
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.1")], &[], &[])]);
        let mut l = lease(ip("10.0.0.1"), &key(1), 0, u32::MAX);
        l.protocol = LeaseProtocol::Bootp;
        t.bind(l);
        assert_eq!(t.expire_due(u64::MAX / 2, usize::MAX), 0);
        assert!(!t.has_free("A", u64::MAX / 2));
        assert!(!t.is_available_for(ip("10.0.0.1"), &key(2), u64::MAX / 2));
        assert_eq!(t.stats(u64::MAX / 2).active, 1);
    }

    #[test]
    fn a_pool_rebuilt_off_the_lock_equals_one_rebuilt_under_it() {
        // Two tables with the same history; one installs the new pools with
        // set_pools after the changes, the other rebuilds off the lock while
        // the changes happen (replayed at finish). Both must then agree.
        let old = [spec("A", &[("10.0.0.1", "10.0.0.200")], &[], &[])];
        let new = [
            spec("A", &[("10.0.0.1", "10.0.0.200")], &["10.0.0.7"], &[]),
            spec("B", &[("10.0.1.1", "10.0.1.50")], &[], &[]),
            spec("C", &[("10.0.0.150", "10.0.0.250")], &[], &[]),
        ];
        let history = |t: &mut LeaseTable| {
            for n in 0..120u32 {
                let a = take(t, "A", &key(n), 0, 50 + n % 3 * 100).unwrap();
                if n % 7 == 0 {
                    t.release(a, &key(n), 10);
                }
            }
            t.hold_offer(ip("10.0.0.190"), &key(900), 400);
        };
        let during = |t: &mut LeaseTable| {
            // Binds, releases, a decline, holds, expiries: all while rebuilding.
            for n in 200..230u32 {
                take(t, "A", &key(n), 120, 500).unwrap();
            }
            t.release(ip("10.0.0.2"), &key(1), 121);
            t.decline(ip("10.0.0.3"), &key(2), 122, 3600);
            t.hold_offer(ip("10.0.0.195"), &key(901), 300);
            t.expire_due(160, usize::MAX);
        };
        let mut direct = table(&old);
        history(&mut direct);
        during(&mut direct);
        direct.set_pools(&new);

        let mut rebuilt = table(&old);
        history(&mut rebuilt);
        let mut r = rebuilt.begin_set_pools(&new).expect("pools change");
        during(&mut rebuilt);
        r.build();
        rebuilt.finish_set_pools(r);

        for now in [160, 200, 300, 400, 700] {
            for p in ["A", "B", "C"] {
                assert_eq!(
                    rebuilt.free_count(p, now),
                    direct.free_count(p, now),
                    "pool {p} at {now}"
                );
            }
        }
        // The same addresses are free: taking until each pool is exhausted
        // hands out the same set (the order among freed addresses follows
        // when they were freed, which the replay sees as it happened).
        for p in ["A", "C", "B"] {
            let mut a = std::collections::BTreeSet::new();
            let mut b = std::collections::BTreeSet::new();
            for n in 1000..1400u32 {
                a.extend(take(&mut direct, p, &key(n), 170, 1000));
                b.extend(take(&mut rebuilt, p, &key(n), 170, 1000));
            }
            assert!(!a.is_empty());
            assert_eq!(a, b, "pool {p}");
        }
        // No change: installed at once, nothing to build.
        assert!(rebuilt.begin_set_pools(&new).is_none());
    }

    #[test]
    fn set_pools_keeps_every_lease_and_rebuilds_changed_pools() {
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.4")], &[], &[])]);
        t.bind(lease(ip("10.0.0.1"), &key(1), 0, 100));
        t.bind(lease(ip("10.0.0.3"), &key(3), 0, 100));
        t.hold_offer(ip("10.0.0.4"), &key(4), 50);
        t.set_pools(&[
            spec("A", &[("10.0.0.3", "10.0.0.6")], &[], &[]),
            spec("B", &[("10.0.0.1", "10.0.0.2")], &[], &[]),
        ]);
        assert_eq!(t.len(), 2);
        assert_eq!(t.in_pool(ip("10.0.0.1")), Some("B"));
        assert_eq!(t.pick("A", &key(9), None, 10), Some(ip("10.0.0.5")));
        assert_eq!(t.pick("B", &key(9), None, 10), Some(ip("10.0.0.2")));
        assert_eq!(t.free_count("A", 10), 2);
        assert_eq!(t.offer_of(&key(4), 10), Some(ip("10.0.0.4")));
        // The pool disappears: the lease stays until it expires.
        t.set_pools(&[spec("A", &[("10.0.0.3", "10.0.0.6")], &[], &[])]);
        assert_eq!(t.in_pool(ip("10.0.0.1")), None);
        assert_eq!(
            t.lease(ip("10.0.0.1")).map(|l| l.client.clone()),
            Some(key(1))
        );
        assert!(t.is_available_for(ip("10.0.0.1"), &key(1), 10));
        assert!(!t.is_available_for(ip("10.0.0.1"), &key(2), 10));
        // An unchanged pool keeps its allocator state.
        let before = t.pick("A", &key(9), None, 10);
        t.set_pools(&[spec("A", &[("10.0.0.3", "10.0.0.6")], &[], &[])]);
        assert_eq!(t.pick("A", &key(9), None, 10), before);
        // The rebuilt pool knows the bindings, and what ended longest ago.
        t.set_pools(&[spec("A", &[("10.0.0.1", "10.0.0.4")], &[], &[])]);
        assert_eq!(take(&mut t, "A", &key(5), 60, 1000), Some(ip("10.0.0.2")));
        // .4 was only offered (until 50), .1 and .3 were leased until 100.
        assert_eq!(t.free_count("A", 100), 3);
        assert_eq!(take(&mut t, "A", &key(6), 100, 1000), Some(ip("10.0.0.4")));
        t.expire_due(100, usize::MAX);
        assert_eq!(t.pick("A", &key(7), None, 100), Some(ip("10.0.0.1")));
        assert_eq!(t.pick("A", &key(3), None, 100), Some(ip("10.0.0.3")));
    }

    #[test]
    fn overlapping_pools_share_address_state() {
        let mut t = table(&[
            spec("A", &[("10.0.0.1", "10.0.0.4")], &["10.0.0.2"], &[]),
            spec("B", &[("10.0.0.2", "10.0.0.5")], &[], &[]),
        ]);
        assert_eq!(
            t.in_pool(ip("10.0.0.2")),
            Some("B"),
            "excluded from A, not from B"
        );
        assert_eq!(t.in_pool(ip("10.0.0.3")), Some("A"), "first pool wins");
        assert_eq!(take(&mut t, "B", &key(1), 0, 100), Some(ip("10.0.0.2")));
        assert_eq!(take(&mut t, "B", &key(2), 0, 100), Some(ip("10.0.0.3")));
        assert_eq!(t.free_count("A", 0), 2);
        assert_eq!(take(&mut t, "A", &key(3), 0, 100), Some(ip("10.0.0.1")));
        assert_eq!(take(&mut t, "A", &key(4), 0, 100), Some(ip("10.0.0.4")));
        assert!(!t.has_free("A", 0));
        assert_eq!(t.free_count("B", 0), 1);
        t.release(ip("10.0.0.3"), &key(2), 10);
        assert_eq!(t.pick("A", &key(5), None, 10), Some(ip("10.0.0.3")));
        assert_eq!(t.pick("B", &key(5), None, 10), Some(ip("10.0.0.5")));
    }

    #[test]
    fn load_rebuilds_allocators_and_orders_reuse_by_end_time() {
        let mut released = lease(ip("10.0.0.3"), &key(3), 0, 1000);
        released.state = LeaseState::Released;
        released.lifetime = 50; // released at 50
        let mut declined = lease(ip("10.0.0.4"), &key(4), 100, 100);
        declined.state = LeaseState::Declined;
        let records = vec![
            lease(ip("10.0.0.1"), &key(1), 0, 1000), // active
            lease(ip("10.0.0.2"), &key(2), 0, 10),   // expired at 10
            released,
            declined,                                   // quarantined until 200
            lease(ip("192.168.0.1"), &key(5), 0, 1000), // in no pool
            lease(ip("10.0.0.2"), &key(6), 0, 20),      // replaces the first .2
        ];
        let pools = [spec("A", &[("10.0.0.1", "10.0.0.6")], &[], &[])];
        let mut before = LeaseTable::new();
        before.set_pools(&pools);
        before.load(records.clone(), 150);
        let mut after = LeaseTable::new();
        after.load(records, 150);
        after.set_pools(&pools);
        for t in [&mut before, &mut after] {
            assert_eq!(t.len(), 5);
            assert_eq!(
                t.lease(ip("10.0.0.2")).map(|l| l.client.clone()),
                Some(key(6))
            );
            assert_eq!(t.leases_of(&key(2)).count(), 0);
            assert_eq!(t.lease(ip("192.168.0.1")).map(|l| l.lifetime), Some(1000));
            assert_eq!(t.free_count("A", 150), 4);
            assert_eq!(t.pick("A", &key(3), None, 150), Some(ip("10.0.0.3")));
            assert_eq!(
                take(&mut t.clone_for_test(), "A", &key(9), 150, 10),
                Some(ip("10.0.0.5"))
            );
            assert!(!t.is_available_for(ip("10.0.0.4"), &key(9), 150));
        }
        // Never-used first, then .2 (ended at 20) before .3 (released at 50), then .4 after quarantine.
        let t = &mut before;
        assert_eq!(take(t, "A", &key(9), 150, 1000), Some(ip("10.0.0.5")));
        assert_eq!(take(t, "A", &key(10), 150, 1000), Some(ip("10.0.0.6")));
        assert_eq!(take(t, "A", &key(11), 150, 1000), Some(ip("10.0.0.2")));
        assert_eq!(take(t, "A", &key(12), 150, 1000), Some(ip("10.0.0.3")));
        assert_eq!(t.pick("A", &key(13), None, 199), None);
        assert_eq!(t.pick("A", &key(13), None, 200), Some(ip("10.0.0.4")));
    }

    impl LeaseTable {
        /// A copy through the public API, so a test can try something and throw it away.
        fn clone_for_test(&self) -> LeaseTable {
            let mut t = LeaseTable::new();
            t.set_pools(
                &self
                    .pools
                    .iter()
                    .map(|p| p.spec.clone())
                    .collect::<Vec<_>>(),
            );
            t.load(self.slots.clone(), self.clock);
            for (a, h) in &self.holds {
                t.hold_offer(*a, &h.client, h.until);
            }
            t
        }
    }

    #[test]
    fn leases_of_returns_every_record_of_the_client_only() {
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.9")], &[], &[])]);
        t.bind(lease(ip("10.0.0.1"), &key(1), 0, 100));
        t.bind(lease(ip("10.0.0.2"), &key(1), 0, 100));
        t.bind(lease(ip("10.0.0.3"), &key(2), 0, 100));
        t.release(ip("10.0.0.2"), &key(1), 5);
        let mut mine: Vec<(Ipv4Addr, LeaseState)> =
            t.leases_of(&key(1)).map(|l| (l.ip, l.state)).collect();
        mine.sort_by_key(|(a, _)| *a);
        assert_eq!(
            mine,
            vec![
                (ip("10.0.0.1"), LeaseState::Active),
                (ip("10.0.0.2"), LeaseState::Released)
            ]
        );
        // Moving a record between clients relinks both chains, head or not.
        t.bind(lease(ip("10.0.0.1"), &key(2), 10, 100));
        let mine: Vec<Ipv4Addr> = t.leases_of(&key(1)).map(|l| l.ip).collect();
        assert_eq!(mine, vec![ip("10.0.0.2")]);
        assert_eq!(t.leases_of(&key(2)).count(), 2);
        assert_eq!(t.leases_of(&key(3)).count(), 0);
    }

    #[test]
    fn stats_count_every_state() {
        let mut t = table(&[spec("A", &[("10.0.0.1", "10.0.0.8")], &["10.0.0.8"], &[])]);
        t.bind(lease(ip("10.0.0.1"), &key(1), 0, 100));
        t.bind(lease(ip("10.0.0.2"), &key(2), 0, 10));
        t.bind(lease(ip("10.0.0.3"), &key(3), 0, 100));
        t.release(ip("10.0.0.3"), &key(3), 5);
        t.bind(lease(ip("10.0.0.4"), &key(4), 0, 100));
        t.decline(ip("10.0.0.4"), &key(4), 5, 100);
        t.hold_offer(ip("10.0.0.5"), &key(5), 30);
        let s = t.stats(20);
        assert_eq!(
            (s.active, s.offered, s.declined, s.released, s.expired),
            (1, 1, 1, 1, 1)
        );
        assert_eq!(
            s.pools,
            vec![PoolStats {
                name: "A".into(),
                size: 8,
                blocked: 1,
                used: 3,
                free: 4
            }]
        );
    }

    #[test]
    fn a_million_leases_in_a_slash_12() {
        const N: u32 = 1_000_000;
        let base = u32::from(ip("10.0.0.0"));
        let mut t = table(&[spec("A", &[("10.0.0.0", "10.15.255.255")], &[], &[])]);
        let records = (0..N).map(|i| {
            let mut l = lease(Ipv4Addr::from(base + i), &key(i), 900, 3600);
            match i % 10 {
                0 => {
                    l.state = LeaseState::Released;
                    l.commit_time = 0;
                    l.lifetime = 500 + i / 10_000;
                }
                1 => {
                    l.commit_time = 0;
                    l.lifetime = 800;
                }
                _ => {}
            }
            l
        });
        t.load(records, 1000);
        assert_eq!(t.len(), N as usize);
        let spare = (1u64 << 20) - u64::from(N);
        assert_eq!(t.free_count("A", 1000), spare + u64::from(N) / 5);
        assert!(t.has_free("A", 1000));
        assert_eq!(t.pick("A", &key(0), None, 1000), Some(Ipv4Addr::from(base)));
        assert_eq!(
            t.pick("A", &key(1), None, 1000),
            Some(Ipv4Addr::from(base + 1))
        );
        assert_eq!(
            t.pick("A", &key(5), None, 1000),
            Some(Ipv4Addr::from(base + 5))
        );
        // Every never-used address, once each, in order.
        for k in 0..spare {
            let a = take(&mut t, "A", &key(N + k as u32), 1000, 3600).unwrap();
            assert_eq!(u64::from(u32::from(a)), u64::from(base + N) + k);
        }
        // Then the released ones, the oldest end first.
        assert_eq!(
            take(&mut t, "A", &key(2 * N), 1000, 3600),
            Some(Ipv4Addr::from(base))
        );
        assert_eq!(
            take(&mut t, "A", &key(2 * N + 1), 1000, 3600),
            Some(Ipv4Addr::from(base + 10))
        );
        assert_eq!(t.free_count("A", 1000), u64::from(N) / 5 - 2);
        assert_eq!(t.stats(1000).active, u64::from(N) * 8 / 10 + spare + 2);
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        const CLIENTS: u8 = 9;
        const HOLD: UnixTime = 3;

        #[derive(Debug, Clone)]
        enum Op {
            Discover {
                c: u8,
                pool: u8,
                req: Option<u8>,
            },
            Request {
                c: u8,
                pool: u8,
                req: Option<u8>,
                life: u8,
            },
            Release {
                c: u8,
            },
            Decline {
                c: u8,
                q: u8,
            },
            Tick {
                secs: u8,
            },
            Sweep {
                max: u8,
            },
            Config {
                which: bool,
            },
        }

        fn op() -> impl Strategy<Value = Op> {
            let c = 0..CLIENTS;
            prop_oneof![
                4 => (c.clone(), any::<u8>(), proptest::option::of(0u8..32))
                    .prop_map(|(c, pool, req)| Op::Discover { c, pool, req }),
                4 => (c.clone(), any::<u8>(), proptest::option::of(0u8..32), any::<u8>())
                    .prop_map(|(c, pool, req, life)| Op::Request { c, pool, req, life }),
                2 => c.clone().prop_map(|c| Op::Release { c }),
                1 => (c, 0u8..20).prop_map(|(c, q)| Op::Decline { c, q }),
                3 => (0u8..8).prop_map(|secs| Op::Tick { secs }),
                2 => (0u8..4).prop_map(|max| Op::Sweep { max }),
                1 => any::<bool>().prop_map(|which| Op::Config { which }),
            ]
        }

        fn configs() -> [Vec<PoolSpec>; 2] {
            [
                vec![
                    spec(
                        "A",
                        &[("10.0.0.1", "10.0.0.6")],
                        &["10.0.0.3"],
                        &["10.0.0.5"],
                    ),
                    spec("B", &[("10.0.0.5", "10.0.0.9")], &["10.0.0.8"], &[]),
                ],
                vec![
                    spec(
                        "A",
                        &[("10.0.0.1", "10.0.0.2"), ("10.0.0.20", "10.0.0.22")],
                        &[],
                        &[],
                    ),
                    spec("C", &[("10.0.0.8", "10.0.0.12")], &[], &["10.0.0.9"]),
                ],
            ]
        }

        fn addr(n: u8) -> Ipv4Addr {
            Ipv4Addr::new(10, 0, 0, n)
        }

        /// The oracle: the same rules, written the obvious way.
        #[derive(Default)]
        struct Model {
            recs: BTreeMap<Ipv4Addr, Lease4>,
            holds: BTreeMap<Ipv4Addr, (ClientKey, UnixTime)>,
        }

        impl Model {
            fn available(&self, a: Ipv4Addr, c: &ClientKey, now: UnixTime) -> bool {
                let rec_blocks = self.recs.get(&a).is_some_and(|l| match l.state {
                    LeaseState::Active => l.client != *c && l.is_current(now),
                    LeaseState::Declined => l.is_current(now),
                    LeaseState::Released => false,
                });
                let hold_blocks = self.holds.get(&a).is_some_and(|(h, u)| h != c && *u > now);
                !rec_blocks && !hold_blocks
            }

            fn occupied(&self, a: Ipv4Addr, now: UnixTime) -> bool {
                let rec = self
                    .recs
                    .get(&a)
                    .is_some_and(|l| l.state != LeaseState::Released && l.is_current(now));
                rec || self.holds.get(&a).is_some_and(|(_, u)| *u > now)
            }

            /// RFC 2131 §4.3.1 order, as the table documents it.
            fn check_order(
                &self,
                got: Ipv4Addr,
                c: &ClientKey,
                cands: &[Ipv4Addr],
                requested: Option<Ipv4Addr>,
                now: UnixTime,
            ) -> Result<(), TestCaseError> {
                let mine = || {
                    self.recs
                        .values()
                        .filter(|l| l.client == *c && cands.contains(&l.ip))
                };
                let bound: Vec<Ipv4Addr> = mine()
                    .filter(|l| l.state == LeaseState::Active && l.is_current(now))
                    .map(|l| l.ip)
                    .collect();
                if !bound.is_empty() {
                    prop_assert!(bound.contains(&got), "current binding first");
                    return Ok(());
                }
                let offer = self
                    .holds
                    .iter()
                    .find(|(a, (h, u))| h == c && *u > now && cands.contains(a));
                if let Some((a, _)) = offer {
                    prop_assert_eq!(got, *a, "then the client's offer");
                    return Ok(());
                }
                let previous: Vec<&Lease4> = mine()
                    .filter(|l| l.state != LeaseState::Declined && self.available(l.ip, c, now))
                    .collect();
                if let Some(latest) = previous.iter().filter_map(|l| l.expires_at()).max() {
                    let g = previous.iter().find(|l| l.ip == got);
                    prop_assert!(
                        g.is_some_and(|l| l.expires_at() == Some(latest)),
                        "then the latest previous address"
                    );
                    return Ok(());
                }
                if let Some(r) =
                    requested.filter(|r| cands.contains(r) && self.available(*r, c, now))
                {
                    prop_assert_eq!(got, r, "then the requested address");
                    return Ok(());
                }
                prop_assert!(!self.occupied(got, now), "{got} is not free");
                let never_used = cands
                    .iter()
                    .any(|a| !self.recs.contains_key(a) && !self.occupied(*a, now));
                if never_used {
                    prop_assert!(!self.recs.contains_key(&got), "then a never-used address");
                }
                Ok(())
            }

            fn drop_hold_of(&mut self, c: &ClientKey) {
                self.holds.retain(|_, (h, _)| h != c);
            }
        }

        fn allocatable(p: &PoolSpec) -> Vec<Ipv4Addr> {
            let mut v: Vec<Ipv4Addr> = (0u8..=40)
                .map(addr)
                .filter(|a| p.ranges.iter().any(|(s, e)| s <= a && a <= e))
                .filter(|a| !p.exclude.contains(a) && !p.reserved.contains(a))
                .collect();
            v.dedup();
            v
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

            #[test]
            fn random_operations_keep_the_invariants(ops in proptest::collection::vec(op(), 1..160)) {
                let cfgs = configs();
                let mut cfg = &cfgs[0];
                let mut t = table(cfg);
                let mut m = Model::default();
                let mut now: UnixTime = 1000;
                for op in ops {
                    match op {
                        Op::Discover { c, pool, req } | Op::Request { c, pool, req, .. } => {
                            let client = key(u32::from(c));
                            let p = &cfg[usize::from(pool) % cfg.len()];
                            let got = t.pick(&p.name, &client, req.map(addr), now);
                            let cands = allocatable(p);
                            match got {
                                Some(a) => {
                                    prop_assert!(cands.contains(&a), "{a} not allocatable in {}", p.name);
                                    prop_assert!(m.available(a, &client, now), "{a} is someone else's");
                                    m.check_order(a, &client, &cands, req.map(addr), now)?;
                                }
                                None => prop_assert!(
                                    cands.iter().all(|a| !m.available(*a, &client, now)),
                                    "pick gave up with a free address in {}", p.name
                                ),
                            }
                            let Some(a) = got else { continue };
                            if let Op::Request { life, .. } = op {
                                let lifetime = if life % 16 == 0 { u32::MAX } else { u32::from(life % 30) + 1 };
                                let l = lease(a, &client, now, lifetime);
                                let prev = t.bind(l.clone());
                                prop_assert_eq!(prev, m.recs.insert(a, l));
                                m.holds.remove(&a);
                                m.drop_hold_of(&client);
                            } else {
                                t.hold_offer(a, &client, now + HOLD);
                                m.drop_hold_of(&client);
                                m.holds.insert(a, (client, now + HOLD));
                            }
                        }
                        Op::Release { c } => {
                            let client = key(u32::from(c));
                            let a = m.recs.values().find(|l| l.client == client).map_or(addr(1), |l| l.ip);
                            let got = t.release(a, &client, now);
                            let want = m.recs.get(&a).filter(|l| l.client == client && l.state == LeaseState::Active).map(|l| {
                                let mut l = l.clone();
                                let end = l.expires_at().map_or(now, |e| e.min(now));
                                l.state = LeaseState::Released;
                                l.lifetime = u32::try_from(end - l.commit_time).unwrap();
                                l
                            });
                            prop_assert_eq!(&got, &want);
                            if let Some(l) = want {
                                if m.holds.get(&a).is_some_and(|(h, _)| *h == client) {
                                    m.holds.remove(&a);
                                }
                                m.recs.insert(a, l);
                            }
                        }
                        Op::Decline { c, q } => {
                            let client = key(u32::from(c));
                            let a = m.holds.iter().find(|(_, (h, _))| *h == client).map(|(a, _)| *a)
                                .or_else(|| m.recs.values().find(|l| l.client == client).map(|l| l.ip))
                                .unwrap_or(addr(1));
                            let own = m.recs.get(&a).filter(|l| l.client == client).cloned();
                            let bound = own.as_ref().is_some_and(|l| l.state == LeaseState::Active && l.is_current(now));
                            let got = t.decline(a, &client, now, u32::from(q));
                            // Only a binding can be declined, never a mere offer.
                            prop_assert_eq!(got.is_some(), bound);
                            if let Some(g) = got {
                                prop_assert_eq!((g.ip, &g.client, g.state, g.commit_time, g.lifetime),
                                    (a, &client, LeaseState::Declined, now, u32::from(q)));
                                if let Some(mut o) = own {
                                    o.state = LeaseState::Declined;
                                    o.commit_time = now;
                                    o.lifetime = u32::from(q);
                                    prop_assert_eq!(&g, &o);
                                }
                                m.holds.remove(&a);
                                m.recs.insert(a, g);
                            }
                        }
                        Op::Tick { secs } => now += UnixTime::from(secs),
                        Op::Sweep { max } => {
                            t.expire_due(now, usize::from(max));
                        }
                        Op::Config { which } => {
                            cfg = &cfgs[usize::from(which)];
                            t.set_pools(cfg);
                        }
                    }

                    // Records, indexes, holds and availability match the oracle.
                    for n in 0u8..=40 {
                        let a = addr(n);
                        prop_assert_eq!(t.lease(a), m.recs.get(&a));
                        for c in 0..CLIENTS {
                            let client = key(u32::from(c));
                            prop_assert_eq!(t.is_available_for(a, &client, now), m.available(a, &client, now));
                        }
                        // No address is bound to one client and offered to another.
                        if let (Some(l), Some((h, u))) = (m.recs.get(&a), m.holds.get(&a)) {
                            prop_assert!(!(l.state == LeaseState::Active && l.is_current(now) && *u > now && l.client != *h));
                        }
                    }
                    for c in 0..CLIENTS {
                        let client = key(u32::from(c));
                        let mut mine: Vec<Ipv4Addr> = t.leases_of(&client).map(|l| l.ip).collect();
                        mine.sort();
                        let want: Vec<Ipv4Addr> = m.recs.values().filter(|l| l.client == client).map(|l| l.ip).collect();
                        prop_assert_eq!(mine, want);
                        let offer = m.holds.iter().find(|(_, (h, u))| *h == client && *u > now).map(|(a, _)| *a);
                        prop_assert_eq!(t.offer_of(&client, now), offer);
                    }
                    // Free counts agree with a brute-force count over each pool.
                    for p in cfg {
                        let free = allocatable(p).into_iter().filter(|a| !m.occupied(*a, now)).count() as u64;
                        prop_assert_eq!(t.free_count(&p.name, now), free, "pool {}", p.name);
                        prop_assert_eq!(t.has_free(&p.name, now), free > 0, "pool {}", p.name);
                    }
                    let s = t.stats(now);
                    let active = m.recs.values().filter(|l| l.state == LeaseState::Active && l.is_current(now)).count() as u64;
                    let offered = m.holds.values().filter(|(_, u)| *u > now).count() as u64;
                    prop_assert_eq!((s.active, s.offered), (active, offered));
                }
            }
        }
    }
}
