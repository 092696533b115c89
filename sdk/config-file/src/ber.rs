//! Minimal BER (X.690 section 8) for the SNMP VarBinds that config-file TLV
//! 11 and TLV 64 carry: `VarBind ::= SEQUENCE { name OBJECT IDENTIFIER,
//! value ObjectSyntax }` (RFC 3416 section 3) with the SMIv2 application
//! types of RFC 2578 section 7.1.
//!
//! The encoder always writes minimal definite lengths; the decoder also
//! accepts non-minimal long-form lengths (`30 82 00 13`), which the 2010
//! DOCSIS-TOOL reference encoder wrote into real files (protocol-notes 5.1).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// Errors of BER encoding and decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BerError {
    /// The input ended inside an element.
    #[error("BER element truncated at offset {0}")]
    Truncated(usize),
    /// Indefinite length (0x80), which SNMP forbids (RFC 3417 section 8).
    #[error("indefinite BER length at offset {0}")]
    IndefiniteLength(usize),
    /// A length field wider than 4 octets.
    #[error("BER length field too wide at offset {0}")]
    LengthTooWide(usize),
    /// An unexpected tag.
    #[error("expected BER tag {expected:#04x}, found {found:#04x} at offset {offset}")]
    UnexpectedTag {
        /// The tag the grammar requires.
        expected: u8,
        /// The tag found.
        found: u8,
        /// Where.
        offset: usize,
    },
    /// Bytes left over after the VarBind.
    #[error("{0} trailing bytes after the VarBind")]
    TrailingBytes(usize),
    /// An OBJECT IDENTIFIER that is empty, has an unterminated or oversized sub-identifier.
    #[error("malformed OBJECT IDENTIFIER")]
    BadOid,
    /// An INTEGER that is empty or wider than 64 bits.
    #[error("malformed INTEGER (length {0})")]
    BadInteger(usize),
    /// An IpAddress whose length is not 4.
    #[error("IpAddress of length {0}")]
    BadIpAddress(usize),
    /// A value of a configured SNMP object that does not parse as its type.
    #[error("cannot parse {1:?} as SNMP type {0:?}")]
    ValueSyntax(String, String),
    /// An OID string that does not parse (`1.3.6.1…`).
    #[error("cannot parse OID {0:?}")]
    OidSyntax(String),
}

/// An OBJECT IDENTIFIER (X.690 section 8.19).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Oid(pub Vec<u32>);

impl Oid {
    /// An OID from its arcs.
    pub fn new(arcs: &[u32]) -> Oid {
        Oid(arcs.to_vec())
    }

    /// This OID with further arcs appended (a column plus its instance index).
    pub fn child(&self, arcs: &[u32]) -> Oid {
        let mut v = self.0.clone();
        v.extend_from_slice(arcs);
        Oid(v)
    }

    /// Whether `prefix` is a prefix of (or equal to) this OID.
    pub fn starts_with(&self, prefix: &Oid) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// The BER contents octets (without tag and length).
    pub fn encode_contents(&self) -> Result<Vec<u8>, BerError> {
        // Most arcs take one or two base-128 groups; one allocation in practice.
        let mut out = Vec::with_capacity(self.0.len() * 2);
        self.push_contents(&mut out)?;
        Ok(out)
    }

    /// Appends the BER contents octets to `out` (nothing on error).
    pub fn push_contents(&self, out: &mut Vec<u8>) -> Result<(), BerError> {
        let arcs = &self.0;
        let (first, rest) = match arcs.len() {
            0 | 1 => return Err(BerError::BadOid),
            _ => {
                let a = arcs.first().copied().unwrap_or(0);
                let b = arcs.get(1).copied().unwrap_or(0);
                // X.690 8.19.4: the first two arcs share one sub-identifier.
                if a > 2 || (a < 2 && b >= 40) {
                    return Err(BerError::BadOid);
                }
                let first = u64::from(a) * 40 + u64::from(b);
                (first, arcs.get(2..).unwrap_or(&[]))
            }
        };
        push_base128(out, first);
        for &arc in rest {
            push_base128(out, u64::from(arc));
        }
        Ok(())
    }

