//! The DHCPv6 UDP loop: a thin tokio task around [`Dhcpv6::handle`], built
//! like the DHCPv4 one (drain per wake-up; replies that commit bindings are
//! sent from the group committer once the bindings are durable).

use std::net::{SocketAddr, SocketAddrV6, UdpSocket as StdUdpSocket};
use std::sync::Arc;

use headend_model::trace::Trace;
use headend_store::GroupCommitter;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::{debug, warn};

use super::process::{Counters6, Dhcpv6, Outcome6};
use crate::dhcpv4::socket::ListenError;

/// Datagrams served per readiness event before yielding.
const DRAIN_MAX: usize = 256;

/// Opens a DHCPv6 socket (IPv6 only, large buffers).
pub fn open(addr: SocketAddrV6, rcvbuf: usize) -> Result<StdUdpSocket, ListenError> {
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
                    let outcome = svc.handle(data, source, &mut Trace::disabled());
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
        Outcome6::Drop(reason) => svc.counters.drop_packet(reason),
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
                        counters
                            .commit_failed
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        warn!(%to, error = %e, "binding not committed: reply withheld");
                    }
                }),
            );
        }
    }
}

fn send(c: &Counters6, sender: &StdUdpSocket, packet: &[u8], to: SocketAddrV6) {
    if let Err(e) = sender.send_to(packet, to) {
        c.send_failed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        warn!(%to, error = %e, "send failed");
    }
}
