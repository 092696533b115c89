//! The [`Coordinator`] on PostgreSQL (issue 16): the `cluster_nodes` and
//! `cluster_buckets` tables of schema version 2, each call one short
//! transaction in plain SQL (no advisory locks, `LISTEN` or sequences, as
//! the rest of this crate).
//!
//! Liveness is a lease on a row: a node's `expires` is the database's
//! `now()` plus its TTL at its last heartbeat, so only the database's clock
//! counts. Fencing is an epoch: registering again or being fenced bumps it,
//! and every batch a joined [`crate::PgStore`] writes first takes a share
//! lock on the node's row and checks the epoch; the fence's `UPDATE` waits
//! for those locks, so once it commits no write of the old epoch can.
//! A bucket is taken from another node only when that node's epoch has
//! moved on from the one it owned the bucket at (the SQL checks it, not
//! only the caller).

use headend_store::cluster::{BucketRow, BucketSet, ClusterView, Coordinator, NodeRow};
use headend_store::{Lease4, Lease6, StoreError};
use postgres::{Client, NoTls};

use crate::{backend, from_json, PgError};

/// A node's own connection for the cluster tables.
pub struct PgCoordinator {
    client: Client,
    url: String,
}

impl std::fmt::Debug for PgCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCoordinator").finish_non_exhaustive()
    }
}

impl PgCoordinator {
    /// Connects to the database at `url` (call from a thread that is not a
    /// tokio worker: the client runs a runtime of its own).
    pub fn connect(url: &str) -> Result<PgCoordinator, PgError> {
        let client = Client::connect(url, NoTls).map_err(PgError::Connect)?;
        Ok(PgCoordinator {
            client,
            url: url.to_string(),
        })
    }

    /// Reconnects after the database went away (a failed attempt is the
    /// call's error; the next call tries again).
    fn ensure(&mut self) -> Result<(), StoreError> {
        if self.client.is_closed() {
            self.client = Client::connect(&self.url, NoTls)
                .map_err(|e| StoreError::Backend(format!("database: {e}")))?;
        }
        Ok(())
    }
}

fn ttl(ms: u64) -> f64 {
    ms as f64
}

fn buckets_arg(set: &BucketSet) -> Vec<i16> {
    set.iter().map(i16::from).collect()
}

impl Coordinator for PgCoordinator {
    fn register(
        &mut self,
        node: &str,
        ttl_ms: u64,
        config_hash: &str,
        version: &str,
    ) -> Result<i64, StoreError> {
        self.ensure()?;
        let row = self
            .client
            .query_one(
                "INSERT INTO cluster_nodes (node, epoch, expires, seen, started, leaving, config_hash, version) \
                 VALUES ($1, 1, now() + $2::float8 * interval '1 millisecond', now(), now(), false, $3, $4) \
                 ON CONFLICT (node) DO UPDATE SET epoch = cluster_nodes.epoch + 1, \
                 expires = EXCLUDED.expires, seen = now(), started = now(), leaving = false, \
                 config_hash = EXCLUDED.config_hash, version = EXCLUDED.version \
                 RETURNING epoch",
                &[&node, &ttl(ttl_ms), &config_hash, &version],
            )
            .map_err(backend)?;
        Ok(row.get(0))
    }

    fn heartbeat(
        &mut self,
        node: &str,
        epoch: i64,
        ttl_ms: u64,
        config_hash: &str,
        leaving: bool,
    ) -> Result<bool, StoreError> {
        self.ensure()?;
        let n = self
            .client
            .execute(
                "UPDATE cluster_nodes SET expires = now() + $3::float8 * interval '1 millisecond', \
                 seen = now(), config_hash = $4, leaving = $5 WHERE node = $1 AND epoch = $2",
                &[&node, &epoch, &ttl(ttl_ms), &config_hash, &leaving],
            )
            .map_err(backend)?;
        Ok(n == 1)
    }

    fn view(&mut self) -> Result<ClusterView, StoreError> {
        self.ensure()?;
        let mut tx = self.client.transaction().map_err(backend)?;
        let nodes = tx
            .query(
                "SELECT node, epoch, expires > now(), leaving, config_hash, version, \
                 (extract(epoch from (now() - seen)) * 1000)::int8 FROM cluster_nodes ORDER BY node",
                &[],
            )
            .map_err(backend)?
            .into_iter()
            .map(|r| NodeRow {
                name: r.get(0),
                epoch: r.get(1),
                live: r.get(2),
                leaving: r.get(3),
                config_hash: r.get(4),
                version: r.get(5),
                silent_ms: r.get(6),
            })
            .collect();
        let buckets = tx
            .query(
                "SELECT bucket, owner, owner_epoch FROM cluster_buckets ORDER BY bucket",
                &[],
            )
            .map_err(backend)?
            .into_iter()
            .filter_map(|r| {
                Some(BucketRow {
                    bucket: u8::try_from(r.get::<_, i16>(0)).ok()?,
                    owner: r.get(1),
                    owner_epoch: r.get(2),
                })
            })
            .collect();
        tx.commit().map_err(backend)?;
        Ok(ClusterView { nodes, buckets })
    }

