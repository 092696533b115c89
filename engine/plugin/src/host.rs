//! The plugin host (issue 3, "Host"): one shared wasmtime `Engine` with the
//! pooling allocator and epoch interruption, a background thread ticking the
//! epoch, the `headend` host functions (`sdk/ABI.md`: `log`, `now_unix_ms`,
//! `kv_get`, `kv_put`, `kv_delete`) and the compile cache.
//!
//! Host functions never trust a guest pointer: every (ptr, len) is checked
//! against the guest memory, and a bad one traps the call with
//! [`FailureReason::BadPointer`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use headend_abi::{self as abi, LogLevel};
use parking_lot::Mutex;
use wasmtime::{
    Caller, Config, Enabled, Engine, InstanceAllocationStrategy, Linker, Memory,
    PoolingAllocationConfig, ResourceLimiter,
};

use crate::cache::CompileCache;
use crate::error::{FailureReason, HostError};
use crate::kv::{PluginKv, MAX_KV_KEY_LEN, MAX_KV_VALUE_LEN};
use crate::plugin::Counters;

/// Settings of the plugin host (engine-wide, not per plugin).
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Instances that may exist at once over all plugins (pool slots); a call
    /// beyond that fails with [`FailureReason::Unavailable`]. Size it above the
    /// number of worker threads.
    pub max_concurrent_instances: u32,
    /// The largest memory cap any plugin may ask for (pool slot size), bytes.
    pub max_memory_per_instance: usize,
    /// How often the epoch ticks; deadlines are rounded up to whole ticks.
    pub epoch_tick: Duration,
    /// Compile cache directory (owned by the engine, not writable by
    /// vendors); `None` compiles every load.
    pub cache_dir: Option<PathBuf>,
    /// Log lines one call may emit through `headend::log`; the rest are dropped.
    pub max_log_lines_per_call: u32,
    /// Bytes of each pool slot's memory kept mapped between calls and reset
    /// in place; on Linux ≥ 6.7 only the pages a call dirtied are reset
    /// (`PAGEMAP_SCAN`), elsewhere this many bytes are cleared per call.
    /// 0 resets everything with `madvise` (page faults on the next call).
    pub memory_keep_resident: usize,
    /// `true`: wasmtime's guard-region bounds checks (guest code itself runs
    /// a little faster, but every call pays for resetting memory
    /// protections); `false` (default): explicit bounds checks and no
    /// protection changes per call. Measured with `plugin_bench` and the
    /// opt-level 3 / bulk-memory plugin builds: flow selection 8.4 µs
    /// (`false`) vs 12.1 µs (`true`), eUE file generation 27.7 vs 27.2 µs,
    /// so `false` suits both hooks.
    pub guard_pages: bool,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            max_concurrent_instances: 128,
            max_memory_per_instance: 64 << 20,
            epoch_tick: Duration::from_millis(1),
            cache_dir: None,
            max_log_lines_per_call: 32,
            memory_keep_resident: 2 << 20,
            guard_pages: false,
        }
    }
}

/// Why a host function stopped the guest (carried in the wasmtime error).
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub(crate) struct HostFault {
    pub(crate) reason: FailureReason,
    pub(crate) detail: String,
}

fn bad_pointer(what: &str, ptr: i32, len: i32) -> wasmtime::Error {
    wasmtime::Error::new(HostFault {
        reason: FailureReason::BadPointer,
        detail: format!("{what}: ({ptr:#x}, {len}) outside guest memory"),
    })
}

/// Per-store resource limits: the plugin's memory cap, a table cap, and a note
/// that a growth was refused (so the failure is reported as `Memory`).
#[derive(Debug)]
pub(crate) struct CallLimiter {
    pub(crate) memory_cap: usize,
    pub(crate) memory_denied: bool,
}

/// Table elements a plugin may have (Rust plugins use a handful).
const TABLE_CAP: usize = 10_000;

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.memory_denied = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= TABLE_CAP)
    }

    fn instances(&self) -> usize {
        1
    }

    fn memories(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        1
    }
}

