//! The DHCPv4 client of a simulated device behind its CMTS relay agent
//! (RFC 2131 §3.1, §4.1, §4.4; RFC 3046 option 82; RFC 8357 sub-option 19),
//! as a sans-IO state machine: [`Dhcp4Client::start`],
//! [`Dhcp4Client::handle`] for each reply, [`Dhcp4Client::poll_timeout`] and
//! [`Dhcp4Client::handle_timeout`] on a clock the caller owns.
//!
//! The device and its relay are one: the message leaves with giaddr, hops 1
//! and option 82 already set, as the CMTS would forward it, so that the
//! server answers the relay socket. Renewal and rebinding (§4.4.5) go the
//! same way with ciaddr set, as a CMTS relays a modem's unicast renewals.
//!
//! Requests are encoded by hand straight into the outbox (a client message
//! is a fixed header and a few options; the wire crate's builder is made
//! for replies); replies are read with the wire crate's zero-copy parser.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use headend_wire::dhcpv4::{code, MessageType, Packet};

use crate::check::{Rule, Violations};
use crate::outbox::{Chan, Outbox};
use crate::retry::Retry;
use crate::rng::Rng;

/// The magic cookie (RFC 2131 §3).
const COOKIE: [u8; 4] = [99, 130, 83, 99];

/// What a device puts in every DHCPv4 message, shared by devices of a kind.
#[derive(Debug, Clone, Default)]
pub struct Profile4 {
    /// Option 60, vendor class identifier.
    pub vendor_class: Vec<u8>,
    /// Option 55, parameter request list.
    pub prl: Vec<u8>,
    /// Option 125 payload (enterprise, length, sub-options), if any.
    pub vivso: Option<Vec<u8>>,
    /// Option 57, maximum message size (IP datagram), if sent.
    pub max_message_size: Option<u16>,
}

/// Where one device's messages go and what its relay adds.
#[derive(Debug, Clone, Copy)]
pub struct Link4 {
    /// The device's MAC (chaddr, client identity).
    pub mac: [u8; 6],
    /// The relay socket (virtual CMTS) it is behind.
    pub chan: Chan,
    /// The relay's giaddr.
    pub giaddr: Ipv4Addr,
    /// The server (or its relay destination).
    pub server: SocketAddr,
    /// Option 82.2 remote-id: the cable modem's MAC (the device's own for
    /// a modem).
    pub remote_id: [u8; 6],
    /// Option 82.1 circuit-id: the CMTS interface number.
    pub circuit: u16,
    /// Send option 82.19 (RFC 8357): the server answers the relay's source
    /// port instead of 67.
    pub relay_source_port: bool,
    /// Option 43 sub-option 32: the eUE's correlation id, if any.
    pub correlation_id: Option<u32>,
    /// The device's index; the high 24 bits of every xid, so a reply finds
    /// its device without a lookup.
    pub index: u32,
}

/// A set of option codes (256 bits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CodeSet([u64; 4]);

impl CodeSet {
    /// The codes present in a packet's options.
    pub fn of(p: &Packet<'_>) -> CodeSet {
        let mut s = CodeSet::default();
        for (c, _) in p.options.fragments() {
            s.insert(c);
        }
        s
    }
    /// Adds a code.
    pub fn insert(&mut self, c: u8) {
        if let Some(w) = self.0.get_mut(usize::from(c >> 6)) {
            *w |= 1 << (c & 63);
        }
    }
    /// Codes in `self` missing from `other` (no allocation when none is:
    /// the common case on every DHCPACK).
    pub fn missing_from(&self, other: &CodeSet) -> Vec<u8> {
        let mut out = Vec::new();
        for (w, (a, b)) in self.0.iter().zip(other.0.iter()).enumerate() {
            let mut left = a & !b;
            while left != 0 {
                let bit = left.trailing_zeros();
                out.push((w as u32 * 64 + bit) as u8);
                left &= left - 1;
            }
        }
        out
    }
}

/// The OFFER being requested.
#[derive(Debug, Clone, Copy)]
struct Offer {
    yiaddr: Ipv4Addr,
    server_id: Ipv4Addr,
    codes: CodeSet,
}

/// A bound lease.
#[derive(Debug, Clone)]
pub struct Lease4 {
    /// The address.
    pub addr: Ipv4Addr,
    /// Option 54.
    pub server_id: Ipv4Addr,
    /// Lease time (option 51).
    pub lease: Duration,
    /// T1 (option 58, default 0.5 × lease).
    pub t1: Duration,
    /// T2 (option 59, default 0.875 × lease).
    pub t2: Duration,
    /// When it was bound.
    pub bound_at: Instant,
}

