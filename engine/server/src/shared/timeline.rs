//! The provisioning timeline of every device: each step a device takes —
//! its DHCP exchanges, config file transfers, Time of Day, SNMP enrollment,
//! management events — recorded against its MAC with a timestamp and an
//! outcome, and named by its step in seed 000 (Table 2 `CM1`…`CM4`,
//! Table 3 `CM1v6`…`CM4v6`, `CM5`–`CM10` for the rest of the DOCSIS
//! registration, Table 6 `eUE-1`…`eUE-25`).
//!
//! An eCM and the eUE behind it are linked (DHCPv4 option 82.2 remote-id,
//! DHCPv6 17.1026 / 17.36, the 122/CCC correlation), so `headend device
//! show` shows both halves of an E-UE and where it is stuck.
//!
//! Bounded: [`PER_DEVICE`] steps per device (the oldest are dropped) and
//! `max_devices` devices in memory (the least recently recorded are
//! evicted from memory, not from the store). A device is *pending* until
//! it holds a binding ([`Timeline::establish`], on an ACK or a DHCPv6
//! REPLY that committed one, or a config file it fetched as a known
//! device): a pending device's steps stay in memory only, at most
//! [`MAX_PENDING`] such devices (the oldest forgotten), so a flood of
//! random MACs costs neither memory nor disk for good (issue 21); its
//! steps are written with its first binding. The packet path only appends
//! under a shard lock; [`Timeline::take_dirty`] hands the changed timelines
//! to a background writer once a second, so recording never waits for the
//! disk.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use headend_model::config::TimelineMode;
use headend_model::hash::FastMap;
use headend_store::{DeviceTimeline, Mutation, Store, StoreError, TimelineEvent};
use parking_lot::Mutex;

/// Steps kept per device (the newest).
pub const PER_DEVICE: usize = 64;

/// Devices kept in memory by default.
pub const DEFAULT_MAX_DEVICES: usize = 100_000;

/// Devices without a binding yet kept in memory (never written).
pub const MAX_PENDING: usize = 8_192;

/// Lock shards (the packet path of each worker records concurrently).
const SHARDS: usize = 16;

/// A provisioning step, named as seed 000 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// eCM DHCPv4 DISCOVER (Table 2).
    Cm1,
    /// eCM DHCPv4 OFFER.
    Cm2,
    /// eCM DHCPv4 REQUEST.
    Cm3,
    /// eCM DHCPv4 ACK (or NAK).
    Cm4,
    /// eCM DHCPv6 SOLICIT (Table 3).
    Cm1v6,
    /// eCM DHCPv6 ADVERTISE.
    Cm2v6,
    /// eCM DHCPv6 REQUEST.
    Cm3v6,
    /// eCM DHCPv6 REPLY.
    Cm4v6,
    /// `CM5`–`CM10`: the eCM's Time of Day request (RFC 868).
    CmTod,
    /// `CM5`–`CM10`: the eCM's config file transfer.
    CmConfigFile,
    /// `eUE-n` of Table 6 (1 ..= 25).
    Eue(u8),
    /// A step of a device that is neither an eCM nor an eUE (a plain
    /// DHCP client, CPE): the message name.
    Other(&'static str),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Cm1 => f.write_str("CM1"),
            Step::Cm2 => f.write_str("CM2"),
            Step::Cm3 => f.write_str("CM3"),
            Step::Cm4 => f.write_str("CM4"),
            Step::Cm1v6 => f.write_str("CM1v6"),
            Step::Cm2v6 => f.write_str("CM2v6"),
            Step::Cm3v6 => f.write_str("CM3v6"),
            Step::Cm4v6 => f.write_str("CM4v6"),
            Step::CmTod => f.write_str("CM5-CM10 ToD"),
            Step::CmConfigFile => f.write_str("CM5-CM10 config file"),
            Step::Eue(n) => write!(f, "eUE-{n}"),
            Step::Other(name) => f.write_str(name),
        }
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Ok,
    /// Failed (the detail says why).
    Failed,
    /// Started, its answer not yet seen (a SET awaiting its response).
    Pending,
}

impl Outcome {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Pending => "pending",
        }
    }
}

/// Which steps a DHCP exchange of a device is: the eCM's (`CM…`), the
/// eUE's (`eUE-…`) or another client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A cable modem (DOCSIS vendor class).
    Ecm,
    /// A PacketCable device (pktc vendor class).
    Eue,
    /// Anything else.
    Other,
}

impl Role {
    /// The role of a classified device family (`device.family`).
    pub fn of_family(family: &str) -> Role {
        match family {
            "docsis" => Role::Ecm,
            "pktc" => Role::Eue,
            _ => Role::Other,
        }
    }
}

/// Milliseconds since the Unix epoch now (the bus's clock: events and steps agree).
pub use crate::bus::now_ms;

/// Timelines written per store batch by [`Timeline::flush`].
pub const FLUSH_BATCH: usize = 256;

/// Devices listed as linked to one device (an eCM and its eUE; the first
/// ones linked are kept).
const MAX_LINKS: usize = 8;

