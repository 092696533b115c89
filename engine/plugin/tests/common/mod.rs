//! Shared helpers of the plugin host tests: one host per test binary, and
//! hand-written ABI v1 modules in WAT so the failure tests do not depend on
//! the plugin build.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use headend_plugin::{HostConfig, MemoryKv, PluginHost, PluginSpec};

/// The test host and its in-memory kv.
pub fn host() -> &'static (PluginHost, Arc<MemoryKv>) {
    static HOST: OnceLock<(PluginHost, Arc<MemoryKv>)> = OnceLock::new();
    HOST.get_or_init(|| {
        // Plugin and host logs appear in the output of a failing test.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_max_level(tracing::Level::DEBUG)
            .try_init();
        let kv = Arc::new(MemoryKv::new());
        let host = PluginHost::new(
            HostConfig {
                max_concurrent_instances: 32,
                max_memory_per_instance: 32 << 20,
                ..HostConfig::default()
            },
            kv.clone(),
        )
        .expect("host starts");
        (host, kv)
    })
}

/// `bytes` as a WAT string literal body.
pub fn wat_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// `(ptr << 32) | len` as a WAT i64 expression.
pub fn packed(ptr: u32, len: usize) -> String {
    format!("(i64.const {})", headend_abi::pack(ptr, len as u32))
}

/// Where the canned response of [`module`] lives in guest memory.
pub const RESPONSE_AT: u32 = 1024;

/// A minimal ABI v1 module: memory, version `abi_version`, a bump allocator
/// (growing memory as needed), `headend_free`, a canned response at
/// [`RESPONSE_AT`], extra `imports`, and the given hook exports (name, body).
/// Hook bodies see locals `$p`/`$n` (request pointer/length) and return i64.
pub fn module(abi_version: i32, imports: &str, response: &[u8], hooks: &[(&str, &str)]) -> String {
    let hook_funcs: String = hooks
        .iter()
        .map(|(name, body)| {
            format!(
                "(func (export \"{name}\") (param $p i32) (param $n i32) (result i64) {body})\n"
            )
        })
        .collect();
    format!(
        r#"(module
  {imports}
  (memory (export "memory") 2)
  (global $bump (mut i32) (i32.const 8192))
  (data (i32.const {RESPONSE_AT}) "{resp}")
  (func (export "headend_abi_version") (result i32) (i32.const {abi_version}))
  (func (export "headend_alloc") (param $len i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $len)))
    (block $done
      (loop $grow
        (br_if $done (i32.le_u (global.get $bump) (i32.mul (memory.size) (i32.const 65536))))
        (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (br $grow)))
    (local.get $ptr))
  (func (export "headend_free") (param i32 i32))
  {hook_funcs}
)"#,
        resp = wat_bytes(response),
    )
}

/// The canned response as the hook's packed return value.
pub fn respond(response: &[u8]) -> String {
    packed(RESPONSE_AT, response.len())
}

/// A hook body that misbehaves with `bad` only when the device MAC starts
/// with `b` and answers the canned response otherwise. The load-time
/// self-test uses MAC `00:00:5e:00:53:01`, so such a module loads and then
/// fails at run time. With an empty config, the request is
/// `00` (no config entries), `00` (Dhcpv4), `11` (MAC length 17), MAC bytes.
pub fn misbehave_for_b_macs(bad: &str, response: &[u8]) -> String {
    format!(
        "(if (i32.eq (i32.load8_u offset=3 (local.get $p)) (i32.const 0x62)) (then {bad})) {}",
        respond(response)
    )
}

/// Compiles WAT to a `.wasm` file in `dir`.
pub fn wasm_file(dir: &Path, name: &str, wat: &str) -> PathBuf {
    let bytes = wat::parse_str(wat).expect("test WAT parses");
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, bytes).expect("write test module");
    path
}

/// A spec for a test module.
pub fn spec(name: &str, path: PathBuf) -> PluginSpec {
    PluginSpec::new(name, path)
}
