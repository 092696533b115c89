//! The headend plugin ABI, version 1: the types a WASM plugin and the engine
//! exchange, and how they travel. One crate shared by the host (the engine)
//! and the guest (the SDK) so the two cannot drift.
//!
//! This crate must build with Rust 1.63 for `wasm32-unknown-unknown` (Debian's
//! toolchain) as well as with a current toolchain: no newer language
//! features, no dependencies beyond `serde` and `postcard`.
//!
//! # Wire contract (see `sdk/ABI.md` for the full text)
//! * The guest exports `memory`, `headend_abi_version() -> i32` (returns
//!   [`ABI_VERSION`]), `headend_alloc(len: i32) -> i32` and
//!   `headend_free(ptr: i32, len: i32)`.
//! * Each hook is an export `fn(ptr: i32, len: i32) -> i64` taking a
//!   postcard-encoded [`Request`] of the hook's input in guest memory (written
//!   by the host into a buffer from `headend_alloc`) and returning
//!   `(ptr << 32) | len` of a postcard-encoded [`Response`] of the hook's
//!   output. Hook export names: [`EXPORT_FLOW_SELECT`],
//!   [`EXPORT_CONFIG_FILE`], [`EXPORT_MEM_EVENT`].
//! * Host imports live in module [`IMPORT_MODULE`]: `log`, `now_unix_ms`,
//!   `kv_get`, `kv_put`, `kv_delete` (signatures in `sdk/ABI.md`).
//!
//! Provisioning terms follow PKT-SP-EUE-PROV-I07 (seed 000): section 6.4.1
//! (option 122 / CL_OPTION_CCCV6 sub-options 3 and 6 carry the flow) and
//! section 6.5 (management events).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// The ABI version this crate describes; the host refuses a module whose
/// `headend_abi_version` export returns anything else.
pub const ABI_VERSION: i32 = 1;

/// Module name of the host functions a plugin may import.
pub const IMPORT_MODULE: &str = "headend";
/// Export: the ABI version.
pub const EXPORT_ABI_VERSION: &str = "headend_abi_version";
/// Export: the guest allocator.
pub const EXPORT_ALLOC: &str = "headend_alloc";
/// Export: the guest deallocator.
pub const EXPORT_FREE: &str = "headend_free";
/// Export: the flow-selection hook ([`Device`] → [`FlowDecision`]).
pub const EXPORT_FLOW_SELECT: &str = "headend_flow_select";
/// Export: the config-file hook ([`ConfigRequest`] → `Option<`[`ConfigFile`]`>`).
pub const EXPORT_CONFIG_FILE: &str = "headend_config_file";
/// Export: the management-event hook ([`MemEvent`] → [`EventActions`]).
pub const EXPORT_MEM_EVENT: &str = "headend_mem_event";

/// How a decline caused by the plugin's own `config` table begins (the SDK's
/// `ConfigError` text, `config key \`name\`: …`). The host refuses a plugin
/// whose load-time self-test is declined this way: every call would decline.
pub const CONFIG_ERROR_PREFIX: &str = "config key `";

/// Whether a decline reason says the plugin's configuration is unusable.
pub fn is_config_error(reason: &str) -> bool {
    reason.starts_with(CONFIG_ERROR_PREFIX)
}

/// Log levels of the `log` host import (same order as `tracing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogLevel {
    /// Very verbose.
    Trace = 0,
    /// Debugging detail.
    Debug = 1,
    /// Normal operation.
    Info = 2,
    /// Something unusual.
    Warn = 3,
    /// Something failed.
    Error = 4,
}

impl LogLevel {
    /// The level for a `log` import argument; out-of-range values are `Info`.
    pub fn from_i32(v: i32) -> LogLevel {
        match v {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            _ => LogLevel::Info,
        }
    }
}

/// Errors of encoding and decoding ABI messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ABI message encoding: {}", self.0)
    }
}

impl std::error::Error for CodecError {}

