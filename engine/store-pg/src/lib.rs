//! The PostgreSQL backend of [`Store`] (issue 16 "Several headend nodes on
//! one shared store"; seed 004 section 1.2: ACID transactions, SQL queries).
//!
//! Every table sled holds is a plain SQL table: the keys an operator
//! searches by are columns (`leases4.ip`, `.client`, `.relay`; `leases6.address`,
//! `.prefix_len`, `.duid`, `.iaid`; `accounts.id`; …) and the whole record is
//! a `jsonb` column in the serde form the engine uses, so
//! `SELECT record->>'pool', count(*) FROM leases4 GROUP BY 1` works.
//!
//! Only plain SQL is used, so that the schema also runs on databases that
//! speak the PostgreSQL protocol without being PostgreSQL: no stored
//! procedures, triggers, advisory locks, `LISTEN`, sequences or
//! extensions; one transaction per batch; `INSERT … ON CONFLICT … DO UPDATE`
//! for upserts; `COLLATE "C"` on text keys so their order is byte order,
//! as the [`Store`] contract promises.
//!
//! Durability: [`Store::apply`] commits its batch in one transaction before
//! it returns, so with the server's default `synchronous_commit = on` an
//! applied batch is already durable and [`Store::sync`] has nothing left to
//! do — the group committer still calls it, and an ACK still waits for it.
//!
//! Several nodes (schema version 2, [`cluster`]): each lease row also has
//! its client's RFC 3074 `bucket` and `ends`, the second its address stops
//! being occupied (0: released; `i64::MAX`: never). A store that joined a
//! cluster ([`PgStore::join`]) writes leases as *claims*: an address is
//! taken only from the same client or from a record that has ended by the
//! database's clock, so two nodes can never lease one address to two
//! clients, whatever their memories say; a batch with a lost claim has no
//! effect and fails with [`StoreError::Conflict`]. Every batch also takes a
//! share lock on the node's row and checks its epoch (*fencing*): once
//! another node has fenced this one to take its buckets, nothing this
//! node still had in flight can commit.
//!
//! The schema is created and upgraded by [`migrate`] (`headend store
//! migrate`), never implicitly: [`PgStore::connect`] refuses a database
//! whose schema is missing or newer than this build.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};

use headend_store::cluster::{bucket_of_lease4, bucket_of_lease6};
use headend_store::{
    validate, Account, ClientKey, DeviceTimeline, FixedBinding4, Lease4, Lease6, Lease6Key,
    LeaseState, Mutation, RecordTable, Store, StoreError,
};
use parking_lot::Mutex;
use postgres::{Client, NoTls, Statement};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub mod cluster;
pub mod testing;

/// The PostgreSQL client library, for tests and tools that query the tables.
pub use postgres;

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: i32 = 2;

/// Connections a store keeps open by default.
pub const DEFAULT_CONNECTIONS: usize = 4;

/// The migrations, in order: `MIGRATIONS[n]` takes the schema from version
/// `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE leases4 (
    ip bigint PRIMARY KEY,
    client bytea NOT NULL,
    relay bigint NOT NULL,
    record jsonb NOT NULL
);
CREATE INDEX leases4_by_client ON leases4 (client, ip);
CREATE INDEX leases4_by_relay ON leases4 (relay, ip);
CREATE TABLE leases6 (
    address bytea NOT NULL,
    prefix_len smallint NOT NULL,
    duid bytea NOT NULL,
    iaid bigint NOT NULL,
    record jsonb NOT NULL,
    PRIMARY KEY (address, prefix_len)
);
CREATE INDEX leases6_by_duid ON leases6 (duid, iaid, address, prefix_len);
CREATE TABLE accounts (
    id text COLLATE "C" PRIMARY KEY,
    record jsonb NOT NULL
);
CREATE TABLE fixed4 (
    client bytea NOT NULL,
    relay bigint NOT NULL,
    record jsonb NOT NULL,
    PRIMARY KEY (client, relay)
);
CREATE TABLE timelines (
    device text COLLATE "C" PRIMARY KEY,
    record jsonb NOT NULL
);
CREATE TABLE records (
    tbl smallint NOT NULL,
    key text COLLATE "C" NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tbl, key)
);
CREATE TABLE meta (
    key text COLLATE "C" PRIMARY KEY,
    value bytea NOT NULL
);
"#,
    r#"
ALTER TABLE leases4 ADD COLUMN bucket smallint NOT NULL DEFAULT -1;
ALTER TABLE leases4 ADD COLUMN ends bigint NOT NULL DEFAULT 0;
CREATE INDEX leases4_by_bucket ON leases4 (bucket, ip);
ALTER TABLE leases6 ADD COLUMN bucket smallint NOT NULL DEFAULT -1;
ALTER TABLE leases6 ADD COLUMN ends bigint NOT NULL DEFAULT 0;
CREATE INDEX leases6_by_bucket ON leases6 (bucket);
CREATE TABLE cluster_nodes (
    node text COLLATE "C" PRIMARY KEY,
    epoch bigint NOT NULL,
    expires timestamptz NOT NULL,
    seen timestamptz NOT NULL,
    started timestamptz NOT NULL,
    leaving boolean NOT NULL,
    config_hash text NOT NULL,
    version text NOT NULL
);
CREATE TABLE cluster_buckets (
    bucket smallint PRIMARY KEY,
    owner text COLLATE "C" NOT NULL,
    owner_epoch bigint NOT NULL,
    changed timestamptz NOT NULL
);
"#,
];

