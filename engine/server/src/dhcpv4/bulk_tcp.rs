//! The bulk leasequery listener (RFC 6926 over TCP): a thin tokio shell
//! around [`super::bulk::Connection`]. It accepts only the configured
//! leasequery requesters (`[dhcpv4] leasequery_requesters`; anybody else is
//! closed at once and counted `bulk_leasequery_refused`), at most
//! `bulk_leasequery_max_connections` at a time (more are closed and
//! counted `bulk_leasequery_busy`), and closes a connection that neither
//! sends nor reads for `bulk_leasequery_idle_timeout` seconds (RFC 6926's
//! BULK_LQ_DATA_TIMEOUT; counted `bulk_leasequery_idle`).
//!
//! The shell reads only what the connection asks for and writes what it
//! produced; the connection pauses its walk of the lease table while its
//! output is over the high-water mark, so a requester that reads slowly
//! is served at its own pace, with bounded memory, and DORA keeps the
//! lease lock between slices.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::bulk::{Connection, Limits};
use super::leasequery::allowed;
use super::Dhcpv4;
use crate::counters::Family;

/// Steps (lease-table slices) a connection takes before it lets other
/// tasks run.
const STEPS_PER_YIELD: usize = 8;

/// Bulk leasequery activity of this process, for the metrics.
#[derive(Debug, Default)]
pub struct BulkStats {
    /// Connections open now.
    pub open: AtomicUsize,
    /// Connections accepted since start.
    pub connections: AtomicU64,
    /// Queries accepted.
    pub queries: AtomicU64,
    /// Bindings streamed.
    pub answers: AtomicU64,
}

/// The process's bulk leasequery counters (one server per process).
pub static STATS: BulkStats = BulkStats {
    open: AtomicUsize::new(0),
    connections: AtomicU64::new(0),
    queries: AtomicU64::new(0),
    answers: AtomicU64::new(0),
};

/// Accepts bulk leasequery connections on `listener` until `stop`.
pub async fn serve(
    svc: Arc<Dhcpv4>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    loop {
        let (sock, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: pause, do not spin.
                    warn!(error = %e, "bulk leasequery accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return Ok(()),
        };
        let snap = svc.config.load_full();
        let Some(d4) = snap.dhcpv4.as_ref() else {
            continue;
        };
        let may = match peer.ip() {
            IpAddr::V4(ip) => allowed(d4, ip),
            IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|ip| allowed(d4, ip)),
        };
        if !may {
            // Nothing is told to a stranger: the connection just closes.
            svc.counters
                .silent_in(Family::Dhcpv4, "bulk_leasequery_refused");
            debug!(%peer, "bulk leasequery: not a leasequery requester");
            drop(sock);
            continue;
        }
        let bl = &d4.bulk_leasequery;
        if STATS.open.load(Ordering::Relaxed) >= bl.max_connections {
            svc.counters
                .silent_in(Family::Dhcpv4, "bulk_leasequery_busy");
            drop(sock);
            continue;
        }
        STATS.open.fetch_add(1, Ordering::Relaxed);
        STATS.connections.fetch_add(1, Ordering::Relaxed);
        let limits = Limits {
            max_queries: bl.max_queries,
            ..Limits::default()
        };
        let idle = Duration::from_secs(u64::from(bl.idle_timeout));
        let server_id = d4.server_id.unwrap_or(match sock.local_addr() {
            Ok(SocketAddr::V4(a)) => *a.ip(),
            _ => std::net::Ipv4Addr::UNSPECIFIED,
        });
        let svc = svc.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            if let Err(e) =
                connection(&svc, sock, Connection::new(server_id, limits), idle, stop).await
            {
                debug!(%peer, error = %e, "bulk leasequery connection ended");
            }
            STATS.open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Serves one connection until it is finished, idle, broken or stopped.
async fn connection(
    svc: &Dhcpv4,
    sock: TcpStream,
    mut conn: Connection,
    idle: Duration,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let _ = sock.set_nodelay(true);
    let (rd, mut wr) = sock.into_split();
    let mut buf = vec![0u8; 64 * 1024];
    let mut deadline = Instant::now() + idle;
    loop {
        let mut steps = 0;
        while conn.has_work() {
            conn.step(&svc.leases, svc.now());
            steps += 1;
            if steps % STEPS_PER_YIELD == 0 {
                tokio::task::yield_now().await;
            }
        }
        account(svc, &mut conn);
        if conn.finished() {
            break;
        }
        let want = conn.wants().min(buf.len());
        let writing = !conn.output().is_empty();
        tokio::select! {
            r = rd.readable(), if want > 0 => {
                r?;
                match rd.try_read(buf.get_mut(..want).unwrap_or_default()) {
                    Ok(0) => conn.end_of_stream(),
                    Ok(n) => {
                        conn.receive(buf.get(..n).unwrap_or_default());
                        deadline = Instant::now() + idle;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            w = wr.writable(), if writing => {
                w?;
                match wr.try_write(conn.output()) {
                    Ok(n) => {
                        conn.consumed(n);
                        deadline = Instant::now() + idle;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                svc.counters.silent_in(Family::Dhcpv4, "bulk_leasequery_idle");
                return Ok(());
            }
            _ = stop.changed() => return Ok(()),
        }
    }
    account(svc, &mut conn);
    if !conn.closed() {
        let _ = wr.shutdown().await;
    }
    Ok(())
}

/// Moves the connection's tally into the server's counters.
fn account(svc: &Dhcpv4, conn: &mut Connection) {
    let t = conn.take_tally();
    for reason in t.drops {
        svc.counters.drop_packet(reason);
    }
    STATS.queries.fetch_add(t.queries, Ordering::Relaxed);
    STATS.answers.fetch_add(t.answers, Ordering::Relaxed);
}
