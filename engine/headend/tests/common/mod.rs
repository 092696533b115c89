//! Harness for the real-peer integration tests: network namespaces with guaranteed
//! teardown, `headend` and peer processes with bounded waits, bounded `perfdhcp` runs
//! with a parsed summary, `tshark` captures, `dhclient` with a logging hook, and Kea as
//! a reference server; `webdriver` drives headless Chromium. Recipes and pitfalls:
//! shared/docs/peers.md §2 (namespaces), §3 (Kea, perfdhcp), §4 (dhclient),
//! §11 (tshark), §13 (pitfalls), §17 (Chromium, chromedriver).
//!
//! Every wait is bounded in time, every load is bounded in count and duration, and
//! traffic only flows on loopback or veth links inside namespaces created here.

// Each test binary uses a different subset of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

pub mod scenarios;
pub mod webdriver;

/// The `headend` binary built by cargo for these tests.
pub const HEADEND: &str = env!("CARGO_BIN_EXE_headend");

/// The line `headend run` prints once every listener is bound.
pub const READY_LINE: &str = "headend: ready";

/// How long a server gets to bind its sockets and say so.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of a process's output is kept for failure messages.
const LOG_KEEP: usize = 1 << 20;

// ---------------------------------------------------------------------------
// Preconditions
// ---------------------------------------------------------------------------

/// Whether the peer tests can run here: root (namespaces) and every tool on PATH.
///
/// Outside CI a missing precondition skips the test with a message, so `cargo test`
/// works on a laptop; under CI (`CI` set, as `.ci/run` is run) it is an error, so a
/// broken install cannot turn the peer tests into silent passes.
pub fn peers_available(test: &str, tools: &[&str]) -> Result<bool> {
    let mut missing = Vec::new();
    if !is_root() {
        missing.push("root (network namespaces)".to_string());
    }
    for tool in tools {
        if find_on_path(tool).is_none() {
            missing.push(format!("`{tool}` on PATH"));
        }
    }
    if missing.is_empty() {
        return Ok(true);
    }
    let why = format!("{test}: needs {}", missing.join(", "));
    if std::env::var_os("CI").is_some() {
        bail!("{why} (CI must install the peers: see .ci/run)");
    }
    eprintln!("SKIPPED {why}; run .ci/run's install step to enable it");
    Ok(false)
}

