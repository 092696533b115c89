//! DNS names in wire format (RFC 1035 section 3.1), as carried inside DHCP
//! options: option 122 sub-options 3 and 6 (RFC 3495), option 81 (RFC 4702),
//! option 119 (RFC 3397, without compression on encode).
//!
//! Names are written uncompressed and case-preserved, as DHCP requires (a
//! Kerberos realm such as `BASIC.1` is case-sensitive). This is a few dozen
//! lines over a byte slice; `hickory-proto` is used where whole DNS messages
//! are built (dynamic DNS updates), not for these option payloads, so the
//! sans-IO crate stays free of its dependency tree.
//!
//! Names are written uncompressed, as DHCP requires; on decode, compression
//! pointers are accepted only where RFC 3397 allows them (inside the same
//! option), and every label and total length is checked.

/// Errors of DNS name encoding and decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A label is empty (two dots in a row) or longer than 63 octets.
    #[error("bad label in DNS name {0:?}: labels are 1 to 63 octets")]
    BadLabel(String),
    /// The encoded name would exceed 255 octets.
    #[error("DNS name too long: at most 255 octets in wire form")]
    TooLong,
    /// The wire form ended before the terminating zero label.
    #[error("DNS name truncated")]
    Truncated,
    /// A compression pointer points forward, loops, or is not allowed here.
    #[error("bad DNS compression pointer")]
    BadPointer,
    /// A label type other than a plain label or a pointer.
    #[error("unsupported DNS label type 0x{0:02x}")]
    BadLabelType(u8),
}

/// Appends the wire form of a dotted name (`"BASIC.1"`, `"prov.example.com."`)
/// to `out`. The root name is `""` or `"."`.
pub fn encode_name(name: &str, out: &mut Vec<u8>) -> Result<(), NameError> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let start = out.len();
    if !trimmed.is_empty() {
        for label in trimmed.split('.') {
            let bytes = label.as_bytes();
            if bytes.is_empty() || bytes.len() > 63 {
                out.truncate(start);
                return Err(NameError::BadLabel(name.to_string()));
            }
            out.push(bytes.len() as u8);
            out.extend_from_slice(bytes);
        }
    }
    out.push(0);
    if out.len() - start > 255 {
        out.truncate(start);
        return Err(NameError::TooLong);
    }
    Ok(())
}

/// The wire form of a dotted name as a new vector.
pub fn name_to_wire(name: &str) -> Result<Vec<u8>, NameError> {
    let mut v = Vec::with_capacity(name.len() + 2);
    encode_name(name, &mut v)?;
    Ok(v)
}

/// Decodes one uncompressed name starting at `buf[0]`; returns the dotted
/// name (without a trailing dot; `""` for the root) and the bytes consumed.
pub fn decode_name(buf: &[u8]) -> Result<(String, usize), NameError> {
    decode_name_at(buf, 0, false)
}

/// Decodes the name at `buf[pos..]`, following backward compression pointers
/// within `buf` when `allow_pointers` is set (RFC 3397 domain search lists).
/// Returns the dotted name and how many bytes the name occupies at `pos`.
pub fn decode_name_at(
    buf: &[u8],
    pos: usize,
    allow_pointers: bool,
) -> Result<(String, usize), NameError> {
    let mut name = String::new();
    let mut cur = pos;
    let mut consumed: Option<usize> = None;
    let mut wire_len = 0usize;
    let mut jumps = 0usize;
    loop {
        let len = *buf.get(cur).ok_or(NameError::Truncated)?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    let used = consumed.unwrap_or(cur + 1 - pos);
                    return Ok((name, used));
                }
                let l = usize::from(len);
                let label = buf.get(cur + 1..cur + 1 + l).ok_or(NameError::Truncated)?;
                wire_len += l + 1;
                if wire_len + 1 > 255 {
                    return Err(NameError::TooLong);
                }
                if !name.is_empty() {
                    name.push('.');
                }
                name.push_str(&String::from_utf8_lossy(label));
                cur += 1 + l;
            }
            0xc0 => {
                if !allow_pointers {
                    return Err(NameError::BadPointer);
                }
                let lo = *buf.get(cur + 1).ok_or(NameError::Truncated)?;
                let target = (usize::from(len & 0x3f) << 8) | usize::from(lo);
                if target >= cur || jumps > 64 {
                    return Err(NameError::BadPointer);
                }
                jumps += 1;
                if consumed.is_none() {
                    consumed = Some(cur + 2 - pos);
                }
                cur = target;
            }
            _ => return Err(NameError::BadLabelType(len)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realm_basic_1_matches_rfc3495_vector() {
        assert_eq!(
            name_to_wire("BASIC.1").unwrap(),
            [0x05, b'B', b'A', b'S', b'I', b'C', 0x01, b'1', 0x00]
        );
        assert_eq!(
            decode_name(&[0x05, b'B', b'A', b'S', b'I', b'C', 0x01, b'1', 0x00]).unwrap(),
            ("BASIC.1".to_string(), 9)
        );
    }

    #[test]
    fn fqdn_and_root() {
        assert_eq!(
            name_to_wire("TCOMLABS.COM.").unwrap(),
            b"\x08TCOMLABS\x03COM\x00".to_vec()
        );
        assert_eq!(name_to_wire("").unwrap(), vec![0]);
        assert_eq!(name_to_wire(".").unwrap(), vec![0]);
    }

    #[test]
    fn rejects_bad_labels_and_truncation() {
        assert!(matches!(name_to_wire("a..b"), Err(NameError::BadLabel(_))));
        assert!(matches!(
            name_to_wire(&"x".repeat(64)),
            Err(NameError::BadLabel(_))
        ));
        let long = vec!["abcdefghij"; 30].join(".");
        assert_eq!(name_to_wire(&long), Err(NameError::TooLong));
        assert_eq!(decode_name(&[3, b'a', b'b']), Err(NameError::Truncated));
        assert_eq!(decode_name(&[0xc0, 0]), Err(NameError::BadPointer));
    }

    #[test]
    fn pointers_follow_backwards_only() {
        // "eng.apple.com" then "marketing" + pointer to "apple.com" (RFC 3397 example shape).
        let mut buf = b"\x03eng\x05apple\x03com\x00".to_vec();
        buf.extend_from_slice(b"\x09marketing\xc0\x04");
        let (n, used) = decode_name_at(&buf, 15, true).unwrap();
        assert_eq!(n, "marketing.apple.com");
        assert_eq!(used, 12);
        assert_eq!(
            decode_name_at(&[0xc0, 0x00], 0, true),
            Err(NameError::BadPointer)
        );
    }
}
