//! Plugin declarations (`[[plugin]]`) and the hook interface the servers call
//! (issue 3; seed 000 section 6.4.1 for flow selection, 6.4.2 for config
//! files, 6.5 for management events).
//!
//! The snapshot names the WASM modules and carries a [`Hooks`] object that
//! runs them. The model does not depend on wasmtime: the binary builds the
//! hooks with `headend-plugin` for every snapshot (so a reload that changes a
//! `.wasm` file compiles and self-tests it before the swap) and the servers
//! only see this trait. Without plugins the hooks are [`NoHooks`] and every
//! decision falls back to policies and configuration.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use std::net::IpAddr;

use headend_abi::{
    Account, ConfigFile, ConfigRequest, ConfigValue, Device, EventActions, FlowDecision, MemEvent,
    PluginConfig, Protocol, ProvisioningFlow, ProvisioningServer,
};

use crate::expr::{AccountInfo, EvalContext};
use crate::literal::Literal;
use crate::options::{coerce, OptionSet, Registry, TagPath};
use crate::trace::Trace;
use serde::Deserialize;
use toml::Spanned;

use crate::build::Builder;

/// The hooks a plugin can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HookKind {
    /// Flow selection (`headend_flow_select`).
    FlowSelect,
    /// Config-file generation (`headend_config_file`).
    ConfigFile,
    /// Management events (`headend_mem_event`).
    MemEvent,
}

impl HookKind {
    /// The name used in configuration files and counters.
    pub fn name(self) -> &'static str {
        match self {
            HookKind::FlowSelect => "flow-select",
            HookKind::ConfigFile => "config-file",
            HookKind::MemEvent => "mem-event",
        }
    }

    /// Parses a configuration name.
    pub fn parse(s: &str) -> Option<HookKind> {
        match s {
            "flow-select" => Some(HookKind::FlowSelect),
            "config-file" => Some(HookKind::ConfigFile),
            "mem-event" => Some(HookKind::MemEvent),
            _ => None,
        }
    }

    /// The default per-call deadline.
    pub fn default_deadline(self) -> Duration {
        match self {
            HookKind::FlowSelect => Duration::from_millis(20),
            HookKind::ConfigFile => Duration::from_millis(200),
            HookKind::MemEvent => Duration::from_millis(50),
        }
    }
}

/// `[[plugin]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginDecl {
    /// Plugin name (used in logs, counters and `[[config_file]]` mappings).
    pub name: String,
    /// Path of the `.wasm` file, relative to the configuration file.
    pub path: Spanned<String>,
    /// Hooks this plugin serves: `"flow-select"`, `"config-file"`, `"mem-event"`.
    pub hooks: Vec<Spanned<String>>,
    /// Memory cap per call in MiB (default 16).
    #[serde(default = "default_memory_mib")]
    pub memory_limit_mib: u32,
    /// Per-call deadline in milliseconds; default per hook (20 / 200 / 50).
    pub deadline_ms: Option<u64>,
    /// Consecutive failures that open the circuit breaker (default 5).
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
    /// Seconds the breaker stays open before a trial call (default 10).
    #[serde(default = "default_cooldown")]
    pub cooldown_s: u64,
    /// The plugin's own configuration, passed to every call.
    #[serde(default)]
    pub config: toml::Table,
}

fn default_memory_mib() -> u32 {
    16
}

fn default_failure_threshold() -> u32 {
    5
}

fn default_cooldown() -> u64 {
    10
}

/// A validated plugin declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginDef {
    /// Plugin name.
    pub name: String,
    /// Path of the module (config-relative paths resolved).
    pub path: PathBuf,
    /// Line of the `[[plugin]]` entry in the configuration file, for messages.
    pub line: usize,
    /// Hooks it serves.
    pub hooks: BTreeSet<HookKind>,
    /// Memory cap per call, bytes.
    pub memory_limit: usize,
    /// Per-call deadline override.
    pub deadline: Option<Duration>,
    /// Failures that open the breaker.
    pub failure_threshold: u32,
    /// Breaker cool-down.
    pub cooldown: Duration,
    /// The plugin's configuration.
    pub config: PluginConfig,
}

