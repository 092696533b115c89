//! The audit log (issue 13 "Access control and audit"; seed 004 section 1.2
//! "auditing"): every change made through the management plane — who, when,
//! from where, what, the record before and after — and every refused or
//! failed login, in the store's `Audit` record table. An entry is committed
//! in the same batch as the change it describes, so the log never misses a
//! change and never shows one that did not happen.

use std::sync::atomic::{AtomicU64, Ordering};

use headend_store::{Mutation, RecordTable, Store, StoreError};
use serde::{Deserialize, Serialize};

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Its key (time-ordered; `before=` pages with it).
    pub id: String,
    /// When (milliseconds since the Unix epoch).
    pub at_ms: u64,
    /// The user (or the name tried, for a failed login).
    pub user: String,
    /// The client address.
    pub from: String,
    /// What was done: `account.create`, `config.reload`, `login.failed`, …
    pub action: String,
    /// What it was done to (an account id, a user name, the config path).
    pub target: String,
    /// `ok`, `refused` or `failed`.
    pub outcome: String,
    /// The record before (null when none).
    #[schema(value_type = Object)]
    pub before: serde_json::Value,
    /// The record after (null when none).
    #[schema(value_type = Object)]
    pub after: serde_json::Value,
    /// Why, for a refusal or failure.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A new entry stamped now, with a unique time-ordered key.
pub fn entry(
    user: &str,
    from: &str,
    action: &str,
    target: &str,
    outcome: &str,
    before: serde_json::Value,
    after: serde_json::Value,
) -> AuditEntry {
    let at_ms = headend_server::shared::timeline::now_ms();
    let seq = SEQ.fetch_add(1, Ordering::Relaxed) % 1_000_000;
    AuditEntry {
        // 13 digits of milliseconds last until the year 2286.
        id: format!("{at_ms:013}-{seq:06}"),
        at_ms,
        user: user.to_string(),
        from: from.to_string(),
        action: action.to_string(),
        target: target.to_string(),
        outcome: outcome.to_string(),
        before,
        after,
        detail: String::new(),
    }
}

impl AuditEntry {
    /// This entry with a reason.
    pub fn because(mut self, detail: impl Into<String>) -> AuditEntry {
        self.detail = detail.into();
        self
    }

    /// The mutation that stores it.
    pub fn mutation(&self) -> Mutation {
        Mutation::PutRecord {
            table: RecordTable::Audit,
            key: self.id.clone(),
            value: serde_json::to_vec(self).unwrap_or_default(),
        }
    }
}

/// Which entries to read.
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this user's.
    pub user: Option<String>,
    /// Only actions starting with this (`account.`, `login`).
    pub action: Option<String>,
    /// Only about this target.
    pub target: Option<String>,
    /// Only entries older than this id (the previous page's last).
    pub before: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// Entries matching `q`, newest first; looks at no more than 100,000
/// entries per call (the next page continues with `before`).
pub fn read(store: &dyn Store, q: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
    const PAGE: usize = 1000;
    const SCAN_MAX: usize = 100_000;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let mut out = Vec::new();
    let mut before = q.before.clone();
    let mut scanned = 0;
    while out.len() < limit && scanned < SCAN_MAX {
        let page = store.records(RecordTable::Audit, before.as_deref(), PAGE)?;
        let n = page.len();
        scanned += n;
        for (k, v) in page {
            before = Some(k);
            let Ok(e) = serde_json::from_slice::<AuditEntry>(&v) else {
                continue;
            };
            let keep = q.user.as_ref().is_none_or(|u| *u == e.user)
                && q.action
                    .as_ref()
                    .is_none_or(|a| e.action.starts_with(a.as_str()))
                && q.target.as_ref().is_none_or(|t| *t == e.target);
            if keep {
                out.push(e);
                if out.len() == limit {
                    break;
                }
            }
        }
        if n < PAGE {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use headend_store::MemoryStore;
    use serde_json::Value::Null;

    #[test]
    fn entries_are_read_newest_first_with_filters_and_pages() {
        let s = MemoryStore::new();
        let mut ids = Vec::new();
        for i in 0..5 {
            let e = entry(
                if i % 2 == 0 { "alice" } else { "bob" },
                "127.0.0.1",
                if i < 3 {
                    "account.create"
                } else {
                    "login.failed"
                },
                &format!("t{i}"),
                "ok",
                Null,
                Null,
            );
            ids.push(e.id.clone());
            s.apply(&[e.mutation()]).unwrap();
        }
        let all = read(&s, &AuditQuery::default()).unwrap();
        assert_eq!(
            all.iter().map(|e| e.target.as_str()).collect::<Vec<_>>(),
            ["t4", "t3", "t2", "t1", "t0"]
        );
        let q = AuditQuery {
            user: Some("alice".into()),
            action: Some("account.".into()),
            ..Default::default()
        };
        let got = read(&s, &q).unwrap();
        assert_eq!(
            got.iter().map(|e| e.target.as_str()).collect::<Vec<_>>(),
            ["t2", "t0"]
        );
        let q = AuditQuery {
            before: Some(ids[3].clone()),
            limit: Some(2),
            ..Default::default()
        };
        let got = read(&s, &q).unwrap();
        assert_eq!(
            got.iter().map(|e| e.target.as_str()).collect::<Vec<_>>(),
            ["t2", "t1"]
        );
    }
}
