//! The SNMP provisioning server section (PacketCable pkt-eue-4, the Hybrid
//! flow's eUE-15 … eUE-19 and eUE-25): `[snmp]` with `[[snmp.user]]`,
//! validated into [`SnmpSettings`]. Absent = not served.
//!
//! No community or user is assumed: INFORMs are accepted only under the
//! communities and SNMPv3 users written here, and the well-known
//! communities `public` / `private` are refused on a listener that is not
//! loopback.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use headend_snmp::usm::{AuthProtocol, PrivProtocol};
use headend_snmp::{Oid, UserConfig};
use serde::Deserialize;
use toml::Spanned;

use crate::build::{canonical_domain, Builder, ExprSource};
use crate::expr::Expr;

/// `[snmp]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpSection {
    /// UDP socket addresses (162 in deployments), e.g. `"127.0.0.1:6162"`, `"[::1]:6162"`.
    pub listen: Vec<Spanned<String>>,
    /// Communities accepted on SNMPv1/v2c INFORMs.
    #[serde(default)]
    pub communities: Vec<Spanned<String>>,
    /// The eUE agents' write community (GET and SET).
    pub agent_community: Spanned<String>,
    /// The eUE agent port (161 in deployments).
    #[serde(default = "default_agent_port")]
    pub agent_port: u16,
    /// Retransmissions of a GET/SET after the first.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// First retransmission timeout (doubled per retry), milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Enrollments in progress at most.
    #[serde(default = "default_max")]
    pub max_enrollments: usize,
    /// `"tftp"` (RFC 3617 URL), `"http"`, or `"auto"` (HTTP when the eUE reports pktcMtaDevHttpAccess true).
    #[serde(default = "default_scheme")]
    pub url_scheme: Spanned<String>,
    /// The eUE config file name (Rhai; the device context of DHCP).
    pub config_file: Spanned<ExprSource>,
    /// Objects (numeric OIDs) fetched by GET before the file is generated (eUE-16/17).
    #[serde(default)]
    pub capability_oids: Vec<Spanned<String>>,
    /// snmpEngineID as hex (default: enterprise 4491, text format, "headend-<server name>").
    pub engine_id: Option<Spanned<String>>,
    /// SNMPv3 users.
    #[serde(default, rename = "user")]
    pub users: Vec<Spanned<UserSection>>,
    /// Communities of the devices of a domain.
    #[serde(default, rename = "domain")]
    pub domains: Vec<Spanned<DomainSection>>,
}

/// `[[snmp.domain]]`: communities that belong to one domain's devices (an
/// operator with several fleets keeps their secrets apart).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainSection {
    /// A `[[domain]]`.
    pub name: String,
    /// Notification communities accepted only from devices of this domain.
    #[serde(default)]
    pub communities: Vec<Spanned<String>>,
    /// The write community of this domain's eUE agents (instead of `[snmp] agent_community`).
    pub agent_community: Option<Spanned<String>>,
}

/// `[[snmp.user]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSection {
    /// usmUserName.
    pub name: String,
    /// `MD5`, `SHA`, `SHA-224`, `SHA-256`, `SHA-384`, `SHA-512`.
    pub auth: Option<String>,
    /// At least 8 characters.
    pub auth_password: Option<String>,
    /// `DES` or `AES`.
    pub privacy: Option<String>,
    /// At least 8 characters.
    pub privacy_password: Option<String>,
}

fn default_agent_port() -> u16 {
    161
}
fn default_retries() -> u32 {
    2
}
fn default_timeout_ms() -> u64 {
    2000
}
fn default_max() -> usize {
    65_536
}
fn default_scheme() -> Spanned<String> {
    Spanned::new(0..0, "tftp".to_string())
}

/// Which URL the SET names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlScheme {
    /// tftp://.
    Tftp,
    /// http://.
    Http,
    /// http:// when the eUE supports it.
    Auto,
}

/// Validated `[snmp]`.
#[derive(Debug, Clone)]
pub struct SnmpSettings {
    /// Where to listen.
    pub listen: Vec<SocketAddr>,
    /// Accepted communities.
    pub communities: Vec<Vec<u8>>,
    /// The agents' write community.
    pub agent_community: Vec<u8>,
    /// The agent port.
    pub agent_port: u16,
    /// Retransmissions.
    pub retries: u32,
    /// First timeout.
    pub timeout: Duration,
    /// Bound on enrollments in progress.
    pub max_enrollments: usize,
    /// URL scheme.
    pub scheme: UrlScheme,
    /// The file name expression.
    pub config_file: Option<Expr>,
    /// Capability objects.
    pub capability_oids: Vec<Oid>,
    /// snmpEngineID.
    pub engine_id: Vec<u8>,
    /// SNMPv3 users (keys are derived by the server).
    pub users: Vec<UserConfig>,
    /// Per-domain communities, in file order.
    pub domains: Vec<DomainCommunities>,
}

