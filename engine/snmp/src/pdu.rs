//! SNMP values, variable bindings and PDUs (RFC 3416 section 3; RFC 2578
//! for the application types): GetRequest, GetNextRequest, GetBulkRequest,
//! SetRequest, Response, InformRequest, SNMPv2-Trap and Report. The SNMPv1
//! Trap-PDU (RFC 1157) has another layout and is refused as unsupported:
//! PacketCable enrollment and status are InformRequests.

use std::fmt;
use std::str::FromStr;

use crate::ber::{self, tag, BerError, Reader, Writer};

/// An OBJECT IDENTIFIER as its arcs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Oid(pub Vec<u32>);

impl Oid {
    /// Whether `self` lies under (or is) `prefix`.
    pub fn starts_with(&self, prefix: &Oid) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// `self` with `arcs` appended.
    pub fn child(&self, arcs: &[u32]) -> Oid {
        let mut v = self.0.clone();
        v.extend_from_slice(arcs);
        Oid(v)
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

/// A dotted OID that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a numeric OID")]
pub struct OidParseError(pub String);

impl FromStr for Oid {
    type Err = OidParseError;
    fn from_str(s: &str) -> Result<Oid, OidParseError> {
        let t = s.strip_prefix('.').unwrap_or(s);
        let arcs: Result<Vec<u32>, _> = t.split('.').map(str::parse).collect();
        match arcs {
            Ok(a)
                if a.len() >= 2
                    && a.len() <= ber::MAX_OID_LEN
                    && a[0] <= 2
                    && (a[0] == 2 || a[1] < 40) =>
            {
                Ok(Oid(a))
            }
            _ => Err(OidParseError(s.to_string())),
        }
    }
}

/// A value in a variable binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// INTEGER (Integer32).
    Integer(i32),
    /// OCTET STRING.
    OctetString(Vec<u8>),
    /// NULL (unspecified, in requests).
    Null,
    /// OBJECT IDENTIFIER.
    Oid(Oid),
    /// IpAddress.
    IpAddress([u8; 4]),
    /// Counter32.
    Counter32(u32),
    /// Gauge32 / Unsigned32.
    Gauge32(u32),
    /// TimeTicks.
    TimeTicks(u32),
    /// Opaque.
    Opaque(Vec<u8>),
    /// Counter64.
    Counter64(u64),
    /// noSuchObject.
    NoSuchObject,
    /// noSuchInstance.
    NoSuchInstance,
    /// endOfMibView.
    EndOfMibView,
}

impl Value {
    fn decode(t: u8, r: &Reader<'_>) -> Result<Value, BerError> {
        let at = r.offset();
        let b = r.bytes();
        let u32_of = |b: &[u8]| {
            ber::unsigned(b, at).and_then(|v| u32::try_from(v).map_err(|_| BerError::Invalid(at)))
        };
        Ok(match t {
            tag::INTEGER => Value::Integer(
                i32::try_from(ber::signed(b, at)?).map_err(|_| BerError::Invalid(at))?,
            ),
            tag::OCTET_STRING => Value::OctetString(b.to_vec()),
            tag::NULL if b.is_empty() => Value::Null,
            tag::OID => Value::Oid(ber::decode_oid(b, at)?),
            tag::IP_ADDRESS => Value::IpAddress(b.try_into().map_err(|_| BerError::Invalid(at))?),
            tag::COUNTER32 => Value::Counter32(u32_of(b)?),
            tag::GAUGE32 => Value::Gauge32(u32_of(b)?),
            tag::TIMETICKS => Value::TimeTicks(u32_of(b)?),
            tag::OPAQUE => Value::Opaque(b.to_vec()),
            tag::COUNTER64 => Value::Counter64(ber::unsigned(b, at)?),
            tag::NO_SUCH_OBJECT if b.is_empty() => Value::NoSuchObject,
            tag::NO_SUCH_INSTANCE if b.is_empty() => Value::NoSuchInstance,
            tag::END_OF_MIB_VIEW if b.is_empty() => Value::EndOfMibView,
            _ => return Err(BerError::Invalid(at)),
        })
    }

