//! DHCPv4 Leasequery (RFC 4388, with RFC 6148's query by Remote ID): what a
//! DHCPLEASEQUERY asks for, and the two options only leasequery replies
//! carry, client-last-transaction-time (91) and associated-ip (92).
//!
//! RFC 4388 puts the query in the fixed header: `ciaddr` for a query
//! by IP address, `htype`/`hlen`/`chaddr` for a query by MAC address, option
//! 61 for a query by client identifier; RFC 6148 adds a query by the
//! Remote-ID sub-option of option 82 when none of these is present. The
//! requester's own address is `giaddr`, where the answer goes.
//! [`Query::of`] reads a parsed [`Packet`]; a query it cannot read is a
//! [`QueryError`], one drop reason each.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use super::{code, Packet};

/// What a DHCPLEASEQUERY asks for (RFC 4388, RFC 6148).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query<'a> {
    /// Query by IP address: the binding of `ciaddr`.
    ByIp(Ipv4Addr),
    /// Query by MAC address: the bindings of this hardware address.
    ByMac {
        /// Hardware type (`htype`, 1 = Ethernet).
        htype: u8,
        /// The `hlen` significant octets of `chaddr`.
        hwaddr: &'a [u8],
    },
    /// Query by client identifier: the bindings of this option 61 value.
    ByClientId(Cow<'a, [u8]>),
    /// Query by Remote ID (RFC 6148): the bindings whose relay agent
    /// information carried this remote-id sub-option.
    ByRemoteId(Vec<u8>),
}

/// Why a DHCPLEASEQUERY cannot be answered; each is one drop reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The message is not a DHCPLEASEQUERY (option 53 is not 10).
    #[error("not a DHCPLEASEQUERY")]
    NotLeasequery,
    /// `giaddr` is 0: the requester gave no address to answer (RFC 4388).
    #[error("DHCPLEASEQUERY without giaddr")]
    NoGiaddr,
    /// Neither `ciaddr`, `chaddr`, option 61 nor an option 82 remote-id.
    #[error("DHCPLEASEQUERY names no IP address, MAC address, client identifier or remote id")]
    NoQuery,
    /// A query by IP address that also carries a MAC address or a client
    /// identifier (RFC 4388: they must then be zero / absent).
    #[error("DHCPLEASEQUERY by IP address also names a MAC address or client identifier")]
    Ambiguous,
    /// Option 61 is present but empty.
    #[error("DHCPLEASEQUERY with an empty client identifier")]
    EmptyClientId,
}

impl QueryError {
    /// Stable short label, used as the drop-counter key.
    pub fn reason(&self) -> &'static str {
        match self {
            QueryError::NotLeasequery => "leasequery_not_query",
            QueryError::NoGiaddr => "leasequery_no_giaddr",
            QueryError::NoQuery => "leasequery_malformed",
            QueryError::Ambiguous => "leasequery_malformed",
            QueryError::EmptyClientId => "leasequery_malformed",
        }
    }
}

impl<'a> Query<'a> {
    /// Reads the query of a DHCPLEASEQUERY. A `chaddr` counts as a MAC
    /// address when `hlen` is non-zero and its octets are not all zero.
    pub fn of(pkt: &Packet<'a>) -> Result<Query<'a>, QueryError> {
        if pkt.message_type() != Some(super::MessageType::LeaseQuery) {
            return Err(QueryError::NotLeasequery);
        }
        if pkt.giaddr.is_unspecified() {
            return Err(QueryError::NoGiaddr);
        }
        let hw = pkt.hwaddr();
        let has_mac = hw.iter().any(|&b| b != 0);
        let client_id = pkt.options.client_id();
        if !pkt.ciaddr.is_unspecified() {
            if has_mac || client_id.is_some() {
                return Err(QueryError::Ambiguous);
            }
            return Ok(Query::ByIp(pkt.ciaddr));
        }
        if let Some(cid) = client_id {
            if cid.is_empty() {
                return Err(QueryError::EmptyClientId);
            }
            return Ok(Query::ByClientId(cid));
        }
        if has_mac {
            return Ok(Query::ByMac {
                htype: pkt.htype,
                hwaddr: hw,
            });
        }
        match pkt.options.relay_agent_info().and_then(|r| {
            r.remote_id()
                .filter(|id| !id.is_empty())
                .map(<[u8]>::to_vec)
        }) {
            Some(id) => Ok(Query::ByRemoteId(id)),
            None => Err(QueryError::NoQuery),
        }
    }

    /// Short name for logs and traces: `ip`, `mac`, `client-id`, `remote-id`.
    pub fn kind(&self) -> &'static str {
        match self {
            Query::ByIp(_) => "ip",
            Query::ByMac { .. } => "mac",
            Query::ByClientId(_) => "client-id",
            Query::ByRemoteId(_) => "remote-id",
        }
    }
}

