//! Issue 21 ("Hardening"), the offer flood: perfdhcp (Kea 2.2) relays a
//! flood of DISCOVERs from random MACs that never REQUEST, while ISC
//! dhclient boots on the same segment — first boot (an empty lease file),
//! then a reboot with its lease. Before: every held offer kept its composed
//! option set (~1.9 KiB) and a flood of all-modem DISCOVERs held the whole
//! 65,520-address pool for 30 s, so a device booting for the first time got
//! no offer. Now: offers are small and shared, a relay circuit holds at
//! most `max_offers_per_circuit` of them, and no account is stored for a
//! device that never held a lease.
//!
//! Topology (peers.md §2, §4): namespaces `srv` and `cli` joined by a veth
//! pair; the server on `vs0` (192.0.2.1), dhclient on `vc0`, perfdhcp on
//! `vc0` as relay 192.0.2.2.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use common::scenarios::{self, SEGMENT_POOL, SEGMENT_SERVER};
use common::{peers_available, run_ok, scratch, start_headend, Dhclient, Perfdhcp, HEADEND};

/// perfdhcp's address on the client side of the veth: the flood's relay.
const FLOOD_RELAY: &str = "192.0.2.2";
/// Flood: DISCOVERs a second, seconds, distinct MACs drawn from.
const FLOOD_RATE: u32 = 10_000;
const FLOOD_SECS: u32 = 20;
const FLOOD_MACS: u32 = 1_000_000;
/// `[dhcpv4] max_offers_per_circuit` of the test.
const CIRCUIT_CAP: usize = 2048;
/// The memory the flood may cost the server (issue 21's target is 64 MiB
/// for 1,000,000 DISCOVERs; `HEADEND_FLOOD_SECS=100` runs that many).
const RSS_BOUND_KIB: u64 = 32 * 1024;

