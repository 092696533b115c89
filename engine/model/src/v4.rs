//! The DHCPv4 service section (RFC 2131, RFC 2132, RFC 951 BOOTP): the
//! `[dhcpv4]` section as the operator writes it, validated into
//! [`Dhcpv4Settings`]. The provisioning model the server applies (domains,
//! pools, policies, accounts) is [`crate::provisioning`].

use std::net::{Ipv4Addr, SocketAddr};

use serde::Deserialize;
use toml::Spanned;

use crate::build::Builder;

/// `[dhcpv4]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dhcpv4Section {
    /// Socket addresses to listen on (`"127.0.0.1:6767"`, `"0.0.0.0:67"`).
    pub listen: Vec<Spanned<String>>,
    /// Bind the sockets to this interface (SO_BINDTODEVICE), for a directly attached segment.
    pub interface: Option<String>,
    /// Server identifier (option 54) when the listen address is a wildcard.
    pub server_id: Option<Spanned<String>>,
    /// Destination port of replies to relay agents (RFC 2131: 67).
    #[serde(default = "default_relay_port")]
    pub relay_port: u16,
    /// Destination port of replies to clients (RFC 2131: 68).
    #[serde(default = "default_client_port")]
    pub client_port: u16,
    /// Seconds an offered address stays reserved.
    #[serde(default = "default_offer_hold")]
    pub offer_hold: u32,
    /// Seconds a declined address is quarantined.
    #[serde(default = "default_decline_hold")]
    pub decline_hold: u32,
    /// Lease time when nothing else says.
    #[serde(default = "default_lease_time")]
    pub default_lease_time: u32,
    /// Upper bound for client-requested lease times.
    #[serde(default = "default_max_lease_time")]
    pub max_lease_time: u32,
    /// Largest reply (IP datagram size) ever sent; option 57 raises the 576 default up to it.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: u16,
    /// Rhai operation budget per expression evaluation.
    #[serde(default = "default_expression_operations")]
    pub expression_operations: u64,
    /// Answer BOOTP (RFC 951) requests.
    #[serde(default = "default_true")]
    pub bootp: bool,
    /// Whether this server is authoritative for its pools (NAK unknown requests, RFC 2131 §4.3.2).
    #[serde(default = "default_true")]
    pub authoritative: bool,
    /// Tasks receiving on each socket (default: one per core).
    pub workers: Option<usize>,
    /// Socket receive buffer in bytes (raised up to the kernel's rmem_max).
    #[serde(default = "default_rcvbuf")]
    pub receive_buffer: usize,
    /// Relays (addresses or networks) whose option 82 is believed besides
    /// those a `[[pool]]` lists in `relays`.
    #[serde(default)]
    pub trusted_relays: Vec<Spanned<String>>,
    /// Believe option 82 in packets with giaddr 0 (layer-2 relay agents,
    /// e.g. a switch snooping DHCP on this server's own segment); without
    /// it such packets are dropped as forged (RFC 3046 §2.1).
    #[serde(default)]
    pub layer2_relay_agents: bool,
    /// Honour a client's option 118 subnet selection (RFC 3011); off by
    /// default, since it lets a client pick its own network.
    #[serde(default)]
    pub subnet_selection: bool,
    /// DHCPDECLINEs honoured per relay circuit (giaddr + option 82.1) per
    /// minute; more are ignored, so that one circuit cannot quarantine a
    /// pool away.
    #[serde(default = "default_declines_per_minute")]
    pub declines_per_minute: u32,
    /// Outstanding offers per relay circuit (giaddr + option 82.1 + 82.2);
    /// past it the circuit's oldest offer is recycled, so that a flood
    /// from one circuit cannot hold a pool.
    #[serde(default = "default_max_offers_per_circuit")]
    pub max_offers_per_circuit: usize,
    /// Requesters (addresses or networks, e.g. the CMTSes) whose
    /// DHCPLEASEQUERY is answered (RFC 4388); empty = leasequery refused.
    #[serde(default)]
    pub leasequery_requesters: Vec<Spanned<String>>,
    /// TCP addresses of the bulk leasequery listener (RFC 6926); empty =
    /// none. The requesters are `leasequery_requesters`.
    #[serde(default)]
    pub bulk_leasequery_listen: Vec<Spanned<String>>,
    /// Bulk leasequery connections open at once (RFC 6926 BULK_LQ_MAX_CONNS: 10).
    #[serde(default = "default_bulk_max_connections")]
    pub bulk_leasequery_max_connections: usize,
    /// Seconds a bulk leasequery connection may stay silent, or stalled,
    /// before it is closed (RFC 6926 BULK_LQ_DATA_TIMEOUT: 300).
    #[serde(default = "default_bulk_idle_timeout")]
    pub bulk_leasequery_idle_timeout: u32,
    /// Queries a bulk leasequery connection may have waiting (pipelined)
    /// at once; more are answered QueryTerminated.
    #[serde(default = "default_bulk_max_queries")]
    pub bulk_leasequery_max_queries: usize,
}

