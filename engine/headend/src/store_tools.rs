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
