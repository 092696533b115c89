//! `check`'s proof of the policies against the devices a site expects
//! (issue 20): after the configuration loads, every expression has been
//! type-checked against the context API; this runs the configuration's own
//! pipeline (as `explain` and `headend test` do, over a scratch in-memory
//! store) for a synthetic device of every vendor class the configuration
//! knows (the built-in DOCSIS and PacketCable classes, each declared
//! `[[vendor_class]]` prefix, none at all), in every declared domain and
//! auto-provisioned, from every relay a pool serves (and a local client),
//! asking for every option — then, where `[dhcpv6]` has pools, the same
//! devices over DHCPv6 from every pool6 link. An expression that fails at
//! run time for one of them (a type error, a missing value, a thrown
//! error, an operation limit) is a `check` error naming the device; the
//! same failure for many devices is reported once, with their number.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use std::sync::Arc;

use anyhow::Result;
use headend_model::config::{ConfigError, ConfigErrors};
use headend_model::snapshot::Snapshot;
use headend_server::dhcpv4::process::system_clock;
use headend_server::runtime::Server;
use headend_store::{Account, AccountSource, MemoryStore, Store};
use headend_wire::dhcpv4::code;

use crate::explain::{exchange4, exchange6, v4_server_ip};

/// Option 60 of the built-in device families the synthetic devices use.
const BUILT_IN_CLASSES: [&str; 4] = ["docsis3.0:", "docsis3.1:", "pktc1.5:", "pktc2.0:"];

/// Devices proved at most (a configuration with many relays and classes
/// is sampled evenly up to this many).
const MAX_DEVICES: usize = 512;

/// The failures of the configuration's expressions for the synthetic
/// devices: one line each, with how many devices hit it and one of them.
pub fn prove(config: &Path, snap: Snapshot) -> Result<Vec<String>> {
    // Silently: the scratch server's own lines ("generated the DHCPv6
    // server DUID", per-device warnings …) would read as the real server's
    // in a reload's log, and as noise in `check`'s output.
    tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
        run_devices(config, snap)
    })
}

fn run_devices(config: &Path, snap: Snapshot) -> Result<Vec<String>> {
    // The snapshot comes with its plugins loaded (`check` did): compiling
    // them again would double the time of `check`.
    let server_ip = v4_server_ip(&snap);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let server = Server::with_store(config, snap, store, system_clock())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let snap = server.snapshot();
    let mut classes: Vec<String> = BUILT_IN_CLASSES.iter().map(|c| c.to_string()).collect();
    for vc in &snap.vendor_classes {
        if let Some(p) = &vc.prefix {
            if !classes.contains(p) {
                classes.push(p.clone());
            }
        }
    }
    classes.push(String::new()); // a device without option 60 (CPE)
    let mut domains: Vec<Option<String>> =
        snap.domains.iter().map(|d| Some(d.name.clone())).collect();
    domains.push(None); // auto-provisioned
    let mut relays: Vec<Option<Ipv4Addr>> = Vec::new();
    for p in &snap.pools {
        for r in &p.relays {
            if !relays.contains(&Some(*r)) {
                relays.push(Some(*r));
            }
        }
    }
    relays.push(None);
    let links: Vec<Ipv6Addr> = snap.dhcpv6.as_ref().map_or(Vec::new(), |d| {
        let mut v: Vec<Ipv6Addr> = Vec::new();
        for p in &d.pools {
            for l in &p.links {
                if !v.contains(l) {
                    v.push(*l);
                }
            }
        }
        v
    });
    // Every option asked for, so optional policies are evaluated too.
    let prl: Vec<u8> = (1..=254).collect();
    let mut failures: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut n = 0usize;
    let total = classes.len() * domains.len() * relays.len();
    let step = total.div_ceil(MAX_DEVICES).max(1);
    let svc = server.dhcpv4();
    for (i, ((class, domain), relay)) in classes
        .iter()
        .flat_map(|c| domains.iter().map(move |d| (c, d)))
        .flat_map(|cd| relays.iter().map(move |r| (cd, r)))
        .enumerate()
    {
        if i % step != 0 {
            continue;
        }
        n += 1;
        // Locally administered, one per device, never a real vendor's.
        let mac = [0x02, 0x00, 0x5e, (n >> 16) as u8, (n >> 8) as u8, n as u8];
        let id = headend_store::hex_colon(&mac);
        if let Some(d) = domain {
            svc.accounts.put(Account {
                id: id.clone(),
                domains: vec![d.clone()],
                attributes: BTreeMap::new(),
                created: 0,
                source: AccountSource::Operator,
            });
        }
        let who = format!(
            "a {} device{}{}",
            if class.is_empty() {
                "no-vendor-class".to_string()
            } else {
                class.trim_end_matches(':').to_string()
            },
            domain
                .as_ref()
                .map_or(" (auto-provisioned)".to_string(), |d| format!(
                    " in domain {d}"
                )),
            relay.map_or(" on the local segment".to_string(), |r| format!(
                " via relay {r}"
            ))
        );
        let mut opts = vec![(code::PARAMETER_REQUEST_LIST, prl.clone())];
        if !class.is_empty() {
            opts.push((code::VENDOR_CLASS, class.as_bytes().to_vec()));
        }
        let mut notes = Vec::new();
        if let Some(server_ip) = server_ip {
            let x = exchange4(&server, server_ip, &mac, *relay, &opts)?;
            notes = x.discover_notes;
            notes.extend(x.request_notes);
        }
        for link in &links {
            let x = exchange6(&server, &mac, *link, &opts)?;
            notes.extend(x.solicit_notes);
            notes.extend(x.request_notes);
        }
        for note in notes.into_iter().filter(|n| n.contains("FAILED")) {
            let e = failures.entry(note).or_insert((0, who.clone()));
            e.0 += 1;
        }
    }
    Ok(failures
        .into_iter()
        .map(|(note, (count, who))| {
            if count == 1 {
                format!("{note}\n    for {who}")
            } else {
                format!(
                    "{note}\n    for {who} and {} other synthetic devices",
                    count - 1
                )
            }
        })
        .collect())
}

/// [`prove`] as the server's reload gate: a reload whose expressions fail
/// for one of the synthetic devices is refused like any invalid
/// configuration (SIGHUP logs why) and the running one stays.
pub fn reload_gate() -> headend_server::runtime::ReloadGate {
    Arc::new(|path: &Path, snap: &Snapshot| {
        let fix = "correct the expression, or make it handle such devices";
        let error = |message: String, fix: &str| ConfigError {
            file: path.to_path_buf(),
            line: 0,
            message,
            fix: fix.into(),
        };
        match prove(path, Snapshot::clone_with_hooks(snap, snap.hooks.clone())) {
            Ok(failures) if failures.is_empty() => Ok(()),
            Ok(failures) => Err(ConfigErrors(
                failures.into_iter().map(|m| error(m, fix)).collect(),
            )),
            Err(e) => Err(ConfigErrors(vec![error(
                format!("cannot run the synthetic devices: {e:#}"),
                "",
            )])),
        }
    })
}
