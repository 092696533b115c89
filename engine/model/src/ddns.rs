//! The dynamic DNS section (issue 17; RFC 2136 updates with RFC 4701 DHCID
//! records and the RFC 4703 conflict rules, TSIG per RFC 8945): `[ddns]`,
//! validated into [`DdnsSettings`]. Absent or `enable = false` = no updates.
//!
//! What a lease puts into DNS is decided here, from configuration alone,
//! so that the DHCP servers and `headend explain` agree: the FQDN (a Rhai
//! expression, the client's option 81 / 39 name, or option 12, qualified
//! with the first forward zone), the zone, server and TSIG key of the
//! forward (A/AAAA + DHCID) and reverse (PTR) updates, and the TTL (RFC
//! 4702 section 5: derived from the lease). The per-device server comes
//! from the policy control option `server.ddns-server` (seed 004 section
//! 5.7.1) and replaces the server address of every zone for that device.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use headend_ddns::{Algorithm, FqdnPolicy, Target, TsigKey, UpdaterConfig};
use serde::Deserialize;
use toml::Spanned;

use crate::build::{Builder, ExprSource};
use crate::expr::Expr;

/// `[ddns]`: where and how lease events go into DNS.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DdnsSection {
    /// Whether updates are sent (default true when the section is present).
    #[serde(default = "yes")]
    pub enable: bool,
    /// The default DNS server, `address:port` (the zone primary).
    pub server: Spanned<String>,
    /// Forward zones: `"example.test"` or `{ name, server, key }`; the first
    /// qualifies partial host names.
    #[serde(default)]
    pub forward_zones: Vec<Spanned<ZoneDecl>>,
    /// Reverse zones (`….in-addr.arpa`, `….ip6.arpa`), same forms.
    #[serde(default)]
    pub reverse_zones: Vec<Spanned<ZoneDecl>>,
    /// TSIG keys written out: `{ name, algorithm, secret }`.
    #[serde(default)]
    pub keys: Vec<Spanned<KeyDecl>>,
    /// BIND key files (`tsig-keygen` output), relative to the config file.
    #[serde(default)]
    pub key_files: Vec<Spanned<String>>,
    /// The key of zones that name none (default: the only key, if one).
    pub key: Option<Spanned<String>>,
    /// A Rhai expression giving the host name (device context); `()` or
    /// `""`: the client's name is used.
    pub hostname: Option<Spanned<ExprSource>>,
    /// Update also for clients that send no option 81 / 39 (using the
    /// expression or option 12).
    #[serde(default = "yes")]
    pub update_without_fqdn: bool,
    /// Do the A/AAAA update even when the client says it does (S=0).
    #[serde(default)]
    pub override_client_update: bool,
    /// Update even when the client asks for none (N=1).
    #[serde(default)]
    pub override_no_update: bool,
    /// TTL = lease time / `ttl_divisor` (RFC 4702 section 5), …
    #[serde(default = "default_ttl_divisor")]
    pub ttl_divisor: u32,
    /// … at least `ttl_min` seconds …
    #[serde(default = "default_ttl_min")]
    pub ttl_min: u32,
    /// … and at most `ttl_max` seconds.
    #[serde(default = "default_ttl_max")]
    pub ttl_max: u32,
    /// Jobs waiting between the DHCP servers and the updater; beyond, dropped and counted.
    #[serde(default = "default_channel")]
    pub channel: usize,
    /// Jobs the updater holds (in flight included); beyond, the oldest is dropped.
    #[serde(default = "default_max_queue")]
    pub max_queue: usize,
    /// Exchanges outstanding at once.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// First retransmission timeout, milliseconds.
    #[serde(default = "default_rto_ms")]
    pub rto_ms: u64,
    /// Retransmissions of one attempt.
    #[serde(default = "default_max_retransmits")]
    pub max_retransmits: u32,
    /// Backoff after the first failed attempt, milliseconds (doubles).
    #[serde(default = "default_retry_initial_ms")]
    pub retry_initial_ms: u64,
    /// Cap of the backoff, seconds.
    #[serde(default = "default_retry_max_s")]
    pub retry_max_s: u64,
    /// A job not done after this many seconds is given up (and counted).
    #[serde(default = "default_max_age_s")]
    pub max_age_s: u64,
}

