//! The options a reply will carry, and their encoding into DHCPv4 option
//! payloads: sub-options of a container are concatenated in code order into
//! one option (RFC 3046, RFC 3495), the enterprises of a vendor container
//! become consecutive blocks of one option 125 (RFC 3925 section 4), and
//! server control options (seed 004 section 5.7.1) are kept out of the
//! packet and exposed as [`ControlOptions`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::builtin::control;
use super::codec::{encode_value, write_suboption, write_vendor_block};
use super::path::{Space, TagPath};
use super::registry::{enterprise_node, Registry};
use super::types::{DataType, OptionDef};
use super::value::{Value, ValueError};

/// Where an option value came from: the name of a policy, a pool or a
/// built-in default, reported by `headend explain` and in encode errors.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin(Arc<str>);

impl Origin {
    /// An origin with this name.
    pub fn new(name: &str) -> Origin {
        Origin(Arc::from(name))
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Origin {
    fn from(s: &str) -> Origin {
        Origin::new(s)
    }
}

impl From<String> for Origin {
    fn from(s: String) -> Origin {
        Origin(Arc::from(s))
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One option of a set: its value and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The typed value.
    pub value: Value,
    /// Its origin.
    pub origin: Origin,
}

/// Encoded top-level DHCPv4 options: `(code, payload)` in ascending code.
/// Payloads may exceed 255 octets; the packet builder splits them (RFC 3396).
pub type EncodedOptions = Vec<(u8, Vec<u8>)>;

/// Encoded top-level DHCPv6 options: `(code, payload)` in ascending code,
/// option 17 once per enterprise (RFC 8415 section 21.17).
pub type EncodedOptions6 = Vec<(u16, Vec<u8>)>;

/// What [`OptionSet::encode`] returns on errors: the options that still
/// encoded, and each error with the path it concerns.
pub type EncodeFailure = (EncodedOptions, Vec<(TagPath, ValueError)>);

/// The server control options of a set (seed 004 section 5.7.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ControlOptions {
    /// `server.lease-time`, seconds.
    pub lease_time: Option<u32>,
    /// `server.renew-time`, seconds (T1).
    pub renew_time: Option<u32>,
    /// `server.rebind-time`, seconds (T2).
    pub rebind_time: Option<u32>,
    /// `server.no-response`: drop this device's messages.
    pub no_response: bool,
    /// `server.ddns-server`.
    pub ddns_server: Option<IpAddr>,
    /// `server.next-server` → `siaddr`.
    pub next_server: Option<Ipv4Addr>,
    /// `server.boot-file` → `file`.
    pub boot_file: Option<String>,
    /// `server.server-hostname` → `sname`.
    pub server_hostname: Option<String>,
    /// `server.offer-hold`, seconds.
    pub offer_hold: Option<u32>,
}

/// An ordered map of option paths to values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OptionSet {
    entries: BTreeMap<TagPath, Entry>,
}

impl OptionSet {
    /// An empty set.
    pub fn new() -> OptionSet {
        OptionSet::default()
    }

    /// Sets an option, returning the entry it replaces.
    pub fn insert(
        &mut self,
        path: TagPath,
        value: Value,
        origin: impl Into<Origin>,
    ) -> Option<Entry> {
        self.entries.insert(
            path,
            Entry {
                value,
                origin: origin.into(),
            },
        )
    }

    /// The value at a path.
    pub fn get(&self, path: &TagPath) -> Option<&Value> {
        self.entries.get(path).map(|e| &e.value)
    }

    /// The value and origin at a path.
    pub fn entry(&self, path: &TagPath) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// Whether the path is set.
    pub fn contains(&self, path: &TagPath) -> bool {
        self.entries.contains_key(path)
    }

    /// Removes an entry.
    pub fn remove(&mut self, path: &TagPath) -> Option<Entry> {
        self.entries.remove(path)
    }

    /// Entries in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&TagPath, &Entry)> {
        self.entries.iter()
    }

    /// The paths set, in order.
    pub fn paths(&self) -> impl Iterator<Item = &TagPath> {
        self.entries.keys()
    }

