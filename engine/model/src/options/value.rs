//! Typed option values and their coercion from untyped literals (seed 004
//! section 5.9 data types; RFC 2132, 3361, 3397, 3442, 3495, 4702 value
//! syntaxes; PKT-SP-EUE-PROV section 6.4.1.2 for DSS_IDs).
//!
//! The text form a value displays in is the form [`coerce`] accepts, so
//! `headend explain` output can be pasted back into a configuration file.
//! Lists display as elements separated by `", "`; inside a list a comma, a
//! backslash and leading or trailing white space of an element are escaped
//! with a backslash.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use headend_wire::dns::{self, NameError};
use ipnet::Ipv4Net;

use super::path::TagPath;
use super::types::{Bounds, DataType, OptionDef};
use crate::literal::Literal;

/// Longest DSS_ID a server may send (PKT-SP-EUE-PROV section 6.4.1.2).
pub const DSS_ID_MAX: usize = 32;

/// A value after coercion by its option definition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// An unsigned integer or time.
    Uint(u128),
    /// A signed integer or time (definitions with `signed`).
    Int(i128),
    /// A flag.
    Bool(bool),
    /// Text.
    Str(String),
    /// An IP address (IPv4 in the DHCPv4 space).
    Ip(IpAddr),
    /// An address and port.
    Endpoint(SocketAddr),
    /// Opaque octets, also the raw payload of a container set as a whole.
    Bytes(Vec<u8>),
    /// A DNS name, without a trailing dot.
    DnsName(String),
    /// One RFC 3442 classless static route.
    Route(ClasslessRoute),
    /// An RFC 4702 client FQDN.
    Fqdn(ClientFqdn),
    /// A DHCPv6 Server Selector ID.
    DssId(Vec<u8>),
    /// The elements of a `multiple` option.
    List(Vec<Value>),
}

/// A classless static route (RFC 3442 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClasslessRoute {
    /// Destination network; bits past the prefix length are zero.
    pub destination: Ipv4Net,
    /// The router for the destination.
    pub router: Ipv4Addr,
}

/// The client FQDN option contents (RFC 4702 section 2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientFqdn {
    /// Flags: S, O, E, N (RFC 4702 section 2.1).
    pub flags: u8,
    /// Deprecated; a server sends 255 (RFC 4702 section 2.2).
    pub rcode1: u8,
    /// Deprecated; a server sends 255 (RFC 4702 section 2.2).
    pub rcode2: u8,
    /// The domain name, without a trailing dot; may be empty.
    pub name: String,
}

impl ClientFqdn {
    /// S: the server should perform the A RR update.
    pub const S: u8 = 0x01;
    /// O: the server overrode the client's S preference.
    pub const O: u8 = 0x02;
    /// E: the name is in canonical wire format.
    pub const E: u8 = 0x04;
    /// N: the server should not perform any DNS update.
    pub const N: u8 = 0x08;
}

/// Errors of coercing, checking, encoding and decoding option values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// The value does not have the expected shape.
    #[error("expected {expected}, got {got}")]
    Expected {
        /// What the option type wants.
        expected: String,
        /// What was given.
        got: String,
    },
    /// An integer outside the type's range or the declared min/max.
    #[error("{value} is out of range: expected {min} to {max}")]
    OutOfRange {
        /// The value given.
        value: String,
        /// Lowest accepted value.
        min: String,
        /// Highest accepted value.
        max: String,
    },
    /// An integer that is not one of the enumerated values.
    #[error("{value} is not allowed: expected one of {allowed}")]
    NotOneOf {
        /// The value given.
        value: String,
        /// The accepted values.
        allowed: String,
    },
    /// An element with too few or too many octets.
    #[error("{what} is {got} octets long: expected {bounds} octets")]
    Length {
        /// What was measured.
        what: String,
        /// Its length.
        got: usize,
        /// Accepted lengths.
        bounds: Bounds,
    },
    /// A DSS_ID longer than 32 octets (PKT-SP-EUE-PROV section 6.4.1.2).
    #[error("a DSS_ID is at most 32 octets (PKT-SP-EUE-PROV 6.4.1.2), this one is {0}")]
    DssIdTooLong(usize),
    /// A list with a wrong number of elements.
    #[error("{got} elements given: expected {bounds}")]
    Count {
        /// Elements given.
        got: usize,
        /// Accepted counts.
        bounds: Bounds,
    },
    /// A DNS name that cannot be encoded.
    #[error("bad DNS name {name:?}: {source}")]
    Name {
        /// The name.
        name: String,
        /// Why.
        #[source]
        source: NameError,
    },
    /// A route destination with host bits set (RFC 3442 section 3).
    #[error("route destination {0} has bits set past its prefix length")]
    HostBits(String),
    /// SIP servers mixing names and addresses (RFC 3361 section 3).
    #[error("SIP servers must be all DNS names or all IPv4 addresses (RFC 3361 section 3)")]
    MixedSipServers,
    /// Client FQDN flags that RFC 4702 section 2.1 forbids.
    #[error("client FQDN flags 0x{flags:02x} are invalid: {reason}")]
    FqdnFlags {
        /// The flags octet.
        flags: u8,
        /// Which rule they break.
        reason: &'static str,
    },
    /// Wire data that does not follow the option's format.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being read.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// An encoded value that does not fit its length field.
    #[error("encoded value is {len} octets long: at most {max} fit")]
    TooLong {
        /// Encoded length.
        len: usize,
        /// Largest length the field can carry.
        max: usize,
    },
    /// An option set entry with no option type.
    #[error("no option type is declared for {0}")]
    Unknown(TagPath),
    /// A container set as a whole and through its sub-options at once.
    #[error("{0} is set both as a whole and through its sub-options")]
    Conflict(TagPath),
    /// A sub-option code wider than its container's tag field.
    #[error("sub-option code {code} does not fit a {width}-octet tag field")]
    TagTooWide {
        /// The code.
        code: u32,
        /// Tag field width in octets.
        width: u8,
    },
}

