//! DHCPv6 Bulk Leasequery (RFC 5460) over TCP: a sans-IO state machine
//! per connection ([`BulkConnection`]) under a thin tokio shell
//! ([`serve`]).
//!
//! The stream is RFC 5460 §5.1's: each message after a 2-octet length.
//! Queries may be pipelined; they are answered one after the other, in
//! order, each by transaction id (§7.3): LEASEQUERY-REPLY with the first
//! client's data, one LEASEQUERY-DATA per further client (and link), then
//! LEASEQUERY-DONE; a query that finds nothing gets the LEASEQUERY-REPLY
//! alone, a failed one the LEASEQUERY-REPLY with its status. Queries by
//! relay id, link address and remote id walk the binding table in key
//! order, one slice per lock hold, and only as fast as the requestor reads:
//! the next slice is taken when the messages of the last one are written,
//! so a slow reader costs one slice of memory and the DHCPv6 packet path
//! never waits on a walk.
//!
//! Only `[dhcpv6] leasequery_requesters` may connect; others are closed at
//! accept and counted (`leasequery_refused`), as are connections over
//! `bulk_leasequery_max_connections` (`bulk_leasequery_busy`). A frame
//! that is not a LEASEQUERY, a LEASEQUERY without a Client Identifier,
//! or a length that cannot be one closes the connection and is counted
//! (`bulk_leasequery_malformed`); an idle connection is closed after
//! `bulk_leasequery_idle_timeout` (`bulk_leasequery_idle`).

use std::collections::VecDeque;
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use headend_model::v6::Dhcpv6Settings;
use headend_store::{Lease6Key, UnixTime};
use headend_wire::dhcpv6::code::Status;
use headend_wire::dhcpv6::leasequery::{frame, FrameReader, Leasequery, Query};
use headend_wire::dhcpv6::{EncodeError, Message, MessageType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::leasequery::{self as lq, ClientBindings, Found};
use super::leases::LeaseTable6;
use super::process::Dhcpv6;
use crate::counters::{Event, Family};

/// Largest LEASEQUERY accepted on a connection (a query is a few dozen
/// octets; this leaves room for ORO and vendor options, not for abuse).
pub const MAX_QUERY: usize = 4096;
/// Queries read ahead of the one being answered; past it the connection
/// is not read until one finishes (TCP's window holds the rest).
pub const MAX_PIPELINE: usize = 16;
/// Bindings examined per hold of the binding table lock during a walk.
pub const WALK_SLICE: usize = 512;

/// Why a connection is closed by the state machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BulkError {
    /// A length that cannot frame a query (0 or over [`MAX_QUERY`]).
    #[error("bad frame: {0}")]
    Frame(#[from] headend_wire::dhcpv6::leasequery::FrameError),
    /// A frame that is not a LEASEQUERY a reply can be addressed for.
    #[error("not an answerable LEASEQUERY: {0}")]
    NotQuery(String),
}

/// The query of a pending LEASEQUERY, owned (the walk outlives the frame).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    transaction_id: u32,
    client_id: Vec<u8>,
    /// The whole message, parsed again when its turn comes.
    message: Vec<u8>,
}

/// Where a query's answer stands.
#[derive(Debug)]
struct Stream {
    transaction_id: u32,
    message: Vec<u8>,
    relay_data: bool,
    /// Client data found and not yet sent.
    ready: VecDeque<ClientBindings>,
    /// The walk's cursor; `None` with `walking` = not started.
    cursor: Option<Lease6Key>,
    walking: bool,
    /// Whether the LEASEQUERY-REPLY went out.
    replied: bool,
}

/// What the state machine reads the bindings through.
pub trait Bindings {
    /// Now, by the server clock.
    fn now(&self) -> UnixTime;
    /// The running DHCPv6 settings.
    fn settings(&self) -> Option<Arc<headend_model::snapshot::Snapshot>>;
    /// Runs `f` with the binding table locked (briefly).
    fn with_table<R>(&self, f: impl FnOnce(&LeaseTable6) -> R) -> R;
    /// This server's DUID.
    fn server_duid(&self) -> Vec<u8>;
}

impl Bindings for Dhcpv6 {
    fn now(&self) -> UnixTime {
        Dhcpv6::now(self)
    }
    fn settings(&self) -> Option<Arc<headend_model::snapshot::Snapshot>> {
        Some(self.config.load_full())
    }
    fn with_table<R>(&self, f: impl FnOnce(&LeaseTable6) -> R) -> R {
        f(&self.leases.lock())
    }
    fn server_duid(&self) -> Vec<u8> {
        Dhcpv6::server_duid(self).to_vec()
    }
}

/// What [`BulkConnection::next_output`] gives the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A framed message to write.
    Frame(Vec<u8>),
    /// A walk slice was taken without a message yet: call again.
    Walking,
    /// Nothing to send until more queries arrive.
    Idle,
}

