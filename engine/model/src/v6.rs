//! DHCPv6 configuration (RFC 8415; seed 000 Tables 3 and 6, section 6.4.1):
//! the `[dhcpv6]` section and `[[pool6]]` address (IA_NA) and prefix
//! (IA_PD, the seed's "network pools") pools, validated into
//! [`Dhcpv6Settings`].
//!
//! The plugin ABI types of flow selection are re-exported here so that the
//! DHCPv6 server and the plugin host speak the same types.

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::Ipv6Net;
use serde::Deserialize;
use toml::Spanned;

pub use headend_abi::{
    Account as FlowAccount, Device as FlowDevice, FlowDecision, FlowVariant,
    Protocol as FlowProtocol, ProvisioningFlow, ProvisioningServer,
};

use crate::build::{canonical_domain, parse_hex, Builder, ALL_DEVICES};
use crate::expr::{Expr, Origin};

/// Longest DSS_ID a server may send (seed 000 section 6.4.1.4).
pub const MAX_DSS_ID_LEN: usize = 32;

fn d_preferred() -> u32 {
    3600
}
fn d_valid() -> u32 {
    7200
}
fn d_hold() -> u32 {
    30
}
fn d_decline() -> u32 {
    3600
}
fn d_rcvbuf() -> usize {
    8 << 20
}
fn d_realm() -> String {
    "BASIC.1".into()
}
fn d_max_hops() -> u8 {
    8
}
fn d_bulk_max() -> usize {
    8
}
fn d_bulk_idle() -> u32 {
    300
}

/// `[dhcpv6]`: the DHCPv6 service; absent = not served.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dhcpv6Section {
    /// Socket addresses to listen on, e.g. `"[::1]:6547"`.
    pub listen: Vec<Spanned<String>>,
    /// Interfaces with directly attached clients (no relay): the listening
    /// sockets join All_DHCP_Relay_Agents_and_Servers (ff02::1:2, RFC 8415
    /// §7.1) there, and such a client's link is the interface's address.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// The server DUID in hex; absent = a DUID-LLT generated once and kept in the store.
    #[serde(default)]
    pub server_duid: Option<Spanned<String>>,
    /// Preferred lifetime of addresses and prefixes (RFC 8415 §21.6).
    #[serde(default = "d_preferred")]
    pub preferred_lifetime: u32,
    /// Valid lifetime of addresses and prefixes.
    #[serde(default = "d_valid")]
    pub valid_lifetime: u32,
    /// T1 (0 = half the preferred lifetime, RFC 8415 §21.4).
    #[serde(default)]
    pub t1: u32,
    /// T2 (0 = 0.8 × the preferred lifetime).
    #[serde(default)]
    pub t2: u32,
    /// Rapid Commit (RFC 8415 §21.14) where a pool does not say; never for eUEs.
    #[serde(default)]
    pub rapid_commit: bool,
    /// How long an advertised address is held for the client.
    #[serde(default = "d_hold")]
    pub advertise_hold: u32,
    /// How long a declined address is quarantined (RFC 8415 §18.4.7).
    #[serde(default = "d_decline")]
    pub decline_hold: u32,
    /// Rhai expression for the client FQDN (option 39, RFC 4704); `()` = none.
    #[serde(default)]
    pub fqdn: Option<Spanned<String>>,
    /// Rhai expression for the configuration file name (CableLabs 17.33); `()` = none.
    #[serde(default)]
    pub config_file: Option<Spanned<String>>,
    /// This server's DSS_ID (CCCv6 sub-option 1): text, or hex with `0x`; absent = the first 32 bytes of the server DUID.
    #[serde(default)]
    pub dss_id: Option<Spanned<String>>,
    /// The secondary DSS_ID given to eCMs (CCCv6 sub-option 2; never to eUEs).
    #[serde(default)]
    pub secondary_dss_id: Option<Spanned<String>>,
    /// eUE DHCPv4 servers given to eCMs in CL_OPTION_CCC (17.2170): primary, secondary.
    #[serde(default)]
    pub ecm_dhcpv4_servers: Vec<Spanned<String>>,
    /// CL_OPTION_IP_PREF (17.39) for eCMs: 1 IPv4, 2 IPv6, 5 dual prefer v4, 6 dual prefer v6.
    #[serde(default)]
    pub ip_pref: Option<u8>,
    /// Default provisioning server (CCCv6 sub-option 3): an FQDN or IPv6 addresses.
    #[serde(default)]
    pub provisioning_server: Vec<Spanned<String>>,
    /// Default Kerberos realm / flow (CCCv6 sub-option 6): `BASIC.1`, `HYBRID.2`, a realm, or `0.0.0.0` (disabled).
    #[serde(default = "d_realm")]
    pub realm: String,
    /// DNS recursive name servers (option 23).
    #[serde(default)]
    pub dns_servers: Vec<Spanned<String>>,
    /// Domain search list (option 24).
    #[serde(default)]
    pub domain_list: Vec<String>,
    /// SNTP servers (option 31).
    #[serde(default)]
    pub sntp_servers: Vec<Spanned<String>>,
    /// TFTP servers (CableLabs 17.32).
    #[serde(default)]
    pub tftp_servers: Vec<Spanned<String>>,
    /// Syslog servers (CableLabs 17.34); the first is the one an eUE uses (seed 000 section 6.1.6).
    #[serde(default)]
    pub syslog_servers: Vec<Spanned<String>>,
    /// RFC 868 time servers (CableLabs 17.37).
    #[serde(default)]
    pub time_servers: Vec<Spanned<String>>,
    /// Time offset in seconds (CableLabs 17.38).
    #[serde(default)]
    pub time_offset: Option<i32>,
    /// Deepest relay nesting accepted (RFC 8415 §7.6 HOP_COUNT_LIMIT = 32; CableLabs networks use far fewer).
    #[serde(default = "d_max_hops")]
    pub max_relay_hops: u8,
    /// Socket receive buffer.
    #[serde(default = "d_rcvbuf")]
    pub receive_buffer: usize,
    /// Requesters (IPv6 addresses or networks, e.g. the CMTSes) whose
    /// LEASEQUERY is answered (RFC 5007) and who may open Bulk Leasequery
    /// connections (RFC 5460); empty = leasequery refused.
    #[serde(default)]
    pub leasequery_requesters: Vec<Spanned<String>>,
    /// TCP addresses Bulk Leasequery (RFC 5460) listens on, e.g.
    /// `"[::1]:547"`; none by default.
    #[serde(default)]
    pub bulk_leasequery_listen: Vec<Spanned<String>>,
    /// Bulk Leasequery connections open at once; more are closed at accept.
    #[serde(default = "d_bulk_max")]
    pub bulk_leasequery_max_connections: usize,
    /// Seconds a Bulk Leasequery connection may wait for a query (or for
    /// the requestor to read) before the server closes it.
    #[serde(default = "d_bulk_idle")]
    pub bulk_leasequery_idle_timeout: u32,
}

