//! The DHCID resource record (RFC 4701): which DHCP client owns a name.
//!
//! RDATA (RFC 4701 section 3.1): the identifier-type code (2 octets), the
//! digest-type code (1 octet, 1 = SHA-256) and the digest. The digest
//! (section 3.3) is SHA-256 over the identifier followed by the FQDN in
//! canonical wire form (section 3.5: RFC 4034 section 6.2, lower case,
//! uncompressed); the identifier-type code is not hashed. hickory-proto
//! 0.26 has no DHCID type, so the record travels as `RData::Unknown` with
//! type code 49 (RFC 3597).

use hickory_proto::rr::rdata::NULL;
use hickory_proto::rr::{Name, RData, RecordType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The DHCID RR type code (RFC 4701 section 3).
pub const DHCID_TYPE: u16 = 49;

/// The DHCID RR type as hickory spells an unknown type.
pub const DHCID_RECORD_TYPE: RecordType = RecordType::Unknown(DHCID_TYPE);

/// Digest-type code of SHA-256 (RFC 4701 section 3.3).
pub const DIGEST_SHA256: u8 = 1;

/// Length of a SHA-256 DHCID RDATA: 2 + 1 + 32 octets.
pub const RDATA_LEN: usize = 35;

/// Errors building or reading a DHCID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhcidError {
    /// The identifier (chaddr, client id or DUID) is empty.
    #[error("empty client identifier")]
    EmptyIdentifier,
    /// chaddr is longer than the 16 octets of the DHCPv4 field.
    #[error("chaddr of {0} octets (at most 16)")]
    ChaddrTooLong(usize),
    /// RDATA that is not 35 octets long.
    #[error("DHCID RDATA of {0} octets (expected {RDATA_LEN})")]
    BadLength(usize),
    /// A digest type other than SHA-256.
    #[error("unsupported DHCID digest type {0}")]
    DigestType(u8),
    /// An identifier type RFC 4701 does not define.
    #[error("unknown DHCID identifier type {0:#06x}")]
    IdentifierType(u16),
    /// Text that is not base64.
    #[error("DHCID text is not base64")]
    Base64,
}

/// The identifier-type codes of RFC 4701 section 3.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IdentifierType {
    /// 0x0000: htype followed by chaddr of a DHCPv4 client.
    Chaddr,
    /// 0x0001: the data of a DHCPv4 client identifier option (61).
    ClientId,
    /// 0x0002: a DUID (DHCPv6 client identifier, or RFC 4361 option 61).
    Duid,
}

impl IdentifierType {
    /// The 2-octet code.
    pub fn code(self) -> u16 {
        match self {
            Self::Chaddr => 0,
            Self::ClientId => 1,
            Self::Duid => 2,
        }
    }

    /// The type for a code, if RFC 4701 defines it.
    pub fn from_code(code: u16) -> Option<Self> {
        match code {
            0 => Some(Self::Chaddr),
            1 => Some(Self::ClientId),
            2 => Some(Self::Duid),
            _ => None,
        }
    }
}

/// A DHCID RDATA with a SHA-256 digest (always 35 octets).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<u8>", into = "Vec<u8>")]
pub struct Dhcid {
    rdata: Vec<u8>,
}

impl Dhcid {
    /// From a DHCPv4 client's htype and chaddr (identifier type 0x0000),
    /// used when the client sent no client identifier option.
    pub fn from_hwaddr(htype: u8, chaddr: &[u8], fqdn: &Name) -> Result<Self, DhcidError> {
        if chaddr.is_empty() {
            return Err(DhcidError::EmptyIdentifier);
        }
        if chaddr.len() > 16 {
            return Err(DhcidError::ChaddrTooLong(chaddr.len()));
        }
        let mut id = Vec::with_capacity(1 + chaddr.len());
        id.push(htype);
        id.extend_from_slice(chaddr);
        Ok(Self::compute(IdentifierType::Chaddr, &id, fqdn))
    }

