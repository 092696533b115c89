//! Loaded plugins and their hooks (issue 3, "Host" and "The three hooks"):
//! flow selection ([`Plugin::select_flow`]), config file generation
//! ([`Plugin::config_file`]) and management events ([`Plugin::mem_event`]),
//! called through ABI v1 (`headend_abi` crate docs, `sdk/ABI.md`).
//!
//! Each call gets a fresh store from the pooling allocator, instantiated from
//! an `InstancePre` made once per module, with the plugin's memory cap and the
//! hook's epoch deadline. The request is `Request { config, input }`; postcard
//! encodes a struct as its fields back to back, so the config is encoded once
//! at load and only the input is encoded per call (a test pins this
//! equivalence). Any failure is a [`PluginError`], counted per reason, and
//! malfunctions feed the plugin's [`CircuitBreaker`].

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use headend_abi::{
    self as abi, ConfigFile, ConfigRequest, Device, EventActions, EventLevel, EventTransport,
    FlowDecision, MemEvent, PluginConfig, Protocol, Response, Transfer,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasmtime::{Extern, InstancePre, ModuleExport, Store, Trap};

use crate::breaker::{Admission, BreakerConfig, BreakerState, HookBreaker, Transition};
use crate::error::{FailureReason, LoadError, LoadErrorKind, PluginError};
use crate::host::{CallLimiter, CallState, HostFault, HostInner, PluginHost};
use crate::kv::{MemoryKv, PluginKv};
use crate::validate;

/// The hooks of ABI v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    /// `headend_flow_select`: [`Device`] → [`FlowDecision`].
    FlowSelect,
    /// `headend_config_file`: [`ConfigRequest`] → `Option<ConfigFile>`.
    ConfigFile,
    /// `headend_mem_event`: [`MemEvent`] → [`EventActions`].
    MemEvent,
}

impl Hook {
    /// Every hook.
    pub const ALL: [Hook; 3] = [Hook::FlowSelect, Hook::ConfigFile, Hook::MemEvent];

    /// The guest export implementing the hook.
    pub fn export_name(self) -> &'static str {
        match self {
            Hook::FlowSelect => abi::EXPORT_FLOW_SELECT,
            Hook::ConfigFile => abi::EXPORT_CONFIG_FILE,
            Hook::MemEvent => abi::EXPORT_MEM_EVENT,
        }
    }

    /// Short name for logs and configuration (`flow_select`, `config_file`, `mem_event`).
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::FlowSelect => "flow_select",
            Hook::ConfigFile => "config_file",
            Hook::MemEvent => "mem_event",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long each hook may run (instantiation included) before it is interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Flow selection runs inside a DHCP exchange: keep it short.
    pub flow_select: Duration,
    /// Config generation runs per TFTP/HTTP fetch.
    pub config_file: Duration,
    /// Event handling.
    pub mem_event: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            flow_select: Duration::from_millis(20),
            config_file: Duration::from_millis(200),
            mem_event: Duration::from_millis(50),
        }
    }
}

impl Deadlines {
    /// The deadline of one hook.
    pub fn of(&self, hook: Hook) -> Duration {
        match hook {
            Hook::FlowSelect => self.flow_select,
            Hook::ConfigFile => self.config_file,
            Hook::MemEvent => self.mem_event,
        }
    }
}

/// Default memory cap of one plugin instance.
pub const DEFAULT_MEMORY_LIMIT: usize = 16 << 20;

/// Bytes reserved for the encoded hook input beyond the config (a device
/// context with a few domains and capabilities encodes to ~300).
const REQUEST_INPUT_CAPACITY: usize = 1024;

/// Deadline of the load-time `headend_abi_version` call.
const ABI_CHECK_DEADLINE: Duration = Duration::from_secs(1);

