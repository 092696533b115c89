//! SNMP messages: the community-based SNMPv1/v2c message (RFC 1157,
//! RFC 1901/3416) and the SNMPv3 message format of RFC 3412 section 6 with
//! the USM security parameters of RFC 3414 section 2.4 and the scoped PDU.
//! Decoding keeps where the USM authentication parameters lie in the
//! datagram, because the digest is computed over the whole message with
//! that field zeroed (RFC 3414 section 6.3.2).

use crate::ber::{tag, BerError, Reader, Writer};
use crate::pdu::Pdu;

/// msgVersion values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// SNMPv1 (0).
    V1,
    /// SNMPv2c (1).
    V2c,
    /// SNMPv3 (3).
    V3,
}

impl Version {
    fn wire(self) -> i64 {
        match self {
            Version::V1 => 0,
            Version::V2c => 1,
            Version::V3 => 3,
        }
    }
}

/// A community-based (v1/v2c) message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommunityMessage {
    /// V1 or V2c.
    pub version: Version,
    /// The community string.
    pub community: Vec<u8>,
    /// The PDU.
    pub pdu: Pdu,
}

impl CommunityMessage {
    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(128);
        w.nested(tag::SEQUENCE, |w| {
            w.integer(self.version.wire());
            w.octets(&self.community);
            self.pdu.encode(w);
        });
        w.into_bytes()
    }
}

/// msgFlags bits (RFC 3412 section 6.4).
pub mod flags {
    /// authFlag.
    pub const AUTH: u8 = 0x01;
    /// privFlag.
    pub const PRIV: u8 = 0x02;
    /// reportableFlag.
    pub const REPORTABLE: u8 = 0x04;
}

/// The User-based Security Model number (RFC 3411).
pub const USM_SECURITY_MODEL: i32 = 3;

/// UsmSecurityParameters (RFC 3414 section 2.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsmParams {
    /// msgAuthoritativeEngineID.
    pub engine_id: Vec<u8>,
    /// msgAuthoritativeEngineBoots.
    pub boots: u32,
    /// msgAuthoritativeEngineTime.
    pub time: u32,
    /// msgUserName.
    pub user: Vec<u8>,
    /// msgAuthenticationParameters (the truncated HMAC, or empty).
    pub auth: Vec<u8>,
    /// msgPrivacyParameters (the salt, or empty).
    pub privacy: Vec<u8>,
}

/// A scoped PDU (RFC 3412 section 6.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedPdu {
    /// contextEngineID.
    pub context_engine_id: Vec<u8>,
    /// contextName.
    pub context_name: Vec<u8>,
    /// The PDU.
    pub pdu: Pdu,
}

impl ScopedPdu {
    /// Decodes a scoped PDU; bytes after it (privacy padding) are ignored.
    pub fn decode(b: &[u8]) -> Result<ScopedPdu, BerError> {
        let mut r = Reader::new(b);
        let mut s = r.expect(tag::SEQUENCE)?;
        let context_engine_id = s.octets()?.to_vec();
        let context_name = s.octets()?.to_vec();
        let pdu = Pdu::decode(&mut s)?;
        s.finish()?;
        Ok(ScopedPdu {
            context_engine_id,
            context_name,
            pdu,
        })
    }

    /// Encodes the scoped PDU.
    pub fn encode(&self, w: &mut Writer) {
        w.nested(tag::SEQUENCE, |w| {
            w.octets(&self.context_engine_id);
            w.octets(&self.context_name);
            self.pdu.encode(w);
        });
    }

    /// The encoded bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(128);
        self.encode(&mut w);
        w.into_bytes()
    }
}

/// msgData: plaintext or encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopedData {
    /// A plaintext scoped PDU.
    Plain(ScopedPdu),
    /// The encrypted scoped PDU octets.
    Encrypted(Vec<u8>),
}

/// An SNMPv3 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Message {
    /// msgID.
    pub msg_id: i32,
    /// msgMaxSize.
    pub max_size: i32,
    /// msgFlags.
    pub flags: u8,
    /// msgSecurityModel.
    pub security_model: i32,
    /// The USM parameters (when the model is USM).
    pub usm: UsmParams,
    /// msgData.
    pub data: ScopedData,
    /// Where msgAuthenticationParameters' contents lie in the decoded datagram.
    pub auth_range: Option<(usize, usize)>,
}

impl V3Message {
    /// Encodes the message; returns the bytes and where the authentication
    /// parameters' contents lie (to be overwritten by the digest).
    pub fn encode(&self) -> (Vec<u8>, (usize, usize)) {
        let mut w = Writer::with_capacity(192);
        w.nested(tag::SEQUENCE, |w| {
            w.integer(3);
            w.nested(tag::SEQUENCE, |w| {
                w.integer(i64::from(self.msg_id));
                w.integer(i64::from(self.max_size));
                w.octets(&[self.flags]);
                w.integer(i64::from(self.security_model));
            });
            // The security parameters are an OCTET STRING wrapping a
            // SEQUENCE; the auth field's offset is found after writing,
            // since enclosing long-form lengths shift it.
            w.nested(tag::OCTET_STRING, |w| {
                w.nested(tag::SEQUENCE, |w| {
                    let u = &self.usm;
                    w.octets(&u.engine_id);
                    w.integer(i64::from(u.boots));
                    w.integer(i64::from(u.time));
                    w.octets(&u.user);
                    w.octets(&u.auth);
                    w.octets(&u.privacy);
                });
            });
            match &self.data {
                ScopedData::Plain(s) => s.encode(w),
                ScopedData::Encrypted(b) => w.octets(b),
            }
        });
        let bytes = w.into_bytes();
        // Find the auth params inside the security parameters we wrote.
        let auth = locate_auth(&bytes).unwrap_or((0, 0));
        (bytes, auth)
    }
}

