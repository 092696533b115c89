//! Option composition: which options a DHCPv4 or DHCPv6 reply carries,
//! from which policy, with the CableLabs server rules applied (seed 004
//! sections 5.7, 5.8; seed 000 Table 2 CM2/CM4, sections 6.4.1 and 6.7).
//! One composition serves both families: a policy may carry options of
//! both spaces, and each family takes the options of its own space (plus
//! the server control options, which both honour).
//!
//! Precedence, first definition of a tag path wins:
//! 1. the fixed binding's policies;
//! 2. the pool's policies (its pool-specific policy first, then those it names);
//! 3. the policies of the device's domains, in the order of the account's
//!    domain list, "All devices" last, each domain's policies in file order.
//!
//! Enforced policies contribute every option; optional policies only those
//! the client requested (option 55, or the vendor's ORO for vendor sub-options).

use headend_wire::cablelabs::IpPref;

use crate::expr::{ExprError, Session};
use crate::options::{self, is_requested, OptionSet, RequestedOptions, Space, TagPath, Value};
use crate::snapshot::{OptionValue, Snapshot, ALL_DEVICES};
use crate::trace::Trace;

/// An option whose expression failed or whose value did not fit its type.
#[derive(Debug)]
pub struct OptionFailure {
    /// The option.
    pub path: TagPath,
    /// The policy it came from.
    pub policy: String,
    /// What went wrong.
    pub error: String,
    /// Whether it was an expression that failed at run time.
    pub expression: Option<Box<ExprError>>,
}

/// What the device told us about CableLabs dual-stack support.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DualStack {
    /// The device sent CL_V4OPTION_IP_PREF b'111 (seed 000 6.4.1.5).
    pub announced_ip_pref: bool,
    /// The device's capability string carries TLV 5.38 (seed 000 6.7 case 3).
    pub capability_5_38: bool,
}

impl DualStack {
    /// Whether the device is DSS-capable in the sense of seed 000 section 6.7.
    pub fn capable(&self) -> bool {
        self.announced_ip_pref || self.capability_5_38
    }
}

/// Inputs to composition.
pub struct ComposeInput<'a> {
    /// The snapshot.
    pub snapshot: &'a Snapshot,
    /// The device's domains ("all" included or not: it is always applied last).
    pub domains: &'a [String],
    /// The policies of the pool of the address (indexes), if any.
    pub pool: &'a [usize],
    /// The policies of the fixed binding used (indexes), if any.
    pub fixed: &'a [usize],
    /// What the client asked for.
    pub requested: &'a RequestedOptions,
    /// The option space of the reply, [`Space::Dhcp4`] or [`Space::Dhcp6`],
    /// with the control options that steer it; [`Space::Server`] composes
    /// only the control options both families honour (`no-response`, …).
    pub space: Space,
}

/// Policy indexes in precedence order.
pub fn policy_order(input: &ComposeInput<'_>) -> Vec<usize> {
    let snap = input.snapshot;
    let mut order: Vec<usize> = Vec::new();
    let push = |i: usize, order: &mut Vec<usize>| {
        if !order.contains(&i) {
            order.push(i);
        }
    };
    for i in input.fixed.iter().chain(input.pool) {
        push(*i, &mut order);
    }
    let domain_order = input
        .domains
        .iter()
        .map(String::as_str)
        .filter(|d| *d != ALL_DEVICES)
        .chain(std::iter::once(ALL_DEVICES));
    for d in domain_order {
        for i in snap.policies_by_domain.get(d).into_iter().flatten() {
            push(*i, &mut order);
        }
    }
    order
}

