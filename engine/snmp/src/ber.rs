//! The subset of ASN.1 BER (X.690) that SNMP uses (RFC 3416 section 3,
//! RFC 3412 section 6, RFC 3414 section 2.4): single-octet tags, definite
//! lengths (short and long form), INTEGER, OCTET STRING, NULL, OBJECT
//! IDENTIFIER and the SMIv2 application types. Decoding is zero-copy over
//! the datagram and refuses what SNMP never sends (indefinite lengths,
//! multi-octet tags, over-long integers), so a hostile datagram costs at
//! most one pass over its bytes.

use crate::Oid;

/// Why bytes are not valid SNMP BER.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BerError {
    /// The bytes end inside a tag, length or value.
    #[error("truncated BER at offset {0}")]
    Truncated(usize),
    /// A different tag was expected.
    #[error("unexpected tag 0x{found:02x} at offset {at} (expected 0x{expected:02x})")]
    UnexpectedTag {
        /// The tag wanted.
        expected: u8,
        /// The tag found.
        found: u8,
        /// Where.
        at: usize,
    },
    /// Indefinite or over-long length, multi-octet tag.
    #[error("unsupported BER encoding at offset {0}")]
    Unsupported(usize),
    /// An INTEGER out of the type's range, an empty INTEGER or a bad OID.
    #[error("invalid value at offset {0}")]
    Invalid(usize),
    /// Bytes left over where the structure should have ended.
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

/// Universal and SNMP tags.
pub mod tag {
    /// INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// OCTET STRING.
    pub const OCTET_STRING: u8 = 0x04;
    /// NULL.
    pub const NULL: u8 = 0x05;
    /// OBJECT IDENTIFIER.
    pub const OID: u8 = 0x06;
    /// SEQUENCE (constructed).
    pub const SEQUENCE: u8 = 0x30;
    /// IpAddress (RFC 2578).
    pub const IP_ADDRESS: u8 = 0x40;
    /// Counter32.
    pub const COUNTER32: u8 = 0x41;
    /// Gauge32 / Unsigned32.
    pub const GAUGE32: u8 = 0x42;
    /// TimeTicks.
    pub const TIMETICKS: u8 = 0x43;
    /// Opaque.
    pub const OPAQUE: u8 = 0x44;
    /// Counter64.
    pub const COUNTER64: u8 = 0x46;
    /// noSuchObject exception (RFC 3416).
    pub const NO_SUCH_OBJECT: u8 = 0x80;
    /// noSuchInstance exception.
    pub const NO_SUCH_INSTANCE: u8 = 0x81;
    /// endOfMibView exception.
    pub const END_OF_MIB_VIEW: u8 = 0x82;
}

/// At most this many sub-identifiers in an OID (RFC 2578 section 3.5).
pub const MAX_OID_LEN: usize = 128;

/// A cursor over BER bytes; every slice it returns borrows the input.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    /// Offset of `buf` in the outermost input (for error messages and offsets).
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over a whole datagram.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, base: 0 }
    }

    /// Offset of the next byte in the outermost input.
    pub fn offset(&self) -> usize {
        self.base
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Fails unless everything was read.
    pub fn finish(&self) -> Result<(), BerError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(BerError::Trailing(self.buf.len()))
        }
    }

    /// The next tag without consuming it.
    pub fn peek_tag(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    /// Reads one TLV: its tag, a reader over its contents (offset-aware)
    /// and the contents' offset in the outermost input.
    pub fn tlv(&mut self) -> Result<(u8, Reader<'a>), BerError> {
        let at = self.base;
        let (&t, rest) = self.buf.split_first().ok_or(BerError::Truncated(at))?;
        if t & 0x1f == 0x1f {
            return Err(BerError::Unsupported(at));
        }
        let (&l0, mut rest) = rest.split_first().ok_or(BerError::Truncated(at + 1))?;
        let mut hdr = 2;
        let len = if l0 < 0x80 {
            usize::from(l0)
        } else {
            let n = usize::from(l0 & 0x7f);
            if n == 0 || n > 4 {
                return Err(BerError::Unsupported(at + 1));
            }
            let (lb, r) = rest
                .split_at_checked(n)
                .ok_or(BerError::Truncated(at + 2))?;
            rest = r;
            hdr += n;
            lb.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b))
        };
        let (content, after) = rest
            .split_at_checked(len)
            .ok_or(BerError::Truncated(at + hdr))?;
        self.buf = after;
        self.base = at + hdr + len;
        Ok((
            t,
            Reader {
                buf: content,
                base: at + hdr,
            },
        ))
    }

    /// Reads a TLV that must carry `tag`.
    pub fn expect(&mut self, tag: u8) -> Result<Reader<'a>, BerError> {
        let at = self.base;
        let (t, r) = self.tlv()?;
        if t != tag {
            return Err(BerError::UnexpectedTag {
                expected: tag,
                found: t,
                at,
            });
        }
        Ok(r)
    }

    /// The remaining bytes (the contents of a primitive TLV).
    pub fn bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// An INTEGER that fits i32.
    pub fn integer(&mut self) -> Result<i32, BerError> {
        let at = self.base;
        let r = self.expect(tag::INTEGER)?;
        i32::try_from(signed(r.buf, at)?).map_err(|_| BerError::Invalid(at))
    }

    /// An OCTET STRING's contents.
    pub fn octets(&mut self) -> Result<&'a [u8], BerError> {
        Ok(self.expect(tag::OCTET_STRING)?.buf)
    }

    /// An OBJECT IDENTIFIER.
    pub fn oid(&mut self) -> Result<Oid, BerError> {
        let at = self.base;
        let r = self.expect(tag::OID)?;
        decode_oid(r.buf, at)
    }
}

