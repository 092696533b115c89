//! Group commit: many small batches from the protocol threads become one
//! [`Store::apply`] and one [`Store::sync`], and each submitter is told the
//! outcome only after its batch is durable. One fsync then acknowledges
//! every lease that arrived while the previous fsync was running, which is
//! what lets a server reply only after the binding is on disk (RFC 2131
//! §3.1 step 4: the server "commits the binding for the client to persistent
//! storage and responds with a DHCPACK") at thousands of leases a second.
//!
//! The committer is one thread (`headend-commit`) looping over: wait for the
//! first queued batch, take everything queued (up to
//! [`GroupOptions::max_group`] batches, optionally waiting up to
//! [`GroupOptions::max_delay`] for more), apply the concatenation, sync, and
//! call every [`Done`] callback in submission order. If the combined apply
//! fails, the batches are applied again one by one so that a bad batch fails
//! only its own callback.
//! A submission wakes the committer only when that can end its wait (the
//! first batch of a group, a full group, a flush or shutdown), so batches
//! arriving inside the `max_delay` window cost no context switch.
//!
//! **Callbacks run on the committer thread** and hold up the next group
//! while they run: they must be quick (send one UDP datagram, push to a
//! channel) and must not call [`GroupCommitter::flush_blocking`]. A
//! callback that panics is caught and logged.
//!
//! What a crash can lose (with the sled backend, see
//! [`crate::sled_store`]): after SIGKILL, nothing whose callback received
//! `Ok`; after a power loss, likewise if the disk honours `fsync`. Batches
//! submitted but not yet acknowledged may or may not survive (each one
//! whole or not at all), as may `submit_nowait` batches.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::{Mutation, Store, StoreError};

/// Called once with the outcome of a submitted batch (`Ok` once it is
/// durable) and the batch itself, so that a failed one can be undone
/// without the submitter keeping a copy.
pub type Done = Box<dyn FnOnce(Result<(), StoreError>, &[Mutation]) + Send + 'static>;

/// Tuning of a [`GroupCommitter`].
#[derive(Debug, Clone)]
pub struct GroupOptions {
    /// Batches that may wait in the queue; beyond it `submit` fails at once
    /// with [`StoreError::Overloaded`] and `submit_nowait` drops the batch.
    pub max_queue: usize,
    /// How long the committer waits for more batches after the first one
    /// before committing (0 = commit at once: the fsync in flight already
    /// gathers the next group).
    pub max_delay: Duration,
    /// Most batches in one group (bounds the size of one transaction).
    pub max_group: usize,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            max_queue: 65_536,
            max_delay: Duration::ZERO,
            max_group: 4096,
        }
    }
}

/// Counters of a [`GroupCommitter`] since it started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupStats {
    /// Groups committed (apply + sync rounds).
    pub groups: u64,
    /// Batches accepted and processed (flush markers not counted).
    pub batches: u64,
    /// Mutations in those batches.
    pub mutations: u64,
    /// Batches in the largest group.
    pub max_group: u64,
    /// Mean batches per group.
    pub avg_group: f64,
    /// Batches whose outcome was an error.
    pub failures: u64,
    /// Groups whose combined apply failed and were retried batch by batch.
    pub fallbacks: u64,
    /// `submit` calls refused at once (queue full, committer stopped, or a
    /// batch the store cannot take).
    pub rejected: u64,
    /// `submit_nowait` batches dropped (queue full, committer stopped, or a
    /// batch the store cannot take).
    pub dropped: u64,
    /// Longest apply + sync of one group.
    pub max_commit: Duration,
    /// Total time spent in apply + sync.
    pub commit_time: Duration,
    /// Times a submission or flush woke the committer from a wait.
    pub wakeups: u64,
}

struct Entry {
    batch: Vec<Mutation>,
    done: Option<Done>,
    /// A `flush_blocking` marker: no data, not counted as a batch.
    marker: bool,
}

// A mutex-protected Vec that the committer swaps out whole: in
// examples/queue_bench.rs it moved entries 1.4-3x faster than a bounded
// `std::sync::mpsc` channel drained with `try_recv`, and it makes the
// `max_queue` check and flush markers trivial.
#[derive(Default)]
struct Queue {
    entries: Vec<Entry>,
    /// `flush_blocking` markers in `entries`: someone is waiting, so the
    /// committer must not linger for `max_delay`.
    markers: usize,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    stats: Mutex<GroupStats>,
    max_queue: usize,
    /// `GroupOptions::max_group`, at least 1.
    max_group: usize,
    rejected: AtomicU64,
    dropped: AtomicU64,
    /// Whether the last group reached the disk (see [`GroupCommitter::health`]).
    healthy: Arc<AtomicBool>,
}

impl Shared {
    /// Stop accepting work and fail whatever is still queued. Runs when the
    /// committer thread ends, normally or by unwinding, so no submitter
    /// waits forever.
    fn close_and_fail_queued(&self) {
        let left = {
            let mut q = self.queue.lock();
            q.closed = true;
            q.markers = 0;
            std::mem::take(&mut q.entries)
        };
        for e in left {
            if let Some(done) = e.done {
                call(done, Err(StoreError::Closed), &e.batch);
            }
        }
    }
}

