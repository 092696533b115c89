//! Static checks of a vendor module against plugin ABI v1 (`sdk/ABI.md`,
//! `headend_abi` crate docs) before anything runs: the bytes are a core
//! WebAssembly binary (never precompiled native code, never text, never a
//! component), imports are only the documented `headend` functions with their
//! exact types (WASI is refused with a message saying so), and the required
//! exports exist with their exact types.

use headend_abi as abi;
use wasmtime::{ExternType, FuncType, Module, ValType};

use crate::error::LoadErrorKind;
use crate::plugin::Hook;

#[derive(Clone, Copy)]
enum P {
    I32,
    I64,
}

fn is(v: &ValType, p: P) -> bool {
    match p {
        P::I32 => v.is_i32(),
        P::I64 => v.is_i64(),
    }
}

fn sig_is(ft: &FuncType, params: &[P], results: &[P]) -> bool {
    ft.params().len() == params.len()
        && ft.results().len() == results.len()
        && ft.params().zip(params).all(|(v, p)| is(&v, *p))
        && ft.results().zip(results).all(|(v, p)| is(&v, *p))
}

/// The host imports of module `headend`: name, params, results, signature text.
const IMPORTS: [(&str, &[P], &[P], &str); 5] = [
    (
        "log",
        &[P::I32, P::I32, P::I32],
        &[],
        "(level: i32, ptr: i32, len: i32)",
    ),
    ("now_unix_ms", &[], &[P::I64], "() -> i64"),
    (
        "kv_get",
        &[P::I32, P::I32, P::I32, P::I32],
        &[P::I32],
        "(kptr: i32, klen: i32, vptr: i32, vcap: i32) -> i32",
    ),
    (
        "kv_put",
        &[P::I32, P::I32, P::I32, P::I32],
        &[P::I32],
        "(kptr: i32, klen: i32, vptr: i32, vlen: i32) -> i32",
    ),
    (
        "kv_delete",
        &[P::I32, P::I32],
        &[P::I32],
        "(kptr: i32, klen: i32) -> i32",
    ),
];

/// Checks that `bytes` is a core WebAssembly module in binary form.
pub(crate) fn check_wasm_bytes(bytes: &[u8]) -> Result<(), LoadErrorKind> {
    if wasmtime::Engine::detect_precompiled(bytes).is_some() {
        return Err(LoadErrorKind::NotWasm("precompiled native code"));
    }
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => Ok(()),
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => {
            Err(LoadErrorKind::NotWasm("a component, not a core module"))
        }
        Some([0, b'a', b's', b'm', ..]) => Err(LoadErrorKind::NotWasm("unknown binary version")),
        _ => Err(LoadErrorKind::NotWasm("no \\0asm header")),
    }
}

/// Checks the module's imports.
pub(crate) fn check_imports(module: &Module) -> Result<(), LoadErrorKind> {
    for import in module.imports() {
        let (m, name) = (import.module(), import.name());
        if m.starts_with("wasi") {
            return Err(LoadErrorKind::Wasi {
                module: m.to_string(),
                name: name.to_string(),
            });
        }
        let known = (m == abi::IMPORT_MODULE)
            .then(|| IMPORTS.iter().find(|(n, ..)| *n == name))
            .flatten();
        let Some((_, params, results, text)) = known else {
            return Err(LoadErrorKind::UnknownImport {
                module: m.to_string(),
                name: name.to_string(),
            });
        };
        let ok = match import.ty() {
            ExternType::Func(ft) => sig_is(&ft, params, results),
            _ => false,
        };
        if !ok {
            return Err(LoadErrorKind::ImportType {
                name: name.to_string(),
                expected: text,
            });
        }
    }
    Ok(())
}

fn check_func(
    module: &Module,
    name: &'static str,
    params: &[P],
    results: &[P],
    expected: &'static str,
) -> Result<bool, LoadErrorKind> {
    match module.get_export(name) {
        None => Ok(false),
        Some(ExternType::Func(ft)) if sig_is(&ft, params, results) => Ok(true),
        Some(_) => Err(LoadErrorKind::ExportType { name, expected }),
    }
}

fn require_func(
    module: &Module,
    name: &'static str,
    params: &[P],
    results: &[P],
    expected: &'static str,
) -> Result<(), LoadErrorKind> {
    if check_func(module, name, params, results, expected)? {
        Ok(())
    } else {
        Err(LoadErrorKind::MissingExport(name))
    }
}

/// Checks the module's exports; returns which hooks it exports.
pub(crate) fn check_exports(module: &Module) -> Result<[bool; 3], LoadErrorKind> {
    match module.get_export("memory") {
        Some(ExternType::Memory(m)) if !m.is_64() && !m.is_shared() => {}
        Some(_) => {
            return Err(LoadErrorKind::ExportType {
                name: "memory",
                expected: "an unshared 32-bit memory",
            })
        }
        None => return Err(LoadErrorKind::MissingExport("memory")),
    }
    require_func(module, abi::EXPORT_ABI_VERSION, &[], &[P::I32], "() -> i32")?;
    require_func(
        module,
        abi::EXPORT_ALLOC,
        &[P::I32],
        &[P::I32],
        "(len: i32) -> i32",
    )?;
    require_func(
        module,
        abi::EXPORT_FREE,
        &[P::I32, P::I32],
        &[],
        "(ptr: i32, len: i32)",
    )?;
    let mut hooks = [false; 3];
    for hook in Hook::ALL {
        hooks[hook.index()] = check_func(
            module,
            hook.export_name(),
            &[P::I32, P::I32],
            &[P::I64],
            "(ptr: i32, len: i32) -> i64",
        )?;
    }
    if hooks == [false; 3] {
        return Err(LoadErrorKind::NoHooks);
    }
    Ok(hooks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasm_header_is_required() {
        assert!(check_wasm_bytes(b"\0asm\x01\0\0\0").is_ok());
        assert!(matches!(
            check_wasm_bytes(b"(module)"),
            Err(LoadErrorKind::NotWasm(_))
        ));
        assert!(matches!(
            check_wasm_bytes(b"\0asm\x0d\0\x01\0"),
            Err(LoadErrorKind::NotWasm("a component, not a core module"))
        ));
        assert!(matches!(
            check_wasm_bytes(b"\0asm"),
            Err(LoadErrorKind::NotWasm(_))
        ));
        assert!(matches!(
            check_wasm_bytes(b"\x7fELF\x02\x01\x01\0"),
            Err(LoadErrorKind::NotWasm(_))
        ));
    }
}
