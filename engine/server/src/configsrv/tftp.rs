//! The TFTP server (RFC 1350 with RFC 2347 option negotiation, RFC 2348
//! blksize, RFC 2349 timeout/tsize, RFC 7440 windowsize), serving the
//! [`FileService`](super::FileService) virtual files.
//!
//! The listener only takes RRQ and WRQ; each accepted transfer gets its own
//! ephemeral socket of the listener's family, connected to the client (its
//! TID, RFC 1350 section 4), and its own task. The transfer itself — OACK
//! wait, windows, retransmission, block-number wrap, duplicate ACKs, the
//! dally, the retry count and the whole-transfer deadline — is the sans-IO
//! state machine of [`transfer`]; the task here only opens the file, moves
//! datagrams between the socket and the machine on the tokio clock, commits
//! uploads, and counts and records the outcome. Transfers are bounded
//! overall and per client address; requests over the bounds, duplicates of
//! a request whose transfer is running, and malformed datagrams are counted
//! by reason.

pub mod transfer;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use headend_abi::Transfer;
use headend_wire::tftp::{encode_error, negotiate, ErrorCode, Mode, Packet, Request, ServerLimits};
use parking_lot::Mutex;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::debug;

use self::transfer::{Download, Event, Failure, Machine, Params, Status, Upload};
use super::files::{Digests, Direction, FileError, FileService, TransferRecord, TransferResult};

/// Transfer counters of the TFTP server (drops are in the shared `Counters`).
#[derive(Debug, Default)]
pub struct TftpStats {
    /// RRQ and WRQ accepted for processing.
    pub requests: AtomicU64,
    /// Downloads whose last block was acknowledged.
    pub downloads: AtomicU64,
    /// Uploads committed.
    pub uploads: AtomicU64,
    /// Transfers refused with an ERROR or abandoned.
    pub failed: AtomicU64,
    /// Windows (or ACKs) sent again after the retransmission timer fired.
    pub retransmits: AtomicU64,
    /// Duplicate or stale ACKs ignored.
    pub duplicate_acks: AtomicU64,
}

/// The TFTP service shared by its listeners.
pub struct TftpServer {
    files: Arc<FileService>,
    /// Transfers the open-file limit allows (see [`descriptor_bound`]).
    fd_bound: usize,
    active: AtomicUsize,
    per_client: Mutex<HashMap<IpAddr, usize>>,
    in_flight: Mutex<HashSet<SocketAddr>>,
    stats: TftpStats,
}

/// Releases a transfer's slots when the transfer ends, however it ends.
struct Slot {
    srv: Arc<TftpServer>,
    peer: SocketAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.srv.active.fetch_sub(1, Ordering::Relaxed);
        let mut m = self.srv.per_client.lock();
        if let Some(n) = m.get_mut(&self.peer.ip()) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.peer.ip());
            }
        }
        drop(m);
        self.srv.in_flight.lock().remove(&self.peer);
    }
}

/// Opens a TFTP listener socket (IPv6 sockets are IPv6-only, so `[::]` and `0.0.0.0` can both be bound).
pub fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    // Boot storms arrive as bursts of RRQs.
    let _ = s.set_recv_buffer_size(4 << 20);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

fn ephemeral(local: SocketAddr) -> SocketAddr {
    match local.ip() {
        IpAddr::V4(a) => SocketAddr::new(IpAddr::V4(a), 0),
        IpAddr::V6(a) if a.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
        }
        IpAddr::V6(a) => SocketAddr::new(IpAddr::V6(a), 0),
    }
}

async fn send_error(sock: &UdpSocket, to: Option<SocketAddr>, code: ErrorCode, msg: &str) {
    let mut out = Vec::with_capacity(8 + msg.len());
    encode_error(code, msg, &mut out);
    let _ = match to {
        Some(a) => sock.send_to(&out, a).await,
        None => sock.send(&out).await,
    };
}

/// Converts to netascii (RFC 764 via RFC 1350): LF → CR LF, CR → CR NUL.
pub fn to_netascii(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + b.len() / 16);
    for &c in b {
        match c {
            b'\n' => out.extend_from_slice(b"\r\n"),
            b'\r' => out.extend_from_slice(b"\r\0"),
            c => out.push(c),
        }
    }
    out
}

