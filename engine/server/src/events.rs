//! PacketCable management events (seed 000 section 6.5, interfaces pkt-eue-6
//! syslog and SNMP notifications; issue 3 hook 3): an event about a device is
//! handed to the `mem-event` plugin, and the actions it returns are applied —
//! the device's account moves between domains or gets attributes (written
//! through the group committer, so the next DHCP exchange already sees it),
//! events are published on a bounded in-memory stream, and log lines are
//! written with the device.
//!
//! The receivers that produce events (the syslog receiver, `crate::syslog`;
//! SNMP notifications) reach it through `Shared::events`; this module is
//! their entry point ([`EventSink::handle`]) and depends on no component.

use std::collections::VecDeque;
use std::sync::Arc;

use headend_abi::{EventAction, EventActions, EventLevel, EventTransport, LogLevel, MemEvent};
use headend_model::snapshot::{canonical_domain, Snapshot};
use headend_store::{Account, AccountSource, GroupCommitter, Mutation, UnixTime};
use parking_lot::Mutex;
use tracing::{debug, error, info, trace, warn};

use crate::accounts::AccountTable;
use crate::counters::Counters;

/// Published events kept in memory for readers (newest last).
pub const PUBLISHED_KEPT: usize = 1024;

/// Why an event produced no actions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// No plugin serves the `mem-event` hook: the event is ignored (the configured fallback).
    #[error("no mem-event plugin is configured; event ignored")]
    NoHandler,
    /// The plugin failed (trap, deadline, breaker open …); the event is ignored.
    #[error("{0}")]
    Plugin(String),
}

/// One event published by a plugin's `Publish` action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Topic.
    pub topic: String,
    /// Payload text.
    pub payload: String,
    /// The device MAC, when the event was about one.
    pub mac: Option<String>,
    /// When (Unix seconds).
    pub at: UnixTime,
}

/// Management events received kept in memory for the dashboard (newest last).
pub const RECEIVED_KEPT: usize = 256;

/// One management event as received, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Received {
    /// When the engine received it (milliseconds since the Unix epoch).
    pub at_ms: i64,
    /// The device MAC, when the source resolved to one.
    pub mac: Option<String>,
    /// The sender's address.
    pub source: Option<String>,
    /// `syslog`, `snmp` or `local`.
    pub transport: &'static str,
    /// Priority level (`critical` … `information`).
    pub level: &'static str,
    /// Enterprise number and event id (`4491.4000950100`).
    pub id: String,
    /// Event text (the first 256 bytes).
    pub text: String,
    /// What the mem-event hook did: `actions applied: 3`, `ignored: …`.
    pub outcome: String,
}

/// What applying an event's actions did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventOutcome {
    /// The account after the actions, when one was changed.
    pub account: Option<Account>,
    /// Actions that could not be applied, with the reason.
    pub skipped: Vec<String>,
    /// How many actions were applied.
    pub applied: usize,
}

/// Applies management events to accounts and the published-event stream.
pub struct EventSink {
    accounts: Arc<AccountTable>,
    committer: Arc<GroupCommitter>,
    counters: Arc<Counters>,
    published: Mutex<VecDeque<Published>>,
    received: Mutex<VecDeque<Received>>,
    bus: std::sync::OnceLock<Arc<crate::bus::Bus>>,
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSink").finish_non_exhaustive()
    }
}

impl EventSink {
    /// A sink writing accounts through `committer`.
    pub fn new(
        accounts: Arc<AccountTable>,
        committer: Arc<GroupCommitter>,
        counters: Arc<Counters>,
    ) -> EventSink {
        EventSink {
            accounts,
            committer,
            counters,
            published: Mutex::new(VecDeque::new()),
            received: Mutex::new(VecDeque::new()),
            bus: std::sync::OnceLock::new(),
        }
    }

    /// Also publishes plugin events and account changes on `bus`.
    pub fn set_bus(&self, bus: Arc<crate::bus::Bus>) {
        let _ = self.bus.set(bus);
    }

