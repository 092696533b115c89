//! The syslog receiver for PacketCable management events (seed 000 section
//! 6.1.6, interface pkt-eue-6; section 6.2.7 "Syslog Server"; step eUE-24:
//! the eUE syslogs its provisioning status to the server DHCP option 7 /
//! 17.34 named): RFC 3164 and RFC 5424 messages over UDP (RFC 5426) on
//! every `[syslog] listen` address, IPv4 and IPv6.
//!
//! The path of a datagram:
//!
//! 1. A receiving task per socket counts it (`syslog_events_total{event=received}`), drops what
//!    is over [`MAX_DATAGRAM`] (`syslog_dropped_total{reason=oversize}`) or over its
//!    source's rate ([`limit`]: a token bucket per source address in a
//!    bounded map; `syslog_dropped_total{reason=rate_limited}`), decodes it
//!    ([`headend_wire::syslog::decode`]; `syslog_dropped_total{reason=malformed}` when it is
//!    no syslog message) and queues it; a full queue drops it
//!    (`syslog_dropped_total{reason=queue_full}`). Nothing here blocks or allocates beyond
//!    the datagram, so a flood costs the receiving task and nothing else:
//!    the DHCP sockets have their own tasks.
//! 2. One handler thread takes the queue in order (plugin calls are
//!    synchronous wasm with a deadline, so they run off the async
//!    workers): it ties the message to a device — the MAC in the message
//!    (its account and the classification the DHCP servers remembered),
//!    else the source address through the device registry, as the config
//!    server resolves devices — hands a message with an event id to the
//!    `mem-event` plugin hook through [`crate::events::EventSink`], whose
//!    actions apply as for any management event, and records it in the
//!    device's provisioning timeline ([`crate::shared::timeline`]): an
//!    eUE's (PacketCable family) as step `eUE-24` (seed 000 Table 6, "eUE
//!    sends SYSLOG a notification of provisioning status"), any other
//!    device's as `syslog` (a cable modem's event log is no numbered step
//!    of Table 2); `failed` when the event's level is critical or major,
//!    `ok` otherwise, with the level, enterprise/id, text, sender, how it
//!    was tied and what the hook did as the detail. Messages without an
//!    event id are counted (`syslog_events_total{event=no_event_id}`) and logged at debug, not
//!    handed to the hook (whose rules key on event ids) nor put in the
//!    timeline (they are no management event); messages tied to no device
//!    are counted (`syslog_events_total{event=unresolved}`) and still handed to the hook, which
//!    sees the source address.
//!
//! Syslog over UDP is unauthenticated: whoever reaches the port can name
//! any MAC. `[syslog] accept_message_mac = false` makes only the sender's
//! own lease tie a message to a device (a MAC naming another device is then
//! ignored), for sites where untrusted hosts can reach the receiver; the
//! default believes the MAC, because a CMTS reports events about its modems
//! from its own address.
//!
//! The MEM message layout itself is UNCONFIRMED (protocol notes 12.4); what
//! is accepted is documented in [`headend_wire::syslog`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use headend_abi::{EventLevel, EventTransport, MemEvent, Protocol};
use headend_model::snapshot::Snapshot;
use headend_wire::syslog::{decode, mac_string, Level, MemMessage, MAX_DATAGRAM};
use parking_lot::Mutex;
use std::fmt::Write as _;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info};

use crate::accounts::AccountTable;
use crate::component::{Component, ServerError, StartContext, Started};
use crate::counters::{Counters, Event, Family};
use crate::events::{EventError, EventSink};
use crate::shared::timeline::{Outcome, Role, Step, Timeline};
use crate::shared::{Clock, ConfigSwap, DeviceContext, DeviceResolver, Devices, Shared};

pub use crate::shared::limit::RateLimiter;

/// Bytes of the event text passed on (PKTC-EVENT-MIB text is at most 127;
/// a longer one is cut, not dropped).
pub const TEXT_KEPT: usize = 512;

/// `s` cut to at most `max` bytes on a character boundary.
fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_string()
}

