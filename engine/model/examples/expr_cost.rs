//! CPU cost of one policy expression as the pipeline runs it: a fresh
//! session over a shared eUE context, then one evaluation, `count` times.
//! Run under `valgrind --tool=callgrind` for instructions per evaluation.
//!
//! `cargo run --release -p headend-model --example expr_cost -- <count> <expression or file.rhai>`

use std::sync::Arc;
use std::time::Instant;

use headend_model::expr::{AccountInfo, DeviceInfo, EvalContext, ExprEngine, Origin, PacketInfo};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count: u32 = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let source = args
        .get(1)
        .map(|s| std::fs::read_to_string(s).unwrap_or_else(|_| s.clone()))
        .unwrap_or_else(|| "device.family == \"pktc\"".into());
    let engine = ExprEngine::default();
    let expr = match engine.compile(&source, Origin::default()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let ctx = Arc::new(EvalContext {
        device: DeviceInfo {
            vendor_class: "pktc2.0".into(),
            family: "pktc".into(),
            version: "2.0".into(),
            type_name: "lab-emta".into(),
            typeid: 1000,
            ..DeviceInfo::default()
        },
        account: Some(AccountInfo {
            id: "00:10:95:aa:bb:cc".into(),
            domains: vec!["emta".into()],
            attributes: Default::default(),
        }),
        domains: vec!["emta".into()],
        packet: PacketInfo {
            chaddr: vec![0x00, 0x10, 0x95, 0xaa, 0xbb, 0xcc],
            ..PacketInfo::default()
        },
        ..EvalContext::default()
    });
    let started = Instant::now();
    let mut last = None;
    for _ in 0..count {
        let mut s = engine.session_shared(ctx.clone());
        last = Some(s.eval(&expr));
    }
    let ns = started.elapsed().as_nanos() / u128::from(count.max(1));
    println!("{count} evaluations, {ns} ns each; result {last:?}");
}
