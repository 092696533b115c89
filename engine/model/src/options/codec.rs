//! Wire encoding of typed option values and of sub-option containers:
//! RFC 2132 scalar formats, RFC 3495 sub-options of option 122, RFC 3925
//! vendor containers (option 125), RFC 3442 routes, RFC 3361 SIP servers,
//! RFC 3397 domain search lists, RFC 4702 client FQDN.
//!
//! Sans-IO: byte slices in, byte vectors out. Every read is bounds-checked;
//! malformed input yields [`ValueError::Malformed`], never a panic.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use headend_wire::dns;
use ipnet::Ipv4Net;

use super::types::{DataType, Framing, OptionDef};
use super::value::{mismatch, validate, ClasslessRoute, ClientFqdn, Value, ValueError};

/// Encodes a value as the payload of its option (without the option's own
/// code and length).
pub fn encode_value(def: &OptionDef, v: &Value) -> Result<Vec<u8>, ValueError> {
    validate(def, v)?;
    let mut out = Vec::new();
    match v {
        Value::List(items) if def.multiple => {
            if def.data_type == DataType::SipServers {
                // RFC 3361 section 3: one encoding octet for the whole option.
                let all_ips = items.iter().all(|e| matches!(e, Value::Ip(_)));
                out.push(u8::from(all_ips));
            }
            for item in items {
                encode_prefixed(def, item, &mut out)?;
            }
        }
        _ => encode_prefixed(def, v, &mut out)?,
    }
    Ok(out)
}

fn encode_prefixed(def: &OptionDef, e: &Value, out: &mut Vec<u8>) -> Result<(), ValueError> {
    if def.length_prefix == 0 {
        return encode_elem(def, e, out);
    }
    let mut body = Vec::new();
    encode_elem(def, e, &mut body)?;
    write_len(def.length_prefix, body.len(), out)?;
    out.extend_from_slice(&body);
    Ok(())
}

fn write_len(width: u8, len: usize, out: &mut Vec<u8>) -> Result<(), ValueError> {
    write_uint(width, len as u64, out).map_err(|_| ValueError::TooLong {
        len,
        max: max_for_width(width),
    })
}

fn max_for_width(width: u8) -> usize {
    Framing {
        tag_width: width,
        len_width: width,
    }
    .max_len()
}

fn write_uint(width: u8, v: u64, out: &mut Vec<u8>) -> Result<(), ()> {
    let w = usize::from(width);
    if w == 0 || w > 8 || (w < 8 && v >> (8 * w) != 0) {
        return Err(());
    }
    out.extend_from_slice(v.to_be_bytes().get(8 - w..).ok_or(())?);
    Ok(())
}

