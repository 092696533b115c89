//! DHCPv6 Leasequery (RFC 5007) and Bulk Leasequery (RFC 5460), sans-IO:
//! the LEASEQUERY a requestor sends (RFC 5007 §4.1.2.1 OPTION_LQ_QUERY with
//! its query types 1-2, RFC 5460 §5.4 query types 3-5 and OPTION_RELAY_ID),
//! the options a server answers with (§4.1.2.2 OPTION_CLIENT_DATA, §4.1.2.3
//! OPTION_CLT_TIME, §4.1.2.4 OPTION_LQ_RELAY_DATA, §4.1.2.5
//! OPTION_LQ_CLIENT_LINK), the relay data a server keeps for them (the last
//! Relay-forward with the client's message cut out), and RFC 5460 §5.1's
//! TCP framing (a 2-octet length before every message) with a bounded
//! reader.
//!
//! [`Leasequery::parse`] reads a LEASEQUERY: what makes it unanswerable
//! (no Client Identifier, options that do not frame) is an `Err`, one drop
//! reason each; what the server answers with a status code (RFC 5007
//! §4.3.2: UnknownQueryType, MalformedQuery) is an `Err` inside
//! [`Leasequery::query`], so the caller can still address the reply.

use std::net::Ipv6Addr;

use super::code::{self, Status};
use super::options::{bad_len, ipv6_list};
use super::{
    Builder, EncodeError, IaAddr, IaPrefix, Message, MessageType, OptionError, Options,
    RelayMessage, MAX_RELAY_DEPTH, RELAY_HEADER_LEN,
};

/// QUERY_BY_ADDRESS (RFC 5007 §4.1.2.1).
pub const QUERY_BY_ADDRESS: u8 = 1;
/// QUERY_BY_CLIENTID (RFC 5007 §4.1.2.1).
pub const QUERY_BY_CLIENTID: u8 = 2;
/// QUERY_BY_RELAY_ID (RFC 5460 §5.4.2).
pub const QUERY_BY_RELAY_ID: u8 = 3;
/// QUERY_BY_LINK_ADDRESS (RFC 5460 §5.4.2).
pub const QUERY_BY_LINK_ADDRESS: u8 = 4;
/// QUERY_BY_REMOTE_ID (RFC 5460 §5.4.2).
pub const QUERY_BY_REMOTE_ID: u8 = 5;

/// The fixed part of OPTION_LQ_QUERY: query-type(1) link-address(16).
pub const LQ_QUERY_HEADER_LEN: usize = 17;

/// What a LEASEQUERY asks for, with the link it is limited to (`::` =
/// every link).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query<'a> {
    /// The client holding `address`, or the prefix containing it.
    ByAddress {
        /// The address of the OPTION_IAADDR in the query.
        address: Ipv6Addr,
        /// The link-address field.
        link: Ipv6Addr,
    },
    /// The bindings of a client (its DUID, option 1 inside the query).
    ByClientId {
        /// The client's DUID.
        duid: &'a [u8],
        /// The link-address field.
        link: Ipv6Addr,
    },
    /// Every binding made through the relay with this DUID (RFC 5460).
    ByRelayId {
        /// The relay's DUID (OPTION_RELAY_ID).
        relay_id: &'a [u8],
        /// The link-address field.
        link: Ipv6Addr,
    },
    /// Every binding on the link (RFC 5460).
    ByLinkAddress {
        /// The link-address field (never `::`).
        link: Ipv6Addr,
    },
    /// Every binding whose relay sent this Remote-ID (RFC 5460).
    ByRemoteId {
        /// The whole OPTION_REMOTE_ID value: enterprise-number and remote-id.
        remote_id: &'a [u8],
        /// The link-address field.
        link: Ipv6Addr,
    },
}

impl Query<'_> {
    /// The query-type number.
    pub fn query_type(&self) -> u8 {
        match self {
            Query::ByAddress { .. } => QUERY_BY_ADDRESS,
            Query::ByClientId { .. } => QUERY_BY_CLIENTID,
            Query::ByRelayId { .. } => QUERY_BY_RELAY_ID,
            Query::ByLinkAddress { .. } => QUERY_BY_LINK_ADDRESS,
            Query::ByRemoteId { .. } => QUERY_BY_REMOTE_ID,
        }
    }

    /// The link the query is limited to; `::` = none.
    pub fn link(&self) -> Ipv6Addr {
        match *self {
            Query::ByAddress { link, .. }
            | Query::ByClientId { link, .. }
            | Query::ByRelayId { link, .. }
            | Query::ByLinkAddress { link }
            | Query::ByRemoteId { link, .. } => link,
        }
    }

    /// Whether only Bulk Leasequery may ask it: RFC 5460 §6 forbids query
    /// types 3-5 over UDP (the server answers NotAllowed).
    pub fn bulk_only(&self) -> bool {
        self.query_type() >= QUERY_BY_RELAY_ID
    }

    /// Short name for logs and traces.
    pub fn kind(&self) -> &'static str {
        match self {
            Query::ByAddress { .. } => "address",
            Query::ByClientId { .. } => "client-id",
            Query::ByRelayId { .. } => "relay-id",
            Query::ByLinkAddress { .. } => "link-address",
            Query::ByRemoteId { .. } => "remote-id",
        }
    }
}