/// The PKTC-EVENT-MIB level as the plugin ABI spells it.
pub fn abi_level(l: Level) -> EventLevel {
    match l {
        Level::Critical => EventLevel::Critical,
        Level::Major => EventLevel::Major,
        Level::Minor => EventLevel::Minor,
        Level::Warning => EventLevel::Warning,
        Level::Information => EventLevel::Information,
    }
}

/// The year of a Unix time (RFC 3164 timestamps carry none).
fn year_of(unix: u64) -> i32 {
    // Civil-from-days (H. Hinnant), enough for a year.
    let days = i64::try_from(unix / 86_400).unwrap_or(0);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    i32::try_from(year).unwrap_or(1970)
}

/// A decoded message waiting for the handler.
#[derive(Debug)]
pub struct Inbound {
    /// The message.
    pub msg: MemMessage,
    /// Its sender.
    pub source: SocketAddr,
    /// When it arrived (Unix seconds, server clock).
    pub at: u64,
}

/// How a message was tied to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tie {
    /// The message's MAC, which is also the source address's lease holder.
    MacAndLease,
    /// The message's MAC (the source address is not its lease).
    Mac,
    /// The source address's lease (no MAC in the message).
    Lease,
}

impl Tie {
    fn describe(self) -> &'static str {
        match self {
            Tie::MacAndLease => "by its MAC and lease",
            Tie::Mac => "by the MAC in the message",
            Tie::Lease => "by the sender's lease",
        }
    }
}

/// What handling one message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// The device MAC and how it was found, when one was.
    pub device: Option<(String, Tie)>,
    /// The hook's result: actions applied, or why none (`None` when the message had no event id).
    pub hook: Option<Result<usize, EventError>>,
}

/// The syslog management-event receiver.
pub struct Syslog {
    config: ConfigSwap,
    devices: Arc<Devices>,
    accounts: Arc<AccountTable>,
    events: Arc<EventSink>,
    counters: Arc<Counters>,
    clock: Clock,
    limiter: Mutex<RateLimiter>,
    timeline: Arc<Timeline>,
}

impl std::fmt::Debug for Syslog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syslog").finish_non_exhaustive()
    }
}

impl Syslog {
    /// The receiver over the shared state (limits from the running snapshot).
    pub fn open(shared: &Shared) -> Arc<Syslog> {
        let snap = shared.config.load();
        let s = snap.syslog.as_ref();
        Arc::new(Syslog {
            config: shared.config.clone(),
            devices: shared.devices.clone(),
            accounts: shared.accounts.clone(),
            events: shared.events.clone(),
            counters: shared.counters.clone(),
            clock: shared.clock.clone(),
            limiter: Mutex::new(RateLimiter::new(
                s.map_or(20, |s| s.rate_per_source),
                s.map_or(50, |s| s.burst_per_source),
                s.map_or(65_536, |s| s.max_sources),
                Instant::now(),
            )),
            timeline: shared.timeline.clone(),
        })
    }

    /// Admission of one datagram (sans-IO: the caller passes the time):
    /// size, the source's rate, decoding. `None` when dropped (counted).
    pub fn admit(&self, data: &[u8], source: SocketAddr, now: Instant) -> Option<Inbound> {
        self.counters.count_in(Family::Syslog, Event::Received);
        if data.len() > MAX_DATAGRAM {
            self.counters.drop_in(Family::Syslog, "oversize");
            return None;
        }
        if !self.limiter.lock().allow(source.ip(), now) {
            self.counters.drop_in(Family::Syslog, "rate_limited");
            return None;
        }
        let at = (self.clock)();
        match decode(data, year_of(at)) {
            Ok(msg) => Some(Inbound { msg, source, at }),
            Err(e) => {
                debug!(%source, error = %e, "syslog: datagram dropped");
                self.counters.drop_in(Family::Syslog, "malformed");
                None
            }
        }
    }