    fn encode(&self, w: &mut Writer) {
        match self {
            Value::Integer(v) => w.integer(i64::from(*v)),
            Value::OctetString(b) => w.octets(b),
            Value::Null => w.null(),
            Value::Oid(o) => w.oid(o),
            Value::IpAddress(a) => w.primitive(tag::IP_ADDRESS, a),
            Value::Counter32(v) => w.unsigned(tag::COUNTER32, u64::from(*v)),
            Value::Gauge32(v) => w.unsigned(tag::GAUGE32, u64::from(*v)),
            Value::TimeTicks(v) => w.unsigned(tag::TIMETICKS, u64::from(*v)),
            Value::Opaque(b) => w.primitive(tag::OPAQUE, b),
            Value::Counter64(v) => w.unsigned(tag::COUNTER64, *v),
            Value::NoSuchObject => w.primitive(tag::NO_SUCH_OBJECT, &[]),
            Value::NoSuchInstance => w.primitive(tag::NO_SUCH_INSTANCE, &[]),
            Value::EndOfMibView => w.primitive(tag::END_OF_MIB_VIEW, &[]),
        }
    }

    /// The octets of an OCTET STRING (or Opaque).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::OctetString(b) | Value::Opaque(b) => Some(b),
            _ => None,
        }
    }

    /// An integer value of any integer type, widened.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(v) => Some(i64::from(*v)),
            Value::Counter32(v) | Value::Gauge32(v) | Value::TimeTicks(v) => Some(i64::from(*v)),
            Value::Counter64(v) => i64::try_from(*v).ok(),
            _ => None,
        }
    }
}

/// One variable binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarBind {
    /// The object instance.
    pub oid: Oid,
    /// Its value.
    pub value: Value,
}

impl VarBind {
    /// A binding.
    pub fn new(oid: Oid, value: Value) -> VarBind {
        VarBind { oid, value }
    }
}

/// The PDU types of RFC 3416 (context-specific constructed tags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PduType {
    /// GetRequest-PDU [0].
    Get,
    /// GetNextRequest-PDU [1].
    GetNext,
    /// Response-PDU [2].
    Response,
    /// SetRequest-PDU [3].
    Set,
    /// GetBulkRequest-PDU [5].
    GetBulk,
    /// InformRequest-PDU [6].
    Inform,
    /// SNMPv2-Trap-PDU [7].
    Trap,
    /// Report-PDU [8].
    Report,
}

impl PduType {
    /// The BER tag.
    pub fn tag(self) -> u8 {
        match self {
            PduType::Get => 0xa0,
            PduType::GetNext => 0xa1,
            PduType::Response => 0xa2,
            PduType::Set => 0xa3,
            PduType::GetBulk => 0xa5,
            PduType::Inform => 0xa6,
            PduType::Trap => 0xa7,
            PduType::Report => 0xa8,
        }
    }

    /// The type of a tag (`None` for the v1 Trap and anything else).
    pub fn from_tag(t: u8) -> Option<PduType> {
        Some(match t {
            0xa0 => PduType::Get,
            0xa1 => PduType::GetNext,
            0xa2 => PduType::Response,
            0xa3 => PduType::Set,
            0xa5 => PduType::GetBulk,
            0xa6 => PduType::Inform,
            0xa7 => PduType::Trap,
            0xa8 => PduType::Report,
            _ => return None,
        })
    }

    /// Whether an entity must answer it (RFC 3411 Confirmed Class).
    pub fn is_confirmed(self) -> bool {
        matches!(
            self,
            PduType::Get | PduType::GetNext | PduType::GetBulk | PduType::Set | PduType::Inform
        )
    }
}

/// RFC 3416 error-status values used here.
pub mod error_status {
    /// noError(0).
    pub const NO_ERROR: i32 = 0;
    /// tooBig(1).
    pub const TOO_BIG: i32 = 1;
    /// noSuchName(2).
    pub const NO_SUCH_NAME: i32 = 2;
    /// badValue(3).
    pub const BAD_VALUE: i32 = 3;
    /// genErr(5).
    pub const GEN_ERR: i32 = 5;
    /// noAccess(6).
    pub const NO_ACCESS: i32 = 6;
    /// wrongType(7).
    pub const WRONG_TYPE: i32 = 7;
    /// inconsistentValue(12).
    pub const INCONSISTENT_VALUE: i32 = 12;
    /// notWritable(17).
    pub const NOT_WRITABLE: i32 = 17;

