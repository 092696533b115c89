//! What the pipeline benchmarks (`dora_bench`, `sarr_bench`) share: their
//! arguments, the synthetic client MACs of preloaded state, the report
//! line, and the lab server over a preloaded memory store.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use headend_model::snapshot::Snapshot;
use headend_server::dhcpv4::process::system_clock;
use headend_server::runtime::Server;
use headend_store::{MemoryStore, Mutation, Store};

/// `[clients] [preloaded]` from the command line (defaults 50,000 and 0).
pub fn args() -> (u32, u32) {
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    (
        args.first().copied().unwrap_or(50_000),
        args.get(1).copied().unwrap_or(0),
    )
}

/// The MAC of preloaded client `i`: `02:00:` + `i` big-endian (locally
/// administered, apart from the benchmark's own clients).
pub fn preload_mac(i: u32) -> [u8; 6] {
    let b = i.to_be_bytes();
    [0x02, 0x00, b[0], b[1], b[2], b[3]]
}

/// The server of `examples/lab/headend.toml` (or of the file named by
/// `HEADEND_LAB_CONFIG`, to compare configurations or an older lab on the
/// same code) over a memory store holding what `preload` makes of the lab
/// snapshot; `None` (reason printed) if the lab does not load.
pub fn lab_server(preload: impl FnOnce(&Snapshot) -> Vec<Mutation>) -> Option<Server> {
    let path = std::env::var_os("HEADEND_LAB_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lab/headend.toml")
        });
    let snap = Snapshot::load(&path, 1)
        .map_err(|e| eprintln!("{e}"))
        .ok()?;
    let store = Arc::new(MemoryStore::default());
    let batch = preload(&snap);
    if let Err(e) = store.apply(&batch) {
        eprintln!("preload: {e}");
        return None;
    }
    Server::with_store(&path, snap, store as Arc<dyn Store>, system_clock())
        .map_err(|e| eprintln!("{e}"))
        .ok()
}

/// Prints the result: `done` exchanges of `what` (costing what `note`
/// says) in `elapsed` on one core, over `preload` preloaded `preloaded`.
pub fn report(done: u32, what: &str, note: &str, elapsed: Duration, preload: u32, preloaded: &str) {
    let s = elapsed.as_secs_f64();
    println!(
        "{done} {what} exchanges in {s:.3} s: {:.1} µs per exchange ({note}), {:.0} exchanges/s on one core; {preload} {preloaded} preloaded",
        s * 1e6 / f64::from(done.max(1)),
        f64::from(done) / s
    );
}
