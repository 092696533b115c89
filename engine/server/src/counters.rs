//! Per-reason counters: every packet dropped, every failed expression and
//! every reply is counted, so an operator can see what the server refused
//! and why without reading logs. One set serves the whole server: DHCPv4
//! (with the config server's drops and the hook fallbacks), DHCPv6 and the
//! syslog receiver count the same [`Event`]s, each in its own [`Family`],
//! collected into the [`crate::metrics`] registry with a `family` label. A
//! packet is either answered, dropped (malformed or unacceptable:
//! `dhcp_dropped_total` by reason) or deliberately left unanswered
//! (`dhcp_unanswered_total` by reason, e.g. `pool_exhausted` apart from
//! `no_pool_for_network`); the syslog receiver's are `syslog_*`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::metrics::Metrics;

/// Which server an event or a drop is counted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Family {
    /// DHCPv4 and the server-wide counters (config server drops): names as they are.
    Dhcpv4,
    /// DHCPv6: names prefixed with `dhcpv6.`.
    Dhcpv6,
    /// The syslog management-event receiver: names prefixed with `syslog.`.
    Syslog,
    /// The SNMP provisioning server.
    Snmp,
}

const FAMILIES: usize = Family::Snmp as usize + 1;

/// Events counted on the hot path (fixed set: one atomic each per family).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(usize)]
pub enum Event {
    /// Datagrams received.
    Received,
    /// DHCPOFFER sent.
    Offer,
    /// DHCPACK sent (REQUEST).
    Ack,
    /// DHCPACK sent (INFORM).
    InformAck,
    /// DHCPNAK sent.
    Nak,
    /// BOOTREPLY sent to a BOOTP client.
    BootpReply,
    /// DHCPv6 ADVERTISE sent.
    Advertise,
    /// DHCPv6 REPLY sent (any).
    Reply,
    /// DHCPv6 REPLY with Rapid Commit.
    RapidCommit,
    /// DHCPRELEASE (DHCPv6 RELEASE) processed.
    Release,
    /// DHCPDECLINE (DHCPv6 DECLINE) processed (address quarantined).
    Decline,
    /// Reply not sent because the lease (binding) could not be committed.
    CommitFailed,
    /// Reply could not be sent on the socket.
    SendFailed,
    /// Accounts created by auto-provisioning.
    AutoProvisioned,
    /// Option expressions that failed (option omitted, packet answered).
    ExpressionFailed,
    /// Options dropped because the reply did not fit the client's size limit.
    OptionTruncated,
    /// DHCPv6 replies whose CableLabs options could not be encoded (left out).
    EncodeFailed,
    /// DHCPv6 LEASEQUERY-REPLYs sent over UDP to requesters (RFC 5007).
    Leasequery,
    /// DHCPv6 leasequeries refused: NotAllowed to a UDP requester not
    /// listed, or a Bulk Leasequery connection closed at accept.
    LeasequeryRefused,
    /// DHCPv6 Bulk Leasequery queries answered over TCP (RFC 5460).
    BulkLeasequery,
    /// DHCPv6 Bulk Leasequery client data sent (one per client and link).
    BulkLeasequeryClient,
    /// Syslog messages with an event id handed to the mem-event hook.
    MemEvent,
    /// Syslog messages without an event id (recorded, not handed to the hook).
    NoEventId,
    /// Syslog messages tied to no device (no MAC in them, no lease on the source).
    Unresolved,
    /// SNMP InformRequests answered.
    InformAnswered,
    /// SNMP enrollments whose SET the eUE acknowledged (eUE-19 done).
    Enrolled,
    /// SNMP enrollments that failed (no identity, file, SET error or timeout).
    EnrollFailed,
    /// SNMP SETs and GETs sent to eUE agents (retransmissions included).
    AgentRequest,
    /// SNMP provisioning-status INFORMs received (eUE-25).
    StatusInform,
    /// SNMPv3 Reports sent (discovery and usmStats errors).
    ReportSent,
    /// DHCPv4 offers recycled to keep their relay circuit under
    /// `max_offers_per_circuit` (their address held no longer).
    OfferRecycled,
}

