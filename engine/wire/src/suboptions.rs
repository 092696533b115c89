//! Generic type-length-value framings that DHCP options nest inside their
//! payloads, as iterators that never panic and encoders that check lengths.
//!
//! * [`Tlv8`]: `code(1) len(1) value`, the sub-option framing of option 82
//!   (RFC 3046 §2.0), option 43 (RFC 2132 §8.4), option 122 (RFC 3495 §3) and
//!   the CableLabs sub-options inside option 125 enterprise 4491
//!   (CL-SP-CANN-DHCP-Reg).
//! * [`Tlv16`]: `code(2) len(2) value`, the framing of DHCPv6 options and of
//!   the CableLabs sub-options of DHCPv6 option 17 (RFC 8415 §21.17).
//! * [`VendorIdentifying`]: `enterprise(4) data-len(1) data`, the framing of
//!   options 124 and 125 (RFC 3925 §3, §4) and of option 82 sub-option 9
//!   (RFC 4243 §2).
//!
//! Iterators yield `Err` once on malformed input and then stop, so a caller
//! can either collect into a `Result` or stop at the first valid prefix.

use std::borrow::Cow;

/// Errors of the generic TLV framings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    /// The input ended inside a code or length field.
    #[error("TLV header truncated at offset {offset}")]
    Truncated {
        /// Offset of the incomplete header in the input.
        offset: usize,
    },
    /// A value runs past the end of the input.
    #[error("TLV {code} at offset {offset} runs past the end of its container")]
    Overrun {
        /// Code of the offending TLV (the enterprise number for RFC 3925).
        code: u32,
        /// Offset of the offending TLV header in the input.
        offset: usize,
    },
    /// A value is too long for the length field of the framing.
    #[error("TLV {code} value of {len} octets does not fit its length field")]
    TooLong {
        /// Code of the TLV being encoded (the enterprise number for RFC 3925).
        code: u32,
        /// Length of the value that was passed in.
        len: usize,
    },
}

/// Iterator over `code(1) len(1) value` sub-options.
///
/// By default every octet is a code; [`Tlv8::with_pad_end`] treats code 0 as
/// a one-octet pad and 255 as the end of the list, as option 43 does.
#[derive(Debug, Clone)]
pub struct Tlv8<'a> {
    buf: &'a [u8],
    pos: usize,
    pad_end: bool,
    done: bool,
}

impl<'a> Tlv8<'a> {
    /// Iterates `buf` where every code, including 0 and 255, has a length.
    pub fn new(buf: &'a [u8]) -> Self {
        Tlv8 {
            buf,
            pos: 0,
            pad_end: false,
            done: false,
        }
    }

    /// Iterates `buf` treating 0 as pad and 255 as end (RFC 2132 §3.1, §3.2).
    pub fn with_pad_end(buf: &'a [u8]) -> Self {
        Tlv8 {
            buf,
            pos: 0,
            pad_end: true,
            done: false,
        }
    }
}

impl<'a> Iterator for Tlv8<'a> {
    type Item = Result<(u8, &'a [u8]), TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let Some(&code) = self.buf.get(self.pos) else {
                self.done = true;
                return None;
            };
            if self.pad_end {
                if code == 0 {
                    self.pos += 1;
                    continue;
                }
                if code == 255 {
                    self.done = true;
                    return None;
                }
            }
            let offset = self.pos;
            let Some(&len) = self.buf.get(offset + 1) else {
                self.done = true;
                return Some(Err(TlvError::Truncated { offset }));
            };
            let start = offset + 2;
            let end = start + usize::from(len);
            let Some(value) = self.buf.get(start..end) else {
                self.done = true;
                return Some(Err(TlvError::Overrun {
                    code: u32::from(code),
                    offset,
                }));
            };
            self.pos = end;
            return Some(Ok((code, value)));
        }
    }
}

impl std::iter::FusedIterator for Tlv8<'_> {}

