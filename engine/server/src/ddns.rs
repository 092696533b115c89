//! Dynamic DNS as a component of the server (issue 17): the thin tokio
//! shell around the sans-IO [`headend_ddns::Updater`] (RFC 2136 updates,
//! RFC 4703 steps, RFC 8945 TSIG). One UDP socket and one task: jobs come
//! from the DHCP servers through the bounded channel of
//! [`crate::shared::ddns::DdnsLink`] once their lease is durable; the task
//! sends what the updater transmits, feeds it the answers and its timers,
//! and turns its events into counters and log lines. Each job lives in the
//! store (`RecordTable::DdnsQueue`) until it is done or given up, so a
//! restart queues the unfinished ones again (their age kept).
//!
//! Answers are believed only as the updater decides (matching ID and
//! server, a verified TSIG): garbage from a DNS server is counted
//! (`ddns_ignored_total`) and nothing else happens; DHCP never waits here.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use headend_ddns::{GiveUpReason, JobId, Outcome, Updater, UpdaterConfig};
use headend_model::snapshot::Snapshot;
use headend_store::{RecordTable, Store};
use parking_lot::Mutex;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, info_span, warn};

use crate::component::{Component, ServerError, StartContext, Started};
use crate::shared::ddns::{DdnsLink, Handoff, JobRecord};
use crate::shared::Shared;

/// Answers (or jobs) taken per wake-up at most.
const MAX_DRAIN: usize = 64;

/// Stored jobs loaded at start, at most (the queue's own bound applies too).
const MAX_LOAD: usize = 1 << 22;

/// What the task counted, for [`Component::metrics`].
#[derive(Debug, Default, Clone)]
pub struct DdnsStats {
    /// Jobs whose every step succeeded.
    pub succeeded: u64,
    /// Jobs stopped because another client owns the name (RFC 4703 5.3.2).
    pub conflicts: u64,
    /// Failed attempts by reason (each is retried after a backoff).
    pub failed: BTreeMap<String, u64>,
    /// Jobs given up, by reason.
    pub given_up: BTreeMap<&'static str, u64>,
    /// Jobs the updater refused (bad name, zone or key).
    pub refused: u64,
    /// Jobs queued again from the store at start.
    pub reloaded: u64,
    /// The updater's counters (sent, retransmitted, ignored).
    pub engine: headend_ddns::Stats,
    /// Jobs queued now.
    pub queue: usize,
    /// Exchanges outstanding now.
    pub in_flight: usize,
    /// Datagrams that could not be sent.
    pub send_failed: u64,
}

/// A queued job's record key, device and address.
#[derive(Debug, Default, Clone)]
struct Slot {
    key: String,
    mac: String,
    address: Option<std::net::IpAddr>,
}

/// The dynamic DNS updater.
pub struct Ddns {
    link: Arc<DdnsLink>,
    store: Arc<dyn Store>,
    stats: Mutex<DdnsStats>,
}

impl Ddns {
    /// The updater over the shared state (started only with `[ddns]`).
    pub fn open(shared: &Shared) -> Arc<Ddns> {
        Arc::new(Ddns {
            link: shared.ddns.clone(),
            store: shared.store.clone(),
            stats: Mutex::default(),
        })
    }

    /// A copy of the counters.
    pub fn stats(&self) -> DdnsStats {
        self.stats.lock().clone()
    }