/// The database's clock in Unix seconds: whether a lease has ended is
/// decided by one clock for every node.
const DB_NOW: &str = "extract(epoch from now())::int8";

/// The multi-row lease upsert; a claim adds a condition to its update.
const LEASE4_UPSERT: &str = "INSERT INTO leases4 (ip, client, relay, record, bucket, ends) \
    SELECT * FROM UNNEST($1::int8[], $2::bytea[], $3::int8[], $4::jsonb[], $5::int2[], $6::int8[]) \
    ON CONFLICT (ip) DO UPDATE SET client = EXCLUDED.client, relay = EXCLUDED.relay, \
    record = EXCLUDED.record, bucket = EXCLUDED.bucket, ends = EXCLUDED.ends";

/// The multi-row binding upsert; a claim adds a condition to its update.
const LEASE6_UPSERT: &str = "INSERT INTO leases6 (address, prefix_len, duid, iaid, record, bucket, ends) \
    SELECT * FROM UNNEST($1::bytea[], $2::int2[], $3::bytea[], $4::int8[], $5::jsonb[], $6::int2[], $7::int8[]) \
    ON CONFLICT (address, prefix_len) DO UPDATE SET duid = EXCLUDED.duid, iaid = EXCLUDED.iaid, \
    record = EXCLUDED.record, bucket = EXCLUDED.bucket, ends = EXCLUDED.ends";

/// When a lease's address stops being occupied, as the `ends` column holds
/// it: 0 once released, `i64::MAX` for a lease without end.
fn ends_of(state: LeaseState, expires: Option<u64>) -> i64 {
    match state {
        LeaseState::Released => 0,
        LeaseState::Active | LeaseState::Declined => {
            expires.map_or(i64::MAX, |t| i64::try_from(t).unwrap_or(i64::MAX))
        }
    }
}

/// Why the PostgreSQL store could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The database could not be reached or refused the login.
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] postgres::Error),
    /// The schema is missing or older than this build.
    #[error("the database schema is at version {found}, this headend needs {SCHEMA_VERSION}: run `headend store migrate`")]
    NotMigrated {
        /// The version found (0: none).
        found: i32,
    },
    /// The schema was made by a newer headend.
    #[error("the database schema is at version {0}, newer than this headend ({SCHEMA_VERSION}): upgrade headend")]
    TooNew(i32),
    /// A statement failed.
    #[error("database: {0}")]
    Sql(#[from] postgres::Error),
    /// A session thread could not be started.
    #[error("database session thread: {0}")]
    Thread(String),
}

/// The statements every connection prepares once.
struct Stmts {
    put_account: Statement,
    del_account: Statement,
    put_fixed: Statement,
    del_fixed: Statement,
    put_record: Statement,
    del_record: Statement,
    put_meta: Statement,
    many_lease4: Statement,
    claim_lease4: Statement,
    many_del_lease4: Statement,
    claim_del_lease4: Statement,
    many_lease6: Statement,
    claim_lease6: Statement,
    many_del_lease6: Statement,
    claim_del_lease6: Statement,
    fence: Statement,
    many_timeline: Statement,
    lease4: Statement,
    leases4_by_client: Statement,
    leases4_by_relay_page: Statement,
    scan_leases4: Statement,
    lease6: Statement,
    leases6_by_duid: Statement,
    scan_leases6: Statement,
    account: Statement,
    scan_accounts: Statement,
}

/// One open connection and its prepared statements.
struct Conn {
    client: Client,
    st: Stmts,
}

