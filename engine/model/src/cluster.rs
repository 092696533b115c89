//! `[cluster]`: several nodes serving one lease space from one shared
//! database (issue 16; RFC 3074 load balancing with failover), validated
//! into [`ClusterSettings`]. Absent = a node on its own.
//!
//! Every node of a cluster has the same file except `node`: the list of
//! nodes and their weights decides the bucket split, so that each node
//! computes the same owner for each of the 256 RFC 3074 buckets.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::build::Builder;

/// `[cluster]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// This node's name (default: `[server] name`); one of `nodes`.
    pub node: Option<String>,
    /// Every node of the cluster, in order; buckets are split among them
    /// by `weights`.
    pub nodes: Vec<String>,
    /// Relative share of the buckets of each node in `nodes` (default: equal).
    #[serde(default)]
    pub weights: Vec<u32>,
    /// Milliseconds between two heartbeats and looks at the bucket owners.
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    /// Milliseconds of silence after which a node's buckets are taken over.
    #[serde(default = "default_takeover_ms")]
    pub takeover_ms: u64,
}

fn default_heartbeat_ms() -> u64 {
    250
}

fn default_takeover_ms() -> u64 {
    3000
}

/// Validated `[cluster]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// This node.
    pub node: String,
    /// Every node, in order.
    pub nodes: Vec<String>,
    /// Weight of each node of `nodes`.
    pub weights: Vec<u32>,
    /// Heartbeat period.
    pub heartbeat: Duration,
    /// Silence after which a node is taken over.
    pub takeover: Duration,
}

/// Validates `[cluster]`; errors go to the builder.
pub(crate) fn build(
    b: &mut Builder<'_>,
    section: Option<&Spanned<ClusterSection>>,
    server_name: &str,
    has_database: bool,
) -> Option<ClusterSettings> {
    let s = section?;
    let at = s.span().start;
    let c = s.get_ref();
    let node = c.node.clone().unwrap_or_else(|| server_name.to_string());
    if !has_database {
        b.err(
            at,
            "[cluster] needs [server] database: the nodes share their leases there",
            "add database = \"postgres://user:password@host:port/dbname\" to [server]",
        );
    }
    if c.nodes.is_empty() || c.nodes.len() > 64 {
        b.err(
            at,
            "[cluster] nodes must list 1 to 64 nodes",
            "e.g. nodes = [\"dhcp-a\", \"dhcp-b\"]",
        );
    }
    let mut seen = std::collections::HashSet::new();
    for n in &c.nodes {
        if n.is_empty() || n.len() > 64 || !seen.insert(n.as_str()) {
            b.err(
                at,
                format!(
                    "[cluster] node name {n:?} is empty, longer than 64 characters or listed twice"
                ),
                "give each node a distinct name",
            );
        }
    }
    if !c.nodes.contains(&node) {
        b.err(
            at,
            format!("[cluster] this node {node:?} is not in nodes {:?}", c.nodes),
            "set node = one of nodes (or [server] name)",
        );
    }
    let weights = if c.weights.is_empty() {
        vec![1; c.nodes.len()]
    } else {
        c.weights.clone()
    };
    if weights.len() != c.nodes.len() || weights.iter().any(|w| *w == 0 || *w > 256) {
        b.err(
            at,
            "[cluster] weights must give each node of nodes a weight of 1 to 256",
            "e.g. weights = [1, 1], or leave weights out for an equal split",
        );
    }
    if !(50..=60_000).contains(&c.heartbeat_ms)
        || c.takeover_ms < 3 * c.heartbeat_ms
        || c.takeover_ms > 600_000
    {
        b.err(
            at,
            "[cluster] heartbeat_ms must be 50 to 60000 and takeover_ms at least three heartbeats (at most 600000)",
            "use e.g. heartbeat_ms = 250, takeover_ms = 3000",
        );
    }
    Some(ClusterSettings {
        node,
        nodes: c.nodes.clone(),
        weights,
        heartbeat: Duration::from_millis(c.heartbeat_ms),
        takeover: Duration::from_millis(c.takeover_ms),
    })
}

/// What a reload cannot change: the cluster's membership is fixed for a
/// node's life (its registration and every other node's split use it).
pub fn restart_change(
    old: Option<&ClusterSettings>,
    new: Option<&ClusterSettings>,
) -> Option<String> {
    let key = |c: Option<&ClusterSettings>| {
        c.map(|c| (c.node.clone(), c.nodes.clone(), c.weights.clone()))
    };
    (key(old) != key(new)).then(|| {
        "[cluster] node, nodes and weights cannot change by reload (restart the node)".to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::snapshot::load_test_config as load;

    const DB: &str =
        "[server]\nname = \"a\"\nstore = \"s\"\ndatabase = \"postgres://u@127.0.0.1:1/d\"\n";

    #[test]
    fn section_defaults_and_absence() {
        assert_eq!(load("").unwrap().cluster, None);
        let c =
            crate::snapshot::load_test_file(&format!("{DB}[cluster]\nnodes = [\"a\", \"b\"]\n"))
                .unwrap()
                .cluster
                .unwrap();
        assert_eq!(c.node, "a");
        assert_eq!(c.weights, vec![1, 1]);
        assert_eq!(c.heartbeat, Duration::from_millis(250));
        assert_eq!(c.takeover, Duration::from_secs(3));
    }

    #[test]
    fn bad_values_are_refused() {
        let e = load("[cluster]\nnodes = [\"x\"]\n").unwrap_err();
        assert!(e.contains("[cluster] needs [server] database"), "{e}");
        assert!(e.contains("is not in nodes"), "{e}");
        let e = crate::snapshot::load_test_file(&format!(
            "{DB}[cluster]\nnodes = [\"a\", \"a\"]\nweights = [1]\nheartbeat_ms = 1000\ntakeover_ms = 1000\n"
        ))
        .unwrap_err();
        assert!(e.contains("listed twice"), "{e}");
        assert!(e.contains("weights must give each node"), "{e}");
        assert!(e.contains("at least three heartbeats"), "{e}");
    }
}
