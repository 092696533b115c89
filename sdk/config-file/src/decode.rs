//! Decoder for both config-file formats into a TLV tree, with verification
//! of the DOCSIS CM MIC and CMTS MIC (protocol-notes 6.2) and of the
//! PacketCable in-file configuration hash (protocol-notes 5.2).
//!
//! The format is recognised from the first TLV: an MTA/eUE file starts with
//! TLV 254 = 0x01 (seed 000 Table 7), anything else is read as a CM file.
//! Every input either decodes or yields a [`DecodeError`]; nothing panics.

use crate::ber::{BerError, Value, VarBind};
use crate::docsis::{cm_mic, cmts_mic, TLV_CMTS_MIC, TLV_CM_MIC, TLV_END, TLV_PAD};
use crate::packetcable::{config_hash, HashObject, END, START, TLV_DELIMITER};
use crate::tlv::{read_top_level, split_children, FileKind, TlvError};

/// Errors of decoding a config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Zero-length input.
    #[error("empty file")]
    Empty,
    /// TLV framing is broken.
    #[error(transparent)]
    Tlv(#[from] TlvError),
    /// An MTA file without the closing TLV 254 = 0xFF.
    #[error("PacketCable file does not end with TLV 254 = 0xFF (eUE End of File)")]
    MissingEnd,
    /// Data after the end of the file (after TLV 254 = 0xFF, or non-zero after CM end-of-data).
    #[error("unexpected data at offset {0} after the end of the file")]
    AfterEnd(usize),
    /// A CM file without the 0xFF end-of-data marker.
    #[error("DOCSIS file has no end-of-data marker (0xFF)")]
    MissingEndOfData,
}

/// Result of checking a MIC or hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The stored value matches the computed one.
    Verified,
    /// The stored value differs from the computed one.
    Mismatch {
        /// What the file should carry.
        computed: Vec<u8>,
    },
    /// The file carries no such value.
    Missing,
    /// Not checked (no shared secret given).
    NotChecked,
}

/// A decoded TLV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The type octet.
    pub tlv_type: u8,
    /// Offset of the type octet in the file (top level) or in the parent value.
    pub offset: usize,
    /// Length of the complete TLV (type, length field, value).
    pub encoded_len: usize,
    /// The value octets.
    pub value: Vec<u8>,
    /// Sub-TLVs, when the type is an aggregate and its value parses as TLVs.
    pub children: Vec<Node>,
    /// The VarBind of an SNMP MIB object TLV (11, or 64 in an MTA file).
    pub varbind: Option<Result<VarBind, BerError>>,
}

/// A decoded config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Which format.
    pub kind: FileKind,
    /// Total length in octets.
    pub len: usize,
    /// Top-level TLVs in file order (CM: without pads and end-of-data).
    pub tlvs: Vec<Node>,
    /// CM: zero octets after end-of-data.
    pub padding: usize,
    /// CM: the CM MIC (TLV 6) check.
    pub cm_mic: Check,
    /// CM: the CMTS MIC (TLV 7) check, given the shared secret.
    pub cmts_mic: Check,
    /// MTA: SHA-1 of the whole file (what a Hybrid/Secure provisioning server SETs).
    pub config_hash: Option<[u8; 20]>,
    /// MTA: the in-file (Basic flow) hash TLV check.
    pub in_file_hash: Check,
}

impl File {
    /// The first top-level TLV of a type.
    pub fn find(&self, tlv_type: u8) -> Option<&Node> {
        self.tlvs.iter().find(|n| n.tlv_type == tlv_type)
    }

    /// Every decoded VarBind of the file, in order.
    pub fn varbinds(&self) -> Vec<&VarBind> {
        self.tlvs
            .iter()
            .filter_map(|n| match &n.varbind {
                Some(Ok(vb)) => Some(vb),
                _ => None,
            })
            .collect()
    }
}

