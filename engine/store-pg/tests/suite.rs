//! The store contract (`headend_store::suite`, the same tests the sled and
//! memory backends pass) on PostgreSQL: a throwaway cluster from Debian's
//! `postgresql` package, started by this test binary under a temp directory
//! on a loopback port (peers.md section 15), one database per test, the
//! schema made by `migrate`. A watcher shell stops the cluster by its PID
//! (`pg_ctl stop`) and removes its directory when this process exits, however
//! it exits.
//!
//! Needs `postgresql` (scripts/setup --peers) and, as root, the `postgres`
//! user the package creates; fails, not skips, without them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use headend_store::{Lease4, Mutation, Store};
use headend_store_pg::testing::{admin, database};
use headend_store_pg::{migrate, PgError, PgStore, SCHEMA_VERSION};

fn make() -> (PgStore, ()) {
    let url = database();
    migrate(&url).unwrap();
    (PgStore::connect(&url, 4).unwrap(), ())
}

headend_store::store_suite!(make);

#[test]
fn an_unmigrated_database_is_refused_and_migrate_is_idempotent() {
    let url = database();
    match PgStore::connect(&url, 1) {
        Err(PgError::NotMigrated { found: 0 }) => {}
        other => panic!("expected NotMigrated, got {other:?}"),
    }
    assert_eq!(migrate(&url).unwrap(), (0, SCHEMA_VERSION));
    assert_eq!(migrate(&url).unwrap(), (SCHEMA_VERSION, SCHEMA_VERSION));
    PgStore::connect(&url, 1).unwrap();
}

#[test]
fn records_are_queryable_with_sql() {
    let url = database();
    migrate(&url).unwrap();
    let store = PgStore::connect(&url, 1).unwrap();
    let l: Lease4 = headend_store::suite::lease(7, 3, 2);
    store.apply(&[Mutation::PutLease4(l.clone())]).unwrap();
    // The key columns and the jsonb record answer plain SQL.
    let mut sql =
        headend_store_pg::postgres::Client::connect(&url, headend_store_pg::postgres::NoTls)
            .unwrap();
    let row = sql
        .query_one(
            "SELECT ip, relay, record->>'pool' FROM leases4 WHERE client = $1",
            &[&l.client.0],
        )
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), i64::from(u32::from(l.ip)));
    assert_eq!(row.get::<_, i64>(1), i64::from(u32::from(l.relay)));
    assert_eq!(row.get::<_, Option<String>>(2), Some(l.pool.clone()));
    assert_eq!(store.lease4(l.ip).unwrap(), Some(l));
}

#[test]
fn a_restarted_connection_is_reopened() {
    let url = database();
    migrate(&url).unwrap();
    let store = PgStore::connect(&url, 2).unwrap();
    let l: Lease4 = headend_store::suite::lease(1, 1, 1);
    store.apply(&[Mutation::PutLease4(l.clone())]).unwrap();
    // Kill every session of this test's database (only: the other tests
    // run beside it) from the server side.
    let db = url.rsplit('/').next().unwrap().to_string();
    let mut client = admin();
    let deadline = Instant::now() + Duration::from_secs(10);
    let killed: i64 = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
            &[&db],
        )
        .unwrap()
        .get(0);
    assert_eq!(killed, 2, "the store's two sessions");
    // The first call on a dead session fails; a later one reconnects.
    let mut ok = false;
    while Instant::now() < deadline {
        if let Ok(Some(got)) = store.lease4(l.ip) {
            assert_eq!(got, l);
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ok, "the store did not reconnect");
}
