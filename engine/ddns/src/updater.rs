//! The sans-IO update engine (quinn-proto style): jobs in, datagrams and
//! timers out, outcomes as events. No sockets and no clock: the caller
//! passes `now` into every call, sends what [`Updater::poll_transmit`]
//! returns over UDP, feeds received datagrams to [`Updater::handle`] and
//! calls [`Updater::handle_timeout`] at [`Updater::poll_timeout`].
//!
//! A [`Job`] is one lease event for one FQDN and address: add (RFC 4703
//! section 5.3: forward add, on YXDOMAIN the DHCID-guarded replace, then
//! the PTR) or remove (section 5.5: our address, then the DHCID when no
//! address remains, then the PTR). Its steps run one after the other, and
//! jobs for the same FQDN run in the order they were queued.
//!
//! Reliability: each attempt is sent and retransmitted (same ID, same
//! signature) after `rto`, doubling up to `rto_max`, `max_retransmits`
//! times; an attempt that fails (no answer, REFUSED, NOTAUTH, BADSIG, ...)
//! is retried after a backoff doubling from `retry_initial` to
//! `retry_max`, each time with a new ID and a fresh TSIG time, until the
//! job is `max_age` old. The queue holds at most `max_queue` jobs (beyond
//! it the oldest job not in flight is dropped), at most `max_in_flight`
//! exchanges are outstanding. Jobs are serde types so the server can
//! persist [`Updater::pending_jobs`] and enqueue them again after a
//! restart (their age survives: `enqueued_unix`); the RFC 4703 steps are
//! idempotent, so a job restarted from its first step is safe.
//!
//! Responses: a datagram that does not parse, is not an UPDATE response,
//! or matches no outstanding ID from that server is ignored (counted in
//! [`Stats::ignored`]). With a TSIG key, only a response whose signature
//! verifies is believed; an unsigned or badly signed one fails the attempt
//! ([`FailReason::BadResponseSignature`]) and the job is retried.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode};
use hickory_proto::rr::Name;
use serde::{Deserialize, Serialize};

use crate::dhcid::Dhcid;
use crate::response::{classify, Answer, FailReason};
use crate::tsig::TsigKey;
use crate::update::{self, UpdateError};

/// A DNS server and zone to update.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    /// The primary server's address.
    pub server: SocketAddr,
    /// The zone (the zone section of the update).
    pub zone: String,
    /// The TSIG key's name (one of [`UpdaterConfig::keys`]), if any.
    pub key: Option<String>,
}

/// Add or remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// A lease was granted or renewed: add the records.
    Add,
    /// A lease was released or expired: remove them.
    Remove,
}

/// One lease event to put into DNS.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Job {
    /// Add or remove.
    pub action: Action,
    /// The client's FQDN.
    pub fqdn: String,
    /// The leased address (A for IPv4, AAAA for IPv6).
    pub address: IpAddr,
    /// The client's DHCID (RFC 4701) for this FQDN.
    pub dhcid: Dhcid,
    /// TTL of the records (the lease's, RFC 4702 section 5).
    pub ttl: u32,
    /// The forward zone, if the server updates A/AAAA and DHCID.
    pub forward: Option<Target>,
    /// The reverse zone, if the server updates the PTR.
    pub reverse: Option<Target>,
    /// When the job was first queued (Unix seconds); set by
    /// [`Updater::enqueue`] when `None`.
    pub enqueued_unix: Option<u64>,
}

/// A job's handle in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JobId(pub u64);

/// One exchange of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Step {
    /// RFC 4703 section 5.3.1: add if the name is not in use.
    ForwardAdd,
    /// RFC 4703 section 5.3.2: replace the address if the DHCID is ours.
    ForwardReplace,
    /// RFC 4703 section 5.5: delete our address if the DHCID is ours.
    ForwardRemove,
    /// RFC 4703 section 5.5: delete the DHCID when no address remains.
    DhcidRemove,
    /// Set the PTR.
    ReverseAdd,
    /// Delete our PTR.
    ReverseRemove,
}

/// Why a job was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GiveUpReason {
    /// Older than `max_age` without success.
    Expired,
    /// Pushed out of a full queue.
    QueueFull,
    /// The message could not be built or signed.
    Internal,
}

/// What became of a job (or one attempt of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// Every step succeeded (for a removal: also when the name was no
    /// longer ours, so nothing of ours was left).
    Done,
    /// RFC 4703 section 5.3.2: another client owns the name; the job
    /// stopped (no forward records, no PTR).
    Conflict,
    /// One attempt failed; the job is retried after a backoff.
    Failed {
        /// The step that failed.
        step: Step,
        /// Why.
        reason: FailReason,
    },
    /// The job was dropped.
    GaveUp(GiveUpReason),
}

/// An outcome for a job, for counters and logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The job.
    pub job: JobId,
    /// Its FQDN.
    pub fqdn: String,
    /// What happened.
    pub outcome: Outcome,
}

/// Engine counters besides the events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// First transmissions of an attempt.
    pub sent: u64,
    /// Retransmissions.
    pub retransmitted: u64,
    /// Datagrams ignored: unparsable, not an UPDATE response, or no
    /// outstanding request with that ID from that address.
    pub ignored: u64,
}

/// Limits and timers.
#[derive(Debug, Clone)]
pub struct UpdaterConfig {
    /// Most jobs queued (in flight included).
    pub max_queue: usize,
    /// Most exchanges outstanding at once (at least 1).
    pub max_in_flight: usize,
    /// First retransmission timeout.
    pub rto: Duration,
    /// Cap of the retransmission timeout.
    pub rto_max: Duration,
    /// Retransmissions of one attempt before it counts as failed.
    pub max_retransmits: u32,
    /// Backoff after the first failed attempt.
    pub retry_initial: Duration,
    /// Cap of the backoff.
    pub retry_max: Duration,
    /// Age after which a job is dropped.
    pub max_age: Duration,
    /// TSIG keys by name.
    pub keys: Vec<TsigKey>,
    /// Seed of the message-ID generator; give it OS randomness (IDs are
    /// the only spoofing defence of unsigned updates).
    pub id_seed: u64,
}