fn encode_elem(def: &OptionDef, e: &Value, out: &mut Vec<u8>) -> Result<(), ValueError> {
    let t = def.data_type;
    if let Some(w) = t.int_width() {
        let raw = match e {
            Value::Uint(u) => *u,
            // Two's complement in the type's width: the low octets of the i128.
            Value::Int(i) => *i as u128,
            _ => return Err(mismatch(def, e)),
        };
        out.extend_from_slice(
            raw.to_be_bytes()
                .get(16 - w..)
                .ok_or_else(|| mismatch(def, e))?,
        );
        return Ok(());
    }
    match (t, e) {
        (DataType::String, Value::Str(s)) => {
            out.extend_from_slice(s.as_bytes());
            if def.null_terminated {
                out.push(0);
            }
        }
        (DataType::Ip | DataType::SipServers, Value::Ip(IpAddr::V4(a))) => {
            out.extend_from_slice(&a.octets())
        }
        (DataType::Ip6, Value::Ip(IpAddr::V6(a))) => out.extend_from_slice(&a.octets()),
        (DataType::Endpoint, Value::Endpoint(SocketAddr::V4(sa))) => {
            out.extend_from_slice(&sa.ip().octets());
            out.extend_from_slice(&sa.port().to_be_bytes());
        }
        (DataType::Bool, Value::Bool(b)) => out.push(u8::from(*b)),
        (DataType::Bytes | DataType::Suboptions | DataType::Vendor, Value::Bytes(b)) => {
            out.extend_from_slice(b)
        }
        (DataType::DssId, Value::DssId(b)) => out.extend_from_slice(b),
        (DataType::DnsName | DataType::DnsNameList | DataType::SipServers, Value::DnsName(n)) => {
            encode_name(n, out)?
        }
        (DataType::ProvServer, Value::Ip(IpAddr::V4(a))) => {
            out.push(1);
            out.extend_from_slice(&a.octets());
        }
        (DataType::ProvServer, Value::DnsName(n)) => {
            out.push(0);
            encode_name(n, out)?;
        }
        (DataType::ClasslessRoutes, Value::Route(r)) => {
            let width = r.destination.prefix_len();
            out.push(width);
            let significant = usize::from(width).div_ceil(8);
            out.extend(r.destination.network().octets().iter().take(significant));
            out.extend_from_slice(&r.router.octets());
        }
        (DataType::ClientFqdn, Value::Fqdn(x)) => {
            out.extend_from_slice(&[x.flags, x.rcode1, x.rcode2]);
            if x.name.is_empty() {
                // RFC 4702 section 2.3: an empty domain name field.
            } else if x.flags & ClientFqdn::E != 0 {
                encode_name(&x.name, out)?;
            } else {
                out.extend_from_slice(x.name.as_bytes());
            }
        }
        _ => return Err(mismatch(def, e)),
    }
    Ok(())
}

fn encode_name(n: &str, out: &mut Vec<u8>) -> Result<(), ValueError> {
    dns::encode_name(n, out).map_err(|source| ValueError::Name {
        name: n.to_string(),
        source,
    })
}

/// Decodes an option payload into a typed value. Structural only: ranges
/// and counts are not enforced, so `headend explain` can show what a peer
/// actually sent.
pub fn decode_value(def: &OptionDef, bytes: &[u8]) -> Result<Value, ValueError> {
    if def.multiple {
        let mut items = Vec::new();
        let mut pos = 0;
        let mut sip = None;
        let mut body = bytes;
        if def.data_type == DataType::SipServers {
            let (&enc, names) = bytes
                .split_first()
                .ok_or_else(|| ValueError::malformed(&def.name, "empty: no encoding octet"))?;
            if enc > 1 {
                return Err(ValueError::malformed(
                    &def.name,
                    format!("encoding {enc} (RFC 3361 defines 0 and 1)"),
                ));
            }
            sip = Some(enc);
            // Compression offsets count from the first name, as in RFC 3397.
            body = names;
        }
        while pos < body.len() {
            let (v, used) = decode_one(def, body, pos, sip)?;
            items.push(v);
            pos += used.max(1);
        }
        return Ok(Value::List(items));
    }
    let (v, used) = decode_one(def, bytes, 0, None)?;
    if used != bytes.len() {
        return Err(ValueError::malformed(
            &def.name,
            format!("{} octets left over", bytes.len() - used),
        ));
    }
    Ok(v)
}

fn decode_one(
    def: &OptionDef,
    buf: &[u8],
    pos: usize,
    sip: Option<u8>,
) -> Result<(Value, usize), ValueError> {
    if def.length_prefix == 0 {
        return decode_elem(def, buf, pos, sip);
    }
    let w = usize::from(def.length_prefix);
    let len_bytes = buf.get(pos..pos + w).ok_or_else(|| truncated(def))?;
    let len = len_bytes
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    let body = buf
        .get(pos + w..pos + w + len)
        .ok_or_else(|| truncated(def))?;
    let (v, used) = decode_elem(def, body, 0, sip)?;
    if used != len {
        return Err(ValueError::malformed(
            &def.name,
            "an element is longer than its length prefix says",
        ));
    }
    Ok((v, w + len))
}

