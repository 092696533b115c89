//! Config server settings (seed 000 section 6.1.5, pkt-eue-5; seed 004
//! section 3.2): the `[tftp]` and `[http]` sections, validated into
//! [`ConfigServerSettings`].

use serde::Deserialize;
use toml::Spanned;

use crate::config::ConfigFile;
use crate::snapshot::Builder;

/// `[tftp]`: the TFTP server; absent = not served.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TftpSection {
    /// Socket addresses to listen on, e.g. `"127.0.0.1:6969"`, `"[::1]:6969"`.
    pub listen: Vec<Spanned<String>>,
}

/// `[http]`: the HTTP config server; absent = not served.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// Socket addresses to listen on, e.g. `"127.0.0.1:6980"`.
    pub listen: Vec<Spanned<String>>,
}

/// Validated config-server settings.
#[derive(Debug, Clone, Default)]
pub struct ConfigServerSettings {
    /// TFTP listen addresses (empty = TFTP not served).
    pub tftp_listen: Vec<std::net::SocketAddr>,
    /// HTTP listen addresses (empty = HTTP not served).
    pub http_listen: Vec<std::net::SocketAddr>,
}

fn listen(b: &mut Builder<'_>, addrs: &[Spanned<String>]) -> Vec<std::net::SocketAddr> {
    let mut out = Vec::new();
    for l in addrs {
        match l.get_ref().parse::<std::net::SocketAddr>() {
            Ok(a) => out.push(a),
            Err(_) => b.err(
                l.span().start,
                format!("listen address {:?} is not a socket address", l.get_ref()),
                "write \"address:port\", e.g. \"127.0.0.1:6969\" or \"[::1]:6969\"",
            ),
        }
    }
    out
}

/// Validates `[tftp]` and `[http]`; errors go to the builder.
pub(crate) fn build(b: &mut Builder<'_>, file: &ConfigFile) -> ConfigServerSettings {
    let tftp_listen = match &file.tftp {
        Some(t) => listen(b, &t.get_ref().listen),
        None => Vec::new(),
    };
    let http_listen = match &file.http {
        Some(h) => listen(b, &h.get_ref().listen),
        None => Vec::new(),
    };
    ConfigServerSettings {
        tftp_listen,
        http_listen,
    }
}
