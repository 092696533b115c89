//! The running configuration: one immutable, fully validated snapshot with
//! every Rhai expression compiled and every option value typed (seed 004
//! sections 2, 3 and 5). The servers read it through an `ArcSwap`; a reload
//! builds a new one and swaps it only if it is valid, so a packet is always
//! processed entirely under one snapshot.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use headend_store::{Account, AccountSource, ClientKey, FixedBinding4};
use ipnet::Ipv4Net;
use toml::Spanned;

use crate::config::{self, ConfigError, ConfigErrors, ExprSource, SourceFile};
use crate::expr::{Expr, ExprEngine, ExprLimits, Origin};
use crate::literal::Literal;
use crate::options::{self, OptionDef, Registry, TagPath, Value};

/// The largest pool (a /8): the allocator keeps a few bits per address of a pool.
pub const MAX_POOL_ADDRESSES: u64 = 1 << 24;

/// Name of the built-in domain every device is a member of.
pub const ALL_DEVICES: &str = "all";

/// The DHCPv4 service settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Dhcpv4Settings {
    /// Sockets to listen on.
    pub listen: Vec<SocketAddr>,
    /// Interface to bind the sockets to.
    pub interface: Option<String>,
    /// Explicit server identifier.
    pub server_id: Option<Ipv4Addr>,
    /// Port of replies to relays.
    pub relay_port: u16,
    /// Port of replies to clients.
    pub client_port: u16,
    /// Offer hold in seconds.
    pub offer_hold: u32,
    /// Decline quarantine in seconds.
    pub decline_hold: u32,
    /// Default lease time.
    pub default_lease_time: u32,
    /// Maximum lease time.
    pub max_lease_time: u32,
    /// Reply size limit without option 57.
    pub max_message_size: u16,
    /// Answer BOOTP.
    pub bootp: bool,
    /// NAK requests for addresses we do not know.
    pub authoritative: bool,
    /// Socket receive buffer.
    pub receive_buffer: usize,
    /// Receiving tasks per socket (`None` = one per core).
    pub workers: Option<usize>,
}

/// How a value is produced.
#[derive(Debug, Clone)]
pub enum OptionValue {
    /// A literal typed at load time.
    Static(Value),
    /// An expression evaluated per packet.
    Expr(Expr),
}

/// One option assignment inside a policy.
#[derive(Debug, Clone)]
pub struct PolicyOption {
    /// The option's definition path.
    pub path: TagPath,
    /// The value.
    pub value: OptionValue,
}

/// A named set of options (seed 004 section 5.8).
#[derive(Debug, Clone)]
pub struct Policy {
    /// Name (pool-specific policies are named `pool:<pool>`).
    pub name: String,
    /// Enforced (always sent) or optional (only when requested).
    pub enforced: bool,
    /// Domains it belongs to; `None` = only where a pool or binding names it.
    pub domains: Option<Vec<String>>,
    /// The options, in file order.
    pub options: Vec<PolicyOption>,
}

/// An address pool (seed 004 section 5.1).
#[derive(Debug, Clone)]
pub struct Pool {
    /// Unique name.
    pub name: String,
    /// Domains allowed to use it; empty = All devices.
    pub domains: Vec<String>,
    /// Relay addresses it serves (0.0.0.0 = local segment).
    pub relays: Vec<Ipv4Addr>,
    /// Its network.
    pub network: Ipv4Net,
    /// Address ranges.
    pub ranges: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// Addresses never leased.
    pub exclude: Vec<Ipv4Addr>,
    /// Preference.
    pub weight: i64,
    /// Lease time; `None` = the server default.
    pub lifetime: Option<u32>,
    /// Policies (indexes into `Snapshot::policies`), pool-specific policy first.
    pub policies: Vec<usize>,
    /// Allow expression.
    pub allow: Option<Expr>,
    /// Deny expression.
    pub deny: Option<Expr>,
}

impl Pool {
    /// Whether `ip` lies in one of the ranges and is not excluded.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.ranges.iter().any(|(a, b)| *a <= ip && ip <= *b) && !self.exclude.contains(&ip)
    }

    /// Whether the pool is open to a device that is a member of `domains`.
    pub fn authorizes(&self, domains: &[String]) -> bool {
        self.domains.is_empty()
            || self
                .domains
                .iter()
                .any(|d| d == ALL_DEVICES || domains.iter().any(|m| m == d))
    }
}

/// A user-declared vendor class (seed 004 section 5.10).
#[derive(Debug, Clone)]
pub struct VendorClassDef {
    /// Name, returned as the device type name.
    pub name: String,
    /// Type id.
    pub typeid: i64,
    /// Required option 60 prefix.
    pub prefix: Option<String>,
    /// Extra condition.
    pub match_expr: Option<Expr>,
}

