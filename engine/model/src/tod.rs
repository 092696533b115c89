//! The Time protocol server section (RFC 868; the time server of the
//! CableLabs cable modem boot, DOCSIS option 4 "time server"): `[tod]`,
//! validated into [`TodSettings`]. Absent = not served.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::build::Builder;

/// `[tod]`: the RFC 868 server, on UDP and TCP at every listen address.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TodSection {
    /// Socket addresses (RFC 868 port 37), e.g. `"127.0.0.1:6037"`; UDP and TCP are both served.
    pub listen: Vec<Spanned<String>>,
    /// Concurrent TCP connections; a connection beyond them is closed unanswered.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Milliseconds a TCP client has to take the 4 bytes before it is dropped.
    #[serde(default = "default_write_timeout_ms")]
    pub write_timeout_ms: u64,
}

fn default_max_connections() -> usize {
    256
}

fn default_write_timeout_ms() -> u64 {
    2000
}

/// Validated `[tod]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodSettings {
    /// Where UDP and TCP are served.
    pub listen: Vec<SocketAddr>,
    /// Concurrent TCP connections.
    pub max_connections: usize,
    /// TCP write deadline.
    pub write_timeout: Duration,
}

/// Validates `[tod]`; errors go to the builder.
pub(crate) fn build(
    b: &mut Builder<'_>,
    section: Option<&Spanned<TodSection>>,
) -> Option<TodSettings> {
    let s = section?;
    let t = s.get_ref();
    let listen = b.listen_addrs(
        "tod",
        s.span().start,
        &t.listen,
        ("127.0.0.1:6037", "[::1]:37"),
    );
    if !(1..=65_536).contains(&t.max_connections) || !(1..=60_000).contains(&t.write_timeout_ms) {
        b.err(
            s.span().start,
            "[tod] max_connections must be 1 to 65536 and write_timeout_ms 1 to 60000",
            "use e.g. max_connections = 256, write_timeout_ms = 2000",
        );
    }
    Some(TodSettings {
        listen,
        max_connections: t.max_connections,
        write_timeout: Duration::from_millis(t.write_timeout_ms),
    })
}

/// What a reload cannot change (the sockets are bound at start): a message
/// when `old` and `new` differ in it.
pub fn restart_change(old: Option<&TodSettings>, new: Option<&TodSettings>) -> Option<String> {
    (old.map(|t| &t.listen) != new.map(|t| &t.listen))
        .then(|| "ToD (RFC 868) listener addresses cannot change by reload".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::snapshot::load_test_config as load;

    #[test]
    fn section_defaults_and_absence() {
        assert_eq!(load("").unwrap().tod, None);
        let t = load("[tod]\nlisten = [\"127.0.0.1:6037\", \"[::1]:6037\"]\n")
            .unwrap()
            .tod
            .unwrap();
        assert_eq!(t.listen.len(), 2);
        assert_eq!(t.max_connections, 256);
        assert_eq!(t.write_timeout, Duration::from_secs(2));
    }

    #[test]
    fn bad_values_name_their_line() {
        let e = load("[tod]\nlisten = [\"nowhere\"]\n").unwrap_err();
        assert!(e.starts_with("t.toml:4: listen address \"nowhere\""), "{e}");
        let e = load("[tod]\nlisten = []\nmax_connections = 0\n").unwrap_err();
        assert!(e.contains("[tod] has no listen address"), "{e}");
        assert!(e.contains("max_connections must be 1 to 65536"), "{e}");
        let e = load("[tod]\nlisten = [\"127.0.0.1:37\"]\nport = 37\n").unwrap_err();
        assert!(e.contains("unknown field `port`"), "{e}");
    }

    #[test]
    fn only_the_listeners_need_a_restart() {
        let a = load("[tod]\nlisten = [\"127.0.0.1:6037\"]\n").unwrap();
        let b = load("[tod]\nlisten = [\"127.0.0.1:6037\"]\nmax_connections = 8\n").unwrap();
        let c = load("[tod]\nlisten = [\"127.0.0.1:6038\"]\n").unwrap();
        assert_eq!(restart_change(a.tod.as_ref(), b.tod.as_ref()), None);
        assert!(restart_change(a.tod.as_ref(), c.tod.as_ref()).is_some());
        assert!(restart_change(a.tod.as_ref(), None).is_some());
    }
}