impl Default for UpdaterConfig {
    fn default() -> Self {
        Self {
            max_queue: 10_000,
            max_in_flight: 32,
            rto: Duration::from_secs(1),
            rto_max: Duration::from_secs(4),
            max_retransmits: 2,
            retry_initial: Duration::from_secs(5),
            retry_max: Duration::from_secs(300),
            max_age: Duration::from_secs(24 * 3600),
            keys: Vec::new(),
            id_seed: 0x9e37_79b9_7f4a_7c15,
        }
    }
}

/// Why a job is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The FQDN or a zone is not a domain name.
    #[error("bad domain name {0:?}")]
    Name(String),
    /// Neither forward nor reverse target.
    #[error("job has nothing to update")]
    NothingToDo,
    /// A name outside its zone.
    #[error(transparent)]
    Zone(#[from] UpdateError),
    /// A TSIG key name not in the configuration.
    #[error("unknown TSIG key {0:?}")]
    UnknownKey(String),
}

struct Flight {
    msg_id: u16,
    server: SocketAddr,
    datagram: Vec<u8>,
    key: Option<TsigKey>,
    request_mac: Vec<u8>,
    sends: u32,
    deadline: Instant,
}

enum State {
    Waiting(Instant),
    InFlight(Flight),
    /// The message could not be built or signed (dropped by `pump`).
    Broken,
}

struct Entry {
    id: JobId,
    job: Job,
    fqdn: Name,
    /// Lower-case FQDN: jobs with the same one run in order.
    name_key: String,
    forward_zone: Option<Name>,
    reverse_zone: Option<Name>,
    step: Step,
    failures: u32,
    state: State,
}

impl Entry {
    fn in_flight(&self) -> bool {
        matches!(self.state, State::InFlight(_))
    }
}

/// The update engine.
///
/// Cost: a DNS server slower than the DHCP rate (or down) fills the queue
/// to `max_queue`, so no per-event step walks it. The queue is in job-id
/// order (ids only grow, jobs are only appended), so an id finds its
/// entry by binary search; beside it are the ids in flight by message
/// id, the waiting jobs whose time has come, one timer heap (backoffs and
/// retransmission deadlines) and each name's jobs in order. Only the
/// once-a-second expiry sweep walks the queue.
pub struct Updater {
    config: UpdaterConfig,
    anchor: Instant,
    anchor_unix: u64,
    now: Instant,
    queue: VecDeque<Entry>,
    outbox: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<Event>,
    next_job: u64,
    rng: u64,
    stats: Stats,
    /// The jobs in flight by message id: their number bounds the window
    /// and a new id must not be among them.
    flying: HashMap<u16, JobId>,
    /// Waiting jobs whose time has come, in queue order.
    due: BTreeSet<JobId>,
    /// When waiting jobs become due and in-flight attempts time out; an
    /// entry whose job has gone or changed state since is stale and
    /// dropped when it comes up (or reaches the top).
    timers: BinaryHeap<Reverse<(Instant, JobId)>>,
    /// Zone names parsed once (jobs name their zones as text).
    zones: HashMap<String, Name>,
    /// Each lower-case name's jobs in queue order: only the first runs.
    names: HashMap<String, VecDeque<JobId>>,
    /// The Unix second of the last expiry sweep: ages are whole seconds,
    /// so one sweep a second drops every job as soon as it expires.
    swept_at: Option<u64>,
}

/// Parsed zone names kept at most (a configuration has a handful).
const MAX_ZONES: usize = 1024;

fn parse_name(text: &str) -> Result<Name, JobError> {
    let mut name = Name::from_ascii(text).map_err(|_| JobError::Name(text.to_string()))?;
    if name.is_root() {
        return Err(JobError::Name(text.to_string()));
    }
    name.set_fqdn(true);
    Ok(name)
}

