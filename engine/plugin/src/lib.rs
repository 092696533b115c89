//! The headend WASM plugin host (issue 3, "Host"): loads vendor plugins
//! written against plugin ABI v1 (`sdk/abi`, `sdk/ABI.md`), checks them,
//! compiles them once (with our own compile cache) and runs each hook call in
//! a fresh, memory-capped, deadline-bounded wasmtime store.
//!
//! * [`PluginHost`]: the one shared wasmtime `Engine` (pooling allocator,
//!   epoch interruption ticked by a background thread), the host functions of
//!   module `headend` and the compile cache.
//! * [`PluginSet::load`]: validates, compiles, ABI-checks and self-tests a set
//!   of [`PluginSpec`]s; a reload builds a new set and swaps it only when the
//!   whole set loaded (calls in flight keep their `Arc<Plugin>`).
//! * [`Plugin`]: the three hooks of the issue ([`Plugin::select_flow`],
//!   [`Plugin::config_file`], [`Plugin::mem_event`]). Every failure (trap,
//!   deadline, memory cap, bad pointer, malformed result, declined, breaker
//!   open) is a [`PluginError`]: the caller applies its fallback. Failures are
//!   counted per plugin and reason, and a [`CircuitBreaker`] stops calling a
//!   plugin that keeps failing.
//! * [`PluginKv`]: plugin-scoped key/value storage behind the `kv_*` imports,
//!   in memory ([`MemoryKv`]) or in a sled tree ([`SledKv`]).
//!
//! Unsafe code: the workspace forbids it, but loading a module from the
//! compile cache needs `Module::deserialize`, which is `unsafe` because the
//! bytes are trusted to be wasmtime's own output. This crate therefore uses
//! `deny(unsafe_code)` (so a local `allow` is possible) and allows it on
//! exactly one function, `cache::deserialize_own_file`, which only reads
//! files this crate wrote into the engine's cache directory and verified by
//! checksum. Vendor-supplied files are only ever accepted as `.wasm` bytes.
#![deny(unsafe_code)]

mod breaker;
mod cache;
mod error;
mod host;
mod kv;
mod plugin;
mod validate;

pub use breaker::{Admission, BreakerConfig, BreakerState, CircuitBreaker, Transition};
pub use error::{FailureReason, HostError, LoadError, LoadErrorKind, PluginError};
pub use host::{HostConfig, PluginHost};
pub use kv::{KvError, MemoryKv, PluginKv, SledKv, MAX_KV_KEY_LEN, MAX_KV_VALUE_LEN};
pub use plugin::{
    Deadlines, Hook, Plugin, PluginCounters, PluginSet, PluginSpec, DEFAULT_MEMORY_LIMIT,
};
