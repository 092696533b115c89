//! DHCPv4 Bulk Leasequery (RFC 6926), sans-IO: the TCP message framing, the
//! query a DHCPBULKLEASEQUERY (14) asks, and the options only bulk
//! leasequery uses — status-code (151), base-time (152),
//! start-time-of-state (153), query-start-time (154), query-end-time (155),
//! dhcp-state (156) and data-source (157).
//!
//! Over TCP every DHCPv4 message is preceded by a two-octet message size in
//! network byte order, not counting itself ([`frame`], [`FrameReader`]).
//! A DHCPBULKLEASEQUERY names at most one primary query: a MAC address
//! (`htype`/`hlen`/`chaddr`), a client identifier (option 61), a Relay
//! Identifier (option 82 sub-option 12, RFC 6925) or a Remote ID (option
//! 82 sub-option 2); none of them asks for every binding. Options 154 and
//! 155 narrow any of them to bindings whose state changed within the
//! window. Query by IP address stays a UDP leasequery (RFC 4388): a bulk
//! query with `ciaddr` set is malformed. The answers are
//! DHCPLEASEACTIVE / DHCPLEASEUNASSIGNED, one per binding, then one
//! DHCPLEASEQUERYDONE that carries a status-code when the query failed.

use std::borrow::Cow;

use super::{code, MessageType, Packet};
use crate::relay::sub;

/// Octets of the message-size prefix that frames each message over TCP.
pub const FRAME_HEADER: usize = 2;

/// Why a stream of framed messages cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A message size of 0: no DHCPv4 message is empty.
    #[error("framed message of size 0")]
    Empty,
    /// A message over 65,535 octets cannot be framed.
    #[error("message of {0} octets is too long to frame")]
    TooLong(usize),
}

impl FrameError {
    /// Stable short label, used as the drop-counter key.
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::Empty => "bulk_leasequery_bad_frame",
            FrameError::TooLong(_) => "bulk_leasequery_bad_frame",
        }
    }
}

/// Appends `msg` to `out` with its two-octet size prefix.
pub fn frame(msg: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    let len = u16::try_from(msg.len()).map_err(|_| FrameError::TooLong(msg.len()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    Ok(())
}

/// Reassembles framed messages from a TCP byte stream. It holds at most
/// one incomplete message (65,537 octets): whatever the peer sends, its
/// memory is bounded.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> Self {
        FrameReader::default()
    }

    /// How many more octets [`FrameReader::push`] may take now: the rest
    /// of the message under way, or a size prefix. The caller reads at
    /// most this much from the socket, so the buffer never grows past one
    /// message.
    pub fn wants(&self) -> usize {
        let have = self.buf.len() - self.start;
        match self.buf.get(self.start..self.start + FRAME_HEADER) {
            Some(&[hi, lo]) => {
                (FRAME_HEADER + usize::from(u16::from_be_bytes([hi, lo]))).saturating_sub(have)
            }
            _ => FRAME_HEADER - have,
        }
        .max(1)
    }

    /// Appends received octets (at most [`FrameReader::wants`] of them are
    /// kept beyond complete messages; the caller must not push more).
    pub fn push(&mut self, data: &[u8]) {
        // Drop the messages already handed out, so the buffer holds only
        // the one under way.
        if self.start > 0 {
            self.buf.drain(..self.start.min(self.buf.len()));
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete message, if one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let rest = self.buf.get(self.start..).unwrap_or(&[]);
        let Some(&[hi, lo]) = rest.get(..FRAME_HEADER) else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len == 0 {
            return Err(FrameError::Empty);
        }
        if rest.len() < FRAME_HEADER + len {
            return Ok(None);
        }
        let from = self.start + FRAME_HEADER;
        self.start = from + len;
        Ok(self.buf.get(from..from + len))
    }

    /// Octets of a message still incomplete (0 between messages).
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }
}

