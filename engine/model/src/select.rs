//! Address pool selection: the seed's four-stage reduction (seed 004
//! section 5.1):
//!
//! 1. pools associated with the relay agent the client boots through (giaddr,
//!    or the subnet named by link selection 82.5 / subnet selection 118,
//!    RFC 3527 / RFC 3011);
//! 2. discard pools the device's domains do not authorise;
//! 3. discard pools whose Allow expression is false or Deny expression is true;
//! 4. of the rest, the highest weight that still has free addresses.
//!
//! Stages 1–3 also decide whether an existing lease may be extended: a lease
//! from a pool that no longer passes them is NAKed (seed 004 section 3.1).

use std::net::Ipv4Addr;

use crate::expr::{Expr, ExprError, Session};
use crate::snapshot::{Pool, Snapshot};
use crate::trace::Trace;
use crate::v6::Pool6;

/// How the client's network was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkSelector {
    /// The relay agent address (giaddr; 0.0.0.0 = local segment).
    pub giaddr: Ipv4Addr,
    /// Option 82 sub-option 5 (RFC 3527), when present.
    pub link_selection: Option<Ipv4Addr>,
    /// Option 118 (RFC 3011), when present.
    pub subnet_selection: Option<Ipv4Addr>,
}

impl NetworkSelector {
    /// The address that names the client's subnet, if the relay or client gave one.
    pub fn subnet_hint(&self) -> Option<Ipv4Addr> {
        self.link_selection.or(self.subnet_selection)
    }
}

/// Outcome of stages 1–3 for one pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolVerdict {
    /// Passed stages 1–3.
    Eligible,
    /// Not on the client's network.
    WrongNetwork,
    /// The device's domains do not authorise it.
    NotAuthorized,
    /// The Allow expression was false (or failed).
    NotAllowed,
    /// The Deny expression was true (or failed).
    Denied,
}

/// An expression that failed while selecting (counted and logged by the caller).
#[derive(Debug)]
pub struct SelectFailure {
    /// The pool.
    pub pool: String,
    /// The error.
    pub error: ExprError,
}

/// Stage 1: pools on the client's network, in file order.
pub fn network_pools<'s>(snapshot: &'s Snapshot, sel: &NetworkSelector) -> Vec<&'s Pool> {
    match sel.subnet_hint() {
        Some(hint) => snapshot
            .pools
            .iter()
            .filter(|p| p.network.contains(&hint))
            .collect(),
        None => snapshot
            .pools_by_relay
            .get(&sel.giaddr)
            .map(|ix| ix.iter().filter_map(|i| snapshot.pools.get(*i)).collect())
            .unwrap_or_default(),
    }
}

/// Stages 2 and 3 for one pool already known to be on the network.
pub fn judge(
    pool: &Pool,
    domains: &[String],
    session: &mut Session,
    failures: &mut Vec<SelectFailure>,
) -> PoolVerdict {
    judge_rules(
        &pool.name,
        pool.authorizes(domains),
        pool.allow.as_ref(),
        pool.deny.as_ref(),
        session,
        failures,
    )
}

/// Stages 2 and 3 for a DHCPv6 `[[pool6]]` on the client's link: the same
/// judge as [`judge`], so a domain or an allow/deny condition treats a
/// device alike over both families.
pub fn judge6(
    pool: &Pool6,
    domains: &[String],
    session: &mut Session,
    failures: &mut Vec<SelectFailure>,
) -> PoolVerdict {
    judge_rules(
        &pool.name,
        pool.authorizes(domains),
        pool.allow.as_ref(),
        pool.deny.as_ref(),
        session,
        failures,
    )
}

/// The rules of stages 2 and 3: domains, then the Allow expression (false
/// or failed: not allowed), then the Deny expression (true or failed: denied).
fn judge_rules(
    name: &str,
    authorized: bool,
    allow: Option<&Expr>,
    deny: Option<&Expr>,
    session: &mut Session,
    failures: &mut Vec<SelectFailure>,
) -> PoolVerdict {
    if !authorized {
        return PoolVerdict::NotAuthorized;
    }
    if let Some(allow) = allow {
        match session.eval_bool(allow) {
            Ok(true) => {}
            Ok(false) => return PoolVerdict::NotAllowed,
            Err(error) => {
                failures.push(SelectFailure {
                    pool: name.to_string(),
                    error,
                });
                return PoolVerdict::NotAllowed;
            }
        }
    }
    if let Some(deny) = deny {
        match session.eval_bool(deny) {
            Ok(false) => {}
            Ok(true) => return PoolVerdict::Denied,
            Err(error) => {
                failures.push(SelectFailure {
                    pool: name.to_string(),
                    error,
                });
                return PoolVerdict::Denied;
            }
        }
    }
    PoolVerdict::Eligible
}

/// Whether the pool an existing lease came from still passes stages 1–3.
pub fn may_extend(
    snapshot: &Snapshot,
    pool_name: &str,
    sel: &NetworkSelector,
    domains: &[String],
    session: &mut Session,
    failures: &mut Vec<SelectFailure>,
    trace: &mut Trace,
) -> bool {
    let on_network = network_pools(snapshot, sel)
        .into_iter()
        .find(|p| p.name == pool_name);
    let Some(pool) = on_network else {
        trace.note(|| {
            format!("lease pool {pool_name:?} is not on the client's network (or no longer exists)")
        });
        return false;
    };
    let v = judge(pool, domains, session, failures);
    trace.note(|| format!("lease pool {pool_name:?}: {v:?}"));
    v == PoolVerdict::Eligible
}

/// All four stages: the pool to allocate from, or `None`.
pub fn select_pool<'s>(
    snapshot: &'s Snapshot,
    sel: &NetworkSelector,
    domains: &[String],
    session: &mut Session,
    has_free: &mut dyn FnMut(&Pool) -> bool,
    failures: &mut Vec<SelectFailure>,
    trace: &mut Trace,
) -> Option<&'s Pool> {
    let candidates = network_pools(snapshot, sel);
    trace.note(|| match sel.subnet_hint() {
        Some(h) => format!(
            "stage 1: subnet hint {h} (link/subnet selection) -> {} pool(s): {}",
            candidates.len(),
            names(&candidates)
        ),
        None => format!(
            "stage 1: relay {} -> {} pool(s): {}",
            sel.giaddr,
            candidates.len(),
            names(&candidates)
        ),
    });
    let mut best: Option<&Pool> = None;
    for pool in candidates {
        let v = judge(pool, domains, session, failures);
        if v != PoolVerdict::Eligible {
            trace.note(|| format!("stages 2-3: pool {:?} discarded: {v:?}", pool.name));
            continue;
        }
        if best.is_some_and(|b| b.weight >= pool.weight) {
            trace.note(|| {
                format!(
                    "stage 4: pool {:?} eligible, lower or equal weight {}",
                    pool.name, pool.weight
                )
            });
            continue;
        }
        if !has_free(pool) {
            trace.note(|| {
                format!(
                    "stage 4: pool {:?} eligible but has no free address",
                    pool.name
                )
            });
            continue;
        }
        trace.note(|| {
            format!(
                "stage 4: pool {:?} eligible, weight {}",
                pool.name, pool.weight
            )
        });
        best = Some(pool);
    }
    match best {
        Some(p) => trace.note(|| format!("selected pool {:?}", p.name)),
        None => trace.note(|| "no pool available".to_string()),
    }
    best
}

fn names(pools: &[&Pool]) -> String {
    pools
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