/// Whether the TLV at `path` (top-level type first) holds sub-TLVs.
pub fn is_aggregate(kind: FileKind, path: &[u8]) -> bool {
    match (kind, path) {
        (FileKind::Mta, [38]) | (FileKind::Mta, [43]) => true,
        (FileKind::Mta, _) => false,
        (FileKind::Cm, [t]) => matches!(
            t,
            4 | 5 | 17 | 22 | 23 | 24 | 25 | 26 | 34 | 38 | 41 | 43 | 45 | 53 | 54 | 56 | 64 | 202
        ),
        (FileKind::Cm, [22 | 23, 9 | 10 | 11 | 12 | 14 | 15 | 16 | 17 | 43]) => true,
        (FileKind::Cm, [24 | 25 | 43, 43 | 5]) => true,
        (FileKind::Cm, [41, 1 | 2]) => true,
        (FileKind::Cm, [53, 2]) => true,
        (FileKind::Cm, [202, 2 | 43 | 53 | 54]) => true,
        _ => false,
    }
}

fn children_of(kind: FileKind, path: &mut Vec<u8>, value: &[u8]) -> Vec<Node> {
    if !is_aggregate(kind, path) {
        return Vec::new();
    }
    // A value that does not parse as sub-TLVs is kept as plain octets:
    // vendor-specific contents need not follow the TLV grammar.
    let framed = match split_children(value) {
        Ok(f) => f,
        Err(_) => return Vec::new(),
    };
    framed
        .iter()
        .map(|f| {
            path.push(f.tlv_type);
            let children = children_of(kind, path, f.value);
            path.pop();
            Node {
                tlv_type: f.tlv_type,
                offset: f.offset,
                encoded_len: f.header_len + f.value.len(),
                value: f.value.to_vec(),
                children,
                varbind: None,
            }
        })
        .collect()
}

fn node(kind: FileKind, tlv_type: u8, offset: usize, header_len: usize, value: &[u8]) -> Node {
    let mut path = vec![tlv_type];
    let children = children_of(kind, &mut path, value);
    let is_snmp = tlv_type == 11 || (kind == FileKind::Mta && tlv_type == 64);
    Node {
        tlv_type,
        offset,
        encoded_len: header_len + value.len(),
        value: value.to_vec(),
        children,
        varbind: if is_snmp {
            Some(VarBind::decode(value))
        } else {
            None
        },
    }
}

/// Decodes a CM or MTA/eUE file; `secret` is the CMTS shared secret for the CMTS MIC.
pub fn decode(bytes: &[u8], secret: Option<&[u8]>) -> Result<File, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if bytes.starts_with(&START) {
        decode_mta(bytes)
    } else {
        decode_cm(bytes, secret)
    }
}

fn decode_cm(bytes: &[u8], secret: Option<&[u8]>) -> Result<File, DecodeError> {
    let kind = FileKind::Cm;
    let mut tlvs = Vec::new();
    let mut pos = 0;
    let mut end = None;
    while pos < bytes.len() {
        match bytes.get(pos).copied() {
            Some(TLV_PAD) => pos += 1,
            Some(TLV_END) => {
                end = Some(pos);
                break;
            }
            _ => {
                let f = read_top_level(bytes, pos, kind)?;
                tlvs.push(node(kind, f.tlv_type, f.offset, f.header_len, f.value));
                pos = f.end();
            }
        }
    }
    let end = end.ok_or(DecodeError::MissingEndOfData)?;
    let tail = bytes.get(end + 1..).unwrap_or(&[]);
    if let Some(i) = tail.iter().position(|&b| b != 0) {
        return Err(DecodeError::AfterEnd(end + 1 + i));
    }
    let cm = match tlvs.iter().find(|n| n.tlv_type == TLV_CM_MIC) {
        None => Check::Missing,
        Some(n) => {
            let computed = cm_mic(bytes.get(..n.offset).unwrap_or(&[]));
            verdict(&n.value, &computed)
        }
    };
    let cmts = match (tlvs.iter().find(|n| n.tlv_type == TLV_CMTS_MIC), secret) {
        (None, _) => Check::Missing,
        (Some(_), None) => Check::NotChecked,
        (Some(n), Some(s)) => {
            let parts: Vec<(u8, &[u8])> = tlvs
                .iter()
                .map(|t| {
                    let raw = bytes.get(t.offset..t.offset + t.encoded_len).unwrap_or(&[]);
                    (t.tlv_type, raw)
                })
                .collect();
            verdict(&n.value, &cmts_mic(s, &parts))
        }
    };
    Ok(File {
        kind,
        len: bytes.len(),
        tlvs,
        padding: tail.len(),
        cm_mic: cm,
        cmts_mic: cmts,
        config_hash: None,
        in_file_hash: Check::Missing,
    })
}

