//! The HTTP config server (seed 000 section 6.1.5: the device "MAY" fetch
//! its configuration file "using the HTTP protocol"): `GET` and `HEAD` of
//! the same virtual files as TFTP, with the same device resolution (the
//! connection's source address through its lease) and access rules.
//!
//! On hyper's HTTP/1.1 server, the stack the management API uses too
//! (issue 13 "One HTTP stack"), with the limits a device server needs: one
//! request per connection (`Connection: close`; a device fetches one file
//! per boot), a head of at most 8 KiB read within the configured timeout
//! (hyper answers a malformed or oversized head with 400 or 431 itself),
//! a global and a per-address connection cap, and a minimum read rate for
//! the response (a slow reader is cut off). Uploads stay TFTP-only.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use headend_abi::Transfer;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

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

type Resp = hyper::Response<Full<Bytes>>;

/// A response with a body, `Content-Type` and `Connection: close`.
fn response(status: u16, ctype: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = hyper::Response::new(Full::new(body.into()));
    *r.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(ctype),
    );
    h.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    if status == 405 {
        h.insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET, HEAD"),
        );
    }
    r
}

fn text(status: u16, body: impl Into<String>) -> Resp {
    response(status, "text/plain", body.into())
}

/// The HTTP/1.1 connection settings every listener uses: one request per
/// connection, a head of at most [`MAX_HEAD`] bytes within `timeout`.
fn http1(timeout: Duration) -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .keep_alive(false)
        .max_buf_size(MAX_HEAD);
    b
}

/// Answers a connection refused at a connection cap with a fixed 503 and
/// closes it — at once, before any request: the point is not to spend a
/// reader on it (hyper answers requests, so this one response is written
/// as bytes).
async fn refuse(mut conn: TcpStream, body: &'static str) {
    use tokio::io::AsyncWriteExt as _;
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = conn.write_all(resp.as_bytes()).await;
        let _ = conn.shutdown().await;
    })
    .await;
}

