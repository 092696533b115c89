//! The configuration file: TOML as the operator writes it, deserialised with
//! source positions so that every error names its file and line.
//!
//! This module only reads and shapes; [`crate::snapshot`] validates and
//! compiles it into the immutable snapshot the servers use.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::options::OptionTypeDecl;

/// One configuration problem, located in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line (0 when the problem has no single place, e.g. a missing section).
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)?;
        } else {
            write!(f, "{}: {}", self.file.display(), self.message)?;
        }
        if !self.fix.is_empty() {
            write!(f, "\n    fix: {}", self.fix)?;
        }
        Ok(())
    }
}

/// All problems found in one configuration, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A loaded file: its path, text and a byte-offset → line map.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as given (used in messages).
    pub path: PathBuf,
    /// The whole text.
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Wraps a text read from `path`.
    pub fn new(path: PathBuf, text: String) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            path,
            text,
            line_starts,
        }
    }

    /// Reads a file from disk.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        std::fs::read_to_string(path)
            .map(|t| SourceFile::new(path.to_path_buf(), t))
            .map_err(|e| ConfigError {
                file: path.to_path_buf(),
                line: 0,
                message: format!("cannot read the file: {e}"),
                fix: "check the path and its permissions".into(),
            })
    }

    /// 1-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    /// An error at a byte offset.
    pub fn error_at(
        &self,
        offset: usize,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.path.clone(),
            line: self.line_of(offset),
            message: message.into(),
            fix: fix.into(),
        }
    }

    /// The directory relative paths in this file are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }
}

/// The whole configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[server]`: identity and store.
    pub server: ServerSection,
    /// `[dhcpv4]`: the DHCPv4 service; absent = not served.
    pub dhcpv4: Option<Spanned<Dhcpv4Section>>,
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
    /// Directory of the embedded store (relative to the config file).
    pub store: Spanned<String>,
    /// Group commit window in microseconds: how long the committer lets a
    /// group of lease writes grow, from when it starts gathering, before the
    /// one flush that makes them durable. A lease queued during a flush
    /// waits for that flush and then the window, so the extra ACK latency
    /// is at most one flush plus the window; a longer window means fewer
    /// flushes under load.
    #[serde(default = "default_commit_window")]
    pub commit_window_us: u64,
}

fn default_commit_window() -> u64 {
    1000
}

fn default_name() -> String {
    "headend".into()
}

/// `[dhcpv4]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dhcpv4Section {
    /// Socket addresses to listen on (`"127.0.0.1:6767"`, `"0.0.0.0:67"`).
    pub listen: Vec<Spanned<String>>,
    /// Bind the sockets to this interface (SO_BINDTODEVICE), for a directly attached segment.
    pub interface: Option<String>,
    /// Server identifier (option 54) when the listen address is a wildcard.
    pub server_id: Option<Spanned<String>>,
    /// Destination port of replies to relay agents (RFC 2131: 67).
    #[serde(default = "default_relay_port")]
    pub relay_port: u16,
    /// Destination port of replies to clients (RFC 2131: 68).
    #[serde(default = "default_client_port")]
    pub client_port: u16,
    /// Seconds an offered address stays reserved.
    #[serde(default = "default_offer_hold")]
    pub offer_hold: u32,
    /// Seconds a declined address is quarantined.
    #[serde(default = "default_decline_hold")]
    pub decline_hold: u32,
    /// Lease time when nothing else says.
    #[serde(default = "default_lease_time")]
    pub default_lease_time: u32,
    /// Upper bound for client-requested lease times.
    #[serde(default = "default_max_lease_time")]
    pub max_lease_time: u32,
    /// Largest reply (IP datagram size) ever sent; option 57 raises the 576 default up to it.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: u16,
    /// Rhai operation budget per expression evaluation.
    #[serde(default = "default_expression_operations")]
    pub expression_operations: u64,
    /// Answer BOOTP (RFC 951) requests.
    #[serde(default = "default_true")]
    pub bootp: bool,
    /// Whether this server is authoritative for its pools (NAK unknown requests, RFC 2131 §4.3.2).
    #[serde(default = "default_true")]
    pub authoritative: bool,
    /// Tasks receiving on each socket (default: one per core).
    pub workers: Option<usize>,
    /// Socket receive buffer in bytes (raised up to the kernel's rmem_max).
    #[serde(default = "default_rcvbuf")]
    pub receive_buffer: usize,
}

fn default_relay_port() -> u16 {
    67
}
fn default_client_port() -> u16 {
    68
}
fn default_offer_hold() -> u32 {
    30
}
fn default_decline_hold() -> u32 {
    3600
}
fn default_lease_time() -> u32 {
    3600
}
fn default_max_lease_time() -> u32 {
    86_400
}
fn default_max_message_size() -> u16 {
    1500
}
fn default_expression_operations() -> u64 {
    20_000
}
fn default_true() -> bool {
    true
}
fn default_rcvbuf() -> usize {
    4 << 20
}

