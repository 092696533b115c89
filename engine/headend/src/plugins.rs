//! The binary's side of the plugin hooks (issue 3): builds a
//! `headend-plugin` [`PluginSet`] for every configuration snapshot from its
//! `[[plugin]]` declarations and serves the model's [`Hooks`] with it.
//!
//! This is the only crate that links wasmtime (through `headend-plugin`);
//! the servers see the `Hooks` trait. A snapshot whose plugins do not load
//! (unreadable file, not WebAssembly, wrong ABI version, missing export,
//! failing self-test) is rejected with the `[[plugin]]` line, so a reload
//! keeps the running configuration and its plugins.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use headend_abi::{ConfigFile, ConfigRequest, Device, EventActions, FlowDecision, MemEvent};
use headend_model::config::{ConfigError, ConfigErrors};
use headend_model::plugins::{HookError, HookKind, Hooks, NoHooks, PluginDef};
use headend_model::snapshot::Snapshot;
use headend_plugin::{
    BreakerConfig, Deadlines, Hook, HostError, Plugin, PluginError, PluginHost, PluginSet,
    PluginSpec,
};

/// The hooks of one snapshot, run by WASM plugins.
#[derive(Debug)]
pub struct WasmHooks {
    set: PluginSet,
    flow: Option<Arc<Plugin>>,
    events: Option<Arc<Plugin>>,
    /// Per generator plugin: a version for caches (module digest + configuration).
    versions: Vec<(String, u64)>,
}

fn hook_of(kind: HookKind) -> Hook {
    match kind {
        HookKind::FlowSelect => Hook::FlowSelect,
        HookKind::ConfigFile => Hook::ConfigFile,
        HookKind::MemEvent => Hook::MemEvent,
    }
}

/// Maps a `[[plugin]]` declaration to what the host loads.
pub fn spec_of(def: &PluginDef) -> PluginSpec {
    let mut spec = PluginSpec::new(def.name.clone(), def.path.clone());
    spec.required_hooks = def.hooks.iter().map(|k| hook_of(*k)).collect();
    spec.config = def.config.clone();
    spec.memory_limit = def.memory_limit;
    spec.deadlines = Deadlines {
        flow_select: def.deadline(HookKind::FlowSelect),
        config_file: def.deadline(HookKind::ConfigFile),
        mem_event: def.deadline(HookKind::MemEvent),
    };
    spec.breaker = BreakerConfig {
        failure_threshold: def.failure_threshold,
        cool_down: def.cooldown,
    };
    spec
}

fn hook_error(e: PluginError) -> HookError {
    HookError {
        plugin: e.plugin.to_string(),
        kind: e.reason.as_str().to_string(),
        detail: e.detail,
    }
}

impl WasmHooks {
    /// Loads (validates, compiles, self-tests) the plugins a snapshot declares.
    pub fn load(snap: &Snapshot, host: &PluginHost) -> Result<WasmHooks, ConfigErrors> {
        let specs: Vec<PluginSpec> = snap.plugins.iter().map(spec_of).collect();
        let set = PluginSet::load(&specs, host).map_err(|errors| {
            ConfigErrors(
                errors
                    .into_iter()
                    .map(|e| {
                        let line = snap
                            .plugins
                            .iter()
                            .find(|d| d.name == e.plugin)
                            .map_or(0, |d| d.line);
                        ConfigError {
                            file: snap.source.clone(),
                            line,
                            message: e.to_string(),
                            fix: "fix or rebuild the plugin (plugins/build.sh), or remove the [[plugin]] entry; the running configuration stays".into(),
                        }
                    })
                    .collect(),
            )
        })?;
        let serving = |kind: HookKind| {
            snap.plugins
                .iter()
                .find(|d| d.hooks.contains(&kind))
                .and_then(|d| set.get(&d.name).cloned())
        };
        let flow = serving(HookKind::FlowSelect);
        let events = serving(HookKind::MemEvent);
        let versions = snap
            .plugins
            .iter()
            .filter(|d| d.hooks.contains(&HookKind::ConfigFile))
            .filter_map(|d| {
                let p = set.get(&d.name)?;
                let mut h = std::collections::hash_map::DefaultHasher::new();
                p.wasm_sha256().hash(&mut h);
                format!("{:?}", d.config).hash(&mut h);
                Some((d.name.clone(), h.finish()))
            })
            .collect();
        Ok(WasmHooks {
            set,
            flow,
            events,
            versions,
        })
    }
}