const EVENTS: usize = Event::OfferRecycled as usize + 1;

const V4: &[Family] = &[Family::Dhcpv4];
const V6: &[Family] = &[Family::Dhcpv6];
const DHCP: &[Family] = &[Family::Dhcpv4, Family::Dhcpv6];
const SYSLOG: &[Family] = &[Family::Syslog];
const SNMP: &[Family] = &[Family::Snmp];

/// Every event, its name in dumps and the families that have it, in dump order.
const EVENT_NAMES: [(Event, &str, &[Family]); EVENTS] = [
    (
        Event::Received,
        "received",
        &[Family::Dhcpv4, Family::Dhcpv6, Family::Syslog, Family::Snmp],
    ),
    (Event::Offer, "offer", V4),
    (Event::Ack, "ack", V4),
    (Event::InformAck, "inform_ack", V4),
    (Event::Nak, "nak", V4),
    (Event::BootpReply, "bootp_reply", V4),
    (Event::Advertise, "advertise", V6),
    (Event::Reply, "reply", V6),
    (Event::RapidCommit, "rapid_commit", V6),
    (Event::Release, "release", DHCP),
    (Event::Decline, "decline", DHCP),
    (Event::CommitFailed, "commit_failed", DHCP),
    (Event::SendFailed, "send_failed", DHCP),
    (Event::AutoProvisioned, "auto_provisioned", DHCP),
    (Event::ExpressionFailed, "expression_failed", DHCP),
    (Event::OptionTruncated, "option_truncated", V4),
    (Event::EncodeFailed, "encode_failed", V6),
    (Event::Leasequery, "leasequery", V6),
    (Event::LeasequeryRefused, "leasequery_refused", V6),
    (Event::BulkLeasequery, "bulk_leasequery", V6),
    (Event::BulkLeasequeryClient, "bulk_leasequery_clients", V6),
    (Event::MemEvent, "mem_event", SYSLOG),
    (Event::NoEventId, "no_event_id", SYSLOG),
    (Event::Unresolved, "unresolved", SYSLOG),
    (Event::InformAnswered, "informs_answered", SNMP),
    (Event::Enrolled, "enrolled", SNMP),
    (Event::EnrollFailed, "enroll_failed", SNMP),
    (Event::AgentRequest, "agent_requests", SNMP),
    (Event::StatusInform, "status_informs", SNMP),
    (Event::ReportSent, "reports_sent", SNMP),
    (Event::OfferRecycled, "offer_recycled", V4),
];

/// Upper bounds, in microseconds, of the reply latency histogram's buckets
/// (from the datagram read to the reply sent, the commit wait included).
pub const LATENCY_BOUNDS_US: [u64; 12] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
];