struct CloseOnExit(Arc<Shared>);

impl Drop for CloseOnExit {
    fn drop(&mut self) {
        self.0.close_and_fail_queued();
    }
}

/// Run a store call, turning a panic into an error so that one bug in a
/// backend fails the group's callbacks instead of silently dropping them.
fn guarded(what: &str, f: impl FnOnce() -> Result<(), StoreError>) -> Result<(), StoreError> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(StoreError::Backend(format!("store {what} panicked"))))
}

fn call(done: Done, result: Result<(), StoreError>, batch: &[Mutation]) {
    if catch_unwind(AssertUnwindSafe(move || done(result, batch))).is_err() {
        tracing::error!("a group-commit callback panicked");
    }
}

/// The group committer of one [`Store`]; share it by reference (it is `Sync`).
pub struct GroupCommitter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<(), StoreError>>>,
}

impl std::fmt::Debug for GroupCommitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommitter")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl GroupCommitter {
    /// Start the committer thread. If the thread cannot be spawned the error
    /// is logged and every submission fails with [`StoreError::Closed`]; use
    /// [`GroupCommitter::try_start`] to handle that case.
    pub fn start(store: Arc<dyn Store>, opts: GroupOptions) -> GroupCommitter {
        let shared = Self::new_shared(&opts);
        match Self::spawn(store, opts, shared.clone()) {
            Ok(t) => GroupCommitter {
                shared,
                thread: Some(t),
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot start the group committer");
                shared.queue.lock().closed = true;
                GroupCommitter {
                    shared,
                    thread: None,
                }
            }
        }
    }

    /// Start the committer thread, failing if it cannot be spawned.
    pub fn try_start(
        store: Arc<dyn Store>,
        opts: GroupOptions,
    ) -> Result<GroupCommitter, StoreError> {
        let shared = Self::new_shared(&opts);
        let t = Self::spawn(store, opts, shared.clone())?;
        Ok(GroupCommitter {
            shared,
            thread: Some(t),
        })
    }

    fn new_shared(opts: &GroupOptions) -> Arc<Shared> {
        Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            stats: Mutex::new(GroupStats::default()),
            max_queue: opts.max_queue,
            max_group: opts.max_group.max(1),
            rejected: AtomicU64::new(0),
            healthy: Arc::new(AtomicBool::new(true)),
            dropped: AtomicU64::new(0),
        })
    }

    fn spawn(
        store: Arc<dyn Store>,
        opts: GroupOptions,
        shared: Arc<Shared>,
    ) -> Result<JoinHandle<Result<(), StoreError>>, StoreError> {
        std::thread::Builder::new()
            .name("headend-commit".into())
            .spawn(move || run(&*store, &opts, shared))
            .map_err(|e| StoreError::Backend(format!("cannot spawn headend-commit: {e}")))
    }

    /// Queue `batch`; `done` is called on the committer thread once it is
    /// durable (or failed). Never blocks beyond a short lock: if the queue is
    /// full or the committer has stopped, `done` is called at once, on the
    /// caller's thread, with [`StoreError::Overloaded`] or [`StoreError::Closed`].
    pub fn submit(&self, batch: Vec<Mutation>, done: Done) {
        // A batch the store could not take fails alone, now: in a group it
        // would fail the combined apply and force every batch of that
        // group through the one-by-one fallback.
        if let Err(e) = crate::validate(&batch) {
            self.shared.rejected.fetch_add(1, Ordering::Relaxed);
            call(done, Err(e), &batch);
            return;
        }
        let refused = {
            let mut q = self.shared.queue.lock();
            if q.closed {
                StoreError::Closed
            } else if q.entries.len() >= self.shared.max_queue {
                StoreError::Overloaded
            } else {
                q.entries.push(Entry {
                    batch,
                    done: Some(done),
                    marker: false,
                });
                return self.wake_if_needed(q.entries.len());
            }
        };
        self.shared.rejected.fetch_add(1, Ordering::Relaxed);
        call(done, Err(refused), &batch);
    }

    /// Queue `batch` to be persisted with the next group, with nobody told
    /// the outcome. Dropped (and counted in [`GroupStats::dropped`]) if the
    /// queue is full or the committer has stopped.
    pub fn submit_nowait(&self, batch: Vec<Mutation>) {
        if crate::validate(&batch).is_err() {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        {
            let mut q = self.shared.queue.lock();
            if !q.closed && q.entries.len() < self.shared.max_queue {
                q.entries.push(Entry {
                    batch,
                    done: None,
                    marker: false,
                });
                return self.wake_if_needed(q.entries.len());
            }
        }
        self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        tracing::debug!("group committer queue full, dropping an unacknowledged batch");
    }

    /// Wait until everything submitted before this call has been applied and
    /// synced; returns the outcome of that final sync. Must not be called
    /// from a [`Done`] callback (it would wait for itself).
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        {
            let mut q = self.shared.queue.lock();
            if q.closed {
                return Err(StoreError::Closed);
            }
            // Markers bypass `max_queue`: a shutdown flush must not fail
            // because the queue is busy.
            q.markers += 1;
            q.entries.push(Entry {
                batch: Vec::new(),
                done: Some(Box::new(move |r, _| {
                    let _ = tx.send(r);
                })),
                marker: true,
            });
        }
        self.wake_committer();
        // A dropped sender means the committer died before reaching us.
        rx.recv().unwrap_or(Err(StoreError::Closed))
    }

    /// Whether the store takes commits: false from a group whose apply or
    /// sync failed at the backend (a full disk, an I/O error) until a later
    /// group commits. Shared, so the packet path reads it without a call.
    pub fn health(&self) -> Arc<AtomicBool> {
        self.shared.healthy.clone()
    }

    /// Counters so far.
    pub fn stats(&self) -> GroupStats {
        let mut s = self.shared.stats.lock().clone();
        s.rejected = self.shared.rejected.load(Ordering::Relaxed);
        s.dropped = self.shared.dropped.load(Ordering::Relaxed);
        s
    }

    /// Stop accepting batches, commit everything queued, sync and join the
    /// thread. Returns the outcome of the final sync.
    pub fn shutdown(mut self) -> Result<(), StoreError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), StoreError> {
        self.shared.queue.lock().closed = true;
        self.shared.wake.notify_all();
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(StoreError::Backend("headend-commit panicked".into()))),
            None => Ok(()),
        }
    }

    fn wake_committer(&self) {
        self.shared.wake.notify_one();
    }

    /// Wakes the committer after a batch made the queue `len` long, only
    /// where that can end one of its waits: the first batch (it waits for
    /// one) and a full group (it stops waiting for more). Any other batch
    /// would only wake it to find its `max_delay` not yet over; under load
    /// that was a futex wake and two context switches per batch, most of
    /// the committer thread's CPU.
    fn wake_if_needed(&self, len: usize) {
        if len == 1 || len == self.shared.max_group {
            self.wake_committer();
        }
    }
}

