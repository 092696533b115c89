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

/// Now, in Unix seconds (leases in these tests live around it).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A lease of `ip` (10.0.0.n) to client `client`, active from now for `secs`.
fn live_lease(n: u32, client: u32, secs: u32) -> Lease4 {
    let mut l: Lease4 = headend_store::suite::lease(n, client, 1);
    l.commit_time = unix_now();
    l.lifetime = secs;
    l
}

/// Two nodes joined to one database: each with its store and coordinator.
fn two_nodes(
    url: &str,
) -> (
    (PgStore, headend_store_pg::cluster::PgCoordinator, i64),
    (PgStore, headend_store_pg::cluster::PgCoordinator, i64),
) {
    use headend_store::cluster::Coordinator;
    let mut out = Vec::new();
    for name in ["a", "b"] {
        let store = PgStore::connect(url, 2).unwrap();
        let mut coord = headend_store_pg::cluster::PgCoordinator::connect(url).unwrap();
        let epoch = coord.register(name, 60_000, "h", "v").unwrap();
        store.join(headend_store_pg::Member {
            node: name.into(),
            epoch,
        });
        out.push((store, coord, epoch));
    }
    let b = out.pop().unwrap();
    let a = out.pop().unwrap();
    (a, b)
}

#[test]
fn joined_nodes_never_lease_one_address_to_two_clients() {
    let url = database();
    migrate(&url).unwrap();
    let ((a, _, _), (b, _, _)) = two_nodes(&url);
    let held = live_lease(5, 1, 3600);
    a.apply(&[Mutation::PutLease4(held.clone())]).unwrap();
    // Node b, not knowing, gives the same address to another client.
    let stolen = live_lease(5, 2, 3600);
    let e = b
        .apply(&[
            Mutation::PutLease4(live_lease(6, 3, 3600)),
            Mutation::PutLease4(stolen),
        ])
        .unwrap_err();
    assert!(
        matches!(&e, headend_store::StoreError::Conflict(m) if m.contains("10.0.0.5")),
        "{e}"
    );
    // The whole batch had no effect; the holder's record is intact.
    assert_eq!(b.lease4(held.ip).unwrap(), Some(held.clone()));
    assert_eq!(b.lease4(live_lease(6, 3, 1).ip).unwrap(), None);
    // The same client renewing through the other node is fine.
    let mut renewed = held.clone();
    renewed.lifetime = 7200;
    b.apply(&[Mutation::PutLease4(renewed.clone())]).unwrap();
    assert_eq!(a.lease4(held.ip).unwrap(), Some(renewed.clone()));
    // Released, or ended by the database's clock: anyone's.
    let mut released = renewed;
    released.state = headend_store::LeaseState::Released;
    a.apply(&[Mutation::PutLease4(released)]).unwrap();
    b.apply(&[Mutation::PutLease4(live_lease(5, 2, 3600))])
        .unwrap();
    let mut ended = live_lease(7, 8, 10);
    ended.commit_time = unix_now() - 100;
    a.apply(&[Mutation::PutLease4(ended)]).unwrap();
    b.apply(&[Mutation::PutLease4(live_lease(7, 9, 3600))])
        .unwrap();
    // The key columns a takeover reads are filled in.
    let mut sql =
        headend_store_pg::postgres::Client::connect(&url, headend_store_pg::postgres::NoTls)
            .unwrap();
    let row = sql
        .query_one(
            "SELECT bucket, ends FROM leases4 WHERE ip = $1",
            &[&0x0a00_0007i64],
        )
        .unwrap();
    let l = live_lease(7, 9, 3600);
    assert_eq!(
        row.get::<_, i16>(0),
        i16::from(headend_store::cluster::bucket_of_lease4(&l))
    );
    assert!((row.get::<_, i64>(1) - (unix_now() as i64 + 3600)).abs() < 5);
}

#[test]
fn a_fenced_node_commits_nothing_and_buckets_move_only_from_fenced_owners() {
    use headend_store::cluster::{BucketSet, Coordinator};
    let url = database();
    migrate(&url).unwrap();
    let ((a, mut ca, ea), (_b, mut cb, eb)) = two_nodes(&url);
    assert_eq!(
        ca.claim("a", ea, &[(1, None), (2, None)]).unwrap(),
        vec![1, 2]
    );
    // Taken already: a second claim of nobody's bucket fails.
    assert_eq!(cb.claim("b", eb, &[(1, None)]).unwrap(), Vec::<u8>::new());
    // a is live: its buckets cannot be taken, nor can it be fenced.
    assert!(!cb.fence("a", ea).unwrap());
    assert_eq!(
        cb.claim("b", eb, &[(1, Some(("a".into(), ea)))]).unwrap(),
        Vec::<u8>::new()
    );
    // a falls silent (a 50 ms lease on liveness, then nothing).
    assert!(ca.heartbeat("a", ea, 50, "h", false).unwrap());
    std::thread::sleep(Duration::from_millis(150));
    let view = cb.view().unwrap();
    let row = view.nodes.iter().find(|n| n.name == "a").unwrap();
    assert!(!row.live && row.epoch == ea);
    assert!(cb.fence("a", ea).unwrap());
    assert!(!cb.fence("a", ea).unwrap(), "fenced once");
    assert_eq!(
        cb.claim("b", eb, &[(1, Some(("a".into(), ea)))]).unwrap(),
        vec![1]
    );
    // Whatever a still had in flight fails now, and its heartbeat says so.
    let e = a
        .apply(&[Mutation::PutLease4(live_lease(9, 9, 60))])
        .unwrap_err();
    assert!(e.to_string().contains("fenced"), "{e}");
    assert!(!ca.heartbeat("a", ea, 60_000, "h", false).unwrap());
    // a registers again (a new epoch) and b hands bucket 1 back.
    let ea2 = ca.register("a", 60_000, "h", "v").unwrap();
    assert!(ea2 > ea);
    a.join(headend_store_pg::Member {
        node: "a".into(),
        epoch: ea2,
    });
    a.apply(&[Mutation::PutLease4(live_lease(9, 9, 60))])
        .unwrap();
    assert_eq!(cb.hand_over("b", eb, &[1, 2], "a", ea2).unwrap(), vec![1]);
    let view = ca.view().unwrap();
    let owner = |b: u8| {
        view.buckets
            .iter()
            .find(|r| r.bucket == b)
            .cloned()
            .unwrap()
    };
    assert_eq!((owner(1).owner.as_str(), owner(1).owner_epoch), ("a", ea2));
    // Bucket 2 still names a's old epoch: a takes it from its earlier life.
    assert_eq!(
        ca.claim("a", ea2, &[(2, Some(("a".into(), ea)))]).unwrap(),
        vec![2]
    );
    // The leases of a bucket, for a takeover.
    let l = live_lease(9, 9, 60);
    let mut set = BucketSet::default();
    set.insert(headend_store::cluster::bucket_of_lease4(&l));
    assert_eq!(cb.leases4_in(&set).unwrap(), vec![l]);
}
