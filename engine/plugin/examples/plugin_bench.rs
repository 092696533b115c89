//! Per-call cost of the plugin host (issue 3, "Proof": flow selection through
//! the host ≤ 10 µs median including (de)serialization; eUE config
//! generation ≥ 20,000 files/s on one core).
//!
//! Uses the real builds in `plugins/dist/` (run `plugins/build.sh` first):
//! `flow-select.wasm` always, `eue-config.wasm` when present. Run with
//! `cargo run --release -p headend-plugin --example plugin_bench [calls]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use headend_abi::{ConfigRequest, ConfigValue, Device, PluginConfig, Protocol, Transfer};
use headend_plugin::{HostConfig, MemoryKv, Plugin, PluginHost, PluginSet, PluginSpec};

fn eue(i: u32) -> Device {
    let mut d = Device::with_mac(
        Protocol::Dhcpv4,
        &format!(
            "00:10:18:{:02x}:{:02x}:{:02x}",
            (i >> 16) & 0xff,
            (i >> 8) & 0xff,
            i & 0xff
        ),
    );
    d.vendor_class = "pktc2.0:051f0101010201020901010b04060903040c0101".into();
    d.family = "pktc".into();
    d.version = "2.0".into();
    d.type_name = "pktc2.0".into();
    d.device_type = "EDVA".into();
    d.capabilities = vec![(1, vec![1]), (2, vec![2]), (18, vec![7])];
    d.supported_flows = vec!["secure".into(), "hybrid".into(), "basic".into()];
    d.serial = "SN0001".into();
    d.model = "TM822".into();
    d.vendor_name = "Example".into();
    d.oui = "001018".into();
    d.domains = vec!["voice".into(), "all".into()];
    d.relay = Some("10.1.0.1".parse().unwrap());
    d.requested_options = vec![1, 3, 6, 7, 12, 15, 43, 54, 122];
    d.vendor_oro = vec![1, 2];
    d
}

fn str(v: &str) -> ConfigValue {
    ConfigValue::Str(v.into())
}

