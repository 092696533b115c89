//! The TLV container shared by DOCSIS CM files (MULPI annex C) and
//! PacketCable MTA/eUE files (PKT-SP-EUE-PROV section 6.4.2 Table 7):
//! `type(1) length(1) value`, aggregates nesting the same format.
//!
//! One exception sets the two formats apart: top-level TLV 64 has a 2-octet
//! length in MTA/eUE files (Table 7: "SNMP MIB Object 64, 2 bytes") but a
//! 1-octet length in CM files, where 64 is the CMTS Static Multicast Session
//! aggregate (protocol-notes 5.1 and 6.1).

/// Errors of TLV encoding and of TLV framing on decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    /// A value too long for its length field.
    #[error("TLV {path} value is {len} octets, more than its length field allows ({max})")]
    TooLong {
        /// Dotted type path, e.g. `24.4`.
        path: String,
        /// The value length.
        len: usize,
        /// The largest encodable length.
        max: usize,
    },
    /// The input ended inside a TLV.
    #[error("TLV type {tlv_type} at offset {offset} is truncated")]
    Truncated {
        /// The TLV type.
        tlv_type: u8,
        /// Offset of its type octet.
        offset: usize,
    },
}

/// Which of the two file formats a TLV stream belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// DOCSIS cable-modem configuration file.
    Cm,
    /// PacketCable MTA / eUE configuration file (starts with TLV 254 = 1).
    Mta,
}

impl FileKind {
    /// Width of the length field of a top-level TLV of this type.
    pub fn length_width(self, tlv_type: u8) -> usize {
        match (self, tlv_type) {
            (FileKind::Mta, 64) => 2,
            _ => 1,
        }
    }
}

/// The value of a TLV under construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Raw value octets.
    Value(Vec<u8>),
    /// Sub-TLVs (an aggregate), each with a 1-octet length.
    Children(Vec<Tlv>),
}

/// A TLV for the encoders: a leaf value or an aggregate of sub-TLVs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// The type octet.
    pub tlv_type: u8,
    /// The value.
    pub body: Body,
}

impl Tlv {
    /// A leaf TLV with raw value octets.
    pub fn new(tlv_type: u8, value: Vec<u8>) -> Tlv {
        Tlv {
            tlv_type,
            body: Body::Value(value),
        }
    }

    /// An aggregate TLV.
    pub fn aggregate(tlv_type: u8, children: Vec<Tlv>) -> Tlv {
        Tlv {
            tlv_type,
            body: Body::Children(children),
        }
    }

    /// A 1-octet unsigned value.
    pub fn u8(tlv_type: u8, v: u8) -> Tlv {
        Tlv::new(tlv_type, vec![v])
    }

    /// A 2-octet big-endian value.
    pub fn u16(tlv_type: u8, v: u16) -> Tlv {
        Tlv::new(tlv_type, v.to_be_bytes().to_vec())
    }

    /// A 4-octet big-endian value.
    pub fn u32(tlv_type: u8, v: u32) -> Tlv {
        Tlv::new(tlv_type, v.to_be_bytes().to_vec())
    }

    /// A text value without terminator.
    pub fn string(tlv_type: u8, s: &str) -> Tlv {
        Tlv::new(tlv_type, s.as_bytes().to_vec())
    }

    /// A text value with a terminating NUL (MULPI "strzero", e.g. 24.4 service class name).
    pub fn string_nul(tlv_type: u8, s: &str) -> Tlv {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        Tlv::new(tlv_type, v)
    }

    /// Encodes the value octets (children concatenated for an aggregate).
    pub fn encode_value(&self, path: &str) -> Result<Vec<u8>, TlvError> {
        match &self.body {
            Body::Value(v) => Ok(v.clone()),
            Body::Children(children) => {
                let mut out = Vec::new();
                for c in children {
                    c.encode_with_width(1, &mut out)
                        .map_err(|e| e.under(path))?;
                }
                Ok(out)
            }
        }
    }

    /// Appends this TLV as a top-level TLV of a file of `kind`.
    pub fn encode_into(&self, kind: FileKind, out: &mut Vec<u8>) -> Result<(), TlvError> {
        self.encode_with_width(kind.length_width(self.tlv_type), out)
    }

    /// Appends type, length and value straight into `out` (children are
    /// written in place and the length patched afterwards, so an aggregate
    /// costs no intermediate buffers). On error nothing is appended and the
    /// error's path starts at this TLV's type.
    fn encode_with_width(&self, width: usize, out: &mut Vec<u8>) -> Result<(), TlvError> {
        let (width, max) = if width == 2 { (2, 0xffff) } else { (1, 0xff) };
        let start = out.len();
        out.push(self.tlv_type);
        out.extend_from_slice(&[0; 2][..width]);
        let value_at = out.len();
        match &self.body {
            Body::Value(v) => out.extend_from_slice(v),
            Body::Children(children) => {
                for c in children {
                    if let Err(e) = c.encode_with_width(1, out) {
                        out.truncate(start);
                        return Err(e.under(&self.tlv_type.to_string()));
                    }
                }
            }
        }
        let len = out.len() - value_at;
        if len > max {
            out.truncate(start);
            return Err(TlvError::TooLong {
                path: self.tlv_type.to_string(),
                len,
                max,
            });
        }
        let field = (len as u16).to_be_bytes();
        let field = if width == 2 { &field[..] } else { &field[1..] };
        if let Some(slot) = out.get_mut(start + 1..value_at) {
            slot.copy_from_slice(field);
        }
        Ok(())
    }
}

