//! The provisioning model (seed 004 sections 2, 3 and 5): domains, vendor
//! classes, address pools, policies, accounts, fixed bindings and the
//! auto-provisioning expression, as the operator declares them
//! (`[provisioning]`, `[[domain]]`, `[[vendor_class]]`, `[[pool]]`,
//! `[[policy]]`, `[[account]]`, `[[fixed_binding]]`, `[[option_type]]`) and
//! validated into the types the DHCP servers apply.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;

use headend_store::{Account, AccountSource, ClientKey, FixedBinding4};
use ipnet::Ipv4Net;
use serde::Deserialize;
use toml::Spanned;

use crate::build::{
    account_id, canonical_domain, normalize_mac, parse_hex, Builder, ExprSource, ALL_DEVICES,
};
use crate::expr::{Expr, ExprEngine};
use crate::hash::FastMap;
use crate::literal::Literal;
use crate::options::{self, OptionDef, OptionTypeDecl, Registry, TagPath, Value};

/// The largest pool (a /8): the allocator keeps a few bits per address of a pool.
pub const MAX_POOL_ADDRESSES: u64 = 1 << 24;

/// `[provisioning]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningSection {
    /// Expression returning the domain list of a device that has no account.
    pub auto_provision: Option<Spanned<ExprSource>>,
    /// Whether auto-provisioned accounts are stored (default) or re-classified at every exchange.
    #[serde(default = "default_true")]
    pub store_accounts: bool,
    /// A CSV file of fixed bindings, relative to the configuration file,
    /// for sites with too many to write as `[[fixed_binding]]` tables: a
    /// header line naming the columns `mac`, `client_id`, `relay`, `ip`,
    /// `hostname`, `policies` (space-separated), then one binding a line;
    /// `#` starts a comment line.
    pub fixed_bindings_file: Option<Spanned<String>>,
}

fn default_true() -> bool {
    true
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

/// How a value is produced.
#[derive(Debug, Clone)]
pub enum OptionValue {
    /// A literal typed at load time.
    Static(Value),
    /// An expression evaluated per packet.
    Expr(Expr),
}

impl OptionValue {
    /// The value of an option given by `e`: a constant expression (a literal
    /// written as one) is typed here, once, like a literal; anything else is
    /// evaluated per packet. A constant that does not fit `def` stays an
    /// expression, so it fails per packet with the usual message.
    pub fn of_expr(e: Expr, def: &OptionDef, engine: &ExprEngine) -> OptionValue {
        match engine
            .constant(&e)
            .and_then(|lit| options::coerce(def, &lit).ok())
        {
            Some(v) => OptionValue::Static(v),
            None => OptionValue::Expr(e),
        }
    }
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

/// The provisioning declarations of one configuration file.
pub(crate) struct Declarations<'a> {
    /// `[provisioning]`.
    pub(crate) provisioning: &'a ProvisioningSection,
    /// `[[vendor_class]]`.
    pub(crate) vendor_classes: &'a [Spanned<VendorClassDecl>],
    /// `[[domain]]`.
    pub(crate) domains: &'a [Spanned<DomainDecl>],
    /// `[[pool]]`.
    pub(crate) pools: &'a [Spanned<PoolDecl>],
    /// `[[policy]]`.
    pub(crate) policies: &'a [Spanned<PolicyDecl>],
    /// `[[account]]`.
    pub(crate) accounts: &'a [Spanned<AccountDecl>],
    /// `[[fixed_binding]]`.
    pub(crate) fixed_bindings: &'a [Spanned<FixedBindingDecl>],
}

/// The validated provisioning model (the snapshot keeps each part).
pub struct Provisioning {
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
    /// Named policies by name (indexes into `policies`).
    pub policy_index: HashMap<String, usize>,
    /// Accounts declared in the file, by id.
    pub accounts: FastMap<String, Account>,
    /// Fixed bindings by (client, relay).
    pub fixed: HashMap<(ClientKey, Ipv4Addr), FixedBinding>,
    /// Pool indexes by relay address.
    pub pools_by_relay: HashMap<Ipv4Addr, Vec<usize>>,
}

impl Provisioning {
    /// The names of every domain (canonical), for sections that refer to them.
    pub fn known_domains(&self) -> HashSet<String> {
        self.domains.iter().map(|d| d.name.clone()).collect()
    }

    /// The policies of a pool of another section (`[[pool6]]`), resolved as
    /// a `[[pool]]`'s are: its pool-specific policy, then those it names.
    pub(crate) fn pool_policies(
        &mut self,
        builder: &mut Builder<'_>,
        registry: &Registry,
        pool: PoolPolicies<'_>,
    ) -> Vec<usize> {
        pool_policies(
            builder,
            registry,
            (&mut self.policies, &self.policy_index),
            pool,
        )
    }
}

/// What a pool declares about policies.
pub(crate) struct PoolPolicies<'a> {
    /// The pool, for messages (`pool "cm"`, `pool6 "eue"`).
    pub(crate) owner: &'a str,
    /// Name of its pool-specific policy (`pool:cm`, `pool6:eue`).
    pub(crate) specific: String,
    /// The pool-specific policy's options.
    pub(crate) options: &'a BTreeMap<String, Spanned<toml::Value>>,
    /// The named policies it applies.
    pub(crate) named: &'a [Spanned<String>],
}

