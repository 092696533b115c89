//! Sans-IO DHCPv6 message codec: RFC 8415 §7.3 (message types), §7.6
//! (HOP_COUNT_LIMIT), §8 (client/server message format), §9 (relay
//! agent/server message format), §19 and §20 (relaying: Relay-Forward
//! nesting and Relay-Reply through the same chain, Interface-Id echoed),
//! §21 (options).
//!
//! [`parse`] reads one layer; [`Relayed::parse`] unwraps a whole
//! Relay-Forward chain down to the client's message, refusing chains deeper
//! than HOP_COUNT_LIMIT allows; [`Relayed::wrap_reply`] encodes the server's
//! reply back through the same relays. Options stay borrowed and in wire
//! order ([`Options`]); [`Builder`] writes replies in the order the caller
//! pushes options, nesting IA options.

mod builder;
pub mod code;
pub mod leasequery;
mod options;

#[cfg(test)]
mod tests;

use std::net::Ipv6Addr;

pub use builder::{Builder, EncodeError};
pub use options::{
    ClientFqdn, Duid, Ia, IaAddr, IaPrefix, Iter, OptionError, Options, Oro, RemoteId, StatusCode,
    VendorClass, VendorOpts,
};

/// Server UDP port (RFC 8415 §7.2).
pub const SERVER_PORT: u16 = 547;
/// Client UDP port (RFC 8415 §7.2).
pub const CLIENT_PORT: u16 = 546;
/// All_DHCP_Relay_Agents_and_Servers, ff02::1:2 (RFC 8415 §7.1).
pub const ALL_RELAY_AGENTS_AND_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);
/// All_DHCP_Servers, ff05::1:3 (RFC 8415 §7.1).
pub const ALL_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff05, 0, 0, 0, 0, 0, 1, 3);
/// HOP_COUNT_LIMIT (RFC 8415 §7.6): a relay discards a Relay-Forward whose
/// hop-count already reached it, so no layer carries more than this.
pub const HOP_COUNT_LIMIT: u8 = 8;
/// Most relay layers a conforming chain can have: hop-counts 0 through
/// HOP_COUNT_LIMIT, one per layer.
pub const MAX_RELAY_DEPTH: usize = HOP_COUNT_LIMIT as usize + 1;
/// Client/server header: msg-type(1) transaction-id(3).
pub const HEADER_LEN: usize = 4;
/// Relay header: msg-type(1) hop-count(1) link-address(16) peer-address(16).
pub const RELAY_HEADER_LEN: usize = 34;
/// Largest datagram accepted: the largest UDP payload.
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize;

/// DHCPv6 message type (RFC 8415 §7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// SOLICIT (1).
    Solicit,
    /// ADVERTISE (2).
    Advertise,
    /// REQUEST (3).
    Request,
    /// CONFIRM (4).
    Confirm,
    /// RENEW (5).
    Renew,
    /// REBIND (6).
    Rebind,
    /// REPLY (7).
    Reply,
    /// RELEASE (8).
    Release,
    /// DECLINE (9).
    Decline,
    /// RECONFIGURE (10).
    Reconfigure,
    /// INFORMATION-REQUEST (11).
    InformationRequest,
    /// RELAY-FORW (12).
    RelayForw,
    /// RELAY-REPL (13).
    RelayRepl,
    /// LEASEQUERY (14, RFC 5007 §4.2).
    Leasequery,
    /// LEASEQUERY-REPLY (15, RFC 5007 §4.2).
    LeasequeryReply,
    /// LEASEQUERY-DONE (16, RFC 5460 §5.2.2).
    LeasequeryDone,
    /// LEASEQUERY-DATA (17, RFC 5460 §5.2.1).
    LeasequeryData,
    /// Any other value (DHCPv4-over-DHCPv6, …).
    Unknown(u8),
}

