//! The local control channel of a running server, and the writer that
//! keeps the provisioning timelines ([`crate::shared::timeline`]) in the
//! store.
//!
//! sled lets one process open the store, so `headend device show` cannot
//! read it while the server runs: it asks the server over a Unix socket,
//! `control.sock` in the store directory (mode 0600: only the user the
//! server runs as, and root, may connect; no network exposure, no
//! credentials to configure). One request line, one JSON answer line:
//!
//! ```text
//! device-show 00:10:95:aa:00:01
//! {"ok":true,"device":{…},"linked":[{…}]}
//! ```
//!
//! Requests are bounded (one line of at most 256 bytes, 5 s to send it,
//! 16 connections at once); anything else is answered with an error line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use headend_model::snapshot::Snapshot;
use headend_store::{DeviceTimeline, Store};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::component::{Component, ServerError, StartContext, Started};
use crate::shared::timeline::Timeline;
use crate::shared::Shared;

/// File name of the control socket inside the store directory.
pub const SOCKET_NAME: &str = "control.sock";

/// Longest request line accepted.
const MAX_REQUEST: usize = 256;

/// Connections served at once.
const MAX_CONNECTIONS: usize = 16;

/// How often changed timelines are written to the store.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// The control socket of the server whose store is `store_dir`.
pub fn socket_path(store_dir: &Path) -> PathBuf {
    store_dir.join(SOCKET_NAME)
}

/// The answer to `device-show`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceShow {
    /// `false` when `error` says why there is no answer.
    pub ok: bool,
    /// The device's timeline (absent: nothing recorded).
    #[serde(default)]
    pub device: Option<DeviceTimeline>,
    /// The timelines of linked devices (the eCM of an eUE, the eUE of an eCM).
    #[serde(default)]
    pub linked: Vec<DeviceTimeline>,
    /// Why the request failed.
    #[serde(default)]
    pub error: Option<String>,
    /// The device's account and bindings, when a running server answered
    /// (the same picture as `GET /api/v1/devices/{mac}`).
    #[serde(default)]
    pub picture: Option<DevicePicture>,
}

/// Who can tell what it holds of a device (the running server, which
/// sits above this module).
pub trait DevicePictures: Send + Sync {
    /// The picture of device `mac` (`aa:bb:…`).
    fn device_picture(&self, mac: &str) -> Result<DevicePicture, headend_store::StoreError>;
}

/// What the server holds of one device besides its timeline: the one
/// answer of `headend device show` and of the management API's device view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicePicture {
    /// The device MAC (`aa:bb:cc:dd:ee:ff`).
    pub mac: String,
    /// Its account (the file's declaration wins over the store).
    pub account: Option<headend_store::Account>,
    /// Whether the account is declared in the configuration file.
    pub account_from_config: bool,
    /// Its DHCPv4 leases (hardware client key).
    pub leases: Vec<headend_store::Lease4>,
    /// Its DHCPv6 bindings, and those of devices behind it when a modem.
    pub leases6: Vec<headend_store::Lease6>,
}

/// A device's timeline and its linked devices' from `timeline` (memory)
/// or `store`.
pub fn device_show(timeline: &Timeline, store: &dyn Store, mac: &str) -> DeviceShow {
    let fail = |e: String| DeviceShow {
        ok: false,
        device: None,
        linked: Vec::new(),
        error: Some(e),
        picture: None,
    };
    let device = match timeline.show(store, mac) {
        Ok(d) => d,
        Err(e) => return fail(e.to_string()),
    };
    let mut linked = Vec::new();
    for l in device.iter().flat_map(|d| d.linked.iter()) {
        match timeline.show(store, l) {
            Ok(Some(t)) => linked.push(t),
            Ok(None) => {}
            Err(e) => return fail(e.to_string()),
        }
    }
    DeviceShow {
        ok: true,
        device,
        linked,
        error: None,
        picture: None,
    }
}

/// The control channel component.
pub struct Control {
    store: Arc<dyn Store>,
    timeline: Arc<Timeline>,
    path: parking_lot::Mutex<Option<PathBuf>>,
    /// The running server, for the device picture (set when it runs).
    server: std::sync::OnceLock<std::sync::Weak<dyn DevicePictures>>,
}

