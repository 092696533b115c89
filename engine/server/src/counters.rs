//! Per-reason counters: every packet dropped, every failed expression and
//! every reply is counted, so an operator can see what the server refused
//! and why without reading logs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Events counted on the hot path (fixed set: one atomic each).
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
    /// DHCPRELEASE processed.
    Release,
    /// DHCPDECLINE processed (address quarantined).
    Decline,
    /// Reply not sent because the lease could not be committed.
    CommitFailed,
    /// Reply could not be sent on the socket.
    SendFailed,
    /// Accounts created by auto-provisioning.
    AutoProvisioned,
    /// Option expressions that failed (option omitted, packet answered).
    ExpressionFailed,
    /// Options dropped because the reply did not fit the client's size limit.
    OptionTruncated,
}

const EVENTS: usize = Event::OptionTruncated as usize + 1;

const EVENT_NAMES: [&str; EVENTS] = [
    "received",
    "offer",
    "ack",
    "inform_ack",
    "nak",
    "bootp_reply",
    "release",
    "decline",
    "commit_failed",
    "send_failed",
    "auto_provisioned",
    "expression_failed",
    "option_truncated",
];

/// All counters of one server.
#[derive(Debug, Default)]
pub struct Counters {
    events: [AtomicU64; EVENTS],
    drops: Mutex<BTreeMap<&'static str, u64>>,
    expressions: Mutex<BTreeMap<&'static str, u64>>,
    hooks: Mutex<BTreeMap<(&'static str, String), u64>>,
}

impl Counters {
    /// Counts one event.
    pub fn count(&self, e: Event) {
        if let Some(c) = self.events.get(e as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Current value of an event counter.
    pub fn get(&self, e: Event) -> u64 {
        self.events
            .get(e as usize)
            .map(|c| c.load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    /// Counts one dropped packet under a short, stable reason label.
    pub fn drop_packet(&self, reason: &'static str) {
        *self.drops.lock().entry(reason).or_insert(0) += 1;
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

    /// Drops by reason.
    pub fn drops(&self) -> BTreeMap<&'static str, u64> {
        self.drops.lock().clone()
    }

    /// Total drops.
    pub fn total_drops(&self) -> u64 {
        self.drops.lock().values().sum()
    }

    /// Every counter as `name value` pairs (events first, then `drop.<reason>`).
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = EVENT_NAMES
            .iter()
            .zip(self.events.iter())
            .map(|(n, c)| ((*n).to_string(), c.load(Ordering::Relaxed)))
            .collect();
        v.extend(
            self.drops()
                .into_iter()
                .map(|(k, n)| (format!("drop.{k}"), n)),
        );
        v.extend(
            self.hook_fallbacks()
                .into_iter()
                .map(|((h, k), n)| (format!("hook_fallback.{h}.{k}"), n)),
        );
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_events_and_drops() {
        let c = Counters::default();
        c.count(Event::Offer);
        c.count(Event::Offer);
        c.drop_packet("truncated");
        c.drop_packet("truncated");
        c.drop_packet("bad-op");
        assert_eq!(c.get(Event::Offer), 2);
        assert_eq!(c.total_drops(), 3);
        let s = c.snapshot();
        assert!(s.contains(&("offer".to_string(), 2)));
        assert!(s.contains(&("drop.truncated".to_string(), 2)));
        assert_eq!(EVENT_NAMES.len(), EVENTS);
    }
}