/// Where the client is (RFC 2131 Figure 5).
#[derive(Debug, Clone)]
enum State {
    Idle,
    Selecting,
    Requesting(Offer),
    Bound(Lease4),
    Renewing(Lease4),
    Rebinding(Lease4),
}

/// What a reply or timeout did.
#[derive(Debug, PartialEq, Eq)]
pub enum Event4 {
    /// Nothing for the caller (ignored or in progress).
    None,
    /// The first ACK: the device is bound.
    Bound,
    /// A renewal or rebinding was acknowledged.
    Renewed,
    /// The step failed: retries exhausted, NAK, or the lease expired.
    Failed(&'static str),
}

/// Spec checks the device applies to OFFER and ACK beyond RFC 2131.
pub type Checker = fn(&Packet<'_>, &[u8], &[u8; 6], &mut Violations);

/// The DHCPv4 client of one device.
#[derive(Debug, Clone)]
pub struct Dhcp4Client {
    state: State,
    seq: u8,
    sent: u32,
    started: Option<Instant>,
    deadline: Option<Instant>,
    step: &'static str,
}

impl Dhcp4Client {
    /// A client that has sent nothing yet; `step` names it in reports.
    pub fn new(step: &'static str) -> Dhcp4Client {
        Dhcp4Client {
            state: State::Idle,
            seq: 0,
            sent: 0,
            started: None,
            deadline: None,
            step,
        }
    }

    /// The current transaction id.
    pub fn xid(&self, link: &Link4) -> u32 {
        (link.index << 8) | u32::from(self.seq)
    }

    /// The bound lease, if any.
    pub fn lease(&self) -> Option<&Lease4> {
        match &self.state {
            State::Bound(l) | State::Renewing(l) | State::Rebinding(l) => Some(l),
            _ => None,
        }
    }

    /// Starts (or restarts) acquisition: DHCPDISCOVER.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        &mut self,
        now: Instant,
        link: &Link4,
        profile: &Profile4,
        retry: &Retry,
        rng: &mut Rng,
        out: &mut Outbox,
    ) {
        self.seq = self.seq.wrapping_add(1);
        self.state = State::Selecting;
        self.sent = 0;
        self.started = Some(now);
        self.transmit(now, link, profile, retry, rng, out);
    }

    /// When the client next needs [`Dhcp4Client::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// A timer fired: retransmit, give up, or start renewing/rebinding.
    #[allow(clippy::too_many_arguments)]
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        link: &Link4,
        profile: &Profile4,
        retry: &Retry,
        rng: &mut Rng,
        out: &mut Outbox,
    ) -> Event4 {
        if self.deadline.is_none_or(|d| d > now) {
            return Event4::None;
        }
        self.deadline = None;
        match &self.state {
            State::Idle => Event4::None,
            State::Selecting | State::Requesting(_) => {
                if self.sent >= retry.attempts {
                    let why = if matches!(self.state, State::Selecting) {
                        "no DHCPOFFER"
                    } else {
                        "no DHCPACK"
                    };
                    self.state = State::Idle;
                    return Event4::Failed(why);
                }
                self.transmit(now, link, profile, retry, rng, out);
                Event4::None
            }
            State::Bound(l) => {
                let l = l.clone();
                self.seq = self.seq.wrapping_add(1);
                self.sent = 0;
                self.started = Some(now);
                self.state = State::Renewing(l);
                self.transmit(now, link, profile, retry, rng, out);
                Event4::None
            }
            State::Renewing(l) | State::Rebinding(l) => {
                let l = l.clone();
                if now >= l.bound_at + l.lease {
                    self.state = State::Idle;
                    return Event4::Failed("lease expired");
                }
                if matches!(self.state, State::Renewing(_)) && now >= l.bound_at + l.t2 {
                    self.seq = self.seq.wrapping_add(1);
                    self.sent = 0;
                    self.state = State::Rebinding(l);
                }
                self.transmit(now, link, profile, retry, rng, out);
                Event4::None
            }
        }
    }