/// Converts from netascii: CR LF → LF, CR NUL → CR.
pub fn from_netascii(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut it = b.iter().peekable();
    while let Some(&c) = it.next() {
        if c == b'\r' {
            match it.peek() {
                Some(b'\n') => {
                    out.push(b'\n');
                    it.next();
                }
                Some(0) => {
                    out.push(b'\r');
                    it.next();
                }
                _ => out.push(b'\r'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The state machines' clock: tokio's, so a paused test runtime pauses the transfers too.
fn clock() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Transfers the open-file limit allows: each holds a socket, and an
/// eighth of the limit (at least 256) stays for the DHCP sockets, HTTP
/// connections, the store and the plugins.
fn descriptor_bound() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    soft.saturating_sub((soft / 8).max(256)).max(1)
}

/// The connected socket reported an error (an ICMP unreachable from the client).
struct Unreachable;

impl TftpServer {
    /// A server over the virtual files.
    pub fn new(files: Arc<FileService>) -> Arc<TftpServer> {
        let fd_bound = descriptor_bound();
        let configured = files.snapshot().config_server.tftp.max_transfers;
        if configured > fd_bound {
            tracing::warn!(
                max_transfers = configured,
                bound = fd_bound,
                "[tftp] max_transfers exceeds what the open-file limit allows (one socket per transfer): clamped"
            );
        }
        Arc::new(TftpServer {
            files,
            fd_bound,
            active: AtomicUsize::new(0),
            per_client: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashSet::new()),
            stats: TftpStats::default(),
        })
    }

    /// Transfer counters.
    pub fn stats(&self) -> &TftpStats {
        &self.stats
    }

    /// Transfers running now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// The virtual files.
    pub fn files(&self) -> &Arc<FileService> {
        &self.files
    }

    fn drop_reason(&self, reason: &'static str) {
        self.files.counters().drop_packet(reason);
    }

    /// Serves requests arriving on `sock` until `stop` turns true.
    pub async fn serve(self: Arc<Self>, sock: UdpSocket, mut stop: watch::Receiver<bool>) {
        let local = match sock.local_addr() {
            Ok(a) => a,
            Err(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        };
        let mut buf = vec![0u8; 2048];
        loop {
            let (n, peer) = tokio::select! {
                r = sock.recv_from(&mut buf) => match r {
                    Ok(x) => x,
                    // ICMP errors from earlier sends surface here; the listener carries on.
                    Err(_) => continue,
                },
                _ = stop.changed() => break,
            };
            if *stop.borrow() {
                break;
            }
            let data = buf.get(..n).unwrap_or_default();
            self.clone().on_request(&sock, local, data, peer).await;
        }
    }

    async fn on_request(
        self: Arc<Self>,
        sock: &UdpSocket,
        local: SocketAddr,
        data: &[u8],
        peer: SocketAddr,
    ) {
        let pkt = match Packet::parse(data) {
            Ok(p) => p,
            Err(e) => {
                self.drop_reason(e.label());
                // Answer only what looks like a request: never an error to an error.
                let op = match data.get(..2) {
                    Some(&[a, b]) => u16::from_be_bytes([a, b]),
                    _ => 0,
                };
                if op == 1 || op == 2 || op > 6 {
                    send_error(
                        sock,
                        Some(peer),
                        ErrorCode::IllegalOperation,
                        &e.to_string(),
                    )
                    .await;
                }
                return;
            }
        };
        let (req, write) = match pkt {
            Packet::Rrq(r) => (r, false),
            Packet::Wrq(r) => (r, true),
            Packet::Error { .. } => {
                self.drop_reason("tftp_error_on_listener");
                return;
            }
            _ => {
                self.drop_reason("tftp_not_a_request");
                send_error(
                    sock,
                    Some(peer),
                    ErrorCode::IllegalOperation,
                    "only RRQ and WRQ here",
                )
                .await;
                return;
            }
        };
        let snap = self.files.snapshot();
        let limits = snap.config_server.tftp.clone();
        if !self.in_flight.lock().insert(peer) {
            // The client resent its request while its transfer is running.
            self.drop_reason("tftp_duplicate_request");
            return;
        }
        // 0 = admitted, 1 = over the client's bound, 2 = over the server's bound.
        let verdict = {
            let mut m = self.per_client.lock();
            let n = m.entry(peer.ip()).or_insert(0);
            if *n >= limits.max_per_client {
                1
            } else if self.active.fetch_add(1, Ordering::Relaxed)
                >= limits.max_transfers.min(self.fd_bound)
            {
                self.active.fetch_sub(1, Ordering::Relaxed);
                2
            } else {
                *n += 1;
                0
            }
        };
        if verdict != 0 {
            self.in_flight.lock().remove(&peer);
            if verdict == 1 {
                // A flood from one address: dropped silently, counted.
                self.drop_reason("tftp_client_limit");
            } else {
                self.drop_reason("tftp_server_busy");
                send_error(
                    sock,
                    Some(peer),
                    ErrorCode::NotDefined,
                    "server busy, retry later",
                )
                .await;
            }
            return;
        }
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let slot = Slot {
            srv: self.clone(),
            peer,
        };
        let filename = req.filename.to_string();
        let mode = req.mode;
        let options: Vec<(String, String)> = req
            .options
            .iter()
            .map(|(n, v)| ((*n).to_string(), (*v).to_string()))
            .collect();
        let me = self.clone();
        tokio::spawn(async move {
            let _slot = slot;
            // The state machine ends the exchange at the deadline; this bounds
            // the rest of the task too (opening or generating the file, the commit).
            let deadline =
                tokio::time::Instant::from_std(transfer::later(clock(), limits.transfer_timeout));
            let run = me.clone().transfer(
                local,
                peer,
                filename.clone(),
                mode,
                options,
                write,
                limits,
                deadline.into_std(),
            );
            if tokio::time::timeout_at(deadline, run).await.is_err() {
                me.deadline_passed(peer, &filename);
            }
        });
    }

    /// Counts a transfer ended by its whole-transfer deadline (not recorded, as the exchange was cut).
    fn deadline_passed(&self, peer: SocketAddr, filename: &str) {
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        self.drop_reason("tftp_transfer_timeout");
        debug!(%peer, file = %filename, "TFTP transfer deadline passed");
    }

    /// Counts what the state machine reports about one datagram or timer.
    fn count(&self, ev: Event) {
        match ev {
            Event::Retransmit => {
                self.stats.retransmits.fetch_add(1, Ordering::Relaxed);
            }
            Event::DuplicateAck => {
                self.stats.duplicate_acks.fetch_add(1, Ordering::Relaxed);
            }
            Event::Unexpected => self.drop_reason("tftp_unexpected_packet"),
            Event::None | Event::Progress | Event::DuplicateData => {}
        }
    }

    /// Runs a transfer's state machine on `sock` until it ends or, for an
    /// upload, until every block is in ([`Status::Received`]).
    async fn drive(
        &self,
        sock: &UdpSocket,
        m: &mut impl Machine,
        rbuf: &mut [u8],
    ) -> Result<(), Unreachable> {
        let mut out = Vec::with_capacity(rbuf.len());
        loop {
            while m.poll_transmit(&mut out) {
                // A lost datagram is the timer's business, like a lost packet.
                let _ = sock.send(&out).await;
            }
            if *m.status() != Status::Running {
                return Ok(());
            }
            let Some(at) = m.poll_timeout() else {
                return Ok(());
            };
            let now = clock();
            // Checked before waiting, so a stream of datagrams cannot hold the timer off.
            if at <= now {
                self.count(m.handle_timeout(now));
                continue;
            }
            let wait = tokio::time::Instant::from_std(at);
            match tokio::time::timeout_at(wait, sock.recv(rbuf)).await {
                Ok(Ok(n)) => self.count(m.handle(clock(), rbuf.get(..n).unwrap_or_default())),
                Ok(Err(_)) => return Err(Unreachable),
                Err(_) => {}
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn transfer(
        self: Arc<Self>,
        local: SocketAddr,
        peer: SocketAddr,
        filename: String,
        mode: Mode,
        options: Vec<(String, String)>,
        write: bool,
        limits: headend_model::configsrv::TftpLimits,
        deadline: Instant,
    ) {
        let sock = match UdpSocket::bind(ephemeral(local)).await {
            Ok(s) => s,
            Err(_) => {
                self.drop_reason("tftp_socket_failed");
                return;
            }
        };
        if sock.connect(peer).await.is_err() {
            self.drop_reason("tftp_socket_failed");
            return;
        }
        let device_id = |d: Option<&super::DeviceContext>| {
            d.map(|d| d.id.clone())
                .unwrap_or_else(|| peer.ip().to_string())
        };
        let fail = |code: ErrorCode,
                    reason: String,
                    dev: String,
                    content: Option<&Digests>,
                    dir: Direction| {
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            self.files.record(TransferRecord::new(
                dev,
                peer.ip(),
                "tftp",
                dir,
                &filename,
                content,
                None,
                TransferResult::Failed {
                    code: code.code(),
                    reason,
                },
            ));
        };
        let dir = if write {
            Direction::Upload
        } else {
            Direction::Download
        };
        if mode == Mode::Mail {
            self.drop_reason("tftp_mail_mode");
            send_error(
                &sock,
                None,
                ErrorCode::IllegalOperation,
                "mail mode is not supported",
            )
            .await;
            fail(
                ErrorCode::IllegalOperation,
                "mail mode".into(),
                device_id(None),
                None,
                dir,
            );
            return;
        }
        let req = Request {
            filename: &filename,
            mode,
            options: options
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect(),
        };
        let files = self.files.clone();
        let name = filename.clone();
        let ip = peer.ip();
        if write {
            let opened =
                tokio::task::spawn_blocking(move || files.open_write(ip, &name, "tftp")).await;
            let up = match opened {
                Ok(Ok(u)) => u,
                Ok(Err(e)) => {
                    let dev = device_id(self.files.device(ip).as_ref());
                    return self.refuse(&sock, &e, fail, dev, dir).await;
                }
                Err(_) => return,
            };
            let dev = device_id(up.device.as_ref());
            let server_limits = ServerLimits {
                max_blksize: limits.max_blksize,
                max_windowsize: limits.max_windowsize,
                max_upload: up.max_size,
            };
            let neg = match negotiate(&req, None, &server_limits) {
                Ok(n) => n,
                Err(e) => {
                    self.drop_reason("tftp_option_refused");
                    send_error(&sock, None, e.error_code(), &e.to_string()).await;
                    fail(e.error_code(), e.to_string(), dev, None, dir);
                    return;
                }
            };
            let params = Params::new(&neg, &limits, deadline);
            self.receive(&sock, &filename, mode, params, up, dev).await;
            return;
        }
        let opened =
            tokio::task::spawn_blocking(move || files.open_read(ip, &name, Transfer::Tftp)).await;
        let served = match opened {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                let dev = device_id(self.files.device(ip).as_ref());
                return self.refuse(&sock, &e, fail, dev, dir).await;
            }
            Err(_) => return,
        };
        let dev = device_id(served.device.as_ref());
        let bytes: Arc<Vec<u8>> = if mode == Mode::Netascii {
            Arc::new(to_netascii(&served.bytes))
        } else {
            served.bytes.clone()
        };
        let server_limits = ServerLimits {
            max_blksize: limits.max_blksize,
            max_windowsize: limits.max_windowsize,
            max_upload: 0,
        };
        let neg = match negotiate(&req, Some(bytes.len() as u64), &server_limits) {
            Ok(n) => n,
            Err(e) => {
                self.drop_reason("tftp_option_refused");
                send_error(&sock, None, e.error_code(), &e.to_string()).await;
                fail(
                    e.error_code(),
                    e.to_string(),
                    dev,
                    Some(&served.digests),
                    dir,
                );
                return;
            }
        };
        let mut m = Download::new(Params::new(&neg, &limits, deadline), bytes, clock());
        // ACKs are 4 octets; a longer ERROR is cut, which its parser tolerates.
        let mut rbuf = [0u8; 516];
        let driven = self.drive(&sock, &mut m, &mut rbuf).await;
        match (driven, m.status()) {
            (Err(Unreachable), _) => fail(
                ErrorCode::NotDefined,
                "client unreachable".into(),
                dev,
                Some(&served.digests),
                dir,
            ),
            (Ok(()), Status::Done(_)) => {
                self.stats.downloads.fetch_add(1, Ordering::Relaxed);
                self.files.record(TransferRecord::new(
                    dev,
                    peer.ip(),
                    "tftp",
                    Direction::Download,
                    &filename,
                    Some(&served.digests),
                    served.config_hash.clone(),
                    TransferResult::Complete,
                ));
            }
            (Ok(()), Status::Failed(Failure::Deadline)) => self.deadline_passed(peer, &filename),
            (Ok(()), Status::Failed(f)) => {
                fail(f.code(), f.to_string(), dev, Some(&served.digests), dir)
            }
            // A download never stops short of a terminal status.
            (Ok(()), Status::Running | Status::Received) => {}
        }
    }

    async fn refuse(
        &self,
        sock: &UdpSocket,
        e: &FileError,
        fail: impl Fn(ErrorCode, String, String, Option<&Digests>, Direction),
        dev: String,
        dir: Direction,
    ) {
        self.drop_reason(match e {
            FileError::NotFound => "tftp_file_not_found",
            FileError::Traversal => "tftp_path_traversal",
            FileError::Denied => "tftp_access_denied",
            FileError::UnknownDevice => "tftp_unknown_device",
            FileError::Exists => "tftp_file_exists",
            FileError::TooLarge => "tftp_upload_too_large",
            FileError::Generator(_) | FileError::NoGenerator(_) => "tftp_generator_failed",
            FileError::Io(_) => "tftp_io_error",
            FileError::Busy => "tftp_server_busy",
            FileError::NoSpace => "tftp_upload_no_space",
        });
        send_error(sock, None, e.tftp_code(), &e.to_string()).await;
        fail(e.tftp_code(), e.to_string(), dev, None, dir);
    }

    /// Receives an upload with the negotiated `params`, commits it and dallies.
    async fn receive(
        &self,
        sock: &UdpSocket,
        filename: &str,
        mode: Mode,
        params: Params,
        up: super::files::Upload,
        dev: String,
    ) {
        let peer = sock
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
        // One octet more than a DATA of blksize, so an oversized block shows as one.
        let mut rbuf = vec![0u8; (usize::from(params.blksize) + 5).max(516)];
        let mut m = Upload::new(params, up.max_size, clock());
        let failed = |code: ErrorCode, why: String, content: Option<&Digests>| {
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            self.files.record(TransferRecord::new(
                dev.clone(),
                peer.ip(),
                "tftp",
                Direction::Upload,
                filename,
                content,
                None,
                TransferResult::Failed {
                    code: code.code(),
                    reason: why,
                },
            ));
        };
        if self.drive(sock, &mut m, &mut rbuf).await.is_err() {
            failed(ErrorCode::NotDefined, "client unreachable".into(), None);
            return;
        }
        match m.status() {
            Status::Received => {}
            Status::Failed(Failure::Deadline) => return self.deadline_passed(peer, filename),
            Status::Failed(f) => {
                if let Some(reason) = f.drop_reason() {
                    self.drop_reason(reason);
                }
                failed(f.code(), f.to_string(), None);
                return;
            }
            Status::Running | Status::Done(_) => return,
        }
        let raw = m.take_data();
        let content = if mode == Mode::Netascii {
            from_netascii(&raw)
        } else {
            raw
        };
        let files = self.files.clone();
        let up2 = up.clone();
        let c2 = content.clone();
        match tokio::task::spawn_blocking(move || files.commit_upload(&up2, &c2)).await {
            Ok(Ok(())) => m.committed(clock()),
            Ok(Err(e)) => {
                m.commit_failed(e.tftp_code(), e.to_string());
                // Sends the ERROR queued instead of the final ACK.
                let _ = self.drive(sock, &mut m, &mut rbuf).await;
                failed(e.tftp_code(), e.to_string(), Some(&Digests::of(&content)));
                return;
            }
            Err(_) => return,
        }
        self.stats.uploads.fetch_add(1, Ordering::Relaxed);
        self.files.record(TransferRecord::new(
            dev.clone(),
            peer.ip(),
            "tftp",
            Direction::Upload,
            filename,
            Some(&Digests::of(&content)),
            None,
            TransferResult::Complete,
        ));
        // The final ACK, then the dally: the upload is stored whatever happens now.
        let _ = self.drive(sock, &mut m, &mut rbuf).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netascii_round_trip() {
        let raw = b"a\nb\rc\r\n";
        let n = to_netascii(raw);
        assert_eq!(n, b"a\r\nb\r\0c\r\0\r\n");
        assert_eq!(from_netascii(&n), raw);
    }
}