fn default_bulk_max_connections() -> usize {
    10
}
fn default_bulk_idle_timeout() -> u32 {
    300
}
fn default_bulk_max_queries() -> usize {
    16
}

fn default_relay_port() -> u16 {
    67
}
fn default_client_port() -> u16 {
    68
}
fn default_offer_hold() -> u32 {
    30
}
fn default_decline_hold() -> u32 {
    3600
}
fn default_lease_time() -> u32 {
    3600
}
fn default_max_lease_time() -> u32 {
    86_400
}
fn default_max_message_size() -> u16 {
    1500
}
fn default_expression_operations() -> u64 {
    20_000
}
fn default_declines_per_minute() -> u32 {
    10
}
fn default_max_offers_per_circuit() -> usize {
    4096
}
fn default_true() -> bool {
    true
}
fn default_rcvbuf() -> usize {
    4 << 20
}

/// The DHCPv4 service settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Dhcpv4Settings {
    /// Sockets to listen on.
    pub listen: Vec<SocketAddr>,
    /// Interface to bind the sockets to.
    pub interface: Option<String>,
    /// Explicit server identifier.
    pub server_id: Option<Ipv4Addr>,
    /// Port of replies to relays.
    pub relay_port: u16,
    /// Port of replies to clients.
    pub client_port: u16,
    /// Offer hold in seconds.
    pub offer_hold: u32,
    /// Decline quarantine in seconds.
    pub decline_hold: u32,
    /// Default lease time.
    pub default_lease_time: u32,
    /// Maximum lease time.
    pub max_lease_time: u32,
    /// Reply size limit without option 57.
    pub max_message_size: u16,
    /// Answer BOOTP.
    pub bootp: bool,
    /// NAK requests for addresses we do not know.
    pub authoritative: bool,
    /// Socket receive buffer.
    pub receive_buffer: usize,
    /// Receiving tasks per socket (`None` = one per core).
    pub workers: Option<usize>,
    /// Relays believed besides the pools' (`trusted_relays`).
    pub trusted_relays: Vec<ipnet::Ipv4Net>,
    /// Believe option 82 with giaddr 0.
    pub layer2_relay_agents: bool,
    /// Honour option 118.
    pub subnet_selection: bool,
    /// DECLINEs honoured per relay circuit per minute.
    pub declines_per_minute: u32,
    /// Outstanding offers per relay circuit.
    pub max_offers_per_circuit: usize,
    /// Who may send DHCPLEASEQUERY (source address and giaddr).
    pub leasequery_requesters: Vec<ipnet::Ipv4Net>,
    /// The bulk leasequery listener (RFC 6926).
    pub bulk_leasequery: BulkLeasequerySettings,
}

/// The bulk leasequery listener's settings (RFC 6926).
#[derive(Debug, Clone, PartialEq)]
pub struct BulkLeasequerySettings {
    /// TCP addresses to listen on; empty = no listener.
    pub listen: Vec<SocketAddr>,
    /// Connections open at once.
    pub max_connections: usize,
    /// Seconds of silence or of a stalled reader before a connection closes.
    pub idle_timeout: u32,
    /// Pipelined queries waiting per connection.
    pub max_queries: usize,
}

