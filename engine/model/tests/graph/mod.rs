//! The module dependency graph of a crate, read from its sources: an edge
//! `a -> b` for every `crate::b` path in the non-test code of top-level
//! module `a` (`src/a.rs` or `src/a/**.rs`). Comments, `#[cfg(test)]`
//! modules and `tests.rs` files are left out: tests may exercise the
//! whole crate. Shared by the model's and the server's module graph tests
//! (the server includes this file by path).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules it refers to.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// The graph of the crate whose sources are in `src`.
pub fn read(src: &Path) -> Graph {
    let mut files = Vec::new();
    collect(src, &mut files);
    let mut graph = Graph::new();
    for file in &files {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" || rel.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let deps = graph.entry(module.clone()).or_default();
        for line in code_lines(&text) {
            for (i, _) in line.match_indices("crate::") {
                let name: String = line[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    deps.insert(name);
                }
            }
        }
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for deps in graph.values_mut() {
        deps.retain(|d| modules.contains(d));
    }
    graph
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
}

/// The lines of `text` before its `#[cfg(test)]` module, without comments.
fn code_lines(text: &str) -> Vec<&str> {
    text.lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect()
}

/// A cycle of the graph (its modules in order, the first repeated at the
/// end), or `None` when the graph is a DAG.
pub fn cycle(graph: &Graph) -> Option<Vec<String>> {
    // Depth-first search; a back edge to a module on the stack is a cycle.
    fn visit(
        graph: &Graph,
        m: &str,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| s == m) {
            let mut c = stack[at..].to_vec();
            c.push(m.to_string());
            return Some(c);
        }
        if done.contains(m) {
            return None;
        }
        stack.push(m.to_string());
        for d in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(graph, d, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|m| visit(graph, m, &mut Vec::new(), &mut done))
}

/// The graph as `a -> b, c` lines, for test output and reports.
pub fn render(graph: &Graph) -> String {
    graph
        .iter()
        .map(|(m, d)| {
            let deps: Vec<&str> = d.iter().map(String::as_str).collect();
            format!("{m} -> {}", deps.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}
