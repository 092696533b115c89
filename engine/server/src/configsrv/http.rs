//! The HTTP config server (seed 000 section 6.1.5: the device "MAY" fetch
//! its configuration file "using the HTTP protocol"): `GET` and `HEAD` of
//! the same virtual files as TFTP, with the same device resolution (the
//! connection's source address through its lease) and access rules.
//!
//! Why no axum or hyper: the whole exchange is one request head, no body,
//! and one response with a `Content-Length`, after which the connection is
//! closed (`Connection: close`) — a device fetches one file per boot. A
//! bounded head reader (8 KiB, 10 s) and a request-line parser over tokio
//! are about a hundred lines, keep the engine's dependency tree small, and
//! leave nothing (keep-alive, pipelining, chunked bodies, upgrades) for a
//! peer to abuse. Uploads stay TFTP-only.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use headend_abi::Transfer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::files::{Direction, FileService, TransferRecord, TransferResult};

/// Largest request head accepted.
const MAX_HEAD: usize = 8192;
/// Addresses whose connections are counted apart, at most (beyond, a new
/// address is refused: the global cap bounds them anyway).
const MAX_ADDRESSES: usize = 65_536;

/// HTTP counters.
#[derive(Debug, Default)]
pub struct HttpStats {
    /// Requests answered 200.
    pub ok: AtomicU64,
    /// Requests answered with an error status.
    pub errors: AtomicU64,
}

/// The HTTP service shared by its listeners.
pub struct HttpServer {
    files: Arc<FileService>,
    active: AtomicUsize,
    /// Connections per client address (slowloris: one host cannot hold
    /// every connection slot).
    per_address: parking_lot::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
    stats: HttpStats,
}

/// One connection's place in the per-address count, given back on drop.
struct Slot<'a> {
    server: &'a HttpServer,
    ip: std::net::IpAddr,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut m = self.server.per_address.lock();
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// A parsed request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    /// The method.
    pub method: String,
    /// The decoded path, without query.
    pub path: String,
}

/// Why a request head is not acceptable, with its status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// Not `METHOD SP target SP HTTP/1.x`, or a bad escape.
    #[error("bad request")]
    BadRequest,
    /// Not origin-form (`/…`).
    #[error("bad request target")]
    BadTarget,
}

fn unhex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes a path (RFC 3986 section 2.1); NUL and invalid UTF-8 are refused.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hi = b.get(i + 1).copied().and_then(unhex)?;
            let lo = b.get(i + 2).copied().and_then(unhex)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    if out.contains(&0) {
        return None;
    }
    String::from_utf8(out).ok()
}

