//! The Time protocol server (RFC 868), the time source of the DHCPv4 time
//! server option (RFC 2132 §3.6) that cable modems query at boot: the time
//! as a 32-bit count of seconds since 1900-01-01 00:00 UTC, big-endian.
//!
//! - UDP: any datagram (contents ignored, RFC 868 sends an empty one) is
//!   answered with the 4 bytes, one answer per datagram and nothing kept.
//! - TCP: the server accepts, sends the 4 bytes and closes. At most
//!   `max_connections` connections are open; one beyond is closed
//!   unanswered, and a client that does not take the bytes within
//!   `write_timeout` is dropped.
//!
//! The time is the server's clock (the one leases are timed by), so a test
//! with a fixed clock gets a fixed answer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use headend_model::snapshot::Snapshot;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{watch, Semaphore};
use tracing::debug;

use crate::component::{Component, ServerError, StartContext, Started};
use crate::shared::timeline::{Outcome as StepOutcome, Role, Step, Timeline};
use crate::shared::{tcp_listen, Clock, Shared};
use crate::shared::{DeviceResolver as _, Devices};

/// Receive and send buffer of the UDP time sockets.
const SOCKET_BUFFER: usize = 4 << 20;
/// Seconds from 1900-01-01 to 1970-01-01 (RFC 868: 2,208,988,800 is 00:00 1 January 1970 GMT).
pub const SECONDS_1900_TO_1970: i64 = 2_208_988_800;

/// The RFC 868 answer for `now`: seconds since 1900-01-01 00:00 UTC as 32
/// bits, big-endian, counted modulo 2^32 (the count wraps on 2036-02-07,
/// and RFC 868's own example dates before 1900 as a negative count).
pub fn time_1900(now: SystemTime) -> [u8; 4] {
    let unix = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::from(d.as_secs()),
        // Before 1970: whole seconds, rounded towards the past.
        Err(e) => {
            let d = e.duration();
            -i128::from(d.as_secs()) - i128::from(d.subsec_nanos() > 0)
        }
    };
    let wrapped = (unix + i128::from(SECONDS_1900_TO_1970)).rem_euclid(1 << 32);
    u32::try_from(wrapped).unwrap_or(0).to_be_bytes()
}

/// The counters of the Time server.
#[derive(Debug, Default)]
struct TodCounters {
    udp: AtomicU64,
    tcp: AtomicU64,
    busy: AtomicU64,
    timeout: AtomicU64,
    send_failed: AtomicU64,
    receive_failed: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The RFC 868 Time server.
pub struct Tod {
    clock: Clock,
    counters: TodCounters,
    /// Who holds a requesting address (DHCP leases), for the timeline.
    devices: Arc<Devices>,
    timeline: Arc<Timeline>,
}

impl Tod {
    /// A Time server answering from the server clock.
    pub fn open(shared: &Shared) -> Arc<Tod> {
        Arc::new(Tod {
            clock: shared.clock.clone(),
            counters: TodCounters::default(),
            devices: shared.devices.clone(),
            timeline: shared.timeline.clone(),
        })
    }

    /// Records a request of the device holding `peer`'s address: an eCM's
    /// `CM5-CM10 ToD` step (seed 000 Table 2), or another device's ToD.
    fn record(&self, peer: SocketAddr, transport: &str) {
        let Some(dc) = self.devices.resolve(peer.ip()) else {
            return; // not a device headend addressed
        };
        let step = match Role::of_family(&dc.ctx.device.family) {
            Role::Ecm => Step::CmTod,
            _ => Step::Other("ToD"),
        };
        self.timeline.record(
            &dc.id,
            step,
            StepOutcome::Ok,
            format!("RFC 868 time over {transport} to {peer}"),
        );
    }

    fn answer(&self) -> [u8; 4] {
        time_1900(UNIX_EPOCH + Duration::from_secs((self.clock)()))
    }

    /// Answers every datagram until `stop`.
    async fn serve_udp(self: Arc<Self>, sock: UdpSocket, mut stop: watch::Receiver<bool>) {
        // Contents are ignored; a longer datagram is truncated, which is fine.
        let mut buf = [0u8; 512];
        loop {
            tokio::select! {
                r = sock.recv_from(&mut buf) => match r {
                    Ok((_, peer)) => {
                        bump(&self.counters.udp);
                        if let Err(e) = sock.send_to(&self.answer(), peer).await {
                            debug!(%peer, error = %e, "tod: UDP send failed");
                            bump(&self.counters.send_failed);
                        } else {
                            self.record(peer, "UDP");
                        }
                    }
                    Err(e) => {
                        debug!(error = %e, "tod: UDP receive failed");
                        bump(&self.counters.receive_failed);
                    }
                },
                _ = stop.changed() => break,
            }
        }
    }

