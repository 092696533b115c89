//! DHCPv4 Bulk Leasequery (RFC 6926), one TCP connection as a sans-IO state
//! machine: octets in ([`Connection::receive`]) become framed
//! DHCPBULKLEASEQUERYs; each is answered in turn by walking the lease table
//! ([`Connection::step`]) into framed DHCPLEASEACTIVE / DHCPLEASEUNASSIGNED
//! messages, one per binding, and a DHCPLEASEQUERYDONE; octets out
//! ([`Connection::output`]) go to the socket as fast as the requester
//! reads them. The tokio shell is [`super::bulk_tcp`].
//!
//! Why a walk and not a list: a query for every binding of 1,000,000 leases
//! must neither hold the lease lock (DORA waits on it) nor buffer the table
//! for a slow reader. The walk keeps a slot cursor into the lease table —
//! whose records are replaced in place, never removed, so each address is
//! seen at most once — and takes the lock for one slice of
//! [`SCAN_SLICE`] records at a time; it stops as soon as the output holds
//! [`Limits::high_water`] octets and resumes when the requester has read
//! them (TCP backpressure).
//!
//! Pipelined queries wait in order, at most [`Limits::max_queries`] of them;
//! a further one, or one reusing the xid of a query under way, is answered
//! at once with a DHCPLEASEQUERYDONE carrying a status-code, as is a
//! malformed query (MalformedQuery). A frame that is no DHCPv4 message, or
//! a message other than DHCPBULKLEASEQUERY, closes the connection (RFC
//! 6926: the stream can no longer be trusted). Every answer carries the
//! query's xid. Bindings answer with the same fields as RFC 4388's
//! DHCPLEASEACTIVE ([`super::leasequery`]) plus base-time, start-time-of-state
//! and dhcp-state.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use headend_store::{ClientKey, Lease4, LeaseState, UnixTime};
use headend_wire::dhcpv4::bulk::{
    self as wire, BulkQuery, BulkQueryError, BulkRequest, DhcpState, FrameReader, Status,
};
use headend_wire::dhcpv4::{code, Builder, MessageType, Packet};
use headend_wire::relay::sub;
use parking_lot::Mutex;

use super::leasequery::{client_fields, lease_times, relay_option, relay_sub_option, SCAN_SLICE};
use crate::leases::LeaseTable;

/// Encode limit of one message: the size prefix allows 65,535 octets; the
/// builder takes an IP datagram size and keeps 28 octets for IP and UDP.
const MAX_ENCODE: usize = 65_535 + 28;

/// A connection's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Queries waiting (pipelined) at most, the one under way included.
    pub max_queries: usize,
    /// Output octets held at most before the walk pauses.
    pub high_water: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_queries: 16,
            high_water: 256 * 1024,
        }
    }
}

/// The lease table as a connection walks it.
pub trait LeaseWalk {
    /// Calls `f` on the records from slot `from` on, at most `max` of them,
    /// until `f` returns `false`; returns the slot to continue from (`None`
    /// past the last).
    fn walk(&self, from: usize, max: usize, f: &mut dyn FnMut(&Lease4) -> bool) -> Option<usize>;
    /// Calls `f` on every record of the client.
    fn client(&self, key: &ClientKey, f: &mut dyn FnMut(&Lease4));
}

impl LeaseWalk for Mutex<LeaseTable> {
    fn walk(&self, from: usize, max: usize, f: &mut dyn FnMut(&Lease4) -> bool) -> Option<usize> {
        // One lock hold per slice: DORA waits at most one slice.
        let table = self.lock();
        let mut at = from;
        let mut stop = None;
        let next = table.scan(from, max, |l| {
            if stop.is_none() {
                at += 1;
                if !f(l) {
                    stop = Some(at);
                }
            }
        });
        stop.or(next)
    }

    fn client(&self, key: &ClientKey, f: &mut dyn FnMut(&Lease4)) {
        for l in self.lock().leases_of(key) {
            f(l);
        }
    }
}