/// Parses the request line of a head (RFC 9112 section 3).
pub fn parse_head(head: &[u8]) -> Result<RequestLine, HeadError> {
    let text = std::str::from_utf8(head).map_err(|_| HeadError::BadRequest)?;
    let line = text.split("\r\n").next().ok_or(HeadError::BadRequest)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::BadRequest);
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() {
        return Err(HeadError::BadRequest);
    }
    if !target.starts_with('/') {
        return Err(HeadError::BadTarget);
    }
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let path = percent_decode(path).ok_or(HeadError::BadRequest)?;
    Ok(RequestLine {
        method: method.to_string(),
        path,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

// tokio's `io-util` feature is not enabled in the workspace; readiness plus
// `try_read`/`try_write` is all this needs.
async fn read_some(s: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        s.readable().await?;
        match s.try_read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}

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

async fn respond(s: &mut TcpStream, status: u16, body: &[u8], head_only: bool) {
    let extra = if status == 405 {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let ctype = if status == 200 {
        "application/octet-stream"
    } else {
        "text/plain"
    };
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    if write_all(s, head.as_bytes()).await.is_ok() && !head_only {
        let _ = write_all(s, body).await;
    }
}

async fn read_head(s: &mut TcpStream) -> Result<Vec<u8>, u16> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = read_some(s, &mut chunk).await.map_err(|_| 400u16)?;
        if n == 0 {
            return Err(400);
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(end);
            return Ok(buf);
        }
        if buf.len() > MAX_HEAD {
            return Err(431);
        }
    }
}

impl HttpServer {
    /// A server over the virtual files.
    pub fn new(files: Arc<FileService>) -> Arc<HttpServer> {
        Arc::new(HttpServer {
            files,
            active: AtomicUsize::new(0),
            per_address: Default::default(),
            stats: HttpStats::default(),
        })
    }

    /// Counters.
    pub fn stats(&self) -> &HttpStats {
        &self.stats
    }

    /// Connections being served now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Serves connections on `listener` until `stop` turns true.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
        loop {
            let (conn, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(_) => {
                        // Out of descriptors: back off instead of spinning.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
                _ = stop.changed() => break,
            };
            let max = self.files.snapshot().config_server.http_max_connections;
            if self.active.fetch_add(1, Ordering::Relaxed) >= max {
                self.active.fetch_sub(1, Ordering::Relaxed);
                self.files.counters().drop_packet("http_busy");
                let mut conn = conn;
                tokio::spawn(async move { respond(&mut conn, 503, b"busy\n", false).await });
                continue;
            }
            let me = self.clone();
            tokio::spawn(async move {
                me.admitted(conn, peer).await;
                me.active.fetch_sub(1, Ordering::Relaxed);
            });
        }
    }

    /// A connection past the global cap: the per-address cap, TCP
    /// keepalive (a vanished peer is noticed), then the request.
    async fn admitted(&self, mut conn: TcpStream, peer: SocketAddr) {
        let ip = crate::shared::v4_of(peer.ip()).map_or(peer.ip(), std::net::IpAddr::V4);
        let per = self.files.snapshot().config_server.http_max_per_address;
        let slot = {
            let mut m = self.per_address.lock();
            let known = m.contains_key(&ip);
            let n = m.get(&ip).copied().unwrap_or(0);
            if n >= per || (!known && m.len() >= MAX_ADDRESSES) {
                None
            } else {
                m.insert(ip, n + 1);
                Some(Slot { server: self, ip })
            }
        };
        let Some(_slot) = slot else {
            self.files.counters().drop_packet("http_busy_per_address");
            return respond(
                &mut conn,
                503,
                b"too many connections from this address\n",
                false,
            )
            .await;
        };
        let _ = socket2::SockRef::from(&conn).set_keepalive(true);
        self.connection(conn, peer).await;
    }

    async fn connection(&self, mut conn: TcpStream, peer: SocketAddr) {
        let (timeout, min_rate) = {
            let snap = self.files.snapshot();
            (
                snap.config_server.http_timeout,
                snap.config_server.http_min_rate,
            )
        };
        let head = match tokio::time::timeout(timeout, read_head(&mut conn)).await {
            Ok(Ok(h)) => h,
            Ok(Err(status)) => {
                self.files.counters().drop_packet("http_bad_request");
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                return respond(&mut conn, status, b"bad request\n", false).await;
            }
            Err(_) => {
                self.files.counters().drop_packet("http_head_timeout");
                return;
            }
        };
        let req = match parse_head(&head) {
            Ok(r) => r,
            Err(_) => {
                self.files.counters().drop_packet("http_bad_request");
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                return respond(&mut conn, 400, b"bad request\n", false).await;
            }
        };
        let head_only = req.method == "HEAD";
        if req.method != "GET" && !head_only {
            self.files.counters().drop_packet("http_method");
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            return respond(&mut conn, 405, b"only GET and HEAD\n", false).await;
        }
        let files = self.files.clone();
        let path = req.path.clone();
        let ip = peer.ip();
        let opened =
            tokio::task::spawn_blocking(move || files.open_read(ip, &path, Transfer::Http)).await;
        match opened {
            Ok(Ok(served)) => {
                // A client must read the response at `min_rate` at least: a
                // slow reader cannot hold a connection (and its file) for long.
                let len = if head_only {
                    0
                } else {
                    served.bytes.len() as u64
                };
                let deadline = timeout + Duration::from_millis(len.saturating_mul(1000) / min_rate);
                let sent = tokio::time::timeout(
                    deadline,
                    respond(&mut conn, 200, &served.bytes, head_only),
                )
                .await;
                if sent.is_err() {
                    self.files.counters().drop_packet("http_slow_reader");
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                self.stats.ok.fetch_add(1, Ordering::Relaxed);
                let dev = served
                    .device
                    .as_ref()
                    .map(|d| d.id.clone())
                    .unwrap_or_else(|| ip.to_string());
                self.files.record(TransferRecord::new(
                    dev,
                    ip,
                    "http",
                    Direction::Download,
                    &req.path,
                    Some(&served.digests),
                    served.config_hash.clone(),
                    TransferResult::Complete,
                ));
            }
            Ok(Err(e)) => {
                let status = e.http_status();
                self.files.counters().drop_packet(match status {
                    403 => "http_forbidden",
                    404 => "http_not_found",
                    _ => "http_server_error",
                });
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                respond(&mut conn, status, format!("{e}\n").as_bytes(), head_only).await;
                let dev = self
                    .files
                    .device(ip)
                    .map(|d| d.id)
                    .unwrap_or_else(|| ip.to_string());
                self.files.record(TransferRecord::new(
                    dev,
                    ip,
                    "http",
                    Direction::Download,
                    &req.path,
                    None,
                    None,
                    TransferResult::Failed {
                        code: status,
                        reason: e.to_string(),
                    },
                ));
            }
            Err(_) => respond(&mut conn, 500, b"internal error\n", head_only).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_lines() {
        let r = parse_head(b"GET /cm-00%3A11.cfg?x=1 HTTP/1.1\r\nHost: a").unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/cm-00:11.cfg");
        assert_eq!(
            parse_head(b"GET http://x/ HTTP/1.1"),
            Err(HeadError::BadTarget)
        );
        assert_eq!(parse_head(b"GET / HTTP/2"), Err(HeadError::BadRequest));
        assert_eq!(parse_head(b"GET /a b HTTP/1.1"), Err(HeadError::BadRequest));
        assert_eq!(parse_head(b"GET /%00 HTTP/1.1"), Err(HeadError::BadRequest));
        assert_eq!(parse_head(b"GET /%zz HTTP/1.1"), Err(HeadError::BadRequest));
        assert_eq!(parse_head(b"\xff"), Err(HeadError::BadRequest));
        // Decoding happens before confinement, so an escaped ".." is still refused later.
        assert_eq!(
            parse_head(b"GET /%2e%2e/etc/passwd HTTP/1.0").unwrap().path,
            "/../etc/passwd"
        );
    }
}