    /// Hands `event` to the mem-event plugin of `snap` and applies its actions.
    /// `accounts_allowed`: whether the event's sender is trusted to change
    /// the account of the device it names (it holds that device's lease, or
    /// is a configured trusted source); if not, account actions are skipped
    /// and logged, the others applied.
    pub fn handle(
        &self,
        snap: &Snapshot,
        event: &MemEvent,
        now: UnixTime,
        accounts_allowed: bool,
    ) -> Result<EventOutcome, EventError> {
        let mac = event.device.as_ref().map(|d| d.mac.clone());
        let span = tracing::info_span!(
            "mem_event",
            mac = mac.as_deref().unwrap_or("-"),
            id = event.event_id
        );
        let _g = span.enter();
        let result = self.dispatch(snap, event, now, accounts_allowed);
        let outcome = match &result {
            Ok(o) if o.skipped.is_empty() => format!("actions applied: {}", o.applied),
            Ok(o) => format!(
                "actions applied: {}, skipped: {}",
                o.applied,
                o.skipped.len()
            ),
            Err(e) => format!("ignored: {e}"),
        };
        let mut text = event.text.clone();
        if text.len() > 256 {
            let mut cut = 256;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        let r = Received {
            at_ms: event.received_unix_ms,
            mac,
            source: event.source.map(|a| a.to_string()),
            transport: match event.transport {
                EventTransport::Syslog => "syslog",
                EventTransport::Snmp => "snmp",
                EventTransport::Local => "local",
            },
            level: match event.level {
                EventLevel::Critical => "critical",
                EventLevel::Major => "major",
                EventLevel::Minor => "minor",
                EventLevel::Warning => "warning",
                EventLevel::Information => "information",
            },
            id: format!("{}.{}", event.enterprise, event.event_id),
            text,
            outcome,
        };
        let mut q = self.received.lock();
        if q.len() >= RECEIVED_KEPT {
            q.pop_front();
        }
        q.push_back(r);
        drop(q);
        result
    }

    /// The management events received most recently, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().iter().cloned().collect()
    }

    fn dispatch(
        &self,
        snap: &Snapshot,
        event: &MemEvent,
        now: UnixTime,
        accounts_allowed: bool,
    ) -> Result<EventOutcome, EventError> {
        match snap.hooks.mem_event(event) {
            None => {
                self.counters.hook_fallback("mem-event", "no_handler");
                debug!("no mem-event plugin; event ignored");
                Err(EventError::NoHandler)
            }
            Some(Err(e)) => {
                self.counters.hook_fallback("mem-event", &e.kind);
                warn!(error = %e, "mem-event plugin failed; event ignored");
                Err(EventError::Plugin(e.to_string()))
            }
            Some(Ok(actions)) => Ok(self.apply(snap, event, &actions, now, accounts_allowed)),
        }
    }

