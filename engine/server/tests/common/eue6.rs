//! The eUE-1 SOLICIT of seed 000 Table 6 (section 6.3.4.3), relayed by a
//! CMTS: one builder for the DHCPv6 tests and `examples/sarr_bench.rs`,
//! written with raw CableLabs TLVs so it stays an independent reading of
//! the spec rather than a replay of the server's own encoder.

#![allow(dead_code)]

use std::net::Ipv6Addr;

use headend_wire::dhcpv6::{code, Builder, EncodeError, MessageType};

/// The lab CMTS's link address (Relay-Forward link-address).
pub const LINK: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 1);
/// The CMTS's link-local address (Relay-Forward peer-address).
pub const PEER: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
/// The modem behind which the eUE sits (relay-inserted 17.1026).
pub const CM_MAC: [u8; 6] = [0x00, 0x10, 0x18, 0xaa, 0x00, 0x01];

/// Appends one DHCPv6-style TLV (16-bit code and length).
pub fn tlv(out: &mut Vec<u8>, code: u16, v: &[u8]) {
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&(v.len() as u16).to_be_bytes());
    out.extend_from_slice(v);
}

/// DUID-LL (RFC 8415 11.4) of a MAC.
pub fn duid_ll(mac: &[u8]) -> Vec<u8> {
    let mut d = vec![0, 3, 0, 1];
    d.extend_from_slice(mac);
    d
}

/// The eUE-1 options: client id, IA_NA (holding `addr` when given), FQDN
/// with S=1 and an empty name, ORO, vendor class `pktc2.0` and 17/4491
/// with the CL ORO (32, 33, 34, 2171), every device option 2–10, 35, 36
/// and the correlation id 2172.
pub fn eue1_options(
    b: &mut Builder,
    mac: &[u8],
    addr: Option<Ipv6Addr>,
) -> Result<(), EncodeError> {
    b.client_id(&duid_ll(mac))?;
    b.ia_na(1, 0, 0, |ib| {
        if let Some(a) = addr {
            ib.ia_addr(a, 0, 0)?;
        }
        Ok(())
    })?;
    b.client_fqdn(0x01, "", false)?;
    b.oro(&[code::CLIENT_FQDN, code::DNS_SERVERS, code::VENDOR_OPTS])?;
    b.vendor_class(4491, &[b"pktc2.0"])?;
    let mut vo = Vec::new();
    tlv(&mut vo, 1, &[0, 32, 0, 33, 0, 34, 0x08, 0x7b]);
    tlv(&mut vo, 2, b"EDVA");
    tlv(&mut vo, 4, b"SN0001");
    tlv(&mut vo, 5, b"HW1");
    tlv(&mut vo, 6, b"SW1");
    tlv(&mut vo, 7, b"BR1");
    tlv(&mut vo, 8, b"001018");
    tlv(&mut vo, 9, b"M1");
    tlv(&mut vo, 10, b"Vendor");
    tlv(&mut vo, 35, &[1, 1, 2, 18, 2, 0, 7]);
    tlv(&mut vo, 36, mac);
    tlv(&mut vo, 2172, &[0, 0, 0, 42]);
    b.vendor_opts(4491, &vo)?;
    Ok(())
}

/// `inner` inside a Relay-Forward from the CMTS at `LINK` (hop count
/// `hops`, Interface-Id `cable-1/0`), with 17.1026 when `cm_mac` is given.
pub fn relay_forward(
    inner: &[u8],
    hops: u8,
    cm_mac: Option<&[u8]>,
) -> Result<Vec<u8>, EncodeError> {
    let mut r = Builder::relay(MessageType::RelayForw, hops, LINK, PEER);
    r.interface_id(b"cable-1/0")?;
    if let Some(m) = cm_mac {
        let mut vo = Vec::new();
        tlv(&mut vo, 1026, m);
        r.vendor_opts(4491, &vo)?;
    }
    r.relay_msg(inner)?;
    Ok(r.finish())
}