/// What a connection did, for the counters; the shell drains it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// DHCPBULKLEASEQUERYs accepted.
    pub queries: u64,
    /// Bindings sent (DHCPLEASEACTIVE / DHCPLEASEUNASSIGNED).
    pub answers: u64,
    /// DHCPLEASEQUERYDONEs sent.
    pub done: u64,
    /// Drop reasons, one per malformed or refused message.
    pub drops: Vec<&'static str>,
}

/// A query under way: its cursor in the lease table.
struct Walk {
    req: BulkRequest,
    giaddr: Ipv4Addr,
    /// Next slot of the table walk (`None`: done).
    next: Option<usize>,
    /// The server's clock when the query began: base-time of every answer.
    base: UnixTime,
    /// A query by client id reads the client index at once (a client has
    /// few records); these are still to send.
    client: Option<VecDeque<Lease4>>,
}

/// One bulk leasequery connection.
pub struct Connection {
    reader: FrameReader,
    queue: VecDeque<(BulkRequest, Ipv4Addr)>,
    walk: Option<Walk>,
    out: Vec<u8>,
    sent: usize,
    limits: Limits,
    server_id: Ipv4Addr,
    closed: bool,
    eof: bool,
    builder: Builder,
    scratch: Vec<u8>,
    tally: Tally,
}

impl Connection {
    /// A new connection answering as `server_id` (option 54).
    pub fn new(server_id: Ipv4Addr, limits: Limits) -> Connection {
        Connection {
            reader: FrameReader::new(),
            queue: VecDeque::new(),
            walk: None,
            out: Vec::with_capacity(limits.high_water.min(1 << 20) + 4096),
            sent: 0,
            limits,
            server_id,
            closed: false,
            eof: false,
            builder: Builder::new(),
            scratch: Vec::with_capacity(1500),
            tally: Tally::default(),
        }
    }

    /// Octets the shell may read from the socket now: 0 while the output
    /// is over the high-water mark (a requester that does not read its
    /// answers gets no new ones), after end of stream or once closed.
    pub fn wants(&self) -> usize {
        if self.closed || self.eof || self.pending_out() >= self.limits.high_water {
            0
        } else {
            self.reader.wants()
        }
    }

    /// Takes octets read from the socket (at most [`Connection::wants`]).
    pub fn receive(&mut self, data: &[u8]) {
        if self.closed {
            return;
        }
        self.reader.push(data);
        loop {
            let msg = match self.reader.next_frame() {
                Ok(Some(m)) => m.to_vec(),
                Ok(None) => break,
                Err(e) => {
                    self.close(e.reason());
                    break;
                }
            };
            self.message(&msg);
            if self.closed {
                break;
            }
        }
    }

    /// The requester closed its side: queries already received are still
    /// answered; a message cut short is counted.
    pub fn end_of_stream(&mut self) {
        self.eof = true;
        if self.reader.pending() > 0 {
            self.tally.drops.push("bulk_leasequery_bad_frame");
        }
    }

    /// Whether [`Connection::step`] has something to do now.
    pub fn has_work(&self) -> bool {
        !self.closed
            && (self.walk.is_some() || !self.queue.is_empty())
            && self.pending_out() < self.limits.high_water
    }

    /// Whether the connection is over: closed, or the requester is gone
    /// and everything asked has been answered and written.
    pub fn finished(&self) -> bool {
        self.closed
            || (self.eof && self.walk.is_none() && self.queue.is_empty() && self.pending_out() == 0)
    }

    /// Whether the connection was closed for a bad frame or message.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Octets to write to the socket.
    pub fn output(&self) -> &[u8] {
        self.out.get(self.sent..).unwrap_or(&[])
    }

