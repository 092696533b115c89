//! Which hand-off should the group committer use: `std::sync::mpsc`
//! (bounded `sync_channel`, `try_send` / `recv` + `try_recv` drain) or a
//! `parking_lot::Mutex<Vec<_>>` + `Condvar` (push / swap the whole vector)?
//! Both move the same entries (a batch `Vec` and a boxed callback) from
//! `--producers` threads to one consumer that takes whatever is queued.
//! The last line measures the real `GroupCommitter` over a `MemoryStore`
//! (no fsync), i.e. the committer's own overhead per batch.
//!
//! ```text
//! cargo run --release -p headend-store --example queue_bench -- [--producers 4] [--items 1000000]
//! ```

use std::error::Error;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use headend_store::{Done, GroupCommitter, GroupOptions, MemoryStore, Mutation};
use parking_lot::{Condvar, Mutex};

type Item = (Vec<Mutation>, Done);

fn item(counter: &Arc<AtomicU64>) -> Item {
    let c = counter.clone();
    (
        Vec::new(),
        Box::new(move |_, _| {
            c.fetch_add(1, Ordering::Relaxed);
        }),
    )
}

fn bench_mpsc(producers: u64, items: u64) -> Duration {
    let (tx, rx) = mpsc::sync_channel::<Item>(65_536);
    let counter = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..producers {
            let tx = tx.clone();
            let counter = counter.clone();
            s.spawn(move || {
                for _ in 0..items / producers {
                    let mut it = item(&counter);
                    // Full queue: retry, as a server would shed or back off.
                    while let Err(mpsc::TrySendError::Full(back)) = tx.try_send(it) {
                        it = back;
                        std::thread::yield_now();
                    }
                }
            });
        }
        drop(tx);
        s.spawn(move || {
            let mut group = Vec::new();
            while let Ok(first) = rx.recv() {
                group.push(first);
                while let Ok(more) = rx.try_recv() {
                    group.push(more);
                }
                for (_, done) in group.drain(..) {
                    done(Ok(()), &[]);
                }
            }
        });
    });
    assert_eq!(
        counter.load(Ordering::Relaxed),
        items / producers * producers
    );
    t.elapsed()
}

fn bench_mutex(producers: u64, items: u64) -> Duration {
    struct Q {
        v: Mutex<(Vec<Item>, u64)>,
        cv: Condvar,
    }
    let q = Arc::new(Q {
        v: Mutex::new((Vec::new(), producers)),
        cv: Condvar::new(),
    });
    let counter = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..producers {
            let q = q.clone();
            let counter = counter.clone();
            s.spawn(move || {
                for _ in 0..items / producers {
                    let it = item(&counter);
                    loop {
                        let mut g = q.v.lock();
                        if g.0.len() < 65_536 {
                            g.0.push(it);
                            break;
                        }
                        drop(g);
                        std::thread::yield_now();
                    }
                    q.cv.notify_one();
                }
                q.v.lock().1 -= 1;
                q.cv.notify_one();
            });
        }
        let q = q.clone();
        s.spawn(move || {
            let mut group = Vec::new();
            loop {
                {
                    let mut g = q.v.lock();
                    while g.0.is_empty() && g.1 > 0 {
                        q.cv.wait(&mut g);
                    }
                    if g.0.is_empty() {
                        break;
                    }
                    std::mem::swap(&mut g.0, &mut group);
                }
                for (_, done) in group.drain(..) {
                    done(Ok(()), &[]);
                }
            }
        });
    });
    assert_eq!(
        counter.load(Ordering::Relaxed),
        items / producers * producers
    );
    t.elapsed()
}

fn bench_committer(producers: u64, items: u64) -> Duration {
    let gc = GroupCommitter::start(Arc::new(MemoryStore::new()), GroupOptions::default());
    let acked = Arc::new(AtomicU64::new(0));
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..producers {
            let (gc, acked) = (&gc, acked.clone());
            s.spawn(move || {
                for i in 0..items / producers {
                    // Stay under max_queue, as a server bounded by its
                    // sockets would, so nothing is refused.
                    while i * producers > acked.load(Ordering::Relaxed) + 32_768 {
                        std::thread::yield_now();
                    }
                    let (batch, done) = item(&acked);
                    gc.submit(batch, done);
                }
            });
        }
    });
    let _ = gc.flush_blocking();
    let elapsed = t.elapsed();
    let st = gc.stats();
    println!(
        "  (committer: {} batches, {} rejected, {} groups, avg {:.0}/group)",
        st.batches, st.rejected, st.groups, st.avg_group
    );
    elapsed
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut producers = 4u64;
    let mut items = 1_000_000u64;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--producers" => producers = v.parse()?,
            "--items" => items = v.parse()?,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    let producers = producers.max(1);
    for round in 0..3 {
        let m = bench_mpsc(producers, items);
        let x = bench_mutex(producers, items);
        println!(
            "round {round}: mpsc::sync_channel {:.2} M items/s   Mutex<Vec>+Condvar {:.2} M items/s",
            items as f64 / m.as_secs_f64() / 1e6,
            items as f64 / x.as_secs_f64() / 1e6
        );
    }
    let c = bench_committer(producers, items);
    println!(
        "GroupCommitter over MemoryStore: {:.2} M acknowledged submits/s",
        items as f64 / c.as_secs_f64() / 1e6
    );
    Ok(())
}
