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
