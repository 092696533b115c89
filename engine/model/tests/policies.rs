//! Every site policy shipped in `policies/` compiles with the engine's
//! sandboxed Rhai and gives the documented answer for representative devices
//! (issue 3, "tests run every shipped policy"). A new tracked `.rhai` file
//! without a case here fails `every_shipped_policy_is_tested`; a site's own
//! untracked script in `policies/` does not (issue 20).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use headend_model::expr::{AccountInfo, EvalContext, Expr, ExprEngine, ExprLimits, Origin};
use headend_model::literal::Literal;

fn policies_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

fn compile(engine: &ExprEngine, name: &str) -> Expr {
    let path = policies_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    engine
        .compile(
            &text,
            Origin {
                file: path,
                line: 1,
                what: name.to_string(),
            },
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn account(id: &str, domains: &[&str], attrs: &[(&str, &str)]) -> AccountInfo {
    AccountInfo {
        id: id.into(),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        attributes: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// The devices of the lab: a modem, an eMTA, a CPE behind a modem, a CPE
/// behind a quarantined modem, and a device on a local segment.
fn device(kind: &str) -> EvalContext {
    let mut c = EvalContext::default();
    c.relay.address = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let (mac, family): ([u8; 6], &str) = match kind {
        "cm" => ([0x00, 0x10, 0x95, 0, 0, 1], "docsis"),
        "mta" | "mta-basic" | "mta-secure" => ([0x00, 0x10, 0x95, 0x0e, 0, 1], "pktc"),
        _ => ([0x3c, 0, 0, 0, 0, 1], "other"),
    };
    c.packet.chaddr = mac.to_vec();
    c.device.family = family.into();
    match kind {
        "mta" => c.device.supported_flows = vec!["hybrid".into(), "basic".into()],
        "mta-basic" => c.device.supported_flows = vec!["basic".into()],
        "mta-secure" => {
            c.device.supported_flows = vec!["secure".into(), "hybrid".into(), "basic".into()];
            c.domains = vec!["voice-secure".into()];
        }
        "cpe" | "cpe-quarantined" => {
            c.relay.remote_id = vec![0x00, 0x10, 0x95, 0, 0, 1];
            let d: &[&str] = if kind == "cpe" {
                &["cablemodems"]
            } else {
                &["quarantine"]
            };
            c.modem = Some(account("00:10:95:00:00:01", d, &[]));
        }
        "local" => c.relay.address = IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        _ => {}
    }
    c
}

fn eval(engine: &ExprEngine, e: &Expr, ctx: &EvalContext) -> Option<Literal> {
    engine.session(ctx).eval_literal(e).unwrap()
}

fn s(v: &str) -> Option<Literal> {
    Some(Literal::Str(v.into()))
}

fn ip(v: &str) -> Option<Literal> {
    Some(Literal::Ip(v.parse().unwrap()))
}

const TESTED: &[&str] = &[
    "classify.rhai",
    "config-file-name.rhai",
    "cpe-allow.rhai",
    "flow.rhai",
    "hostname.rhai",
    "prov-server.rhai",
    "quarantine-deny.rhai",
    "tftp-server.rhai",
];

/// The shipped policies: the `.rhai` files git tracks in `policies/`. A
/// site's own script placed there (untracked) is not the engine's to test
/// and must not fail the engine's suite; outside a git checkout (a source
/// tarball) every file there counts.
fn shipped_policies() -> Vec<String> {
    let git = std::process::Command::new("git")
        .arg("-C")
        .arg(policies_dir())
        .args(["ls-files", "--", "*.rhai"])
        .output()
        .ok()
        .filter(|o| o.status.success() && !o.stdout.is_empty());
    let mut found: Vec<String> = match git {
        Some(out) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.rsplit('/').next().unwrap_or(l).to_string())
            .collect(),
        None => std::fs::read_dir(policies_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".rhai"))
            .collect(),
    };
    found.sort();
    found
}

#[test]
fn every_shipped_policy_is_tested() {
    assert_eq!(
        shipped_policies(),
        TESTED,
        "add a test case for each policy in policies/"
    );
}

#[test]
fn classify_puts_devices_in_their_domains() {
    let engine = ExprEngine::new(ExprLimits::default());
    let e = compile(&engine, "classify.rhai");
    let list = |kind: &str| engine.session(&device(kind)).eval_string_list(&e).unwrap();
    assert_eq!(list("cm"), ["cablemodems"]);
    assert_eq!(list("mta"), ["emta"]);
    assert_eq!(list("cpe"), ["cpe"]);
    assert_eq!(list("cpe-quarantined"), ["quarantine"]);
    assert!(list("local").is_empty());
}

#[test]
fn tftp_server_by_relay_with_a_fallback() {
    let engine = ExprEngine::new(ExprLimits::default());
    let e = compile(&engine, "tftp-server.rhai");
    assert_eq!(eval(&engine, &e, &device("cm")), ip("127.0.0.1"));
    let mut hub2 = device("cm");
    hub2.relay.address = "10.2.0.1".parse().unwrap();
    assert_eq!(eval(&engine, &e, &hub2), ip("10.2.0.10"));
    let mut other = device("cm");
    other.relay.address = "192.0.2.1".parse().unwrap();
    assert_eq!(eval(&engine, &e, &other), ip("192.0.2.2"));
    assert_eq!(eval(&engine, &e, &device("local")), None);
}

#[test]
fn config_file_name_by_device_type() {
    let engine = ExprEngine::new(ExprLimits::default());
    let e = compile(&engine, "config-file-name.rhai");
    assert_eq!(eval(&engine, &e, &device("cm")), s("cm-001095000001.cm"));
    let mut gold = device("cm");
    gold.account = Some(account(
        "00:10:95:00:00:01",
        &["cablemodems"],
        &[("service_class", "gold")],
    ));
    assert_eq!(eval(&engine, &e, &gold), s("gold.cm"));
    assert_eq!(eval(&engine, &e, &device("mta")), s("mta-0010950e0001.bin"));
    assert_eq!(eval(&engine, &e, &device("cpe")), None);
}

#[test]
fn hostnames_by_family() {
    let engine = ExprEngine::new(ExprLimits::default());
    let e = compile(&engine, "hostname.rhai");
    assert_eq!(eval(&engine, &e, &device("cm")), s("cm-001095000001"));
    assert_eq!(eval(&engine, &e, &device("mta")), s("mta-0010950e0001"));
    assert_eq!(eval(&engine, &e, &device("cpe")), s("cpe-3c0000000001"));
    assert_eq!(eval(&engine, &e, &device("local")), None);
}

#[test]
fn pool_allow_and_deny() {
    let engine = ExprEngine::new(ExprLimits::default());
    let allow = compile(&engine, "cpe-allow.rhai");
    let deny = compile(&engine, "quarantine-deny.rhai");
    let check = |e: &Expr, kind: &str| engine.session(&device(kind)).eval_bool(e).unwrap();
    assert!(check(&allow, "cpe"));
    assert!(!check(&allow, "cpe-quarantined"));
    assert!(!check(&allow, "local"));
    assert!(!check(&deny, "cpe"));
    assert!(check(&deny, "cpe-quarantined"));
    let mut q = device("mta");
    q.account = Some(account("00:10:95:0e:00:01", &["quarantine"], &[]));
    assert!(engine.session(&q).eval_bool(&deny).unwrap());
}

#[test]
fn flow_and_provisioning_server_without_a_plugin() {
    let engine = ExprEngine::new(ExprLimits::default());
    let flow = compile(&engine, "flow.rhai");
    let prov = compile(&engine, "prov-server.rhai");
    assert_eq!(eval(&engine, &flow, &device("mta")), s("HYBRID.2"));
    assert_eq!(eval(&engine, &flow, &device("mta-basic")), s("BASIC.1"));
    assert_eq!(
        eval(&engine, &flow, &device("mta-secure")),
        s("VOICE.LAB.EXAMPLE")
    );
    let mut pinned = device("mta");
    pinned.account = Some(account("x", &["emta"], &[("pktc_flow", "BASIC.2")]));
    assert_eq!(eval(&engine, &flow, &pinned), s("BASIC.2"));
    assert_eq!(eval(&engine, &flow, &device("cm")), None);

    assert_eq!(eval(&engine, &prov, &device("mta")), s("prov.lab.example"));
    let mut q = device("mta");
    q.account = Some(account("x", &["quarantine"], &[]));
    assert_eq!(eval(&engine, &prov, &q), s("0.0.0.0"));
    assert_eq!(eval(&engine, &prov, &device("cm")), None);
}
