//! The validation state every section builder shares (seed 004 section 3:
//! a configuration is validated as a whole, every problem reported with its
//! place): the source file, the errors found so far and the expression
//! engine expressions are compiled with, plus the small parsing helpers the
//! sections have in common (MACs, hex, domain names).
//!
//! A leaf below every section module: `v4`, `v6`, `provisioning`,
//! `configsrv`, `plugins`, `tod` and `syslog` each validate their own section through
//! a `Builder`, and [`crate::snapshot`] only aggregates their results.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use crate::expr::{Expr, ExprEngine, ExprLimits, Origin};
use crate::source::{ConfigError, ConfigErrors, SourceFile};

/// Name of the built-in domain every device is a member of.
pub const ALL_DEVICES: &str = "all";

/// Where an expression's text comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ExprSource {
    /// Inline text: `"expr"` or `{ expr = "…" }`.
    Inline(String),
    /// `{ expr = "…" }`.
    Table {
        /// The expression.
        expr: String,
    },
    /// `{ file = "policies/x.rhai" }`, relative to the config file.
    File {
        /// Path of the script.
        file: String,
    },
}

/// Validation state shared by the section builders.
pub(crate) struct Builder<'a> {
    pub(crate) src: &'a SourceFile,
    pub(crate) errors: Vec<ConfigError>,
    pub(crate) exprs: Arc<ExprEngine>,
}

impl<'a> Builder<'a> {
    /// A builder over one file, with the default expression limits.
    pub(crate) fn new(src: &'a SourceFile) -> Self {
        Builder {
            src,
            errors: Vec::new(),
            exprs: Arc::new(ExprEngine::new(ExprLimits::default())),
        }
    }

    /// Compiles every later expression with this operation budget.
    pub(crate) fn set_expression_operations(&mut self, max_operations: u64) {
        self.exprs = Arc::new(ExprEngine::new(ExprLimits {
            max_operations,
            ..ExprLimits::default()
        }));
    }

    /// The errors found, in file order (same-line errors in the order they
    /// were found), or the expression engine when there are none.
    pub(crate) fn finish(mut self) -> Result<Arc<ExprEngine>, ConfigErrors> {
        if self.errors.is_empty() {
            return Ok(self.exprs);
        }
        self.errors
            .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        Err(ConfigErrors(self.errors))
    }

    /// The directory relative paths are resolved against.
    pub(crate) fn base_dir(&self) -> PathBuf {
        self.src.base_dir()
    }

    /// Records an error at a byte offset of the file.
    pub(crate) fn err(
        &mut self,
        offset: usize,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.errors.push(self.src.error_at(offset, message, fix));
    }

    /// The listen addresses of section `[name]` (at `section_at`): each
    /// must be `address:port` (`examples` shows two), and there must be one.
    pub(crate) fn listen_addrs(
        &mut self,
        name: &str,
        section_at: usize,
        list: &[Spanned<String>],
        examples: (&str, &str),
    ) -> Vec<std::net::SocketAddr> {
        let mut listen = Vec::new();
        for l in list {
            match l.get_ref().parse::<std::net::SocketAddr>() {
                Ok(a) => listen.push(a),
                Err(_) => self.err(
                    l.span().start,
                    format!("listen address {:?} is not a socket address", l.get_ref()),
                    format!(
                        "write \"address:port\", e.g. \"{}\" or \"{}\"",
                        examples.0, examples.1
                    ),
                ),
            }
        }
        if list.is_empty() {
            self.err(
                section_at,
                format!("[{name}] has no listen address"),
                format!("add listen = [\"{}\"], or remove [{name}]", examples.0),
            );
        }
        listen
    }

