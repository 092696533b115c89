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

use std::collections::VecDeque;
use std::sync::Arc;

use headend_model::expr::EvalContext;
use headend_model::hash::FastMap;
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

/// Accounts auto-provisioned but not yet bound, kept at most (the oldest
/// are forgotten first: such a device is classified again at its next
/// message, which gives the same domains). A client REQUESTs within
/// milliseconds of its OFFER: 8,192 covers a boot storm of 20,000 new
/// devices a second several times over, at a few MiB under a flood.
pub const MAX_PENDING: usize = 8_192;

/// Accounts by id.
#[derive(Debug, Default)]
pub struct AccountTable {
    map: RwLock<FastMap<String, Account>>,
    /// New devices classified between their DISCOVER/SOLICIT and the
    /// binding that adopts their account, so the REQUEST does not run the
    /// auto-provisioning expression again. Bounded by [`MAX_PENDING`]:
    /// a flood of new MACs costs a fixed amount of memory.
    pending: parking_lot::Mutex<Pending>,
}

/// A bounded first-in first-out map of pending accounts, each with the
/// configuration generation that classified it (a reload may change the
/// auto-provisioning expression, so an older entry is not used).
#[derive(Debug, Default)]
struct Pending {
    map: FastMap<String, (u64, Account)>,
    order: VecDeque<String>,
}

impl Pending {
    fn put(&mut self, generation: u64, a: Account) {
        while self.map.len() >= MAX_PENDING {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        // Taken entries leave their id in `order` (taking is O(1)); drop
        // them once they outnumber the live ones, so `order` stays bounded.
        if self.order.len() >= 2 * MAX_PENDING {
            let map = &self.map;
            self.order.retain(|id| map.contains_key(id));
        }
        if self
            .map
            .insert(a.id.clone(), (generation, a.clone()))
            .is_none()
        {
            self.order.push_back(a.id);
        }
    }

    fn get(&self, generation: u64, id: &str) -> Option<&Account> {
        self.map
            .get(id)
            .filter(|(g, _)| *g == generation)
            .map(|(_, a)| a)
    }

    fn take(&mut self, id: &str) {
        self.map.remove(id);
    }
}

impl AccountTable {
    /// A table holding `accounts`.
    pub fn load(accounts: Vec<Account>) -> Self {
        AccountTable {
            map: RwLock::new(accounts.into_iter().map(|a| (a.id.clone(), a)).collect()),
            pending: Default::default(),
        }
    }

    /// Accounts classified but not yet adopted (at most [`MAX_PENDING`]).
    pub fn pending(&self) -> usize {
        self.pending.lock().map.len()
    }

    /// One account.
    pub fn get(&self, id: &str) -> Option<Account> {
        self.map.read().get(id).cloned()
    }

    /// Inserts or replaces an account.
    pub fn put(&self, account: Account) {
        self.map.write().insert(account.id.clone(), account);
    }

    /// Forgets a stored account (deleted by an operator).
    pub fn remove(&self, id: &str) -> Option<Account> {
        self.map.write().remove(id)
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
    /// with the commit of its first binding; until then it waits in a
    /// bounded pending map ([`MAX_PENDING`]), so the REQUEST after the
    /// DISCOVER does not evaluate the expression again.
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
        if let Some(a) = self.pending.lock().get(snap.generation, id) {
            trace.note(|| {
                format!(
                    "no account {id} yet: classified into {:?} earlier",
                    a.domains
                )
            });
            return Resolved {
                account: a.clone(),
                new: Some(a.clone()),
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
                    trace.note(|| format!("auto-provisioning FAILED: {e}"));
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
        if let Some(a) = &new {
            self.pending.lock().put(snap.generation, a.clone());
        }
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
        self.pending.lock().take(&new.id);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: String) -> Account {
        Account {
            id,
            domains: vec!["cm".into()],
            attributes: Default::default(),
            created: 0,
            source: AccountSource::AutoProvisioned,
        }
    }

    #[test]
    fn pending_accounts_stay_bounded_under_a_flood_and_under_churn() {
        let mut p = Pending::default();
        // A flood of new devices: the oldest are forgotten.
        for i in 0..MAX_PENDING + 100 {
            p.put(1, account(format!("flood-{i}")));
        }
        assert_eq!(p.map.len(), MAX_PENDING);
        assert!(p.get(1, "flood-0").is_none());
        assert!(p.get(1, &format!("flood-{}", MAX_PENDING + 99)).is_some());
        // Another configuration generation does not use them.
        assert!(p.get(2, &format!("flood-{}", MAX_PENDING + 99)).is_none());
        // Devices classified then bound, one after another: `order` does
        // not grow with them.
        let mut p = Pending::default();
        for i in 0..5 * MAX_PENDING {
            let id = format!("dev-{i}");
            p.put(1, account(id.clone()));
            p.take(&id);
        }
        assert!(p.map.is_empty());
        assert!(p.order.len() <= 2 * MAX_PENDING, "{}", p.order.len());
    }
}