impl Hooks for WasmHooks {
    fn select_flow(&self, device: &Device) -> Option<Result<FlowDecision, HookError>> {
        let p = self.flow.as_ref()?;
        Some(p.select_flow(device).map_err(hook_error))
    }

    fn serves_flow_select(&self) -> bool {
        self.flow.is_some()
    }

    fn config_file(
        &self,
        generator: &str,
        request: &ConfigRequest,
    ) -> Option<Result<Option<ConfigFile>, HookError>> {
        let p = self.set.get(generator)?;
        if !p.has_hook(Hook::ConfigFile) {
            return None;
        }
        Some(p.config_file(request).map_err(hook_error))
    }

    fn generator_version(&self, generator: &str) -> Option<u64> {
        self.versions
            .iter()
            .find(|(n, _)| n == generator)
            .map(|(_, v)| *v)
    }

    fn mem_event(&self, event: &MemEvent) -> Option<Result<EventActions, HookError>> {
        let p = self.events.as_ref()?;
        Some(p.mem_event(event).map_err(hook_error))
    }

    fn counters(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for c in self.set.counters() {
            out.push((format!("plugin.{}.calls", c.name), c.calls));
            out.push((format!("plugin.{}.ok", c.name), c.ok));
            for (reason, n) in &c.failures {
                if *n > 0 {
                    out.push((format!("plugin.{}.{}", c.name, reason.as_str()), *n));
                }
            }
            out.push((
                format!("plugin.{}.busy_us", c.name),
                u64::try_from(c.busy.as_micros()).unwrap_or(u64::MAX),
            ));
        }
        out
    }
}

/// The hook factory of a server: plugins load through one shared host,
/// created by `make_host` the first time a snapshot declares a plugin (so a
/// configuration without plugins never starts wasmtime).
pub fn factory(
    make_host: impl Fn() -> Result<PluginHost, HostError> + Send + Sync + 'static,
) -> headend_server::runtime::HookFactory {
    let host: Arc<OnceLock<Arc<PluginHost>>> = Arc::new(OnceLock::new());
    Arc::new(move |snap: &Snapshot| {
        if snap.plugins.is_empty() {
            return Ok(Arc::new(NoHooks) as Arc<dyn Hooks>);
        }
        let h = match host.get() {
            Some(h) => h.clone(),
            None => {
                let made = make_host().map_err(|e| {
                    ConfigErrors(vec![ConfigError {
                        file: snap.source.clone(),
                        line: snap.plugins.first().map_or(0, |d| d.line),
                        message: format!("the plugin host cannot start: {e}"),
                        fix: "check the store directory (it holds the compile cache) and memory limits".into(),
                    }])
                })?;
                host.get_or_init(|| Arc::new(made)).clone()
            }
        };
        WasmHooks::load(snap, &h).map(|w| Arc::new(w) as Arc<dyn Hooks>)
    })
}

#[cfg(test)]
mod tests {
    //! The real `mem-events.wasm` and `flow-select.wasm` (built by
    //! `plugins/build.sh`) behind a server over the memory store: repeated
    //! provisioning-failure events quarantine an eMTA, and its next DHCPv4
    //! exchange lands in the quarantine pool and is told not to provision.
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::net::{Ipv4Addr, SocketAddrV4};
    use std::path::{Path, PathBuf};

    use headend_abi::{EventLevel, EventTransport, MemEvent, Protocol};
    use headend_server::dhcpv4::process::{system_clock, Inbound, Outcome};
    use headend_server::runtime::Server;
    use headend_store::{MemoryStore, Store};
    use headend_wire::cablelabs::{Ccc, ProvisioningServer};
    use headend_wire::dhcpv4::{MessageType, Packet};

    use super::*;

    fn dist(name: &str) -> Option<PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../plugins/dist")
            .join(format!("{name}.wasm"));
        if p.is_file() {
            return Some(p);
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "{} missing: CI runs plugins/build.sh first",
            p.display()
        );
        eprintln!("SKIPPED: {} missing; run plugins/build.sh", p.display());
        None
    }

    const CONFIG: &str = r#"
