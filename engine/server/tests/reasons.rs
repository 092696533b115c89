//! One spelling for every reason a packet is dropped or left unanswered
//! and every hook fallback reason: lower-case `snake_case`, as the metrics
//! registry labels them (`headend_server::metrics::is_snake_case`). Scans
//! the sources, so a new reason spelled another way fails here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use headend_server::metrics::is_snake_case;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The string literals that follow `marker` in `text`.
fn literals_after<'a>(text: &'a str, marker: &str) -> Vec<&'a str> {
    text.match_indices(marker)
        .filter_map(|(i, _)| {
            let rest = &text[i + marker.len()..];
            let end = rest.find('"')?;
            Some(&rest[..end])
        })
        .collect()
}

#[test]
fn drop_unanswered_and_fallback_reasons_are_snake_case() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut seen = 0;
    let mut bad = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for marker in [
            "Drop(\"",
            "Silent(\"",
            "drop_packet(\"",
            "silent_in(Family::Dhcpv4, \"",
            "hook_fallback(\"flow-select\", \"",
            "hook_fallback(\"mem-event\", \"",
            // DHCPv4's packet-view errors are its drop reasons.
            if f.components().any(|c| c.as_os_str() == "dhcpv4") {
                "return Err(\""
            } else {
                "Drop(\""
            },
        ] {
            for r in literals_after(&text, marker) {
                seen += 1;
                if !is_snake_case(r) {
                    bad.push(format!("{}: {marker}{r}\"", f.display()));
                }
            }
        }
    }
    assert!(
        seen > 40,
        "the scan found only {seen} reasons: markers out of date?"
    );
    assert!(
        bad.is_empty(),
        "reasons not in snake_case:\n{}",
        bad.join("\n")
    );
}
