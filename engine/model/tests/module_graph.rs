//! The model's modules form a DAG, and the section modules (each validating
//! its own part of the configuration file) depend on neither the file
//! aggregate (`config`) nor the snapshot aggregate (`snapshot`): adding a
//! section never closes an import circle.

mod graph;

use std::path::Path;

const SECTIONS: [&str; 9] = [
    "ddns",
    "v4",
    "v6",
    "provisioning",
    "configsrv",
    "plugins",
    "tod",
    "syslog",
    "snmp",
];

#[test]
fn modules_form_a_dag_and_sections_do_not_import_the_aggregates() {
    let g = graph::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    println!("{}", graph::render(&g));
    assert_eq!(
        graph::cycle(&g),
        None,
        "import circle in:\n{}",
        graph::render(&g)
    );
    for s in SECTIONS {
        let deps = g.get(s).cloned().unwrap_or_default();
        for aggregate in ["config", "snapshot"] {
            assert!(
                !deps.contains(aggregate),
                "section module {s} imports {aggregate}:\n{}",
                graph::render(&g)
            );
        }
    }
    for leaf in ["source", "build"] {
        let deps = &g[leaf];
        assert!(
            deps.iter()
                .all(|d| !SECTIONS.contains(&d.as_str()) && d != "config" && d != "snapshot"),
            "{leaf} must stay below the sections: {deps:?}"
        );
    }
}

#[test]
fn the_check_finds_a_circle() {
    let mut g = graph::Graph::new();
    for (a, b) in [
        ("config", "v6"),
        ("v6", "snapshot"),
        ("snapshot", "config"),
        ("v6", "expr"),
    ] {
        g.entry(a.to_string()).or_default().insert(b.to_string());
    }
    let c = graph::cycle(&g).expect("a circle");
    assert_eq!(c.first(), c.last());
    assert_eq!(c.len(), 4, "{c:?}");
    g.entry("snapshot".into()).or_default().remove("config");
    assert_eq!(graph::cycle(&g), None);
}