fn verdict(stored: &[u8], computed: &[u8]) -> Check {
    if stored == computed {
        Check::Verified
    } else {
        Check::Mismatch {
            computed: computed.to_vec(),
        }
    }
}

fn decode_mta(bytes: &[u8]) -> Result<File, DecodeError> {
    let kind = FileKind::Mta;
    let mut tlvs = Vec::new();
    let mut pos = 0;
    let mut closed = false;
    while pos < bytes.len() {
        if closed {
            return Err(DecodeError::AfterEnd(pos));
        }
        let f = read_top_level(bytes, pos, kind)?;
        if f.tlv_type == TLV_DELIMITER && f.value == [0xff] {
            closed = true;
        }
        tlvs.push(node(kind, f.tlv_type, f.offset, f.header_len, f.value));
        pos = f.end();
    }
    if !closed || !bytes.ends_with(&END) {
        return Err(DecodeError::MissingEnd);
    }
    let hash_node = tlvs.iter().find(|n| match &n.varbind {
        Some(Ok(vb)) => HashObject::from_oid(&vb.oid).is_some(),
        _ => false,
    });
    let in_file = match hash_node {
        None => Check::Missing,
        Some(n) => {
            let mut without = bytes.get(..n.offset).unwrap_or(&[]).to_vec();
            without.extend_from_slice(bytes.get(n.offset + n.encoded_len..).unwrap_or(&[]));
            let computed = config_hash(&without);
            match &n.varbind {
                Some(Ok(VarBind {
                    value: Value::OctetString(stored),
                    ..
                })) => verdict(stored, &computed),
                _ => Check::Mismatch {
                    computed: computed.to_vec(),
                },
            }
        }
    };
    Ok(File {
        kind,
        len: bytes.len(),
        tlvs,
        padding: 0,
        cm_mic: Check::Missing,
        cmts_mic: Check::Missing,
        config_hash: Some(config_hash(bytes)),
        in_file_hash: in_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unhex;

    const BASE_CONFIG: &str = "03010118070102000106010719070102000206010706101a3ba2e7666290b9725605718c01f9670710cb5b0055aad79103519691cca2cbbe0fff0000";
    const DOCSIS10_BASIC: &str = "030101041f010101020401312d000304009896800401000504000000000602003607010012010306101ad7432fec0ce18312e0c7ab99712a300710fa961835a999f7ce6ff172c56f59c5f1ff00000000";
    const PACKETCABLE_MTA: &str = "fe01010b1730820013060e2b06010401a30b020201010107000201010b283082002406102b06010401a30b02020201020101010104105b3139322e3136382e3235342e32355d0b1a3082001606102b06010401a30b02020201020101020102020aa70b193082001506102b06010401a30b02020201020101120102011e0b283082002406102b06010401a30b02020201020101010204105b3139322e3136382e3235342e32355d0b1a3082001606102b06010401a30b02020201020101020202020aa70b193082001506102b06010401a30b02020201020101120202011efe01ff";
    const HASH_TLV: &str =
        "0b283026060e2b06010401a30b0202010102070004144f43780ddcb1fc5e13c1ee88520b2936dc3e4745";

    fn with_hash() -> Vec<u8> {
        let mut h = PACKETCABLE_MTA
            .get(..PACKETCABLE_MTA.len() - 6)
            .unwrap()
            .to_string();
        h.push_str(HASH_TLV);
        h.push_str("fe01ff");
        unhex(&h).unwrap()
    }

    #[test]
    fn both_cm_vectors_verify_with_the_secret() {
        for v in [BASE_CONFIG, DOCSIS10_BASIC] {
            let f = decode(&unhex(v).unwrap(), Some(b"DOCSIS")).unwrap();
            assert_eq!(f.kind, FileKind::Cm);
            assert_eq!(f.cm_mic, Check::Verified);
            assert_eq!(f.cmts_mic, Check::Verified);
        }
        let f = decode(&unhex(BASE_CONFIG).unwrap(), Some(b"wrong")).unwrap();
        assert!(matches!(f.cmts_mic, Check::Mismatch { .. }));
        assert_eq!(f.cm_mic, Check::Verified);
        let f = decode(&unhex(DOCSIS10_BASIC).unwrap(), None).unwrap();
        assert_eq!(f.cmts_mic, Check::NotChecked);
        assert_eq!(f.padding, 4);
    }

    #[test]
    fn service_flow_children_are_decoded() {
        let f = decode(&unhex(BASE_CONFIG).unwrap(), None).unwrap();
        let sf = f.find(24).unwrap();
        assert_eq!(
            sf.children
                .iter()
                .map(|c| (c.tlv_type, c.value.clone()))
                .collect::<Vec<_>>(),
            vec![(1, vec![0, 1]), (6, vec![7])]
        );
    }

    #[test]
    fn flipped_bit_breaks_the_cm_mic() {
        let mut b = unhex(BASE_CONFIG).unwrap();
        b[2] = 0;
        let f = decode(&b, Some(b"DOCSIS")).unwrap();
        assert!(matches!(f.cm_mic, Check::Mismatch { .. }));
        assert!(matches!(f.cmts_mic, Check::Mismatch { .. }));
    }

    #[test]
    fn mta_in_file_hash_verifies() {
        let f = decode(&with_hash(), None).unwrap();
        assert_eq!(f.kind, FileKind::Mta);
        assert_eq!(f.in_file_hash, Check::Verified);
        assert_eq!(f.varbinds().len(), 8);
        let plain = decode(&unhex(PACKETCABLE_MTA).unwrap(), None).unwrap();
        assert_eq!(plain.in_file_hash, Check::Missing);
        assert_eq!(
            crate::hex(&plain.config_hash.unwrap()),
            "4f43780ddcb1fc5e13c1ee88520b2936dc3e4745"
        );
        let mut bad = with_hash();
        bad[20] ^= 1;
        let f = decode(&bad, None).unwrap();
        assert!(matches!(f.in_file_hash, Check::Mismatch { .. }));
    }

    #[test]
    fn structural_errors() {
        assert_eq!(decode(&[], None), Err(DecodeError::Empty));
        assert_eq!(decode(&[3, 1, 1], None), Err(DecodeError::MissingEndOfData));
        assert_eq!(
            decode(&[3, 1, 1, 0xff, 0, 7], None),
            Err(DecodeError::AfterEnd(5))
        );
        assert_eq!(
            decode(&[0xfe, 1, 1, 0xfe, 1, 0xff, 3], None),
            Err(DecodeError::AfterEnd(6))
        );
        assert_eq!(decode(&[0xfe, 1, 1], None), Err(DecodeError::MissingEnd));
    }

    #[test]
    fn every_truncation_of_the_vectors_is_an_error_or_a_file() {
        for v in [BASE_CONFIG, DOCSIS10_BASIC, PACKETCABLE_MTA] {
            let b = unhex(v).unwrap();
            for n in 0..b.len() {
                let prefix = b.get(..n).unwrap();
                // A CM prefix ending in the padding is still a valid file; no prefix may panic.
                if let Ok(f) = decode(prefix, Some(b"DOCSIS")) {
                    assert_eq!(f.kind, FileKind::Cm, "prefix {n} of {v}");
                    assert!(n >= b.len() - 4);
                }
                let _ = crate::to_text(
                    &decode(prefix, None).unwrap_or_else(|_| decode(&b, None).unwrap()),
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            if let Ok(f) = decode(&bytes, Some(b"k")) {
                let _ = crate::to_text(&f);
            }
            let mut mta = START.to_vec();
            mta.extend_from_slice(&bytes);
            if let Ok(f) = decode(&mta, None) {
                let _ = crate::to_text(&f);
            }
        }
    }
}