/// What a step says beyond its name: the packet path records typed fields
/// and they are formatted only when the timeline is shown or stored, so a
/// DHCP exchange pays no `format!` for its two steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    /// Free text.
    Text(String),
    /// A fixed text then an address: `DHCPv4 via relay 10.0.0.1`.
    Addr(&'static str, IpAddr),
    /// A fixed text then a socket address: `DHCPv4 from 10.0.0.9:68`.
    Socket(&'static str, SocketAddr),
    /// A message name, a space and an address: `OFFER 10.1.0.10`.
    Message(&'static str, IpAddr),
    /// A fixed text then a reason code: `dropped: bad_client_id`.
    Reason(&'static str, &'static str),
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Detail::Text(t) => f.write_str(t),
            Detail::Addr(p, a) => write!(f, "{p}{a}"),
            Detail::Socket(p, a) => write!(f, "{p}{a}"),
            Detail::Message(m, a) => write!(f, "{m} {a}"),
            Detail::Reason(p, r) => write!(f, "{p}{r}"),
        }
    }
}

impl From<String> for Detail {
    fn from(s: String) -> Detail {
        Detail::Text(s)
    }
}

impl From<&str> for Detail {
    fn from(s: &str) -> Detail {
        Detail::Text(s.to_string())
    }
}

/// One recorded step, as kept in memory.
#[derive(Debug, Clone)]
struct Event {
    at_ms: u64,
    step: Step,
    outcome: Outcome,
    detail: Detail,
}

impl Event {
    fn stored(&self) -> TimelineEvent {
        TimelineEvent {
            at_ms: self.at_ms,
            step: self.step.to_string(),
            outcome: self.outcome.as_str().to_string(),
            detail: self.detail.to_string(),
        }
    }
}

struct Dev {
    /// The device's key, shared with `Shard::order` and `Shard::dirty`.
    mac: Arc<str>,
    events: VecDeque<Event>,
    /// Sequence number of the device's newest entry in `Shard::order`.
    seq: u64,
    /// Changed since the writer last took it (listed in `Shard::dirty`).
    dirty: bool,
    /// Has held a binding: its timeline is written to the store.
    established: bool,
    /// Sequence number of its entry in `Shard::pending`.
    born: u64,
}

#[derive(Default)]
struct Shard {
    devices: FastMap<Arc<str>, Dev>,
    linked: FastMap<String, Vec<String>>,
    /// Recording order, for eviction: an entry whose sequence number is not
    /// its device's newest is stale and skipped.
    order: VecDeque<(Arc<str>, u64)>,
    next_seq: u64,
    /// Devices changed since the writer last took them (may repeat a
    /// device evicted and recorded again; the writer deduplicates).
    dirty: Vec<Arc<str>>,
    /// Devices whose links changed (linked before or without any step).
    dirty_links: Vec<String>,
    /// Dirty timelines evicted before the writer took them.
    evicted: Vec<DeviceTimeline>,
    /// Devices not established, oldest first, by `Dev::born` (entries of
    /// devices since established or evicted are stale and skipped).
    pending: VecDeque<(Arc<str>, u64)>,
    /// How many devices are not established.
    pending_count: usize,
}

impl Shard {
    fn timeline(&self, mac: &str) -> Option<DeviceTimeline> {
        let dev = self.devices.get(mac)?;
        Some(DeviceTimeline {
            device: mac.to_string(),
            linked: self.linked.get(mac).cloned().unwrap_or_default(),
            events: dev.events.iter().map(Event::stored).collect(),
        })
    }

    fn evict(&mut self, max: usize) {
        while self.devices.len() > max {
            let Some((old, seq)) = self.order.pop_front() else {
                return;
            };
            match self.devices.get(&old) {
                Some(d) if d.seq == seq => {}
                _ => continue, // recorded again later
            }
            if self.devices.get(&old).is_some_and(|d| d.dirty) {
                if let Some(t) = self.timeline(&old) {
                    self.evicted.push(t);
                }
            }
            self.forget(&old);
        }
        // Amortised compaction: drop stale entries once they outnumber the
        // live ones three to one.
        if self.order.len() > 4 * self.devices.len() + 1024 {
            let devices = &self.devices;
            self.order
                .retain(|(m, seq)| devices.get(m).map(|d| d.seq) == Some(*seq));
        }
    }

    /// Forgets the oldest devices without a binding past `max` (nothing of
    /// them was written, nothing is).
    fn evict_pending(&mut self, max: usize) {
        while self.pending_count > max {
            let Some((old, born)) = self.pending.pop_front() else {
                return;
            };
            if self
                .devices
                .get(&old)
                .is_some_and(|d| !d.established && d.born == born)
            {
                self.forget(&old);
            }
        }
        if self.pending.len() > 4 * max + 64 {
            let devices = &self.devices;
            self.pending.retain(|(m, born)| {
                devices
                    .get(m)
                    .is_some_and(|d| !d.established && d.born == *born)
            });
        }
    }