/// Why a LEASEQUERY cannot be answered as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The message is not a LEASEQUERY.
    #[error("not a LEASEQUERY")]
    NotLeasequery,
    /// No Client Identifier: the requestor's DUID is required (RFC 5007 §4.2).
    #[error("LEASEQUERY without a Client Identifier")]
    NoClientId,
    /// The Client or Server Identifier is malformed.
    #[error("LEASEQUERY with a malformed identifier: {0}")]
    BadIdentifier(OptionError),
    /// No OPTION_LQ_QUERY, or more than one.
    #[error("LEASEQUERY needs exactly one OPTION_LQ_QUERY")]
    NoQuery,
    /// OPTION_LQ_QUERY is shorter than 17 octets or its options do not frame.
    #[error("malformed OPTION_LQ_QUERY: {0}")]
    BadQuery(OptionError),
    /// A query-type this server does not know.
    #[error("unknown query-type {0}")]
    UnknownQueryType(u8),
    /// The query-options lack what the query-type needs, or it is malformed.
    #[error("query-type {0}: {1}")]
    MissingOption(u8, &'static str),
}

impl QueryError {
    /// Stable short label, used as the counter key.
    pub fn reason(&self) -> &'static str {
        match self {
            QueryError::NotLeasequery => "leasequery_not_query",
            QueryError::NoClientId => "leasequery_no_client_id",
            QueryError::BadIdentifier(_) => "leasequery_bad_identifier",
            QueryError::UnknownQueryType(_) => "leasequery_unknown_query_type",
            QueryError::NoQuery | QueryError::BadQuery(_) | QueryError::MissingOption(..) => {
                "leasequery_malformed"
            }
        }
    }

    /// The status code the server answers with (RFC 5007 §4.3.2); `None`
    /// when the message is dropped instead.
    pub fn status(&self) -> Option<Status> {
        match self {
            QueryError::NotLeasequery | QueryError::NoClientId | QueryError::BadIdentifier(_) => {
                None
            }
            QueryError::UnknownQueryType(_) => Some(Status::UnknownQueryType),
            QueryError::NoQuery | QueryError::BadQuery(_) | QueryError::MissingOption(..) => {
                Some(Status::MalformedQuery)
            }
        }
    }
}

/// OPTION_LQ_QUERY as received (RFC 5007 §4.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LqQuery<'a> {
    /// The query-type field.
    pub query_type: u8,
    /// The link-address field (`::` = unspecified).
    pub link_address: Ipv6Addr,
    /// The query-options.
    pub options: Options<'a>,
}