    fn fence(&mut self, node: &str, epoch: i64) -> Result<bool, StoreError> {
        self.ensure()?;
        let n = self
            .client
            .execute(
                "UPDATE cluster_nodes SET epoch = epoch + 1 \
                 WHERE node = $1 AND epoch = $2 AND expires <= now()",
                &[&node, &epoch],
            )
            .map_err(backend)?;
        Ok(n == 1)
    }

    fn claim(
        &mut self,
        node: &str,
        epoch: i64,
        buckets: &[(u8, Option<(String, i64)>)],
    ) -> Result<Vec<u8>, StoreError> {
        self.ensure()?;
        let mut tx = self.client.transaction().map_err(backend)?;
        let mut taken = Vec::new();
        for (b, prev) in buckets {
            let bucket = i16::from(*b);
            let n = match prev {
                None => tx.execute(
                    "INSERT INTO cluster_buckets (bucket, owner, owner_epoch, changed) \
                     VALUES ($1, $2, $3, now()) ON CONFLICT (bucket) DO NOTHING",
                    &[&bucket, &node, &epoch],
                ),
                // Never from an owner still at the epoch it took the bucket
                // at: that incarnation must have been fenced (or replaced).
                Some((owner, owner_epoch)) => tx.execute(
                    "UPDATE cluster_buckets SET owner = $2, owner_epoch = $3, changed = now() \
                     WHERE bucket = $1 AND owner = $4 AND owner_epoch = $5 \
                     AND NOT EXISTS (SELECT 1 FROM cluster_nodes n WHERE n.node = $4 AND n.epoch = $5)",
                    &[&bucket, &node, &epoch, owner, owner_epoch],
                ),
            }
            .map_err(backend)?;
            if n == 1 {
                taken.push(*b);
            }
        }
        tx.commit().map_err(backend)?;
        Ok(taken)
    }

    fn hand_over(
        &mut self,
        node: &str,
        epoch: i64,
        buckets: &[u8],
        to: &str,
        to_epoch: i64,
    ) -> Result<Vec<u8>, StoreError> {
        self.ensure()?;
        let list: Vec<i16> = buckets.iter().map(|b| i16::from(*b)).collect();
        let rows = self
            .client
            .query(
                "UPDATE cluster_buckets SET owner = $4, owner_epoch = $5, changed = now() \
                 WHERE bucket = ANY($3::int2[]) AND owner = $1 AND owner_epoch = $2 RETURNING bucket",
                &[&node, &epoch, &list, &to, &to_epoch],
            )
            .map_err(backend)?;
        Ok(rows
            .iter()
            .filter_map(|r| u8::try_from(r.get::<_, i16>(0)).ok())
            .collect())
    }

    fn leases4_in(&mut self, buckets: &BucketSet) -> Result<Vec<Lease4>, StoreError> {
        self.ensure()?;
        let rows = self
            .client
            .query(
                "SELECT record FROM leases4 WHERE bucket = ANY($1::int2[])",
                &[&buckets_arg(buckets)],
            )
            .map_err(backend)?;
        decode(rows, "leases4")
    }

    fn leases6_in(&mut self, buckets: &BucketSet) -> Result<Vec<Lease6>, StoreError> {
        self.ensure()?;
        let rows = self
            .client
            .query(
                "SELECT record FROM leases6 WHERE bucket = ANY($1::int2[])",
                &[&buckets_arg(buckets)],
            )
            .map_err(backend)?;
        decode(rows, "leases6")
    }
}

/// The records of `rows`; an undecodable one is skipped and logged (the
/// start-up load reports it too), so one bad row cannot stop a takeover.
fn decode<T: serde::de::DeserializeOwned>(
    rows: Vec<postgres::Row>,
    tree: &'static str,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let v: serde_json::Value = r.try_get(0).map_err(backend)?;
        match from_json(tree, v) {
            Ok(t) => out.push(t),
            Err(e) => tracing::error!(error = %e, "skipping an undecodable {tree} record"),
        }
    }
    Ok(out)
}