/// A validated `[[snmp.domain]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainCommunities {
    /// The domain (canonical name).
    pub domain: String,
    /// Its notification communities.
    pub communities: Vec<Vec<u8>>,
    /// Its agents' write community.
    pub agent_community: Option<Vec<u8>>,
}

/// Validates `[snmp]`.
pub(crate) fn build(
    b: &mut Builder<'_>,
    section: Option<&Spanned<SnmpSection>>,
    server_name: &str,
    known_domains: &HashSet<String>,
) -> Option<SnmpSettings> {
    let s = section?;
    let t = s.get_ref();
    let listen = b.listen_addrs(
        "snmp",
        s.span().start,
        &t.listen,
        ("127.0.0.1:6162", "[::1]:162"),
    );
    let exposed = listen.iter().any(|a| !a.ip().is_loopback());
    let community = |b: &mut Builder<'_>, c: &Spanned<String>| {
        if c.get_ref().is_empty() {
            b.err(c.span().start, "an empty community", "remove it");
        } else if exposed && matches!(c.get_ref().as_str(), "public" | "private") {
            b.err(
                c.span().start,
                format!(
                    "the well-known community {:?} on a listener that is not loopback",
                    c.get_ref()
                ),
                "choose a site-specific community string, or use [[snmp.user]] (SNMPv3)",
            );
        }
    };
    for c in &t.communities {
        community(b, c);
    }
    let agent = |b: &mut Builder<'_>, c: &Spanned<String>| {
        if c.get_ref().is_empty() {
            b.err(
                c.span().start,
                "an empty agent_community",
                "set the eUE agents' write community",
            );
        } else if exposed && matches!(c.get_ref().as_str(), "public" | "private") {
            b.err(
                c.span().start,
                format!(
                    "agent_community {:?} is a well-known default and [snmp] listens beyond loopback",
                    c.get_ref()
                ),
                "set the eUE agents' site-specific write community",
            );
        }
    };
    agent(b, &t.agent_community);
    let mut domains: Vec<DomainCommunities> = Vec::new();
    for d in &t.domains {
        let x = d.get_ref();
        let name = canonical_domain(&x.name);
        if !known_domains.contains(&name) {
            b.err(
                d.span().start,
                format!("[[snmp.domain]] {:?} is not a declared domain", x.name),
                "declare it with [[domain]], or correct the name",
            );
            continue;
        }
        if domains.iter().any(|o| o.domain == name) {
            b.err(
                d.span().start,
                format!("[[snmp.domain]] {:?} is declared twice", x.name),
                "merge the two tables",
            );
            continue;
        }
        for c in &x.communities {
            community(b, c);
        }
        if let Some(c) = &x.agent_community {
            agent(b, c);
        }
        if x.communities.is_empty() && x.agent_community.is_none() {
            b.err(
                d.span().start,
                format!("[[snmp.domain]] {:?} sets nothing", x.name),
                "give it communities = [\"…\"] and/or agent_community = \"…\"",
            );
        }
        domains.push(DomainCommunities {
            domain: name,
            communities: x
                .communities
                .iter()
                .map(|c| c.get_ref().as_bytes().to_vec())
                .collect(),
            agent_community: x
                .agent_community
                .as_ref()
                .map(|c| c.get_ref().as_bytes().to_vec()),
        });
    }
    if t.communities.is_empty()
        && t.users.is_empty()
        && domains.iter().all(|d| d.communities.is_empty())
    {
        b.err(
            s.span().start,
            "[snmp] accepts no INFORM: no community and no [[snmp.user]]",
            "add communities = [\"…\"] or an SNMPv3 [[snmp.user]]",
        );
    }
    if !(1..=60_000).contains(&t.timeout_ms)
        || t.retries > 10
        || !(1..=1_000_000).contains(&t.max_enrollments)
    {
        b.err(
            s.span().start,
            "[snmp] timeout_ms must be 1 to 60000, retries at most 10, max_enrollments 1 to 1000000",
            "use e.g. timeout_ms = 2000, retries = 2, max_enrollments = 65536",
        );
    }
    let scheme = match t.url_scheme.get_ref().as_str() {
        "tftp" => UrlScheme::Tftp,
        "http" => UrlScheme::Http,
        "auto" => UrlScheme::Auto,
        other => {
            b.err(
                t.url_scheme.span().start,
                format!("url_scheme {other:?} is not tftp, http or auto"),
                "write url_scheme = \"tftp\"",
            );
            UrlScheme::Tftp
        }
    };
    let mut capability_oids = Vec::new();
    for o in &t.capability_oids {
        match o.get_ref().parse::<Oid>() {
            Ok(x) => capability_oids.push(x),
            Err(e) => b.err(
                o.span().start,
                e.to_string(),
                "write a numeric OID such as \"1.3.6.1.2.1.140.1.1.4.0\"",
            ),
        }
    }
    let engine_id = match &t.engine_id {
        Some(e) => match parse_hex(e.get_ref()) {
            Some(v) if (5..=32).contains(&v.len()) => v,
            _ => {
                b.err(
                    e.span().start,
                    "engine_id must be 5 to 32 octets of hex (RFC 3411)",
                    "e.g. engine_id = \"80000f8b0468656164656e64\"",
                );
                Vec::new()
            }
        },
        None => {
            // RFC 3411 SnmpEngineID, format 4 (text), enterprise 4491.
            let mut v = vec![0x80, 0x00, 0x11, 0x8b, 0x04];
            v.extend(format!("headend-{server_name}").bytes().take(27));
            v
        }
    };
    let mut users = Vec::new();
    for u in &t.users {
        let at = u.span().start;
        let x = u.get_ref();
        let auth = match (&x.auth, &x.auth_password) {
            (Some(p), Some(pw)) => {
                match AuthProtocol::parse(p) {
                    Some(p) if pw.len() >= 8 => Some((p, pw.clone())),
                    Some(_) => {
                        b.err(at, format!("user {:?}: auth_password is shorter than 8 characters (RFC 3414 11.2)", x.name), "use a longer password");
                        None
                    }
                    None => {
                        b.err(at, format!("user {:?}: auth {p:?} is not MD5, SHA, SHA-224, SHA-256, SHA-384 or SHA-512", x.name), "write auth = \"SHA\"");
                        None
                    }
                }
            }
            (None, None) => None,
            _ => {
                b.err(
                    at,
                    format!("user {:?}: auth and auth_password go together", x.name),
                    "set both or neither",
                );
                None
            }
        };
        let privacy = match (&x.privacy, &x.privacy_password) {
            (Some(p), Some(pw)) => match PrivProtocol::parse(p) {
                Some(_) if auth.is_none() => {
                    b.err(
                        at,
                        format!("user {:?}: privacy needs auth", x.name),
                        "add auth and auth_password",
                    );
                    None
                }
                Some(p) if pw.len() >= 8 => Some((p, pw.clone())),
                Some(_) => {
                    b.err(
                        at,
                        format!(
                            "user {:?}: privacy_password is shorter than 8 characters",
                            x.name
                        ),
                        "use a longer password",
                    );
                    None
                }
                None => {
                    b.err(
                        at,
                        format!("user {:?}: privacy {p:?} is not DES or AES", x.name),
                        "write privacy = \"AES\"",
                    );
                    None
                }
            },
            (None, None) => None,
            _ => {
                b.err(
                    at,
                    format!(
                        "user {:?}: privacy and privacy_password go together",
                        x.name
                    ),
                    "set both or neither",
                );
                None
            }
        };
        if exposed && auth.is_none() {
            b.err(
                at,
                format!(
                    "user {:?} has no authentication and [snmp] listens beyond loopback",
                    x.name
                ),
                "add auth and auth_password",
            );
        }
        users.push(UserConfig {
            name: x.name.clone(),
            auth,
            privacy,
        });
    }
    let config_file = b.compile_source(&t.config_file, "[snmp] config_file".into());
    Some(SnmpSettings {
        listen,
        communities: t
            .communities
            .iter()
            .map(|c| c.get_ref().as_bytes().to_vec())
            .collect(),
        agent_community: t.agent_community.get_ref().as_bytes().to_vec(),
        agent_port: t.agent_port,
        retries: t.retries,
        timeout: Duration::from_millis(t.timeout_ms),
        max_enrollments: t.max_enrollments,
        scheme,
        config_file,
        capability_oids,
        engine_id,
        users,
        domains,
    })
}