/// Why an option 91 or 92 value cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// Option 91 is not exactly 4 octets.
    #[error("client-last-transaction-time of {0} octets (must be 4)")]
    BadTransactionTime(usize),
    /// Option 92 is empty or not a multiple of 4 octets.
    #[error("associated-ip of {0} octets (must be a non-zero multiple of 4)")]
    BadAssociatedIp(usize),
}

/// Option 91's payload: `seconds`, big-endian (RFC 4388 §6.1).
pub fn encode_client_last_transaction_time(seconds: u32) -> [u8; 4] {
    seconds.to_be_bytes()
}

/// Reads an option 91 payload: seconds since the client's last transaction.
pub fn decode_client_last_transaction_time(data: &[u8]) -> Result<u32, OptionError> {
    <[u8; 4]>::try_from(data)
        .map(u32::from_be_bytes)
        .map_err(|_| OptionError::BadTransactionTime(data.len()))
}

/// Option 92's payload: the addresses, 4 octets each, in order (RFC 4388
/// §6.1). Over 255 octets the builder splits it (RFC 3396).
pub fn encode_associated_ip(addrs: &[Ipv4Addr]) -> Vec<u8> {
    addrs.iter().flat_map(|a| a.octets()).collect()
}

/// Reads an option 92 payload (RFC 3396-merged) into its addresses.
pub fn decode_associated_ip(data: &[u8]) -> Result<Vec<Ipv4Addr>, OptionError> {
    if data.is_empty() || data.len() % 4 != 0 {
        return Err(OptionError::BadAssociatedIp(data.len()));
    }
    Ok(data
        .chunks_exact(4)
        .filter_map(|c| <[u8; 4]>::try_from(c).ok())
        .map(Ipv4Addr::from)
        .collect())
}