/// `[[pool6]]`: an IPv6 address pool (IA_NA) or prefix pool (IA_PD).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool6Decl {
    /// Pool name.
    pub name: String,
    /// `"na"` (addresses) or `"pd"` (delegated prefixes).
    #[serde(default = "d_kind")]
    pub kind: Spanned<String>,
    /// The prefix addresses or delegated prefixes are taken from.
    pub prefix: Spanned<String>,
    /// Length of each delegated prefix (`pd` only).
    #[serde(default)]
    pub delegated_length: Option<u8>,
    /// Relay link-addresses served (`"::"` = clients on the server's own link).
    pub links: Vec<Spanned<String>>,
    /// Domains the pool serves (default: all devices).
    #[serde(default)]
    pub domains: Option<Vec<Spanned<String>>>,
    /// Rhai condition a device must meet.
    #[serde(default)]
    pub allow: Option<Spanned<String>>,
    /// Rhai condition that excludes a device.
    #[serde(default)]
    pub deny: Option<Spanned<String>>,
    /// Preferred lifetime override.
    #[serde(default)]
    pub preferred_lifetime: Option<u32>,
    /// Valid lifetime override.
    #[serde(default)]
    pub valid_lifetime: Option<u32>,
    /// Rapid Commit override (still never for eUEs).
    #[serde(default)]
    pub rapid_commit: Option<bool>,
    /// Policies applied to every device bound from this pool (as `[[pool]]`'s).
    #[serde(default)]
    pub policies: Vec<Spanned<String>>,
    /// The pool-specific policy's options (`"v6.dns-servers" = [...]`, …).
    #[serde(default)]
    pub options: BTreeMap<String, Spanned<toml::Value>>,
}

fn d_kind() -> Spanned<String> {
    Spanned::new(0..0, "na".to_string())
}

/// IA_NA or IA_PD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool6Kind {
    /// Addresses.
    Na,
    /// Delegated prefixes of `delegated_length`.
    Pd,
}