impl PluginDef {
    /// The deadline of a hook call.
    pub fn deadline(&self, hook: HookKind) -> Duration {
        self.deadline.unwrap_or_else(|| hook.default_deadline())
    }
}

/// Converts a TOML value to the plugin ABI's configuration value.
pub fn config_value(v: &toml::Value) -> ConfigValue {
    match v {
        toml::Value::String(s) => ConfigValue::Str(s.clone()),
        toml::Value::Integer(i) => ConfigValue::Int(*i),
        toml::Value::Float(f) => ConfigValue::Float(*f),
        toml::Value::Boolean(b) => ConfigValue::Bool(*b),
        toml::Value::Datetime(d) => ConfigValue::Str(d.to_string()),
        toml::Value::Array(a) => ConfigValue::List(a.iter().map(config_value).collect()),
        toml::Value::Table(t) => ConfigValue::Table(
            t.iter()
                .map(|(k, v)| (k.clone(), config_value(v)))
                .collect(),
        ),
    }
}

/// Converts a `config` table to the plugin ABI's configuration.
pub fn plugin_config(t: &toml::Table) -> PluginConfig {
    PluginConfig {
        entries: t
            .iter()
            .map(|(k, v)| (k.clone(), config_value(v)))
            .collect(),
    }
}

/// Validates `[[plugin]]`; errors go to the builder.
pub(crate) fn build(b: &mut Builder<'_>, decls: &[Spanned<PluginDecl>]) -> Vec<PluginDef> {
    let base = b.base_dir();
    let mut out: Vec<PluginDef> = Vec::new();
    let mut flow_owner: Option<String> = None;
    let mut event_owner: Option<String> = None;
    for p in decls {
        let d = p.get_ref();
        let at = p.span().start;
        if d.name.is_empty() || out.iter().any(|o| o.name == d.name) {
            b.err(
                at,
                format!("plugin name {:?} is empty or used twice", d.name),
                "give every [[plugin]] a unique name",
            );
            continue;
        }
        if !d.path.get_ref().ends_with(".wasm") {
            b.err(
                d.path.span().start,
                format!(
                    "plugin {:?}: {:?} is not a .wasm file",
                    d.name,
                    d.path.get_ref()
                ),
                "plugins are WebAssembly modules (.wasm); precompiled native code is never loaded",
            );
        }
        let mut hooks = BTreeSet::new();
        for h in &d.hooks {
            match HookKind::parse(h.get_ref()) {
                Some(k) => {
                    hooks.insert(k);
                }
                None => b.err(
                    h.span().start,
                    format!("plugin {:?}: unknown hook {:?}", d.name, h.get_ref()),
                    "hooks are \"flow-select\", \"config-file\" and \"mem-event\"",
                ),
            }
        }
        if hooks.is_empty() && !d.hooks.is_empty() {
            continue;
        }
        if hooks.is_empty() {
            b.err(
                at,
                format!("plugin {:?} serves no hook", d.name),
                "add hooks = [\"flow-select\"] (or \"config-file\", \"mem-event\")",
            );
            continue;
        }
        for (kind, owner) in [
            (HookKind::FlowSelect, &mut flow_owner),
            (HookKind::MemEvent, &mut event_owner),
        ] {
            if hooks.contains(&kind) {
                if let Some(other) = owner {
                    b.err(
                        at,
                        format!(
                            "plugins {other:?} and {:?} both serve {}",
                            d.name,
                            kind.name()
                        ),
                        "only one plugin may serve this hook; remove it from one of them",
                    );
                } else {
                    *owner = Some(d.name.clone());
                }
            }
        }
        if d.memory_limit_mib == 0 || d.memory_limit_mib > 4096 {
            b.err(
                at,
                format!(
                    "plugin {:?}: memory_limit_mib = {} is out of range",
                    d.name, d.memory_limit_mib
                ),
                "use 1..4096 (MiB per call)",
            );
        }
        if matches!(d.deadline_ms, Some(0) | Some(60_001..)) {
            b.err(
                at,
                format!("plugin {:?}: deadline_ms is out of range", d.name),
                "use 1..60000 milliseconds",
            );
        }
        out.push(PluginDef {
            name: d.name.clone(),
            path: base.join(d.path.get_ref()),
            line: b.src.line_of(at),
            hooks,
            memory_limit: (d.memory_limit_mib as usize).saturating_mul(1 << 20),
            deadline: d.deadline_ms.map(Duration::from_millis),
            failure_threshold: d.failure_threshold.max(1),
            cooldown: Duration::from_secs(d.cooldown_s),
            config: plugin_config(&d.config),
        });
    }
    out
}