    /// Parses the BER contents octets of an OBJECT IDENTIFIER.
    pub fn decode_contents(bytes: &[u8]) -> Result<Oid, BerError> {
        if bytes.is_empty() {
            return Err(BerError::BadOid);
        }
        let mut subids = Vec::new();
        let mut acc: u64 = 0;
        let mut in_progress = false;
        for &b in bytes {
            if !in_progress && b == 0x80 {
                // X.690 8.19.2: no leading 0x80 padding.
                return Err(BerError::BadOid);
            }
            acc = (acc << 7) | u64::from(b & 0x7f);
            if acc > u64::from(u32::MAX) + 80 {
                return Err(BerError::BadOid);
            }
            if b & 0x80 == 0 {
                subids.push(acc);
                acc = 0;
                in_progress = false;
            } else {
                in_progress = true;
            }
        }
        if in_progress {
            return Err(BerError::BadOid);
        }
        let mut arcs = Vec::with_capacity(subids.len() + 1);
        let first = subids.first().copied().unwrap_or(0);
        let (a, b) = match first {
            0..=39 => (0, first),
            40..=79 => (1, first - 40),
            _ => (2, first - 80),
        };
        arcs.push(a);
        arcs.push(u32::try_from(b).map_err(|_| BerError::BadOid)?);
        for &s in subids.get(1..).unwrap_or(&[]) {
            arcs.push(u32::try_from(s).map_err(|_| BerError::BadOid)?);
        }
        Ok(Oid(arcs))
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arc) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{arc}")?;
        }
        Ok(())
    }
}

impl FromStr for Oid {
    type Err = BerError;

    /// Parses dotted decimal, with or without a leading dot.
    fn from_str(s: &str) -> Result<Oid, BerError> {
        let t = s.trim().trim_start_matches('.');
        let mut arcs = Vec::with_capacity(t.len() / 2 + 1);
        for part in t.split('.') {
            arcs.push(arc(part).ok_or_else(|| BerError::OidSyntax(s.to_string()))?);
        }
        if arcs.len() < 2 {
            return Err(BerError::OidSyntax(s.to_string()));
        }
        Ok(Oid(arcs))
    }
}

/// One decimal arc: plain digits are folded directly (config files name
/// dozens of OIDs per generated file); anything else goes through
/// `u32::from_str`, which decides what it accepts.
fn arc(part: &str) -> Option<u32> {
    if part.is_empty() || part.len() > 9 || !part.bytes().all(|b| b.is_ascii_digit()) {
        return part.parse().ok();
    }
    // At most nine digits: below 10^9, no overflow.
    Some(
        part.bytes()
            .fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0')),
    )
}

fn push_base128(out: &mut Vec<u8>, v: u64) {
    // Most arcs of SNMP OIDs are below 128: one octet, no group loop.
    if v < 0x80 {
        out.push(v as u8);
        return;
    }
    let mut groups = [0u8; 10];
    let mut n = 0;
    let mut x = v;
    loop {
        if let Some(slot) = groups.get_mut(n) {
            *slot = (x & 0x7f) as u8;
        }
        n += 1;
        x >>= 7;
        if x == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        let g = groups.get(i).copied().unwrap_or(0);
        out.push(if i == 0 { g } else { g | 0x80 });
    }
}

/// BER tags used by SNMP (X.690 universal, RFC 2578 application).
pub mod tag {
    /// INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// OCTET STRING.
    pub const OCTET_STRING: u8 = 0x04;
    /// NULL.
    pub const NULL: u8 = 0x05;
    /// OBJECT IDENTIFIER.
    pub const OBJECT_IDENTIFIER: u8 = 0x06;
    /// SEQUENCE.
    pub const SEQUENCE: u8 = 0x30;
    /// IpAddress (APPLICATION 0).
    pub const IP_ADDRESS: u8 = 0x40;
    /// Counter32 (APPLICATION 1).
    pub const COUNTER32: u8 = 0x41;
    /// Gauge32 / Unsigned32 (APPLICATION 2).
    pub const GAUGE32: u8 = 0x42;
    /// TimeTicks (APPLICATION 3).
    pub const TIMETICKS: u8 = 0x43;
    /// Opaque (APPLICATION 4).
    pub const OPAQUE: u8 = 0x44;
    /// Counter64 (APPLICATION 6).
    pub const COUNTER64: u8 = 0x46;
}