impl Updater {
    /// An engine whose clock reads `unix_now` (Unix seconds, for TSIG
    /// times and job ages) at `now`.
    pub fn new(config: UpdaterConfig, now: Instant, unix_now: u64) -> Self {
        let rng = if config.id_seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            config.id_seed
        };
        Self {
            config,
            anchor: now,
            anchor_unix: unix_now,
            now,
            queue: VecDeque::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            next_job: 1,
            rng,
            stats: Stats::default(),
            flying: HashMap::new(),
            due: BTreeSet::new(),
            timers: BinaryHeap::new(),
            names: HashMap::new(),
            zones: HashMap::new(),
            swept_at: None,
        }
    }

    fn unix(&self, now: Instant) -> u64 {
        self.anchor_unix
            .saturating_add(now.saturating_duration_since(self.anchor).as_secs())
    }

    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    fn key(&self, name: &str) -> Option<&TsigKey> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.config.keys.iter().find(|k| k.name() == name)
    }

    /// The queue index of job `id`.
    fn index(&self, id: JobId) -> Option<usize> {
        self.queue.binary_search_by_key(&id, |e| e.id).ok()
    }

    /// Puts entry `index` to wait until `at` (due now when `at <= now`).
    fn wait(&mut self, index: usize, now: Instant, at: Instant) {
        let Some(e) = self.queue.get_mut(index) else {
            return;
        };
        if let State::InFlight(f) = &e.state {
            self.flying.remove(&f.msg_id);
        }
        e.state = State::Waiting(at);
        if at <= now {
            self.due.insert(e.id);
        } else {
            self.due.remove(&e.id);
            self.timers.push(Reverse((at, e.id)));
        }
    }

    /// Takes entry `index` out of the queue and every index beside it.
    fn remove(&mut self, index: usize) -> Option<Entry> {
        let e = self.queue.remove(index)?;
        if let State::InFlight(f) = &e.state {
            self.flying.remove(&f.msg_id);
        }
        self.due.remove(&e.id);
        if let Some(ids) = self.names.get_mut(&e.name_key) {
            if ids.front() == Some(&e.id) {
                ids.pop_front();
            } else {
                ids.retain(|&i| i != e.id);
            }
            if ids.is_empty() {
                self.names.remove(&e.name_key);
            }
        }
        Some(e)
    }

    /// Queues a job; its steps start as soon as a slot is free. A full
    /// queue drops its oldest job not in flight (a `GaveUp(QueueFull)`
    /// event), or this one if all are in flight.
    pub fn enqueue(&mut self, now: Instant, mut job: Job) -> Result<JobId, JobError> {
        self.advance(now);
        let fqdn = parse_name(&job.fqdn)?;
        let mut forward_zone = None;
        let mut reverse_zone = None;
        for (target, zone_slot) in [
            (&job.forward, &mut forward_zone),
            (&job.reverse, &mut reverse_zone),
        ] {
            if let Some(t) = target {
                let zone = match self.zones.get(&t.zone) {
                    Some(z) => z.clone(),
                    None => {
                        let z = parse_name(&t.zone)?;
                        if self.zones.len() >= MAX_ZONES {
                            self.zones.clear();
                        }
                        self.zones.insert(t.zone.clone(), z.clone());
                        z
                    }
                };
                *zone_slot = Some(zone);
                if let Some(k) = &t.key {
                    if self.key(k).is_none() {
                        return Err(JobError::UnknownKey(k.clone()));
                    }
                }
            }
        }
        let step = match (&forward_zone, &reverse_zone, job.action) {
            (None, None, _) => return Err(JobError::NothingToDo),
            (Some(_), _, Action::Add) => Step::ForwardAdd,
            (Some(_), _, Action::Remove) => Step::ForwardRemove,
            (None, Some(_), Action::Add) => Step::ReverseAdd,
            (None, Some(_), Action::Remove) => Step::ReverseRemove,
        };
        // Check the zones now (the builders check again).
        if let Some(z) = &forward_zone {
            if !z.zone_of(&fqdn) {
                return Err(UpdateError::NotInZone {
                    name: fqdn.to_string(),
                    zone: z.to_string(),
                }
                .into());
            }
        }
        if let Some(z) = &reverse_zone {
            let owner = update::reverse_name(job.address);
            if !z.zone_of(&owner) {
                return Err(UpdateError::NotInZone {
                    name: owner.to_string(),
                    zone: z.to_string(),
                }
                .into());
            }
        }
        if job.enqueued_unix.is_none() {
            job.enqueued_unix = Some(self.unix(now));
        }
        let id = JobId(self.next_job);
        self.next_job += 1;
        let entry = Entry {
            id,
            name_key: fqdn.to_lowercase().to_string(),
            fqdn,
            job,
            forward_zone,
            reverse_zone,
            step,
            failures: 0,
            state: State::Waiting(now),
        };
        if self.queue.len() >= self.config.max_queue {
            // In flight are at most `max_in_flight` entries, mostly the
            // oldest: this stops after a few.
            match self.queue.iter().position(|e| !e.in_flight()) {
                Some(i) => {
                    if let Some(old) = self.remove(i) {
                        self.emit(&old, Outcome::GaveUp(GiveUpReason::QueueFull));
                    }
                }
                None => {
                    self.emit(&entry, Outcome::GaveUp(GiveUpReason::QueueFull));
                    return Ok(id);
                }
            }
        }
        self.names
            .entry(entry.name_key.clone())
            .or_default()
            .push_back(id);
        self.due.insert(id);
        self.queue.push_back(entry);
        self.pump(now);
        Ok(id)
    }

    /// Feeds a datagram received from `from`.
    pub fn handle(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.advance(now);
        let Ok(message) = Message::from_vec(datagram) else {
            self.stats.ignored += 1;
            return;
        };
        if message.message_type != MessageType::Response || message.op_code != OpCode::Update {
            self.stats.ignored += 1;
            return;
        }
        let index = self
            .flying
            .get(&message.id)
            .and_then(|&job| self.index(job))
            .filter(|&i| {
                matches!(&self.queue[i].state, State::InFlight(f)
                    if f.msg_id == message.id && f.server == from)
            });
        let Some(index) = index else {
            self.stats.ignored += 1;
            return;
        };
        let unix = self.unix(now);
        let answer = match &self.queue[index].state {
            State::InFlight(Flight {
                key: Some(key),
                request_mac,
                ..
            }) => match key.verify_response(datagram, request_mac, unix) {
                Ok(m) => classify(&m),
                Err(e) => Answer::Failed(FailReason::from(e)),
            },
            _ => classify(&message),
        };
        self.answer(index, now, answer);
        self.pump(now);
    }

    /// Applies `answer` to the in-flight entry at `index`.
    fn answer(&mut self, index: usize, now: Instant, answer: Answer) {
        let Some(entry) = self.queue.get(index) else {
            return;
        };
        let reverse_next = entry.reverse_zone.is_some();
        let step = entry.step;
        let action = entry.job.action;
        let after_forward = || match (reverse_next, action) {
            (false, _) => None,
            (true, Action::Add) => Some(Step::ReverseAdd),
            (true, Action::Remove) => Some(Step::ReverseRemove),
        };
        // The next step, or the end of the job (Ok(None)), or a failure.
        let next: Result<Option<Step>, Outcome> = match (step, answer) {
            (_, Answer::Failed(reason)) => Err(Outcome::Failed { step, reason }),
            (Step::ForwardAdd, Answer::Applied) => Ok(after_forward()),
            (Step::ForwardAdd, Answer::NameInUse) => Ok(Some(Step::ForwardReplace)),
            (Step::ForwardReplace, Answer::Applied) => Ok(after_forward()),
            (Step::ForwardReplace, Answer::NotOurs) => Err(Outcome::Conflict),
            (Step::ForwardRemove, Answer::Applied) => Ok(Some(Step::DhcidRemove)),
            // Not ours (or already gone): leave the name alone.
            (Step::ForwardRemove, Answer::NotOurs) => Ok(after_forward()),
            (Step::DhcidRemove, Answer::Applied | Answer::NotOurs | Answer::RrsetExists) => {
                Ok(after_forward())
            }
            (Step::ReverseAdd | Step::ReverseRemove, Answer::Applied) => Ok(None),
            (_, other) => Err(Outcome::Failed {
                step,
                reason: FailReason::Unexpected(match other {
                    Answer::Applied => 0,
                    Answer::NameInUse => 6,
                    Answer::RrsetExists => 7,
                    Answer::NotOurs => 8,
                    Answer::Failed(_) => u16::MAX,
                }),
            }),
        };
        match next {
            Ok(Some(step)) => {
                if let Some(e) = self.queue.get_mut(index) {
                    e.step = step;
                    e.failures = 0;
                }
                self.wait(index, now, now);
            }
            Ok(None) => self.finish(index, Outcome::Done),
            Err(Outcome::Failed { step, reason }) => self.fail(index, now, step, reason),
            Err(outcome) => self.finish(index, outcome),
        }
    }

    fn finish(&mut self, index: usize, outcome: Outcome) {
        if let Some(e) = self.remove(index) {
            self.emit(&e, outcome);
        }
    }

    fn fail(&mut self, index: usize, now: Instant, step: Step, reason: FailReason) {
        let unix = self.unix(now);
        let max_age = self.config.max_age.as_secs();
        let (retry_initial, retry_max) = (self.config.retry_initial, self.config.retry_max);
        let Some(e) = self.queue.get_mut(index) else {
            return;
        };
        e.failures = e.failures.saturating_add(1);
        let backoff = retry_initial
            .saturating_mul(1u32 << (e.failures - 1).min(20))
            .min(retry_max);
        let expired = unix.saturating_sub(e.job.enqueued_unix.unwrap_or(unix)) >= max_age;
        let event = Event {
            job: e.id,
            fqdn: e.job.fqdn.clone(),
            outcome: Outcome::Failed { step, reason },
        };
        self.wait(index, now, now + backoff);
        self.events.push_back(event);
        if expired {
            self.finish(index, Outcome::GaveUp(GiveUpReason::Expired));
        }
    }

    fn emit(&mut self, e: &Entry, outcome: Outcome) {
        self.events.push_back(Event {
            job: e.id,
            fqdn: e.job.fqdn.clone(),
            outcome,
        });
    }

    /// Drops expired waiting jobs and starts the due ones that may run.
    fn pump(&mut self, now: Instant) {
        let unix = self.unix(now);
        let max_age = self.config.max_age.as_secs();
        let expired = |e: &Entry| {
            !e.in_flight() && unix.saturating_sub(e.job.enqueued_unix.unwrap_or(unix)) >= max_age
        };
        if self.swept_at != Some(unix) {
            self.swept_at = Some(unix);
            let mut i = 0;
            while i < self.queue.len() {
                if expired(&self.queue[i]) {
                    self.finish(i, Outcome::GaveUp(GiveUpReason::Expired));
                } else {
                    i += 1;
                }
            }
        }
        self.start_due(now, expired);
        // Timers of jobs gone or started since: dropped from the top, so
        // that poll_timeout() names a live one (or none).
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            let live = self.index(id).is_some_and(|i| match &self.queue[i].state {
                State::Waiting(w) => *w == at,
                State::InFlight(f) => f.deadline == at,
                State::Broken => false,
            });
            if live {
                break;
            }
            self.timers.pop();
        }
    }

    /// Starts the due jobs that may run, as the window allows.
    fn start_due(&mut self, now: Instant, expired: impl Fn(&Entry) -> bool) {
        let window = self.config.max_in_flight.max(1);
        let free = window.saturating_sub(self.flying.len());
        if free == 0 || self.due.is_empty() {
            return;
        }
        let mut ready = Vec::new();
        for &id in &self.due {
            if ready.len() >= free {
                break;
            }
            let Some(i) = self.index(id) else {
                continue;
            };
            let e = &self.queue[i];
            // An earlier job for the same name goes first; a job that aged
            // since the last sweep is not sent (the next drops it).
            let first_of_name =
                self.names.get(&e.name_key).and_then(|ids| ids.front()) == Some(&id);
            if first_of_name && !expired(e) {
                ready.push(id);
            }
        }
        for id in ready {
            self.due.remove(&id);
            let Some(i) = self.index(id) else {
                continue;
            };
            if !self.start(i, now) {
                // The message could not be built or signed.
                self.finish(i, Outcome::GaveUp(GiveUpReason::Internal));
            }
        }
    }

    fn next_id(&mut self) -> u16 {
        loop {
            // xorshift64*
            self.rng ^= self.rng >> 12;
            self.rng ^= self.rng << 25;
            self.rng ^= self.rng >> 27;
            let id = (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 48) as u16;
            if !self.flying.contains_key(&id) {
                return id;
            }
        }
    }

    /// Builds, signs and sends the current step of entry `index`.
    fn start(&mut self, index: usize, now: Instant) -> bool {
        let msg_id = self.next_id();
        let unix = self.unix(now);
        let Some(e) = self.queue.get(index) else {
            return false;
        };
        let built = build(e, msg_id).and_then(|(mut message, target)| {
            let key = match &target.key {
                Some(name) => Some(self.key(name).cloned().ok_or(())?),
                None => None,
            };
            let request_mac = match &key {
                Some(k) => k.sign(&mut message, unix).map_err(|_| ())?,
                None => Vec::new(),
            };
            let datagram = message.to_vec().map_err(|_| ())?;
            Ok(Flight {
                msg_id,
                server: target.server,
                datagram,
                key,
                request_mac,
                sends: 1,
                deadline: now + self.config.rto,
            })
        });
        let Some(e) = self.queue.get_mut(index) else {
            return false;
        };
        match built {
            Ok(flight) => {
                self.outbox
                    .push_back((flight.server, flight.datagram.clone()));
                self.stats.sent += 1;
                self.flying.insert(flight.msg_id, e.id);
                self.timers.push(Reverse((flight.deadline, e.id)));
                e.state = State::InFlight(flight);
                true
            }
            Err(()) => {
                e.state = State::Broken;
                false
            }
        }
    }

    /// Retransmits or fails the attempts whose timer expired, makes the
    /// jobs whose backoff ran out due, then starts due jobs.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(i) = self.index(id) else {
                continue;
            };
            let max_retransmits = self.config.max_retransmits;
            let (rto, rto_max) = (self.config.rto, self.config.rto_max);
            let e = &mut self.queue[i];
            match &mut e.state {
                State::Waiting(w) if *w == at => {
                    self.due.insert(id);
                }
                State::InFlight(f) if f.deadline == at => {
                    if f.sends <= max_retransmits {
                        let rto = rto.saturating_mul(1u32 << f.sends.min(20)).min(rto_max);
                        f.sends += 1;
                        f.deadline = now + rto;
                        self.outbox.push_back((f.server, f.datagram.clone()));
                        self.stats.retransmitted += 1;
                        self.timers.push(Reverse((f.deadline, id)));
                    } else {
                        let step = e.step;
                        self.fail(i, now, step, FailReason::Timeout);
                    }
                }
                // Stale: the job moved on since this timer was set.
                _ => {}
            }
        }
        self.pump(now);
    }

    /// The next datagram to send: (server, bytes).
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.outbox.pop_front()
    }

    /// When [`Updater::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Due entries wait for a free slot or for their name's earlier
        // job, which only an answer or a timeout frees; those call
        // pump() anyway, and pump() leaves a live timer on top (a stale
        // one further down only wakes early).
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// The next outcome.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Every job not finished yet, oldest first (to persist the queue).
    pub fn pending_jobs(&self) -> Vec<Job> {
        self.queue.iter().map(|e| e.job.clone()).collect()
    }

    /// Jobs queued, in flight included.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Exchanges outstanding.
    pub fn in_flight(&self) -> usize {
        self.flying.len()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }
}

