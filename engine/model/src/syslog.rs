//! The syslog receiver section (seed 000 section 6.1.6, interface
//! pkt-eue-6: management events from eUEs, eMTAs and cable modems over
//! RFC 3164 / RFC 5424 syslog on UDP, RFC 5426): `[syslog]`, validated into
//! [`SyslogSettings`]. Absent = not served.

use std::net::SocketAddr;

use serde::Deserialize;
use toml::Spanned;

use crate::build::Builder;

/// `[syslog]`: the management-event receiver, UDP at every listen address.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSection {
    /// Socket addresses (syslog port 514; RFC 5428 devices default to 6514), e.g. `"127.0.0.1:6514"`.
    pub listen: Vec<Spanned<String>>,
    /// Messages per second each source address may send (token refill rate).
    #[serde(default = "default_rate")]
    pub rate_per_source: u32,
    /// Messages a source may send at once before the rate applies (bucket size).
    #[serde(default = "default_burst")]
    pub burst_per_source: u32,
    /// Source addresses whose rate is tracked apart; beyond them, new sources share one bucket.
    #[serde(default = "default_max_sources")]
    pub max_sources: usize,
    /// Decoded messages waiting for the event handler; beyond it they are dropped and counted.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Whether a MAC named in a message ties it to that device (a CMTS
    /// reports about its modems); `false`: only the sender's lease does, for
    /// a syslog port that untrusted hosts can reach (syslog is unauthenticated).
    #[serde(default = "default_accept_message_mac")]
    pub accept_message_mac: bool,
    /// Senders (addresses or networks, e.g. the CMTSs) whose events about a
    /// device named by MAC may change that device's account. From any other
    /// sender, only an event from the address leased to the device it names
    /// may (syslog is unauthenticated: anybody can name any MAC).
    #[serde(default)]
    pub trusted_sources: Vec<Spanned<String>>,
}

fn default_rate() -> u32 {
    20
}
fn default_burst() -> u32 {
    50
}
fn default_max_sources() -> usize {
    65_536
}
fn default_queue() -> usize {
    1024
}
fn default_accept_message_mac() -> bool {
    true
}

/// Validated `[syslog]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogSettings {
    /// Where UDP is served.
    pub listen: Vec<SocketAddr>,
    /// Token refill per second per source.
    pub rate_per_source: u32,
    /// Bucket size per source.
    pub burst_per_source: u32,
    /// Sources tracked apart.
    pub max_sources: usize,
    /// Queue between the sockets and the event handler.
    pub queue: usize,
    /// Whether a message's MAC ties it to a device, or only the sender's lease.
    pub accept_message_mac: bool,
    /// Senders whose MAC-named events may change accounts.
    pub trusted_sources: Vec<ipnet::IpNet>,
}

/// Validates `[syslog]`; errors go to the builder.
pub(crate) fn build(
    b: &mut Builder<'_>,
    section: Option<&Spanned<SyslogSection>>,
) -> Option<SyslogSettings> {
    let s = section?;
    let t = s.get_ref();
    let listen = b.listen_addrs(
        "syslog",
        s.span().start,
        &t.listen,
        ("127.0.0.1:6514", "[::1]:514"),
    );
    if !(1..=1_000_000).contains(&t.rate_per_source)
        || !(1..=1_000_000).contains(&t.burst_per_source)
    {
        b.err(
            s.span().start,
            "[syslog] rate_per_source and burst_per_source must be 1 to 1000000",
            "use e.g. rate_per_source = 20, burst_per_source = 50",
        );
    }
    if !(1..=1 << 22).contains(&t.max_sources) || !(1..=1 << 20).contains(&t.queue) {
        b.err(
            s.span().start,
            "[syslog] max_sources must be 1 to 4194304 and queue 1 to 1048576",
            "use e.g. max_sources = 65536, queue = 1024",
        );
    }
    let trusted_sources = b.networks(&t.trusted_sources, "trusted source");
    Some(SyslogSettings {
        trusted_sources,
        listen,
        rate_per_source: t.rate_per_source,
        burst_per_source: t.burst_per_source,
        max_sources: t.max_sources,
        queue: t.queue,
        accept_message_mac: t.accept_message_mac,
    })
}

/// What a reload cannot change (the sockets are bound and the queue sized
/// at start): a message when `old` and `new` differ in it.
pub fn restart_change(
    old: Option<&SyslogSettings>,
    new: Option<&SyslogSettings>,
) -> Option<String> {
    let fixed = |s: Option<&SyslogSettings>| s.map(|s| (s.listen.clone(), s.queue));
    (fixed(old) != fixed(new))
        .then(|| "syslog listener addresses and queue size cannot change by reload".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::snapshot::load_test_config as load;

    #[test]
    fn section_defaults_and_absence() {
        assert_eq!(load("").unwrap().syslog, None);
        let s = load("[syslog]\nlisten = [\"127.0.0.1:6514\", \"[::1]:6514\"]\n")
            .unwrap()
            .syslog
            .unwrap();
        assert_eq!(s.listen.len(), 2);
        assert_eq!((s.rate_per_source, s.burst_per_source), (20, 50));
        assert_eq!((s.max_sources, s.queue), (65_536, 1024));
        assert!(s.accept_message_mac);
    }

    #[test]
    fn bad_values_name_their_line() {
        let e = load("[syslog]\nlisten = [\"nowhere\"]\n").unwrap_err();
        assert!(e.starts_with("t.toml:4: listen address \"nowhere\""), "{e}");
        let e = load("[syslog]\nlisten = []\nrate_per_source = 0\nqueue = 0\n").unwrap_err();
        assert!(e.contains("[syslog] has no listen address"), "{e}");
        assert!(
            e.contains("rate_per_source and burst_per_source must be"),
            "{e}"
        );
        assert!(e.contains("queue 1 to 1048576"), "{e}");
        let e = load("[syslog]\nlisten = [\"127.0.0.1:514\"]\nport = 514\n").unwrap_err();
        assert!(e.contains("unknown field `port`"), "{e}");
        let s = load(
            "[syslog]\nlisten = [\"127.0.0.1:514\"]\ntrusted_sources = [\"10.0.0.0/8\", \"::1\"]\n",
        )
        .unwrap()
        .syslog
        .unwrap();
        assert_eq!(s.trusted_sources.len(), 2);
        let e = load("[syslog]\nlisten = [\"127.0.0.1:514\"]\ntrusted_sources = [\"cmts\"]\n")
            .unwrap_err();
        assert!(e.contains("t.toml:5: trusted source \"cmts\""), "{e}");
    }

    #[test]
    fn listeners_and_queue_need_a_restart_limits_do_not() {
        let a = load("[syslog]\nlisten = [\"127.0.0.1:6514\"]\n").unwrap();
        let b = load("[syslog]\nlisten = [\"127.0.0.1:6514\"]\nrate_per_source = 5\n").unwrap();
        let c = load("[syslog]\nlisten = [\"127.0.0.1:6515\"]\n").unwrap();
        let d = load("[syslog]\nlisten = [\"127.0.0.1:6514\"]\nqueue = 8\n").unwrap();
        assert_eq!(restart_change(a.syslog.as_ref(), b.syslog.as_ref()), None);
        assert!(restart_change(a.syslog.as_ref(), c.syslog.as_ref()).is_some());
        assert!(restart_change(a.syslog.as_ref(), d.syslog.as_ref()).is_some());
        assert!(restart_change(a.syslog.as_ref(), None).is_some());
    }
}