impl From<u8> for MessageType {
    fn from(v: u8) -> Self {
        match v {
            1 => MessageType::Solicit,
            2 => MessageType::Advertise,
            3 => MessageType::Request,
            4 => MessageType::Confirm,
            5 => MessageType::Renew,
            6 => MessageType::Rebind,
            7 => MessageType::Reply,
            8 => MessageType::Release,
            9 => MessageType::Decline,
            10 => MessageType::Reconfigure,
            11 => MessageType::InformationRequest,
            12 => MessageType::RelayForw,
            13 => MessageType::RelayRepl,
            14 => MessageType::Leasequery,
            15 => MessageType::LeasequeryReply,
            16 => MessageType::LeasequeryDone,
            17 => MessageType::LeasequeryData,
            other => MessageType::Unknown(other),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(t: MessageType) -> u8 {
        match t {
            MessageType::Solicit => 1,
            MessageType::Advertise => 2,
            MessageType::Request => 3,
            MessageType::Confirm => 4,
            MessageType::Renew => 5,
            MessageType::Rebind => 6,
            MessageType::Reply => 7,
            MessageType::Release => 8,
            MessageType::Decline => 9,
            MessageType::Reconfigure => 10,
            MessageType::InformationRequest => 11,
            MessageType::RelayForw => 12,
            MessageType::RelayRepl => 13,
            MessageType::Leasequery => 14,
            MessageType::LeasequeryReply => 15,
            MessageType::LeasequeryDone => 16,
            MessageType::LeasequeryData => 17,
            MessageType::Unknown(v) => v,
        }
    }
}

impl MessageType {
    /// The RFC 8415 name, e.g. `"SOLICIT"`; `"unknown"` otherwise.
    pub fn name(self) -> &'static str {
        match self {
            MessageType::Solicit => "SOLICIT",
            MessageType::Advertise => "ADVERTISE",
            MessageType::Request => "REQUEST",
            MessageType::Confirm => "CONFIRM",
            MessageType::Renew => "RENEW",
            MessageType::Rebind => "REBIND",
            MessageType::Reply => "REPLY",
            MessageType::Release => "RELEASE",
            MessageType::Decline => "DECLINE",
            MessageType::Reconfigure => "RECONFIGURE",
            MessageType::InformationRequest => "INFORMATION-REQUEST",
            MessageType::RelayForw => "RELAY-FORW",
            MessageType::RelayRepl => "RELAY-REPL",
            MessageType::Leasequery => "LEASEQUERY",
            MessageType::LeasequeryReply => "LEASEQUERY-REPLY",
            MessageType::LeasequeryDone => "LEASEQUERY-DONE",
            MessageType::LeasequeryData => "LEASEQUERY-DATA",
            MessageType::Unknown(_) => "unknown",
        }
    }

    /// Whether this type uses the relay message format (§9).
    pub fn is_relay(self) -> bool {
        matches!(self, MessageType::RelayForw | MessageType::RelayRepl)
    }
}

/// Why a datagram was dropped; each variant is one drop counter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Shorter than the message header (4, or 34 for relay messages).
    #[error("message of {0} octets is shorter than its header")]
    Truncated(usize),
    /// Longer than [`MAX_MESSAGE_LEN`].
    #[error("message of {0} octets is too large")]
    TooLarge(usize),
    /// The options do not frame, or a required option is malformed.
    #[error("bad options: {0}")]
    Option(#[from] OptionError),
    /// A relay message without a Relay Message option (§9).
    #[error("relay message without a Relay Message option")]
    MissingRelayMessage,
    /// A relay message whose hop-count exceeds HOP_COUNT_LIMIT, or a chain
    /// of more than [`MAX_RELAY_DEPTH`] layers (a relay loop).
    #[error("relay chain too deep (hop-count or nesting over HOP_COUNT_LIMIT)")]
    RelayTooDeep,
    /// A client/server message where a relay message was expected, or the
    /// reverse.
    #[error("unexpected message type {0}")]
    UnexpectedType(u8),
}

impl ParseError {
    /// Stable short label, used as the drop-counter key.
    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::Truncated(_) => "truncated",
            ParseError::TooLarge(_) => "too_large",
            ParseError::Option(_) => "bad_option",
            ParseError::MissingRelayMessage => "missing_relay_message",
            ParseError::RelayTooDeep => "relay_too_deep",
            ParseError::UnexpectedType(_) => "unexpected_type",
        }
    }
}

