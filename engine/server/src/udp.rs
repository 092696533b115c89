//! The UDP side of the DHCP servers (DHCPv4 and DHCPv6): listeners
//! ([`bind`]) and the serve loop ([`serve`]), tokio tasks around a
//! [`Service`], which turns one datagram into an [`Outcome`].
//!
//! Several tasks receive on one socket; each waits for readiness and then
//! drains the socket without awaiting per datagram (one wake-up per burst,
//! not per packet: per-datagram wake-ups cost more than the DHCP processing
//! itself at boot-storm rates). Replies that do not depend on a commit are
//! sent at once; replies that commit a lease or binding (DHCPACK, REPLY)
//! are handed to the group committer with a callback that sends them from
//! the committer thread once the commit is durable, so a client never holds
//! an address the server could forget in a crash. Sends go through a plain
//! clone of the (non-blocking) socket.

use std::fmt::Display;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::time::Instant;

use headend_store::{GroupCommitter, Mutation};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::counters::{Counters, Event, Family};

/// Datagrams served per readiness event before yielding to other tasks.
const DRAIN_MAX: usize = 256;

/// Errors opening a listener.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The socket could not be created, configured or bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// A non-blocking UDP socket bound to `addr` with `buffer` bytes of
/// buffer, IPv6-only when `addr` is IPv6 (the v4 and v6 listeners of one
/// port are separate sockets): the SNMP and ToD listeners.
pub fn bind_family(addr: SocketAddr, buffer: usize) -> Result<StdUdpSocket, ListenError> {
    let s = bind(addr, buffer, |so| {
        if addr.is_ipv6() {
            so.set_only_v6(true)?;
        }
        Ok(())
    })?;
    Ok(StdUdpSocket::from(s))
}

/// A non-blocking UDP socket bound to `addr`, with `buffer` bytes of
/// receive and send buffer, set up by `setup` before it binds.
pub fn bind(
    addr: SocketAddr,
    buffer: usize,
    setup: impl FnOnce(&Socket) -> std::io::Result<()>,
) -> Result<Socket, ListenError> {
    let err = |source| ListenError::Bind { addr, source };
    let s =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
    s.set_reuse_address(true).map_err(err)?;
    // Best effort: the kernel caps them at net.core.rmem_max / wmem_max. A
    // large send buffer absorbs the burst of replies one group commit releases.
    let _ = s.set_recv_buffer_size(buffer);
    let _ = s.set_send_buffer_size(buffer);
    setup(&s).map_err(err)?;
    s.set_nonblocking(true).map_err(err)?;
    s.bind(&addr.into()).map_err(err)?;
    Ok(s)
}

