//! Several nodes serving one lease space from one shared store (issue 16):
//! RFC 3074 load balancing of the 256 client buckets with failover.
//!
//! Every node hears every client (the CMTS relays to each helper address);
//! exactly one answers: the node that owns the client's bucket
//! (`headend_store::cluster`), as recorded in the shared database. The
//! configured split (`[cluster] nodes`, `weights`) says who *should* own
//! each bucket; this module's [`plan`] compares that with the database's
//! view and says what to do, and the [`Agent`] (a thread) does it, each
//! heartbeat:
//!
//! - a node owns a bucket only at its current epoch; it **hands** a bucket
//!   to the node it belongs to once that node is live, after it has stopped
//!   answering the bucket and its commits in flight have landed;
//! - a node **takes** a bucket that belongs to it from a node whose
//!   heartbeat has expired, after **fencing** that node (bumping its epoch,
//!   which waits for its writes in flight and stops all later ones), then
//!   loads the bucket's leases from the database before it answers;
//! - when a bucket's preferred node is down, the live nodes share it
//!   (bucket number modulo the live nodes, in configured order).
//!
//! No address is leased twice whatever the timing: a joined store writes
//! leases as claims the database checks (`headend-store-pg`). No two nodes
//! answer one bucket: a node stops answering when it has not renewed its
//! liveness within the TTL by its own clock (before the others may take
//! over, by the database's), and a bucket moves only by the owner's hand or
//! after the owner's fence.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use headend_model::cluster::ClusterSettings;
use headend_store::cluster::{BucketSet, ClusterView, Coordinator, BUCKETS};
use headend_store::GroupCommitter;
use parking_lot::Mutex;
use tracing::{error, info, warn};

use headend_store::{Lease4, Lease6};

/// Leases put into a lease table per hold of its lock when buckets arrive.
pub const LOAD_SLICE: usize = 4096;

/// How often a node looks at the database while buckets are being handed to it.
const AWAITING_POLL: Duration = Duration::from_millis(10);

/// Which buckets this node answers, read on every packet.
#[derive(Debug)]
pub struct Membership {
    served: [AtomicU64; 4],
    /// Packets left to the owner of their bucket.
    pub not_ours: AtomicU64,
    status: Mutex<Status>,
}

/// What `headend cluster status` and the metrics show of this node.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// This node's name.
    pub node: String,
    /// Its epoch.
    pub epoch: i64,
    /// The last view of the database.
    pub view: ClusterView,
    /// When the last heartbeat succeeded.
    pub last_ok: Option<std::time::SystemTime>,
    /// The last error of the agent, if the last round failed.
    pub error: Option<String>,
}

impl Membership {
    /// A node that answers no bucket until the agent's first round.
    pub fn new() -> Membership {
        Membership {
            served: Default::default(),
            not_ours: AtomicU64::new(0),
            status: Mutex::new(Status::default()),
        }
    }

    /// Whether this node answers clients of bucket `b`.
    pub fn serves(&self, b: u8) -> bool {
        self.served[usize::from(b >> 6)].load(Ordering::Acquire) & (1u64 << (b & 63)) != 0
    }

    /// The buckets this node answers.
    pub fn served(&self) -> BucketSet {
        BucketSet(std::array::from_fn(|i| {
            self.served[i].load(Ordering::Acquire)
        }))
    }

    fn set_served(&self, set: BucketSet) {
        for (slot, word) in self.served.iter().zip(set.0) {
            slot.store(word, Ordering::Release);
        }
    }

    /// Counts a packet left to another node, and says to drop it.
    pub fn left_to_owner(&self) {
        self.not_ours.fetch_add(1, Ordering::Relaxed);
    }

    /// A copy of the status.
    pub fn status(&self) -> Status {
        self.status.lock().clone()
    }
}

impl Default for Membership {
    fn default() -> Self {
        Membership::new()
    }
}