/// A client/server message (RFC 8415 §8), borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// Message type.
    pub msg_type: MessageType,
    /// Transaction ID, 24 bits.
    pub transaction_id: u32,
    /// The options, in wire order.
    pub options: Options<'a>,
}

impl<'a> Message<'a> {
    /// Parses a client/server message; a relay message type is an error.
    pub fn parse(buf: &'a [u8]) -> Result<Message<'a>, ParseError> {
        check_size(buf, HEADER_LEN)?;
        let Some(([t, a, b, c], rest)) = buf.split_first_chunk::<4>() else {
            return Err(ParseError::Truncated(buf.len()));
        };
        let msg_type = MessageType::from(*t);
        if msg_type.is_relay() {
            return Err(ParseError::UnexpectedType(*t));
        }
        Ok(Message {
            msg_type,
            transaction_id: u32::from_be_bytes([0, *a, *b, *c]),
            options: Options::parse(rest, 0)?,
        })
    }
}

/// A Relay-Forward or Relay-Reply message (RFC 8415 §9), borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayMessage<'a> {
    /// RELAY-FORW or RELAY-REPL.
    pub msg_type: MessageType,
    /// Number of relays that relayed this message before.
    pub hop_count: u8,
    /// Address identifying the client's link; unspecified from a
    /// lightweight relay (RFC 6221).
    pub link_address: Ipv6Addr,
    /// Address of the client or relay the message came from.
    pub peer_address: Ipv6Addr,
    /// The relay's options, Relay Message included, in wire order.
    pub options: Options<'a>,
}

impl<'a> RelayMessage<'a> {
    /// Parses one relay layer; a client/server type is an error, and so is
    /// a missing Relay Message option or a hop-count over HOP_COUNT_LIMIT.
    pub fn parse(buf: &'a [u8]) -> Result<RelayMessage<'a>, ParseError> {
        check_size(buf, RELAY_HEADER_LEN)?;
        let Some(([t, hop_count], rest)) = buf.split_first_chunk::<2>() else {
            return Err(ParseError::Truncated(buf.len()));
        };
        let msg_type = MessageType::from(*t);
        if !msg_type.is_relay() {
            return Err(ParseError::UnexpectedType(*t));
        }
        if *hop_count > HOP_COUNT_LIMIT {
            return Err(ParseError::RelayTooDeep);
        }
        let Some((link, rest)) = rest.split_first_chunk::<16>() else {
            return Err(ParseError::Truncated(buf.len()));
        };
        let Some((peer, rest)) = rest.split_first_chunk::<16>() else {
            return Err(ParseError::Truncated(buf.len()));
        };
        let options = Options::parse(rest, 0)?;
        if !options.contains(code::RELAY_MSG) {
            return Err(ParseError::MissingRelayMessage);
        }
        Ok(RelayMessage {
            msg_type,
            hop_count: *hop_count,
            link_address: Ipv6Addr::from(*link),
            peer_address: Ipv6Addr::from(*peer),
            options,
        })
    }

    /// The encapsulated message (option 9).
    pub fn relay_msg(&self) -> &'a [u8] {
        self.options.relay_msg().unwrap_or(&[])
    }

    /// The Interface-Id option (18), which a reply must echo.
    pub fn interface_id(&self) -> Option<&'a [u8]> {
        self.options.interface_id()
    }
}

/// One parsed layer: a client/server message or a relay message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Client/server format (§8).
    Message(Message<'a>),
    /// Relay format (§9).
    Relay(RelayMessage<'a>),
}

/// Parses one layer of a datagram, choosing the format by msg-type.
pub fn parse(buf: &[u8]) -> Result<Packet<'_>, ParseError> {
    match buf.first().map(|&t| MessageType::from(t)) {
        None => Err(ParseError::Truncated(0)),
        Some(t) if t.is_relay() => RelayMessage::parse(buf).map(Packet::Relay),
        Some(_) => Message::parse(buf).map(Packet::Message),
    }
}