    /// The device a message is about: its MAC first (unless
    /// `accept_message_mac` is off), else its source address.
    fn device(
        &self,
        snap: &Snapshot,
        msg: &MemMessage,
        source: IpAddr,
    ) -> Option<(DeviceContext, Tie)> {
        let by_address = self.devices.resolve(source);
        let Some(mac) = msg.mac.as_ref().map(mac_string) else {
            return by_address.map(|dc| (dc, Tie::Lease));
        };
        if by_address
            .as_ref()
            .is_some_and(|dc| dc.device.mac.eq_ignore_ascii_case(&mac))
        {
            return by_address.map(|dc| (dc, Tie::MacAndLease));
        }
        if !snap.syslog.as_ref().is_none_or(|s| s.accept_message_mac) {
            // Only the sender's own lease counts: a MAC naming another
            // device is not believed.
            return by_address.map(|dc| (dc, Tie::Lease));
        }
        let account = self.accounts.lookup(snap, &mac);
        let info = self.devices.memo.get(&mac);
        let dc = DeviceContext::from_parts(
            Protocol::Lease,
            &mac,
            account.as_ref(),
            info.as_deref(),
            None,
        );
        Some((dc, Tie::Mac))
    }

    /// Ties a queued message to its device, records it and hands it to the
    /// mem-event hook.
    pub fn handle(&self, inbound: Inbound) -> Handled {
        let Inbound { msg, source, at } = inbound;
        let snap = self.config.load_full();
        let device = self.device(&snap, &msg, source.ip());
        let mac = device.as_ref().map(|(dc, _)| dc.device.mac.clone());
        let span = tracing::info_span!(
            "syslog",
            mac = mac.as_deref().unwrap_or("-"),
            %source,
            id = msg.event_id
        );
        let _g = span.enter();
        if device.is_none() {
            self.counters.count_in(Family::Syslog, Event::Unresolved);
        }
        let hook = msg.event_id.map(|event_id| {
            self.counters.count_in(Family::Syslog, Event::MemEvent);
            let event = MemEvent {
                device: device.as_ref().map(|(dc, _)| dc.device.clone()),
                source: Some(source.ip()),
                transport: EventTransport::Syslog,
                level: abi_level(msg.level),
                enterprise: msg.enterprise.unwrap_or(0),
                event_id,
                text: cut(&msg.text, TEXT_KEPT),
                endpoint: msg.endpoint.clone(),
                received_unix_ms: i64::try_from(at.saturating_mul(1000)).unwrap_or(i64::MAX),
            };
            // Account actions only from the device's own lease, or from a
            // trusted sender (a CMTS): a MAC in a syslog line proves nothing.
            let trusted = snap.syslog.as_ref().is_some_and(|s| {
                s.trusted_sources.iter().any(|n| {
                    n.contains(&crate::shared::v4_of(source.ip()).map_or(source.ip(), IpAddr::V4))
                })
            });
            let own = device
                .as_ref()
                .is_some_and(|(_, tie)| !matches!(tie, Tie::Mac));
            self.events
                .handle(&snap, &event, at, own || trusted)
                .map(|o| o.applied)
        });
        if hook.is_none() {
            self.counters.count_in(Family::Syslog, Event::NoEventId);
        }
        let outcome = match &hook {
            None => "no event id".to_string(),
            Some(Ok(n)) => format!("{n} action(s) applied"),
            Some(Err(e)) => e.to_string(),
        };
        if msg.event_id.is_some() {
            info!(level = msg.level.name(), text = %msg.text, outcome = %outcome, "syslog management event");
        } else {
            debug!(text = %msg.text, "syslog line without an event id");
        }
        if let (Some((dc, tie)), Some(id)) = (&device, msg.event_id) {
            let step = match Role::of_family(&dc.device.family) {
                Role::Eue => Step::Eue(24),
                _ => Step::Other("syslog"),
            };
            let result = match msg.level {
                Level::Critical | Level::Major => Outcome::Failed,
                _ => Outcome::Ok,
            };
            let mut detail = format!(
                "syslog {} {}/{id} {:?} from {source}, tied {}",
                msg.level.name(),
                msg.enterprise.unwrap_or(0),
                cut(&msg.text, 200),
                tie.describe()
            );
            let _ = write!(detail, "; mem-event: {outcome}");
            self.timeline.record(&dc.device.mac, step, result, detail);
        }
        Handled {
            device: device.map(|(dc, tie)| (dc.device.mac, tie)),
            hook,
        }
    }

