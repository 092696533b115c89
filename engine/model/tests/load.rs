//! Configuration checks that used to compare every pair (issue 21,
//! "configuration loading is quadratic") keep their answers now that they
//! are indexed: overlapping ranges inside a pool and across pools, an
//! address fixed-bound twice, and which pool each fixed binding reserves
//! an address of. (Their speed is measured by `bench/config-load.sh`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::Ipv4Addr;
use std::path::PathBuf;

use headend_model::snapshot::{reserved_by_pool, Snapshot};
use headend_model::source::SourceFile;

fn load(text: &str) -> Result<Snapshot, String> {
    let src = SourceFile::new(PathBuf::from("/nonexistent/headend.toml"), text.to_string());
    Snapshot::from_source(&src, 1).map_err(|e| e.to_string())
}

fn pool(name: &str, network: &str, ranges: &str) -> String {
    format!(
        "[[pool]]\nname = \"{name}\"\nrelays = [\"10.0.0.1\"]\nnetwork = \"{network}\"\nranges = {ranges}\n"
    )
}

const HEAD: &str = "[server]\nstore = \"state\"\n[dhcpv4]\nlisten = [\"127.0.0.1:0\"]\n";

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn overlapping_ranges_are_found_inside_a_pool_and_across_pools() {
    let inside = format!(
        "{HEAD}{}",
        pool(
            "a",
            "10.1.0.0/16",
            r#"[["10.1.0.10", "10.1.0.50"], ["10.1.1.0", "10.1.1.9"], ["10.1.0.40", "10.1.0.60"]]"#
        )
    );
    let e = load(&inside).unwrap_err();
    assert!(
        e.contains("pool \"a\": ranges 10.1.0.10-10.1.0.50 and 10.1.0.40-10.1.0.60 overlap"),
        "{e}"
    );

    let across = format!(
        "{HEAD}{}{}{}",
        pool("a", "10.1.0.0/16", r#"[["10.1.0.10", "10.1.0.50"]]"#),
        pool("b", "10.1.0.0/16", r#"[["10.1.0.60", "10.1.0.70"]]"#),
        // Inside a's range, found although b's range lies between them.
        pool("c", "10.1.0.0/16", r#"[["10.1.0.20", "10.1.0.21"]]"#),
    );
    let e = load(&across).unwrap_err();
    assert!(e.contains("pools \"a\" and \"c\" share addresses"), "{e}");
    assert!(!e.contains("\"b\""), "b overlaps nobody: {e}");

    // Adjacent ranges touch but do not overlap.
    let adjacent = format!(
        "{HEAD}{}{}",
        pool("a", "10.1.0.0/16", r#"[["10.1.0.10", "10.1.0.50"]]"#),
        pool("b", "10.1.0.0/16", r#"[["10.1.0.51", "10.1.0.70"]]"#),
    );
    load(&adjacent).unwrap();
}

#[test]
fn an_address_fixed_bound_twice_is_refused_at_its_line() {
    let text = format!(
        "{HEAD}{}\n[[fixed_binding]]\nmac = \"00:10:95:00:00:01\"\nrelay = \"10.0.0.1\"\nip = \"10.1.0.20\"\n\n[[fixed_binding]]\nmac = \"00:10:95:00:00:02\"\nrelay = \"10.0.0.1\"\nip = \"10.1.0.20\"\n",
        pool("a", "10.1.0.0/16", r#"[["10.1.0.10", "10.1.0.50"]]"#)
    );
    let e = load(&text).unwrap_err();
    assert!(e.contains("address 10.1.0.20 is bound twice"), "{e}");
    assert!(
        e.contains(":19:"),
        "names the second binding's ip line: {e}"
    );
}

#[test]
fn each_fixed_binding_reserves_its_address_in_the_pool_whose_range_holds_it() {
    let mut text = format!(
        "{HEAD}{}{}",
        pool(
            "a",
            "10.1.0.0/16",
            r#"[["10.1.0.10", "10.1.0.50"], ["10.1.2.0", "10.1.2.255"]]"#
        ),
        pool("b", "10.2.0.0/16", r#"[["10.2.0.10", "10.2.0.50"]]"#),
    );
    for (n, a) in [
        "10.1.0.10",
        "10.1.2.255",
        "10.2.0.50",
        "10.1.1.5",
        "10.3.0.1",
    ]
    .iter()
    .enumerate()
    {
        text.push_str(&format!(
            "[[fixed_binding]]\nmac = \"00:10:95:00:00:{n:02x}\"\nrelay = \"10.0.0.1\"\nip = \"{a}\"\n"
        ));
    }
    let snap = load(&text).unwrap();
    let mut r = reserved_by_pool(&snap);
    for v in &mut r {
        v.sort();
    }
    assert_eq!(
        r,
        vec![
            vec![ip("10.1.0.10"), ip("10.1.2.255")],
            vec![ip("10.2.0.50")]
        ],
        "10.1.1.5 falls between a's ranges and 10.3.0.1 outside every pool"
    );
}

#[test]
fn fixed_bindings_come_from_a_csv_file_with_errors_at_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bindings.csv");
    std::fs::write(
        &csv,
        "# site A\nmac,client_id,relay,ip,hostname,policies\n\
         00:10:95:00:00:01,,10.0.0.1,10.1.0.20,cm-1,\n\
         ,01:00:10:95:00:00:02,10.0.0.1,10.1.0.21,,gold\n",
    )
    .unwrap();
    let cfg = dir.path().join("headend.toml");
    let text = format!(
        "{HEAD}[provisioning]\nfixed_bindings_file = \"bindings.csv\"\n{}\n[[policy]]\nname = \"gold\"\nenforced = true\n",
        pool("a", "10.1.0.0/16", r#"[["10.1.0.10", "10.1.0.50"]]"#)
    );
    std::fs::write(&cfg, &text).unwrap();
    let snap = Snapshot::load(&cfg, 1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(snap.fixed.len(), 2);
    let gold = snap
        .fixed
        .values()
        .find(|f| f.binding.ip == ip("10.1.0.21"))
        .unwrap();
    assert_eq!(gold.binding.policies, vec!["gold".to_string()]);
    assert_eq!(gold.policies.len(), 1);
    let cm = snap
        .fixed
        .values()
        .find(|f| f.binding.ip == ip("10.1.0.20"))
        .unwrap();
    assert_eq!(cm.binding.hostname.as_deref(), Some("cm-1"));
    let mut reserved = reserved_by_pool(&snap);
    reserved[0].sort();
    assert_eq!(reserved, vec![vec![ip("10.1.0.20"), ip("10.1.0.21")]]);

    // Mistakes are named by file and line, in the CSV.
    std::fs::write(
        &csv,
        "mac,relay,ip,policies\n\
         00:10:95:00:00:01,10.0.0.1,10.1.0.20,\n\
         00:10:95:zz:00:02,10.0.0.1,10.1.0.22,\n\
         00:10:95:00:00:03,10.0.0.1,10.1.0.20,\n\
         00:10:95:00:00:04,10.0.0.1,10.1.0.23,silver\n\
         00:10:95:00:00:05,10.0.0.1\n",
    )
    .unwrap();
    let e = Snapshot::load(&cfg, 1).unwrap_err().to_string();
    let at = |line: usize, what: &str| {
        assert!(
            e.contains(&format!("bindings.csv:{line}: {what}")),
            "line {line} ({what}):\n{e}"
        );
    };
    at(3, "fixed binding: \"00:10:95:zz:00:02\" is not a MAC");
    at(4, "address 10.1.0.20 is bound twice");
    at(5, "fixed binding: unknown policy \"silver\"");
    at(6, "2 fields, the header names 4");
}