/// A zone: its name, or a table with its own server and key.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ZoneDecl {
    /// `"example.test"`.
    Name(String),
    /// `{ name = "example.test", server = "10.0.0.53:53", key = "k" }`.
    Table {
        /// The zone.
        name: String,
        /// Its primary (default: `[ddns] server`).
        server: Option<String>,
        /// Its TSIG key (default: `[ddns] key`); `""` = unsigned.
        key: Option<String>,
    },
}

/// A TSIG key written in the configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyDecl {
    /// The key's name, as the DNS server knows it.
    pub name: String,
    /// `hmac-sha256` (default), `hmac-sha384` or `hmac-sha512`.
    #[serde(default = "default_algorithm")]
    pub algorithm: String,
    /// The secret, base64.
    pub secret: String,
}

fn yes() -> bool {
    true
}
fn default_ttl_divisor() -> u32 {
    3
}
fn default_ttl_min() -> u32 {
    300
}
fn default_ttl_max() -> u32 {
    86_400
}
fn default_channel() -> usize {
    4096
}
fn default_max_queue() -> usize {
    10_000
}
fn default_max_in_flight() -> usize {
    32
}
fn default_rto_ms() -> u64 {
    1000
}
fn default_max_retransmits() -> u32 {
    2
}
fn default_retry_initial_ms() -> u64 {
    5000
}
fn default_retry_max_s() -> u64 {
    300
}
fn default_max_age_s() -> u64 {
    86_400
}
fn default_algorithm() -> String {
    "hmac-sha256".into()
}

/// A validated zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// Lower case, no trailing dot.
    pub name: String,
    /// Its primary.
    pub server: SocketAddr,
    /// Its TSIG key's name, if signed.
    pub key: Option<String>,
}

/// Validated `[ddns]` settings.
#[derive(Debug, Clone)]
pub struct DdnsSettings {
    /// Updates are sent.
    pub enable: bool,
    /// The default server.
    pub server: SocketAddr,
    /// Forward zones, in file order.
    pub forward: Vec<Zone>,
    /// Reverse zones, in file order.
    pub reverse: Vec<Zone>,
    /// Every TSIG key.
    pub keys: Vec<TsigKey>,
    /// The host name expression.
    pub hostname: Option<Expr>,
    /// Update for clients without option 81 / 39.
    pub update_without_fqdn: bool,
    /// The RFC 4702 / 4704 flag policy.
    pub policy: FqdnPolicy,
    /// TTL = lease / divisor, clamped to `ttl_min..=ttl_max`.
    pub ttl_divisor: u32,
    /// TTL floor.
    pub ttl_min: u32,
    /// TTL cap.
    pub ttl_max: u32,
    /// Channel between the DHCP servers and the updater.
    pub channel: usize,
    /// Updater limits and timers (keys included; seed set at start).
    pub updater: UpdaterConfig,
}

/// What a lease would put into DNS ([`DdnsSettings::plan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The FQDN, absolute (trailing dot).
    pub fqdn: String,
    /// The A/AAAA + DHCID update, when the server does it and a forward zone holds the name.
    pub forward: Option<Target>,
    /// The PTR update, when a reverse zone holds the address.
    pub reverse: Option<Target>,
    /// The records' TTL.
    pub ttl: u32,
}

impl DdnsSettings {
    /// The TTL for a lease of `lease_secs` (RFC 4702 section 5).
    pub fn ttl_for(&self, lease_secs: u32) -> u32 {
        (lease_secs / self.ttl_divisor.max(1)).clamp(self.ttl_min, self.ttl_max)
    }

    /// `name` made an absolute FQDN: each label reduced to letters,
    /// digits and hyphens (RFC 952 / 1123 host names; anything else
    /// becomes `-`), lower case; a partial name gets the first forward
    /// zone. `None` for an empty name or one that cannot be qualified.
    pub fn qualify(&self, name: &str) -> Option<String> {
        let absolute = name.ends_with('.');
        let labels: Vec<String> = name
            .trim_end_matches('.')
            .split('.')
            .map(sanitize_label)
            .collect();
        if labels.iter().any(String::is_empty) {
            return None;
        }
        let joined = labels.join(".");
        let in_a_zone = self.forward.iter().any(|z| in_zone(&joined, &z.name));
        let fqdn = if absolute || (in_a_zone && labels.len() > 1) {
            joined
        } else {
            // A partial name (RFC 4702 section 2.3.1): the server completes it.
            format!("{}.{}", labels.first()?, self.forward.first()?.name)
        };
        (fqdn.len() <= 253).then(|| format!("{fqdn}."))
    }

