//! The host with the real `.wasm` builds of the shipped plugins
//! (`plugins/dist/*.wasm`, produced by `plugins/build.sh`): issue 3, "Proof:
//! tests through the host with the real `.wasm` builds of the shipped
//! plugins, and with broken plugins for every failure mode".
//!
//! When a build is missing the test fails if `CI` is set (CI must run
//! `plugins/build.sh` first) and is skipped with a note otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use common::host;
use headend_abi::{
    ConfigValue, Device, EventAction, EventLevel, EventTransport, FlowVariant, MemEvent,
    PluginConfig, Protocol, ProvisioningFlow, ProvisioningServer,
};
use headend_plugin::{FailureReason, Hook, LoadErrorKind, PluginSet, PluginSpec};

/// `plugins/dist/<name>.wasm`, or `None` (skip) when it was not built.
fn dist(name: &str) -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root.join("plugins/dist").join(format!("{name}.wasm"));
    if path.is_file() {
        return Some(path);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{} is missing: CI must build the plugins first (plugins/build.sh)",
            path.display()
        );
    }
    eprintln!(
        "note: skipping, {} not built (run plugins/build.sh)",
        path.display()
    );
    None
}

fn s(v: &str) -> ConfigValue {
    ConfigValue::Str(v.into())
}

fn list(v: &[&str]) -> ConfigValue {
    ConfigValue::List(v.iter().map(|x| s(x)).collect())
}