/// Iterator over `code(2) len(2) value` options, big-endian.
#[derive(Debug, Clone)]
pub struct Tlv16<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Tlv16<'a> {
    /// Iterates `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Tlv16 {
            buf,
            pos: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for Tlv16<'a> {
    type Item = Result<(u16, &'a [u8]), TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.buf.len() {
            self.done = true;
            return None;
        }
        let offset = self.pos;
        let Some(hdr) = self.buf.get(offset..offset + 4) else {
            self.done = true;
            return Some(Err(TlvError::Truncated { offset }));
        };
        let code = u16::from_be_bytes([hdr[0], hdr[1]]);
        let len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
        let start = offset + 4;
        let Some(value) = self.buf.get(start..start + len) else {
            self.done = true;
            return Some(Err(TlvError::Overrun {
                code: u32::from(code),
                offset,
            }));
        };
        self.pos = start + len;
        Some(Ok((code, value)))
    }
}

impl std::iter::FusedIterator for Tlv16<'_> {}

/// Iterator over RFC 3925 `enterprise(4) data-len(1) data` instances, in
/// wire order, one item per instance.
#[derive(Debug, Clone)]
pub struct VendorIdentifying<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> VendorIdentifying<'a> {
    /// Iterates the payload of an option 124/125 (already RFC 3396-merged)
    /// or of option 82 sub-option 9.
    pub fn new(buf: &'a [u8]) -> Self {
        VendorIdentifying {
            buf,
            pos: 0,
            done: false,
        }
    }

    /// The data of every instance of `enterprise`, concatenated in wire
    /// order. RFC 3925 §3/§4 says an enterprise number should occur once
    /// and leaves repeats undefined; joining them (as RFC 3396 joins split
    /// options) is the only reading that keeps a sender's data intact when
    /// it did not fit one 255-octet instance. Borrowed when there is a
    /// single instance; `Ok(None)` when there is none.
    pub fn merged(buf: &'a [u8], enterprise: u32) -> Result<Option<Cow<'a, [u8]>>, TlvError> {
        let mut out: Option<Cow<'a, [u8]>> = None;
        for item in VendorIdentifying::new(buf) {
            let (ent, data) = item?;
            if ent != enterprise {
                continue;
            }
            out = Some(match out {
                None => Cow::Borrowed(data),
                Some(prev) => {
                    let mut v = prev.into_owned();
                    v.extend_from_slice(data);
                    Cow::Owned(v)
                }
            });
        }
        Ok(out)
    }
}

impl<'a> Iterator for VendorIdentifying<'a> {
    type Item = Result<(u32, &'a [u8]), TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.buf.len() {
            self.done = true;
            return None;
        }
        let offset = self.pos;
        let Some(hdr) = self.buf.get(offset..offset + 5) else {
            self.done = true;
            return Some(Err(TlvError::Truncated { offset }));
        };
        let enterprise = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        let len = usize::from(hdr[4]);
        let start = offset + 5;
        let Some(data) = self.buf.get(start..start + len) else {
            self.done = true;
            return Some(Err(TlvError::Overrun {
                code: enterprise,
                offset,
            }));
        };
        self.pos = start + len;
        Some(Ok((enterprise, data)))
    }
}

impl std::iter::FusedIterator for VendorIdentifying<'_> {}

/// Appends `code(1) len(1) data` to `out`; errors if `data` exceeds 255.
pub fn push_tlv8(out: &mut Vec<u8>, code: u8, data: &[u8]) -> Result<(), TlvError> {
    let len = u8::try_from(data.len()).map_err(|_| TlvError::TooLong {
        code: u32::from(code),
        len: data.len(),
    })?;
    out.reserve(2 + data.len());
    out.push(code);
    out.push(len);
    out.extend_from_slice(data);
    Ok(())
}