impl<'a> LqQuery<'a> {
    /// Parses an OPTION_LQ_QUERY value: at least 17 octets, framed options.
    pub fn parse(v: &'a [u8]) -> Result<LqQuery<'a>, OptionError> {
        let Some(([query_type], rest)) = v.split_first_chunk::<1>() else {
            return Err(bad_len(code::LQ_QUERY, v, "at least 17"));
        };
        let Some((link, rest)) = rest.split_first_chunk::<16>() else {
            return Err(bad_len(code::LQ_QUERY, v, "at least 17"));
        };
        Ok(LqQuery {
            query_type: *query_type,
            link_address: Ipv6Addr::from(*link),
            options: Options::parse(rest, code::LQ_QUERY)?,
        })
    }

    /// What the query asks for, checking the options its type requires
    /// (RFC 5007 §4.1.2.1, RFC 5460 §5.4.2).
    pub fn query(&self) -> Result<Query<'a>, QueryError> {
        let t = self.query_type;
        let link = self.link_address;
        let o = &self.options;
        match t {
            QUERY_BY_ADDRESS => {
                let v = o
                    .get(code::IAADDR)
                    .ok_or(QueryError::MissingOption(t, "no OPTION_IAADDR"))?;
                let a = IaAddr::parse(v)
                    .map_err(|_| QueryError::MissingOption(t, "malformed OPTION_IAADDR"))?;
                Ok(Query::ByAddress {
                    address: a.addr,
                    link,
                })
            }
            QUERY_BY_CLIENTID => match o.client_id() {
                Ok(Some(_)) => Ok(Query::ByClientId {
                    duid: o.get(code::CLIENTID).unwrap_or(&[]),
                    link,
                }),
                Ok(None) => Err(QueryError::MissingOption(t, "no OPTION_CLIENTID")),
                Err(_) => Err(QueryError::MissingOption(t, "malformed OPTION_CLIENTID")),
            },
            QUERY_BY_RELAY_ID => match o.get(code::RELAY_ID) {
                Some(id) if id.len() >= 2 => Ok(Query::ByRelayId { relay_id: id, link }),
                Some(_) => Err(QueryError::MissingOption(t, "malformed OPTION_RELAY_ID")),
                None => Err(QueryError::MissingOption(t, "no OPTION_RELAY_ID")),
            },
            QUERY_BY_LINK_ADDRESS if link.is_unspecified() => {
                Err(QueryError::MissingOption(t, "link-address ::"))
            }
            QUERY_BY_LINK_ADDRESS => Ok(Query::ByLinkAddress { link }),
            QUERY_BY_REMOTE_ID => match o.get(code::REMOTE_ID) {
                Some(id) if id.len() >= 4 => Ok(Query::ByRemoteId {
                    remote_id: id,
                    link,
                }),
                Some(_) => Err(QueryError::MissingOption(t, "malformed OPTION_REMOTE_ID")),
                None => Err(QueryError::MissingOption(t, "no OPTION_REMOTE_ID")),
            },
            other => Err(QueryError::UnknownQueryType(other)),
        }
    }

    /// The option codes the requestor wants for each client (the ORO
    /// inside the query-options, RFC 5007 §4.1.2.1); malformed = none.
    pub fn oro(&self) -> Vec<u16> {
        match self.options.oro() {
            Ok(Some(o)) => o.codes().collect(),
            _ => Vec::new(),
        }
    }
}

/// A LEASEQUERY as the server reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leasequery<'a> {
    /// The transaction id the replies repeat.
    pub transaction_id: u32,
    /// The requestor's DUID (option 1), echoed in the reply.
    pub client_id: &'a [u8],
    /// The Server Identifier, when the requestor named a server.
    pub server_id: Option<&'a [u8]>,
    /// The query, or the reason it gets a status code instead of data.
    pub query: Result<Query<'a>, QueryError>,
    /// Option codes the requestor wants in each OPTION_CLIENT_DATA.
    pub oro: Vec<u16>,
}

impl<'a> Leasequery<'a> {
    /// Reads a LEASEQUERY message; `Err` when it must be dropped.
    pub fn parse(msg: &Message<'a>) -> Result<Leasequery<'a>, QueryError> {
        if msg.msg_type != MessageType::Leasequery {
            return Err(QueryError::NotLeasequery);
        }
        let o = &msg.options;
        match o.client_id() {
            Ok(Some(_)) => {}
            Ok(None) => return Err(QueryError::NoClientId),
            Err(e) => return Err(QueryError::BadIdentifier(e)),
        }
        if let Err(e) = o.server_id() {
            return Err(QueryError::BadIdentifier(e));
        }
        let client_id = o.get(code::CLIENTID).unwrap_or(&[]);
        let server_id = o.get(code::SERVERID);
        let mut queries = o.get_all(code::LQ_QUERY);
        let (query, oro) = match (queries.next(), queries.next()) {
            (Some(v), None) => match LqQuery::parse(v) {
                Ok(q) => (q.query(), q.oro()),
                Err(e) => (Err(QueryError::BadQuery(e)), Vec::new()),
            },
            _ => (Err(QueryError::NoQuery), Vec::new()),
        };
        Ok(Leasequery {
            transaction_id: msg.transaction_id,
            client_id,
            server_id,
            query,
            oro,
        })
    }

    /// Whether the requestor asked for OPTION_LQ_RELAY_DATA (RFC 5007
    /// §4.1.2.4: returned only when requested).
    pub fn wants_relay_data(&self) -> bool {
        self.oro.contains(&code::LQ_RELAY_DATA)
    }
}

impl Builder {
    /// OPTION_LQ_QUERY with the query-options `body` writes (requestor side).
    pub fn lq_query<F>(
        &mut self,
        query_type: u8,
        link_address: Ipv6Addr,
        body: F,
    ) -> Result<&mut Self, EncodeError>
    where
        F: FnOnce(&mut Builder) -> Result<(), EncodeError>,
    {
        let mut head = [0u8; LQ_QUERY_HEADER_LEN];
        let (t, link) = head.split_at_mut(1);
        t.copy_from_slice(&[query_type]);
        link.copy_from_slice(&link_address.octets());
        self.nested(code::LQ_QUERY, &head, body)
    }