    fn forget(&mut self, mac: &str) {
        if let Some(d) = self.devices.remove(mac) {
            if !d.established {
                self.pending_count -= 1;
            }
        }
        self.linked.remove(mac);
        if self.devices.capacity() > 4 * self.devices.len() + 1024 {
            self.devices.shrink_to(2 * self.devices.len());
        }
    }
}

/// Every device's provisioning timeline (see the module doc).
pub struct Timeline {
    shards: Box<[Mutex<Shard>]>,
    max_per_shard: usize,
    pending_per_shard: usize,
    /// `[server] timeline` of the running snapshot ([`Timeline::set_mode`]).
    mode: AtomicU8,
    /// Where every step is also published, when somebody listens.
    bus: Arc<crate::bus::Bus>,
    /// Devices provisioned and steps failed per minute, for the dashboard.
    recent: Mutex<Recent>,
}

/// Minutes of activity [`Timeline::recent`] keeps.
pub const RECENT_MINUTES: usize = 60;

/// Recently provisioned devices [`Timeline::recent`] lists (the newest).
pub const RECENT_DEVICES: usize = 50;

/// One minute of activity.
#[derive(Debug, Default, Clone)]
struct Minute {
    /// Its start, in minutes since the Unix epoch.
    at_min: u64,
    /// Devices that got their first binding.
    bound: u64,
    /// Devices that finished their flow ([`is_final`] step done).
    provisioned: u64,
    /// Failed steps by step name.
    failed: std::collections::BTreeMap<String, u64>,
}

/// The per-minute activity ring and the newest provisioned devices. Only
/// first bindings, finished flows and failures touch it — once or twice a
/// device, never per packet.
#[derive(Debug, Default)]
struct Recent {
    minutes: VecDeque<Minute>,
    devices: VecDeque<RecentDevice>,
}

impl Recent {
    fn minute(&mut self, at_ms: u64) -> &mut Minute {
        let at_min = at_ms / 60_000;
        if self.minutes.back().is_none_or(|m| m.at_min < at_min) {
            self.minutes.push_back(Minute {
                at_min,
                ..Minute::default()
            });
            while self.minutes.len() > RECENT_MINUTES {
                self.minutes.pop_front();
            }
        }
        // A step stamped in an older minute (clock step, replay) counts in
        // the newest one kept rather than reordering the ring.
        let last = self.minutes.len() - 1;
        &mut self.minutes[last]
    }
}

/// A device that finished its provisioning flow.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecentDevice {
    /// Its MAC.
    pub mac: String,
    /// When (milliseconds since the Unix epoch).
    pub at_ms: u64,
    /// The final step (`eUE-25`, `CM5-CM10 config file`).
    pub step: String,
}

/// One minute of the dashboard's activity chart.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MinuteView {
    /// The minute's start (milliseconds since the Unix epoch).
    pub start_ms: u64,
    /// Devices that got their first binding.
    pub bound: u64,
    /// Devices that finished their provisioning flow.
    pub provisioned: u64,
    /// Steps that failed.
    pub failed: u64,
}

/// Provisioning activity of the last [`RECENT_MINUTES`] minutes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecentActivity {
    /// Minute by minute, oldest first; quiet minutes are listed with zeros.
    pub minutes: Vec<MinuteView>,
    /// Failed steps over the window, by step name (`eUE-19`, `CM4`, …).
    pub failures_by_step: std::collections::BTreeMap<String, u64>,
    /// The newest devices that finished their flow, newest first.
    pub provisioned: Vec<RecentDevice>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline::new(DEFAULT_MAX_DEVICES)
    }
}

impl fmt::Debug for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeline").finish_non_exhaustive()
    }
}

/// The canonical spelling of a MAC key: lower-case hex with colons
/// (borrowed when it already is, as the packet path's MACs are).
fn key(mac: &str) -> Cow<'_, str> {
    if mac.bytes().any(|b| b.is_ascii_uppercase() || b == b'-') {
        Cow::Owned(mac.to_ascii_lowercase().replace('-', ":"))
    } else {
        Cow::Borrowed(mac)
    }
}

impl Timeline {
    /// A timeline keeping at most `max_devices` devices in memory.
    pub fn new(max_devices: usize) -> Timeline {
        Timeline {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            max_per_shard: (max_devices / SHARDS).max(1),
            pending_per_shard: (MAX_PENDING.min(max_devices) / SHARDS).max(1),
            mode: AtomicU8::new(TimelineMode::Stored as u8),
            bus: Arc::default(),
            recent: Mutex::default(),
        }
    }

    /// The provisioning activity of the last [`RECENT_MINUTES`] minutes up
    /// to `now_ms`, for the dashboard.
    pub fn recent(&self, now_ms: u64) -> RecentActivity {
        let r = self.recent.lock();
        let now_min = now_ms / 60_000;
        let first = now_min.saturating_sub(RECENT_MINUTES as u64 - 1);
        let mut failures_by_step = std::collections::BTreeMap::new();
        let minutes = (first..=now_min)
            .map(|at_min| {
                let m = r.minutes.iter().find(|m| m.at_min == at_min);
                let mut failed = 0;
                for (step, n) in m.iter().flat_map(|m| m.failed.iter()) {
                    *failures_by_step.entry(step.clone()).or_insert(0) += n;
                    failed += n;
                }
                MinuteView {
                    start_ms: at_min * 60_000,
                    bound: m.map_or(0, |m| m.bound),
                    provisioned: m.map_or(0, |m| m.provisioned),
                    failed,
                }
            })
            .collect();
        RecentActivity {
            minutes,
            failures_by_step,
            provisioned: r.devices.iter().rev().cloned().collect(),
        }
    }