impl ValueError {
    pub(crate) fn malformed(what: impl Into<String>, reason: impl Into<String>) -> ValueError {
        ValueError::Malformed {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// What an element of this definition looks like, for error messages.
pub(crate) fn expected_text(def: &OptionDef) -> String {
    let t = def.data_type;
    match t {
        DataType::U8
        | DataType::U16
        | DataType::U24
        | DataType::U32
        | DataType::U64
        | DataType::U128 => {
            let bits = 8 * t.int_width().unwrap_or(0);
            let sign = if def.signed { "signed" } else { "unsigned" };
            format!("{sign} {bits}-bit integer")
        }
        DataType::Time => "a time in seconds (3600, or 90s, 30m, 1h, 1d, 1w)".into(),
        DataType::String => "a string".into(),
        DataType::Ip => "an IPv4 address such as 10.0.0.1".into(),
        DataType::Ip6 => "an IPv6 address such as 2001:db8::1".into(),
        DataType::Endpoint => "an IPv4 address and port such as 10.0.0.1:69".into(),
        DataType::Bool => "true or false".into(),
        DataType::Bytes | DataType::Suboptions | DataType::Vendor => {
            "hex bytes such as 01:02:0a or 0x01020a".into()
        }
        DataType::DnsName | DataType::DnsNameList => "a DNS name such as BASIC.1".into(),
        DataType::ProvServer => "an IPv4 address or a DNS name".into(),
        DataType::ClasslessRoutes => "a route such as \"10.0.0.0/8 via 10.1.0.1\"".into(),
        DataType::SipServers => "a DNS name or an IPv4 address".into(),
        DataType::ClientFqdn => {
            "a client FQDN such as \"flags=0x05 rcode1=255 rcode2=255 name=host.example.com\""
                .into()
        }
        DataType::DssId => "a DSS_ID: text, or hex written 0x…".into(),
    }
}

fn literal_text(l: &Literal) -> String {
    match l {
        Literal::Str(s) => format!("{s:?}"),
        Literal::Int(i) => format!("the integer {i}"),
        Literal::Bool(b) => format!("the boolean {b}"),
        Literal::Ip(a) => format!("the address {a}"),
        Literal::Bytes(b) => format!("{} raw bytes", b.len()),
        Literal::List(v) => format!("a list of {} values", v.len()),
    }
}

fn value_kind(v: &Value) -> String {
    match v {
        Value::Uint(u) => format!("the unsigned integer {u}"),
        Value::Int(i) => format!("the signed integer {i}"),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Str(s) => format!("the string {s:?}"),
        Value::Ip(a) => format!("the address {a}"),
        Value::Endpoint(e) => format!("the endpoint {e}"),
        Value::Bytes(b) => format!("{} bytes", b.len()),
        Value::DnsName(n) => format!("the DNS name {n}"),
        Value::Route(r) => format!("the route {}", Value::Route(*r)),
        Value::Fqdn(_) => "a client FQDN".into(),
        Value::DssId(_) => "a DSS_ID".into(),
        Value::List(v) => format!("a list of {} values", v.len()),
    }
}

pub(crate) fn mismatch(def: &OptionDef, v: &Value) -> ValueError {
    ValueError::Expected {
        expected: expected_text(def),
        got: value_kind(v),
    }
}

fn expected(def: &OptionDef, lit: &Literal) -> ValueError {
    ValueError::Expected {
        expected: expected_text(def),
        got: literal_text(lit),
    }
}

/// Types an untyped literal by its option definition: parses strings,
/// checks ranges, lengths and element counts.
pub fn coerce(def: &OptionDef, lit: &Literal) -> Result<Value, ValueError> {
    let value = if def.multiple {
        let items = match lit {
            Literal::List(items) => items
                .iter()
                .map(|l| coerce_elem(def, l))
                .collect::<Result<Vec<_>, _>>()?,
            Literal::Str(s) => split_list(s)?
                .into_iter()
                .map(|e| coerce_elem(def, &Literal::Str(e)))
                .collect::<Result<Vec<_>, _>>()?,
            // A Rhai blob for a list of octets (an ORO, a parameter list).
            Literal::Bytes(b) if def.data_type == DataType::U8 => b
                .iter()
                .map(|&o| coerce_elem(def, &Literal::Int(i128::from(o))))
                .collect::<Result<Vec<_>, _>>()?,
            other => vec![coerce_elem(def, other)?],
        };
        Value::List(items)
    } else {
        if let Literal::List(_) = lit {
            return Err(ValueError::Expected {
                expected: format!("a single value ({})", expected_text(def)),
                got: literal_text(lit),
            });
        }
        coerce_elem(def, lit)?
    };
    validate(def, &value)?;
    Ok(value)
}

fn coerce_elem(def: &OptionDef, lit: &Literal) -> Result<Value, ValueError> {
    let t = def.data_type;
    if t.is_numeric() {
        return coerce_int(def, lit);
    }
    match (t, lit) {
        (_, Literal::List(_)) => Err(expected(def, lit)),
        (DataType::Bool, Literal::Bool(b)) => Ok(Value::Bool(*b)),
        (DataType::Bool, Literal::Int(0)) => Ok(Value::Bool(false)),
        (DataType::Bool, Literal::Int(1)) => Ok(Value::Bool(true)),
        (DataType::Bool, Literal::Str(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "off" | "0" => Ok(Value::Bool(false)),
            _ => Err(expected(def, lit)),
        },
        (DataType::String, Literal::Str(s)) => Ok(Value::Str(s.clone())),
        // An expression computing a server address for a text option (66, say).
        (DataType::String, Literal::Ip(a)) => Ok(Value::Str(a.to_string())),
        (DataType::Ip, _) => ipv4_of(lit)
            .map(|a| Value::Ip(IpAddr::V4(a)))
            .ok_or_else(|| expected(def, lit)),
        (DataType::Ip6, Literal::Ip(IpAddr::V6(a))) => Ok(Value::Ip(IpAddr::V6(*a))),
        (DataType::Ip6, Literal::Str(s)) => s
            .trim()
            .parse::<std::net::Ipv6Addr>()
            .map(|a| Value::Ip(IpAddr::V6(a)))
            .map_err(|_| expected(def, lit)),
        (DataType::Endpoint, Literal::Str(s)) => s
            .trim()
            .parse::<SocketAddrV4>()
            .map(|e| Value::Endpoint(SocketAddr::V4(e)))
            .map_err(|_| expected(def, lit)),
        (DataType::Bytes | DataType::Suboptions | DataType::Vendor, Literal::Bytes(b)) => {
            Ok(Value::Bytes(b.clone()))
        }
        (DataType::Bytes | DataType::Suboptions | DataType::Vendor, Literal::Str(s)) => {
            parse_hex(s)
                .map(Value::Bytes)
                .ok_or_else(|| expected(def, lit))
        }
        (DataType::DnsName | DataType::DnsNameList, Literal::Str(s)) => {
            Ok(Value::DnsName(canonical_name(s)))
        }
        (DataType::ProvServer | DataType::SipServers, _) => match ipv4_of(lit) {
            Some(a) => Ok(Value::Ip(IpAddr::V4(a))),
            None => match lit {
                Literal::Str(s) if s.trim().parse::<IpAddr>().is_err() => {
                    Ok(Value::DnsName(canonical_name(s)))
                }
                _ => Err(expected(def, lit)),
            },
        },
        (DataType::ClasslessRoutes, Literal::Str(s)) => parse_route(s)
            .map(Value::Route)
            .ok_or_else(|| expected(def, lit)),
        (DataType::ClientFqdn, Literal::Str(s)) => parse_fqdn(s)
            .map(Value::Fqdn)
            .ok_or_else(|| expected(def, lit)),
        (DataType::DssId, Literal::Bytes(b)) => Ok(Value::DssId(b.clone())),
        (DataType::DssId, Literal::Str(s)) => Ok(Value::DssId(parse_dss_id(s))),
        _ => Err(expected(def, lit)),
    }
}

fn ipv4_of(lit: &Literal) -> Option<Ipv4Addr> {
    match lit {
        Literal::Ip(IpAddr::V4(a)) => Some(*a),
        Literal::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn canonical_name(s: &str) -> String {
    let t = s.trim();
    t.strip_suffix('.').unwrap_or(t).to_string()
}

/// An integer before it is given a signedness: negative or not.
#[derive(Clone, Copy)]
enum Wide {
    Neg(i128),
    Pos(u128),
}

impl fmt::Display for Wide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Wide::Neg(i) => write!(f, "{i}"),
            Wide::Pos(u) => write!(f, "{u}"),
        }
    }
}

fn parse_wide(s: &str, time: bool) -> Option<Wide> {
    let t = s.trim();
    if let Some(rest) = t.strip_prefix('-') {
        let (digits, mult) = if time { time_suffix(rest)? } else { (rest, 1) };
        let v: i128 = digits
            .parse::<u128>()
            .ok()
            .and_then(|u| i128::try_from(u).ok())?;
        return v.checked_mul(i128::from(mult)).map(|v| {
            if v == 0 {
                Wide::Pos(0)
            } else {
                Wide::Neg(-v)
            }
        });
    }
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u128::from_str_radix(hex, 16).ok().map(Wide::Pos);
    }
    let (digits, mult) = if time { time_suffix(t)? } else { (t, 1) };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .parse::<u128>()
        .ok()?
        .checked_mul(u128::from(mult))
        .map(Wide::Pos)
}

fn time_suffix(s: &str) -> Option<(&str, u32)> {
    let mult = match s.chars().last()? {
        's' | 'S' => 1,
        'm' | 'M' => 60,
        'h' | 'H' => 3600,
        'd' | 'D' => 86_400,
        'w' | 'W' => 604_800,
        _ => return Some((s, 1)),
    };
    Some((s.get(..s.len() - 1)?, mult))
}

fn coerce_int(def: &OptionDef, lit: &Literal) -> Result<Value, ValueError> {
    let w = match lit {
        Literal::Int(i) if *i < 0 => Wide::Neg(*i),
        Literal::Int(i) => Wide::Pos(i.unsigned_abs()),
        Literal::Str(s) => {
            parse_wide(s, def.data_type == DataType::Time).ok_or_else(|| expected(def, lit))?
        }
        _ => return Err(expected(def, lit)),
    };
    check_int(def, w)?;
    Ok(match w {
        Wide::Pos(u) if def.signed => {
            Value::Int(i128::try_from(u).map_err(|_| out_of_range(def, w))?)
        }
        Wide::Pos(u) => Value::Uint(u),
        Wide::Neg(i) => Value::Int(i),
    })
}

fn out_of_range(def: &OptionDef, w: Wide) -> ValueError {
    let (lo_n, hi_n) = def.natural_range().unwrap_or((0, 0));
    let lo = def.min.map_or(lo_n, |m| m.max(lo_n));
    let hi = match def.max {
        Some(m) if m < 0 => m.to_string(),
        Some(m) => hi_n.min(m.unsigned_abs()).to_string(),
        None => hi_n.to_string(),
    };
    ValueError::OutOfRange {
        value: w.to_string(),
        min: lo.to_string(),
        max: hi,
    }
}

fn check_int(def: &OptionDef, w: Wide) -> Result<(), ValueError> {
    let Some((lo_n, hi_n)) = def.natural_range() else {
        return Err(ValueError::Expected {
            expected: expected_text(def),
            got: format!("the integer {w}"),
        });
    };
    let natural = match w {
        Wide::Pos(u) => u <= hi_n,
        Wide::Neg(i) => i >= lo_n,
    };
    let ge_min = def.min.is_none_or(|m| match w {
        Wide::Pos(u) => m <= 0 || u >= m.unsigned_abs(),
        Wide::Neg(i) => i >= m,
    });
    let le_max = def.max.is_none_or(|m| match w {
        Wide::Pos(u) => m >= 0 && u <= m.unsigned_abs(),
        Wide::Neg(i) => i <= m,
    });
    if !(natural && ge_min && le_max) {
        return Err(out_of_range(def, w));
    }
    if !def.values.is_empty() {
        let found = def.values.iter().any(|&v| match w {
            Wide::Pos(u) => v >= 0 && u == v.unsigned_abs(),
            Wide::Neg(i) => i == v,
        });
        if !found {
            let allowed = def
                .values
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ValueError::NotOneOf {
                value: w.to_string(),
                allowed,
            });
        }
    }
    Ok(())
}

/// Checks a typed value against its definition: shape, ranges, lengths,
/// element counts. [`coerce`] and the encoder both call it, so a value built
/// by hand cannot bypass the limits.
pub fn validate(def: &OptionDef, v: &Value) -> Result<(), ValueError> {
    if !def.multiple {
        return validate_elem(def, v);
    }
    let Value::List(items) = v else {
        return Err(ValueError::Expected {
            expected: format!("a list of {}", expected_text(def)),
            got: value_kind(v),
        });
    };
    if !def.count.contains(items.len()) {
        return Err(ValueError::Count {
            got: items.len(),
            bounds: def.count,
        });
    }
    for item in items {
        // An empty element has no text form inside a list ("" is the empty list).
        let empty = match item {
            Value::Str(s) => s.is_empty(),
            Value::Bytes(b) | Value::DssId(b) => b.is_empty(),
            _ => false,
        };
        if empty {
            return Err(ValueError::Length {
                what: "a list element".into(),
                got: 0,
                bounds: Bounds {
                    min: 1,
                    ..def.octets
                },
            });
        }
        validate_elem(def, item)?;
    }
    if def.data_type == DataType::SipServers {
        let ips = items.iter().filter(|e| matches!(e, Value::Ip(_))).count();
        if ips != 0 && ips != items.len() {
            return Err(ValueError::MixedSipServers);
        }
    }
    Ok(())
}

fn check_octets(def: &OptionDef, what: &str, n: usize) -> Result<(), ValueError> {
    if def.octets.contains(n) {
        Ok(())
    } else {
        Err(ValueError::Length {
            what: what.to_string(),
            got: n,
            bounds: def.octets,
        })
    }
}

fn validate_elem(def: &OptionDef, v: &Value) -> Result<(), ValueError> {
    let t = def.data_type;
    if t.is_numeric() {
        return match (v, def.signed) {
            (Value::Uint(u), false) => check_int(def, Wide::Pos(*u)),
            (Value::Int(i), true) if *i < 0 => check_int(def, Wide::Neg(*i)),
            (Value::Int(i), true) => check_int(def, Wide::Pos(i.unsigned_abs())),
            _ => Err(mismatch(def, v)),
        };
    }
    match (t, v) {
        (DataType::Bool, Value::Bool(_)) => Ok(()),
        (DataType::String, Value::Str(s)) => {
            if def.null_terminated && s.contains('\0') {
                return Err(ValueError::Expected {
                    expected: "a string without NUL characters (it is NUL-terminated on the wire)"
                        .into(),
                    got: format!("{s:?}"),
                });
            }
            check_octets(def, "the string", s.len())
        }
        (DataType::Ip, Value::Ip(IpAddr::V4(_))) => Ok(()),
        (DataType::Ip6, Value::Ip(IpAddr::V6(_))) => Ok(()),
        (DataType::Endpoint, Value::Endpoint(SocketAddr::V4(_))) => Ok(()),
        (DataType::Bytes | DataType::Suboptions | DataType::Vendor, Value::Bytes(b)) => {
            check_octets(def, "the value", b.len())
        }
        (DataType::DnsName | DataType::DnsNameList, Value::DnsName(n)) => check_name(n),
        (DataType::ProvServer | DataType::SipServers, Value::Ip(IpAddr::V4(_))) => Ok(()),
        (DataType::ProvServer | DataType::SipServers, Value::DnsName(n)) => check_name(n),
        (DataType::ClasslessRoutes, Value::Route(r)) => {
            if r.destination.trunc() == r.destination {
                Ok(())
            } else {
                Err(ValueError::HostBits(r.destination.to_string()))
            }
        }
        (DataType::ClientFqdn, Value::Fqdn(f)) => check_fqdn(f),
        (DataType::DssId, Value::DssId(b)) => {
            if b.len() > DSS_ID_MAX {
                return Err(ValueError::DssIdTooLong(b.len()));
            }
            check_octets(def, "the DSS_ID", b.len())
        }
        _ => Err(mismatch(def, v)),
    }
}

/// Names must be encodable and must not contain what would make their text
/// form ambiguous (white space, commas, backslashes, control characters).
fn check_name(n: &str) -> Result<(), ValueError> {
    if n.is_empty() {
        return Err(ValueError::Expected {
            expected: "a DNS name such as BASIC.1".into(),
            got: "an empty name".into(),
        });
    }
    if n.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '\\')
    {
        return Err(ValueError::Expected {
            expected: "a DNS name without spaces, commas, backslashes or control characters".into(),
            got: format!("{n:?}"),
        });
    }
    dns::name_to_wire(n)
        .map(|_| ())
        .map_err(|source| ValueError::Name {
            name: n.to_string(),
            source,
        })
}

