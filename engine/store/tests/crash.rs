//! Durability under SIGKILL: every lease whose group-commit callback reported
//! `Ok` must be in the sled store after the writing process is killed without
//! warning (the promise in the `headend_store::group` module docs).
//!
//! The test re-executes its own binary as the writer (selected by an
//! environment variable); the writer prints `ACK <ip>` only from the `Done`
//! callback after `Ok`. The parent reads those lines for a while, SIGKILLs
//! the writer, reopens the store and checks every acknowledged lease.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use headend_store::{
    ClientKey, GroupCommitter, GroupOptions, Lease4, LeaseProtocol, LeaseState, Mutation,
    SledStore, Store, StoreError,
};

/// Set (to the store directory) in the child: act as the writer.
const WRITER_DIR: &str = "HEADEND_STORE_CRASH_WRITER_DIR";
/// How long the parent lets the writer run before killing it.
const RUN_FOR: Duration = Duration::from_millis(1500);
/// The writer gives up by itself after this, in case the parent died.
const WRITER_LIMIT: Duration = Duration::from_secs(60);
/// Leases in flight per writer thread; bounds the committer queue.
const IN_FLIGHT: usize = 64;

/// Lease `seq` of writer thread `t`: addresses cycle over 4096 slots per
/// thread, so later writes move an address to another client and relay.
fn lease(t: u32, seq: u32) -> Lease4 {
    let slot = seq % 4096;
    let ip = Ipv4Addr::from(0x0a00_0000 | (t << 16) | slot);
    let c = seq.to_be_bytes();
    let mac = vec![0x00, 0x10, 0x18, c[1], c[2], c[3]];
    Lease4 {
        ip,
        client: ClientKey::from_hardware(1, &mac),
        hwaddr: mac,
        state: LeaseState::Active,
        commit_time: 1_700_000_000 + u64::from(seq),
        lifetime: 3600,
        relay: Ipv4Addr::new(192, 0, 2, (seq % 7) as u8),
        protocol: LeaseProtocol::Dhcp,
        pool: "cm".into(),
        trusted_id: None,
        trusted_id_type: None,
        hostname: Some(format!("cm-{t}-{seq}")),
        relay_info: None,
    }
}

fn writer(dir: &Path) -> Result<(), StoreError> {
    let store = Arc::new(SledStore::open(dir)?);
    let gc = Arc::new(GroupCommitter::try_start(store, GroupOptions::default())?);
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..2u32 {
            let gc = gc.clone();
            s.spawn(move || {
                let in_flight = Arc::new(AtomicUsize::new(0));
                let mut seq = 0u32;
                while started.elapsed() < WRITER_LIMIT {
                    if in_flight.load(Ordering::Acquire) >= IN_FLIGHT {
                        std::thread::sleep(Duration::from_micros(200));
                        continue;
                    }
                    let l = lease(t, seq);
                    let (ip, n) = (l.ip, seq);
                    let in_flight2 = in_flight.clone();
                    in_flight.fetch_add(1, Ordering::AcqRel);
                    gc.submit(
                        vec![Mutation::PutLease4(l)],
                        Box::new(move |r, _| {
                            if r.is_ok() {
                                // Bypass the test harness's capture: this line
                                // is the acknowledgement the parent checks.
                                let mut out = std::io::stdout().lock();
                                let _ = writeln!(out, "ACK {t} {n} {ip}");
                                let _ = out.flush();
                            }
                            in_flight2.fetch_sub(1, Ordering::AcqRel);
                        }),
                    );
                    seq = seq.wrapping_add(1);
                }
            });
        }
    });
    Ok(())
}

#[test]
fn acknowledged_leases_survive_sigkill() {
    if let Some(dir) = std::env::var_os(WRITER_DIR) {
        writer(Path::new(&dir)).unwrap();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spawned = Instant::now();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "acknowledged_leases_survive_sigkill",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WRITER_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("ACK ") && tx.send(line).is_err() {
                break;
            }
        }
    });

    // Last acknowledged write per address: what must be on disk.
    let mut acked: BTreeMap<Ipv4Addr, (u32, u32)> = BTreeMap::new();
    let mut lines = 0usize;
    let mut record = |acked: &mut BTreeMap<Ipv4Addr, (u32, u32)>, line: String| {
        lines += 1;
        let mut f = line.split(' ').skip(1);
        let t: u32 = f.next().unwrap().parse().unwrap();
        let seq: u32 = f.next().unwrap().parse().unwrap();
        let ip: Ipv4Addr = f.next().unwrap().parse().unwrap();
        assert_eq!(lease(t, seq).ip, ip, "{line}");
        let e = acked.entry(ip).or_insert((t, seq));
        if seq >= e.1 {
            *e = (t, seq);
        }
    };
    let deadline = Instant::now() + RUN_FOR;
    let mut first_ack = None;
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        match rx.recv_timeout(deadline - now) {
            Ok(line) => {
                first_ack.get_or_insert_with(Instant::now);
                record(&mut acked, line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => break,
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("writer exited early"),
        }
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "writer was not killed: {status}");
    // Lines already in the pipe were acknowledged before the kill too.
    reader.join().unwrap();
    let before_kill = acked.len();
    for line in rx.try_iter() {
        record(&mut acked, line);
    }
    let n_acks = acked.len();
    eprintln!(
        "{lines} acknowledgements for {n_acks} addresses ({} new after the kill); first ack {:?} after spawn",
        n_acks - before_kill,
        first_ack.map(|t| t - spawned)
    );
    assert!(
        n_acks >= 20,
        "only {n_acks} acknowledgements: the test proves nothing"
    );

    let store = SledStore::open(dir.path()).unwrap();
    let mut missing = Vec::new();
    for (ip, (t, seq)) in &acked {
        match store.lease4(*ip).unwrap() {
            // A newer unacknowledged write of the same address may have
            // survived too; it must then be a later write of the same thread.
            Some(l) if l == lease(*t, *seq) => {}
            Some(l) if l.commit_time > lease(*t, *seq).commit_time => {
                let later = u32::try_from(l.commit_time - 1_700_000_000).unwrap();
                assert_eq!(l, lease(*t, later));
            }
            other => missing.push((*ip, *seq, other)),
        }
    }
    assert!(
        missing.is_empty(),
        "{} acknowledged leases lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );

    // Indexes recovered consistently with the table.
    let all = store.load_leases4().unwrap();
    let mut via_relays = 0;
    for r in 0..7u8 {
        let relay = Ipv4Addr::new(192, 0, 2, r);
        let got = store.leases4_by_relay(relay).unwrap();
        let want: Vec<_> = all.iter().filter(|l| l.relay == relay).cloned().collect();
        assert_eq!(got, want);
        via_relays += got.len();
    }
    assert_eq!(via_relays, all.len());
    for l in all.iter().step_by(97) {
        assert!(store.leases4_by_client(&l.client).unwrap().contains(l));
    }
}