/// The plugin view of a device, from the context expressions see.
pub fn device_of(ctx: &EvalContext, protocol: Protocol) -> Device {
    let d = &ctx.device;
    let account = |a: &AccountInfo| Account {
        id: a.id.clone(),
        domains: a.domains.clone(),
        attributes: a
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    let relay = match ctx.relay.address {
        IpAddr::V4(v4) if v4.is_unspecified() => None,
        IpAddr::V6(v6) if v6.is_unspecified() => None,
        a => Some(a),
    };
    let mac = if ctx.packet.chaddr.len() == 6 {
        headend_store::hex_colon(&ctx.packet.chaddr)
    } else {
        ctx.account
            .as_ref()
            .map(|a| a.id.clone())
            .unwrap_or_default()
    };
    Device {
        protocol,
        mac,
        vendor_class: d.vendor_class.clone(),
        family: d.family.clone(),
        version: d.version.clone(),
        type_name: d.type_name.clone(),
        device_type: d.device_type.clone(),
        capabilities: d
            .capabilities
            .iter()
            .map(|(t, v)| (*t, v.clone()))
            .collect(),
        supported_flows: d.supported_flows.clone(),
        serial: d.serial.clone(),
        model: d.model.clone(),
        vendor_name: d.vendor_name.clone(),
        oui: d.oui.clone(),
        account: ctx.account.as_ref().map(account),
        modem: ctx.modem.as_ref().map(account),
        domains: ctx.domains.clone(),
        relay,
        remote_id: ctx.relay.remote_id.clone(),
        requested_options: ctx.packet.requested.clone(),
        vendor_oro: Vec::new(),
        ip_pref: d.ip_pref,
        address: ctx.lease.as_ref().map(|l| l.ip),
    }
}

/// Writes a flow decision into a DHCPv4 reply's options: option 122
/// sub-options 3 (provisioning server; 0.0.0.0 when disabled, seed 000
/// section 6.3.2.2) and 6 (realm), and — when the plugin chose them — the
/// config file name (option 67), TFTP servers (125/4491/2) and syslog server
/// (option 7). Values go through the option registry so they are validated
/// and encoded like configured ones; a value that does not fit is skipped
/// and reported.
pub fn apply_flow_decision_v4(
    set: &mut OptionSet,
    registry: &Registry,
    decision: &FlowDecision,
    origin: &str,
    trace: &mut Trace,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut values: Vec<(&[u32], Literal)> = Vec::new();
    match (&decision.flow, &decision.provisioning_server) {
        (ProvisioningFlow::Disabled, _) => values.push((&[122, 3], Literal::Str("0.0.0.0".into()))),
        (_, Some(ProvisioningServer::Fqdn(f))) => values.push((&[122, 3], Literal::Str(f.clone()))),
        (_, Some(ProvisioningServer::Ipv4(a))) => {
            values.push((&[122, 3], Literal::Ip(IpAddr::V4(*a))))
        }
        (_, Some(ProvisioningServer::Ipv6(_))) => {
            problems.push("an IPv6 provisioning server cannot go in option 122.3".into())
        }
        (_, None) => {}
    }
    if let Some(realm) = decision.flow.realm() {
        values.push((&[122, 6], Literal::Str(realm)));
    }
    if let Some(f) = &decision.config_file {
        values.push((&[67], Literal::Str(f.clone())));
    }
    let tftp: Vec<Literal> = decision
        .tftp_servers
        .iter()
        .filter(|a| a.is_ipv4())
        .map(|a| Literal::Ip(*a))
        .collect();
    if !tftp.is_empty() {
        values.push((&[125, 4491, 2], Literal::List(tftp)));
    }
    if let Some(s @ IpAddr::V4(_)) = decision.syslog_server {
        values.push((&[7], Literal::List(vec![Literal::Ip(s)])));
    }
    let mut written = Vec::new();
    for (path, lit) in values {
        let tp = TagPath::from_slice(path);
        match registry.get(&tp).map(|def| coerce(def, &lit)) {
            Some(Ok(v)) => {
                written.push(format!("{tp} = {lit:?}"));
                set.insert(tp, v, origin.to_string());
            }
            Some(Err(e)) => problems.push(format!("{tp}: {e}")),
            None => problems.push(format!("{tp}: no such option type")),
        }
    }
    trace.note(|| {
        format!(
            "flow selection ({origin}): {:?}; sets {}",
            decision.flow,
            written.join(", ")
        )
    });
    problems
}

/// Why a hook call did not produce an answer; the caller applies its fallback.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin {plugin}: {kind}: {detail}")]
pub struct HookError {
    /// The plugin.
    pub plugin: String,
    /// Reason kind (`trap`, `deadline`, `memory`, `bad_pointer`, `bad_result`, `declined`, `breaker_open` …).
    pub kind: String,
    /// Details.
    pub detail: String,
}

/// What the servers call; built for each snapshot by the binary.
pub trait Hooks: Send + Sync + std::fmt::Debug {
    /// Flow selection; `None` when no plugin serves it.
    fn select_flow(&self, device: &Device) -> Option<Result<FlowDecision, HookError>>;
    /// Whether some plugin serves flow selection: when none does, the
    /// servers skip building the ABI device for [`Hooks::select_flow`].
    fn serves_flow_select(&self) -> bool {
        true
    }
    /// Config-file generation by the named plugin; `None` when no such generator exists.
    fn config_file(
        &self,
        generator: &str,
        request: &ConfigRequest,
    ) -> Option<Result<Option<ConfigFile>, HookError>>;
    /// A version of the named generator (changes when its module or configuration changes), for caches.
    fn generator_version(&self, generator: &str) -> Option<u64>;
    /// Management-event handling; `None` when no plugin serves it.
    fn mem_event(&self, event: &MemEvent) -> Option<Result<EventActions, HookError>>;
    /// Counters of the plugins (`plugin.<name>.<counter>`), for the server's counter log.
    fn counters(&self) -> Vec<(String, u64)> {
        Vec::new()
    }
}

/// The hooks of a configuration without plugins.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHooks;

impl Hooks for NoHooks {
    fn select_flow(&self, _device: &Device) -> Option<Result<FlowDecision, HookError>> {
        None
    }

    fn serves_flow_select(&self) -> bool {
        false
    }

    fn config_file(
        &self,
        _generator: &str,
        _request: &ConfigRequest,
    ) -> Option<Result<Option<ConfigFile>, HookError>> {
        None
    }

    fn generator_version(&self, _generator: &str) -> Option<u64> {
        None
    }

    fn mem_event(&self, _event: &MemEvent) -> Option<Result<EventActions, HookError>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Snapshot;
    use crate::source::SourceFile;

    fn load(extra: &str) -> Result<Snapshot, crate::source::ConfigErrors> {
        let text = format!(
            "[server]\nname = \"t\"\nstore = \"st\"\n[dhcpv4]\nlisten = [\"127.0.0.1:0\"]\n{extra}"
        );
        let src = SourceFile::new(PathBuf::from("/etc/headend/t.toml"), text);
        Snapshot::from_source(&src, 1)
    }

    #[test]
    fn plugin_declaration_is_validated_and_config_converted() {
        let snap = load(
            "[[plugin]]\nname = \"fs\"\npath = \"p/flow.wasm\"\nhooks = [\"flow-select\"]\n\
             [plugin.config]\nvoice_domain = \"voice\"\nbasic = [\"a\", \"b\"]\nlevel = 3\n",
        )
        .unwrap();
        let p = &snap.plugins[0];
        assert_eq!(p.path, PathBuf::from("/etc/headend/p/flow.wasm"));
        assert!(p.hooks.contains(&HookKind::FlowSelect));
        assert_eq!(p.deadline(HookKind::FlowSelect), Duration::from_millis(20));
        assert_eq!(p.memory_limit, 16 << 20);
        assert_eq!(p.config.get_str("voice_domain"), Some("voice"));
        assert_eq!(p.config.get_int("level"), Some(3));
        assert_eq!(
            p.config
                .get("basic")
                .and_then(|v| v.as_list())
                .map(|l| l.len()),
            Some(2)
        );
    }

    fn encoded(set: &OptionSet, reg: &Registry, path: &[u32]) -> Vec<u8> {
        let tp = TagPath::from_slice(path);
        let def = reg.get(&tp).unwrap();
        crate::options::encode_value(def, set.get(&tp).unwrap()).unwrap()
    }

    #[test]
    fn flow_decision_fills_option_122_per_rfc_3495() {
        let reg = Registry::builtin();
        let mut set = OptionSet::new();
        let mut trace = Trace::default();
        let mut d = FlowDecision::flow(ProvisioningFlow::Hybrid(headend_abi::FlowVariant::Two));
        d.provisioning_server = Some(ProvisioningServer::Fqdn("prov.example.net".into()));
        d.tftp_servers = vec!["10.0.0.9".parse().unwrap()];
        let problems = apply_flow_decision_v4(&mut set, &reg, &d, "plugin fs", &mut trace);
        assert!(problems.is_empty(), "{problems:?}");
        // 122.3 type 0 = FQDN in DNS wire format (RFC 3495 section 3.3).
        let mut want = vec![0u8, 4];
        want.extend_from_slice(b"prov\x07example\x03net\x00");
        assert_eq!(encoded(&set, &reg, &[122, 3]), want);
        assert_eq!(
            encoded(&set, &reg, &[122, 6]),
            b"\x06HYBRID\x012\x00".to_vec()
        );
        assert_eq!(encoded(&set, &reg, &[125, 4491, 2]), vec![10, 0, 0, 9]);

        // Disabled: provisioning server 0.0.0.0 (type 1), no realm.
        let mut set = OptionSet::new();
        let d = FlowDecision::flow(ProvisioningFlow::Disabled);
        assert!(apply_flow_decision_v4(&mut set, &reg, &d, "p", &mut trace).is_empty());
        assert_eq!(encoded(&set, &reg, &[122, 3]), vec![1, 0, 0, 0, 0]);
        assert!(set.get(&TagPath::from_slice(&[122, 6])).is_none());

        // An IPv6 provisioning server cannot be expressed in 122.3: reported, not written.
        let mut set = OptionSet::new();
        let mut d = FlowDecision::flow(ProvisioningFlow::Basic(headend_abi::FlowVariant::One));
        d.provisioning_server = Some(ProvisioningServer::Ipv6(vec!["2001:db8::1"
            .parse()
            .unwrap()]));
        let problems = apply_flow_decision_v4(&mut set, &reg, &d, "p", &mut trace);
        assert_eq!(problems.len(), 1);
        assert_eq!(
            encoded(&set, &reg, &[122, 6]),
            b"\x05BASIC\x011\x00".to_vec()
        );
    }

    #[test]
    fn bad_plugin_declarations_are_rejected_with_lines() {
        let err = load(
            "[[plugin]]\nname = \"a\"\npath = \"a.so\"\nhooks = [\"flow-select\"]\n\
             [[plugin]]\nname = \"b\"\npath = \"b.wasm\"\nhooks = [\"flow-select\", \"bogus\"]\n",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("not a .wasm file"), "{text}");
        assert!(text.contains("unknown hook \"bogus\""), "{text}");
        assert!(text.contains("both serve flow-select"), "{text}");
        assert!(err.0.iter().all(|e| e.line > 0), "{text}");
    }
}