/// An SNMP value (RFC 3416 `ObjectSyntax`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// INTEGER / Integer32 (also TruthValue, RowStatus, enumerations).
    Integer(i64),
    /// OCTET STRING (also DisplayString, SnmpAdminString, InetAddress).
    OctetString(Vec<u8>),
    /// NULL.
    Null,
    /// OBJECT IDENTIFIER.
    ObjectIdentifier(Oid),
    /// IpAddress.
    IpAddress(Ipv4Addr),
    /// Counter32.
    Counter32(u32),
    /// Gauge32, which is also Unsigned32 (same tag, RFC 2578 section 7.1.11).
    Gauge32(u32),
    /// TimeTicks (hundredths of a second).
    TimeTicks(u32),
    /// Opaque.
    Opaque(Vec<u8>),
    /// Counter64.
    Counter64(u64),
    /// Any other tag, kept as is.
    Other {
        /// The tag octet.
        tag: u8,
        /// The contents octets.
        contents: Vec<u8>,
    },
}

impl Value {
    /// An Unsigned32 (encoded as Gauge32, the same tag).
    pub fn unsigned32(v: u32) -> Value {
        Value::Gauge32(v)
    }

    /// An OCTET STRING from text.
    pub fn string(s: &str) -> Value {
        Value::OctetString(s.as_bytes().to_vec())
    }

    /// A TruthValue (RFC 2579): true(1), false(2).
    pub fn truth(v: bool) -> Value {
        Value::Integer(if v { 1 } else { 2 })
    }

    /// A value from a type name and text, as configuration files write SNMP
    /// objects: `int`/`integer`, `string`, `hex`, `ip`/`ipaddress`,
    /// `gauge`/`unsigned`, `counter`, `timeticks`, `oid`, `null`, `truth`
    /// (`true`/`false`).
    pub fn parse(kind: &str, text: &str) -> Result<Value, BerError> {
        let bad = || BerError::ValueSyntax(kind.to_string(), text.to_string());
        let t = text.trim();
        // Case-insensitive without a lower-cased copy: plugins call this per file.
        let is = |names: &[&str]| names.iter().any(|n| n.eq_ignore_ascii_case(kind));
        Ok(if is(&["int", "integer", "integer32"]) {
            Value::Integer(t.parse().map_err(|_| bad())?)
        } else if is(&["string", "str"]) {
            Value::string(text)
        } else if is(&["hex"]) {
            Value::OctetString(crate::unhex(t).ok_or_else(bad)?)
        } else if is(&["ip", "ipaddress"]) {
            Value::IpAddress(t.parse().map_err(|_| bad())?)
        } else if is(&["gauge", "gauge32", "unsigned", "unsigned32"]) {
            Value::Gauge32(t.parse().map_err(|_| bad())?)
        } else if is(&["counter", "counter32"]) {
            Value::Counter32(t.parse().map_err(|_| bad())?)
        } else if is(&["timeticks"]) {
            Value::TimeTicks(t.parse().map_err(|_| bad())?)
        } else if is(&["oid"]) {
            Value::ObjectIdentifier(t.parse().map_err(|_| bad())?)
        } else if is(&["null"]) {
            Value::Null
        } else if is(&["truth", "bool"]) {
            match t {
                "true" | "1" => Value::truth(true),
                "false" | "2" => Value::truth(false),
                _ => return Err(bad()),
            }
        } else {
            return Err(bad());
        })
    }

    /// The BER tag of this value.
    pub fn tag(&self) -> u8 {
        match self {
            Value::Integer(_) => tag::INTEGER,
            Value::OctetString(_) => tag::OCTET_STRING,
            Value::Null => tag::NULL,
            Value::ObjectIdentifier(_) => tag::OBJECT_IDENTIFIER,
            Value::IpAddress(_) => tag::IP_ADDRESS,
            Value::Counter32(_) => tag::COUNTER32,
            Value::Gauge32(_) => tag::GAUGE32,
            Value::TimeTicks(_) => tag::TIMETICKS,
            Value::Opaque(_) => tag::OPAQUE,
            Value::Counter64(_) => tag::COUNTER64,
            Value::Other { tag, .. } => *tag,
        }
    }