    /// `n` octets of [`Connection::output`] were written.
    pub fn consumed(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.out.len());
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
        } else if self.sent >= self.limits.high_water / 2 {
            // Keep the buffer from growing by what was already written.
            self.out.drain(..self.sent);
            self.sent = 0;
        }
    }

    /// What the connection did since the last call.
    pub fn take_tally(&mut self) -> Tally {
        std::mem::take(&mut self.tally)
    }

    /// Advances the query under way by one slice of the lease table (or
    /// starts the next one), stopping early at the high-water mark.
    pub fn step(&mut self, leases: &(impl LeaseWalk + ?Sized), now: UnixTime) {
        if !self.has_work() {
            return;
        }
        let walk = match &mut self.walk {
            Some(w) => w,
            None => {
                let Some((req, giaddr)) = self.queue.pop_front() else {
                    return;
                };
                let client = match &req.query {
                    BulkQuery::ByClientId(id) => {
                        let mut v = VecDeque::new();
                        leases.client(&ClientKey(id.clone()), &mut |l| v.push_back(l.clone()));
                        Some(v)
                    }
                    _ => None,
                };
                self.walk.insert(Walk {
                    next: client.is_none().then_some(0),
                    req,
                    giaddr,
                    base: now,
                    client,
                })
            }
        };
        let Connection {
            out,
            builder,
            scratch,
            tally,
            limits,
            server_id,
            ..
        } = self;
        let mut emit = |l: &Lease4| -> bool {
            if selected(&walk.req, l, now) {
                let a = Answer {
                    xid: walk.req.xid,
                    giaddr: walk.giaddr,
                    server_id: *server_id,
                    base: walk.base,
                    now,
                };
                if binding(builder, scratch, out, &a, l) {
                    tally.answers += 1;
                }
            }
            out.len() < limits.high_water
        };
        if let Some(client) = &mut walk.client {
            while let Some(l) = client.pop_front() {
                if !emit(&l) {
                    break;
                }
            }
            if client.is_empty() {
                walk.next = None;
                walk.client = None;
            } else {
                return;
            }
        } else if let Some(from) = walk.next {
            walk.next = leases.walk(from, SCAN_SLICE, &mut emit);
        }
        if walk.next.is_none() && walk.client.is_none() {
            let (xid, giaddr) = (walk.req.xid, walk.giaddr);
            self.walk = None;
            self.done(xid, giaddr, None);
        }
    }

    fn pending_out(&self) -> usize {
        self.out.len() - self.sent
    }

    fn close(&mut self, reason: &'static str) {
        self.tally.drops.push(reason);
        self.closed = true;
        self.queue.clear();
        self.walk = None;
    }

    /// One framed message from the requester.
    fn message(&mut self, msg: &[u8]) {
        let Ok(pkt) = Packet::parse(msg) else {
            self.close("bulk_leasequery_malformed");
            return;
        };
        let req = match BulkRequest::of(&pkt) {
            Ok(r) => r,
            Err(e @ BulkQueryError::NotBulkQuery) => {
                self.close(e.reason());
                return;
            }
            Err(e) => {
                self.tally.drops.push(e.reason());
                self.done(pkt.xid, pkt.giaddr, Some((e.status(), &e.to_string())));
                return;
            }
        };
        let in_use = self.walk.as_ref().map(|w| w.req.xid) == Some(req.xid)
            || self.queue.iter().any(|(q, _)| q.xid == req.xid);
        let waiting = self.queue.len() + usize::from(self.walk.is_some());
        if in_use {
            self.tally.drops.push("bulk_leasequery_malformed");
            self.done(
                req.xid,
                pkt.giaddr,
                Some((
                    Status::MalformedQuery,
                    "xid of a query under way on this connection",
                )),
            );
        } else if waiting >= self.limits.max_queries {
            self.tally.drops.push("bulk_leasequery_too_many");
            self.done(
                req.xid,
                pkt.giaddr,
                Some((
                    Status::QueryTerminated,
                    "too many queries waiting on this connection",
                )),
            );
        } else {
            self.tally.queries += 1;
            self.queue.push_back((req, pkt.giaddr));
        }
    }

    /// DHCPLEASEQUERYDONE: the end of a query's answers, with a
    /// status-code when it failed.
    fn done(&mut self, xid: u32, giaddr: Ipv4Addr, failure: Option<(Status, &str)>) {
        let b = &mut self.builder;
        reset(b, xid, giaddr);
        b.htype = 0;
        b.hlen = 0;
        b.push_option(code::MESSAGE_TYPE, &[u8::from(MessageType::LeaseQueryDone)]);
        b.push_option(code::SERVER_ID, &self.server_id.octets());
        if let Some((status, text)) = failure {
            b.push_option(code::STATUS_CODE, &wire::encode_status(status, text));
        }
        if b.encode_into(MAX_ENCODE, &mut self.scratch).is_ok()
            && wire::frame(&self.scratch, &mut self.out).is_ok()
        {
            self.tally.done += 1;
        }
    }
}