/// One plugin to load (the engine maps its `[[plugin]]` configuration to this).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    /// Unique name: 1-64 of `A-Z a-z 0-9 . _ -` (logs, counters, kv namespace).
    pub name: String,
    /// The `.wasm` file.
    pub path: PathBuf,
    /// Hooks the configuration relies on; loading fails if one is not exported.
    pub required_hooks: Vec<Hook>,
    /// The plugin's `config` table, passed with every call.
    pub config: PluginConfig,
    /// Memory cap of one instance, bytes (at most the host's `max_memory_per_instance`).
    pub memory_limit: usize,
    /// Per-hook deadlines.
    pub deadlines: Deadlines,
    /// Circuit breaker settings.
    pub breaker: BreakerConfig,
}

impl PluginSpec {
    /// A spec with default limits, no required hooks and an empty config.
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> PluginSpec {
        PluginSpec {
            name: name.into(),
            path: path.into(),
            required_hooks: Vec::new(),
            config: PluginConfig::default(),
            memory_limit: DEFAULT_MEMORY_LIMIT,
            deadlines: Deadlines::default(),
            breaker: BreakerConfig::default(),
        }
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A snapshot of one plugin's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginCounters {
    /// The plugin's name.
    pub name: String,
    /// Hook calls requested (including rejected ones).
    pub calls: u64,
    /// Calls that returned an answer.
    pub ok: u64,
    /// Calls that did not, by reason (every reason listed, in [`FailureReason::ALL`] order).
    pub failures: Vec<(FailureReason, u64)>,
    /// The breaker's state now.
    pub breaker: BreakerState,
    /// Malfunctions in a row so far.
    pub consecutive_failures: u32,
    /// Wall time spent in calls that ran.
    pub busy: Duration,
}

impl PluginCounters {
    /// The count of one reason.
    pub fn failures_of(&self, reason: FailureReason) -> u64 {
        self.failures
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }
}

/// Calls and failures of one plugin (by name, across reloads).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    calls: AtomicU64,
    ok: AtomicU64,
    by_reason: [AtomicU64; FailureReason::ALL.len()],
    busy_nanos: AtomicU64,
}

/// Export handles resolved once per module (no name lookups per call).
struct Exports {
    memory: ModuleExport,
    alloc: ModuleExport,
    abi_version: ModuleExport,
    hooks: [Option<ModuleExport>; 3],
}

/// A loaded, checked plugin. Shared (`Arc`) by all workers; every call is isolated.
pub struct Plugin {
    name: Arc<str>,
    path: PathBuf,
    host: Arc<HostInner>,
    pre: InstancePre<CallState>,
    exports: Exports,
    /// `PluginConfig` encoded once: the first field of every `Request`.
    config_bytes: Vec<u8>,
    memory_limit: usize,
    deadline_ticks: [u64; 3],
    /// A breaker per hook, each with its per-device breakers.
    breakers: [HookBreaker; 3],
    counters: Arc<Counters>,
    wasm_sha256: String,
    from_cache: bool,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("wasm_sha256", &self.wasm_sha256)
            .finish_non_exhaustive()
    }
}

/// A failed call before it becomes a [`PluginError`].
type Failure = (FailureReason, String);

fn classify(err: &wasmtime::Error, state: &CallState) -> Failure {
    if state.limiter.memory_denied {
        return (
            FailureReason::Memory,
            format!(
                "memory cap of {} bytes reached: {err}",
                state.limiter.memory_cap
            ),
        );
    }
    if let Some(f) = err.downcast_ref::<HostFault>() {
        return (f.reason, f.detail.clone());
    }
    if let Some(trap) = err.downcast_ref::<Trap>() {
        return match trap {
            Trap::Interrupt => (FailureReason::Deadline, "deadline passed".into()),
            other => (FailureReason::Trap, other.to_string()),
        };
    }
    if err.is::<wasmtime::PoolConcurrencyLimitError>() {
        return (FailureReason::Unavailable, err.to_string());
    }
    (FailureReason::Trap, format!("{err:#}"))
}