/// A configured fixed binding with its policies resolved.
#[derive(Debug, Clone)]
pub struct FixedBinding {
    /// The stored form.
    pub binding: FixedBinding4,
    /// Policy indexes.
    pub policies: Vec<usize>,
}

/// A domain.
#[derive(Debug, Clone)]
pub struct Domain {
    /// Name.
    pub name: String,
    /// Free text.
    pub description: String,
}

/// The immutable, validated configuration.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Increases with every successful load.
    pub generation: u64,
    /// The configuration file.
    pub source: PathBuf,
    /// Server name.
    pub name: String,
    /// Store directory (absolute or relative to the working directory).
    pub store_path: PathBuf,
    /// Group commit window.
    pub commit_window: std::time::Duration,
    /// DHCPv4 settings, when served.
    pub dhcpv4: Option<Dhcpv4Settings>,
    /// Option types.
    pub registry: Registry,
    /// The expression engine the expressions were compiled with.
    pub exprs: Arc<ExprEngine>,
    /// Auto-provisioning expression.
    pub auto_provision: Option<Expr>,
    /// Store auto-provisioned accounts.
    pub store_accounts: bool,
    /// User vendor classes, in match order.
    pub vendor_classes: Vec<VendorClassDef>,
    /// Domains, "all" first.
    pub domains: Vec<Domain>,
    /// Pools, in file order.
    pub pools: Vec<Pool>,
    /// Policies: named ones in file order, then pool-specific ones.
    pub policies: Vec<Policy>,
    /// The policies of each domain (indexes, file order).
    pub policies_by_domain: HashMap<String, Vec<usize>>,
    /// Accounts declared in the file, by id.
    pub accounts: HashMap<String, Account>,
    /// Fixed bindings by (client, relay).
    pub fixed: HashMap<(ClientKey, Ipv4Addr), FixedBinding>,
    /// Pool indexes by relay address.
    pub pools_by_relay: HashMap<Ipv4Addr, Vec<usize>>,
    /// DHCPv6 settings, when served.
    pub dhcpv6: Option<crate::v6::Dhcpv6Settings>,
    /// TFTP / HTTP config-server settings.
    pub config_server: crate::configsrv::ConfigServerSettings,
    /// Plugin declarations.
    pub plugins: Vec<crate::plugins::PluginDef>,
    /// The hooks that run the plugins (set by the binary before the snapshot is installed).
    pub hooks: Arc<dyn crate::plugins::Hooks>,
}

impl Snapshot {
    /// Loads, validates and compiles a configuration file.
    pub fn load(path: &Path, generation: u64) -> Result<Snapshot, ConfigErrors> {
        let src = SourceFile::read(path).map_err(|e| ConfigErrors(vec![e]))?;
        Snapshot::from_source(&src, generation)
    }

    /// Validates and compiles configuration text (the path is used for messages and relative paths).
    pub fn from_source(src: &SourceFile, generation: u64) -> Result<Snapshot, ConfigErrors> {
        let file = config::parse(src).map_err(|e| ConfigErrors(vec![e]))?;
        Builder::new(src).build(file, generation)
    }

