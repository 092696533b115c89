//! The DHCPv4 socket (broadcast allowed, optionally bound to an interface)
//! and [`Dhcpv4`] as a [`Service`] of the shared UDP loop ([`crate::udp`]),
//! which sends ACKs once the group committer made the lease durable.

use std::net::{SocketAddr, SocketAddrV4, UdpSocket as StdUdpSocket};

use headend_model::trace::Trace;

use super::process::{Dhcpv4, Inbound, Outcome};
use crate::counters::{Counters, Family};
use crate::udp::{self, ListenError, Service};

/// Opens a DHCPv4 socket: broadcast allowed, large receive buffer,
/// optionally bound to an interface (SO_BINDTODEVICE).
pub fn open(
    addr: SocketAddrV4,
    interface: Option<&str>,
    rcvbuf: usize,
) -> Result<StdUdpSocket, ListenError> {
    let s = udp::bind(SocketAddr::V4(addr), rcvbuf, |s| {
        s.set_broadcast(true)?;
        interface.map_or(Ok(()), |ifname| s.bind_device(Some(ifname.as_bytes())))
    })?;
    Ok(s.into())
}

/// Each task serves the listener the socket is bound to (the `local` of
/// [`Inbound`]); RELEASE and DECLINE commit without a reply.
impl Service for Dhcpv4 {
    type Addr = SocketAddrV4;
    type Task = SocketAddrV4;
    const FAMILY: Family = Family::Dhcpv4;
    const COMMITS: &'static str = "lease";

    fn bus(&self) -> Option<&crate::bus::Bus> {
        self.timeline().map(|t| &**t.bus())
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn datagram(&self, data: &[u8], source: SocketAddr, local: &mut SocketAddrV4) -> Outcome {
        let SocketAddr::V4(source) = source else {
            return Outcome::Silent("not_ipv4");
        };
        let inb = Inbound {
            data,
            source,
            local: *local,
        };
        self.handle(&inb, &mut Trace::disabled())
    }

    fn rollback(&self, commit: &[headend_store::Mutation]) {
        Dhcpv4::rollback(self, commit);
    }

    fn committed(&self, batch: &[headend_store::Mutation]) {
        if let Some(l) = self.ddns.get() {
            l.committed(batch);
        }
    }
}
