//! The configuration file: TOML as the operator writes it, deserialised with
//! source positions so that every error names its file and line.
//!
//! This module only aggregates the sections, each declared by the module
//! that validates it (`v4`, `provisioning`, `v6`, `configsrv`, `plugins`,
//! `tod`, `syslog`); [`crate::snapshot`] validates and compiles them into the
//! immutable snapshot the servers use.

use serde::Deserialize;
use toml::Spanned;

use crate::options::OptionTypeDecl;
pub use crate::provisioning::{
    AccountDecl, DomainDecl, FixedBindingDecl, PolicyDecl, PoolDecl, ProvisioningSection,
    VendorClassDecl,
};

pub use crate::build::ExprSource;
pub use crate::source::{ConfigError, ConfigErrors, SourceFile};
pub use crate::v4::Dhcpv4Section;

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[server]`: identity and store.
    pub server: ServerSection,
    /// `[dhcpv4]`: the DHCPv4 service; absent = not served.
    pub dhcpv4: Option<Spanned<crate::v4::Dhcpv4Section>>,
    /// `[provisioning]`: auto-provisioning.
    #[serde(default)]
    pub provisioning: ProvisioningSection,
    /// `[[vendor_class]]`.
    #[serde(default, rename = "vendor_class")]
    pub vendor_classes: Vec<Spanned<VendorClassDecl>>,
    /// `[[domain]]`.
    #[serde(default, rename = "domain")]
    pub domains: Vec<Spanned<DomainDecl>>,
    /// `[[pool]]`.
    #[serde(default, rename = "pool")]
    pub pools: Vec<Spanned<PoolDecl>>,
    /// `[[policy]]`.
    #[serde(default, rename = "policy")]
    pub policies: Vec<Spanned<PolicyDecl>>,
    /// `[[account]]`.
    #[serde(default, rename = "account")]
    pub accounts: Vec<Spanned<AccountDecl>>,
    /// `[[fixed_binding]]`.
    #[serde(default, rename = "fixed_binding")]
    pub fixed_bindings: Vec<Spanned<FixedBindingDecl>>,
    /// `[[option_type]]`: operator-declared option types (seed 004 section 5.9).
    #[serde(default, rename = "option_type")]
    pub option_types: Vec<Spanned<OptionTypeDecl>>,
    /// `[dhcpv6]`: the DHCPv6 service; absent = not served (see `v6`).
    pub dhcpv6: Option<Spanned<crate::v6::Dhcpv6Section>>,
    /// `[[pool6]]`: IPv6 address and prefix pools (see `v6`).
    #[serde(default, rename = "pool6")]
    pub pools6: Vec<Spanned<crate::v6::Pool6Decl>>,
    /// `[tftp]`: the TFTP config server (see `configsrv`).
    pub tftp: Option<Spanned<crate::configsrv::TftpSection>>,
    /// `[http]`: the HTTP config server (see `configsrv`).
    pub http: Option<Spanned<crate::configsrv::HttpSection>>,
    /// `[[plugin]]`: WASM plugins (see `plugins`).
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<Spanned<crate::plugins::PluginDecl>>,
    /// `[log]`: the logs of `headend run` (the binary checks and applies it).
    #[serde(default)]
    pub log: LogSection,
    /// `[tod]`: the RFC 868 Time server (see `tod`).
    pub tod: Option<Spanned<crate::tod::TodSection>>,
    /// `[syslog]`: the management-event receiver (see `syslog`).
    pub syslog: Option<Spanned<crate::syslog::SyslogSection>>,
    /// `[ddns]`: dynamic DNS updates of leases (see `ddns`).
    pub ddns: Option<Spanned<crate::ddns::DdnsSection>>,
    /// `[snmp]`: the SNMP provisioning server (see `snmp`).
    pub snmp: Option<Spanned<crate::snmp::SnmpSection>>,
    /// `[management]`: the REST API, metrics and events (see `management`).
    pub management: Option<Spanned<crate::management::ManagementSection>>,
    /// `[cluster]`: several nodes on one shared database (see `cluster`).
    pub cluster: Option<Spanned<crate::cluster::ClusterSection>>,
}

/// `[log]`: read once at start; the values are checked by `headend check`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// Level of every module without its own: "error", "warn", "info" (default), "debug", "trace".
    pub level: Option<Spanned<String>>,
    /// Per-module levels as tracing `EnvFilter` directives, e.g. "headend_server::configsrv=debug,sled=warn".
    pub filter: Option<Spanned<String>>,
    /// "text" (default, human-readable) or "json" (one object per line, for log shippers).
    pub format: Option<Spanned<String>>,
}

/// `[server]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Name used in logs.
    #[serde(default = "default_name")]
    pub name: String,
    /// Directory of the embedded store (relative to the config file); with
    /// `database`, it keeps only the node's own files (control socket,
    /// plugin cache).
    pub store: Spanned<String>,
    /// A PostgreSQL database holding the leases, bindings, accounts and
    /// management records instead of the embedded store
    /// (`postgres://user:password@host:port/dbname`); several nodes may
    /// share it.
    #[serde(default)]
    pub database: Option<Spanned<String>>,
    /// Group commit window in microseconds: how long the committer lets a
    /// group of lease writes grow, from when it starts gathering, before the
    /// one flush that makes them durable. A lease queued during a flush
    /// waits for that flush and then the window, so the extra ACK latency
    /// is at most one flush plus the window; a longer window means fewer
    /// flushes under load.
    #[serde(default = "default_commit_window")]
    pub commit_window_us: u64,
    /// What becomes of the provisioning timeline (`headend device show`):
    /// "stored" (default), "memory" or "off".
    #[serde(default)]
    pub timeline: TimelineMode,
}

/// `[server] timeline`: how much of every device's provisioning timeline
/// the server keeps. Writing each device's steps to the store costs a store
/// write per device in a boot storm (about a tenth of the CPU of a DHCPv6
/// SARR); a site that does not want the history across restarts keeps it
/// in memory, one that does not look at it turns it off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimelineMode {
    /// Recorded in memory and written to the store (survives restarts).
    #[default]
    Stored,
    /// Recorded in memory only (the newest devices, lost at restart).
    Memory,
    /// Not recorded.
    Off,
}

fn default_commit_window() -> u64 {
    1000
}

fn default_name() -> String {
    "headend".into()
}

/// Parses the TOML text of a configuration file.
pub fn parse(src: &SourceFile) -> Result<ConfigFile, ConfigError> {
    toml::from_str::<ConfigFile>(&src.text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        let message = e.message().to_string();
        let fix = if message.contains("unknown field") {
            "remove or correct the misspelt key (the message lists the valid ones)"
        } else if message.contains("missing field") {
            "add the required key"
        } else {
            "correct the TOML syntax or the value's type"
        };
        src.error_at(offset, message, fix)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_names_line() {
        let s = SourceFile::new(
            "bad.toml".into(),
            "[server]\nstore = \"x\"\n[[pool]]\nname = \n".into(),
        );
        let e = parse(&s).unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.to_string().starts_with("bad.toml:4:"), "{e}");
    }

    #[test]
    fn unknown_key_is_rejected_with_line() {
        let s = SourceFile::new(
            "k.toml".into(),
            "[server]\nstore = \"x\"\n\n[[domain]]\nname = \"a\"\ncolour = 1\n".into(),
        );
        let e = parse(&s).unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
        assert_eq!(e.line, 6, "{e}");
    }
}