impl Conn {
    fn open(url: &str) -> Result<Conn, PgError> {
        let mut client = Client::connect(url, NoTls).map_err(PgError::Connect)?;
        let found = schema_version(&mut client)?;
        if found > SCHEMA_VERSION {
            return Err(PgError::TooNew(found));
        }
        if found < SCHEMA_VERSION {
            return Err(PgError::NotMigrated { found });
        }
        let mut p = |sql: &str| client.prepare(sql);
        let st = Stmts {
            put_account: p("INSERT INTO accounts (id, record) VALUES ($1, $2) \
                ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record")?,
            del_account: p("DELETE FROM accounts WHERE id = $1")?,
            put_fixed: p(
                "INSERT INTO fixed4 (client, relay, record) VALUES ($1, $2, $3) \
                ON CONFLICT (client, relay) DO UPDATE SET record = EXCLUDED.record",
            )?,
            del_fixed: p("DELETE FROM fixed4 WHERE client = $1 AND relay = $2")?,
            put_record: p("INSERT INTO records (tbl, key, value) VALUES ($1, $2, $3) \
                ON CONFLICT (tbl, key) DO UPDATE SET value = EXCLUDED.value")?,
            del_record: p("DELETE FROM records WHERE tbl = $1 AND key = $2")?,
            put_meta: p("INSERT INTO meta (key, value) VALUES ($1, $2) \
                ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")?,
            many_lease4: p(LEASE4_UPSERT)?,
            claim_lease4: p(&format!(
                "{LEASE4_UPSERT} WHERE leases4.client = EXCLUDED.client \
                OR leases4.ends <= {DB_NOW} RETURNING ip"
            ))?,
            many_del_lease4: p("DELETE FROM leases4 WHERE ip = ANY($1::int8[])")?,
            claim_del_lease4: p(&format!(
                "DELETE FROM leases4 WHERE ip = ANY($1::int8[]) \
                AND ends <= {DB_NOW}"
            ))?,
            many_lease6: p(LEASE6_UPSERT)?,
            claim_lease6: p(&format!(
                "{LEASE6_UPSERT} WHERE leases6.duid = EXCLUDED.duid \
                OR leases6.ends <= {DB_NOW} RETURNING address, prefix_len"
            ))?,
            many_del_lease6: p("DELETE FROM leases6 WHERE (address, prefix_len) IN \
                (SELECT * FROM UNNEST($1::bytea[], $2::int2[]))")?,
            claim_del_lease6: p(&format!(
                "DELETE FROM leases6 WHERE (address, prefix_len) IN \
                (SELECT * FROM UNNEST($1::bytea[], $2::int2[])) AND ends <= {DB_NOW}"
            ))?,
            fence: p("SELECT epoch FROM cluster_nodes WHERE node = $1 FOR SHARE")?,
            many_timeline: p("INSERT INTO timelines (device, record) \
                SELECT * FROM UNNEST($1::text[], $2::jsonb[]) \
                ON CONFLICT (device) DO UPDATE SET record = EXCLUDED.record")?,
            lease4: p("SELECT record FROM leases4 WHERE ip = $1")?,
            leases4_by_client: p("SELECT record FROM leases4 WHERE client = $1 ORDER BY ip")?,
            leases4_by_relay_page: p(
                "SELECT record FROM leases4 WHERE relay = $1 AND ip > $2 ORDER BY ip LIMIT $3",
            )?,
            scan_leases4: p("SELECT record FROM leases4 WHERE ip > $1 ORDER BY ip LIMIT $2")?,
            lease6: p("SELECT record FROM leases6 WHERE address = $1 AND prefix_len = $2")?,
            leases6_by_duid: p(
                "SELECT record FROM leases6 WHERE duid = $1 ORDER BY iaid, address, prefix_len",
            )?,
            scan_leases6: p(
                "SELECT record FROM leases6 WHERE (address, prefix_len) > ($1, $2) \
                ORDER BY address, prefix_len LIMIT $3",
            )?,
            account: p("SELECT record FROM accounts WHERE id = $1")?,
            scan_accounts: p("SELECT record FROM accounts WHERE id > $1 ORDER BY id LIMIT $2")?,
        };
        Ok(Conn { client, st })
    }
}

/// The schema version recorded in the database (0: none yet).
fn schema_version(client: &mut Client) -> Result<i32, PgError> {
    let exists: bool = client
        .query_one(
            "SELECT count(*) > 0 FROM information_schema.tables WHERE table_name = 'headend_schema'",
            &[],
        )?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = client.query_opt("SELECT max(version) FROM headend_schema", &[])?;
    Ok(row.and_then(|r| r.get::<_, Option<i32>>(0)).unwrap_or(0))
}

/// Creates or upgrades the schema of the database at `url` to
/// [`SCHEMA_VERSION`], one transaction per step; returns the version it
/// found and the version it left.
pub fn migrate(url: &str) -> Result<(i32, i32), PgError> {
    // On a thread of its own: the client's runtime may not start inside a
    // caller's tokio runtime.
    std::thread::scope(|s| {
        s.spawn(|| migrate_here(url))
            .join()
            .unwrap_or_else(|_| Err(PgError::Thread("the migration thread panicked".into())))
    })
}

fn migrate_here(url: &str) -> Result<(i32, i32), PgError> {
    let mut client = Client::connect(url, NoTls).map_err(PgError::Connect)?;
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS headend_schema (version integer PRIMARY KEY)")?;
    let found = schema_version(&mut client)?;
    if found > SCHEMA_VERSION {
        return Err(PgError::TooNew(found));
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        let mut tx = client.transaction()?;
        tx.batch_execute(sql)?;
        if from == 1 {
            backfill_buckets(&mut tx)?;
        }
        // A concurrent migrate by another node makes this insert (or the
        // CREATEs above) fail: the transaction rolls back, nothing half-done.
        let to = i32::try_from(from + 1).unwrap_or(i32::MAX);
        tx.execute("INSERT INTO headend_schema (version) VALUES ($1)", &[&to])?;
        tx.commit()?;
    }
    Ok((found, SCHEMA_VERSION))
}

