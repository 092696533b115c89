//! Decoding a client's options into named, typed values for display by
//! `headend explain` (seed 004 section 5.9: "for every DHCP option the
//! server receives there should be a corresponding option type").
//!
//! Containers are opened with their registry framing: option 43 and 122
//! sub-options (RFC 2132 section 8.4, RFC 3495), option 125 enterprise
//! blocks (RFC 3925), option 82 relay sub-options (RFC 3046).

use std::fmt::Write as _;

use super::codec::{decode_value, split_suboptions, split_vendor_blocks};
use super::path::{Space, TagPath};
use super::registry::{enterprise_node, Registry};
use super::types::{DataType, OptionDef};
use super::value::{Value, ValueError};

/// One decoded option or sub-option.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Where it sits.
    pub path: TagPath,
    /// Its option type name, if declared.
    pub name: Option<String>,
    /// The value of a leaf (raw bytes when undeclared); `None` for a
    /// container that was opened into the entries after it.
    pub value: Option<Result<Value, ValueError>>,
    /// The raw payload.
    pub raw: Vec<u8>,
}

/// Decodes one top-level DHCPv4 option and, for containers, every
/// sub-option, parents first.
pub fn decode_option(reg: &Registry, code: u8, payload: &[u8]) -> Vec<Decoded> {
    decode_top(reg, TagPath::dhcp4(code), payload)
}

/// Decodes one top-level DHCPv6 option (RFC 8415 section 21) and, for
/// containers (option 17's enterprise and its sub-options), every
/// sub-option, parents first.
pub fn decode_option6(reg: &Registry, code: u16, payload: &[u8]) -> Vec<Decoded> {
    decode_top(reg, TagPath::dhcp6(code), payload)
}

fn decode_top(reg: &Registry, path: TagPath, payload: &[u8]) -> Vec<Decoded> {
    let mut out = Vec::new();
    match reg.get(&path) {
        Some(def) => decode_node(reg, def, payload, &mut out),
        None => out.push(Decoded {
            path,
            name: None,
            value: Some(Ok(Value::Bytes(payload.to_vec()))),
            raw: payload.to_vec(),
        }),
    }
    out
}

fn decode_node(reg: &Registry, def: &OptionDef, payload: &[u8], out: &mut Vec<Decoded>) {
    let node = &def.path;
    let leaf = |value| Decoded {
        path: node.clone(),
        name: Some(def.name.clone()),
        value: Some(value),
        raw: payload.to_vec(),
    };
    let parts = match def.data_type {
        DataType::Suboptions => split_suboptions(payload, def.framing, node.as_slice() == [43]),
        // DHCPv6 option 17 holds one enterprise (RFC 8415 section 21.17).
        DataType::Vendor if node.space() == Space::Dhcp6 => match payload {
            [a, b, c, d, rest @ ..] => Ok(vec![(u32::from_be_bytes([*a, *b, *c, *d]), rest)]),
            _ => Err(ValueError::malformed(
                "vendor option",
                "shorter than its enterprise number".to_string(),
            )),
        },
        DataType::Vendor => split_vendor_blocks(payload),
        _ => {
            out.push(leaf(decode_value(def, payload)));
            return;
        }
    };
    let parts = match parts {
        Ok(p) => p,
        Err(e) => {
            out.push(leaf(Err(e)));
            return;
        }
    };
    out.push(Decoded {
        path: node.clone(),
        name: Some(def.name.clone()),
        value: None,
        raw: payload.to_vec(),
    });
    for (code, data) in parts {
        let Some(child) = node.child(code) else {
            continue;
        };
        let implicit;
        let child_def = match reg.get(&child) {
            Some(d) => d,
            None if def.data_type == DataType::Vendor => {
                implicit = enterprise_node(node, child, def.framing);
                &implicit
            }
            None => {
                out.push(Decoded {
                    path: child,
                    name: None,
                    value: Some(Ok(Value::Bytes(data.to_vec()))),
                    raw: data.to_vec(),
                });
                continue;
            }
        };
        decode_node(reg, child_def, data, out);
    }
}

/// One line per option and sub-option: path, name and value, sub-options
/// indented under their container. Undecodable values show as hex with the
/// reason.
pub fn describe(reg: &Registry, code: u8, payload: &[u8]) -> String {
    describe_decoded(decode_option(reg, code, payload))
}

/// [`describe`] for a DHCPv6 option.
pub fn describe6(reg: &Registry, code: u16, payload: &[u8]) -> String {
    describe_decoded(decode_option6(reg, code, payload))
}