impl TlvError {
    /// The error as seen from an enclosing TLV at `path` (`24` + `4.1` → `24.4.1`).
    fn under(self, path: &str) -> TlvError {
        match self {
            TlvError::TooLong {
                path: inner,
                len,
                max,
            } => TlvError::TooLong {
                path: format!("{path}.{inner}"),
                len,
                max,
            },
            other => other,
        }
    }
}

/// One TLV as framed in a byte stream (no interpretation of the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framed<'a> {
    /// The type octet.
    pub tlv_type: u8,
    /// Offset of the type octet in the stream.
    pub offset: usize,
    /// Length of type plus length field (1 for a type-only TLV).
    pub header_len: usize,
    /// The value octets.
    pub value: &'a [u8],
}

impl<'a> Framed<'a> {
    /// Offset just past this TLV.
    pub fn end(&self) -> usize {
        self.offset + self.header_len + self.value.len()
    }
}

/// Splits a stream of sub-TLVs (1-octet lengths, no pad or end markers).
pub fn split_children(bytes: &[u8]) -> Result<Vec<Framed<'_>>, TlvError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let t = bytes.get(pos).copied().unwrap_or(0);
        let len = match bytes.get(pos + 1) {
            Some(&l) => usize::from(l),
            None => {
                return Err(TlvError::Truncated {
                    tlv_type: t,
                    offset: pos,
                })
            }
        };
        let value = bytes
            .get(pos + 2..pos + 2 + len)
            .ok_or(TlvError::Truncated {
                tlv_type: t,
                offset: pos,
            })?;
        out.push(Framed {
            tlv_type: t,
            offset: pos,
            header_len: 2,
            value,
        });
        pos += 2 + len;
    }
    Ok(out)
}

/// Reads one top-level TLV of a file of `kind` at `pos`, with a length field.
pub fn read_top_level(bytes: &[u8], pos: usize, kind: FileKind) -> Result<Framed<'_>, TlvError> {
    let t = bytes.get(pos).copied().ok_or(TlvError::Truncated {
        tlv_type: 0,
        offset: pos,
    })?;
    let width = kind.length_width(t);
    let trunc = TlvError::Truncated {
        tlv_type: t,
        offset: pos,
    };
    let len_field = bytes.get(pos + 1..pos + 1 + width).ok_or(trunc.clone())?;
    let len = len_field
        .iter()
        .fold(0usize, |a, &b| (a << 8) | usize::from(b));
    let start = pos + 1 + width;
    let value = bytes.get(start..start + len).ok_or(trunc)?;
    Ok(Framed {
        tlv_type: t,
        offset: pos,
        header_len: 1 + width,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_encodes_children_with_one_octet_lengths() {
        let sf = Tlv::aggregate(24, vec![Tlv::u16(1, 1), Tlv::u8(6, 7)]);
        let mut out = Vec::new();
        sf.encode_into(FileKind::Cm, &mut out).unwrap();
        assert_eq!(crate::hex(&out), "180701020001060107");
    }

    #[test]
    fn tlv64_length_width_depends_on_file_kind() {
        let t = Tlv::new(64, vec![0xaa; 3]);
        let mut cm = Vec::new();
        t.encode_into(FileKind::Cm, &mut cm).unwrap();
        assert_eq!(crate::hex(&cm), "4003aaaaaa");
        let mut mta = Vec::new();
        t.encode_into(FileKind::Mta, &mut mta).unwrap();
        assert_eq!(crate::hex(&mta), "400003aaaaaa");
        let f = read_top_level(&mta, 0, FileKind::Mta).unwrap();
        assert_eq!((f.header_len, f.value.len(), f.end()), (3, 3, 6));
    }

    #[test]
    fn too_long_values_are_rejected_with_their_path() {
        let t = Tlv::aggregate(43, vec![Tlv::new(5, vec![0; 256])]);
        let err = t.encode_into(FileKind::Cm, &mut Vec::new()).unwrap_err();
        assert_eq!(
            err,
            TlvError::TooLong {
                path: "43.5".into(),
                len: 256,
                max: 255
            }
        );
    }

    #[test]
    fn nested_errors_keep_the_full_path_and_leave_the_buffer_alone() {
        let t = Tlv::aggregate(
            24,
            vec![
                Tlv::u8(1, 7),
                Tlv::aggregate(4, vec![Tlv::new(1, vec![0; 300])]),
            ],
        );
        let mut out = vec![0xaa];
        let err = t.encode_into(FileKind::Cm, &mut out).unwrap_err();
        assert_eq!(
            err,
            TlvError::TooLong {
                path: "24.4.1".into(),
                len: 300,
                max: 255
            }
        );
        assert_eq!(out, [0xaa]);
        // The aggregate itself too long: 2 x (2 + 200) > 255.
        let t = Tlv::aggregate(
            43,
            vec![Tlv::new(1, vec![1; 200]), Tlv::new(2, vec![2; 200])],
        );
        let err = t.encode_into(FileKind::Cm, &mut out).unwrap_err();
        assert_eq!(
            err,
            TlvError::TooLong {
                path: "43".into(),
                len: 404,
                max: 255
            }
        );
        assert_eq!(t.encode_value("43").unwrap().len(), 404);
        assert_eq!(out, [0xaa]);
    }

    #[test]
    fn truncated_children_are_errors() {
        assert!(split_children(&[1]).is_err());
        assert!(split_children(&[1, 2, 0]).is_err());
        assert_eq!(split_children(&[1, 0, 2, 1, 9]).unwrap().len(), 2);
    }
}