/// A served file's shared bytes as a response body.
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// What a request led to, for the transfer log once the response is out.
struct Outcome {
    path: String,
    record: Option<TransferRecord>,
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
                tokio::spawn(refuse(conn, "busy\n"));
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
    async fn admitted(self: &Arc<Self>, conn: TcpStream, peer: SocketAddr) {
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
                Some(Slot {
                    server: self.as_ref(),
                    ip,
                })
            }
        };
        let Some(_slot) = slot else {
            self.files.counters().drop_packet("http_busy_per_address");
            return refuse(conn, "too many connections from this address\n").await;
        };
        let _ = socket2::SockRef::from(&conn).set_keepalive(true);
        self.connection(conn, peer).await;
    }

    /// Serves one request on `conn` with hyper: the head within the
    /// timeout (hyper answers a malformed or oversized head itself), then
    /// the response, which the client must read at `min_rate` at least — a
    /// slow reader cannot hold a connection (and its file) for long.
    async fn connection(self: &Arc<Self>, conn: TcpStream, peer: SocketAddr) {
        let (timeout, min_rate) = {
            let snap = self.files.snapshot();
            (
                snap.config_server.http_timeout,
                snap.config_server.http_min_rate,
            )
        };
        let (deadline_tx, mut deadline_rx) = tokio::sync::oneshot::channel::<Instant>();
        let deadline_tx = Arc::new(parking_lot::Mutex::new(Some(deadline_tx)));
        let outcome: Arc<parking_lot::Mutex<Option<Outcome>>> = Arc::default();
        let svc = {
            let (me, outcome) = (self.clone(), outcome.clone());
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let (me, outcome, deadline_tx) = (me.clone(), outcome.clone(), deadline_tx.clone());
                async move {
                    let (resp, out) = me.answer(&req, peer).await;
                    let len = if req.method() == hyper::Method::HEAD {
                        0
                    } else {
                        hyper::body::Body::size_hint(resp.body())
                            .exact()
                            .unwrap_or(0)
                    };
                    let until = Instant::now()
                        + timeout
                        + Duration::from_millis(len.saturating_mul(1000) / min_rate.max(1));
                    if let Some(tx) = deadline_tx.lock().take() {
                        let _ = tx.send(until);
                    }
                    *outcome.lock() = Some(out);
                    Ok::<_, std::convert::Infallible>(resp)
                }
            })
        };
        let served = http1(timeout).serve_connection(TokioIo::new(conn), svc);
        tokio::pin!(served);
        let result = tokio::select! {
            r = served.as_mut() => r,
            d = &mut deadline_rx => match d {
                Ok(until) => tokio::select! {
                    r = served.as_mut() => r,
                    _ = tokio::time::sleep_until(until) => {
                        self.files.counters().drop_packet("http_slow_reader");
                        self.stats.errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                },
                Err(_) => served.as_mut().await,
            },
        };
        if let Err(e) = result {
            let reason = if e.is_timeout() {
                "http_head_timeout"
            } else if e.is_parse() || e.is_parse_too_large() {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                "http_bad_request"
            } else {
                // The peer went away mid-response.
                "http_aborted"
            };
            self.files.counters().drop_packet(reason);
            return;
        }
        let taken = outcome.lock().take();
        if let Some(out) = taken {
            if let Some(rec) = out.record {
                self.files.record(rec);
            } else {
                tracing::trace!(path = %out.path, "http answered");
            }
        }
    }

    /// The response to one request and what to log of it.
    async fn answer(
        &self,
        req: &hyper::Request<hyper::body::Incoming>,
        peer: SocketAddr,
    ) -> (Resp, Outcome) {
        let none = |path: &str| Outcome {
            path: path.to_string(),
            record: None,
        };
        let head_only = req.method() == hyper::Method::HEAD;
        if req.method() != hyper::Method::GET && !head_only {
            self.files.counters().drop_packet("http_method");
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            return (text(405, "only GET and HEAD\n"), none(""));
        }
        // Origin-form only (`/…`): an absolute-form target names another server.
        let decoded = match req.uri().scheme() {
            Some(_) => None,
            None => percent_decode(req.uri().path()),
        };
        let Some(path) = decoded else {
            self.files.counters().drop_packet("http_bad_request");
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            return (text(400, "bad request\n"), none(""));
        };
        let files = self.files.clone();
        let ip = peer.ip();
        let p = path.clone();
        let opened =
            tokio::task::spawn_blocking(move || files.open_read(ip, &p, Transfer::Http)).await;
        match opened {
            Ok(Ok(served)) => {
                self.stats.ok.fetch_add(1, Ordering::Relaxed);
                let dev = served
                    .device
                    .as_ref()
                    .map(|d| d.id.clone())
                    .unwrap_or_else(|| ip.to_string());
                let record = TransferRecord::new(
                    dev,
                    ip,
                    "http",
                    Direction::Download,
                    &path,
                    Some(&served.digests),
                    served.config_hash.clone(),
                    TransferResult::Complete,
                );
                // The cached file itself, not a copy.
                let body = Bytes::from_owner(SharedBytes(served.bytes.clone()));
                let resp = response(200, "application/octet-stream", body);
                (
                    resp,
                    Outcome {
                        path,
                        record: Some(record),
                    },
                )
            }
            Ok(Err(e)) => {
                let status = e.http_status();
                self.files.counters().drop_packet(match status {
                    403 => "http_forbidden",
                    404 => "http_not_found",
                    _ => "http_server_error",
                });
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                let dev = self
                    .files
                    .device(ip)
                    .map(|d| d.id)
                    .unwrap_or_else(|| ip.to_string());
                let record = TransferRecord::new(
                    dev,
                    ip,
                    "http",
                    Direction::Download,
                    &path,
                    None,
                    None,
                    TransferResult::Failed {
                        code: status,
                        reason: e.to_string(),
                    },
                );
                (
                    text(status, format!("{e}\n")),
                    Outcome {
                        path,
                        record: Some(record),
                    },
                )
            }
            Err(_) => (text(500, "internal error\n"), none(&path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_refuses_nul_bad_escapes_and_bad_utf8() {
        assert_eq!(
            percent_decode("/cm-00%3A11.cfg").as_deref(),
            Some("/cm-00:11.cfg")
        );
        assert_eq!(percent_decode("/%00"), None);
        assert_eq!(percent_decode("/%zz"), None);
        assert_eq!(percent_decode("/%ff"), None);
        // Decoding happens before confinement, so an escaped ".." is still refused later.
        assert_eq!(
            percent_decode("/%2e%2e/etc/passwd").as_deref(),
            Some("/../etc/passwd")
        );
    }
}
