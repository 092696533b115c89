//! Group-commit throughput of the sled store on this disk.
//!
//! ```text
//! cargo run --release -p headend-store --example commit_bench -- \
//!     [--leases 100000] [--threads 4] [--in-flight 256] [--dir PATH] [--delay-us 0]
//! ```
//!
//! Prints: the latency of one `sync` (sled flush + fsync) after a one-lease
//! apply; then, for `--threads` submitters each keeping up to `--in-flight`
//! leases outstanding, acknowledged commits per second, group sizes and
//! submit-to-acknowledgement latency; then the same with one lease in flight
//! per thread (a latency-bound client).

use std::error::Error;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use headend_store::{
    ClientKey, GroupCommitter, GroupOptions, Lease4, LeaseProtocol, LeaseState, Mutation,
    SledStore, Store,
};

struct Args {
    leases: u32,
    threads: u32,
    in_flight: usize,
    dir: Option<PathBuf>,
    delay: Duration,
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut a = Args {
        leases: 100_000,
        threads: 4,
        in_flight: 256,
        dir: None,
        delay: Duration::ZERO,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--leases" => a.leases = v.parse()?,
            "--threads" => a.threads = v.parse()?,
            "--in-flight" => a.in_flight = v.parse()?,
            "--dir" => a.dir = Some(v.into()),
            "--delay-us" => a.delay = Duration::from_micros(v.parse()?),
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    if a.threads == 0 || a.in_flight == 0 {
        return Err("--threads and --in-flight must be positive".into());
    }
    Ok(a)
}

fn lease(n: u32) -> Lease4 {
    let c = n.to_be_bytes();
    let mac = vec![0x00, 0x10, 0x18, c[1], c[2], c[3]];
    Lease4 {
        ip: Ipv4Addr::from(0x0a00_0000 | n),
        client: ClientKey::from_hardware(1, &mac),
        hwaddr: mac,
        state: LeaseState::Active,
        commit_time: 1_700_000_000 + u64::from(n),
        lifetime: 86_400,
        relay: Ipv4Addr::new(192, 0, 2, (n % 64) as u8),
        protocol: LeaseProtocol::Dhcp,
        pool: "cm-pool".into(),
        trusted_id: Some(vec![0x00, 0x10, 0x18, 0xaa, 0xbb, (n % 251) as u8]),
        trusted_id_type: None,
        hostname: None,
        relay_info: None,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn show(label: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{label}: p50 {:?}  p99 {:?}  max {:?}  (n={})",
        percentile(&v, 0.5),
        percentile(&v, 0.99),
        v.last().copied().unwrap_or_default(),
        v.len()
    );
}

/// Submit `count` leases starting at `first` from `threads` threads, each
/// with at most `in_flight` unacknowledged; returns ack latencies and the
/// wall time.
fn run(
    gc: &GroupCommitter,
    first: u32,
    count: u32,
    threads: u32,
    in_flight: usize,
) -> (Vec<Duration>, Duration) {
    let per = count / threads;
    let started = Instant::now();
    let lat: Vec<Duration> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let (tx, rx) = mpsc::channel::<Option<Duration>>();
                    let mut lat = Vec::with_capacity(per as usize);
                    let mut outstanding = 0usize;
                    let mut failed = 0u32;
                    let mut take = |d: Option<Duration>| match d {
                        Some(d) => lat.push(d),
                        None => failed += 1,
                    };
                    for i in 0..per {
                        while outstanding >= in_flight {
                            match rx.recv() {
                                Ok(d) => take(d),
                                Err(_) => break,
                            }
                            outstanding -= 1;
                        }
                        let n = first + t * per + i;
                        let tx = tx.clone();
                        let at = Instant::now();
                        outstanding += 1;
                        gc.submit(
                            vec![Mutation::PutLease4(lease(n))],
                            Box::new(move |r, _| {
                                let _ = tx.send(r.ok().map(|()| at.elapsed()));
                            }),
                        );
                    }
                    for _ in 0..outstanding {
                        match rx.recv() {
                            Ok(d) => take(d),
                            Err(_) => break,
                        }
                    }
                    if failed > 0 {
                        eprintln!("thread {t}: {failed} batches failed");
                    }
                    lat
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    (lat, started.elapsed())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    println!("store in {}", dir.display());
    let store = Arc::new(SledStore::open(&dir)?);

    // 1. Latency of one durable write, no grouping.
    let mut flush = Vec::new();
    let mut one = Vec::new();
    for n in 0..300u32 {
        let t = Instant::now();
        store.apply(&[Mutation::PutLease4(lease(0x00f0_0000 + n))])?;
        let applied = t.elapsed();
        let t = Instant::now();
        store.sync()?;
        flush.push(t.elapsed());
        one.push(applied);
    }
    show("apply(1 lease)", one);
    show("sync (flush+fsync) after 1 lease", flush);

    // 2. Group commit, many leases in flight.
    let opts = GroupOptions {
        max_delay: args.delay,
        ..GroupOptions::default()
    };
    let gc = GroupCommitter::try_start(store.clone(), opts.clone())?;
    let (lat, wall) = run(&gc, 0, args.leases, args.threads, args.in_flight);
    let st = gc.stats();
    println!(
        "group commit: {} leases, {} threads x {} in flight: {:.0} acknowledged commits/s ({:?})",
        lat.len(),
        args.threads,
        args.in_flight,
        lat.len() as f64 / wall.as_secs_f64(),
        wall
    );
    println!(
        "  groups {}  avg {:.1} batches/group  max {}  mean apply+sync {:?}  max {:?}",
        st.groups,
        st.avg_group,
        st.max_group,
        st.commit_time / u32::try_from(st.groups.max(1)).unwrap_or(u32::MAX),
        st.max_commit
    );
    show("  submit->ack", lat);
    gc.shutdown()?;

    // 3. One lease in flight per thread: bounded by sync latency.
    let gc = GroupCommitter::try_start(store.clone(), opts)?;
    let n = (args.leases / 10).max(args.threads);
    let (lat, wall) = run(&gc, 0x0010_0000, n, args.threads, 1);
    let st = gc.stats();
    println!(
        "group commit, 1 in flight per thread: {:.0} commits/s, avg {:.1} batches/group",
        lat.len() as f64 / wall.as_secs_f64(),
        st.avg_group
    );
    show("  submit->ack", lat);
    gc.shutdown()?;
    println!("{} MB on disk", store.size_on_disk()? >> 20);
    Ok(())
}