/// The Rhai operation budget `[dhcpv4]` sets for every expression of the
/// configuration (the default without a `[dhcpv4]` section).
pub fn expression_operations(section: Option<&Spanned<Dhcpv4Section>>) -> u64 {
    section.map_or_else(default_expression_operations, |d| {
        d.get_ref().expression_operations
    })
}

/// Validates `[dhcpv4]`; errors go to the builder.
pub(crate) fn build(
    b: &mut Builder<'_>,
    section: Option<&Spanned<Dhcpv4Section>>,
) -> Option<Dhcpv4Settings> {
    let d4s = section?;
    let d4 = d4s.get_ref();
    let mut listen = Vec::new();
    for l in &d4.listen {
        match l.get_ref().parse::<SocketAddr>() {
            Ok(a @ SocketAddr::V4(_)) => listen.push(a),
            _ => b.err(
                l.span().start,
                format!(
                    "listen address {:?} is not an IPv4 socket address",
                    l.get_ref()
                ),
                "write \"address:port\", e.g. \"127.0.0.1:6767\"",
            ),
        }
    }
    if listen.is_empty() {
        b.err(
            d4s.span().start,
            "[dhcpv4] has no listen address",
            "add listen = [\"127.0.0.1:6767\"]",
        );
    }
    let server_id = d4.server_id.as_ref().and_then(|s| b.ip4(s, "server_id"));
    let wildcard = listen.iter().any(|a| a.ip().is_unspecified());
    if wildcard && server_id.is_none() {
        b.err(
            d4s.span().start,
            "[dhcpv4] listens on a wildcard address but has no server_id",
            "set server_id to the address clients and relays reach this server at",
        );
    }
    if d4.offer_hold == 0 || d4.default_lease_time == 0 || d4.max_lease_time < d4.default_lease_time
    {
        b.err(
            d4s.span().start,
            "[dhcpv4] lease times must be positive and max_lease_time >= default_lease_time",
            "adjust offer_hold, default_lease_time, max_lease_time",
        );
    }
    if d4.max_message_size < 576 {
        b.err(
            d4s.span().start,
            "max_message_size is below 576 (RFC 2131 minimum)",
            "use at least 576",
        );
    }
    let trusted_relays = b.networks4(&d4.trusted_relays, "trusted relay");
    let leasequery_requesters = b.networks4(&d4.leasequery_requesters, "leasequery requester");
    let mut bulk_listen = Vec::new();
    for l in &d4.bulk_leasequery_listen {
        match l.get_ref().parse::<SocketAddr>() {
            Ok(a @ SocketAddr::V4(_)) => bulk_listen.push(a),
            _ => b.err(
                l.span().start,
                format!(
                    "bulk leasequery listen address {:?} is not an IPv4 socket address",
                    l.get_ref()
                ),
                "write \"address:port\", e.g. \"127.0.0.1:67\"",
            ),
        }
    }
    let bulk_leasequery = BulkLeasequerySettings {
        listen: bulk_listen,
        max_connections: d4.bulk_leasequery_max_connections.max(1),
        idle_timeout: d4.bulk_leasequery_idle_timeout.max(1),
        max_queries: d4.bulk_leasequery_max_queries.max(1),
    };
    Some(Dhcpv4Settings {
        bulk_leasequery,
        trusted_relays,
        leasequery_requesters,
        layer2_relay_agents: d4.layer2_relay_agents,
        subnet_selection: d4.subnet_selection,
        declines_per_minute: d4.declines_per_minute.max(1),
        max_offers_per_circuit: d4.max_offers_per_circuit.max(1),
        listen,
        interface: d4.interface.clone(),
        server_id,
        relay_port: d4.relay_port,
        client_port: d4.client_port,
        offer_hold: d4.offer_hold,
        decline_hold: d4.decline_hold,
        default_lease_time: d4.default_lease_time,
        max_lease_time: d4.max_lease_time,
        max_message_size: d4.max_message_size,
        bootp: d4.bootp,
        authoritative: d4.authoritative,
        receive_buffer: d4.receive_buffer,
        workers: d4.workers.map(|w| w.clamp(1, 64)),
    })
}