/// Version 2: the `bucket` and `ends` columns of the rows written before
/// them, computed from each record (an undecodable record keeps bucket -1
/// and is reported by the loads that skip it).
fn backfill_buckets(tx: &mut postgres::Transaction<'_>) -> Result<(), PgError> {
    let (mut ips, mut buckets, mut ends) = (Vec::new(), Vec::new(), Vec::new());
    for r in tx.query("SELECT ip, record FROM leases4", &[])? {
        let ip: i64 = r.get(0);
        if let Ok(l) = serde_json::from_value::<Lease4>(r.get(1)) {
            ips.push(ip);
            buckets.push(i16::from(bucket_of_lease4(&l)));
            ends.push(ends_of(l.state, l.expires_at()));
        }
    }
    tx.execute(
        "UPDATE leases4 SET bucket = v.b, ends = v.e FROM \
         (SELECT * FROM UNNEST($1::int8[], $2::int2[], $3::int8[]) AS t(ip, b, e)) v \
         WHERE leases4.ip = v.ip",
        &[&ips, &buckets, &ends],
    )?;
    let (mut addrs, mut lens, mut buckets, mut ends) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in tx.query("SELECT address, prefix_len, record FROM leases6", &[])? {
        if let Ok(l) = serde_json::from_value::<Lease6>(r.get(2)) {
            addrs.push(r.get::<_, Vec<u8>>(0));
            lens.push(r.get::<_, i16>(1));
            buckets.push(i16::from(bucket_of_lease6(&l)));
            ends.push(ends_of(l.state, l.expires_at()));
        }
    }
    tx.execute(
        "UPDATE leases6 SET bucket = v.b, ends = v.e FROM \
         (SELECT * FROM UNNEST($1::bytea[], $2::int2[], $3::int2[], $4::int8[]) AS t(a, l, b, e)) v \
         WHERE leases6.address = v.a AND leases6.prefix_len = v.l",
        &[&addrs, &lens, &buckets, &ends],
    )?;
    Ok(())
}

/// A call handed to a session thread.
type Job = Box<dyn FnOnce(&mut Option<Conn>) + Send>;

/// A [`Store`] on a PostgreSQL database (see the module doc).
///
/// Each session lives on a thread of its own: the `postgres` client drives
/// its connection with a runtime of its own, which may not run inside the
/// server's tokio workers, so every call is handed to a session thread
/// and its answer waited for (as a call into sled blocks the caller).
pub struct PgStore {
    jobs: Mutex<Option<std::sync::mpsc::Sender<Job>>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    sessions: usize,
    skipped: AtomicU64,
    /// The cluster node this store writes for, once joined.
    member: std::sync::Arc<parking_lot::RwLock<Option<Member>>>,
}

/// A node's identity in the cluster tables, for fencing its writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// `[cluster] node`.
    pub node: String,
    /// The epoch of its current registration.
    pub epoch: i64,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Closing the queue ends the session threads.
        self.jobs.lock().take();
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

fn backend(e: postgres::Error) -> StoreError {
    StoreError::Backend(format!("database: {e}"))
}

fn to_json<T: Serialize>(tree: &'static str, rec: &T) -> Result<Value, StoreError> {
    serde_json::to_value(rec)
        .map_err(|e| StoreError::Invalid(format!("cannot encode a {tree} record: {e}")))
}

fn from_json<T: DeserializeOwned>(tree: &'static str, v: Value) -> Result<T, StoreError> {
    serde_json::from_value(v).map_err(|e| StoreError::Corrupt {
        tree,
        detail: format!("undecodable record: {e}"),
    })
}

fn ip4(ip: Ipv4Addr) -> i64 {
    i64::from(u32::from(ip))
}