fn check_fqdn(f: &ClientFqdn) -> Result<(), ValueError> {
    if f.flags & 0xf0 != 0 {
        return Err(ValueError::FqdnFlags {
            flags: f.flags,
            reason: "the four high bits must be zero",
        });
    }
    if f.flags & ClientFqdn::N != 0 && f.flags & ClientFqdn::S != 0 {
        return Err(ValueError::FqdnFlags {
            flags: f.flags,
            reason: "N and S cannot both be set",
        });
    }
    if f.name.is_empty() {
        return Ok(());
    }
    if f.flags & ClientFqdn::E != 0 {
        check_name(&f.name)
    } else if f
        .name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        Err(ValueError::Expected {
            expected: "an ASCII name (flag E is clear)".into(),
            got: format!("{:?}", f.name),
        })
    } else {
        Ok(())
    }
}

/// Hex bytes: `""`, `0x01020a`, `01020a`, or groups of one or two hex
/// digits separated by `:`, `-` or spaces (`01:02:0a`).
pub(crate) fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let t = s.trim();
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return hex_pairs(h);
    }
    if t.contains([':', '-', ' ']) {
        return t
            .split([':', '-', ' '])
            .filter(|g| !g.is_empty())
            .map(|g| {
                if g.len() <= 2 {
                    u8::from_str_radix(g, 16).ok()
                } else {
                    None
                }
            })
            .collect();
    }
    hex_pairs(t)
}

