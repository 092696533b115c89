//! Plugin key/value state in the shared store (issue 16: everything sled
//! holds lives in the database when `[server] database` is set, so a
//! plugin's state follows its clients from node to node).
//!
//! Each key is a record of [`RecordTable::PluginKv`] named
//! `plugin/hex(key)` (plugin names are `[A-Za-z0-9._-]`, so the first `/`
//! ends the namespace); a put or delete is one batch applied and synced
//! before the call returns, as a sled insert is.

use std::sync::Arc;

use headend_plugin::{KvError, PluginKv, MAX_KV_KEY_LEN, MAX_KV_VALUE_LEN};
use headend_store::{Mutation, RecordTable, Store};

/// [`PluginKv`] over any [`Store`] (the PostgreSQL one in practice).
pub struct StoreKv {
    store: Arc<dyn Store>,
}

impl StoreKv {
    /// Keeps plugin state in `store`.
    pub fn new(store: Arc<dyn Store>) -> StoreKv {
        StoreKv { store }
    }
}

fn record_key(plugin: &str, key: &[u8]) -> Result<String, KvError> {
    if key.is_empty() || key.len() > MAX_KV_KEY_LEN {
        return Err(KvError::KeySize(key.len()));
    }
    Ok(format!("{plugin}/{}", headend_store::hex(key)))
}

fn storage(e: headend_store::StoreError) -> KvError {
    KvError::Storage(e.to_string())
}

impl PluginKv for StoreKv {
    fn get(&self, plugin: &str, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        let k = record_key(plugin, key)?;
        self.store
            .record(RecordTable::PluginKv, &k)
            .map_err(storage)
    }

    fn put(&self, plugin: &str, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        let k = record_key(plugin, key)?;
        if value.len() > MAX_KV_VALUE_LEN {
            return Err(KvError::ValueSize(value.len()));
        }
        self.store
            .apply(&[Mutation::PutRecord {
                table: RecordTable::PluginKv,
                key: k,
                value: value.to_vec(),
            }])
            .and_then(|()| self.store.sync())
            .map_err(storage)
    }

    fn delete(&self, plugin: &str, key: &[u8]) -> Result<bool, KvError> {
        let k = record_key(plugin, key)?;
        let existed = self
            .store
            .record(RecordTable::PluginKv, &k)
            .map_err(storage)?
            .is_some();
        if existed {
            self.store
                .apply(&[Mutation::DeleteRecord {
                    table: RecordTable::PluginKv,
                    key: k,
                }])
                .and_then(|()| self.store.sync())
                .map_err(storage)?;
        }
        Ok(existed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_bounds_and_records() {
        let store: Arc<dyn Store> = Arc::new(headend_store::MemoryStore::default());
        let kv = StoreKv::new(store.clone());
        assert_eq!(kv.get("a", b"k").unwrap(), None);
        kv.put("a", b"k", b"one").unwrap();
        kv.put("b", b"k", b"two").unwrap();
        assert_eq!(kv.get("a", b"k").unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(kv.get("b", b"k").unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(kv.get("a", b"\0k").unwrap(), None);
        assert!(kv.delete("a", b"k").unwrap());
        assert!(!kv.delete("a", b"k").unwrap());
        assert_eq!(kv.get("b", b"k").unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(kv.put("a", b"", b"x"), Err(KvError::KeySize(0)));
        let max_key = vec![0xffu8; MAX_KV_KEY_LEN];
        let max_value = vec![7u8; MAX_KV_VALUE_LEN];
        kv.put("a-plugin.v2", &max_key, &max_value).unwrap();
        assert_eq!(kv.get("a-plugin.v2", &max_key).unwrap(), Some(max_value));
        assert_eq!(
            kv.put("a", b"k", &vec![0u8; MAX_KV_VALUE_LEN + 1]),
            Err(KvError::ValueSize(MAX_KV_VALUE_LEN + 1))
        );
        // Stored as records of their own table.
        let rows = store.records(RecordTable::PluginKv, None, 10).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().any(|(k, v)| k == "b/6b" && v == b"two"));
    }
}