    /// One reply from the relay socket, already matched to this device by
    /// xid. `renew` says whether a bound lease is renewed at T1.
    #[allow(clippy::too_many_arguments)]
    pub fn handle(
        &mut self,
        now: Instant,
        datagram: &[u8],
        link: &Link4,
        profile: &Profile4,
        retry: &Retry,
        rng: &mut Rng,
        checker: Option<Checker>,
        renew: bool,
        violations: &mut Violations,
        out: &mut Outbox,
    ) -> Event4 {
        let Ok(p) = Packet::parse(datagram) else {
            violations.add(
                Rule::Dhcp4Malformed,
                &link.mac,
                self.step,
                || "reply does not parse".into(),
                datagram,
            );
            return Event4::None;
        };
        // RFC 2131 §4.4.1: a reply for another transaction or client is
        // not ours (a late answer to an earlier xid); not a violation.
        if p.op != 2 || p.xid != self.xid(link) || p.chaddr.get(..6) != Some(&link.mac[..]) {
            return Event4::None;
        }
        let Some(mtype) = p.message_type() else {
            violations.add(
                Rule::Dhcp4Malformed,
                &link.mac,
                self.step,
                || "no option 53".into(),
                datagram,
            );
            return Event4::None;
        };
        match (&self.state, mtype) {
            (State::Selecting, MessageType::Offer) => {
                let Some(server_id) = p.options.server_id() else {
                    violations.add(
                        Rule::Dhcp4Malformed,
                        &link.mac,
                        self.step,
                        || "DHCPOFFER without option 54".into(),
                        datagram,
                    );
                    return Event4::None;
                };
                if p.yiaddr.is_unspecified() || p.yiaddr.is_broadcast() {
                    violations.add(
                        Rule::Dhcp4Malformed,
                        &link.mac,
                        self.step,
                        || format!("DHCPOFFER yiaddr {}", p.yiaddr),
                        datagram,
                    );
                    return Event4::None;
                }
                if let Some(check) = checker {
                    check(&p, datagram, &link.mac, violations);
                }
                self.state = State::Requesting(Offer {
                    yiaddr: p.yiaddr,
                    server_id,
                    codes: CodeSet::of(&p),
                });
                self.sent = 0;
                self.transmit(now, link, profile, retry, rng, out);
                Event4::None
            }
            (State::Requesting(offer), MessageType::Ack) => {
                let offer = *offer;
                if p.yiaddr != offer.yiaddr {
                    violations.add(
                        Rule::AckSupersetOffer,
                        &link.mac,
                        self.step,
                        || format!("DHCPACK yiaddr {} for offered {}", p.yiaddr, offer.yiaddr),
                        datagram,
                    );
                }
                let missing = offer.codes.missing_from(&CodeSet::of(&p));
                if !missing.is_empty() {
                    violations.add(
                        Rule::AckSupersetOffer,
                        &link.mac,
                        self.step,
                        || format!("DHCPACK lacks options {missing:?} of the DHCPOFFER"),
                        datagram,
                    );
                }
                if let Some(check) = checker {
                    check(&p, datagram, &link.mac, violations);
                }
                self.bind(now, &p, offer.server_id, renew);
                Event4::Bound
            }
            (State::Renewing(l) | State::Rebinding(l), MessageType::Ack) => {
                if p.yiaddr != l.addr {
                    violations.add(
                        Rule::AckSupersetOffer,
                        &link.mac,
                        self.step,
                        || format!("renewal DHCPACK yiaddr {} for lease {}", p.yiaddr, l.addr),
                        datagram,
                    );
                }
                let sid = p.options.server_id().unwrap_or(l.server_id);
                self.bind(now, &p, sid, renew);
                Event4::Renewed
            }
            (State::Requesting(_) | State::Renewing(_) | State::Rebinding(_), MessageType::Nak) => {
                self.state = State::Idle;
                self.deadline = None;
                Event4::Failed("DHCPNAK")
            }
            _ => Event4::None,
        }
    }

    fn bind(&mut self, now: Instant, p: &Packet<'_>, server_id: Ipv4Addr, renew: bool) {
        let lease = Duration::from_secs(u64::from(p.options.lease_time().unwrap_or(3600)));
        let secs = |c: u8| {
            p.options.get(c).and_then(|v| {
                <[u8; 4]>::try_from(&v[..])
                    .ok()
                    .map(|b| Duration::from_secs(u64::from(u32::from_be_bytes(b))))
            })
        };
        let t1 = secs(code::RENEWAL_TIME).unwrap_or(lease / 2);
        let t2 = secs(code::REBINDING_TIME).unwrap_or(lease * 7 / 8);
        let l = Lease4 {
            addr: p.yiaddr,
            server_id,
            lease,
            t1,
            t2,
            bound_at: now,
        };
        self.deadline = renew.then(|| now + t1);
        self.state = State::Bound(l);
    }