    /// Appends the BER contents octets to `out`.
    fn push_contents(&self, out: &mut Vec<u8>) -> Result<(), BerError> {
        match self {
            Value::Integer(v) => push_signed(out, *v),
            Value::OctetString(b) | Value::Opaque(b) => out.extend_from_slice(b),
            Value::Null => {}
            Value::ObjectIdentifier(o) => o.push_contents(out)?,
            Value::IpAddress(a) => out.extend_from_slice(&a.octets()),
            Value::Counter32(v) | Value::Gauge32(v) | Value::TimeTicks(v) => {
                push_unsigned(out, u64::from(*v))
            }
            Value::Counter64(v) => push_unsigned(out, *v),
            Value::Other { contents, .. } => out.extend_from_slice(contents),
        }
        Ok(())
    }

    fn from_tlv(t: u8, contents: &[u8]) -> Result<Value, BerError> {
        Ok(match t {
            tag::INTEGER => Value::Integer(decode_signed(contents)?),
            tag::OCTET_STRING => Value::OctetString(contents.to_vec()),
            tag::NULL => Value::Null,
            tag::OBJECT_IDENTIFIER => Value::ObjectIdentifier(Oid::decode_contents(contents)?),
            tag::IP_ADDRESS => match <[u8; 4]>::try_from(contents) {
                Ok(a) => Value::IpAddress(Ipv4Addr::from(a)),
                Err(_) => return Err(BerError::BadIpAddress(contents.len())),
            },
            tag::COUNTER32 => Value::Counter32(decode_u32(contents)?),
            tag::GAUGE32 => Value::Gauge32(decode_u32(contents)?),
            tag::TIMETICKS => Value::TimeTicks(decode_u32(contents)?),
            tag::OPAQUE => Value::Opaque(contents.to_vec()),
            tag::COUNTER64 => Value::Counter64(decode_u64(contents)?),
            other => Value::Other {
                tag: other,
                contents: contents.to_vec(),
            },
        })
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Integer(v) => write!(f, "INTEGER {v}"),
            Value::OctetString(b) => {
                if !b.is_empty() && b.iter().all(|c| (0x20..0x7f).contains(c)) {
                    write!(f, "STRING {:?}", String::from_utf8_lossy(b))
                } else {
                    write!(f, "HEX {}", crate::hex(b))
                }
            }
            Value::Null => f.write_str("NULL"),
            Value::ObjectIdentifier(o) => write!(f, "OID {o}"),
            Value::IpAddress(a) => write!(f, "IpAddress {a}"),
            Value::Counter32(v) => write!(f, "Counter32 {v}"),
            Value::Gauge32(v) => write!(f, "Gauge32/Unsigned32 {v}"),
            Value::TimeTicks(v) => write!(f, "TimeTicks {v}"),
            Value::Opaque(b) => write!(f, "Opaque {}", crate::hex(b)),
            Value::Counter64(v) => write!(f, "Counter64 {v}"),
            Value::Other { tag, contents } => {
                write!(f, "tag {tag:#04x} {}", crate::hex(contents))
            }
        }
    }
}

