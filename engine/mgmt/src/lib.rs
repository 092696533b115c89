//! The management plane of headend (issue 13; seed 004 section 1.2
//! "role-based operator login", "auditing", "event publishing", "event
//! triggers", "OSS integration"; sections 3.5–3.6 for manual provisioning
//! of accounts): a REST API under `/api/v1` (JSON, OpenAPI document at
//! `/api/v1/openapi.json`), `/metrics` in the Prometheus text format, the
//! event stream as Server-Sent Events and webhooks — served by the running
//! `headend run` process from its `[management]` listeners.
//!
//! Built on axum/hyper (HTTP/1.1), rustls for TLS and argon2 for
//! passwords; nothing here is on the packet path: handlers read the
//! servers' tables and the store, and write through the same group
//! committer the DHCP servers use, so a change is durable before it is
//! acknowledged and takes effect at the device's next exchange.

pub mod api;
pub mod audit;
pub mod auth;
pub mod console;
pub mod error;
pub mod events;
pub mod overview;
pub mod users;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use headend_model::management::ManagementSettings;
use headend_server::runtime::Server;
use headend_store::{Mutation, StoreError};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tracing::{debug, info};

/// Runs `headend explain` for the API (the binary supplies it): the
/// configuration file and the described device, to the JSON of
/// `explain --json`.
pub type Explainer =
    Arc<dyn Fn(&Path, &api::ExplainRequest) -> Result<serde_json::Value, String> + Send + Sync>;

/// Why the management plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum MgmtError {
    /// A listener could not be bound.
    #[error("management listener {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    /// The TLS certificate or key could not be used.
    #[error("management TLS: {0}")]
    Tls(String),
}

/// Counters of the management plane, exported with the server's.
#[derive(Debug, Default)]
pub struct MgmtCounters {
    /// Requests answered, by status class.
    pub responses: [AtomicU64; 5],
    /// Failed logins.
    pub login_failures: AtomicU64,
    /// Logins refused by the rate limit.
    pub login_limited: AtomicU64,
    /// Events dropped for slow stream readers.
    pub stream_lagged: AtomicU64,
    /// Connections refused at the connection cap or by a TLS failure.
    pub connections_refused: AtomicU64,
    /// Refused requests beyond the audit rate, counted only.
    pub refusals_unaudited: AtomicU64,
}

/// The state every handler shares.
pub struct App {
    /// The running server.
    pub server: Arc<Server>,
    /// The `[management]` settings it started with.
    pub settings: ManagementSettings,
    /// Login sessions.
    pub sessions: auth::Sessions,
    /// Counters.
    pub counters: MgmtCounters,
    /// Webhook dispatchers.
    pub webhooks: Vec<Arc<events::Webhook>>,
    /// `explain` for a described device.
    pub explainer: Option<Explainer>,
    /// (minute, refusals audited in it), for [`api::REFUSALS_AUDITED_PER_MINUTE`].
    refusals: parking_lot::Mutex<(u64, u32)>,
}

impl App {
    /// State for `server` with `settings`.
    pub fn new(
        server: Arc<Server>,
        settings: ManagementSettings,
        explainer: Option<Explainer>,
    ) -> App {
        App {
            sessions: auth::Sessions::new(settings.session, settings.login_failures_per_minute),
            webhooks: settings
                .webhooks
                .iter()
                .map(|w| Arc::new(events::Webhook::new(w.clone())))
                .collect(),
            server,
            settings,
            counters: MgmtCounters::default(),
            explainer,
            refusals: parking_lot::Mutex::new((0, 0)),
        }
    }

    /// Whether one more refused request may be audited this minute.
    pub fn refusal_audit_allowed(&self) -> bool {
        let minute = self.server.now() / 60;
        let mut r = self.refusals.lock();
        if r.0 != minute {
            *r = (minute, 0);
        }
        r.1 += 1;
        r.1 <= api::REFUSALS_AUDITED_PER_MINUTE
    }

    /// The user a bearer secret belongs to (a live session or a stored token).
    pub fn user_of_secret(&self, secret: &str) -> Option<String> {
        if secret.starts_with("hs_") {
            self.sessions.user_of(secret)
        } else {
            users::token(&**self.server.store(), secret)
                .ok()
                .flatten()
                .map(|t| t.user)
        }
    }

