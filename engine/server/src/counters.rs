//! Per-reason counters: every packet dropped, every failed expression and
//! every reply is counted, so an operator can see what the server refused
//! and why without reading logs. One set serves the whole server: DHCPv4
//! (with the config server's drops and the hook fallbacks) and DHCPv6 count
//! the same [`Event`]s, each in its own [`Family`], dumped as `<name>` and
//! `dhcpv6.<name>`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Which server an event or a drop is counted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Family {
    /// DHCPv4 and the server-wide counters (config server drops): names as they are.
    Dhcpv4,
    /// DHCPv6: names prefixed with `dhcpv6.`.
    Dhcpv6,
    /// The SNMP provisioning server: names prefixed with `snmp.`.
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
}

const EVENTS: usize = Event::ReportSent as usize + 1;

const V4: Option<Family> = Some(Family::Dhcpv4);
const V6: Option<Family> = Some(Family::Dhcpv6);
const SNMP: Option<Family> = Some(Family::Snmp);

/// Every event, its name in dumps and the one family that has it (`None`:
/// both DHCP families), in dump order.
const EVENT_NAMES: [(Event, &str, Option<Family>); EVENTS] = [
    (Event::Received, "received", None),
    (Event::Offer, "offer", V4),
    (Event::Ack, "ack", V4),
    (Event::InformAck, "inform_ack", V4),
    (Event::Nak, "nak", V4),
    (Event::BootpReply, "bootp_reply", V4),
    (Event::Advertise, "advertise", V6),
    (Event::Reply, "reply", V6),
    (Event::RapidCommit, "rapid_commit", V6),
    (Event::Release, "release", None),
    (Event::Decline, "decline", None),
    (Event::CommitFailed, "commit_failed", None),
    (Event::SendFailed, "send_failed", None),
    (Event::AutoProvisioned, "auto_provisioned", None),
    (Event::ExpressionFailed, "expression_failed", None),
    (Event::OptionTruncated, "option_truncated", V4),
    (Event::EncodeFailed, "encode_failed", V6),
    (Event::InformAnswered, "informs_answered", SNMP),
    (Event::Enrolled, "enrolled", SNMP),
    (Event::EnrollFailed, "enroll_failed", SNMP),
    (Event::AgentRequest, "agent_requests", SNMP),
    (Event::StatusInform, "status_informs", SNMP),
    (Event::ReportSent, "reports_sent", SNMP),
];

/// All counters of one server.
#[derive(Debug, Default)]
pub struct Counters {
    events: [[AtomicU64; EVENTS]; FAMILIES],
    drops: [Mutex<BTreeMap<&'static str, u64>>; FAMILIES],
    expressions: Mutex<BTreeMap<&'static str, u64>>,
    hooks: Mutex<BTreeMap<(&'static str, String), u64>>,
}

impl Counters {
    fn event(&self, f: Family, e: Event) -> Option<&AtomicU64> {
        self.events.get(f as usize)?.get(e as usize)
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

    /// Every counter as `name value` pairs: DHCPv4 events, `drop.<reason>`,
    /// `hook_fallback.<hook>.<kind>`, then DHCPv6 events and drops prefixed
    /// `dhcpv6.`.
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let mut v = self.family_snapshot(Family::Dhcpv4, "");
        v.extend(
            self.hook_fallbacks()
                .into_iter()
                .map(|((h, k), n)| (format!("hook_fallback.{h}.{k}"), n)),
        );
        v.extend(self.family_snapshot(Family::Dhcpv6, "dhcpv6."));
        v.extend(self.family_snapshot(Family::Snmp, "snmp."));
        v
    }

    fn family_snapshot(&self, f: Family, p: &str) -> Vec<(String, u64)> {
        let events = EVENT_NAMES
            .iter()
            .filter(|(e, _, only)| match only {
                Some(o) => *o == f,
                // Shared by both DHCP families; SNMP has only these two.
                None => f != Family::Snmp || matches!(e, Event::Received | Event::SendFailed),
            })
            .map(|(e, n, _)| (format!("{p}{n}"), self.get_in(f, *e)));
        let drops = self
            .drops_in(f)
            .into_iter()
            .map(|(k, n)| (format!("{p}drop.{k}"), n));
        events.chain(drops).collect()
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
        c.drop_packet("bad-op");
        c.drop_in(Family::Dhcpv6, "oversize");
        c.hook_fallback("flow-select", "trap");
        assert_eq!(c.get(Event::Offer), 2);
        assert_eq!(c.get_in(Family::Dhcpv6, Event::Offer), 0);
        assert_eq!(c.drops().values().sum::<u64>(), 3);
        let dump: Vec<String> = c
            .snapshot()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let want = "received=0 offer=2 ack=0 inform_ack=0 nak=0 bootp_reply=0 release=0 \
            decline=0 commit_failed=0 send_failed=0 auto_provisioned=0 expression_failed=0 \
            option_truncated=0 drop.bad-op=1 drop.truncated=2 hook_fallback.flow-select.trap=1 \
            dhcpv6.received=2 dhcpv6.advertise=0 dhcpv6.reply=1 dhcpv6.rapid_commit=0 \
            dhcpv6.release=0 dhcpv6.decline=0 dhcpv6.commit_failed=0 dhcpv6.send_failed=0 \
            dhcpv6.auto_provisioned=0 dhcpv6.expression_failed=0 dhcpv6.encode_failed=0 \
            dhcpv6.drop.oversize=1 snmp.received=0 snmp.send_failed=0 snmp.informs_answered=0 \
            snmp.enrolled=0 snmp.enroll_failed=0 snmp.agent_requests=0 snmp.status_informs=0 \
            snmp.reports_sent=0";
        assert_eq!(dump.join(" "), want);
    }
}