    /// Accepts connections until `stop`; each gets the 4 bytes and is closed.
    async fn serve_tcp(
        self: Arc<Self>,
        listener: TcpListener,
        slots: Arc<Semaphore>,
        write_timeout: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let (stream, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of descriptors and the like: count, breathe, go on.
                        debug!(error = %e, "tod: accept failed");
                        bump(&self.counters.receive_failed);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
                _ = stop.changed() => break,
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                bump(&self.counters.busy);
                continue; // dropping the stream closes it
            };
            bump(&self.counters.tcp);
            let me = self.clone();
            tokio::spawn(async move {
                let bytes = me.answer();
                let sent = tokio::time::timeout(write_timeout, write_all(&stream, &bytes)).await;
                match sent {
                    Ok(Ok(())) => me.record(peer, "TCP"),
                    Ok(Err(e)) => {
                        debug!(%peer, error = %e, "tod: TCP send failed");
                        bump(&me.counters.send_failed);
                    }
                    Err(_) => bump(&me.counters.timeout),
                }
                // The slot first, then the close (RFC 868: the server
                // closes): a client that saw the close finds the slot free.
                drop(slot);
                drop(stream);
            });
        }
    }
}

// tokio's `io-util` feature is not enabled in the workspace; readiness plus
// `try_write` is all four bytes need.
async fn write_all(s: &TcpStream, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        s.writable().await?;
        match s.try_write(buf) {
            Ok(n) => buf = buf.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Component for Tod {
    fn name(&self) -> &'static str {
        "tod"
    }

    fn start(self: Arc<Self>, snap: &Snapshot, ctx: &StartContext) -> Result<Started, ServerError> {
        let mut started = Started::default();
        let Some(t) = &snap.tod else {
            return Ok(started);
        };
        let slots = Arc::new(Semaphore::new(t.max_connections));
        for addr in &t.listen {
            // A CMTS reboot sends every modem's time request at once: a
            // default-sized receive buffer drops most of the burst (found by
            // headend-sim's boot storm), so it gets the DHCP sockets' size.
            let sock = UdpSocket::from_std(crate::udp::bind_family(*addr, SOCKET_BUFFER)?)?;
            // TCP on the port UDP got (an ephemeral port resolves once).
            let tcp_addr = SocketAddr::new(addr.ip(), sock.local_addr()?.port());
            let listener = tcp_listen(tcp_addr)?;
            started.bound.push(sock.local_addr()?);
            let udp = self.clone().serve_udp(sock, ctx.stop.clone());
            let tcp =
                self.clone()
                    .serve_tcp(listener, slots.clone(), t.write_timeout, ctx.stop.clone());
            started.tasks.push(tokio::spawn(async move {
                tokio::join!(udp, tcp);
                Ok(())
            }));
        }
        Ok(started)
    }

    fn restart_needed(&self, old: &Snapshot, new: &Snapshot) -> Vec<String> {
        headend_model::tod::restart_change(old.tod.as_ref(), new.tod.as_ref())
            .into_iter()
            .collect()
    }

    fn metrics(&self, m: &mut crate::metrics::Metrics) {
        let c = &self.counters;
        let v = |a: &AtomicU64| a.load(Ordering::Relaxed);
        m.counter("tod_requests_total", &[("transport", "udp")], v(&c.udp));
        m.counter("tod_requests_total", &[("transport", "tcp")], v(&c.tcp));
        for (reason, a) in [
            ("busy", &c.busy),
            ("write_timeout", &c.timeout),
            ("send_failed", &c.send_failed),
            ("receive_failed", &c.receive_failed),
        ] {
            m.counter("tod_dropped_total", &[("reason", reason)], v(a));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix: i64) -> SystemTime {
        if unix >= 0 {
            UNIX_EPOCH + Duration::from_secs(unix as u64)
        } else {
            UNIX_EPOCH - Duration::from_secs(unix.unsigned_abs())
        }
    }

    fn secs(b: [u8; 4]) -> u32 {
        u32::from_be_bytes(b)
    }

    #[test]
    fn rfc_868_examples() {
        // RFC 868, "The Time": the four examples given there.
        assert_eq!(
            secs(time_1900(at(0))),
            2_208_988_800,
            "00:00 1 Jan 1970 GMT"
        );
        assert_eq!(
            secs(time_1900(at(189_302_400))),
            2_398_291_200,
            "00:00 1 Jan 1976 GMT"
        );
        assert_eq!(
            secs(time_1900(at(315_532_800))),
            2_524_521_600,
            "00:00 1 Jan 1980 GMT"
        );
        assert_eq!(
            secs(time_1900(at(420_595_200))),
            2_629_584_000,
            "00:00 1 May 1983 GMT"
        );
        // -1,297,728,000 is 00:00 17 Nov 1858 GMT: as 32 bits, modulo 2^32.
        let nov_1858 = -1_297_728_000 - SECONDS_1900_TO_1970;
        assert_eq!(secs(time_1900(at(nov_1858))) as i32, -1_297_728_000);
    }

    #[test]
    fn big_endian_and_the_2036_wrap() {
        assert_eq!(time_1900(at(0)), [0x83, 0xaa, 0x7e, 0x80]);
        assert_eq!(time_1900(at(-SECONDS_1900_TO_1970)), [0, 0, 0, 0]);
        // 2036-02-07 06:28:16 UTC is 2^32 seconds after 1900: the count wraps.
        let wrap = (1i64 << 32) - SECONDS_1900_TO_1970;
        assert_eq!(wrap, 2_085_978_496);
        assert_eq!(secs(time_1900(at(wrap - 1))), u32::MAX);
        assert_eq!(secs(time_1900(at(wrap))), 0);
        // Fractions of a second are dropped (towards the past before 1970).
        assert_eq!(
            secs(time_1900(at(0) + Duration::from_millis(999))),
            2_208_988_800
        );
        assert_eq!(
            secs(time_1900(at(0) - Duration::from_millis(1))),
            2_208_988_799
        );
    }

    fn metric(t: &Tod, name: &str, label: (&str, &str)) -> u64 {
        let mut m = crate::metrics::Metrics::new();
        t.metrics(&mut m);
        m.value(name, &[label])
    }

    #[test]
    fn counts_per_transport_and_closes_connections_beyond_the_cap_unanswered() {
        use std::io::Read;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let tod = Arc::new(Tod {
            clock: Arc::new(|| 0),
            counters: TodCounters::default(),
            devices: Arc::default(),
            timeline: Arc::default(),
        });
        let (stop_tx, stop) = watch::channel(false);
        let (udp, tcp_full, tcp_open) = rt.block_on(async {
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let full = tcp_listen("127.0.0.1:0".parse().unwrap()).unwrap();
            let open = tcp_listen("127.0.0.1:0".parse().unwrap()).unwrap();
            (udp, full, open)
        });
        let (ua, fa, oa) = (
            udp.local_addr().unwrap(),
            tcp_full.local_addr().unwrap(),
            tcp_open.local_addr().unwrap(),
        );
        let timeout = Duration::from_secs(1);
        rt.spawn(tod.clone().serve_udp(udp, stop.clone()));
        // No free slot: every connection is closed at once, unanswered.
        let none = Arc::new(Semaphore::new(0));
        rt.spawn(tod.clone().serve_tcp(tcp_full, none, timeout, stop.clone()));
        let one = Arc::new(Semaphore::new(1));
        rt.spawn(tod.clone().serve_tcp(tcp_open, one, timeout, stop.clone()));
        let clients = std::thread::spawn(move || {
            let read = |a: SocketAddr| {
                let mut s = std::net::TcpStream::connect(a).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut got = Vec::new();
                let _ = s.read_to_end(&mut got);
                got
            };
            let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            u.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 8];
            for _ in 0..3 {
                u.send_to(b"", ua).unwrap();
                assert_eq!(u.recv(&mut buf).unwrap(), 4);
            }
            (read(fa), read(oa), read(oa))
        });
        let (refused, first, second) = rt.block_on(async {
            loop {
                if clients.is_finished() {
                    break clients.join().unwrap();
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        assert_eq!(refused, Vec::<u8>::new());
        assert_eq!(first, [0x83, 0xaa, 0x7e, 0x80]);
        assert_eq!(
            second, first,
            "the slot is given back when a connection ends"
        );
        stop_tx.send(true).unwrap();
        assert_eq!(metric(&tod, "tod_requests_total", ("transport", "udp")), 3);
        assert_eq!(metric(&tod, "tod_requests_total", ("transport", "tcp")), 2);
        assert_eq!(metric(&tod, "tod_dropped_total", ("reason", "busy")), 1);
        assert_eq!(
            metric(&tod, "tod_dropped_total", ("reason", "send_failed")),
            0
        );
    }
}