/// Builds the option set of a reply. Failed options are omitted and reported.
/// The expression session is made by `session` on the first expression:
/// a set of literals (or of nothing, as the control options usually are)
/// builds no Rhai scope.
pub fn compose<'e>(
    input: &ComposeInput<'_>,
    mut session: impl FnMut() -> Session<'e>,
    failures: &mut Vec<OptionFailure>,
    trace: &mut Trace,
) -> OptionSet {
    let snap = input.snapshot;
    // Only control options are wanted and no policy has one: nothing to
    // order or evaluate (the DHCPv6 path asks twice per SARR).
    if input.space == Space::Server && !snap.has_control_options {
        return OptionSet::default();
    }
    let mut live: Option<Session<'e>> = None;
    let mut set = OptionSet::default();
    for pi in policy_order(input) {
        let Some(policy) = snap.policies.get(pi) else {
            continue;
        };
        for opt in &policy.options {
            let wanted = match opt.path.space() {
                Space::Server => options::builtin::control::applies_to(opt.path.top(), input.space),
                space => space == input.space,
            };
            if !wanted || set.get(&opt.path).is_some() {
                continue;
            }
            if !policy.enforced && !is_requested(&opt.path, input.requested) {
                trace.note(|| {
                    format!(
                        "{} from optional policy {:?}: not requested",
                        opt.path, policy.name
                    )
                });
                continue;
            }
            let value = match &opt.value {
                OptionValue::Static(v) => v.clone(),
                OptionValue::Expr(e) => {
                    match evaluate(snap, &opt.path, e, live.get_or_insert_with(&mut session)) {
                        Ok(Some(v)) => v,
                        Ok(None) => {
                            trace.note(|| {
                                format!(
                                    "{} from policy {:?}: expression gave no value",
                                    opt.path, policy.name
                                )
                            });
                            continue;
                        }
                        Err(f) => {
                            trace.note(|| {
                                format!(
                                    "{} from policy {:?}: FAILED: {}",
                                    opt.path, policy.name, f.0
                                )
                            });
                            failures.push(OptionFailure {
                                path: opt.path.clone(),
                                policy: policy.name.clone(),
                                error: f.0,
                                expression: f.1,
                            });
                            continue;
                        }
                    }
                }
            };
            trace.note(|| {
                let name = snap
                    .registry
                    .get(&opt.path)
                    .map(|d| d.name.as_str())
                    .unwrap_or("");
                format!("{} {name} = {value} (policy {:?})", opt.path, policy.name)
            });
            set.insert(opt.path.clone(), value, policy.name.clone());
        }
    }
    set
}

struct EvalFailure(String, Option<Box<ExprError>>);

fn evaluate(
    snap: &Snapshot,
    path: &TagPath,
    expr: &crate::expr::Expr,
    session: &mut Session,
) -> Result<Option<Value>, EvalFailure> {
    let lit = session
        .eval_literal(expr)
        .map_err(|e| EvalFailure(e.to_string(), Some(Box::new(e))))?;
    let Some(lit) = lit else {
        return Ok(None);
    };
    let def = snap
        .registry
        .get(path)
        .ok_or_else(|| EvalFailure(format!("no option type for {path}"), None))?;
    options::coerce(def, &lit).map(Some).map_err(|e| {
        EvalFailure(
            format!("expression result does not fit the option: {e}"),
            None,
        )
    })
}

/// Tag paths of the CableLabs eUE options in DHCPv4.
pub mod paths {
    /// Option 122 (CL_OPTION_CCC, RFC 3495).
    pub const CCC: u8 = 122;
    /// Option 125 enterprise 4491 sub-option 123 (CL_V4OPTION_CCCV6).
    pub const CCCV6: u16 = 123;
    /// Option 125 enterprise 4491 sub-option 124 (CL_V4OPTION_IP_PREF).
    pub const IP_PREF: u16 = 124;
    /// CableLabs' IANA enterprise number.
    pub const CABLELABS: u32 = 4491;
}