/// Appends a minimal two's-complement INTEGER body (X.690 8.3.2).
fn push_signed(out: &mut Vec<u8>, v: i64) {
    let bytes = v.to_be_bytes();
    // X.690 8.3.2: drop leading octets that only repeat the sign.
    let mut start = 0;
    while start < 7 {
        let cur = bytes.get(start).copied().unwrap_or(0);
        let next = bytes.get(start + 1).copied().unwrap_or(0);
        let redundant = (cur == 0x00 && next & 0x80 == 0) || (cur == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or(&[0]));
}

/// Appends an unsigned application value, INTEGER-encoded: a leading 0x00
/// keeps values with the top bit set positive.
fn push_unsigned(out: &mut Vec<u8>, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
    let body = bytes.get(skip..).unwrap_or(&[0]);
    if body.first().map_or(false, |b| b & 0x80 != 0) {
        out.push(0);
    }
    out.extend_from_slice(body);
}

#[cfg(test)]
fn encode_signed(v: i64) -> Vec<u8> {
    let mut out = Vec::new();
    push_signed(&mut out, v);
    out
}

#[cfg(test)]
fn encode_unsigned(v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    push_unsigned(&mut out, v);
    out
}

fn decode_signed(c: &[u8]) -> Result<i64, BerError> {
    if c.is_empty() || c.len() > 8 {
        return Err(BerError::BadInteger(c.len()));
    }
    let neg = c.first().map_or(false, |b| b & 0x80 != 0);
    let mut v: i64 = if neg { -1 } else { 0 };
    for &b in c {
        v = (v << 8) | i64::from(b);
    }
    Ok(v)
}

fn decode_u64(c: &[u8]) -> Result<u64, BerError> {
    // One extra leading 0x00 is allowed for values with the top bit set.
    let c = match c {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => c,
    };
    if c.is_empty() || c.len() > 8 {
        return Err(BerError::BadInteger(c.len()));
    }
    Ok(c.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

fn decode_u32(c: &[u8]) -> Result<u32, BerError> {
    let v = decode_u64(c)?;
    u32::try_from(v).map_err(|_| BerError::BadInteger(c.len()))
}

/// Appends a BER definite length (minimal form).
pub fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let body = bytes.get(skip..).unwrap_or(&[]);
        out.push(0x80 | body.len() as u8);
        out.extend_from_slice(body);
    }
}

/// Appends tag `t`, a one-octet length placeholder, then whatever `body`
/// writes, and fixes the length up afterwards (moving the contents only when
/// they need the long form, 128 octets or more). Everything from the tag on
/// is removed again when `body` fails.
fn push_tlv_with<E>(
    out: &mut Vec<u8>,
    t: u8,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    let start = out.len();
    out.push(t);
    out.push(0);
    let contents = out.len();
    if let Err(e) = body(out) {
        out.truncate(start);
        return Err(e);
    }
    let len = out.len() - contents;
    if len < 0x80 {
        if let Some(slot) = out.get_mut(contents - 1) {
            *slot = len as u8;
        }
    } else {
        let mut field = Vec::with_capacity(9);
        push_length(&mut field, len);
        out.splice(contents - 1..contents, field);
    }
    Ok(())
}

/// Reads one BER element at `pos`: (tag, contents, position after it).
pub fn read_element(bytes: &[u8], pos: usize) -> Result<(u8, &[u8], usize), BerError> {
    let t = *bytes.get(pos).ok_or(BerError::Truncated(pos))?;
    let l0 = *bytes.get(pos + 1).ok_or(BerError::Truncated(pos + 1))?;
    let (len, hdr) = if l0 < 0x80 {
        (usize::from(l0), 2)
    } else if l0 == 0x80 {
        return Err(BerError::IndefiniteLength(pos + 1));
    } else {
        let n = usize::from(l0 & 0x7f);
        if n > 4 {
            return Err(BerError::LengthTooWide(pos + 1));
        }
        let field = bytes
            .get(pos + 2..pos + 2 + n)
            .ok_or(BerError::Truncated(pos + 2))?;
        let len = field.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
        (len, 2 + n)
    };
    let start = pos + hdr;
    let end = start.checked_add(len).ok_or(BerError::Truncated(start))?;
    let contents = bytes.get(start..end).ok_or(BerError::Truncated(start))?;
    Ok((t, contents, end))
}

/// An SNMP VarBind: the value of config-file TLV 11 / 64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarBind {
    /// The object instance (column OID plus index, or scalar plus `.0`).
    pub oid: Oid,
    /// Its value.
    pub value: Value,
}

impl VarBind {
    /// A VarBind.
    pub fn new(oid: Oid, value: Value) -> VarBind {
        VarBind { oid, value }
    }

    /// BER encoding of the whole `SEQUENCE`.
    pub fn encode(&self) -> Result<Vec<u8>, BerError> {
        let mut out = Vec::with_capacity(self.oid.0.len() * 2 + 24);
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the encoded VarBind to `out` (nothing on error): one buffer,
    /// no intermediate vectors (config files hold dozens of VarBinds).
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), BerError> {
        push_tlv_with(out, tag::SEQUENCE, |out| {
            push_tlv_with(out, tag::OBJECT_IDENTIFIER, |out| {
                self.oid.push_contents(out)
            })?;
            push_tlv_with(out, self.value.tag(), |out| self.value.push_contents(out))
        })
    }

