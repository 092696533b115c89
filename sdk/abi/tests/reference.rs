//! `sdk/REFERENCE.md` is generated from this crate's source: every public
//! type a plugin exchanges with the engine (`Device`, `Account`,
//! `FlowDecision`, `MemEvent`, …) with each field or variant and its doc
//! comment. This test renders it and fails when the committed file differs,
//! so the reference cannot drift from the ABI; `UPDATE_REFERENCE=1 cargo
//! test -p headend-abi --test reference` rewrites it.

use std::fmt::Write as _;

/// One documented field or variant.
struct Member {
    name: String,
    ty: String,
    doc: String,
}

/// One public struct or enum.
struct Item {
    kind: &'static str,
    name: String,
    doc: String,
    members: Vec<Member>,
}

fn doc_line(line: &str) -> Option<&str> {
    line.trim_start().strip_prefix("///").map(str::trim)
}

/// Reads the top-level `pub struct` / `pub enum` items of `src` with their docs.
fn items(src: &str) -> Vec<Item> {
    let mut out = Vec::new();
    let mut doc: Vec<String> = Vec::new();
    let mut lines = src.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(d) = doc_line(line) {
            if !line.starts_with(' ') {
                doc.push(d.to_string());
            }
            continue;
        }
        if line.starts_with("#[") {
            continue;
        }
        let head = line
            .strip_prefix("pub struct ")
            .map(|r| ("struct", r))
            .or_else(|| line.strip_prefix("pub enum ").map(|r| ("enum", r)));
        let Some((kind, rest)) = head else {
            doc.clear();
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '<' || *c == '>')
            .collect();
        let mut item = Item {
            kind,
            name,
            doc: doc.join(" "),
            members: Vec::new(),
        };
        doc.clear();
        if rest.trim_end().ends_with('{') {
            let mut pending: Vec<String> = Vec::new();
            let mut variant: Option<String> = None;
            for body in lines.by_ref() {
                if body == "}" {
                    break;
                }
                let indent = body.len() - body.trim_start().len();
                let text = body.trim();
                if let Some(d) = doc_line(body) {
                    pending.push(d.to_string());
                    continue;
                }
                if text.starts_with("#[") || text.is_empty() {
                    continue;
                }
                if text == "}," || text == "}" {
                    variant = None;
                    continue;
                }
                let (name, ty) = if kind == "struct" || indent > 4 {
                    let t = text.trim_start_matches("pub ").trim_end_matches(',');
                    match t.split_once(": ") {
                        Some((n, ty)) => (n.to_string(), ty.to_string()),
                        None => (t.to_string(), String::new()),
                    }
                } else if let Some(v) = text.strip_suffix(" {") {
                    variant = Some(v.to_string());
                    (v.to_string(), "{ … }".to_string())
                } else {
                    let t = text.trim_end_matches(',');
                    match t.split_once('(') {
                        Some((n, ty)) => (n.to_string(), format!("({ty}")),
                        None => (t.to_string(), String::new()),
                    }
                };
                let name = match (&variant, indent > 4) {
                    (Some(v), true) => format!("{v}.{name}"),
                    _ => name,
                };
                item.members.push(Member {
                    name,
                    ty,
                    doc: pending.join(" "),
                });
                pending.clear();
            }
        }
        out.push(item);
    }
    out
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn render(src: &str) -> String {
    let mut md = String::from(
        "# Plugin API reference (ABI version 1)\n\n\
         Generated from `sdk/abi/src/lib.rs` by `sdk/abi/tests/reference.rs`; do not edit:\n\
         run `UPDATE_REFERENCE=1 cargo test -p headend-abi --test reference` after changing\n\
         the ABI. How the types travel is in `ABI.md`; how to write a plugin in `README.md`.\n\n\
         `Device` is what every hook sees of a device; `Account` is its account as the\n\
         engine stores it: `id`, `domains`, and the free-form `attributes` that\n\
         `[[account]] attributes = { key = \"value\" }` in the configuration, the\n\
         management API, and a mem-event plugin's `SetAttribute` actions set (policies\n\
         read them as `account.attr(\"key\")`).\n",
    );
    for item in items(src) {
        let _ = write!(md, "\n## `{}` ({})\n\n{}\n", item.name, item.kind, item.doc);
        if item.members.is_empty() {
            continue;
        }
        let head = if item.kind == "struct" {
            "Field"
        } else {
            "Variant"
        };
        let _ = write!(md, "\n| {head} | Type | Meaning |\n| --- | --- | --- |\n");
        for m in item.members {
            let ty = if m.ty.is_empty() {
                String::new()
            } else {
                format!("`{}`", cell(&m.ty))
            };
            let _ = writeln!(md, "| `{}` | {} | {} |", m.name, ty, cell(&m.doc));
        }
    }
    md
}

#[test]
fn the_reference_is_generated_from_the_abi() {
    let src = include_str!("../src/lib.rs");
    let md = render(src);
    for needed in [
        "## `Device` (struct)",
        "| `mac` | `String` |",
        "## `Account` (struct)",
        "| `attributes` | `Vec<(String, String)>` |",
        "| `SetAttribute.key` | `String` |",
        "## `ProvisioningFlow` (enum)",
    ] {
        assert!(md.contains(needed), "the renderer lost {needed:?}:\n{md}");
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../REFERENCE.md");
    if std::env::var_os("UPDATE_REFERENCE").is_some() {
        std::fs::write(path, &md).expect("writing sdk/REFERENCE.md");
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == md,
        "sdk/REFERENCE.md is not what the ABI says: run \
         `UPDATE_REFERENCE=1 cargo test -p headend-abi --test reference` and commit it"
    );
}