/// Whether this test runs as root (network namespaces need it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// `headend user add` on `config` with `password` on standard input.
pub fn add_user(
    config: &Path,
    name: &str,
    role: &str,
    domains: &[&str],
    password: &str,
) -> Result<()> {
    use std::io::Write as _;
    let mut cmd = Command::new(HEADEND);
    cmd.args(["user", "add", "--config"])
        .arg(config)
        .args([name, "--role", role]);
    for d in domains {
        cmd.args(["--domain", d]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting headend user add")?;
    if let Some(mut stdin) = child.stdin.take() {
        writeln!(stdin, "{password}")?;
    }
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "user add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// One DORA by `examples/lab/dora.py` (the lab CMTS relay 127.0.0.2) to
/// `server`, run by `python` (`ns.command("python3")` inside a namespace):
/// the ACKed address, or an error with everything it printed.
pub fn lab_dora(mut python: Command, server: &str, args: &[&str]) -> Result<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lab/dora.py");
    let out = python
        .arg(&script)
        .args(["--server", server])
        .args(args)
        .output()
        .context("running dora.py")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(out.status.success(), "dora.py {args:?} failed:\n{text}");
    text.lines()
        .find_map(|l| l.strip_prefix("ACK: yiaddr "))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .with_context(|| format!("no ACK from dora.py {args:?}:\n{text}"))
}

/// Where `tool` is: PATH, then /usr/sbin and /sbin.
pub fn find_on_path(tool: &str) -> Option<PathBuf> {
    // perfdhcp, dhclient and kea-dhcp4 live in /usr/sbin, which a non-login PATH may lack.
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|dir| Path::new(dir).join(tool))
        .find(|p| p.is_file());
    found
}

/// A scratch directory for one test, removed when dropped.
pub fn scratch(prefix: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("headend-{prefix}-"))
        .tempdir()
        .context("creating a scratch directory")
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

struct Captured {
    text: String,
    closed_streams: u8,
}

struct Shared {
    state: Mutex<Captured>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Captured> {
        // A reader thread that panicked while holding the lock left valid text behind.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A child process whose stdout and stderr are collected, stopped by its own PID on drop.
pub struct Proc {
    label: String,
    child: Child,
    shared: Arc<Shared>,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `cmd` with stdin closed and both output streams captured.
    pub fn spawn(label: &str, cmd: Command) -> Result<Proc> {
        Proc::spawn_with(label, cmd, true)
    }

    /// Starts `cmd` capturing only stdout (stderr discarded), for output that is parsed.
    pub fn spawn_stdout(label: &str, cmd: Command) -> Result<Proc> {
        Proc::spawn_with(label, cmd, false)
    }

    fn spawn_with(label: &str, mut cmd: Command, stderr: bool) -> Result<Proc> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if stderr {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {label}: {cmd:?}"))?;
        let shared = Arc::new(Shared {
            state: Mutex::new(Captured {
                text: String::new(),
                closed_streams: 0,
            }),
            changed: Condvar::new(),
        });
        if let Some(out) = child.stdout.take() {
            spawn_reader(out, Arc::clone(&shared));
        }
        match child.stderr.take() {
            Some(err) => spawn_reader(err, Arc::clone(&shared)),
            None => shared.lock().closed_streams += 1,
        }
        Ok(Proc {
            label: label.to_string(),
            child,
            shared,
            status: None,
        })
    }

    /// The process's own PID (`ip netns exec` execs in place, so this is the program's).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it printed so far (the last megabyte at most).
    pub fn output(&self) -> String {
        self.shared.lock().text.clone()
    }

    /// The last `max` bytes of its output, for failure messages.
    pub fn output_tail(&self, max: usize) -> String {
        let text = self.output();
        let mut start = text.len().saturating_sub(max);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text.get(start..).unwrap_or_default().to_string()
    }

    /// Its exit status, if it has exited.
    pub fn try_status(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait().context("polling a child")?;
        }
        Ok(self.status)
    }

    /// Waits until its output contains `needle`; fails if it exits first or time runs out.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.shared.lock().text.contains(needle) {
                return Ok(());
            }
            if let Some(status) = self.try_status()? {
                // Give the reader threads a moment to drain what it printed last.
                self.wait_streams_closed(Duration::from_millis(500));
                if self.shared.lock().text.contains(needle) {
                    return Ok(());
                }
                bail!(
                    "{} exited ({status}) before printing {needle:?}; its output:\n{}",
                    self.label,
                    self.output_tail(8000)
                );
            }
            let now = Instant::now();
            if now >= deadline {
                bail!(
                    "{} did not print {needle:?} within {timeout:?}; its output:\n{}",
                    self.label,
                    self.output_tail(8000)
                );
            }
            let guard = self.shared.lock();
            if !guard.text.contains(needle) {
                let step = (deadline - now).min(Duration::from_millis(100));
                drop(self.shared.changed.wait_timeout(guard, step));
            }
        }
    }

    /// Waits for it to exit by itself, at most `timeout`; kills it and fails otherwise.
    pub fn wait(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_status()? {
                self.wait_streams_closed(Duration::from_secs(2));
                return Ok(status);
            }
            if Instant::now() >= deadline {
                self.kill_hard();
                bail!(
                    "{} still running after {timeout:?}, killed; its output:\n{}",
                    self.label,
                    self.output_tail(8000)
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal (`TERM`, `INT`, `HUP`, …) to its PID, if it is still running.
    pub fn signal(&mut self, sig: &str) -> Result<()> {
        if self.try_status()?.is_some() {
            return Ok(());
        }
        // The child is not reaped until we wait for it, so its PID cannot be reused here.
        let status = Command::new("kill")
            .args(["-s", sig, &self.pid().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("running kill")?;
        if !status.success() && self.try_status()?.is_none() {
            bail!("kill -s {sig} {} failed ({})", self.pid(), self.label);
        }
        Ok(())
    }

    /// Stops it with SIGTERM and waits up to `timeout`, then SIGKILL; returns how it ended.
    pub fn stop(&mut self, timeout: Duration) -> Result<ExitStatus> {
        self.signal("TERM")?;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.try_status()? {
                self.wait_streams_closed(Duration::from_secs(2));
                return Ok(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.kill_hard();
        bail!(
            "{} ignored SIGTERM for {timeout:?}, killed; its output:\n{}",
            self.label,
            self.output_tail(8000)
        )
    }

    fn kill_hard(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    fn wait_streams_closed(&self, timeout: Duration) {
        // A grandchild that inherited the pipes may keep them open: never wait unbounded.
        let deadline = Instant::now() + timeout;
        let mut guard = self.shared.lock();
        while guard.closed_streams < 2 {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            guard = match self.shared.changed.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.try_status(), Ok(None)) && self.stop(Duration::from_secs(5)).is_err() {
            self.kill_hard();
        }
    }
}

fn spawn_reader(stream: impl Read + Send + 'static, shared: Arc<Shared>) {
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let mut guard = shared.lock();
                    guard.text.push_str(&String::from_utf8_lossy(&line));
                    if guard.text.len() > LOG_KEEP {
                        let mut cut = guard.text.len() - LOG_KEEP / 2;
                        while !guard.text.is_char_boundary(cut) {
                            cut += 1;
                        }
                        guard.text.replace_range(..cut, "[…]\n");
                    }
                    drop(guard);
                    shared.changed.notify_all();
                }
            }
        }
        shared.lock().closed_streams += 1;
        shared.changed.notify_all();
    });
}

/// Runs a command to completion within `timeout`, returning its combined output.
pub fn run_bounded(label: &str, cmd: Command, timeout: Duration) -> Result<(ExitStatus, String)> {
    let mut proc = Proc::spawn(label, cmd)?;
    let status = proc.wait(timeout)?;
    Ok((status, proc.output()))
}

/// Runs a command within `timeout` and fails unless it exits 0.
pub fn run_ok(label: &str, cmd: Command, timeout: Duration) -> Result<String> {
    let (status, out) = run_bounded(label, cmd, timeout)?;
    ensure!(status.success(), "{label} failed ({status}):\n{out}");
    Ok(out)
}

fn ip(args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    run_ok(
        &format!("ip {}", args.join(" ")),
        cmd,
        Duration::from_secs(10),
    )
}

/// Serialises the tests that load both cores of the machine (boot storms,
/// floods, perfdhcp at rate): they share one test binary with the rest of
/// the suite, and two of them at once would push plugin deadlines and loss
/// ceilings past what they assert. Hold the guard for the whole test.
pub fn heavy() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    // A heavy test that failed poisoned it; the next one still runs.
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// Network namespaces
// ---------------------------------------------------------------------------

static NETNS_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A network namespace created for one test: `he<pid>x<n>`, deleted on drop.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a fresh namespace with `lo` up.
    pub fn new() -> Result<Netns> {
        let n = NETNS_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("he{}x{n}", std::process::id());
        ip(&["netns", "add", &name])?;
        // From here on Drop removes it, even if the next step fails.
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A namespace shaped like peers.md's `pl`: `lo` with 127.0.0.1 and 127.0.0.2, so a
    /// server on 127.0.0.1:67 and perfdhcp acting as relay 127.0.0.2:67 can coexist.
    pub fn loopback_relay() -> Result<Netns> {
        let ns = Netns::new()?;
        ns.add_addr("lo", "127.0.0.2/8")?;
        Ok(ns)
    }

    /// Its name, for `ip netns exec`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NAME args…`.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Adds an address (`"192.0.2.1/24"`) to an interface of this namespace.
    pub fn add_addr(&self, dev: &str, cidr: &str) -> Result<()> {
        self.ip(&["addr", "add", cidr, "dev", dev]).map(drop)
    }

    /// A command that runs `program` inside this namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// UDP `RcvbufErrors` of this namespace (datagrams dropped on a full socket buffer).
    pub fn udp_rcvbuf_errors(&self) -> Result<u64> {
        let mut cmd = self.command("cat");
        cmd.arg("/proc/net/snmp");
        let snmp = run_ok("cat /proc/net/snmp", cmd, Duration::from_secs(5))?;
        udp_counter(&snmp, "RcvbufErrors")
    }

    fn pids(&self) -> Vec<u32> {
        Command::new("ip")
            .args(["netns", "pids", &self.name])
            .stderr(Stdio::null())
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Anything still inside was started by this test (a Proc's grandchild, say):
        // end it by PID so the namespace really goes away.
        for _ in 0..50 {
            let pids = self.pids();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = Command::new("kill")
                    .args(["-s", "KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Joins two namespaces with a veth pair (`a_dev` in `a`, `b_dev` in `b`), both up.
/// The pair is created directly inside the namespaces, so names never clash between tests.
pub fn veth_pair(a: &Netns, a_dev: &str, b: &Netns, b_dev: &str) -> Result<()> {
    ip(&[
        "link",
        "add",
        a_dev,
        "netns",
        a.name(),
        "type",
        "veth",
        "peer",
        "name",
        b_dev,
        "netns",
        b.name(),
    ])?;
    a.ip(&["link", "set", a_dev, "up"])?;
    b.ip(&["link", "set", b_dev, "up"])?;
    Ok(())
}

/// Reads one counter of the `Udp:` table in `/proc/net/snmp` text.
pub fn udp_counter(snmp: &str, name: &str) -> Result<u64> {
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let header = udp.next().context("no Udp: header in /proc/net/snmp")?;
    let values = udp.next().context("no Udp: values in /proc/net/snmp")?;
    let col = header
        .split_whitespace()
        .position(|h| h == name)
        .with_context(|| format!("no {name} column in /proc/net/snmp"))?;
    values
        .split_whitespace()
        .nth(col)
        .context("short Udp: line")?
        .parse()
        .context("Udp counter is not a number")
}

// ---------------------------------------------------------------------------
// headend
// ---------------------------------------------------------------------------

/// Runs `headend check --config FILE`, failing with its messages unless it exits 0.
pub fn headend_check(config: &Path) -> Result<()> {
    let mut cmd = Command::new(HEADEND);
    cmd.arg("check").arg("--config").arg(config);
    run_ok("headend check", cmd, Duration::from_secs(30))
        .map(drop)
        .with_context(|| format!("config {}:\n{}", config.display(), read_lossy(config)))
}

/// Starts `headend run --config FILE` inside `ns` and waits for its ready line.
pub fn start_headend(ns: &Netns, config: &Path) -> Result<Proc> {
    headend_check(config)?;
    let mut cmd = ns.command(HEADEND);
    cmd.arg("run").arg("--config").arg(config);
    let mut proc = Proc::spawn("headend run", cmd)?;
    proc.wait_for(READY_LINE, READY_TIMEOUT)?;
    Ok(proc)
}

/// `headend run --config FILE` (here, not in a namespace), ready: the
/// process and the first address of its ready line that starts with
/// `prefix` (`"127.0.0.1:"`, `"[::1]:"`); an error carries its output.
pub fn run_ready(config: &Path, prefix: &str) -> Result<(Proc, std::net::SocketAddr)> {
    let mut cmd = Command::new(HEADEND);
    cmd.arg("run").arg("--config").arg(config);
    let mut p = Proc::spawn("headend run", cmd)?;
    if let Err(e) = p.wait_for(READY_LINE, READY_TIMEOUT) {
        bail!("{e}\n{}", p.output_tail(4000));
    }
    let out = p.output();
    let line = out
        .lines()
        .find(|l| l.contains(READY_LINE))
        .unwrap_or_default();
    let addr = line
        .split(['(', ')', ','])
        .map(str::trim)
        .find(|s| s.starts_with(prefix))
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no {prefix} address in {line}"))?;
    Ok((p, addr))
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A DHCPv4 server under test, started and restarted by the shared scenarios.
pub trait Dhcp4Server {
    /// Name for messages.
    fn name(&self) -> &str;
    /// Starts it in `ns` and returns once it serves.
    fn start(&mut self, ns: &Netns) -> Result<()>;
    /// Stops it gracefully (SIGTERM), failing if it does not stop in time.
    fn stop(&mut self) -> Result<()>;
    /// Its log so far, for failure messages.
    fn log(&self) -> String;
}

/// `headend run` on one config file; its store lives where the config says.
pub struct HeadendServer {
    config: PathBuf,
    proc: Option<Proc>,
}

impl HeadendServer {
    /// A server for `config` (not started yet).
    pub fn new(config: PathBuf) -> HeadendServer {
        HeadendServer { config, proc: None }
    }
}

impl Dhcp4Server for HeadendServer {
    fn name(&self) -> &str {
        "headend"
    }

    fn start(&mut self, ns: &Netns) -> Result<()> {
        self.proc = Some(start_headend(ns, &self.config)?);
        Ok(())
    }

    fn stop(&mut self) -> Result<()> {
        if let Some(mut proc) = self.proc.take() {
            let status = proc.stop(Duration::from_secs(15))?;
            ensure!(
                status.success(),
                "headend exited {status} on SIGTERM; its output:\n{}",
                proc.output_tail(8000)
            );
        }
        Ok(())
    }

    fn log(&self) -> String {
        self.proc
            .as_ref()
            .map(|p| p.output_tail(8000))
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------
// Kea (the reference server; peers.md §3.2)
// ---------------------------------------------------------------------------

/// Kea 2.2 kea-dhcp4 with a memfile lease file, configured like a headend test config.
pub struct KeaServer {
    dir: PathBuf,
    config: PathBuf,
    proc: Option<Proc>,
}

/// Where a Kea instance listens and which subnet it serves.
pub struct KeaLayout<'a> {
    /// `interfaces-config.interfaces`, e.g. `"lo/127.0.0.1"` or `"vs0"`.
    pub interface: &'a str,
    /// `"udp"` for relayed traffic on loopback, `"raw"` for a broadcast segment.
    pub socket_type: &'a str,
    /// Subnet, e.g. `"10.10.0.0/16"`.
    pub subnet: &'a str,
    /// Pool range, `"first - last"`.
    pub pool: &'a str,
    /// Relay address the subnet is selected by, if relayed.
    pub relay: Option<&'a str>,
    /// Router option value.
    pub router: &'a str,
    /// Enable Kea's multi-threading with this many threads (off in Kea 2.2 by default).
    pub threads: Option<u32>,
}

impl KeaServer {
    /// Writes `kea4.json` into `dir` for `layout`; the lease file also lives in `dir`.
    /// A `docsis` client class returns option 122 and option 125 (enterprise 4491),
    /// so Kea does the same option work as headend's CableLabs policy.
    pub fn new(dir: &Path, layout: &KeaLayout<'_>) -> Result<KeaServer> {
        let config = dir.join("kea4.json");
        std::fs::write(&config, kea_config(dir, layout))
            .with_context(|| format!("writing {}", config.display()))?;
        Ok(KeaServer {
            dir: dir.to_path_buf(),
            config,
            proc: None,
        })
    }

    /// The memfile lease file.
    pub fn lease_file(&self) -> PathBuf {
        self.dir.join("kea-leases4.csv")
    }
}

fn sbin(tool: &str) -> PathBuf {
    find_on_path(tool).unwrap_or_else(|| PathBuf::from(tool))
}

/// The JSON configuration `KeaServer` runs with.
pub fn kea_config(dir: &Path, l: &KeaLayout<'_>) -> String {
    let relay = l
        .relay
        .map(|r| format!(r#""relay": {{ "ip-addresses": [ "{r}" ] }},"#))
        .unwrap_or_default();
    let mt = match l.threads {
        Some(n) => format!(
            r#""multi-threading": {{ "enable-multi-threading": true, "thread-pool-size": {n}, "packet-queue-size": 256 }},"#
        ),
        None => String::new(),
    };
    format!(
        r#"{{ "Dhcp4": {{
  "interfaces-config": {{ "interfaces": [ "{iface}" ], "dhcp-socket-type": "{sock}" }},
  "lease-database": {{ "type": "memfile", "persist": true, "name": "{dir}/kea-leases4.csv", "lfc-interval": 3600 }},
  {mt}
  "valid-lifetime": 3600, "renew-timer": 1800, "rebind-timer": 3150,
  "option-def": [ {{ "name": "cablelabs-client-conf", "code": 122, "type": "binary", "space": "dhcp4" }} ],
  "client-classes": [ {{
      "name": "docsis",
      "test": "substring(option[60].text,0,6) == 'docsis'",
      "option-data": [
        {{ "name": "cablelabs-client-conf", "code": 122, "csv-format": false, "data": "0104c00002010204c0000201" }},
        {{ "name": "vivso-suboptions", "data": "4491" }},
        {{ "name": "tftp-servers", "space": "vendor-4491", "data": "192.0.2.1" }} ] }} ],
  "subnet4": [ {{
      "id": 1, "subnet": "{subnet}", {relay}
      "pools": [ {{ "pool": "{pool}" }} ],
      "option-data": [ {{ "name": "routers", "data": "{router}" }} ] }} ],
  "loggers": [ {{ "name": "kea-dhcp4", "output_options": [ {{ "output": "stdout" }} ], "severity": "INFO" }} ]
}} }}
"#,
        iface = l.interface,
        sock = l.socket_type,
        dir = dir.display(),
        subnet = l.subnet,
        pool = l.pool,
        router = l.router,
    )
}

impl Dhcp4Server for KeaServer {
    fn name(&self) -> &str {
        "kea-dhcp4"
    }

    fn start(&mut self, ns: &Netns) -> Result<()> {
        let kea = sbin("kea-dhcp4").to_string_lossy().into_owned();
        // The syntax check resolves interface names, so it runs inside the namespace too.
        let mut check = ns.command(&kea);
        check.arg("-t").arg(&self.config);
        run_ok("kea-dhcp4 -t", check, Duration::from_secs(30))?;
        let mut cmd = ns.command(&kea);
        cmd.arg("-c").arg(&self.config);
        // Otherwise Kea wants /run/kea for its lock and PID files.
        cmd.env("KEA_LOCKFILE_DIR", &self.dir)
            .env("KEA_PIDFILE_DIR", &self.dir);
        let mut proc = Proc::spawn("kea-dhcp4", cmd)?;
        proc.wait_for("DHCP4_STARTED", READY_TIMEOUT)?;
        self.proc = Some(proc);
        Ok(())
    }

    fn stop(&mut self) -> Result<()> {
        if let Some(mut proc) = self.proc.take() {
            proc.stop(Duration::from_secs(15))?;
        }
        Ok(())
    }

    fn log(&self) -> String {
        self.proc
            .as_ref()
            .map(|p| p.output_tail(8000))
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------
// perfdhcp (peers.md §3.1, §3.6)
// ---------------------------------------------------------------------------

/// One bounded perfdhcp -4 run in relay mode: `perfdhcp -4 -l LOCAL … SERVER`.
#[derive(Clone, Debug)]
pub struct Perfdhcp {
    /// `-r`: DORA exchanges started per second (never unlimited: that only overloads).
    pub rate: u32,
    /// `-R`: number of distinct clients (MACs counting up from the base).
    pub clients: u32,
    /// `-p`: test period in seconds.
    pub period_s: Option<u32>,
    /// `-n`: number of exchanges. perfdhcp 2.2 misses the last ACK with `-n 1`: use ≥ 3.
    pub exchanges: Option<u32>,
    /// `-b mac=…`: first client MAC.
    pub base_mac: Option<String>,
    /// `-o code,hex`: options added to DISCOVER and REQUEST (55 is appended to perfdhcp's own).
    pub options: Vec<(u8, String)>,
    /// `-x l`: print the leases received, so addresses can be checked.
    pub print_leases: bool,
    /// `-g single` instead of perfdhcp's multi-threaded mode.
    pub single_thread: bool,
    /// `-i`: DISCOVER-OFFER only, never a REQUEST (a flood of offers).
    pub initial_only: bool,
    /// `-W`: microseconds to keep receiving after the last send (in-flight exchanges
    /// would otherwise count as drops).
    pub wait_us: u32,
}

impl Perfdhcp {
    /// `rate` exchanges/s over `clients` clients, with `-W 1000000`; add a bound next.
    pub fn new(rate: u32, clients: u32) -> Perfdhcp {
        Perfdhcp {
            rate,
            clients,
            period_s: None,
            exchanges: None,
            base_mac: None,
            options: Vec::new(),
            print_leases: false,
            single_thread: false,
            initial_only: false,
            wait_us: 1_000_000,
        }
    }

    /// Bounds the run to `secs` seconds (`-p`).
    pub fn period(mut self, secs: u32) -> Perfdhcp {
        self.period_s = Some(secs);
        self
    }

    /// Bounds the run to `n` exchanges (`-n`).
    pub fn exchanges(mut self, n: u32) -> Perfdhcp {
        self.exchanges = Some(n);
        self
    }

    /// Sets the first client MAC (`-b mac=`).
    pub fn base_mac(mut self, mac: &str) -> Perfdhcp {
        self.base_mac = Some(mac.to_string());
        self
    }

    /// Adds an option to DISCOVER and REQUEST (`-o code,hex`).
    pub fn option(mut self, code: u8, hex: &str) -> Perfdhcp {
        self.options.push((code, hex.to_string()));
        self
    }

    /// Sends DISCOVERs only (`-i`): offers that are never taken.
    pub fn initial_only(mut self) -> Perfdhcp {
        self.initial_only = true;
        self
    }

    /// Asks for the received leases to be printed (`-x l`).
    pub fn print_leases(mut self) -> Perfdhcp {
        self.print_leases = true;
        self
    }

    /// The longest this run may take, perfdhcp's own start-up and `-W` included.
    pub fn time_bound(&self) -> Result<Duration> {
        ensure!(self.rate > 0, "perfdhcp without a rate floods the server");
        let by_period = self.period_s.map(u64::from);
        let by_count = self
            .exchanges
            .map(|n| u64::from(n).div_ceil(u64::from(self.rate)));
        let secs = match (by_period, by_count) {
            (Some(p), Some(c)) => p.min(c),
            (Some(p), None) => p,
            (None, Some(c)) => c,
            (None, None) => bail!("perfdhcp needs -p or -n, or it runs until interrupted"),
        };
        ensure!(
            secs <= 600,
            "a {secs} s perfdhcp run is too long for a test"
        );
        Ok(Duration::from_secs(secs + 5) + Duration::from_micros(u64::from(self.wait_us)))
    }

    /// The argument list after `perfdhcp`.
    pub fn args(&self, local: &str, server: &str) -> Vec<String> {
        let mut a: Vec<String> = vec!["-4".into()];
        if self.single_thread {
            a.extend(["-g".into(), "single".into()]);
        }
        if self.initial_only {
            a.push("-i".into());
        }
        a.extend([
            "-l".into(),
            local.into(),
            "-r".into(),
            self.rate.to_string(),
            "-R".into(),
            self.clients.to_string(),
            "-W".into(),
            self.wait_us.to_string(),
        ]);
        if let Some(p) = self.period_s {
            a.extend(["-p".into(), p.to_string()]);
        }
        if let Some(n) = self.exchanges {
            a.extend(["-n".into(), n.to_string()]);
        }
        if let Some(mac) = &self.base_mac {
            a.extend(["-b".into(), format!("mac={mac}")]);
        }
        // `-o` must come after `-4`.
        for (code, hex) in &self.options {
            a.extend(["-o".into(), format!("{code},{hex}")]);
        }
        if self.print_leases {
            a.extend(["-x".into(), "l".into()]);
        }
        a.push(server.into());
        a
    }

    /// Runs it in `ns` with local (relay) address `local` against `server`, bounded in
    /// time twice: by `timeout` inside the namespace and by a deadline here.
    pub fn run(&self, ns: &Netns, local: &str, server: &str) -> Result<PerfReport> {
        let bound = self.time_bound()?;
        let mut cmd = ns.command("timeout");
        // SIGINT makes perfdhcp print its final report; KILL 5 s later if it does not stop.
        cmd.args(["-s", "INT", "-k", "5", &bound.as_secs().to_string()])
            .arg(sbin("perfdhcp"))
            .args(self.args(local, server));
        let (status, text) = run_bounded("perfdhcp", cmd, bound + Duration::from_secs(10))?;
        // 3 = "one or more exchanges were not completed": the report says how many.
        if !matches!(status.code(), Some(0) | Some(3)) {
            bail!("perfdhcp failed ({status}):\n{text}");
        }
        let mut report = PerfReport::parse(&text)?;
        report.exit_code = status.code();
        Ok(report)
    }
}

/// The counters of one exchange type (DISCOVER-OFFER or REQUEST-ACK).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exchange {
    /// `sent packets`.
    pub sent: u64,
    /// `received packets`.
    pub received: u64,
    /// `drops`.
    pub drops: u64,
    /// `drops ratio`, percent.
    pub drops_ratio_pct: f64,
    /// `orphans`: replies that matched no exchange.
    pub orphans: u64,
    /// `avg delay`, milliseconds.
    pub avg_delay_ms: f64,
}

impl Exchange {
    /// Whether at least `permille`/1000 of the sent requests got an answer (and any were sent).
    pub fn completed(&self, permille: u64) -> bool {
        self.sent > 0 && self.received * 1000 >= self.sent * permille
    }
}

/// perfdhcp's final report.
#[derive(Clone, Debug, Default)]
pub struct PerfReport {
    /// Its exit code (0, or 3 when some exchanges were not completed).
    pub exit_code: Option<i32>,
    /// `Rate: … 4-way exchanges/second` (includes the `-W` tail).
    pub rate: f64,
    /// DISCOVER → OFFER.
    pub discover_offer: Exchange,
    /// REQUEST → ACK.
    pub request_ack: Exchange,
    /// With `-x l`: (client-id hex, address) of every ACK, in arrival order.
    pub leases: Vec<(String, Ipv4Addr)>,
    /// The whole output.
    pub text: String,
}

impl PerfReport {
    /// Parses perfdhcp 2.2's output.
    pub fn parse(text: &str) -> Result<PerfReport> {
        let mut report = PerfReport {
            text: text.to_string(),
            ..PerfReport::default()
        };
        enum Section {
            None,
            Stats(bool),
            Leases(bool),
        }
        let mut section = Section::None;
        let mut saw = (false, false);
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("Rate:") {
                report.rate = first_number(rest).context("Rate: line without a number")?;
                continue;
            }
            if line.starts_with("***") {
                section = match line {
                    "***Statistics for: DISCOVER-OFFER***" => Section::Stats(true),
                    "***Statistics for: REQUEST-ACK***" => Section::Stats(false),
                    "***Leases for DISCOVER-OFFER***" => Section::Leases(true),
                    "***Leases for REQUEST-ACK***" => Section::Leases(false),
                    _ => Section::None,
                };
                continue;
            }
            match section {
                Section::Stats(is_do) => {
                    let Some((key, value)) = line.split_once(':') else {
                        continue;
                    };
                    let ex = if is_do {
                        saw.0 = true;
                        &mut report.discover_offer
                    } else {
                        saw.1 = true;
                        &mut report.request_ack
                    };
                    let num = || first_number(value).with_context(|| format!("bad line {line:?}"));
                    match key.trim() {
                        "sent packets" => ex.sent = num()? as u64,
                        "received packets" => ex.received = num()? as u64,
                        "drops" => ex.drops = num()? as u64,
                        "drops ratio" => ex.drops_ratio_pct = num()?,
                        "orphans" => ex.orphans = num()? as u64,
                        "avg delay" => ex.avg_delay_ms = num()?,
                        _ => {}
                    }
                }
                Section::Leases(false) => {
                    let mut fields = line.split(',');
                    let (Some(id), Some(addr)) = (fields.next(), fields.next()) else {
                        continue;
                    };
                    if let Ok(addr) = addr.parse() {
                        report.leases.push((id.to_string(), addr));
                    }
                }
                Section::Leases(true) | Section::None => {}
            }
        }
        // `-i` runs print DISCOVER-OFFER only.
        let initial_only = text
            .lines()
            .any(|l| l.starts_with("Running: perfdhcp") && l.split_whitespace().any(|w| w == "-i"));
        ensure!(
            saw.0 && (saw.1 || initial_only),
            "perfdhcp printed no DISCOVER-OFFER / REQUEST-ACK statistics:\n{text}"
        );
        Ok(report)
    }

    /// One line for messages: rate, and sent/received/drop ratio of both exchanges.
    pub fn summary(&self) -> String {
        let (d, r) = (&self.discover_offer, &self.request_ack);
        format!(
            "rate {:.0}/s; DO {}/{} ({} % drops, {:.3} ms avg); RA {}/{} ({} % drops, {:.3} ms avg)",
            self.rate,
            d.received,
            d.sent,
            d.drops_ratio_pct,
            d.avg_delay_ms,
            r.received,
            r.sent,
            r.drops_ratio_pct,
            r.avg_delay_ms
        )
    }

    /// The ACKed address of each client; fails if a client got two different addresses
    /// or two clients got the same one.
    pub fn lease_map(&self) -> Result<BTreeMap<String, Ipv4Addr>> {
        let mut by_client = BTreeMap::new();
        let mut by_addr: BTreeMap<Ipv4Addr, String> = BTreeMap::new();
        for (client, addr) in &self.leases {
            // perfdhcp lists the client identifier of the reply, not of its request.
            ensure!(
                !client.is_empty(),
                "the ACK for {addr} carries no client identifier (option 61), which \
                 RFC 6842 §3 requires the server to echo; perfdhcp cannot tell clients apart"
            );
            if let Some(prev) = by_client.insert(client.clone(), *addr) {
                ensure!(prev == *addr, "client {client} got {prev} and then {addr}");
            }
            if let Some(other) = by_addr.insert(*addr, client.clone()) {
                ensure!(other == *client, "{addr} went to {other} and to {client}");
            }
        }
        Ok(by_client)
    }
}

fn first_number(s: &str) -> Option<f64> {
    s.split_whitespace().next()?.parse().ok()
}

/// A MAC address written `aa:bb:cc:dd:ee:ff` from the low 48 bits of `v`.
pub fn mac_from_u64(v: u64) -> String {
    let b = v.to_be_bytes();
    b.get(2..)
        .unwrap_or_default()
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Hex of an ASCII string, for `-o 60,…`.
pub fn hex_of(s: &str) -> String {
    s.bytes().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

// ---------------------------------------------------------------------------
// tshark (peers.md §11)
// ---------------------------------------------------------------------------

/// A running tshark capture into a pcapng file.
pub struct Capture {
    proc: Proc,
    file: PathBuf,
    duration: Duration,
}

impl Capture {
    /// Starts `tshark -i IFACE -f FILTER -a duration:SECS [-c PACKETS] -w FILE` in `ns`
    /// and returns once it is capturing.
    pub fn start(
        ns: &Netns,
        iface: &str,
        filter: &str,
        max_packets: Option<u32>,
        duration_s: u32,
        file: &Path,
    ) -> Result<Capture> {
        ensure!(
            (1..=120).contains(&duration_s),
            "capture duration must be 1..=120 s"
        );
        let mut cmd = ns.command("tshark");
        cmd.args(["-n", "-i", iface, "-f", filter])
            .arg("-a")
            .arg(format!("duration:{duration_s}"));
        if let Some(c) = max_packets {
            cmd.arg("-c").arg(c.to_string());
        }
        cmd.arg("-w").arg(file);
        let mut proc = Proc::spawn("tshark capture", cmd)?;
        proc.wait_for("Capturing on", Duration::from_secs(20))?;
        Ok(Capture {
            proc,
            file: file.to_path_buf(),
            duration: Duration::from_secs(u64::from(duration_s)),
        })
    }

    /// Waits for it to end by itself (packet count or duration reached), at most the
    /// duration plus a margin, and returns the file.
    pub fn finish(mut self) -> Result<PathBuf> {
        self.proc.wait(self.duration + Duration::from_secs(10))?;
        Ok(self.file.clone())
    }

    /// Stops it now (SIGINT flushes the file) and returns the file.
    pub fn stop(mut self) -> Result<PathBuf> {
        self.proc.signal("INT")?;
        self.proc.wait(Duration::from_secs(10))?;
        Ok(self.file.clone())
    }
}

/// `tshark -r FILE -V -Y FILTER`: the full decode of the matching frames.
pub fn tshark_verbose(file: &Path, display_filter: &str) -> Result<String> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n")
        .arg("-r")
        .arg(file)
        .args(["-V", "-Y", display_filter]);
    tshark_read(cmd)
}

/// `tshark -r FILE -Y FILTER -T fields -e …`: one row of fields per matching frame.
pub fn tshark_fields(
    file: &Path,
    display_filter: &str,
    fields: &[&str],
) -> Result<Vec<Vec<String>>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n").arg("-r").arg(file).args([
        "-Y",
        display_filter,
        "-T",
        "fields",
        "-E",
        "separator=|",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let text = tshark_read(cmd)?;
    Ok(text
        .lines()
        .map(|l| l.split('|').map(str::to_string).collect())
        .collect())
}

fn tshark_read(cmd: Command) -> Result<String> {
    // Only stdout: stderr carries the harmless "Running as user root" warning.
    let mut proc = Proc::spawn_stdout("tshark -r", cmd)?;
    let status = proc.wait(Duration::from_secs(60))?;
    ensure!(
        status.success(),
        "tshark -r failed ({status}):\n{}",
        proc.output_tail(4000)
    );
    Ok(proc.output())
}

/// Lines of a `tshark -V` decode that report a problem: malformed packets, expert
/// infos of severity Error or Warning, and fields flagged `[Invalid]`.
pub fn decode_problems(verbose: &str) -> Vec<String> {
    verbose
        .lines()
        .filter(|l| {
            l.contains("Malformed")
                || l.contains("[Expert Info (Error")
                || l.contains("[Expert Info (Warning")
                || l.contains("[Invalid]")
        })
        .map(|l| l.trim().to_string())
        .collect()
}

/// The decode of each frame of a `tshark -V` output, split at its `Frame N:` lines.
pub fn split_frames(verbose: &str) -> Vec<String> {
    let mut frames: Vec<String> = Vec::new();
    for line in verbose.lines() {
        if line.starts_with("Frame ") || frames.is_empty() {
            frames.push(String::new());
        }
        if let Some(f) = frames.last_mut() {
            f.push_str(line);
            f.push('\n');
        }
    }
    frames.retain(|f| f.starts_with("Frame "));
    frames
}

// ---------------------------------------------------------------------------
// dhclient (peers.md §4)
// ---------------------------------------------------------------------------

/// `dhclient -4 -1 -d` under `timeout` in a namespace, with a hook script that only logs.
pub struct Dhclient {
    proc: Proc,
    hook_log: PathBuf,
}

impl Dhclient {
    /// Starts it on `iface` in `ns`; its lease, PID and hook log files go into `dir`.
    /// `timeout_s` bounds its whole life.
    pub fn start(ns: &Netns, iface: &str, dir: &Path, timeout_s: u32) -> Result<Dhclient> {
        Self::start_with(ns, iface, dir, timeout_s, None)
    }

    /// [`Dhclient::start`] with `conf` as its configuration (`-cf`), e.g. to
    /// send an FQDN option.
    pub fn start_with(
        ns: &Netns,
        iface: &str,
        dir: &Path,
        timeout_s: u32,
        conf: Option<&Path>,
    ) -> Result<Dhclient> {
        let hook_log = dir.join("hook.log");
        let script = dir.join("log-script.sh");
        // The hook must not touch interfaces or resolv.conf: it records the environment
        // dhclient hands it, one block per call, and a closing marker so a reader never
        // sees half a block.
        let body = format!(
            "#!/bin/sh\n{{ echo \"=== reason=$reason\"; env | grep -E '^(new_|old_|reason|interface)' | sort; echo '=== end'; }} >> '{}'\nexit 0\n",
            hook_log.display()
        );
        std::fs::write(&script, body).context("writing the dhclient hook")?;
        let mut chmod = Command::new("chmod");
        chmod.arg("755").arg(&script);
        run_ok("chmod", chmod, Duration::from_secs(5))?;
        let mut cmd = ns.command("timeout");
        cmd.args(["-k", "5", &timeout_s.to_string()])
            .arg(sbin("dhclient"))
            .args(["-4", "-v", "-1", "-d", "-sf"])
            .arg(&script)
            .arg("-lf")
            .arg(dir.join("dhclient.leases"))
            .arg("-pf")
            .arg(dir.join("dhclient.pid"));
        if let Some(conf) = conf {
            cmd.arg("-cf").arg(conf);
        }
        cmd.arg(iface);
        let proc = Proc::spawn("dhclient", cmd)?;
        Ok(Dhclient { proc, hook_log })
    }

    /// `dhclient -4 -r`: releases the lease [`Dhclient::start_with`] left in
    /// `dir` (a PID file of its own, so it signals nobody) and returns its
    /// output once it exits (bounded).
    pub fn release(ns: &Netns, iface: &str, dir: &Path, conf: Option<&Path>) -> Result<String> {
        let mut cmd = ns.command("timeout");
        cmd.args(["-k", "5", "20"])
            .arg(sbin("dhclient"))
            .args(["-4", "-v", "-r", "-sf"])
            .arg(dir.join("log-script.sh"))
            .arg("-lf")
            .arg(dir.join("dhclient.leases"))
            .arg("-pf")
            .arg(dir.join("dhclient-release.pid"));
        if let Some(conf) = conf {
            cmd.arg("-cf").arg(conf);
        }
        cmd.arg(iface);
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .context("running dhclient -r")?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(out.status.success(), "dhclient -r failed:\n{text}");
        Ok(text)
    }

    /// Waits (bounded) for the hook call with `reason=BOUND` and returns its variables.
    pub fn wait_bound(&mut self, timeout: Duration) -> Result<BTreeMap<String, String>> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = read_lossy(&self.hook_log);
            if let Some(vars) = hook_blocks(&log)
                .into_iter()
                .find(|b| b.get("reason").map(String::as_str) == Some("BOUND"))
            {
                return Ok(vars);
            }
            let exited = self.proc.try_status()?;
            if exited.is_some() || Instant::now() >= deadline {
                bail!(
                    "dhclient was not BOUND ({}); its output:\n{}\nhook log:\n{log}",
                    match exited {
                        Some(s) => format!("exited {s}"),
                        None => format!("still waiting after {timeout:?}"),
                    },
                    self.proc.output_tail(4000)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// `dhclient -6 -1 -d` with `mode` (`-N` address, `-P` prefix, or both as
    /// `-N -P` given separately) on `iface` in `ns`, like [`Dhclient::start`] (peers.md §4).
    pub fn start_v6(
        ns: &Netns,
        iface: &str,
        dir: &Path,
        timeout_s: u32,
        mode: &[&str],
    ) -> Result<Dhclient> {
        let hook_log = dir.join("hook6.log");
        let script = dir.join("log-script6.sh");
        let body = format!(
            "#!/bin/sh\n{{ echo \"=== reason=$reason\"; env | grep -E '^(new_|old_|reason|interface)' | sort; echo '=== end'; }} >> '{}'\nexit 0\n",
            hook_log.display()
        );
        std::fs::write(&script, body).context("writing the dhclient -6 hook")?;
        let mut chmod = Command::new("chmod");
        chmod.arg("755").arg(&script);
        run_ok("chmod", chmod, Duration::from_secs(5))?;
        let mut cmd = ns.command("timeout");
        cmd.args(["-k", "5", &timeout_s.to_string()])
            .arg(sbin("dhclient"))
            .args(["-6", "-v", "-1", "-d"])
            .args(mode)
            .arg("-sf")
            .arg(&script)
            .arg("-lf")
            .arg(dir.join("dhclient6.leases"))
            .arg("-pf")
            .arg(dir.join("dhclient6.pid"))
            .arg(iface);
        let proc = Proc::spawn("dhclient -6", cmd)?;
        Ok(Dhclient { proc, hook_log })
    }

    /// Waits (bounded) for hook calls with `reason` until one satisfies `done`, and
    /// returns every such call so far (dhclient -6 reports IA_NA and IA_PD in separate
    /// BOUND6 calls).
    pub fn wait_reason(
        &mut self,
        reason: &str,
        timeout: Duration,
        done: impl Fn(&[BTreeMap<String, String>]) -> bool,
    ) -> Result<Vec<BTreeMap<String, String>>> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = read_lossy(&self.hook_log);
            let calls: Vec<_> = hook_blocks(&log)
                .into_iter()
                .filter(|b| b.get("reason").map(String::as_str) == Some(reason))
                .collect();
            if done(&calls) {
                return Ok(calls);
            }
            let exited = self.proc.try_status()?;
            if exited.is_some() || Instant::now() >= deadline {
                bail!(
                    "dhclient did not report {reason} as expected ({}); its output:\n{}\nhook log:\n{log}",
                    match exited {
                        Some(s) => format!("exited {s}"),
                        None => format!("still waiting after {timeout:?}"),
                    },
                    self.proc.output_tail(4000)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops it by PID (its `timeout` wrapper passes SIGTERM on).
    pub fn stop(mut self) -> Result<()> {
        self.proc.stop(Duration::from_secs(10)).map(drop)
    }
}

/// The complete `=== reason=… / === end` blocks of a hook log, as variable maps.
pub fn hook_blocks(log: &str) -> Vec<BTreeMap<String, String>> {
    let mut blocks = Vec::new();
    let mut current: Option<BTreeMap<String, String>> = None;
    for line in log.lines() {
        if line.starts_with("=== reason=") {
            current = Some(BTreeMap::new());
        } else if line == "=== end" {
            if let Some(b) = current.take() {
                blocks.push(b);
            }
        } else if let (Some(b), Some((k, v))) = (current.as_mut(), line.split_once('=')) {
            b.insert(k.to_string(), v.to_string());
        }
    }
    blocks
}

/// A one-pool DHCPv4 configuration served on 127.0.0.1:6767 behind the lab
/// relay 127.0.0.2, its store at `store` (the store tests' site).
pub fn one_pool_config(store: &str) -> String {
    format!(
        r#"[server]
store = "{store}"
[dhcpv4]
listen = ["127.0.0.1:6767"]
[[pool]]
name = "p"
relays = ["127.0.0.2"]
network = "10.50.0.0/16"
ranges = [["10.50.0.10", "10.50.0.250"]]
[[policy]]
name = "p"
enforced = true
domains = ["all"]
[policy.options]
routers = "10.50.0.1"
"#
    )
}

/// A plugin built by `plugins/build.sh` (absolute path); `None` (the test is
/// skipped) outside CI when it is missing.
pub fn dist_plugin(name: &str) -> Option<std::path::PathBuf> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugins/dist")
        .join(format!("{name}.wasm"));
    if p.is_file() {
        return p.canonicalize().ok();
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing: CI must run plugins/build.sh before the tests",
        p.display()
    );
    eprintln!("SKIPPED: {} missing; run plugins/build.sh", p.display());
    None
}

// ---------------------------------------------------------------------------
// BIND 9 for the dynamic DNS tests (issue 17; as engine/ddns/tests/bind.rs)
// ---------------------------------------------------------------------------

/// The TSIG key BIND accepts updates with.
pub const DDNS_KEY: &str = "ddns-key";
/// Its secret (hmac-sha256).
pub const DDNS_SECRET: &str = "4xc0d+wrz3zGagarlKrvR6scLtnb5cD+5Fl/aQ/4RN4=";
/// A secret BIND does not know under that name.
pub const DDNS_WRONG_SECRET: &str = "bm90IHRoZSBzZWNyZXQgQklORCBrbm93cyBhdCBhbGw=";

/// `named` in the foreground (inside a namespace, or on the host's
/// loopback with `ns` = `None`), on `127.0.0.1:port`, with
/// the zones example.test, 2.0.192.in-addr.arpa and 8.b.d.0.1.0.0.2.ip6.arpa
/// open to updates signed with [`DDNS_KEY`]. The zone files (and the
/// journals of updates) stay in `dir` across [`Named::stop`] / [`Named::start`].
pub struct Named {
    proc: Option<Proc>,
    dir: PathBuf,
    /// Its port on the namespace's loopback.
    pub port: u16,
}

impl Named {
    /// Writes the configuration and zones into `dir` and starts named.
    pub fn start(ns: Option<&Netns>, dir: &Path, port: u16) -> Result<Named> {
        let d = dir.display();
        let conf = format!(
            r#"key "{DDNS_KEY}" {{ algorithm hmac-sha256; secret "{DDNS_SECRET}"; }};
options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    allow-query {{ any; }};
    dnssec-validation no;
    notify no;
}};
controls {{ }};
zone "example.test" {{ type primary; file "forward.db"; update-policy {{ grant {DDNS_KEY} zonesub ANY; }}; }};
zone "2.0.192.in-addr.arpa" {{ type primary; file "reverse4.db"; update-policy {{ grant {DDNS_KEY} zonesub ANY; }}; }};
zone "8.b.d.0.1.0.0.2.ip6.arpa" {{ type primary; file "reverse6.db"; update-policy {{ grant {DDNS_KEY} zonesub ANY; }}; }};
"#
        );
        std::fs::write(dir.join("named.conf"), conf)?;
        let soa = "$TTL 300\n@ IN SOA ns1.example.test. hostmaster.example.test. ( 1 3600 600 86400 300 )\n  IN NS ns1.example.test.\n";
        std::fs::write(dir.join("forward.db"), format!("{soa}ns1 IN A 127.0.0.1\n"))?;
        std::fs::write(dir.join("reverse4.db"), soa)?;
        std::fs::write(dir.join("reverse6.db"), soa)?;
        let mut named = Named {
            proc: None,
            dir: dir.to_path_buf(),
            port,
        };
        named.restart(ns)?;
        Ok(named)
    }

    /// Starts named again (after [`Named::stop`]) and waits until it answers.
    pub fn restart(&mut self, ns: Option<&Netns>) -> Result<()> {
        let mut cmd = in_ns(ns, "named");
        cmd.args(["-g", "-n", "1", "-c"])
            .arg(self.dir.join("named.conf"));
        let mut proc = Proc::spawn("named", cmd)?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = proc.try_status()? {
                bail!("named exited ({status}):\n{}", proc.output_tail(4000));
            }
            if self
                .dig(ns, "example.test", "SOA")
                .contains("ns1.example.test.")
            {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "named did not answer within 20 s:\n{}",
                proc.output_tail(4000)
            );
            thread::sleep(Duration::from_millis(100));
        }
        self.proc = Some(proc);
        Ok(())
    }

    /// Stops it (SIGTERM by PID).
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut p) = self.proc.take() {
            p.stop(Duration::from_secs(10))?;
        }
        Ok(())
    }

    /// `dig +short NAME TYPE` (2 s, one try), whitespace-joined.
    pub fn dig(&self, ns: Option<&Netns>, name: &str, rtype: &str) -> String {
        let mut cmd = in_ns(ns, "dig");
        cmd.args([
            "@127.0.0.1",
            "-p",
            &self.port.to_string(),
            "+time=2",
            "+tries=1",
            "+short",
        ])
        .args([name, rtype]);
        let out = cmd
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        out.unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Polls `dig NAME TYPE` every 200 ms until `ok` holds for its answer
    /// (at most `timeout`); the last answer, or an error saying what was seen.
    pub fn wait(
        &self,
        ns: Option<&Netns>,
        name: &str,
        rtype: &str,
        timeout: Duration,
        ok: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.dig(ns, name, rtype);
            if ok(&got) {
                return Ok(got);
            }
            ensure!(
                Instant::now() < deadline,
                "dig {name} {rtype}: {got:?} after {timeout:?}"
            );
            thread::sleep(Duration::from_millis(200));
        }
    }
}

/// `program` inside `ns`, or on the host.
fn in_ns(ns: Option<&Netns>, program: &str) -> Command {
    ns.map_or_else(|| Command::new(program), |ns| ns.command(program))
}

/// A loopback port free for UDP and TCP (named listens on both).
pub fn free_udp_tcp_port() -> Result<u16> {
    for _ in 0..50 {
        let Ok(udp) = std::net::UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = udp.local_addr() else { continue };
        if std::net::TcpListener::bind(addr).is_ok() {
            return Ok(addr.port());
        }
    }
    bail!("no free loopback port")
}
