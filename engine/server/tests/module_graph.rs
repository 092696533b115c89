//! The server's modules form a DAG, and its protocol components never
//! depend on one another: what they share (clock, running configuration,
//! device registry, the component interface) lives below them, so adding a
//! component never closes a module cycle.

#[path = "../../model/tests/graph/mod.rs"]
mod graph;

use std::path::Path;

const COMPONENTS: [&str; 7] = [
    "dhcpv4",
    "dhcpv6",
    "configsrv",
    "tod",
    "control",
    "syslog",
    "ddns",
];

/// The management-event sink: below the event receivers (syslog, SNMP),
/// which hand it events through `shared`, and above no component.
const SERVICES: [&str; 1] = ["events"];

#[test]
fn modules_form_a_dag_and_components_do_not_depend_on_each_other() {
    let g = graph::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    println!("{}", graph::render(&g));
    assert_eq!(
        graph::cycle(&g),
        None,
        "module cycle in:\n{}",
        graph::render(&g)
    );
    for c in COMPONENTS.into_iter().chain(SERVICES) {
        let deps = g.get(c).cloned().unwrap_or_default();
        let others: Vec<&String> = deps
            .iter()
            .filter(|d| COMPONENTS.contains(&d.as_str()))
            .collect();
        assert!(
            others.is_empty(),
            "{c} depends on {others:?}:\n{}",
            graph::render(&g)
        );
    }
}
