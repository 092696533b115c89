//! Issue 16, the shared store on a real PostgreSQL (a throwaway cluster this
//! test starts, `headend_store_pg::testing`): `headend run` with `[server]
//! database` refuses an unmigrated database with the command to run;
//! `headend store migrate` creates the schema; a relayed DORA by
//! `examples/lab/dora.py` is committed as a row a SQL query finds; after a
//! restart the same client gets the same address back from the database;
//! `headend store stats` counts it; `headend store copy` moves the site to
//! sled and on to a second database, every record read back.
//!
//! Needs `postgresql` and `python3` (scripts/setup --peers); fails, not
//! skips, without them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Proc, HEADEND};
use headend_store_pg::testing::database;

const MAC: &str = "00:10:95:16:00:01";

fn config(dir: &Path, url: &str) -> std::path::PathBuf {
    let path = dir.join("headend.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[server]
store = "node"
database = "{url}"

[dhcpv4]
listen = ["127.0.0.1:0"]

[[pool]]
name = "cm"
relays = ["127.0.0.2"]
network = "10.16.0.0/16"
ranges = [["10.16.0.10", "10.16.0.250"]]
"#
        ),
    )
    .unwrap();
    path
}

fn headend(args: &[&str], config: &Path) -> (bool, String) {
    let out = Command::new(HEADEND)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `headend run`, ready: the process and its DHCPv4 address.
fn run(config: &Path) -> (Proc, String) {
    let (p, addr) = common::run_ready(config, "127.0.0.1:").unwrap();
    (p, addr.to_string())
}

fn dora(server: &str, p: &Proc) -> String {
    common::lab_dora(
        Command::new("python3"),
        server,
        &["--mac", MAC, "--vendor-class", "docsis3.0:"],
    )
    .unwrap_or_else(|e| panic!("{e:#}\n{}", p.output_tail(4000)))
}

#[test]
fn leases_live_in_postgresql_survive_a_restart_and_copy_between_backends() {
    assert!(
        common::find_on_path("python3").is_some(),
        "store_postgres needs python3"
    );
    let dir = common::scratch("store-pg").unwrap();
    let url = database();
    let cfg = config(dir.path(), &url);

    // Not migrated: refused, saying what to do.
    let mut cmd = Command::new(HEADEND);
    cmd.arg("run").arg("--config").arg(&cfg);
    let (status, out) =
        common::run_bounded("headend run (unmigrated)", cmd, Duration::from_secs(30)).unwrap();
    assert!(!status.success(), "{out}");
    assert!(out.contains("headend store migrate"), "{out}");

    let (ok, out) = headend(&["store", "migrate"], &cfg);
    assert!(ok && out.contains("from version 0 to 2"), "{out}");
    let (ok, out) = headend(&["store", "migrate"], &cfg);
    assert!(ok && out.contains("already at version 2"), "{out}");

    // A DORA, committed before the ACK: the row is there.
    let (mut p, addr) = run(&cfg);
    let ip = dora(&addr, &p);
    assert!(ip.starts_with("10.16.0."), "{ip}");
    let mut sql =
        headend_store_pg::postgres::Client::connect(&url, headend_store_pg::postgres::NoTls)
            .unwrap();
    let row = sql
        .query_one(
            "SELECT ip, record->>'pool', record->>'state' FROM leases4 WHERE client = $1",
            &[&[1u8, 0x00, 0x10, 0x95, 0x16, 0x00, 0x01].to_vec()],
        )
        .unwrap();
    let stored: std::net::Ipv4Addr = u32::try_from(row.get::<_, i64>(0)).unwrap().into();
    assert_eq!(stored.to_string(), ip);
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("cm"));
    assert_eq!(row.get::<_, Option<String>>(2).as_deref(), Some("Active"));
    p.stop(Duration::from_secs(20)).unwrap();

    // Restarted: the lease comes back from the database.
    let (mut p, addr) = run(&cfg);
    assert_eq!(dora(&addr, &p), ip, "same address after a restart");
    p.stop(Duration::from_secs(20)).unwrap();
    let (ok, out) = headend(&["store", "stats"], &cfg);
    assert!(
        ok && out.contains("leases4: 1") && out.contains("accounts:"),
        "{out}"
    );

    // A plugin's key/value state, as `headend run` keeps it in a shared store.
    {
        let pg = headend_store_pg::PgStore::connect(&url, 1).unwrap();
        headend_store::Store::apply(
            &pg,
            &[headend_store::Mutation::PutRecord {
                table: headend_store::RecordTable::PluginKv,
                key: "flow/6b6579".into(),
                value: b"state".to_vec(),
            }],
        )
        .unwrap();
    }

    // PostgreSQL -> sled -> another PostgreSQL database, read back each time.
    let sled = dir.path().join("copy.sled");
    let to_sled = format!("sled:{}", sled.display());
    let out = Command::new(HEADEND)
        .args(["store", "copy", "--from", &url, "--to", &to_sled])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("leases4: 1"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    {
        // On sled, plugin state lives in its own tree, `plugin NUL key`.
        let s = headend_store::SledStore::open(&sled).unwrap();
        let tree = s.extra_tree("plugin-kv").unwrap();
        assert_eq!(
            tree.get(b"flow\0key").unwrap().as_deref(),
            Some(&b"state"[..])
        );
    }
    let second = database();
    headend_store_pg::migrate(&second).unwrap();
    let out = Command::new(HEADEND)
        .args(["store", "copy", "--from", &to_sled, "--to", &second])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Into a store that holds data: refused.
    let out = Command::new(HEADEND)
        .args(["store", "copy", "--from", &to_sled, "--to", &second])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds"));
    let moved = headend_store_pg::PgStore::connect(&second, 1).unwrap();
    assert_eq!(
        headend_store::Store::record(&moved, headend_store::RecordTable::PluginKv, "flow/6b6579")
            .unwrap()
            .as_deref(),
        Some(&b"state"[..])
    );
    let leases = headend_store::Store::load_leases4(&moved).unwrap();
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].ip.to_string(), ip);
}

