//! DNS UPDATE messages (RFC 2136) for a DHCP server, with the conflict
//! rules of RFC 4703 section 5 (DHCPv4 and DHCPv6 alike).
//!
//! - [`add_forward`] (section 5.3.1): prerequisite "name is not in use"
//!   (RFC 2136 section 2.4.5), add the A/AAAA and the DHCID.
//! - [`replace_forward`] (section 5.3.2), after YXDOMAIN: prerequisite
//!   "the DHCID RRset is ours" (section 2.4.2, value dependent), delete the
//!   A (or AAAA) RRset and add the new address. NXRRSET here means another
//!   client owns the name: the updater gives up.
//! - [`remove_forward`] and [`remove_dhcid`] (section 5.5): delete our
//!   address while the DHCID is ours; then delete the DHCID only when no
//!   A and no AAAA RRs remain (two messages: RFC 2136 checks every
//!   prerequisite before any update).
//! - [`add_reverse`] and [`remove_reverse`] (section 5.4 and 5.5): PTR
//!   updates need no conflict rules; the add replaces the PTR RRset, the
//!   removal deletes only the PTR that names our FQDN.
//!
//! Each builder returns an unsigned hickory `Message` (OpCode UPDATE, the
//! zone in the zone section); [`crate::tsig`] signs it.

use std::net::IpAddr;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::dhcid::{Dhcid, DHCID_RECORD_TYPE};

/// Errors building an update.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// The name to update is not in the zone the update goes to.
    #[error("{name} is not in zone {zone}")]
    NotInZone {
        /// The owner name.
        name: String,
        /// The zone.
        zone: String,
    },
}

fn check_zone(zone: &Name, name: &Name) -> Result<(), UpdateError> {
    if zone.zone_of(name) {
        Ok(())
    } else {
        Err(UpdateError::NotInZone {
            name: name.to_string(),
            zone: zone.to_string(),
        })
    }
}

/// An empty UPDATE for `zone` (zone section: ZNAME, ZTYPE SOA, ZCLASS IN).
fn message(id: u16, zone: &Name) -> Message {
    let mut m = Message::new(id, MessageType::Query, OpCode::Update);
    m.metadata.recursion_desired = false;
    let mut q = Query::new();
    q.set_name(zone.clone())
        .set_query_type(RecordType::SOA)
        .set_query_class(DNSClass::IN);
    m.queries.push(q);
    m
}

/// A record with empty RDATA (RFC 2136 "RDLENGTH 0") of `class`.
fn empty(name: &Name, rtype: RecordType, class: DNSClass) -> Record {
    let mut r = Record::update0(name.clone(), 0, rtype);
    r.dns_class = class;
    r
}

/// A record with RDATA in `class` and `ttl`.
fn with_data(name: &Name, ttl: u32, data: RData, class: DNSClass) -> Record {
    let mut r = Record::from_rdata(name.clone(), ttl, data);
    r.dns_class = class;
    r
}

fn address_data(address: IpAddr) -> RData {
    match address {
        IpAddr::V4(a) => RData::A(A(a)),
        IpAddr::V6(a) => RData::AAAA(AAAA(a)),
    }
}

fn address_type(address: IpAddr) -> RecordType {
    match address {
        IpAddr::V4(_) => RecordType::A,
        IpAddr::V6(_) => RecordType::AAAA,
    }
}

/// Prerequisite "the DHCID RRset is exactly ours" (RFC 2136 section 2.4.2).
fn dhcid_is_ours(fqdn: &Name, dhcid: &Dhcid) -> Record {
    with_data(fqdn, 0, dhcid.to_rdata(), DNSClass::IN)
}

/// RFC 4703 section 5.3.1: add A/AAAA and DHCID if the name is not in use.
pub fn add_forward(
    id: u16,
    zone: &Name,
    fqdn: &Name,
    address: IpAddr,
    dhcid: &Dhcid,
    ttl: u32,
) -> Result<Message, UpdateError> {
    check_zone(zone, fqdn)?;
    let mut m = message(id, zone);
    // Prerequisite section (the answer section on the wire).
    m.answers.push(empty(fqdn, RecordType::ANY, DNSClass::NONE));
    // Update section (the authority section on the wire).
    m.authorities
        .push(with_data(fqdn, ttl, address_data(address), DNSClass::IN));
    m.authorities
        .push(with_data(fqdn, ttl, dhcid.to_rdata(), DNSClass::IN));
    Ok(m)
}

