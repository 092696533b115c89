//! The DHCPv6 socket and [`Dhcpv6`] as a [`Service`] of the shared UDP
//! loop ([`crate::udp`]), which sends replies that commit bindings once the
//! group committer made them durable.
//!
//! Directly attached clients (RFC 8415 §7.1, §13.1): the socket joins
//! All_DHCP_Relay_Agents_and_Servers (ff02::1:2) on each configured
//! interface; such a client sends from its link-local address, whose scope
//! id is the receiving interface, and that interface's global addresses
//! (from `/proc/net/if_inet6`) are the candidate link addresses a pool's
//! `links` can name, as a relay's link-address would be.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket as StdUdpSocket};
use std::time::{Duration, Instant};

use headend_model::trace::Trace;

use super::process::{Dhcpv6, Outcome6};
use crate::counters::{Counters, Family};
use crate::udp::{self, ListenError, Service};

/// All_DHCP_Relay_Agents_and_Servers (RFC 8415 §7.1).
pub const ALL_DHCP_RELAY_AGENTS_AND_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);

/// How long interface addresses are trusted before `/proc` is read again.
const IFACE_CACHE_TTL: Duration = Duration::from_secs(5);

/// The index of a network interface, from sysfs.
pub fn interface_index(name: &str) -> std::io::Result<u32> {
    if name.is_empty() || name.contains('/') || name.contains("..") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?}"),
        ));
    }
    let text = std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))?;
    text.trim()
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Global-scope addresses of interface `ifindex`, parsed from the text of
/// `/proc/net/if_inet6` (`address ifindex plen scope flags name`, hex).
pub fn global_addresses(if_inet6: &str, ifindex: u32) -> Vec<Ipv6Addr> {
    if_inet6
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let addr = u128::from_str_radix(f.next()?, 16).ok()?;
            let idx = u32::from_str_radix(f.next()?, 16).ok()?;
            let _plen = f.next()?;
            let scope = u8::from_str_radix(f.next()?, 16).ok()?;
            (idx == ifindex && scope == 0).then_some(Ipv6Addr::from(addr))
        })
        .collect()
}

/// Per-task cache of the global addresses of interfaces, by index.
#[derive(Debug, Default, Clone)]
pub struct LinkCache {
    read_at: Option<Instant>,
    by_index: HashMap<u32, Vec<Ipv6Addr>>,
    text: String,
}

impl LinkCache {
    fn addresses(&mut self, ifindex: u32) -> &[Ipv6Addr] {
        let stale = self.read_at.is_none_or(|t| t.elapsed() > IFACE_CACHE_TTL);
        if stale {
            self.text = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
            self.by_index.clear();
            self.read_at = Some(Instant::now());
        }
        let text = &self.text;
        self.by_index
            .entry(ifindex)
            .or_insert_with(|| global_addresses(text, ifindex))
    }
}

/// Opens a DHCPv6 socket (IPv6 only, large buffers), joined to ff02::1:2
/// on each of `interfaces`.
pub fn open(
    addr: SocketAddrV6,
    rcvbuf: usize,
    interfaces: &[String],
) -> Result<StdUdpSocket, ListenError> {
    let s = udp::bind(SocketAddr::V6(addr), rcvbuf, |s| s.set_only_v6(true))?;
    for name in interfaces {
        interface_index(name)
            .and_then(|idx| s.join_multicast_v6(&ALL_DHCP_RELAY_AGENTS_AND_SERVERS, idx))
            .map_err(|source| ListenError::Bind {
                addr: SocketAddr::V6(addr),
                source,
            })?;
    }
    Ok(s.into())
}

/// Each task keeps its own cache of interface addresses.
impl Service for Dhcpv6 {
    type Addr = SocketAddrV6;
    type Task = LinkCache;
    const FAMILY: Family = Family::Dhcpv6;
    const COMMITS: &'static str = "binding";

    fn bus(&self) -> Option<&crate::bus::Bus> {
        self.timeline().map(|t| &**t.bus())
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn datagram(&self, data: &[u8], source: SocketAddr, links: &mut LinkCache) -> Outcome6 {
        let SocketAddr::V6(source) = source else {
            return Outcome6::Silent("not_ipv6");
        };
        // A link-local source is a directly attached client
        // (or a relay on the same link, whose link-address wins).
        let local: &[Ipv6Addr] = if source.scope_id() != 0 {
            links.addresses(source.scope_id())
        } else {
            &[]
        };
        self.handle_on(data, source, local, &mut Trace::disabled())
    }

    fn rollback(&self, commit: &[headend_store::Mutation]) {
        Dhcpv6::rollback(self, commit);
    }

    fn committed(&self, batch: &[headend_store::Mutation]) {
        self.ddns_committed(batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_addresses_of_an_interface_from_if_inet6() {
        let text = "\
00000000000000000000000000000001 01 80 10 80       lo
20010db8000100000000000000000001 05 40 00 80      vs0
fe80000000000000c8d0a1fffe0b0c0d 05 40 20 80      vs0
20010db8000200000000000000000001 06 40 00 80      vs1
junk line
";
        assert_eq!(
            global_addresses(text, 5),
            vec!["2001:db8:1::1".parse::<Ipv6Addr>().unwrap()]
        );
        assert_eq!(global_addresses(text, 1), Vec::<Ipv6Addr>::new());
        assert_eq!(global_addresses(text, 9), Vec::<Ipv6Addr>::new());
    }

    #[test]
    fn interface_names_that_are_paths_are_refused() {
        assert!(interface_index("../x").is_err());
        assert!(interface_index("").is_err());
    }
}
