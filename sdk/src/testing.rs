//! Native test harness for plugins (non-wasm targets only): a thread-local
//! fake host (captured log lines, in-memory key/value store, settable clock)
//! and a fake linear memory, so `cargo test` calls a plugin's hook exports
//! through the same (pointer, length) and encode/decode path the engine uses
//! (`sdk/ABI.md`, "Hook calls").
//!
//! State is per thread, and `cargo test` runs each test on its own thread,
//! so tests stay parallel-safe; call [`reset`] at the start of a test that
//! depends on a clean store.
//!
//! ```ignore
//! headend_sdk::flow_selector!(select);
//! #[test]
//! fn voice_gets_hybrid() {
//!     headend_sdk::testing::reset();
//!     let cfg = testing::config(vec![("voice_domain", testing::string("voice"))]);
//!     let decision = testing::flow_select(headend_flow_select, &cfg, &dev).unwrap();
//! }
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use headend_abi::{
    decode, encode, unpack, CodecError, ConfigFile, ConfigRequest, ConfigValue, Device,
    EventActions, FlowDecision, LogLevel, MemEvent, PluginConfig, Request, Response,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The fake clock's value after [`reset`] (2023-11-14T22:13:20Z).
pub const DEFAULT_NOW_UNIX_MS: i64 = 1_700_000_000_000;

/// A hook entry as the hook macros generate it on native targets.
pub type Export = fn(i32, i32) -> i64;

/// One captured `log` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Level the plugin logged at.
    pub level: LogLevel,
    /// The message (lossy UTF-8, as the host would render it).
    pub message: String,
}

/// How a harness call failed, mirroring the engine's failure reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HarnessError {
    /// The request did not fit the fake memory's 31-bit offsets.
    RequestTooLarge,
    /// The packed result points outside the fake memory (a "bad pointer").
    OutOfBounds {
        /// Pointer half of the result.
        ptr: u32,
        /// Length half of the result.
        len: u32,
    },
    /// The result bytes do not decode as the hook's `Response`.
    Malformed(CodecError),
    /// The plugin panicked (a trap under wasm).
    Panicked(String),
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::RequestTooLarge => write!(f, "request too large for guest memory"),
            HarnessError::OutOfBounds { ptr, len } => {
                write!(f, "result ({ptr:#x}, {len}) lies outside guest memory")
            }
            HarnessError::Malformed(e) => write!(f, "malformed result: {e}"),
            HarnessError::Panicked(msg) => write!(f, "plugin panicked: {msg}"),
        }
    }
}

impl std::error::Error for HarnessError {}

/// Thread-local fake host; the guest glue calls into it on native targets.
pub(crate) mod fake {
    use super::*;

    /// Offset 0 stays unused so a null pointer is never a valid buffer.
    const MEMORY_BASE: usize = 8;

    pub(super) struct FakeHost {
        pub(super) logs: Vec<LogLine>,
        pub(super) kv: BTreeMap<Vec<u8>, Vec<u8>>,
        pub(super) now_unix_ms: i64,
        pub(super) kv_error: Option<i32>,
        pub(super) memory: Vec<u8>,
    }

    impl FakeHost {
        pub(super) fn new() -> FakeHost {
            FakeHost {
                logs: Vec::new(),
                kv: BTreeMap::new(),
                now_unix_ms: DEFAULT_NOW_UNIX_MS,
                kv_error: None,
                memory: vec![0; MEMORY_BASE],
            }
        }
    }

    thread_local! {
        pub(super) static HOST: RefCell<FakeHost> = RefCell::new(FakeHost::new());
    }

    pub(crate) fn log(level: i32, message: &[u8]) {
        HOST.with(|h| {
            h.borrow_mut().logs.push(LogLine {
                level: LogLevel::from_i32(level),
                message: String::from_utf8_lossy(message).into_owned(),
            })
        });
    }

    pub(crate) fn now_unix_ms() -> i64 {
        HOST.with(|h| h.borrow().now_unix_ms)
    }

    /// Mirrors the host: copies at most `buf.len()` bytes, returns the full length.
    pub(crate) fn kv_get(key: &[u8], buf: &mut [u8], len_i32: fn(usize) -> Option<i32>) -> i32 {
        HOST.with(|h| {
            let h = h.borrow();
            if let Some(code) = h.kv_error {
                return code;
            }
            match h.kv.get(key) {
                None => -1,
                Some(value) => {
                    let n = value.len().min(buf.len());
                    if let (Some(dst), Some(src)) = (buf.get_mut(..n), value.get(..n)) {
                        dst.copy_from_slice(src);
                    }
                    len_i32(value.len()).unwrap_or(-2)
                }
            }
        })
    }