    /// Applies a plugin's actions (public for tests and operator tools).
    pub fn apply(
        &self,
        snap: &Snapshot,
        event: &MemEvent,
        actions: &EventActions,
        now: UnixTime,
        accounts_allowed: bool,
    ) -> EventOutcome {
        let mut out = EventOutcome::default();
        let device = event.device.as_ref();
        let account_id = device.map(|d| {
            d.account
                .as_ref()
                .map(|a| a.id.clone())
                .unwrap_or_else(|| d.mac.clone())
        });
        let mut account: Option<Account> = None;
        let mut changed = false;
        for action in &actions.actions {
            match action {
                EventAction::Log { level, message } => {
                    let mac = device.map(|d| d.mac.as_str()).unwrap_or("-");
                    match level {
                        LogLevel::Error => error!(mac, "{message}"),
                        LogLevel::Warn => warn!(mac, "{message}"),
                        LogLevel::Info => info!(mac, "{message}"),
                        LogLevel::Debug => debug!(mac, "{message}"),
                        LogLevel::Trace => trace!(mac, "{message}"),
                    }
                    out.applied += 1;
                }
                EventAction::Publish { topic, payload } => {
                    let mut q = self.published.lock();
                    if q.len() >= PUBLISHED_KEPT {
                        q.pop_front();
                    }
                    q.push_back(Published {
                        topic: topic.clone(),
                        payload: payload.clone(),
                        mac: device.map(|d| d.mac.clone()),
                        at: now,
                    });
                    info!(topic = %topic, payload = %payload, "event published");
                    if let Some(bus) = self.bus.get() {
                        bus.publish(
                            format!("plugin.{topic}"),
                            device.map(|d| d.mac.as_str()),
                            serde_json::json!({ "payload": payload }),
                        );
                    }
                    out.applied += 1;
                }
                account_action => {
                    if !accounts_allowed {
                        out.skipped.push(format!(
                            "{account_action:?}: the event did not come from the device's own address nor a trusted source"
                        ));
                        continue;
                    }
                    let Some(id) = account_id.as_deref() else {
                        out.skipped
                            .push(format!("{account_action:?}: the event is about no device"));
                        continue;
                    };
                    if snap.accounts.contains_key(id) {
                        out.skipped.push(format!(
                            "{account_action:?}: account {id} is declared in the configuration file, which is authoritative; edit it there"
                        ));
                        continue;
                    }
                    let acc = account.get_or_insert_with(|| {
                        self.accounts.get(id).unwrap_or(Account {
                            id: id.to_string(),
                            domains: Vec::new(),
                            attributes: Default::default(),
                            created: now,
                            source: AccountSource::Operator,
                        })
                    });
                    match apply_account_action(snap, acc, account_action) {
                        Ok(()) => {
                            changed = true;
                            out.applied += 1;
                        }
                        Err(why) => out.skipped.push(why),
                    }
                }
            }
        }
        for s in &out.skipped {
            warn!(action = %s, "event action skipped");
        }
        if changed {
            if let Some(acc) = account {
                self.accounts.put(acc.clone());
                self.committer
                    .submit_nowait(vec![Mutation::PutAccount(acc.clone())]);
                info!(account = %acc.id, domains = ?acc.domains, "account changed by a management event");
                if let Some(bus) = self.bus.get() {
                    bus.publish(
                        "account.changed",
                        device.map(|d| d.mac.as_str()),
                        serde_json::json!({ "account": acc.id, "domains": acc.domains, "by": "mem-event" }),
                    );
                }
                out.account = Some(acc);
            }
        }
        out
    }

    /// The most recent published events, oldest first.
    pub fn published(&self) -> Vec<Published> {
        self.published.lock().iter().cloned().collect()
    }
}

fn apply_account_action(
    snap: &Snapshot,
    acc: &mut Account,
    action: &EventAction,
) -> Result<(), String> {
    let known = |d: &str| {
        let c = canonical_domain(d);
        if snap.has_domain(&c) {
            Ok(c)
        } else {
            Err(format!("{action:?}: domain {d:?} is not declared"))
        }
    };
    match action {
        EventAction::SetDomains(list) => {
            let mut v = Vec::new();
            for d in list {
                let c = known(d)?;
                if !v.contains(&c) {
                    v.push(c);
                }
            }
            acc.domains = v;
        }
        EventAction::AddDomain(d) => {
            let c = known(d)?;
            acc.domains.retain(|x| *x != c);
            acc.domains.insert(0, c);
        }
        EventAction::RemoveDomain(d) => {
            let c = canonical_domain(d);
            acc.domains.retain(|x| *x != c);
        }
        EventAction::SetAttribute { key, value } => {
            if key.is_empty() || key.len() > 64 || value.len() > 1024 {
                return Err(format!("{action:?}: attribute key or value too long"));
            }
            acc.attributes.insert(key.clone(), value.clone());
        }
        EventAction::RemoveAttribute(key) => {
            acc.attributes.remove(key);
        }
        EventAction::Publish { .. } | EventAction::Log { .. } => {}
    }
    Ok(())
}