/// RFC 4703 section 5.3.2: when the DHCID is ours, replace the A (or
/// AAAA) RRset by `address`.
pub fn replace_forward(
    id: u16,
    zone: &Name,
    fqdn: &Name,
    address: IpAddr,
    dhcid: &Dhcid,
    ttl: u32,
) -> Result<Message, UpdateError> {
    check_zone(zone, fqdn)?;
    let mut m = message(id, zone);
    m.answers.push(dhcid_is_ours(fqdn, dhcid));
    m.authorities
        .push(empty(fqdn, address_type(address), DNSClass::ANY));
    m.authorities
        .push(with_data(fqdn, ttl, address_data(address), DNSClass::IN));
    Ok(m)
}

/// RFC 4703 section 5.5, first step: when the DHCID is ours, delete the
/// A/AAAA RR of `address` (other addresses of the name stay).
pub fn remove_forward(
    id: u16,
    zone: &Name,
    fqdn: &Name,
    address: IpAddr,
    dhcid: &Dhcid,
) -> Result<Message, UpdateError> {
    check_zone(zone, fqdn)?;
    let mut m = message(id, zone);
    m.answers.push(dhcid_is_ours(fqdn, dhcid));
    m.authorities
        .push(with_data(fqdn, 0, address_data(address), DNSClass::NONE));
    Ok(m)
}

/// RFC 4703 section 5.5, second step: when the DHCID is ours and neither
/// A nor AAAA RRs remain, delete the DHCID RRset. NXRRSET (not ours) and
/// YXRRSET (addresses remain) both mean "leave it".
pub fn remove_dhcid(
    id: u16,
    zone: &Name,
    fqdn: &Name,
    dhcid: &Dhcid,
) -> Result<Message, UpdateError> {
    check_zone(zone, fqdn)?;
    let mut m = message(id, zone);
    m.answers.push(dhcid_is_ours(fqdn, dhcid));
    m.answers.push(empty(fqdn, RecordType::A, DNSClass::NONE));
    m.answers
        .push(empty(fqdn, RecordType::AAAA, DNSClass::NONE));
    m.authorities
        .push(empty(fqdn, DHCID_RECORD_TYPE, DNSClass::ANY));
    Ok(m)
}

/// RFC 4703 section 5.4: set the PTR of `address` to `fqdn` (the PTR RRset
/// is replaced; no prerequisites).
pub fn add_reverse(
    id: u16,
    zone: &Name,
    address: IpAddr,
    fqdn: &Name,
    ttl: u32,
) -> Result<Message, UpdateError> {
    let owner = reverse_name(address);
    check_zone(zone, &owner)?;
    let mut m = message(id, zone);
    m.authorities
        .push(empty(&owner, RecordType::PTR, DNSClass::ANY));
    m.authorities.push(with_data(
        &owner,
        ttl,
        RData::PTR(PTR(fqdn.clone())),
        DNSClass::IN,
    ));
    Ok(m)
}

/// RFC 4703 section 5.5: delete the PTR of `address` that names `fqdn`.
pub fn remove_reverse(
    id: u16,
    zone: &Name,
    address: IpAddr,
    fqdn: &Name,
) -> Result<Message, UpdateError> {
    let owner = reverse_name(address);
    check_zone(zone, &owner)?;
    let mut m = message(id, zone);
    m.authorities.push(with_data(
        &owner,
        0,
        RData::PTR(PTR(fqdn.clone())),
        DNSClass::NONE,
    ));
    Ok(m)
}

