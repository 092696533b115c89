//! The TFTP server (RFC 1350 with RFC 2347 option negotiation, RFC 2348
//! blksize, RFC 2349 timeout/tsize, RFC 7440 windowsize), serving the
//! [`FileService`](super::FileService) virtual files.
//!
//! The listener only takes RRQ and WRQ; each accepted transfer gets its own
//! ephemeral socket of the listener's family, connected to the client (its
//! TID, RFC 1350 section 4), and its own task. The sender retransmits a
//! window only when the retransmission timer fires, never because of a
//! duplicate ACK (RFC 1123 section 4.2.3.1, the Sorcerer's Apprentice
//! syndrome); an ACK inside the window restarts the window after it (RFC
//! 7440 section 4). Every transfer is bounded by the retry count and by a
//! whole-transfer deadline, and transfers are bounded overall and per
//! client address; requests over the bounds, duplicates of a request whose
//! transfer is running, and malformed datagrams are counted by reason.

pub mod transfer;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use headend_abi::Transfer;
use headend_wire::tftp::{
    encode_ack, encode_data, encode_error, encode_oack, negotiate, ErrorCode, Mode, Negotiated,
    Packet, Request, ServerLimits,
};
use parking_lot::Mutex;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::debug;

use super::files::{Direction, FileError, FileService, TransferRecord, TransferResult};

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

/// Maps a 16-bit block number to its position in `lo..=hi` (block numbers wrap).
fn block_index(lo: u64, hi: u64, wire: u16) -> Option<u64> {
    (lo..=hi).find(|i| (*i & 0xffff) as u16 == wire)
}

enum Wait {
    Packet(usize),
    Timeout,
    Closed,
}

async fn recv(sock: &UdpSocket, buf: &mut [u8], rto: Duration) -> Wait {
    match tokio::time::timeout(rto, sock.recv(buf)).await {
        Ok(Ok(n)) => Wait::Packet(n),
        Ok(Err(_)) => Wait::Closed,
        Err(_) => Wait::Timeout,
    }
}