    /// OPTION_CLIENT_DATA with the client-options `body` writes.
    pub fn client_data<F>(&mut self, body: F) -> Result<&mut Self, EncodeError>
    where
        F: FnOnce(&mut Builder) -> Result<(), EncodeError>,
    {
        self.nested(code::CLIENT_DATA, &[], body)
    }

    /// OPTION_CLT_TIME: seconds since the server last heard from the client.
    pub fn clt_time(&mut self, seconds: u32) -> Result<&mut Self, EncodeError> {
        self.option(code::CLT_TIME, &seconds.to_be_bytes())
    }

    /// OPTION_LQ_RELAY_DATA: the relay the message came from and the
    /// Relay-forward chain without the client's message.
    pub fn lq_relay_data(
        &mut self,
        peer_address: Ipv6Addr,
        relay_message: &[u8],
    ) -> Result<&mut Self, EncodeError> {
        self.nested(code::LQ_RELAY_DATA, &peer_address.octets(), |b| {
            b.raw(relay_message);
            Ok(())
        })
    }

    /// OPTION_LQ_CLIENT_LINK: the links a client has bindings on.
    pub fn lq_client_link(&mut self, links: &[Ipv6Addr]) -> Result<&mut Self, EncodeError> {
        self.ipv6_list(code::LQ_CLIENT_LINK, links)
    }

    /// OPTION_RELAY_ID (RFC 5460 §5.4.1): a relay's DUID.
    pub fn relay_id(&mut self, duid: &[u8]) -> Result<&mut Self, EncodeError> {
        self.option(code::RELAY_ID, duid)
    }
}

/// OPTION_CLIENT_DATA as a requestor reads it (RFC 5007 §4.1.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientData<'a> {
    /// The client's DUID.
    pub client_id: Option<&'a [u8]>,
    /// OPTION_CLT_TIME.
    pub clt_time: Option<u32>,
    /// The client's addresses with their remaining lifetimes.
    pub addresses: Vec<IaAddr<'a>>,
    /// The client's delegated prefixes with their remaining lifetimes.
    pub prefixes: Vec<IaPrefix<'a>>,
    /// OPTION_LQ_RELAY_DATA, when present.
    pub relay_data: Option<RelayData<'a>>,
    /// Every client-option, in wire order.
    pub options: Options<'a>,
}

impl<'a> ClientData<'a> {
    /// Parses an OPTION_CLIENT_DATA value.
    pub fn parse(v: &'a [u8]) -> Result<ClientData<'a>, OptionError> {
        let options = Options::parse(v, code::CLIENT_DATA)?;
        let clt_time = match options.get(code::CLT_TIME) {
            Some(t) => Some(u32::from_be_bytes(
                <[u8; 4]>::try_from(t).map_err(|_| bad_len(code::CLT_TIME, t, "4"))?,
            )),
            None => None,
        };
        Ok(ClientData {
            client_id: options.get(code::CLIENTID),
            clt_time,
            addresses: options.ia_addrs().collect::<Result<_, _>>()?,
            prefixes: options.ia_prefixes().collect::<Result<_, _>>()?,
            relay_data: options
                .get(code::LQ_RELAY_DATA)
                .map(RelayData::parse)
                .transpose()?,
            options,
        })
    }
}

/// OPTION_LQ_RELAY_DATA (RFC 5007 §4.1.2.4), borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayData<'a> {
    /// The relay agent the relayed message was received from.
    pub peer_address: Ipv6Addr,
    /// The Relay-forward chain without the client's message.
    pub message: &'a [u8],
}

impl<'a> RelayData<'a> {
    /// Parses an OPTION_LQ_RELAY_DATA value (peer-address then a message).
    pub fn parse(v: &'a [u8]) -> Result<RelayData<'a>, OptionError> {
        let (peer, message) = v
            .split_first_chunk::<16>()
            .ok_or_else(|| bad_len(code::LQ_RELAY_DATA, v, "at least 16"))?;
        Ok(RelayData {
            peer_address: Ipv6Addr::from(*peer),
            message,
        })
    }

    /// The relay layers of the message, outermost first.
    pub fn layers(&self) -> Result<Vec<RelayLayer<'a>>, OptionError> {
        relay_layers(self.message)
    }
}

/// Reads an OPTION_LQ_CLIENT_LINK value: a list of link-addresses.
pub fn parse_client_links(v: &[u8]) -> Result<Vec<Ipv6Addr>, OptionError> {
    ipv6_list(code::LQ_CLIENT_LINK, v)
}