/// The configured owner of every bucket: an index into `nodes`, contiguous
/// runs sized by weight (largest remainder, in node order).
pub fn preferred(settings: &ClusterSettings) -> [usize; BUCKETS] {
    let n = settings.nodes.len().max(1);
    let weights: Vec<u64> = (0..n)
        .map(|i| u64::from(settings.weights.get(i).copied().unwrap_or(1).max(1)))
        .collect();
    let total: u64 = weights.iter().sum();
    let mut shares: Vec<u64> = weights.iter().map(|w| w * BUCKETS as u64 / total).collect();
    let mut rest: Vec<(u64, usize)> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| (w * BUCKETS as u64 % total, i))
        .collect();
    // Largest remainders first; ties to the earlier node.
    rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut left = BUCKETS as u64 - shares.iter().sum::<u64>();
    for (_, i) in rest {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    let mut out = [0usize; BUCKETS];
    let mut b = 0usize;
    for (i, s) in shares.iter().enumerate() {
        for _ in 0..*s {
            if let Some(slot) = out.get_mut(b) {
                *slot = i;
            }
            b += 1;
        }
    }
    out
}

/// What one round of the agent does, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Buckets to give to (node, its epoch).
    pub hand_over: Vec<(String, i64, Vec<u8>)>,
    /// Expired nodes to fence, at the epoch they own buckets at.
    pub fence: Vec<(String, i64)>,
    /// Buckets to take, from their recorded owner (`None`: nobody yet).
    pub claim: Vec<(u8, Option<(String, i64)>)>,
    /// Buckets this node owns now and keeps.
    pub keep: BucketSet,
    /// Buckets that should be this node's and that a live node still holds:
    /// it is about to hand them over, so the agent looks again soon.
    pub awaiting: usize,
}

/// The round's decisions for `me` at `epoch` (see the module doc);
/// `leaving`: this node is stopping and hands everything over.
pub fn plan(settings: &ClusterSettings, epoch: i64, leaving: bool, view: &ClusterView) -> Plan {
    let me = settings.node.as_str();
    let row = |n: &str| view.nodes.iter().find(|r| r.name == n);
    let live = |n: &str| {
        if n == me {
            !leaving
        } else {
            row(n).is_some_and(|r| r.live && !r.leaving)
        }
    };
    let pref = preferred(settings);
    let alive: Vec<&str> = settings
        .nodes
        .iter()
        .map(String::as_str)
        .filter(|n| live(n))
        .collect();
    let desired = |b: usize| -> Option<&str> {
        let p = settings.nodes.get(pref[b]).map(String::as_str)?;
        if live(p) {
            Some(p)
        } else if alive.is_empty() {
            None
        } else {
            alive.get(b % alive.len()).copied()
        }
    };
    let mut out = Plan::default();
    let mut gifts: std::collections::BTreeMap<(String, i64), Vec<u8>> = Default::default();
    let mut fenced: std::collections::BTreeSet<(String, i64)> = Default::default();
    for b in 0..BUCKETS {
        let Ok(bucket) = u8::try_from(b) else { break };
        let owner = view.buckets.iter().find(|r| r.bucket == bucket);
        let mine = owner.is_some_and(|o| o.owner == me && o.owner_epoch == epoch);
        let want = desired(b);
        if mine {
            match want {
                Some(to) if to != me => match row(to) {
                    Some(r) => gifts
                        .entry((to.to_string(), r.epoch))
                        .or_default()
                        .push(bucket),
                    None => out.keep.insert(bucket),
                },
                // Mine, or nobody else is live (a leaving node keeps
                // answering what no one can take).
                _ => out.keep.insert(bucket),
            }
            continue;
        }
        if want != Some(me) {
            continue;
        }
        match owner {
            None => out.claim.push((bucket, None)),
            Some(o) => {
                let prev = Some((o.owner.clone(), o.owner_epoch));
                match row(&o.owner) {
                    // Its owner's incarnation is gone (restarted, fenced,
                    // or it is this node's own earlier life).
                    r if o.owner == me || r.is_none_or(|r| r.epoch != o.owner_epoch) => {
                        out.claim.push((bucket, prev))
                    }
                    // Alive: it hands the bucket over itself.
                    Some(r) if r.live => out.awaiting += 1,
                    // Silent past its TTL: fence, then take.
                    Some(_) => {
                        fenced.insert((o.owner.clone(), o.owner_epoch));
                        out.claim.push((bucket, prev));
                    }
                    None => {}
                }
            }
        }
    }
    out.hand_over = gifts.into_iter().map(|((n, e), b)| (n, e, b)).collect();
    out.fence = fenced.into_iter().collect();
    out
}