impl Control {
    /// Builds the component from the shared state.
    pub fn open(shared: &Shared) -> Arc<Control> {
        Arc::new(Control {
            store: shared.store.clone(),
            timeline: shared.timeline.clone(),
            path: parking_lot::Mutex::new(None),
            server: std::sync::OnceLock::new(),
        })
    }

    /// Answers `device-show` with `server`'s whole device picture.
    pub fn set_server(&self, server: std::sync::Weak<dyn DevicePictures>) {
        let _ = self.server.set(server);
    }

    /// Writes the changed timelines (from a blocking thread: sled may wait on disk).
    async fn flush(&self) {
        let (timeline, store) = (self.timeline.clone(), self.store.clone());
        match tokio::task::spawn_blocking(move || timeline.flush(store.as_ref())).await {
            Ok(Ok(n)) if n > 0 => debug!(timelines = n, "timelines written"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!(error = %e, "cannot write device timelines"),
            Err(e) => warn!(error = %e, "timeline writer failed"),
        }
    }

    async fn answer(&self, line: &str) -> String {
        let mut words = line.split_whitespace();
        let reply = match (words.next(), words.next(), words.next()) {
            (Some("device-show"), Some(mac), None) => {
                let (t, s, mac) = (self.timeline.clone(), self.store.clone(), mac.to_string());
                let server = self.server.get().and_then(std::sync::Weak::upgrade);
                tokio::task::spawn_blocking(move || {
                    let mut shown = device_show(&t, s.as_ref(), &mac);
                    if let Some(server) = server.filter(|_| shown.ok) {
                        match server.device_picture(&mac) {
                            Ok(p) => shown.picture = Some(p),
                            Err(e) => shown.error = Some(e.to_string()),
                        }
                    }
                    shown
                })
                .await
                .unwrap_or_else(|e| DeviceShow {
                    ok: false,
                    device: None,
                    linked: Vec::new(),
                    error: Some(e.to_string()),
                    picture: None,
                })
            }
            _ => DeviceShow {
                ok: false,
                device: None,
                linked: Vec::new(),
                error: Some(format!(
                    "unknown request {line:?}; requests: device-show MAC"
                )),
                picture: None,
            },
        };
        serde_json::to_string(&reply).unwrap_or_else(|e| {
            format!("{{\"ok\":false,\"error\":\"cannot encode the answer: {e}\"}}")
        })
    }

    async fn serve(self: Arc<Self>, stream: UnixStream) {
        let (r, mut w) = stream.into_split();
        let mut line = String::new();
        let mut r = BufReader::new(r).take(MAX_REQUEST as u64);
        let read = tokio::time::timeout(Duration::from_secs(5), r.read_line(&mut line)).await;
        let reply = match read {
            Ok(Ok(_)) if line.ends_with('\n') => self.answer(line.trim()).await,
            Ok(Ok(_)) => {
                "{\"ok\":false,\"error\":\"request line too long or unterminated\"}".into()
            }
            Ok(Err(e)) => format!("{{\"ok\":false,\"error\":\"{e}\"}}"),
            Err(_) => "{\"ok\":false,\"error\":\"request timed out\"}".into(),
        };
        let _ = w.write_all(reply.as_bytes()).await;
        let _ = w.write_all(b"\n").await;
        let _ = w.shutdown().await;
    }
}

/// Binds `path`, replacing a socket file no server answers on.
fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("another server answers on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let l = UnixListener::bind(path)?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

impl Component for Control {
    fn name(&self) -> &'static str {
        "control"
    }

    fn start(self: Arc<Self>, snap: &Snapshot, ctx: &StartContext) -> Result<Started, ServerError> {
        let mut started = Started::default();
        // The writer runs whether or not the socket can be bound.
        let writer = {
            let me = self.clone();
            let mut stop = ctx.stop.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(FLUSH_EVERY);
                loop {
                    tokio::select! {
                        _ = every.tick() => me.flush().await,
                        _ = stop.changed() => break,
                    }
                }
                // The last steps recorded before the stop.
                me.flush().await;
                Ok(())
            })
        };
        started.tasks.push(writer);
        let path = socket_path(&snap.store_path);
        // The packet path does not depend on the control channel: a socket
        // that cannot be bound is logged, and the server serves without it.
        let listener = match std::fs::create_dir_all(&snap.store_path).and_then(|()| bind(&path)) {
            Ok(l) => l,
            Err(e) => {
                warn!(socket = %path.display(), error = %e, "no control channel; `headend device show` cannot reach this server");
                return Ok(started);
            }
        };
        info!(socket = %path.display(), "control channel");
        *self.path.lock() = Some(path);
        let me = self.clone();
        let mut stop = ctx.stop.clone();
        started.tasks.push(tokio::spawn(async move {
            let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let Ok(permit) = permits.clone().try_acquire_owned() else {
                            drop(stream); // too many at once
                            continue;
                        };
                        let me = me.clone();
                        tokio::spawn(async move {
                            me.serve(stream).await;
                            drop(permit);
                        });
                    }
                    _ = stop.changed() => break,
                }
            }
            if let Some(p) = me.path.lock().take() {
                let _ = std::fs::remove_file(p);
            }
            Ok(())
        }));
        Ok(started)
    }

    fn restart_needed(&self, _old: &Snapshot, _new: &Snapshot) -> Vec<String> {
        // The socket lives in the store directory, which only a restart changes.
        Vec::new()
    }
}