/// Hex digits (an optional `0x`, `:` separators allowed) to bytes.
fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let t: String = s
        .trim_start_matches("0x")
        .chars()
        .filter(|c| *c != ':')
        .collect();
    if t.len() % 2 != 0 {
        return None;
    }
    (0..t.len())
        .step_by(2)
        .map(|i| t.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// What a reload cannot change: the listeners.
pub fn restart_change(old: Option<&SnmpSettings>, new: Option<&SnmpSettings>) -> Option<String> {
    (old.map(|t| &t.listen) != new.map(|t| &t.listen))
        .then(|| "SNMP listener addresses cannot change by reload".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::snapshot::load_test_config as load;

    const OK: &str = "[snmp]\nlisten = [\"127.0.0.1:6162\", \"[::1]:6162\"]\ncommunities = [\"public\"]\nagent_community = \"private\"\nconfig_file = \"\\\"x.bin\\\"\"\n";

    #[test]
    fn section_defaults_and_absence() {
        assert!(load("").unwrap().snmp.is_none());
        let s = load(OK).unwrap().snmp.unwrap();
        assert_eq!(s.listen.len(), 2);
        assert_eq!(
            (s.agent_port, s.retries, s.timeout),
            (161, 2, Duration::from_secs(2))
        );
        assert_eq!(s.scheme, UrlScheme::Tftp);
        assert!(s.config_file.is_some());
        assert_eq!(&s.engine_id[..5], &[0x80, 0, 0x11, 0x8b, 4]);
    }

    #[test]
    fn no_default_community_beyond_loopback_and_errors_name_their_line() {
        let e = load(&OK.replace("127.0.0.1:6162", "0.0.0.0:162")).unwrap_err();
        assert!(
            e.contains("t.toml:5: the well-known community \"public\""),
            "{e}"
        );
        assert!(
            e.contains("agent_community \"private\" is a well-known default"),
            "{e}"
        );
        let e = load(
            "[snmp]\nlisten = [\"127.0.0.1:1\"]\nagent_community = \"x\"\nconfig_file = \"1\"\n",
        )
        .unwrap_err();
        assert!(e.contains("accepts no INFORM"), "{e}");
        let e = load(&format!("{OK}url_scheme = \"ftp\"\n[[snmp.user]]\nname = \"u\"\nauth = \"SHA\"\nauth_password = \"short\"\n")).unwrap_err();
        assert!(e.contains("url_scheme \"ftp\""), "{e}");
        assert!(e.contains("shorter than 8"), "{e}");
    }

    #[test]
    fn users_parse_and_listeners_need_a_restart() {
        let s = load(&format!("{OK}[[snmp.user]]\nname = \"informuser\"\nauth = \"SHA\"\nauth_password = \"authpass123\"\nprivacy = \"AES\"\nprivacy_password = \"privpass123\"\n"))
            .unwrap()
            .snmp
            .unwrap();
        assert_eq!(
            s.users[0].auth.as_ref().map(|a| a.0),
            Some(AuthProtocol::Sha1)
        );
        assert_eq!(
            s.users[0].privacy.as_ref().map(|a| a.0),
            Some(PrivProtocol::Aes128)
        );
        let a = load(OK).unwrap();
        let c = load(&OK.replace("6162\", \"[::1]", "6163\", \"[::1]")).unwrap();
        assert!(restart_change(a.snmp.as_ref(), c.snmp.as_ref()).is_some());
        assert!(restart_change(a.snmp.as_ref(), a.snmp.as_ref()).is_none());
    }

    #[test]
    fn domain_communities_name_declared_domains() {
        let cfg = format!(
            "[[domain]]\nname = \"brandx\"\n{OK}[[snmp.domain]]\nname = \"brandx\"\ncommunities = [\"bx-inform\"]\nagent_community = \"bx-write\"\n"
        );
        let s = load(&cfg).unwrap().snmp.unwrap();
        assert_eq!(
            s.domains,
            vec![DomainCommunities {
                domain: "brandx".into(),
                communities: vec![b"bx-inform".to_vec()],
                agent_community: Some(b"bx-write".to_vec()),
            }]
        );
        let e = load(&format!(
            "{OK}[[snmp.domain]]\nname = \"nope\"\nagent_community = \"w\"\n"
        ))
        .unwrap_err();
        assert!(
            e.contains("[[snmp.domain]] \"nope\" is not a declared domain"),
            "{e}"
        );
        let e = load(&format!(
            "[[domain]]\nname = \"brandx\"\n{}[[snmp.domain]]\nname = \"brandx\"\ncommunities = [\"public\"]\n",
            OK.replace("127.0.0.1:6162", "0.0.0.0:162")
        ))
        .unwrap_err();
        assert!(
            e.matches("the well-known community \"public\"").count() >= 2,
            "{e}"
        );
    }
}