/// One Bulk Leasequery connection, without sockets: bytes in
/// ([`BulkConnection::received`]), framed messages out
/// ([`BulkConnection::next_output`]).
#[derive(Debug)]
pub struct BulkConnection {
    frames: FrameReader,
    pending: VecDeque<Pending>,
    current: Option<Stream>,
    /// Queries answered and client data sent, for the counters.
    pub answered: u64,
    /// Client data sent.
    pub clients: u64,
    /// The server DUID, read once.
    server_duid: Option<Arc<[u8]>>,
}

impl Default for BulkConnection {
    fn default() -> Self {
        Self::new()
    }
}

impl BulkConnection {
    /// A fresh connection.
    pub fn new() -> BulkConnection {
        BulkConnection {
            frames: FrameReader::new(MAX_QUERY),
            pending: VecDeque::new(),
            current: None,
            answered: 0,
            clients: 0,
            server_duid: None,
        }
    }

    /// Whether the shell should read more: fewer than [`MAX_PIPELINE`]
    /// queries waiting.
    pub fn wants_input(&self) -> bool {
        self.pending.len() < MAX_PIPELINE
    }

    /// Whether nothing is left to answer.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.current.is_none()
    }

    /// Takes received bytes; every whole frame must be a LEASEQUERY with a
    /// Client Identifier, else the connection must close.
    pub fn received(&mut self, data: &[u8]) -> Result<(), BulkError> {
        self.frames.push(data);
        while let Some(msg) = self.frames.next_message()? {
            let m = Message::parse(&msg).map_err(|e| BulkError::NotQuery(e.to_string()))?;
            let q = Leasequery::parse(&m).map_err(|e| BulkError::NotQuery(e.to_string()))?;
            let p = Pending {
                transaction_id: q.transaction_id,
                client_id: q.client_id.to_vec(),
                message: msg.clone(),
            };
            self.pending.push_back(p);
        }
        Ok(())
    }

    /// The next thing to do: a framed message to write, one more walk
    /// slice taken ([`Output::Walking`]: call again, after yielding), or
    /// nothing until more queries arrive. Takes at most one walk slice.
    pub fn next_output(&mut self, src: &impl Bindings) -> Output {
        if self.current.is_none() {
            let Some(p) = self.pending.pop_front() else {
                return Output::Idle;
            };
            return match self.start(p, src) {
                Ok(Some(out)) => Output::Frame(out),
                Ok(None) | Err(None) => Output::Walking,
                Err(Some(out)) => Output::Frame(out),
            };
        }
        let now = src.now();
        let server_duid = self
            .server_duid
            .get_or_insert_with(|| src.server_duid().into())
            .clone();
        let Some(s) = self.current.as_mut() else {
            return Output::Idle;
        };
        if s.ready.is_empty() && s.walking {
            let query = Message::parse(&s.message)
                .ok()
                .and_then(|m| Leasequery::parse(&m).ok())
                .and_then(|q| q.query.ok());
            match query {
                Some(query) => {
                    let cursor = s.cursor;
                    let (found, next) = src.with_table(|t| {
                        let mut found = Vec::new();
                        let next = t.scan(cursor, WALK_SLICE, |l| {
                            if let Some(c) = lq::client_if_first(t, &query, l, now) {
                                found.push(c);
                            }
                        });
                        (found, next)
                    });
                    s.ready.extend(found);
                    s.cursor = next;
                    s.walking = next.is_some();
                }
                None => s.walking = false,
            }
            if s.ready.is_empty() && s.walking {
                return Output::Walking;
            }
        }
        let out = if !s.replied {
            s.replied = true;
            let first = s.ready.pop_front();
            let msg = reply(
                MessageType::LeasequeryReply,
                s.transaction_id,
                &server_duid,
                &client_id_of(&s.message),
                first.as_ref(),
                None,
                now,
                s.relay_data,
            );
            if first.is_some() {
                self.clients += 1;
            } else {
                // Nothing found: the LEASEQUERY-REPLY alone (§7.3).
                self.current = None;
                self.answered += 1;
            }
            msg
        } else if let Some(c) = s.ready.pop_front() {
            self.clients += 1;
            reply(
                MessageType::LeasequeryData,
                s.transaction_id,
                &server_duid,
                &[],
                Some(&c),
                None,
                now,
                s.relay_data,
            )
        } else {
            let xid = s.transaction_id;
            self.current = None;
            self.answered += 1;
            reply(
                MessageType::LeasequeryDone,
                xid,
                &server_duid,
                &[],
                None,
                None,
                now,
                false,
            )
        };
        match out {
            Ok(f) => Output::Frame(f),
            Err(_) => {
                // An answer that cannot be encoded (a client data over
                // 64 KiB): end the query with QueryTerminated.
                let Some(xid) = self.current.take().map(|s| s.transaction_id) else {
                    return Output::Walking;
                };
                self.answered += 1;
                match reply(
                    MessageType::LeasequeryDone,
                    xid,
                    &server_duid,
                    &[],
                    None,
                    Some((Status::QueryTerminated, "answer too large")),
                    now,
                    false,
                ) {
                    Ok(f) => Output::Frame(f),
                    Err(_) => Output::Walking,
                }
            }
        }
    }

    /// Starts answering `p`: `Ok(Some)` the LEASEQUERY-REPLY of a query
    /// answered at once (by address or client id, or a failed one),
    /// `Ok(None)` a walk set up, `Err` a query whose answer could not be
    /// encoded.
    fn start(
        &mut self,
        p: Pending,
        src: &impl Bindings,
    ) -> Result<Option<Vec<u8>>, Option<Vec<u8>>> {
        let now = src.now();
        let server_duid = src.server_duid();
        let snap = src.settings();
        let d6 = snap.as_ref().and_then(|s| s.dhcpv6.as_ref());
        let parsed = Message::parse(&p.message)
            .ok()
            .and_then(|m| Leasequery::parse(&m).ok());
        let (query, relay_data) = match &parsed {
            Some(q) => (q.query.clone(), q.wants_relay_data()),
            None => return Err(None),
        };
        let result: Result<Found, (Status, &'static str)> = match (&query, d6) {
            (_, None) => Err((Status::NotConfigured, "DHCPv6 is not configured")),
            (Err(e), _) => Err((
                e.status().unwrap_or(Status::MalformedQuery),
                "malformed query",
            )),
            (Ok(q @ (Query::ByAddress { .. } | Query::ByClientId { .. })), Some(d6)) => {
                src.with_table(|t| lq::lookup(t, d6, q, now, true))
            }
            (Ok(q), Some(d6)) if !known_link(d6, q.link()) => {
                Err((Status::NotConfigured, "not a configured link"))
            }
            (Ok(_), Some(_)) => {
                self.current = Some(Stream {
                    transaction_id: p.transaction_id,
                    message: p.message,
                    relay_data,
                    ready: VecDeque::new(),
                    cursor: None,
                    walking: true,
                    replied: false,
                });
                return Ok(None);
            }
        };
        let clients = match result {
            Err(status) => {
                self.answered += 1;
                return reply(
                    MessageType::LeasequeryReply,
                    p.transaction_id,
                    &server_duid,
                    &p.client_id,
                    None,
                    Some(status),
                    now,
                    false,
                )
                .map(Some)
                .map_err(|_| None);
            }
            Ok(Found::Clients(c)) => c,
            Ok(Found::Links(_)) => Vec::new(),
        };
        let mut ready: VecDeque<ClientBindings> = clients.into();
        let first = ready.pop_front();
        let msg = reply(
            MessageType::LeasequeryReply,
            p.transaction_id,
            &server_duid,
            &p.client_id,
            first.as_ref(),
            None,
            now,
            relay_data,
        );
        if first.is_some() {
            self.clients += 1;
            self.current = Some(Stream {
                transaction_id: p.transaction_id,
                message: p.message,
                relay_data,
                ready,
                cursor: None,
                walking: false,
                replied: true,
            });
        } else {
            self.answered += 1;
        }
        msg.map(Some).map_err(|_| None)
    }
}