    /// The forward target of `fqdn` (absolute), the device's
    /// `server.ddns-server` replacing the zone's server address.
    pub fn forward_target(&self, fqdn: &str, device_server: Option<IpAddr>) -> Option<Target> {
        let name = fqdn.trim_end_matches('.').to_ascii_lowercase();
        let zone = longest(&self.forward, &name)?;
        Some(target(zone, device_server))
    }

    /// The reverse target of `address`.
    pub fn reverse_target(&self, address: IpAddr, device_server: Option<IpAddr>) -> Option<Target> {
        let owner = headend_ddns::reverse_name(address).to_string();
        let owner = owner.trim_end_matches('.');
        let zone = longest(&self.reverse, owner)?;
        Some(target(zone, device_server))
    }

    /// The whole plan for a lease: the name (already qualified) and the
    /// client's flags decided (RFC 4702 section 4 / RFC 4704 section 5).
    pub fn plan(
        &self,
        fqdn: &str,
        address: IpAddr,
        decision: &headend_ddns::FqdnDecision,
        lease_secs: u32,
        device_server: Option<IpAddr>,
    ) -> Plan {
        Plan {
            fqdn: fqdn.to_string(),
            forward: decision
                .forward
                .then(|| self.forward_target(fqdn, device_server))
                .flatten(),
            reverse: decision
                .reverse
                .then(|| self.reverse_target(address, device_server))
                .flatten(),
            ttl: self.ttl_for(lease_secs),
        }
    }
}

fn target(zone: &Zone, device_server: Option<IpAddr>) -> Target {
    let server = match device_server {
        Some(ip) => SocketAddr::new(ip, zone.server.port()),
        None => zone.server,
    };
    Target {
        server,
        zone: zone.name.clone(),
        key: zone.key.clone(),
    }
}

fn longest<'z>(zones: &'z [Zone], name: &str) -> Option<&'z Zone> {
    zones
        .iter()
        .filter(|z| in_zone(name, &z.name))
        .max_by_key(|z| z.name.len())
}

/// Whether `name` is `zone` or below it (both lower case, no trailing dot).
fn in_zone(name: &str, zone: &str) -> bool {
    name == zone
        || name
            .strip_suffix(zone)
            .is_some_and(|head| head.ends_with('.'))
}

fn sanitize_label(label: &str) -> String {
    let s: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    s.trim_matches('-').to_string()
}