/// Asks the server whose store is `store_dir` for a device's timeline.
/// `Ok(None)`: no server answers there (read the store directly).
pub async fn ask_device_show(store_dir: &Path, mac: &str) -> std::io::Result<Option<DeviceShow>> {
    let path = socket_path(store_dir);
    let mut stream = match UnixStream::connect(&path).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    stream
        .write_all(format!("device-show {mac}\n").as_bytes())
        .await?;
    let mut line = String::new();
    let mut r = BufReader::new(stream).take(64 << 20);
    tokio::time::timeout(Duration::from_secs(10), r.read_line(&mut line))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in 10 s"))??;
    serde_json::from_str(&line)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::timeline::{Outcome, Step};
    use headend_store::MemoryStore;

    async fn ask(control: &Arc<Control>, request: &[u8]) -> String {
        let (mut client, server) = UnixStream::pair().unwrap();
        let task = tokio::spawn(control.clone().serve(server));
        client.write_all(request).await.unwrap();
        let mut out = String::new();
        client.read_to_string(&mut out).await.unwrap();
        task.await.unwrap();
        out
    }

    #[tokio::test]
    async fn answers_device_show_and_refuses_anything_else() {
        let timeline = Arc::new(Timeline::default());
        timeline.record("00:10:95:00:00:01", Step::Eue(1), Outcome::Ok, "SOLICIT");
        timeline.link("00:10:95:00:00:02", "00:10:95:00:00:01");
        timeline.record("00:10:95:00:00:02", Step::Cm4, Outcome::Ok, "ACK");
        let control = Arc::new(Control {
            store: Arc::new(MemoryStore::new()),
            timeline,
            path: parking_lot::Mutex::new(None),
            server: std::sync::OnceLock::new(),
        });
        let shown: DeviceShow =
            serde_json::from_str(&ask(&control, b"device-show 00:10:95:00:00:01\n").await).unwrap();
        assert!(shown.ok);
        assert_eq!(shown.device.unwrap().events[0].step, "eUE-1");
        assert_eq!(shown.linked[0].device, "00:10:95:00:00:02");
        assert_eq!(shown.linked[0].events[0].step, "CM4");

        let unknown: DeviceShow =
            serde_json::from_str(&ask(&control, b"device-show 00:10:95:00:00:09\n").await).unwrap();
        assert!(unknown.ok && unknown.device.is_none());

        for bad in [
            &b"drop-table leases\n"[..],
            &[b'x'; 1000][..],
            b"device-show\n",
        ] {
            let a: DeviceShow = serde_json::from_str(&ask(&control, bad).await).unwrap();
            assert!(!a.ok, "{bad:?}");
            assert!(a.error.is_some());
        }
    }
}
