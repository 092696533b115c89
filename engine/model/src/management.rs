//! The management section (issue 13; seed 004 section 1.2 "role-based
//! operator login", "auditing", "event publishing", "OSS integration"):
//! `[management]` with its `[[management.webhook]]`s, validated into
//! [`ManagementSettings`]. Absent = no management listener (the control
//! socket and `SIGHUP`/`SIGUSR1` still work).
//!
//! A listener off loopback must use TLS: the API carries passwords and
//! session tokens. Plain HTTP off loopback is refused unless the file says
//! `allow_plaintext = true` in so many words (a TLS-terminating proxy on
//! the same host, say).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::build::Builder;

/// `[management]`: the REST API, `/metrics` and the event stream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementSection {
    /// Socket addresses of the HTTP(S) listeners, e.g. `"127.0.0.1:6080"`.
    pub listen: Vec<Spanned<String>>,
    /// PEM certificate chain for TLS (relative to the configuration file).
    pub tls_cert: Option<Spanned<String>>,
    /// PEM private key for TLS (relative to the configuration file).
    pub tls_key: Option<Spanned<String>>,
    /// Serve plain HTTP on a non-loopback address (only behind a local TLS proxy).
    #[serde(default)]
    pub allow_plaintext: bool,
    /// How long a login session lasts, in minutes.
    #[serde(default = "default_session_minutes")]
    pub session_minutes: u32,
    /// Failed logins a source address may make per minute before it is refused.
    #[serde(default = "default_login_failures")]
    pub login_failures_per_minute: u32,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Requests served at once; beyond it they wait (bounded memory).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Published events kept for Server-Sent-Event readers that fall behind.
    #[serde(default = "default_event_buffer")]
    pub event_buffer: usize,
    /// Whether `/metrics` needs no login (a Prometheus scraper on a trusted network).
    #[serde(default)]
    pub open_metrics: bool,
    /// `[[management.webhook]]`: where events are POSTed.
    #[serde(default, rename = "webhook")]
    pub webhooks: Vec<Spanned<WebhookDecl>>,
}

/// `[[management.webhook]]`: an HTTP endpoint events are POSTed to, as JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookDecl {
    /// `http://host:port/path` (host an address or a name).
    pub url: Spanned<String>,
    /// Event kinds sent (`lease.granted`, `account.moved`, …); empty = all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Events waiting for this hook; beyond it the oldest are dropped and counted.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Attempts per event (with exponential backoff) before it is dropped.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Time allowed for one POST, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_session_minutes() -> u32 {
    60
}
fn default_login_failures() -> u32 {
    5
}
fn default_max_body() -> usize {
    1 << 20
}
fn default_max_connections() -> usize {
    256
}
fn default_event_buffer() -> usize {
    4096
}
fn default_queue() -> usize {
    1000
}
fn default_attempts() -> u32 {
    5
}
fn default_timeout_ms() -> u64 {
    5000
}

/// Validated `[management]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementSettings {
    /// Where the API is served.
    pub listen: Vec<SocketAddr>,
    /// TLS certificate chain and key files, when TLS is on.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Session lifetime.
    pub session: std::time::Duration,
    /// Failed logins per source per minute.
    pub login_failures_per_minute: u32,
    /// Body size limit.
    pub max_body_bytes: usize,
    /// Concurrent requests.
    pub max_connections: usize,
    /// Event stream backlog.
    pub event_buffer: usize,
    /// `/metrics` without login.
    pub open_metrics: bool,
    /// Webhooks.
    pub webhooks: Vec<Webhook>,
}

/// A validated webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The URL as written (`http://…`).
    pub url: String,
    /// Event kinds sent; empty = all.
    pub events: Vec<String>,
    /// Queue bound.
    pub queue: usize,
    /// Attempts per event.
    pub attempts: u32,
    /// Per-POST timeout.
    pub timeout: std::time::Duration,
}