fn hex_pairs(h: &str) -> Option<Vec<u8>> {
    if h.len() % 2 != 0 || !h.is_ascii() {
        return None;
    }
    (0..h.len())
        .step_by(2)
        .map(|i| h.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect()
}

fn write_hex(f: &mut fmt::Formatter<'_>, b: &[u8], sep: &str) -> fmt::Result {
    for (i, o) in b.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{o:02x}")?;
    }
    Ok(())
}

fn parse_route(s: &str) -> Option<ClasslessRoute> {
    let toks: Vec<&str> = s.split_whitespace().collect();
    let (d, r) = match toks.as_slice() {
        [d, r] => (*d, *r),
        [d, via, r] if via.eq_ignore_ascii_case("via") => (*d, *r),
        _ => return None,
    };
    Some(ClasslessRoute {
        destination: d.parse().ok()?,
        router: r.parse().ok()?,
    })
}

fn parse_fqdn(s: &str) -> Option<ClientFqdn> {
    let mut f = ClientFqdn {
        flags: ClientFqdn::E,
        rcode1: 255,
        rcode2: 255,
        name: String::new(),
    };
    let mut named = false;
    for tok in s.split_whitespace() {
        let (key, val) = tok.split_once('=').unwrap_or(("name", tok));
        match key.to_ascii_lowercase().as_str() {
            "flags" => f.flags = parse_fqdn_flags(val)?,
            "rcode1" => f.rcode1 = parse_u8(val)?,
            "rcode2" => f.rcode2 = parse_u8(val)?,
            "name" if !named => {
                named = true;
                f.name = canonical_name(val);
            }
            _ => return None,
        }
    }
    Some(f)
}