    /// Decodes exactly one VarBind (no trailing bytes).
    pub fn decode(bytes: &[u8]) -> Result<VarBind, BerError> {
        let (t, seq, end) = read_element(bytes, 0)?;
        if t != tag::SEQUENCE {
            return Err(BerError::UnexpectedTag {
                expected: tag::SEQUENCE,
                found: t,
                offset: 0,
            });
        }
        if end != bytes.len() {
            return Err(BerError::TrailingBytes(bytes.len() - end));
        }
        let (ot, oid, next) = read_element(seq, 0)?;
        if ot != tag::OBJECT_IDENTIFIER {
            return Err(BerError::UnexpectedTag {
                expected: tag::OBJECT_IDENTIFIER,
                found: ot,
                offset: 0,
            });
        }
        let oid = Oid::decode_contents(oid)?;
        let (vt, vc, vend) = read_element(seq, next)?;
        if vend != seq.len() {
            return Err(BerError::TrailingBytes(seq.len() - vend));
        }
        Ok(VarBind {
            oid,
            value: Value::from_tlv(vt, vc)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(s: &str) -> Oid {
        s.parse().unwrap()
    }

    #[test]
    fn varbind_lengths_are_patched_in_place() {
        // 130 octets of contents: the OCTET STRING and the SEQUENCE need the
        // long length form, which moves the contents after the fact.
        for n in [0usize, 1, 100, 127, 128, 130, 300] {
            let vb = VarBind::new(oid("1.3.6.1.2.1.1.6.0"), Value::OctetString(vec![b'x'; n]));
            let enc = vb.encode().unwrap();
            assert_eq!(VarBind::decode(&enc).unwrap(), vb, "{n}");
            let mut out = vec![0xee];
            vb.encode_into(&mut out).unwrap();
            assert_eq!(out.get(1..), Some(&enc[..]), "{n}");
        }
        let vb = VarBind::new(oid("1.3.6.1.2.1.1.5.0"), Value::Gauge32(0x8000_0000));
        // SEQUENCE { OID 1.3.6.1.2.1.1.5.0, Gauge32 00 80 00 00 00 }
        assert_eq!(
            crate::hex(&vb.encode().unwrap()),
            "301106082b0601020101050042050080000000"
        );
    }

    #[test]
    fn oid_arcs_parse_like_u32_from_str() {
        assert_eq!(oid("1.3.6.1.4.1.4491.2.2.99.0").0.len(), 11);
        assert_eq!(oid(".1.3.4294967295").0, [1, 3, u32::MAX]);
        assert_eq!(oid("1.3.999999999").0, [1, 3, 999_999_999]);
        assert_eq!(oid("1.3.0001000000000").0, [1, 3, 1_000_000_000]);
        assert!("1.3.4294967296".parse::<Oid>().is_err());
        assert!("1..3".parse::<Oid>().is_err());
        assert!("1.3.x".parse::<Oid>().is_err());
        assert!("1.3.-1".parse::<Oid>().is_err());
        // Base-128 groups around the one-octet fast path.
        for (arc, hex) in [
            (127u32, "7f"),
            (128, "8100"),
            (16_383, "ff7f"),
            (16_384, "818000"),
        ] {
            let enc = Oid::new(&[1, 3, arc]).encode_contents().unwrap();
            assert_eq!(crate::hex(&enc), format!("2b{hex}"), "{arc}");
        }
    }

    #[test]
    fn a_bad_oid_appends_nothing() {
        let vb = VarBind::new(Oid::new(&[1]), Value::Null);
        let mut out = vec![1, 2, 3];
        assert_eq!(vb.encode_into(&mut out), Err(BerError::BadOid));
        assert_eq!(out, [1, 2, 3]);
        let vb = VarBind::new(oid("1.3.6.1"), Value::ObjectIdentifier(Oid::new(&[3, 1])));
        assert_eq!(vb.encode_into(&mut out), Err(BerError::BadOid));
        assert_eq!(out, [1, 2, 3]);
    }

    #[test]
    fn pktc_mta_dev_enabled_matches_docsis_tool_bytes() {
        // From the reference packetcable_mta.bin (protocol-notes 5.2), re-encoded minimally.
        let vb = VarBind::new(oid("1.3.6.1.4.1.4491.2.2.1.1.1.7.0"), Value::Integer(1));
        assert_eq!(
            crate::hex(&vb.encode().unwrap()),
            "3013060e2b06010401a30b02020101010700020101"
        );
    }

    #[test]
    fn decoder_accepts_long_form_lengths() {
        let bytes = crate::unhex("30820013060e2b06010401a30b02020101010700020101").unwrap();
        let vb = VarBind::decode(&bytes).unwrap();
        assert_eq!(vb.oid, oid("1.3.6.1.4.1.4491.2.2.1.1.1.7.0"));
        assert_eq!(vb.value, Value::Integer(1));
    }

    #[test]
    fn integers_are_minimal_twos_complement() {
        for (v, hex) in [
            (0i64, "00"),
            (127, "7f"),
            (128, "0080"),
            (256, "0100"),
            (-1, "ff"),
            (-128, "80"),
            (-129, "ff7f"),
            (2727, "0aa7"),
        ] {
            assert_eq!(crate::hex(&encode_signed(v)), hex, "{v}");
            assert_eq!(decode_signed(&encode_signed(v)).unwrap(), v);
        }
        assert_eq!(crate::hex(&encode_unsigned(0xffff_ffff)), "00ffffffff");
        assert_eq!(decode_u32(&encode_unsigned(0xffff_ffff)).unwrap(), u32::MAX);
        assert_eq!(
            decode_u32(&[0x01, 0, 0, 0, 0]),
            Err(BerError::BadInteger(5))
        );
    }

    #[test]
    fn every_value_type_round_trips() {
        let values = [
            Value::Integer(-5),
            Value::string("BASIC.1"),
            Value::Null,
            Value::ObjectIdentifier(oid("1.3.6.1.2.1.1.1")),
            Value::IpAddress(Ipv4Addr::new(10, 0, 0, 1)),
            Value::Counter32(3_000_000_000),
            Value::unsigned32(5060),
            Value::TimeTicks(100),
            Value::Counter64(u64::MAX),
        ];
        for v in values {
            let vb = VarBind::new(oid("1.3.6.1.2.1.140.1.1.6.0"), v);
            let back = VarBind::decode(&vb.encode().unwrap()).unwrap();
            assert_eq!(back, vb);
        }
    }

    #[test]
    fn values_parse_from_configuration_text() {
        assert_eq!(Value::parse("int", "-3").unwrap(), Value::Integer(-3));
        assert_eq!(Value::parse("Integer32", "7").unwrap(), Value::Integer(7));
        assert_eq!(Value::parse("STRING", "x").unwrap(), Value::string("x"));
        assert!(Value::parse("intx", "1").is_err());
        assert_eq!(
            Value::parse("ip", "10.0.0.1").unwrap(),
            Value::IpAddress(Ipv4Addr::new(10, 0, 0, 1))
        );
        assert_eq!(
            Value::parse("unsigned", "5060").unwrap(),
            Value::Gauge32(5060)
        );
        assert_eq!(
            Value::parse("hex", "00ff").unwrap(),
            Value::OctetString(vec![0, 255])
        );
        assert_eq!(Value::parse("truth", "false").unwrap(), Value::Integer(2));
        assert!(Value::parse("int", "x").is_err());
        assert!(Value::parse("gauge", "-1").is_err());
        assert!(Value::parse("float", "1").is_err());
    }

    #[test]
    fn oid_edge_cases() {
        assert_eq!(
            Oid::decode_contents(&oid("2.999.3").encode_contents().unwrap()).unwrap(),
            oid("2.999.3")
        );
        assert_eq!(
            crate::hex(&oid("1.3.6.1.4.1.4294967295").encode_contents().unwrap()),
            "2b06010401 8fffffff7f".replace(' ', "")
        );
        assert!(Oid::decode_contents(&[0x2b, 0x86]).is_err());
        assert!(Oid::decode_contents(&[0x2b, 0x80, 0x01]).is_err());
        assert!(Oid::new(&[1]).encode_contents().is_err());
        assert!("1.x.3".parse::<Oid>().is_err());
        assert_eq!(oid(".1.3.6").to_string(), "1.3.6");
    }

    #[test]
    fn long_values_use_long_form_lengths() {
        let vb = VarBind::new(
            oid("1.3.6.1.2.1.1.5.0"),
            Value::OctetString(vec![b'a'; 300]),
        );
        let enc = vb.encode().unwrap();
        assert_eq!(enc.get(..4), Some(&[0x30, 0x82, 0x01, 0x3a][..]));
        assert_eq!(VarBind::decode(&enc).unwrap(), vb);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let enc = VarBind::new(oid("1.3.6.1.2.1.1.5.0"), Value::string("x"))
            .encode()
            .unwrap();
        for n in 0..enc.len() {
            assert!(VarBind::decode(enc.get(..n).unwrap()).is_err(), "{n}");
        }
    }
}
