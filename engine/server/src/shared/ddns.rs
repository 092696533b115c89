//! The hand-off between the DHCP servers and the dynamic DNS updater
//! (issue 17; RFC 4703 section 5: the DHCP server adds the A/AAAA, DHCID
//! and PTR records of a lease it grants and removes them when the lease
//! ends). Below both sides: the DHCP servers build jobs ([`job`],
//! [`v4_removal`], [`v6_jobs`]) and put them into their commit batch as
//! `RecordTable::DdnsQueue` records; once the batch is durable,
//! [`DdnsLink::committed`] hands them to the updater component over a
//! bounded channel. A full channel never blocks a DHCP reply: the job is
//! counted as dropped and its record deleted. The updater deletes a job's
//! record when the job is done or given up; records left at a stop are
//! queued again at the next start.
//!
//! Beside the queue, the same table keeps the last add of each address
//! under [`PUBLISHED_PREFIX`] (RFC 4703 section 5.5: a server removes the
//! records *it* added): what was decided then (forward or PTR only, per
//! the RFC 4702 / 4704 flags), the DHCID and the DNS server (the device's
//! `server.ddns-server`) are what the removal uses, whatever the
//! configuration or the client has become since. The lease records
//! cannot keep these (their layout is the store's).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use headend_ddns::{Action, Dhcid, Job};
use headend_model::ddns::{DdnsSettings, Plan};
use headend_store::{ClientKey, GroupCommitter, Lease4, Lease6, Lease6Kind, Mutation, RecordTable};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Fingerprints remembered for "nothing changed" (beyond, forgotten: a
/// renewal then re-sends, which the RFC 4703 steps make harmless).
const MAX_PUBLISHED: usize = 1 << 20;

/// The key prefix of the published-add records (not queue entries: the
/// updater never loads them as jobs).
pub const PUBLISHED_PREFIX: &str = "published/";

/// The key of `address`'s published-add record.
pub fn published_key(address: IpAddr) -> String {
    format!("{PUBLISHED_PREFIX}{address}")
}

/// A persisted job on its way to the updater.
#[derive(Debug, Clone)]
pub struct Handoff {
    /// Its `DdnsQueue` record key (zero-padded id: store order = queue order).
    pub key: String,
    /// The job and its device.
    pub rec: JobRecord,
}

/// The value of a `DdnsQueue` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The device's MAC (or client key) for logs.
    pub mac: String,
    /// The job.
    pub job: Job,
}

/// The first byte of a [`JobRecord`] in postcard (records written before
/// it are JSON and start with `{`, which is still read).
const RECORD_POSTCARD: u8 = 1;

impl JobRecord {
    /// The record's stored bytes: a version byte and postcard (JSON cost
    /// about as much as the rest of a job's hand-off; every DORA with
    /// dynamic DNS writes one and reads it back).
    pub fn encode(&self) -> Option<Vec<u8>> {
        let mut out = vec![RECORD_POSTCARD];
        postcard::to_io(self, &mut out).ok()?;
        Some(out)
    }

    /// Reads [`JobRecord::encode`]'s bytes, or the JSON of earlier versions.
    pub fn decode(bytes: &[u8]) -> Option<JobRecord> {
        match bytes.split_first()? {
            (&RECORD_POSTCARD, rest) => postcard::from_bytes(rest).ok(),
            (b'{', _) => serde_json::from_slice(bytes).ok(),
            _ => None,
        }
    }
}

/// Counters of the hand-off (the updater's own are the component's).
#[derive(Debug, Default)]
pub struct LinkCounters {
    /// Jobs handed to the updater.
    pub queued: AtomicU64,
    /// Jobs dropped because the channel was full.
    pub dropped_channel_full: AtomicU64,
    /// Renewals not sent again (nothing changed).
    pub unchanged: AtomicU64,
    /// Jobs that could not be made (no DHCID, no record).
    pub invalid: AtomicU64,
}

/// The DHCP servers' side of dynamic DNS.
pub struct DdnsLink {
    tx: OnceLock<mpsc::Sender<Handoff>>,
    committer: OnceLock<Arc<GroupCommitter>>,
    store: OnceLock<Arc<dyn headend_store::Store>>,
    next_id: AtomicU64,
    published: Mutex<HashMap<IpAddr, u64>>,
    /// The hand-off counters.
    pub counters: LinkCounters,
}