    /// Jobs persisted by a previous run, oldest first; undecodable records
    /// are deleted and counted.
    fn load(&self) -> Vec<Handoff> {
        // Queue keys are digits, below every published-add key.
        let before = Some(crate::shared::ddns::PUBLISHED_PREFIX);
        let rows = match self.store.records(RecordTable::DdnsQueue, before, MAX_LOAD) {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "ddns: stored jobs not readable; starting with an empty queue");
                return Vec::new();
            }
        };
        let mut out = Vec::with_capacity(rows.len());
        for (key, value) in rows.into_iter().rev() {
            // The published adds are what removals read, not jobs.
            if key.starts_with(crate::shared::ddns::PUBLISHED_PREFIX) {
                continue;
            }
            match JobRecord::decode(&value) {
                Some(rec) => out.push(Handoff { key, rec }),
                None => {
                    self.stats.lock().refused += 1;
                    self.link.forget(key);
                }
            }
        }
        out
    }

    /// Queues one job; `keys` maps the updater's ids to record keys.
    fn enqueue(&self, up: &mut Updater, keys: &mut HashMap<JobId, Slot>, h: Handoff) {
        let fqdn = h.rec.job.fqdn.clone();
        let address = h.rec.job.address;
        match up.enqueue(Instant::now(), h.rec.job) {
            Ok(id) => {
                debug!(mac = %h.rec.mac, %fqdn, "ddns: queued");
                keys.insert(
                    id,
                    Slot {
                        key: h.key,
                        mac: h.rec.mac,
                        address: Some(address),
                    },
                );
            }
            Err(e) => {
                warn!(mac = %h.rec.mac, %fqdn, error = %e, "ddns: job refused");
                self.stats.lock().refused += 1;
                self.link.forget(h.key);
            }
        }
    }

    /// Sends what is due and handles the events.
    async fn flush(&self, up: &mut Updater, sock: &UdpSocket, keys: &mut HashMap<JobId, Slot>) {
        while let Some((to, datagram)) = up.poll_transmit() {
            if let Err(e) = sock.send_to(&datagram, to).await {
                debug!(%to, error = %e, "ddns: send failed");
                self.stats.lock().send_failed += 1;
            }
        }
        let mut done_keys = Vec::new();
        while let Some(ev) = up.poll_event() {
            let finished = !matches!(ev.outcome, Outcome::Failed { .. });
            let slot = if finished {
                keys.remove(&ev.job).unwrap_or_default()
            } else {
                keys.get(&ev.job).cloned().unwrap_or_default()
            };
            let span = info_span!("ddns", mac = %slot.mac, fqdn = %ev.fqdn);
            let _g = span.enter();
            let mut st = self.stats.lock();
            match ev.outcome {
                Outcome::Done => {
                    st.succeeded += 1;
                    debug!("ddns: updated");
                }
                Outcome::Conflict => {
                    st.conflicts += 1;
                    warn!("ddns: the name belongs to another client (RFC 4703 DHCID mismatch); not updated");
                }
                Outcome::Failed { step, reason } => {
                    *st.failed
                        .entry(format!("{reason:?}").to_ascii_lowercase())
                        .or_default() += 1;
                    warn!(
                        ?step,
                        ?reason,
                        "ddns: update failed; retried after a backoff"
                    );
                }
                Outcome::GaveUp(reason) => {
                    let r = match reason {
                        GiveUpReason::Expired => "expired",
                        GiveUpReason::QueueFull => "queue_full",
                        GiveUpReason::Internal => "internal",
                    };
                    *st.given_up.entry(r).or_default() += 1;
                    warn!(reason = r, "ddns: job given up");
                    if let Some(a) = slot.address {
                        // Its next renewal is sent again.
                        self.link.unpublish(a);
                    }
                }
            }
            drop(st);
            if finished && !slot.key.is_empty() {
                done_keys.push(slot.key);
            }
        }
        self.link.forget_all(done_keys);
        let mut st = self.stats.lock();
        st.engine = up.stats();
        st.queue = up.queue_len();
        st.in_flight = up.in_flight();
    }

    async fn run(
        self: Arc<Self>,
        sock: UdpSocket,
        mut rx: mpsc::Receiver<Handoff>,
        config: UpdaterConfig,
        mut stop: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut up = Updater::new(config, Instant::now(), unix);
        let mut keys = HashMap::new();
        let stored = self.load();
        self.stats.lock().reloaded = stored.len() as u64;
        if !stored.is_empty() {
            info!(
                jobs = stored.len(),
                "ddns: queued again the jobs of the previous run"
            );
        }
        for h in stored {
            self.enqueue(&mut up, &mut keys, h);
        }
        let mut buf = vec![0u8; 65_536];
        loop {
            self.flush(&mut up, &sock, &mut keys).await;
            let wake = up
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                h = rx.recv() => match h {
                    Some(h) => {
                        self.enqueue(&mut up, &mut keys, h);
                        // A commit hands over its whole group at once.
                        for _ in 0..MAX_DRAIN {
                            let Ok(h) = rx.try_recv() else {
                                break;
                            };
                            self.enqueue(&mut up, &mut keys, h);
                        }
                    }
                    None => break,
                },
                r = sock.recv_from(&mut buf) => match r {
                    Ok((n, from)) => {
                        let now = Instant::now();
                        up.handle(now, from, buf.get(..n).unwrap_or(&[]));
                        // The answers already queued too, without a wake-up
                        // each (bounded: the channel and timers get their turn).
                        for _ in 0..MAX_DRAIN {
                            let Ok((n, from)) = sock.try_recv_from(&mut buf) else {
                                break;
                            };
                            up.handle(now, from, buf.get(..n).unwrap_or(&[]));
                        }
                    }
                    Err(e) => debug!(error = %e, "ddns: receive failed"),
                },
                _ = tokio::time::sleep_until(wake.into()) => up.handle_timeout(Instant::now()),
                _ = stop.changed() => break,
            }
        }
        // Unfinished jobs stay in the store for the next start.
        Ok(())
    }
}