    /// Checks that a reload does not change what only a restart can change.
    pub fn check_reloadable(&self, new: &Snapshot) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        let e = |message: String| ConfigError {
            file: new.source.clone(),
            line: 0,
            message,
            fix: "restart headend to apply this change, or revert it".into(),
        };
        if self.store_path != new.store_path {
            errors.push(e(format!(
                "the store path cannot change by reload ({} -> {})",
                self.store_path.display(),
                new.store_path.display()
            )));
        }
        let listen = |s: &Snapshot| {
            s.dhcpv4
                .as_ref()
                .map(|d| (d.listen.clone(), d.interface.clone()))
        };
        if listen(self) != listen(new) {
            errors.push(e(
                "DHCPv4 listener addresses and interface cannot change by reload".into(),
            ));
        }
        // The DHCPv6 sockets (and their multicast memberships) are bound at
        // start, and the server DUID is fixed then (RFC 8415 §11).
        let listen6 = |s: &Snapshot| {
            s.dhcpv6.as_ref().map(|d| {
                (
                    d.listen.clone(),
                    d.interfaces.clone(),
                    d.server_duid.clone(),
                )
            })
        };
        if listen6(self) != listen6(new) {
            errors.push(e(
                "DHCPv6 listener addresses, interfaces and server DUID cannot change by reload"
                    .into(),
            ));
        }
        if self.config_server.tftp_listen != new.config_server.tftp_listen
            || self.config_server.http_listen != new.config_server.http_listen
        {
            errors.push(e(
                "TFTP and HTTP listener addresses cannot change by reload".into(),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// A copy of this snapshot running other plugin hooks.
    pub fn clone_with_hooks(&self, hooks: Arc<dyn crate::plugins::Hooks>) -> Snapshot {
        let mut s = self.clone();
        s.hooks = hooks;
        s
    }

    /// A pool by name.
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.name == name)
    }

    /// Whether a domain exists.
    pub fn has_domain(&self, name: &str) -> bool {
        self.domains.iter().any(|d| d.name == name)
    }
}

/// Name of the policy that carries the options written in `[dhcpv6]`.
pub const DHCPV6_SECTION_POLICY: &str = "[dhcpv6]";

/// The options written in `[dhcpv6]` (`dns_servers`, `domain_list`,
/// `sntp_servers`, `tftp_servers`, `syslog_servers`, `time_servers`,
/// `time_offset`, `ip_pref`, `ecm_dhcpv4_servers`, `fqdn`, `config_file`)
/// as one optional policy of All devices, composed last: the section keeps
/// working as it always did (each option only when requested, every
/// `[[policy]]` taking precedence), through the one composition both
/// families share.
fn dhcpv6_section_policy(registry: &Registry, d6: &crate::v6::Dhcpv6Settings) -> Option<Policy> {
    use crate::options::Space;
    let ips = |v: &[std::net::Ipv6Addr]| {
        (!v.is_empty()).then(|| Literal::List(v.iter().map(|a| Literal::Ip((*a).into())).collect()))
    };
    let cl = |code: u32| TagPath::new(Space::Dhcp6, &[17, options::builtin::CABLELABS, code]);
    let statics: Vec<(Option<TagPath>, Option<Literal>)> = vec![
        (Some(TagPath::dhcp6(23)), ips(&d6.dns_servers)),
        (
            Some(TagPath::dhcp6(24)),
            (!d6.domain_list.is_empty()).then(|| {
                Literal::List(
                    d6.domain_list
                        .iter()
                        .map(|n| Literal::Str(n.clone()))
                        .collect(),
                )
            }),
        ),
        (Some(TagPath::dhcp6(31)), ips(&d6.sntp_servers)),
        (cl(32), ips(&d6.tftp_servers)),
        (cl(34), ips(&d6.syslog_servers)),
        (cl(37), ips(&d6.time_servers)),
        (cl(38), d6.time_offset.map(|t| Literal::Int(i128::from(t)))),
        (cl(39), d6.ip_pref.map(|p| Literal::Int(i128::from(p)))),
        (
            TagPath::new(Space::Dhcp6, &[17, options::builtin::CABLELABS, 2170, 1]),
            d6.ecm_dhcpv4_servers
                .first()
                .map(|a| Literal::Ip((*a).into())),
        ),
        (
            TagPath::new(Space::Dhcp6, &[17, options::builtin::CABLELABS, 2170, 2]),
            d6.ecm_dhcpv4_servers
                .get(1)
                .map(|a| Literal::Ip((*a).into())),
        ),
    ];
    let mut opts = Vec::new();
    for (path, lit) in statics {
        let (Some(path), Some(lit)) = (path, lit) else {
            continue;
        };
        // The section was validated field by field; a value that does not
        // fit its option type here would be a table bug, and is left out.
        if let Some(value) = registry
            .get(&path)
            .and_then(|def| options::coerce(def, &lit).ok())
        {
            opts.push(PolicyOption {
                path,
                value: OptionValue::Static(value),
            });
        }
    }
    for (path, e) in [
        (Some(TagPath::dhcp6(39)), &d6.fqdn),
        (cl(33), &d6.config_file),
    ] {
        if let (Some(path), Some(e)) = (path, e) {
            opts.push(PolicyOption {
                path,
                value: OptionValue::Expr(e.clone()),
            });
        }
    }
    opts.sort_by(|a, b| a.path.cmp(&b.path));
    (!opts.is_empty()).then(|| Policy {
        name: DHCPV6_SECTION_POLICY.into(),
        enforced: false,
        domains: Some(vec![ALL_DEVICES.into()]),
        options: opts,
    })
}

/// Normalises a MAC given as `00:11:22:33:44:55`, `00-11-…` or `001122334455` to lowercase colon form.
pub fn normalize_mac(s: &str) -> Option<String> {
    let hex: String = s
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let lower = hex.to_ascii_lowercase();
    let parts: Vec<&str> = (0..6).filter_map(|i| lower.get(i * 2..i * 2 + 2)).collect();
    Some(parts.join(":"))
}

/// Parses hex bytes written as `01:02:0a`, `01020a` or `0x01020a`.
pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let t = s.strip_prefix("0x").unwrap_or(s);
    let hex: String = t
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | ' '))
        .collect();
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len() / 2)
        .map(|i| {
            hex.get(i * 2..i * 2 + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect()
}

/// Validation state shared by the section builders (`v6`, `configsrv`, `plugins`).
pub(crate) struct Builder<'a> {
    pub(crate) src: &'a SourceFile,
    pub(crate) errors: Vec<ConfigError>,
    pub(crate) exprs: Arc<ExprEngine>,
}

impl<'a> Builder<'a> {
    fn new(src: &'a SourceFile) -> Self {
        Builder {
            src,
            errors: Vec::new(),
            exprs: Arc::new(ExprEngine::new(ExprLimits::default())),
        }
    }

    /// The directory relative paths are resolved against.
    pub(crate) fn base_dir(&self) -> std::path::PathBuf {
        self.src.base_dir()
    }

    /// Records an error at a byte offset of the file.
    pub(crate) fn err(
        &mut self,
        offset: usize,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.errors.push(self.src.error_at(offset, message, fix));
    }

    pub(crate) fn ip4<T>(&mut self, v: &Spanned<T>, what: &str) -> Option<Ipv4Addr>
    where
        T: AsRef<str>,
    {
        match v.get_ref().as_ref().parse::<Ipv4Addr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.err(
                    v.span().start,
                    format!("{what} {:?} is not an IPv4 address", v.get_ref().as_ref()),
                    "write a dotted-quad address such as \"10.1.0.1\"",
                );
                None
            }
        }
    }

    fn compile(&mut self, text: &str, offset: usize, what: String) -> Option<Expr> {
        let origin = Origin {
            file: self.src.path.clone(),
            line: self.src.line_of(offset),
            what,
        };
        match self.exprs.compile(text, origin) {
            Ok(e) => Some(e),
            Err(e) => {
                self.errors.push(ConfigError {
                    file: e.file.clone(),
                    line: e.line,
                    message: format!("{e}"),
                    fix: "correct the Rhai expression (see policies/README.md for the context it can use)".into(),
                });
                None
            }
        }
    }

    fn compile_source(&mut self, s: &Spanned<ExprSource>, what: String) -> Option<Expr> {
        match s.get_ref() {
            ExprSource::Inline(t) | ExprSource::Table { expr: t } => {
                let t = t.clone();
                self.compile(&t, s.span().start, what)
            }
            ExprSource::File { file } => {
                let path = self.src.base_dir().join(file);
                match std::fs::read_to_string(&path) {
                    Ok(text) => {
                        let origin = Origin {
                            file: path.clone(),
                            line: 1,
                            what,
                        };
                        match self.exprs.compile(&text, origin) {
                            Ok(e) => Some(e),
                            Err(e) => {
                                self.errors.push(ConfigError {
                                    file: e.file.clone(),
                                    line: e.line,
                                    message: format!("{e}"),
                                    fix: "correct the Rhai script".into(),
                                });
                                None
                            }
                        }
                    }
                    Err(e) => {
                        self.err(
                            s.span().start,
                            format!("cannot read script {}: {e}", path.display()),
                            "the path is relative to the configuration file",
                        );
                        None
                    }
                }
            }
        }
    }

    fn option_value(
        &mut self,
        registry: &Registry,
        key: &str,
        v: &Spanned<toml::Value>,
        owner: &str,
    ) -> Option<PolicyOption> {
        let def: OptionDef = match registry.resolve(key) {
            Ok(d) => d.clone(),
            Err(e) => {
                self.err(
                    v.span().start,
                    format!("{owner}: {e}"),
                    "use an option name (e.g. \"routers\") or a tag path (e.g. \"122/6\", \"125/4491/2\"), or declare it with [[option_type]]",
                );
                return None;
            }
        };
        let what = format!("{owner} option {key}");
        if let toml::Value::Table(t) = v.get_ref() {
            let source = match (t.len(), t.get("expr"), t.get("file")) {
                (1, Some(toml::Value::String(e)), None) => ExprSource::Table { expr: e.clone() },
                (1, None, Some(toml::Value::String(f))) => ExprSource::File { file: f.clone() },
                _ => {
                    self.err(
                        v.span().start,
                        format!("{what}: a table value must be {{ expr = \"…\" }} or {{ file = \"….rhai\" }}"),
                        "write a literal value, { expr = \"rhai expression\" } or { file = \"policies/x.rhai\" }",
                    );
                    return None;
                }
            };
            let e = self.compile_source(&Spanned::new(v.span(), source), what)?;
            return Some(PolicyOption {
                path: def.path.clone(),
                value: OptionValue::Expr(e),
            });
        }
        let lit = match Literal::from_toml(v.get_ref()) {
            Ok(l) => l,
            Err(m) => {
                self.err(
                    v.span().start,
                    format!("{what}: {m}"),
                    "write the value as a string, integer, boolean or array",
                );
                return None;
            }
        };
        match options::coerce(&def, &lit) {
            Ok(value) => Some(PolicyOption {
                path: def.path.clone(),
                value: OptionValue::Static(value),
            }),
            Err(e) => {
                self.err(
                    v.span().start,
                    format!("{what}: {e}"),
                    format!("give a value of type {:?}", def.data_type),
                );
                None
            }
        }
    }

    fn domain_refs(
        &mut self,
        names: &[Spanned<String>],
        known: &HashSet<String>,
        owner: &str,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for n in names {
            let name = canonical_domain(n.get_ref());
            if !known.contains(&name) {
                self.err(
                    n.span().start,
                    format!("{owner}: unknown domain {:?}", n.get_ref()),
                    "declare it with [[domain]] or use \"all\" for All devices",
                );
            } else {
                out.push(name);
            }
        }
        out
    }

    fn build(
        mut self,
        file: config::ConfigFile,
        generation: u64,
    ) -> Result<Snapshot, ConfigErrors> {
        let base = self.src.base_dir();

        // Option types first: everything else refers to them.
        let mut decls = Vec::new();
        for d in &file.option_types {
            if let Err(e) = Registry::with_declarations(std::slice::from_ref(d.get_ref())) {
                self.err(
                    d.span().start,
                    format!("option type: {e}"),
                    "see the option type fields in the README",
                );
            } else {
                decls.push(d.get_ref().clone());
            }
        }
        let registry = match Registry::with_declarations(&decls) {
            Ok(r) => r,
            Err(e) => {
                self.err(
                    0,
                    format!("option types: {e}"),
                    "fix the [[option_type]] declarations",
                );
                Registry::builtin()
            }
        };

        // DHCPv4 settings.
        let dhcpv4 = file.dhcpv4.as_ref().map(|d4s| {
            let d4 = d4s.get_ref();
            let mut listen = Vec::new();
            for l in &d4.listen {
                match l.get_ref().parse::<SocketAddr>() {
                    Ok(a @ SocketAddr::V4(_)) => listen.push(a),
                    _ => self.err(
                        l.span().start,
                        format!("listen address {:?} is not an IPv4 socket address", l.get_ref()),
                        "write \"address:port\", e.g. \"127.0.0.1:6767\"",
                    ),
                }
            }
            if listen.is_empty() {
                self.err(d4s.span().start, "[dhcpv4] has no listen address", "add listen = [\"127.0.0.1:6767\"]");
            }
            let server_id = d4.server_id.as_ref().and_then(|s| self.ip4(s, "server_id"));
            let wildcard = listen.iter().any(|a| a.ip().is_unspecified());
            if wildcard && server_id.is_none() {
                self.err(
                    d4s.span().start,
                    "[dhcpv4] listens on a wildcard address but has no server_id",
                    "set server_id to the address clients and relays reach this server at",
                );
            }
            if d4.offer_hold == 0 || d4.default_lease_time == 0 || d4.max_lease_time < d4.default_lease_time {
                self.err(
                    d4s.span().start,
                    "[dhcpv4] lease times must be positive and max_lease_time >= default_lease_time",
                    "adjust offer_hold, default_lease_time, max_lease_time",
                );
            }
            if d4.max_message_size < 576 {
                self.err(d4s.span().start, "max_message_size is below 576 (RFC 2131 minimum)", "use at least 576");
            }
            Dhcpv4Settings {
                listen,
                interface: d4.interface.clone(),
                server_id,
                relay_port: d4.relay_port,
                client_port: d4.client_port,
                offer_hold: d4.offer_hold,
                decline_hold: d4.decline_hold,
                default_lease_time: d4.default_lease_time,
                max_lease_time: d4.max_lease_time,
                max_message_size: d4.max_message_size,
                bootp: d4.bootp,
                authoritative: d4.authoritative,
                receive_buffer: d4.receive_buffer,
                workers: d4.workers.map(|w| w.clamp(1, 64)),
            }
        });
        let operations = file
            .dhcpv4
            .as_ref()
            .map(|d| d.get_ref().expression_operations)
            .unwrap_or(20_000);
        self.exprs = Arc::new(ExprEngine::new(ExprLimits {
            max_operations: operations,
            ..ExprLimits::default()
        }));

        // Domains.
        let mut domains = vec![Domain {
            name: ALL_DEVICES.into(),
            description: "All devices".into(),
        }];
        let mut known = HashSet::from([ALL_DEVICES.to_string()]);
        for d in &file.domains {
            let name = canonical_domain(&d.get_ref().name);
            if !known.insert(name.clone()) {
                self.err(
                    d.span().start,
                    format!("domain {name:?} is declared twice"),
                    "give each domain a unique name",
                );
                continue;
            }
            domains.push(Domain {
                name,
                description: d.get_ref().description.clone(),
            });
        }

        // Named policies.
        let mut policies: Vec<Policy> = Vec::new();
        let mut policy_index: HashMap<String, usize> = HashMap::new();
        for p in &file.policies {
            let decl = p.get_ref();
            if policy_index.contains_key(&decl.name) {
                self.err(
                    p.span().start,
                    format!("policy {:?} is declared twice", decl.name),
                    "rename one of them",
                );
                continue;
            }
            let owner = format!("policy {:?}", decl.name);
            let doms = decl
                .domains
                .as_ref()
                .map(|ds| self.domain_refs(ds, &known, &owner));
            let mut opts = Vec::new();
            for (k, v) in &decl.options {
                if let Some(o) = self.option_value(&registry, k, v, &owner) {
                    opts.push((v.span().start, o));
                }
            }
            opts.sort_by_key(|(pos, _)| *pos);
            policy_index.insert(decl.name.clone(), policies.len());
            policies.push(Policy {
                name: decl.name.clone(),
                enforced: decl.enforced,
                domains: doms,
                options: opts.into_iter().map(|(_, o)| o).collect(),
            });
        }
        let mut policies_by_domain: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, p) in policies.iter().enumerate() {
            for d in p.domains.iter().flatten() {
                let list = policies_by_domain.entry(d.clone()).or_default();
                if !list.contains(&i) {
                    list.push(i);
                }
            }
        }

        // Pools.
        let mut pools: Vec<Pool> = Vec::new();
        let mut pools_by_relay: HashMap<Ipv4Addr, Vec<usize>> = HashMap::new();
        for ps in &file.pools {
            let decl = ps.get_ref();
            let owner = format!("pool {:?}", decl.name);
            if pools.iter().any(|p| p.name == decl.name) {
                self.err(
                    ps.span().start,
                    format!("{owner} is declared twice"),
                    "give each pool a unique name",
                );
                continue;
            }
            let doms = decl
                .domains
                .as_ref()
                .map(|ds| self.domain_refs(ds, &known, &owner))
                .unwrap_or_default();
            let relays: Vec<Ipv4Addr> = decl
                .relays
                .iter()
                .filter_map(|r| self.ip4(r, "relay"))
                .collect();
            if decl.relays.is_empty() {
                self.err(
                    ps.span().start,
                    format!("{owner} serves no relay"),
                    "add relays = [\"<giaddr>\"] or [\"0.0.0.0\"] for the local segment",
                );
            }
            let network = match decl.network.get_ref().parse::<Ipv4Net>() {
                Ok(n) => n.trunc(),
                Err(_) => {
                    self.err(
                        decl.network.span().start,
                        format!(
                            "{owner}: network {:?} is not a prefix",
                            decl.network.get_ref()
                        ),
                        "write it as \"10.1.0.0/16\"",
                    );
                    continue;
                }
            };
            let mut ranges = Vec::new();
            for r in &decl.ranges {
                let (a, b) = r.get_ref();
                match (a.parse::<Ipv4Addr>(), b.parse::<Ipv4Addr>()) {
                    (Ok(a), Ok(b)) if a <= b && network.contains(&a) && network.contains(&b) => {
                        if a == network.network() || b == network.broadcast() && network.prefix_len() < 31 {
                            self.err(r.span().start, format!("{owner}: range {a}-{b} includes the network or broadcast address"), "start after the network address and stop before the broadcast address");
                        } else {
                            ranges.push((a, b));
                        }
                    }
                    _ => self.err(r.span().start, format!("{owner}: range [{a:?}, {b:?}] is not an ordered pair of addresses inside {network}"), "write [\"first\", \"last\"] with first <= last, both inside the network"),
                }
            }
            let size: u64 = ranges
                .iter()
                .map(|(a, b)| u64::from(u32::from(*b)) - u64::from(u32::from(*a)) + 1)
                .sum();
            if size > MAX_POOL_ADDRESSES {
                self.err(ps.span().start, format!("{owner} has {size} addresses, more than the {MAX_POOL_ADDRESSES} one pool may hold"), "split it into pools of at most a /8 each");
            }
            for (i, (a, b)) in ranges.iter().enumerate() {
                for (c, d) in ranges.iter().skip(i + 1) {
                    if a <= d && c <= b {
                        self.err(
                            ps.span().start,
                            format!("{owner}: ranges {a}-{b} and {c}-{d} overlap"),
                            "make the ranges disjoint",
                        );
                    }
                }
            }
            let exclude: Vec<Ipv4Addr> = decl
                .exclude
                .iter()
                .filter_map(|e| self.ip4(e, "excluded address"))
                .collect();
            let mut pol = Vec::new();
            if !decl.options.is_empty() {
                let pname = format!("pool:{}", decl.name);
                let mut opts = Vec::new();
                for (k, v) in &decl.options {
                    if let Some(o) = self.option_value(&registry, k, v, &owner) {
                        opts.push((v.span().start, o));
                    }
                }
                opts.sort_by_key(|(p, _)| *p);
                policies.push(Policy {
                    name: pname,
                    enforced: true,
                    domains: None,
                    options: opts.into_iter().map(|(_, o)| o).collect(),
                });
                pol.push(policies.len() - 1);
            }
            for p in &decl.policies {
                match policy_index.get(p.get_ref()) {
                    Some(i) => pol.push(*i),
                    None => self.err(
                        p.span().start,
                        format!("{owner}: unknown policy {:?}", p.get_ref()),
                        "declare it with [[policy]]",
                    ),
                }
            }
            let allow = decl
                .allow
                .as_ref()
                .and_then(|a| self.compile_source(a, format!("{owner} allow")));
            let deny = decl
                .deny
                .as_ref()
                .and_then(|a| self.compile_source(a, format!("{owner} deny")));
            let idx = pools.len();
            for r in &relays {
                pools_by_relay.entry(*r).or_default().push(idx);
            }
            pools.push(Pool {
                name: decl.name.clone(),
                domains: doms,
                relays,
                network,
                ranges,
                exclude,
                weight: decl.weight,
                lifetime: decl.lifetime,
                policies: pol,
                allow,
                deny,
            });
        }
        // Two pools handing out the same address would bind it twice.
        for (i, p) in pools.iter().enumerate() {
            for q in pools.iter().skip(i + 1) {
                for (a, b) in &p.ranges {
                    for (c, d) in &q.ranges {
                        if a <= d && c <= b {
                            let pos = file.pools.get(i).map(|s| s.span().start).unwrap_or(0);
                            self.err(
                                pos,
                                format!(
                                    "pools {:?} and {:?} share addresses ({a}-{b} / {c}-{d})",
                                    p.name, q.name
                                ),
                                "make pool ranges disjoint",
                            );
                        }
                    }
                }
            }
        }

        // Vendor classes.
        let mut vendor_classes = Vec::new();
        for vc in &file.vendor_classes {
            let d = vc.get_ref();
            let m = d.match_expr.as_ref().and_then(|m| {
                let t = m.get_ref().clone();
                self.compile(
                    &t,
                    m.span().start,
                    format!("vendor class {:?} match", d.name),
                )
            });
            vendor_classes.push(VendorClassDef {
                name: d.name.clone(),
                typeid: d.typeid,
                prefix: d.prefix.clone(),
                match_expr: m,
            });
        }

        // Accounts.
        let mut accounts = HashMap::new();
        for a in &file.accounts {
            let d = a.get_ref();
            let Some(id) = account_id(d.id.get_ref()) else {
                self.err(
                    d.id.span().start,
                    format!("account id {:?} is neither a MAC nor hex", d.id.get_ref()),
                    "write a MAC like \"00:11:22:33:44:55\" or a client identifier in hex",
                );
                continue;
            };
            let owner = format!("account {id}");
            let doms = self.domain_refs(&d.domains, &known, &owner);
            if accounts.contains_key(&id) {
                self.err(
                    a.span().start,
                    format!("{owner} is declared twice"),
                    "merge the two declarations",
                );
                continue;
            }
            accounts.insert(
                id.clone(),
                Account {
                    id,
                    domains: doms,
                    attributes: d.attributes.clone(),
                    created: 0,
                    source: AccountSource::Config,
                },
            );
        }

        // Fixed bindings.
        let mut fixed = HashMap::new();
        for f in &file.fixed_bindings {
            let d = f.get_ref();
            let client = match (&d.mac, &d.client_id) {
                (Some(m), None) => match normalize_mac(m.get_ref()).and_then(|s| parse_hex(&s)) {
                    Some(bytes) => ClientKey::from_hardware(1, &bytes),
                    None => {
                        self.err(
                            m.span().start,
                            format!("fixed binding: {:?} is not a MAC", m.get_ref()),
                            "write \"00:11:22:33:44:55\"",
                        );
                        continue;
                    }
                },
                (None, Some(c)) => match parse_hex(c.get_ref()) {
                    Some(bytes) if !bytes.is_empty() => ClientKey(bytes),
                    _ => {
                        self.err(
                            c.span().start,
                            format!("fixed binding: client_id {:?} is not hex", c.get_ref()),
                            "write the option 61 bytes in hex, e.g. \"01:00:11:22:33:44:55\"",
                        );
                        continue;
                    }
                },
                _ => {
                    self.err(
                        f.span().start,
                        "fixed binding needs exactly one of mac or client_id",
                        "give mac = \"…\" or client_id = \"…\"",
                    );
                    continue;
                }
            };
            let (Some(relay), Some(ip)) = (self.ip4(&d.relay, "relay"), self.ip4(&d.ip, "ip"))
            else {
                continue;
            };
            let mut pol = Vec::new();
            for p in &d.policies {
                match policy_index.get(p.get_ref()) {
                    Some(i) => pol.push(*i),
                    None => self.err(
                        p.span().start,
                        format!("fixed binding: unknown policy {:?}", p.get_ref()),
                        "declare it with [[policy]]",
                    ),
                }
            }
            if let Some(pool) = pools.iter().find(|p| {
                p.exclude.contains(&ip) && p.ranges.iter().any(|(a, b)| *a <= ip && ip <= *b)
            }) {
                tracing::debug!(pool = %pool.name, %ip, "fixed binding on an excluded pool address");
            }
            let key = (client.clone(), relay);
            if fixed.contains_key(&key) {
                self.err(
                    f.span().start,
                    "a fixed binding for this client and relay already exists",
                    "keep one binding per client and relay",
                );
                continue;
            }
            if fixed.values().any(|b: &FixedBinding| b.binding.ip == ip) {
                self.err(
                    d.ip.span().start,
                    format!("address {ip} is bound twice"),
                    "give each fixed binding its own address",
                );
                continue;
            }
            fixed.insert(
                key,
                FixedBinding {
                    binding: FixedBinding4 {
                        client,
                        relay,
                        ip,
                        hostname: d.hostname.clone(),
                        policies: d.policies.iter().map(|p| p.get_ref().clone()).collect(),
                    },
                    policies: pol,
                },
            );
        }

        let auto_provision = file
            .provisioning
            .auto_provision
            .as_ref()
            .and_then(|a| self.compile_source(a, "auto-provisioning".into()));

        let store = file.server.store.get_ref();
        if store.is_empty() {
            self.err(
                file.server.store.span().start,
                "store path is empty",
                "give a directory for the embedded store",
            );
        }
        let store_path = base.join(store);

        let dhcpv6 = crate::v6::build(&mut self, &file);
        if let Some(p) = dhcpv6
            .as_ref()
            .and_then(|d6| dhcpv6_section_policy(&registry, d6))
        {
            policies_by_domain
                .entry(ALL_DEVICES.to_string())
                .or_default()
                .push(policies.len());
            policies.push(p);
        }
        let config_server = crate::configsrv::build(&mut self, &file);
        let plugins = crate::plugins::build(&mut self, &file);

        if !self.errors.is_empty() {
            self.errors
                .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            return Err(ConfigErrors(self.errors));
        }
        Ok(Snapshot {
            generation,
            source: self.src.path.clone(),
            name: file.server.name,
            store_path,
            commit_window: std::time::Duration::from_micros(
                file.server.commit_window_us.min(100_000),
            ),
            dhcpv4,
            registry,
            exprs: self.exprs,
            auto_provision,
            store_accounts: file.provisioning.store_accounts,
            vendor_classes,
            domains,
            pools,
            policies,
            policies_by_domain,
            accounts,
            fixed,
            pools_by_relay,
            dhcpv6,
            config_server,
            plugins,
            hooks: Arc::new(crate::plugins::NoHooks),
        })
    }
}

/// Canonical domain name: "All devices" and "all" are the built-in domain.
pub fn canonical_domain(name: &str) -> String {
    if name.eq_ignore_ascii_case("all devices") || name.eq_ignore_ascii_case(ALL_DEVICES) {
        ALL_DEVICES.to_string()
    } else {
        name.to_string()
    }
}

/// Account id of a configured identifier: a normalised MAC, or lowercase hex.
pub fn account_id(s: &str) -> Option<String> {
    if let Some(m) = normalize_mac(s) {
        return Some(m);
    }
    parse_hex(s).filter(|b| !b.is_empty()).map(|b| {
        b.iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    })
}

/// The addresses of a pool that are fixed-bound (never allocated dynamically).
pub fn reserved_in(snapshot: &Snapshot, pool: &Pool) -> Vec<Ipv4Addr> {
    snapshot
        .fixed
        .values()
        .map(|f| f.binding.ip)
        .filter(|ip| pool.ranges.iter().any(|(a, b)| a <= ip && ip <= b))
        .collect()
}