    /// Commits `batch` through the group committer and waits until it is
    /// durable (an audit entry travels in the same batch as its change).
    pub async fn commit(&self, batch: Vec<Mutation>) -> Result<(), StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.server.committer().submit(
            batch,
            Box::new(move |r, _| {
                let _ = tx.send(r);
            }),
        );
        rx.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Every metric of the server and of the management plane, in the
    /// Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let mut m = self.server.metrics();
        let c = &self.counters;
        for (i, class) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
            m.counter(
                "management_responses_total",
                &[("class", class)],
                c.responses[i].load(Ordering::Relaxed),
            );
        }
        m.counter(
            "management_login_failures_total",
            &[("reason", "bad_credentials")],
            c.login_failures.load(Ordering::Relaxed),
        );
        m.counter(
            "management_login_failures_total",
            &[("reason", "rate_limited")],
            c.login_limited.load(Ordering::Relaxed),
        );
        m.counter(
            "management_connections_refused_total",
            &[],
            c.connections_refused.load(Ordering::Relaxed),
        );
        m.counter(
            "management_refusals_unaudited_total",
            &[],
            c.refusals_unaudited.load(Ordering::Relaxed),
        );
        m.counter("events_published_total", &[], self.server.bus().published());
        m.counter(
            "events_dropped_total",
            &[("sink", "stream")],
            c.stream_lagged.load(Ordering::Relaxed),
        );
        for w in &self.webhooks {
            w.metrics(&mut m);
        }
        m.prometheus()
    }
}

/// The running management plane: its bound addresses and tasks.
pub struct Started {
    /// Bound listener addresses.
    pub bound: Vec<SocketAddr>,
    /// Listener and webhook tasks; they end when `stop` turns true.
    pub tasks: Vec<JoinHandle<()>>,
}

/// Binds the `[management]` listeners of `server` and serves them until
/// `stop` turns true; starts the webhook dispatchers.
pub fn start(
    server: Arc<Server>,
    settings: ManagementSettings,
    explainer: Option<Explainer>,
    stop: watch::Receiver<bool>,
) -> Result<Started, MgmtError> {
    let tls = match &settings.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let app = Arc::new(App::new(server, settings, explainer));
    let router = api::router(app.clone());
    let mut bound = Vec::new();
    let mut tasks = Vec::new();
    for w in &app.webhooks {
        tasks.push(w.clone().spawn(app.server.bus().clone(), stop.clone()));
    }
    let conns = Arc::new(Semaphore::new(app.settings.max_connections));
    for addr in app.settings.listen.clone() {
        let listener =
            headend_server::shared::tcp_listen(addr).map_err(|e| MgmtError::Bind(addr, e))?;
        let local = listener
            .local_addr()
            .map_err(|e| MgmtError::Bind(addr, e))?;
        bound.push(local);
        info!(%local, tls = tls.is_some(), "management API listening");
        let (router, tls, app, conns, mut stop) = (
            router.clone(),
            tls.clone(),
            app.clone(),
            conns.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    r = listener.accept() => match r {
                        Ok(x) => x,
                        Err(e) => {
                            debug!(error = %e, "accept");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    _ = stop.changed() => break,
                };
                let Ok(permit) = conns.clone().try_acquire_owned() else {
                    app.counters
                        .connections_refused
                        .fetch_add(1, Ordering::Relaxed);
                    drop(stream);
                    continue;
                };
                let svc = router.clone().layer(axum::Extension(auth::Peer(peer)));
                let (tls, app, stop) = (tls.clone(), app.clone(), stop.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    match tls {
                        Some(acc) => {
                            match tokio::time::timeout(Duration::from_secs(10), acc.accept(stream))
                                .await
                            {
                                Ok(Ok(s)) => serve_conn(TokioIo::new(s), svc, stop).await,
                                _ => {
                                    app.counters
                                        .connections_refused
                                        .fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        None => serve_conn(TokioIo::new(stream), svc, stop).await,
                    }
                });
            }
        }));
    }
    Ok(Started { bound, tasks })
}

/// Serves one HTTP/1.1 connection (keep-alive; a head must arrive within
/// 10 s) until it closes or the server stops.
async fn serve_conn<I>(io: I, svc: axum::Router, mut stop: watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(svc);
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .max_buf_size(64 * 1024)
        .serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                debug!(error = %e, "management connection");
            }
        }
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
}

/// A TLS acceptor from PEM files (rustls with the ring provider; TLS 1.2
/// and 1.3).
fn tls_acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, MgmtError> {
    use tokio_rustls::rustls;
    let read =
        |p: &Path| std::fs::read(p).map_err(|e| MgmtError::Tls(format!("{}: {e}", p.display())));
    let certs = rustls_pemfile::certs(&mut read(cert)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| MgmtError::Tls(format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(MgmtError::Tls(format!(
            "{}: no certificate in the file",
            cert.display()
        )));
    }
    let key = rustls_pemfile::private_key(&mut read(key)?.as_slice())
        .map_err(|e| MgmtError::Tls(format!("{}: {e}", key.display())))?
        .ok_or_else(|| MgmtError::Tls(format!("{}: no private key in the file", key.display())))?;
    // ring: builds with a C compiler only (aws-lc-rs would need cmake).
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| MgmtError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| MgmtError::Tls(e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