impl Default for DdnsLink {
    fn default() -> Self {
        // Ids start at the clock in microseconds: above every id a previous
        // run persisted, without reading the store first.
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(1);
        Self {
            tx: OnceLock::new(),
            committer: OnceLock::new(),
            store: OnceLock::new(),
            next_id: AtomicU64::new(start),
            published: Mutex::new(HashMap::new()),
            counters: LinkCounters::default(),
        }
    }
}

impl DdnsLink {
    /// Connects the updater (at its start): jobs committed from now on go
    /// to `tx`; `committer` persists and deletes job records.
    pub fn attach(
        &self,
        tx: mpsc::Sender<Handoff>,
        committer: Arc<GroupCommitter>,
        store: Arc<dyn headend_store::Store>,
    ) {
        let _ = self.tx.set(tx);
        let _ = self.committer.set(committer);
        let _ = self.store.set(store);
    }

    /// The FQDN the store keeps with a DHCPv6 binding (the in-memory
    /// table does not keep names): what a release or expiry removes.
    pub fn stored_fqdn6(&self, key: headend_store::Lease6Key) -> Option<String> {
        self.store.get()?.lease6(key).ok()??.fqdn
    }

    /// Whether an updater takes jobs.
    pub fn attached(&self) -> bool {
        self.tx.get().is_some()
    }