/// What a reload cannot change (the sockets are bound at start): a message
/// when `old` and `new` differ in it.
pub fn restart_change(
    old: Option<&Dhcpv4Settings>,
    new: Option<&Dhcpv4Settings>,
) -> Option<String> {
    let listen = |s: Option<&Dhcpv4Settings>| {
        s.map(|d| {
            (
                d.listen.clone(),
                d.interface.clone(),
                d.bulk_leasequery.listen.clone(),
            )
        })
    };
    (listen(old) != listen(new))
        .then(|| "DHCPv4 listener addresses (UDP and bulk leasequery TCP) and interface cannot change by reload".to_string())
}

#[cfg(test)]
mod tests {

    use crate::snapshot::load_test_config as load;

    #[test]
    fn trusted_relays_are_ipv4_addresses_or_networks() {
        let d4 = load(
            "[dhcpv4]\nlisten = [\"127.0.0.1:67\"]\ntrusted_relays = [\"10.0.0.1\", \"10.1.0.0/16\"]\n",
        )
        .unwrap()
        .dhcpv4
        .unwrap();
        assert_eq!(
            d4.trusted_relays,
            [
                "10.0.0.1/32".parse::<ipnet::Ipv4Net>().unwrap(),
                "10.1.0.0/16".parse().unwrap()
            ]
        );
        assert_eq!(d4.max_offers_per_circuit, 4096);
        let e = load(
            "[dhcpv4]\nlisten = [\"127.0.0.1:67\"]\ntrusted_relays = [\"cmts\", \"2001:db8::1\"]\n",
        )
        .unwrap_err();
        assert!(
            e.contains("t.toml:5: trusted relay \"cmts\" is not an IPv4 address or network"),
            "{e}"
        );
        assert!(e.contains("trusted relay \"2001:db8::1\""), "{e}");
    }

    #[test]
    fn leasequery_requesters_are_ipv4_addresses_or_networks() {
        let d4 = load("[dhcpv4]\nlisten = [\"127.0.0.1:67\"]\n")
            .unwrap()
            .dhcpv4
            .unwrap();
        assert!(d4.leasequery_requesters.is_empty(), "refused by default");
        let d4 = load(
            "[dhcpv4]\nlisten = [\"127.0.0.1:67\"]\nleasequery_requesters = [\"10.0.0.1\", \"192.0.2.0/24\"]\n",
        )
        .unwrap()
        .dhcpv4
        .unwrap();
        assert_eq!(
            d4.leasequery_requesters,
            [
                "10.0.0.1/32".parse::<ipnet::Ipv4Net>().unwrap(),
                "192.0.2.0/24".parse().unwrap()
            ]
        );
        let e =
            load("[dhcpv4]\nlisten = [\"127.0.0.1:67\"]\nleasequery_requesters = [\"cmts-1\"]\n")
                .unwrap_err();
        assert!(
            e.contains(
                "t.toml:5: leasequery requester \"cmts-1\" is not an IPv4 address or network"
            ),
            "{e}"
        );
    }

    #[test]
    fn bulk_leasequery_listener_defaults_to_none_with_rfc_6926_limits() {
        let d4 = load("[dhcpv4]\nlisten = [\"127.0.0.1:67\"]\n")
            .unwrap()
            .dhcpv4
            .unwrap();
        assert!(d4.bulk_leasequery.listen.is_empty());
        assert_eq!(
            (
                d4.bulk_leasequery.max_connections,
                d4.bulk_leasequery.idle_timeout
            ),
            (10, 300)
        );
        let d4 = load(
            "[dhcpv4]\nlisten = [\"127.0.0.1:67\"]\nbulk_leasequery_listen = [\"127.0.0.1:6767\"]\nbulk_leasequery_max_queries = 4\n",
        )
        .unwrap()
        .dhcpv4
        .unwrap();
        assert_eq!(
            d4.bulk_leasequery.listen,
            ["127.0.0.1:6767".parse::<std::net::SocketAddr>().unwrap()]
        );
        assert_eq!(d4.bulk_leasequery.max_queries, 4);
        let e = load(
            "[dhcpv4]\nlisten = [\"127.0.0.1:67\"]\nbulk_leasequery_listen = [\"[::1]:67\"]\n",
        )
        .unwrap_err();
        assert!(e.contains("bulk leasequery listen address"), "{e}");
    }
}