/// A validated `[[pool6]]`.
#[derive(Debug, Clone)]
pub struct Pool6 {
    /// Name.
    pub name: String,
    /// Addresses or prefixes.
    pub kind: Pool6Kind,
    /// The prefix the pool hands out from.
    pub prefix: Ipv6Net,
    /// 128 for address pools; the delegated length for prefix pools.
    pub delegated_length: u8,
    /// Relay link-addresses served (`::` = on-link clients).
    pub links: Vec<Ipv6Addr>,
    /// Domains served (empty = all devices).
    pub domains: Vec<String>,
    /// Allow condition.
    pub allow: Option<Expr>,
    /// Deny condition.
    pub deny: Option<Expr>,
    /// Preferred lifetime.
    pub preferred_lifetime: u32,
    /// Valid lifetime.
    pub valid_lifetime: u32,
    /// Rapid Commit allowed for this pool.
    pub rapid_commit: bool,
    /// Policies (indexes into `Snapshot::policies`), pool-specific policy
    /// (`pool6:<name>`) first; resolved with the `[[pool]]`s' policies.
    pub policies: Vec<usize>,
}

impl Pool6 {
    /// Whether the device's domains give it access (no domains = all devices).
    pub fn authorizes(&self, domains: &[String]) -> bool {
        self.domains.is_empty()
            || self
                .domains
                .iter()
                .any(|d| d == ALL_DEVICES || domains.contains(d))
    }

    /// Number of addresses or prefixes the pool holds, saturating at `u128::MAX`.
    pub fn capacity(&self) -> u128 {
        let bits = u32::from(
            self.delegated_length
                .saturating_sub(self.prefix.prefix_len()),
        );
        1u128.checked_shl(bits).unwrap_or(u128::MAX)
    }
}

/// Validated DHCPv6 settings.
#[derive(Debug, Clone)]
pub struct Dhcpv6Settings {
    /// Listen addresses.
    pub listen: Vec<SocketAddr>,
    /// Interfaces whose directly attached clients are served (multicast joined).
    pub interfaces: Vec<String>,
    /// A configured server DUID (else generated and stored).
    pub server_duid: Option<Vec<u8>>,
    /// Default preferred lifetime.
    pub preferred_lifetime: u32,
    /// Default valid lifetime.
    pub valid_lifetime: u32,
    /// T1 (0 = derived).
    pub t1: u32,
    /// T2 (0 = derived).
    pub t2: u32,
    /// Rapid Commit default.
    pub rapid_commit: bool,
    /// Advertise hold in seconds.
    pub advertise_hold: u32,
    /// Decline quarantine in seconds.
    pub decline_hold: u32,
    /// FQDN expression (option 39).
    pub fqdn: Option<Expr>,
    /// Config-file expression (17.33).
    pub config_file: Option<Expr>,
    /// Configured DSS_ID (≤ 32 bytes).
    pub dss_id: Option<Vec<u8>>,
    /// Secondary DSS_ID for eCMs.
    pub secondary_dss_id: Option<Vec<u8>>,
    /// eUE DHCPv4 servers for eCMs (CL_OPTION_CCC).
    pub ecm_dhcpv4_servers: Vec<Ipv4Addr>,
    /// IP_PREF for eCMs.
    pub ip_pref: Option<u8>,
    /// Default provisioning server (CCCv6 sub-option 3).
    pub provisioning_server: Option<ProvisioningServer>,
    /// Default flow (CCCv6 sub-option 6).
    pub flow: ProvisioningFlow,
    /// Option 23.
    pub dns_servers: Vec<Ipv6Addr>,
    /// Option 24.
    pub domain_list: Vec<String>,
    /// Option 31.
    pub sntp_servers: Vec<Ipv6Addr>,
    /// 17.32.
    pub tftp_servers: Vec<Ipv6Addr>,
    /// 17.34.
    pub syslog_servers: Vec<Ipv6Addr>,
    /// 17.37.
    pub time_servers: Vec<Ipv6Addr>,
    /// 17.38.
    pub time_offset: Option<i32>,
    /// Relay nesting limit.
    pub max_relay_hops: u8,
    /// Socket receive buffer.
    pub receive_buffer: usize,
    /// Who may send LEASEQUERY and open Bulk Leasequery connections.
    pub leasequery_requesters: Vec<Ipv6Net>,
    /// Bulk Leasequery TCP listen addresses.
    pub bulk_leasequery_listen: Vec<SocketAddr>,
    /// Bulk Leasequery connections open at once.
    pub bulk_leasequery_max_connections: usize,
    /// Bulk Leasequery idle timeout in seconds.
    pub bulk_leasequery_idle_timeout: u32,
    /// Pools, in declaration order.
    pub pools: Vec<Pool6>,
}