/// The CableLabs server rules of seed 000 Table 2 (CM2) and section 6.7:
///
/// * option 122 only when requested in option 55;
/// * CL_V4OPTION_CCCV6 (125/4491/123) only when requested in the CL ORO (125/4491/1);
/// * when the eCM asked for both and at least one is sent, CL_V4OPTION_IP_PREF
///   is sent too (derived from what is sent when no policy set it);
/// * IP_PREF b'101 / b'110 never go to a device that is not DSS-capable; they are
///   reduced to b'001 / b'010.
pub fn apply_cablelabs_rules(
    set: &mut OptionSet,
    requested: &RequestedOptions,
    dual: DualStack,
    trace: &mut Trace,
) {
    let ccc_requested = requested.prl.contains(&paths::CCC);
    let oro: &[u16] = requested
        .vendor_oro
        .get(&paths::CABLELABS)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let cccv6_requested = oro.contains(&paths::CCCV6);
    let ip_pref_requested = oro.contains(&paths::IP_PREF);

    let is_ccc = |p: &TagPath| p.first() == Some(u32::from(paths::CCC));
    let is_cl_sub = |p: &TagPath, sub: u16| {
        p.first() == Some(125)
            && p.get(1) == Some(paths::CABLELABS)
            && p.get(2) == Some(u32::from(sub))
    };

    if !ccc_requested && set.paths().any(is_ccc) {
        trace.note(|| {
            "option 122 not requested in option 55: not sent (seed 000 Table 2 CM2)".into()
        });
        set.retain(|p| !is_ccc(p));
    }
    if !cccv6_requested && set.paths().any(|p| is_cl_sub(p, paths::CCCV6)) {
        trace.note(|| "CL_V4OPTION_CCCV6 not requested in the CL ORO: not sent".into());
        set.retain(|p| !is_cl_sub(p, paths::CCCV6));
    }
    let sends_ccc = set.paths().any(is_ccc);
    let sends_cccv6 = set.paths().any(|p| is_cl_sub(p, paths::CCCV6));
    let ip_pref_path = TagPath::from_slice(&[125, paths::CABLELABS, u32::from(paths::IP_PREF)]);
    let asked_both = ccc_requested && cccv6_requested;
    let must_send_pref = asked_both && (sends_ccc || sends_cccv6);
    if set.get(&ip_pref_path).is_some() && !(ip_pref_requested || must_send_pref) {
        trace.note(|| "CL_V4OPTION_IP_PREF not requested: not sent".into());
        set.remove(&ip_pref_path);
    }
    if must_send_pref && set.get(&ip_pref_path).is_none() {
        let derived = if sends_ccc {
            IpPref::Ipv4Only
        } else {
            IpPref::Ipv6Only
        };
        trace.note(|| format!("eCM asked for 122 and CCCv6: adding CL_V4OPTION_IP_PREF {derived:?} (seed 000 Table 2 CM2)"));
        set.insert(
            ip_pref_path.clone(),
            Value::from_u8(u8::from(derived)),
            "cablelabs-rules".to_string(),
        );
    }
    if let Some(v) = set.get(&ip_pref_path).and_then(|v| v.as_u8()) {
        let pref = IpPref::from(v);
        if pref.requires_dual_stack_capability() && !dual.capable() {
            let reduced = match pref {
                IpPref::DualStackIpv6 => IpPref::Ipv6Only,
                _ => IpPref::Ipv4Only,
            };
            trace.note(|| format!("IP_PREF {pref:?} reduced to {reduced:?}: the device did not announce b'111 (seed 000 6.7 case 3)"));
            set.insert(
                ip_pref_path,
                Value::from_u8(u8::from(reduced)),
                "cablelabs-rules".to_string(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::load_test_config;

    fn server_pass(snap: &Snapshot) -> OptionSet {
        let input = ComposeInput {
            snapshot: snap,
            domains: &[],
            pool: &[],
            fixed: &[],
            requested: &RequestedOptions::default(),
            space: Space::Server,
        };
        let mut trace = Trace::default();
        compose(
            &input,
            || snap.exprs.session(&Default::default()),
            &mut Vec::new(),
            &mut trace,
        )
    }

    #[test]
    fn the_control_option_pass_is_skipped_only_when_no_policy_has_one() {
        let plain = "[[policy]]\nname = \"p\"\nenforced = true\ndomains = [\"all\"]\n\
                     [policy.options]\ndomain-name = \"example.net\"\n";
        let snap = load_test_config(plain).unwrap();
        assert!(!snap.has_control_options);
        assert!(!server_pass(&snap).control().no_response);
        let quiet = format!("{plain}\"server.no-response\" = true\n");
        let snap = load_test_config(&quiet).unwrap();
        assert!(snap.has_control_options);
        assert!(server_pass(&snap).control().no_response);
    }
}