fn known_link(d6: &Dhcpv6Settings, link: Ipv6Addr) -> bool {
    link.is_unspecified() || d6.pools.iter().any(|p| p.links.contains(&link))
}

/// The requestor's Client Identifier of a stored query.
fn client_id_of(message: &[u8]) -> Vec<u8> {
    Message::parse(message)
        .ok()
        .and_then(|m| Leasequery::parse(&m).ok().map(|q| q.client_id.to_vec()))
        .unwrap_or_default()
}

/// One framed answer message: REPLY (with the identifiers), DATA or DONE,
/// with a client's data and/or a status.
#[allow(clippy::too_many_arguments)]
fn reply(
    mtype: MessageType,
    transaction_id: u32,
    server_duid: &[u8],
    client_id: &[u8],
    client: Option<&ClientBindings>,
    status: Option<(Status, &str)>,
    now: UnixTime,
    relay_data: bool,
) -> Result<Vec<u8>, EncodeError> {
    let mut b = lq::reply_head(mtype, transaction_id, server_duid, client_id)?;
    if let Some((s, m)) = status {
        b.status_code(s, m)?;
    }
    if let Some(c) = client {
        lq::client_data(&mut b, c, now, relay_data)?;
    }
    frame(&b.finish())
}

/// Opens a Bulk Leasequery listener (IPv6 only, address reuse so a
/// restart binds at once) from inside the runtime.
pub fn listen(addr: SocketAddr) -> Result<TcpListener, crate::udp::ListenError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let err = |source| crate::udp::ListenError::Bind { addr, source };
    let s =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(err)?;
    if addr.is_ipv6() {
        s.set_only_v6(true).map_err(err)?;
    }
    s.set_reuse_address(true).map_err(err)?;
    s.set_nonblocking(true).map_err(err)?;
    s.bind(&addr.into()).map_err(err)?;
    s.listen(64).map_err(err)?;
    TcpListener::from_std(s.into()).map_err(err)
}