/// One place for a pool's policies, v4 and v6 (seed 004 section 5.1: "a
/// pool-specific policy" plus named ones): the pool's own options become an
/// enforced policy of no domain, composed before the policies it names.
fn pool_policies(
    builder: &mut Builder<'_>,
    registry: &Registry,
    (policies, index): (&mut Vec<Policy>, &HashMap<String, usize>),
    pool: PoolPolicies<'_>,
) -> Vec<usize> {
    let mut pol = Vec::new();
    if !pool.options.is_empty() {
        let mut opts = Vec::new();
        for (k, v) in pool.options {
            if let Some(o) = option_value(builder, registry, k, v, pool.owner) {
                opts.push((v.span().start, o));
            }
        }
        opts.sort_by_key(|(p, _)| *p);
        policies.push(Policy {
            name: pool.specific,
            enforced: true,
            domains: None,
            options: opts.into_iter().map(|(_, o)| o).collect(),
        });
        pol.push(policies.len() - 1);
    }
    for p in pool.named {
        match index.get(p.get_ref()) {
            Some(i) => pol.push(*i),
            None => builder.err(
                p.span().start,
                format!("{}: unknown policy {:?}", pool.owner, p.get_ref()),
                "declare it with [[policy]]",
            ),
        }
    }
    pol
}

/// Validates `[[option_type]]` into the option registry (built-in types plus
/// the declared ones); errors go to the builder. Everything else refers to
/// option types, so this runs first.
pub(crate) fn registry(builder: &mut Builder<'_>, decls: &[Spanned<OptionTypeDecl>]) -> Registry {
    let mut valid = Vec::new();
    for d in decls {
        if let Err(e) = Registry::with_declarations(std::slice::from_ref(d.get_ref())) {
            builder.err(
                d.span().start,
                format!("option type: {e}"),
                "see the option type fields in the README",
            );
        } else {
            valid.push(d.get_ref().clone());
        }
    }
    match Registry::with_declarations(&valid) {
        Ok(r) => r,
        Err(e) => {
            builder.err(
                0,
                format!("option types: {e}"),
                "fix the [[option_type]] declarations",
            );
            Registry::builtin()
        }
    }
}