/// The status-code option's code (RFC 6926).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// 0: the query was answered in full.
    Success,
    /// 1: a failure the other codes do not name.
    UnspecFail,
    /// 2: the server stopped (or never began) answering the query.
    QueryTerminated,
    /// 3: the query could not be understood.
    MalformedQuery,
    /// 4: the requester may not ask this.
    NotAllowed,
    /// Any other value (RFC 7724 adds 5 and up).
    Other(u8),
}

impl From<u8> for Status {
    fn from(v: u8) -> Self {
        match v {
            0 => Status::Success,
            1 => Status::UnspecFail,
            2 => Status::QueryTerminated,
            3 => Status::MalformedQuery,
            4 => Status::NotAllowed,
            o => Status::Other(o),
        }
    }
}

impl From<Status> for u8 {
    fn from(s: Status) -> u8 {
        match s {
            Status::Success => 0,
            Status::UnspecFail => 1,
            Status::QueryTerminated => 2,
            Status::MalformedQuery => 3,
            Status::NotAllowed => 4,
            Status::Other(o) => o,
        }
    }
}

/// Option 151's payload: the code, then a UTF-8 message (may be empty).
pub fn encode_status(status: Status, message: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + message.len());
    v.push(u8::from(status));
    v.extend_from_slice(message.as_bytes());
    v
}

/// Reads option 151: the code and the message (lossy UTF-8).
pub fn decode_status(data: &[u8]) -> Result<(Status, String), OptionError> {
    let (&c, msg) = data
        .split_first()
        .ok_or(OptionError::Empty(code::STATUS_CODE))?;
    Ok((Status::from(c), String::from_utf8_lossy(msg).into_owned()))
}

/// The dhcp-state option's value (RFC 6926): the state of an IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhcpState {
    /// 1: free to be leased.
    Available,
    /// 2: leased to a client.
    Active,
    /// 3: the lease ran out.
    Expired,
    /// 4: the client gave the address back.
    Released,
    /// 5: unusable (e.g. declined by a client).
    Abandoned,
    /// 6: freed by an administrator.
    Reset,
    /// 7: belongs to a failover partner.
    Remote,
    /// 8: between states.
    Transitioning,
    /// Any other value.
    Other(u8),
}

impl From<u8> for DhcpState {
    fn from(v: u8) -> Self {
        match v {
            1 => DhcpState::Available,
            2 => DhcpState::Active,
            3 => DhcpState::Expired,
            4 => DhcpState::Released,
            5 => DhcpState::Abandoned,
            6 => DhcpState::Reset,
            7 => DhcpState::Remote,
            8 => DhcpState::Transitioning,
            o => DhcpState::Other(o),
        }
    }
}

impl From<DhcpState> for u8 {
    fn from(s: DhcpState) -> u8 {
        match s {
            DhcpState::Available => 1,
            DhcpState::Active => 2,
            DhcpState::Expired => 3,
            DhcpState::Released => 4,
            DhcpState::Abandoned => 5,
            DhcpState::Reset => 6,
            DhcpState::Remote => 7,
            DhcpState::Transitioning => 8,
            DhcpState::Other(o) => o,
        }
    }
}

/// The data-source option's R bit (the low bit): the binding came from a
/// failover partner rather than this server.
pub const DATA_SOURCE_REMOTE: u8 = 0x01;

/// Why a bulk leasequery option's value cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// A time option (152-155) that is not 4 octets.
    #[error("option {0} of {1} octets (must be 4)")]
    BadTime(u8, usize),
    /// A one-octet option (156, 157) that is not 1 octet.
    #[error("option {0} of {1} octets (must be 1)")]
    BadOctet(u8, usize),
    /// An empty option 151.
    #[error("option {0} is empty")]
    Empty(u8),
}

/// Reads a four-octet time option (152-155): seconds, big-endian.
pub fn decode_time(code: u8, data: &[u8]) -> Result<u32, OptionError> {
    <[u8; 4]>::try_from(data)
        .map(u32::from_be_bytes)
        .map_err(|_| OptionError::BadTime(code, data.len()))
}