fn config(dir: &Path) -> Result<PathBuf> {
    let text = format!(
        r#"[server]
name = "peer-flood"
store = "{store}"

[provisioning]
auto_provision = {{ expr = '["subscribers"]' }}

[[domain]]
name = "subscribers"

[dhcpv4]
listen = ["0.0.0.0:67"]
interface = "vs0"
server_id = "{SEGMENT_SERVER}"
offer_hold = 10
max_offers_per_circuit = {CIRCUIT_CAP}

[[pool]]
name = "segment"
relays = ["0.0.0.0"]
network = "192.0.2.0/24"
ranges = [["{first}", "{last}"]]
lifetime = 3600
[pool.options]
routers = "{SEGMENT_SERVER}"

[[pool]]
name = "flood"
relays = ["{FLOOD_RELAY}"]
network = "10.10.0.0/16"
ranges = [["10.10.0.10", "10.10.255.250"]]
lifetime = 3600
[pool.options]
routers = "10.10.0.1"
domain-name = "flood.example"
"#,
        store = dir.join("store").display(),
        first = SEGMENT_POOL.0,
        last = SEGMENT_POOL.1,
    );
    let path = dir.join("headend.toml");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// A `/proc/PID/status` field in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// dhclient on `vc0` until BOUND; its address.
fn boot(cli: &common::Netns, dir: &Path, what: &str) -> Result<(String, Duration)> {
    let started = Instant::now();
    let mut client = Dhclient::start(cli, "vc0", dir, 40)?;
    let vars = client
        .wait_bound(Duration::from_secs(35))
        .with_context(|| format!("{what} during the flood"))?;
    let took = started.elapsed();
    client.stop()?;
    let ip = vars
        .get("new_ip_address")
        .context("BOUND without new_ip_address")?
        .clone();
    Ok((ip, took))
}

#[test]
fn an_offer_flood_costs_bounded_memory_and_real_devices_still_boot() -> Result<()> {
    let _heavy = common::heavy();
    if !peers_available("peer_flood", &["perfdhcp", "dhclient"])? {
        return Ok(());
    }
    let dir = scratch("flood")?;
    let (srv, cli) = scenarios::segment()?;
    cli.add_addr("vc0", &format!("{FLOOD_RELAY}/24"))?;
    let cfg = config(dir.path())?;
    let mut server = start_headend(&srv, &cfg)?;
    let pid = server.pid();
    let boots = dir.path().join("boots");
    std::fs::create_dir_all(&boots)?;
    // Warm (the workers' first packets allocate what every packet reuses),
    // then the baseline.
    let warm = Perfdhcp::new(1000, 1024).initial_only().period(2);
    warm.run(&cli, FLOOD_RELAY, SEGMENT_SERVER)?;
    let base_rss = status_kib(pid, "VmRSS")?;

    let secs = std::env::var("HEADEND_FLOOD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(FLOOD_SECS)
        .clamp(FLOOD_SECS, 120);
    let flood = Perfdhcp::new(FLOOD_RATE, FLOOD_MACS)
        .initial_only()
        .period(secs);
    let first_dir = boots.join("first");
    std::fs::create_dir_all(&first_dir)?;
    let (report, boots_result, flood_running) = std::thread::scope(|s| {
        let run = s.spawn(|| flood.run(&cli, FLOOD_RELAY, SEGMENT_SERVER));
        // Let the flood fill its circuit's share first.
        std::thread::sleep(Duration::from_secs(3));
        let boots = boot(&cli, &first_dir, "first boot").and_then(|first| {
            // A reboot: same lease file, so an INIT-REBOOT REQUEST for its address.
            boot(&cli, &first_dir, "reboot").map(|again| (first, again))
        });
        let running = !run.is_finished();
        let report = run.join();
        (report, boots, running)
    });
    let report = match report {
        Ok(r) => r?,
        Err(_) => bail!("the perfdhcp thread panicked"),
    };
    let ((first_ip, first_took), (again_ip, again_took)) = boots_result?;
    let peak_rss = status_kib(pid, "VmHWM")?;
    // Holds end after offer_hold (10 s) and the sweep returns their memory.
    std::thread::sleep(Duration::from_secs(12));
    let after_rss = status_kib(pid, "VmRSS")?;

    server.signal("USR1")?;
    std::thread::sleep(Duration::from_millis(500));
    let log = server.output();
    let counters = log
        .lines()
        .rev()
        .find(|l| l.contains("dhcp_events_total{family=dhcpv4,event=offer}="))
        .unwrap_or_default()
        .to_string();
    let status = server.stop(Duration::from_secs(15))?;
    ensure!(
        status.success(),
        "headend exited {status}:\n{}",
        server.output_tail(4000)
    );

    let mut stats = std::process::Command::new(HEADEND);
    stats.args(["store", "stats", "--config"]).arg(&cfg);
    let stats = run_ok("headend store stats", stats, Duration::from_secs(30))?;

    eprintln!(
        "offer flood: {} DISCOVERs sent, {} OFFERs received ({}); dhclient first boot {first_ip} in {first_took:?}, reboot {again_ip} in {again_took:?}; \
         headend RSS {base_rss} KiB -> peak {peak_rss} KiB (+{} KiB) -> {after_rss} KiB after the holds ended; store: {}",
        report.discover_offer.sent,
        report.discover_offer.received,
        report.summary(),
        peak_rss.saturating_sub(base_rss),
        stats.trim().replace('\n', ", ")
    );
    ensure!(
        flood_running,
        "the flood ended before both boots did: the test proves nothing"
    );
    ensure!(
        report.discover_offer.sent >= u64::from(FLOOD_RATE * secs) / 2,
        "perfdhcp sent too few DISCOVERs: {}",
        report.summary()
    );
    ensure!(
        report.discover_offer.received >= report.discover_offer.sent / 2,
        "the server answered too few of the flood's DISCOVERs: {}",
        report.summary()
    );
    let in_pool = |ip: &str| {
        ip.parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| (SEGMENT_POOL.0..=SEGMENT_POOL.1).contains(&a))
    };
    ensure!(in_pool(&first_ip), "first boot got {first_ip}");
    ensure!(
        again_ip == first_ip,
        "the reboot got {again_ip}, not its {first_ip}"
    );
    let bound = if secs > FLOOD_SECS {
        64 * 1024
    } else {
        RSS_BOUND_KIB
    };
    ensure!(
        peak_rss.saturating_sub(base_rss) < bound,
        "the flood cost {} KiB (bound {bound})",
        peak_rss.saturating_sub(base_rss)
    );
    // The flood's one circuit held at most CIRCUIT_CAP addresses: the rest
    // of its offers recycled the oldest, and the pool never ran dry.
    ensure!(
        counters.contains("event=offer_recycled}="),
        "no offer was recycled: {counters}"
    );
    ensure!(
        !log.contains("pool exhausted"),
        "the flood exhausted a pool:\n{}",
        server.output_tail(4000)
    );
    // One account: dhclient's, stored with its lease; none for the flood.
    ensure!(stats.contains("accounts: 1\n"), "accounts stored: {stats}");
    Ok(())
}
