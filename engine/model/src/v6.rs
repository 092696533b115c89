//! DHCPv6 configuration (RFC 8415; seed 000 Tables 3 and 6): the `[dhcpv6]`
//! section and `[[pool6]]` address and prefix ("network") pools, validated
//! into [`Dhcpv6Settings`].

use serde::Deserialize;
use toml::Spanned;

use crate::config::ConfigFile;
use crate::snapshot::Builder;

/// `[dhcpv6]`: the DHCPv6 service; absent = not served.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dhcpv6Section {
    /// Socket addresses to listen on, e.g. `"[::1]:6547"`.
    pub listen: Vec<Spanned<String>>,
}

/// `[[pool6]]`: an IPv6 address pool (IA_NA) or prefix pool (IA_PD).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool6Decl {
    /// Pool name.
    pub name: String,
}

/// Validated DHCPv6 settings.
#[derive(Debug, Clone)]
pub struct Dhcpv6Settings {
    /// Listen addresses.
    pub listen: Vec<std::net::SocketAddr>,
}

/// Validates `[dhcpv6]` and `[[pool6]]`; errors go to the builder.
pub(crate) fn build(b: &mut Builder<'_>, file: &ConfigFile) -> Option<Dhcpv6Settings> {
    let section = file.dhcpv6.as_ref()?;
    let mut listen = Vec::new();
    for l in &section.get_ref().listen {
        match l.get_ref().parse::<std::net::SocketAddr>() {
            Ok(a @ std::net::SocketAddr::V6(_)) => listen.push(a),
            _ => b.err(
                l.span().start,
                format!(
                    "listen address {:?} is not an IPv6 socket address",
                    l.get_ref()
                ),
                "write \"[address]:port\", e.g. \"[::1]:6547\"",
            ),
        }
    }
    Some(Dhcpv6Settings { listen })
}