fn ip6(ip: Ipv6Addr) -> Vec<u8> {
    ip.octets().to_vec()
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl PgStore {
    /// Connects `connections` sessions to the database at `url` (a libpq
    /// connection string or `postgres://` URL), refusing a schema that
    /// [`migrate`] has not brought to [`SCHEMA_VERSION`].
    pub fn connect(url: &str, connections: usize) -> Result<PgStore, PgError> {
        let n = connections.max(1);
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        let mut threads = Vec::with_capacity(n);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        for i in 0..n {
            let (rx, url, ready) = (rx.clone(), url.to_string(), ready_tx.clone());
            let t = std::thread::Builder::new()
                .name(format!("headend-pg-{i}"))
                .spawn(move || {
                    let mut conn = match Conn::open(&url) {
                        Ok(c) => {
                            let _ = ready.send(Ok(()));
                            Some(c)
                        }
                        Err(e) => {
                            let _ = ready.send(Err(e));
                            return;
                        }
                    };
                    loop {
                        // One waiting thread takes the next call.
                        let job = rx.lock().recv();
                        let Ok(job) = job else { return };
                        if conn.as_ref().is_none_or(|c| c.client.is_closed()) {
                            // Broken: reopened for this call (a restarted
                            // database is picked up here); a failure leaves
                            // it closed and the call reports it.
                            conn = Conn::open(&url).ok();
                        }
                        job(&mut conn);
                    }
                })
                .map_err(|e| PgError::Thread(e.to_string()))?;
            threads.push(t);
        }
        drop(ready_tx);
        let store = PgStore {
            jobs: Mutex::new(Some(tx)),
            threads: Mutex::new(threads),
            sessions: n,
            skipped: AtomicU64::new(0),
            member: Default::default(),
        };
        for _ in 0..n {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(PgError::Thread("a session thread ended".into())),
            }
        }
        Ok(store)
    }

    /// Runs `f` on a session thread's connection and waits for its answer.
    fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let job: Job = Box::new(move |conn: &mut Option<Conn>| {
            let r = match conn.as_mut() {
                Some(c) => f(c),
                None => Err(StoreError::Backend("the database is unreachable".into())),
            };
            if conn.as_ref().is_some_and(|c| c.client.is_closed()) {
                *conn = None;
            }
            let _ = tx.send(r);
        });
        let sent = self
            .jobs
            .lock()
            .as_ref()
            .map(|q| q.send(job).is_ok())
            .unwrap_or(false);
        if !sent {
            return Err(StoreError::Backend("the store is closed".into()));
        }
        rx.recv()
            .unwrap_or_else(|_| Err(StoreError::Backend("a database session ended".into())))
    }

    /// The records of `rows`, in order; an undecodable one is skipped and
    /// counted when `skip` (start-up loads), an error otherwise.
    fn decode_rows<T: DeserializeOwned>(
        &self,
        tree: &'static str,
        rows: Vec<postgres::Row>,
        skip: bool,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let v: Value = r.try_get(0).map_err(backend)?;
            match from_json(tree, v) {
                Ok(t) => out.push(t),
                Err(e) if skip => {
                    self.skipped.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, "skipping an undecodable {tree} record");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    fn query<T: DeserializeOwned>(
        &self,
        tree: &'static str,
        skip: bool,
        q: impl FnOnce(&mut Conn) -> Result<Vec<postgres::Row>, postgres::Error> + Send + 'static,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.with(move |c| q(c).map_err(backend))?;
        self.decode_rows(tree, rows, skip)
    }

    fn one<T: DeserializeOwned>(
        &self,
        tree: &'static str,
        q: impl FnOnce(&mut Conn) -> Result<Vec<postgres::Row>, postgres::Error> + Send + 'static,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.query(tree, false, q)?.into_iter().next())
    }
}

impl PgStore {
    /// Makes every later batch a cluster node's: lease writes become claims
    /// and each batch is fenced by `member`'s epoch (see the module doc).
    /// Called again with a new epoch after the node registers again.
    pub fn join(&self, member: Member) {
        *self.member.write() = Some(member);
    }

    /// The node this store writes for, once joined.
    pub fn member(&self) -> Option<Member> {
        self.member.read().clone()
    }

    /// Every record as the mutations that recreate it (meta, management
    /// records, accounts, fixed bindings, v4 and v6 leases, timelines), for
    /// `headend store copy`; undecodable rows are skipped and counted.
    pub fn export(&self) -> Result<Vec<Mutation>, StoreError> {
        let (mut out, bad) = self.with(move |c| {
            let mut out = Vec::new();
            let mut bad = 0u64;
            for r in c
                .client
                .query("SELECT key, value FROM meta ORDER BY key", &[])
                .map_err(backend)?
            {
                out.push(Mutation::PutMeta {
                    key: r.try_get(0).map_err(backend)?,
                    value: r.try_get(1).map_err(backend)?,
                });
            }
            for r in c
                .client
                .query("SELECT tbl, key, value FROM records ORDER BY tbl, key", &[])
                .map_err(backend)?
            {
                let tag: i16 = r.try_get(0).map_err(backend)?;
                let Some(table) = u8::try_from(tag).ok().and_then(RecordTable::of_tag) else {
                    bad += 1;
                    continue;
                };
                out.push(Mutation::PutRecord {
                    table,
                    key: r.try_get(1).map_err(backend)?,
                    value: r.try_get(2).map_err(backend)?,
                });
            }
            Ok((out, bad))
        })?;
        self.skipped.fetch_add(bad, Ordering::Relaxed);
        out.extend(self.load_accounts()?.into_iter().map(Mutation::PutAccount));
        out.extend(self.load_fixed4()?.into_iter().map(Mutation::PutFixed4));
        out.extend(self.load_leases4()?.into_iter().map(Mutation::PutLease4));
        out.extend(self.load_leases6()?.into_iter().map(Mutation::PutLease6));
        let timelines: Vec<DeviceTimeline> = self.query("timelines", true, move |c| {
            c.client
                .query("SELECT record FROM timelines ORDER BY device", &[])
        })?;
        out.extend(timelines.into_iter().map(Mutation::PutTimeline));
        Ok(out)
    }

    /// Row counts per table (`headend store stats`), by SQL.
    pub fn counts(&self) -> Result<Vec<(&'static str, i64)>, StoreError> {
        self.with(move |c| {
            let mut v = Vec::new();
            for (name, sql) in [
                ("leases4", "SELECT count(*) FROM leases4"),
                (
                    "leases4 active",
                    "SELECT count(*) FROM leases4 WHERE record->>'state' = 'Active'",
                ),
                ("leases6", "SELECT count(*) FROM leases6"),
                (
                    "leases6 active",
                    "SELECT count(*) FROM leases6 WHERE record->>'state' = 'Active'",
                ),
                ("accounts", "SELECT count(*) FROM accounts"),
                ("fixed4", "SELECT count(*) FROM fixed4"),
                ("timelines", "SELECT count(*) FROM timelines"),
                ("records", "SELECT count(*) FROM records"),
            ] {
                let n: i64 = c.client.query_one(sql, &[]).map_err(backend)?.get(0);
                v.push((name, n));
            }
            Ok(v)
        })
    }
}

/// A lease row's index column, second column, record, bucket and end
/// (`None` in the map: deleted).
struct Row {
    key: Vec<u8>,
    second: i64,
    record: Value,
    bucket: i16,
    ends: i64,
}

/// A batch reduced for PostgreSQL: the last write of each lease, binding
/// and timeline (the [`Store`] contract: a later mutation in a batch wins)
/// as a few multi-row statements, the rare rest one statement each in
/// order. Keys of different tables are independent, so only the order per
/// key matters, and after the reduction each key appears once.
struct Many {
    lease4: std::collections::BTreeMap<u32, Option<Row>>,
    lease6: std::collections::BTreeMap<(Vec<u8>, i16), Option<Row>>,
    timelines: std::collections::BTreeMap<String, Value>,
    rest: Vec<Mutation>,
}

impl Many {
    fn of(batch: &[Mutation]) -> Result<Many, StoreError> {
        let mut m = Many {
            lease4: Default::default(),
            lease6: Default::default(),
            timelines: Default::default(),
            rest: Vec::new(),
        };
        for x in batch {
            match x {
                Mutation::PutLease4(l) => {
                    let row = Row {
                        key: l.client.0.clone(),
                        second: ip4(l.relay),
                        record: to_json("leases4", l)?,
                        bucket: i16::from(bucket_of_lease4(l)),
                        ends: ends_of(l.state, l.expires_at()),
                    };
                    m.lease4.insert(u32::from(l.ip), Some(row));
                }
                Mutation::DeleteLease4(ip) => {
                    m.lease4.insert(u32::from(*ip), None);
                }
                Mutation::PutLease6(l) => {
                    let row = Row {
                        key: l.duid.clone(),
                        second: i64::from(l.iaid),
                        record: to_json("leases6", l)?,
                        bucket: i16::from(bucket_of_lease6(l)),
                        ends: ends_of(l.state, l.expires_at()),
                    };
                    m.lease6
                        .insert((ip6(l.address), i16::from(l.prefix_len)), Some(row));
                }
                Mutation::DeleteLease6(k) => {
                    m.lease6
                        .insert((ip6(k.address), i16::from(k.prefix_len)), None);
                }
                Mutation::PutTimeline(t) => {
                    m.timelines
                        .insert(t.device.clone(), to_json("timelines", t)?);
                }
                other => m.rest.push(other.clone()),
            }
        }
        Ok(m)
    }

    fn apply(
        &self,
        tx: &mut postgres::Transaction<'_>,
        st: &Stmts,
        member: Option<&Member>,
    ) -> Result<(), StoreError> {
        if let Some(m) = member {
            // The share lock holds off a fence (an UPDATE of this row) until
            // this transaction ends; a fence that came first has changed the
            // epoch, and nothing of this batch commits.
            let epoch: Option<i64> = tx
                .query_opt(&st.fence, &[&m.node])
                .map_err(backend)?
                .map(|r| r.get(0));
            if epoch != Some(m.epoch) {
                return Err(StoreError::Backend(format!(
                    "node {:?} was fenced (epoch {} is now {epoch:?}): another node took over its buckets",
                    m.node, m.epoch
                )));
            }
        }
        let claims = member.is_some();
        let (mut ips, mut clients, mut relays, mut recs, mut buckets, mut ends, mut gone) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for (ip, row) in &self.lease4 {
            match row {
                Some(r) => {
                    ips.push(i64::from(*ip));
                    clients.push(r.key.clone());
                    relays.push(r.second);
                    recs.push(r.record.clone());
                    buckets.push(r.bucket);
                    ends.push(r.ends);
                }
                None => gone.push(i64::from(*ip)),
            }
        }
        if !gone.is_empty() {
            let del = if claims {
                &st.claim_del_lease4
            } else {
                &st.many_del_lease4
            };
            tx.execute(del, &[&gone]).map_err(backend)?;
        }
        if !ips.is_empty() {
            upsert_or_claim(
                tx,
                &st.many_lease4,
                claims.then_some(&st.claim_lease4),
                &[&ips, &clients, &relays, &recs, &buckets, &ends],
                ips.len(),
                |r| r.get::<_, i64>(0),
                || {
                    ips.iter()
                        .map(|ip| {
                            let shown = Ipv4Addr::from(u32::try_from(*ip).unwrap_or(0));
                            (*ip, shown.to_string())
                        })
                        .collect()
                },
            )?;
        }
        let (mut addrs, mut lens, mut duids, mut iaids, mut recs, mut buckets, mut ends) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        let (mut gone_a, mut gone_l) = (Vec::new(), Vec::new());
        for ((addr, len), row) in &self.lease6 {
            match row {
                Some(r) => {
                    addrs.push(addr.clone());
                    lens.push(*len);
                    duids.push(r.key.clone());
                    iaids.push(r.second);
                    recs.push(r.record.clone());
                    buckets.push(r.bucket);
                    ends.push(r.ends);
                }
                None => {
                    gone_a.push(addr.clone());
                    gone_l.push(*len);
                }
            }
        }
        if !gone_a.is_empty() {
            let del = if claims {
                &st.claim_del_lease6
            } else {
                &st.many_del_lease6
            };
            tx.execute(del, &[&gone_a, &gone_l]).map_err(backend)?;
        }
        if !addrs.is_empty() {
            upsert_or_claim(
                tx,
                &st.many_lease6,
                claims.then_some(&st.claim_lease6),
                &[&addrs, &lens, &duids, &iaids, &recs, &buckets, &ends],
                addrs.len(),
                |r| (r.get::<_, Vec<u8>>(0), r.get::<_, i16>(1)),
                || {
                    addrs
                        .iter()
                        .zip(&lens)
                        .map(|(a, l)| {
                            let octets: [u8; 16] = a.as_slice().try_into().unwrap_or([0; 16]);
                            ((a.clone(), *l), format!("{}/{l}", Ipv6Addr::from(octets)))
                        })
                        .collect()
                },
            )?;
        }
        if !self.timelines.is_empty() {
            let devices: Vec<&String> = self.timelines.keys().collect();
            let recs: Vec<&Value> = self.timelines.values().collect();
            tx.execute(&st.many_timeline, &[&devices, &recs])
                .map_err(backend)?;
        }
        for m in &self.rest {
            apply_one(tx, st, m)?;
        }
        Ok(())
    }
}

/// Writes one table's `n` rows: the plain multi-row upsert, or for a joined
/// store the claim, which fails with [`StoreError::Conflict`] naming the
/// rows whose claim was lost (`key` reads a `RETURNING` row; `named` lists
/// every row's key and how to show it, built only on a conflict).
fn upsert_or_claim<K: Eq + std::hash::Hash>(
    tx: &mut postgres::Transaction<'_>,
    plain: &Statement,
    claim: Option<&Statement>,
    params: &[&(dyn postgres::types::ToSql + Sync)],
    n: usize,
    key: impl Fn(&postgres::Row) -> K,
    named: impl FnOnce() -> Vec<(K, String)>,
) -> Result<(), StoreError> {
    let Some(claim) = claim else {
        return tx.execute(plain, params).map(drop).map_err(backend);
    };
    let won = tx.query(claim, params).map_err(backend)?;
    if won.len() >= n {
        return Ok(());
    }
    let won: std::collections::HashSet<K> = won.iter().map(key).collect();
    let lost: Vec<String> = named()
        .into_iter()
        .filter(|(k, _)| !won.contains(k))
        .map(|(_, shown)| shown)
        .collect();
    Err(StoreError::Conflict(format!(
        "{} held by another client",
        lost.join(", ")
    )))
}

fn apply_one(
    tx: &mut postgres::Transaction<'_>,
    st: &Stmts,
    m: &Mutation,
) -> Result<(), StoreError> {
    let r = match m {
        Mutation::PutAccount(a) => tx.execute(&st.put_account, &[&a.id, &to_json("accounts", a)?]),
        Mutation::DeleteAccount(id) => tx.execute(&st.del_account, &[id]),
        Mutation::PutFixed4(f) => tx.execute(
            &st.put_fixed,
            &[&f.client.0, &ip4(f.relay), &to_json("fixed4", f)?],
        ),
        Mutation::DeleteFixed4 { client, relay } => {
            tx.execute(&st.del_fixed, &[&client.0, &ip4(*relay)])
        }
        // `Many` sends these as its multi-row statements, never one by one.
        Mutation::PutLease4(_)
        | Mutation::DeleteLease4(_)
        | Mutation::PutLease6(_)
        | Mutation::DeleteLease6(_)
        | Mutation::PutTimeline(_) => {
            return Err(StoreError::Invalid(
                "a lease or timeline outside its batch statement".into(),
            ))
        }
        Mutation::PutRecord { table, key, value } => {
            tx.execute(&st.put_record, &[&i16::from(table.tag()), key, value])
        }
        Mutation::DeleteRecord { table, key } => {
            tx.execute(&st.del_record, &[&i16::from(table.tag()), key])
        }
        Mutation::PutMeta { key, value } => tx.execute(&st.put_meta, &[key, value]),
    };
    r.map(drop).map_err(backend)
}

impl Store for PgStore {
    fn load_leases4(&self) -> Result<Vec<Lease4>, StoreError> {
        self.query("leases4", true, move |c| {
            c.client
                .query("SELECT record FROM leases4 ORDER BY ip", &[])
        })
    }

    fn leases4_by_client(&self, client: &ClientKey) -> Result<Vec<Lease4>, StoreError> {
        let client = client.clone();
        self.query("leases4", false, move |c| {
            c.client.query(&c.st.leases4_by_client, &[&client.0])
        })
    }

    fn leases4_by_relay(&self, relay: Ipv4Addr) -> Result<Vec<Lease4>, StoreError> {
        self.leases4_by_relay_page(relay, None, usize::MAX)
    }

    fn leases4_by_relay_page(
        &self,
        relay: Ipv4Addr,
        after: Option<Ipv4Addr>,
        n: usize,
    ) -> Result<Vec<Lease4>, StoreError> {
        let after = after.map_or(-1, ip4);
        self.query("leases4", false, move |c| {
            c.client.query(
                &c.st.leases4_by_relay_page,
                &[&ip4(relay), &after, &limit(n)],
            )
        })
    }

    fn lease4(&self, ip: Ipv4Addr) -> Result<Option<Lease4>, StoreError> {
        self.one("leases4", move |c| {
            c.client.query(&c.st.lease4, &[&ip4(ip)])
        })
    }

    fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        let id = id.to_string();
        self.one("accounts", move |c| c.client.query(&c.st.account, &[&id]))
    }

    fn load_accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.query("accounts", true, move |c| {
            c.client
                .query("SELECT record FROM accounts ORDER BY id", &[])
        })
    }

    fn load_leases6(&self) -> Result<Vec<Lease6>, StoreError> {
        self.query("leases6", true, move |c| {
            c.client.query(
                "SELECT record FROM leases6 ORDER BY address, prefix_len",
                &[],
            )
        })
    }

    fn leases6_by_duid(&self, duid: &[u8]) -> Result<Vec<Lease6>, StoreError> {
        let duid = duid.to_vec();
        self.query("leases6", false, move |c| {
            c.client.query(&c.st.leases6_by_duid, &[&duid])
        })
    }

    fn lease6(&self, key: Lease6Key) -> Result<Option<Lease6>, StoreError> {
        self.one("leases6", move |c| {
            c.client.query(
                &c.st.lease6,
                &[&ip6(key.address), &i16::from(key.prefix_len)],
            )
        })
    }

    fn load_fixed4(&self) -> Result<Vec<FixedBinding4>, StoreError> {
        self.query("fixed4", true, move |c| {
            c.client
                .query("SELECT record FROM fixed4 ORDER BY client, relay", &[])
        })
    }

    fn timeline(&self, device: &str) -> Result<Option<DeviceTimeline>, StoreError> {
        let device = device.to_string();
        self.one("timelines", move |c| {
            c.client
                .query("SELECT record FROM timelines WHERE device = $1", &[&device])
        })
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_string();
        self.with(move |c| {
            let rows = c
                .client
                .query("SELECT value FROM meta WHERE key = $1", &[&key])
                .map_err(backend)?;
            rows.into_iter()
                .next()
                .map(|r| r.try_get::<_, Vec<u8>>(0).map_err(backend))
                .transpose()
        })
    }

    fn scan_accounts(&self, after: Option<&str>, n: usize) -> Result<Vec<Account>, StoreError> {
        let after = after.unwrap_or("").to_string();
        self.query("accounts", false, move |c| {
            c.client.query(&c.st.scan_accounts, &[&after, &limit(n)])
        })
    }

    fn scan_leases4(&self, after: Option<Ipv4Addr>, n: usize) -> Result<Vec<Lease4>, StoreError> {
        let after = after.map_or(-1, ip4);
        self.query("leases4", false, move |c| {
            c.client.query(&c.st.scan_leases4, &[&after, &limit(n)])
        })
    }

    fn scan_leases6(&self, after: Option<Lease6Key>, n: usize) -> Result<Vec<Lease6>, StoreError> {
        // Below every key: an empty address sorts before any 16-octet one.
        let (addr, len) = after.map_or((Vec::new(), -1), |k| {
            (ip6(k.address), i16::from(k.prefix_len))
        });
        self.query("leases6", false, move |c| {
            c.client
                .query(&c.st.scan_leases6, &[&addr, &len, &limit(n)])
        })
    }

    fn record(&self, table: RecordTable, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.to_string();
        self.with(move |c| {
            let rows = c
                .client
                .query(
                    "SELECT value FROM records WHERE tbl = $1 AND key = $2",
                    &[&i16::from(table.tag()), &key],
                )
                .map_err(backend)?;
            rows.into_iter()
                .next()
                .map(|r| r.try_get::<_, Vec<u8>>(0).map_err(backend))
                .transpose()
        })
    }

    fn records(
        &self,
        table: RecordTable,
        before: Option<&str>,
        n: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let before = before.map(str::to_string);
        self.with(move |c| {
            let tag = i16::from(table.tag());
            let rows = match before.as_deref() {
                Some(b) => c.client.query(
                    "SELECT key, value FROM records WHERE tbl = $1 AND key < $2 ORDER BY key DESC LIMIT $3",
                    &[&tag, &b, &limit(n)],
                ),
                None => c.client.query(
                    "SELECT key, value FROM records WHERE tbl = $1 ORDER BY key DESC LIMIT $2",
                    &[&tag, &limit(n)],
                ),
            }
            .map_err(backend)?;
            rows.into_iter()
                .map(|r| Ok((r.try_get(0).map_err(backend)?, r.try_get(1).map_err(backend)?)))
                .collect()
        })
    }

    fn apply(&self, batch: &[Mutation]) -> Result<(), StoreError> {
        validate(batch)?;
        if batch.is_empty() {
            return Ok(());
        }
        let many = Many::of(batch)?;
        let member = self.member.read().clone();
        self.with(move |c| {
            let Conn { client, st } = c;
            let mut tx = client.transaction().map_err(backend)?;
            // An error drops `tx` uncommitted: the batch has no effect.
            many.apply(&mut tx, st, member.as_ref())?;
            tx.commit().map_err(backend)
        })
    }

    fn sync(&self) -> Result<(), StoreError> {
        // Every applied batch was committed (synchronous_commit: durable).
        Ok(())
    }

    fn skipped_records(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }
}