/// Reads a one-octet option (156 dhcp-state, 157 data-source).
pub fn decode_octet(code: u8, data: &[u8]) -> Result<u8, OptionError> {
    match data {
        [v] => Ok(*v),
        _ => Err(OptionError::BadOctet(code, data.len())),
    }
}

/// The primary query of a DHCPBULKLEASEQUERY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkQuery {
    /// No primary query: every binding (RFC 6926's query for all
    /// configured IP addresses).
    All,
    /// The bindings of a hardware address.
    ByMac {
        /// Hardware type (`htype`).
        htype: u8,
        /// The `hlen` significant octets of `chaddr`.
        hwaddr: Vec<u8>,
    },
    /// The bindings of a client identifier (option 61).
    ByClientId(Vec<u8>),
    /// The bindings a relay agent with this Relay Identifier (82.12,
    /// RFC 6925) relayed.
    ByRelayId(Vec<u8>),
    /// The bindings whose relay information carried this Remote ID (82.2).
    ByRemoteId(Vec<u8>),
}

impl BulkQuery {
    /// Short name for logs and counters: `all`, `mac`, `client-id`,
    /// `relay-id`, `remote-id`.
    pub fn kind(&self) -> &'static str {
        match self {
            BulkQuery::All => "all",
            BulkQuery::ByMac { .. } => "mac",
            BulkQuery::ByClientId(_) => "client-id",
            BulkQuery::ByRelayId(_) => "relay-id",
            BulkQuery::ByRemoteId(_) => "remote-id",
        }
    }
}

/// A DHCPBULKLEASEQUERY read from its message, detached from the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkRequest {
    /// The transaction id every answer carries.
    pub xid: u32,
    /// What is asked.
    pub query: BulkQuery,
    /// query-start-time (154): only bindings whose state began at or after.
    pub start: Option<u32>,
    /// query-end-time (155): only bindings whose state began at or before.
    pub end: Option<u32>,
}

/// Why a DHCPBULKLEASEQUERY cannot be answered; the server answers with
/// DHCPLEASEQUERYDONE and [`BulkQueryError::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BulkQueryError {
    /// Option 53 is not 14: not a bulk query (the connection is closed).
    #[error("not a DHCPBULKLEASEQUERY")]
    NotBulkQuery,
    /// `ciaddr` set: query by IP address is a UDP leasequery.
    #[error("query by IP address is not a bulk leasequery (ciaddr must be 0)")]
    ByIp,
    /// More than one of MAC address, client id, relay id and remote id.
    #[error("more than one primary query")]
    Ambiguous,
    /// An empty client identifier, relay id or remote id.
    #[error("empty client identifier, relay id or remote id")]
    EmptyKey,
    /// Option 154 or 155 not 4 octets, or a window that ends before it starts.
    #[error("bad query-start-time or query-end-time")]
    BadTime,
}

impl BulkQueryError {
    /// The status the DHCPLEASEQUERYDONE carries.
    pub fn status(&self) -> Status {
        Status::MalformedQuery
    }

    /// Stable short label, used as the drop-counter key.
    pub fn reason(&self) -> &'static str {
        match self {
            BulkQueryError::NotBulkQuery => "bulk_leasequery_not_query",
            _ => "bulk_leasequery_malformed",
        }
    }
}