/// Puts a slice of stored records into a server's memory.
pub type LoadFn<T> = Box<dyn Fn(&[T]) + Send>;

/// What the agent acts on besides the database (closures, so that this
/// module stays below the protocol servers it feeds).
pub struct Hooks {
    /// Puts leases of new buckets into the DHCPv4 lease table (called with
    /// slices of at most [`LOAD_SLICE`], one lock hold each).
    pub load4: LoadFn<Lease4>,
    /// Likewise for DHCPv6 bindings.
    pub load6: LoadFn<Lease6>,
    /// The hash of the configuration running now.
    pub config_hash: Box<dyn Fn() -> String + Send>,
    /// The group committer, flushed before a bucket is handed over.
    pub committer: Arc<GroupCommitter>,
    /// Called with each new epoch (the store fences its writes with it).
    pub on_epoch: Box<dyn Fn(i64) + Send>,
}

/// Runs the rounds on a thread of its own (the database client blocks).
pub struct Agent {
    membership: Arc<Membership>,
    leaving: Arc<AtomicBool>,
    left: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    epoch: Arc<AtomicI64>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent").finish_non_exhaustive()
    }
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The first registration or round failed.
    #[error("cluster: {0}")]
    Start(String),
}

struct Round {
    settings: ClusterSettings,
    config_hash: String,
    coord: Box<dyn Coordinator>,
    hooks: Hooks,
    membership: Arc<Membership>,
    epoch: i64,
    /// Local deadline of this node's liveness: past it, answer nothing.
    alive_until: Option<Instant>,
    /// The first round since start: buckets taken from this node's own
    /// earlier life need no load (the start-up load read them).
    first: bool,
    /// Buckets the last round saw another live node still hold for this one.
    awaiting: usize,
    /// The database already says this node is leaving: the others look
    /// often for its buckets from then on, so it hands them over a round later.
    leave_announced: bool,
}