impl Drop for GroupCommitter {
    fn drop(&mut self) {
        if self.thread.is_some() {
            if let Err(e) = self.stop() {
                tracing::error!(error = %e, "group committer stopped with an error");
            }
        }
    }
}

fn run(store: &dyn Store, opts: &GroupOptions, shared: Arc<Shared>) -> Result<(), StoreError> {
    let _close = CloseOnExit(shared.clone());
    let max_group = shared.max_group;
    let mut group: Vec<Entry> = Vec::new();
    loop {
        {
            let mut q = shared.queue.lock();
            let mut wakeups = 0;
            while q.entries.is_empty() && !q.closed {
                shared.wake.wait(&mut q);
                wakeups += 1;
            }
            if q.entries.is_empty() {
                break; // closed and drained
            }
            if !opts.max_delay.is_zero() && !q.closed {
                let deadline = Instant::now() + opts.max_delay;
                while q.entries.len() < max_group && !q.closed && q.markers == 0 {
                    if shared.wake.wait_until(&mut q, deadline).timed_out() {
                        break;
                    }
                    wakeups += 1;
                }
            }
            if wakeups > 0 {
                shared.stats.lock().wakeups += wakeups;
            }
            if q.entries.len() <= max_group {
                // Swap keeps both vectors' capacity: no allocation per group.
                std::mem::swap(&mut q.entries, &mut group);
            } else {
                group.extend(q.entries.drain(..max_group));
            }
            if q.markers > 0 {
                let taken = group.iter().filter(|e| e.marker).count();
                q.markers = q.markers.saturating_sub(taken);
            }
        }
        commit_group(store, &mut group, &shared.stats, &shared.healthy);
    }
    guarded("sync", || store.sync())
}