/// Validates the provisioning declarations against the option registry;
/// errors go to the builder.
pub(crate) fn build(
    builder: &mut Builder<'_>,
    registry: &Registry,
    decls: &Declarations<'_>,
) -> Provisioning {
    // Domains.
    let mut domains = vec![Domain {
        name: ALL_DEVICES.into(),
        description: "All devices".into(),
    }];
    let mut known = HashSet::from([ALL_DEVICES.to_string()]);
    for d in decls.domains {
        let name = canonical_domain(&d.get_ref().name);
        if !known.insert(name.clone()) {
            builder.err(
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
    for p in decls.policies {
        let decl = p.get_ref();
        if policy_index.contains_key(&decl.name) {
            builder.err(
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
            .map(|ds| domain_refs(builder, ds, &known, &owner));
        let mut opts = Vec::new();
        for (k, v) in &decl.options {
            if let Some(o) = option_value(builder, registry, k, v, &owner) {
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
    let mut policies_by_domain: FastMap<String, Vec<usize>> = FastMap::default();
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
    for ps in decls.pools {
        let decl = ps.get_ref();
        let owner = format!("pool {:?}", decl.name);
        if pools.iter().any(|p| p.name == decl.name) {
            builder.err(
                ps.span().start,
                format!("{owner} is declared twice"),
                "give each pool a unique name",
            );
            continue;
        }
        let doms = decl
            .domains
            .as_ref()
            .map(|ds| domain_refs(builder, ds, &known, &owner))
            .unwrap_or_default();
        let relays: Vec<Ipv4Addr> = decl
            .relays
            .iter()
            .filter_map(|r| builder.ip4(r, "relay"))
            .collect();
        if decl.relays.is_empty() {
            builder.err(
                ps.span().start,
                format!("{owner} serves no relay"),
                "add relays = [\"<giaddr>\"] or [\"0.0.0.0\"] for the local segment",
            );
        }
        let network = match decl.network.get_ref().parse::<Ipv4Net>() {
            Ok(n) => n.trunc(),
            Err(_) => {
                builder.err(
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
                        builder.err(r.span().start, format!("{owner}: range {a}-{b} includes the network or broadcast address"), "start after the network address and stop before the broadcast address");
                    } else {
                        ranges.push((a, b));
                    }
                }
                _ => builder.err(r.span().start, format!("{owner}: range [{a:?}, {b:?}] is not an ordered pair of addresses inside {network}"), "write [\"first\", \"last\"] with first <= last, both inside the network"),
            }
        }
        let size: u64 = ranges
            .iter()
            .map(|(a, b)| u64::from(u32::from(*b)) - u64::from(u32::from(*a)) + 1)
            .sum();
        if size > MAX_POOL_ADDRESSES {
            builder.err(ps.span().start, format!("{owner} has {size} addresses, more than the {MAX_POOL_ADDRESSES} one pool may hold"), "split it into pools of at most a /8 each");
        }
        let exclude: Vec<Ipv4Addr> = decl
            .exclude
            .iter()
            .filter_map(|e| builder.ip4(e, "excluded address"))
            .collect();
        let pol = pool_policies(
            builder,
            registry,
            (&mut policies, &policy_index),
            PoolPolicies {
                owner: &owner,
                specific: format!("pool:{}", decl.name),
                options: &decl.options,
                named: &decl.policies,
            },
        );
        let allow = decl
            .allow
            .as_ref()
            .and_then(|a| builder.compile_source(a, format!("{owner} allow")));
        let deny = decl
            .deny
            .as_ref()
            .and_then(|a| builder.compile_source(a, format!("{owner} deny")));
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
    // Two ranges handing out the same address would bind it twice, inside
    // one pool or across two. Sorted by first address, a range overlaps an
    // earlier one exactly when it starts at or before the furthest end seen
    // so far: one pass, O(n log n) in the number of ranges.
    let mut all: Vec<(Ipv4Addr, Ipv4Addr, usize)> = pools
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.ranges.iter().map(move |(a, b)| (*a, *b, i)))
        .collect();
    all.sort_unstable();
    let mut furthest: Option<(Ipv4Addr, Ipv4Addr, usize)> = None;
    for (c, d, j) in all {
        if let Some((a, b, i)) = furthest {
            if let (true, Some(p), Some(q)) = (c <= b, pools.get(i), pools.get(j)) {
                let pos = decls.pools.get(j).map(|s| s.span().start).unwrap_or(0);
                if i == j {
                    builder.err(
                        pos,
                        format!("pool {:?}: ranges {a}-{b} and {c}-{d} overlap", p.name),
                        "make the ranges disjoint",
                    );
                } else {
                    builder.err(
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
        if furthest.is_none_or(|(_, b, _)| d > b) {
            furthest = Some((c, d, j));
        }
    }

    // Vendor classes.
    let mut vendor_classes = Vec::new();
    for vc in decls.vendor_classes {
        let d = vc.get_ref();
        let m = d.match_expr.as_ref().and_then(|m| {
            let t = m.get_ref().clone();
            builder.compile(
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
    let mut accounts = FastMap::default();
    for a in decls.accounts {
        let d = a.get_ref();
        let Some(id) = account_id(d.id.get_ref()) else {
            builder.err(
                d.id.span().start,
                format!("account id {:?} is neither a MAC nor hex", d.id.get_ref()),
                "write a MAC like \"00:11:22:33:44:55\" or a client identifier in hex",
            );
            continue;
        };
        let owner = format!("account {id}");
        let doms = domain_refs(builder, &d.domains, &known, &owner);
        if accounts.contains_key(&id) {
            builder.err(
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

    // Fixed bindings: uniqueness by (client, relay) and by address through
    // hash lookups, so a million bindings load in linear time.
    let fixed = HashMap::with_capacity(decls.fixed_bindings.len());
    let bound_ips: std::collections::HashSet<Ipv4Addr> =
        std::collections::HashSet::with_capacity(decls.fixed_bindings.len());
    let excluded: HashMap<Ipv4Addr, &str> = pools
        .iter()
        .flat_map(|p| {
            p.exclude
                .iter()
                .filter(|ip| p.ranges.iter().any(|(a, b)| a <= *ip && *ip <= b))
                .map(move |ip| (*ip, p.name.as_str()))
        })
        .collect();
    let mut loader = FixedLoader {
        fixed,
        bound_ips,
        excluded,
        policy_index: &policy_index,
        file: None,
    };
    for f in decls.fixed_bindings {
        let d = f.get_ref();
        let at = |s: &Spanned<String>| At::Toml(s.span().start);
        loader.add(
            builder,
            FixedInput {
                mac: d.mac.as_ref().map(|m| (m.get_ref().as_str(), at(m))),
                client_id: d.client_id.as_ref().map(|c| (c.get_ref().as_str(), at(c))),
                relay: (d.relay.get_ref().as_str(), at(&d.relay)),
                ip: (d.ip.get_ref().as_str(), at(&d.ip)),
                hostname: d.hostname.clone(),
                policies: d
                    .policies
                    .iter()
                    .map(|p| (p.get_ref().as_str(), at(p)))
                    .collect(),
                at: At::Toml(f.span().start),
            },
        );
    }
    if let Some(file) = &decls.provisioning.fixed_bindings_file {
        load_fixed_csv(builder, &mut loader, file);
    }
    let fixed = loader.fixed;

    let auto_provision = decls
        .provisioning
        .auto_provision
        .as_ref()
        .and_then(|a| builder.compile_source(a, "auto-provisioning".into()));
    Provisioning {
        auto_provision,
        store_accounts: decls.provisioning.store_accounts,
        vendor_classes,
        domains,
        pools,
        policies,
        policies_by_domain,
        policy_index,
        accounts,
        fixed,
        pools_by_relay,
    }
}

/// Where a fixed binding's field was written: a byte offset of the
/// configuration file, or a line of `fixed_bindings_file`.
#[derive(Clone, Copy)]
enum At {
    Toml(usize),
    Line(usize),
}

/// One fixed binding as written, from a `[[fixed_binding]]` table or a CSV line.
struct FixedInput<'s> {
    mac: Option<(&'s str, At)>,
    client_id: Option<(&'s str, At)>,
    relay: (&'s str, At),
    ip: (&'s str, At),
    hostname: Option<String>,
    policies: Vec<(&'s str, At)>,
    at: At,
}

/// Validates fixed bindings one at a time into the table, with hash
/// lookups only (linear in the number of bindings).
struct FixedLoader<'p> {
    fixed: HashMap<(ClientKey, Ipv4Addr), FixedBinding>,
    bound_ips: std::collections::HashSet<Ipv4Addr>,
    excluded: HashMap<Ipv4Addr, &'p str>,
    policy_index: &'p HashMap<String, usize>,
    /// The CSV file, for errors at [`At::Line`].
    file: Option<std::path::PathBuf>,
}

impl FixedLoader<'_> {
    fn err(&self, b: &mut Builder<'_>, at: At, message: String, fix: &str) {
        match (at, &self.file) {
            (At::Line(line), Some(file)) => b.errors.push(crate::source::ConfigError {
                file: file.clone(),
                line,
                message,
                fix: fix.to_string(),
            }),
            (At::Toml(offset), _) | (At::Line(offset), None) => b.err(offset, message, fix),
        }
    }

    fn ip(&self, b: &mut Builder<'_>, (text, at): (&str, At), what: &str) -> Option<Ipv4Addr> {
        match text.trim().parse::<Ipv4Addr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.err(
                    b,
                    at,
                    format!("fixed binding: {what} {text:?} is not an IPv4 address"),
                    "write a dotted quad, e.g. \"10.1.0.20\"",
                );
                None
            }
        }
    }

    fn add(&mut self, b: &mut Builder<'_>, d: FixedInput<'_>) {
        let client = match (d.mac, d.client_id) {
            (Some((m, at)), None) => match normalize_mac(m).and_then(|s| parse_hex(&s)) {
                Some(bytes) => ClientKey::from_hardware(1, &bytes),
                None => {
                    let msg = format!("fixed binding: {m:?} is not a MAC");
                    return self.err(b, at, msg, "write \"00:11:22:33:44:55\"");
                }
            },
            (None, Some((c, at))) => match parse_hex(c) {
                Some(bytes) if !bytes.is_empty() => ClientKey(bytes),
                _ => {
                    let msg = format!("fixed binding: client_id {c:?} is not hex");
                    return self.err(
                        b,
                        at,
                        msg,
                        "write the option 61 bytes in hex, e.g. \"01:00:11:22:33:44:55\"",
                    );
                }
            },
            _ => {
                return self.err(
                    b,
                    d.at,
                    "fixed binding needs exactly one of mac or client_id".into(),
                    "give mac = \"…\" or client_id = \"…\"",
                );
            }
        };
        let (Some(relay), Some(ip)) = (self.ip(b, d.relay, "relay"), self.ip(b, d.ip, "ip")) else {
            return;
        };
        let mut pol = Vec::new();
        for (p, at) in &d.policies {
            match self.policy_index.get(*p) {
                Some(i) => pol.push(*i),
                None => self.err(
                    b,
                    *at,
                    format!("fixed binding: unknown policy {p:?}"),
                    "declare it with [[policy]]",
                ),
            }
        }
        if let Some(pool) = self.excluded.get(&ip) {
            tracing::debug!(pool, %ip, "fixed binding on an excluded pool address");
        }
        let key = (client.clone(), relay);
        if self.fixed.contains_key(&key) {
            return self.err(
                b,
                d.at,
                "a fixed binding for this client and relay already exists".into(),
                "keep one binding per client and relay",
            );
        }
        if !self.bound_ips.insert(ip) {
            return self.err(
                b,
                d.ip.1,
                format!("address {ip} is bound twice"),
                "give each fixed binding its own address",
            );
        }
        self.fixed.insert(
            key,
            FixedBinding {
                binding: FixedBinding4 {
                    client,
                    relay,
                    ip,
                    hostname: d.hostname,
                    policies: d.policies.iter().map(|(p, _)| p.to_string()).collect(),
                },
                policies: pol,
            },
        );
    }
}

/// Reads `[provisioning] fixed_bindings_file` line by line into `loader`;
/// every problem is an error at its file and line.
fn load_fixed_csv(b: &mut Builder<'_>, loader: &mut FixedLoader<'_>, file: &Spanned<String>) {
    let path = b.base_dir().join(file.get_ref());
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            return b.err(
                file.span().start,
                format!("cannot read fixed_bindings_file {}: {e}", path.display()),
                "give a readable CSV file, relative to this configuration",
            )
        }
    };
    loader.file = Some(path.clone());
    let mut columns: Option<Vec<&str>> = None;
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let at = At::Line(line_no);
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = t.split(',').map(str::trim).collect();
        let Some(cols) = &columns else {
            let known = ["mac", "client_id", "relay", "ip", "hostname", "policies"];
            if let Some(bad) = fields.iter().find(|f| !known.contains(f)) {
                loader.err(
                    b,
                    at,
                    format!("fixed_bindings_file header: unknown column {bad:?}"),
                    "name the columns mac, client_id, relay, ip, hostname, policies",
                );
                return;
            }
            if !fields.contains(&"relay") || !fields.contains(&"ip") {
                loader.err(
                    b,
                    at,
                    "fixed_bindings_file header needs the columns relay and ip".into(),
                    "start the file with a header, e.g. mac,relay,ip",
                );
                return;
            }
            columns = Some(fields);
            continue;
        };
        if fields.len() != cols.len() {
            loader.err(
                b,
                at,
                format!("{} fields, the header names {}", fields.len(), cols.len()),
                "give one value per column (empty for none)",
            );
            continue;
        }
        let get = |name: &str| {
            cols.iter()
                .position(|c| *c == name)
                .and_then(|i| fields.get(i).copied())
                .filter(|v| !v.is_empty())
        };
        loader.add(
            b,
            FixedInput {
                mac: get("mac").map(|v| (v, at)),
                client_id: get("client_id").map(|v| (v, at)),
                relay: (get("relay").unwrap_or(""), at),
                ip: (get("ip").unwrap_or(""), at),
                hostname: get("hostname").map(str::to_string),
                policies: get("policies")
                    .map(|p| p.split_whitespace().map(|x| (x, at)).collect())
                    .unwrap_or_default(),
                at,
            },
        );
    }
}

fn option_value(
    builder: &mut Builder<'_>,
    registry: &Registry,
    key: &str,
    v: &Spanned<toml::Value>,
    owner: &str,
) -> Option<PolicyOption> {
    let def: OptionDef = match registry.resolve(key) {
        Ok(d) => d.clone(),
        Err(e) => {
            builder.err(
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
                builder.err(
                    v.span().start,
                    format!("{what}: a table value must be {{ expr = \"…\" }} or {{ file = \"….rhai\" }}"),
                    "write a literal value, { expr = \"rhai expression\" } or { file = \"policies/x.rhai\" }",
                );
                return None;
            }
        };
        let e = builder.compile_source(&Spanned::new(v.span(), source), what)?;
        return Some(PolicyOption {
            path: def.path.clone(),
            value: OptionValue::of_expr(e, &def, &builder.exprs),
        });
    }
    let lit = match Literal::from_toml(v.get_ref()) {
        Ok(l) => l,
        Err(m) => {
            builder.err(
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
            builder.err(
                v.span().start,
                format!("{what}: {e}"),
                format!("give a value of type {:?}", def.data_type),
            );
            None
        }
    }
}

fn domain_refs(
    builder: &mut Builder<'_>,
    names: &[Spanned<String>],
    known: &HashSet<String>,
    owner: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for n in names {
        let name = canonical_domain(n.get_ref());
        if !known.contains(&name) {
            builder.err(
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