impl Round {
    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.settings.takeover.as_millis()).unwrap_or(u64::MAX)
    }

    fn register(&mut self) -> Result<(), String> {
        let ttl = self.ttl_ms();
        let started = Instant::now();
        let epoch = self
            .coord
            .register(
                &self.settings.node,
                ttl,
                &self.config_hash,
                env!("CARGO_PKG_VERSION"),
            )
            .map_err(|e| e.to_string())?;
        self.epoch = epoch;
        (self.hooks.on_epoch)(epoch);
        self.alive_until = Some(started + self.settings.takeover.mul_f32(0.8));
        let mut st = self.membership.status.lock();
        st.node = self.settings.node.clone();
        st.epoch = epoch;
        info!(node = %self.settings.node, epoch, "cluster: registered");
        Ok(())
    }

    /// One heartbeat and one plan carried out.
    fn run(&mut self, leaving: bool) -> Result<(), String> {
        let started = Instant::now();
        // What runs now: a reload (SIGHUP, API) changes it.
        let hash = (self.hooks.config_hash)();
        if hash != self.config_hash {
            info!(from = %self.config_hash, to = %hash, "cluster: reporting the reloaded configuration");
            self.config_hash = hash;
        }
        let ttl = self.ttl_ms();
        let still = self
            .coord
            .heartbeat(
                &self.settings.node,
                self.epoch,
                ttl,
                &self.config_hash,
                leaving,
            )
            .map_err(|e| e.to_string())?;
        if !still {
            // Fenced: another node took this one's buckets. Nothing it had
            // can commit any more; start again under a new epoch.
            warn!(node = %self.settings.node, epoch = self.epoch, "cluster: this node was fenced; registering again");
            self.membership.set_served(BucketSet::default());
            self.register()?;
        }
        self.alive_until = Some(started + self.settings.takeover.mul_f32(0.8));
        let view = self.coord.view().map_err(|e| e.to_string())?;
        let hand_all = leaving && self.leave_announced;
        self.leave_announced = leaving;
        let p = plan(&self.settings, self.epoch, hand_all, &view);
        self.awaiting = p.awaiting;
        let mut served = p.keep;
        // Owned but not answered yet: handed to this node by another (or
        // dropped at a missed deadline): its leases first.
        let before = self.membership.served();
        let mut arrived = BucketSet::default();
        for b in p.keep.iter().filter(|b| !before.contains(*b)) {
            arrived.insert(b);
        }
        if !arrived.is_empty() && !self.first {
            self.load(&arrived)?;
            info!(buckets = %arrived.ranges(), "cluster: buckets handed to this node");
        }
        for (to, to_epoch, buckets) in &p.hand_over {
            // Stop answering first, then let every commit in flight land,
            // then give: the receiver loads a complete picture.
            let mut now_served = self.membership.served();
            for b in buckets {
                now_served.remove(*b);
            }
            self.membership.set_served(now_served);
            self.hooks
                .committer
                .flush_blocking()
                .map_err(|e| format!("flushing before a hand-over: {e}"))?;
            let given = self
                .coord
                .hand_over(&self.settings.node, self.epoch, buckets, to, *to_epoch)
                .map_err(|e| e.to_string())?;
            info!(to = %to, buckets = %set_of(&given).ranges(), "cluster: handed buckets over");
        }
        for (node, epoch) in &p.fence {
            match self.coord.fence(node, *epoch) {
                Ok(true) => warn!(node = %node, epoch, "cluster: fenced a silent node"),
                Ok(false) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        if !p.claim.is_empty() {
            let taken = self
                .coord
                .claim(&self.settings.node, self.epoch, &p.claim)
                .map_err(|e| e.to_string())?;
            let taken = set_of(&taken);
            // Buckets this node's own earlier life held were loaded at start.
            let mut load = taken;
            if self.first {
                for (b, prev) in &p.claim {
                    if prev.as_ref().is_some_and(|(o, _)| *o == self.settings.node) {
                        load.remove(*b);
                    }
                }
            }
            if !load.is_empty() {
                self.load(&load)?;
            }
            if !taken.is_empty() {
                info!(buckets = %taken.ranges(), loaded = %load.ranges(), "cluster: took buckets");
            }
            for b in taken.iter() {
                served.insert(b);
            }
        }
        self.first = false;
        self.membership.set_served(served);
        let mut st = self.membership.status.lock();
        st.view = view;
        st.last_ok = Some(std::time::SystemTime::now());
        st.error = None;
        Ok(())
    }

    /// Puts the stored leases of `buckets` into memory.
    fn load(&mut self, buckets: &BucketSet) -> Result<(), String> {
        let v4 = self.coord.leases4_in(buckets).map_err(|e| e.to_string())?;
        let v6 = self.coord.leases6_in(buckets).map_err(|e| e.to_string())?;
        let (n4, n6) = (v4.len(), v6.len());
        // In slices: the packet path takes the same locks between them.
        for chunk in v4.chunks(LOAD_SLICE) {
            (self.hooks.load4)(chunk);
        }
        for chunk in v6.chunks(LOAD_SLICE) {
            (self.hooks.load6)(chunk);
        }
        info!(leases4 = n4, leases6 = n6, buckets = %buckets.ranges(), "cluster: loaded the leases of taken buckets");
        Ok(())
    }

    /// Past the local liveness deadline: answer nothing (the others may
    /// take over once the database's clock says so).
    fn check_deadline(&self) {
        if self.alive_until.is_some_and(|t| Instant::now() >= t)
            && !self.membership.served().is_empty()
        {
            error!(node = %self.settings.node, "cluster: no heartbeat within the TTL; answering no bucket until one succeeds");
            self.membership.set_served(BucketSet::default());
        }
    }
}

fn set_of(list: &[u8]) -> BucketSet {
    let mut s = BucketSet::default();
    for b in list {
        s.insert(*b);
    }
    s
}

impl Agent {
    /// Registers this node, runs a first round (the buckets it takes are
    /// loaded before this returns, so the node answers from its first
    /// packet), then keeps going every heartbeat on a thread.
    pub fn start(
        settings: ClusterSettings,
        config_hash: String,
        coord: Box<dyn Coordinator>,
        hooks: Hooks,
        membership: Arc<Membership>,
    ) -> Result<Agent, ClusterError> {
        let mut round = Round {
            settings,
            config_hash,
            coord,
            hooks,
            membership: membership.clone(),
            epoch: 0,
            alive_until: None,
            first: true,
            awaiting: 0,
            leave_announced: false,
        };
        round.register().map_err(ClusterError::Start)?;
        round.run(false).map_err(ClusterError::Start)?;
        let leaving = Arc::new(AtomicBool::new(false));
        let left = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let epoch = Arc::new(AtomicI64::new(round.epoch));
        let (l, d, s, e) = (leaving.clone(), left.clone(), stop.clone(), epoch.clone());
        let period = round.settings.heartbeat;
        let thread = std::thread::Builder::new()
            .name("headend-cluster".into())
            .spawn(move || {
                while !s.load(Ordering::Acquire) {
                    // A hand-over to this node is coming: its buckets go
                    // unanswered from when the giver stops until this node
                    // sees them, so look often until they arrive.
                    let wait = if round.awaiting > 0 {
                        AWAITING_POLL.min(period)
                    } else {
                        period
                    };
                    std::thread::sleep(wait);
                    let is_leaving = l.load(Ordering::Acquire);
                    match round.run(is_leaving) {
                        Ok(()) => {
                            if is_leaving && round.membership.served().is_empty() {
                                d.store(true, Ordering::Release);
                            }
                        }
                        Err(err) => {
                            warn!(error = %err, "cluster: round failed");
                            round.membership.status.lock().error = Some(err);
                            round.check_deadline();
                        }
                    }
                    e.store(round.epoch, Ordering::Release);
                }
            })
            .map_err(|e| ClusterError::Start(e.to_string()))?;
        Ok(Agent {
            membership,
            leaving,
            left,
            stop,
            thread: Mutex::new(Some(thread)),
            epoch,
        })
    }

    /// The node's current epoch.
    pub fn epoch(&self) -> i64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Hands every bucket to the live nodes before a stop, waiting up to
    /// `within`; returns whether all were handed (a node alone keeps them).
    pub fn leave(&self, within: Duration) -> bool {
        self.leaving.store(true, Ordering::Release);
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.left.load(Ordering::Acquire) {
                info!("cluster: every bucket handed over");
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        warn!(
            kept = %self.membership.served().ranges(),
            "cluster: buckets not handed over before the stop (no other node live?)"
        );
        false
    }

    /// Stops the rounds (the node's heartbeat then expires).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use headend_store::cluster::{BucketRow, NodeRow};

    fn settings(me: &str, nodes: &[&str]) -> ClusterSettings {
        ClusterSettings {
            node: me.into(),
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
            weights: vec![1; nodes.len()],
            heartbeat: Duration::from_millis(250),
            takeover: Duration::from_secs(3),
        }
    }

    fn node(name: &str, epoch: i64, live: bool) -> NodeRow {
        NodeRow {
            name: name.into(),
            epoch,
            live,
            leaving: false,
            config_hash: String::new(),
            version: String::new(),
            silent_ms: 0,
        }
    }

    fn owned(view: &mut ClusterView, range: std::ops::Range<u16>, owner: &str, epoch: i64) {
        for b in range {
            view.buckets.push(BucketRow {
                bucket: b as u8,
                owner: owner.into(),
                owner_epoch: epoch,
            });
        }
    }

    #[test]
    fn the_split_follows_the_weights() {
        let mut s = settings("a", &["a", "b", "c"]);
        let p = preferred(&s);
        let count = |i| p.iter().filter(|x| **x == i).count();
        assert_eq!((count(0), count(1), count(2)), (86, 85, 85));
        s.weights = vec![2, 1, 1];
        let p = preferred(&s);
        let count = |i| p.iter().filter(|x| **x == i).count();
        assert_eq!((count(0), count(1), count(2)), (128, 64, 64));
        assert!(p.windows(2).all(|w| w[0] <= w[1]), "contiguous runs");
    }

    #[test]
    fn a_fresh_cluster_claims_its_preferred_buckets() {
        let s = settings("a", &["a", "b"]);
        let view = ClusterView {
            nodes: vec![node("a", 1, true), node("b", 1, true)],
            buckets: vec![],
        };
        let p = plan(&s, 1, false, &view);
        assert_eq!(p.claim.len(), 128);
        assert!(p.claim.iter().all(|(b, prev)| *b < 128 && prev.is_none()));
        assert!(p.hand_over.is_empty() && p.fence.is_empty() && p.keep.is_empty());
    }

    #[test]
    fn a_silent_node_is_fenced_and_its_buckets_shared() {
        let s = settings("a", &["a", "b", "c"]);
        let mut view = ClusterView {
            nodes: vec![node("a", 1, true), node("b", 4, false), node("c", 2, true)],
            buckets: vec![],
        };
        owned(&mut view, 0..86, "a", 1);
        owned(&mut view, 86..171, "b", 4);
        owned(&mut view, 171..256, "c", 2);
        let p = plan(&s, 1, false, &view);
        assert_eq!(p.fence, vec![("b".to_string(), 4)]);
        // b's buckets split between a and c by bucket parity (live: a, c).
        assert!(p.claim.iter().all(|(b, prev)| {
            (86..171).contains(b) && b % 2 == 0 && prev == &Some(("b".to_string(), 4))
        }));
        assert_eq!(p.claim.len(), 43);
        assert_eq!(p.keep.len(), 86);
        // The same view, from c: the odd ones.
        let pc = plan(&settings("c", &["a", "b", "c"]), 2, false, &view);
        assert!(pc.claim.iter().all(|(b, _)| b % 2 == 1));
        assert_eq!(pc.claim.len() + p.claim.len(), 85);
    }

    #[test]
    fn a_returning_node_gets_its_buckets_handed_back() {
        let s = settings("a", &["a", "b"]);
        // a took b's buckets while b was down; b is back at epoch 7.
        let mut view = ClusterView {
            nodes: vec![node("a", 1, true), node("b", 7, true)],
            buckets: vec![],
        };
        owned(&mut view, 0..256, "a", 1);
        let p = plan(&s, 1, false, &view);
        assert_eq!(p.hand_over.len(), 1);
        let (to, epoch, buckets) = &p.hand_over[0];
        assert_eq!((to.as_str(), *epoch, buckets.len()), ("b", 7, 128));
        assert_eq!(p.keep.len(), 128);
        // b, meanwhile, waits: its buckets' owner is live.
        let pb = plan(&settings("b", &["a", "b"]), 7, false, &view);
        assert!(pb.claim.is_empty() && pb.fence.is_empty());
        assert_eq!(pb.awaiting, 128);
        // Once handed, b owns them at its epoch and keeps them.
        let mut after = ClusterView {
            nodes: view.nodes.clone(),
            buckets: vec![],
        };
        owned(&mut after, 0..128, "a", 1);
        owned(&mut after, 128..256, "b", 7);
        let pb = plan(&settings("b", &["a", "b"]), 7, false, &after);
        assert_eq!(pb.keep.len(), 128);
        assert!(pb.claim.is_empty());
    }

    #[test]
    fn a_restarted_node_reclaims_from_its_earlier_life_and_a_leaving_one_gives_all() {
        let s = settings("a", &["a", "b"]);
        let mut view = ClusterView {
            nodes: vec![node("a", 3, true), node("b", 1, true)],
            buckets: vec![],
        };
        owned(&mut view, 0..128, "a", 2);
        owned(&mut view, 128..256, "b", 1);
        let p = plan(&s, 3, false, &view);
        assert_eq!(p.claim.len(), 128);
        assert!(p.fence.is_empty());
        assert!(p
            .claim
            .iter()
            .all(|(_, prev)| prev == &Some(("a".to_string(), 2))));
        // Leaving: everything to b.
        let mut mine = ClusterView {
            nodes: view.nodes.clone(),
            buckets: vec![],
        };
        owned(&mut mine, 0..128, "a", 3);
        owned(&mut mine, 128..256, "b", 1);
        let p = plan(&s, 3, true, &mine);
        assert_eq!(p.hand_over.len(), 1);
        assert_eq!(p.hand_over[0].2.len(), 128);
        assert!(p.keep.is_empty());
        // Leaving with nobody else live: keep answering.
        let alone = ClusterView {
            nodes: vec![node("a", 3, true), node("b", 1, false)],
            buckets: mine.buckets.clone(),
        };
        let p = plan(&s, 3, true, &alone);
        assert!(p.hand_over.is_empty());
        assert_eq!(p.keep.len(), 128);
    }
}