/// Validates `[ddns]`; errors go to the builder.
pub(crate) fn build(
    b: &mut Builder<'_>,
    section: Option<&Spanned<DdnsSection>>,
) -> Option<DdnsSettings> {
    let s = section?;
    let d = s.get_ref();
    let at = s.span().start;
    let server = match d.server.get_ref().parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            b.err(
                d.server.span().start,
                format!(
                    "[ddns] server {:?} is not a socket address",
                    d.server.get_ref()
                ),
                "write \"address:port\", e.g. \"192.0.2.53:53\"",
            );
            SocketAddr::from(([127, 0, 0, 1], 53))
        }
    };
    let mut keys = Vec::new();
    for k in &d.keys {
        let kd = k.get_ref();
        let made = Algorithm::from_name(&kd.algorithm)
            .and_then(|alg| TsigKey::from_base64(&kd.name, alg, &kd.secret));
        match made {
            Ok(key) => keys.push(key),
            Err(e) => b.err(
                k.span().start,
                format!("[ddns] key {:?}: {e}", kd.name),
                "algorithm hmac-sha256, hmac-sha384 or hmac-sha512 and a base64 secret (tsig-keygen prints one)",
            ),
        }
    }
    for f in &d.key_files {
        let path = b.base_dir().join(f.get_ref());
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| TsigKey::parse_bind(&t).map_err(|e| e.to_string()));
        match parsed {
            Ok(found) if !found.is_empty() => keys.extend(found),
            Ok(_) => b.err(
                f.span().start,
                format!("[ddns] key file {} holds no key", path.display()),
                "give a file with key \"name\" { algorithm …; secret \"…\"; }; (tsig-keygen)",
            ),
            Err(e) => b.err(
                f.span().start,
                format!("[ddns] key file {}: {e}", path.display()),
                "the path is relative to the configuration file; the syntax is BIND's (tsig-keygen)",
            ),
        }
    }
    let default_key = match &d.key {
        Some(k) => {
            let name = k.get_ref().trim_end_matches('.').to_ascii_lowercase();
            if !keys.iter().any(|x| x.name() == name) {
                b.err(
                    k.span().start,
                    format!("[ddns] key {:?} is not among the keys", k.get_ref()),
                    "declare it in keys = [...] or a key file",
                );
            }
            Some(name)
        }
        None if keys.len() == 1 => keys.first().map(|k| k.name().to_string()),
        None => None,
    };
    let mut zones = |list: &[Spanned<ZoneDecl>], reverse: bool| -> Vec<Zone> {
        let mut out = Vec::new();
        for z in list {
            let (name, zserver, zkey) = match z.get_ref() {
                ZoneDecl::Name(n) => (n.clone(), None, None),
                ZoneDecl::Table { name, server, key } => {
                    (name.clone(), server.clone(), key.clone())
                }
            };
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let valid = !name.is_empty()
                && name.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes()
                            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
                });
            let arpa = name.ends_with("in-addr.arpa") || name.ends_with("ip6.arpa");
            if !valid || arpa != reverse {
                b.err(
                    z.span().start,
                    format!(
                        "[ddns] zone {name:?} is not a {} zone name",
                        if reverse {
                            "reverse (in-addr.arpa / ip6.arpa)"
                        } else {
                            "forward"
                        }
                    ),
                    if reverse {
                        "write e.g. \"2.0.192.in-addr.arpa\" or \"8.b.d.0.1.0.0.2.ip6.arpa\""
                    } else {
                        "write e.g. \"example.test\"; reverse zones go in reverse_zones"
                    },
                );
                continue;
            }
            let server = match zserver.map(|t| t.parse::<SocketAddr>()) {
                None => server,
                Some(Ok(a)) => a,
                Some(Err(_)) => {
                    b.err(
                        z.span().start,
                        format!("[ddns] zone {name:?}: server is not a socket address"),
                        "write \"address:port\"",
                    );
                    server
                }
            };
            let key = match zkey {
                Some(k) if k.is_empty() => None,
                Some(k) => {
                    let k = k.trim_end_matches('.').to_ascii_lowercase();
                    if !keys.iter().any(|x| x.name() == k) {
                        b.err(z.span().start, format!("[ddns] zone {name:?}: key {k:?} is not among the keys"), "declare it in keys = [...] or a key file, or write key = \"\" for unsigned updates");
                    }
                    Some(k)
                }
                None => default_key.clone(),
            };
            out.push(Zone { name, server, key });
        }
        out
    };
    let forward = zones(&d.forward_zones, false);
    let reverse = zones(&d.reverse_zones, true);
    if forward.is_empty() && reverse.is_empty() {
        b.err(
            at,
            "[ddns] has no zone",
            "add forward_zones = [\"example.test\"] and reverse_zones = [\"2.0.192.in-addr.arpa\"]",
        );
    }
    let hostname = d
        .hostname
        .as_ref()
        .and_then(|h| b.compile_source(h, "[ddns] hostname".into()));
    if d.ttl_divisor == 0 || d.ttl_min > d.ttl_max || d.ttl_max == 0 {
        b.err(
            at,
            "[ddns] ttl_divisor must be at least 1 and ttl_min at most ttl_max",
            "use e.g. ttl_divisor = 3, ttl_min = 300, ttl_max = 86400",
        );
    }
    let limits_ok = (1..=1 << 20).contains(&d.channel)
        && (1..=1 << 22).contains(&d.max_queue)
        && (1..=4096).contains(&d.max_in_flight)
        && (10..=60_000).contains(&d.rto_ms)
        && d.max_retransmits <= 10
        && (10..=3_600_000).contains(&d.retry_initial_ms)
        && (1..=86_400).contains(&d.retry_max_s)
        && (1..=30 * 86_400).contains(&d.max_age_s);
    if !limits_ok {
        b.err(
            at,
            "[ddns] limits out of range: channel 1-1048576, max_queue 1-4194304, max_in_flight 1-4096, rto_ms 10-60000, max_retransmits 0-10, retry_initial_ms 10-3600000, retry_max_s 1-86400, max_age_s 1-2592000",
            "remove the value to get its default",
        );
    }
    let rto = Duration::from_millis(d.rto_ms);
    let updater = UpdaterConfig {
        max_queue: d.max_queue,
        max_in_flight: d.max_in_flight,
        rto,
        rto_max: rto * 4,
        max_retransmits: d.max_retransmits,
        retry_initial: Duration::from_millis(d.retry_initial_ms),
        retry_max: Duration::from_secs(d.retry_max_s),
        max_age: Duration::from_secs(d.max_age_s),
        keys: keys.clone(),
        ..UpdaterConfig::default()
    };
    Some(DdnsSettings {
        enable: d.enable,
        server,
        forward,
        reverse,
        keys,
        hostname,
        update_without_fqdn: d.update_without_fqdn,
        policy: FqdnPolicy {
            enabled: d.enable,
            override_client_update: d.override_client_update,
            override_no_update: d.override_no_update,
        },
        ttl_divisor: d.ttl_divisor,
        ttl_min: d.ttl_min,
        ttl_max: d.ttl_max,
        channel: d.channel,
        updater,
    })
}