    /// The store records of `job`, to commit with its lease: the queue
    /// entry (a new id) and, for an add, the address's published-add
    /// record (a removal deletes it). Empty when `job` cannot be encoded.
    pub fn record(&self, mac: &str, job: &Job) -> Vec<Mutation> {
        let Some(value) = (JobRecord {
            mac: mac.to_string(),
            job: job.clone(),
        })
        .encode() else {
            self.counters.invalid.fetch_add(1, Ordering::Relaxed);
            return Vec::new();
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let published = match job.action {
            Action::Add => Mutation::PutRecord {
                table: RecordTable::DdnsQueue,
                key: published_key(job.address),
                value: value.clone(),
            },
            Action::Remove => Mutation::DeleteRecord {
                table: RecordTable::DdnsQueue,
                key: published_key(job.address),
            },
        };
        vec![
            Mutation::PutRecord {
                table: RecordTable::DdnsQueue,
                key: format!("{id:020}"),
                value,
            },
            published,
        ]
    }

    /// The removal of what the last add of `address` put into DNS (its
    /// name, DHCID, targets and servers), from its published-add record;
    /// `None` when there is none (a lease from before these records, or
    /// no store attached).
    pub fn published_removal(&self, address: IpAddr) -> Option<Job> {
        let value = self
            .store
            .get()?
            .record(RecordTable::DdnsQueue, &published_key(address))
            .ok()??;
        let rec = JobRecord::decode(&value)?;
        (rec.job.action == Action::Add && rec.job.address == address).then_some(Job {
            action: Action::Remove,
            enqueued_unix: None,
            ..rec.job
        })
    }

    /// Whether an add for `job.address` with the same name, identity,
    /// targets and TTL was handed over already (a renewal changing nothing).
    pub fn unchanged(&self, job: &Job) -> bool {
        let same = self.published.lock().get(&job.address) == Some(&fingerprint(job));
        if same {
            self.counters.unchanged.fetch_add(1, Ordering::Relaxed);
        }
        same
    }

    /// A batch is durable: its job records go to the updater.
    pub fn committed(&self, batch: &[Mutation]) {
        for m in batch {
            let Mutation::PutRecord {
                table: RecordTable::DdnsQueue,
                key,
                value,
            } = m
            else {
                continue;
            };
            if key.starts_with(PUBLISHED_PREFIX) {
                continue;
            }
            match JobRecord::decode(value) {
                Some(rec) => self.hand_over(key.clone(), rec),
                None => {
                    self.counters.invalid.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Persists jobs that come with no lease commit (expiry, DHCPv6) and
    /// hands them over once durable.
    pub fn submit(self: &Arc<Self>, jobs: Vec<(String, Job)>) {
        let batch: Vec<Mutation> = jobs
            .iter()
            .flat_map(|(mac, j)| self.record(mac, j))
            .collect();
        if batch.is_empty() {
            return;
        }
        let Some(c) = self.committer.get() else {
            return;
        };
        let me = self.clone();
        c.submit(
            batch,
            Box::new(move |res, batch| {
                if res.is_ok() {
                    me.committed(batch);
                }
            }),
        );
    }

    /// Forgets that `address` was published, so that its next renewal is
    /// sent again (its add job was given up).
    pub fn unpublish(&self, address: IpAddr) {
        self.published.lock().remove(&address);
    }

    /// Deletes a job's record (done, given up or dropped).
    pub fn forget(&self, key: String) {
        self.forget_all(vec![key]);
    }

    /// Deletes job records in one batch (the updater gathers those of
    /// one wake-up: one commit instead of one per job).
    pub fn forget_all(&self, keys: Vec<String>) {
        if keys.is_empty() {
            return;
        }
        if let Some(c) = self.committer.get() {
            c.submit_nowait(
                keys.into_iter()
                    .map(|key| Mutation::DeleteRecord {
                        table: RecordTable::DdnsQueue,
                        key,
                    })
                    .collect(),
            );
        }
    }

    fn hand_over(&self, key: String, rec: JobRecord) {
        let job = &rec.job;
        let Some(tx) = self.tx.get() else {
            // No updater yet: the record stays and is loaded at its start.
            return;
        };
        {
            let mut p = self.published.lock();
            match job.action {
                Action::Add => {
                    if p.len() >= MAX_PUBLISHED {
                        p.clear();
                    }
                    p.insert(job.address, fingerprint(job));
                }
                Action::Remove => {
                    p.remove(&job.address);
                }
            }
        }
        match tx.try_send(Handoff { key, rec }) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters
                    .dropped_channel_full
                    .fetch_add(1, Ordering::Relaxed);
                let h = e.into_inner();
                self.published.lock().remove(&h.rec.job.address);
                self.forget(h.key);
            }
        }
    }
}

fn fingerprint(job: &Job) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        &job.fqdn,
        job.dhcid.rdata(),
        &job.forward,
        &job.reverse,
        job.ttl,
    )
        .hash(&mut h);
    h.finish()
}

/// The RFC 4701 section 3.3 identity of a DHCPv4 client: the data of its
/// option 61 when it sent one (type 0x0001, or 0x0002 for an RFC 4361
/// DUID), else htype and chaddr (type 0x0000) — even when option 61
/// happens to equal htype + chaddr. What the add used is persisted with
/// it ([`DdnsLink::published_removal`]), so the removal agrees.
pub fn dhcid_v4(client_id: Option<&[u8]>, htype: u8, chaddr: &[u8], fqdn: &str) -> Option<Dhcid> {
    let name = hickory_name(fqdn)?;
    match client_id {
        Some(id) => Dhcid::from_client_id(id, &name).ok(),
        None => Dhcid::from_hwaddr(htype, chaddr, &name).ok(),
    }
}

/// The identity guessed from the lease key alone (htype + chaddr shaped
/// keys taken as "no option 61"): only for removing a lease added before
/// published-add records existed.
fn dhcid_v4_of_key(client: &ClientKey, hwaddr: &[u8], fqdn: &str) -> Option<Dhcid> {
    let name = hickory_name(fqdn)?;
    match client.0.split_first() {
        Some((&htype, rest)) if rest == hwaddr && !hwaddr.is_empty() => {
            Dhcid::from_hwaddr(htype, hwaddr, &name).ok()
        }
        _ => Dhcid::from_client_id(&client.0, &name).ok(),
    }
}

fn hickory_name(fqdn: &str) -> Option<headend_ddns::Name> {
    headend_ddns::Name::from_ascii(fqdn).ok()
}

/// A job for people (`headend explain`, trace notes): the name, the
/// records and where each update goes.
pub fn describe(job: &Job) -> String {
    let rtype = if job.address.is_ipv4() { "A" } else { "AAAA" };
    let target = |t: &Option<headend_ddns::Target>| match t {
        Some(t) => format!(
            "zone {} at {} {}",
            t.zone,
            t.server,
            t.key
                .as_deref()
                .map_or_else(|| "unsigned".to_string(), |k| format!("TSIG key {k}"))
        ),
        None => "not updated by this server".into(),
    };
    format!(
        "dynamic DNS: {} {rtype} {} + DHCID {} ({}); PTR {} -> {} ({}); TTL {} s",
        job.fqdn,
        job.address,
        job.dhcid.to_base64(),
        target(&job.forward),
        headend_ddns::reverse_name(job.address),
        job.fqdn,
        target(&job.reverse),
        job.ttl
    )
}

/// A job from a plan.
pub fn job(action: Action, plan: &Plan, address: IpAddr, dhcid: Dhcid) -> Option<Job> {
    (plan.forward.is_some() || plan.reverse.is_some()).then(|| Job {
        action,
        fqdn: plan.fqdn.clone(),
        address,
        dhcid,
        ttl: plan.ttl,
        forward: plan.forward.clone(),
        reverse: plan.reverse.clone(),
        enqueued_unix: None,
    })
}

/// The removal of an ended DHCPv4 lease whose name was put into DNS (its
/// `hostname` is then the absolute FQDN): exactly what its add published
/// when `link` has the record, else (an add from before those records)
/// every record under the configuration's servers.
pub fn v4_removal(link: Option<&DdnsLink>, d: &DdnsSettings, lease: &Lease4) -> Option<Job> {
    let fqdn = lease.hostname.as_deref().filter(|h| h.ends_with('.'))?;
    if let Some(j) = link.and_then(|l| l.published_removal(IpAddr::V4(lease.ip))) {
        return Some(j);
    }
    let dhcid = dhcid_v4_of_key(&lease.client, &lease.hwaddr, fqdn)?;
    let all = headend_ddns::FqdnDecision {
        forward: true,
        reverse: true,
        reply: None,
    };
    let plan = d.plan(fqdn, IpAddr::V4(lease.ip), &all, lease.lifetime, None);
    job(Action::Remove, &plan, IpAddr::V4(lease.ip), dhcid)
}

/// The jobs of DHCPv6 address bindings with an FQDN (RFC 4704: the name
/// the server answered in option 39 is the one recorded with the
/// binding): adds for active ones, per `decision` (RFC 4704 section 5:
/// PTR only when the client updates the AAAA itself) towards
/// `device_server`, removals for released or ended ones. Prefixes have no
/// AAAA and are skipped.
pub fn v6_jobs(
    d: &DdnsSettings,
    leases: &[Lease6],
    ended: bool,
    decision: &headend_ddns::FqdnDecision,
    device_server: Option<IpAddr>,
) -> Vec<Job> {
    let mut out = Vec::new();
    if !d.enable {
        return out;
    }
    for l in leases {
        if l.kind != Lease6Kind::Na {
            continue;
        }
        let action = match (ended, l.state) {
            (true, _) | (false, headend_store::LeaseState::Released) => Action::Remove,
            (false, headend_store::LeaseState::Active) => Action::Add,
            _ => continue,
        };
        let Some(fqdn) = l.fqdn.as_deref().and_then(|f| d.qualify(f)) else {
            continue;
        };
        let Some(name) = hickory_name(&fqdn) else {
            continue;
        };
        let Ok(dhcid) = Dhcid::from_duid(&l.duid, &name) else {
            continue;
        };
        let plan = d.plan(
            &fqdn,
            IpAddr::V6(l.address),
            decision,
            l.valid,
            device_server,
        );
        out.extend(job(action, &plan, IpAddr::V6(l.address), dhcid));
    }
    out
}

/// What `headend explain` shows for a DHCPv6 binding: its add under the
/// policy alone (the client's option 39 flags are the REPLY's business).
pub fn v6_explained(d: &DdnsSettings, lease: &Lease6) -> Vec<Job> {
    let decision = headend_ddns::decide(None, &d.policy);
    v6_jobs(d, std::slice::from_ref(lease), false, &decision, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DdnsSettings {
        let text = "[server]\nstore = \"st\"\n[ddns]\nserver = \"127.0.0.1:53\"\nforward_zones = [\"example.test\"]\nreverse_zones = [\"2.0.192.in-addr.arpa\", \"8.b.d.0.1.0.0.2.ip6.arpa\"]\n";
        let src = headend_model::source::SourceFile::new("t.toml".into(), text.into());
        headend_model::snapshot::Snapshot::from_source(&src, 1)
            .unwrap()
            .ddns
            .unwrap()
    }

    fn lease4(hostname: Option<&str>) -> Lease4 {
        Lease4 {
            ip: "192.0.2.10".parse().unwrap(),
            client: ClientKey::from_hardware(1, &[0, 1, 2, 3, 4, 5]),
            hwaddr: vec![0, 1, 2, 3, 4, 5],
            state: headend_store::LeaseState::Released,
            commit_time: 0,
            lifetime: 3600,
            relay: std::net::Ipv4Addr::UNSPECIFIED,
            protocol: headend_store::LeaseProtocol::Dhcp,
            pool: "p".into(),
            trusted_id: None,
            trusted_id_type: None,
            hostname: hostname.map(str::to_string),
            relay_info: None,
        }
    }

    #[test]
    fn removals_only_for_names_we_put_in_dns() {
        let d = settings();
        assert!(v4_removal(None, &d, &lease4(Some("host1"))).is_none());
        assert!(v4_removal(None, &d, &lease4(None)).is_none());
        let j = v4_removal(None, &d, &lease4(Some("host1.example.test."))).unwrap();
        assert_eq!(j.action, Action::Remove);
        assert_eq!(j.ttl, 1200);
        assert_eq!(j.forward.unwrap().zone, "example.test");
        assert_eq!(j.reverse.unwrap().zone, "2.0.192.in-addr.arpa");
        assert_eq!(
            j.dhcid.identifier_type(),
            headend_ddns::IdentifierType::Chaddr
        );
        // A client id that is not htype + chaddr: type 0x0001.
        let mut l = lease4(Some("host1.example.test."));
        l.client = ClientKey(b"\x00custom".to_vec());
        let j = v4_removal(None, &d, &l).unwrap();
        assert_eq!(
            j.dhcid.identifier_type(),
            headend_ddns::IdentifierType::ClientId
        );
    }

    /// Records are postcard behind a version byte; the JSON records of
    /// earlier versions (a queue left by an upgrade) still read.
    #[test]
    fn job_records_round_trip_and_json_ones_still_read() {
        let d = settings();
        let job = v4_removal(None, &d, &lease4(Some("h.example.test."))).unwrap();
        let rec = JobRecord {
            mac: "00:01:02:03:04:05".into(),
            job,
        };
        let bytes = rec.encode().unwrap();
        assert_eq!(bytes[0], RECORD_POSTCARD);
        assert_eq!(JobRecord::decode(&bytes), Some(rec.clone()));
        let json = serde_json::to_vec(&rec).unwrap();
        assert!(json.len() > bytes.len());
        assert_eq!(JobRecord::decode(&json), Some(rec));
        for bad in [
            &b""[..],
            b"\x01",
            b"\x02abc",
            b"{not json",
            &bytes[..bytes.len() - 3],
        ] {
            assert_eq!(JobRecord::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn records_hand_over_once_and_renewals_are_not_resent() {
        let link = DdnsLink::default();
        let d = settings();
        let j = v4_removal(None, &d, &lease4(Some("h.example.test."))).unwrap();
        let add = Job {
            action: Action::Add,
            ..j.clone()
        };
        let rec = link.record("00:01:02:03:04:05", &add);
        // The queue entry and the published add (never handed over itself).
        assert_eq!(rec.len(), 2);
        // Not attached: nothing handed, nothing remembered.
        link.committed(&rec);
        assert!(!link.unchanged(&add));
        let (tx, mut rx) = mpsc::channel(1);
        let _ = link.tx.set(tx);
        link.committed(&rec);
        let h = rx.try_recv().unwrap();
        assert_eq!(h.rec.job, add);
        assert_eq!(h.rec.mac, "00:01:02:03:04:05");
        assert!(link.unchanged(&add));
        let other_ttl = Job {
            ttl: 5,
            ..add.clone()
        };
        assert!(!link.unchanged(&other_ttl));
        // Full channel: dropped and counted, not remembered.
        link.committed(&link.record("m", &other_ttl));
        link.committed(&link.record("m", &j));
        assert_eq!(
            link.counters.dropped_channel_full.load(Ordering::Relaxed),
            1
        );
        assert_eq!(link.counters.queued.load(Ordering::Relaxed), 2);
        // Garbage records are counted, never a panic.
        link.committed(&[Mutation::PutRecord {
            table: RecordTable::DdnsQueue,
            key: "x".into(),
            value: b"{not json".to_vec(),
        }]);
        assert_eq!(link.counters.invalid.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn v6_bindings_with_a_name() {
        let d = settings();
        let mut l = Lease6 {
            kind: Lease6Kind::Na,
            address: "2001:db8::5".parse().unwrap(),
            prefix_len: 128,
            duid: vec![0, 3, 0, 1, 0, 1, 2, 3, 4, 5],
            iaid: 1,
            state: headend_store::LeaseState::Active,
            commit_time: 0,
            preferred: 1800,
            valid: 3600,
            link: std::net::Ipv6Addr::UNSPECIFIED,
            pool: "p".into(),
            mac: None,
            modem_mac: None,
            fqdn: Some("eue-1.example.test".into()),
            relay: None,
        };
        let all = headend_ddns::decide(None, &d.policy);
        let j = v6_jobs(&d, std::slice::from_ref(&l), false, &all, None);
        assert_eq!(j.len(), 1);
        assert_eq!(j[0].action, Action::Add);
        assert_eq!(j[0].fqdn, "eue-1.example.test.");
        assert_eq!(
            j[0].reverse.as_ref().unwrap().zone,
            "8.b.d.0.1.0.0.2.ip6.arpa"
        );
        assert_eq!(
            v6_jobs(&d, std::slice::from_ref(&l), true, &all, None)[0].action,
            Action::Remove
        );
        // RFC 4704 section 5: a client that updates its AAAA itself (S=0)
        // gets the PTR only; `server.ddns-server` replaces the servers.
        let s0 = headend_ddns::decide(Some(headend_ddns::FqdnFlags::from_v6(0)), &d.policy);
        let dev: IpAddr = "10.0.0.53".parse().unwrap();
        let j = v6_jobs(&d, std::slice::from_ref(&l), false, &s0, Some(dev));
        assert!(j[0].forward.is_none());
        assert_eq!(
            j[0].reverse.as_ref().unwrap().server,
            "10.0.0.53:53".parse().unwrap()
        );
        l.fqdn = None;
        assert!(v6_jobs(&d, &[l], false, &all, None).is_empty());
    }

    /// RFC 4701 section 3.3: option 61 gives type 0x0001 even when it
    /// equals htype + chaddr; only a client without one gets 0x0000.
    #[test]
    fn dhcid_type_follows_option_61() {
        let mac = [0, 1, 2, 3, 4, 5];
        let same_as_hw = [1, 0, 1, 2, 3, 4, 5];
        let f = "h.example.test.";
        let t = |d: Option<Dhcid>| d.unwrap().identifier_type();
        use headend_ddns::IdentifierType as T;
        assert_eq!(t(dhcid_v4(Some(&same_as_hw), 1, &mac, f)), T::ClientId);
        assert_eq!(t(dhcid_v4(None, 1, &mac, f)), T::Chaddr);
        assert_eq!(t(dhcid_v4(Some(b"\x00custom"), 1, &mac, f)), T::ClientId);
        assert_ne!(
            dhcid_v4(Some(&same_as_hw), 1, &mac, f),
            dhcid_v4(None, 1, &mac, f)
        );
    }

    /// A removal undoes exactly the add the store recorded: its targets
    /// (the PTR only for an S=0 client), its server (the device's
    /// `server.ddns-server`) and its DHCID, whatever the lease key says.
    #[test]
    fn removal_is_the_published_add() {
        use headend_store::Store as _;
        let d = settings();
        let store = Arc::new(headend_store::MemoryStore::new());
        let link = DdnsLink::default();
        let _ = link
            .store
            .set(store.clone() as Arc<dyn headend_store::Store>);
        let lease = lease4(Some("h.example.test."));
        let fqdn = "h.example.test.";
        let s0 = headend_ddns::decide(Some(headend_ddns::FqdnFlags::from_v4(0)), &d.policy);
        let dev: IpAddr = "10.0.0.53".parse().unwrap();
        let plan = d.plan(fqdn, IpAddr::V4(lease.ip), &s0, 3600, Some(dev));
        let dhcid = dhcid_v4(Some(&[1, 0, 1, 2, 3, 4, 5]), 1, &lease.hwaddr, fqdn).unwrap();
        let add = job(Action::Add, &plan, IpAddr::V4(lease.ip), dhcid.clone()).unwrap();
        assert!(add.forward.is_none());
        // Without the record: everything, at the configured servers.
        let old = v4_removal(Some(&link), &d, &lease).unwrap();
        assert!(old.forward.is_some());
        store.apply(&link.record("m", &add)).unwrap();
        let r = v4_removal(Some(&link), &d, &lease).unwrap();
        assert_eq!(r.action, Action::Remove);
        assert!(r.forward.is_none());
        assert_eq!(
            r.reverse.as_ref().unwrap().server,
            "10.0.0.53:53".parse().unwrap()
        );
        assert_eq!(r.dhcid, dhcid);
        // The removal's records delete the published add.
        store.apply(&link.record("m", &r)).unwrap();
        assert!(link.published_removal(IpAddr::V4(lease.ip)).is_none());
    }
}
