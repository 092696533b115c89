//! TFTP load generator and benchmark server (bench/tftp-vs-tftpd-hpa.sh).
//!
//! ```text
//! tftp_load serve --listen 127.0.0.1:6969 --root DIR [--cache N] [--seconds S] [--write FILE]
//! tftp_load load  --server 127.0.0.1:6969 --file NAME --total N --concurrency C [--blksize B] [--deadline S]
//! tftp_load hold  --server 127.0.0.1:6969 --file NAME --count N --seconds S
//! ```
//!
//! `serve` runs the headend config server (the same `ConfigServer` the
//! binary runs) with the native DOCSIS generator mapped to `cm-*.cfg`
//! (about 2 KB per file) and every loopback address resolved to one device;
//! `--write FILE` stores one generated file for a static server to serve.
//! `load` runs C concurrent RFC 1350 clients (with blksize when given)
//! until N transfers finished or the deadline passed, checks that each file
//! ends with a short block and has the same size, and prints the rate.
//! `hold` opens N transfers and never acknowledges, to measure the server's
//! memory per concurrent transfer. Everything is bounded in count and time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use headend_abi::Protocol;
use headend_model::config::SourceFile;
use headend_model::snapshot::Snapshot;
use headend_server::configsrv::native::BasicCmGenerator;
use headend_server::configsrv::{
    resolve_file, ConfigServer, DeviceContext, DeviceMemo, StaticResolver,
};
use headend_server::counters::Counters;
use headend_store::{Account, AccountSource};
use headend_wire::tftp::{encode_ack, Packet};
use tokio::net::UdpSocket;

fn args() -> (String, HashMap<String, String>) {
    let mut it = std::env::args().skip(1);
    let cmd = it.next().unwrap_or_default();
    let mut m = HashMap::new();
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        m.insert(k.trim_start_matches("--").to_string(), v);
    }
    (cmd, m)
}

fn get<T: std::str::FromStr>(m: &HashMap<String, String>, k: &str, d: T) -> T {
    m.get(k).and_then(|v| v.parse().ok()).unwrap_or(d)
}

fn main() {
    let (cmd, m) = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(get(&m, "threads", 2usize))
        .enable_all()
        .build()
        .unwrap();
    match cmd.as_str() {
        "serve" => rt.block_on(serve(&m)),
        "load" => rt.block_on(load(&m)),
        "hold" => rt.block_on(hold(&m)),
        _ => {
            eprintln!("usage: tftp_load serve|load|hold --key value …");
            std::process::exit(2);
        }
    }
}

async fn serve(m: &HashMap<String, String>) {
    let listen: SocketAddr = get(&m.clone(), "listen", "127.0.0.1:6969".parse().unwrap());
    let root = m.get("root").cloned().unwrap_or_else(|| ".".into());
    let cache: usize = get(m, "cache", 10_000);
    let text = format!(
        "[server]\nstore = \"st\"\n[tftp]\nlisten = []\nroot = \"{root}\"\n\
         max_transfers = 20000\nmax_transfers_per_client = 20000\ncache_entries = {cache}\n\
         retransmit_ms = {}\n[[tftp.config_file]]\nname = \"cm-*.cfg\"\ngenerator = \"docsis\"\n",
        get(m, "retransmit-ms", 1000u64)
    );
    let snap =
        Arc::new(Snapshot::from_source(&SourceFile::new("bench.toml".into(), text), 1).unwrap());
    let devices = Arc::new(StaticResolver::default());
    let acct = Account {
        id: "00:10:18:00:00:01".into(),
        domains: vec!["docsis".into()],
        attributes: Default::default(),
        created: 0,
        source: AccountSource::Config,
    };
    let dc = DeviceContext::from_parts(Protocol::Lease, &acct.id, Some(&acct), None, None);
    for ip in [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ] {
        devices.insert(ip, dc.clone());
    }
    let cs = ConfigServer::new(
        Arc::new(ArcSwap::from(snap.clone())),
        devices,
        Arc::new(DeviceMemo::default()),
        Arc::new(Counters::default()),
    );
    cs.generators().insert(
        "docsis",
        Arc::new(BasicCmGenerator::new(b"DOCSIS").with_filler(1900)),
    );
    if let Some(out) = m.get("write") {
        let f = resolve_file(&snap, cs.generators(), &dc, "cm-bench.cfg").unwrap();
        std::fs::write(out, &*f.bytes).unwrap();
        println!("wrote {} octets to {out}", f.bytes.len());
        return;
    }
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let sock = headend_server::configsrv::tftp::bind(listen).unwrap();
    println!("serving {}", sock.local_addr().unwrap());
    let tftp = cs.tftp.clone();
    let t = tokio::spawn(tftp.clone().serve(sock, rx));
    let secs = get(m, "seconds", 600u64);
    let report = async {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            eprintln!(
                "active={} downloads={} failed={} cached={} generated={}",
                tftp.active(),
                tftp.stats().downloads.load(Ordering::Relaxed),
                tftp.stats().failed.load(Ordering::Relaxed),
                cs.files.stats().cache_hits.load(Ordering::Relaxed),
                cs.files.stats().generated.load(Ordering::Relaxed),
            );
        }
    };
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(secs)) => {}
        _ = report => {}
    }
    t.abort();
}

