//! `headend store check | repair | export | import`: the operator's way out
//! of a damaged store (issue 21, "a corrupted store means no service")
//! without deleting it and losing every binding.
//!
//! * `check` lists every record that cannot be read back and every index
//!   entry naming no record; exit 1 if there is any.
//! * `repair` moves them to the store's `quarantine` tree (kept for
//!   recovery) and drops the dangling index entries.
//! * `export` writes every readable record as one JSON mutation per line;
//!   `import` applies such a file to a store (a new one, or another site's),
//!   checking every line first and naming the bad ones by line.
//!
//! All of them open the store directly, so they refuse to run while a
//! server holds it (the store's lock).
//!
//! And for the shared store (issue 16): `migrate` creates or upgrades the
//! PostgreSQL schema of `[server] database`; `copy --from SPEC --to SPEC`
//! moves a site between backends (`sled:PATH` or a `postgres://` URL),
//! into an empty destination, and checks the counts after.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use headend_model::snapshot::Snapshot;
use headend_store::{validate, Mutation, SledStore, Store};

/// Mutations applied per batch by `import`.
const IMPORT_BATCH: usize = 10_000;

fn open(config: &Path) -> Result<SledStore> {
    let snap = Snapshot::load(config, 1).map_err(|e| anyhow!("{e}"))?;
    SledStore::open(&snap.store_path)
        .with_context(|| format!("opening the store {}", snap.store_path.display()))
}

/// `store check`: prints every bad record; exit 1 if any.
pub fn check(config: &Path) -> Result<ExitCode> {
    let store = open(config)?;
    let bad = store.check()?;
    for b in &bad {
        println!("{b}");
    }
    let q = store.quarantined()?;
    if bad.is_empty() {
        println!("store is sound ({q} records in quarantine)");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "{} bad records; `headend store repair --config {}` moves them to quarantine",
            bad.len(),
            config.display()
        );
        Ok(ExitCode::from(1))
    }
}

/// `store repair`: moves bad records to quarantine.
pub fn repair(config: &Path) -> Result<ExitCode> {
    let store = open(config)?;
    let moved = store.repair()?;
    for b in &moved {
        println!("quarantined {b}");
    }
    println!(
        "{} records moved; {} in quarantine",
        moved.len(),
        store.quarantined()?
    );
    Ok(ExitCode::SUCCESS)
}

/// `store export`: one JSON mutation per line to `out` (`-` = stdout).
pub fn export(config: &Path, out: &Path) -> Result<ExitCode> {
    let store = open(config)?;
    let all = store.export()?;
    let sink: Box<dyn Write> = if out == Path::new("-") {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?)
    };
    let mut w = BufWriter::new(sink);
    for m in &all {
        serde_json::to_writer(&mut w, m)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    let skipped = store.skipped_records();
    eprintln!(
        "exported {} records ({skipped} unreadable skipped)",
        all.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// `store import`: applies a file written by `export`, all lines checked
/// before anything is written.
pub fn import(config: &Path, input: &Path) -> Result<ExitCode> {
    let file =
        std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?;
    let mut all = Vec::new();
    let mut errors = 0usize;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", input.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<Mutation>(&line)
            .map_err(|e| e.to_string())
            .and_then(|m| {
                validate(std::slice::from_ref(&m))
                    .map(|()| m)
                    .map_err(|e| e.to_string())
            });
        match parsed {
            Ok(m) => all.push(m),
            Err(e) => {
                errors += 1;
                eprintln!("{}:{}: {e}", input.display(), n + 1);
            }
        }
    }
    if errors > 0 {
        bail!("{errors} bad lines; nothing imported");
    }
    let store = open(config)?;
    for chunk in all.chunks(IMPORT_BATCH) {
        store.apply(chunk)?;
    }
    store.sync()?;
    println!("imported {} records", all.len());
    Ok(ExitCode::SUCCESS)
}

/// A store named on the command line: `sled:PATH` or a PostgreSQL URL.
#[derive(Debug)]
enum Spec {
    Sled(std::path::PathBuf),
    Pg(String),
}

fn spec(s: &str) -> Result<Spec> {
    if let Some(p) = s.strip_prefix("sled:") {
        return Ok(Spec::Sled(p.into()));
    }
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        return Ok(Spec::Pg(s.to_string()));
    }
    bail!("{s:?}: give sled:PATH or a postgres:// URL")
}