    /// An IPv4 address, or an error naming `what`.
    /// Addresses or networks (`"10.0.0.1"`, `"10.0.0.0/8"`, IPv4 or IPv6);
    /// each that is neither is an error naming `what`.
    pub(crate) fn networks(&mut self, list: &[Spanned<String>], what: &str) -> Vec<ipnet::IpNet> {
        self.networks_of(list, what, "an address or network", |t| {
            t.parse::<ipnet::IpNet>()
                .ok()
                .or_else(|| t.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
        })
    }

    /// [`Builder::networks`], IPv4 only.
    pub(crate) fn networks4(
        &mut self,
        list: &[Spanned<String>],
        what: &str,
    ) -> Vec<ipnet::Ipv4Net> {
        self.networks_of(list, what, "an IPv4 address or network", |t| {
            t.parse::<ipnet::Ipv4Net>()
                .ok()
                .or_else(|| t.parse::<Ipv4Addr>().ok().map(ipnet::Ipv4Net::from))
        })
    }

    pub(crate) fn networks6(
        &mut self,
        list: &[Spanned<String>],
        what: &str,
    ) -> Vec<ipnet::Ipv6Net> {
        self.networks_of(list, what, "an IPv6 address or network", |t| {
            t.parse::<ipnet::Ipv6Net>()
                .ok()
                .or_else(|| t.parse::<Ipv6Addr>().ok().map(ipnet::Ipv6Net::from))
        })
    }

    fn networks_of<N>(
        &mut self,
        list: &[Spanned<String>],
        what: &str,
        expected: &str,
        parse: impl Fn(&str) -> Option<N>,
    ) -> Vec<N> {
        let mut out = Vec::with_capacity(list.len());
        for v in list {
            let text = v.get_ref();
            match parse(text) {
                Some(n) => out.push(n),
                None => self.err(
                    v.span().start,
                    format!("{what} {text:?} is not {expected}"),
                    "write \"10.0.0.1\" or \"10.0.0.0/8\"",
                ),
            }
        }
        out
    }

    pub(crate) fn ip4<T>(&mut self, v: &Spanned<T>, what: &str) -> Option<Ipv4Addr>
    where
        T: AsRef<str>,
    {
        match v.get_ref().as_ref().parse::<Ipv4Addr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.err(
                    v.span().start,
                    format!("{what} {:?} is not an IPv4 address", v.get_ref().as_ref()),
                    "write a dotted-quad address such as \"10.1.0.1\"",
                );
                None
            }
        }
    }

    pub(crate) fn compile(&mut self, text: &str, offset: usize, what: String) -> Option<Expr> {
        let origin = Origin {
            file: self.src.path.clone(),
            line: self.src.line_of(offset),
            what,
        };
        self.compile_at(
            text,
            origin,
            "correct the Rhai expression (see policies/README.md for the context it can use)",
        )
    }

    /// Compiles `text` from `origin`; a compile error is recorded at the
    /// error's own file and line with `fix`.
    fn compile_at(&mut self, text: &str, origin: Origin, fix: &str) -> Option<Expr> {
        match self.exprs.compile(text, origin) {
            Ok(e) => Some(e),
            Err(e) => {
                self.errors.push(ConfigError {
                    file: e.file.clone(),
                    line: e.line,
                    message: format!("{e}"),
                    fix: fix.into(),
                });
                None
            }
        }
    }

    pub(crate) fn compile_source(&mut self, s: &Spanned<ExprSource>, what: String) -> Option<Expr> {
        match s.get_ref() {
            ExprSource::Inline(t) | ExprSource::Table { expr: t } => {
                let t = t.clone();
                self.compile(&t, s.span().start, what)
            }
            ExprSource::File { file } => {
                let path = self.src.base_dir().join(file);
                match std::fs::read_to_string(&path) {
                    Ok(text) => {
                        let origin = Origin {
                            file: path.clone(),
                            line: 1,
                            what,
                        };
                        self.compile_at(&text, origin, "correct the Rhai script")
                    }
                    Err(e) => {
                        self.err(
                            s.span().start,
                            format!("cannot read script {}: {e}", path.display()),
                            "the path is relative to the configuration file",
                        );
                        None
                    }
                }
            }
        }
    }
}

/// Normalises a MAC given as `00:11:22:33:44:55`, `00-11-…` or `001122334455` to lowercase colon form.
pub fn normalize_mac(s: &str) -> Option<String> {
    let hex: String = s
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let lower = hex.to_ascii_lowercase();
    let parts: Vec<&str> = (0..6).filter_map(|i| lower.get(i * 2..i * 2 + 2)).collect();
    Some(parts.join(":"))
}

/// Parses hex bytes written as `01:02:0a`, `01020a` or `0x01020a`.
pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let t = s.strip_prefix("0x").unwrap_or(s);
    let hex: String = t
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | ' '))
        .collect();
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len() / 2)
        .map(|i| {
            hex.get(i * 2..i * 2 + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect()
}

/// Canonical domain name: "All devices" and "all" are the built-in domain.
pub fn canonical_domain(name: &str) -> String {
    if name.eq_ignore_ascii_case("all devices") || name.eq_ignore_ascii_case(ALL_DEVICES) {
        ALL_DEVICES.to_string()
    } else {
        name.to_string()
    }
}

/// Account id of a configured identifier: a normalised MAC, or lowercase hex.
pub fn account_id(s: &str) -> Option<String> {
    if let Some(m) = normalize_mac(s) {
        return Some(m);
    }
    parse_hex(s).filter(|b| !b.is_empty()).map(|b| {
        b.iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    })
}
