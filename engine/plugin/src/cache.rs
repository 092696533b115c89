//! Our own compile cache (issue 3: "modules compiled once and cached
//! (`Module::serialize`, keyed by the engine's compatibility hash); only
//! `.wasm` is ever accepted from a vendor, never precompiled native code").
//!
//! An entry is `<dir>/<key>.cwasm` where `key` is the SHA-256 of the vendor's
//! `.wasm` bytes and of `Engine::precompile_compatibility_hash`, so a new
//! wasmtime or different engine settings never reuse stale code. The file is
//! `Module::serialize` output followed by its own SHA-256, written to a
//! temporary name and renamed, so a reader sees either nothing or exactly
//! what this module wrote; a checksum mismatch or a deserialize error falls
//! back to compiling the `.wasm` and rewriting the entry.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

/// Feeds `Hash` output into SHA-256 so the compatibility hash becomes part of
/// the key deterministically (std's `DefaultHasher` may change between Rust
/// releases, which would only cost misses, but SHA-256 costs nothing more).
struct ShaHasher<'a>(&'a mut Sha256);

impl Hasher for ShaHasher<'_> {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// The cache key of `wasm` for `engine` (hex SHA-256).
pub(crate) fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    let mut sha = Sha256::new();
    sha.update(b"headend-plugin cache v1\0");
    sha.update(Sha256::digest(wasm));
    engine
        .precompile_compatibility_hash()
        .hash(&mut ShaHasher(&mut sha));
    hex(&sha.finalize())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// Where compiled modules are kept.
#[derive(Debug, Clone)]
pub(crate) struct CompileCache {
    dir: PathBuf,
}

/// How a module was obtained (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Loaded from the cache.
    Cached,
    /// Compiled from the `.wasm` bytes.
    Compiled,
}

impl CompileCache {
    pub(crate) fn new(dir: PathBuf) -> std::io::Result<CompileCache> {
        fs::create_dir_all(&dir)?;
        Ok(CompileCache { dir })
    }

    fn entry(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cwasm"))
    }

    /// The module for `wasm`: from the cache when a valid entry exists,
    /// otherwise compiled (and stored; storing failures are only logged).
    pub(crate) fn module(
        &self,
        engine: &Engine,
        wasm: &[u8],
    ) -> Result<(Module, Origin), wasmtime::Error> {
        let key = cache_key(engine, wasm);
        let path = self.entry(&key);
        if let Ok(file) = fs::read(&path) {
            match verified_payload(&file) {
                Some(payload) => match deserialize_own_file(engine, payload) {
                    Ok(m) => return Ok((m, Origin::Cached)),
                    Err(e) => tracing::warn!(
                        path = %path.display(),
                        "plugin cache entry rejected by wasmtime, recompiling: {e}"
                    ),
                },
                None => tracing::warn!(
                    path = %path.display(),
                    "plugin cache entry fails its checksum, recompiling"
                ),
            }
        }
        let module = Module::from_binary(engine, wasm)?;
        if let Err(e) = self.store(&path, &module) {
            tracing::warn!(path = %path.display(), "cannot write plugin cache entry: {e}");
        }
        Ok((module, Origin::Compiled))
    }

    fn store(&self, path: &Path, module: &Module) -> Result<(), Box<dyn std::error::Error>> {
        let mut bytes = module.serialize()?;
        let sum = Sha256::digest(&bytes);
        bytes.extend_from_slice(&sum);
        // Unique temporary name: two engines (or two loads) may store the same key at once.
        let tmp = self.dir.join(format!(
            ".{}.{}.{:?}.tmp",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
            std::process::id(),
            std::thread::current().id()
        ));
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        Ok(())
    }
}

/// The serialized module inside a cache file, if its trailing SHA-256 matches.
fn verified_payload(file: &[u8]) -> Option<&[u8]> {
    let split = file.len().checked_sub(32)?;
    let (payload, sum) = file.split_at(split);
    (Sha256::digest(payload).as_slice() == sum).then_some(payload)
}

/// Loads a module this crate serialized into its own cache directory.
#[allow(unsafe_code)]
fn deserialize_own_file(engine: &Engine, payload: &[u8]) -> Result<Module, wasmtime::Error> {
    // SAFETY: `Module::deserialize` requires bytes produced by
    // `Module::serialize` (native code is trusted, not validated). `payload`
    // comes only from a file in the engine's own cache directory that
    // `CompileCache::store` wrote from `Module::serialize` output, renamed
    // into place atomically, and whose trailing SHA-256 was just verified, so
    // it is exactly what wasmtime produced. wasmtime itself still checks the
    // header and the compatibility of the engine settings. Vendor files never
    // reach this function: they are compiled from `.wasm` bytes only.
    unsafe { Module::deserialize(engine, payload) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_guards_the_payload() {
        let payload = b"serialized module";
        let mut file = payload.to_vec();
        file.extend_from_slice(&Sha256::digest(payload));
        assert_eq!(verified_payload(&file), Some(&payload[..]));
        let mut bad = file.clone();
        bad[0] ^= 1;
        assert_eq!(verified_payload(&bad), None);
        assert_eq!(verified_payload(&file[..20]), None);
        assert_eq!(verified_payload(&[]), None);
    }

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }
}