/// What a reload cannot change (the socket, channel and updater are made
/// at start): a message when `old` and `new` differ in it.
pub fn restart_change(old: Option<&DdnsSettings>, new: Option<&DdnsSettings>) -> Option<String> {
    let fixed = |s: Option<&DdnsSettings>| {
        s.filter(|s| s.enable).map(|s| {
            (
                s.server,
                s.channel,
                s.updater.max_queue,
                s.updater.max_in_flight,
                s.keys
                    .iter()
                    .map(|k| k.name().to_string())
                    .collect::<Vec<_>>(),
            )
        })
    };
    (fixed(old) != fixed(new)).then(|| {
        "[ddns] enable, server, channel, queue limits and keys cannot change by reload".to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::snapshot::load_test_config as load;

    const SECRET: &str = "4xc0d+wrz3zGagarlKrvR6scLtnb5cD+5Fl/aQ/4RN4=";

    fn section(extra: &str) -> String {
        format!(
            "[ddns]\nserver = \"127.0.0.1:5353\"\nforward_zones = [\"Example.Test.\", {{ name = \"lab.example.test\", server = \"127.0.0.2:53\" }}]\n\
             reverse_zones = [\"2.0.192.in-addr.arpa\", \"8.b.d.0.1.0.0.2.ip6.arpa\"]\n\
             keys = [{{ name = \"ddns-key\", secret = \"{SECRET}\" }}]\n{extra}"
        )
    }

    #[test]
    fn section_defaults_and_absence() {
        assert!(load("").unwrap().ddns.is_none());
        let d = load(&section("")).unwrap().ddns.unwrap();
        assert!(d.enable && d.update_without_fqdn);
        assert_eq!(d.forward[0].name, "example.test");
        assert_eq!(d.forward[0].key.as_deref(), Some("ddns-key"));
        assert_eq!(d.forward[1].server, "127.0.0.2:53".parse().unwrap());
        assert_eq!(d.keys.len(), 1);
        assert_eq!(
            (d.ttl_for(3600), d.ttl_for(60), d.ttl_for(u32::MAX)),
            (1200, 300, 86_400)
        );
        assert_eq!(d.updater.max_queue, 10_000);
    }

    #[test]
    fn names_targets_and_overrides() {
        let d = load(&section("")).unwrap().ddns.unwrap();
        assert_eq!(d.qualify("Host_1").as_deref(), Some("host-1.example.test."));
        assert_eq!(
            d.qualify("cm.lab.example.test").as_deref(),
            Some("cm.lab.example.test.")
        );
        assert_eq!(d.qualify("a.other.org.").as_deref(), Some("a.other.org."));
        assert_eq!(d.qualify("a.other.org").as_deref(), Some("a.example.test."));
        assert_eq!(d.qualify(""), None);
        assert_eq!(d.qualify("--"), None);
        let f = d.forward_target("cm.lab.example.test.", None).unwrap();
        assert_eq!((f.zone.as_str(), f.server.port()), ("lab.example.test", 53));
        assert!(d.forward_target("a.other.org.", None).is_none());
        let over = d
            .forward_target("h.example.test.", Some("10.9.9.9".parse().unwrap()))
            .unwrap();
        assert_eq!(over.server, "10.9.9.9:5353".parse().unwrap());
        let r = d
            .reverse_target("192.0.2.7".parse().unwrap(), None)
            .unwrap();
        assert_eq!(r.zone, "2.0.192.in-addr.arpa");
        assert!(d
            .reverse_target("198.51.100.1".parse().unwrap(), None)
            .is_none());
        let r6 = d
            .reverse_target("2001:db8::5".parse().unwrap(), None)
            .unwrap();
        assert_eq!(r6.zone, "8.b.d.0.1.0.0.2.ip6.arpa");
        let none = headend_ddns::decide(
            Some(headend_ddns::FqdnFlags {
                n: true,
                ..Default::default()
            }),
            &d.policy,
        );
        let p = d.plan(
            "h.example.test.",
            "192.0.2.7".parse().unwrap(),
            &none,
            3600,
            None,
        );
        assert_eq!((p.forward, p.reverse), (None, None));
    }

    #[test]
    fn key_files_and_expressions() {
        let dir = tempfile::tempdir().unwrap();
        let kf = dir.path().join("k.key");
        std::fs::write(
            &kf,
            format!("key \"file-key\" {{ algorithm hmac-sha512; secret \"{SECRET}\"; }};\n"),
        )
        .unwrap();
        let text = "[server]\nstore = \"st\"\n[ddns]\nserver = \"127.0.0.1:53\"\nforward_zones = [\"example.test\"]\nkey_files = [\"k.key\"]\nhostname = { expr = 'device.mac' }\n".to_string();
        let path = dir.path().join("h.toml");
        let src = crate::source::SourceFile::new(path, text);
        let s = crate::snapshot::Snapshot::from_source(&src, 1).unwrap();
        let d = s.ddns.unwrap();
        assert_eq!(d.keys[0].name(), "file-key");
        assert_eq!(d.forward[0].key.as_deref(), Some("file-key"));
        assert!(d.hostname.is_some());
    }

    #[test]
    fn bad_values_name_their_line() {
        let e =
            load("[ddns]\nserver = \"nowhere\"\nforward_zones = [\"example.test\"]\n").unwrap_err();
        assert!(e.contains("t.toml:4: [ddns] server \"nowhere\""), "{e}");
        let e = load("[ddns]\nserver = \"127.0.0.1:53\"\n").unwrap_err();
        assert!(e.contains("[ddns] has no zone"), "{e}");
        let e = load(&section("key = \"nope\"\n")).unwrap_err();
        assert!(e.contains("key \"nope\" is not among the keys"), "{e}");
        let e =
            load("[ddns]\nserver = \"127.0.0.1:53\"\nforward_zones = [\"2.0.192.in-addr.arpa\"]\n")
                .unwrap_err();
        assert!(e.contains("is not a forward zone name"), "{e}");
        let e = load("[ddns]\nserver = \"127.0.0.1:53\"\nforward_zones = [\"example.test\"]\nkeys = [{ name = \"k\", algorithm = \"hmac-md5\", secret = \"AAAA\" }]\n").unwrap_err();
        assert!(e.contains("t.toml:6: [ddns] key \"k\""), "{e}");
        let e = load("[ddns]\nserver = \"127.0.0.1:53\"\nforward_zones = [\"example.test\"]\nkey_files = [\"missing.key\"]\n").unwrap_err();
        assert!(e.contains("[ddns] key file"), "{e}");
        let e = load(&section("max_in_flight = 0\n")).unwrap_err();
        assert!(e.contains("[ddns] limits out of range"), "{e}");
        let e = load(&section("hostname = { expr = 'device.' }\n")).unwrap_err();
        assert!(e.contains("[ddns] hostname"), "{e}");
        let e = load(&section("port = 53\n")).unwrap_err();
        assert!(e.contains("unknown field `port`"), "{e}");
    }

    #[test]
    fn only_fixed_parts_need_a_restart() {
        let a = load(&section("")).unwrap();
        let b = load(&section("ttl_divisor = 2\n")).unwrap();
        let c = load(&section("channel = 8\n")).unwrap();
        assert_eq!(restart_change(a.ddns.as_ref(), b.ddns.as_ref()), None);
        assert!(restart_change(a.ddns.as_ref(), c.ddns.as_ref()).is_some());
        assert!(restart_change(a.ddns.as_ref(), None).is_some());
    }
}