fn truncated(def: &OptionDef) -> ValueError {
    ValueError::malformed(&def.name, "truncated")
}

fn take<'a>(def: &OptionDef, buf: &'a [u8], pos: usize, n: usize) -> Result<&'a [u8], ValueError> {
    buf.get(pos..pos + n).ok_or_else(|| truncated(def))
}

fn ipv4_at(def: &OptionDef, buf: &[u8], pos: usize) -> Result<Ipv4Addr, ValueError> {
    let b = take(def, buf, pos, 4)?;
    Ok(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
}

fn name_at(
    def: &OptionDef,
    buf: &[u8],
    pos: usize,
    pointers: bool,
) -> Result<(String, usize), ValueError> {
    dns::decode_name_at(buf, pos, pointers)
        .map_err(|e| ValueError::malformed(&def.name, e.to_string()))
}

fn text(def: &OptionDef, b: &[u8]) -> Result<String, ValueError> {
    String::from_utf8(b.to_vec())
        .map_err(|_| ValueError::malformed(&def.name, "the text is not UTF-8"))
}

fn decode_elem(
    def: &OptionDef,
    buf: &[u8],
    pos: usize,
    sip: Option<u8>,
) -> Result<(Value, usize), ValueError> {
    let rest = buf.get(pos..).unwrap_or_default();
    let t = def.data_type;
    if let Some(w) = t.int_width() {
        let b = take(def, buf, pos, w)?;
        let raw = b.iter().fold(0u128, |acc, &o| (acc << 8) | u128::from(o));
        let v = if def.signed {
            // Sign-extend from the type's width.
            let shift = 128 - 8 * w as u32;
            Value::Int(((raw << shift) as i128) >> shift)
        } else {
            Value::Uint(raw)
        };
        return Ok((v, w));
    }
    Ok(match t {
        DataType::String => {
            if def.null_terminated {
                let end = rest.iter().position(|&b| b == 0);
                let body = rest.get(..end.unwrap_or(rest.len())).unwrap_or_default();
                (
                    Value::Str(text(def, body)?),
                    end.map_or(rest.len(), |e| e + 1),
                )
            } else {
                // RFC 2132 section 2: receivers must delete trailing NULs.
                let keep = rest.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                (
                    Value::Str(text(def, rest.get(..keep).unwrap_or_default())?),
                    rest.len(),
                )
            }
        }
        DataType::Ip => (Value::Ip(IpAddr::V4(ipv4_at(def, buf, pos)?)), 4),
        DataType::Ip6 => {
            let b = take(def, buf, pos, 16)?;
            let mut o = [0u8; 16];
            o.copy_from_slice(b);
            (Value::Ip(IpAddr::V6(std::net::Ipv6Addr::from(o))), 16)
        }
        DataType::Endpoint => {
            let ip = ipv4_at(def, buf, pos)?;
            let p = take(def, buf, pos + 4, 2)?;
            (
                Value::Endpoint(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be_bytes([p[0], p[1]]),
                ))),
                6,
            )
        }
        DataType::Bool => (Value::Bool(take(def, buf, pos, 1)?[0] != 0), 1),
        DataType::Bytes | DataType::Suboptions | DataType::Vendor => {
            (Value::Bytes(rest.to_vec()), rest.len())
        }
        DataType::DssId => (Value::DssId(rest.to_vec()), rest.len()),
        DataType::DnsName => {
            let (n, used) = name_at(def, rest, 0, false)?;
            (Value::DnsName(n), used)
        }
        // RFC 3397 section 2: pointers may refer back anywhere in the option.
        DataType::DnsNameList => {
            let (n, used) = name_at(def, buf, pos, true)?;
            (Value::DnsName(n), used)
        }
        DataType::ProvServer => match rest.first() {
            Some(0) => {
                let (n, used) = name_at(def, rest, 1, false)?;
                (Value::DnsName(n), 1 + used)
            }
            Some(1) => (Value::Ip(IpAddr::V4(ipv4_at(def, rest, 1)?)), 5),
            Some(other) => {
                return Err(ValueError::malformed(
                    &def.name,
                    format!("type {other} (RFC 3495 defines 0 FQDN, 1 IPv4)"),
                ))
            }
            None => return Err(truncated(def)),
        },
        DataType::SipServers => match sip {
            Some(1) => (Value::Ip(IpAddr::V4(ipv4_at(def, buf, pos)?)), 4),
            _ => {
                let (n, used) = name_at(def, buf, pos, true)?;
                (Value::DnsName(n), used)
            }
        },
        DataType::ClasslessRoutes => {
            let width = *rest.first().ok_or_else(|| truncated(def))?;
            if width > 32 {
                return Err(ValueError::malformed(
                    &def.name,
                    format!("prefix length {width} (at most 32)"),
                ));
            }
            let sig = usize::from(width).div_ceil(8);
            let mut net = [0u8; 4];
            for (slot, b) in net.iter_mut().zip(take(def, rest, 1, sig)?) {
                *slot = *b;
            }
            let destination = Ipv4Net::new(Ipv4Addr::from(net), width)
                .map_err(|e| ValueError::malformed(&def.name, e.to_string()))?;
            let router = ipv4_at(def, rest, 1 + sig)?;
            // RFC 3442 section 3 zeroes the bits past the prefix; trunc() keeps us honest if a peer does not.
            (
                Value::Route(ClasslessRoute {
                    destination: destination.trunc(),
                    router,
                }),
                1 + sig + 4,
            )
        }
        DataType::ClientFqdn => {
            let h = take(def, rest, 0, 3)?;
            let (flags, rcode1, rcode2) = (h[0], h[1], h[2]);
            let body = rest.get(3..).unwrap_or_default();
            let name = if flags & ClientFqdn::E != 0 {
                fqdn_wire_name(def, body)?
            } else {
                text(def, body)?
            };
            (
                Value::Fqdn(ClientFqdn {
                    flags,
                    rcode1,
                    rcode2,
                    name,
                }),
                rest.len(),
            )
        }
        DataType::U8
        | DataType::U16
        | DataType::U24
        | DataType::U32
        | DataType::U64
        | DataType::U128
        | DataType::Time => return Err(truncated(def)),
    })
}

