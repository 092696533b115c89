//! Option type definitions (seed 004 section 5.9 "Option Types"): the data
//! type names, the fields of an option type that change how a value is
//! checked or encoded, and who may set it.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

use super::path::{Space, TagPath};

/// The data type of an option, from the seed's type list mapped to DHCP.
///
/// Integer types are unsigned unless the definition sets `signed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub enum DataType {
    /// 8-bit integer.
    U8,
    /// 16-bit integer, network order.
    U16,
    /// 24-bit integer, network order.
    U24,
    /// 32-bit integer, network order.
    U32,
    /// 64-bit integer, network order.
    U64,
    /// 128-bit integer, network order.
    U128,
    /// Text (NVT ASCII in RFC 2132; UTF-8 accepted).
    String,
    /// An IPv4 address (4 octets) in the DHCPv4 space.
    Ip,
    /// An IPv4 address and a port (6 octets).
    Endpoint,
    /// One octet, 0 or 1 (RFC 2132 section 2 "flag").
    Bool,
    /// Seconds, 32 bits (signed for option 2, RFC 2132 section 3.4).
    Time,
    /// Opaque octets.
    Bytes,
    /// A DNS name in RFC 1035 wire form, uncompressed.
    DnsName,
    /// A container of `tag len data` sub-options (RFC 2132 option 43, RFC 3046, RFC 3495).
    Suboptions,
    /// An RFC 3925 vendor container: `enterprise(4) len(1) data` blocks whose
    /// data are sub-options living under the enterprise number.
    Vendor,
    /// RFC 3495 sub-option 3: type 0 + DNS name, or type 1 + IPv4 address.
    ProvServer,
    /// RFC 3397 domain search list: DNS names, uncompressed on encode.
    DnsNameList,
    /// RFC 3442 classless static routes: `width, significant octets, router`.
    ClasslessRoutes,
    /// RFC 3361 SIP servers: encoding 0 + DNS names, or 1 + IPv4 addresses.
    SipServers,
    /// RFC 4702 client FQDN: flags, RCODE1, RCODE2, domain name.
    ClientFqdn,
    /// A DHCPv6 Server Selector ID: opaque, at most 32 octets (PKT-SP-EUE-PROV 6.4.1.2).
    DssId,
    /// An IPv6 address (16 octets), the address type of the DHCPv6 space.
    Ip6,
}

impl DataType {
    /// Every data type, in the order `headend check` lists them.
    pub const ALL: [DataType; 22] = [
        DataType::U8,
        DataType::U16,
        DataType::U24,
        DataType::U32,
        DataType::U64,
        DataType::U128,
        DataType::String,
        DataType::Ip,
        DataType::Endpoint,
        DataType::Bool,
        DataType::Time,
        DataType::Bytes,
        DataType::DnsName,
        DataType::Suboptions,
        DataType::Vendor,
        DataType::ProvServer,
        DataType::DnsNameList,
        DataType::ClasslessRoutes,
        DataType::SipServers,
        DataType::ClientFqdn,
        DataType::DssId,
        DataType::Ip6,
    ];

    /// The name used in `[[option_type]]` declarations.
    pub fn name(self) -> &'static str {
        match self {
            DataType::U8 => "u8",
            DataType::U16 => "u16",
            DataType::U24 => "u24",
            DataType::U32 => "u32",
            DataType::U64 => "u64",
            DataType::U128 => "u128",
            DataType::String => "string",
            DataType::Ip => "ip",
            DataType::Endpoint => "endpoint",
            DataType::Bool => "bool",
            DataType::Time => "time",
            DataType::Bytes => "bytes",
            DataType::DnsName => "dns_name",
            DataType::Suboptions => "suboptions",
            DataType::Vendor => "vendor",
            DataType::ProvServer => "prov_server",
            DataType::DnsNameList => "dns_name_list",
            DataType::ClasslessRoutes => "classless_routes",
            DataType::SipServers => "sip_servers",
            DataType::ClientFqdn => "client_fqdn",
            DataType::DssId => "dss_id",
            DataType::Ip6 => "ipv6",
        }
    }

    /// Width in octets of the integer types and of `time`.
    pub fn int_width(self) -> Option<usize> {
        match self {
            DataType::U8 => Some(1),
            DataType::U16 => Some(2),
            DataType::U24 => Some(3),
            DataType::U32 | DataType::Time => Some(4),
            DataType::U64 => Some(8),
            DataType::U128 => Some(16),
            _ => None,
        }
    }

    /// Whether values of this type hold child options.
    pub fn is_container(self) -> bool {
        matches!(self, DataType::Suboptions | DataType::Vendor)
    }

    /// Whether `min`, `max`, `signed` and enumerated values apply.
    pub fn is_numeric(self) -> bool {
        self.int_width().is_some()
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown data type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown option type {name:?}; valid types: {}", valid_type_names())]
pub struct UnknownDataType {
    /// The name that was given.
    pub name: String,
}

fn valid_type_names() -> String {
    DataType::ALL
        .iter()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for DataType {
    type Err = UnknownDataType;

    fn from_str(s: &str) -> Result<DataType, UnknownDataType> {
        DataType::ALL
            .iter()
            .copied()
            .find(|t| t.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownDataType {
                name: s.to_string(),
            })
    }
}

impl TryFrom<String> for DataType {
    type Error = UnknownDataType;

    fn try_from(s: String) -> Result<DataType, UnknownDataType> {
        s.parse()
    }
}

/// Whether an operator may set a value for an option (seed 5.9 "user").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Settable {
    /// Policies and pools may set it.
    #[default]
    Allowed,
    /// The server owns it (message type, server identifier, lease time …);
    /// policies may not set it.
    Disallowed,
    /// Policies may set it and a value must exist for the option to make
    /// sense (a user type declared for a mandatory vendor sub-option).
    Required,
}

/// Widths of the tag and length fields of the sub-options of a container
/// (seed 5.9 "tag width" and "len width"; DHCPv4 uses 1 and 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Framing {
    /// Octets of each sub-option code.
    pub tag_width: u8,
    /// Octets of each sub-option length.
    pub len_width: u8,
}