fn locate_auth(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut top = Reader::new(bytes);
    let mut m = top.expect(tag::SEQUENCE).ok()?;
    m.integer().ok()?;
    m.expect(tag::SEQUENCE).ok()?;
    let mut sp = m.expect(tag::OCTET_STRING).ok()?;
    let mut s = sp.expect(tag::SEQUENCE).ok()?;
    s.octets().ok()?;
    s.integer().ok()?;
    s.integer().ok()?;
    s.octets().ok()?;
    let a = s.expect(tag::OCTET_STRING).ok()?;
    Some((a.offset(), a.offset() + a.bytes().len()))
}

/// A decoded message of any version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// v1 / v2c.
    Community(CommunityMessage),
    /// v3.
    V3(V3Message),
}

/// Why a datagram is not an SNMP message we can process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not valid BER / not the SNMP message structure.
    #[error("malformed: {0}")]
    Malformed(#[from] BerError),
    /// A msgVersion we do not speak.
    #[error("unsupported SNMP version {0}")]
    Version(i32),
    /// An SNMPv1 Trap-PDU or an unknown PDU tag.
    #[error("unsupported PDU type 0x{0:02x}")]
    PduType(u8),
}

impl Message {
    /// Decodes a datagram.
    pub fn decode(datagram: &[u8]) -> Result<Message, DecodeError> {
        let mut top = Reader::new(datagram);
        let mut m = top.expect(tag::SEQUENCE)?;
        top.finish()?;
        let version = m.integer()?;
        match version {
            0 | 1 => {
                let community = m.octets()?.to_vec();
                if let Some(t) = m.peek_tag() {
                    if crate::pdu::PduType::from_tag(t).is_none() {
                        return Err(DecodeError::PduType(t));
                    }
                }
                let pdu = Pdu::decode(&mut m)?;
                m.finish()?;
                Ok(Message::Community(CommunityMessage {
                    version: if version == 0 {
                        Version::V1
                    } else {
                        Version::V2c
                    },
                    community,
                    pdu,
                }))
            }
            3 => Ok(Message::V3(decode_v3(m)?)),
            v => Err(DecodeError::Version(v)),
        }
    }
}

fn decode_v3(mut m: Reader<'_>) -> Result<V3Message, DecodeError> {
    let mut h = m.expect(tag::SEQUENCE)?;
    let msg_id = h.integer()?;
    let max_size = h.integer()?;
    let fl = h.octets()?;
    let security_model = h.integer()?;
    h.finish()?;
    let at = h.offset();
    let flags = match fl {
        [f] => *f,
        _ => return Err(BerError::Invalid(at).into()),
    };
    if msg_id < 0 || max_size < 484 {
        return Err(BerError::Invalid(at).into());
    }
    let sp = m.expect(tag::OCTET_STRING)?;
    let mut usm = UsmParams::default();
    let mut auth_range = None;
    if security_model == USM_SECURITY_MODEL {
        // The inner reader keeps absolute offsets: the octet string's
        // contents are parsed in place.
        let mut inner = sp.clone();
        let mut s = inner.expect(tag::SEQUENCE)?;
        inner.finish()?;
        usm.engine_id = s.octets()?.to_vec();
        let at = s.offset();
        usm.boots = u32::try_from(s.integer()?).map_err(|_| BerError::Invalid(at))?;
        let at = s.offset();
        usm.time = u32::try_from(s.integer()?).map_err(|_| BerError::Invalid(at))?;
        usm.user = s.octets()?.to_vec();
        let a = s.expect(tag::OCTET_STRING)?;
        auth_range = Some((a.offset(), a.offset() + a.bytes().len()));
        usm.auth = a.bytes().to_vec();
        usm.privacy = s.octets()?.to_vec();
        s.finish()?;
        if usm.engine_id.len() > 32 || usm.user.len() > 32 {
            return Err(BerError::Invalid(at).into());
        }
    }
    let data = match m.peek_tag() {
        Some(tag::OCTET_STRING) => ScopedData::Encrypted(m.octets()?.to_vec()),
        _ => {
            let start = m.offset();
            let (t, body) = m.tlv()?;
            if t != tag::SEQUENCE {
                return Err(BerError::UnexpectedTag {
                    expected: tag::SEQUENCE,
                    found: t,
                    at: start,
                }
                .into());
            }
            let mut s = body;
            let context_engine_id = s.octets()?.to_vec();
            let context_name = s.octets()?.to_vec();
            if let Some(t) = s.peek_tag() {
                if crate::pdu::PduType::from_tag(t).is_none() {
                    return Err(DecodeError::PduType(t));
                }
            }
            let pdu = Pdu::decode(&mut s)?;
            s.finish()?;
            ScopedData::Plain(ScopedPdu {
                context_engine_id,
                context_name,
                pdu,
            })
        }
    };
    m.finish()?;
    Ok(V3Message {
        msg_id,
        max_size,
        flags,
        security_model,
        usm,
        data,
        auth_range,
    })
}
