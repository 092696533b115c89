//! The socket shell around [`Sim`]: one thread, `poll(2)` on every socket
//! with the simulator's next deadline as timeout, `recvmmsg(2)` and
//! `sendmmsg(2)` in batches (one system call per batch, not per datagram),
//! and `IP_PKTINFO`/`IPV6_PKTINFO` so that one socket per service serves
//! every device: a datagram leaves from the device's leased address and
//! an incoming one finds its device by its destination address.
//!
//! Sockets: one DHCPv4 relay socket per virtual CMTS, bound to its giaddr;
//! one DHCPv6 relay socket; and, for the full flows, per address family a
//! TFTP socket, a ToD/syslog socket and the SNMP socket on the eUE agent
//! port. For the full flows the leased addresses must be local: run the
//! simulator in a network namespace with `ip route add local <pool> dev lo`
//! (the bench scripts and the smoke test do that).
//!
//! nix provides the only safe wrappers of the batched calls and of
//! per-datagram packet info; the workspace forbids `unsafe`.

use std::io::{IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    recvmmsg, sendmmsg, sendmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned,
    MsgFlags, MultiHeaders, SockaddrStorage,
};

use crate::outbox::{Chan, Service};
use crate::run::Sim;

/// Datagrams per system call.
const BATCH: usize = 64;
/// Largest datagram accepted.
const MTU: usize = 9216;

/// Errors setting the shell up.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A socket could not be opened or bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// A socket option failed.
    #[error("socket option on {addr}: {source}")]
    Option {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: Errno,
    },
    /// poll(2) failed.
    #[error("poll: {0}")]
    Poll(Errno),
}

/// Which simulator input a socket feeds.
#[derive(Debug, Clone, Copy)]
enum Role {
    Relay4,
    Relay6,
    Host(Service),
}

struct Sock {
    sock: UdpSocket,
    role: Role,
    v6: bool,
    /// The socket's drop counter as last reported (SO_RXQ_OVFL).
    drops: u32,
}

/// Where the shell binds.
#[derive(Debug, Clone)]
pub struct Bind {
    /// Port of the DHCPv4 relay sockets (0: ephemeral, with RFC 8357).
    pub relay_port: u16,
    /// Address of the DHCPv6 relay socket.
    pub relay6: SocketAddr,
    /// Open the device sockets (full flows).
    pub host: bool,
    /// Open IPv6 device sockets too.
    pub host6: bool,
    /// Socket buffer size asked for.
    pub buffer: usize,
}

/// The shell.
pub struct Net {
    socks: Vec<Sock>,
    relay4: Vec<usize>,
    relay6: Option<usize>,
    host4: [Option<usize>; 4],
    host6: [Option<usize>; 4],
    bufs: Vec<Vec<u8>>,
    meta: Vec<(usize, Option<SocketAddr>, Option<IpAddr>)>,
}

fn svc_index(s: Service) -> usize {
    match s {
        Service::Tftp => 0,
        Service::Tod => 1,
        Service::Snmp => 2,
        Service::Syslog => 3,
    }
}

fn open(addr: SocketAddr, buffer: usize, freebind: bool) -> Result<UdpSocket, NetError> {
    let err = |source| NetError::Bind { addr, source };
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .map_err(err)?;
    if addr.is_ipv6() {
        s.set_only_v6(true).map_err(err)?;
    }
    if freebind {
        // Devices send from their leased addresses, which a namespace makes
        // local with a `local` route (AnyIP); IPv6 also wants freebind for
        // an IPV6_PKTINFO source that is not configured on an interface.
        if addr.is_ipv6() {
            s.set_freebind_v6(true).map_err(err)?;
        } else {
            s.set_freebind_v4(true).map_err(err)?;
        }
    }
    let _ = s.set_recv_buffer_size(buffer);
    let _ = s.set_send_buffer_size(buffer);
    // Past net.core.rmem_max when privileged: a load generator must not be
    // the one dropping a storm's replies.
    let _ = setsockopt(&s, sockopt::RcvBufForce, &buffer);
    let _ = setsockopt(&s, sockopt::SndBufForce, &buffer);
    // Datagrams the kernel dropped at this socket, reported with each one
    // received (SO_RXQ_OVFL), so the report can say when it was us.
    let _ = setsockopt(&s, sockopt::RxqOvfl, &1);
    s.bind(&addr.into()).map_err(err)?;
    s.set_nonblocking(true).map_err(err)?;
    Ok(s.into())
}

