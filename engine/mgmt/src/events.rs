//! Event publishing (issue 13 "Metrics and events"; seed 004 section 1.2
//! "event publishing", "event triggers"): the server's event bus
//! ([`headend_server::shared::bus`]) served as Server-Sent Events and
//! POSTed to webhooks. Neither can slow the packet path: the bus never
//! waits for a reader; a webhook has its own bounded queue (full: the
//! event is dropped and counted) and retries with exponential backoff.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use headend_model::management::Webhook as WebhookSettings;
use headend_server::bus::{Bus, BusEvent};
use headend_server::metrics::Metrics;
use http_body_util::Full;
use hyper::body::Bytes;
use parking_lot::Mutex;
use tokio::sync::{broadcast, watch, Notify};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

/// One configured webhook with its queue and counters.
pub struct Webhook {
    settings: WebhookSettings,
    queue: Mutex<VecDeque<Arc<BusEvent>>>,
    ready: Notify,
    delivered: AtomicU64,
    retried: AtomicU64,
    dropped_full: AtomicU64,
    dropped_failed: AtomicU64,
}

impl Webhook {
    /// A dispatcher for `settings` (not yet running).
    pub fn new(settings: WebhookSettings) -> Webhook {
        Webhook {
            settings,
            queue: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            delivered: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dropped_full: AtomicU64::new(0),
            dropped_failed: AtomicU64::new(0),
        }
    }

    /// Whether this hook takes events of `kind`.
    fn wants(&self, kind: &str) -> bool {
        self.settings.events.is_empty()
            || self
                .settings
                .events
                .iter()
                .any(|e| kind == e || (e.ends_with('.') && kind.starts_with(e.as_str())))
    }

    /// Queues an event; a full queue drops the oldest.
    fn enqueue(&self, ev: Arc<BusEvent>) {
        let mut q = self.queue.lock();
        if q.len() >= self.settings.queue {
            q.pop_front();
            self.dropped_full.fetch_add(1, Ordering::Relaxed);
        }
        q.push_back(ev);
        drop(q);
        self.ready.notify_one();
    }

    /// Its counters.
    pub fn metrics(&self, m: &mut Metrics) {
        let url = self.settings.url.as_str();
        m.counter(
            "webhook_events_total",
            &[("url", url), ("outcome", "delivered")],
            self.delivered.load(Ordering::Relaxed),
        );
        m.counter(
            "webhook_events_total",
            &[("url", url), ("outcome", "retried")],
            self.retried.load(Ordering::Relaxed),
        );
        m.counter(
            "webhook_events_total",
            &[("url", url), ("outcome", "dropped_queue_full")],
            self.dropped_full.load(Ordering::Relaxed),
        );
        m.counter(
            "webhook_events_total",
            &[("url", url), ("outcome", "dropped_failed")],
            self.dropped_failed.load(Ordering::Relaxed),
        );
        m.gauge(
            "webhook_queue",
            &[("url", url)],
            self.queue.lock().len() as u64,
        );
    }

    /// Starts the reader (bus → queue) and the sender (queue → POST).
    pub fn spawn(
        self: Arc<Self>,
        bus: Arc<Bus>,
        mut stop: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        bus.add_sink();
        let mut rx = bus.subscribe();
        let me = self.clone();
        let mut stop2 = stop.clone();
        let reader = tokio::spawn(async move {
            loop {
                tokio::select! {
                    r = rx.recv() => match r {
                        Ok(ev) => if me.wants(&ev.kind) { me.enqueue(ev) },
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            me.dropped_full.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    _ = stop2.changed() => break,
                }
            }
        });
        tokio::spawn(async move {
            let client =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build_http::<Full<Bytes>>();
            loop {
                let next = self.queue.lock().pop_front();
                let Some(ev) = next else {
                    tokio::select! {
                        _ = self.ready.notified() => continue,
                        _ = stop.changed() => break,
                    }
                };
                let body = serde_json::to_vec(&*ev).unwrap_or_default();
                let mut delay = Duration::from_millis(100);
                let mut sent = false;
                for attempt in 0..self.settings.attempts {
                    if attempt > 0 {
                        self.retried.fetch_add(1, Ordering::Relaxed);
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = stop.changed() => return reader.abort(),
                        }
                        delay = (delay * 2).min(Duration::from_secs(30));
                    }
                    match self.post(&client, body.clone()).await {
                        Ok(()) => {
                            sent = true;
                            break;
                        }
                        Err(e) => {
                            debug!(url = %self.settings.url, error = %e, attempt, "webhook POST failed")
                        }
                    }
                }
                if sent {
                    self.delivered.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.dropped_failed.fetch_add(1, Ordering::Relaxed);
                    warn!(url = %self.settings.url, seq = ev.seq, "webhook event dropped after every attempt failed");
                }
            }
            reader.abort();
        })
    }

    async fn post(
        &self,
        client: &hyper_util::client::legacy::Client<
            hyper_util::client::legacy::connect::HttpConnector,
            Full<Bytes>,
        >,
        body: Vec<u8>,
    ) -> Result<(), String> {
        let req = hyper::Request::post(self.settings.url.as_str())
            .header("content-type", "application/json")
            .header("user-agent", "headend")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let resp = tokio::time::timeout(self.settings.timeout, client.request(req))
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|e| e.to_string())?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", resp.status()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(events: &[&str], queue: usize) -> Webhook {
        Webhook::new(WebhookSettings {
            url: "http://127.0.0.1:9/x".into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            queue,
            attempts: 1,
            timeout: Duration::from_millis(100),
        })
    }

    #[test]
    fn filters_by_kind_and_prefix() {
        assert!(hook(&[], 1).wants("lease.granted"));
        let h = hook(&["lease.", "account.created"], 1);
        assert!(h.wants("lease.granted") && h.wants("account.created"));
        assert!(!h.wants("account.deleted") && !h.wants("provisioning.step"));
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts() {
        let h = hook(&[], 2);
        for seq in 1..=3 {
            h.enqueue(Arc::new(BusEvent {
                seq,
                at_ms: 0,
                kind: "x".into(),
                mac: None,
                data: serde_json::Value::Null,
            }));
        }
        let q: Vec<u64> = h.queue.lock().iter().map(|e| e.seq).collect();
        assert_eq!(q, [2, 3]);
        assert_eq!(h.dropped_full.load(Ordering::Relaxed), 1);
    }
}