/// What the loop must do with a datagram.
#[derive(Debug)]
pub enum Outcome<A> {
    /// Malformed or not acceptable: dropped and counted under this reason.
    Drop(&'static str),
    /// Valid, deliberately not answered.
    Silent(&'static str),
    /// Send `packet` to `to`. When `durable`, only after `commit` is durable;
    /// otherwise at once, with `commit` persisted in the background.
    Reply {
        /// Encoded reply (wrapped in relay layers when relayed).
        packet: Vec<u8>,
        /// Destination: the relay (or client) the datagram came from.
        to: A,
        /// Store changes behind the reply.
        commit: Vec<Mutation>,
        /// Whether the reply must wait for the commit.
        durable: bool,
    },
    /// No reply; persist these changes in the background (DHCPv4 RELEASE, DECLINE).
    Commit(Vec<Mutation>),
}

/// A protocol served by [`serve`].
pub trait Service: Send + Sync + 'static {
    /// Peer address (`SocketAddrV4`, `SocketAddrV6`).
    type Addr: Copy + Display + Into<SocketAddr> + Send + 'static;
    /// Per-task state; each task starts from a clone of the one given to [`serve`].
    type Task: Clone + Send + 'static;
    /// The family its drops and failed commits and sends are counted in.
    const FAMILY: Family;
    /// What a commit makes durable, for log lines (`lease`, `binding`).
    const COMMITS: &'static str;
    /// The counter set.
    fn counters(&self) -> &Counters;
    /// Processes one datagram from `source` (of the other address family:
    /// silent).
    fn datagram(
        &self,
        data: &[u8],
        source: SocketAddr,
        task: &mut Self::Task,
    ) -> Outcome<Self::Addr>;
    /// Undoes in memory what `commit` bound, after it failed to reach the
    /// store (a full disk): the addresses go back to their durable state,
    /// so nothing never acknowledged keeps an address or shows to TFTP.
    fn rollback(&self, commit: &[Mutation]) {
        let _ = commit;
    }
    /// Where durable lease changes are published (`lease.granted`, …).
    fn bus(&self) -> Option<&crate::bus::Bus> {
        None
    }

    /// A batch is committed (durable, or handed to the committer when the
    /// outcome needs no durability): what follows from it, e.g. its
    /// dynamic DNS jobs. Never blocks.
    fn committed(&self, batch: &[Mutation]) {
        let _ = batch;
    }
}

/// Publishes the lease changes of a commit that reached the store (or, for
/// a RELEASE or DECLINE, was queued): `lease.granted`, `lease.released`,
/// `lease.declined`, with the address and where it came from.
fn publish_leases(bus: Option<&crate::bus::Bus>, commit: &[Mutation]) {
    let Some(bus) = bus.filter(|b| b.wanted()) else {
        return;
    };
    let kind = |s: headend_store::LeaseState| match s {
        headend_store::LeaseState::Active => "lease.granted",
        headend_store::LeaseState::Released => "lease.released",
        headend_store::LeaseState::Declined => "lease.declined",
    };
    for m in commit {
        match m {
            Mutation::PutLease4(l) => bus.lease4(kind(l.state), l),
            Mutation::PutLease6(l) => bus.lease6(kind(l.state), l),
            _ => {}
        }
    }
}

/// Serves one socket with `tasks` receiving tasks until `stop` turns true.
pub async fn serve<S: Service>(
    svc: Arc<S>,
    committer: Arc<GroupCommitter>,
    socket: StdUdpSocket,
    task: S::Task,
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
        let mut task = task.clone();
        handles.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            loop {
                // Wait for readiness once, then drain everything queued: under
                // load one wake-up serves many datagrams, which matters more
                // than anything else at tens of thousands of packets a second.
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
                    let data = buf.get(..n).unwrap_or(&[]);
                    let read_at = Instant::now();
                    let outcome = svc.datagram(data, from, &mut task);
                    act(&svc, &committer, &sender, outcome, read_at);
                }
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    Ok(())
}

fn act<S: Service>(
    svc: &Arc<S>,
    committer: &GroupCommitter,
    sender: &Arc<StdUdpSocket>,
    outcome: Outcome<S::Addr>,
    read_at: Instant,
) {
    match outcome {
        Outcome::Drop(reason) => svc.counters().drop_in(S::FAMILY, reason),
        Outcome::Silent(reason) => svc.counters().silent_in(S::FAMILY, reason),
        Outcome::Commit(m) => {
            publish_leases(svc.bus(), &m);
            svc.committed(&m);
            committer.submit_nowait(m)
        }
        Outcome::Reply {
            packet,
            to,
            commit,
            durable,
        } => {
            if !durable {
                if !commit.is_empty() {
                    publish_leases(svc.bus(), &commit);
                    svc.committed(&commit);
                    committer.submit_nowait(commit);
                }
                return send(&**svc, sender, &packet, to, read_at);
            }
            let sender = sender.clone();
            let svc = svc.clone();
            committer.submit(
                commit,
                // A failed batch comes back with its outcome, for the rollback.
                Box::new(move |res, batch| match res {
                    Ok(()) => {
                        send(&*svc, &sender, &packet, to, read_at);
                        publish_leases(svc.bus(), batch);
                        svc.committed(batch);
                    }
                    Err(e) => {
                        svc.counters().count_in(S::FAMILY, Event::CommitFailed);
                        warn!(%to, error = %e, "{} not committed: reply withheld", S::COMMITS);
                        svc.rollback(batch);
                    }
                }),
            );
        }
    }
}

/// Non-blocking send; a full socket buffer drops the reply (the client retransmits).
fn send<S: Service>(svc: &S, sender: &StdUdpSocket, packet: &[u8], to: S::Addr, read_at: Instant) {
    match sender.send_to(packet, to.into()) {
        Ok(_) => svc.counters().reply_latency(S::FAMILY, read_at.elapsed()),
        Err(e) => {
            svc.counters().count_in(S::FAMILY, Event::SendFailed);
            warn!(%to, error = %e, "send failed");
        }
    }
}