/// Serves Bulk Leasequery on `listener` until `stop` turns true.
pub async fn serve(
    svc: Arc<Dhcpv6>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let (sock, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "bulk leasequery accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return Ok(()),
        };
        let snap = svc.config.load_full();
        let Some(d6) = snap.dhcpv6.as_ref() else {
            continue;
        };
        let ip = match peer {
            SocketAddr::V6(a) => *a.ip(),
            SocketAddr::V4(a) => a.ip().to_ipv6_mapped(),
        };
        if !lq::allowed(d6, &ip) {
            svc.counters
                .count_in(Family::Dhcpv6, Event::LeasequeryRefused);
            tracing::debug!(%peer, "bulk leasequery: not a leasequery requester");
            continue;
        }
        if open.load(Ordering::Relaxed) >= d6.bulk_leasequery_max_connections {
            svc.counters
                .silent_in(Family::Dhcpv6, "bulk_leasequery_busy");
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let idle = Duration::from_secs(u64::from(d6.bulk_leasequery_idle_timeout));
        let (svc, open, stop) = (svc.clone(), open.clone(), stop.clone());
        tokio::spawn(async move {
            connection(&svc, sock, idle, stop).await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Bulk Leasequery connections open now in this process, for the gauge.
pub static OPEN: AtomicUsize = AtomicUsize::new(0);

/// Runs one connection: writes what the state machine produces (each
/// write awaited: the walk goes as fast as the requestor reads), reads
/// when it wants input; closes on a malformed frame, idleness or stop.
async fn connection(
    svc: &Dhcpv6,
    mut sock: TcpStream,
    idle: Duration,
    mut stop: watch::Receiver<bool>,
) {
    OPEN.fetch_add(1, Ordering::Relaxed);
    let _ = sock.set_nodelay(true);
    let mut conn = BulkConnection::new();
    let mut buf = vec![0u8; 4096];
    let mut counted = (0u64, 0u64);
    loop {
        if *stop.borrow() {
            break;
        }
        match conn.next_output(svc) {
            Output::Frame(out) => {
                match tokio::time::timeout(idle, sock.write_all(&out)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break,
                    Err(_) => {
                        svc.counters
                            .silent_in(Family::Dhcpv6, "bulk_leasequery_idle");
                        break;
                    }
                }
                count(svc, &conn, &mut counted);
                continue;
            }
            Output::Walking => {
                // Let the runtime's other tasks run between slices.
                tokio::task::yield_now().await;
                continue;
            }
            Output::Idle => {}
        }
        let n = tokio::select! {
            r = tokio::time::timeout(idle, sock.read(&mut buf)) => match r {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => n,
                Err(_) => {
                    svc.counters.silent_in(Family::Dhcpv6, "bulk_leasequery_idle");
                    break;
                }
            },
            _ = stop.changed() => break,
        };
        if let Err(e) = conn.received(buf.get(..n).unwrap_or(&[])) {
            svc.counters
                .drop_in(Family::Dhcpv6, "bulk_leasequery_malformed");
            tracing::debug!(error = %e, "bulk leasequery connection closed");
            // Answer what was well formed before the bad frame, then close.
            loop {
                match conn.next_output(svc) {
                    Output::Frame(out) => {
                        if sock.write_all(&out).await.is_err() {
                            break;
                        }
                    }
                    Output::Walking => tokio::task::yield_now().await,
                    Output::Idle => break,
                }
            }
            count(svc, &conn, &mut counted);
            break;
        }
    }
    count(svc, &conn, &mut counted);
    let _ = sock.shutdown().await;
    OPEN.fetch_sub(1, Ordering::Relaxed);
}

/// Adds what `conn` answered since the last call to the counters.
fn count(svc: &Dhcpv6, conn: &BulkConnection, counted: &mut (u64, u64)) {
    for _ in counted.0..conn.answered {
        svc.counters.count_in(Family::Dhcpv6, Event::BulkLeasequery);
    }
    for _ in counted.1..conn.clients {
        svc.counters
            .count_in(Family::Dhcpv6, Event::BulkLeasequeryClient);
    }
    *counted = (conn.answered, conn.clients);
}