fn rrq(file: &str, blksize: u16) -> Vec<u8> {
    let mut p = vec![0, 1];
    p.extend_from_slice(file.as_bytes());
    p.extend_from_slice(b"\0octet\0");
    if blksize != 0 {
        p.extend_from_slice(format!("blksize\0{blksize}\0").as_bytes());
    }
    p
}

/// One download; returns the size on success.
async fn fetch(server: SocketAddr, file: &str, blksize: u16) -> Option<usize> {
    let bind: SocketAddr = if server.is_ipv6() {
        "[::1]:0".parse().ok()?
    } else {
        "127.0.0.1:0".parse().ok()?
    };
    let s = UdpSocket::bind(bind).await.ok()?;
    let blk = if blksize == 0 {
        512
    } else {
        usize::from(blksize)
    };
    let mut last = rrq(file, blksize);
    let mut dest = server;
    s.send_to(&last, dest).await.ok()?;
    let mut buf = vec![0u8; blk + 16];
    let mut expect: u16 = 1;
    let mut size = 0usize;
    loop {
        let mut got = None;
        for _ in 0..4 {
            match tokio::time::timeout(Duration::from_secs(1), s.recv_from(&mut buf)).await {
                Ok(Ok(x)) => {
                    got = Some(x);
                    break;
                }
                Ok(Err(_)) => return None,
                Err(_) => {
                    s.send_to(&last, dest).await.ok()?;
                }
            }
        }
        let (n, from) = got?;
        // RFC 1350 section 4: lock onto the first responder's TID; stray
        // packets (another server's late retransmission to a reused port) are ignored.
        if dest == server {
            if from.ip() != server.ip() {
                continue;
            }
            dest = from;
        } else if from != dest {
            continue;
        }
        match Packet::parse(buf.get(..n)?).ok()? {
            Packet::Oack(_) => {
                last.clear();
                encode_ack(0, &mut last);
                s.send_to(&last, dest).await.ok()?;
            }
            Packet::Data { block, data } if block == expect => {
                size += data.len();
                let done = data.len() < blk;
                last.clear();
                encode_ack(block, &mut last);
                s.send_to(&last, dest).await.ok()?;
                expect = expect.wrapping_add(1);
                if done {
                    return Some(size);
                }
            }
            Packet::Data { .. } => {}
            _ => return None,
        }
    }
}

async fn load(m: &HashMap<String, String>) {
    let server: SocketAddr = get(m, "server", "127.0.0.1:6969".parse().unwrap());
    let file = m
        .get("file")
        .cloned()
        .unwrap_or_else(|| "cm-bench.cfg".into());
    let total: u64 = get(m, "total", 10_000);
    let conc: usize = get(m, "concurrency", 16);
    let blksize: u16 = get(m, "blksize", 0);
    let deadline = Duration::from_secs_f64(get(m, "deadline", 60.0));
    let issued = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let sizes = Arc::new(parking_lot::Mutex::new(std::collections::BTreeSet::new()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (issued, ok, failed, sizes, file) = (
            issued.clone(),
            ok.clone(),
            failed.clone(),
            sizes.clone(),
            file.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while issued.fetch_add(1, Ordering::Relaxed) < total && start.elapsed() < deadline {
                match fetch(server, &file, blksize).await {
                    Some(n) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        sizes.lock().insert(n);
                    }
                    None => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let secs = start.elapsed().as_secs_f64();
    let okn = ok.load(Ordering::Relaxed);
    println!(
        "transfers={okn} failures={} seconds={secs:.2} rate={:.0} sizes={:?}",
        failed.load(Ordering::Relaxed),
        okn as f64 / secs,
        sizes.lock()
    );
}

async fn hold(m: &HashMap<String, String>) {
    let server: SocketAddr = get(m, "server", "127.0.0.1:6969".parse().unwrap());
    let file = m
        .get("file")
        .cloned()
        .unwrap_or_else(|| "cm-bench.cfg".into());
    let count: usize = get(m, "count", 10_000);
    let secs: u64 = get(m, "seconds", 5);
    let mut socks = Vec::with_capacity(count);
    let got = Arc::new(AtomicU64::new(0));
    for _ in 0..count {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.send_to(&rrq(&file, 0), server).await.unwrap();
        socks.push(s);
        if socks.len() % 500 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let mut tasks = Vec::new();
    for s in socks {
        let got = got.clone();
        tasks.push(tokio::spawn(async move {
            let mut buf = [0u8; 600];
            if tokio::time::timeout(Duration::from_secs(secs), s.recv_from(&mut buf))
                .await
                .is_ok()
            {
                got.fetch_add(1, Ordering::Relaxed);
            }
            // Keep the socket (and so the transfer) open until the end.
            tokio::time::sleep(Duration::from_secs(secs)).await;
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    println!("holding={} of {count}", got.load(Ordering::Relaxed));
    for t in tasks {
        let _ = t.await;
    }
}