impl Net {
    /// Opens the sockets the plan needs.
    pub fn open(sim: &Sim, bind: &Bind) -> Result<Net, NetError> {
        let mut socks = Vec::new();
        let mut relay4 = Vec::new();
        for giaddr in &sim.plan().relays4 {
            let addr = SocketAddr::new(IpAddr::V4(*giaddr), bind.relay_port);
            socks.push(Sock {
                sock: open(addr, bind.buffer, false)?,
                role: Role::Relay4,
                v6: false,
                drops: 0,
            });
            relay4.push(socks.len() - 1);
        }
        socks.push(Sock {
            sock: open(bind.relay6, bind.buffer, false)?,
            role: Role::Relay6,
            v6: true,
            drops: 0,
        });
        let relay6 = Some(socks.len() - 1);
        let mut host4 = [None; 4];
        let mut host6 = [None; 4];
        if bind.host {
            let ports = sim.plan().ports;
            let families: &[bool] = if bind.host6 { &[false, true] } else { &[false] };
            for &v6 in families {
                let any = if v6 {
                    IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                } else {
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                };
                for (svc, port) in [
                    (Service::Tftp, 0),
                    (Service::Tod, 0),
                    (Service::Snmp, ports.agent),
                ] {
                    let addr = SocketAddr::new(any, port);
                    let sock = open(addr, bind.buffer, true)?;
                    let opt = |source| NetError::Option { addr, source };
                    if v6 {
                        setsockopt(&sock, sockopt::Ipv6RecvPacketInfo, &true).map_err(opt)?;
                    } else {
                        setsockopt(&sock, sockopt::Ipv4PacketInfo, &true).map_err(opt)?;
                    }
                    socks.push(Sock {
                        sock,
                        role: Role::Host(svc),
                        v6,
                        drops: 0,
                    });
                    let slot = if v6 { &mut host6 } else { &mut host4 };
                    slot[svc_index(svc)] = Some(socks.len() - 1);
                    if svc == Service::Tod {
                        // Syslog goes out of the ToD socket (nothing comes back).
                        slot[svc_index(Service::Syslog)] = Some(socks.len() - 1);
                    }
                }
            }
        }
        Ok(Net {
            socks,
            relay4,
            relay6,
            host4,
            host6,
            bufs: (0..BATCH).map(|_| vec![0u8; MTU]).collect(),
            meta: Vec::with_capacity(BATCH),
        })
    }

    /// Datagrams the kernel dropped at the simulator's own sockets.
    pub fn local_drops(&self) -> u64 {
        self.socks.iter().map(|s| u64::from(s.drops)).sum()
    }

    /// Runs the storm until every device finished, or `until` (with
    /// renewals, the run lasts until `until`). `progress` is called about
    /// once a second.
    pub fn run(
        &mut self,
        sim: &mut Sim,
        until: Instant,
        hold: bool,
        mut progress: impl FnMut(&Sim, Instant),
    ) -> Result<Instant, NetError> {
        let mut last_progress = Instant::now();
        loop {
            let now = Instant::now();
            sim.handle_timeout(now);
            self.flush(sim);
            if now >= until || (!hold && sim.done()) {
                return Ok(now);
            }
            if now.duration_since(last_progress) >= Duration::from_secs(1) {
                progress(sim, now);
                last_progress = now;
            }
            let wait = sim
                .poll_timeout()
                .map(|t| t.saturating_duration_since(now))
                .unwrap_or(Duration::from_millis(100))
                .min(Duration::from_millis(100))
                .min(until.saturating_duration_since(now));
            let ready: Vec<bool> = {
                let mut fds: Vec<PollFd<'_>> = self
                    .socks
                    .iter()
                    .map(|s| PollFd::new(s.sock.as_fd(), PollFlags::POLLIN))
                    .collect();
                // Round up: a sub-millisecond wait must not become a busy
                // spin (starts and timers then run in 1 ms batches).
                let ms = u16::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(100);
                match poll(&mut fds, PollTimeout::from(ms)) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => return Err(NetError::Poll(e)),
                }
                fds.iter()
                    .map(|f| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
                    .collect()
            };
            for (k, r) in ready.iter().enumerate() {
                if *r {
                    // Drain a bounded number of batches, then let timers run.
                    for _ in 0..8 {
                        let n = self.receive(k, sim);
                        self.flush(sim);
                        if n < BATCH {
                            break;
                        }
                    }
                }
            }
        }
    }

