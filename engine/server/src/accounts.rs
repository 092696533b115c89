//! The in-memory account table: every stored account, loaded at start-up and
//! written through the group committer. Accounts declared in the
//! configuration take precedence over stored ones (they are the operator's
//! word), so moving a device between domains is an edit and a reload.
//!
//! This is also the one account step of every server (seed 004 sections 2
//! and 3, "Accounts" and "Auto-provisioning"): [`AccountTable::lookup`]
//! (configuration first, then the store) and [`AccountTable::resolve`]
//! (lookup, else the auto-provisioning expression for a new device), used
//! alike by DHCPv4, DHCPv6 and the config server.

use std::collections::HashMap;
use std::sync::Arc;

use headend_model::expr::EvalContext;
use headend_model::snapshot::{canonical_domain, Snapshot};
use headend_model::trace::Trace;
use headend_store::{Account, AccountSource, UnixTime};
use parking_lot::RwLock;
use tracing::{debug, warn};

use crate::counters::{Counters, Event, Family};

/// The account of a device, and whether it was created by this exchange.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The account the device is provisioned under.
    pub account: Account,
    /// A new auto-provisioned account, not yet in the table: the exchange
    /// hands it to [`AccountTable::adopt`] with its first binding's commit,
    /// and drops it otherwise.
    pub new: Option<Account>,
}

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

    /// An account by id: declared in the configuration first (the
    /// operator's word), then stored.
    pub fn lookup(&self, snap: &Snapshot, id: &str) -> Option<Account> {
        snap.accounts.get(id).cloned().or_else(|| self.get(id))
    }

    /// The account of device `id`; a device without one is auto-provisioned
    /// into the domains the `[provisioning] auto_provision` expression
    /// returns for `ctx` (unknown domains are ignored with a warning). A
    /// failed expression gives no domains for this exchange and stores
    /// nothing, so the device is classified again next time.
    ///
    /// Nothing is added to the table here: a DISCOVER or SOLICIT flood of
    /// random MACs or DUIDs must not create an account per packet (issue 21).
    /// The new account is returned for the exchange to [`AccountTable::adopt`]
    /// with the commit of its first binding; until then the device is
    /// classified afresh at each message, which is deterministic for the
    /// same packet facts and costs memory nothing.
    pub fn resolve(
        &self,
        snap: &Snapshot,
        id: &str,
        ctx: &Arc<EvalContext>,
        now: UnixTime,
        counters: &Counters,
        trace: &mut Trace,
    ) -> Resolved {
        if let Some(a) = self.lookup(snap, id) {
            trace.note(|| format!("account {} ({:?}): domains {:?}", a.id, a.source, a.domains));
            return Resolved {
                account: a,
                new: None,
            };
        }
        let (domains, classified) = match &snap.auto_provision {
            Some(expr) => match snap
                .exprs
                .session_shared(ctx.clone())
                .eval_string_list(expr)
            {
                Ok(d) => (d, true),
                Err(e) => {
                    counters.expression_failed(e.kind.as_str());
                    warn!(account = %id, error = %e, "auto-provisioning expression failed");
                    (Vec::new(), false)
                }
            },
            None => (Vec::new(), true),
        };
        let domains: Vec<String> = domains
            .into_iter()
            .map(|d| canonical_domain(&d))
            .filter(|d| {
                let ok = snap.has_domain(d);
                if !ok {
                    warn!(domain = %d, "auto-provisioning returned an unknown domain; ignored");
                }
                ok
            })
            .collect();
        trace.note(|| format!("no account {id}: auto-provisioned into {domains:?}"));
        let account = Account {
            id: id.to_string(),
            domains,
            attributes: Default::default(),
            created: now,
            source: AccountSource::AutoProvisioned,
        };
        let new = (classified && snap.store_accounts).then(|| account.clone());
        Resolved { account, new }
    }

    /// Takes `new` (a [`Resolved::new`]) into the table as the exchange
    /// commits the device's first binding; returns the mutation that
    /// persists it in the same batch as the binding, or `None` if another
    /// exchange of the same device got there first.
    pub fn adopt(
        &self,
        new: Account,
        counters: &Counters,
        family: Family,
    ) -> Option<headend_store::Mutation> {
        if !self.insert_new(new.clone()) {
            return None;
        }
        counters.count_in(family, Event::AutoProvisioned);
        debug!(account = %new.id, domains = ?new.domains, "auto-provisioned");
        Some(headend_store::Mutation::PutAccount(new))
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