/// A two's-complement INTEGER of at most 8 octets.
pub fn signed(b: &[u8], at: usize) -> Result<i64, BerError> {
    if b.is_empty() || b.len() > 8 {
        return Err(BerError::Invalid(at));
    }
    let neg = b[0] & 0x80 != 0;
    Ok(b.iter()
        .fold(if neg { -1i64 } else { 0 }, |a, &x| (a << 8) | i64::from(x)))
}

/// An unsigned INTEGER-encoded value of at most 64 bits (a leading zero octet allowed).
pub fn unsigned(b: &[u8], at: usize) -> Result<u64, BerError> {
    let b = match b {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => b,
    };
    if b.is_empty() || b.len() > 8 {
        return Err(BerError::Invalid(at));
    }
    // A negative encoding of an unsigned type: accepted as its bit pattern
    // only when it is a full 4 or 8 octets, as some agents send it.
    Ok(b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
}

/// Decodes OID contents (X.690 8.19).
pub fn decode_oid(b: &[u8], at: usize) -> Result<Oid, BerError> {
    if b.is_empty() {
        return Err(BerError::Invalid(at));
    }
    let mut arcs = Vec::with_capacity(b.len() + 1);
    let mut cur: u64 = 0;
    let mut in_arc = false;
    for &x in b {
        if !in_arc && x == 0x80 {
            return Err(BerError::Invalid(at)); // non-minimal
        }
        cur = (cur << 7) | u64::from(x & 0x7f);
        if cur > u64::from(u32::MAX) + 80 {
            return Err(BerError::Invalid(at));
        }
        in_arc = true;
        if x & 0x80 == 0 {
            if arcs.is_empty() {
                let (a, c) = match cur {
                    0..=39 => (0, cur),
                    40..=79 => (1, cur - 40),
                    _ => (2, cur - 80),
                };
                arcs.push(a);
                arcs.push(u32::try_from(c).map_err(|_| BerError::Invalid(at))?);
            } else {
                arcs.push(u32::try_from(cur).map_err(|_| BerError::Invalid(at))?);
            }
            cur = 0;
            in_arc = false;
            if arcs.len() > MAX_OID_LEN {
                return Err(BerError::Invalid(at));
            }
        }
    }
    if in_arc {
        return Err(BerError::Invalid(at));
    }
    Ok(Oid(arcs))
}

/// A BER writer; constructed values are written in place and their length
/// is filled in when they close.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    /// The bytes written so far.
    pub buf: Vec<u8>,
}

impl Writer {
    /// An empty writer with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Writer {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }

    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// A constructed (or primitive) TLV whose contents `f` writes.
    pub fn nested(&mut self, tag: u8, f: impl FnOnce(&mut Writer)) {
        self.buf.push(tag);
        let len_at = self.buf.len();
        self.buf.push(0);
        f(self);
        let len = self.buf.len() - len_at - 1;
        if len < 0x80 {
            self.buf[len_at] = len as u8;
        } else {
            let be = (len as u32).to_be_bytes();
            let skip = be.iter().take_while(|b| **b == 0).count();
            let lb = &be[skip..];
            self.buf[len_at] = 0x80 | lb.len() as u8;
            self.buf.splice(len_at + 1..len_at + 1, lb.iter().copied());
        }
    }

    /// A primitive TLV.
    pub fn primitive(&mut self, tag: u8, content: &[u8]) {
        self.nested(tag, |w| w.buf.extend_from_slice(content));
    }

