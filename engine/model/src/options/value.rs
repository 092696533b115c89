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
        (DataType::Ip, _) => ipv4_of(lit)
            .map(|a| Value::Ip(IpAddr::V4(a)))
            .ok_or_else(|| expected(def, lit)),
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