impl BulkRequest {
    /// Reads the query of a DHCPBULKLEASEQUERY. A `chaddr` counts as a MAC
    /// address when `hlen` is non-zero and its octets are not all zero.
    pub fn of(pkt: &Packet<'_>) -> Result<BulkRequest, BulkQueryError> {
        if pkt.message_type() != Some(MessageType::BulkLeaseQuery) {
            return Err(BulkQueryError::NotBulkQuery);
        }
        if !pkt.ciaddr.is_unspecified() {
            return Err(BulkQueryError::ByIp);
        }
        let hw = pkt.hwaddr();
        let mut keys = Vec::with_capacity(1);
        if hw.iter().any(|&b| b != 0) {
            keys.push(BulkQuery::ByMac {
                htype: pkt.htype,
                hwaddr: hw.to_vec(),
            });
        }
        if let Some(cid) = pkt.options.client_id() {
            keys.push(BulkQuery::ByClientId(cid.into_owned()));
        }
        if let Some(rai) = pkt.options.relay_agent_info() {
            if let Some(id) = rai.get(sub::RELAY_ID) {
                keys.push(BulkQuery::ByRelayId(id.to_vec()));
            }
            if let Some(id) = rai.get(sub::REMOTE_ID) {
                keys.push(BulkQuery::ByRemoteId(id.to_vec()));
            }
        }
        if keys.len() > 1 {
            return Err(BulkQueryError::Ambiguous);
        }
        let query = keys.pop().unwrap_or(BulkQuery::All);
        if matches!(&query, BulkQuery::ByClientId(k) | BulkQuery::ByRelayId(k) | BulkQuery::ByRemoteId(k) if k.is_empty())
        {
            return Err(BulkQueryError::EmptyKey);
        }
        let time = |c: u8| -> Result<Option<u32>, BulkQueryError> {
            pkt.options
                .get(c)
                .map(|v: Cow<'_, [u8]>| decode_time(c, &v).map_err(|_| BulkQueryError::BadTime))
                .transpose()
        };
        let start = time(code::QUERY_START_TIME)?;
        let end = time(code::QUERY_END_TIME)?;
        if let (Some(s), Some(e)) = (start, end) {
            if e < s {
                return Err(BulkQueryError::BadTime);
            }
        }
        Ok(BulkRequest {
            xid: pkt.xid,
            query,
            start,
            end,
        })
    }
}

impl super::Options<'_> {
    /// Option 151, status-code (RFC 6926), when present and not empty.
    pub fn status_code(&self) -> Option<(Status, String)> {
        decode_status(&self.get(code::STATUS_CODE)?).ok()
    }

    /// Option 156, dhcp-state (RFC 6926), when one octet.
    pub fn dhcp_state(&self) -> Option<DhcpState> {
        decode_octet(code::DHCP_STATE, &self.get(code::DHCP_STATE)?)
            .ok()
            .map(DhcpState::from)
    }