/// Validates `[management]`; errors go to the builder.
pub(crate) fn build(
    b: &mut Builder<'_>,
    section: Option<&Spanned<ManagementSection>>,
) -> Option<ManagementSettings> {
    let s = section?;
    let t = s.get_ref();
    let at = s.span().start;
    let listen = b.listen_addrs(
        "management",
        at,
        &t.listen,
        ("127.0.0.1:6080", "[::1]:6080"),
    );
    let tls = match (&t.tls_cert, &t.tls_key) {
        (Some(c), Some(k)) => {
            let base = b.base_dir();
            let (cp, kp) = (base.join(c.get_ref()), base.join(k.get_ref()));
            for (p, v) in [(&cp, c), (&kp, k)] {
                if !p.is_file() {
                    b.err(
                        v.span().start,
                        format!("TLS file {} does not exist", p.display()),
                        "give the path of a PEM file (relative to this file)",
                    );
                }
            }
            Some((cp, kp))
        }
        (None, None) => None,
        (Some(v), None) | (None, Some(v)) => {
            b.err(
                v.span().start,
                "[management] needs both tls_cert and tls_key, or neither",
                "add the missing one",
            );
            None
        }
    };
    if tls.is_none() && !t.allow_plaintext {
        for (l, a) in t.listen.iter().zip(&listen) {
            if !a.ip().is_loopback() {
                b.err(
                    l.span().start,
                    format!("management listener {a} is not on loopback and has no TLS: passwords and tokens would cross the network in clear"),
                    "set tls_cert and tls_key, listen on 127.0.0.1, or (behind a local TLS proxy only) allow_plaintext = true",
                );
            }
        }
    }
    if !(1..=10_080).contains(&t.session_minutes) {
        b.err(
            at,
            "[management] session_minutes must be 1 to 10080 (a week)",
            "use e.g. session_minutes = 60",
        );
    }
    if !(1..=1000).contains(&t.login_failures_per_minute) {
        b.err(
            at,
            "[management] login_failures_per_minute must be 1 to 1000",
            "use e.g. login_failures_per_minute = 5",
        );
    }
    if !(1024..=64 << 20).contains(&t.max_body_bytes)
        || !(1..=65_536).contains(&t.max_connections)
        || !(16..=1 << 20).contains(&t.event_buffer)
    {
        b.err(
            at,
            "[management] max_body_bytes must be 1024 to 67108864, max_connections 1 to 65536, event_buffer 16 to 1048576",
            "use e.g. max_body_bytes = 1048576, max_connections = 256, event_buffer = 4096",
        );
    }
    let mut webhooks = Vec::new();
    for w in &t.webhooks {
        let d = w.get_ref();
        let url = d.url.get_ref();
        if !url.starts_with("http://") || url.len() <= "http://".len() {
            b.err(
                d.url.span().start,
                format!("webhook url {url:?} is not an http:// URL"),
                "write e.g. url = \"http://127.0.0.1:9000/headend\" (https: put a local TLS proxy in front)",
            );
        }
        if !(1..=1_000_000).contains(&d.queue)
            || !(1..=100).contains(&d.attempts)
            || !(10..=600_000).contains(&d.timeout_ms)
        {
            b.err(
                w.span().start,
                "webhook queue must be 1 to 1000000, attempts 1 to 100, timeout_ms 10 to 600000",
                "use e.g. queue = 1000, attempts = 5, timeout_ms = 5000",
            );
        }
        webhooks.push(Webhook {
            url: url.clone(),
            events: d.events.clone(),
            queue: d.queue,
            attempts: d.attempts,
            timeout: std::time::Duration::from_millis(d.timeout_ms),
        });
    }
    Some(ManagementSettings {
        listen,
        tls,
        session: std::time::Duration::from_secs(u64::from(t.session_minutes) * 60),
        login_failures_per_minute: t.login_failures_per_minute,
        max_body_bytes: t.max_body_bytes,
        max_connections: t.max_connections,
        event_buffer: t.event_buffer,
        open_metrics: t.open_metrics,
        webhooks,
    })
}

/// What a reload cannot change (the listeners are bound at start, the
/// webhook queues sized): a message when `old` and `new` differ in it.
pub fn restart_change(
    old: Option<&ManagementSettings>,
    new: Option<&ManagementSettings>,
) -> Option<String> {
    (old != new).then(|| "the [management] section cannot change by reload".to_string())
}

#[cfg(test)]
mod tests {
    use crate::snapshot::load_test_config as load;

    #[test]
    fn defaults_and_absence() {
        assert_eq!(load("").unwrap().management, None);
        let m = load("[management]\nlisten = [\"127.0.0.1:6080\"]\n")
            .unwrap()
            .management
            .unwrap();
        assert_eq!(m.listen.len(), 1);
        assert_eq!(m.session.as_secs(), 3600);
        assert_eq!(m.login_failures_per_minute, 5);
        assert!(m.tls.is_none() && !m.open_metrics && m.webhooks.is_empty());
    }

    #[test]
    fn remote_plaintext_is_refused_unless_said() {
        let e = load("[management]\nlisten = [\"0.0.0.0:6080\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not on loopback and has no TLS"), "{e}");
        assert!(e.contains("t.toml:"), "{e}");
        let m = load("[management]\nlisten = [\"0.0.0.0:6080\"]\nallow_plaintext = true\n")
            .unwrap()
            .management
            .unwrap();
        assert!(m.tls.is_none());
    }

    #[test]
    fn half_tls_missing_files_and_bad_webhooks_are_errors() {
        let e = load("[management]\nlisten = [\"127.0.0.1:1\"]\ntls_cert = \"c.pem\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("both tls_cert and tls_key"), "{e}");
        let e = load(
            "[management]\nlisten = [\"127.0.0.1:1\"]\ntls_cert = \"/nonexistent/c.pem\"\ntls_key = \"/nonexistent/k.pem\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("does not exist"), "{e}");
        let e = load(
            "[management]\nlisten = [\"127.0.0.1:1\"]\n[[management.webhook]]\nurl = \"ftp://x\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not an http:// URL"), "{e}");
        let e = load("[management]\nlisten = [\"127.0.0.1:1\"]\nsession_minutes = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("session_minutes"), "{e}");
    }
}
