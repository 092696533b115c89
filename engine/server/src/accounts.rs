//! The in-memory account table: every stored account, loaded at start-up and
//! written through the group committer. Accounts declared in the
//! configuration take precedence over stored ones (they are the operator's
//! word), so moving a device between domains is an edit and a reload.

use std::collections::HashMap;

use headend_store::Account;
use parking_lot::RwLock;

/// Accounts by id.
#[derive(Debug, Default)]
pub struct AccountTable {
    map: RwLock<HashMap<String, Account>>,
}

impl AccountTable {
    /// A table holding `accounts`.
    pub fn load(accounts: Vec<Account>) -> Self {
        AccountTable {
            map: RwLock::new(accounts.into_iter().map(|a| (a.id.clone(), a)).collect()),
        }
    }

    /// One account.
    pub fn get(&self, id: &str) -> Option<Account> {
        self.map.read().get(id).cloned()
    }

    /// Inserts or replaces an account.
    pub fn put(&self, account: Account) {
        self.map.write().insert(account.id.clone(), account);
    }

    /// Inserts `account` unless one with its id exists; returns whether it was inserted.
    pub fn insert_new(&self, account: Account) -> bool {
        let mut m = self.map.write();
        if m.contains_key(&account.id) {
            return false;
        }
        m.insert(account.id.clone(), account);
        true
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.map.read().len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.map.read().is_empty()
    }
}
