//! Error types of the plugin host: why a hook call failed ([`PluginError`],
//! [`FailureReason`]), why a plugin did not load ([`LoadError`]) and why the
//! host could not start ([`HostError`]). Issue 3, "Host": every failure of a
//! call is typed so the caller can apply its fallback and count it.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::plugin::Hook;

/// Why a hook call did not produce an answer (the counter keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureReason {
    /// The guest trapped (`unreachable`, a Rust panic, out-of-bounds access, stack overflow …).
    Trap,
    /// The hook's deadline passed (epoch interruption).
    Deadline,
    /// The guest hit its memory cap.
    Memory,
    /// The guest handed the host a pointer/length outside its memory.
    BadPointer,
    /// The guest's result did not decode as the hook's `Response`.
    BadResult,
    /// The guest answered `Response::Err` (declined); not a malfunction.
    Declined,
    /// The circuit breaker is open: the plugin was not called.
    BreakerOpen,
    /// The host could not run the call (instance pool exhausted, hook not exported).
    Unavailable,
}

impl FailureReason {
    /// Every reason, in counter order.
    pub const ALL: [FailureReason; 8] = [
        FailureReason::Trap,
        FailureReason::Deadline,
        FailureReason::Memory,
        FailureReason::BadPointer,
        FailureReason::BadResult,
        FailureReason::Declined,
        FailureReason::BreakerOpen,
        FailureReason::Unavailable,
    ];

    /// Stable name for counters and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Trap => "trap",
            FailureReason::Deadline => "deadline",
            FailureReason::Memory => "memory",
            FailureReason::BadPointer => "bad_pointer",
            FailureReason::BadResult => "bad_result",
            FailureReason::Declined => "declined",
            FailureReason::BreakerOpen => "breaker_open",
            FailureReason::Unavailable => "unavailable",
        }
    }

    /// Whether this reason is a plugin malfunction that feeds the circuit breaker.
    ///
    /// A decline is an answer, and "breaker open"/"unavailable" say nothing
    /// about the plugin's health.
    pub fn is_malfunction(self) -> bool {
        matches!(
            self,
            FailureReason::Trap
                | FailureReason::Deadline
                | FailureReason::Memory
                | FailureReason::BadPointer
                | FailureReason::BadResult
        )
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A hook call that produced no answer; the caller applies its fallback.
#[derive(Debug, Clone, thiserror::Error)]
#[error("plugin {plugin}: {hook}: {reason}: {detail}")]
pub struct PluginError {
    /// The plugin's name.
    pub plugin: Arc<str>,
    /// The hook that was called.
    pub hook: Hook,
    /// Why it failed.
    pub reason: FailureReason,
    /// Human-readable detail (trap message, decline reason …).
    pub detail: String,
}

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// wasmtime refused the engine configuration (e.g. the pool reservation failed).
    #[error("wasmtime engine: {0}")]
    Engine(String),
    /// The compile cache directory could not be created.
    #[error("plugin compile cache {path}: {source}")]
    CacheDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The epoch ticker thread could not be started.
    #[error("epoch ticker thread: {0}")]
    Ticker(std::io::Error),
    /// A host setting is out of range.
    #[error("plugin host setting {0}")]
    Setting(String),
}

/// Why one plugin of a set did not load.
#[derive(Debug, thiserror::Error)]
#[error("plugin {plugin} ({}): {kind}", path.display())]
pub struct LoadError {
    /// The plugin's name.
    pub plugin: String,
    /// The `.wasm` file.
    pub path: PathBuf,
    /// What was wrong.
    #[source]
    pub kind: LoadErrorKind,
}

/// What was wrong with a plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadErrorKind {
    /// The plugin name is empty, too long, not `[A-Za-z0-9._-]`, or used twice.
    #[error("invalid or duplicate plugin name (use 1-64 of A-Z a-z 0-9 . _ -, unique)")]
    BadName,
    /// A setting of the spec is out of range.
    #[error("{0}")]
    BadSpec(String),
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Read(std::io::Error),
    /// The file is not a core WebAssembly module in binary form.
    #[error("not a WebAssembly binary module ({0}); plugins are loaded only from .wasm bytes")]
    NotWasm(&'static str),
    /// wasmtime rejected the module.
    #[error("does not compile: {0}")]
    Compile(String),
    /// The module imports WASI, which the host does not provide.
    #[error("imports {module}::{name}: WASI is not supported, plugins get no WASI capabilities (use the `headend` imports)")]
    Wasi {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
    },
    /// The module imports something the host does not provide.
    #[error("imports {module}::{name}, which the host does not provide (allowed: headend::log, now_unix_ms, kv_get, kv_put, kv_delete)")]
    UnknownImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
    },
    /// A `headend` import has the wrong type.
    #[error("import headend::{name} must be {expected}")]
    ImportType {
        /// Import name.
        name: String,
        /// The expected signature.
        expected: &'static str,
    },
    /// A required export is missing.
    #[error("missing export {0}")]
    MissingExport(&'static str),
    /// An export has the wrong type.
    #[error("export {name} must be {expected}")]
    ExportType {
        /// Export name.
        name: &'static str,
        /// The expected signature.
        expected: &'static str,
    },
    /// The module exports none of the hooks.
    #[error("exports no hook (headend_flow_select, headend_config_file, headend_mem_event)")]
    NoHooks,
    /// The spec requires a hook the module does not export.
    #[error("the configuration requires hook {0}, which the module does not export")]
    MissingHook(Hook),
    /// `headend_abi_version` returned another version.
    #[error("ABI version {found}, the host speaks {expected}")]
    AbiVersion {
        /// What the module returned.
        found: i32,
        /// [`headend_abi::ABI_VERSION`].
        expected: i32,
    },
    /// The module could not be instantiated or `headend_abi_version` failed.
    #[error("cannot instantiate: {0}")]
    Instantiate(String),
    /// A hook failed its self-test with a synthetic request.
    #[error("self-test failed: {0}")]
    SelfTest(PluginError),
}
