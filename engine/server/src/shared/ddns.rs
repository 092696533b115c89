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

    /// The store record of `job` (a new id), to commit with its lease.
    pub fn record(&self, mac: &str, job: &Job) -> Option<Mutation> {
        let value = serde_json::to_vec(&JobRecord {
            mac: mac.to_string(),
            job: job.clone(),
        })
        .ok()?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        Some(Mutation::PutRecord {
            table: RecordTable::DdnsQueue,
            key: format!("{id:020}"),
            value,
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
            match serde_json::from_slice::<JobRecord>(value) {
                Ok(rec) => self.hand_over(key.clone(), rec),
                Err(_) => {
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
            .filter_map(|(mac, j)| self.record(mac, j))
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
        if let Some(c) = self.committer.get() {
            c.submit_nowait(vec![Mutation::DeleteRecord {
                table: RecordTable::DdnsQueue,
                key,
            }]);
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

/// The RFC 4701 identity of a DHCPv4 client: its option 61 when the lease
/// key is one (type 0x0001), else htype and chaddr (type 0x0000). The key
/// alone decides, so an add and a later removal agree.
pub fn dhcid_v4(client: &ClientKey, hwaddr: &[u8], fqdn: &str) -> Option<Dhcid> {
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
/// `hostname` is then the absolute FQDN).
pub fn v4_removal(d: &DdnsSettings, lease: &Lease4) -> Option<Job> {
    let fqdn = lease.hostname.as_deref().filter(|h| h.ends_with('.'))?;
    let dhcid = dhcid_v4(&lease.client, &lease.hwaddr, fqdn)?;
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
/// binding): adds for active ones, removals for released or ended ones.
/// Prefixes have no AAAA and are skipped.
pub fn v6_jobs(d: &DdnsSettings, leases: &[Lease6], ended: bool) -> Vec<Job> {
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
        let decision = headend_ddns::decide(None, &d.policy);
        let plan = d.plan(&fqdn, IpAddr::V6(l.address), &decision, l.valid, None);
        out.extend(job(action, &plan, IpAddr::V6(l.address), dhcid));
    }
    out
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
        assert!(v4_removal(&d, &lease4(Some("host1"))).is_none());
        assert!(v4_removal(&d, &lease4(None)).is_none());
        let j = v4_removal(&d, &lease4(Some("host1.example.test."))).unwrap();
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
        let j = v4_removal(&d, &l).unwrap();
        assert_eq!(
            j.dhcid.identifier_type(),
            headend_ddns::IdentifierType::ClientId
        );
    }

    #[test]
    fn records_hand_over_once_and_renewals_are_not_resent() {
        let link = DdnsLink::default();
        let d = settings();
        let j = v4_removal(&d, &lease4(Some("h.example.test."))).unwrap();
        let add = Job {
            action: Action::Add,
            ..j.clone()
        };
        let rec = link.record("00:01:02:03:04:05", &add).unwrap();
        // Not attached: nothing handed, nothing remembered.
        link.committed(std::slice::from_ref(&rec));
        assert!(!link.unchanged(&add));
        let (tx, mut rx) = mpsc::channel(1);
        let _ = link.tx.set(tx);
        link.committed(std::slice::from_ref(&rec));
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
        link.committed(std::slice::from_ref(&link.record("m", &other_ttl).unwrap()));
        link.committed(std::slice::from_ref(&link.record("m", &j).unwrap()));
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
        let j = v6_jobs(&d, std::slice::from_ref(&l), false);
        assert_eq!(j.len(), 1);
        assert_eq!(j[0].action, Action::Add);
        assert_eq!(j[0].fqdn, "eue-1.example.test.");
        assert_eq!(
            j[0].reverse.as_ref().unwrap().zone,
            "8.b.d.0.1.0.0.2.ip6.arpa"
        );
        assert_eq!(
            v6_jobs(&d, std::slice::from_ref(&l), true)[0].action,
            Action::Remove
        );
        l.fqdn = None;
        assert!(v6_jobs(&d, &[l], false).is_empty());
    }
}
