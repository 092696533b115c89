//! Issue 21, "full disk / fsync error": headend's store on a 16 MiB tmpfs
//! that the test fills up. A lease ACKed before stays; the REQUEST whose
//! commit fails gets no ACK and its address is given back in memory; the
//! server then offers nothing (so clients go to a healthy peer) and says
//! so; once space returns, service resumes — in the same process if the
//! store takes commits again, else after the server has stopped with an
//! error for its supervisor (sled refuses writes after an I/O error until
//! reopened) and is started again — with no ACKed lease lost.
//! The client is `examples/lab/dora.py` through the lab relay.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Netns, Proc, HEADEND};

/// A size-limited tmpfs, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path) -> SmallDisk {
        std::fs::create_dir_all(at).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
            .arg(at)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs");
        SmallDisk(at.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn dora(ns: &Netns, mac: &str) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lab/dora.py");
    ns.command("python3")
        .arg(&script)
        .args(["--server", "127.0.0.1:6767", "--mac", mac, "--timeout", "1"])
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Fills the filesystem of `dir` until a write fails.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let chunk = vec![0u8; 1 << 16];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
}

#[test]
fn a_full_disk_stops_offers_and_service_resumes_with_no_acked_lease_lost() {
    if !common::peers_available("store_full_disk", &["python3", "ip", "mount"]).unwrap() {
        return;
    }
    let dir = common::scratch("full-disk").unwrap();
    let disk = SmallDisk::mount(&dir.path().join("disk"));
    let cfg = dir.path().join("headend.toml");
    std::fs::write(
        &cfg,
        common::one_pool_config(&disk.0.join("store").display().to_string()),
    )
    .unwrap();
    let ns = Netns::loopback_relay().unwrap();
    let mut server = common::start_headend(&ns, &cfg).unwrap();

    let ack_ip = |o: &Output| {
        text(o)
            .split("ACK: yiaddr ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .map(str::to_string)
    };
    let first = dora(&ns, "3c:00:00:00:aa:01");
    assert!(
        first.status.success(),
        "{}\n{}",
        text(&first),
        server.output()
    );
    let mut acked: Vec<String> = ack_ip(&first).into_iter().collect();

    fill(&disk.0);
    // sled writes into pages its log already holds until it needs a new
    // one: devices keep booting until a commit fails, which gets no ACK
    // (the OFFER may come first).
    let mut failed = None;
    for i in 0..200u32 {
        let o = dora(&ns, &format!("3c:00:00:01:{:02x}:{:02x}", i >> 8, i & 0xff));
        match ack_ip(&o) {
            Some(ip) if o.status.success() => acked.push(ip),
            _ => {
                failed = Some(o);
                break;
            }
        }
    }
    let failed = failed.expect("200 leases committed on a full disk");
    assert!(!failed.status.success(), "{}", text(&failed));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.output().contains("store unhealthy") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        server.output().contains("store unhealthy"),
        "{}",
        server.output()
    );
    // Now nothing is offered at all.
    let refused = dora(&ns, "3c:00:00:00:aa:03");
    assert!(
        text(&refused).contains("no OFFER"),
        "offered while the store is down: {}",
        text(&refused)
    );

    std::fs::remove_file(disk.0.join("filler")).unwrap();
    // Service resumes: in this process, or after it stopped for its
    // supervisor, which this test plays.
    let deadline = Instant::now() + Duration::from_secs(60);
    let resumed = loop {
        if let Some(st) = server.try_status().unwrap() {
            assert!(!st.success(), "stopped with success on a dead store");
            assert!(
                server.output().contains("supervisor restarts"),
                "{}",
                server.output()
            );
            server = common::start_headend(&ns, &cfg).unwrap();
        }
        let d = dora(&ns, "3c:00:00:00:aa:04");
        if d.status.success() {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "service never resumed:\n{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(text(&resumed).contains("ACK: yiaddr"));
    stop(&mut server);

    // No ACKed lease lost: every lease ACKed before the failure is stored.
    let stats = Command::new(HEADEND)
        .args(["--log", "error", "store", "export", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let dump = String::from_utf8_lossy(&stats.stdout);
    for ip in &acked {
        assert!(
            dump.lines()
                .any(|l| l.contains("PutLease4") && l.contains(&format!("\"{ip}\""))),
            "ACKed lease {ip} lost:\n{dump}"
        );
    }
    eprintln!(
        "{} leases ACKed before the disk refused a commit; all kept",
        acked.len()
    );
}

fn stop(p: &mut Proc) {
    if p.try_status().unwrap().is_none() {
        p.stop(Duration::from_secs(30)).unwrap();
    }
}