    fn transmit(
        &mut self,
        now: Instant,
        link: &Link4,
        profile: &Profile4,
        retry: &Retry,
        rng: &mut Rng,
        out: &mut Outbox,
    ) {
        let (mtype, requested, server_id, ciaddr) = match &self.state {
            State::Selecting => (MessageType::Discover, None, None, None),
            State::Requesting(o) => (
                MessageType::Request,
                Some(o.yiaddr),
                Some(o.server_id),
                None,
            ),
            State::Renewing(l) | State::Rebinding(l) => {
                (MessageType::Request, None, None, Some(l.addr))
            }
            State::Idle | State::Bound(_) => return,
        };
        let secs = self
            .started
            .map(|s| now.saturating_duration_since(s).as_secs())
            .unwrap_or(0);
        let xid = self.xid(link);
        out.push(link.chan, None, link.server, |b| {
            encode_request(
                b,
                &Request {
                    mtype,
                    xid,
                    secs: u16::try_from(secs).unwrap_or(u16::MAX),
                    ciaddr,
                    requested,
                    server_id,
                },
                link,
                profile,
            );
        });
        let mut wait = retry.timeout(self.sent, rng);
        if let State::Renewing(l) | State::Rebinding(l) = &self.state {
            // RFC 2131 §4.4.5: retry at half the time left to T2 (or to
            // expiry), at least 60 s in the RFC; the caller's schedule caps it.
            let end = if matches!(self.state, State::Renewing(_)) {
                l.bound_at + l.t2
            } else {
                l.bound_at + l.lease
            };
            let left = end.saturating_duration_since(now) / 2;
            wait = wait.min(left.max(Duration::from_millis(10)));
        }
        self.sent += 1;
        self.deadline = Some(now + wait);
    }
}

/// The variable part of a client message.
pub(crate) struct Request {
    /// Option 53.
    pub(crate) mtype: MessageType,
    /// Transaction id.
    pub(crate) xid: u32,
    /// Seconds since the exchange began.
    pub(crate) secs: u16,
    /// ciaddr.
    pub(crate) ciaddr: Option<Ipv4Addr>,
    /// Option 50.
    pub(crate) requested: Option<Ipv4Addr>,
    /// Option 54.
    pub(crate) server_id: Option<Ipv4Addr>,
}

fn opt(b: &mut Vec<u8>, code: u8, value: &[u8]) {
    // Values here are built by the simulator and short; longer ones are cut
    // rather than split (never the case for the profiles we build).
    let len = value.len().min(255);
    b.push(code);
    b.push(len as u8);
    b.extend_from_slice(value.get(..len).unwrap_or(value));
}