fn ticks(deadline: Duration, tick: Duration) -> u64 {
    let n = deadline.as_nanos().div_ceil(tick.as_nanos().max(1));
    // +1: the epoch may tick right after the deadline is set, so a deadline of
    // N ticks would otherwise allow as little as N-1 ticks.
    u64::try_from(n).unwrap_or(u64::MAX / 2).saturating_add(1)
}

fn guest_range(ptr: u32, len: u32, size: usize) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(ptr).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    (end <= size).then_some(start..end)
}

impl Plugin {
    /// Loads, checks and self-tests one plugin.
    fn load(spec: &PluginSpec, host: &PluginHost) -> Result<Plugin, LoadErrorKind> {
        let inner = &host.inner;
        if spec.memory_limit < (64 << 10)
            || spec.memory_limit > inner.config.max_memory_per_instance
        {
            return Err(LoadErrorKind::BadSpec(format!(
                "memory_limit {} outside 64 KiB..={} (the host's max_memory_per_instance)",
                spec.memory_limit, inner.config.max_memory_per_instance
            )));
        }
        if Hook::ALL.iter().any(|h| spec.deadlines.of(*h).is_zero()) {
            return Err(LoadErrorKind::BadSpec("a hook deadline is zero".into()));
        }
        let wasm = std::fs::read(&spec.path).map_err(LoadErrorKind::Read)?;
        validate::check_wasm_bytes(&wasm)?;
        let (module, from_cache) = match &inner.cache {
            Some(cache) => {
                let (m, origin) = cache
                    .module(&inner.engine, &wasm)
                    .map_err(|e| LoadErrorKind::Compile(format!("{e:#}")))?;
                (m, origin == crate::cache::Origin::Cached)
            }
            None => (
                wasmtime::Module::from_binary(&inner.engine, &wasm)
                    .map_err(|e| LoadErrorKind::Compile(format!("{e:#}")))?,
                false,
            ),
        };
        validate::check_imports(&module)?;
        let has_hook = validate::check_exports(&module)?;
        for hook in &spec.required_hooks {
            if !has_hook[hook.index()] {
                return Err(LoadErrorKind::MissingHook(*hook));
            }
        }
        let pre = inner
            .linker
            .instantiate_pre(&module)
            .map_err(|e| LoadErrorKind::Instantiate(format!("{e:#}")))?;
        let export = |name: &'static str| {
            module
                .get_export_index(name)
                .ok_or(LoadErrorKind::MissingExport(name))
        };
        let mut hooks = [None, None, None];
        for hook in Hook::ALL {
            if has_hook[hook.index()] {
                hooks[hook.index()] = Some(export(hook.export_name())?);
            }
        }
        let exports = Exports {
            memory: export("memory")?,
            alloc: export(abi::EXPORT_ALLOC)?,
            abi_version: export(abi::EXPORT_ABI_VERSION)?,
            hooks,
        };
        let config_bytes = abi::encode(&spec.config)
            .map_err(|e| LoadErrorKind::BadSpec(format!("config does not encode: {e}")))?;
        let tick = inner.config.epoch_tick;
        let plugin = Plugin {
            name: Arc::from(spec.name.as_str()),
            path: spec.path.clone(),
            host: inner.clone(),
            pre,
            exports,
            config_bytes,
            memory_limit: spec.memory_limit,
            deadline_ticks: Hook::ALL.map(|h| ticks(spec.deadlines.of(h), tick)),
            breakers: [
                HookBreaker::new(spec.breaker),
                HookBreaker::new(spec.breaker),
                HookBreaker::new(spec.breaker),
            ],
            counters: inner.counters_for(&spec.name),
            wasm_sha256: crate::cache::hex(&<sha2::Sha256 as sha2::Digest>::digest(&wasm)),
            from_cache,
        };
        let version = plugin.abi_version()?;
        if version != abi::ABI_VERSION {
            return Err(LoadErrorKind::AbiVersion {
                found: version,
                expected: abi::ABI_VERSION,
            });
        }
        plugin.self_test()?;
        Ok(plugin)
    }

    fn new_store(&self, kv: &Arc<dyn PluginKv>, mac: &str, ticks: u64) -> Store<CallState> {
        let mut store = Store::new(
            &self.host.engine,
            CallState {
                limiter: CallLimiter {
                    memory_cap: self.memory_limit,
                    memory_denied: false,
                },
                memory: None,
                plugin: self.name.clone(),
                mac: mac.to_string(),
                kv: kv.clone(),
                logs_left: self.host.config.max_log_lines_per_call,
            },
        );
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(ticks);
        store
    }

    fn abi_version(&self) -> Result<i32, LoadErrorKind> {
        let kv: Arc<dyn PluginKv> = Arc::new(MemoryKv::new());
        let mut store = self.new_store(
            &kv,
            "",
            ticks(ABI_CHECK_DEADLINE, self.host.config.epoch_tick),
        );
        let run = |store: &mut Store<CallState>| -> wasmtime::Result<i32> {
            let instance = self.pre.instantiate(&mut *store)?;
            let f = instance
                .get_module_export(&mut *store, &self.exports.abi_version)
                .and_then(Extern::into_func)
                .ok_or_else(|| wasmtime::Error::msg("headend_abi_version is not a function"))?
                .typed::<(), i32>(&*store)?;
            f.call(&mut *store, ())
        };
        run(&mut store).map_err(|e| {
            let (reason, detail) = classify(&e, store.data());
            LoadErrorKind::Instantiate(format!("headend_abi_version: {reason}: {detail}"))
        })
    }

    /// Calls every exported hook once with a synthetic request: it must answer
    /// (or decline) within its deadline with a result that decodes.
    fn self_test(&self) -> Result<(), LoadErrorKind> {
        let kv: Arc<dyn PluginKv> = Arc::new(MemoryKv::new());
        let dev = synthetic_device();
        let check = |hook: Hook, r: Result<Option<String>, Failure>| {
            if let Ok(Some(reason)) = &r {
                // A decline because of the plugin's own config table (the SDK's
                // `ConfigError`): every call would decline, so refuse it now,
                // where `check` and a reload name its [[plugin]] line.
                if headend_abi::is_config_error(reason) {
                    return Err(LoadErrorKind::SelfTest(PluginError {
                        plugin: self.name.clone(),
                        hook,
                        reason: FailureReason::Declined,
                        detail: format!("declined because of its configuration: {reason}"),
                    }));
                }
                // Accepted (the synthetic device may be one the plugin does not
                // serve), but a decline here is often a configuration mistake.
                tracing::warn!(
                    plugin = %self.name,
                    hook = hook.as_str(),
                    "plugin declined its load-time self-test request: {reason}"
                );
            }
            r.map(drop).map_err(|(reason, detail)| {
                LoadErrorKind::SelfTest(PluginError {
                    plugin: self.name.clone(),
                    hook,
                    reason,
                    detail,
                })
            })
        };
        if self.has_hook(Hook::FlowSelect) {
            let r = self.run::<_, FlowDecision>(Hook::FlowSelect, &dev, &kv);
            check(Hook::FlowSelect, r.map(declined))?;
        }
        if self.has_hook(Hook::ConfigFile) {
            let req = ConfigRequest {
                device: dev.clone(),
                file_name: "headend-self-test.cfg".into(),
                transfer: Transfer::Preview,
            };
            let r = self.run::<_, Option<ConfigFile>>(Hook::ConfigFile, &req, &kv);
            check(Hook::ConfigFile, r.map(declined))?;
        }
        if self.has_hook(Hook::MemEvent) {
            let ev = MemEvent {
                device: Some(dev.clone()),
                source: None,
                transport: EventTransport::Local,
                level: EventLevel::Information,
                enterprise: 4491,
                event_id: 0,
                text: "headend plugin self-test".into(),
                endpoint: None,
                received_unix_ms: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0)),
            };
            let r = self.run::<_, EventActions>(Hook::MemEvent, &ev, &kv);
            check(Hook::MemEvent, r.map(declined))?;
        }
        Ok(())
    }

    /// One isolated call: fresh store, write the request, call, read and decode the response.
    fn run<I: Serialize, O: DeserializeOwned>(
        &self,
        hook: Hook,
        input: &I,
        kv: &Arc<dyn PluginKv>,
    ) -> Result<Response<O>, Failure> {
        let mac = "";
        self.run_for(hook, input, mac, kv)
    }

    fn run_for<I: Serialize, O: DeserializeOwned>(
        &self,
        hook: Hook,
        input: &I,
        mac: &str,
        kv: &Arc<dyn PluginKv>,
    ) -> Result<Response<O>, Failure> {
        let Some(hook_export) = &self.exports.hooks[hook.index()] else {
            return Err((
                FailureReason::Unavailable,
                "the plugin does not export this hook".into(),
            ));
        };
        // The whole request in one buffer: the cached config bytes, then the
        // input serialized right behind them (pre-sized so that a typical
        // device context does not reallocate).
        let mut request = Vec::with_capacity(self.config_bytes.len() + REQUEST_INPUT_CAPACITY);
        request.extend_from_slice(&self.config_bytes);
        let request = postcard::to_extend(input, request).map_err(|e| {
            (
                FailureReason::Unavailable,
                format!("input does not encode: {e}"),
            )
        })?;
        let total = request.len();
        let total_i32 = i32::try_from(total).map_err(|_| {
            (
                FailureReason::Unavailable,
                "request above 2 GiB".to_string(),
            )
        })?;
        let mut store = self.new_store(kv, mac, self.deadline_ticks[hook.index()]);
        let result = (|| -> wasmtime::Result<Result<Response<O>, Failure>> {
            let instance = self.pre.instantiate(&mut store)?;
            let missing = || wasmtime::Error::msg("export vanished");
            let memory = instance
                .get_module_export(&mut store, &self.exports.memory)
                .and_then(Extern::into_memory)
                .ok_or_else(missing)?;
            store.data_mut().memory = Some(memory);
            let alloc = instance
                .get_module_export(&mut store, &self.exports.alloc)
                .and_then(Extern::into_func)
                .ok_or_else(missing)?
                .typed::<i32, i32>(&store)?;
            let func = instance
                .get_module_export(&mut store, hook_export)
                .and_then(Extern::into_func)
                .ok_or_else(missing)?
                .typed::<(i32, i32), i64>(&store)?;
            let ptr = alloc.call(&mut store, total_i32)?;
            if ptr == 0 {
                // ABI.md section 3: 0 is the guest allocator's "out of memory".
                return Ok(Err((
                    FailureReason::Memory,
                    format!("headend_alloc({total}) returned 0 (guest out of memory)"),
                )));
            }
            let data = memory.data_mut(&mut store);
            let Some(dst) = u32::try_from(ptr)
                .ok()
                .and_then(|p| guest_range(p, total as u32, data.len()))
                .and_then(|r| data.get_mut(r))
            else {
                return Ok(Err((
                    FailureReason::BadPointer,
                    format!("headend_alloc({total}) returned {ptr:#x}, outside guest memory"),
                )));
            };
            dst.copy_from_slice(&request);
            let packed = func.call(&mut store, (ptr, total_i32))?;
            let (rptr, rlen) = abi::unpack(packed);
            let data = memory.data(&store);
            let Some(bytes) = guest_range(rptr, rlen, data.len()).and_then(|r| data.get(r)) else {
                return Ok(Err((
                    FailureReason::BadPointer,
                    format!(
                        "result ({rptr:#x}, {rlen}) outside guest memory of {} bytes",
                        data.len()
                    ),
                )));
            };
            Ok(abi::decode::<Response<O>>(bytes)
                .map_err(|e| (FailureReason::BadResult, format!("result: {e}"))))
        })();
        match result {
            Ok(r) => r,
            Err(e) => Err(classify(&e, store.data())),
        }
    }

    /// A hook call with breaker, counters and logging.
    fn call<I: Serialize, O: DeserializeOwned>(
        &self,
        hook: Hook,
        input: &I,
        mac: &str,
    ) -> Result<O, PluginError> {
        let span =
            tracing::debug_span!("plugin_call", plugin = %self.name, hook = hook.as_str(), mac);
        let _enter = span.enter();
        let fail = |reason: FailureReason, detail: String| PluginError {
            plugin: self.name.clone(),
            hook,
            reason,
            detail,
        };
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        if !self.has_hook(hook) {
            self.count(FailureReason::Unavailable);
            return Err(fail(
                FailureReason::Unavailable,
                "the plugin does not export this hook".into(),
            ));
        }
        let start = Instant::now();
        let Some(breaker) = self.breakers.get(hook.index()) else {
            return Err(fail(FailureReason::Unavailable, "no such hook".into()));
        };
        let trial = match breaker.admit(start, mac) {
            Admission::Closed => false,
            Admission::Trial => {
                tracing::info!(plugin = %self.name, "plugin circuit breaker half-open: trial call");
                true
            }
            Admission::Rejected => {
                self.count(FailureReason::BreakerOpen);
                return Err(fail(
                    FailureReason::BreakerOpen,
                    "circuit breaker open after repeated failures (of this device, or of several)"
                        .into(),
                ));
            }
        };
        let outcome = self.run_for::<I, O>(hook, input, mac, &self.host.kv);
        let end = Instant::now();
        let busy = u64::try_from(end.duration_since(start).as_nanos()).unwrap_or(u64::MAX);
        self.counters.busy_nanos.fetch_add(busy, Ordering::Relaxed);
        match outcome {
            Ok(Response::Ok(value)) => {
                self.counters.ok.fetch_add(1, Ordering::Relaxed);
                self.note(breaker, breaker.on_success(trial, mac));
                Ok(value)
            }
            Ok(Response::Err(reason)) => {
                self.count(FailureReason::Declined);
                self.note(breaker, breaker.on_success(trial, mac));
                tracing::debug!(plugin = %self.name, hook = hook.as_str(), mac, "plugin declined: {reason}");
                Err(fail(FailureReason::Declined, reason))
            }
            Err((reason, detail)) => {
                self.count(reason);
                if reason.is_malfunction() {
                    self.note(breaker, breaker.on_failure(end, trial, mac));
                } else {
                    breaker.on_neutral(trial);
                }
                tracing::warn!(
                    plugin = %self.name,
                    hook = hook.as_str(),
                    mac,
                    reason = reason.as_str(),
                    "plugin call failed, fallback applies: {detail}"
                );
                Err(fail(reason, detail))
            }
        }
    }

    fn count(&self, reason: FailureReason) {
        if let Some(c) = self.counters.by_reason.get(reason.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn note(&self, breaker: &HookBreaker, t: Transition) {
        match t {
            Transition::None => {}
            Transition::Opened => tracing::warn!(
                plugin = %self.name,
                cool_down_ms = u64::try_from(breaker.hook().config().cool_down.as_millis()).unwrap_or(u64::MAX),
                "plugin circuit breaker opened: calls fall back until the cool-down ends"
            ),
            Transition::Closed => {
                tracing::info!(plugin = %self.name, "plugin circuit breaker closed: trial call succeeded")
            }
        }
    }

    /// Flow selection for a device; on `Err` the caller uses its default flow.
    pub fn select_flow(&self, dev: &Device) -> Result<FlowDecision, PluginError> {
        self.call(Hook::FlowSelect, dev, &dev.mac)
    }

    /// The config file for a request (`Ok(None)`: the plugin has no such file);
    /// on `Err` the caller answers "no config file" (TFTP error).
    pub fn config_file(&self, req: &ConfigRequest) -> Result<Option<ConfigFile>, PluginError> {
        self.call(Hook::ConfigFile, req, &req.device.mac)
    }

    /// Actions for a management event; on `Err` the caller ignores the event.
    pub fn mem_event(&self, ev: &MemEvent) -> Result<EventActions, PluginError> {
        let mac = ev.device.as_ref().map_or("", |d| d.mac.as_str());
        self.call(Hook::MemEvent, ev, mac)
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `.wasm` file it was loaded from.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Hex SHA-256 of the `.wasm` bytes (tells a reload whether the file changed).
    pub fn wasm_sha256(&self) -> &str {
        &self.wasm_sha256
    }

    /// Whether the compiled code came from the compile cache.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// Whether the module exports `hook`.
    pub fn has_hook(&self, hook: Hook) -> bool {
        self.exports
            .hooks
            .get(hook.index())
            .is_some_and(Option::is_some)
    }

    /// The state of its hook breakers now: the most open of them.
    pub fn breaker_state(&self) -> BreakerState {
        let now = Instant::now();
        let states = self.breakers.iter().map(|b| b.hook().state(now));
        states
            .max_by_key(|s| match s {
                BreakerState::Closed => 0,
                BreakerState::HalfOpen => 1,
                BreakerState::Open => 2,
            })
            .unwrap_or(BreakerState::Closed)
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> PluginCounters {
        PluginCounters {
            name: self.name.to_string(),
            calls: self.counters.calls.load(Ordering::Relaxed),
            ok: self.counters.ok.load(Ordering::Relaxed),
            failures: FailureReason::ALL
                .iter()
                .map(|r| {
                    let n = self
                        .counters
                        .by_reason
                        .get(r.index())
                        .map_or(0, |c| c.load(Ordering::Relaxed));
                    (*r, n)
                })
                .collect(),
            breaker: self.breaker_state(),
            consecutive_failures: self
                .breakers
                .iter()
                .map(|b| b.hook().consecutive_failures())
                .max()
                .unwrap_or(0),
            busy: Duration::from_nanos(self.counters.busy_nanos.load(Ordering::Relaxed)),
        }
    }
}

/// The decline reason of a response, if it is one.
fn declined<O>(r: Response<O>) -> Option<String> {
    match r {
        Response::Ok(_) => None,
        Response::Err(reason) => Some(reason),
    }
}

/// The synthetic device of load-time self-tests: a PacketCable 2.0 E-DVA with
/// a MAC from the documentation range (RFC 7042 section 2.1.2).
fn synthetic_device() -> Device {
    let mut dev = Device::with_mac(Protocol::Dhcpv4, "00:00:5e:00:53:01");
    dev.vendor_class = "pktc2.0".into();
    dev.family = "pktc".into();
    dev.version = "2.0".into();
    dev.type_name = "pktc2.0".into();
    dev.device_type = "EDVA".into();
    dev.supported_flows = vec!["secure".into(), "hybrid".into(), "basic".into()];
    dev.domains = vec!["all".into()];
    dev
}

/// The plugins of one configuration snapshot, in configuration order.
///
/// Cloning is cheap; a reload loads a new set and swaps it in, and calls in
/// flight finish on the plugins of the old one (each holds an `Arc<Plugin>`).
#[derive(Debug, Clone, Default)]
pub struct PluginSet {
    plugins: Vec<Arc<Plugin>>,
}

impl PluginSet {
    /// A set without plugins.
    pub fn empty() -> PluginSet {
        PluginSet::default()
    }

    /// Loads every spec (read, check, compile via the cache, ABI-check,
    /// self-test); all errors are returned, and no set is built unless all load.
    pub fn load(specs: &[PluginSpec], host: &PluginHost) -> Result<PluginSet, Vec<LoadError>> {
        let mut plugins = Vec::with_capacity(specs.len());
        let mut errors = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let dup = specs.iter().take(i).any(|s| s.name == spec.name);
            let loaded = if dup || !valid_name(&spec.name) {
                Err(LoadErrorKind::BadName)
            } else {
                Plugin::load(spec, host)
            };
            match loaded {
                Ok(p) => {
                    tracing::info!(
                        plugin = %spec.name,
                        path = %spec.path.display(),
                        sha256 = %p.wasm_sha256,
                        cached = p.from_cache,
                        "plugin loaded"
                    );
                    plugins.push(Arc::new(p));
                }
                Err(kind) => errors.push(LoadError {
                    plugin: spec.name.clone(),
                    path: spec.path.clone(),
                    kind,
                }),
            }
        }
        if errors.is_empty() {
            Ok(PluginSet { plugins })
        } else {
            Err(errors)
        }
    }

    /// The plugin with this name.
    pub fn get(&self, name: &str) -> Option<&Arc<Plugin>> {
        self.plugins.iter().find(|p| &*p.name == name)
    }

    /// All plugins, in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.plugins.iter()
    }

    /// The plugins exporting `hook`, in configuration order.
    pub fn with_hook(&self, hook: Hook) -> impl Iterator<Item = &Arc<Plugin>> {
        self.plugins.iter().filter(move |p| p.has_hook(hook))
    }

    /// Number of plugins.
    pub fn len(&self) -> usize {
        self.plugins.len()
    }

    /// Whether the set has no plugins.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    /// Counter snapshots of every plugin.
    pub fn counters(&self) -> Vec<PluginCounters> {
        self.plugins.iter().map(|p| p.counters()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use headend_abi::{ConfigValue, Request};

    #[test]
    fn request_is_config_bytes_then_input_bytes() {
        // The per-call encoding relies on postcard writing struct fields back
        // to back with no framing; if that ever changes this test fails.
        let config = PluginConfig {
            entries: vec![
                ("voice_domain".into(), ConfigValue::Str("voice".into())),
                ("n".into(), ConfigValue::Int(-3)),
            ],
        };
        let mut dev = synthetic_device();
        dev.capabilities = vec![(18, vec![7])];
        let whole = abi::encode(&Request {
            config: config.clone(),
            input: dev.clone(),
        })
        .unwrap();
        let mut parts = abi::encode(&config).unwrap();
        parts.extend(abi::encode(&dev).unwrap());
        assert_eq!(whole, parts);
        // run_for's form: the input serialized behind the cached config bytes.
        let spliced = postcard::to_extend(&dev, abi::encode(&config).unwrap()).unwrap();
        assert_eq!(whole, spliced);
    }

    #[test]
    fn deadlines_round_up_to_ticks_plus_one() {
        let ms = Duration::from_millis(1);
        assert_eq!(ticks(Duration::from_millis(20), ms), 21);
        assert_eq!(ticks(Duration::from_micros(20_500), ms), 22);
        assert_eq!(ticks(Duration::from_millis(1), Duration::from_millis(5)), 2);
    }

    #[test]
    fn plugin_names_are_restricted() {
        assert!(valid_name("flow-select"));
        assert!(valid_name("eue_config.v2"));
        assert!(!valid_name(""));
        assert!(!valid_name("a\0b"));
        assert!(!valid_name("with space"));
        assert!(!valid_name(&"x".repeat(65)));
    }

    #[test]
    fn result_ranges_are_bounds_checked() {
        assert_eq!(guest_range(0, 0, 0), Some(0..0));
        assert_eq!(guest_range(65_530, 6, 65_536), Some(65_530..65_536));
        assert_eq!(guest_range(65_530, 7, 65_536), None);
        assert_eq!(guest_range(u32::MAX, u32::MAX, 1 << 32), None);
        assert_eq!(
            guest_range(u32::MAX, 1, 1 << 32),
            Some(0xffff_ffff..0x1_0000_0000)
        );
    }
}