/// The DHCP-relay-message of OPTION_LQ_RELAY_DATA (RFC 5007 §4.1.2.4)
/// from the Relay-forward chain a client's message came through
/// (outermost first): every layer re-encoded with its options in wire
/// order, the innermost one without its OPTION_RELAY_MSG (the client's
/// message). `None` for a message that came without relays.
pub fn relay_data_message(relays: &[RelayMessage<'_>]) -> Result<Option<Vec<u8>>, EncodeError> {
    let mut inner: Option<Vec<u8>> = None;
    for r in relays.iter().rev() {
        let mut b = Builder::relay(r.msg_type, r.hop_count, r.link_address, r.peer_address);
        for (c, v) in r.options.iter() {
            if c == code::RELAY_MSG {
                if let Some(m) = &inner {
                    b.option(code::RELAY_MSG, m)?;
                }
            } else {
                b.option(c, v)?;
            }
        }
        inner = Some(b.finish());
    }
    Ok(inner)
}

/// One relay layer of a stored relay message (the innermost has no
/// OPTION_RELAY_MSG, so [`RelayMessage::parse`] would refuse it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayLayer<'a> {
    /// The hop-count field.
    pub hop_count: u8,
    /// The link-address field.
    pub link_address: Ipv6Addr,
    /// The peer-address field.
    pub peer_address: Ipv6Addr,
    /// The relay's options (its OPTION_RELAY_MSG holds the next layer).
    pub options: Options<'a>,
}

/// Reads a stored relay message (see [`relay_data_message`]) into its
/// layers, outermost first; at most [`MAX_RELAY_DEPTH`] layers.
pub fn relay_layers(buf: &[u8]) -> Result<Vec<RelayLayer<'_>>, OptionError> {
    let mut out = Vec::new();
    let mut cur = buf;
    while !cur.is_empty() {
        if out.len() == MAX_RELAY_DEPTH || cur.len() < RELAY_HEADER_LEN {
            return Err(bad_len(code::RELAY_MSG, cur, "a relay chain"));
        }
        let Some(([t, hop_count], rest)) = cur.split_first_chunk::<2>() else {
            return Err(bad_len(code::RELAY_MSG, cur, "a relay header"));
        };
        if MessageType::from(*t) != MessageType::RelayForw {
            return Err(bad_len(code::RELAY_MSG, cur, "a RELAY-FORW"));
        }
        let Some((link, rest)) = rest.split_first_chunk::<16>() else {
            return Err(bad_len(code::RELAY_MSG, cur, "a relay header"));
        };
        let Some((peer, rest)) = rest.split_first_chunk::<16>() else {
            return Err(bad_len(code::RELAY_MSG, cur, "a relay header"));
        };
        let options = Options::parse(rest, code::RELAY_MSG)?;
        out.push(RelayLayer {
            hop_count: *hop_count,
            link_address: Ipv6Addr::from(*link),
            peer_address: Ipv6Addr::from(*peer),
            options,
        });
        cur = options.relay_msg().unwrap_or(&[]);
    }
    Ok(out)
}

/// Why a Bulk Leasequery stream cannot be framed (RFC 5460 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A message-size of 0 (no message).
    #[error("empty Bulk Leasequery frame")]
    Empty,
    /// A message-size over the reader's limit.
    #[error("Bulk Leasequery frame of {0} octets is over the limit")]
    TooLarge(usize),
}