/// The message of `e`'s current step with ID `id`, and its target.
fn build(e: &Entry, id: u16) -> Result<(Message, &Target), ()> {
    let job = &e.job;
    let (zone, target) = match e.step {
        Step::ForwardAdd | Step::ForwardReplace | Step::ForwardRemove | Step::DhcidRemove => {
            (e.forward_zone.as_ref(), job.forward.as_ref())
        }
        Step::ReverseAdd | Step::ReverseRemove => (e.reverse_zone.as_ref(), job.reverse.as_ref()),
    };
    let (Some(z), Some(t)) = (zone, target) else {
        return Err(());
    };
    let (f, a, d, ttl) = (&e.fqdn, job.address, &job.dhcid, job.ttl);
    let message = match e.step {
        Step::ForwardAdd => update::add_forward(id, z, f, a, d, ttl),
        Step::ForwardReplace => update::replace_forward(id, z, f, a, d, ttl),
        Step::ForwardRemove => update::remove_forward(id, z, f, a, d),
        Step::DhcidRemove => update::remove_dhcid(id, z, f, d),
        Step::ReverseAdd => update::add_reverse(id, z, a, f, ttl),
        Step::ReverseRemove => update::remove_reverse(id, z, a, f),
    }
    .map_err(|_| ())?;
    Ok((message, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::{DNSClass, RecordType};
    use std::collections::HashSet;

    use crate::dhcid::DHCID_RECORD_TYPE;

    const KEY: &str = "ddns-key";
    const UNIX0: u64 = 1_800_000_000;

    fn server() -> SocketAddr {
        "127.0.0.1:53".parse().unwrap()
    }

    fn key() -> TsigKey {
        TsigKey::from_base64(
            KEY,
            crate::Algorithm::HmacSha256,
            "4xc0d+wrz3zGagarlKrvR6scLtnb5cD+5Fl/aQ/4RN4=",
        )
        .unwrap()
    }

    fn config() -> UpdaterConfig {
        UpdaterConfig {
            max_queue: 8,
            max_in_flight: 4,
            keys: vec![key()],
            ..UpdaterConfig::default()
        }
    }

    fn job(action: Action, host: &str) -> Job {
        let fqdn = format!("{host}.example.test.");
        let name = Name::from_ascii(&fqdn).unwrap();
        Job {
            action,
            dhcid: Dhcid::from_hwaddr(1, host.as_bytes(), &name).unwrap(),
            fqdn,
            address: "192.0.2.10".parse().unwrap(),
            ttl: 600,
            forward: Some(Target {
                server: server(),
                zone: "example.test".into(),
                key: Some(KEY.into()),
            }),
            reverse: Some(Target {
                server: server(),
                zone: "2.0.192.in-addr.arpa".into(),
                key: Some(KEY.into()),
            }),
            enqueued_unix: None,
        }
    }

    /// Which builder made a request (by its prerequisites and updates).
    fn kind(req: &Message) -> &'static str {
        let pre: Vec<_> = req
            .answers
            .iter()
            .map(|r| (r.record_type(), r.dns_class))
            .collect();
        let upd: Vec<_> = req
            .authorities
            .iter()
            .map(|r| (r.record_type(), r.dns_class))
            .collect();
        match (pre.as_slice(), upd.first()) {
            ([(RecordType::ANY, DNSClass::NONE)], _) => "add",
            ([(t, DNSClass::IN)], Some((RecordType::A, DNSClass::ANY)))
                if *t == DHCID_RECORD_TYPE =>
            {
                "replace"
            }
            ([(t, DNSClass::IN)], Some((RecordType::A, DNSClass::NONE)))
                if *t == DHCID_RECORD_TYPE =>
            {
                "remove"
            }
            ([_, _, _], _) => "remove-dhcid",
            ([], Some((RecordType::PTR, DNSClass::ANY))) => "ptr-add",
            ([], Some((RecordType::PTR, DNSClass::NONE))) => "ptr-remove",
            _ => "?",
        }
    }

    /// The fake server: parses a request, answers `rcode`, signed with
    /// `key` over the request MAC (or unsigned).
    fn answer(req: &[u8], rcode: ResponseCode, key: Option<&TsigKey>, unix: u64) -> Vec<u8> {
        let req = Message::from_vec(req).unwrap();
        let mut resp = Message::new(req.id, MessageType::Response, OpCode::Update);
        resp.metadata.response_code = rcode;
        resp.queries = req.queries.clone();
        if let Some(k) = key {
            let mac = req.signature().unwrap().data.mac.clone();
            k.sign_response(&mut resp, &mac, unix);
        }
        resp.to_vec().unwrap()
    }

    struct Bench {
        up: Updater,
        t0: Instant,
        now: Instant,
    }

    impl Bench {
        fn new(config: UpdaterConfig) -> Self {
            let t0 = Instant::now();
            Self {
                up: Updater::new(config, t0, UNIX0),
                t0,
                now: t0,
            }
        }

        fn unix(&self) -> u64 {
            UNIX0 + (self.now - self.t0).as_secs()
        }

        fn enqueue(&mut self, j: Job) -> JobId {
            self.up.enqueue(self.now, j).unwrap()
        }

        /// The next request: (its kind, its bytes).
        fn next(&mut self) -> Option<(&'static str, Vec<u8>)> {
            let (to, bytes) = self.up.poll_transmit()?;
            assert_eq!(to, server());
            Some((kind(&Message::from_vec(&bytes).unwrap()), bytes))
        }

        /// Answers the request with `rcode`, properly signed.
        fn reply(&mut self, req: &[u8], rcode: ResponseCode) {
            let resp = answer(req, rcode, Some(&key()), self.unix());
            self.up.handle(self.now, server(), &resp);
        }

        /// Advances the virtual clock to the next timer and fires it.
        fn tick(&mut self) {
            let at = self.up.poll_timeout().expect("a timer");
            assert!(at >= self.now);
            self.now = at;
            self.up.handle_timeout(self.now);
        }

        fn events(&mut self) -> Vec<Outcome> {
            std::iter::from_fn(|| self.up.poll_event())
                .map(|e| e.outcome)
                .collect()
        }

        /// Serves every request with NOERROR until nothing is left.
        fn serve_all(&mut self) -> Vec<&'static str> {
            let mut kinds = Vec::new();
            while let Some((k, req)) = self.next() {
                kinds.push(k);
                self.reply(&req, ResponseCode::NoError);
            }
            kinds
        }
    }

    #[test]
    fn server_answers() {
        let mut b = Bench::new(config());
        b.enqueue(job(Action::Add, "host1"));
        assert_eq!(b.serve_all(), ["add", "ptr-add"]);
        assert_eq!(b.events(), [Outcome::Done]);
        assert_eq!(b.up.queue_len(), 0);
        assert_eq!(b.up.poll_timeout(), None);
        assert_eq!(b.up.stats().sent, 2);
        b.enqueue(job(Action::Remove, "host1"));
        let (k, req) = b.next().unwrap();
        assert_eq!(k, "remove");
        b.reply(&req, ResponseCode::NoError);
        let (k, req) = b.next().unwrap();
        assert_eq!(k, "remove-dhcid");
        // YXRRSET: another address remains, the DHCID stays.
        b.reply(&req, ResponseCode::YXRRSet);
        assert_eq!(b.serve_all(), ["ptr-remove"]);
        assert_eq!(b.events(), [Outcome::Done]);
    }

    #[test]
    fn requests_are_signed_and_sequenced() {
        let mut b = Bench::new(config());
        b.enqueue(job(Action::Add, "host1"));
        let (_, req) = b.next().unwrap();
        let m = Message::from_vec(&req).unwrap();
        let sig = m.signature().unwrap();
        assert_eq!(sig.name.to_string(), "ddns-key.");
        assert_eq!(sig.data.time, UNIX0);
        // One step at a time: nothing else until this one is answered.
        assert!(b.next().is_none());
        assert_eq!(b.up.in_flight(), 1);
    }

    #[test]
    fn name_in_use_falls_back_to_replace() {
        let mut b = Bench::new(config());
        b.enqueue(job(Action::Add, "host1"));
        let (k, req) = b.next().unwrap();
        assert_eq!(k, "add");
        b.reply(&req, ResponseCode::YXDomain);
        assert_eq!(b.serve_all(), ["replace", "ptr-add"]);
        assert_eq!(b.events(), [Outcome::Done]);
    }

    #[test]
    fn conflict_stops_the_job() {
        let mut b = Bench::new(config());
        b.enqueue(job(Action::Add, "host1"));
        let (_, req) = b.next().unwrap();
        b.reply(&req, ResponseCode::YXDomain);
        let (k, req) = b.next().unwrap();
        assert_eq!(k, "replace");
        b.reply(&req, ResponseCode::NXRRSet);
        assert!(b.next().is_none(), "no PTR for a name that is not ours");
        assert_eq!(b.events(), [Outcome::Conflict]);
        assert_eq!(b.up.queue_len(), 0);
    }

    #[test]
    fn removal_of_a_name_no_longer_ours() {
        let mut b = Bench::new(config());
        b.enqueue(job(Action::Remove, "host1"));
        let (k, req) = b.next().unwrap();
        assert_eq!(k, "remove");
        b.reply(&req, ResponseCode::NXRRSet);
        assert_eq!(b.serve_all(), ["ptr-remove"]);
        assert_eq!(b.events(), [Outcome::Done]);
    }

    #[test]
    fn server_silent_then_back() {
        let mut b = Bench::new(config());
        b.enqueue(job(Action::Add, "host1"));
        let (_, first) = b.next().unwrap();
        // Retransmissions: same bytes at +1 s, +2 s (1 + 2 + 4 s in all).
        let mut times = Vec::new();
        loop {
            b.tick();
            match b.next() {
                Some((_, again)) => {
                    assert_eq!(again, first);
                    times.push((b.now - b.t0).as_secs());
                }
                None => break,
            }
        }
        assert_eq!(times, [1, 3]);
        assert_eq!((b.now - b.t0).as_secs(), 7);
        assert_eq!(
            b.events(),
            [Outcome::Failed {
                step: Step::ForwardAdd,
                reason: FailReason::Timeout
            }]
        );
        // The next attempt after the backoff (5 s): a new ID.
        b.tick();
        assert_eq!((b.now - b.t0).as_secs(), 12);
        let (k, second) = b.next().unwrap();
        assert_eq!(k, "add");
        assert_ne!(second[..2], first[..2]);
        // Silent again: the backoff doubles (10 s after the 7 s attempt).
        for _ in 0..3 {
            b.tick();
            let _ = b.next();
        }
        assert_eq!(b.events().len(), 1);
        b.tick();
        assert_eq!((b.now - b.t0).as_secs(), 12 + 7 + 10);
        // The server is back.
        let (_, req) = b.next().unwrap();
        b.reply(&req, ResponseCode::NoError);
        assert_eq!(b.serve_all(), ["ptr-add"]);
        assert_eq!(b.events(), [Outcome::Done]);
        // A late answer to an old attempt is ignored.
        let ignored = b.up.stats().ignored;
        b.reply(&first, ResponseCode::NoError);
        assert_eq!(b.up.stats().ignored, ignored + 1);
    }

    #[test]
    fn bad_tsig_responses_fail_the_attempt() {
        let mut b = Bench::new(config());
        b.enqueue(job(Action::Add, "host1"));
        let unix = b.unix();
        // Unsigned NOERROR: not believed.
        let (_, req) = b.next().unwrap();
        b.up.handle(
            b.now,
            server(),
            &answer(&req, ResponseCode::NoError, None, unix),
        );
        // Signed with another secret under our key name.
        let forged = TsigKey::from_base64(KEY, crate::Algorithm::HmacSha256, "AAAA").unwrap();
        b.tick();
        let (_, req) = b.next().unwrap();
        b.up.handle(
            b.now,
            server(),
            &answer(&req, ResponseCode::NoError, Some(&forged), unix),
        );
        // The server's unsigned BADSIG refusal (what BIND sends for a wrong key).
        b.tick();
        let (_, req) = b.next().unwrap();
        let mut refusal = Message::new(
            Message::from_vec(&req).unwrap().id,
            MessageType::Response,
            OpCode::Update,
        );
        refusal.metadata.response_code = ResponseCode::NotAuth;
        refusal.set_signature(Box::new(hickory_proto::rr::rdata::tsig::make_tsig_record(
            Name::from_ascii("ddns-key.").unwrap(),
            hickory_proto::rr::rdata::tsig::TSIG::new(
                hickory_proto::rr::rdata::tsig::TsigAlgorithm::HmacSha256,
                unix,
                300,
                Vec::new(),
                0,
                Some(hickory_proto::rr::rdata::tsig::TsigError::BadSig),
                Vec::new(),
            ),
        )));
        b.up.handle(b.now, server(), &refusal.to_vec().unwrap());
        // REFUSED, properly signed.
        b.tick();
        let (_, req) = b.next().unwrap();
        b.reply(&req, ResponseCode::Refused);
        let failed = |reason| Outcome::Failed {
            step: Step::ForwardAdd,
            reason,
        };
        assert_eq!(
            b.events(),
            [
                failed(FailReason::BadResponseSignature),
                failed(FailReason::BadResponseSignature),
                failed(FailReason::BadSig),
                failed(FailReason::Refused),
            ]
        );
        // Never done without a good signature; the job is still queued.
        assert_eq!(b.up.queue_len(), 1);
        b.tick();
        assert_eq!(b.serve_all(), ["add", "ptr-add"]);
        assert_eq!(b.events(), [Outcome::Done]);
    }

    #[test]
    fn garbage_is_ignored() {
        let mut b = Bench::new(config());
        b.enqueue(job(Action::Add, "host1"));
        let (_, req) = b.next().unwrap();
        let good = answer(&req, ResponseCode::NoError, Some(&key()), b.unix());
        let other: SocketAddr = "127.0.0.2:53".parse().unwrap();
        b.up.handle(b.now, server(), b"");
        b.up.handle(b.now, server(), &[0xff; 7]);
        b.up.handle(b.now, server(), &good[..good.len() - 1]);
        // The request itself (not a response).
        b.up.handle(b.now, server(), &req);
        // Right bytes from the wrong address.
        b.up.handle(b.now, other, &good);
        // Wrong ID.
        let mut wrong_id = good.clone();
        wrong_id[0] ^= 0x80;
        b.up.handle(b.now, server(), &wrong_id);
        for n in 0..good.len() {
            b.up.handle(b.now, server(), &good[..n]);
        }
        assert!(b.up.stats().ignored >= 6);
        assert!(b.events().is_empty());
        assert_eq!(b.up.in_flight(), 1);
        b.up.handle(b.now, server(), &good);
        assert_eq!(b.serve_all(), ["ptr-add"]);
        assert_eq!(b.events(), [Outcome::Done]);
    }

    #[test]
    fn mutated_responses_never_count_as_done() {
        let mut b = Bench::new(config());
        b.enqueue(job(Action::Add, "host1"));
        let (_, req) = b.next().unwrap();
        let good = answer(&req, ResponseCode::NoError, Some(&key()), b.unix());
        for i in 0..good.len() {
            for bit in (0..8).map(|b| 1u8 << b) {
                // The MAC covers the key and algorithm names in canonical
                // (lower) case (RFC 8945 section 4.3.3): case is not signed.
                if bit == 0x20 && good[i].is_ascii_alphabetic() {
                    continue;
                }
                let mut c = Bench::new(config());
                c.enqueue(job(Action::Add, "host1"));
                let (_, req) = c.next().unwrap();
                let mut bad = answer(&req, ResponseCode::NoError, Some(&key()), c.unix());
                bad[i] ^= bit;
                c.up.handle(c.now, server(), &bad);
                assert!(c.next().is_none(), "byte {i} bit {bit:#x}: no next step");
                assert!(
                    c.events()
                        .iter()
                        .all(|o| matches!(o, Outcome::Failed { .. })),
                    "byte {i} bit {bit:#x}"
                );
            }
        }
    }

    #[test]
    fn queue_overflow_drops_the_oldest_waiting_job() {
        let mut b = Bench::new(UpdaterConfig {
            max_queue: 3,
            max_in_flight: 1,
            ..config()
        });
        let ids: Vec<JobId> = (1..=5)
            .map(|i| b.enqueue(job(Action::Add, &format!("h{i}"))))
            .collect();
        assert_eq!(b.up.queue_len(), 3);
        assert_eq!(b.up.in_flight(), 1);
        let dropped: Vec<_> = std::iter::from_fn(|| b.up.poll_event()).collect();
        assert_eq!(dropped.len(), 2);
        assert_eq!(dropped[0].job, ids[1]);
        assert_eq!(dropped[1].job, ids[2]);
        assert!(dropped
            .iter()
            .all(|e| e.outcome == Outcome::GaveUp(GiveUpReason::QueueFull)));
        let names: Vec<_> = b.up.pending_jobs().into_iter().map(|j| j.fqdn).collect();
        assert_eq!(
            names,
            ["h1.example.test.", "h4.example.test.", "h5.example.test."]
        );
        assert_eq!(b.serve_all().len(), 6);
        assert_eq!(b.events(), [Outcome::Done; 3]);
    }

    #[test]
    fn old_jobs_expire() {
        let mut b = Bench::new(UpdaterConfig {
            max_age: Duration::from_secs(60),
            ..config()
        });
        b.enqueue(job(Action::Add, "host1"));
        let mut ticks = 0;
        while b.up.queue_len() > 0 {
            b.tick();
            while b.next().is_some() {}
            ticks += 1;
            assert!(ticks < 100);
        }
        let events = b.events();
        assert_eq!(events.last(), Some(&Outcome::GaveUp(GiveUpReason::Expired)));
        assert!((b.now - b.t0).as_secs() >= 60);
        assert_eq!(b.up.poll_timeout(), None);
    }

    #[test]
    fn same_name_jobs_run_in_order_others_in_parallel() {
        let mut b = Bench::new(config());
        b.enqueue(job(Action::Add, "host1"));
        b.enqueue(job(Action::Remove, "host1"));
        b.enqueue(job(Action::Add, "host2"));
        assert_eq!(b.up.in_flight(), 2);
        assert_eq!(
            b.serve_all(),
            [
                "add",
                "add",
                "ptr-add",
                "ptr-add",
                "remove",
                "remove-dhcid",
                "ptr-remove"
            ]
        );
        assert_eq!(b.events(), [Outcome::Done; 3]);
    }

    #[test]
    fn unsigned_targets_work_too() {
        let mut b = Bench::new(config());
        let mut j = job(Action::Add, "host1");
        j.forward.as_mut().unwrap().key = None;
        j.reverse = None;
        b.enqueue(j);
        let (_, req) = b.next().unwrap();
        assert!(Message::from_vec(&req).unwrap().signature().is_none());
        b.up.handle(
            b.now,
            server(),
            &answer(&req, ResponseCode::NoError, None, 0),
        );
        assert_eq!(b.events(), [Outcome::Done]);
    }

    #[test]
    fn bad_jobs_are_refused() {
        let mut b = Bench::new(config());
        let mut j = job(Action::Add, "host1");
        j.forward.as_mut().unwrap().key = Some("nope".into());
        assert_eq!(
            b.up.enqueue(b.now, j),
            Err(JobError::UnknownKey("nope".into()))
        );
        let mut j = job(Action::Add, "host1");
        j.forward.as_mut().unwrap().zone = "example.org".into();
        assert!(matches!(b.up.enqueue(b.now, j), Err(JobError::Zone(_))));
        let mut j = job(Action::Add, "host1");
        j.address = "198.51.100.1".parse().unwrap();
        assert!(matches!(b.up.enqueue(b.now, j), Err(JobError::Zone(_))));
        let mut j = job(Action::Add, "host1");
        (j.forward, j.reverse) = (None, None);
        assert_eq!(b.up.enqueue(b.now, j), Err(JobError::NothingToDo));
        let mut j = job(Action::Add, "host1");
        j.fqdn = "bad..name".into();
        assert!(matches!(b.up.enqueue(b.now, j), Err(JobError::Name(_))));
        assert_eq!(b.up.queue_len(), 0);
    }

    #[test]
    fn jobs_survive_serialisation() {
        let mut b = Bench::new(config());
        b.enqueue(job(Action::Add, "host1"));
        let saved = serde_json::to_string(&b.up.pending_jobs()).unwrap();
        let jobs: Vec<Job> = serde_json::from_str(&saved).unwrap();
        assert_eq!(jobs, b.up.pending_jobs());
        assert_eq!(jobs[0].enqueued_unix, Some(UNIX0));
        // A restarted engine takes them with their age.
        let t = Instant::now();
        let mut late = Updater::new(config(), t, UNIX0 + 120);
        late.enqueue(t, jobs[0].clone()).unwrap();
        assert_eq!(late.queue_len(), 1);
        let mut expired = Updater::new(
            UpdaterConfig {
                max_age: Duration::from_secs(60),
                ..config()
            },
            t,
            UNIX0 + 120,
        );
        expired.enqueue(t, jobs[0].clone()).unwrap();
        assert_eq!(expired.queue_len(), 0);
        assert_eq!(
            expired.poll_event().map(|e| e.outcome),
            Some(Outcome::GaveUp(GiveUpReason::Expired))
        );
    }

    /// A full queue behind a silent server: the window holds, every job
    /// backs off, the timers stay live, and when the server answers again
    /// every job completes once and same-name jobs keep their order.
    #[test]
    fn a_full_queue_drains_when_the_server_returns() {
        let mut b = Bench::new(UpdaterConfig {
            max_queue: 2_000,
            max_in_flight: 32,
            ..config()
        });
        for i in 0..1_990 {
            b.enqueue(job(Action::Add, &format!("h{i}")));
        }
        // Five names twice: the second job of each waits for the first.
        for i in 0..5 {
            b.enqueue(job(Action::Remove, &format!("h{i}")));
        }
        assert_eq!(b.up.queue_len(), 1_995);
        assert_eq!(b.up.in_flight(), 32);
        // Silent for a minute: attempts time out, back off, start again.
        let mut sent = 0;
        while (b.now - b.t0).as_secs() < 60 {
            b.tick();
            while b.next().is_some() {
                sent += 1;
            }
            assert!(b.up.in_flight() <= 32);
        }
        assert!(sent > 32, "attempts went on: {sent}");
        assert_eq!(b.up.queue_len(), 1_995);
        // Back: answer everything, timers included, until the queue is empty.
        let mut order = Vec::new();
        let mut rounds = 0;
        while b.up.queue_len() > 0 {
            while let Some((k, req)) = b.next() {
                let name = Message::from_vec(&req).unwrap().authorities[0]
                    .name
                    .to_string();
                order.push((k, name));
                b.reply(&req, ResponseCode::NoError);
            }
            if b.up.queue_len() > 0 {
                b.tick();
            }
            rounds += 1;
            assert!(rounds < 10_000);
        }
        let outcomes: Vec<_> = std::iter::from_fn(|| b.up.poll_event())
            .filter(|e| !matches!(e.outcome, Outcome::Failed { .. }))
            .collect();
        assert_eq!(outcomes.len(), 1_995);
        assert!(outcomes.iter().all(|e| e.outcome == Outcome::Done));
        let ids: HashSet<JobId> = outcomes.iter().map(|e| e.job).collect();
        assert_eq!(ids.len(), 1_995);
        // h0's add (A, then PTR) before its removal.
        let h0: Vec<_> = order
            .iter()
            .filter(|(_, n)| n == "h0.example.test.")
            .map(|(k, _)| *k)
            .collect();
        let first_remove = h0.iter().position(|k| k.contains("remove")).unwrap();
        assert!(h0[..first_remove].contains(&"add"));
        assert_eq!(b.up.poll_timeout(), None);
        assert_eq!(b.up.in_flight(), 0);
    }
}