/// Issue 16, faults of the database under a running node: the database
/// refusing connections (every session of the node killed, new ones
/// refused, as when it goes away) makes commits fail — the REQUEST gets no
/// ACK, never one without a commit, and the failure is logged — and DORAs
/// succeed again once it is back; a table locked by another session (a
/// database too slow to commit) holds the ACK until the commit lands; a
/// corrupted row is skipped and reported at start, and the node serves the
/// rest.
#[test]
fn database_outage_slowness_and_a_corrupted_row() {
    assert!(
        common::find_on_path("python3").is_some(),
        "store_postgres needs python3"
    );
    let dir = common::scratch("store-pg-faults").unwrap();
    let url = database();
    let name = url.rsplit('/').next().unwrap().to_string();
    headend_store_pg::migrate(&url).unwrap();
    let cfg = config(dir.path(), &url);
    let (mut p, addr) = run(&cfg);
    let dora_mac = |mac: &str| {
        common::lab_dora(
            Command::new("python3"),
            &addr,
            &["--mac", mac, "--vendor-class", "docsis3.0:"],
        )
    };
    let first =
        dora_mac("00:10:95:16:01:01").unwrap_or_else(|e| panic!("{e:#}\n{}", p.output_tail(4000)));

    // The database goes away: sessions killed, new ones refused.
    let mut admin = headend_store_pg::testing::admin();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .unwrap();
    assert!(
        dora_mac("00:10:95:16:01:02").is_err(),
        "an ACK while the database is away:\n{}",
        p.output_tail(4000)
    );
    p.wait_for("not committed: reply withheld", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", p.output_tail(4000)));

    // Back: the node reconnects and binds again (bounded).
    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let again = loop {
        match dora_mac("00:10:95:16:01:02") {
            Ok(ip) => break ip,
            Err(e) if std::time::Instant::now() > deadline => {
                panic!(
                    "no DORA after the database came back: {e:#}\n{}",
                    p.output_tail(4000)
                )
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    };
    assert_ne!(again, first);
    let mut sql =
        headend_store_pg::postgres::Client::connect(&url, headend_store_pg::postgres::NoTls)
            .unwrap();
    let stored: i64 = sql
        .query_one("SELECT count(*) FROM leases4", &[])
        .unwrap()
        .get(0);
    assert_eq!(stored, 2, "every ACKed lease, no other");

    // Slow: another session holds the lease table; the ACK waits for the
    // commit (dora.py waits 8 s), then arrives.
    let locker_url = url.clone();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let locker = std::thread::spawn(move || {
        let mut c = headend_store_pg::postgres::Client::connect(
            &locker_url,
            headend_store_pg::postgres::NoTls,
        )
        .unwrap();
        let mut tx = c.transaction().unwrap();
        tx.batch_execute("LOCK TABLE leases4 IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(3));
        tx.commit().unwrap();
    });
    locked_rx.recv().unwrap();
    let started = std::time::Instant::now();
    let slow = common::lab_dora(
        Command::new("python3"),
        &addr,
        &[
            "--mac",
            "00:10:95:16:01:03",
            "--vendor-class",
            "docsis3.0:",
            "--timeout",
            "8",
        ],
    )
    .unwrap_or_else(|e| panic!("{e:#}\n{}", p.output_tail(4000)));
    let waited = started.elapsed();
    locker.join().unwrap();
    assert!(slow.starts_with("10.16.0."), "{slow}");
    assert!(
        waited >= Duration::from_millis(2500),
        "the ACK came before the commit could ({waited:?})"
    );
    p.stop(Duration::from_secs(20)).unwrap();

    // A corrupted row: skipped and reported; the node starts and serves.
    sql.execute(
        "UPDATE leases4 SET record = '{\"not\": \"a lease\"}' WHERE ip = (SELECT min(ip) FROM leases4)",
        &[],
    )
    .unwrap();
    let (mut p, addr) = run(&cfg);
    assert!(
        p.output()
            .contains("skipping an undecodable leases4 record"),
        "{}",
        p.output_tail(4000)
    );
    let ip = common::lab_dora(
        Command::new("python3"),
        &addr,
        &["--mac", "00:10:95:16:01:04", "--vendor-class", "docsis3.0:"],
    )
    .unwrap_or_else(|e| panic!("{e:#}\n{}", p.output_tail(4000)));
    assert!(ip.starts_with("10.16.0."), "{ip}");
    p.stop(Duration::from_secs(20)).unwrap();
}