/// RFC 4702 section 2.3.1 lets a client send a partial name: labels without
/// the terminating root label.
fn fqdn_wire_name(def: &OptionDef, body: &[u8]) -> Result<String, ValueError> {
    let mut labels: Vec<String> = Vec::new();
    let mut pos = 0;
    while let Some(&len) = body.get(pos) {
        if len == 0 {
            if pos + 1 != body.len() {
                return Err(ValueError::malformed(
                    &def.name,
                    "data after the root label",
                ));
            }
            break;
        }
        if len & 0xc0 != 0 {
            return Err(ValueError::malformed(
                &def.name,
                "compression is not allowed in the client FQDN",
            ));
        }
        let label = take(def, body, pos + 1, usize::from(len))?;
        labels.push(String::from_utf8_lossy(label).into_owned());
        pos += 1 + usize::from(len);
    }
    Ok(labels.join("."))
}

/// Splits a container payload into `(code, data)` sub-options. Option 43
/// may carry pad (0) and end (255) octets like the options field itself
/// (RFC 2132 section 8.4), so `pad_end` honours them.
pub(crate) fn split_suboptions(
    payload: &[u8],
    framing: Framing,
    pad_end: bool,
) -> Result<Vec<(u32, &[u8])>, ValueError> {
    let tw = usize::from(framing.tag_width);
    let lw = usize::from(framing.len_width);
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < payload.len() {
        if pad_end && tw == 1 {
            match payload.get(pos) {
                Some(0) => {
                    pos += 1;
                    continue;
                }
                Some(255) => break,
                _ => {}
            }
        }
        let head = payload.get(pos..pos + tw + lw).ok_or_else(|| {
            ValueError::malformed("sub-options", format!("truncated header at offset {pos}"))
        })?;
        let code = head
            .iter()
            .take(tw)
            .fold(0u32, |a, &b| (a << 8) | u32::from(b));
        let len = head
            .iter()
            .skip(tw)
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        let data = payload
            .get(pos + tw + lw..pos + tw + lw + len)
            .ok_or_else(|| {
                ValueError::malformed(
                    "sub-options",
                    format!("sub-option {code} claims {len} octets past the end"),
                )
            })?;
        out.push((code, data));
        pos += tw + lw + len;
    }
    Ok(out)
}