    /// A four-octet time option (152 base-time, 153 start-time-of-state,
    /// 154 query-start-time, 155 query-end-time).
    pub fn time_option(&self, c: u8) -> Option<u32> {
        decode_time(c, &self.get(c)?).ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::dhcpv4::Builder;
    use proptest::prelude::*;

    /// A DHCPBULKLEASEQUERY written octet by octet from RFC 2131 §2 and
    /// RFC 6926: op 1, htype/hlen as given, xid 0x0bad0001, ciaddr,
    /// giaddr 0, chaddr, cookie, option 53 = 14, then `options`, end.
    fn query(htype: u8, chaddr: &[u8], ciaddr: [u8; 4], options: &[u8]) -> Vec<u8> {
        let mut p = vec![1, htype, u8::try_from(chaddr.len()).unwrap(), 0];
        p.extend_from_slice(&[0x0b, 0xad, 0x00, 0x01]); // xid
        p.extend_from_slice(&[0, 0, 0, 0]); // secs, flags
        p.extend_from_slice(&ciaddr);
        p.extend_from_slice(&[0; 12]); // yiaddr, siaddr, giaddr
        let mut ch = chaddr.to_vec();
        ch.resize(16, 0);
        p.extend_from_slice(&ch);
        p.extend_from_slice(&[0; 192]); // sname, file
        p.extend_from_slice(&[99, 130, 83, 99, 53, 1, 14]);
        p.extend_from_slice(options);
        p.push(255);
        p
    }

    fn req(buf: &[u8]) -> Result<BulkRequest, BulkQueryError> {
        BulkRequest::of(&Packet::parse(buf).unwrap())
    }

    const MAC: [u8; 6] = [0x00, 0x10, 0x95, 0x12, 0x34, 0x56];

    #[test]
    fn message_types_and_option_codes_are_rfc_6926_numbers() {
        for (t, n, name) in [
            (MessageType::BulkLeaseQuery, 14u8, "DHCPBULKLEASEQUERY"),
            (MessageType::LeaseQueryDone, 15, "DHCPLEASEQUERYDONE"),
        ] {
            assert_eq!(u8::from(t), n);
            assert_eq!(MessageType::from(n), t);
            assert_eq!(t.name(), name);
        }
        // RFC 7724's DHCPLEASEQUERYSTATUS (17) is not bulk leasequery's.
        assert_eq!(MessageType::from(17), MessageType::Unknown(17));
        assert_eq!(
            [
                code::STATUS_CODE,
                code::BASE_TIME,
                code::START_TIME_OF_STATE,
                code::QUERY_START_TIME,
                code::QUERY_END_TIME,
                code::DHCP_STATE,
                code::DATA_SOURCE
            ],
            [151, 152, 153, 154, 155, 156, 157]
        );
        for (s, n) in [
            (Status::Success, 0u8),
            (Status::UnspecFail, 1),
            (Status::QueryTerminated, 2),
            (Status::MalformedQuery, 3),
            (Status::NotAllowed, 4),
        ] {
            assert_eq!(u8::from(s), n);
            assert_eq!(Status::from(n), s);
        }
        for n in 1..=8u8 {
            assert_eq!(u8::from(DhcpState::from(n)), n);
        }
        assert_eq!(DhcpState::from(2), DhcpState::Active);
        assert_eq!(DhcpState::from(4), DhcpState::Released);
        assert_eq!(DhcpState::from(9), DhcpState::Other(9));
    }

    #[test]
    fn framing_is_a_two_octet_size_then_the_message() {
        let mut out = Vec::new();
        frame(&[0xaa; 300], &mut out).unwrap();
        assert_eq!(out[..2], [0x01, 0x2c]); // 300
        assert_eq!(out.len(), 302);
        assert_eq!(
            frame(&vec![0; 65_536], &mut out),
            Err(FrameError::TooLong(65_536))
        );
        // Two messages arriving one octet at a time, pipelined.
        let mut stream = Vec::new();
        frame(b"first", &mut stream).unwrap();
        frame(b"second!", &mut stream).unwrap();
        assert_eq!(stream[..2], [0, 5]);
        assert_eq!(stream[7..9], [0, 7]);
        let mut r = FrameReader::new();
        let mut got = Vec::new();
        for b in &stream {
            assert!(r.wants() >= 1);
            r.push(std::slice::from_ref(b));
            while let Some(m) = r.next_frame().unwrap() {
                got.push(m.to_vec());
            }
        }
        assert_eq!(got, [b"first".to_vec(), b"second!".to_vec()]);
        assert_eq!(r.pending(), 0);
        // The reader asks for exactly what completes the message.
        let mut r = FrameReader::new();
        assert_eq!(r.wants(), 2);
        r.push(&[0x01]);
        assert_eq!(r.wants(), 1);
        r.push(&[0x00]);
        assert_eq!(r.wants(), 256);
        let mut r = FrameReader::new();
        r.push(&[0, 0]);
        assert_eq!(r.next_frame(), Err(FrameError::Empty));
    }

    #[test]
    fn all_bindings_when_no_primary_query() {
        let r = req(&query(0, &[], [0; 4], &[])).unwrap();
        assert_eq!(
            r,
            BulkRequest {
                xid: 0x0bad_0001,
                query: BulkQuery::All,
                start: None,
                end: None
            }
        );
        assert_eq!(r.query.kind(), "all");
        // An all-zero chaddr is no MAC address.
        let r = req(&query(1, &[0; 6], [0; 4], &[])).unwrap();
        assert_eq!(r.query, BulkQuery::All);
    }

    #[test]
    fn primary_queries_read_chaddr_61_and_82() {
        let r = req(&query(1, &MAC, [0; 4], &[])).unwrap();
        assert_eq!(
            r.query,
            BulkQuery::ByMac {
                htype: 1,
                hwaddr: MAC.to_vec()
            }
        );
        let r = req(&query(0, &[], [0; 4], &[61, 3, 1, 2, 3])).unwrap();
        assert_eq!(r.query, BulkQuery::ByClientId(vec![1, 2, 3]));
        // 82.12 (RFC 6925): the relay agent's identifier.
        let r = req(&query(
            0,
            &[],
            [0; 4],
            &[82, 6, 12, 4, b'c', b'm', b't', b's'],
        ))
        .unwrap();
        assert_eq!(r.query, BulkQuery::ByRelayId(b"cmts".to_vec()));
        assert_eq!(r.query.kind(), "relay-id");
        let mut o = vec![82, 8, 2, 6];
        o.extend_from_slice(&MAC);
        let r = req(&query(0, &[], [0; 4], &o)).unwrap();
        assert_eq!(r.query, BulkQuery::ByRemoteId(MAC.to_vec()));
    }

    #[test]
    fn query_times_narrow_any_query() {
        // 154 = 1,000,000,000, 155 = 1,000,003,600.
        let opts = [
            154, 4, 0x3b, 0x9a, 0xca, 0x00, 155, 4, 0x3b, 0x9a, 0xd8, 0x10,
        ];
        let r = req(&query(1, &MAC, [0; 4], &opts)).unwrap();
        assert_eq!((r.start, r.end), (Some(1_000_000_000), Some(1_000_003_600)));
        let r = req(&query(0, &[], [0; 4], &opts[..6])).unwrap();
        assert_eq!(
            (r.query, r.start, r.end),
            (BulkQuery::All, Some(1_000_000_000), None)
        );
    }

    #[test]
    fn malformed_queries_are_errors_with_malformed_query_status() {
        assert_eq!(
            req(&query(0, &[], [10, 0, 0, 1], &[])),
            Err(BulkQueryError::ByIp)
        );
        assert_eq!(
            req(&query(1, &MAC, [0; 4], &[61, 1, 7])),
            Err(BulkQueryError::Ambiguous)
        );
        assert_eq!(
            req(&query(0, &[], [0; 4], &[82, 6, 2, 1, 9, 12, 1, 8])),
            Err(BulkQueryError::Ambiguous)
        );
        assert_eq!(
            req(&query(0, &[], [0; 4], &[61, 0])),
            Err(BulkQueryError::EmptyKey)
        );
        assert_eq!(
            req(&query(0, &[], [0; 4], &[154, 3, 0, 0, 1])),
            Err(BulkQueryError::BadTime)
        );
        assert_eq!(
            req(&query(
                0,
                &[],
                [0; 4],
                &[154, 4, 0, 0, 0, 9, 155, 4, 0, 0, 0, 8]
            )),
            Err(BulkQueryError::BadTime)
        );
        assert_eq!(BulkQueryError::Ambiguous.status(), Status::MalformedQuery);
        assert_eq!(
            BulkQueryError::EmptyKey.reason(),
            "bulk_leasequery_malformed"
        );
        let mut q = query(1, &MAC, [0; 4], &[]);
        q[242] = 10; // a UDP DHCPLEASEQUERY on the TCP connection
        assert_eq!(req(&q), Err(BulkQueryError::NotBulkQuery));
        assert_eq!(
            BulkQueryError::NotBulkQuery.reason(),
            "bulk_leasequery_not_query"
        );
    }

    #[test]
    fn answer_options_in_rfc_layout() {
        let mut b = Builder::new();
        b.push_option(code::MESSAGE_TYPE, &[u8::from(MessageType::LeaseQueryDone)]);
        b.push_option(
            code::STATUS_CODE,
            &encode_status(Status::MalformedQuery, "no"),
        );
        b.push_option(code::BASE_TIME, &1_000_000_000u32.to_be_bytes());
        b.push_option(code::START_TIME_OF_STATE, &60u32.to_be_bytes());
        b.push_option(code::DHCP_STATE, &[u8::from(DhcpState::Active)]);
        b.push_option(code::DATA_SOURCE, &[0]);
        let wire = b.encode(1500).unwrap();
        assert_eq!(
            wire[240..267],
            [
                53, 1, 15, // DHCPLEASEQUERYDONE
                151, 3, 3, b'n', b'o', // MalformedQuery "no"
                152, 4, 0x3b, 0x9a, 0xca, 0x00, // base-time
                153, 4, 0, 0, 0, 60, // start-time-of-state
                156, 1, 2, // ACTIVE
                157, 1, 0, // local data
                255
            ]
        );
        let pkt = Packet::parse(&wire).unwrap();
        assert_eq!(pkt.message_type(), Some(MessageType::LeaseQueryDone));
        assert_eq!(
            pkt.options.status_code(),
            Some((Status::MalformedQuery, "no".to_string()))
        );
        assert_eq!(
            pkt.options.time_option(code::BASE_TIME),
            Some(1_000_000_000)
        );
        assert_eq!(pkt.options.time_option(code::START_TIME_OF_STATE), Some(60));
        assert_eq!(pkt.options.dhcp_state(), Some(DhcpState::Active));
        assert_eq!(
            decode_octet(code::DATA_SOURCE, &[1]),
            Ok(DATA_SOURCE_REMOTE)
        );
        assert_eq!(decode_status(&[]), Err(OptionError::Empty(151)));
        assert_eq!(decode_time(152, &[1]), Err(OptionError::BadTime(152, 1)));
        assert_eq!(
            decode_octet(156, &[1, 2]),
            Err(OptionError::BadOctet(156, 2))
        );
    }

    proptest! {
        /// Whatever arrives on the connection, in whatever pieces: the
        /// reader never panics, never holds more than one message, and
        /// every query it yields is read or refused without panicking.
        #[test]
        fn random_streams_never_panic(data in proptest::collection::vec(any::<u8>(), 0..4096), cuts in proptest::collection::vec(1usize..600, 1..16)) {
            let mut r = FrameReader::new();
            let mut at = 0;
            let mut i = 0;
            while at < data.len() {
                let n = cuts[i % cuts.len()].min(r.wants()).min(data.len() - at);
                r.push(&data[at..at + n]);
                at += n;
                i += 1;
                loop {
                    match r.next_frame() {
                        Ok(Some(m)) => {
                            if let Ok(p) = Packet::parse(m) {
                                let _ = BulkRequest::of(&p);
                            }
                        }
                        Ok(None) => break,
                        Err(_) => return Ok(()),
                    }
                }
                prop_assert!(r.pending() <= FRAME_HEADER + 65_535);
            }
        }

        /// Every truncation and every one-octet corruption of a valid
        /// query is read or refused, never a panic.
        #[test]
        fn truncated_or_corrupted_queries_never_panic(at in 0usize..260, val in any::<u8>()) {
            let q = query(1, &MAC, [0; 4], &[82, 6, 12, 4, 1, 2, 3, 4, 154, 4, 0, 0, 0, 1]);
            for cut in 0..q.len() {
                if let Ok(p) = Packet::parse(&q[..cut]) {
                    let _ = BulkRequest::of(&p);
                }
            }
            let mut c = q.clone();
            if let Some(b) = c.get_mut(at) {
                *b = val;
            }
            if let Ok(p) = Packet::parse(&c) {
                let _ = BulkRequest::of(&p);
            }
        }
    }
}