fn describe_decoded(decoded: Vec<Decoded>) -> String {
    let mut s = String::new();
    let base = 1;
    for d in decoded {
        let indent = "  ".repeat(d.path.depth() - base);
        let name = d.name.as_deref().unwrap_or("(unknown)");
        let _ = match &d.value {
            None => writeln!(s, "{indent}{} {name} ({} octets)", d.path, d.raw.len()),
            Some(Ok(v)) => writeln!(s, "{indent}{} {name} = {v}", d.path),
            Some(Err(e)) => writeln!(
                s,
                "{indent}{} {name} = {} (undecodable: {e})",
                d.path,
                Value::Bytes(d.raw.clone())
            ),
        };
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    #[test]
    fn describes_containers_with_named_sub_options() {
        let reg = Registry::builtin();
        let payload =
            hex("01 04 0a 00 00 01 02 04 c0 00 02 01 06 09 05 42 41 53 49 43 01 31 00 63 01 07");
        assert_eq!(
            describe(&reg, 122, &payload),
            "122 cablelabs-client-configuration (26 octets)\n\
             \x20 122/1 cablelabs-primary-dhcp-server = 10.0.0.1\n\
             \x20 122/2 cablelabs-secondary-dhcp-server = 192.0.2.1\n\
             \x20 122/6 cablelabs-realm = BASIC.1\n\
             \x20 122/99 (unknown) = 07\n"
        );
        let v = hex("00 00 11 8b 0b 7b 06 01 04 00 00 00 00 7c 01 07");
        assert_eq!(
            describe(&reg, 125, &v),
            "125 vivso-suboptions (16 octets)\n\
             \x20 125/4491 vivso-4491 (11 octets)\n\
             \x20   125/4491/123 cl-v4-cccv6 (6 octets)\n\
             \x20     125/4491/123/1 cl-v4-cccv6-primary-dss-id = 0x00000000\n\
             \x20   125/4491/124 cl-v4-ip-pref = 7\n"
        );
        let unknown_ent = hex("00 00 00 09 03 01 01 05");
        assert_eq!(
            describe(&reg, 125, &unknown_ent),
            "125 vivso-suboptions (8 octets)\n  125/9 vivso-9 (3 octets)\n    125/9/1 (unknown) = 05\n"
        );
    }

    #[test]
    fn describes_dhcpv6_options_and_the_cablelabs_vendor_option() {
        let reg = Registry::builtin();
        assert_eq!(
            describe6(
                &reg,
                23,
                &hex("20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 53")
            ),
            "v6/23 v6.dns-servers = 2001:db8::53\n"
        );
        // 17: enterprise 4491, 33 = "a.cfg", 38 = -3600, 999 unknown.
        let v =
            hex("00 00 11 8b 00 21 00 05 61 2e 63 66 67 00 26 00 04 ff ff f1 f0 03 e7 00 01 07");
        assert_eq!(
            describe6(&reg, 17, &v),
            "v6/17 v6.vendor-opts (26 octets)\n\
             \x20 v6/17/4491 v6.vendor-4491 (22 octets)\n\
             \x20   v6/17/4491/33 v6.cl-config-file = a.cfg\n\
             \x20   v6/17/4491/38 v6.cl-time-offset = -3600\n\
             \x20   v6/17/4491/999 (unknown) = 07\n"
        );
        assert!(describe6(&reg, 17, &[0, 0]).contains("undecodable"));
        assert_eq!(describe6(&reg, 9999, &[1]), "v6/9999 (unknown) = 01\n");
    }

    #[test]
    fn undecodable_and_unknown_values_show_as_hex() {
        let reg = Registry::builtin();
        assert_eq!(describe(&reg, 200, &[1, 2]), "200 (unknown) = 01:02\n");
        assert_eq!(
            describe(&reg, 3, &[10, 0, 0]),
            "3 routers = 0a:00:00 (undecodable: malformed routers: truncated)\n"
        );
        let bad = describe(&reg, 122, &[6, 9, 5]);
        assert!(
            bad.starts_with(
                "122 cablelabs-client-configuration = 06:09:05 (undecodable: malformed sub-options"
            ),
            "{bad}"
        );
        let decoded = decode_option(&reg, 43, &hex("02 04 45 4d 54 41 ff"));
        assert_eq!(decoded.len(), 2);
        assert_eq!(decoded[1].value, Some(Ok(Value::Str("EMTA".into()))));
    }
}