impl TftpServer {
    /// A server over the virtual files.
    pub fn new(files: Arc<FileService>) -> Arc<TftpServer> {
        Arc::new(TftpServer {
            files,
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
            } else if self.active.fetch_add(1, Ordering::Relaxed) >= limits.max_transfers {
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
            let deadline = limits.transfer_timeout;
            let run =
                me.clone()
                    .transfer(local, peer, filename.clone(), mode, options, write, limits);
            if tokio::time::timeout(deadline, run).await.is_err() {
                me.stats.failed.fetch_add(1, Ordering::Relaxed);
                me.drop_reason("tftp_transfer_timeout");
                debug!(%peer, file = %filename, "TFTP transfer deadline passed");
            }
        });
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
        let fail =
            |code: ErrorCode, reason: String, dev: String, bytes: Option<&[u8]>, dir: Direction| {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                self.files.record(TransferRecord::new(
                    dev,
                    peer.ip(),
                    "tftp",
                    dir,
                    &filename,
                    bytes,
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
            self.receive(&sock, &filename, mode, neg, up, dev, &limits)
                .await;
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
                fail(e.error_code(), e.to_string(), dev, Some(&served.bytes), dir);
                return;
            }
        };
        match self.send_file(&sock, &bytes, &neg, &limits).await {
            Ok(()) => {
                self.stats.downloads.fetch_add(1, Ordering::Relaxed);
                self.files.record(TransferRecord::new(
                    dev,
                    peer.ip(),
                    "tftp",
                    Direction::Download,
                    &filename,
                    Some(&served.bytes),
                    served.config_hash.clone(),
                    TransferResult::Complete,
                ));
            }
            Err((code, why)) => fail(code, why.to_string(), dev, Some(&served.bytes), dir),
        }
    }

    async fn refuse(
        &self,
        sock: &UdpSocket,
        e: &FileError,
        fail: impl Fn(ErrorCode, String, String, Option<&[u8]>, Direction),
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
        });
        send_error(sock, None, e.tftp_code(), &e.to_string()).await;
        fail(e.tftp_code(), e.to_string(), dev, None, dir);
    }

    /// Sends `bytes` with the negotiated options; returns the reason on failure.
    async fn send_file(
        &self,
        sock: &UdpSocket,
        bytes: &[u8],
        neg: &Negotiated,
        limits: &headend_model::configsrv::TftpLimits,
    ) -> Result<(), (ErrorCode, &'static str)> {
        let rto = neg
            .timeout
            .map(|s| Duration::from_secs(u64::from(s)))
            .unwrap_or(limits.retransmit);
        let blk = usize::from(neg.blksize.max(1));
        let nblocks = (bytes.len() / blk) as u64 + 1;
        let window = u64::from(neg.windowsize.max(1));
        let mut rbuf = [0u8; 516];
        if !neg.oack.is_empty() {
            let mut out = Vec::with_capacity(64);
            encode_oack(
                neg.oack.iter().map(|(n, v)| (n.as_str(), v.as_str())),
                &mut out,
            );
            let mut tries = 0;
            let _ = sock.send(&out).await;
            loop {
                match recv(sock, &mut rbuf, rto).await {
                    Wait::Timeout => {
                        tries += 1;
                        if tries > limits.retries {
                            return Err((ErrorCode::NotDefined, "no ACK of the OACK"));
                        }
                        self.stats.retransmits.fetch_add(1, Ordering::Relaxed);
                        let _ = sock.send(&out).await;
                    }
                    Wait::Closed => return Err((ErrorCode::NotDefined, "client unreachable")),
                    Wait::Packet(n) => match Packet::parse(rbuf.get(..n).unwrap_or_default()) {
                        Ok(Packet::Ack { block: 0 }) => break,
                        Ok(Packet::Error { .. }) => {
                            return Err((ErrorCode::OptionNegotiation, "client refused the OACK"))
                        }
                        Ok(Packet::Ack { .. }) => {
                            self.stats.duplicate_acks.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => self.drop_reason("tftp_unexpected_packet"),
                    },
                }
            }
        }

        let mut base: u64 = 1;
        while base <= nblocks {
            let end = (base + window - 1).min(nblocks);
            let pkts: Vec<Vec<u8>> = (base..=end)
                .map(|i| {
                    let start = usize::try_from(i - 1)
                        .unwrap_or(usize::MAX)
                        .saturating_mul(blk);
                    let stop = start.saturating_add(blk).min(bytes.len());
                    let chunk = bytes.get(start..stop).unwrap_or_default();
                    let mut p = Vec::with_capacity(chunk.len() + 4);
                    encode_data((i & 0xffff) as u16, chunk, &mut p);
                    p
                })
                .collect();
            for p in &pkts {
                let _ = sock.send(p).await;
            }
            let mut tries = 0;
            loop {
                match recv(sock, &mut rbuf, rto).await {
                    Wait::Timeout => {
                        tries += 1;
                        if tries > limits.retries {
                            return Err((ErrorCode::NotDefined, "no ACK"));
                        }
                        self.stats.retransmits.fetch_add(1, Ordering::Relaxed);
                        for p in &pkts {
                            let _ = sock.send(p).await;
                        }
                    }
                    Wait::Closed => return Err((ErrorCode::NotDefined, "client unreachable")),
                    Wait::Packet(n) => match Packet::parse(rbuf.get(..n).unwrap_or_default()) {
                        Ok(Packet::Ack { block }) => {
                            match block_index(base.saturating_sub(1), end, block) {
                                Some(i) if i >= base => {
                                    base = i + 1;
                                    break;
                                }
                                // An old ACK: ignored, the timer decides (Sorcerer's Apprentice).
                                _ => {
                                    self.stats.duplicate_acks.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        Ok(Packet::Error { .. }) => {
                            return Err((ErrorCode::NotDefined, "client aborted"))
                        }
                        _ => self.drop_reason("tftp_unexpected_packet"),
                    },
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn receive(
        &self,
        sock: &UdpSocket,
        filename: &str,
        mode: Mode,
        neg: Negotiated,
        up: super::files::Upload,
        dev: String,
        limits: &headend_model::configsrv::TftpLimits,
    ) {
        let peer = sock
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
        let rto = neg
            .timeout
            .map(|s| Duration::from_secs(u64::from(s)))
            .unwrap_or(limits.retransmit);
        let blk = usize::from(neg.blksize.max(1));
        let window = u64::from(neg.windowsize.max(1));
        let mut last_ack = Vec::with_capacity(64);
        if neg.oack.is_empty() {
            encode_ack(0, &mut last_ack);
        } else {
            encode_oack(
                neg.oack.iter().map(|(n, v)| (n.as_str(), v.as_str())),
                &mut last_ack,
            );
        }
        let _ = sock.send(&last_ack).await;
        let mut data: Vec<u8> = Vec::new();
        let mut rbuf = vec![0u8; blk + 5];
        let mut next: u64 = 1;
        let mut tries = 0;
        let mut since_ack: u64 = 0;
        let failed = |code: ErrorCode, why: String, bytes: Option<&[u8]>| {
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            self.files.record(TransferRecord::new(
                dev.clone(),
                peer.ip(),
                "tftp",
                Direction::Upload,
                filename,
                bytes,
                None,
                TransferResult::Failed {
                    code: code.code(),
                    reason: why,
                },
            ));
        };
        loop {
            match recv(sock, &mut rbuf, rto).await {
                Wait::Timeout => {
                    tries += 1;
                    if tries > limits.retries {
                        failed(ErrorCode::NotDefined, "no DATA".into(), None);
                        return;
                    }
                    self.stats.retransmits.fetch_add(1, Ordering::Relaxed);
                    let _ = sock.send(&last_ack).await;
                }
                Wait::Closed => {
                    failed(ErrorCode::NotDefined, "client unreachable".into(), None);
                    return;
                }
                Wait::Packet(n) => match Packet::parse(rbuf.get(..n).unwrap_or_default()) {
                    Ok(Packet::Data { block, data: chunk }) => {
                        if (next & 0xffff) as u16 != block {
                            // Out of order or a duplicate: acknowledge what we have (RFC 7440).
                            last_ack.clear();
                            encode_ack(((next - 1) & 0xffff) as u16, &mut last_ack);
                            let _ = sock.send(&last_ack).await;
                            since_ack = 0;
                            continue;
                        }
                        if chunk.len() > blk {
                            self.drop_reason("tftp_oversized_block");
                            send_error(
                                sock,
                                None,
                                ErrorCode::IllegalOperation,
                                "block larger than blksize",
                            )
                            .await;
                            failed(ErrorCode::IllegalOperation, "oversized block".into(), None);
                            return;
                        }
                        if (data.len() + chunk.len()) as u64 > up.max_size {
                            self.drop_reason("tftp_upload_too_large");
                            send_error(
                                sock,
                                None,
                                ErrorCode::DiskFull,
                                "upload exceeds the size limit",
                            )
                            .await;
                            failed(ErrorCode::DiskFull, "too large".into(), None);
                            return;
                        }
                        data.extend_from_slice(chunk);
                        tries = 0;
                        let last = chunk.len() < blk;
                        since_ack += 1;
                        next += 1;
                        if last {
                            let content = if mode == Mode::Netascii {
                                from_netascii(&data)
                            } else {
                                data
                            };
                            let files = self.files.clone();
                            let up2 = up.clone();
                            let c2 = content.clone();
                            let r =
                                tokio::task::spawn_blocking(move || files.commit_upload(&up2, &c2))
                                    .await;
                            match r {
                                Ok(Ok(())) => {}
                                Ok(Err(e)) => {
                                    send_error(sock, None, e.tftp_code(), &e.to_string()).await;
                                    failed(e.tftp_code(), e.to_string(), Some(&content));
                                    return;
                                }
                                Err(_) => return,
                            }
                            last_ack.clear();
                            encode_ack(block, &mut last_ack);
                            let _ = sock.send(&last_ack).await;
                            self.stats.uploads.fetch_add(1, Ordering::Relaxed);
                            self.files.record(TransferRecord::new(
                                dev.clone(),
                                peer.ip(),
                                "tftp",
                                Direction::Upload,
                                filename,
                                Some(&content),
                                None,
                                TransferResult::Complete,
                            ));
                            // Dally: the final ACK may be lost; answer a resent last block once.
                            if let Wait::Packet(_) =
                                recv(sock, &mut rbuf, rto.min(Duration::from_secs(1))).await
                            {
                                let _ = sock.send(&last_ack).await;
                            }
                            return;
                        }
                        if since_ack >= window {
                            last_ack.clear();
                            encode_ack(block, &mut last_ack);
                            let _ = sock.send(&last_ack).await;
                            since_ack = 0;
                        }
                    }
                    Ok(Packet::Error { .. }) => {
                        failed(ErrorCode::NotDefined, "client aborted".into(), None);
                        return;
                    }
                    _ => self.drop_reason("tftp_unexpected_packet"),
                },
            }
        }
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

    #[test]
    fn block_numbers_wrap() {
        assert_eq!(block_index(65534, 65537, 0), Some(65536));
        assert_eq!(block_index(65534, 65537, 1), Some(65537));
        assert_eq!(block_index(65534, 65537, 65535), Some(65535));
        assert_eq!(block_index(10, 12, 9), None);
        assert_eq!(block_index(0, 3, 0), Some(0));
    }
}