/// What every answer of a query shares.
struct Answer {
    xid: u32,
    giaddr: Ipv4Addr,
    server_id: Ipv4Addr,
    base: UnixTime,
    now: UnixTime,
}

/// Clears the reused builder for a new message.
fn reset(b: &mut Builder, xid: u32, giaddr: Ipv4Addr) {
    b.clear_options();
    b.htype = 1;
    b.hlen = 6;
    b.hops = 0;
    b.xid = xid;
    b.secs = 0;
    b.flags = 0;
    b.ciaddr = Ipv4Addr::UNSPECIFIED;
    b.yiaddr = Ipv4Addr::UNSPECIFIED;
    b.siaddr = Ipv4Addr::UNSPECIFIED;
    b.giaddr = giaddr;
    b.chaddr = [0; 16];
}

/// The binding's state in RFC 6926 terms and when it began.
pub fn state_of(l: &Lease4, now: UnixTime) -> (DhcpState, UnixTime) {
    match l.state {
        LeaseState::Active if l.is_current(now) => (DhcpState::Active, l.commit_time),
        LeaseState::Active => (DhcpState::Expired, l.expires_at().unwrap_or(l.commit_time)),
        LeaseState::Released => (DhcpState::Released, l.commit_time),
        // A declined address is unusable while quarantined: ABANDONED.
        LeaseState::Declined => (DhcpState::Abandoned, l.commit_time),
    }
}

/// Whether the query asks for `l`: its primary key, and the time window
/// around the start of its state.
fn selected(req: &BulkRequest, l: &Lease4, now: UnixTime) -> bool {
    let keyed = match &req.query {
        BulkQuery::All => true,
        BulkQuery::ByMac { hwaddr, .. } => l.hwaddr == *hwaddr,
        BulkQuery::ByClientId(id) => l.client.0 == *id,
        BulkQuery::ByRelayId(id) => relay_sub_option(l, sub::RELAY_ID) == Some(id.as_slice()),
        BulkQuery::ByRemoteId(id) => relay_sub_option(l, sub::REMOTE_ID) == Some(id.as_slice()),
    };
    if !keyed {
        return false;
    }
    if req.start.is_none() && req.end.is_none() {
        return true;
    }
    let (_, since) = state_of(l, now);
    req.start.is_none_or(|s| since >= u64::from(s)) && req.end.is_none_or(|e| since <= u64::from(e))
}