impl Dhcpv6Settings {
    /// A pool by name.
    pub fn pool(&self, name: &str) -> Option<&Pool6> {
        self.pools.iter().find(|p| p.name == name)
    }

    /// Pools of `kind` serving relay link-address `link`, in declaration order.
    pub fn pools_for(&self, link: Ipv6Addr, kind: Pool6Kind) -> impl Iterator<Item = &Pool6> {
        self.pools
            .iter()
            .filter(move |p| p.kind == kind && p.links.contains(&link))
    }
}

/// Parses a DSS_ID: `0x…` hex or text; at most 32 bytes.
pub fn parse_dss_id(s: &str) -> Result<Vec<u8>, String> {
    let bytes = if s.starts_with("0x") {
        parse_hex(s).ok_or_else(|| format!("{s:?} is not hex"))?
    } else {
        s.as_bytes().to_vec()
    };
    if bytes.is_empty() || bytes.len() > MAX_DSS_ID_LEN {
        return Err(format!(
            "a DSS_ID has 1 to {MAX_DSS_ID_LEN} bytes, {s:?} has {}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

fn ip6_list(b: &mut Builder<'_>, v: &[Spanned<String>], what: &str) -> Vec<Ipv6Addr> {
    v.iter()
        .filter_map(|s| match s.get_ref().parse::<Ipv6Addr>() {
            Ok(a) => Some(a),
            Err(_) => {
                b.err(
                    s.span().start,
                    format!("{what}: {:?} is not an IPv6 address", s.get_ref()),
                    "write an address such as \"2001:db8::1\"",
                );
                None
            }
        })
        .collect()
}

fn compile(b: &mut Builder<'_>, s: &Spanned<String>, what: String) -> Option<Expr> {
    let origin = Origin {
        file: b.src.path.clone(),
        line: b.src.line_of(s.span().start),
        what,
    };
    match b.exprs.compile(s.get_ref(), origin) {
        Ok(e) => Some(e),
        Err(e) => {
            b.err(
                s.span().start,
                format!("{e}"),
                "correct the Rhai expression (see policies/README.md for the context it can use)",
            );
            None
        }
    }
}

fn dss(b: &mut Builder<'_>, s: &Option<Spanned<String>>) -> Option<Vec<u8>> {
    let s = s.as_ref()?;
    match parse_dss_id(s.get_ref()) {
        Ok(v) => Some(v),
        Err(m) => {
            b.err(
                s.span().start,
                m,
                "give text of at most 32 characters or 0x-prefixed hex",
            );
            None
        }
    }
}

/// Validates `[dhcpv6]` and `[[pool6]]` (whose `domains` must be among
/// `known`, the declared domains); errors go to the builder.
pub(crate) fn build(
    b: &mut Builder<'_>,
    section: Option<&Spanned<Dhcpv6Section>>,
    pools6: &[Spanned<Pool6Decl>],
    known: &HashSet<String>,
) -> Option<Dhcpv6Settings> {
    let Some(section) = section else {
        if let Some(p) = pools6.first() {
            b.err(
                p.span().start,
                "[[pool6]] without a [dhcpv6] section",
                "add [dhcpv6] with listen = [\"[::1]:6547\"]",
            );
        }
        return None;
    };
    let d6 = section.get_ref();
    let mut listen = Vec::new();
    for l in &d6.listen {
        match l.get_ref().parse::<SocketAddr>() {
            Ok(a @ SocketAddr::V6(_)) => listen.push(a),
            _ => b.err(
                l.span().start,
                format!(
                    "listen address {:?} is not an IPv6 socket address",
                    l.get_ref()
                ),
                "write \"[address]:port\", e.g. \"[::1]:6547\"",
            ),
        }
    }
    if listen.is_empty() {
        b.err(
            section.span().start,
            "[dhcpv6] has no listen address",
            "add listen = [\"[::1]:6547\"]",
        );
    }
    let leasequery_requesters = b.networks6(&d6.leasequery_requesters, "leasequery requester");
    let mut bulk_leasequery_listen = Vec::new();
    for l in &d6.bulk_leasequery_listen {
        match l.get_ref().parse::<SocketAddr>() {
            Ok(a @ SocketAddr::V6(_)) => bulk_leasequery_listen.push(a),
            _ => b.err(
                l.span().start,
                format!(
                    "bulk_leasequery_listen address {:?} is not an IPv6 socket address",
                    l.get_ref()
                ),
                "write \"[address]:port\", e.g. \"[::1]:547\"",
            ),
        }
    }
    let server_duid = d6.server_duid.as_ref().and_then(|s| {
        match parse_hex(s.get_ref()) {
            Some(v) if (3..=headend_store::MAX_DUID_LEN).contains(&v.len()) => Some(v),
            _ => {
                b.err(s.span().start, format!("server_duid {:?} is not a DUID in hex", s.get_ref()), "write 3 to 130 bytes of hex, e.g. \"00:03:00:01:00:10:18:aa:bb:cc\", or leave it out to have one generated");
                None
            }
        }
    });
    if d6.preferred_lifetime == 0 || d6.valid_lifetime < d6.preferred_lifetime {
        b.err(
            section.span().start,
            "[dhcpv6] lifetimes must be positive with valid_lifetime >= preferred_lifetime",
            "RFC 8415 §21.6: a preferred lifetime above the valid lifetime makes the client discard the address",
        );
    }
    if d6.t2 != 0 && d6.t1 > d6.t2 {
        b.err(
            section.span().start,
            "[dhcpv6] t1 is greater than t2",
            "RFC 8415 §21.4: T1 <= T2",
        );
    }
    if d6.max_relay_hops == 0 || d6.max_relay_hops > 32 {
        b.err(
            section.span().start,
            "max_relay_hops must be 1 to 32 (RFC 8415 HOP_COUNT_LIMIT)",
            "use 8",
        );
    }
    if let Some(p) = d6.ip_pref {
        if !matches!(p, 1 | 2 | 5 | 6) {
            b.err(section.span().start, format!("ip_pref {p} is not one of 1, 2, 5, 6"), "1 = IPv4, 2 = IPv6, 5 = dual stack preferring IPv4, 6 = dual stack preferring IPv6 (seed 000 Table 4)");
        }
    }
    let fqdn = d6
        .fqdn
        .as_ref()
        .and_then(|s| compile(b, s, "[dhcpv6] fqdn".into()));
    let config_file = d6
        .config_file
        .as_ref()
        .and_then(|s| compile(b, s, "[dhcpv6] config_file".into()));
    let dss_id = dss(b, &d6.dss_id);
    let secondary_dss_id = dss(b, &d6.secondary_dss_id);
    let ecm_dhcpv4_servers: Vec<Ipv4Addr> = d6
        .ecm_dhcpv4_servers
        .iter()
        .filter_map(|s| b.ip4(s, "ecm_dhcpv4_servers entry"))
        .collect();
    if ecm_dhcpv4_servers.len() > 2 {
        b.err(
            section.span().start,
            "ecm_dhcpv4_servers has more than a primary and a secondary",
            "list at most two addresses",
        );
    }
    let provisioning_server = provisioning_server(b, &d6.provisioning_server);
    let flow = ProvisioningFlow::from_realm(&d6.realm);
    let dns_servers = ip6_list(b, &d6.dns_servers, "dns_servers");
    let sntp_servers = ip6_list(b, &d6.sntp_servers, "sntp_servers");
    let tftp_servers = ip6_list(b, &d6.tftp_servers, "tftp_servers");
    let syslog_servers = ip6_list(b, &d6.syslog_servers, "syslog_servers");
    let time_servers = ip6_list(b, &d6.time_servers, "time_servers");
    for n in &d6.domain_list {
        if headend_wire::dns::name_to_wire(n).is_err() {
            b.err(
                section.span().start,
                format!("domain_list entry {n:?} is not a domain name"),
                "write names like \"example.net\"",
            );
        }
    }

    let mut pools: Vec<Pool6> = Vec::new();
    for ps in pools6 {
        if let Some(p) = pool6(b, ps, d6, known) {
            if pools.iter().any(|q| q.name == p.name) {
                b.err(
                    ps.span().start,
                    format!("pool6 {:?} is declared twice", p.name),
                    "give each pool a unique name",
                );
                continue;
            }
            if let Some(q) = pools.iter().find(|q| {
                q.kind == p.kind && (q.prefix.contains(&p.prefix) || p.prefix.contains(&q.prefix))
            }) {
                b.err(
                    ps.span().start,
                    format!(
                        "pool6 {:?} overlaps pool6 {:?} ({} / {})",
                        p.name, q.name, p.prefix, q.prefix
                    ),
                    "make pool prefixes disjoint",
                );
                continue;
            }
            pools.push(p);
        }
    }
    Some(Dhcpv6Settings {
        listen,
        interfaces: d6.interfaces.clone(),
        server_duid,
        preferred_lifetime: d6.preferred_lifetime,
        valid_lifetime: d6.valid_lifetime,
        t1: d6.t1,
        t2: d6.t2,
        rapid_commit: d6.rapid_commit,
        advertise_hold: d6.advertise_hold.max(1),
        decline_hold: d6.decline_hold,
        fqdn,
        config_file,
        dss_id,
        secondary_dss_id,
        ecm_dhcpv4_servers,
        ip_pref: d6.ip_pref,
        provisioning_server,
        flow,
        dns_servers,
        domain_list: d6.domain_list.clone(),
        sntp_servers,
        tftp_servers,
        syslog_servers,
        time_servers,
        time_offset: d6.time_offset,
        max_relay_hops: d6.max_relay_hops,
        receive_buffer: d6.receive_buffer,
        leasequery_requesters,
        bulk_leasequery_listen,
        bulk_leasequery_max_connections: d6.bulk_leasequery_max_connections.clamp(1, 1024),
        bulk_leasequery_idle_timeout: d6.bulk_leasequery_idle_timeout.max(1),
        pools,
    })
}

/// What a reload cannot change: the sockets (and their multicast
/// memberships) are bound at start, and the server DUID is fixed then
/// (RFC 8415 §11). A message when `old` and `new` differ in it.
pub fn restart_change(
    old: Option<&Dhcpv6Settings>,
    new: Option<&Dhcpv6Settings>,
) -> Option<String> {
    let fixed = |s: Option<&Dhcpv6Settings>| {
        s.map(|d| {
            (
                d.listen.clone(),
                d.interfaces.clone(),
                d.server_duid.clone(),
                d.bulk_leasequery_listen.clone(),
            )
        })
    };
    (fixed(old) != fixed(new)).then(|| {
        "DHCPv6 listener addresses (UDP and bulk leasequery TCP), interfaces and server DUID cannot change by reload".to_string()
    })
}

fn provisioning_server(b: &mut Builder<'_>, v: &[Spanned<String>]) -> Option<ProvisioningServer> {
    let first = v.first()?;
    if first.get_ref().parse::<Ipv6Addr>().is_ok() {
        return Some(ProvisioningServer::Ipv6(ip6_list(
            b,
            v,
            "provisioning_server",
        )));
    }
    if v.len() > 1 || headend_wire::dns::name_to_wire(first.get_ref()).is_err() {
        b.err(
            first.span().start,
            format!(
                "provisioning_server {:?} is neither one FQDN nor IPv6 addresses",
                first.get_ref()
            ),
            "write [\"prov.example.net\"] or [\"2001:db8::10\", …]",
        );
        return None;
    }
    Some(ProvisioningServer::Fqdn(first.get_ref().clone()))
}

fn pool6(
    b: &mut Builder<'_>,
    ps: &Spanned<Pool6Decl>,
    d6: &Dhcpv6Section,
    known: &HashSet<String>,
) -> Option<Pool6> {
    let decl = ps.get_ref();
    let owner = format!("pool6 {:?}", decl.name);
    let kind = match decl.kind.get_ref().as_str() {
        "na" => Pool6Kind::Na,
        "pd" => Pool6Kind::Pd,
        other => {
            b.err(
                decl.kind.span().start,
                format!("{owner}: kind {other:?} is neither \"na\" nor \"pd\""),
                "kind = \"na\" for addresses, \"pd\" for delegated prefixes",
            );
            return None;
        }
    };
    let Ok(prefix) = decl.prefix.get_ref().parse::<Ipv6Net>() else {
        b.err(
            decl.prefix.span().start,
            format!(
                "{owner}: prefix {:?} is not an IPv6 prefix",
                decl.prefix.get_ref()
            ),
            "write it as \"2001:db8:1::/64\"",
        );
        return None;
    };
    let prefix = prefix.trunc();
    let delegated_length = match (kind, decl.delegated_length) {
        (Pool6Kind::Na, None) => 128,
        (Pool6Kind::Na, Some(_)) => {
            b.err(
                ps.span().start,
                format!("{owner}: delegated_length is for kind = \"pd\""),
                "remove it or set kind = \"pd\"",
            );
            return None;
        }
        (Pool6Kind::Pd, Some(l)) if l >= prefix.prefix_len() && l <= 128 => l,
        (Pool6Kind::Pd, _) => {
            b.err(
                ps.span().start,
                format!(
                    "{owner}: a prefix pool needs delegated_length between {} and 128",
                    prefix.prefix_len()
                ),
                "e.g. prefix = \"2001:db8:8000::/40\", delegated_length = 56",
            );
            return None;
        }
    };
    if kind == Pool6Kind::Na && prefix.prefix_len() > 126 {
        b.err(
            decl.prefix.span().start,
            format!("{owner}: an address pool needs a prefix of /126 or shorter"),
            "use a /64 for an address pool",
        );
        return None;
    }
    let links = ip6_list(b, &decl.links, &format!("{owner} links"));
    if decl.links.is_empty() {
        b.err(
            ps.span().start,
            format!("{owner} serves no link"),
            "add links = [\"<relay link-address>\"] or [\"::\"] for clients on the server's link",
        );
    }
    let mut domains = Vec::new();
    for n in decl.domains.iter().flatten() {
        let name = canonical_domain(n.get_ref());
        if known.contains(&name) {
            domains.push(name);
        } else {
            b.err(
                n.span().start,
                format!("{owner}: unknown domain {:?}", n.get_ref()),
                "declare it with [[domain]] or use \"all\" for All devices",
            );
        }
    }
    let allow = decl
        .allow
        .as_ref()
        .and_then(|a| compile(b, a, format!("{owner} allow")));
    let deny = decl
        .deny
        .as_ref()
        .and_then(|a| compile(b, a, format!("{owner} deny")));
    let preferred_lifetime = decl.preferred_lifetime.unwrap_or(d6.preferred_lifetime);
    let valid_lifetime = decl.valid_lifetime.unwrap_or(d6.valid_lifetime);
    if preferred_lifetime == 0 || valid_lifetime < preferred_lifetime {
        b.err(
            ps.span().start,
            format!("{owner}: lifetimes must be positive with valid >= preferred"),
            "adjust preferred_lifetime / valid_lifetime",
        );
    }
    Some(Pool6 {
        name: decl.name.clone(),
        kind,
        prefix,
        delegated_length,
        links,
        domains,
        allow,
        deny,
        preferred_lifetime,
        valid_lifetime,
        rapid_commit: decl.rapid_commit.unwrap_or(d6.rapid_commit),
        policies: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use crate::snapshot::Snapshot;
    use crate::source::SourceFile;

    use super::*;

    const BASE: &str = r#"
[server]
store = "state"
[[domain]]
name = "cpe"
"#;

    fn load(extra: &str) -> Result<Snapshot, String> {
        let src = SourceFile::new("test.toml".into(), format!("{BASE}{extra}"));
        Snapshot::from_source(&src, 1).map_err(|e| e.to_string())
    }

    #[test]
    fn leasequery_settings_parse_and_bulk_listeners_are_restart_only() {
        let base = "[dhcpv6]\nlisten = [\"[::1]:6547\"]\n";
        let d6 = load(base).unwrap().dhcpv6.unwrap();
        assert!(d6.leasequery_requesters.is_empty(), "refused by default");
        assert!(
            d6.bulk_leasequery_listen.is_empty(),
            "no bulk listener by default"
        );
        assert_eq!(
            (
                d6.bulk_leasequery_max_connections,
                d6.bulk_leasequery_idle_timeout
            ),
            (8, 300)
        );
        let with = format!(
            "{base}leasequery_requesters = [\"2001:db8::1\", \"2001:db8:100::/48\"]\n\
             bulk_leasequery_listen = [\"[::1]:5547\"]\nbulk_leasequery_max_connections = 2\n"
        );
        let snap = load(&with).unwrap();
        let d6 = snap.dhcpv6.as_ref().unwrap();
        assert_eq!(
            d6.leasequery_requesters,
            [
                "2001:db8::1/128".parse::<Ipv6Net>().unwrap(),
                "2001:db8:100::/48".parse().unwrap()
            ]
        );
        assert_eq!(
            d6.bulk_leasequery_listen,
            ["[::1]:5547".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(d6.bulk_leasequery_max_connections, 2);
        let old = load(base).unwrap();
        assert!(restart_change(old.dhcpv6.as_ref(), snap.dhcpv6.as_ref()).is_some());
        let e = load(&format!("{base}leasequery_requesters = [\"10.0.0.1\"]\n")).unwrap_err();
        assert!(
            e.contains("leasequery requester \"10.0.0.1\" is not an IPv6 address or network"),
            "{e}"
        );
        let e = load(&format!(
            "{base}bulk_leasequery_listen = [\"127.0.0.1:547\"]\n"
        ))
        .unwrap_err();
        assert!(e.contains("is not an IPv6 socket address"), "{e}");
    }

    #[test]
    fn listen_interfaces_and_duid_changes_are_refused_by_reload() {
        let base = "[dhcpv6]\nlisten = [\"[::1]:6547\"]\nrealm = \"BASIC.1\"\n";
        let old = load(base).unwrap();
        // Pools, realm and the rest reload.
        let ok = load(&base.replace("BASIC.1", "HYBRID.2")).unwrap();
        let change = |new: &Snapshot| restart_change(old.dhcpv6.as_ref(), new.dhcpv6.as_ref());
        assert_eq!(change(&ok), None);
        for changed in [
            base.replace("[::1]:6547", "[::1]:6548"),
            format!("{base}interfaces = [\"vs0\"]\n"),
            format!("{base}server_duid = \"000300010010180000aa\"\n"),
            String::new(),
        ] {
            let new = load(&changed).unwrap();
            let err = change(&new).unwrap_or_default();
            assert!(err.contains("DHCPv6 listener"), "{changed}: {err}");
        }
    }

    #[test]
    fn full_section_and_pools_validate() {
        let s = load(
            r#"
[dhcpv6]
listen = ["[::1]:6547"]
dss_id = "headend-lab"
secondary_dss_id = "0xffffffff"
ecm_dhcpv4_servers = ["127.0.0.1"]
ip_pref = 6
provisioning_server = ["prov.example.net"]
realm = "HYBRID.2"
fqdn = 'if device.family == "pktc" { "eue-" + device.mac.replace(":", "") } else { () }'
syslog_servers = ["2001:db8::514", "2001:db8::515"]
[[pool6]]
name = "cm6"
prefix = "2001:db8:1::/64"
links = ["2001:db8:100::1"]
[[pool6]]
name = "cpe-pd"
kind = "pd"
prefix = "2001:db8:8000::/40"
delegated_length = 56
links = ["2001:db8:100::1", "::"]
domains = ["cpe"]
rapid_commit = true
"#,
        )
        .unwrap();
        let d6 = s.dhcpv6.unwrap();
        assert_eq!(d6.dss_id.as_deref(), Some(&b"headend-lab"[..]));
        assert_eq!(d6.secondary_dss_id, Some(vec![0xff; 4]));
        assert_eq!(d6.flow, ProvisioningFlow::Hybrid(FlowVariant::Two));
        assert_eq!(
            d6.provisioning_server,
            Some(ProvisioningServer::Fqdn("prov.example.net".into()))
        );
        assert_eq!(d6.pools.len(), 2);
        let pd = d6.pool("cpe-pd").unwrap();
        assert_eq!(pd.kind, Pool6Kind::Pd);
        assert_eq!(pd.capacity(), 1 << 16);
        assert!(pd.rapid_commit);
        assert!(!d6.pool("cm6").unwrap().rapid_commit);
        assert_eq!(
            d6.pools_for("::".parse().unwrap(), Pool6Kind::Pd)
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            vec!["cpe-pd"]
        );
        assert!(pd.authorizes(&["cpe".into()]) && !pd.authorizes(&["emta".into()]));
    }

    #[test]
    fn errors_are_reported_with_lines() {
        let e = load(
            r#"
[dhcpv6]
listen = ["127.0.0.1:6547"]
dss_id = "this dss id is far longer than thirty-two bytes"
ip_pref = 3
[[pool6]]
name = "a"
prefix = "2001:db8::/64"
links = ["2001:db8:100::1"]
domains = ["nope"]
[[pool6]]
name = "b"
prefix = "2001:db8::/72"
links = ["not-an-address"]
[[pool6]]
name = "c"
kind = "pd"
prefix = "2001:db8:8000::/40"
links = ["::"]
"#,
        )
        .unwrap_err();
        for want in [
            "not an IPv6 socket address",
            "DSS_ID has 1 to 32 bytes",
            "ip_pref 3",
            "unknown domain",
            "not an IPv6 address",
            "delegated_length between 40 and 128",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
        // The overlap of b with a is only reported for valid pools: b has a bad link but a valid prefix.
        assert!(e.contains("overlaps"), "{e}");
    }

    #[test]
    fn pool6_without_section_is_an_error() {
        let e = load("[[pool6]]\nname = \"a\"\nprefix = \"2001:db8::/64\"\nlinks = [\"::\"]\n")
            .unwrap_err();
        assert!(e.contains("without a [dhcpv6] section"), "{e}");
    }

    #[test]
    fn dss_ids_reserved_values_and_limits() {
        assert_eq!(parse_dss_id("0x00000000").unwrap(), vec![0; 4]);
        assert_eq!(parse_dss_id("0xffffffff").unwrap(), vec![0xff; 4]);
        assert_eq!(parse_dss_id(&"a".repeat(32)).unwrap().len(), 32);
        assert!(parse_dss_id(&"a".repeat(33)).is_err());
        assert!(parse_dss_id("").is_err());
        assert!(parse_dss_id("0xzz").is_err());
    }
}