    /// Receives on `sock` until `stop`, queueing what is admitted.
    async fn receive(
        self: Arc<Self>,
        sock: UdpSocket,
        queue: mpsc::Sender<Inbound>,
        mut stop: watch::Receiver<bool>,
    ) {
        // A full-size UDP datagram: anything longer than MAX_DATAGRAM is seen
        // whole and counted as oversize rather than silently truncated.
        let mut buf = vec![0u8; 65_536];
        loop {
            tokio::select! {
                r = sock.recv_from(&mut buf) => match r {
                    Ok((n, source)) => {
                        let Some(inbound) = self.admit(buf.get(..n).unwrap_or_default(), source, Instant::now()) else {
                            continue;
                        };
                        if queue.try_send(inbound).is_err() {
                            self.counters.drop_in(Family::Syslog, "queue_full");
                        }
                    }
                    Err(e) => {
                        debug!(error = %e, "syslog: receive failed");
                        self.counters.drop_in(Family::Syslog, "receive_failed");
                    }
                },
                _ = stop.changed() => break,
            }
        }
    }
}

/// The receive buffer asked for each syslog socket.
const RECEIVE_BUFFER: usize = 4 << 20;

/// A non-blocking UDP socket on `addr`; an IPv6 one takes IPv6 only, so
/// `"0.0.0.0:514"` and `"[::]:514"` can both be listed.
fn bind(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_nonblocking(true)?;
    // Room for a burst while the receiving task is busy (best effort: the
    // kernel caps it at net.core.rmem_max), so the kernel drops less of a
    // well-behaved sender's traffic during another sender's flood.
    let _ = sock.set_recv_buffer_size(RECEIVE_BUFFER);
    sock.bind(&addr.into())?;
    Ok(sock.into())
}

impl Component for Syslog {
    fn name(&self) -> &'static str {
        "syslog"
    }

    fn start(self: Arc<Self>, snap: &Snapshot, ctx: &StartContext) -> Result<Started, ServerError> {
        let mut started = Started::default();
        let Some(s) = &snap.syslog else {
            return Ok(started);
        };
        let (tx, mut rx) = mpsc::channel::<Inbound>(s.queue.max(1));
        for addr in &s.listen {
            let sock = UdpSocket::from_std(bind(*addr)?)?;
            started.bound.push(sock.local_addr()?);
            let task = self.clone().receive(sock, tx.clone(), ctx.stop.clone());
            started.tasks.push(tokio::spawn(async move {
                task.await;
                Ok(())
            }));
        }
        drop(tx);
        // The handler ends when every receiving task has ended (their
        // senders dropped) and the queue is drained.
        let me = self.clone();
        started.tasks.push(tokio::task::spawn_blocking(move || {
            while let Some(inbound) = rx.blocking_recv() {
                me.handle(inbound);
            }
            Ok(())
        }));
        Ok(started)
    }

    fn restart_needed(&self, old: &Snapshot, new: &Snapshot) -> Vec<String> {
        headend_model::syslog::restart_change(old.syslog.as_ref(), new.syslog.as_ref())
            .into_iter()
            .collect()
    }

    fn apply(&self, now: &Arc<Snapshot>) {
        if let Some(s) = &now.syslog {
            self.limiter.lock().set_limits(
                f64::from(s.rate_per_source),
                s.burst_per_source,
                s.max_sources,
            );
        }
    }

    fn metrics(&self, m: &mut crate::metrics::Metrics) {
        m.gauge(
            "syslog_sources_tracked",
            &[],
            self.limiter.lock().sources() as u64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_of_unix_times() {
        assert_eq!(year_of(0), 1970);
        assert_eq!(year_of(1_700_000_000), 2023);
        assert_eq!(year_of(1_704_067_199), 2023, "2023-12-31 23:59:59");
        assert_eq!(year_of(1_704_067_200), 2024, "2024-01-01 00:00:00");
        assert_eq!(year_of(951_782_400), 2000, "2000-02-29");
    }
}
