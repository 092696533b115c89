//! Plugin-scoped key/value storage behind the `headend::kv_get`, `kv_put` and
//! `kv_delete` imports (issue 3, "plugin-scoped key/value storage in the store
//! if a hook needs state"; signatures in `sdk/ABI.md`).
//!
//! Keys are namespaced by plugin name (`name NUL key`), so one plugin can never
//! read or overwrite another's state; plugin names cannot contain NUL (the
//! loader only accepts `[A-Za-z0-9._-]`). Key and value sizes are bounded so a
//! plugin cannot fill the engine's database with one call.

use std::collections::HashMap;

use parking_lot::RwLock;

/// Longest key a plugin may use, in bytes.
pub const MAX_KV_KEY_LEN: usize = 256;
/// Longest value a plugin may store, in bytes.
pub const MAX_KV_VALUE_LEN: usize = 64 * 1024;

/// Why a key/value operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// The key is empty or longer than [`MAX_KV_KEY_LEN`].
    #[error("key length {0} outside 1..={MAX_KV_KEY_LEN}")]
    KeySize(usize),
    /// The value is longer than [`MAX_KV_VALUE_LEN`].
    #[error("value length {0} above {MAX_KV_VALUE_LEN}")]
    ValueSize(usize),
    /// The backing store failed.
    #[error("storage: {0}")]
    Storage(String),
}

/// Plugin-scoped key/value storage; `plugin` is the namespace.
pub trait PluginKv: Send + Sync + 'static {
    /// The value stored under `key`, if any.
    fn get(&self, plugin: &str, key: &[u8]) -> Result<Option<Vec<u8>>, KvError>;
    /// Stores `value` under `key`.
    fn put(&self, plugin: &str, key: &[u8], value: &[u8]) -> Result<(), KvError>;
    /// Removes `key`; whether it existed.
    fn delete(&self, plugin: &str, key: &[u8]) -> Result<bool, KvError>;
}

fn check_key(key: &[u8]) -> Result<(), KvError> {
    if key.is_empty() || key.len() > MAX_KV_KEY_LEN {
        Err(KvError::KeySize(key.len()))
    } else {
        Ok(())
    }
}

fn check_value(value: &[u8]) -> Result<(), KvError> {
    if value.len() > MAX_KV_VALUE_LEN {
        Err(KvError::ValueSize(value.len()))
    } else {
        Ok(())
    }
}

fn namespaced(plugin: &str, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(plugin.len() + 1 + key.len());
    k.extend_from_slice(plugin.as_bytes());
    k.push(0);
    k.extend_from_slice(key);
    k
}

/// In-memory storage (tests, self-tests, engines without a database); lost on restart.
#[derive(Debug, Default)]
pub struct MemoryKv {
    map: RwLock<HashMap<Vec<u8>, Vec<u8>>>,
}

impl MemoryKv {
    /// An empty store.
    pub fn new() -> MemoryKv {
        MemoryKv::default()
    }

    /// Number of keys over all plugins.
    pub fn len(&self) -> usize {
        self.map.read().len()
    }

    /// Whether no plugin stored anything.
    pub fn is_empty(&self) -> bool {
        self.map.read().is_empty()
    }
}

impl PluginKv for MemoryKv {
    fn get(&self, plugin: &str, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        check_key(key)?;
        Ok(self.map.read().get(&namespaced(plugin, key)).cloned())
    }

    fn put(&self, plugin: &str, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        check_key(key)?;
        check_value(value)?;
        self.map
            .write()
            .insert(namespaced(plugin, key), value.to_vec());
        Ok(())
    }

    fn delete(&self, plugin: &str, key: &[u8]) -> Result<bool, KvError> {
        check_key(key)?;
        Ok(self.map.write().remove(&namespaced(plugin, key)).is_some())
    }
}

/// Storage in a tree of the engine's sled database (survives restarts).
#[derive(Debug, Clone)]
pub struct SledKv {
    tree: sled::Tree,
}

impl SledKv {
    /// Stores plugin state in `tree` (the engine opens it, e.g. `db.open_tree("plugin-kv")`).
    pub fn new(tree: sled::Tree) -> SledKv {
        SledKv { tree }
    }
}

fn storage(e: sled::Error) -> KvError {
    KvError::Storage(e.to_string())
}

impl PluginKv for SledKv {
    fn get(&self, plugin: &str, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        check_key(key)?;
        Ok(self
            .tree
            .get(namespaced(plugin, key))
            .map_err(storage)?
            .map(|v| v.to_vec()))
    }

    fn put(&self, plugin: &str, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        check_key(key)?;
        check_value(value)?;
        self.tree
            .insert(namespaced(plugin, key), value)
            .map_err(storage)?;
        Ok(())
    }

    fn delete(&self, plugin: &str, key: &[u8]) -> Result<bool, KvError> {
        check_key(key)?;
        Ok(self
            .tree
            .remove(namespaced(plugin, key))
            .map_err(storage)?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(kv: &dyn PluginKv) {
        assert_eq!(kv.get("a", b"k").unwrap(), None);
        kv.put("a", b"k", b"one").unwrap();
        kv.put("b", b"k", b"two").unwrap();
        assert_eq!(kv.get("a", b"k").unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(kv.get("b", b"k").unwrap().as_deref(), Some(&b"two"[..]));
        // "a" + NUL + "\0k" must not alias "a\0" + NUL + "k": names never hold NUL,
        // so the first NUL always ends the namespace.
        assert_eq!(kv.get("a", b"\0k").unwrap(), None);
        assert!(kv.delete("a", b"k").unwrap());
        assert!(!kv.delete("a", b"k").unwrap());
        assert_eq!(kv.get("a", b"k").unwrap(), None);
        assert_eq!(kv.get("b", b"k").unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(kv.put("a", b"", b"x"), Err(KvError::KeySize(0)));
        let long_key = vec![b'k'; MAX_KV_KEY_LEN + 1];
        assert_eq!(
            kv.get("a", &long_key),
            Err(KvError::KeySize(MAX_KV_KEY_LEN + 1))
        );
        let max_key = vec![b'k'; MAX_KV_KEY_LEN];
        let max_value = vec![7u8; MAX_KV_VALUE_LEN];
        kv.put("a", &max_key, &max_value).unwrap();
        assert_eq!(kv.get("a", &max_key).unwrap(), Some(max_value));
        let big = vec![0u8; MAX_KV_VALUE_LEN + 1];
        assert_eq!(
            kv.put("a", b"k", &big),
            Err(KvError::ValueSize(MAX_KV_VALUE_LEN + 1))
        );
    }

    #[test]
    fn memory_kv_namespaces_and_bounds() {
        let kv = MemoryKv::new();
        exercise(&kv);
        assert_eq!(kv.len(), 2);
    }

    #[test]
    fn sled_kv_namespaces_bounds_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            let kv = SledKv::new(db.open_tree("plugin-kv").unwrap());
            exercise(&kv);
            kv.put("p", b"state", b"kept").unwrap();
            db.flush().unwrap();
        }
        // sled's background flusher can hold the directory's lock for a
        // moment after the last handle is dropped: retry the reopen (bounded).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let db = loop {
            match sled::open(dir.path()) {
                Ok(db) => break db,
                Err(e) if std::time::Instant::now() < deadline => {
                    assert!(e.to_string().contains("could not acquire lock"), "{e}");
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("reopening the store: {e}"),
            }
        };
        let kv = SledKv::new(db.open_tree("plugin-kv").unwrap());
        assert_eq!(
            kv.get("p", b"state").unwrap().as_deref(),
            Some(&b"kept"[..])
        );
    }
}