/// Appends `code(2) len(2) data` to `out`; errors if `data` exceeds 65535.
pub fn push_tlv16(out: &mut Vec<u8>, code: u16, data: &[u8]) -> Result<(), TlvError> {
    let len = u16::try_from(data.len()).map_err(|_| TlvError::TooLong {
        code: u32::from(code),
        len: data.len(),
    })?;
    out.reserve(4 + data.len());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data);
    Ok(())
}

/// Appends one RFC 3925 instance `enterprise(4) data-len(1) data` to `out`;
/// errors if `data` exceeds 255 (split it over several instances instead).
pub fn push_vendor(out: &mut Vec<u8>, enterprise: u32, data: &[u8]) -> Result<(), TlvError> {
    let len = u8::try_from(data.len()).map_err(|_| TlvError::TooLong {
        code: enterprise,
        len: data.len(),
    })?;
    out.reserve(5 + data.len());
    out.extend_from_slice(&enterprise.to_be_bytes());
    out.push(len);
    out.extend_from_slice(data);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tlv8_walks_option82_payload() {
        // circuit-id "cm-1", remote-id 00:11:22:33:44:aa (peers.md scapy probe).
        let buf = b"\x01\x04cm-1\x02\x06\x00\x11\x22\x33\x44\xaa";
        let items: Vec<_> = Tlv8::new(buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            items,
            vec![
                (1u8, &b"cm-1"[..]),
                (2, &[0x00, 0x11, 0x22, 0x33, 0x44, 0xaa][..])
            ]
        );
    }

    #[test]
    fn tlv8_plain_mode_gives_zero_and_255_a_length() {
        let items: Vec<_> = Tlv8::new(&[0, 1, 9, 255, 0])
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(items, vec![(0u8, &[9u8][..]), (255, &[][..])]);
    }

    #[test]
    fn tlv8_pad_end_mode_skips_pad_and_stops_at_end() {
        let buf = [0, 0, 2, 3, b'E', b'C', b'M', 0, 255, 9, 9];
        let items: Vec<_> = Tlv8::with_pad_end(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(items, vec![(2u8, &b"ECM"[..])]);
    }

    #[test]
    fn tlv8_reports_truncation_and_overrun_once() {
        let mut it = Tlv8::new(&[1, 1, 7, 2]);
        assert_eq!(it.next(), Some(Ok((1, &[7u8][..]))));
        assert_eq!(it.next(), Some(Err(TlvError::Truncated { offset: 3 })));
        assert_eq!(it.next(), None);
        let mut it = Tlv8::new(&[5, 4, 1, 2]);
        assert_eq!(
            it.next(),
            Some(Err(TlvError::Overrun { code: 5, offset: 0 }))
        );
        assert_eq!(it.next(), None);
    }

    #[test]
    fn tlv16_walks_cablelabs_realm_vector() {
        // CL_OPTION_CCCV6 sub-option 6 = HYBRID.2, the realm value of the
        // XYNA test data (protocol-notes §1, §2.2).
        let buf = [
            0x00, 0x06, 0x00, 0x0a, 0x06, 0x48, 0x59, 0x42, 0x52, 0x49, 0x44, 0x01, 0x32, 0x00,
        ];
        let items: Vec<_> = Tlv16::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(items, vec![(6u16, &buf[4..])]);
        assert_eq!(
            Tlv16::new(&buf[..13]).next(),
            Some(Err(TlvError::Overrun { code: 6, offset: 0 }))
        );
        assert_eq!(
            Tlv16::new(&buf[..3]).next(),
            Some(Err(TlvError::Truncated { offset: 0 }))
        );
    }

    #[test]
    fn vendor_identifying_iterates_and_merges_per_enterprise() {
        // 4491 with ORO [2,3] (peers.md probe), then enterprise 9, then 4491 again.
        let mut buf = hex("0000118b040102020300000009020a0b");
        buf.extend_from_slice(&hex("0000118b03040101"));
        let items: Vec<_> = VendorIdentifying::new(&buf)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0], (4491, &[1u8, 2, 2, 3][..]));
        assert_eq!(items[1], (9, &[0x0a, 0x0b][..]));
        let merged = VendorIdentifying::merged(&buf, 4491).unwrap().unwrap();
        assert!(matches!(merged, Cow::Owned(_)));
        assert_eq!(&*merged, &[1, 2, 2, 3, 4, 1, 1][..]);
        let single = VendorIdentifying::merged(&buf, 9).unwrap().unwrap();
        assert!(matches!(single, Cow::Borrowed(_)));
        assert_eq!(VendorIdentifying::merged(&buf, 311).unwrap(), None);
        assert_eq!(
            VendorIdentifying::merged(&buf[..7], 4491),
            Err(TlvError::Overrun {
                code: 4491,
                offset: 0
            })
        );
        assert_eq!(
            VendorIdentifying::new(&[0, 0, 0]).next(),
            Some(Err(TlvError::Truncated { offset: 0 }))
        );
    }

    #[test]
    fn encoders_check_lengths() {
        let mut out = Vec::new();
        push_tlv8(&mut out, 6, b"abc").unwrap();
        push_vendor(&mut out, 4491, &[1, 0]).unwrap();
        push_tlv16(&mut out, 2171, &[9]).unwrap();
        assert_eq!(out, hex("06036162630000118b020100087b000109"));
        let before = out.clone();
        assert_eq!(
            push_tlv8(&mut out, 1, &[0; 256]),
            Err(TlvError::TooLong { code: 1, len: 256 })
        );
        assert_eq!(
            push_vendor(&mut out, 4491, &[0; 300]),
            Err(TlvError::TooLong {
                code: 4491,
                len: 300
            })
        );
        assert_eq!(
            push_tlv16(&mut out, 7, &vec![0; 65536]),
            Err(TlvError::TooLong {
                code: 7,
                len: 65536
            })
        );
        assert_eq!(out, before, "a failed push leaves the buffer untouched");
        push_tlv8(&mut out, 1, &[0; 255]).unwrap();
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    proptest! {
        #[test]
        fn tlv8_round_trips(items in proptest::collection::vec((any::<u8>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..12)) {
            let mut buf = Vec::new();
            for (c, d) in &items {
                push_tlv8(&mut buf, *c, d).unwrap();
            }
            let back: Vec<(u8, Vec<u8>)> = Tlv8::new(&buf).map(|r| r.map(|(c, d)| (c, d.to_vec()))).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(back, items);
        }

        #[test]
        fn tlv16_round_trips(items in proptest::collection::vec((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..12)) {
            let mut buf = Vec::new();
            for (c, d) in &items {
                push_tlv16(&mut buf, *c, d).unwrap();
            }
            let back: Vec<(u16, Vec<u8>)> = Tlv16::new(&buf).map(|r| r.map(|(c, d)| (c, d.to_vec()))).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(back, items);
        }

        #[test]
        fn vendor_round_trips(items in proptest::collection::vec((any::<u32>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..8)) {
            let mut buf = Vec::new();
            for (e, d) in &items {
                push_vendor(&mut buf, *e, d).unwrap();
            }
            let back: Vec<(u32, Vec<u8>)> = VendorIdentifying::new(&buf).map(|r| r.map(|(e, d)| (e, d.to_vec()))).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(back, items);
        }

        #[test]
        fn iterators_never_panic_and_stop_after_error(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
            for mode in [false, true] {
                let it = if mode { Tlv8::with_pad_end(&buf) } else { Tlv8::new(&buf) };
                let mut seen_err = false;
                for item in it {
                    prop_assert!(!seen_err);
                    seen_err = item.is_err();
                }
            }
            let mut seen_err = false;
            for item in Tlv16::new(&buf) {
                prop_assert!(!seen_err);
                seen_err = item.is_err();
            }
            let mut seen_err = false;
            for item in VendorIdentifying::new(&buf) {
                prop_assert!(!seen_err);
                seen_err = item.is_err();
            }
        }
    }
}