/// A client message with the relays it came through, outermost first
/// (`relays[0]` is the Relay-Forward the server received; the last one is
/// the relay on the client's link). Empty when the client sent directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relayed<'a> {
    /// Relay layers, outermost first.
    pub relays: Vec<RelayMessage<'a>>,
    /// The client's message.
    pub message: Message<'a>,
}

impl<'a> Relayed<'a> {
    /// Parses a datagram, unwrapping Relay-Forward layers down to the
    /// client message. More than [`MAX_RELAY_DEPTH`] layers, or any layer
    /// with a hop-count over HOP_COUNT_LIMIT, is [`ParseError::RelayTooDeep`];
    /// a Relay-Reply anywhere is [`ParseError::UnexpectedType`].
    pub fn parse(buf: &'a [u8]) -> Result<Relayed<'a>, ParseError> {
        let mut relays = Vec::new();
        let mut cur = buf;
        loop {
            match parse(cur)? {
                Packet::Message(message) => return Ok(Relayed { relays, message }),
                Packet::Relay(r) => {
                    if r.msg_type != MessageType::RelayForw {
                        return Err(ParseError::UnexpectedType(u8::from(r.msg_type)));
                    }
                    if relays.len() == MAX_RELAY_DEPTH {
                        return Err(ParseError::RelayTooDeep);
                    }
                    cur = r.relay_msg();
                    relays.push(r);
                }
            }
        }
    }

    /// Whether the message came through at least one relay.
    pub fn is_relayed(&self) -> bool {
        !self.relays.is_empty()
    }

    /// The relay on the client's link (the innermost layer).
    pub fn innermost(&self) -> Option<&RelayMessage<'a>> {
        self.relays.last()
    }

    /// The link-address identifying the client's link: the innermost
    /// relay's, or the first specified one going outwards when lightweight
    /// relays (RFC 6221) left it unspecified.
    pub fn link_address(&self) -> Option<Ipv6Addr> {
        self.relays
            .iter()
            .rev()
            .map(|r| r.link_address)
            .find(|a| !a.is_unspecified())
    }

    /// Wraps an encoded reply in Relay-Reply layers mirroring the chain
    /// (RFC 8415 §19.3.8 and §20.1.1 counterpart): each layer copies
    /// hop-count, link-address and peer-address from its Relay-Forward and
    /// echoes the Interface-Id option when the Relay-Forward had one.
    /// Without relays the reply is returned unchanged. A result over
    /// [`MAX_MESSAGE_LEN`] cannot travel in one datagram and is an error.
    pub fn wrap_reply(&self, reply: &[u8]) -> Result<Vec<u8>, EncodeError> {
        let mut inner = reply.to_vec();
        for relay in self.relays.iter().rev() {
            inner = relay_reply(relay, &inner)?;
        }
        if inner.len() > MAX_MESSAGE_LEN {
            return Err(EncodeError::TooLong {
                code: code::RELAY_MSG,
                len: inner.len(),
            });
        }
        Ok(inner)
    }
}

/// One Relay-Reply answering `forward`, carrying `inner` in its Relay
/// Message option, with the Interface-Id echoed.
pub fn relay_reply(forward: &RelayMessage<'_>, inner: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let mut b = Builder::relay(
        MessageType::RelayRepl,
        forward.hop_count,
        forward.link_address,
        forward.peer_address,
    );
    if let Some(id) = forward.interface_id() {
        b.interface_id(id)?;
    }
    b.relay_msg(inner)?;
    Ok(b.finish())
}

fn check_size(buf: &[u8], header: usize) -> Result<(), ParseError> {
    if buf.len() > MAX_MESSAGE_LEN {
        return Err(ParseError::TooLarge(buf.len()));
    }
    if buf.len() < header {
        return Err(ParseError::Truncated(buf.len()));
    }
    Ok(())
}