[server]
store = "state"
[dhcpv4]
listen = ["127.0.0.1:6767"]
[provisioning]
auto_provision = { expr = 'if device.family == "pktc" { ["emta"] } else { [] }' }
[[domain]]
name = "emta"
[[domain]]
name = "quarantine"
[[pool]]
name = "mta"
domains = ["emta"]
relays = ["127.0.0.2"]
network = "10.2.0.0/16"
ranges = [["10.2.0.10", "10.2.0.250"]]
[[pool]]
name = "jail"
domains = ["quarantine"]
relays = ["127.0.0.2"]
network = "10.9.0.0/16"
ranges = [["10.9.0.10", "10.9.0.250"]]
[[plugin]]
name = "mem-events"
path = "@DIST@/mem-events.wasm"
hooks = ["mem-event"]
[plugin.config.quarantine]
event_ids = [4000950100]
threshold = 3
window_secs = 900
mode = "set"
[[plugin]]
name = "flow"
path = "@DIST@/flow-select.wasm"
hooks = ["flow-select"]
[plugin.config]
voice_domain = "emta"
voice_flow = "HYBRID.2"
default_flow = "disabled"
provisioning_server = "prov.lab.example"
"#;

    const MTA: [u8; 6] = [0x00, 0x10, 0x95, 0x0e, 0x00, 0x07];

    fn discover(server: &Server) -> (Ipv4Addr, Ccc) {
        let opts = vec![
            (60u8, b"pktc2.0:050412020007".to_vec()),
            (55u8, vec![1, 3, 122]),
        ];
        let data = crate::explain::request(
            &MTA,
            Some(Ipv4Addr::new(127, 0, 0, 2)),
            &opts,
            MessageType::Discover,
            &[],
        )
        .unwrap();
        let out = server.dhcpv4().handle(
            &Inbound {
                data: &data,
                source: SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), 67),
                local: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6767),
            },
            &mut headend_model::trace::Trace::default(),
        );
        let Outcome::Reply { packet, .. } = out else {
            panic!("no OFFER: {out:?}")
        };
        let pkt = Packet::parse(&packet).unwrap();
        let ccc = Ccc::decode(&pkt.options.get(122).unwrap()).unwrap();
        (pkt.yiaddr, ccc)
    }

    #[test]
    fn provisioning_failures_quarantine_the_device_through_the_real_plugins() {
        let Some(mem) = dist("mem-events") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("headend.toml");
        let dist_dir = mem.parent().unwrap().display().to_string();
        std::fs::write(&path, CONFIG.replace("@DIST@", &dist_dir)).unwrap();
        let snap = Snapshot::load(&path, 1).unwrap();
        let store = std::sync::Arc::new(MemoryStore::default());
        let mut server =
            Server::with_store(&path, snap, store.clone() as Arc<dyn Store>, system_clock())
                .unwrap();
        server
            .set_hook_factory(factory(|| {
                PluginHost::new(
                    headend_plugin::HostConfig::default(),
                    Arc::new(headend_plugin::MemoryKv::new()),
                )
            }))
            .unwrap();

        // A hybrid-capable eMTA in "emta": the plugin says HYBRID.2 at prov.lab.example.
        let (ip, ccc) = discover(&server);
        assert!(ip.octets()[1] == 2, "{ip}");
        assert_eq!(ccc.realm.as_deref(), Some("HYBRID.2"));

        let mut dev = Device::with_mac(Protocol::Lease, "00:10:95:0e:00:07");
        dev.family = "pktc".into();
        let event = MemEvent {
            device: Some(dev),
            source: Some(ip.into()),
            transport: EventTransport::Local,
            level: EventLevel::Critical,
            enterprise: 4491,
            event_id: 4_000_950_100,
            text: "config file download failed".into(),
            endpoint: None,
            received_unix_ms: 0,
        };
        for i in 0..2 {
            let out = server.mem_event(&event).unwrap();
            assert!(out.account.is_none(), "event {i} acted early: {out:?}");
        }
        let out = server.mem_event(&event).unwrap();
        let acc = out.account.expect("third failure quarantines");
        assert_eq!(acc.domains, ["quarantine"]);
        assert!(server
            .events()
            .published()
            .iter()
            .any(|p| p.topic == "provisioning/quarantine"));

        // The next exchange: quarantine pool, and flow-select (which only
        // serves "emta" voice devices) now answers Disabled: 0.0.0.0.
        let (ip, ccc) = discover(&server);
        assert_eq!(ip.octets()[1], 9, "{ip}");
        assert_eq!(
            ccc.provisioning_server,
            Some(ProvisioningServer::Ipv4(Ipv4Addr::UNSPECIFIED))
        );
    }
}
