//! The DHCPv4 UDP loop: a thin tokio task around [`Dhcpv4::handle`].
//!
//! Several tasks receive on one socket. Replies that do not depend on a
//! commit are sent at once; ACKs are handed to the group committer with a
//! callback that sends them from the committer thread once the lease is
//! durable, through a plain clone of the socket (a non-blocking `send_to`).

use std::net::{SocketAddr, SocketAddrV4, UdpSocket as StdUdpSocket};
use std::sync::Arc;

use headend_model::trace::Trace;
use headend_store::GroupCommitter;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::{debug, warn};

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
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = s.set_recv_buffer_size(rcvbuf);
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
                tokio::select! {
                    r = socket.recv_from(&mut buf) => {
                        let (n, from) = match r {
                            Ok(x) => x,
                            Err(e) => {
                                debug!(error = %e, "recv_from");
                                continue;
                            }
                        };
                        let SocketAddr::V4(source) = from else { continue };
                        let data = buf.get(..n).unwrap_or(&[]);
                        let outcome = svc.handle(&Inbound { data, source, local }, &mut Trace::disabled());
                        act(&svc, &committer, &socket, &sender, outcome).await;
                    }
                    _ = stop.changed() => break,
                }
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    Ok(())
}

async fn act(
    svc: &Arc<Dhcpv4>,
    committer: &GroupCommitter,
    socket: &UdpSocket,
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
            if let Err(e) = socket.send_to(&packet, to).await {
                svc.counters.count(Event::SendFailed);
                warn!(%to, error = %e, "send failed");
            }
        }
        Outcome::Reply {
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
                    Ok(()) => {
                        if let Err(e) = sender.send_to(&packet, to) {
                            counters.count(Event::SendFailed);
                            warn!(%to, error = %e, "send failed");
                        }
                    }
                    Err(e) => {
                        counters.count(Event::CommitFailed);
                        warn!(%to, error = %e, "lease not committed: reply withheld");
                    }
                }),
            );
        }
    }
}