    /// Counts a step in the activity ring when it is one the dashboard shows.
    fn count_recent(&self, at_ms: u64, mac: &str, step: Step, outcome: Outcome) {
        let finished = outcome == Outcome::Ok && matches!(step, Step::Eue(25) | Step::CmConfigFile);
        if outcome != Outcome::Failed && !finished {
            return;
        }
        let mut r = self.recent.lock();
        let m = r.minute(at_ms);
        if finished {
            m.provisioned += 1;
            if r.devices.len() == RECENT_DEVICES {
                r.devices.pop_front();
            }
            r.devices.push_back(RecentDevice {
                mac: key(mac).into_owned(),
                at_ms,
                step: step.to_string(),
            });
        } else {
            *m.failed.entry(step.to_string()).or_insert(0) += 1;
        }
    }

    /// This timeline publishing its steps, and the servers their lease
    /// events, on `bus`.
    pub fn with_bus(mut self, bus: Arc<crate::bus::Bus>) -> Timeline {
        self.bus = bus;
        self
    }

    /// The event bus steps and lease events are published on.
    pub fn bus(&self) -> &Arc<crate::bus::Bus> {
        &self.bus
    }

    /// Follows `[server] timeline` (at start and on every reload): `off`
    /// records nothing from now on, `memory` never writes to the store.
    pub fn set_mode(&self, mode: TimelineMode) {
        self.mode.store(mode as u8, Ordering::Relaxed);
    }

    fn mode(&self) -> TimelineMode {
        match self.mode.load(Ordering::Relaxed) {
            m if m == TimelineMode::Off as u8 => TimelineMode::Off,
            m if m == TimelineMode::Memory as u8 => TimelineMode::Memory,
            _ => TimelineMode::Stored,
        }
    }

    fn shard(&self, mac: &str) -> &Mutex<Shard> {
        // FNV-1a: cheap, and MACs differ in their last octets.
        let h = mac.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        &self.shards[(h as usize) % SHARDS]
    }

    /// Records one step of device `mac` (`aa:bb:cc:dd:ee:ff`).
    pub fn record(&self, mac: &str, step: Step, outcome: Outcome, detail: impl Into<Detail>) {
        self.record_at(now_ms(), mac, step, outcome, detail);
    }

    /// [`Timeline::record`] at a given time (tests, replays).
    pub fn record_at(
        &self,
        at_ms: u64,
        mac: &str,
        step: Step,
        outcome: Outcome,
        detail: impl Into<Detail>,
    ) {
        self.count_recent(at_ms, mac, step, outcome);
        let bus_wanted = self.bus.wanted();
        if self.mode() == TimelineMode::Off && !bus_wanted {
            return;
        }
        let mac = key(mac);
        let ev = Event {
            at_ms,
            step,
            outcome,
            detail: detail.into(),
        };
        if bus_wanted {
            let stored = ev.stored();
            self.bus.publish(
                "provisioning.step",
                Some(&mac),
                serde_json::json!({
                    "step": stored.step,
                    "outcome": stored.outcome,
                    "detail": stored.detail,
                }),
            );
            if self.mode() == TimelineMode::Off {
                return;
            }
        }
        let mut guard = self.shard(&mac).lock();
        let s = &mut *guard;
        s.next_seq += 1;
        let seq = s.next_seq;
        // Look up before inserting: a known device costs no allocation.
        let dev = match s.devices.get_mut(&*mac) {
            Some(d) => d,
            None => {
                let k: Arc<str> = Arc::from(&*mac);
                s.pending.push_back((k.clone(), seq));
                s.pending_count += 1;
                s.devices.entry(k.clone()).or_insert(Dev {
                    mac: k,
                    events: VecDeque::new(),
                    seq,
                    dirty: false,
                    established: false,
                    born: seq,
                })
            }
        };
        if dev.events.len() == PER_DEVICE {
            dev.events.pop_front();
        }
        dev.events.push_back(ev);
        dev.seq = seq;
        s.order.push_back((dev.mac.clone(), seq));
        // A pending device is written once established, not before.
        if !dev.dirty && dev.established {
            dev.dirty = true;
            s.dirty.push(dev.mac.clone());
        }
        s.evict_pending(self.pending_per_shard);
        s.evict(self.max_per_shard);
    }

