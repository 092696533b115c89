//! The running configuration: one immutable, fully validated snapshot with
//! every Rhai expression compiled and every option value typed (seed 004
//! sections 2, 3 and 5). The servers read it through an `ArcSwap`; a reload
//! builds a new one and swaps it only if it is valid, so a packet is always
//! processed entirely under one snapshot.
//!
//! This module only aggregates: each section module (`v4`, `provisioning`,
//! `v6`, `configsrv`, `plugins`, `tod`, `syslog`) validates its own part of the
//! [`ConfigFile`] through the shared `build::Builder`, and the snapshot stores
//! the results.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use headend_store::{Account, ClientKey};

use crate::build::Builder;
use crate::config::{self, ConfigFile};
use crate::expr::{Expr, ExprEngine};
use crate::hash::FastMap;
use crate::literal::Literal;
use crate::options::{self, Registry, TagPath};
use crate::provisioning::{self, Declarations};
use crate::source::{ConfigError, ConfigErrors, SourceFile};

pub use crate::build::{account_id, canonical_domain, normalize_mac, parse_hex, ALL_DEVICES};
pub use crate::provisioning::{
    Domain, FixedBinding, OptionValue, Policy, PolicyOption, Pool, VendorClassDef,
    MAX_POOL_ADDRESSES,
};
pub use crate::v4::Dhcpv4Settings;

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
    /// `[server] database`: the PostgreSQL database of the shared store, when one is configured.
    pub database: Option<String>,
    /// Group commit window.
    pub commit_window: std::time::Duration,
    /// `[server] timeline`: stored, in memory only, or off.
    pub timeline: crate::config::TimelineMode,
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
    pub policies_by_domain: FastMap<String, Vec<usize>>,
    /// Whether any policy sets a server control option (`server.…`). When
    /// none does — the common case — the pass that looks for
    /// `server.no-response` before each answer composes nothing.
    pub has_control_options: bool,
    /// Accounts declared in the file, by id.
    pub accounts: FastMap<String, Account>,
    /// Fixed bindings by (client, relay): the file's and, merged in, the
    /// operator's from the store ([`Snapshot::merge_stored_fixed`]).
    pub fixed: HashMap<(ClientKey, Ipv4Addr), FixedBinding>,
    /// Which entries of `fixed` came from the store (the rest are the file's).
    pub stored_fixed: std::collections::HashSet<(ClientKey, Ipv4Addr)>,
    /// DHCPv6 reservations (made by operators, from the store).
    pub reservations6: Arc<Reservations6>,
    /// Pool indexes by relay address.
    pub pools_by_relay: HashMap<Ipv4Addr, Vec<usize>>,
    /// DHCPv6 settings, when served.
    pub dhcpv6: Option<crate::v6::Dhcpv6Settings>,
    /// TFTP / HTTP config-server settings.
    pub config_server: crate::configsrv::ConfigServerSettings,
    /// Plugin declarations.
    pub plugins: Vec<crate::plugins::PluginDef>,
    /// RFC 868 Time server settings, when served.
    pub tod: Option<crate::tod::TodSettings>,
    /// Syslog management-event receiver settings, when served.
    pub syslog: Option<crate::syslog::SyslogSettings>,
    /// Dynamic DNS settings, when configured.
    pub ddns: Option<crate::ddns::DdnsSettings>,
    /// SNMP provisioning server settings, when served.
    pub snmp: Option<crate::snmp::SnmpSettings>,
    /// Management API settings, when served.
    pub management: Option<crate::management::ManagementSettings>,
    /// `[cluster]` settings, when this node is one of several.
    pub cluster: Option<crate::cluster::ClusterSettings>,
    /// FNV-1a 64 of the configuration text, in hex: nodes report it so that
    /// an operator sees when two of them run different files.
    pub config_hash: String,
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
        build(src, file, generation)
    }

    /// Checks that a reload does not change the store path. What else only
    /// a restart can apply is each server's business: its section module
    /// says (`v4::restart_change`, `v6::restart_change`,
    /// `configsrv::restart_change`, …) and the server's components ask.
    pub fn check_reloadable(&self, new: &Snapshot) -> Result<(), ConfigErrors> {
        if let Some(m) = crate::cluster::restart_change(self.cluster.as_ref(), new.cluster.as_ref())
        {
            return Err(ConfigErrors(vec![restart_error(new, m)]));
        }
        if self.database != new.database {
            return Err(ConfigErrors(vec![restart_error(
                new,
                "the database cannot change by reload (restart the node)".to_string(),
            )]));
        }
        if self.store_path == new.store_path {
            return Ok(());
        }
        Err(ConfigErrors(vec![restart_error(
            new,
            format!(
                "the store path cannot change by reload ({} -> {})",
                self.store_path.display(),
                new.store_path.display()
            ),
        )]))
    }

    /// A copy of this snapshot running other plugin hooks.
    pub fn clone_with_hooks(&self, hooks: Arc<dyn crate::plugins::Hooks>) -> Snapshot {
        let mut s = self.clone();
        s.hooks = hooks;
        s
    }

    /// Replaces the store's fixed bindings in this snapshot by `stored`
    /// (made by operators through the management API). The file is
    /// authoritative: a stored binding whose client and relay, or address,
    /// the file binds is left out, as is one naming a policy the file no
    /// longer declares; each left-out binding comes back with the reason.
    pub fn merge_stored_fixed(
        &mut self,
        stored: &[headend_store::FixedBinding4],
    ) -> Vec<(headend_store::FixedBinding4, String)> {
        for k in std::mem::take(&mut self.stored_fixed) {
            self.fixed.remove(&k);
        }
        let mut bound: std::collections::HashSet<Ipv4Addr> =
            self.fixed.values().map(|f| f.binding.ip).collect();
        let mut skipped = Vec::new();
        for f in stored {
            let key = (f.client.clone(), f.relay);
            if self.fixed.contains_key(&key) {
                skipped.push((
                    f.clone(),
                    "the configuration file binds this client on this relay".into(),
                ));
                continue;
            }
            if !bound.insert(f.ip) {
                skipped.push((
                    f.clone(),
                    format!("address {} is bound by another fixed binding", f.ip),
                ));
                continue;
            }
            match self.policy_indexes(&f.policies) {
                Ok(policies) => {
                    self.fixed.insert(
                        key.clone(),
                        FixedBinding {
                            binding: f.clone(),
                            policies,
                        },
                    );
                    self.stored_fixed.insert(key);
                }
                Err(e) => {
                    bound.remove(&f.ip);
                    skipped.push((f.clone(), e));
                }
            }
        }
        skipped
    }

    /// Checks a new operator fixed binding against this snapshot: its
    /// policies exist, its client and relay and its address are free.
    pub fn check_new_fixed(&self, f: &headend_store::FixedBinding4) -> Result<(), String> {
        self.policy_indexes(&f.policies)?;
        if self.fixed.contains_key(&(f.client.clone(), f.relay)) {
            return Err("this client already has a fixed binding on this relay".into());
        }
        if let Some(o) = self.fixed.values().find(|o| o.binding.ip == f.ip) {
            return Err(format!(
                "address {} is bound to client {} on relay {}",
                f.ip,
                o.binding.client.to_hex(),
                o.binding.relay
            ));
        }
        if !f.relay.is_unspecified() && !self.pools_by_relay.contains_key(&f.relay) {
            return Err(format!("no pool serves relay {}", f.relay));
        }
        Ok(())
    }

    /// Checks a new DHCPv6 reservation: named by exactly one of DUID and
    /// MAC, inside a `[[pool6]]` of its kind (an address of an address
    /// pool; a prefix of a prefix pool's delegated length, aligned), not
    /// reserved already, and the client has no other reservation of that
    /// kind. Returns the pool's name.
    pub fn check_new_reservation6(
        &self,
        r: &headend_store::Reservation6,
    ) -> Result<String, String> {
        use crate::v6::Pool6Kind;
        if r.duid.is_some() == r.mac.is_some() {
            return Err("name the client by exactly one of duid and mac".into());
        }
        let na = r.prefix_len == 128;
        let aligned = r.prefix_len <= 128
            && ipnet::Ipv6Net::new(r.address, r.prefix_len).is_ok_and(|n| n.network() == r.address);
        let pool = self
            .dhcpv6
            .iter()
            .flat_map(|d| d.pools.iter())
            .find(|p| {
                p.prefix.contains(&r.address)
                    && match p.kind {
                        Pool6Kind::Na => na && r.address != p.prefix.network(),
                        Pool6Kind::Pd => !na && aligned && r.prefix_len == p.delegated_length,
                    }
            })
            .ok_or_else(|| {
                format!(
                    "{}/{} is in no [[pool6]] of its kind (an address pool for /128, a prefix pool of that delegated length)",
                    r.address, r.prefix_len
                )
            })?;
        if self.reservations6.get(&r.key()).is_some() {
            return Err(format!(
                "{}/{} is reserved already",
                r.address, r.prefix_len
            ));
        }
        let duid = r.duid.clone().unwrap_or_default();
        if self
            .reservations6
            .mine(&duid, r.mac.as_deref(), na)
            .is_some()
        {
            return Err("this client has a reservation of this kind already".into());
        }
        Ok(pool.name.clone())
    }

    /// The indexes of named policies, or which one is unknown.
    fn policy_indexes(&self, names: &[String]) -> Result<Vec<usize>, String> {
        names
            .iter()
            .map(|n| {
                self.policies
                    .iter()
                    .position(|p| p.name == *n)
                    .ok_or_else(|| format!("unknown policy {n:?}"))
            })
            .collect()
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

/// The error a reload that changes a restart-only setting is refused with.
pub fn restart_error(new: &Snapshot, message: String) -> ConfigError {
    ConfigError {
        file: new.source.clone(),
        line: 0,
        message,
        fix: "restart headend to apply this change, or revert it".into(),
    }
}

/// Validates every section of a parsed file and assembles the snapshot.
/// The order of the sections is the order of the errors on one line.
fn build(src: &SourceFile, file: ConfigFile, generation: u64) -> Result<Snapshot, ConfigErrors> {
    let mut b = Builder::new(src);
    let registry = provisioning::registry(&mut b, &file.option_types);
    let dhcpv4 = crate::v4::build(&mut b, file.dhcpv4.as_ref());
    b.set_expression_operations(crate::v4::expression_operations(file.dhcpv4.as_ref()));
    let mut prov = provisioning::build(
        &mut b,
        &registry,
        &Declarations {
            provisioning: &file.provisioning,
            vendor_classes: &file.vendor_classes,
            domains: &file.domains,
            pools: &file.pools,
            policies: &file.policies,
            accounts: &file.accounts,
            fixed_bindings: &file.fixed_bindings,
        },
    );
    let store = file.server.store.get_ref();
    if store.is_empty() {
        b.err(
            file.server.store.span().start,
            "store path is empty",
            "give a directory for the embedded store",
        );
    }
    let store_path = b.base_dir().join(store);
    let database = file.server.database.as_ref().map(|d| {
        let url = d.get_ref();
        let ok = url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.contains("dbname=");
        if !ok {
            b.err(
                d.span().start,
                format!("database {url:?} is not a PostgreSQL connection string"),
                "write postgres://user:password@host:port/dbname (or a libpq string with dbname=)",
            );
        }
        url.clone()
    });
    let mut dhcpv6 = crate::v6::build(
        &mut b,
        file.dhcpv6.as_ref(),
        &file.pools6,
        &prov.known_domains(),
    );
    // A pool6's policies resolve as a pool's do, into the same list.
    for pool in dhcpv6.iter_mut().flat_map(|d6| d6.pools.iter_mut()) {
        if let Some(decl) = file.pools6.iter().find(|d| d.get_ref().name == pool.name) {
            let decl = decl.get_ref();
            pool.policies = prov.pool_policies(
                &mut b,
                &registry,
                provisioning::PoolPolicies {
                    owner: &format!("pool6 {:?}", decl.name),
                    specific: format!("pool6:{}", decl.name),
                    options: &decl.options,
                    named: &decl.policies,
                },
            );
        }
    }
    if let Some(p) = dhcpv6
        .as_ref()
        .and_then(|d6| dhcpv6_section_policy(&registry, &b.exprs, d6))
    {
        prov.policies_by_domain
            .entry(ALL_DEVICES.to_string())
            .or_default()
            .push(prov.policies.len());
        prov.policies.push(p);
    }
    let config_server = crate::configsrv::build(&mut b, file.tftp.as_ref(), file.http.as_ref());
    let plugins = crate::plugins::build(&mut b, &file.plugins);
    let tod = crate::tod::build(&mut b, file.tod.as_ref());
    let syslog = crate::syslog::build(&mut b, file.syslog.as_ref());
    let ddns = crate::ddns::build(&mut b, file.ddns.as_ref());
    let snmp = crate::snmp::build(
        &mut b,
        file.snmp.as_ref(),
        &file.server.name,
        &prov.known_domains(),
    );
    let management = crate::management::build(&mut b, file.management.as_ref());
    let cluster = crate::cluster::build(
        &mut b,
        file.cluster.as_ref(),
        &file.server.name,
        database.is_some(),
    );
    let exprs = b.finish()?;
    let has_control_options = prov.policies.iter().any(|p| {
        p.options
            .iter()
            .any(|o| o.path.space() == options::Space::Server)
    });
    Ok(Snapshot {
        generation,
        source: src.path.clone(),
        name: file.server.name,
        store_path,
        database,
        commit_window: std::time::Duration::from_micros(file.server.commit_window_us.min(100_000)),
        timeline: file.server.timeline,
        dhcpv4,
        registry,
        exprs,
        auto_provision: prov.auto_provision,
        store_accounts: prov.store_accounts,
        vendor_classes: prov.vendor_classes,
        domains: prov.domains,
        pools: prov.pools,
        policies: prov.policies,
        policies_by_domain: prov.policies_by_domain,
        has_control_options,
        accounts: prov.accounts,
        fixed: prov.fixed,
        stored_fixed: Default::default(),
        reservations6: Arc::default(),
        pools_by_relay: prov.pools_by_relay,
        dhcpv6,
        config_server,
        plugins,
        tod,
        syslog,
        ddns,
        snmp,
        management,
        cluster,
        config_hash: config_hash(&src.text),
        hooks: Arc::new(crate::plugins::NoHooks),
    })
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
fn dhcpv6_section_policy(
    registry: &Registry,
    exprs: &ExprEngine,
    d6: &crate::v6::Dhcpv6Settings,
) -> Option<Policy> {
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
            let value = match registry.get(&path) {
                Some(def) => OptionValue::of_expr(e.clone(), def, exprs),
                None => OptionValue::Expr(e.clone()),
            };
            opts.push(PolicyOption { path, value });
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

/// The addresses of each pool (in pool order) that are fixed-bound, never
/// allocated dynamically: one pass over the fixed bindings with a binary
/// search in the sorted ranges, instead of a pass per pool (a million
/// bindings and thousands of pools stay linear).
pub fn reserved_by_pool(snapshot: &Snapshot) -> Vec<Vec<Ipv4Addr>> {
    let mut ranges: Vec<(Ipv4Addr, Ipv4Addr, usize)> = snapshot
        .pools
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.ranges.iter().map(move |(a, b)| (*a, *b, i)))
        .collect();
    ranges.sort_unstable();
    let mut out = vec![Vec::new(); snapshot.pools.len()];
    for f in snapshot.fixed.values() {
        let ip = f.binding.ip;
        // Ranges are disjoint (validated), so at most one holds `ip`: the
        // last one starting at or before it.
        let n = ranges.partition_point(|(a, _, _)| *a <= ip);
        if let Some((_, b, i)) = n.checked_sub(1).and_then(|k| ranges.get(k)) {
            if ip <= *b {
                if let Some(v) = out.get_mut(*i) {
                    v.push(ip);
                }
            }
        }
    }
    out
}

/// The snapshot of `text`, loaded as `t.toml` (errors as `check` prints them).
#[cfg(test)]
pub(crate) fn load_test_file(text: &str) -> Result<Snapshot, String> {
    let src = crate::source::SourceFile::new("t.toml".into(), text.to_string());
    Snapshot::from_source(&src, 1).map_err(|e| e.to_string())
}

/// The hash a node reports of its configuration (`headend cluster status`):
/// FNV-1a 64, as 16 hex digits, of the file's TOML with its keys sorted and
/// without what differs from node to node by design — `[server] name` and
/// `store`, `[cluster] node`, and every `listen`, `interface` and
/// `server_id` — so that the nodes of a cluster running the same
/// configuration report the same hash. FNV is stable across builds and
/// platforms: a node of the next version reports the same hash for the
/// same file, which a rolling upgrade needs. A file that does not parse
/// (never installed) hashes as text.
pub fn config_hash(text: &str) -> String {
    let mut canon = String::with_capacity(text.len());
    match text.parse::<toml::Table>() {
        Ok(mut t) => {
            if let Some(toml::Value::Table(server)) = t.get_mut("server") {
                server.remove("name");
                server.remove("store");
            }
            if let Some(toml::Value::Table(cluster)) = t.get_mut("cluster") {
                cluster.remove("node");
            }
            canonical(&toml::Value::Table(t), &mut canon);
        }
        Err(_) => canon.push_str(text),
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in canon.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// `v` with sorted keys and without node-local keys, as one string.
fn canonical(v: &toml::Value, out: &mut String) {
    const NODE_LOCAL: [&str; 3] = ["listen", "interface", "server_id"];
    match v {
        toml::Value::Table(t) => {
            let mut keys: Vec<&String> = t
                .keys()
                .filter(|k| !NODE_LOCAL.contains(&k.as_str()))
                .collect();
            keys.sort();
            out.push('{');
            for k in keys {
                out.push_str(&format!("{k:?}="));
                if let Some(v) = t.get(k) {
                    canonical(v, out);
                }
                out.push(';');
            }
            out.push('}');
        }
        toml::Value::Array(a) => {
            out.push('[');
            for v in a {
                canonical(v, out);
                out.push(',');
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod config_hash_tests {
    use super::config_hash;

    #[test]
    fn node_local_keys_and_key_order_do_not_change_the_hash() {
        let a = "[server]\nname = \"a\"\nstore = \"sa\"\n[dhcpv4]\nlisten = [\"10.0.0.1:67\"]\nserver_id = \"10.0.0.1\"\n[cluster]\nnode = \"a\"\nnodes = [\"a\", \"b\"]\n";
        let b = "[cluster]\nnodes = [\"a\", \"b\"]\nnode = \"b\"\n[server]\nstore = \"sb\"\nname = \"b\"\n[dhcpv4]\nserver_id = \"10.0.0.2\"\nlisten = [\"10.0.0.2:67\"]\n";
        assert_eq!(config_hash(a), config_hash(b));
        let c = b.replace("[\"a\", \"b\"]", "[\"a\", \"b\", \"c\"]");
        assert_ne!(config_hash(a), config_hash(&c));
        assert_eq!(config_hash(a).len(), 16);
    }
}

/// The snapshot of `[server] store = "st"` followed by `extra`, loaded as
/// `t.toml` (errors as `check` prints them): the model's section tests.
#[cfg(test)]
pub(crate) fn load_test_config(extra: &str) -> Result<Snapshot, String> {
    let text = format!("[server]\nstore = \"st\"\n{extra}");
    let src = crate::source::SourceFile::new("t.toml".into(), text);
    Snapshot::from_source(&src, 1).map_err(|e| e.to_string())
}

#[cfg(test)]
mod stored_fixed_tests {
    use super::*;

    #[test]
    fn stored_fixed_bindings_merge_under_the_file() {
        let mut snap = load_test_config(
            "[[pool]]\nname = \"p\"\nrelays = [\"10.0.0.1\"]\nnetwork = \"10.0.0.0/24\"\nranges = [[\"10.0.0.10\", \"10.0.0.99\"]]\n\
             [[fixed_binding]]\nmac = \"00:10:95:00:00:01\"\nrelay = \"10.0.0.1\"\nip = \"10.0.0.50\"\n",
        )
        .unwrap();
        let f = |mac: u8, ip: u8, policies: &[&str]| headend_store::FixedBinding4 {
            client: ClientKey::from_hardware(1, &[0, 0x10, 0x95, 0, 0, mac]),
            relay: Ipv4Addr::new(10, 0, 0, 1),
            ip: Ipv4Addr::new(10, 0, 0, ip),
            hostname: None,
            policies: policies.iter().map(|p| p.to_string()).collect(),
        };
        assert!(snap.check_new_fixed(&f(2, 60, &[])).is_ok());
        assert!(
            snap.check_new_fixed(&f(1, 61, &[])).is_err(),
            "client already bound"
        );
        assert!(
            snap.check_new_fixed(&f(2, 50, &[])).is_err(),
            "address already bound"
        );
        assert!(
            snap.check_new_fixed(&f(2, 60, &["nope"])).is_err(),
            "unknown policy"
        );
        let skipped = snap.merge_stored_fixed(&[f(2, 60, &[]), f(1, 70, &[]), f(3, 50, &[])]);
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert_eq!(snap.fixed.len(), 2);
        assert_eq!(snap.stored_fixed.len(), 1);
        // A second merge replaces the first: nothing of it stays.
        snap.merge_stored_fixed(&[f(4, 61, &[])]);
        assert_eq!(snap.fixed.len(), 2);
        assert!(snap
            .fixed
            .values()
            .any(|b| b.binding.ip == Ipv4Addr::new(10, 0, 0, 61)));
        assert!(!snap
            .fixed
            .values()
            .any(|b| b.binding.ip == Ipv4Addr::new(10, 0, 0, 60)));
    }
}

/// The DHCPv6 reservations of a snapshot, indexed by resource, DUID and MAC.
#[derive(Debug, Clone, Default)]
pub struct Reservations6 {
    by_key: HashMap<headend_store::Lease6Key, headend_store::Reservation6>,
    by_duid: HashMap<Vec<u8>, Vec<headend_store::Lease6Key>>,
    by_mac: HashMap<String, Vec<headend_store::Lease6Key>>,
}

impl Reservations6 {
    /// The index of `list` (a later duplicate of a resource is ignored).
    pub fn new(list: &[headend_store::Reservation6]) -> Reservations6 {
        let mut r = Reservations6::default();
        for x in list {
            let k = x.key();
            if r.by_key.contains_key(&k) {
                continue;
            }
            if let Some(d) = &x.duid {
                r.by_duid.entry(d.clone()).or_default().push(k);
            }
            if let Some(m) = &x.mac {
                r.by_mac.entry(m.clone()).or_default().push(k);
            }
            r.by_key.insert(k, x.clone());
        }
        r
    }

    /// Every reservation, in resource order.
    pub fn all(&self) -> Vec<&headend_store::Reservation6> {
        let mut v: Vec<_> = self.by_key.values().collect();
        v.sort_by_key(|r| r.key());
        v
    }

    /// The reservation of a resource.
    pub fn get(&self, k: &headend_store::Lease6Key) -> Option<&headend_store::Reservation6> {
        self.by_key.get(k)
    }

    /// The resource reserved for this client: an address (`na`) or a prefix.
    pub fn mine(
        &self,
        duid: &[u8],
        mac: Option<&str>,
        na: bool,
    ) -> Option<headend_store::Lease6Key> {
        let by_duid = self.by_duid.get(duid).into_iter().flatten();
        let by_mac = mac.and_then(|m| self.by_mac.get(m)).into_iter().flatten();
        by_duid
            .chain(by_mac)
            .copied()
            .find(|k| (k.prefix_len == 128) == na)
    }

    /// Whether `k` is reserved for a client other than this one: the
    /// dynamic picker must leave it alone.
    pub fn taken_by_other(
        &self,
        k: &headend_store::Lease6Key,
        duid: &[u8],
        mac: Option<&str>,
    ) -> bool {
        self.by_key.get(k).is_some_and(|r| !r.is_for(duid, mac))
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod reservation6_tests {
    use super::*;

    #[test]
    fn reservations_are_checked_against_pools_and_each_other() {
        let mut snap = load_test_config(
            "[dhcpv6]\nlisten = [\"[::1]:547\"]\n\
             [[pool6]]\nname = \"na\"\nprefix = \"2001:db8:1::/64\"\nlinks = [\"2001:db8::1\"]\n\
             [[pool6]]\nname = \"pd\"\nkind = \"pd\"\nprefix = \"2001:db8:f000::/36\"\ndelegated_length = 56\nlinks = [\"2001:db8::1\"]\n",
        )
        .unwrap();
        let r = |mac: &str, a: &str, len: u8| headend_store::Reservation6 {
            duid: None,
            mac: Some(mac.into()),
            address: a.parse().unwrap(),
            prefix_len: len,
        };
        assert_eq!(
            snap.check_new_reservation6(&r("m1", "2001:db8:1::10", 128))
                .as_deref(),
            Ok("na")
        );
        assert_eq!(
            snap.check_new_reservation6(&r("m1", "2001:db8:f000:100::", 56))
                .as_deref(),
            Ok("pd")
        );
        assert!(
            snap.check_new_reservation6(&r("m1", "2001:db8:f000:101::", 56))
                .is_err(),
            "not aligned"
        );
        assert!(
            snap.check_new_reservation6(&r("m1", "2001:db8:1::", 128))
                .is_err(),
            "subnet-router anycast"
        );
        assert!(
            snap.check_new_reservation6(&r("m1", "2001:db8:9::1", 128))
                .is_err(),
            "no pool"
        );
        snap.reservations6 = Arc::new(Reservations6::new(&[r("m1", "2001:db8:1::10", 128)]));
        assert!(
            snap.check_new_reservation6(&r("m2", "2001:db8:1::10", 128))
                .is_err(),
            "reserved"
        );
        assert!(
            snap.check_new_reservation6(&r("m1", "2001:db8:1::11", 128))
                .is_err(),
            "one per kind"
        );
        let k = r("m1", "2001:db8:1::10", 128).key();
        assert_eq!(snap.reservations6.mine(b"", Some("m1"), true), Some(k));
        assert_eq!(snap.reservations6.mine(b"", Some("m1"), false), None);
        assert!(snap.reservations6.taken_by_other(&k, b"", Some("m2")));
        assert!(!snap.reservations6.taken_by_other(&k, b"", Some("m1")));
    }
}