/// One message framed for the Bulk Leasequery TCP connection: msg-size(2)
/// then the message (RFC 5460 §5.1).
pub fn frame(message: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let len = u16::try_from(message.len()).map_err(|_| EncodeError::TooLong {
        code: 0,
        len: message.len(),
    })?;
    let mut out = Vec::with_capacity(2 + message.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(message);
    Ok(out)
}

/// Splits a TCP byte stream into messages (RFC 5460 §5.1), holding at most
/// one partial frame: bytes are pushed as they arrive, whole messages
/// taken out; a frame over `max_message` octets is an error, so a peer
/// cannot make it buffer more.
#[derive(Debug, Clone)]
pub struct FrameReader {
    buf: Vec<u8>,
    max_message: usize,
}

impl FrameReader {
    /// A reader refusing messages over `max_message` octets.
    pub fn new(max_message: usize) -> FrameReader {
        FrameReader {
            buf: Vec::new(),
            max_message,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Octets held (a partial frame, or frames not yet taken).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message, `Ok(None)` when more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let Some((len, rest)) = self.buf.split_first_chunk::<2>() else {
            return Ok(None);
        };
        let n = usize::from(u16::from_be_bytes(*len));
        if n == 0 {
            return Err(FrameError::Empty);
        }
        if n > self.max_message {
            return Err(FrameError::TooLarge(n));
        }
        let Some(msg) = rest.get(..n) else {
            return Ok(None);
        };
        let msg = msg.to_vec();
        self.buf.drain(..2 + n);
        Ok(Some(msg))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::dhcpv6::{parse, Packet, Relayed};

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// A LEASEQUERY by address written octet by octet from RFC 5007
    /// §4.1.2.1 and RFC 8415 §8/§21: msg-type 14, transaction-id, the
    /// requestor's Client Identifier (DUID-LL), OPTION_LQ_QUERY (44) with
    /// query-type 1, link-address ::, an OPTION_IAADDR and an ORO asking
    /// for OPTION_LQ_RELAY_DATA (47).
    const BY_ADDRESS: &str = "0e 123456
        0001 000a 0003 0001 0010 9500 0001
        002c 0033 01 00000000000000000000000000000000
            0005 0018 20010db8000100000000000000000010 00000000 00000000
            0006 0002 002f";

    #[test]
    fn message_and_status_numbers_are_the_rfcs() {
        for (t, n) in [
            (MessageType::Leasequery, 14u8),
            (MessageType::LeasequeryReply, 15),
            (MessageType::LeasequeryDone, 16),
            (MessageType::LeasequeryData, 17),
        ] {
            assert_eq!(u8::from(t), n);
            assert_eq!(MessageType::from(n), t);
        }
        assert_eq!(MessageType::LeasequeryData.name(), "LEASEQUERY-DATA");
        for (s, n) in [
            (Status::UnknownQueryType, 7u16),
            (Status::MalformedQuery, 8),
            (Status::NotConfigured, 9),
            (Status::NotAllowed, 10),
            (Status::QueryTerminated, 11),
        ] {
            assert_eq!(u16::from(s), n);
            assert_eq!(Status::from(n), s);
        }
        assert_eq!(
            [
                code::LQ_QUERY,
                code::CLIENT_DATA,
                code::CLT_TIME,
                code::LQ_RELAY_DATA,
                code::LQ_CLIENT_LINK,
                code::RELAY_ID
            ],
            [44, 45, 46, 47, 48, 53]
        );
        assert_eq!(code::name(code::LQ_CLIENT_LINK), "OPTION_LQ_CLIENT_LINK");
    }

    #[test]
    fn a_query_by_address_reads_from_the_rfc_layout() {
        let buf = hex(BY_ADDRESS);
        let Ok(Packet::Message(m)) = parse(&buf) else {
            panic!("not a message")
        };
        let lq = Leasequery::parse(&m).unwrap();
        assert_eq!(lq.transaction_id, 0x123456);
        assert_eq!(lq.client_id, hex("0003 0001 0010 9500 0001"));
        assert_eq!(lq.server_id, None);
        assert_eq!(
            lq.query,
            Ok(Query::ByAddress {
                address: "2001:db8:1::10".parse().unwrap(),
                link: Ipv6Addr::UNSPECIFIED
            })
        );
        assert!(lq.wants_relay_data());
        // The builder writes the same octets.
        let mut b = Builder::message(MessageType::Leasequery, 0x123456);
        b.client_id(&hex("0003 0001 0010 9500 0001")).unwrap();
        b.lq_query(QUERY_BY_ADDRESS, Ipv6Addr::UNSPECIFIED, |q| {
            q.ia_addr("2001:db8:1::10".parse().unwrap(), 0, 0)?;
            q.oro(&[code::LQ_RELAY_DATA])?;
            Ok(())
        })
        .unwrap();
        assert_eq!(b.finish(), buf);
    }

    fn lq(query: &[u8]) -> Leasequery<'_> {
        let m = Message::parse(query).unwrap();
        Leasequery::parse(&m).unwrap()
    }

    #[test]
    fn the_five_query_types_and_their_required_options() {
        let link = "2001:db8:100::1".parse::<Ipv6Addr>().unwrap();
        // QUERY_BY_CLIENTID with a link-address.
        let b = hex("0e 000001 0001 0004 0003 0001
            002c 0019 02 20010db8010000000000000000000001 0001 0004 0003 0001");
        assert_eq!(
            lq(&b).query,
            Ok(Query::ByClientId {
                duid: &[0, 3, 0, 1],
                link
            })
        );
        // QUERY_BY_RELAY_ID (RFC 5460 §5.4.2): OPTION_RELAY_ID (53).
        let b = hex("0e 000001 0001 0004 0003 0001
            002c 0019 03 00000000000000000000000000000000 0035 0004 0003 0009");
        let q = lq(&b).query.unwrap();
        assert_eq!(
            q,
            Query::ByRelayId {
                relay_id: &[0, 3, 0, 9],
                link: Ipv6Addr::UNSPECIFIED
            }
        );
        assert!(q.bulk_only());
        // QUERY_BY_LINK_ADDRESS: the link-address field.
        let b = hex("0e 000001 0001 0004 0003 0001
            002c 0011 04 20010db8010000000000000000000001");
        assert_eq!(lq(&b).query, Ok(Query::ByLinkAddress { link }));
        // QUERY_BY_REMOTE_ID: OPTION_REMOTE_ID (37), enterprise 4491.
        let b = hex("0e 000001 0001 0004 0003 0001
            002c 001f 05 00000000000000000000000000000000 0025 000a 0000118b 001018aa0001");
        assert_eq!(
            lq(&b).query,
            Ok(Query::ByRemoteId {
                remote_id: &hex("0000118b 001018aa0001"),
                link: Ipv6Addr::UNSPECIFIED
            })
        );
    }

    #[test]
    fn bad_queries_get_their_status_and_unanswerable_ones_are_dropped() {
        let status = |b: &str| {
            let b = hex(b);
            let e = lq(&b).query.unwrap_err();
            (e.status(), e.reason())
        };
        // An unknown query-type: UnknownQueryType.
        assert_eq!(
            status("0e 000001 0001 0004 0003 0001 002c 0011 09 00000000000000000000000000000000"),
            (
                Some(Status::UnknownQueryType),
                "leasequery_unknown_query_type"
            )
        );
        // By address without OPTION_IAADDR; by link-address with ::; no
        // OPTION_LQ_QUERY; a truncated one: MalformedQuery.
        for b in [
            "0e 000001 0001 0004 0003 0001 002c 0011 01 00000000000000000000000000000000",
            "0e 000001 0001 0004 0003 0001 002c 0011 04 00000000000000000000000000000000",
            "0e 000001 0001 0004 0003 0001",
            "0e 000001 0001 0004 0003 0001 002c 0003 01 0000",
            "0e 000001 0001 0004 0003 0001 002c 0015 02 00000000000000000000000000000000 0001 0000",
        ] {
            assert_eq!(
                status(b),
                (Some(Status::MalformedQuery), "leasequery_malformed"),
                "{b}"
            );
        }
        // No Client Identifier: dropped.
        let b = hex("0e 000001 002c 0011 04 20010db8010000000000000000000001");
        let m = Message::parse(&b).unwrap();
        let e = Leasequery::parse(&m).unwrap_err();
        assert_eq!((e.status(), e.reason()), (None, "leasequery_no_client_id"));
        // A SOLICIT is not a query.
        let b = hex("01 000001 0001 0004 0003 0001");
        assert_eq!(
            Leasequery::parse(&Message::parse(&b).unwrap()),
            Err(QueryError::NotLeasequery)
        );
    }

    #[test]
    fn reply_options_in_rfc_5007_layout() {
        let mut b = Builder::new();
        let peer: Ipv6Addr = "2001:db8:100::1".parse().unwrap();
        b.client_data(|c| {
            c.client_id(&[0, 3, 0, 1, 0xaa])?;
            c.ia_addr("2001:db8:1::10".parse().unwrap(), 100, 200)?;
            c.clt_time(300)?;
            c.lq_relay_data(peer, &[12, 0])?;
            Ok(())
        })
        .unwrap();
        b.lq_client_link(&[peer]).unwrap();
        let want = hex("002d 0043
               0001 0005 00030001aa
               0005 0018 20010db8000100000000000000000010 00000064 000000c8
               002e 0004 0000012c
               002f 0012 20010db8010000000000000000000001 0c00
             0030 0010 20010db8010000000000000000000001");
        assert_eq!(b.as_bytes(), want);
        let o = Options::parse(&want, 0).unwrap();
        let cd = ClientData::parse(o.get(code::CLIENT_DATA).unwrap()).unwrap();
        assert_eq!(cd.client_id, Some(&[0u8, 3, 0, 1, 0xaa][..]));
        assert_eq!(cd.clt_time, Some(300));
        assert_eq!(cd.addresses.len(), 1);
        assert_eq!(cd.addresses[0].valid_lifetime, 200);
        assert_eq!(cd.relay_data.unwrap().peer_address, peer);
        assert_eq!(
            parse_client_links(o.get(code::LQ_CLIENT_LINK).unwrap()).unwrap(),
            vec![peer]
        );
        assert!(parse_client_links(&[0; 15]).is_err());
        assert!(ClientData::parse(&hex("002e 0003 000001")).is_err());
        let mut r = Builder::new();
        r.relay_id(&[0, 3, 0, 9]).unwrap();
        assert_eq!(r.as_bytes(), hex("0035 0004 00030009"));
    }

    #[test]
    fn relay_data_cuts_the_clients_message_out_of_a_two_relay_chain() {
        // RFC 8415 §9: an outer relay (hop 1) around an inner one (hop 0)
        // carrying a Remote-ID and a Relay-ID, around a SOLICIT.
        let solicit = hex("01 000001 0001 0004 0003 0001");
        let mut inner = Builder::relay(
            MessageType::RelayForw,
            0,
            "2001:db8:100::1".parse().unwrap(),
            "fe80::1".parse().unwrap(),
        );
        inner.remote_id(4491, &[1, 2, 3]).unwrap();
        inner.relay_msg(&solicit).unwrap();
        inner.relay_id(&[0, 3, 0, 9]).unwrap();
        let inner = inner.finish();
        let mut outer = Builder::relay(
            MessageType::RelayForw,
            1,
            Ipv6Addr::UNSPECIFIED,
            "2001:db8:100::1".parse().unwrap(),
        );
        outer.relay_msg(&inner).unwrap();
        let wire = outer.finish();
        let relayed = Relayed::parse(&wire).unwrap();
        let stored = relay_data_message(&relayed.relays).unwrap().unwrap();
        // Outer header, option 9 around the inner header, its Remote-ID
        // and Relay-ID: the SOLICIT is gone, nothing else.
        let want = hex(
            "0c 01 00000000000000000000000000000000 20010db8010000000000000000000001
             0009 0035
               0c 00 20010db8010000000000000000000001 fe800000000000000000000000000001
               0025 0007 0000118b 010203
               0035 0004 00030009",
        );
        assert_eq!(stored, want);
        let layers = relay_layers(&stored).unwrap();
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[1].hop_count, 0);
        assert_eq!(
            layers[1].options.get(code::RELAY_ID),
            Some(&[0u8, 3, 0, 9][..])
        );
        assert_eq!(relay_data_message(&[]).unwrap(), None);
        assert!(relay_layers(&stored[..40]).is_err());
        assert!(relay_layers(&solicit).is_err());
    }

    #[test]
    fn frames_are_length_prefixed_and_bounded() {
        assert_eq!(frame(&[15, 0, 0, 1]).unwrap(), [0, 4, 15, 0, 0, 1]);
        assert!(frame(&vec![0; 70_000]).is_err());
        let mut r = FrameReader::new(100);
        // Two pipelined messages, split at awkward points.
        let stream = [0u8, 4, 14, 0, 0, 1, 0, 5, 14, 0, 0, 2, 9];
        r.push(&stream[..1]);
        assert_eq!(r.next_message(), Ok(None));
        r.push(&stream[1..8]);
        assert_eq!(r.next_message(), Ok(Some(vec![14, 0, 0, 1])));
        assert_eq!(r.next_message(), Ok(None));
        r.push(&stream[8..]);
        assert_eq!(r.next_message(), Ok(Some(vec![14, 0, 0, 2, 9])));
        assert_eq!(r.buffered(), 0);
        r.push(&[0, 0]);
        assert_eq!(r.next_message(), Err(FrameError::Empty));
        let mut r = FrameReader::new(100);
        r.push(&[0, 101]);
        assert_eq!(r.next_message(), Err(FrameError::TooLarge(101)));
    }

    #[test]
    fn random_and_truncated_input_never_panics() {
        // A small deterministic generator (xorshift) over mutations of
        // the RFC vector and random bytes.
        let base = hex(BY_ADDRESS);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..20_000 {
            let mut b = if i % 2 == 0 {
                base.clone()
            } else {
                (0..(next() % 96) as usize).map(|_| next() as u8).collect()
            };
            if !b.is_empty() {
                let n = (next() % 4) as usize;
                for _ in 0..n {
                    let at = (next() as usize) % b.len();
                    b[at] = next() as u8;
                }
                b.truncate((next() as usize) % (b.len() + 1));
            }
            if let Ok(m) = Message::parse(&b) {
                if let Ok(l) = Leasequery::parse(&m) {
                    let _ = l.query.map(|q| (q.kind(), q.link()));
                }
            }
            let _ = LqQuery::parse(&b).map(|q| q.query());
            let _ = ClientData::parse(&b);
            let _ = RelayData::parse(&b).map(|r| r.layers());
            let _ = relay_layers(&b);
            let mut r = FrameReader::new(64);
            r.push(&b);
            while let Ok(Some(_)) = r.next_message() {}
        }
    }
}