    pub(crate) fn kv_put(key: &[u8], value: &[u8]) -> i32 {
        HOST.with(|h| {
            let mut h = h.borrow_mut();
            if let Some(code) = h.kv_error {
                return code;
            }
            h.kv.insert(key.to_vec(), value.to_vec());
            0
        })
    }

    pub(crate) fn kv_delete(key: &[u8]) -> i32 {
        HOST.with(|h| {
            let mut h = h.borrow_mut();
            if let Some(code) = h.kv_error {
                return code;
            }
            i32::from(h.kv.remove(key).is_some())
        })
    }

    /// A copy of fake memory [ptr, ptr + len), `None` when out of range or null.
    pub(crate) fn read_memory(ptr: i32, len: i32) -> Option<Vec<u8>> {
        let n = usize::try_from(len).ok()?;
        if n == 0 {
            return Some(Vec::new());
        }
        let start = ptr as u32 as usize;
        if start == 0 {
            return None;
        }
        let end = start.checked_add(n)?;
        HOST.with(|h| h.borrow().memory.get(start..end).map(<[u8]>::to_vec))
    }

    /// Appends bytes to fake memory; their (offset, length), or a
    /// deliberately out-of-range pair when memory exceeds 32-bit offsets.
    pub(crate) fn append_memory(bytes: &[u8]) -> (u32, u32) {
        HOST.with(|h| {
            let mut h = h.borrow_mut();
            let ptr = h.memory.len();
            h.memory.extend_from_slice(bytes);
            match (u32::try_from(ptr), u32::try_from(bytes.len())) {
                (Ok(p), Ok(l)) => (p, l),
                _ => (u32::MAX, u32::MAX),
            }
        })
    }

    /// Starts a call: fresh memory (like a fresh instance), host state kept.
    pub(super) fn reset_memory() {
        HOST.with(|h| {
            let mut h = h.borrow_mut();
            h.memory.clear();
            h.memory.resize(MEMORY_BASE, 0);
        });
    }
}

/// Clears logs, key/value store, injected errors and memory; clock back to
/// [`DEFAULT_NOW_UNIX_MS`].
pub fn reset() {
    fake::HOST.with(|h| *h.borrow_mut() = fake::FakeHost::new());
}

/// Sets the fake clock.
pub fn set_now_unix_ms(ms: i64) {
    fake::HOST.with(|h| h.borrow_mut().now_unix_ms = ms);
}

/// Moves the fake clock forward by `ms`.
pub fn advance_ms(ms: i64) {
    fake::HOST.with(|h| {
        let mut h = h.borrow_mut();
        h.now_unix_ms = h.now_unix_ms.saturating_add(ms);
    });
}

/// The log lines captured so far.
pub fn logs() -> Vec<LogLine> {
    fake::HOST.with(|h| h.borrow().logs.clone())
}

/// The log lines captured so far, clearing them.
pub fn take_logs() -> Vec<LogLine> {
    fake::HOST.with(|h| std::mem::take(&mut h.borrow_mut().logs))
}

