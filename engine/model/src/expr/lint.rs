//! Load-time checks of an expression against the context API (issue 20):
//! a property or method that the context value it is read from does not
//! have (`device.vendor_klass`, `account.atr("x")`), or a method no type
//! has (`.startswith(`), is an error with file, line and column when the
//! configuration is loaded — by `headend check`, at start and on every
//! reload — instead of one warning per packet once it is serving.
//!
//! The names come from the engine's own registrations
//! (`Engine::collect_fn_metadata`), so the check cannot drift from what a
//! session can evaluate. Rhai itself only rejects unknown variables at
//! compile time (strict variables); properties and methods are resolved
//! per call, which is why this walk exists.

use std::any::TypeId;
use std::collections::{BTreeSet, HashMap, HashSet};

use rhai::{ASTNode, Engine, Expr as Node, Position, Stmt, AST};

use super::context::typed_names;

/// Names Rhai resolves itself rather than through registered functions.
const BUILT_IN_METHODS: [&str; 9] = [
    "type_of",
    "is_shared",
    "is_def_fn",
    "is_def_var",
    "call",
    "curry",
    "Fn",
    "print",
    "debug",
];

/// What one context value offers to scripts.
#[derive(Debug, Default)]
struct TypeApi {
    type_name: &'static str,
    properties: BTreeSet<String>,
    methods: BTreeSet<String>,
    /// Methods registered for exactly this type (not for any value): what
    /// the reference documents per context variable.
    own_methods: BTreeSet<String>,
}

/// The context API as the engine registered it.
#[derive(Debug, Default)]
pub(super) struct Api {
    /// By context name (`device`, `account`, …).
    types: HashMap<&'static str, TypeApi>,
    /// Every function callable as a method on some type.
    methods: HashSet<String>,
}

impl Api {
    /// Reads the getters and methods `engine` has registered.
    pub(super) fn of(engine: &Engine) -> Api {
        let fns: Vec<(String, Option<TypeId>)> = engine.collect_fn_metadata(
            None,
            |f| {
                let m = f.metadata;
                Some((m.name.to_string(), m.param_types.first().copied()))
            },
            true,
        );
        let dynamic = TypeId::of::<rhai::Dynamic>();
        let mut api = Api::default();
        // Operators (`+`, `==`) and property accessors are not methods.
        let method = |n: &str| {
            n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') && !n.contains('$')
        };
        for (name, first) in &fns {
            if first.is_some() && method(name) {
                api.methods.insert(name.clone());
            }
        }
        for (var, ty, type_name) in typed_names() {
            let mut t = TypeApi {
                type_name,
                ..TypeApi::default()
            };
            for (name, first) in &fns {
                match (name.strip_prefix("get$"), *first) {
                    (Some(prop), Some(f)) if f == ty => {
                        t.properties.insert(prop.to_string());
                    }
                    (None, Some(f)) if (f == ty || f == dynamic) && method(name) => {
                        t.methods.insert(name.clone());
                        if f == ty && name != "to_string" {
                            t.own_methods.insert(name.clone());
                        }
                    }
                    _ => {}
                }
            }
            api.types.insert(var, t);
        }
        api
    }

    /// Per context variable: its properties and its own methods, sorted
    /// (the reference in policies/README.md is checked against this).
    #[cfg(test)]
    pub(super) fn surface(&self) -> Vec<(&'static str, Vec<String>, Vec<String>)> {
        let mut out: Vec<_> = self
            .types
            .iter()
            .map(|(var, t)| {
                (
                    *var,
                    t.properties.iter().cloned().collect(),
                    t.own_methods.iter().cloned().collect(),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// The first unknown property or method of `ast`, with where it is.
    pub(super) fn check(&self, ast: &AST) -> Result<(), (Position, String)> {
        let script_fns: HashSet<&str> = ast.iter_functions().map(|f| f.name).collect();
        // Properties and methods of the context values: only in the
        // script's own statements (a `fn` cannot see the context, so a
        // parameter named `device` there is something else), and not for a
        // context name the script declares again.
        let top = ast.clone_statements_only();
        let mut redeclared: HashSet<String> = HashSet::new();
        top.walk(&mut |path: &[ASTNode]| {
            if let Some(ASTNode::Stmt(Stmt::Var(v, ..))) = path.last() {
                redeclared.insert(v.0.name.to_string());
            }
            true
        });
        let mut found = Ok(());
        top.walk(&mut |path: &[ASTNode]| {
            if let Some(ASTNode::Expr(Node::Dot(x, ..))) = path.last() {
                if let Node::Variable(v, _, _) = &x.lhs {
                    let var = v.1.as_str();
                    if let (Some(t), false) = (self.types.get(var), redeclared.contains(var)) {
                        if let Err(e) = self.member(var, t, &x.rhs, &script_fns) {
                            found = Err(e);
                            return false;
                        }
                    }
                }
            }
            true
        });
        found?;
        // Any method call, anywhere (function bodies included).
        let mut found = Ok(());
        ast.walk(&mut |path: &[ASTNode]| {
            if let Some(ASTNode::Expr(Node::MethodCall(f, pos))) = path.last() {
                let name = f.name.as_str();
                if !self.methods.contains(name) && !scripted_or_built_in(name, &script_fns) {
                    found = Err((
                        *pos,
                        format!(
                            "no value has a method `{name}`; see the string, array and map \
                             functions in policies/README.md"
                        ),
                    ));
                    return false;
                }
            }
            true
        });
        found
    }

    /// Checks the first member read from context value `var` (`device.X`,
    /// `device.X.…`, `device.X[…]`, `account.m(…)`).
    fn member(
        &self,
        var: &str,
        t: &TypeApi,
        rhs: &Node,
        script_fns: &HashSet<&str>,
    ) -> Result<(), (Position, String)> {
        let first = match rhs {
            Node::Dot(y, ..) | Node::Index(y, ..) => &y.lhs,
            other => other,
        };
        let (name, pos, names, what) = match first {
            Node::Property(p, pos) => (
                p.2.as_str(),
                *pos,
                &t.properties,
                ("property", "properties"),
            ),
            Node::MethodCall(f, pos) => (f.name.as_str(), *pos, &t.methods, ("method", "methods")),
            _ => return Ok(()),
        };
        let method = matches!(first, Node::MethodCall(..));
        if names.contains(name) || (method && scripted_or_built_in(name, script_fns)) {
            return Ok(());
        }
        Err((
            pos,
            format!(
                "`{var}` ({}) has no {} `{name}`; its {} are {} (policies/README.md)",
                t.type_name,
                what.0,
                what.1,
                list(names)
            ),
        ))
    }
}

/// A method the script defines itself or one Rhai resolves without a registration.
fn scripted_or_built_in(name: &str, script_fns: &HashSet<&str>) -> bool {
    script_fns.contains(name) || BUILT_IN_METHODS.contains(&name)
}

/// `a, b and c`.
fn list(names: &BTreeSet<String>) -> String {
    let v: Vec<&str> = names.iter().map(String::as_str).collect();
    match v.split_last() {
        None => "none".into(),
        Some((last, [])) => format!("`{last}`"),
        Some((last, rest)) => format!(
            "{} and `{last}`",
            rest.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