fn parse_u8(s: &str) -> Option<u8> {
    match parse_wide(s, false)? {
        Wide::Pos(u) => u8::try_from(u).ok(),
        Wide::Neg(_) => None,
    }
}

fn parse_fqdn_flags(s: &str) -> Option<u8> {
    if let Some(v) = parse_u8(s) {
        return Some(v);
    }
    s.chars().try_fold(0u8, |acc, c| {
        let bit = match c.to_ascii_uppercase() {
            'S' => ClientFqdn::S,
            'O' => ClientFqdn::O,
            'E' => ClientFqdn::E,
            'N' => ClientFqdn::N,
            _ => return None,
        };
        Some(acc | bit)
    })
}

/// DSS_ID text: `0x` + hex is hex, anything else is the octets of the text.
fn parse_dss_id(s: &str) -> Vec<u8> {
    s.strip_prefix("0x")
        .and_then(hex_pairs)
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| s.as_bytes().to_vec())
}

/// Splits the text form of a list: unescaped commas separate elements, a
/// backslash escapes the next character, unescaped white space around an
/// element is dropped. The empty string is the empty list.
pub(crate) fn split_list(s: &str) -> Result<Vec<String>, ValueError> {
    let mut out = Vec::new();
    let mut cur: Vec<(char, bool)> = Vec::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => cur.push((n, true)),
                None => {
                    return Err(ValueError::malformed(
                        "list",
                        "it ends with a lone backslash",
                    ))
                }
            },
            ',' => out.push(finish_elem(&mut cur)?),
            c => cur.push((c, false)),
        }
    }
    if out.is_empty() && cur.iter().all(|&(c, esc)| !esc && c.is_whitespace()) {
        return Ok(out);
    }
    out.push(finish_elem(&mut cur)?);
    Ok(out)
}

fn finish_elem(cur: &mut Vec<(char, bool)>) -> Result<String, ValueError> {
    let blank = |&(c, esc): &(char, bool)| !esc && c.is_whitespace();
    let start = cur.iter().position(|e| !blank(e)).unwrap_or(cur.len());
    let end = cur.iter().rposition(|e| !blank(e)).map_or(start, |i| i + 1);
    let s: String = cur
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|&(c, _)| c)
        .collect();
    cur.clear();
    if s.is_empty() {
        return Err(ValueError::malformed(
            "list",
            "an element is empty (two commas in a row?)",
        ));
    }
    Ok(s)
}