    /// From the data of a DHCPv4 client identifier option 61 (identifier
    /// type 0x0001). An RFC 4361 identifier (type 255, IAID, DUID) uses the
    /// DUID with identifier type 0x0002 instead, as RFC 4701 section 3.3
    /// says, so a dual-stack client owns its name from v4 and v6 alike.
    pub fn from_client_id(option61: &[u8], fqdn: &Name) -> Result<Self, DhcidError> {
        match option61 {
            [] => Err(DhcidError::EmptyIdentifier),
            [255, _, _, _, _, duid @ ..] if !duid.is_empty() => Self::from_duid(duid, fqdn),
            _ => Ok(Self::compute(IdentifierType::ClientId, option61, fqdn)),
        }
    }

    /// From a DHCPv6 client's DUID (identifier type 0x0002).
    pub fn from_duid(duid: &[u8], fqdn: &Name) -> Result<Self, DhcidError> {
        if duid.is_empty() {
            return Err(DhcidError::EmptyIdentifier);
        }
        Ok(Self::compute(IdentifierType::Duid, duid, fqdn))
    }

    fn compute(kind: IdentifierType, identifier: &[u8], fqdn: &Name) -> Self {
        let mut hash = Sha256::new();
        hash.update(identifier);
        hash.update(canonical_wire(fqdn));
        let digest = hash.finalize();
        let mut rdata = Vec::with_capacity(RDATA_LEN);
        rdata.extend_from_slice(&kind.code().to_be_bytes());
        rdata.push(DIGEST_SHA256);
        rdata.extend_from_slice(&digest);
        Self { rdata }
    }

    /// Reads RDATA as found in a zone or a response.
    pub fn from_rdata(rdata: &[u8]) -> Result<Self, DhcidError> {
        if rdata.len() != RDATA_LEN {
            return Err(DhcidError::BadLength(rdata.len()));
        }
        let code = u16::from_be_bytes([rdata[0], rdata[1]]);
        if IdentifierType::from_code(code).is_none() {
            return Err(DhcidError::IdentifierType(code));
        }
        if rdata[2] != DIGEST_SHA256 {
            return Err(DhcidError::DigestType(rdata[2]));
        }
        Ok(Self {
            rdata: rdata.to_vec(),
        })
    }

    /// Reads the presentation form (base64 of the RDATA, RFC 4701 section 3.4).
    pub fn from_base64(text: &str) -> Result<Self, DhcidError> {
        let compact: String = text.split_whitespace().collect();
        let rdata = data_encoding::BASE64
            .decode(compact.as_bytes())
            .map_err(|_| DhcidError::Base64)?;
        Self::from_rdata(&rdata)
    }

    /// The RDATA octets.
    pub fn rdata(&self) -> &[u8] {
        &self.rdata
    }

    /// The identifier type this DHCID was computed from.
    pub fn identifier_type(&self) -> IdentifierType {
        // Every constructor checks the code.
        match u16::from_be_bytes([self.rdata[0], self.rdata[1]]) {
            0 => IdentifierType::Chaddr,
            1 => IdentifierType::ClientId,
            _ => IdentifierType::Duid,
        }
    }

    /// The record data for hickory (an RFC 3597 unknown type 49).
    pub fn to_rdata(&self) -> RData {
        RData::Unknown {
            code: DHCID_RECORD_TYPE,
            rdata: NULL::with(self.rdata.clone()),
        }
    }

    /// The presentation form: base64 of the RDATA.
    pub fn to_base64(&self) -> String {
        data_encoding::BASE64.encode(&self.rdata)
    }
}

impl std::fmt::Display for Dhcid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl TryFrom<Vec<u8>> for Dhcid {
    type Error = DhcidError;

    fn try_from(rdata: Vec<u8>) -> Result<Self, DhcidError> {
        Self::from_rdata(&rdata)
    }
}

impl From<Dhcid> for Vec<u8> {
    fn from(dhcid: Dhcid) -> Self {
        dhcid.rdata
    }
}

