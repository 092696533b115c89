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

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use headend_store::{Lease4, Mutation, Store};
use headend_store_pg::{migrate, PgError, PgStore, SCHEMA_VERSION};

/// A running throwaway cluster: its socket directory and port.
struct Cluster {
    sock: PathBuf,
    port: u16,
}

fn pg_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().expect(
        "PostgreSQL server binaries not found under /usr/lib/postgresql (scripts/setup --peers)",
    )
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// `cmd` as the `postgres` user when root (initdb and postgres refuse root).
fn as_pg(bin: &Path, args: &[&str]) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin).args(args);
        c
    } else {
        let mut c = Command::new(bin);
        c.args(args);
        c
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn cluster() -> &'static Cluster {
    static C: OnceLock<Cluster> = OnceLock::new();
    C.get_or_init(|| {
        let bin = pg_bin();
        let dir = tempfile::Builder::new()
            .prefix("headend-pg-")
            .tempdir_in("/tmp")
            .unwrap()
            .keep();
        // Every parent must be searchable by `postgres` (peers.md 15.1).
        Command::new("chmod").arg("755").arg(&dir).status().unwrap();
        let sock = dir.join("sock");
        std::fs::create_dir_all(&sock).unwrap();
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .unwrap();
            assert!(ok.success(), "chown to postgres");
        }
        let data = dir.join("data");
        let out = as_pg(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
                "--no-instructions",
            ],
        )
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let opts = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
                sock.display()
            );
            let out = as_pg(
                &bin.join("pg_ctl"),
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-l",
                    dir.join("pg.log").to_str().unwrap(),
                    "-w",
                    "-t",
                    "30",
                    "-o",
                    &opts,
                    "start",
                ],
            )
            .output()
            .unwrap();
            if out.status.success() {
                // Stopped when this test process exits, whatever the reason.
                let watcher = format!(
                    "while kill -0 {me} 2>/dev/null; do sleep 0.5; done; \
                     {stop} -D {data} -m immediate -w stop >/dev/null 2>&1; rm -rf {dir}",
                    me = std::process::id(),
                    stop = if is_root() {
                        format!("runuser -u postgres -- {}", bin.join("pg_ctl").display())
                    } else {
                        bin.join("pg_ctl").display().to_string()
                    },
                    data = data.display(),
                    dir = dir.display(),
                );
                // `setsid -f` forks it off and returns at once: it outlives us.
                let forked = Command::new("setsid")
                    .args(["-f", "sh", "-c", &watcher])
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .unwrap();
                assert!(forked.success(), "cluster watcher");
                return Cluster { sock, port };
            }
            last = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        panic!("PostgreSQL did not start: {last}");
    })
}

/// A fresh database on the cluster, migrated: its URL.
fn database() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let c = cluster();
    let name = format!(
        "t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let admin = format!(
        "host={} port={} user=postgres dbname=postgres",
        c.sock.display(),
        c.port
    );
    let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    // Over TCP on loopback, as a node would connect.
    format!("postgres://postgres@127.0.0.1:{}/{name}", c.port)
}

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
    let mut sql = postgres::Client::connect(&url, postgres::NoTls).unwrap();
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
    let (store, ()) = make();
    let l: Lease4 = headend_store::suite::lease(1, 1, 1);
    store.apply(&[Mutation::PutLease4(l.clone())]).unwrap();
    // Kill every session of this database from the server side.
    let c = cluster();
    let admin = format!(
        "host={} port={} user=postgres dbname=postgres",
        c.sock.display(),
        c.port
    );
    let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname <> 'postgres' AND pid <> pg_backend_pid() AND application_name = ''",
            &[],
        )
        .unwrap();
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