impl super::Options<'_> {
    /// Option 91, client-last-transaction-time (RFC 4388), when 4 octets.
    pub fn client_last_transaction_time(&self) -> Option<u32> {
        decode_client_last_transaction_time(&self.get(code::CLIENT_LAST_TRANSACTION_TIME)?).ok()
    }

    /// Option 92, associated-ip (RFC 4388), when well formed.
    pub fn associated_ip(&self) -> Option<Vec<Ipv4Addr>> {
        decode_associated_ip(&self.get(code::ASSOCIATED_IP)?).ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::dhcpv4::{Builder, MessageType, BOOTREQUEST};

    /// A DHCPLEASEQUERY written out octet by octet from RFC 2131 §2 and
    /// RFC 4388: op 1, htype/hlen as given, xid, ciaddr, giaddr =
    /// the requester, chaddr, cookie, option 53 = 10, then `options`.
    fn query(
        htype: u8,
        chaddr: &[u8],
        ciaddr: [u8; 4],
        giaddr: [u8; 4],
        options: &[u8],
    ) -> Vec<u8> {
        let mut p = vec![1, htype, u8::try_from(chaddr.len()).unwrap(), 0];
        p.extend_from_slice(&0x1234_5678u32.to_be_bytes()); // xid
        p.extend_from_slice(&[0, 0, 0, 0]); // secs, flags
        p.extend_from_slice(&ciaddr);
        p.extend_from_slice(&[0; 8]); // yiaddr, siaddr
        p.extend_from_slice(&giaddr);
        let mut ch = chaddr.to_vec();
        ch.resize(16, 0);
        p.extend_from_slice(&ch);
        p.extend_from_slice(&[0; 192]); // sname, file
        p.extend_from_slice(&[99, 130, 83, 99, 53, 1, 10]);
        p.extend_from_slice(options);
        p.push(255);
        p
    }

    const CMTS: [u8; 4] = [10, 0, 0, 1];
    const MAC: [u8; 6] = [0x00, 0x10, 0x95, 0x12, 0x34, 0x56];

    #[test]
    fn message_types_are_rfc_4388_numbers() {
        let buf = query(0, &[], [10, 1, 0, 10], CMTS, &[]);
        assert_eq!(buf[240..243], [53, 1, 10]);
        let pkt = Packet::parse(&buf).unwrap();
        assert_eq!(pkt.message_type(), Some(MessageType::LeaseQuery));
        for (t, n) in [
            (MessageType::LeaseQuery, 10u8),
            (MessageType::LeaseUnassigned, 11),
            (MessageType::LeaseUnknown, 12),
            (MessageType::LeaseActive, 13),
        ] {
            assert_eq!(u8::from(t), n);
            assert_eq!(MessageType::from(n), t);
        }
        assert_eq!(MessageType::LeaseUnassigned.name(), "DHCPLEASEUNASSIGNED");
    }

    #[test]
    fn query_by_ip_reads_ciaddr() {
        let buf = query(0, &[], [10, 1, 0, 10], CMTS, &[]);
        let pkt = Packet::parse(&buf).unwrap();
        assert_eq!(
            Query::of(&pkt),
            Ok(Query::ByIp(Ipv4Addr::new(10, 1, 0, 10)))
        );
        assert_eq!(Query::of(&pkt).unwrap().kind(), "ip");
    }

    #[test]
    fn query_by_mac_reads_htype_and_chaddr() {
        let buf = query(1, &MAC, [0; 4], CMTS, &[]);
        let pkt = Packet::parse(&buf).unwrap();
        assert_eq!(
            Query::of(&pkt),
            Ok(Query::ByMac {
                htype: 1,
                hwaddr: &MAC[..]
            })
        );
    }

    #[test]
    fn query_by_client_id_reads_option_61() {
        let opt61 = [61, 7, 1, 0x00, 0x10, 0x95, 0x12, 0x34, 0x56];
        let buf = query(0, &[], [0; 4], CMTS, &opt61);
        let pkt = Packet::parse(&buf).unwrap();
        assert_eq!(
            Query::of(&pkt),
            Ok(Query::ByClientId(Cow::Borrowed(&opt61[2..])))
        );
        // A client identifier wins over a chaddr also filled in.
        let buf = query(1, &MAC, [0; 4], CMTS, &opt61);
        let pkt = Packet::parse(&buf).unwrap();
        assert_eq!(Query::of(&pkt).unwrap().kind(), "client-id");
    }

    #[test]
    fn query_by_remote_id_reads_option_82_sub_option_2() {
        // RFC 6148: no ciaddr, chaddr or option 61; option 82 with
        // sub-option 2 = the cable modem's MAC.
        let mut opt82 = vec![82, 8, 2, 6];
        opt82.extend_from_slice(&MAC);
        let buf = query(0, &[], [0; 4], CMTS, &opt82);
        let pkt = Packet::parse(&buf).unwrap();
        assert_eq!(Query::of(&pkt), Ok(Query::ByRemoteId(MAC.to_vec())));
    }

    #[test]
    fn queries_without_a_key_or_a_giaddr_are_errors() {
        fn pkt_of(b: &[u8]) -> Result<&'static str, QueryError> {
            Query::of(&Packet::parse(b).unwrap()).map(|q| q.kind())
        }
        assert_eq!(
            pkt_of(&query(0, &[], [10, 1, 0, 10], [0; 4], &[])),
            Err(QueryError::NoGiaddr)
        );
        assert_eq!(
            pkt_of(&query(1, &[0; 6], [0; 4], CMTS, &[])),
            Err(QueryError::NoQuery)
        );
        assert_eq!(
            pkt_of(&query(1, &MAC, [10, 1, 0, 10], CMTS, &[])),
            Err(QueryError::Ambiguous)
        );
        assert_eq!(
            pkt_of(&query(0, &[], [10, 1, 0, 10], CMTS, &[61, 2, 1, 2])),
            Err(QueryError::Ambiguous)
        );
        assert_eq!(
            pkt_of(&query(0, &[], [0; 4], CMTS, &[61, 0])),
            Err(QueryError::EmptyClientId)
        );
        assert_eq!(QueryError::Ambiguous.reason(), "leasequery_malformed");
        // A DHCPDISCOVER is not a query.
        let mut d = query(1, &MAC, [0; 4], CMTS, &[]);
        d[242] = 1;
        assert_eq!(pkt_of(&d), Err(QueryError::NotLeasequery));
    }

    #[test]
    fn options_91_and_92_round_trip_in_rfc_layout() {
        // RFC 4388 §6.1: 91 is code, len 4, seconds; 92 is code, len 4n,
        // the addresses.
        let mut b = Builder::new();
        b.push_option(code::MESSAGE_TYPE, &[u8::from(MessageType::LeaseActive)]);
        b.push_option(
            code::CLIENT_LAST_TRANSACTION_TIME,
            &encode_client_last_transaction_time(300),
        );
        let assoc = [Ipv4Addr::new(10, 1, 0, 12), Ipv4Addr::new(10, 2, 0, 7)];
        b.push_option(code::ASSOCIATED_IP, &encode_associated_ip(&assoc));
        let wire = b.encode(576).unwrap();
        assert_eq!(
            wire[240..259],
            [53, 1, 13, 91, 4, 0, 0, 1, 44, 92, 8, 10, 1, 0, 12, 10, 2, 0, 7]
        );
        let pkt = Packet::parse(&wire).unwrap();
        assert_eq!(pkt.options.client_last_transaction_time(), Some(300));
        assert_eq!(pkt.options.associated_ip(), Some(assoc.to_vec()));
        assert_eq!(pkt.op, 2);
        assert_ne!(pkt.op, BOOTREQUEST);
    }

    #[test]
    fn bad_option_91_and_92_lengths_are_refused() {
        assert_eq!(
            decode_client_last_transaction_time(&[0, 1, 2]),
            Err(OptionError::BadTransactionTime(3))
        );
        assert_eq!(
            decode_associated_ip(&[]),
            Err(OptionError::BadAssociatedIp(0))
        );
        assert_eq!(
            decode_associated_ip(&[10, 0, 0, 1, 10]),
            Err(OptionError::BadAssociatedIp(5))
        );
        assert_eq!(
            decode_associated_ip(&[10, 0, 0, 1, 10, 0, 0, 2]),
            Ok(vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)])
        );
    }

    #[test]
    fn a_long_associated_ip_list_is_split_and_merged() {
        // 70 addresses = 280 octets: two instances on the wire (RFC 3396).
        let addrs: Vec<Ipv4Addr> = (0..70u8).map(|i| Ipv4Addr::new(10, 3, 0, i)).collect();
        let mut b = Builder::new();
        b.push_option(code::MESSAGE_TYPE, &[13]);
        b.push_option(code::ASSOCIATED_IP, &encode_associated_ip(&addrs));
        let wire = b.encode(1500).unwrap();
        let pkt = Packet::parse(&wire).unwrap();
        assert_eq!(
            pkt.options
                .fragments()
                .filter(|(c, _)| *c == code::ASSOCIATED_IP)
                .count(),
            2
        );
        assert_eq!(pkt.options.associated_ip(), Some(addrs));
    }
}