/// Appends one framed DHCPLEASEACTIVE (an active binding) or
/// DHCPLEASEUNASSIGNED (any other state) for `l`.
fn binding(
    b: &mut Builder,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
    a: &Answer,
    l: &Lease4,
) -> bool {
    let (state, since) = state_of(l, a.now);
    reset(b, a.xid, a.giaddr);
    let mtype = if state == DhcpState::Active {
        MessageType::LeaseActive
    } else {
        MessageType::LeaseUnassigned
    };
    b.push_option(code::MESSAGE_TYPE, &[u8::from(mtype)]);
    b.push_option(code::SERVER_ID, &a.server_id.octets());
    client_fields(b, l);
    if state == DhcpState::Active {
        lease_times(b, l, a.now);
    } else {
        let since_txn = u32::try_from(a.now.saturating_sub(l.commit_time)).unwrap_or(u32::MAX);
        b.push_option(code::CLIENT_LAST_TRANSACTION_TIME, &since_txn.to_be_bytes());
    }
    let base = u32::try_from(a.base).unwrap_or(u32::MAX);
    b.push_option(code::BASE_TIME, &base.to_be_bytes());
    let ago = u32::try_from(a.base.saturating_sub(since)).unwrap_or(u32::MAX);
    b.push_option(code::START_TIME_OF_STATE, &ago.to_be_bytes());
    b.push_option(code::DHCP_STATE, &[u8::from(state)]);
    relay_option(b, l);
    b.encode_into(MAX_ENCODE, scratch).is_ok() && wire::frame(scratch, out).is_ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use headend_store::{LeaseProtocol, TrustedIdType};

    /// A lease table as a plain list, walked like the real one.
    struct List(Vec<Lease4>);

    impl LeaseWalk for List {
        fn walk(
            &self,
            from: usize,
            max: usize,
            f: &mut dyn FnMut(&Lease4) -> bool,
        ) -> Option<usize> {
            let end = from.saturating_add(max).min(self.0.len());
            for (i, l) in self.0.get(from..end).unwrap_or(&[]).iter().enumerate() {
                if !f(l) {
                    return Some(from + i + 1);
                }
            }
            (end < self.0.len()).then_some(end)
        }
        fn client(&self, key: &ClientKey, f: &mut dyn FnMut(&Lease4)) {
            self.0.iter().filter(|l| l.client == *key).for_each(f);
        }
    }

    const NOW: UnixTime = 1_700_000_000;
    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    fn lease(i: u32, relay_id: &[u8], remote: [u8; 6]) -> Lease4 {
        let mac = [0x3c, 0, 0, 0, (i >> 8) as u8, i as u8];
        let mut rai = vec![1, 3, b'c', b'm', b'0', 2, 6];
        rai.extend_from_slice(&remote);
        rai.extend_from_slice(&[12, relay_id.len() as u8]);
        rai.extend_from_slice(relay_id);
        Lease4 {
            ip: Ipv4Addr::from(0x0a01_0000 + i),
            client: ClientKey::from_hardware(1, &mac),
            hwaddr: mac.to_vec(),
            state: LeaseState::Active,
            commit_time: NOW - 100,
            lifetime: 3600,
            relay: Ipv4Addr::new(10, 0, 0, 2),
            protocol: LeaseProtocol::Dhcp,
            pool: "p".into(),
            trusted_id: Some(remote.to_vec()),
            trusted_id_type: Some(TrustedIdType::RemoteId),
            hostname: None,
            relay_info: Some(rai),
        }
    }

    fn table(n: u32) -> List {
        List(
            (0..n)
                .map(|i| {
                    let relay = if i % 2 == 0 {
                        &b"cmts-a"[..]
                    } else {
                        b"cmts-b"
                    };
                    let mut l = lease(i, relay, [0, 0x10, 0x95, 0, 0, (i % 4) as u8]);
                    if i % 5 == 4 {
                        l.state = LeaseState::Released;
                    }
                    l
                })
                .collect(),
        )
    }

    /// A DHCPBULKLEASEQUERY, framed.
    fn query(xid: u32, chaddr: &[u8], options: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut b = Builder::new();
        b.op = 1;
        b.xid = xid;
        b.htype = u8::from(!chaddr.is_empty());
        b.hlen = chaddr.len() as u8;
        b.chaddr[..chaddr.len()].copy_from_slice(chaddr);
        b.push_option(code::MESSAGE_TYPE, &[14]);
        for (c, v) in options {
            b.push_option(*c, v);
        }
        let mut out = Vec::new();
        wire::frame(&b.encode(1500).unwrap(), &mut out).unwrap();
        out
    }

    /// Runs the connection to quiescence, reading its output in pieces
    /// of `read` octets; the messages it sent, parsed.
    fn run(conn: &mut Connection, leases: &List, read: usize) -> Vec<Vec<u8>> {
        let mut stream = Vec::new();
        for _ in 0..1_000_000 {
            if conn.has_work() {
                conn.step(leases, NOW);
                assert!(
                    conn.output().len() <= conn.limits.high_water + 1500,
                    "output bounded"
                );
            }
            let n = conn.output().len().min(read);
            if n == 0 && !conn.has_work() {
                break;
            }
            stream.extend_from_slice(&conn.output()[..n]);
            conn.consumed(n);
        }
        let mut r = FrameReader::new();
        r.push(&stream);
        let mut msgs = Vec::new();
        while let Some(m) = r.next_frame().unwrap() {
            msgs.push(m.to_vec());
        }
        assert_eq!(r.pending(), 0);
        msgs
    }

    fn mtype(m: &[u8]) -> MessageType {
        Packet::parse(m).unwrap().message_type().unwrap()
    }

    #[test]
    fn all_bindings_stream_with_backpressure_and_end_with_done() {
        let leases = table(5000);
        let limits = Limits {
            max_queries: 4,
            high_water: 8 * 1024,
        };
        let mut c = Connection::new(SERVER, limits);
        c.receive(&query(7, &[], &[]));
        let msgs = run(&mut c, &leases, 1000);
        assert_eq!(msgs.len(), 5001);
        let last = Packet::parse(msgs.last().unwrap()).unwrap();
        assert_eq!(last.message_type(), Some(MessageType::LeaseQueryDone));
        assert_eq!(last.xid, 7);
        assert_eq!(last.options.status_code(), None, "success: no status");
        let mut seen = std::collections::HashSet::new();
        for (m, l) in msgs.iter().zip(&leases.0) {
            let p = Packet::parse(m).unwrap();
            assert_eq!(p.xid, 7);
            assert_eq!(p.ciaddr, l.ip);
            assert!(seen.insert(p.ciaddr), "each binding once");
            assert_eq!(p.hwaddr(), l.hwaddr.as_slice());
            assert_eq!(p.options.time_option(code::BASE_TIME), Some(NOW as u32));
            let state = p.options.dhcp_state().unwrap();
            if l.state == LeaseState::Active {
                assert_eq!(p.message_type(), Some(MessageType::LeaseActive));
                assert_eq!(state, DhcpState::Active);
                assert_eq!(p.options.lease_time(), Some(3500));
                assert_eq!(p.options.time_option(code::START_TIME_OF_STATE), Some(100));
            } else {
                assert_eq!(p.message_type(), Some(MessageType::LeaseUnassigned));
                assert_eq!(state, DhcpState::Released);
            }
            assert_eq!(
                p.options.get(code::RELAY_AGENT_INFO).unwrap().as_ref(),
                l.relay_info.as_deref().unwrap(),
                "option 82 whole, as the relay sent it"
            );
        }
        let t = c.take_tally();
        assert_eq!((t.queries, t.answers, t.done), (1, 5000, 1));
    }

    #[test]
    fn keyed_queries_pipeline_in_order_with_their_xids() {
        let leases = table(64);
        let mut c = Connection::new(SERVER, Limits::default());
        let mut input = query(
            1,
            &[],
            &[(82, vec![12, 6, b'c', b'm', b't', b's', b'-', b'a'])],
        );
        input.extend(query(2, &[], &[(82, vec![2, 6, 0, 0x10, 0x95, 0, 0, 3])]));
        input.extend(query(3, &leases.0[5].hwaddr, &[]));
        input.extend(query(4, &[], &[(61, leases.0[9].client.0.clone())]));
        // Split anywhere: the frames reassemble.
        for piece in input.chunks(7) {
            c.receive(piece);
        }
        let msgs = run(&mut c, &leases, 4096);
        let by_xid = |x: u32| -> Vec<Packet<'_>> {
            msgs.iter()
                .map(|m| Packet::parse(m).unwrap())
                .filter(|p| p.xid == x)
                .collect()
        };
        let relay_a = by_xid(1);
        assert_eq!(relay_a.len(), 33);
        assert!(relay_a[..32].iter().all(|p| u32::from(p.ciaddr) % 2 == 0));
        let remote = by_xid(2);
        assert_eq!(remote.len(), 17);
        assert!(remote[..16].iter().all(|p| u32::from(p.ciaddr) % 4 == 3));
        assert_eq!(by_xid(3).len(), 2);
        assert_eq!(by_xid(3)[0].ciaddr, leases.0[5].ip);
        // Lease 9 was released: one DHCPLEASEUNASSIGNED, then the end.
        let cid = by_xid(4);
        assert_eq!(cid.len(), 2);
        assert_eq!(cid[0].message_type(), Some(MessageType::LeaseUnassigned));
        // In order: every answer of query 1 before any of query 2.
        let order: Vec<u32> = msgs.iter().map(|m| Packet::parse(m).unwrap().xid).collect();
        assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
        assert_eq!(
            msgs.iter()
                .filter(|m| mtype(m) == MessageType::LeaseQueryDone)
                .count(),
            4
        );
    }

    #[test]
    fn time_window_selects_by_start_of_state() {
        let mut leases = table(10);
        leases.0[3].commit_time = NOW - 10;
        let mut c = Connection::new(SERVER, Limits::default());
        let since = (NOW - 50) as u32;
        c.receive(&query(9, &[], &[(154, since.to_be_bytes().to_vec())]));
        let msgs = run(&mut c, &leases, 4096);
        assert_eq!(msgs.len(), 2);
        assert_eq!(Packet::parse(&msgs[0]).unwrap().ciaddr, leases.0[3].ip);
        let mut c = Connection::new(SERVER, Limits::default());
        c.receive(&query(9, &[], &[(155, since.to_be_bytes().to_vec())]));
        assert_eq!(run(&mut c, &leases, 4096).len(), 10);
    }

    #[test]
    fn errors_answer_with_status_or_close() {
        let leases = table(10);
        // Malformed (two primary queries): DONE with MalformedQuery.
        let mut c = Connection::new(SERVER, Limits::default());
        c.receive(&query(5, &[1, 2, 3, 4, 5, 6], &[(61, vec![1, 2])]));
        let msgs = run(&mut c, &leases, 4096);
        assert_eq!(msgs.len(), 1);
        let p = Packet::parse(&msgs[0]).unwrap();
        assert_eq!(p.message_type(), Some(MessageType::LeaseQueryDone));
        assert_eq!(p.options.status_code().unwrap().0, Status::MalformedQuery);
        assert_eq!(c.take_tally().drops, ["bulk_leasequery_malformed"]);
        assert!(!c.finished());
        // Too many pipelined: QueryTerminated for the excess.
        let limits = Limits {
            max_queries: 2,
            high_water: 64 * 1024,
        };
        let mut c = Connection::new(SERVER, limits);
        let mut input = Vec::new();
        for x in 1..=3 {
            input.extend(query(x, &[], &[]));
        }
        c.receive(&input);
        let msgs = run(&mut c, &leases, 4096);
        let first = Packet::parse(&msgs[0]).unwrap();
        assert_eq!(first.xid, 3);
        assert_eq!(
            first.options.status_code().unwrap().0,
            Status::QueryTerminated
        );
        assert_eq!(msgs.len(), 1 + 2 * 11);
        // A UDP leasequery on the connection, or garbage: closed, counted.
        for bad in [
            {
                let mut q = query(1, &[], &[]);
                q[2 + 242] = 10;
                q
            },
            vec![0, 4, 1, 2, 3, 4],
            vec![0, 0],
        ] {
            let mut c = Connection::new(SERVER, Limits::default());
            c.receive(&bad);
            assert!(c.closed() && c.finished());
            assert_eq!(c.take_tally().drops.len(), 1);
            assert!(c.output().is_empty());
        }
    }

    #[test]
    fn a_reader_that_never_reads_stops_the_walk_and_the_reading() {
        let leases = table(20_000);
        let limits = Limits {
            max_queries: 4,
            high_water: 16 * 1024,
        };
        let mut c = Connection::new(SERVER, limits);
        c.receive(&query(1, &[], &[]));
        for _ in 0..100 {
            c.step(&leases, NOW);
        }
        assert!(c.output().len() < 16 * 1024 + 1500);
        assert!(!c.has_work(), "paused until the requester reads");
        assert_eq!(c.wants(), 0, "and reads nothing more meanwhile");
    }
}