/// Encodes an ABI message (postcard).
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    postcard::to_allocvec(value).map_err(|e| CodecError(e.to_string()))
}

/// Decodes an ABI message (postcard); trailing bytes are an error.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, CodecError> {
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(|e| CodecError(e.to_string()))?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(CodecError(format!("{} trailing bytes", rest.len())))
    }
}

/// Packs a guest (pointer, length) pair into a hook's `i64` result.
pub fn pack(ptr: u32, len: u32) -> i64 {
    ((u64::from(ptr) << 32) | u64::from(len)) as i64
}

/// Unpacks a hook's `i64` result into (pointer, length).
pub fn unpack(v: i64) -> (u32, u32) {
    let v = v as u64;
    ((v >> 32) as u32, (v & 0xffff_ffff) as u32)
}

/// What every hook receives: the plugin's configuration and the hook input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request<T> {
    /// The plugin's `config` table from the engine configuration.
    pub config: PluginConfig,
    /// The hook input.
    pub input: T,
}

/// What every hook returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response<T> {
    /// The hook's answer.
    Ok(T),
    /// The hook declined with a reason; the engine applies its fallback.
    Err(String),
}

/// A configuration value (the TOML subset a plugin's `config` table may use).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ConfigValue {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// An array.
    List(Vec<ConfigValue>),
    /// A table, keys in file order.
    Table(Vec<(String, ConfigValue)>),
}

/// A plugin's configuration: the `config` table of its `[[plugin]]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PluginConfig {
    /// Top-level keys in file order.
    pub entries: Vec<(String, ConfigValue)>,
}

