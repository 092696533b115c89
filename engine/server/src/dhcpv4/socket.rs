//! The DHCPv4 UDP loop: a thin tokio task around [`Dhcpv4::handle`].
//!
//! Several tasks receive on one socket; each waits for readiness and then
//! drains the socket without awaiting per datagram (one wake-up per burst,
//! not per packet: per-datagram wake-ups cost more than the DHCP processing
//! itself at boot-storm rates). Replies that do not depend on a commit are
//! sent at once; ACKs are handed to the group committer with a callback
//! that sends them from the committer thread once the lease is durable.
//! Sends go through a plain clone of the (non-blocking) socket.

use std::net::{SocketAddr, SocketAddrV4, UdpSocket as StdUdpSocket};
use std::sync::Arc;

use headend_model::trace::Trace;
use headend_store::GroupCommitter;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::{debug, warn};

/// Datagrams served per readiness event before yielding to other tasks.
const DRAIN_MAX: usize = 256;

use super::process::{Dhcpv4, Inbound, Outcome};
use crate::counters::Event;

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

/// Opens a DHCPv4 socket: broadcast allowed, large receive buffer,
/// optionally bound to an interface (SO_BINDTODEVICE).
pub fn open(
    addr: SocketAddrV4,
    interface: Option<&str>,
    rcvbuf: usize,
) -> Result<StdUdpSocket, ListenError> {
    let err = |source| ListenError::Bind {
        addr: SocketAddr::V4(addr),
        source,
    };
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
    s.set_reuse_address(true).map_err(err)?;
    s.set_broadcast(true).map_err(err)?;
    // Best effort: the kernel caps them at net.core.rmem_max / wmem_max. A
    // large send buffer absorbs the burst of ACKs one group commit releases.
    let _ = s.set_recv_buffer_size(rcvbuf);
    let _ = s.set_send_buffer_size(rcvbuf);
    if let Some(ifname) = interface {
        s.bind_device(Some(ifname.as_bytes())).map_err(err)?;
    }
    s.set_nonblocking(true).map_err(err)?;
    s.bind(&SocketAddr::V4(addr).into()).map_err(err)?;
    Ok(s.into())
}

/// Serves one socket with `tasks` receiving tasks until `stop` turns true.
pub async fn serve(
    svc: Arc<Dhcpv4>,
    committer: Arc<GroupCommitter>,
    socket: StdUdpSocket,
    local: SocketAddrV4,
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
                    let SocketAddr::V4(source) = from else {
                        continue;
                    };
                    let data = buf.get(..n).unwrap_or(&[]);
                    let outcome = svc.handle(
                        &Inbound {
                            data,
                            source,
                            local,
                        },
                        &mut Trace::disabled(),
                    );
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

fn act(
    svc: &Arc<Dhcpv4>,
    committer: &GroupCommitter,
    sender: &Arc<StdUdpSocket>,
    outcome: Outcome,
) {
    match outcome {
        Outcome::Drop(reason) => svc.counters.drop_packet(reason),
        Outcome::Silent(_) => {}
        Outcome::Commit(m) => committer.submit_nowait(m),
        Outcome::Reply {
            packet,
            to,
            commit,
            durable: false,
        } => {
            if !commit.is_empty() {
                committer.submit_nowait(commit);
            }
            send(svc, sender, &packet, to);
        }
        Outcome::Reply {
            packet,
            to,
            commit,
            durable: true,
        } => {
            let sender = sender.clone();
            let svc2 = svc.clone();
            committer.submit(
                commit,
                Box::new(move |res| match res {
                    Ok(()) => send(&svc2, &sender, &packet, to),
                    Err(e) => {
                        svc2.counters.count(Event::CommitFailed);
                        warn!(%to, error = %e, "lease not committed: reply withheld");
                    }
                }),
            );
        }
    }
}

/// Non-blocking send; a full socket buffer drops the reply (the client retransmits).
fn send(svc: &Dhcpv4, sender: &StdUdpSocket, packet: &[u8], to: SocketAddrV4) {
    if let Err(e) = sender.send_to(packet, to) {
        svc.counters.count(Event::SendFailed);
        warn!(%to, error = %e, "send failed");
    }
}