/// The data of one call's store.
pub(crate) struct CallState {
    pub(crate) limiter: CallLimiter,
    pub(crate) memory: Option<Memory>,
    pub(crate) plugin: Arc<str>,
    /// The device the call is about (for log attribution).
    pub(crate) mac: String,
    pub(crate) kv: Arc<dyn PluginKv>,
    pub(crate) logs_left: u32,
}

pub(crate) struct HostInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<CallState>,
    pub(crate) config: HostConfig,
    pub(crate) cache: Option<CompileCache>,
    pub(crate) kv: Arc<dyn PluginKv>,
    stop: Arc<AtomicBool>,
    ticker: Mutex<Option<JoinHandle<()>>>,
    /// Per plugin name: its counters, kept across reloads (a reloaded
    /// plugin goes on counting where the previous one stopped, as the
    /// engine's fallback counters do).
    counters: Mutex<HashMap<String, Arc<Counters>>>,
}

impl HostInner {
    /// The counters of the plugin called `name`, shared by every load of it.
    pub(crate) fn counters_for(&self, name: &str) -> Arc<Counters> {
        self.counters
            .lock()
            .entry(name.to_string())
            .or_default()
            .clone()
    }
}

impl Drop for HostInner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.ticker.lock().take() {
            // The ticker sleeps one tick at most; joining keeps threads from piling up on reloads of the host.
            let _ = t.join();
        }
    }
}