impl PluginConfig {
    /// The value of a top-level key.
    pub fn get(&self, key: &str) -> Option<&ConfigValue> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A top-level string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(ConfigValue::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// A top-level integer.
    pub fn get_int(&self, key: &str) -> Option<i64> {
        match self.get(key) {
            Some(ConfigValue::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// A top-level boolean.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        match self.get(key) {
            Some(ConfigValue::Bool(b)) => Some(*b),
            _ => None,
        }
    }
}

impl ConfigValue {
    /// The value of a key, when this is a table.
    pub fn get(&self, key: &str) -> Option<&ConfigValue> {
        match self {
            ConfigValue::Table(t) => t.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, when this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ConfigValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, when this is an integer.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            ConfigValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The elements, when this is a list.
    pub fn as_list(&self) -> Option<&[ConfigValue]> {
        match self {
            ConfigValue::List(l) => Some(l),
            _ => None,
        }
    }
}

/// Which protocol the device context was built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    /// A DHCPv4 request.
    Dhcpv4,
    /// A DHCPv6 request.
    Dhcpv6,
    /// A config-file or event source resolved through its lease.
    Lease,
}

/// An account as the engine stores it (seed 004 section 2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The account key (normally the MAC, `aa:bb:cc:dd:ee:ff`).
    pub id: String,
    /// Domain memberships in priority order.
    pub domains: Vec<String>,
    /// Free-form attributes, sorted by key.
    pub attributes: Vec<(String, String)>,
}

impl Account {
    /// An attribute's value.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Everything the engine knows about a device when it calls a hook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// Where the context came from.
    pub protocol: Protocol,
    /// Hardware address as `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// Option 60 / 16 vendor class as sent (lossy UTF-8), e.g. `pktc2.0:051f…`.
    pub vendor_class: String,
    /// `"docsis"`, `"pktc"`, `"erouter"` or `"other"`.
    pub family: String,
    /// Version from the vendor class, e.g. `"2.0"`.
    pub version: String,
    /// The vendor class name the engine matched (`"pktc2.0"`, a `[[vendor_class]]` name …).
    pub type_name: String,
    /// Device type from 43.2 / 17.2: `"ECM"`, `"EMTA"`, `"EDVA"`; empty when absent.
    pub device_type: String,
    /// Capability TLVs (option 60 tail, 125.5 or 17.35) as (type, value), by type.
    pub capabilities: Vec<(u8, Vec<u8>)>,
    /// Provisioning flows the device announced in TLV 5.18: `"secure"`, `"hybrid"`, `"basic"`.
    pub supported_flows: Vec<String>,
    /// Serial number (43.4 / 17.4).
    pub serial: String,
    /// Model number (43.9 / 17.9).
    pub model: String,
    /// Vendor name (43.10 / 17.10).
    pub vendor_name: String,
    /// Vendor OUI as 6 hex digits (43.8 / 17.8).
    pub oui: String,
    /// The device's own account.
    pub account: Option<Account>,
    /// The account of the cable modem behind which the device sits (82.2 / 17.1026).
    pub modem: Option<Account>,
    /// Effective domains, in priority order (`"all"` last).
    pub domains: Vec<String>,
    /// Relay agent (giaddr / link-address), if relayed.
    pub relay: Option<IpAddr>,
    /// Relay remote id (82.2 / option 37), raw.
    pub remote_id: Vec<u8>,
    /// Options the device requested (55 / ORO), in its order.
    pub requested_options: Vec<u16>,
    /// CableLabs vendor ORO (125.4491.1 / 17.1), in its order.
    pub vendor_oro: Vec<u16>,
    /// CL_V4OPTION_IP_PREF / CL_OPTION_IP_PREF octet the device sent.
    pub ip_pref: Option<u8>,
    /// The address being offered / leased, when known.
    pub address: Option<IpAddr>,
}

impl Device {
    /// A device context with only the MAC set (tests, synthetic self-tests).
    pub fn with_mac(protocol: Protocol, mac: &str) -> Device {
        Device {
            protocol,
            mac: mac.to_string(),
            vendor_class: String::new(),
            family: String::new(),
            version: String::new(),
            type_name: String::new(),
            device_type: String::new(),
            capabilities: Vec::new(),
            supported_flows: Vec::new(),
            serial: String::new(),
            model: String::new(),
            vendor_name: String::new(),
            oui: String::new(),
            account: None,
            modem: None,
            domains: Vec::new(),
            relay: None,
            remote_id: Vec::new(),
            requested_options: Vec::new(),
            vendor_oro: Vec::new(),
            ip_pref: None,
            address: None,
        }
    }

    /// Whether the device is in the named domain.
    pub fn in_domain(&self, name: &str) -> bool {
        self.domains.iter().any(|d| d == name)
    }

    /// The value of a capability TLV.
    pub fn capability(&self, tlv: u8) -> Option<&[u8]> {
        self.capabilities
            .iter()
            .find(|(t, _)| *t == tlv)
            .map(|(_, v)| v.as_slice())
    }

    /// Whether TLV 5.18 announced the flow (`"secure"`, `"hybrid"`, `"basic"`).
    pub fn supports_flow(&self, flow: &str) -> bool {
        self.supported_flows.iter().any(|f| f == flow)
    }
}

/// Which of the two variants of the Basic or Hybrid flow (seed 000 section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FlowVariant {
    /// BASIC.1 / HYBRID.1.
    One,
    /// BASIC.2 / HYBRID.2.
    Two,
}

/// The provisioning flow of seed 000 (carried in option 122 / CCCv6 sub-option 6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProvisioningFlow {
    /// Basic flow: realm `BASIC.1` or `BASIC.2`.
    Basic(FlowVariant),
    /// Hybrid flow: realm `HYBRID.1` or `HYBRID.2`.
    Hybrid(FlowVariant),
    /// Secure flow in the given Kerberos realm.
    Secure {
        /// The Kerberos realm (upper case by convention, e.g. `VOICE.EXAMPLE.NET`).
        realm: String,
    },
    /// The device must not provision: provisioning server 0.0.0.0 (section 6.3.2.2).
    Disabled,
}

