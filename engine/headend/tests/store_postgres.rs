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

use common::{Proc, HEADEND, READY_LINE, READY_TIMEOUT};
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
    let mut cmd = Command::new(HEADEND);
    cmd.arg("run").arg("--config").arg(config);
    let mut p = Proc::spawn("headend run", cmd).unwrap();
    p.wait_for(READY_LINE, READY_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}\n{}", p.output_tail(4000)));
    let line = p
        .output()
        .lines()
        .find(|l| l.contains(READY_LINE))
        .unwrap()
        .to_string();
    let addr = line
        .split(['(', ')', ','])
        .map(str::trim)
        .find(|s| s.starts_with("127.0.0.1:"))
        .unwrap_or_else(|| panic!("no DHCPv4 address in {line}"))
        .to_string();
    (p, addr)
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
    let leases = headend_store::Store::load_leases4(&moved).unwrap();
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].ip.to_string(), ip);
}