    /// One `recvmmsg` on socket `k`, fed to the simulator.
    fn receive(&mut self, k: usize, sim: &mut Sim) -> usize {
        let Some(s) = self.socks.get(k) else { return 0 };
        let fd = s.sock.as_raw_fd();
        let (role, v6) = (s.role, s.v6);
        let cmsg = if v6 {
            nix::cmsg_space!(nix::libc::in6_pktinfo, u32)
        } else {
            nix::cmsg_space!(nix::libc::in_pktinfo, u32)
        };
        let mut drops = 0u32;
        let mut hdrs = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, Some(cmsg));
        self.meta.clear();
        {
            let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
                self.bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
            let Ok(res) = recvmmsg(fd, &mut hdrs, iovs.iter_mut(), MsgFlags::MSG_DONTWAIT, None)
            else {
                return 0;
            };
            for r in res {
                let from = r.address.as_ref().and_then(to_socket_addr);
                let mut to = None;
                if let Ok(cm) = r.cmsgs() {
                    for c in cm {
                        match c {
                            ControlMessageOwned::Ipv4PacketInfo(pi) => {
                                to = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                                    pi.ipi_addr.s_addr,
                                ))));
                            }
                            ControlMessageOwned::Ipv6PacketInfo(pi) => {
                                to = Some(IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr)));
                            }
                            ControlMessageOwned::RxqOvfl(n) => drops = drops.max(n),
                            _ => {}
                        }
                    }
                }
                self.meta.push((r.bytes, from, to));
            }
        }
        if let Some(s) = self.socks.get_mut(k) {
            s.drops = s.drops.max(drops);
        }
        let now = Instant::now();
        let n = self.meta.len();
        for (i, (len, from, to)) in self.meta.iter().enumerate() {
            let Some(data) = self.bufs.get(i).and_then(|b| b.get(..*len)) else {
                continue;
            };
            match role {
                Role::Relay4 => sim.handle_relay4(now, data),
                Role::Relay6 => sim.handle_relay6(now, data),
                Role::Host(svc) => match (from, to) {
                    (Some(f), Some(t)) => sim.handle_host(now, svc, *f, *t, data),
                    _ => sim.stats_mut().unmatched += 1,
                },
            }
        }
        n
    }

    /// Sends everything queued: relay datagrams in `sendmmsg` batches per
    /// socket, device datagrams one `sendmsg` each with their source.
    fn flush(&mut self, sim: &mut Sim) {
        if sim.outbox().is_empty() {
            return;
        }
        let mut sent = 0u64;
        let mut errors = 0u64;
        {
            let out = sim.outbox();
            let items = out.items();
            let mut i = 0;
            while i < items.len() {
                let tx = &items[i];
                let k = match tx.chan {
                    Chan::Relay4(n) => self
                        .relay4
                        .get(usize::from(n))
                        .or(self.relay4.first())
                        .copied(),
                    Chan::Relay6(_) => self.relay6,
                    Chan::Host(svc) => {
                        if tx.dst.is_ipv6() {
                            self.host6[svc_index(svc)]
                        } else {
                            self.host4[svc_index(svc)]
                        }
                    }
                };
                let Some(sock) = k.and_then(|k| self.socks.get(k)) else {
                    errors += 1;
                    i += 1;
                    continue;
                };
                if let Chan::Host(_) = tx.chan {
                    if send_one(&sock.sock, tx.src, tx.dst, out.payload(tx)) {
                        sent += 1;
                    } else {
                        errors += 1;
                    }
                    i += 1;
                    continue;
                }
                // A run of datagrams for the same relay socket: one batch.
                let mut j = i + 1;
                while j < items.len() && j - i < BATCH && items[j].chan == tx.chan {
                    j += 1;
                }
                let (ok, err) = send_batch(&sock.sock, &items[i..j], out.bytes());
                sent += ok;
                errors += err;
                i = j;
            }
            out.clear();
        }
        let st = sim.stats_mut();
        st.sent += sent;
        st.send_errors += errors;
    }
}