/// A name in canonical wire form (RFC 4034 section 6.2): labels in lower
/// case, uncompressed, ending with the root label.
pub fn canonical_wire(name: &Name) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.iter() {
        // Name guarantees labels of at most 63 octets.
        out.push(label.len() as u8);
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    out.push(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn hex(s: &str) -> Vec<u8> {
        data_encoding::HEXLOWER.decode(s.as_bytes()).unwrap()
    }

    /// RFC 4701 section 3.6.1: the DUID example.
    #[test]
    fn rfc4701_duid_example() {
        let duid = hex("00010006412df166010203040506");
        let d = Dhcid::from_duid(&duid, &name("chi6.example.com")).unwrap();
        assert_eq!(
            d.to_base64(),
            "AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA="
        );
        assert_eq!(
            d.rdata(),
            hex("000201636fc0b8271c82825bb1ac5c41cf5351aa69b4febd94e8f17cdb95000da48c40")
        );
        assert_eq!(d.identifier_type(), IdentifierType::Duid);
    }

    /// RFC 4701 section 3.6.2: the client identifier option example.
    #[test]
    fn rfc4701_client_id_example() {
        let d = Dhcid::from_client_id(&hex("010708090a0b0c"), &name("chi.example.com")).unwrap();
        assert_eq!(
            d.to_base64(),
            "AAEBOSD+XR3Os/0LozeXVqcNc7FwCfQdWL3b/NaiUDlW2No="
        );
        assert_eq!(d.identifier_type(), IdentifierType::ClientId);
    }

    /// RFC 4701 section 3.6.3: the htype + chaddr example.
    #[test]
    fn rfc4701_chaddr_example() {
        let d = Dhcid::from_hwaddr(1, &hex("010203040506"), &name("client.example.com.")).unwrap();
        assert_eq!(
            d.to_base64(),
            "AAABxLmlskllE0MVjd57zHcWmEH3pCQ6VytcKD//7es/deY="
        );
        assert_eq!(d.identifier_type(), IdentifierType::Chaddr);
    }

    #[test]
    fn fqdn_case_and_trailing_dot_do_not_matter() {
        let a = Dhcid::from_hwaddr(1, &[1, 2, 3, 4, 5, 6], &name("Client.EXAMPLE.com")).unwrap();
        let b = Dhcid::from_hwaddr(1, &[1, 2, 3, 4, 5, 6], &name("client.example.com.")).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn rfc4361_client_id_uses_the_duid() {
        let duid = hex("00010006412df166010203040506");
        let mut opt = vec![255, 0, 0, 0, 1];
        opt.extend_from_slice(&duid);
        let v4 = Dhcid::from_client_id(&opt, &name("chi6.example.com")).unwrap();
        let v6 = Dhcid::from_duid(&duid, &name("chi6.example.com")).unwrap();
        assert_eq!(v4, v6);
    }

    #[test]
    fn rejects_bad_input() {
        let n = name("a.example");
        assert_eq!(
            Dhcid::from_hwaddr(1, &[], &n),
            Err(DhcidError::EmptyIdentifier)
        );
        assert_eq!(
            Dhcid::from_hwaddr(1, &[0; 17], &n),
            Err(DhcidError::ChaddrTooLong(17))
        );
        assert_eq!(
            Dhcid::from_client_id(&[], &n),
            Err(DhcidError::EmptyIdentifier)
        );
        assert_eq!(Dhcid::from_duid(&[], &n), Err(DhcidError::EmptyIdentifier));
        assert_eq!(Dhcid::from_rdata(&[0; 3]), Err(DhcidError::BadLength(3)));
        let mut r = vec![0, 9, 1];
        r.extend_from_slice(&[0; 32]);
        assert_eq!(Dhcid::from_rdata(&r), Err(DhcidError::IdentifierType(9)));
        r[1] = 0;
        r[2] = 2;
        assert_eq!(Dhcid::from_rdata(&r), Err(DhcidError::DigestType(2)));
        assert_eq!(Dhcid::from_base64("!!"), Err(DhcidError::Base64));
    }

    #[test]
    fn base64_and_serde_round_trip() {
        let d = Dhcid::from_base64("AAEBOSD+XR3Os/0LozeXVqcNc7FwCfQdW\n L3b/NaiUDlW2No=").unwrap();
        assert_eq!(
            d.to_string(),
            "AAEBOSD+XR3Os/0LozeXVqcNc7FwCfQdWL3b/NaiUDlW2No="
        );
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Dhcid>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Dhcid>("[1,2,3]").is_err());
    }

    #[test]
    fn canonical_wire_form() {
        assert_eq!(canonical_wire(&name("A.b")), b"\x01a\x01b\x00".to_vec());
        assert_eq!(canonical_wire(&Name::root()), vec![0]);
    }
}