impl ProvisioningFlow {
    /// The realm string sub-option 6 carries for this flow (`None` when disabled).
    pub fn realm(&self) -> Option<String> {
        match self {
            ProvisioningFlow::Basic(FlowVariant::One) => Some("BASIC.1".to_string()),
            ProvisioningFlow::Basic(FlowVariant::Two) => Some("BASIC.2".to_string()),
            ProvisioningFlow::Hybrid(FlowVariant::One) => Some("HYBRID.1".to_string()),
            ProvisioningFlow::Hybrid(FlowVariant::Two) => Some("HYBRID.2".to_string()),
            ProvisioningFlow::Secure { realm } => Some(realm.clone()),
            ProvisioningFlow::Disabled => None,
        }
    }

    /// Parses a realm string of sub-option 6 back into a flow (`0.0.0.0` is disabled).
    pub fn from_realm(realm: &str) -> ProvisioningFlow {
        match realm {
            "BASIC.1" => ProvisioningFlow::Basic(FlowVariant::One),
            "BASIC.2" => ProvisioningFlow::Basic(FlowVariant::Two),
            "HYBRID.1" => ProvisioningFlow::Hybrid(FlowVariant::One),
            "HYBRID.2" => ProvisioningFlow::Hybrid(FlowVariant::Two),
            "0.0.0.0" | "" => ProvisioningFlow::Disabled,
            other => ProvisioningFlow::Secure {
                realm: other.to_string(),
            },
        }
    }
}

/// The provisioning server named in option 122 / CCCv6 sub-option 3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProvisioningServer {
    /// A fully qualified domain name.
    Fqdn(String),
    /// An IPv4 address (option 122.3 type 1).
    Ipv4(Ipv4Addr),
    /// IPv6 addresses (CCCv6 sub-option 3 type 1).
    Ipv6(Vec<Ipv6Addr>),
}

/// What the flow-selection hook decides for a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowDecision {
    /// The flow.
    pub flow: ProvisioningFlow,
    /// The provisioning server (sub-option 3); `None` = the engine's configured default.
    pub provisioning_server: Option<ProvisioningServer>,
    /// Config file name to hand out (option 67 / 17.33), if the plugin picks it.
    pub config_file: Option<String>,
    /// TFTP servers (125.4491.2/32 or 17.32), if the plugin picks them.
    pub tftp_servers: Vec<IpAddr>,
    /// Syslog server (option 7 / 17.34), if the plugin picks it.
    pub syslog_server: Option<IpAddr>,
    /// Primary DSS_ID (CCCv6 sub-option 1, at most 32 bytes), if the plugin picks it.
    pub dss_id: Option<Vec<u8>>,
}

impl FlowDecision {
    /// A decision with only the flow set.
    pub fn flow(flow: ProvisioningFlow) -> FlowDecision {
        FlowDecision {
            flow,
            provisioning_server: None,
            config_file: None,
            tftp_servers: Vec::new(),
            syslog_server: None,
            dss_id: None,
        }
    }
}

/// How the config file is being fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transfer {
    /// TFTP (RFC 1350).
    Tftp,
    /// HTTP.
    Http,
    /// No transfer: `headend config-file show` or a provisioning-server hash computation.
    Preview,
}

/// Input of the config-file hook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigRequest {
    /// The requesting device.
    pub device: Device,
    /// The requested file name, as sent (relative to the virtual root).
    pub file_name: String,
    /// How it is being fetched.
    pub transfer: Transfer,
}

/// Output of the config-file hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigFile {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// The hash the provisioning server SETs as `pktcMtaDevProvConfigHash` (SHA-1) for Hybrid/Secure, if any.
    pub config_hash: Option<Vec<u8>>,
}

/// Priority levels of PacketCable management events (PKTC-EVENT-MIB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventLevel {
    /// critical(1).
    Critical,
    /// major(2).
    Major,
    /// minor(3).
    Minor,
    /// warning(4).
    Warning,
    /// information(5).
    Information,
}