/// One family's reply latency histogram: a count per bucket (the last one
/// above every bound) and the sum.
#[derive(Debug, Default)]
struct Latency {
    buckets: [AtomicU64; LATENCY_BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
}

/// All counters of one server.
#[derive(Debug, Default)]
pub struct Counters {
    latency: [Latency; FAMILIES],
    events: [[AtomicU64; EVENTS]; FAMILIES],
    drops: [Mutex<BTreeMap<&'static str, u64>>; FAMILIES],
    silent: [Mutex<BTreeMap<&'static str, u64>>; FAMILIES],
    expressions: Mutex<BTreeMap<&'static str, u64>>,
    hooks: Mutex<BTreeMap<(&'static str, String), u64>>,
}

impl Counters {
    fn event(&self, f: Family, e: Event) -> Option<&AtomicU64> {
        self.events.get(f as usize)?.get(e as usize)
    }

    /// Records the time one reply of family `f` took, from the datagram
    /// read to the reply sent.
    pub fn reply_latency(&self, f: Family, took: std::time::Duration) {
        let Some(h) = self.latency.get(f as usize) else {
            return;
        };
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let i = LATENCY_BOUNDS_US
            .iter()
            .position(|b| us <= *b)
            .unwrap_or(LATENCY_BOUNDS_US.len());
        if let Some(b) = h.buckets.get(i) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        h.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Counts one DHCPv4 event.
    pub fn count(&self, e: Event) {
        self.count_in(Family::Dhcpv4, e);
    }

    /// Counts one event of family `f`.
    pub fn count_in(&self, f: Family, e: Event) {
        if let Some(c) = self.event(f, e) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Current value of a DHCPv4 event counter.
    pub fn get(&self, e: Event) -> u64 {
        self.get_in(Family::Dhcpv4, e)
    }

    /// Current value of an event counter of family `f`.
    pub fn get_in(&self, f: Family, e: Event) -> u64 {
        self.event(f, e).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Counts one dropped packet (DHCPv4 or config server) under a short,
    /// stable reason label.
    pub fn drop_packet(&self, reason: &'static str) {
        self.drop_in(Family::Dhcpv4, reason);
    }

    /// Counts one dropped packet of family `f` under its reason label.
    pub fn drop_in(&self, f: Family, reason: &'static str) {
        if let Some(d) = self.drops.get(f as usize) {
            *d.lock().entry(reason).or_insert(0) += 1;
        }
    }

    /// Counts one packet of family `f` deliberately left unanswered, under
    /// its reason (`pool_exhausted`, `other_server`, …).
    pub fn silent_in(&self, f: Family, reason: &'static str) {
        if let Some(d) = self.silent.get(f as usize) {
            *d.lock().entry(reason).or_insert(0) += 1;
        }
    }

    /// Unanswered packets of family `f` by reason.
    pub fn silent_of(&self, f: Family) -> BTreeMap<&'static str, u64> {
        self.silent
            .get(f as usize)
            .map(|d| d.lock().clone())
            .unwrap_or_default()
    }

    /// Counts one failed expression under its kind (`runtime`, `too_long`, …);
    /// also counted in [`Event::ExpressionFailed`].
    pub fn expression_failed(&self, kind: &'static str) {
        self.count(Event::ExpressionFailed);
        *self.expressions.lock().entry(kind).or_insert(0) += 1;
    }

    /// Counts one plugin hook call that failed and fell back to policy/config,
    /// by hook and reason kind (the plugin host keeps its own per-plugin counts).
    pub fn hook_fallback(&self, hook: &'static str, kind: &str) {
        *self
            .hooks
            .lock()
            .entry((hook, kind.to_string()))
            .or_insert(0) += 1;
    }

    /// Hook fallbacks by (hook, reason kind).
    pub fn hook_fallbacks(&self) -> BTreeMap<(&'static str, String), u64> {
        self.hooks.lock().clone()
    }

    /// Failed expressions by kind.
    pub fn expression_failures(&self) -> BTreeMap<&'static str, u64> {
        self.expressions.lock().clone()
    }

    /// DHCPv4 and config server drops by reason.
    pub fn drops(&self) -> BTreeMap<&'static str, u64> {
        self.drops_in(Family::Dhcpv4)
    }

    /// Drops of family `f` by reason.
    pub fn drops_in(&self, f: Family) -> BTreeMap<&'static str, u64> {
        self.drops
            .get(f as usize)
            .map(|d| d.lock().clone())
            .unwrap_or_default()
    }

    /// Adds every counter to `m`: `dhcp_events_total{family,event}`,
    /// `dhcp_dropped_total{family,reason}`,
    /// `dhcp_unanswered_total{family,reason}`,
    /// `expression_failures_total{kind}`, `hook_fallbacks_total{hook,reason}`.
    pub fn collect(&self, m: &mut Metrics) {
        for f in [Family::Dhcpv4, Family::Dhcpv6, Family::Syslog, Family::Snmp] {
            let family = f.name();
            if let Some(h) = self.latency.get(f as usize) {
                let mut cumulative = 0;
                let mut buckets = Vec::with_capacity(LATENCY_BOUNDS_US.len());
                for (i, bound) in LATENCY_BOUNDS_US.iter().enumerate() {
                    cumulative += h.buckets.get(i).map_or(0, |b| b.load(Ordering::Relaxed));
                    buckets.push((*bound as f64 / 1e6, cumulative));
                }
                let count = cumulative
                    + h.buckets
                        .get(LATENCY_BOUNDS_US.len())
                        .map_or(0, |b| b.load(Ordering::Relaxed));
                if matches!(f, Family::Dhcpv4 | Family::Dhcpv6) || count > 0 {
                    m.histogram(
                        "reply_latency_seconds",
                        &[("family", family)],
                        buckets,
                        h.sum_us.load(Ordering::Relaxed) as f64 / 1e6,
                        count,
                    );
                }
            }
            let (events, dropped, unanswered) = match f {
                Family::Snmp => (
                    "snmp_events_total",
                    "snmp_dropped_total",
                    "snmp_unanswered_total",
                ),
                Family::Syslog => (
                    "syslog_events_total",
                    "syslog_dropped_total",
                    "syslog_unanswered_total",
                ),
                _ => (
                    "dhcp_events_total",
                    "dhcp_dropped_total",
                    "dhcp_unanswered_total",
                ),
            };
            for (e, n, families) in EVENT_NAMES.iter() {
                if families.contains(&f) {
                    m.counter(
                        events,
                        &[("family", family), ("event", n)],
                        self.get_in(f, *e),
                    );
                }
            }
            for (reason, n) in self.drops_in(f) {
                m.counter(dropped, &[("family", family), ("reason", reason)], n);
            }
            for (reason, n) in self.silent_of(f) {
                m.counter(unanswered, &[("family", family), ("reason", reason)], n);
            }
        }
        for (kind, n) in self.expression_failures() {
            m.counter("expression_failures_total", &[("kind", kind)], n);
        }
        for ((hook, kind), n) in self.hook_fallbacks() {
            m.counter(
                "hook_fallbacks_total",
                &[("hook", hook), ("reason", &kind)],
                n,
            );
        }
    }
}

impl Family {
    /// The `family` label value.
    pub fn name(self) -> &'static str {
        match self {
            Family::Dhcpv4 => "dhcpv4",
            Family::Dhcpv6 => "dhcpv6",
            Family::Syslog => "syslog",
            Family::Snmp => "snmp",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_count_apart_and_dump_under_their_names_in_order() {
        let c = Counters::default();
        c.count(Event::Offer);
        c.count(Event::Offer);
        c.count_in(Family::Dhcpv6, Event::Received);
        c.count_in(Family::Dhcpv6, Event::Received);
        c.count_in(Family::Dhcpv6, Event::Reply);
        c.drop_packet("truncated");
        c.drop_packet("truncated");
        c.drop_packet("bad_op");
        c.drop_in(Family::Dhcpv6, "oversize");
        c.hook_fallback("flow-select", "trap");
        c.count_in(Family::Syslog, Event::Received);
        c.drop_in(Family::Syslog, "rate_limited");
        assert_eq!(c.get(Event::Offer), 2);
        assert_eq!(c.get_in(Family::Dhcpv6, Event::Offer), 0);
        assert_eq!(c.drops().values().sum::<u64>(), 3);
        c.silent_in(Family::Dhcpv4, "pool_exhausted");
        let mut m = Metrics::new();
        c.collect(&mut m);
        let want = "dhcp_events_total{family=dhcpv4,event=offer}=2 \
            dhcp_dropped_total{family=dhcpv4,reason=bad_op}=1 \
            dhcp_dropped_total{family=dhcpv4,reason=truncated}=2 \
            dhcp_unanswered_total{family=dhcpv4,reason=pool_exhausted}=1 \
            dhcp_events_total{family=dhcpv6,event=received}=2 \
            dhcp_events_total{family=dhcpv6,event=reply}=1 \
            dhcp_dropped_total{family=dhcpv6,reason=oversize}=1 \
            syslog_events_total{family=syslog,event=received}=1 \
            syslog_dropped_total{family=syslog,reason=rate_limited}=1 \
            hook_fallbacks_total{hook=flow-select,reason=trap}=1";
        assert_eq!(m.log_line(), want);
        // Event names exist only in their family.
        assert_eq!(
            m.value(
                "dhcp_events_total",
                &[("family", "dhcpv6"), ("event", "offer")]
            ),
            0
        );
        assert!(m.samples().iter().all(|s| s
            .labels
            .iter()
            .all(|(k, _)| crate::metrics::is_snake_case(k))));
    }
}