/// `[provisioning]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningSection {
    /// Expression returning the domain list of a device that has no account.
    pub auto_provision: Option<Spanned<ExprSource>>,
    /// Whether auto-provisioned accounts are stored (default) or re-classified at every exchange.
    #[serde(default = "default_true")]
    pub store_accounts: bool,
}

/// Where an expression's text comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ExprSource {
    /// Inline text: `"expr"` or `{ expr = "…" }`.
    Inline(String),
    /// `{ expr = "…" }`.
    Table {
        /// The expression.
        expr: String,
    },
    /// `{ file = "policies/x.rhai" }`, relative to the config file.
    File {
        /// Path of the script.
        file: String,
    },
}

/// `[[vendor_class]]` (seed 004 section 5.10).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorClassDecl {
    /// Name; becomes `device.type_name`.
    pub name: String,
    /// Number returned as `device.typeid` (the seed's `$DEVICE.TYPEID()`).
    pub typeid: i64,
    /// Option 60 must start with this.
    pub prefix: Option<String>,
    /// And this expression must be true.
    #[serde(rename = "match")]
    pub match_expr: Option<Spanned<String>>,
}

/// `[[domain]]` (seed 004 section 2.1).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainDecl {
    /// Unique name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

/// `[[pool]]` (seed 004 section 5.1).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolDecl {
    /// Unique name.
    pub name: String,
    /// Domains whose members may use the pool (absent = All devices).
    pub domains: Option<Vec<Spanned<String>>>,
    /// Relay agent addresses (giaddr) the pool serves; "0.0.0.0" = the local segment.
    pub relays: Vec<Spanned<String>>,
    /// The network the range lives on (`"10.1.0.0/16"`): gives the subnet mask and matches link/subnet selection.
    pub network: Spanned<String>,
    /// Address ranges `[["first", "last"], …]`.
    pub ranges: Vec<Spanned<(String, String)>>,
    /// Addresses never leased.
    #[serde(default)]
    pub exclude: Vec<Spanned<String>>,
    /// Higher weight = preferred (default 0).
    #[serde(default)]
    pub weight: i64,
    /// Lease time (valid lifetime) of this pool.
    pub lifetime: Option<u32>,
    /// Policies applied to every device leasing from this pool.
    #[serde(default)]
    pub policies: Vec<Spanned<String>>,
    /// The pool-specific policy's options.
    #[serde(default)]
    pub options: BTreeMap<String, Spanned<toml::Value>>,
    /// Only devices for which this expression is true may use the pool (`'…'` or `{ file = "…" }`).
    pub allow: Option<Spanned<ExprSource>>,
    /// Devices for which this expression is true may not use the pool (`'…'` or `{ file = "…" }`).
    pub deny: Option<Spanned<ExprSource>>,
}

/// `[[policy]]` (seed 004 section 5.8).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDecl {
    /// Unique name.
    pub name: String,
    /// Enforced (always sent) or optional (sent when requested).
    pub enforced: bool,
    /// Domains the policy belongs to; absent = only where a pool or binding names it.
    pub domains: Option<Vec<Spanned<String>>>,
    /// Option values by option name or tag path.
    #[serde(default)]
    pub options: BTreeMap<String, Spanned<toml::Value>>,
}

/// `[[account]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountDecl {
    /// Account key: a MAC (`00:11:22:33:44:55`) or a client identifier in hex.
    pub id: Spanned<String>,
    /// Domain memberships.
    pub domains: Vec<Spanned<String>>,
    /// Attributes readable by expressions.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// `[[fixed_binding]]` (seed 004 section 5.3).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedBindingDecl {
    /// The device's MAC (Ethernet); or give `client_id`.
    pub mac: Option<Spanned<String>>,
    /// Option 61 client identifier in hex.
    pub client_id: Option<Spanned<String>>,
    /// Relay agent address this binding applies to ("0.0.0.0" = local segment).
    pub relay: Spanned<String>,
    /// The reserved address.
    pub ip: Spanned<String>,
    /// Host name for the device.
    pub hostname: Option<String>,
    /// Extra policies for the device while it uses the binding.
    #[serde(default)]
    pub policies: Vec<Spanned<String>>,
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
    fn line_of_offsets() {
        let s = SourceFile::new("x.toml".into(), "a\nbb\n\nccc".into());
        assert_eq!(s.line_of(0), 1);
        assert_eq!(s.line_of(1), 1);
        assert_eq!(s.line_of(2), 2);
        assert_eq!(s.line_of(5), 3);
        assert_eq!(s.line_of(6), 4);
    }

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