impl Framing {
    /// DHCPv4 framing: one-octet codes and lengths.
    pub const DHCP4: Framing = Framing {
        tag_width: 1,
        len_width: 1,
    };

    /// DHCPv6 framing (RFC 8415 section 21.1; vendor sub-options of option
    /// 17, section 21.17): two-octet codes and lengths.
    pub const DHCP6: Framing = Framing {
        tag_width: 2,
        len_width: 2,
    };

    /// Largest sub-option code that fits the tag field.
    pub fn max_tag(&self) -> u64 {
        width_max(self.tag_width)
    }

    /// Largest sub-option payload that fits the length field.
    pub fn max_len(&self) -> usize {
        usize::try_from(width_max(self.len_width)).unwrap_or(usize::MAX)
    }
}

impl Default for Framing {
    fn default() -> Framing {
        Framing::DHCP4
    }
}

fn width_max(w: u8) -> u64 {
    match w {
        0 => 0,
        1..=7 => (1u64 << (8 * u32::from(w))) - 1,
        _ => u64::MAX,
    }
}

/// Inclusive bounds on a count (of elements, or of octets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bounds {
    /// Smallest accepted count.
    pub min: usize,
    /// Largest accepted count.
    pub max: usize,
    /// The count must be a multiple of this (1: any), e.g. address pairs in option 21.
    pub step: usize,
}

impl Bounds {
    /// No limit at all.
    pub const ANY: Bounds = Bounds {
        min: 0,
        max: usize::MAX,
        step: 1,
    };

    /// Whether `n` is inside the bounds.
    pub fn contains(&self, n: usize) -> bool {
        n >= self.min && n <= self.max && (self.step <= 1 || n % self.step == 0)
    }
}

impl fmt::Display for Bounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "exactly {}", self.min)?;
        } else if self.max == usize::MAX {
            write!(f, "at least {}", self.min)?;
        } else {
            write!(f, "{} to {}", self.min, self.max)?;
        }
        if self.step > 1 {
            write!(f, " (a multiple of {})", self.step)?;
        }
        Ok(())
    }
}

/// One option type: where the option lives, what its value looks like and
/// how it is written on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionDef {
    /// Where the option lives, e.g. `122/6`.
    pub path: TagPath,
    /// Unique name, e.g. `cablelabs-realm`.
    pub name: String,
    /// The data type of each element.
    pub data_type: DataType,
    /// Whether the option holds a list of elements.
    pub multiple: bool,
    /// Integers are two's complement.
    pub signed: bool,
    /// Smallest accepted integer value.
    pub min: Option<i128>,
    /// Largest accepted integer value.
    pub max: Option<i128>,
    /// When not empty, the only accepted integer values.
    pub values: Vec<i128>,
    /// How many elements a list must hold (when `multiple`).
    pub count: Bounds,
    /// How many octets each element of a `string`, `bytes` or `dss_id` option may hold.
    pub octets: Bounds,
    /// Octets of the length field before each element (0: none).
    pub length_prefix: u8,
    /// Strings are written with a terminating NUL.
    pub null_terminated: bool,
    /// This sub-option is the vendor's option request list (RFC 3925 style ORO).
    pub vendor_oro: bool,
    /// Sub-option framing of a container.
    pub framing: Framing,
    /// Human-readable description with the defining document.
    pub description: String,
    /// Whether operators may set it.
    pub user: Settable,
}

impl OptionDef {
    /// A definition with every optional field at its default.
    pub fn new(path: TagPath, name: &str, data_type: DataType, description: &str) -> OptionDef {
        OptionDef {
            path,
            name: name.to_string(),
            data_type,
            multiple: false,
            signed: false,
            min: None,
            max: None,
            values: Vec::new(),
            count: Bounds {
                min: 1,
                ..Bounds::ANY
            },
            octets: Bounds::ANY,
            length_prefix: 0,
            null_terminated: false,
            vendor_oro: false,
            framing: Framing::DHCP4,
            description: description.to_string(),
            user: Settable::Allowed,
        }
    }

    /// Whether this option is a server control option (never transmitted).
    pub fn is_control(&self) -> bool {
        self.path.space() == Space::Server
    }

    /// The natural range of an integer type, `(lowest, highest)`, before
    /// `min`/`max` narrow it; `highest` is unsigned so `u128` fits.
    pub fn natural_range(&self) -> Option<(i128, u128)> {
        let bits = 8 * u32::try_from(self.data_type.int_width()?).ok()?;
        Some(match (self.signed, bits >= 128) {
            (true, true) => (i128::MIN, i128::MAX as u128),
            (true, false) => (-(1i128 << (bits - 1)), (1u128 << (bits - 1)) - 1),
            (false, true) => (0, u128::MAX),
            (false, false) => (0, (1u128 << bits) - 1),
        })
    }
}