/// Apply and sync one group, then report to every submitter in order.
fn commit_group(
    store: &dyn Store,
    group: &mut Vec<Entry>,
    stats: &Mutex<GroupStats>,
    healthy: &AtomicBool,
) {
    let started = Instant::now();
    let mut all = Vec::with_capacity(group.iter().map(|e| e.batch.len()).sum());
    let mut parts = Vec::with_capacity(group.len());
    for e in group.drain(..) {
        let start = all.len();
        all.extend(e.batch);
        parts.push((start..all.len(), e.done, e.marker));
    }
    let data_batches = parts.iter().filter(|p| !p.0.is_empty()).count();

    let mut fallback = false;
    // One result per part; `None` means "applied".
    let outcomes: Vec<Option<StoreError>> = match guarded("apply", || store.apply(&all)) {
        Ok(()) => parts.iter().map(|_| None).collect(),
        Err(e) if data_batches <= 1 => parts
            .iter()
            .map(|p| (!p.0.is_empty()).then(|| e.clone()))
            .collect(),
        Err(e) => {
            fallback = true;
            tracing::warn!(error = %e, batches = data_batches, "group apply failed, applying batch by batch");
            parts
                .iter()
                .map(|p| {
                    if p.0.is_empty() {
                        return None;
                    }
                    let batch = all.get(p.0.clone()).unwrap_or_default();
                    guarded("apply", || store.apply(batch)).err()
                })
                .collect()
        }
    };
    let synced = guarded("sync", || store.sync());
    if let Err(e) = &synced {
        tracing::error!(error = %e, "store sync failed");
    }
    // Healthy while data reaches the disk: a failed sync, or an apply that
    // failed for another reason than the batch itself (a full disk, an I/O
    // error; not a bad batch, not a lease lost to another node's), makes the store unhealthy until a later group commits.
    let backend_failed = synced.is_err()
        || outcomes
            .iter()
            .flatten()
            .any(|e| !matches!(e, StoreError::Invalid(_) | StoreError::Conflict(_)));
    // (A group of flush markers only writes nothing: it proves nothing.)
    if backend_failed || !all.is_empty() {
        let was = healthy.swap(!backend_failed, Ordering::SeqCst);
        if was && backend_failed {
            tracing::error!(
                "store unhealthy: commits are failing; new bindings are refused until one succeeds"
            );
        } else if !was && !backend_failed {
            tracing::warn!("store healthy again: commits succeed");
        }
    }
    let elapsed = started.elapsed();

    let mut failures = 0u64;
    let mut batches = 0u64;
    let mut reports = Vec::with_capacity(parts.len());
    for ((range, done, marker), outcome) in parts.into_iter().zip(outcomes) {
        let result = match (outcome, &synced) {
            (Some(e), _) => Err(e),
            (None, Err(e)) => Err(e.clone()),
            (None, Ok(())) => Ok(()),
        };
        if !marker {
            batches += 1;
            failures += u64::from(result.is_err());
        }
        reports.push((done, result, range));
    }

    // Counters first, so a submitter woken by its callback sees its group counted.
    {
        let mut s = stats.lock();
        s.groups += 1;
        s.batches += batches;
        s.mutations += all.len() as u64;
        s.max_group = s.max_group.max(batches);
        s.avg_group = s.batches as f64 / s.groups as f64;
        s.failures += failures;
        s.fallbacks += u64::from(fallback);
        s.max_commit = s.max_commit.max(elapsed);
        s.commit_time += elapsed;
    }
    for (done, result, range) in reports {
        if let Some(done) = done {
            call(done, result, all.get(range).unwrap_or_default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use crate::suite;
    use crate::ClientKey;
    use std::collections::BTreeSet;
    use std::net::Ipv4Addr;
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    /// A store that models durability (leases become "durable" only at
    /// `sync`), can hold the committer inside `apply` until released, and can
    /// be told to fail `sync` or to panic in `apply`.
    #[derive(Default)]
    struct Model {
        inner: MemoryStore,
        pending: Mutex<Vec<Ipv4Addr>>,
        durable: Mutex<BTreeSet<Ipv4Addr>>,
        gate: Mutex<(bool, bool)>, // (closed, someone blocked)
        gate_cv: Condvar,
        applies: AtomicUsize,
        syncs: AtomicUsize,
        fail_sync: AtomicBool,
        panic_apply: AtomicBool,
    }

    impl Model {
        fn close_gate(&self) {
            self.gate.lock().0 = true;
        }
        fn wait_blocked(&self) {
            let mut g = self.gate.lock();
            while !g.1 {
                self.gate_cv.wait(&mut g);
            }
        }
        fn open_gate(&self) {
            self.gate.lock().0 = false;
            self.gate_cv.notify_all();
        }
        fn is_durable(&self, ip: Ipv4Addr) -> bool {
            self.durable.lock().contains(&ip)
        }
    }

    impl Store for Model {
        fn load_leases4(&self) -> Result<Vec<crate::Lease4>, StoreError> {
            self.inner.load_leases4()
        }
        fn leases4_by_client(&self, c: &ClientKey) -> Result<Vec<crate::Lease4>, StoreError> {
            self.inner.leases4_by_client(c)
        }
        fn leases4_by_relay(&self, r: Ipv4Addr) -> Result<Vec<crate::Lease4>, StoreError> {
            self.inner.leases4_by_relay(r)
        }
        fn lease4(&self, ip: Ipv4Addr) -> Result<Option<crate::Lease4>, StoreError> {
            self.inner.lease4(ip)
        }
        fn account(&self, id: &str) -> Result<Option<crate::Account>, StoreError> {
            self.inner.account(id)
        }
        fn scan_accounts(
            &self,
            a: Option<&str>,
            n: usize,
        ) -> Result<Vec<crate::Account>, StoreError> {
            self.inner.scan_accounts(a, n)
        }
        fn load_accounts(&self) -> Result<Vec<crate::Account>, StoreError> {
            self.inner.load_accounts()
        }
        fn load_fixed4(&self) -> Result<Vec<crate::FixedBinding4>, StoreError> {
            self.inner.load_fixed4()
        }
        fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
            self.inner.meta(key)
        }
        fn scan_leases4(
            &self,
            a: Option<Ipv4Addr>,
            n: usize,
        ) -> Result<Vec<crate::Lease4>, StoreError> {
            self.inner.scan_leases4(a, n)
        }
        fn scan_leases6(
            &self,
            a: Option<crate::Lease6Key>,
            n: usize,
        ) -> Result<Vec<crate::Lease6>, StoreError> {
            self.inner.scan_leases6(a, n)
        }
        fn record(&self, t: crate::RecordTable, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
            self.inner.record(t, key)
        }
        fn records(
            &self,
            t: crate::RecordTable,
            before: Option<&str>,
            limit: usize,
        ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
            self.inner.records(t, before, limit)
        }
        fn timeline(&self, d: &str) -> Result<Option<crate::DeviceTimeline>, StoreError> {
            self.inner.timeline(d)
        }
        fn load_leases6(&self) -> Result<Vec<crate::Lease6>, StoreError> {
            self.inner.load_leases6()
        }
        fn leases6_by_duid(&self, d: &[u8]) -> Result<Vec<crate::Lease6>, StoreError> {
            self.inner.leases6_by_duid(d)
        }
        fn lease6(&self, k: crate::Lease6Key) -> Result<Option<crate::Lease6>, StoreError> {
            self.inner.lease6(k)
        }
        fn apply(&self, batch: &[Mutation]) -> Result<(), StoreError> {
            {
                let mut g = self.gate.lock();
                while g.0 {
                    g.1 = true;
                    self.gate_cv.notify_all();
                    self.gate_cv.wait(&mut g);
                }
            }
            self.applies.fetch_add(1, Ordering::SeqCst);
            if self.panic_apply.load(Ordering::SeqCst) {
                panic!("model store told to panic");
            }
            let refused = suite::lease(REFUSED, 1, 1).ip;
            if batch
                .iter()
                .any(|m| matches!(m, Mutation::PutLease4(l) if l.ip == refused))
            {
                return Err(StoreError::Backend("refused".into()));
            }
            self.inner.apply(batch)?;
            self.pending
                .lock()
                .extend(batch.iter().filter_map(|m| match m {
                    Mutation::PutLease4(l) => Some(l.ip),
                    _ => None,
                }));
            Ok(())
        }
        fn sync(&self) -> Result<(), StoreError> {
            self.syncs.fetch_add(1, Ordering::SeqCst);
            if self.fail_sync.load(Ordering::SeqCst) {
                return Err(StoreError::Backend("disk on fire".into()));
            }
            let p = std::mem::take(&mut *self.pending.lock());
            self.durable.lock().extend(p);
            Ok(())
        }
    }

    /// What a callback saw: batch number, outcome, and whether the batch's
    /// lease was already durable when the callback ran.
    type Log = Arc<Mutex<Vec<(u32, Result<(), StoreError>, bool)>>>;

    fn put(n: u32) -> Vec<Mutation> {
        vec![Mutation::PutLease4(suite::lease(n, n, 1))]
    }

    /// A batch the model's backend refuses at apply (an I/O error, say).
    fn bad_batch() -> Vec<Mutation> {
        vec![Mutation::PutLease4(suite::lease(REFUSED, 1, 1))]
    }

    /// The lease number the model refuses.
    const REFUSED: u32 = 9999;

    /// A batch no store can take (a client key over 255 bytes).
    fn invalid_batch() -> Vec<Mutation> {
        let mut l = suite::lease(9998, 1, 1);
        l.client = ClientKey(vec![0; 256]);
        vec![Mutation::PutLease4(l)]
    }

    fn logger(model: &Arc<Model>, log: &Log, n: u32) -> Done {
        let model = model.clone();
        let log = log.clone();
        Box::new(move |r, _| {
            let durable = model.is_durable(suite::lease(n, n, 1).ip);
            log.lock().push((n, r, durable));
        })
    }

    fn start(model: &Arc<Model>, opts: GroupOptions) -> GroupCommitter {
        GroupCommitter::try_start(model.clone(), opts).unwrap()
    }

    #[test]
    fn callbacks_run_in_order_after_sync() {
        let model = Arc::new(Model::default());
        let gc = start(&model, GroupOptions::default());
        let log: Log = Arc::default();
        model.close_gate();
        gc.submit(put(0), logger(&model, &log, 0));
        model.wait_blocked();
        // Everything below queues up behind the blocked first group.
        std::thread::scope(|s| {
            for t in 0..4u32 {
                let (gc, model, log) = (&gc, &model, &log);
                s.spawn(move || {
                    for i in 0..5 {
                        let n = 1 + t * 5 + i;
                        gc.submit(put(n), logger(model, log, n));
                    }
                });
            }
        });
        model.open_gate();
        gc.flush_blocking().unwrap();
        let log = log.lock();
        assert_eq!(log.len(), 21);
        assert_eq!(log[0].0, 0);
        for (n, r, durable) in log.iter() {
            assert!(r.is_ok(), "batch {n}: {r:?}");
            assert!(*durable, "batch {n} acknowledged before sync");
        }
        // Per submitting thread, callbacks come in submission order.
        for t in 0..4u32 {
            let mine: Vec<u32> = log
                .iter()
                .map(|e| e.0)
                .filter(|n| (1 + t * 5..1 + t * 5 + 5).contains(n))
                .collect();
            assert_eq!(mine, (1 + t * 5..1 + t * 5 + 5).collect::<Vec<_>>());
        }
        let st = gc.stats();
        assert_eq!(st.batches, 21);
        assert_eq!(st.mutations, 21);
        assert_eq!(st.max_group, 20, "{st:?}");
        assert!(st.groups == 2 || st.groups == 3, "{st:?}");
        assert_eq!(st.failures, 0);
        assert_eq!(model.load_leases4().unwrap().len(), 21);
        gc.shutdown().unwrap();
    }

    #[test]
    fn failing_batch_fails_only_its_own_callback() {
        let model = Arc::new(Model::default());
        let gc = start(&model, GroupOptions::default());
        let log: Log = Arc::default();
        model.close_gate();
        gc.submit(put(0), logger(&model, &log, 0));
        model.wait_blocked();
        gc.submit(put(1), logger(&model, &log, 1));
        gc.submit(bad_batch(), logger(&model, &log, 2));
        gc.submit(put(3), logger(&model, &log, 3));
        gc.submit_nowait(put(4));
        model.open_gate();
        gc.flush_blocking().unwrap();
        let log = log.lock();
        let ns: Vec<u32> = log.iter().map(|e| e.0).collect();
        assert_eq!(ns, vec![0, 1, 2, 3]);
        assert!(log[1].1.is_ok() && log[1].2);
        assert!(matches!(log[2].1, Err(StoreError::Backend(_))));
        assert!(log[3].1.is_ok() && log[3].2);
        let st = gc.stats();
        assert_eq!(st.fallbacks, 1);
        assert_eq!(st.failures, 1);
        let ips: Vec<_> = model.load_leases4().unwrap().iter().map(|l| l.ip).collect();
        let want: Vec<_> = [0, 1, 3, 4]
            .iter()
            .map(|&n| suite::lease(n, n, 1).ip)
            .collect();
        assert_eq!(ips, want);
    }

    #[test]
    fn lone_failing_batch_is_not_retried() {
        let model = Arc::new(Model::default());
        let gc = start(&model, GroupOptions::default());
        let log: Log = Arc::default();
        gc.submit(bad_batch(), logger(&model, &log, 0));
        gc.flush_blocking().unwrap();
        assert!(matches!(log.lock()[0].1, Err(StoreError::Backend(_))));
        let st = gc.stats();
        assert_eq!((st.fallbacks, st.failures), (0, 1));
    }

    #[test]
    fn an_invalid_batch_is_refused_at_submit_and_never_poisons_a_group() {
        let model = Arc::new(Model::default());
        let gc = start(&model, GroupOptions::default());
        let log: Log = Arc::default();
        model.close_gate();
        gc.submit(put(0), logger(&model, &log, 0));
        model.wait_blocked();
        gc.submit(put(1), logger(&model, &log, 1));
        gc.submit(invalid_batch(), logger(&model, &log, 2));
        // Refused at once, while the first group is still committing.
        assert_eq!(log.lock().len(), 1);
        assert!(matches!(log.lock()[0], (2, Err(StoreError::Invalid(_)), _)));
        gc.submit(put(3), logger(&model, &log, 3));
        gc.submit_nowait(invalid_batch());
        model.open_gate();
        gc.flush_blocking().unwrap();
        let log = log.lock();
        let ok: Vec<u32> = log.iter().filter(|e| e.1.is_ok()).map(|e| e.0).collect();
        assert_eq!(ok, vec![0, 1, 3]);
        let st = gc.stats();
        assert_eq!(
            (st.fallbacks, st.failures, st.rejected, st.dropped),
            (0, 0, 1, 1),
            "{st:?}"
        );
    }

    #[test]
    fn sync_failure_fails_every_callback_of_the_group() {
        let model = Arc::new(Model::default());
        let gc = start(&model, GroupOptions::default());
        let log: Log = Arc::default();
        model.close_gate();
        gc.submit(put(0), logger(&model, &log, 0));
        model.wait_blocked();
        model.fail_sync.store(true, Ordering::SeqCst);
        gc.submit(put(1), logger(&model, &log, 1));
        gc.submit(put(2), logger(&model, &log, 2));
        let health = gc.health();
        assert!(health.load(Ordering::SeqCst));
        model.open_gate();
        assert!(matches!(gc.flush_blocking(), Err(StoreError::Backend(_))));
        for (n, r, durable) in log.lock().iter() {
            assert!(
                matches!(r, Err(StoreError::Backend(m)) if m == "disk on fire"),
                "{n}"
            );
            assert!(!durable);
        }
        assert!(
            !health.load(Ordering::SeqCst),
            "a failed sync makes it unhealthy"
        );
        // An invalid batch is its submitter's fault, not the store's.
        gc.submit(invalid_batch(), Box::new(|_, _| {}));
        assert!(!health.load(Ordering::SeqCst));
        model.fail_sync.store(false, Ordering::SeqCst);
        gc.submit(put(3), logger(&model, &log, 3));
        gc.flush_blocking().unwrap();
        assert!(
            health.load(Ordering::SeqCst),
            "a commit makes it healthy again"
        );
        let log = log.lock();
        assert_eq!(log.len(), 4);
        assert!(log[3].1.is_ok() && log[3].2);
        assert_eq!(gc.stats().failures, 3);
    }

    #[test]
    fn full_queue_refuses_at_once() {
        let model = Arc::new(Model::default());
        let opts = GroupOptions {
            max_queue: 2,
            ..GroupOptions::default()
        };
        let gc = start(&model, opts);
        let log: Log = Arc::default();
        model.close_gate();
        gc.submit(put(0), logger(&model, &log, 0));
        model.wait_blocked();
        gc.submit(put(1), logger(&model, &log, 1));
        gc.submit(put(2), logger(&model, &log, 2));
        let refused = Arc::new(Mutex::new(None));
        let r2 = refused.clone();
        gc.submit(
            put(3),
            Box::new(move |r, batch| *r2.lock() = Some((r, batch.to_vec()))),
        );
        // Called synchronously, before `submit` returned, with the batch
        // (what a submitter rolls back).
        assert!(matches!(
            &*refused.lock(),
            Some((Err(StoreError::Overloaded), b)) if *b == put(3)
        ));
        gc.submit_nowait(put(4));
        // A flush is accepted even with the queue full.
        model.open_gate();
        gc.flush_blocking().unwrap();
        let st = gc.stats();
        assert_eq!((st.rejected, st.dropped, st.batches), (1, 1, 3));
        assert_eq!(model.load_leases4().unwrap().len(), 3);
    }

    #[test]
    fn max_group_bounds_group_size() {
        let model = Arc::new(Model::default());
        let opts = GroupOptions {
            max_group: 4,
            ..GroupOptions::default()
        };
        let gc = start(&model, opts);
        let log: Log = Arc::default();
        model.close_gate();
        gc.submit(put(0), logger(&model, &log, 0));
        model.wait_blocked();
        for n in 1..=10 {
            gc.submit(put(n), logger(&model, &log, n));
        }
        model.open_gate();
        gc.flush_blocking().unwrap();
        let st = gc.stats();
        assert_eq!(st.max_group, 4, "{st:?}");
        assert_eq!(st.batches, 11);
        // 1 + 4 + 4 + 2, plus possibly the flush marker on its own.
        assert!(st.groups == 4 || st.groups == 5, "{st:?}");
        let ns: Vec<u32> = log.lock().iter().map(|e| e.0).collect();
        assert_eq!(ns, (0..=10).collect::<Vec<_>>());
    }

    #[test]
    fn max_delay_gathers_a_group_and_stops_waiting_when_full() {
        let model = Arc::new(Model::default());
        let opts = GroupOptions {
            max_delay: Duration::from_secs(5),
            max_group: 10,
            ..GroupOptions::default()
        };
        let gc = start(&model, opts);
        let log: Log = Arc::default();
        let t = Instant::now();
        for n in 0..10 {
            gc.submit(put(n), logger(&model, &log, n));
        }
        gc.flush_blocking().unwrap();
        // The group filled up, so the 5 s delay was cut short.
        assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
        let st = gc.stats();
        assert_eq!(st.max_group, 10, "{st:?}");
        assert_eq!(model.syncs.load(Ordering::SeqCst), 2, "{st:?}");
    }

    #[test]
    fn batches_inside_the_window_do_not_wake_the_committer() {
        let model = Arc::new(Model::default());
        let opts = GroupOptions {
            max_delay: Duration::from_millis(300),
            max_group: 100,
            ..GroupOptions::default()
        };
        let gc = start(&model, opts);
        let log: Log = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        for n in 0..4 {
            // Spaced so that the committer is inside its 300 ms window.
            std::thread::sleep(Duration::from_millis(30));
            let tx = tx.clone();
            let inner = logger(&model, &log, n);
            gc.submit(
                put(n),
                Box::new(move |r, b| {
                    inner(r, b);
                    let _ = tx.send(n);
                }),
            );
        }
        for _ in 0..4 {
            rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        let st = gc.stats();
        assert_eq!((st.groups, st.batches), (1, 4), "{st:?}");
        // At most the first batch woke it; the other three waited for the window.
        assert!(st.wakeups <= 1, "{st:?}");
    }

    #[test]
    fn flush_does_not_wait_for_max_delay() {
        let model = Arc::new(Model::default());
        let opts = GroupOptions {
            max_delay: Duration::from_secs(5),
            ..GroupOptions::default()
        };
        let gc = start(&model, opts);
        let t = Instant::now();
        gc.submit_nowait(put(0));
        gc.flush_blocking().unwrap();
        assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
        assert!(model.is_durable(suite::lease(0, 0, 1).ip));
    }

    #[test]
    fn max_delay_holds_a_lone_batch() {
        let model = Arc::new(Model::default());
        let opts = GroupOptions {
            max_delay: Duration::from_millis(150),
            ..GroupOptions::default()
        };
        let gc = start(&model, opts);
        let t = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        gc.submit(
            put(0),
            Box::new(move |r, _| {
                let _ = tx.send((r, Instant::now()));
            }),
        );
        let (r, at) = rx.recv().unwrap();
        r.unwrap();
        assert!(at.duration_since(t) >= Duration::from_millis(150));
    }

    #[test]
    fn nowait_batches_are_durable_after_flush() {
        let model = Arc::new(Model::default());
        let gc = start(&model, GroupOptions::default());
        for n in 0..200 {
            gc.submit_nowait(put(n));
        }
        gc.flush_blocking().unwrap();
        for n in 0..200 {
            assert!(model.is_durable(suite::lease(n, n, 1).ip), "{n}");
        }
        assert_eq!(gc.stats().batches, 200);
    }

    #[test]
    fn shutdown_drains_the_queue() {
        let model = Arc::new(Model::default());
        let gc = start(&model, GroupOptions::default());
        let shared = gc.shared.clone();
        let log: Log = Arc::default();
        model.close_gate();
        gc.submit(put(0), logger(&model, &log, 0));
        model.wait_blocked();
        for n in 1..50 {
            gc.submit(put(n), logger(&model, &log, n));
        }
        std::thread::scope(|s| {
            let h = s.spawn(|| gc.shutdown());
            // Release the committer only once the queue is closed with 49
            // batches still in it.
            while !shared.queue.lock().closed {
                std::thread::yield_now();
            }
            assert_eq!(shared.queue.lock().entries.len(), 49);
            model.open_gate();
            h.join().unwrap().unwrap();
        });
        let log = log.lock();
        assert_eq!(log.len(), 50);
        assert!(log.iter().all(|(_, r, d)| r.is_ok() && *d));
        assert_eq!(model.load_leases4().unwrap().len(), 50);
    }

    #[test]
    fn stopped_committer_refuses_with_closed() {
        let model = Arc::new(Model::default());
        let mut gc = start(&model, GroupOptions::default());
        gc.stop().unwrap();
        let refused = Arc::new(Mutex::new(None));
        let r2 = refused.clone();
        gc.submit(put(0), Box::new(move |r, _| *r2.lock() = Some(r)));
        assert!(matches!(*refused.lock(), Some(Err(StoreError::Closed))));
        assert!(matches!(gc.flush_blocking(), Err(StoreError::Closed)));
        gc.submit_nowait(put(1));
        let st = gc.stats();
        assert_eq!((st.rejected, st.dropped), (1, 1));
    }

    #[test]
    fn panics_in_callbacks_and_store_do_not_stop_the_committer() {
        let model = Arc::new(Model::default());
        let gc = start(&model, GroupOptions::default());
        let log: Log = Arc::default();
        gc.submit(put(0), Box::new(|_, _| panic!("callback bug")));
        gc.submit(put(1), logger(&model, &log, 1));
        gc.flush_blocking().unwrap();
        model.panic_apply.store(true, Ordering::SeqCst);
        gc.submit(put(2), logger(&model, &log, 2));
        let _ = gc.flush_blocking();
        model.panic_apply.store(false, Ordering::SeqCst);
        gc.submit(put(3), logger(&model, &log, 3));
        gc.flush_blocking().unwrap();
        let log = log.lock();
        let ns: Vec<u32> = log.iter().map(|e| e.0).collect();
        assert_eq!(ns, vec![1, 2, 3]);
        assert!(log[0].1.is_ok());
        assert!(matches!(&log[1].1, Err(StoreError::Backend(m)) if m.contains("panicked")));
        assert!(log[2].1.is_ok() && log[2].2);
        gc.shutdown().unwrap();
    }

    #[test]
    fn works_over_sled() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(crate::SledStore::open(dir.path()).unwrap());
        let gc = GroupCommitter::start(store.clone(), GroupOptions::default());
        let acked = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for t in 0..4u32 {
                let (gc, acked) = (&gc, &acked);
                s.spawn(move || {
                    for i in 0..250 {
                        let acked = acked.clone();
                        gc.submit(
                            put(t * 1000 + i),
                            Box::new(move |r, _| {
                                if r.is_ok() {
                                    acked.fetch_add(1, Ordering::SeqCst);
                                }
                            }),
                        );
                    }
                });
            }
        });
        gc.shutdown().unwrap();
        assert_eq!(acked.load(Ordering::SeqCst), 1000);
        assert_eq!(store.load_leases4().unwrap().len(), 1000);
    }
}