/// The plugin host: shared engine, host functions, compile cache, kv storage.
///
/// Cheap to clone. Loaded plugins keep the host (and its epoch ticker) alive.
#[derive(Clone)]
pub struct PluginHost {
    pub(crate) inner: Arc<HostInner>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl PluginHost {
    /// Starts a host: builds the engine, the host functions and the epoch ticker.
    pub fn new(config: HostConfig, kv: Arc<dyn PluginKv>) -> Result<PluginHost, HostError> {
        if config.max_concurrent_instances == 0 {
            return Err(HostError::Setting(
                "max_concurrent_instances must be at least 1".into(),
            ));
        }
        if config.epoch_tick.is_zero() {
            return Err(HostError::Setting("epoch_tick must be above zero".into()));
        }
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(config.max_concurrent_instances)
            .total_memories(config.max_concurrent_instances)
            .total_tables(config.max_concurrent_instances)
            .total_component_instances(0)
            .max_memory_size(config.max_memory_per_instance)
            .table_elements(TABLE_CAP)
            // Reuse the slot a module used last: its copy-on-write image is already mapped.
            .max_unused_warm_slots(config.max_concurrent_instances)
            // Reset the pages a call dirtied in place instead of dropping them
            // (which costs a page fault per page on the next call).
            .linear_memory_keep_resident(config.memory_keep_resident)
            .table_keep_resident(1 << 16)
            .pagemap_scan(Enabled::Auto);
        let mut wcfg = Config::new();
        wcfg.epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        if !config.guard_pages {
            // Bounds checks compiled into the guest code instead of guard
            // regions: then a slot's protections need no reset per call. With
            // guard pages, every call whose guest grows its memory (Rust's
            // allocator always does) costs two mprotect calls and a TLB
            // shootdown; measured on flow-select: 13.6 µs → 10.3 µs median.
            wcfg.signals_based_traps(false)
                .memory_guard_size(0)
                .memory_reservation(
                    u64::try_from(config.max_memory_per_instance).unwrap_or(u64::MAX),
                )
                .memory_reservation_for_growth(0);
        }
        let engine = Engine::new(&wcfg).map_err(|e| HostError::Engine(format!("{e:#}")))?;
        let linker = build_linker(&engine).map_err(|e| HostError::Engine(format!("{e:#}")))?;
        let cache = match &config.cache_dir {
            Some(dir) => {
                Some(
                    CompileCache::new(dir.clone()).map_err(|source| HostError::CacheDir {
                        path: dir.clone(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let engine = engine.clone();
            let stop = stop.clone();
            let tick = config.epoch_tick;
            std::thread::Builder::new()
                .name("plugin-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })
                .map_err(HostError::Ticker)?
        };
        Ok(PluginHost {
            inner: Arc::new(HostInner {
                engine,
                linker,
                config,
                cache,
                kv,
                stop,
                ticker: Mutex::new(Some(ticker)),
                counters: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The host settings.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    /// The shared wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }
}

/// The guest memory of the current call, or a trap.
fn memory(caller: &Caller<'_, CallState>) -> wasmtime::Result<Memory> {
    caller.data().memory.ok_or_else(|| {
        wasmtime::Error::new(HostFault {
            reason: FailureReason::Trap,
            detail: "host function called before the call's memory was bound (start function?)"
                .into(),
        })
    })
}

fn range(ptr: i32, len: i32, size: usize) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(u32::try_from(ptr).ok()?).ok()?;
    let len = usize::try_from(u32::try_from(len).ok()?).ok()?;
    let end = start.checked_add(len)?;
    (end <= size).then_some(start..end)
}

/// The bytes the guest points at, copied out.
fn read_guest(
    caller: &Caller<'_, CallState>,
    what: &str,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<Vec<u8>> {
    let mem = memory(caller)?;
    let data = mem.data(caller);
    range(ptr, len, data.len())
        .and_then(|r| data.get(r))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| bad_pointer(what, ptr, len))
}

/// Most bytes of one log message kept (the rest is cut).
const MAX_LOG_MESSAGE: usize = 4096;

const KV_ABSENT: i32 = -1;
const KV_BAD_SIZE: i32 = -2;
const KV_STORAGE: i32 = -3;

fn kv_key(
    caller: &Caller<'_, CallState>,
    kptr: i32,
    klen: i32,
) -> wasmtime::Result<Option<Vec<u8>>> {
    // Size is checked before reading so an oversized key is an error code, not a copy.
    if !(1..=MAX_KV_KEY_LEN as i64).contains(&i64::from(klen)) {
        // Still a bad pointer when it points outside memory: the guest is confused.
        let mem = memory(caller)?;
        if range(kptr, klen, mem.data_size(caller)).is_none() {
            return Err(bad_pointer("kv key", kptr, klen));
        }
        return Ok(None);
    }
    read_guest(caller, "kv key", kptr, klen).map(Some)
}

fn kv_failed(caller: &Caller<'_, CallState>, op: &str, e: &crate::kv::KvError) {
    let s = caller.data();
    tracing::warn!(plugin = %s.plugin, mac = %s.mac, "plugin kv {op} failed: {e}");
}

fn build_linker(engine: &Engine) -> wasmtime::Result<Linker<CallState>> {
    let mut linker = Linker::new(engine);
    let m = abi::IMPORT_MODULE;

    linker.func_wrap(
        m,
        "log",
        |mut caller: Caller<'_, CallState>,
         level: i32,
         ptr: i32,
         len: i32|
         -> wasmtime::Result<()> {
            let mem = memory(&caller)?;
            let Some(r) = range(ptr, len, mem.data_size(&caller)) else {
                return Err(bad_pointer("log message", ptr, len));
            };
            if caller.data().logs_left == 0 {
                return Ok(());
            }
            let cut = r.start..r.start + r.len().min(MAX_LOG_MESSAGE);
            let text = String::from_utf8_lossy(mem.data(&caller).get(cut).unwrap_or_default())
                .into_owned();
            let state = caller.data_mut();
            state.logs_left -= 1;
            let (plugin, mac) = (&*state.plugin, state.mac.as_str());
            match LogLevel::from_i32(level) {
                LogLevel::Trace => tracing::trace!(plugin, mac, "{text}"),
                LogLevel::Debug => tracing::debug!(plugin, mac, "{text}"),
                LogLevel::Info => tracing::info!(plugin, mac, "{text}"),
                LogLevel::Warn => tracing::warn!(plugin, mac, "{text}"),
                LogLevel::Error => tracing::error!(plugin, mac, "{text}"),
            }
            Ok(())
        },
    )?;

    linker.func_wrap(m, "now_unix_ms", || -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    })?;

    linker.func_wrap(
        m,
        "kv_get",
        |mut caller: Caller<'_, CallState>,
         kptr: i32,
         klen: i32,
         vptr: i32,
         vcap: i32|
         -> wasmtime::Result<i32> {
            let mem = memory(&caller)?;
            let Some(dest) = range(vptr, vcap, mem.data_size(&caller)) else {
                return Err(bad_pointer("kv value buffer", vptr, vcap));
            };
            let Some(key) = kv_key(&caller, kptr, klen)? else {
                return Ok(KV_BAD_SIZE);
            };
            let value = {
                let s = caller.data();
                s.kv.get(&s.plugin, &key)
            };
            let value = match value {
                Ok(Some(v)) => v,
                Ok(None) => return Ok(KV_ABSENT),
                Err(e) => {
                    kv_failed(&caller, "get", &e);
                    return Ok(KV_STORAGE);
                }
            };
            // Values are bounded by MAX_KV_VALUE_LEN, so the length fits in i32.
            let len = i32::try_from(value.len()).unwrap_or(i32::MAX);
            if value.len() <= dest.len() {
                let data = mem.data_mut(&mut caller);
                if let Some(d) = data.get_mut(dest.start..dest.start + value.len()) {
                    d.copy_from_slice(&value);
                }
            }
            Ok(len)
        },
    )?;

    linker.func_wrap(
        m,
        "kv_put",
        |caller: Caller<'_, CallState>,
         kptr: i32,
         klen: i32,
         vptr: i32,
         vlen: i32|
         -> wasmtime::Result<i32> {
            let mem = memory(&caller)?;
            if range(vptr, vlen, mem.data_size(&caller)).is_none() {
                return Err(bad_pointer("kv value", vptr, vlen));
            }
            let Some(key) = kv_key(&caller, kptr, klen)? else {
                return Ok(KV_BAD_SIZE);
            };
            if usize::try_from(vlen).map_or(true, |l| l > MAX_KV_VALUE_LEN) {
                return Ok(KV_BAD_SIZE);
            }
            let value = read_guest(&caller, "kv value", vptr, vlen)?;
            let s = caller.data();
            match s.kv.put(&s.plugin, &key, &value) {
                Ok(()) => Ok(0),
                Err(e) => {
                    kv_failed(&caller, "put", &e);
                    Ok(KV_STORAGE)
                }
            }
        },
    )?;

    linker.func_wrap(
        m,
        "kv_delete",
        |caller: Caller<'_, CallState>, kptr: i32, klen: i32| -> wasmtime::Result<i32> {
            let Some(key) = kv_key(&caller, kptr, klen)? else {
                return Ok(KV_BAD_SIZE);
            };
            let s = caller.data();
            // ABI.md: deleting an absent key is ok; 1 = removed, 0 = was absent.
            match s.kv.delete(&s.plugin, &key) {
                Ok(true) => Ok(1),
                Ok(false) => Ok(0),
                Err(e) => {
                    kv_failed(&caller, "delete", &e);
                    Ok(KV_STORAGE)
                }
            }
        },
    )?;
    Ok(linker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_ranges_are_bounds_checked() {
        assert_eq!(range(0, 0, 0), Some(0..0));
        assert_eq!(range(10, 5, 15), Some(10..15));
        assert_eq!(range(10, 6, 15), None);
        assert_eq!(range(-1, 1, 1 << 20), None);
        assert_eq!(range(0, -1, 1 << 20), None);
        assert_eq!(
            range(i32::MAX, i32::MAX, usize::MAX),
            Some(0x7fff_ffff..0xffff_fffe)
        );
    }

    #[test]
    fn limiter_refuses_growth_past_the_cap_and_remembers_it() {
        let mut l = CallLimiter {
            memory_cap: 2 << 16,
            memory_denied: false,
        };
        assert!(l.memory_growing(0, 2 << 16, None).unwrap());
        assert!(!l.memory_denied);
        assert!(!l.memory_growing(2 << 16, 3 << 16, None).unwrap());
        assert!(l.memory_denied);
    }
}