/// How the event reached the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventTransport {
    /// Syslog (pkt-eue-6).
    Syslog,
    /// SNMP notification (trap or inform).
    Snmp,
    /// Injected by an operator or a test.
    Local,
}

/// A PacketCable management event (seed 000 section 6.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemEvent {
    /// The device, when the source resolved to one.
    pub device: Option<Device>,
    /// The source address.
    pub source: Option<IpAddr>,
    /// Transport.
    pub transport: EventTransport,
    /// Priority level.
    pub level: EventLevel,
    /// Enterprise number (4491 for PacketCable-defined events).
    pub enterprise: u32,
    /// Event id.
    pub event_id: u32,
    /// Event text.
    pub text: String,
    /// Endpoint name, if the event is about one.
    pub endpoint: Option<String>,
    /// When the engine received it (Unix milliseconds).
    pub received_unix_ms: i64,
}

/// One thing the engine should do in response to an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventAction {
    /// Replace the device account's domains.
    SetDomains(Vec<String>),
    /// Add a domain to the device account (first position).
    AddDomain(String),
    /// Remove a domain from the device account.
    RemoveDomain(String),
    /// Set an account attribute.
    SetAttribute {
        /// Attribute key.
        key: String,
        /// Attribute value.
        value: String,
    },
    /// Remove an account attribute.
    RemoveAttribute(String),
    /// Publish an event on the engine's event stream.
    Publish {
        /// Topic.
        topic: String,
        /// Payload text.
        payload: String,
    },
    /// Write a log line (attributed to the plugin and device).
    Log {
        /// Level.
        level: LogLevel,
        /// Message.
        message: String,
    },
}

/// What the management-event hook returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventActions {
    /// Actions, applied in order.
    pub actions: Vec<EventAction>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips_full_range() {
        for (p, l) in [(0u32, 0u32), (1, 2), (u32::MAX, u32::MAX), (0x8000_0000, 7)] {
            assert_eq!(unpack(pack(p, l)), (p, l));
        }
    }

    #[test]
    fn request_round_trips_and_rejects_trailing_bytes() {
        let mut dev = Device::with_mac(Protocol::Dhcpv4, "00:10:18:aa:bb:cc");
        dev.domains = vec!["voice".into(), "all".into()];
        dev.capabilities = vec![(18, vec![7])];
        let req = Request {
            config: PluginConfig {
                entries: vec![("voice_domain".into(), ConfigValue::Str("voice".into()))],
            },
            input: dev,
        };
        let mut bytes = encode(&req).unwrap();
        let back: Request<Device> = decode(&bytes).unwrap();
        assert_eq!(back, req);
        bytes.push(0);
        assert!(decode::<Request<Device>>(&bytes).is_err());
    }

    #[test]
    fn truncated_message_is_an_error_not_a_panic() {
        let resp: Response<FlowDecision> = Response::Ok(FlowDecision::flow(
            ProvisioningFlow::Hybrid(FlowVariant::Two),
        ));
        let bytes = encode(&resp).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode::<Response<FlowDecision>>(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn realm_strings_follow_seed_000() {
        let flows = [
            ProvisioningFlow::Basic(FlowVariant::One),
            ProvisioningFlow::Basic(FlowVariant::Two),
            ProvisioningFlow::Hybrid(FlowVariant::One),
            ProvisioningFlow::Hybrid(FlowVariant::Two),
            ProvisioningFlow::Secure {
                realm: "VOICE.EXAMPLE.NET".into(),
            },
        ];
        for f in flows {
            let realm = f.realm().unwrap();
            assert_eq!(ProvisioningFlow::from_realm(&realm), f);
        }
        assert_eq!(
            ProvisioningFlow::Hybrid(FlowVariant::Two).realm().unwrap(),
            "HYBRID.2"
        );
        assert_eq!(ProvisioningFlow::Disabled.realm(), None);
        assert_eq!(
            ProvisioningFlow::from_realm("0.0.0.0"),
            ProvisioningFlow::Disabled
        );
    }
}