/// The socket for `server`'s family (an ephemeral port: answers come back
/// to it; the updater matches them by server and ID).
fn open_socket(server: SocketAddr) -> std::io::Result<StdUdpSocket> {
    let any: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = StdUdpSocket::bind(any)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

impl Component for Ddns {
    fn name(&self) -> &'static str {
        "ddns"
    }

    fn start(self: Arc<Self>, snap: &Snapshot, ctx: &StartContext) -> Result<Started, ServerError> {
        let mut started = Started::default();
        let Some(d) = snap.ddns.as_ref().filter(|d| d.enable) else {
            return Ok(started);
        };
        let sock = open_socket(d.server)?;
        // A client socket, not a listener: logged, not in the ready line.
        info!(local = %sock.local_addr()?, server = %d.server, "ddns: updater started");
        let sock = UdpSocket::from_std(sock)?;
        let (tx, rx) = mpsc::channel(d.channel);
        self.link
            .attach(tx, ctx.committer.clone(), self.store.clone());
        let mut config = d.updater.clone();
        // Message IDs are the only spoofing defence of unsigned updates.
        config.id_seed = std::collections::hash_map::RandomState::new()
            .hash_one(std::time::SystemTime::now())
            | 1;
        started.tasks.push(tokio::spawn(self.clone().run(
            sock,
            rx,
            config,
            ctx.stop.clone(),
        )));
        Ok(started)
    }

    fn restart_needed(&self, old: &Snapshot, new: &Snapshot) -> Vec<String> {
        headend_model::ddns::restart_change(old.ddns.as_ref(), new.ddns.as_ref())
            .into_iter()
            .collect()
    }

    fn metrics(&self, m: &mut crate::metrics::Metrics) {
        let st = self.stats();
        let c = &self.link.counters;
        let v = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        m.counter("ddns_jobs_queued_total", &[], v(&c.queued));
        m.counter("ddns_jobs_unchanged_total", &[], v(&c.unchanged));
        m.counter(
            "ddns_jobs_dropped_total",
            &[("reason", "channel_full")],
            v(&c.dropped_channel_full),
        );
        m.counter(
            "ddns_jobs_dropped_total",
            &[("reason", "queue_full")],
            st.given_up.get("queue_full").copied().unwrap_or(0),
        );
        m.counter("ddns_jobs_invalid_total", &[], v(&c.invalid) + st.refused);
        m.counter("ddns_jobs_succeeded_total", &[], st.succeeded);
        m.counter("ddns_jobs_conflict_total", &[], st.conflicts);
        m.counter("ddns_jobs_reloaded_total", &[], st.reloaded);
        for (reason, n) in &st.failed {
            m.counter("ddns_attempts_failed_total", &[("reason", reason)], *n);
        }
        m.counter(
            "ddns_attempts_retried_total",
            &[],
            st.failed.values().sum::<u64>(),
        );
        for (reason, n) in &st.given_up {
            m.counter("ddns_jobs_given_up_total", &[("reason", reason)], *n);
        }
        m.counter("ddns_messages_sent_total", &[], st.engine.sent);
        m.counter(
            "ddns_messages_retransmitted_total",
            &[],
            st.engine.retransmitted,
        );
        m.counter("ddns_responses_ignored_total", &[], st.engine.ignored);
        m.counter("ddns_send_failed_total", &[], st.send_failed);
        m.gauge("ddns_queue_jobs", &[], st.queue as u64);
        m.gauge("ddns_in_flight", &[], st.in_flight as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use headend_ddns::{Action, Dhcid, Job, Target};
    use headend_store::MemoryStore;

    fn job(server: SocketAddr) -> Job {
        let fqdn = "host1.example.test.";
        Job {
            action: Action::Add,
            fqdn: fqdn.into(),
            address: "192.0.2.10".parse().unwrap(),
            dhcid: Dhcid::from_hwaddr(
                1,
                &[0, 1, 2, 3, 4, 5],
                &headend_ddns::Name::from_ascii(fqdn).unwrap(),
            )
            .unwrap(),
            ttl: 300,
            forward: Some(Target {
                server,
                zone: "example.test".into(),
                key: None,
            }),
            reverse: None,
            enqueued_unix: None,
        }
    }

    /// A DNS server that answers every update with garbage (and with the
    /// request echoed back, which is not a response): each is counted as
    /// ignored, the attempt times out and is retried; nothing panics and the
    /// job is never taken as done.
    #[tokio::test]
    async fn garbage_answers_are_counted_and_the_job_retried() {
        let dns = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server = dns.local_addr().unwrap();
        let answerer = tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            for i in 0..20u8 {
                let Ok((n, from)) = dns.recv_from(&mut buf).await else {
                    return;
                };
                let _ = dns.send_to(&[0xde, 0xad, i], from).await;
                let _ = dns.send_to(&buf[..n], from).await;
            }
        });
        let ddns = Arc::new(Ddns {
            link: Arc::new(DdnsLink::default()),
            store: Arc::new(MemoryStore::new()),
            stats: Mutex::default(),
        });
        let sock = UdpSocket::from_std(open_socket(server).unwrap()).unwrap();
        let (tx, rx) = mpsc::channel(4);
        let (stop_tx, stop) = watch::channel(false);
        let config = UpdaterConfig {
            rto: Duration::from_millis(30),
            rto_max: Duration::from_millis(30),
            max_retransmits: 0,
            retry_initial: Duration::from_millis(30),
            retry_max: Duration::from_millis(30),
            ..UpdaterConfig::default()
        };
        let task = tokio::spawn(ddns.clone().run(sock, rx, config, stop));
        let rec = JobRecord {
            mac: "00:01:02:03:04:05".into(),
            job: job(server),
        };
        tx.send(Handoff {
            key: "00000000000000000001".into(),
            rec,
        })
        .await
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let st = ddns.stats();
            if st.engine.ignored >= 4 && st.failed.get("timeout").copied().unwrap_or(0) >= 2 {
                assert_eq!(st.succeeded, 0);
                assert_eq!(st.queue, 1, "the job stays queued");
                break;
            }
            assert!(Instant::now() < deadline, "{st:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut m = crate::metrics::Metrics::new();
        ddns.metrics(&mut m);
        assert!(m.value("ddns_responses_ignored_total", &[]) >= 4);
        assert!(m.value("ddns_attempts_failed_total", &[("reason", "timeout")]) >= 2);
        stop_tx.send(true).unwrap();
        task.await.unwrap().unwrap();
        answerer.abort();
    }
}