    /// The RFC 3416 name of an error-status.
    pub fn name(v: i32) -> &'static str {
        const NAMES: [&str; 19] = [
            "noError",
            "tooBig",
            "noSuchName",
            "badValue",
            "readOnly",
            "genErr",
            "noAccess",
            "wrongType",
            "wrongLength",
            "wrongEncoding",
            "wrongValue",
            "noCreation",
            "inconsistentValue",
            "resourceUnavailable",
            "commitFailed",
            "undoFailed",
            "authorizationError",
            "notWritable",
            "inconsistentName",
        ];
        usize::try_from(v)
            .ok()
            .and_then(|i| NAMES.get(i))
            .copied()
            .unwrap_or("unknownError")
    }
}

/// A PDU. For GetBulk, `error_status` is non-repeaters and `error_index`
/// max-repetitions (the same positions on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    /// Which PDU.
    pub kind: PduType,
    /// request-id.
    pub request_id: i32,
    /// error-status (GetBulk: non-repeaters).
    pub error_status: i32,
    /// error-index (GetBulk: max-repetitions).
    pub error_index: i32,
    /// The variable bindings.
    pub varbinds: Vec<VarBind>,
}

/// At most this many variable bindings are decoded from one PDU.
pub const MAX_VARBINDS: usize = 1024;

impl Pdu {
    /// A PDU without error.
    pub fn new(kind: PduType, request_id: i32, varbinds: Vec<VarBind>) -> Pdu {
        Pdu {
            kind,
            request_id,
            error_status: 0,
            error_index: 0,
            varbinds,
        }
    }

    /// The Response to this PDU echoing its bindings (what an INFORM receiver sends, RFC 3416 4.2.7).
    pub fn response_echo(&self) -> Pdu {
        Pdu::new(PduType::Response, self.request_id, self.varbinds.clone())
    }

    /// Decodes a PDU (the tagged TLV).
    pub fn decode(r: &mut Reader<'_>) -> Result<Pdu, BerError> {
        let at = r.offset();
        let (t, mut body) = r.tlv()?;
        let kind = PduType::from_tag(t).ok_or(BerError::UnexpectedTag {
            expected: 0xa0,
            found: t,
            at,
        })?;
        let request_id = body.integer()?;
        let error_status = body.integer()?;
        let error_index = body.integer()?;
        let mut list = body.expect(tag::SEQUENCE)?;
        body.finish()?;
        let mut varbinds = Vec::new();
        while !list.is_empty() {
            if varbinds.len() >= MAX_VARBINDS {
                return Err(BerError::Invalid(list.offset()));
            }
            let mut vb = list.expect(tag::SEQUENCE)?;
            let oid = vb.oid()?;
            let (vt, vr) = vb.tlv()?;
            let value = Value::decode(vt, &vr)?;
            vb.finish()?;
            varbinds.push(VarBind { oid, value });
        }
        Ok(Pdu {
            kind,
            request_id,
            error_status,
            error_index,
            varbinds,
        })
    }

    /// Encodes the PDU (the tagged TLV).
    pub fn encode(&self, w: &mut Writer) {
        w.nested(self.kind.tag(), |w| {
            w.integer(i64::from(self.request_id));
            w.integer(i64::from(self.error_status));
            w.integer(i64::from(self.error_index));
            w.nested(tag::SEQUENCE, |w| {
                for vb in &self.varbinds {
                    w.nested(tag::SEQUENCE, |w| {
                        w.oid(&vb.oid);
                        vb.value.encode(w);
                    });
                }
            });
        });
    }

    /// The value bound to `oid`, if any.
    pub fn get(&self, oid: &Oid) -> Option<&Value> {
        self.varbinds
            .iter()
            .find(|v| v.oid == *oid)
            .map(|v| &v.value)
    }
}