/// Splits an RFC 3925 vendor container into `(enterprise, data)` blocks.
pub(crate) fn split_vendor_blocks(payload: &[u8]) -> Result<Vec<(u32, &[u8])>, ValueError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < payload.len() {
        let head = payload.get(pos..pos + 5).ok_or_else(|| {
            ValueError::malformed(
                "vendor container",
                format!("truncated header at offset {pos}"),
            )
        })?;
        let ent = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let len = usize::from(head[4]);
        let data = payload.get(pos + 5..pos + 5 + len).ok_or_else(|| {
            ValueError::malformed(
                "vendor container",
                format!("enterprise {ent} claims {len} octets past the end"),
            )
        })?;
        out.push((ent, data));
        pos += 5 + len;
    }
    Ok(out)
}

/// Appends one sub-option with the container's framing.
pub(crate) fn write_suboption(
    out: &mut Vec<u8>,
    framing: Framing,
    code: u32,
    data: &[u8],
) -> Result<(), ValueError> {
    if u64::from(code) > framing.max_tag() {
        return Err(ValueError::TagTooWide {
            code,
            width: framing.tag_width,
        });
    }
    if data.len() > framing.max_len() {
        return Err(ValueError::TooLong {
            len: data.len(),
            max: framing.max_len(),
        });
    }
    let mut head = Vec::with_capacity(4);
    write_uint(framing.tag_width, u64::from(code), &mut head).map_err(|_| {
        ValueError::TagTooWide {
            code,
            width: framing.tag_width,
        }
    })?;
    write_len(framing.len_width, data.len(), &mut head)?;
    out.extend_from_slice(&head);
    out.extend_from_slice(data);
    Ok(())
}