    /// A signed integer under `tag` (minimal two's complement).
    pub fn signed(&mut self, tag: u8, v: i64) {
        let be = v.to_be_bytes();
        let mut skip = 0;
        while skip < 7 {
            let (b, next) = (be[skip], be[skip + 1]);
            if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
                skip += 1;
            } else {
                break;
            }
        }
        self.primitive(tag, &be[skip..]);
    }

    /// An unsigned integer under `tag` (a leading zero when the top bit is set).
    pub fn unsigned(&mut self, tag: u8, v: u64) {
        let be = v.to_be_bytes();
        let skip = be.iter().take(7).take_while(|b| **b == 0).count();
        if be[skip] & 0x80 != 0 {
            let mut c = Vec::with_capacity(9);
            c.push(0);
            c.extend_from_slice(&be[skip..]);
            self.primitive(tag, &c);
        } else {
            self.primitive(tag, &be[skip..]);
        }
    }

    /// An INTEGER.
    pub fn integer(&mut self, v: i64) {
        self.signed(tag::INTEGER, v);
    }

    /// An OCTET STRING.
    pub fn octets(&mut self, b: &[u8]) {
        self.primitive(tag::OCTET_STRING, b);
    }

    /// A NULL.
    pub fn null(&mut self) {
        self.buf.extend_from_slice(&[tag::NULL, 0]);
    }

    /// An OBJECT IDENTIFIER (at least two arcs; fewer are padded with zeros).
    pub fn oid(&mut self, oid: &Oid) {
        self.nested(tag::OID, |w| {
            let a = oid.0.first().copied().unwrap_or(0);
            let b = oid.0.get(1).copied().unwrap_or(0);
            push_arc(&mut w.buf, u64::from(a.min(2)) * 40 + u64::from(b));
            for &arc in oid.0.iter().skip(2) {
                push_arc(&mut w.buf, u64::from(arc));
            }
        });
    }
}

fn push_arc(buf: &mut Vec<u8>, v: u64) {
    let mut tmp = [0u8; 10];
    let mut n = 0;
    let mut x = v;
    loop {
        tmp[n] = (x & 0x7f) as u8;
        n += 1;
        x >>= 7;
        if x == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        buf.push(tmp[i] | if i > 0 { 0x80 } else { 0 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_short_and_long_form() {
        let mut w = Writer::default();
        w.octets(&[7u8; 200]);
        assert_eq!(&w.buf[..3], &[0x04, 0x81, 200]);
        let mut r = Reader::new(&w.buf);
        assert_eq!(r.octets().unwrap().len(), 200);
        let mut w = Writer::default();
        w.octets(&[7u8; 300]);
        assert_eq!(&w.buf[..4], &[0x04, 0x82, 0x01, 0x2c]);
        // Indefinite length and multi-octet tags are refused.
        assert!(Reader::new(&[0x30, 0x80, 0, 0]).tlv().is_err());
        assert!(Reader::new(&[0x1f, 0x01, 0]).tlv().is_err());
        assert_eq!(
            Reader::new(&[0x04, 0x05, 1]).tlv().unwrap_err(),
            BerError::Truncated(2)
        );
    }

    #[test]
    fn integers_minimal_two_complement() {
        for (v, want) in [
            (0i64, vec![0u8]),
            (127, vec![0x7f]),
            (128, vec![0x00, 0x80]),
            (-1, vec![0xff]),
            (-129, vec![0xff, 0x7f]),
            (i64::from(i32::MIN), vec![0x80, 0, 0, 0]),
        ] {
            let mut w = Writer::default();
            w.integer(v);
            assert_eq!(&w.buf[2..], &want[..], "{v}");
            assert_eq!(signed(&w.buf[2..], 0).unwrap(), v);
        }
        let mut w = Writer::default();
        w.unsigned(tag::COUNTER32, u64::from(u32::MAX));
        assert_eq!(w.buf, [0x41, 5, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(unsigned(&w.buf[2..], 0).unwrap(), u64::from(u32::MAX));
    }

    #[test]
    fn oids_x690_examples() {
        // X.690 8.19.5 example: {2 999 3} = 06 03 88 37 03.
        let mut w = Writer::default();
        w.oid(&Oid(vec![2, 999, 3]));
        assert_eq!(w.buf, [0x06, 0x03, 0x88, 0x37, 0x03]);
        assert_eq!(decode_oid(&w.buf[2..], 0).unwrap(), Oid(vec![2, 999, 3]));
        let o: Oid = "1.3.6.1.4.1.4491.2.2.1.2.0.1".parse().unwrap();
        let mut w = Writer::default();
        w.oid(&o);
        assert_eq!(
            w.buf,
            [0x06, 0x0d, 0x2b, 6, 1, 4, 1, 0xa3, 0x0b, 2, 2, 1, 2, 0, 1]
        );
        assert_eq!(decode_oid(&w.buf[2..], 0).unwrap(), o);
        assert!(decode_oid(&[0x2b, 0x86], 0).is_err(), "unterminated arc");
        assert!(
            decode_oid(&[0x2b, 0x80, 0x01], 0).is_err(),
            "non-minimal arc"
        );
        assert!(
            decode_oid(&[0x2b, 0x90, 0x80, 0x80, 0x80, 0x00], 0).is_err(),
            "over 32 bits"
        );
    }
}
