//! Issue 21, "a corrupted store means no service": a store holding an
//! undecodable lease and an undecodable account (written into sled behind
//! headend's back) still starts, says so loudly, and serves a real client
//! (`examples/lab/dora.py` through the lab relay); `headend store check`
//! names the damaged records and exits 1; `store export` keeps every
//! readable record, `store repair` moves the damage to quarantine, and
//! `store import` rebuilds a site from the export.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Netns, HEADEND};

fn headend(args: &[&str]) -> Output {
    Command::new(HEADEND)
        .args(["--log", "error"])
        .args(args)
        .output()
        .expect("run headend")
}

fn config(dir: &Path, store: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{store}.toml"));
    std::fs::write(&path, common::one_pool_config(store)).unwrap();
    path
}

/// Opens sled directly (the server is not running), retrying while a
/// previous handle's background thread still holds the lock.
fn raw_db(path: &Path) -> sled::Db {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match sled::open(path) {
            Ok(db) => return db,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("opening {}: {e}", path.display()),
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_damaged_store_starts_serves_and_is_checked_repaired_exported_and_imported() {
    if !common::peers_available("store_damage", &["python3", "ip"]).unwrap() {
        return;
    }
    let dir = common::scratch("store-damage").unwrap();
    let cfg = config(dir.path(), "site");
    let c = cfg.to_str().unwrap();
    let seeded = headend(&[
        "store", "seed", "--config", c, "--pool", "p", "--count", "100",
    ]);
    assert!(seeded.status.success(), "{}", text(&seeded));

    // Damage: a lease record that does not decode and an account record
    // filed under another account's id.
    {
        let db = raw_db(&dir.path().join("site"));
        db.open_tree("leases4")
            .unwrap()
            .insert([10, 50, 0, 250], vec![1u8, 0xff, 0xff, 0xff])
            .unwrap();
        db.open_tree("accounts")
            .unwrap()
            .insert(b"zz", vec![1u8, 0xfe])
            .unwrap();
        db.flush().unwrap();
    }

    let check = headend(&["store", "check", "--config", c]);
    let out = text(&check);
    assert_eq!(check.status.code(), Some(1), "{out}");
    assert!(out.contains("leases4 key 0a3200fa"), "{out}");
    assert!(out.contains("accounts key 7a7a"), "{out}");

    // It starts (degraded and loud) and serves a real client.
    let ns = Netns::loopback_relay().unwrap();
    let mut server = common::start_headend(&ns, &cfg).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lab/dora.py");
    let dora = ns
        .command("python3")
        .arg(&script)
        .args(["--server", "127.0.0.1:6767", "--mac", "3c:00:00:00:99:01"])
        .output()
        .unwrap();
    let log = server.output();
    assert!(dora.status.success(), "{}\n{log}", text(&dora));
    assert!(
        text(&dora).contains("ACK: yiaddr 10.50."),
        "{}",
        text(&dora)
    );
    assert!(log.contains("undecodable"), "the damage is logged:\n{log}");
    server.stop(Duration::from_secs(30)).unwrap();

    // Export keeps every readable record: 100 seeded + the new lease.
    let dump = dir.path().join("site.jsonl");
    let export = headend(&[
        "store",
        "export",
        "--config",
        c,
        "--out",
        dump.to_str().unwrap(),
    ]);
    assert!(export.status.success(), "{}", text(&export));
    let lines = std::fs::read_to_string(&dump).unwrap();
    assert_eq!(
        lines
            .lines()
            .filter(|l| l.starts_with("{\"PutLease4\""))
            .count(),
        101,
        "{}",
        text(&export)
    );

    let repair = headend(&["store", "repair", "--config", c]);
    assert!(repair.status.success(), "{}", text(&repair));
    assert!(
        text(&repair).contains("2 in quarantine"),
        "{}",
        text(&repair)
    );
    let check = headend(&["store", "check", "--config", c]);
    assert!(check.status.success(), "{}", text(&check));

    // A second site from the export.
    let other = config(dir.path(), "other");
    let o = other.to_str().unwrap();
    let import = headend(&[
        "store",
        "import",
        "--config",
        o,
        "--input",
        dump.to_str().unwrap(),
    ]);
    assert!(import.status.success(), "{}", text(&import));
    let stats = headend(&["store", "stats", "--config", o]);
    assert!(
        text(&stats).contains("leases: 101 (101 active)"),
        "{}",
        text(&stats)
    );
    // A damaged line is named and nothing is written.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{lines}{{\"PutLease4\": 7}}\n")).unwrap();
    let refused = headend(&[
        "store",
        "import",
        "--config",
        o,
        "--input",
        bad.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    let line = format!("bad.jsonl:{}:", lines.lines().count() + 1);
    assert!(text(&refused).contains(&line), "{}", text(&refused));
}