    /// Marks `mac` as holding a binding: its timeline, the steps so far
    /// included, is written to the store from now on.
    pub fn establish(&self, mac: &str) {
        let mac = key(mac);
        let mut guard = self.shard(&mac).lock();
        let s = &mut *guard;
        let Some(dev) = s.devices.get_mut(&*mac) else {
            return;
        };
        if dev.established {
            return;
        }
        dev.established = true;
        s.pending_count -= 1;
        self.recent.lock().minute(now_ms()).bound += 1;
        if !dev.dirty {
            dev.dirty = true;
            s.dirty.push(dev.mac.clone());
        }
    }

    /// Devices in memory without a binding yet.
    pub fn pending(&self) -> usize {
        self.shards.iter().map(|s| s.lock().pending_count).sum()
    }

    /// Devices in memory.
    pub fn devices(&self) -> usize {
        self.shards.iter().map(|s| s.lock().devices.len()).sum()
    }

    /// Links an eCM and the eUE behind it (each is listed with the other).
    pub fn link(&self, ecm_mac: &str, eue_mac: &str) {
        let (ecm, eue) = (key(ecm_mac), key(eue_mac));
        if ecm == eue || self.mode() == TimelineMode::Off {
            return;
        }
        for (a, b) in [(&ecm, &eue), (&eue, &ecm)] {
            let mut guard = self.shard(a).lock();
            let s = &mut *guard;
            // Every REPLY of an eUE links again: a known pair (or a full
            // list) costs a lookup, no allocation and no write.
            match s.linked.get_mut(a.as_ref()) {
                Some(l) if l.len() >= MAX_LINKS || l.iter().any(|x| x == b.as_ref()) => continue,
                Some(l) => l.push(b.to_string()),
                None => {
                    s.linked.insert(a.to_string(), vec![b.to_string()]);
                }
            }
            s.dirty_links.push(a.to_string());
        }
    }

    /// The in-memory timeline of `mac`, if it recorded anything since it
    /// was last evicted.
    pub fn get(&self, mac: &str) -> Option<DeviceTimeline> {
        let mac = key(mac);
        self.shard(&mac).lock().timeline(&mac)
    }

    /// The timeline of `mac` from memory, else from `store`.
    pub fn show(&self, store: &dyn Store, mac: &str) -> Result<Option<DeviceTimeline>, StoreError> {
        match self.get(mac) {
            Some(t) => Ok(Some(t)),
            None => store.timeline(&key(mac)),
        }
    }

    /// Takes every timeline changed since the last call, as store mutations.
    pub fn take_dirty(&self) -> Vec<Mutation> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let mut guard = shard.lock();
            let s = &mut *guard;
            out.extend(s.evicted.drain(..).map(Mutation::PutTimeline));
            let mut seen = std::collections::HashSet::new();
            let dirty = std::mem::take(&mut s.dirty);
            let links = std::mem::take(&mut s.dirty_links);
            let macs = dirty.iter().map(|m| &**m).chain(links.iter().map(|m| &**m));
            for mac in macs {
                if !seen.insert(mac) {
                    continue;
                }
                if let Some(d) = s.devices.get_mut(mac) {
                    if !d.established {
                        continue; // written with its first binding
                    }
                    d.dirty = false;
                }
                if let Some(t) = s.timeline(mac) {
                    out.push(Mutation::PutTimeline(t));
                } else if let Some(l) = s.linked.get(mac) {
                    // Linked before any step was recorded.
                    out.push(Mutation::PutTimeline(DeviceTimeline {
                        device: mac.to_string(),
                        linked: l.clone(),
                        events: Vec::new(),
                    }));
                }
            }
        }
        out
    }

    /// Writes every changed timeline to `store`, in batches of
    /// [`FLUSH_BATCH`] (not synced: the next lease commit's sync, or sled's
    /// own, makes them durable). In a boot storm a second's worth is
    /// thousands of devices; one batch would hold the store's write lock for
    /// tens of milliseconds while every lease commit — and so every REPLY and
    /// ACK — waited behind it.
    pub fn flush(&self, store: &dyn Store) -> Result<usize, StoreError> {
        let batch = self.take_dirty();
        if self.mode() != TimelineMode::Stored {
            return Ok(0); // kept in memory only
        }
        for chunk in batch.chunks(FLUSH_BATCH) {
            store.apply(chunk)?;
        }
        Ok(batch.len())
    }
}

/// Shared handle.
pub type TimelineRef = Arc<Timeline>;

/// `n s ago` / `n min ago` for an operator.
fn ago(now_ms: u64, at_ms: u64) -> String {
    let s = now_ms.saturating_sub(at_ms) / 1000;
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}

/// Seconds-resolution UTC time of day of `ms`, `HH:MM:SS.mmm`.
fn clock_of(ms: u64) -> String {
    let day_ms = ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000
    )
}

/// The step a provisioning flow ends with: an eUE's status INFORM, an
/// eCM's config file (ToD may come before or after it).
fn is_final(step: &str) -> bool {
    step == "eUE-25" || step == "CM5-CM10 config file"
}