/// Appends one RFC 3925 enterprise block: `enterprise(4) len(1) data`.
pub(crate) fn write_vendor_block(
    out: &mut Vec<u8>,
    enterprise: u32,
    data: &[u8],
) -> Result<(), ValueError> {
    let len = u8::try_from(data.len()).map_err(|_| ValueError::TooLong {
        len: data.len(),
        max: 255,
    })?;
    out.extend_from_slice(&enterprise.to_be_bytes());
    out.push(len);
    out.extend_from_slice(data);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::literal::Literal;
    use crate::options::registry::Registry;
    use crate::options::value::coerce;

    fn def(key: &str) -> OptionDef {
        Registry::builtin().resolve(key).unwrap().clone()
    }

    fn enc(key: &str, text: &str) -> Vec<u8> {
        let d = def(key);
        encode_value(&d, &coerce(&d, &Literal::Str(text.into())).unwrap()).unwrap()
    }

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    #[test]
    fn rfc3495_realm_and_provisioning_server() {
        // protocol-notes section 1, encoded examples (value parts after code and length).
        assert_eq!(
            enc("cablelabs-realm", "BASIC.1"),
            hex("05 42 41 53 49 43 01 31 00")
        );
        assert_eq!(
            enc("122/6", "HYBRID.2"),
            hex("06 48 59 42 52 49 44 01 32 00")
        );
        assert_eq!(
            enc("cablelabs-prov-server", "prov.example.com"),
            hex("00 04 70 72 6f 76 07 65 78 61 6d 70 6c 65 03 63 6f 6d 00")
        );
        assert_eq!(enc("122/3", "10.0.0.1"), hex("01 0a 00 00 01"));
        assert_eq!(
            enc("122/3", "TCOMLABS.COM"),
            hex("00 08 54 43 4F 4D 4C 41 42 53 03 43 4F 4D 00"),
            "BOARDFARM example in protocol-notes section 1"
        );
        let d = def("122/3");
        assert_eq!(
            decode_value(&d, &hex("01 0a 00 00 01")).unwrap(),
            Value::Ip("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            decode_value(&d, &hex("00 04 70 72 6f 76 00")).unwrap(),
            Value::DnsName("prov".into())
        );
        assert!(matches!(
            decode_value(&d, &hex("02 0a 00 00 01")),
            Err(ValueError::Malformed { .. })
        ));
        assert!(matches!(
            decode_value(&d, &hex("01 0a 00")),
            Err(ValueError::Malformed { .. })
        ));
    }

    #[test]
    fn rfc3495_backoff_is_three_u32() {
        assert_eq!(
            enc("cablelabs-as-req-as-rep-backoff", "10000, 30, 5"),
            hex("00 00 27 10 00 00 00 1e 00 00 00 05")
        );
    }

    #[test]
    fn rfc3442_destination_descriptors() {
        // The table of RFC 3442 section 3, each with router 10.0.0.1.
        let cases = [
            ("0.0.0.0/0", "00"),
            ("10.0.0.0/8", "08 0a"),
            ("10.0.0.0/24", "18 0a 00 00"),
            ("10.17.0.0/16", "10 0a 11"),
            ("10.27.129.0/24", "18 0a 1b 81"),
            ("10.229.0.128/25", "19 0a e5 00 80"),
            ("10.198.122.47/32", "20 0a c6 7a 2f"),
        ];
        let d = def("classless-static-route");
        for (dest, descriptor) in cases {
            let mut want = hex(descriptor);
            want.extend_from_slice(&[10, 0, 0, 1]);
            let bytes = enc("121", &format!("{dest} via 10.0.0.1"));
            assert_eq!(bytes, want, "{dest}");
            assert_eq!(
                decode_value(&d, &bytes).unwrap().to_string(),
                format!("{dest} via 10.0.0.1")
            );
        }
        assert_eq!(
            enc("121", "10.0.0.0/8 10.1.0.1, 0.0.0.0/0 via 10.0.0.1"),
            hex("08 0a 0a 01 00 01 00 0a 00 00 01")
        );
        assert!(matches!(
            decode_value(&d, &hex("21 0a 00 00 00 00 0a 00 00 01")),
            Err(ValueError::Malformed { .. })
        ));
    }

    #[test]
    fn rfc3397_search_list_uncompressed_out_compressed_in() {
        let mut want = b"\x03eng\x05apple\x03com\x00".to_vec();
        want.extend_from_slice(b"\x09marketing\x05apple\x03com\x00");
        assert_eq!(
            enc("domain-search", "eng.apple.com., marketing.apple.com."),
            want
        );
        // RFC 3397 section 3 example: the second name points back at offset 4.
        let mut rfc = b"\x03eng\x05apple\x03com\x00".to_vec();
        rfc.extend_from_slice(b"\x09marketing\xc0\x04");
        let v = decode_value(&def("119"), &rfc).unwrap();
        assert_eq!(v.to_string(), "eng.apple.com, marketing.apple.com");
    }

    #[test]
    fn rfc3361_sip_servers_both_encodings() {
        let mut names = vec![0u8];
        names.extend_from_slice(b"\x07example\x03com\x00\x07example\x03net\x00");
        assert_eq!(enc("sip-servers", "example.com, example.net"), names);
        assert_eq!(names.len(), 27);
        assert_eq!(
            enc("120", "192.0.2.1, 192.0.2.2"),
            hex("01 c0 00 02 01 c0 00 02 02")
        );
        let d = def("120");
        assert_eq!(
            decode_value(&d, &names).unwrap().to_string(),
            "example.com, example.net"
        );
        assert_eq!(
            decode_value(&d, &hex("01 c0 00 02 01 c0 00 02 02"))
                .unwrap()
                .to_string(),
            "192.0.2.1, 192.0.2.2"
        );
        assert!(matches!(
            decode_value(&d, &hex("02 00")),
            Err(ValueError::Malformed { .. })
        ));
        assert!(matches!(
            decode_value(&d, &hex("01 c0 00 02")),
            Err(ValueError::Malformed { .. })
        ));
    }

    #[test]
    fn rfc4702_client_fqdn() {
        // Server form: E set, RCODEs 255 (RFC 4702 sections 2.2, 2.3).
        let mut wire = hex("05 ff ff");
        wire.extend_from_slice(b"\x04host\x07example\x03com\x00");
        assert_eq!(enc("fqdn", "flags=0x05 name=host.example.com"), wire);
        assert_eq!(enc("81", "flags=SE host.example.com."), wire);
        let mut ascii = hex("01 00 00");
        ascii.extend_from_slice(b"host.example.com");
        assert_eq!(
            enc("81", "flags=S rcode1=0 rcode2=0 name=host.example.com"),
            ascii
        );
        let d = def("81");
        assert_eq!(
            decode_value(&d, &wire).unwrap().to_string(),
            "flags=0x05 rcode1=255 rcode2=255 name=host.example.com"
        );
        // A client's partial name: labels without the root label (section 2.3.1).
        let partial = decode_value(&d, b"\x04\x00\x00\x06myhost").unwrap();
        assert_eq!(
            partial.to_string(),
            "flags=0x04 rcode1=0 rcode2=0 name=myhost"
        );
        // An empty name, as a PacketCable 2.0 eUE sends it.
        assert_eq!(enc("81", "flags=0x01 name="), hex("01 ff ff"));
        assert!(matches!(
            decode_value(&d, &hex("04 00")),
            Err(ValueError::Malformed { .. })
        ));
    }

    #[test]
    fn signed_and_odd_width_integers() {
        assert_eq!(enc("time-offset", "-18000"), hex("ff ff b9 b0"));
        assert_eq!(enc("time-offset", "-5h"), hex("ff ff b9 b0"));
        assert_eq!(
            decode_value(&def("2"), &hex("ff ff b9 b0")).unwrap(),
            Value::Int(-18000)
        );
        let mut d = OptionDef::new(TagPathForTest::p("43/200"), "t", DataType::U24, "");
        d.signed = true;
        assert_eq!(encode_value(&d, &Value::Int(-2)).unwrap(), hex("ff ff fe"));
        assert_eq!(decode_value(&d, &hex("ff ff fe")).unwrap(), Value::Int(-2));
        assert_eq!(enc("boot-size", "0x1234"), hex("12 34"));
        assert!(matches!(
            decode_value(&def("13"), &hex("12")),
            Err(ValueError::Malformed { .. })
        ));
        assert!(matches!(
            decode_value(&def("13"), &hex("12 34 56")),
            Err(ValueError::Malformed { .. })
        ));
    }

    #[test]
    fn strings_nul_and_length_prefix() {
        // RFC 2132 section 2: trailing NULs from a client are dropped.
        assert_eq!(
            decode_value(&def("12"), b"modem\0").unwrap(),
            Value::Str("modem".into())
        );
        assert!(matches!(
            decode_value(&def("12"), b"\xff\xfe"),
            Err(ValueError::Malformed { .. })
        ));
        // RFC 3004: user classes are length-prefixed.
        assert_eq!(enc("user-class", "01:02, 0a"), hex("02 01 02 01 0a"));
        assert_eq!(
            decode_value(&def("77"), &hex("02 01 02 01 0a"))
                .unwrap()
                .to_string(),
            "01:02, 0a"
        );
        assert!(matches!(
            decode_value(&def("77"), &hex("03 01 02")),
            Err(ValueError::Malformed { .. })
        ));
        let mut d = OptionDef::new(TagPathForTest::p("43/200"), "t", DataType::String, "");
        d.null_terminated = true;
        d.multiple = true;
        assert_eq!(
            encode_value(
                &d,
                &Value::List(vec![Value::Str("a".into()), Value::Str("bc".into())])
            )
            .unwrap(),
            b"a\0bc\0"
        );
        assert_eq!(decode_value(&d, b"a\0bc\0").unwrap().to_string(), "a, bc");
    }

    #[test]
    fn endpoint_bool_dss_id() {
        let mut d = OptionDef::new(TagPathForTest::p("43/200"), "t", DataType::Endpoint, "");
        let v = coerce(&d, &Literal::Str("10.0.0.1:69".into())).unwrap();
        assert_eq!(encode_value(&d, &v).unwrap(), hex("0a 00 00 01 00 45"));
        d.data_type = DataType::Bool;
        assert_eq!(encode_value(&d, &Value::Bool(true)).unwrap(), [1]);
        assert_eq!(decode_value(&d, &[0]).unwrap(), Value::Bool(false));
        assert_eq!(
            enc("cl-v4-cccv6-primary-dss-id", "0x00000000"),
            hex("00 00 00 00")
        );
        assert_eq!(enc("125/4491/123/2", "dss-1"), b"dss-1");
    }

    #[test]
    fn encode_refuses_values_of_the_wrong_kind_or_range() {
        let d = def("routers");
        assert!(matches!(
            encode_value(&d, &Value::Str("x".into())),
            Err(ValueError::Expected { .. })
        ));
        assert!(matches!(
            encode_value(&def("23"), &Value::Uint(0)),
            Err(ValueError::OutOfRange { .. })
        ));
        assert!(matches!(
            encode_value(&def("2"), &Value::Uint(1)),
            Err(ValueError::Expected { .. })
        ));
    }

    #[test]
    fn container_framing_helpers() {
        let padded = hex("00 01 02 02 06 ff 09");
        let subs = split_suboptions(&padded, Framing::DHCP4, true).unwrap();
        assert_eq!(subs, vec![(1, &[2u8, 6][..])]);
        assert!(split_suboptions(&hex("01 05 02"), Framing::DHCP4, false).is_err());
        let wide = Framing {
            tag_width: 2,
            len_width: 2,
        };
        let mut out = Vec::new();
        write_suboption(&mut out, wide, 2171, &[1]).unwrap();
        assert_eq!(out, hex("08 7b 00 01 01"));
        assert_eq!(
            split_suboptions(&out, wide, false).unwrap(),
            vec![(2171, &[1u8][..])]
        );
        assert_eq!(
            write_suboption(&mut out, Framing::DHCP4, 256, &[]),
            Err(ValueError::TagTooWide {
                code: 256,
                width: 1
            })
        );
        assert_eq!(
            write_suboption(&mut out, Framing::DHCP4, 1, &[0; 256]),
            Err(ValueError::TooLong { len: 256, max: 255 })
        );
        let two = hex("00 00 11 8b 02 01 00 00 00 00 09 00");
        let blocks = split_vendor_blocks(&two).unwrap();
        assert_eq!(blocks, vec![(4491, &[1u8, 0][..]), (9, &[][..])]);
        assert!(split_vendor_blocks(&hex("00 00 11 8b 03 01")).is_err());
        assert!(split_vendor_blocks(&hex("00 00 11")).is_err());
    }

    /// Paths for hand-built definitions.
    struct TagPathForTest;
    impl TagPathForTest {
        fn p(s: &str) -> crate::options::path::TagPath {
            s.parse().unwrap()
        }
    }
}