fn config(entries: Vec<(&str, ConfigValue)>) -> PluginConfig {
    PluginConfig {
        entries: entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

fn load(name: &str, path: PathBuf, cfg: PluginConfig) -> Result<PluginSet, LoadErrorKind> {
    let mut spec = PluginSpec::new(name, path);
    spec.config = cfg;
    // Generous: a loaded CI machine must not turn a good call into a deadline.
    spec.deadlines.flow_select = Duration::from_secs(1);
    spec.deadlines.config_file = Duration::from_secs(2);
    spec.deadlines.mem_event = Duration::from_secs(1);
    PluginSet::load(&[spec], &host().0).map_err(|mut e| e.remove(0).kind)
}

fn eue(mac: &str, domains: &[&str], flows: &[&str]) -> Device {
    let mut d = Device::with_mac(Protocol::Dhcpv4, mac);
    d.vendor_class = "pktc2.0".into();
    d.family = "pktc".into();
    d.version = "2.0".into();
    d.type_name = "pktc2.0".into();
    d.device_type = "EDVA".into();
    d.domains = domains.iter().map(|x| x.to_string()).collect();
    d.supported_flows = flows.iter().map(|x| x.to_string()).collect();
    d
}

#[test]
fn flow_select_chooses_flows_from_domains_capabilities_and_config() {
    let Some(path) = dist("flow-select") else {
        return;
    };
    let set = load(
        "flow-select",
        path,
        config(vec![
            ("voice_domain", s("voice")),
            ("basic_domains", list(&["lab"])),
            ("provisioning_server", list(&["prov.example.net"])),
            ("secure_realm", s("VOICE.EXAMPLE.NET")),
        ]),
    )
    .unwrap();
    let p = set.get("flow-select").unwrap();
    assert!(p.has_hook(Hook::FlowSelect));

    let d = p
        .select_flow(&eue("00:10:18:00:00:01", &["voice", "all"], &[]))
        .unwrap();
    assert_eq!(d.flow, ProvisioningFlow::Hybrid(FlowVariant::Two));
    assert_eq!(
        d.provisioning_server,
        Some(ProvisioningServer::Fqdn("prov.example.net".into()))
    );

    let d = p
        .select_flow(&eue("00:10:18:00:00:02", &["lab", "all"], &[]))
        .unwrap();
    assert_eq!(d.flow, ProvisioningFlow::Basic(FlowVariant::One));

    // Hybrid wanted but only Secure announced (TLV 5.18): the best supported flow.
    let d = p
        .select_flow(&eue("00:10:18:00:00:03", &["voice", "all"], &["secure"]))
        .unwrap();
    assert_eq!(
        d.flow,
        ProvisioningFlow::Secure {
            realm: "VOICE.EXAMPLE.NET".into()
        }
    );

    // Not an eUE: disabled (provisioning server 0.0.0.0 on the wire).
    let mut cm = Device::with_mac(Protocol::Dhcpv4, "00:10:18:00:00:04");
    cm.family = "docsis".into();
    assert_eq!(p.select_flow(&cm).unwrap().flow, ProvisioningFlow::Disabled);
    let c = p.counters();
    assert_eq!((c.calls, c.ok), (4, 4));
}

#[test]
fn flow_select_with_a_bad_config_is_refused_at_load_with_the_reason() {
    let Some(path) = dist("flow-select") else {
        return;
    };
    // An unknown flow name and a value of the wrong type: every call would
    // decline, so the load-time self-test refuses the plugin (issue 20).
    for (value, says) in [(s("FAST"), "FAST"), (ConfigValue::Int(5), "expected")] {
        match load(
            "flow-select-bad",
            path.clone(),
            config(vec![("voice_flow", value)]),
        ) {
            Err(LoadErrorKind::SelfTest(e)) => {
                assert_eq!(e.reason, FailureReason::Declined);
                assert!(e.detail.contains("config key `voice_flow`"), "{e}");
                assert!(e.detail.contains(says), "{e}");
            }
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("a plugin its config makes decline was loaded"),
        }
    }
}

#[test]
fn mem_events_quarantines_after_repeated_failures_using_kv() {
    let Some(path) = dist("mem-events") else {
        return;
    };
    let quarantine = ConfigValue::Table(vec![
        (
            "event_ids".into(),
            ConfigValue::List(vec![ConfigValue::Int(4_000_950_100)]),
        ),
        ("threshold".into(), ConfigValue::Int(3)),
        ("window_secs".into(), ConfigValue::Int(600)),
        ("domain".into(), s("quarantine")),
    ]);
    let set = load("mem-events", path, config(vec![("quarantine", quarantine)])).unwrap();
    let p = set.get("mem-events").unwrap();
    let ev = MemEvent {
        device: Some(eue("00:10:18:00:00:0a", &["voice", "all"], &[])),
        source: None,
        transport: EventTransport::Syslog,
        level: EventLevel::Critical,
        enterprise: 4491,
        event_id: 4_000_950_100,
        text: "provisioning failed".into(),
        endpoint: None,
        received_unix_ms: 0,
    };
    assert!(p.mem_event(&ev).unwrap().actions.is_empty());
    assert!(p.mem_event(&ev).unwrap().actions.is_empty());
    let third = p.mem_event(&ev).unwrap().actions;
    assert_eq!(
        third.first(),
        Some(&EventAction::AddDomain("quarantine".into())),
        "{third:?}"
    );
    assert!(third
        .iter()
        .any(|a| matches!(a, EventAction::Publish { .. })));
    // Another device's history is separate.
    let mut other = ev.clone();
    other.device = Some(eue("00:10:18:00:00:0b", &["all"], &[]));
    assert!(p.mem_event(&other).unwrap().actions.is_empty());
}

/// Runs every exported hook of a loaded plugin once with a non-self-test device.
fn call_every_hook(set: &PluginSet, name: &str) -> Vec<Result<(), headend_plugin::PluginError>> {
    let p = set.get(name).unwrap();
    let dev = eue("00:10:18:00:00:42", &["all"], &[]);
    let mut out = Vec::new();
    if p.has_hook(Hook::FlowSelect) {
        out.push(p.select_flow(&dev).map(drop));
    }
    if p.has_hook(Hook::ConfigFile) {
        let req = headend_abi::ConfigRequest {
            device: dev.clone(),
            file_name: "broken.cfg".into(),
            transfer: headend_abi::Transfer::Tftp,
        };
        out.push(p.config_file(&req).map(drop));
    }
    if p.has_hook(Hook::MemEvent) {
        let ev = MemEvent {
            device: Some(dev.clone()),
            source: None,
            transport: EventTransport::Local,
            level: EventLevel::Minor,
            enterprise: 4491,
            event_id: 1,
            text: "test".into(),
            endpoint: None,
            received_unix_ms: 0,
        };
        out.push(p.mem_event(&ev).map(drop));
    }
    out
}

fn broken_spec(name: &str, path: PathBuf, cfg: PluginConfig) -> PluginSpec {
    let mut spec = PluginSpec::new(name, path);
    spec.config = cfg;
    spec.memory_limit = 4 << 20;
    spec.deadlines.flow_select = Duration::from_millis(50);
    spec.deadlines.config_file = Duration::from_millis(50);
    spec.deadlines.mem_event = Duration::from_millis(50);
    spec
}

const BROKEN_CASES: [(&str, FailureReason); 6] = [
    ("loop", FailureReason::Deadline),
    ("memory", FailureReason::Memory),
    ("panic", FailureReason::Trap),
    ("bad-pointer", FailureReason::BadPointer),
    ("garbage", FailureReason::BadResult),
    ("decline", FailureReason::Declined),
];

#[test]
fn broken_plugin_fails_each_call_its_own_way_and_the_next_call_works() {
    let Some(path) = dist("broken") else {
        return;
    };
    for (mode, want) in BROKEN_CASES {
        // `by_mac` makes only the test device misbehave, so the module passes
        // its load-time self-test and the failure happens on a real call.
        let name = format!("broken-{mode}");
        let by_mac = ConfigValue::Table(vec![("00:10:18:00:00:42".into(), s(mode))]);
        let spec = broken_spec(&name, path.clone(), config(vec![("by_mac", by_mac)]));
        let set = PluginSet::load(&[spec], &host().0).unwrap();
        let results = call_every_hook(&set, &name);
        assert_eq!(results.len(), 3, "broken exports all three hooks");
        for r in results {
            let e = r.unwrap_err();
            assert_eq!(e.reason, want, "mode {mode}: {e}");
        }
        // The failure did not stick: another device is answered at once.
        let p = set.get(&name).unwrap();
        let fine = p
            .select_flow(&eue("00:10:18:00:00:43", &["all"], &[]))
            .unwrap();
        assert_eq!(fine.flow, ProvisioningFlow::Basic(FlowVariant::One));
        let c = p.counters();
        assert_eq!(c.failures_of(want), 3, "mode {mode}: {c:?}");
        assert_eq!(c.ok, 1);
    }
}

#[test]
fn broken_plugin_failing_every_call_is_refused_at_load() {
    let Some(path) = dist("broken") else {
        return;
    };
    for (mode, want) in BROKEN_CASES {
        if want == FailureReason::Declined {
            continue; // a decline is an answer: such a module loads
        }
        let spec = broken_spec("broken-all", path.clone(), config(vec![("mode", s(mode))]));
        match PluginSet::load(&[spec], &host().0) {
            Err(mut errs) => match errs.remove(0).kind {
                LoadErrorKind::SelfTest(e) => assert_eq!(e.reason, want, "mode {mode}: {e}"),
                other => panic!("mode {mode}: unexpected load error {other}"),
            },
            Ok(_) => panic!("mode {mode}: a module failing every call loaded"),
        }
    }
    let set = load("broken-ok", path, config(vec![("mode", s("ok"))])).unwrap();
    for r in call_every_hook(&set, "broken-ok") {
        r.unwrap();
    }
}

fn table(entries: Vec<(&str, ConfigValue)>) -> ConfigValue {
    ConfigValue::Table(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// An eue-config configuration as its crate docs show it.
fn eue_config_settings(flow: &str) -> PluginConfig {
    config(vec![
        ("file_pattern", s("*.bin")),
        ("flow", s(flow)),
        ("realm", s("VOICE.EXAMPLE.NET")),
        ("realm_org_name", s("Example Voice")),
        (
            "cms",
            ConfigValue::List(vec![table(vec![
                ("fqdn", s("cms.example.net")),
                ("realm", s("VOICE.EXAMPLE.NET")),
            ])]),
        ),
        ("operator_domain", s("example.net")),
        (
            "pcscf",
            ConfigValue::List(vec![table(vec![
                ("address", s("10.0.0.5")),
                ("port", ConfigValue::Int(5060)),
                ("transport", s("udp")),
            ])]),
        ),
        ("dns_servers", list(&["10.0.0.53"])),
        (
            "notification_receivers",
            ConfigValue::List(vec![table(vec![
                ("address", s("2001:db8::9")),
                ("port", ConfigValue::Int(162)),
                ("type", ConfigValue::Int(3)),
            ])]),
        ),
    ])
}

#[test]
fn eue_config_builds_a_file_framed_by_tlv_254_with_its_hash() {
    let Some(path) = dist("eue-config") else {
        return;
    };
    let set = load("eue-config", path, eue_config_settings("HYBRID.2")).unwrap();
    let p = set.get("eue-config").unwrap();
    let req = headend_abi::ConfigRequest {
        device: eue("00:10:18:00:00:61", &["voice", "all"], &[]),
        file_name: "eue-001018000061.bin".into(),
        transfer: headend_abi::Transfer::Tftp,
    };
    let file = p.config_file(&req).unwrap().expect("a file for *.bin");
    // Seed 000 section 6.4.2: TLV 254 value 1 first, TLV 254 value 0xff last.
    assert_eq!(file.bytes.get(..3), Some(&[0xfe, 0x01, 0x01][..]));
    assert_eq!(
        file.bytes.get(file.bytes.len() - 3..),
        Some(&[0xfe, 0x01, 0xff][..])
    );
    // Hybrid flow: the SHA-1 hash for the pktcMtaDevProvConfigHash SET.
    assert_eq!(file.config_hash.as_ref().map(Vec::len), Some(20));
    // A name outside file_pattern is not this plugin's file.
    let mut other = req.clone();
    other.file_name = "modem.cfg".into();
    assert_eq!(p.config_file(&other).unwrap(), None);
}

/// eue-config allocates with the SDK's bump allocator: memory it needs
/// beyond its initial pages comes from `memory.grow`, so a large file still
/// builds under the default cap, and the plugin's memory cap still stops it
/// (a refused growth is an allocation failure, reported as `Memory`).
#[test]
fn eue_config_large_files_grow_memory_within_the_cap() {
    let Some(path) = dist("eue-config") else {
        return;
    };
    let value = "v".repeat(20_000);
    let snmp = (0..20)
        .map(|i| {
            table(vec![
                ("oid", s(&format!("1.3.6.1.4.1.4491.2.2.99.{i}.0"))),
                ("type", s("string")),
                ("value", s(&value)),
            ])
        })
        .collect();
    let mut cfg = eue_config_settings("HYBRID.2");
    cfg.entries.push(("snmp".into(), ConfigValue::List(snmp)));
    let req = headend_abi::ConfigRequest {
        device: eue("00:10:18:00:00:62", &["voice"], &[]),
        file_name: "eue-001018000062.bin".into(),
        transfer: headend_abi::Transfer::Tftp,
    };

    let set = load("eue-config", path.clone(), cfg.clone()).unwrap();
    let file = set
        .get("eue-config")
        .unwrap()
        .config_file(&req)
        .unwrap()
        .expect("a file for *.bin");
    // 20 VarBinds of 20,000 octets, each in a TLV 64 (two-octet length).
    assert!(file.bytes.len() > 20 * 20_000, "{}", file.bytes.len());
    let big = file.bytes.windows(3).filter(|w| w[0] == 64).count();
    assert!(big >= 20, "{big} TLV 64 candidates");

    // Initial memory (17 pages) plus room for the request and its decoded
    // config (the load-time self-test asks for a file it does not serve),
    // but not for building the file as well.
    let mut spec = PluginSpec::new("eue-config-capped", path);
    spec.config = cfg;
    spec.memory_limit = 36 << 16;
    spec.deadlines.config_file = Duration::from_secs(2);
    let set = PluginSet::load(&[spec], &host().0).unwrap();
    let err = set
        .get("eue-config-capped")
        .unwrap()
        .config_file(&req)
        .unwrap_err();
    assert_eq!(err.reason, FailureReason::Memory, "{err}");
}