fn to_socket_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::new(IpAddr::V4(v4.ip()), v4.port()));
    }
    a.as_sockaddr_in6()
        .map(|v6| SocketAddr::new(IpAddr::V6(v6.ip()), v6.port()))
}

/// Waits until the socket can take more (a full send buffer), briefly.
fn wait_writable(sock: &UdpSocket) {
    let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLOUT)];
    let _ = poll(&mut fds, PollTimeout::from(50u16));
}

fn send_batch(sock: &UdpSocket, items: &[crate::outbox::Tx], bytes: &[u8]) -> (u64, u64) {
    let mut done = 0usize;
    let mut stalls = 0;
    while done < items.len() {
        let rest = &items[done..];
        let slices: Vec<[IoSlice<'_>; 1]> = rest
            .iter()
            .map(|t| [IoSlice::new(bytes.get(t.range.clone()).unwrap_or(&[]))])
            .collect();
        let addrs: Vec<Option<SockaddrStorage>> = rest
            .iter()
            .map(|t| Some(SockaddrStorage::from(t.dst)))
            .collect();
        let mut hdrs = MultiHeaders::<SockaddrStorage>::preallocate(rest.len(), None);
        let cmsgs: [ControlMessage<'_>; 0] = [];
        match sendmmsg(
            sock.as_raw_fd(),
            &mut hdrs,
            &slices,
            &addrs,
            cmsgs,
            MsgFlags::empty(),
        ) {
            Ok(r) => {
                let n = r.count();
                if n == 0 {
                    stalls += 1;
                } else {
                    done += n;
                    stalls = 0;
                }
            }
            Err(Errno::EAGAIN) | Err(Errno::ENOBUFS) => stalls += 1,
            Err(Errno::EINTR) => {}
            Err(_) => return (done as u64, (items.len() - done) as u64),
        }
        if stalls > 0 {
            if stalls > 100 {
                return (done as u64, (items.len() - done) as u64);
            }
            wait_writable(sock);
        }
    }
    (done as u64, 0)
}

fn send_one(sock: &UdpSocket, src: Option<IpAddr>, dst: SocketAddr, payload: &[u8]) -> bool {
    let iov = [IoSlice::new(payload)];
    let addr = SockaddrStorage::from(dst);
    for _ in 0..100 {
        let r = match src {
            Some(IpAddr::V4(a)) => {
                let pi = nix::libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: nix::libc::in_addr {
                        s_addr: u32::from(a).to_be(),
                    },
                    ipi_addr: nix::libc::in_addr { s_addr: 0 },
                };
                sendmsg(
                    sock.as_raw_fd(),
                    &iov,
                    &[ControlMessage::Ipv4PacketInfo(&pi)],
                    MsgFlags::empty(),
                    Some(&addr),
                )
            }
            Some(IpAddr::V6(a)) => {
                let pi = nix::libc::in6_pktinfo {
                    ipi6_addr: nix::libc::in6_addr {
                        s6_addr: a.octets(),
                    },
                    ipi6_ifindex: 0,
                };
                sendmsg(
                    sock.as_raw_fd(),
                    &iov,
                    &[ControlMessage::Ipv6PacketInfo(&pi)],
                    MsgFlags::empty(),
                    Some(&addr),
                )
            }
            None => sendmsg::<SockaddrStorage>(
                sock.as_raw_fd(),
                &iov,
                &[],
                MsgFlags::empty(),
                Some(&addr),
            ),
        };
        match r {
            Ok(_) => return true,
            Err(Errno::EAGAIN) | Err(Errno::ENOBUFS) => wait_writable(sock),
            Err(Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
    false
}