/// An opened store and everything it holds.
fn open_spec(s: &Spec) -> Result<Box<dyn Store>> {
    Ok(match s {
        Spec::Sled(p) => {
            std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
            Box::new(SledStore::open(p).with_context(|| format!("opening {}", p.display()))?)
        }
        Spec::Pg(url) => {
            Box::new(headend_store_pg::PgStore::connect(url, 2).map_err(|e| anyhow!("{e}"))?)
        }
    })
}

/// The sled tree of the plugins' key/value state (`plugin NUL key`); in a
/// shared store the same state is `RecordTable::PluginKv` records.
const PLUGIN_KV_TREE: &str = "plugin-kv";

/// The plugin key/value entries of a sled store as the records a shared
/// store keeps them in (`plugin/hex(key)`), so that a copy moves them.
fn sled_plugin_kv(store: &SledStore) -> Result<Vec<Mutation>> {
    let mut out = Vec::new();
    for item in store.extra_tree(PLUGIN_KV_TREE)?.iter() {
        let (k, v) = item.context("reading the plugin key/value tree")?;
        let Some(nul) = k.iter().position(|b| *b == 0) else {
            continue;
        };
        let Ok(plugin) = std::str::from_utf8(&k[..nul]) else {
            continue;
        };
        out.push(Mutation::PutRecord {
            table: headend_store::RecordTable::PluginKv,
            key: format!("{plugin}/{}", headend_store::hex(&k[nul + 1..])),
            value: v.to_vec(),
        });
    }
    Ok(out)
}

/// Writes the plugin key/value records of `batch` into a sled store's own
/// tree (where `headend run` on sled reads them); returns the rest.
fn sled_take_plugin_kv(store: &SledStore, batch: &[Mutation]) -> Result<Vec<Mutation>> {
    let tree = store.extra_tree(PLUGIN_KV_TREE)?;
    let mut rest = Vec::with_capacity(batch.len());
    for m in batch {
        match m {
            Mutation::PutRecord {
                table: headend_store::RecordTable::PluginKv,
                key,
                value,
            } => {
                let (plugin, hex) = key
                    .split_once('/')
                    .with_context(|| format!("plugin key/value record {key:?}"))?;
                let bytes = (0..hex.len() / 2)
                    .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
                    .collect::<Result<Vec<u8>, _>>()
                    .with_context(|| format!("plugin key/value record {key:?}"))?;
                let mut k = plugin.as_bytes().to_vec();
                k.push(0);
                k.extend_from_slice(&bytes);
                tree.insert(k, value.as_slice())
                    .context("writing the plugin key/value tree")?;
            }
            other => rest.push(other.clone()),
        }
    }
    Ok(rest)
}

fn export_spec(s: &Spec) -> Result<Vec<Mutation>> {
    Ok(match s {
        Spec::Sled(p) => {
            let store = SledStore::open(p).with_context(|| format!("opening {}", p.display()))?;
            let mut all = store.export()?;
            all.extend(sled_plugin_kv(&store)?);
            all
        }
        Spec::Pg(url) => headend_store_pg::PgStore::connect(url, 1)
            .map_err(|e| anyhow!("{e}"))?
            .export()?,
    })
}

/// Records per kind, for the copy's report and check.
fn tally(all: &[Mutation]) -> std::collections::BTreeMap<&'static str, usize> {
    let mut t = std::collections::BTreeMap::new();
    for m in all {
        let k = match m {
            Mutation::PutLease4(_) => "leases4",
            Mutation::PutLease6(_) => "leases6",
            Mutation::PutAccount(_) => "accounts",
            Mutation::PutFixed4(_) => "fixed4",
            Mutation::PutTimeline(_) => "timelines",
            Mutation::PutRecord { .. } => "records",
            Mutation::PutMeta { .. } => "meta",
            _ => "other",
        };
        *t.entry(k).or_insert(0) += 1;
    }
    t
}