fn table(entries: Vec<(&str, ConfigValue)>) -> ConfigValue {
    ConfigValue::Table(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

/// A realistic eue-config setup (its crate docs): Hybrid.2, one CMS, one
/// P-CSCF, DNS, an IPv6 notification receiver and a few extra SNMP objects.
fn eue_settings() -> PluginConfig {
    let snmp = (0..8)
        .map(|i| {
            table(vec![
                ("oid", str(&format!("1.3.6.1.4.1.4491.2.2.99.{i}.0"))),
                ("type", str("string")),
                ("value", str("a site specific value of some length")),
            ])
        })
        .collect();
    PluginConfig {
        entries: vec![
            ("file_pattern".into(), str("*.bin")),
            ("flow".into(), str("HYBRID.2")),
            ("realm".into(), str("VOICE.EXAMPLE.NET")),
            ("realm_org_name".into(), str("Example Voice")),
            (
                "cms".into(),
                ConfigValue::List(vec![table(vec![
                    ("fqdn", str("cms.example.net")),
                    ("realm", str("VOICE.EXAMPLE.NET")),
                ])]),
            ),
            ("operator_domain".into(), str("example.net")),
            (
                "pcscf".into(),
                ConfigValue::List(vec![table(vec![
                    ("address", str("10.0.0.5")),
                    ("port", ConfigValue::Int(5060)),
                    ("transport", str("udp")),
                ])]),
            ),
            (
                "dns_servers".into(),
                ConfigValue::List(vec![str("10.0.0.53")]),
            ),
            (
                "notification_receivers".into(),
                ConfigValue::List(vec![table(vec![
                    ("address", str("2001:db8::9")),
                    ("port", ConfigValue::Int(162)),
                    ("type", ConfigValue::Int(3)),
                ])]),
            ),
            ("snmp".into(), ConfigValue::List(snmp)),
        ],
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn load(host: &PluginHost, name: &str, path: PathBuf, config: PluginConfig) -> Arc<Plugin> {
    let mut spec = PluginSpec::new(name, path);
    spec.config = config;
    match PluginSet::load(&[spec], host) {
        Ok(set) => set.get(name).unwrap().clone(),
        Err(e) => panic!("{name}: {e:?}"),
    }
}

fn main() {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50_000);
    // HEADEND_PLUGIN_DIST=<dir> measures other builds (e.g. unstripped ones for profiling).
    let dist = std::env::var_os("HEADEND_PLUGIN_DIST").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../plugins/dist"),
        PathBuf::from,
    );
    let flow = dist.join("flow-select.wasm");
    if !flow.is_file() {
        eprintln!("{} missing: run plugins/build.sh", flow.display());
        std::process::exit(2);
    }
    let mut hc = HostConfig::default();
    // Experiments: HEADEND_KEEP_RESIDENT=<bytes> overrides the reset strategy.
    if let Some(v) = std::env::var("HEADEND_KEEP_RESIDENT")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        hc.memory_keep_resident = v;
    }
    // HEADEND_GUARD_PAGES=1 compares wasmtime's guard-region bounds checks.
    hc.guard_pages = std::env::var("HEADEND_GUARD_PAGES").is_ok_and(|v| v == "1");
    println!(
        "host: memory_keep_resident = {} bytes, guard_pages = {}",
        hc.memory_keep_resident, hc.guard_pages
    );
    let host = PluginHost::new(hc, Arc::new(MemoryKv::new())).unwrap();
    let config = PluginConfig {
        entries: vec![
            ("voice_domain".into(), ConfigValue::Str("voice".into())),
            (
                "provisioning_server".into(),
                ConfigValue::List(vec![ConfigValue::Str("prov.example.net".into())]),
            ),
            (
                "config_file".into(),
                ConfigValue::Str("eue-{mac_hex}.bin".into()),
            ),
        ],
    };
    let p = load(&host, "flow-select", flow, config);
    let devices: Vec<Device> = (0..1024).map(eue).collect();
    for d in devices.iter().cycle().take(2_000) {
        p.select_flow(d).unwrap();
    }
    let mut times = Vec::with_capacity(calls);
    let all = Instant::now();
    for d in devices.iter().cycle().take(calls) {
        let t = Instant::now();
        let decision = p.select_flow(d).unwrap();
        times.push(t.elapsed());
        std::hint::black_box(decision);
    }
    let wall = all.elapsed();
    times.sort_unstable();
    println!(
        "flow selection (flow-select.wasm through the host, incl. encode/decode): {calls} calls, median {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, {:.0} calls/s on one thread",
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        percentile(&times, 0.99).as_secs_f64() * 1e6,
        percentile(&times, 0.999).as_secs_f64() * 1e6,
        calls as f64 / wall.as_secs_f64()
    );

    let eue_config = dist.join("eue-config.wasm");
    if !eue_config.is_file() {
        println!(
            "eUE config generation: skipped ({} not built)",
            eue_config.display()
        );
        return;
    }
    let ec = load(&host, "eue-config", eue_config, eue_settings());
    let req = |d: &Device| ConfigRequest {
        device: d.clone(),
        file_name: format!("eue-{}.bin", d.mac.replace(':', "")),
        transfer: Transfer::Tftp,
    };
    let reqs: Vec<ConfigRequest> = devices.iter().map(req).collect();
    let first = ec.config_file(&reqs[0]);
    let size = match &first {
        Ok(Some(f)) => f.bytes.len(),
        other => {
            println!("eUE config generation: the plugin produced no file: {other:?}");
            return;
        }
    };
    let n = (calls / 5).max(1_000);
    let mut times = Vec::with_capacity(n);
    let all = Instant::now();
    for r in reqs.iter().cycle().take(n) {
        let t = Instant::now();
        let f = ec.config_file(r).unwrap();
        times.push(t.elapsed());
        std::hint::black_box(f);
    }
    let wall = all.elapsed();
    times.sort_unstable();
    println!(
        "eUE config generation (eue-config.wasm, {size}-byte file): {n} files, median {:.2} µs, p99 {:.2} µs, {:.0} files/s on one thread",
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        percentile(&times, 0.99).as_secs_f64() * 1e6,
        n as f64 / wall.as_secs_f64()
    );
}