/// The key/value store's contents, sorted by key.
pub fn kv_entries() -> Vec<(Vec<u8>, Vec<u8>)> {
    fake::HOST.with(|h| {
        h.borrow()
            .kv
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

/// Stores a value as if an earlier call had put it.
pub fn kv_insert(key: &[u8], value: &[u8]) {
    fake::HOST.with(|h| {
        h.borrow_mut().kv.insert(key.to_vec(), value.to_vec());
    });
}

/// Makes every key/value call return `code` (a negative host status) until
/// called with `None`.
pub fn kv_fail_with(code: Option<i32>) {
    fake::HOST.with(|h| h.borrow_mut().kv_error = code);
}

/// Calls a hook export with raw request bytes the way the engine does:
/// write them into a fresh guest memory, call `(ptr, len)`, read the packed
/// result. A panic is caught and reported like the engine reports a trap.
pub fn call_raw(export: Export, request: &[u8]) -> Result<Vec<u8>, HarnessError> {
    fake::reset_memory();
    let (ptr, len) = fake::append_memory(request);
    let (ptr, len) = match (i32::try_from(ptr), i32::try_from(len)) {
        (Ok(p), Ok(l)) => (p, l),
        _ => return Err(HarnessError::RequestTooLarge),
    };
    let packed = catch_unwind(AssertUnwindSafe(|| export(ptr, len)))
        .map_err(|payload| HarnessError::Panicked(panic_message(payload.as_ref())))?;
    let (rptr, rlen) = unpack(packed);
    let ptr_i32 = i32::try_from(rptr).map_err(|_| HarnessError::OutOfBounds {
        ptr: rptr,
        len: rlen,
    })?;
    let len_i32 = i32::try_from(rlen).map_err(|_| HarnessError::OutOfBounds {
        ptr: rptr,
        len: rlen,
    })?;
    fake::read_memory(ptr_i32, len_i32).ok_or(HarnessError::OutOfBounds {
        ptr: rptr,
        len: rlen,
    })
}

/// Calls a hook export with `Request { config, input }` and decodes its
/// `Response<O>`.
pub fn call<I: Serialize, O: DeserializeOwned>(
    export: Export,
    config: &PluginConfig,
    input: &I,
) -> Result<Response<O>, HarnessError> {
    let request = encode(&Request {
        config: config.clone(),
        input,
    })
    .map_err(HarnessError::Malformed)?;
    let reply = call_raw(export, &request)?;
    decode::<Response<O>>(&reply).map_err(HarnessError::Malformed)
}

/// `Err(reason)` is the plugin's decline only: a fault (a panic, which
/// traps in WebAssembly, a result out of bounds or one that does not
/// decode) fails the calling test, because the engine treats it as a fault
/// (counted, the breaker told) and not as a decline. `call` returns faults
/// as values for tests that expect one.
fn flatten<O>(result: Result<Response<O>, HarnessError>) -> Result<O, String> {
    match result {
        Ok(Response::Ok(out)) => Ok(out),
        Ok(Response::Err(reason)) => Err(reason),
        Err(e) => fault(e),
    }
}

#[allow(clippy::panic)] // A harness fault must fail the test that called the hook.
fn fault<O>(e: HarnessError) -> Result<O, String> {
    panic!("the plugin faulted (the engine counts a fault, not a decline): {e}")
}

/// Calls a `flow_selector!` export. `Err` is a decline; a fault (panic/trap) panics.
pub fn flow_select(
    export: Export,
    config: &PluginConfig,
    device: &Device,
) -> Result<FlowDecision, String> {
    flatten(call(export, config, device))
}

/// Calls a `config_generator!` export. `Err` is a decline; a fault (panic/trap) panics.
pub fn config_file(
    export: Export,
    config: &PluginConfig,
    request: &ConfigRequest,
) -> Result<Option<ConfigFile>, String> {
    flatten(call(export, config, request))
}

/// Calls an `event_handler!` export. `Err` is a decline; a fault (panic/trap) panics.
pub fn mem_event(
    export: Export,
    config: &PluginConfig,
    event: &MemEvent,
) -> Result<EventActions, String> {
    flatten(call(export, config, event))
}

/// A plugin configuration from (key, value) pairs, in order.
pub fn config(entries: Vec<(&str, ConfigValue)>) -> PluginConfig {
    PluginConfig {
        entries: entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

/// A string value.
pub fn string(s: &str) -> ConfigValue {
    ConfigValue::Str(s.to_string())
}

/// A list of strings.
pub fn strings(items: &[&str]) -> ConfigValue {
    ConfigValue::List(items.iter().map(|s| string(s)).collect())
}

/// A table from (key, value) pairs, in order.
pub fn table(entries: Vec<(&str, ConfigValue)>) -> ConfigValue {
    ConfigValue::Table(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rt::RawReply;
    use headend_abi::{pack, FlowVariant, Protocol, ProvisioningFlow};

    fn select(dev: &Device, cfg: &PluginConfig) -> Result<FlowDecision, String> {
        crate::host::info(&format!("select {}", dev.mac));
        match cfg.get_str("answer") {
            Some("hybrid") => Ok(FlowDecision::flow(ProvisioningFlow::Hybrid(
                FlowVariant::Two,
            ))),
            Some("panic") => panic!("asked to"),
            _ => Err("no answer configured".to_string()),
        }
    }
    crate::flow_selector!(select);

    fn garbage(_: &[u8]) -> RawReply {
        RawReply::Bytes(vec![9, 9, 9])
    }
    crate::raw_hook!(garbage_export, garbage);

    fn wild(_: &[u8]) -> RawReply {
        RawReply::Packed(pack(0xffff_0000, 16))
    }
    crate::raw_hook!(wild_export, wild);

    fn echo(req: &[u8]) -> RawReply {
        RawReply::Bytes(req.to_vec())
    }
    crate::raw_hook!(echo_export, echo);

    fn dev() -> Device {
        Device::with_mac(Protocol::Dhcpv4, "00:10:18:00:00:01")
    }

    #[test]
    fn typed_hook_round_trips_through_fake_memory() {
        reset();
        let cfg = config(vec![("answer", string("hybrid"))]);
        let d = flow_select(headend_flow_select, &cfg, &dev()).unwrap();
        assert_eq!(d.flow, ProvisioningFlow::Hybrid(FlowVariant::Two));
        assert_eq!(
            take_logs(),
            vec![LogLine {
                level: LogLevel::Info,
                message: "select 00:10:18:00:00:01".into()
            }]
        );
    }

    #[test]
    fn plugin_error_is_err() {
        reset();
        let err = flow_select(headend_flow_select, &PluginConfig::default(), &dev()).unwrap_err();
        assert_eq!(err, "no answer configured");
    }

    #[test]
    fn panic_is_reported_like_a_trap() {
        reset();
        let cfg = config(vec![("answer", string("panic"))]);
        let r = call::<Device, FlowDecision>(headend_flow_select, &cfg, &dev());
        assert_eq!(r, Err(HarnessError::Panicked("asked to".into())));
    }

    #[test]
    fn a_panic_fails_the_test_instead_of_reading_as_a_decline() {
        reset();
        let cfg = config(vec![("answer", string("panic"))]);
        let caught = std::panic::catch_unwind(|| flow_select(headend_flow_select, &cfg, &dev()));
        let payload = caught.expect_err("a panicking hook returned instead of failing the test");
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(msg.contains("plugin panicked: asked to"), "{msg}");
        // A decline is still an `Err` to assert on.
        assert!(flow_select(headend_flow_select, &PluginConfig::default(), &dev()).is_err());
    }

    #[test]
    fn garbage_and_wild_pointers_are_detected() {
        reset();
        let cfg = PluginConfig::default();
        assert!(matches!(
            call::<Device, FlowDecision>(garbage_export, &cfg, &dev()),
            Err(HarnessError::Malformed(_))
        ));
        assert_eq!(
            call::<Device, FlowDecision>(wild_export, &cfg, &dev()),
            Err(HarnessError::OutOfBounds {
                ptr: 0xffff_0000,
                len: 16
            })
        );
    }

    #[test]
    fn raw_hook_sees_exact_request_bytes() {
        reset();
        assert_eq!(call_raw(echo_export, b"abc").unwrap(), b"abc");
        assert_eq!(call_raw(echo_export, b"").unwrap(), b"");
    }

    #[test]
    fn bad_request_pointer_becomes_err_response() {
        reset();
        // The engine never does this; the guest must still answer, not crash.
        let packed = headend_flow_select(0, 12);
        let (p, l) = unpack(packed);
        let bytes = fake::read_memory(p as i32, l as i32).unwrap();
        match decode::<Response<FlowDecision>>(&bytes).unwrap() {
            Response::Err(reason) => assert!(reason.contains("outside guest memory")),
            Response::Ok(_) => panic!("null request answered Ok"),
        }
        assert!(matches!(
            decode::<Response<FlowDecision>>(&call_raw(headend_flow_select, &[]).unwrap()),
            Ok(Response::Err(_))
        ));
    }

    #[test]
    fn reset_restores_clock_and_clears_store() {
        reset();
        advance_ms(5);
        kv_insert(b"a", b"1");
        assert_eq!(crate::host::now_unix_ms(), DEFAULT_NOW_UNIX_MS + 5);
        assert_eq!(kv_entries(), vec![(b"a".to_vec(), b"1".to_vec())]);
        reset();
        assert_eq!(crate::host::now_unix_ms(), DEFAULT_NOW_UNIX_MS);
        assert!(kv_entries().is_empty());
    }
}
