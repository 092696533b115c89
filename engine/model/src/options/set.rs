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

/// The server control options of a set (seed 004 section 5.7.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    #[allow(clippy::type_complexity)]
    pub fn encode(
        &self,
        reg: &Registry,
    ) -> Result<EncodedOptions, (EncodedOptions, Vec<(TagPath, ValueError)>)> {
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