/// The reverse-mapping name of an address: `d.c.b.a.in-addr.arpa.` (RFC
/// 1035 section 3.5) or the 32 nibbles under `ip6.arpa.` (RFC 3596
/// section 2.5).
pub fn reverse_name(address: IpAddr) -> Name {
    let text = match address {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(a) => {
            let mut s = String::with_capacity(73);
            for b in a.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0x0f, b >> 4));
            }
            s.push_str("ip6.arpa.");
            s
        }
    };
    // Digits, hex nibbles and fixed labels: always a valid name.
    Name::from_ascii(&text).unwrap_or_else(|_| Name::root())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn dhcid() -> Dhcid {
        Dhcid::from_hwaddr(1, &[1, 2, 3, 4, 5, 6], &name("host1.example.test.")).unwrap()
    }

    /// Encodes and decodes again: what a server would read.
    fn wire(m: &Message) -> Message {
        Message::from_vec(&m.to_vec().unwrap()).unwrap()
    }

    fn summary(records: &[Record]) -> Vec<(String, RecordType, DNSClass, u32, usize)> {
        records
            .iter()
            .map(|r| {
                let len = match &r.data {
                    RData::Update0(_) => 0,
                    RData::Unknown { rdata, .. } => rdata.anything.len(),
                    RData::A(_) => 4,
                    RData::AAAA(_) => 16,
                    RData::PTR(p) => p.0.len(),
                    _ => usize::MAX,
                };
                (r.name.to_string(), r.record_type(), r.dns_class, r.ttl, len)
            })
            .collect()
    }

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("192.0.2.10".parse().unwrap()).to_string(),
            "10.2.0.192.in-addr.arpa."
        );
        assert_eq!(
            reverse_name("2001:db8:1::100".parse().unwrap()).to_string(),
            "0.0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
        );
    }

    #[test]
    fn add_forward_layout() {
        let zone = name("example.test.");
        let fqdn = name("host1.example.test.");
        let m = add_forward(
            7,
            &zone,
            &fqdn,
            "192.0.2.10".parse().unwrap(),
            &dhcid(),
            600,
        )
        .unwrap();
        let m = wire(&m);
        assert_eq!(m.id, 7);
        assert_eq!(m.op_code, OpCode::Update);
        assert_eq!(m.queries.len(), 1);
        assert_eq!(m.queries[0].name(), &zone);
        assert_eq!(m.queries[0].query_type(), RecordType::SOA);
        let h = "host1.example.test.".to_string();
        assert_eq!(
            summary(&m.answers),
            vec![(h.clone(), RecordType::ANY, DNSClass::NONE, 0, 0)]
        );
        assert_eq!(
            summary(&m.authorities),
            vec![
                (h.clone(), RecordType::A, DNSClass::IN, 600, 4),
                (h, DHCID_RECORD_TYPE, DNSClass::IN, 600, 35),
            ]
        );
    }

    #[test]
    fn replace_and_remove_layout() {
        let zone = name("example.test.");
        let fqdn = name("host1.example.test.");
        let a6: IpAddr = "2001:db8::1".parse().unwrap();
        let h = "host1.example.test.".to_string();
        let m = wire(&replace_forward(1, &zone, &fqdn, a6, &dhcid(), 60).unwrap());
        assert_eq!(
            summary(&m.answers),
            vec![(h.clone(), DHCID_RECORD_TYPE, DNSClass::IN, 0, 35)]
        );
        assert_eq!(
            summary(&m.authorities),
            vec![
                (h.clone(), RecordType::AAAA, DNSClass::ANY, 0, 0),
                (h.clone(), RecordType::AAAA, DNSClass::IN, 60, 16),
            ]
        );
        let m = wire(&remove_forward(2, &zone, &fqdn, a6, &dhcid()).unwrap());
        assert_eq!(
            summary(&m.authorities),
            vec![(h.clone(), RecordType::AAAA, DNSClass::NONE, 0, 16)]
        );
        let m = wire(&remove_dhcid(3, &zone, &fqdn, &dhcid()).unwrap());
        assert_eq!(
            summary(&m.answers),
            vec![
                (h.clone(), DHCID_RECORD_TYPE, DNSClass::IN, 0, 35),
                (h.clone(), RecordType::A, DNSClass::NONE, 0, 0),
                (h.clone(), RecordType::AAAA, DNSClass::NONE, 0, 0),
            ]
        );
        assert_eq!(
            summary(&m.authorities),
            vec![(h, DHCID_RECORD_TYPE, DNSClass::ANY, 0, 0)]
        );
    }

    #[test]
    fn reverse_layout() {
        let zone = name("2.0.192.in-addr.arpa.");
        let fqdn = name("host1.example.test.");
        let addr: IpAddr = "192.0.2.10".parse().unwrap();
        let r = "10.2.0.192.in-addr.arpa.".to_string();
        let m = wire(&add_reverse(4, &zone, addr, &fqdn, 300).unwrap());
        assert!(m.answers.is_empty());
        let s = summary(&m.authorities);
        assert_eq!(s[0], (r.clone(), RecordType::PTR, DNSClass::ANY, 0, 0));
        assert_eq!(
            (s[1].1, s[1].2, s[1].3),
            (RecordType::PTR, DNSClass::IN, 300)
        );
        let m = wire(&remove_reverse(5, &zone, addr, &fqdn).unwrap());
        let s = summary(&m.authorities);
        assert_eq!((s[0].0.as_str(), s[0].2), (r.as_str(), DNSClass::NONE));
    }

    #[test]
    fn names_outside_the_zone_are_refused() {
        let zone = name("example.test.");
        let other = name("host1.example.org.");
        let e = add_forward(1, &zone, &other, "192.0.2.1".parse().unwrap(), &dhcid(), 1);
        assert!(matches!(e, Err(UpdateError::NotInZone { .. })));
        let e = add_reverse(
            1,
            &name("2.0.192.in-addr.arpa."),
            "198.51.100.1".parse().unwrap(),
            &other,
            1,
        );
        assert!(matches!(e, Err(UpdateError::NotInZone { .. })));
    }
}
