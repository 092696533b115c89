//! The DHCPv6 UDP loop: a thin tokio task around [`Dhcpv6::handle_on`],
//! built like the DHCPv4 one (drain per wake-up; replies that commit
//! bindings are sent from the group committer once the bindings are
//! durable).
//!
//! Directly attached clients (RFC 8415 §7.1, §13.1): the socket joins
//! All_DHCP_Relay_Agents_and_Servers (ff02::1:2) on each configured
//! interface; such a client sends from its link-local address, whose scope
//! id is the receiving interface, and that interface's global addresses
//! (from `/proc/net/if_inet6`) are the candidate link addresses a pool's
//! `links` can name, as a relay's link-address would be.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use headend_model::trace::Trace;
use headend_store::GroupCommitter;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::{debug, warn};

use super::process::{Dhcpv6, Outcome6};
use crate::counters::{Counters, Event, Family};
use crate::dhcpv4::socket::ListenError;

/// Datagrams served per readiness event before yielding.
const DRAIN_MAX: usize = 256;

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

/// Per-task cache of interface addresses by index.
#[derive(Default)]
struct LinkCache {
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
    let err = |source| ListenError::Bind {
        addr: SocketAddr::V6(addr),
        source,
    };
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
    s.set_only_v6(true).map_err(err)?;
    s.set_reuse_address(true).map_err(err)?;
    let _ = s.set_recv_buffer_size(rcvbuf);
    let _ = s.set_send_buffer_size(rcvbuf);
    s.set_nonblocking(true).map_err(err)?;
    s.bind(&SocketAddr::V6(addr).into()).map_err(err)?;
    for name in interfaces {
        let idx = interface_index(name).map_err(err)?;
        s.join_multicast_v6(&ALL_DHCP_RELAY_AGENTS_AND_SERVERS, idx)
            .map_err(err)?;
    }
    Ok(s.into())
}

/// Serves one socket with `tasks` receiving tasks until `stop` turns true.
pub async fn serve(
    svc: Arc<Dhcpv6>,
    committer: Arc<GroupCommitter>,
    socket: StdUdpSocket,
    tasks: usize,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let sender = Arc::new(socket.try_clone()?);
    let socket = Arc::new(UdpSocket::from_std(socket)?);
    let mut handles = Vec::new();
    for _ in 0..tasks.max(1) {
        let svc = svc.clone();
        let committer = committer.clone();
        let socket = socket.clone();
        let sender = sender.clone();
        let mut stop = stop.clone();
        handles.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            let mut links = LinkCache::default();
            loop {
                tokio::select! {
                    r = socket.readable() => {
                        if let Err(e) = r {
                            debug!(error = %e, "readable");
                            continue;
                        }
                    }
                    _ = stop.changed() => break,
                }
                for _ in 0..DRAIN_MAX {
                    let (n, from) = match socket.try_recv_from(&mut buf) {
                        Ok(x) => x,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            debug!(error = %e, "recv_from");
                            break;
                        }
                    };
                    let SocketAddr::V6(source) = from else {
                        continue;
                    };
                    let data = buf.get(..n).unwrap_or(&[]);
                    // A link-local source is a directly attached client
                    // (or a relay on the same link, whose link-address wins).
                    let local: &[Ipv6Addr] = if source.scope_id() != 0 {
                        links.addresses(source.scope_id())
                    } else {
                        &[]
                    };
                    let outcome = svc.handle_on(data, source, local, &mut Trace::disabled());
                    act(&svc, &committer, &sender, outcome);
                }
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    Ok(())
}

fn act(svc: &Arc<Dhcpv6>, committer: &GroupCommitter, sender: &Arc<StdUdpSocket>, o: Outcome6) {
    match o {
        Outcome6::Drop(reason) => svc.counters.drop_in(Family::Dhcpv6, reason),
        Outcome6::Silent(_) => {}
        Outcome6::Reply {
            packet,
            to,
            commit,
            durable: false,
        } => {
            if !commit.is_empty() {
                committer.submit_nowait(commit);
            }
            send(&svc.counters, sender, &packet, to);
        }
        Outcome6::Reply {
            packet,
            to,
            commit,
            durable: true,
        } => {
            let sender = sender.clone();
            let counters = svc.counters.clone();
            committer.submit(
                commit,
                Box::new(move |res| match res {
                    Ok(()) => send(&counters, &sender, &packet, to),
                    Err(e) => {
                        counters.count_in(Family::Dhcpv6, Event::CommitFailed);
                        warn!(%to, error = %e, "binding not committed: reply withheld");
                    }
                }),
            );
        }
    }
}

fn send(c: &Counters, sender: &StdUdpSocket, packet: &[u8], to: SocketAddrV6) {
    if let Err(e) = sender.send_to(packet, to) {
        c.count_in(Family::Dhcpv6, Event::SendFailed);
        warn!(%to, error = %e, "send failed");
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