    /// Keeps only the entries whose path satisfies `keep`.
    pub fn retain(&mut self, mut keep: impl FnMut(&TagPath) -> bool) {
        self.entries.retain(|p, _| keep(p));
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds every entry of `other` whose path is absent here. An ACK built
    /// this way carries every option and sub-option of its OFFER
    /// (PKT-SP-EUE-PROV Table 2 CM4), while values set here win.
    pub fn merge_missing_from(&mut self, other: &OptionSet) {
        for (path, entry) in &other.entries {
            self.entries
                .entry(path.clone())
                .or_insert_with(|| entry.clone());
        }
    }

    /// Encodes every transmitted option (server control options are never
    /// encoded). On errors, `Err` carries what still encoded and the
    /// errors: a bad or oversized sub-option is left out of its container,
    /// a container left empty is left out, the other options are intact.
    pub fn encode(&self, reg: &Registry) -> Result<EncodedOptions, EncodeFailure> {
        let mut out = EncodedOptions::new();
        let mut errors = Vec::new();
        let items: Vec<(&TagPath, &Entry)> = self
            .entries
            .iter()
            .filter(|(p, _)| p.space() == Space::Dhcp4)
            .collect();
        for group in groups(&items, 0) {
            let Some((first, _)) = group.first() else {
                continue;
            };
            let top = first.prefix(1);
            let code = match first.dhcp4_code() {
                Some(c) if c != 0 && c != 255 => c,
                _ => {
                    errors.push((top.clone(), ValueError::Unknown(top)));
                    continue;
                }
            };
            let Some(def) = reg.get(&top) else {
                errors.push((top.clone(), ValueError::Unknown(top)));
                continue;
            };
            if let Some(payload) = build(reg, def, group, &mut errors) {
                out.push((code, payload));
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err((out, errors))
        }
    }

    /// Encodes the DHCPv6 options of the set (`v6/…` paths) except those
    /// `skip` leaves to the caller (the server writes a few options from
    /// typed values). Like [`OptionSet::encode`], a bad or oversized option
    /// is left out and reported with its path; the rest encodes.
    pub fn encode_v6(
        &self,
        reg: &Registry,
        skip: impl Fn(&TagPath) -> bool,
    ) -> (EncodedOptions6, Vec<(TagPath, ValueError)>) {
        let mut out = EncodedOptions6::new();
        let mut errors = Vec::new();
        let items: Vec<(&TagPath, &Entry)> = self
            .entries
            .iter()
            .filter(|(p, _)| p.space() == Space::Dhcp6 && !skip(p))
            .collect();
        let mut push = |code: u16, payload: Vec<u8>, path: TagPath, errors: &mut Vec<_>| {
            if payload.len() > usize::from(u16::MAX) {
                errors.push((
                    path,
                    ValueError::TooLong {
                        len: payload.len(),
                        max: usize::from(u16::MAX),
                    },
                ));
            } else {
                out.push((code, payload));
            }
        };
        for group in groups(&items, 0) {
            let Some((first, _)) = group.first() else {
                continue;
            };
            let top = first.prefix(1);
            let (Some(code), Some(def)) = (top.dhcp6_code(), reg.get(&top)) else {
                errors.push((top.clone(), ValueError::Unknown(top)));
                continue;
            };
            // Option 17 carries one enterprise: each enterprise set through
            // its sub-options becomes an option of its own.
            if def.data_type == DataType::Vendor && first.depth() > 1 {
                for ent_group in groups(group, 1) {
                    let Some((f, _)) = ent_group.first() else {
                        continue;
                    };
                    let node = f.prefix(2);
                    let ent = node.last();
                    let implicit;
                    let ent_def = match reg.get(&node) {
                        Some(d) => d,
                        None => {
                            implicit = enterprise_node(&top, node.clone(), def.framing);
                            &implicit
                        }
                    };
                    if let Some(data) = build(reg, ent_def, ent_group, &mut errors) {
                        let mut payload = ent.to_be_bytes().to_vec();
                        payload.extend_from_slice(&data);
                        push(code, payload, node, &mut errors);
                    }
                }
                continue;
            }
            if let Some(payload) = build(reg, def, group, &mut errors) {
                push(code, payload, top, &mut errors);
            }
        }
        (out, errors)
    }

    /// The server control options in this set.
    pub fn control(&self) -> ControlOptions {
        let get = |code: u32| self.entries.get(&TagPath::server(code)).map(|e| &e.value);
        let secs = |code: u32| {
            get(code)
                .and_then(Value::as_uint)
                .and_then(|v| u32::try_from(v).ok())
        };
        let text = |code: u32| get(code).and_then(Value::as_str).map(str::to_string);
        ControlOptions {
            lease_time: secs(control::LEASE_TIME),
            renew_time: secs(control::RENEW_TIME),
            rebind_time: secs(control::REBIND_TIME),
            no_response: get(control::NO_RESPONSE)
                .and_then(Value::as_bool)
                .unwrap_or(false),
            ddns_server: get(control::DDNS_SERVER).and_then(|v| match v {
                Value::Ip(a) => Some(*a),
                _ => None,
            }),
            next_server: get(control::NEXT_SERVER).and_then(Value::as_ipv4),
            boot_file: text(control::BOOT_FILE),
            server_hostname: text(control::SERVER_HOSTNAME),
            offer_hold: secs(control::OFFER_HOLD),
        }
    }
}

/// Splits entries (sorted by path, all sharing their first `depth`
/// elements) into runs sharing element `depth`.
fn groups<'s, 'a>(
    items: &'s [(&'a TagPath, &'a Entry)],
    depth: usize,
) -> Vec<&'s [(&'a TagPath, &'a Entry)]> {
    let key = |p: &TagPath| p.as_slice().get(depth).copied();
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=items.len() {
        let boundary = match (items.get(i), items.get(start)) {
            (Some((a, _)), Some((b, _))) => key(a) != key(b),
            _ => true,
        };
        if boundary {
            if let Some(run) = items.get(start..i) {
                if !run.is_empty() {
                    out.push(run);
                }
            }
            start = i;
        }
    }
    out
}

/// Encodes the node `def` from `items`: its own value if set, otherwise
/// its sub-options. `None` when nothing could be encoded.
fn build(
    reg: &Registry,
    def: &OptionDef,
    items: &[(&TagPath, &Entry)],
    errors: &mut Vec<(TagPath, ValueError)>,
) -> Option<Vec<u8>> {
    let node = &def.path;
    if let Some((path, entry)) = items.first() {
        if *path == node {
            if items.len() > 1 {
                errors.push((node.clone(), ValueError::Conflict(node.clone())));
                return None;
            }
            return match encode_value(def, &entry.value) {
                Ok(b) => Some(b),
                Err(e) => {
                    errors.push((node.clone(), e));
                    None
                }
            };
        }
    }
    if !def.data_type.is_container() {
        for (path, _) in items {
            errors.push(((*path).clone(), ValueError::Unknown((*path).clone())));
        }
        return None;
    }
    let mut payload = Vec::new();
    for group in groups(items, node.depth()) {
        let Some((first, _)) = group.first() else {
            continue;
        };
        let child = first.prefix(node.depth() + 1);
        let implicit;
        let child_def = match reg.get(&child) {
            Some(d) => d,
            None if def.data_type == DataType::Vendor => {
                implicit = enterprise_node(node, child.clone(), def.framing);
                &implicit
            }
            None => {
                errors.push((child.clone(), ValueError::Unknown(child)));
                continue;
            }
        };
        let Some(data) = build(reg, child_def, group, errors) else {
            continue;
        };
        let written = match def.data_type {
            DataType::Vendor => write_vendor_block(&mut payload, child.last(), &data),
            _ => write_suboption(&mut payload, def.framing, child.last(), &data),
        };
        if let Err(e) = written {
            errors.push((child, e));
        }
    }
    if payload.is_empty() {
        None
    } else {
        Some(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::literal::Literal;
    use crate::options::registry::OptionTypeDecl;
    use crate::options::value::coerce;

    fn set_of(reg: &Registry, items: &[(&str, &str)]) -> OptionSet {
        let mut set = OptionSet::new();
        for (key, text) in items {
            let def = reg.resolve(key).unwrap();
            set.insert(
                def.path.clone(),
                coerce(def, &Literal::Str((*text).into())).unwrap(),
                "test-policy",
            );
        }
        set
    }

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    #[test]
    fn sub_options_of_122_merge_into_one_option_in_code_order() {
        let reg = Registry::builtin();
        // Inserted out of order: the encoder sorts.
        let set = set_of(
            &reg,
            &[
                ("cablelabs-realm", "BASIC.1"),
                ("122/2", "192.0.2.1"),
                ("122/1", "10.0.0.1"),
            ],
        );
        let enc = set.encode(&reg).unwrap();
        let mut want = hex("01 04 0a 00 00 01 02 04 c0 00 02 01"); // Kea's DOCSIS test vector
        want.extend(hex("06 09 05 42 41 53 49 43 01 31 00"));
        assert_eq!(enc, vec![(122, want)]);
    }

    #[test]
    fn cablelabs_125_block_and_nested_cccv6() {
        let reg = Registry::builtin();
        let set = set_of(&reg, &[("cl-v4-tftp-servers", "192.0.2.1")]);
        assert_eq!(
            set.encode(&reg).unwrap(),
            vec![(125, hex("00 00 11 8b 06 02 04 c0 00 02 01"))]
        );
        let set = set_of(
            &reg,
            &[("125/4491/123/1", "0x00000000"), ("cl-v4-ip-pref", "1")],
        );
        assert_eq!(
            set.encode(&reg).unwrap(),
            vec![(125, hex("00 00 11 8b 0b 7b 06 01 04 00 00 00 00 7c 01 01"))]
        );
    }

    #[test]
    fn two_enterprises_share_one_option_125() {
        let decl: OptionTypeDecl =
            toml::from_str("tag = \"125/9999/7\"\ntype = \"u16\"\nname = \"acme-seven\"").unwrap();
        let reg = Registry::with_declarations(&[decl]).unwrap();
        let set = set_of(
            &reg,
            &[("acme-seven", "258"), ("cl-v4-tftp-servers", "192.0.2.1")],
        );
        assert_eq!(
            set.encode(&reg).unwrap(),
            vec![(
                125,
                hex("00 00 11 8b 06 02 04 c0 00 02 01 00 00 27 0f 04 07 02 01 02")
            )]
        );
    }

    #[test]
    fn options_come_out_in_code_order_and_may_exceed_255() {
        let reg = Registry::builtin();
        let many: Vec<String> = (0..100).map(|i| format!("10.0.{i}.1")).collect();
        let set = set_of(
            &reg,
            &[
                ("66", "tftp.example.com"),
                ("routers", &many.join(",")),
                ("1", "255.255.255.0"),
            ],
        );
        let enc = set.encode(&reg).unwrap();
        assert_eq!(enc.iter().map(|(c, _)| *c).collect::<Vec<_>>(), [1, 3, 66]);
        assert_eq!(
            enc.iter().find(|(c, _)| *c == 3).map(|(_, p)| p.len()),
            Some(400)
        );
    }

    #[test]
    fn a_bad_sub_option_is_left_out_and_reported_the_rest_encodes() {
        let reg = Registry::builtin();
        let mut set = set_of(
            &reg,
            &[("cl-43-serial-number", "SN1"), ("routers", "10.0.0.1")],
        );
        let long = reg.resolve("cl-43-device-type").unwrap();
        set.insert(
            long.path.clone(),
            coerce(long, &Literal::Str("E".repeat(300))).unwrap(),
            "big",
        );
        let (partial, errors) = set.encode(&reg).unwrap_err();
        assert_eq!(
            partial,
            vec![(3, hex("0a 00 00 01")), (43, hex("04 03 53 4e 31"))]
        );
        assert_eq!(
            errors,
            vec![(
                "43/2".parse().unwrap(),
                ValueError::TooLong { len: 300, max: 255 }
            )]
        );
    }

    #[test]
    fn an_oversized_enterprise_block_drops_only_that_container() {
        let reg = Registry::builtin();
        let blob = vec!["aa"; 200].join(":");
        let set = set_of(
            &reg,
            &[
                ("125/4491/3", &blob),
                ("125/4491/5", &blob),
                ("routers", "10.0.0.1"),
            ],
        );
        let (partial, errors) = set.encode(&reg).unwrap_err();
        assert_eq!(partial, vec![(3, hex("0a 00 00 01"))]);
        assert_eq!(
            errors,
            vec![(
                "125/4491".parse().unwrap(),
                ValueError::TooLong { len: 404, max: 255 }
            )]
        );
    }

    #[test]
    fn conflicts_and_unknown_sub_options_are_reported() {
        let reg = Registry::builtin();
        let mut set = set_of(
            &reg,
            &[
                ("vendor-encapsulated-options", "01:02:03"),
                ("cl-43-serial-number", "SN1"),
            ],
        );
        set.insert("122/99".parse().unwrap(), Value::Uint(1), "x");
        set.insert(
            "122/6".parse().unwrap(),
            Value::DnsName("BASIC.1".into()),
            "x",
        );
        let (partial, errors) = set.encode(&reg).unwrap_err();
        assert_eq!(
            partial,
            vec![(122, hex("06 09 05 42 41 53 49 43 01 31 00"))]
        );
        assert_eq!(
            errors,
            vec![
                (
                    "43".parse().unwrap(),
                    ValueError::Conflict("43".parse().unwrap())
                ),
                (
                    "122/99".parse().unwrap(),
                    ValueError::Unknown("122/99".parse().unwrap())
                ),
            ]
        );
        // A raw container value alone is sent as given.
        let set = set_of(&reg, &[("43", "01:02:03")]);
        assert_eq!(set.encode(&reg).unwrap(), vec![(43, hex("01 02 03"))]);
    }

    #[test]
    fn control_options_are_never_encoded() {
        let reg = Registry::builtin();
        let set = set_of(
            &reg,
            &[
                ("server.lease-time", "1h"),
                ("server.renew-time", "1800"),
                ("server.rebind-time", "3150"),
                ("server.no-response", "true"),
                ("server.ddns-server", "127.0.0.1"),
                ("server.next-server", "192.0.2.10"),
                ("server.boot-file", "cm.cfg"),
                ("server.server-hostname", "prov1"),
                ("server.offer-hold", "30"),
                ("routers", "10.0.0.1"),
            ],
        );
        assert_eq!(set.encode(&reg).unwrap(), vec![(3, hex("0a 00 00 01"))]);
        assert_eq!(
            set.control(),
            ControlOptions {
                lease_time: Some(3600),
                renew_time: Some(1800),
                rebind_time: Some(3150),
                no_response: true,
                ddns_server: Some("127.0.0.1".parse().unwrap()),
                next_server: Some("192.0.2.10".parse().unwrap()),
                boot_file: Some("cm.cfg".into()),
                server_hostname: Some("prov1".into()),
                offer_hold: Some(30),
            }
        );
        assert_eq!(OptionSet::new().control(), ControlOptions::default());
    }

    #[test]
    fn ack_carries_every_option_of_its_offer() {
        let reg = Registry::builtin();
        let offer = set_of(
            &reg,
            &[
                ("routers", "10.0.0.1"),
                ("122/6", "BASIC.1"),
                ("122/1", "10.0.0.1"),
            ],
        );
        let mut ack = set_of(&reg, &[("routers", "10.0.0.2")]);
        ack.merge_missing_from(&offer);
        assert_eq!(ack.len(), 3);
        assert_eq!(
            ack.get(&"3".parse().unwrap()).unwrap().to_string(),
            "10.0.0.2",
            "the ACK's own value wins"
        );
        assert_eq!(
            ack.get(&"122/6".parse().unwrap()),
            Some(&Value::DnsName("BASIC.1".into()))
        );
        assert_eq!(
            ack.entry(&"122/6".parse().unwrap()).unwrap().origin.name(),
            "test-policy"
        );
    }

    #[test]
    fn set_bookkeeping() {
        let reg = Registry::builtin();
        let mut set = set_of(
            &reg,
            &[
                ("122/6", "BASIC.1"),
                ("122/1", "10.0.0.1"),
                ("3", "10.0.0.1"),
            ],
        );
        assert_eq!(
            set.paths().map(ToString::to_string).collect::<Vec<_>>(),
            ["3", "122/1", "122/6"]
        );
        set.retain(|p| p.first() != Some(122));
        assert_eq!(set.len(), 1);
        let old = set.insert(
            "3".parse().unwrap(),
            Value::List(vec![]),
            Origin::from("other".to_string()),
        );
        assert_eq!(
            old.map(|e| e.origin.name().to_string()),
            Some("test-policy".into())
        );
        assert!(set.remove(&"3".parse().unwrap()).is_some());
        assert!(set.is_empty());
    }

    #[test]
    fn dhcpv6_options_encode_with_two_octet_framing_and_one_17_per_enterprise() {
        let reg = Registry::builtin();
        let set = set_of(
            &reg,
            &[
                ("v6.dns-servers", "2001:db8::53, 2001:db8::54"),
                ("v6.domain-search", "example.net"),
                ("v6.cl-config-file", "a.bin"),
                ("v6.cl-tftp-servers", "2001:db8::69"),
                ("v6/17/4491/2170/1", "10.0.0.1"),
                ("domain-name", "v4.example"),
                ("server.no-response", "false"),
            ],
        );
        let (enc, errors) = set.encode_v6(&reg, |_| false);
        assert!(errors.is_empty(), "{errors:?}");
        let codes: Vec<u16> = enc.iter().map(|(c, _)| *c).collect();
        assert_eq!(
            codes,
            vec![17, 23, 24],
            "v6 codes in order; no v4 or control option"
        );
        // RFC 3646 section 3: addresses back to back.
        let mut dns = "2001:db8::53"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets()
            .to_vec();
        dns.extend_from_slice(
            &"2001:db8::54"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        assert_eq!(enc[1].1, dns);
        // RFC 3646 section 4 / RFC 1035 names, uncompressed.
        assert_eq!(enc[2].1, b"\x07example\x03net\x00");
        // RFC 8415 section 21.17: enterprise, then code(2) len(2) sub-options;
        // CCC (2170) inside keeps option 122's one-octet framing.
        let mut want = vec![0, 0, 0x11, 0x8b];
        want.extend_from_slice(&[0, 32, 0, 16]);
        want.extend_from_slice(
            &"2001:db8::69"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        want.extend_from_slice(&[0, 33, 0, 5]);
        want.extend_from_slice(b"a.bin");
        want.extend_from_slice(&[0x08, 0x7a, 0, 6, 1, 4, 10, 0, 0, 1]);
        assert_eq!(enc[0].1, want);
        // The skip filter leaves options to the caller.
        let (enc, _) = set.encode_v6(&reg, |p| p.dhcp6_code() == Some(23));
        assert_eq!(
            enc.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
            vec![17, 24]
        );
    }

    #[test]
    fn a_declared_enterprise_under_option_17_gets_its_own_option() {
        let mut reg = Registry::builtin();
        let decl: OptionTypeDecl =
            toml::from_str("tag = \"v6/17/9/5\"\nname = \"acme-v6-thing\"\ntype = \"u16\"")
                .unwrap();
        reg.declare(&decl).unwrap();
        let set = set_of(
            &reg,
            &[("acme-v6-thing", "258"), ("v6.cl-config-file", "x")],
        );
        let (enc, errors) = set.encode_v6(&reg, |_| false);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            enc,
            vec![
                (17, vec![0, 0, 0, 9, 0, 5, 0, 2, 1, 2]),
                (17, vec![0, 0, 0x11, 0x8b, 0, 33, 0, 1, b'x']),
            ]
        );
    }
}