/// Encodes a relayed client message as the CMTS forwards it.
pub(crate) fn encode_request(b: &mut Vec<u8>, r: &Request, link: &Link4, profile: &Profile4) {
    b.extend_from_slice(&[1, 1, 6, 1]); // op, htype, hlen, hops (relayed once)
    b.extend_from_slice(&r.xid.to_be_bytes());
    b.extend_from_slice(&r.secs.to_be_bytes());
    b.extend_from_slice(&0u16.to_be_bytes()); // flags
    b.extend_from_slice(&r.ciaddr.unwrap_or(Ipv4Addr::UNSPECIFIED).octets());
    b.extend_from_slice(&[0; 8]); // yiaddr, siaddr
    b.extend_from_slice(&link.giaddr.octets());
    b.extend_from_slice(&link.mac);
    b.extend_from_slice(&[0; 10 + 64 + 128]); // chaddr padding, sname, file
    b.extend_from_slice(&COOKIE);
    opt(b, code::MESSAGE_TYPE, &[u8::from(r.mtype)]);
    if let Some(a) = r.requested {
        opt(b, code::REQUESTED_IP, &a.octets());
    }
    if let Some(a) = r.server_id {
        opt(b, code::SERVER_ID, &a.octets());
    }
    if let Some(m) = profile.max_message_size {
        opt(b, code::MAX_MESSAGE_SIZE, &m.to_be_bytes());
    }
    if !profile.vendor_class.is_empty() {
        opt(b, code::VENDOR_CLASS, &profile.vendor_class);
    }
    if let Some(c) = link.correlation_id {
        // Option 43 sub-option 32 (PacketCable eUE correlation id).
        let mut v = [32u8, 4, 0, 0, 0, 0];
        v[2..].copy_from_slice(&c.to_be_bytes());
        opt(b, code::VENDOR_SPECIFIC, &v);
    }
    if !profile.prl.is_empty() {
        opt(b, code::PARAMETER_REQUEST_LIST, &profile.prl);
    }
    if let Some(v) = &profile.vivso {
        opt(b, code::VENDOR_SPECIFIC_VI, v);
    }
    // Option 82 (RFC 3046), last before the end option as relays add it:
    // circuit-id "cmts/<n>", remote-id the modem's MAC, RFC 8357 source port.
    let mut rai = [0u8; 32];
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        if let Some(dst) = rai.get_mut(n..n + bytes.len()) {
            dst.copy_from_slice(bytes);
            n += bytes.len();
        }
    };
    put(&[1, 7, b'c', b'm', b't', b's', b'/']);
    put(&link.circuit.to_be_bytes());
    put(&[2, 6]);
    put(&link.remote_id);
    if link.relay_source_port {
        put(&[19, 0]);
    }
    opt(b, code::RELAY_AGENT_INFO, rai.get(..n).unwrap_or(&[]));
    b.push(code::END);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use headend_wire::dhcpv4::Builder;

    fn link() -> Link4 {
        Link4 {
            mac: [0, 0x10, 0x95, 0, 0, 7],
            chan: Chan::Relay4(0),
            giaddr: Ipv4Addr::new(127, 0, 0, 2),
            server: "127.0.0.1:67".parse().unwrap(),
            remote_id: [0, 0x10, 0x95, 0, 0, 7],
            circuit: 3,
            relay_source_port: true,
            correlation_id: None,
            index: 42,
        }
    }

    fn reply(req: &[u8], mtype: MessageType, yiaddr: Ipv4Addr, extra: &[(u8, &[u8])]) -> Vec<u8> {
        let p = Packet::parse(req).unwrap();
        let mut b = Builder::reply_to(&p);
        b.yiaddr = yiaddr;
        b.push_option(code::MESSAGE_TYPE, &[u8::from(mtype)]);
        b.push_option(code::SERVER_ID, &[127, 0, 0, 1]);
        for (c, v) in extra {
            b.push_option(*c, v);
        }
        b.encode(1500).unwrap()
    }

    struct Env {
        now: Instant,
        link: Link4,
        profile: Profile4,
        retry: Retry,
        rng: Rng,
        out: Outbox,
        v: Violations,
    }

    fn env() -> Env {
        Env {
            now: Instant::now(),
            link: link(),
            profile: Profile4 {
                vendor_class: b"docsis3.0:".to_vec(),
                prl: vec![1, 3, 122, 125],
                ..Profile4::default()
            },
            retry: Retry::default(),
            rng: Rng::new(1),
            out: Outbox::new(),
            v: Violations::new(8),
        }
    }

    impl Env {
        fn last(&self) -> Vec<u8> {
            self.out.payload(self.out.items().last().unwrap()).to_vec()
        }
        fn feed(&mut self, c: &mut Dhcp4Client, d: &[u8]) -> Event4 {
            c.handle(
                self.now,
                d,
                &self.link,
                &self.profile,
                &self.retry,
                &mut self.rng,
                None,
                true,
                &mut self.v,
                &mut self.out,
            )
        }
        fn tick(&mut self, c: &mut Dhcp4Client) -> Event4 {
            c.handle_timeout(
                self.now,
                &self.link,
                &self.profile,
                &self.retry,
                &mut self.rng,
                &mut self.out,
            )
        }
    }

    #[test]
    fn dora_on_a_virtual_clock() {
        let mut e = env();
        let mut c = Dhcp4Client::new("DHCPv4");
        c.start(e.now, &e.link, &e.profile, &e.retry, &mut e.rng, &mut e.out);
        let disc = e.last();
        let p = Packet::parse(&disc).unwrap();
        assert_eq!(p.message_type(), Some(MessageType::Discover));
        assert_eq!(p.giaddr, Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(p.hops, 1);
        assert_eq!(p.xid >> 8, 42);
        let rai = p.options.get(code::RELAY_AGENT_INFO).unwrap();
        assert_eq!(
            &rai[..],
            b"\x01\x07cmts/\x00\x03\x02\x06\x00\x10\x95\x00\x00\x07\x13\x00"
        );
        // RFC 2131: first retransmission 4 s ± 1 s.
        let t = c.poll_timeout().unwrap() - e.now;
        assert!(
            t >= Duration::from_secs(3) && t <= Duration::from_secs(5),
            "{t:?}"
        );
        e.now += t;
        assert_eq!(e.tick(&mut c), Event4::None);
        assert_eq!(e.out.len(), 2);
        let t2 = c.poll_timeout().unwrap() - e.now;
        assert!(
            t2 >= Duration::from_secs(7) && t2 <= Duration::from_secs(9),
            "{t2:?}"
        );

        let ip = Ipv4Addr::new(10, 1, 0, 20);
        let offer = reply(
            &disc,
            MessageType::Offer,
            ip,
            &[(3, &[10, 1, 0, 1]), (51, &[0, 0, 14, 16])],
        );
        assert_eq!(e.feed(&mut c, &offer), Event4::None);
        let req = e.last();
        let p = Packet::parse(&req).unwrap();
        assert_eq!(p.message_type(), Some(MessageType::Request));
        assert_eq!(p.options.requested_ip(), Some(ip));
        assert_eq!(p.options.server_id(), Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(p.xid, Packet::parse(&disc).unwrap().xid);

        // An ACK lacking option 3 of the OFFER is a violation, still bound.
        let ack = reply(&req, MessageType::Ack, ip, &[(51, &[0, 0, 14, 16])]);
        assert_eq!(e.feed(&mut c, &ack), Event4::Bound);
        assert_eq!(e.v.total(), 1);
        assert_eq!(e.v.samples()[0].rule, Rule::AckSupersetOffer);
        let l = c.lease().unwrap().clone();
        assert_eq!(l.addr, ip);
        assert_eq!(l.t1, Duration::from_secs(1800));
        // Renewal at T1 with ciaddr, then ACK renews.
        e.now = c.poll_timeout().unwrap();
        assert_eq!(e.now - l.bound_at, Duration::from_secs(1800));
        e.tick(&mut c);
        let renew = e.last();
        let p = Packet::parse(&renew).unwrap();
        assert_eq!(p.ciaddr, ip);
        assert!(p.options.requested_ip().is_none());
        let ack = reply(&renew, MessageType::Ack, ip, &[(51, &[0, 0, 14, 16])]);
        assert_eq!(e.feed(&mut c, &ack), Event4::Renewed);
    }

    #[test]
    fn retries_run_out_and_stale_replies_are_ignored() {
        let mut e = env();
        e.retry.jitter = Duration::ZERO;
        let mut c = Dhcp4Client::new("DHCPv4");
        c.start(e.now, &e.link, &e.profile, &e.retry, &mut e.rng, &mut e.out);
        let disc = e.last();
        let mut waits = vec![];
        loop {
            let d = c.poll_timeout().unwrap();
            waits.push((d - e.now).as_secs());
            e.now = d;
            match e.tick(&mut c) {
                Event4::None => {}
                ev => {
                    assert_eq!(ev, Event4::Failed("no DHCPOFFER"));
                    break;
                }
            }
        }
        assert_eq!(waits, vec![4, 8, 16, 32, 64]);
        assert_eq!(e.out.len(), 5);
        // A reply for the old transaction after a restart is ignored.
        c.start(e.now, &e.link, &e.profile, &e.retry, &mut e.rng, &mut e.out);
        let offer = reply(&disc, MessageType::Offer, Ipv4Addr::new(10, 1, 0, 9), &[]);
        assert_eq!(e.feed(&mut c, &offer), Event4::None);
        assert_eq!(e.out.len(), 6);
        // Garbage is counted, never a panic.
        assert_eq!(e.feed(&mut c, &[1, 2, 3]), Event4::None);
        assert_eq!(e.v.counts()[&(Rule::Dhcp4Malformed, "DHCPv4")], 1);
    }

    #[test]
    fn nak_fails_the_step() {
        let mut e = env();
        let mut c = Dhcp4Client::new("DHCPv4");
        c.start(e.now, &e.link, &e.profile, &e.retry, &mut e.rng, &mut e.out);
        let disc = e.last();
        let ip = Ipv4Addr::new(10, 1, 0, 20);
        e.feed(&mut c, &reply(&disc, MessageType::Offer, ip, &[]));
        let req = e.last();
        let nak = reply(&req, MessageType::Nak, Ipv4Addr::UNSPECIFIED, &[]);
        assert_eq!(e.feed(&mut c, &nak), Event4::Failed("DHCPNAK"));
        assert!(c.poll_timeout().is_none());
    }
}
