//! Untyped option values, as written in a configuration file or returned by
//! a Rhai expression, before the option type registry gives them a type.

use std::net::IpAddr;

/// A value before it is typed by its option definition.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A string: parsed by the option type (an IP address, a DNS name, hex bytes, text …).
    Str(String),
    /// An integer.
    Int(i128),
    /// A boolean.
    Bool(bool),
    /// An IP address (from the Rhai `ip(…)` type).
    Ip(IpAddr),
    /// Raw bytes (a Rhai blob).
    Bytes(Vec<u8>),
    /// A list, for options that hold several elements.
    List(Vec<Literal>),
}

impl Literal {
    /// Converts a TOML value from a configuration file.
    pub fn from_toml(v: &toml::Value) -> Result<Literal, String> {
        Ok(match v {
            toml::Value::String(s) => Literal::Str(s.clone()),
            toml::Value::Integer(i) => Literal::Int(i128::from(*i)),
            toml::Value::Boolean(b) => Literal::Bool(*b),
            toml::Value::Array(a) => {
                Literal::List(a.iter().map(Literal::from_toml).collect::<Result<_, _>>()?)
            }
            toml::Value::Float(_) => {
                return Err("floating-point values are not option values".into())
            }
            toml::Value::Datetime(_) => return Err("date-time values are not option values".into()),
            toml::Value::Table(_) => {
                return Err(
                    "a table is not an option value (use { expr = \"…\" } for an expression)"
                        .into(),
                )
            }
        })
    }
}