/// `store copy --from SPEC --to SPEC`: every record of one store into an
/// empty other one, then both read back and compared by kind.
pub fn copy(from: &str, to: &str) -> Result<ExitCode> {
    let (from, to) = (spec(from)?, spec(to)?);
    let all = export_spec(&from)?;
    {
        let dest = open_spec(&to)?;
        let empty = dest.scan_leases4(None, 1)?.is_empty()
            && dest.scan_leases6(None, 1)?.is_empty()
            && dest.scan_accounts(None, 1)?.is_empty();
        if !empty {
            bail!(
                "the destination {to:?} already holds leases or accounts; copy into an empty store"
            );
        }
        drop(dest);
        match &to {
            Spec::Sled(p) => {
                let dest =
                    SledStore::open(p).with_context(|| format!("opening {}", p.display()))?;
                for chunk in all.chunks(IMPORT_BATCH) {
                    dest.apply(&sled_take_plugin_kv(&dest, chunk)?)?;
                }
                dest.sync()?;
            }
            Spec::Pg(_) => {
                let dest = open_spec(&to)?;
                for chunk in all.chunks(IMPORT_BATCH) {
                    dest.apply(chunk)?;
                }
                dest.sync()?;
            }
        }
    }
    let (want, got) = (tally(&all), tally(&export_spec(&to)?));
    for (k, n) in &want {
        println!("{k}: {n}");
    }
    if want != got {
        bail!("the destination reads back {got:?}, not {want:?}");
    }
    println!(
        "copied {} records; the destination reads them all back",
        all.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// `store migrate`: creates or upgrades the schema of `[server] database`.
pub fn migrate(config: &Path) -> Result<ExitCode> {
    let snap = Snapshot::load(config, 1).map_err(|e| anyhow!("{e}"))?;
    let Some(url) = snap.database.as_deref() else {
        bail!(
            "{} has no [server] database: the embedded store needs no migration",
            config.display()
        );
    };
    let (found, now) = headend_store_pg::migrate(url).map_err(|e| anyhow!("{e}"))?;
    if found == now {
        println!("schema already at version {now}");
    } else {
        println!("schema migrated from version {found} to {now}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `headend cluster status`: the nodes and bucket owners of the shared
/// database, with this file's configuration hash beside theirs.
pub fn cluster_status(config: &Path) -> Result<ExitCode> {
    use headend_store::cluster::{BucketSet, Coordinator};
    let snap = Snapshot::load(config, 1).map_err(|e| anyhow!("{e}"))?;
    let Some(url) = snap.database.as_deref() else {
        bail!("{} has no [server] database: no cluster", config.display());
    };
    let mut coord =
        headend_store_pg::cluster::PgCoordinator::connect(url).map_err(|e| anyhow!("{e}"))?;
    let view = coord.view().map_err(|e| anyhow!("{e}"))?;
    println!(
        "{:<16} {:>6} {:<5} {:<7} {:>7} {:<18} {:<10} {:>9}  buckets",
        "node", "epoch", "live", "leaving", "buckets", "config", "version", "silent_ms"
    );
    for n in &view.nodes {
        let mut set = BucketSet::default();
        for b in view
            .buckets
            .iter()
            .filter(|b| b.owner == n.name && b.owner_epoch == n.epoch)
        {
            set.insert(b.bucket);
        }
        println!(
            "{:<16} {:>6} {:<5} {:<7} {:>7} {:<18} {:<10} {:>9}  {}",
            n.name,
            n.epoch,
            if n.live { "yes" } else { "no" },
            if n.leaving { "yes" } else { "no" },
            set.len(),
            n.config_hash,
            n.version,
            n.silent_ms,
            set.ranges()
        );
    }
    let orphans = view
        .buckets
        .iter()
        .filter(|b| {
            !view
                .nodes
                .iter()
                .any(|n| n.name == b.owner && n.epoch == b.owner_epoch && n.live)
        })
        .count();
    let unowned = 256 - view.buckets.len();
    println!("buckets without a live owner: {}", orphans + unowned);
    let hashes: std::collections::BTreeSet<&str> = view
        .nodes
        .iter()
        .filter(|n| n.live)
        .map(|n| n.config_hash.as_str())
        .collect();
    println!("this file's config hash: {}", snap.config_hash);
    if hashes.len() > 1 {
        println!(
            "config drift: the live nodes run {} different configurations",
            hashes.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