/// Where the device stands: "provisioned …", or the step it is stuck at.
pub fn status(t: &DeviceTimeline, now_ms: u64) -> String {
    let Some(last) = t.events.last() else {
        return "no steps recorded".to_string();
    };
    if let Some(failed) = t.events.iter().rev().find(|e| e.outcome != "ok") {
        // A failure or a pending step is where it is stuck unless a later
        // step of the same name succeeded.
        let resolved = t
            .events
            .iter()
            .rev()
            .take_while(|e| !std::ptr::eq(*e, failed))
            .any(|e| e.step == failed.step && e.outcome == "ok");
        if !resolved {
            return format!(
                "stuck at {}: {} ({})",
                failed.step,
                if failed.detail.is_empty() {
                    failed.outcome.as_str()
                } else {
                    failed.detail.as_str()
                },
                ago(now_ms, failed.at_ms)
            );
        }
    }
    if is_final(&last.step) {
        format!(
            "provisioned: {} {} ({})",
            last.step,
            last.detail,
            ago(now_ms, last.at_ms)
        )
    } else {
        format!(
            "last step {} ({}); the flow has not finished",
            last.step,
            ago(now_ms, last.at_ms)
        )
    }
}

/// The operator's view of a device and the devices linked to it, one step
/// a line in time order, each named by its seed step.
pub fn render(t: &DeviceTimeline, linked: &[DeviceTimeline], now_ms: u64) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (role, tl) in std::iter::once(("device", t)).chain(linked.iter().map(|l| ("linked", l))) {
        let _ = writeln!(out, "{role} {}: {}", tl.device, status(tl, now_ms));
        for e in &tl.events {
            let _ = writeln!(
                out,
                "  {}  {:<22} {:<7} {}",
                clock_of(e.at_ms),
                e.step,
                e.outcome,
                e.detail
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn recent_activity_counts_bindings_finished_flows_and_failures_per_minute() {
        let t = Timeline::new(100);
        let t0 = 1_700_000_000_000 - 1_700_000_000_000 % 60_000;
        t.record_at(t0, "AA-00-00-00-00-01", Step::Cm4, Outcome::Ok, "ack");
        t.record_at(
            t0 + 1,
            "aa:00:00:00:00:01",
            Step::CmConfigFile,
            Outcome::Ok,
            "cm.cfg",
        );
        t.record_at(
            t0 + 2,
            "aa:00:00:00:00:02",
            Step::Eue(19),
            Outcome::Failed,
            "no answer",
        );
        t.record_at(
            t0 + 60_000,
            "aa:00:00:00:00:03",
            Step::Eue(25),
            Outcome::Ok,
            "done",
        );
        t.record_at(
            t0 + 60_001,
            "aa:00:00:00:00:04",
            Step::Eue(19),
            Outcome::Failed,
            "again",
        );
        t.record_at(
            t0 + 60_002,
            "aa:00:00:00:00:05",
            Step::Eue(25),
            Outcome::Failed,
            "bad",
        );
        let r = t.recent(t0 + 90_000);
        assert_eq!(r.minutes.len(), RECENT_MINUTES);
        let last = &r.minutes[RECENT_MINUTES - 1];
        let before = &r.minutes[RECENT_MINUTES - 2];
        assert_eq!(
            (before.start_ms, before.provisioned, before.failed),
            (t0, 1, 1)
        );
        assert_eq!(
            (last.start_ms, last.provisioned, last.failed),
            (t0 + 60_000, 1, 2)
        );
        assert_eq!(r.failures_by_step.get("eUE-19"), Some(&2));
        assert_eq!(r.failures_by_step.get("eUE-25"), Some(&1));
        let macs: Vec<&str> = r.provisioned.iter().map(|d| d.mac.as_str()).collect();
        assert_eq!(
            macs,
            ["aa:00:00:00:00:03", "aa:00:00:00:00:01"],
            "newest first, canonical MACs"
        );
        // An hour later the window has moved past all of it.
        let r = t.recent(t0 + 2 * 3_600_000);
        assert!(r
            .minutes
            .iter()
            .all(|m| m.provisioned == 0 && m.failed == 0));
        assert!(r.failures_by_step.is_empty());
        // The ring stays bounded.
        for i in 0..(RECENT_DEVICES as u64 + 10) {
            t.record_at(
                t0 + i * 60_000,
                "aa:00:00:00:00:09",
                Step::CmConfigFile,
                Outcome::Ok,
                "",
            );
        }
        assert_eq!(t.recent(t0).provisioned.len(), RECENT_DEVICES);
        assert!(t.recent.lock().minutes.len() <= RECENT_MINUTES);
    }

    use super::*;
    use headend_store::MemoryStore;

    #[test]
    fn steps_are_named_as_the_seed_names_them() {
        assert_eq!(Step::Cm1.to_string(), "CM1");
        assert_eq!(Step::Cm4v6.to_string(), "CM4v6");
        assert_eq!(Step::Eue(19).to_string(), "eUE-19");
        assert_eq!(Step::CmTod.to_string(), "CM5-CM10 ToD");
    }

    #[test]
    fn records_are_bounded_per_device_and_in_order() {
        let t = Timeline::new(1000);
        for i in 0..(PER_DEVICE as u64 + 10) {
            t.record_at(
                i,
                "00:10:95:AA:00:01",
                Step::Eue(1),
                Outcome::Ok,
                format!("{i}"),
            );
        }
        let tl = t.get("00:10:95:aa:00:01").unwrap();
        assert_eq!(tl.events.len(), PER_DEVICE);
        assert_eq!(tl.events[0].detail, "10");
        assert_eq!(
            tl.events.last().unwrap().detail,
            format!("{}", PER_DEVICE + 9)
        );
    }

    #[test]
    fn devices_are_bounded_and_evicted_ones_still_reach_the_store() {
        let store = MemoryStore::new();
        let t = Timeline::new(SHARDS); // one device per shard
        for i in 0..200u32 {
            let mac = format!("00:10:95:00:{:02x}:{:02x}", i >> 8, i & 0xff);
            t.record(&mac, Step::Cm1, Outcome::Ok, "");
            t.establish(&mac);
        }
        let in_memory: usize = t.shards.iter().map(|s| s.lock().devices.len()).sum();
        assert!(in_memory <= SHARDS, "{in_memory} devices in memory");
        assert_eq!(t.flush(&store).unwrap(), 200);
        // Every device is in the store, evicted or not.
        for i in 0..200u32 {
            let mac = format!("00:10:95:00:{:02x}:{:02x}", i >> 8, i & 0xff);
            let tl = t.show(&store, &mac).unwrap().unwrap();
            assert_eq!(tl.events[0].step, "CM1");
        }
        assert_eq!(
            t.flush(&store).unwrap(),
            0,
            "nothing is dirty after a flush"
        );
    }

    #[test]
    fn timeline_mode_memory_never_writes_and_off_records_nothing() {
        let store = MemoryStore::new();
        let t = Timeline::default();
        t.set_mode(TimelineMode::Memory);
        t.record("00:10:95:00:00:01", Step::Cm4, Outcome::Ok, "ACK");
        t.establish("00:10:95:00:00:01");
        t.link("00:10:95:00:00:02", "00:10:95:00:00:01");
        assert_eq!(t.flush(&store).unwrap(), 0, "memory: nothing written");
        assert!(store.timeline("00:10:95:00:00:01").unwrap().is_none());
        let shown = t.show(&store, "00:10:95:00:00:01").unwrap().unwrap();
        assert_eq!(shown.events[0].step, "CM4", "memory: still shown");
        assert_eq!(shown.linked, vec!["00:10:95:00:00:02".to_string()]);

        t.set_mode(TimelineMode::Off);
        t.record("00:10:95:00:00:03", Step::Cm1, Outcome::Ok, "");
        t.link("00:10:95:00:00:04", "00:10:95:00:00:03");
        assert!(
            t.get("00:10:95:00:00:03").is_none(),
            "off: nothing recorded"
        );
        assert!(t.get("00:10:95:00:00:04").is_none());

        // Back to stored (a reload): the next change is written.
        t.set_mode(TimelineMode::Stored);
        t.record("00:10:95:00:00:01", Step::Eue(1), Outcome::Ok, "SOLICIT");
        assert_eq!(t.flush(&store).unwrap(), 1);
        let stored = store.timeline("00:10:95:00:00:01").unwrap().unwrap();
        assert_eq!(stored.events.len(), 2);
    }

    #[test]
    fn devices_without_a_binding_are_bounded_and_never_written() {
        // Before: every random MAC of a DISCOVER flood kept a timeline in
        // memory (100,000 devices) and wrote one to the store, for good.
        let store = MemoryStore::new();
        let t = Timeline::default();
        let mac = |i: u32| {
            format!(
                "02:00:{:02x}:{:02x}:{:02x}:{:02x}",
                i >> 24,
                (i >> 16) & 0xff,
                (i >> 8) & 0xff,
                i & 0xff
            )
        };
        for i in 0..50_000u32 {
            t.record(&mac(i), Step::Cm1, Outcome::Ok, "via relay");
            t.record(&mac(i), Step::Cm2, Outcome::Ok, "OFFER");
        }
        assert!(t.pending() <= MAX_PENDING, "{} pending", t.pending());
        assert!(t.devices() <= MAX_PENDING);
        assert_eq!(t.flush(&store).unwrap(), 0, "nothing written");
        // The newest are still shown (where a device is stuck).
        assert_eq!(t.get(&mac(49_999)).unwrap().events.len(), 2);
        assert!(t.get(&mac(0)).is_none());
        // A binding writes the device, its earlier steps included.
        t.record(&mac(49_999), Step::Cm4, Outcome::Ok, "ACK");
        t.establish(&mac(49_999));
        assert_eq!(t.pending(), MAX_PENDING - 1);
        assert_eq!(t.flush(&store).unwrap(), 1);
        let stored = store.timeline(&mac(49_999)).unwrap().unwrap();
        assert_eq!(stored.events.len(), 3);
        // Established devices are not evicted by a pending flood.
        for i in 100_000..120_000u32 {
            t.record(&mac(i), Step::Cm1, Outcome::Ok, "");
        }
        assert!(t.get(&mac(49_999)).is_some());
        t.record(&mac(49_999), Step::CmConfigFile, Outcome::Ok, "");
        assert_eq!(
            t.flush(&store).unwrap(),
            1,
            "an established device stays written"
        );
    }

    #[test]
    fn order_list_stays_bounded_when_devices_alternate() {
        let t = Timeline::new(SHARDS * 4);
        for i in 0..10_000u32 {
            let mac = format!("00:10:95:00:00:{:02x}", i % 3);
            t.record(&mac, Step::Cm1, Outcome::Ok, "");
        }
        let longest = t.shards.iter().map(|s| s.lock().order.len()).max().unwrap();
        assert!(longest <= 4 * 3 + 1024 + 1, "order grew to {longest}");
        assert_eq!(t.get("00:10:95:00:00:01").unwrap().events.len(), PER_DEVICE);
    }

    #[test]
    fn links_go_both_ways_and_are_stored() {
        let store = MemoryStore::new();
        let t = Timeline::default();
        t.record("00:10:95:00:00:01", Step::Cm4, Outcome::Ok, "10.0.0.5");
        t.establish("00:10:95:00:00:01");
        t.link("00:10:95:00:00:01", "00:10:95:00:00:02");
        t.link("00:10:95:00:00:01", "00:10:95:00:00:02");
        assert_eq!(
            t.get("00:10:95:00:00:01").unwrap().linked,
            ["00:10:95:00:00:02"]
        );
        t.flush(&store).unwrap();
        let eue = store.timeline("00:10:95:00:00:02").unwrap().unwrap();
        assert_eq!(eue.linked, ["00:10:95:00:00:01"]);
        assert!(eue.events.is_empty());
    }

    #[test]
    fn a_storm_of_timelines_is_written_whole_across_batches() {
        let t = Timeline::default();
        let store = MemoryStore::new();
        // More than three batches of FLUSH_BATCH, the last one partial.
        let n = 3 * FLUSH_BATCH + 7;
        for i in 0..n {
            let mac = format!("00:10:95:02:{:02x}:{:02x}", i >> 8, i & 0xff);
            t.record(&mac, Step::Cm4, Outcome::Ok, "");
            t.establish(&mac);
        }
        assert_eq!(t.flush(&store).unwrap(), n);
        for i in [0, FLUSH_BATCH - 1, FLUSH_BATCH, n - 1] {
            let mac = format!("00:10:95:02:{:02x}:{:02x}", i >> 8, i & 0xff);
            assert!(store.timeline(&mac).unwrap().is_some(), "{mac} not written");
        }
        assert_eq!(t.flush(&store).unwrap(), 0);
    }

    #[test]
    fn linking_again_writes_nothing_and_a_full_list_keeps_the_first() {
        let t = Timeline::default();
        let cm = "00:10:95:00:00:01";
        for _ in 0..3 {
            t.link(cm, "00:10:95:00:01:00");
        }
        let dirty =
            |t: &Timeline| -> usize { t.shards.iter().map(|s| s.lock().dirty_links.len()).sum() };
        assert_eq!(dirty(&t), 2, "one write per side, not one per REPLY");
        for i in 1..20u8 {
            t.link(cm, &format!("00:10:95:00:01:{i:02x}"));
        }
        let linked = t.get(cm).map(|d| d.linked).unwrap_or_else(|| {
            t.shard(cm)
                .lock()
                .linked
                .get(cm)
                .cloned()
                .unwrap_or_default()
        });
        assert_eq!(linked.len(), MAX_LINKS);
        assert_eq!(linked[0], "00:10:95:00:01:00");
        // The cm side is written for its first MAX_LINKS eUEs only; each eUE once.
        assert_eq!(dirty(&t), MAX_LINKS + 20);
    }

    #[test]
    fn status_names_where_a_device_is_stuck() {
        let t = Timeline::default();
        let mac = "00:10:95:00:00:03";
        t.record_at(1_000, mac, Step::Eue(15), Outcome::Ok, "enrollment INFORM");
        t.record_at(
            2_000,
            mac,
            Step::Eue(19),
            Outcome::Failed,
            "no SET response after 3 tries",
        );
        let tl = t.get(mac).unwrap();
        assert_eq!(
            status(&tl, 14_000),
            "stuck at eUE-19: no SET response after 3 tries (12 s ago)"
        );
        // A later successful SET clears it; the flow is not finished yet.
        t.record_at(20_000, mac, Step::Eue(19), Outcome::Ok, "SET answered");
        let tl = t.get(mac).unwrap();
        assert_eq!(
            status(&tl, 21_000),
            "last step eUE-19 (1 s ago); the flow has not finished"
        );
        t.record_at(30_000, mac, Step::Eue(25), Outcome::Ok, "pass");
        let tl = t.get(mac).unwrap();
        assert!(status(&tl, 31_000).starts_with("provisioned: eUE-25 pass"));
        let text = render(&tl, &[], 31_000);
        let steps: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().nth(1).unwrap())
            .collect();
        assert_eq!(steps, ["eUE-15", "eUE-19", "eUE-19", "eUE-25"]);
    }
}