fn write_escaped(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    let n = s.chars().count();
    for (i, c) in s.chars().enumerate() {
        if c == '\\' || c == ',' || (c.is_whitespace() && (i == 0 || i + 1 == n)) {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    Ok(())
}

impl Value {
    /// An unsigned 8-bit value (`u8` options such as 125/4491/124).
    pub fn from_u8(v: u8) -> Value {
        Value::Uint(u128::from(v))
    }

    /// The value as an octet, if it is an integer that fits.
    pub fn as_u8(&self) -> Option<u8> {
        self.as_uint().and_then(|u| u8::try_from(u).ok())
    }

    /// The unsigned integer, if this is one.
    pub fn as_uint(&self) -> Option<u128> {
        match self {
            Value::Uint(u) => Some(*u),
            Value::Int(i) => u128::try_from(*i).ok(),
            _ => None,
        }
    }

    /// The IPv4 address, if this is one.
    pub fn as_ipv4(&self) -> Option<Ipv4Addr> {
        match self {
            Value::Ip(IpAddr::V4(a)) => Some(*a),
            _ => None,
        }
    }

    /// The text, if this is a string or a DNS name.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::DnsName(s) => Some(s),
            _ => None,
        }
    }

    /// The flag, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Uint(u) => write!(f, "{u}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Str(s) | Value::DnsName(s) => f.write_str(s),
            Value::Ip(a) => write!(f, "{a}"),
            Value::Endpoint(e) => write!(f, "{e}"),
            Value::Bytes(b) => write_hex(f, b, ":"),
            Value::Route(r) => write!(f, "{} via {}", r.destination, r.router),
            Value::Fqdn(x) => {
                write!(
                    f,
                    "flags=0x{:02x} rcode1={} rcode2={} name={}",
                    x.flags, x.rcode1, x.rcode2, x.name
                )
            }
            Value::DssId(b) => {
                let printable = b.iter().all(|&c| (0x20..0x7f).contains(&c));
                if printable && !b.starts_with(b"0x") {
                    f.write_str(&String::from_utf8_lossy(b))
                } else {
                    f.write_str("0x")?;
                    write_hex(f, b, "")
                }
            }
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_escaped(f, &item.to_string())?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::codec::{decode_value, encode_value};
    use crate::options::registry::Registry;
    use crate::options::types::Settable;
    use proptest::prelude::*;
    use std::sync::LazyLock;

    fn def(key: &str) -> OptionDef {
        Registry::builtin().resolve(key).unwrap().clone()
    }

    fn s(text: &str) -> Literal {
        Literal::Str(text.into())
    }

    fn err(key: &str, lit: Literal) -> String {
        coerce(&def(key), &lit).unwrap_err().to_string()
    }

    #[test]
    fn parses_the_documented_text_forms() {
        assert_eq!(
            coerce(&def("routers"), &s("10.0.0.1")).unwrap(),
            Value::List(vec![Value::Ip("10.0.0.1".parse().unwrap())])
        );
        assert_eq!(
            coerce(&def("cablelabs-realm"), &s("BASIC.1")).unwrap(),
            Value::DnsName("BASIC.1".into())
        );
        for form in ["01:02:0a", "0x01020a", "01020a", "1-2-a", "01 02 0a"] {
            assert_eq!(
                coerce(&def("geoconf-civic"), &s(form)).unwrap(),
                Value::Bytes(vec![1, 2, 10]),
                "{form}"
            );
        }
        assert_eq!(
            coerce(&def("ip-forwarding"), &s("yes")).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            coerce(&def("ip-forwarding"), &Literal::Int(0)).unwrap(),
            Value::Bool(false)
        );
        assert_eq!(
            coerce(&def("server.lease-time"), &s("3600")).unwrap(),
            Value::Uint(3600)
        );
        assert_eq!(
            coerce(&def("server.lease-time"), &s("1h")).unwrap(),
            Value::Uint(3600)
        );
        assert_eq!(
            coerce(&def("server.lease-time"), &s("2d")).unwrap(),
            Value::Uint(172_800)
        );
        assert_eq!(
            coerce(&def("time-offset"), &Literal::Int(-18000)).unwrap(),
            Value::Int(-18000)
        );
        assert_eq!(
            coerce(&def("boot-size"), &s("0x10")).unwrap(),
            Value::Uint(16)
        );
        let route = coerce(
            &def("121"),
            &s("10.0.0.0/8 10.1.0.1, 0.0.0.0/0 via 10.0.0.1"),
        )
        .unwrap();
        assert_eq!(
            route.to_string(),
            "10.0.0.0/8 via 10.1.0.1, 0.0.0.0/0 via 10.0.0.1"
        );
        assert_eq!(
            coerce(&def("cablelabs-prov-server"), &s("10.0.0.1")).unwrap(),
            Value::Ip("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            coerce(&def("122/3"), &s("prov.example.com.")).unwrap(),
            Value::DnsName("prov.example.com".into())
        );
        assert_eq!(
            coerce(&def("122/3"), &Literal::Ip("10.0.0.1".parse().unwrap()))
                .unwrap()
                .to_string(),
            "10.0.0.1"
        );
        // A Rhai blob for a list of octets.
        assert_eq!(
            coerce(&def("125/4491/1"), &Literal::Bytes(vec![2, 123]))
                .unwrap()
                .to_string(),
            "2, 123"
        );
        let l = Literal::List(vec![
            s("192.0.2.1"),
            Literal::Ip("192.0.2.2".parse().unwrap()),
        ]);
        assert_eq!(
            coerce(&def("cl-v4-tftp-servers"), &l).unwrap().to_string(),
            "192.0.2.1, 192.0.2.2"
        );
    }

    #[test]
    fn errors_say_what_was_expected() {
        assert_eq!(
            err("cablelabs-prov-timer", Literal::Int(256)),
            "256 is out of range: expected 0 to 255"
        );
        assert_eq!(
            err("default-ip-ttl", s("0")),
            "0 is out of range: expected 1 to 255"
        );
        assert_eq!(
            err("boot-size", s("-1")),
            "-1 is out of range: expected 0 to 65535"
        );
        assert_eq!(
            err("routers", s("10.0.0.300")),
            "expected an IPv4 address such as 10.0.0.1, got \"10.0.0.300\""
        );
        assert_eq!(
            err("subnet-mask", s("2001:db8::1")),
            "expected an IPv4 address such as 10.0.0.1, got \"2001:db8::1\""
        );
        assert_eq!(
            err("cl-v4-ip-pref", Literal::Int(3)),
            "3 is not allowed: expected one of 1, 2, 5, 6, 7"
        );
        assert_eq!(
            err("cablelabs-as-req-as-rep-backoff", s("1, 2")),
            "2 elements given: expected exactly 3"
        );
        assert_eq!(
            err("policy-filter", s("10.0.0.0, 255.0.0.0, 10.1.0.0")),
            "3 elements given: expected at least 2 (a multiple of 2)"
        );
        assert_eq!(
            err("subnet-mask", Literal::List(vec![])),
            "expected a single value (an IPv4 address such as 10.0.0.1), got a list of 0 values"
        );
        assert_eq!(
            err("121", s("10.1.2.3/8 via 10.0.0.1")),
            "route destination 10.1.2.3/8 has bits set past its prefix length"
        );
        assert_eq!(
            err("120", s("192.0.2.1, sip.example.com")),
            ValueError::MixedSipServers.to_string()
        );
        assert!(
            err("host-name", Literal::Int(5)).starts_with("expected a string, got the integer 5")
        );
        assert!(err("geoconf", s("01:02")).contains("2 octets long: expected exactly 16 octets"));
        assert!(err("routers", s("10.0.0.1,,10.0.0.2")).contains("empty"));
        assert!(err("cablelabs-realm", s("a..b")).starts_with("bad DNS name \"a..b\""));
        assert!(err("fqdn", s("flags=0x09 name=a.b")).contains("N and S"));
        assert!(err("fqdn", s("flags=0x10")).contains("high bits"));
        assert!(err("fqdn", s("colour=red")).starts_with("expected a client FQDN"));
    }

    #[test]
    fn dss_id_is_limited_to_32_octets() {
        let d = def("cl-v4-cccv6-primary-dss-id");
        assert_eq!(
            coerce(&d, &s(&"x".repeat(32))).unwrap(),
            Value::DssId(vec![b'x'; 32])
        );
        assert_eq!(
            coerce(&d, &s(&"x".repeat(33))),
            Err(ValueError::DssIdTooLong(33))
        );
        assert_eq!(
            coerce(&d, &Literal::Bytes(vec![0; 40])),
            Err(ValueError::DssIdTooLong(40))
        );
        assert!(err("125/4491/123/2", s(&"y".repeat(33))).contains("at most 32 octets"));
        // The reserved values of PKT-SP-EUE-PROV 6.4.1.2, in hex.
        assert_eq!(
            coerce(&d, &s("0xffffffff")).unwrap(),
            Value::DssId(vec![0xff; 4])
        );
        assert_eq!(Value::DssId(vec![0; 4]).to_string(), "0x00000000");
        assert_eq!(Value::DssId(b"0x12".to_vec()).to_string(), "0x30783132");
    }

    #[test]
    fn list_text_escapes_commas_backslashes_and_edge_spaces() {
        let mut d = OptionDef::new("43/200".parse().unwrap(), "t", DataType::String, "");
        d.multiple = true;
        d.length_prefix = 1;
        let v = coerce(&d, &s(r"a\,b,  c , \ d\ , e\\f")).unwrap();
        assert_eq!(
            v,
            Value::List(
                ["a,b", "c", " d ", r"e\f"]
                    .iter()
                    .map(|x| Value::Str((*x).into()))
                    .collect()
            )
        );
        assert_eq!(v.to_string(), r"a\,b, c, \ d\ , e\\f");
        assert_eq!(coerce(&d, &s(&v.to_string())).unwrap(), v);
        assert!(coerce(&d, &s(r"a\")).is_err());
        let empty = Literal::List(vec![s("")]);
        assert_eq!(
            coerce(&d, &empty).unwrap_err().to_string(),
            "a list element is 0 octets long: expected at least 1 octets"
        );
        assert_eq!(
            coerce(&d, &s("  ")),
            Err(ValueError::Count {
                got: 0,
                bounds: d.count
            })
        );
    }

    /// Definitions covering every data type and the option fields that
    /// change parsing, for the round-trip properties.
    static DEFS: LazyLock<Vec<OptionDef>> = LazyLock::new(|| {
        let reg = Registry::builtin();
        let mut v: Vec<OptionDef> = [
            "subnet-mask",
            "time-offset",
            "routers",
            "host-name",
            "boot-size",
            "ip-forwarding",
            "policy-filter",
            "netbios-node-type",
            "user-class",
            "fqdn",
            "domain-search",
            "sip-servers",
            "classless-static-route",
            "cablelabs-prov-server",
            "cablelabs-as-req-as-rep-backoff",
            "cablelabs-realm",
            "cablelabs-prov-timer",
            "cl-v4-cccv6-primary-dss-id",
            "cl-v4-ip-pref",
            "geoconf",
            "client-ndi",
            "name-service-search",
            "mobile-ip-home-agent",
            "server.lease-time",
            "vendor-encapsulated-options",
            "dhcp-client-identifier",
        ]
        .iter()
        .map(|n| reg.resolve(n).unwrap().clone())
        .collect();
        let custom = |t: DataType, f: fn(&mut OptionDef)| {
            let mut d = OptionDef::new("43/200".parse().unwrap(), "custom", t, "");
            d.user = Settable::Allowed;
            f(&mut d);
            d
        };
        v.push(custom(DataType::U24, |d| d.signed = true));
        v.push(custom(DataType::U64, |_| {}));
        v.push(custom(DataType::U128, |_| {}));
        v.push(custom(DataType::U128, |d| d.signed = true));
        v.push(custom(DataType::Endpoint, |d| d.multiple = true));
        v.push(custom(DataType::String, |d| {
            d.multiple = true;
            d.length_prefix = 2;
        }));
        v.push(custom(DataType::String, |d| {
            d.multiple = true;
            d.null_terminated = true;
        }));
        v.push(custom(DataType::DssId, |_| {}));
        v.push(custom(DataType::Bytes, |d| {
            d.multiple = true;
            d.length_prefix = 1;
        }));
        v.push(custom(DataType::U16, |d| {
            d.signed = true;
            d.min = Some(-300);
            d.max = Some(-100);
        }));
        v
    });

    fn name() -> impl Strategy<Value = String> {
        prop::collection::vec("[a-zA-Z][a-zA-Z0-9-]{0,9}", 1..4).prop_map(|l| l.join("."))
    }

    fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
        any::<u32>().prop_map(Ipv4Addr::from)
    }

    fn octets(def: &OptionDef, cap: usize) -> std::ops::RangeInclusive<usize> {
        let min = if def.multiple {
            def.octets.min.max(1)
        } else {
            def.octets.min
        };
        min..=def.octets.max.min(min.max(cap))
    }

    fn element(def: &OptionDef) -> BoxedStrategy<Value> {
        let d = def.clone();
        if !d.values.is_empty() {
            let vals = d.values.clone();
            return prop::sample::select(vals)
                .prop_map(move |x| {
                    if d.signed {
                        Value::Int(x)
                    } else {
                        Value::Uint(x.unsigned_abs())
                    }
                })
                .boxed();
        }
        if let Some((lo_n, hi_n)) = d.natural_range() {
            let lo = d.min.map_or(lo_n, |m| m.max(lo_n));
            if d.signed {
                let hi = d
                    .max
                    .unwrap_or(i128::try_from(hi_n).unwrap_or(i128::MAX))
                    .min(i128::try_from(hi_n).unwrap_or(i128::MAX));
                return (lo..=hi).prop_map(Value::Int).boxed();
            }
            let hi = d.max.map_or(hi_n, |m| hi_n.min(m.unsigned_abs()));
            return (lo.unsigned_abs()..=hi).prop_map(Value::Uint).boxed();
        }
        match d.data_type {
            DataType::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
            DataType::String => {
                let r = octets(&d, 12);
                let nul = d.null_terminated;
                proptest::string::string_regex(&format!("[ -~]{{{},{}}}", r.start(), r.end()))
                    .unwrap()
                    .prop_filter("NUL-terminated strings carry no NUL", move |s| {
                        !nul || !s.contains('\0')
                    })
                    .prop_map(Value::Str)
                    .boxed()
            }
            DataType::Ip => ipv4().prop_map(|a| Value::Ip(IpAddr::V4(a))).boxed(),
            DataType::Ip6 => any::<u128>()
                .prop_map(|a| Value::Ip(IpAddr::V6(std::net::Ipv6Addr::from(a))))
                .boxed(),
            DataType::Endpoint => (ipv4(), any::<u16>())
                .prop_map(|(a, p)| Value::Endpoint(SocketAddr::new(IpAddr::V4(a), p)))
                .boxed(),
            DataType::Bytes | DataType::Suboptions | DataType::Vendor => {
                prop::collection::vec(any::<u8>(), octets(&d, 12))
                    .prop_map(Value::Bytes)
                    .boxed()
            }
            DataType::DssId => {
                let min = usize::from(d.multiple);
                prop::collection::vec(any::<u8>(), min..=DSS_ID_MAX)
                    .prop_map(Value::DssId)
                    .boxed()
            }
            DataType::DnsName | DataType::DnsNameList => name().prop_map(Value::DnsName).boxed(),
            DataType::ProvServer => prop_oneof![
                ipv4().prop_map(|a| Value::Ip(IpAddr::V4(a))),
                name().prop_map(Value::DnsName)
            ]
            .boxed(),
            DataType::ClasslessRoutes => (ipv4(), 0u8..=32, ipv4())
                .prop_map(|(a, len, router)| {
                    let destination = Ipv4Net::new(a, len).map(|n| n.trunc()).unwrap_or_default();
                    Value::Route(ClasslessRoute {
                        destination,
                        router,
                    })
                })
                .boxed(),
            DataType::ClientFqdn => (0u8..16, any::<u8>(), any::<u8>(), prop::option::of(name()))
                .prop_filter("N and S exclusive", |(f, ..)| f & 0x09 != 0x09)
                .prop_map(|(flags, rcode1, rcode2, n)| {
                    Value::Fqdn(ClientFqdn {
                        flags,
                        rcode1,
                        rcode2,
                        name: n.unwrap_or_default(),
                    })
                })
                .boxed(),
            // SIP lists are generated whole (one encoding for all).
            DataType::SipServers => name().prop_map(Value::DnsName).boxed(),
            _ => Just(Value::Bool(false)).boxed(),
        }
    }

    fn value(def: &OptionDef) -> BoxedStrategy<Value> {
        if !def.multiple {
            return element(def);
        }
        let max = def.count.max.min(def.count.min + 5);
        let step = def.count.step.max(1);
        let counts = (def.count.min..=max).prop_filter("count step", move |n| n % step == 0);
        if def.data_type == DataType::SipServers {
            return prop_oneof![
                prop::collection::vec(ipv4().prop_map(|a| Value::Ip(IpAddr::V4(a))), 1..4),
                prop::collection::vec(name().prop_map(Value::DnsName), 1..4)
            ]
            .prop_map(Value::List)
            .boxed();
        }
        let elem = element(def);
        counts
            .prop_flat_map(move |n| prop::collection::vec(elem.clone(), n))
            .prop_map(Value::List)
            .boxed()
    }

    fn def_and_value() -> impl Strategy<Value = (usize, Value)> {
        (0..DEFS.len()).prop_flat_map(|i| value(&DEFS[i]).prop_map(move |v| (i, v)))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn display_then_coerce_round_trips((i, v) in def_and_value()) {
            let d = &DEFS[i];
            prop_assert_eq!(validate(d, &v), Ok(()), "generated value must be valid for {}", d.name);
            let text = v.to_string();
            prop_assert_eq!(coerce(d, &Literal::Str(text.clone())), Ok(v.clone()), "{} text {:?}", d.name, text);
        }

        #[test]
        fn encode_then_decode_round_trips((i, v) in def_and_value()) {
            let d = &DEFS[i];
            let bytes = encode_value(d, &v).unwrap();
            prop_assert_eq!(decode_value(d, &bytes), Ok(v), "{} bytes {:02x?}", d.name, bytes);
        }

        #[test]
        fn decode_never_panics(i in 0..DEFS.len(), bytes in prop::collection::vec(any::<u8>(), 0..40)) {
            let _ = decode_value(&DEFS[i], &bytes);
        }
    }
}
