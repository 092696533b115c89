//! Test support (issue 16 "Proof"): a throwaway PostgreSQL cluster from
//! Debian's `postgresql` package, started under a temp directory on a
//! loopback port (peers.md section 15) by the test process itself, one fresh
//! database per caller. A watcher shell stops the cluster by its PID
//! (`pg_ctl stop`) and removes its directory when the test process exits,
//! however it exits. Panics (it is for tests) when PostgreSQL is missing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// A running throwaway cluster: its socket directory and port.
pub struct Cluster {
    /// Its Unix socket directory.
    pub sock: PathBuf,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
}

/// The server binaries' directory (`/usr/lib/postgresql/N/bin`, the newest).
pub fn pg_bin() -> PathBuf {
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

/// The cluster of this process, started on first use.
pub fn cluster() -> &'static Cluster {
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

/// A fresh, empty database on the cluster: its `postgres://` URL (TCP on loopback).
pub fn database() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    admin()
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    format!("postgres://postgres@127.0.0.1:{}/{name}", cluster().port)
}

/// A superuser session over the cluster's Unix socket.
pub fn admin() -> postgres::Client {
    let c = cluster();
    let url = format!(
        "host={} port={} user=postgres dbname=postgres",
        c.sock.display(),
        c.port
    );
    postgres::Client::connect(&url, postgres::NoTls).unwrap()
}

/// A fresh, empty database on the cluster, as a libpq connection string
/// over the cluster's Unix socket: it reaches the database from inside any
/// network namespace a test creates (the socket is a file).
pub fn database_via_socket() -> String {
    let tcp = database();
    let name = tcp.rsplit('/').next().unwrap_or_default().to_string();
    let c = cluster();
    format!(
        "host={} port={} user=postgres dbname={name}",
        c.sock.display(),
        c.port
    )
}
