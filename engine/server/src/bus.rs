//! The event bus (issue 13; seed 004 section 1.2 "event publishing", "event
//! triggers"): leases granted, released and expired, provisioning steps,
//! account changes, management actions and plugin-published events, on one
//! bounded broadcast channel that the management plane serves as
//! Server-Sent Events and hands to webhooks.
//!
//! The packet path must never wait for a reader: publishing is a
//! non-blocking send into a ring of fixed size (a slow reader loses the
//! oldest events and is told how many), and when nobody listens the event is
//! not even built ([`Bus::wanted`]).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;

/// Events kept for readers that fall behind, unless configured otherwise.
pub const DEFAULT_BUFFER: usize = 4096;

/// Milliseconds since the Unix epoch now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// One published event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BusEvent {
    /// Sequence number, from 1, gapless in publication order.
    pub seq: u64,
    /// When (milliseconds since the Unix epoch).
    pub at_ms: u64,
    /// What happened: `lease.granted`, `lease.released`, `lease.expired`,
    /// `provisioning.step`, `account.created`, `account.changed`,
    /// `account.deleted`, `config.reloaded`, `management.<action>`,
    /// `plugin.<topic>`.
    pub kind: String,
    /// The device MAC, when the event is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Kind-specific fields.
    pub data: serde_json::Value,
}

/// The broadcast channel of [`BusEvent`]s.
#[derive(Debug)]
pub struct Bus {
    tx: broadcast::Sender<Arc<BusEvent>>,
    /// Live [`Subscription`]s: read with one atomic load on the packet path
    /// (the channel's own receiver count takes its lock).
    readers: Arc<AtomicUsize>,
    seq: AtomicU64,
    /// Extra interest besides stream readers (webhooks are configured).
    sinks: AtomicU64,
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new(DEFAULT_BUFFER)
    }
}

impl Bus {
    /// A bus keeping `buffer` events for slow readers.
    pub fn new(buffer: usize) -> Bus {
        Bus {
            tx: broadcast::channel(buffer.max(1)).0,
            readers: Arc::default(),
            seq: AtomicU64::new(0),
            sinks: AtomicU64::new(0),
        }
    }

    /// Whether anybody would receive an event now: publishers skip building
    /// one when not (the packet path pays nothing without readers).
    pub fn wanted(&self) -> bool {
        self.readers.load(Ordering::Relaxed) > 0
    }

    /// Publishes an event to every current reader; never blocks.
    pub fn publish(&self, kind: impl Into<String>, mac: Option<&str>, data: serde_json::Value) {
        if !self.wanted() {
            return;
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let ev = BusEvent {
            seq,
            at_ms: now_ms(),
            kind: kind.into(),
            mac: mac.map(str::to_string),
            data,
        };
        // An error means the last reader left meanwhile: nothing to do.
        let _ = self.tx.send(Arc::new(ev));
    }

    /// Publishes a DHCPv4 lease event (`lease.granted`, `lease.expired`, …).
    pub fn lease4(&self, kind: &str, l: &headend_store::Lease4) {
        if !self.wanted() {
            return;
        }
        self.publish(
            kind,
            Some(&headend_store::hex_colon(&l.hwaddr)),
            serde_json::json!({
                "family": "dhcpv4",
                "address": l.ip.to_string(),
                "pool": l.pool,
                "relay": l.relay.to_string(),
                "client": l.client.to_hex(),
                "expires": l.expires_at(),
            }),
        );
    }

    /// Publishes a DHCPv6 binding event.
    pub fn lease6(&self, kind: &str, l: &headend_store::Lease6) {
        if !self.wanted() {
            return;
        }
        self.publish(
            kind,
            l.mac.as_deref().map(headend_store::hex_colon).as_deref(),
            serde_json::json!({
                "family": "dhcpv6",
                "address": l.address.to_string(),
                "prefix_len": l.prefix_len,
                "pool": l.pool,
                "link": l.link.to_string(),
                "duid": headend_store::hex_colon(&l.duid),
                "iaid": l.iaid,
                "expires": l.expires_at(),
            }),
        );
    }

    /// A new reader, receiving every event published from now on.
    pub fn subscribe(&self) -> Subscription {
        self.readers.fetch_add(1, Ordering::Relaxed);
        Subscription {
            rx: self.tx.subscribe(),
            readers: self.readers.clone(),
        }
    }

    /// Events published since start.
    pub fn published(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    /// Counts a long-lived consumer (a webhook dispatcher) for metrics.
    pub fn add_sink(&self) {
        self.sinks.fetch_add(1, Ordering::Relaxed);
    }

    /// Long-lived consumers registered with [`Bus::add_sink`].
    pub fn sinks(&self) -> u64 {
        self.sinks.load(Ordering::Relaxed)
    }
}

/// One reader of the bus; counted while it lives.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Arc<BusEvent>>,
    readers: Arc<AtomicUsize>,
}

impl Subscription {
    /// The next event; `Lagged(n)` when this reader fell `n` events behind.
    pub async fn recv(&mut self) -> Result<Arc<BusEvent>, broadcast::error::RecvError> {
        self.rx.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Result<Arc<BusEvent>, broadcast::error::TryRecvError> {
        self.rx.try_recv()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.readers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_built_without_readers_and_readers_see_order() {
        let bus = Bus::new(4);
        bus.publish("lease.granted", Some("00:11"), serde_json::json!({}));
        assert_eq!(bus.published(), 0, "no reader: not built, not numbered");
        let mut rx = bus.subscribe();
        for i in 0..3 {
            bus.publish("x", None, serde_json::json!({ "i": i }));
        }
        for i in 0..3 {
            let e = rx.try_recv().unwrap();
            assert_eq!((e.seq, &e.data["i"]), (i + 1, &serde_json::json!(i)));
        }
        drop(rx);
        assert!(!bus.wanted(), "the last reader left");
    }

    #[test]
    fn a_slow_reader_loses_the_oldest_and_is_told() {
        let bus = Bus::new(2);
        let mut rx = bus.subscribe();
        for i in 0..5 {
            bus.publish("x", None, serde_json::json!(i));
        }
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(3))
        ));
        assert_eq!(rx.try_recv().unwrap().seq, 4);
    }
}
