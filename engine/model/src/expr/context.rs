//! The per-packet context that expressions read (seed 004 §3.7: values
//! "calculated at runtime using many different criteria"): plain data filled
//! by the DHCP pipeline, exposed to Rhai as read-only custom types whose
//! properties are getters, so a session costs a few reference-count bumps
//! instead of building maps for every packet.
//!
//! The Rhai-side contract (names, types, what is `()` when absent) is
//! policies/README.md.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use headend_store::{Account, ClientKey, Lease4, UnixTime};
use ipnet::IpNet;
use rhai::{Array, Blob, Dynamic, Engine, EvalAltResult, ImmutableString, Map, Scope, INT};

use super::ip::Ip;

/// Everything an expression can read while one packet is answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvalContext {
    /// The request itself (Rhai `packet`).
    pub packet: PacketInfo,
    /// What the relay agent said about the client (Rhai `relay`).
    pub relay: RelayInfo,
    /// The classified device (Rhai `device`).
    pub device: DeviceInfo,
    /// The device's own account, if it has one (Rhai `account`, `()` otherwise).
    pub account: Option<AccountInfo>,
    /// The account of the cable modem whose MAC the CMTS put in option 82.2 (Rhai `modem`).
    pub modem: Option<AccountInfo>,
    /// The device's effective domains for this packet (Rhai `domains`).
    pub domains: Vec<String>,
    /// The pool chosen for this packet, once there is one (Rhai `pool`).
    pub pool: Option<PoolInfo>,
    /// The lease being offered or renewed, once there is one (Rhai `lease`).
    pub lease: Option<LeaseInfo>,
}

/// The options of a request by code, in one buffer: a packet's dozen
/// options cost two allocations instead of one each plus a tree (they are
/// copied for every packet and read only by `packet.option(n)`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawOptions {
    data: Vec<u8>,
    /// `(code, start, end)` into `data`, sorted by code.
    index: Vec<(u16, u32, u32)>,
}

impl RawOptions {
    /// An empty set with room for `options` options of `bytes` bytes in all.
    pub fn with_capacity(options: usize, bytes: usize) -> RawOptions {
        RawOptions {
            data: Vec::with_capacity(bytes),
            index: Vec::with_capacity(options),
        }
    }

    /// Adds option `code`, unless it is already there (the first occurrence
    /// is the one kept, as RFC 8415 §21 readers do); `false` when it was.
    pub fn insert(&mut self, code: u16, value: &[u8]) -> bool {
        let Err(at) = self.index.binary_search_by_key(&code, |e| e.0) else {
            return false;
        };
        let (Ok(start), Ok(end)) = (
            u32::try_from(self.data.len()),
            u32::try_from(self.data.len() + value.len()),
        ) else {
            return false;
        };
        self.data.extend_from_slice(value);
        self.index.insert(at, (code, start, end));
        true
    }

    /// The payload of option `code`.
    pub fn get(&self, code: u16) -> Option<&[u8]> {
        let i = self.index.binary_search_by_key(&code, |e| e.0).ok()?;
        let (_, s, e) = self.index.get(i)?;
        self.data.get(*s as usize..*e as usize)
    }

    /// Whether option `code` is present.
    pub fn contains(&self, code: u16) -> bool {
        self.index.binary_search_by_key(&code, |e| e.0).is_ok()
    }

    /// Every option, by ascending code.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &[u8])> {
        self.index
            .iter()
            .map(|(c, s, e)| (*c, self.data.get(*s as usize..*e as usize).unwrap_or(&[])))
    }

    /// How many options there are.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

impl<V: AsRef<[u8]>> FromIterator<(u16, V)> for RawOptions {
    fn from_iter<I: IntoIterator<Item = (u16, V)>>(iter: I) -> RawOptions {
        let mut o = RawOptions::default();
        for (c, v) in iter {
            o.insert(c, v.as_ref());
        }
        o
    }
}

/// The DHCP request (RFC 2131 §2 fields and its options).
#[derive(Debug, Clone, PartialEq)]
pub struct PacketInfo {
    /// Protocol of the request: `"dhcpv4"`.
    pub protocol: Cow<'static, str>,
    /// Option 53 name from RFC 2132 §9.6 (`"DHCPDISCOVER"` …), `"BOOTREQUEST"` for BOOTP.
    pub message_type: Cow<'static, str>,
    /// Transaction id.
    pub xid: u32,
    /// Relay hop count.
    pub hops: u8,
    /// Client address field.
    pub ciaddr: Ipv4Addr,
    /// Relay agent address field.
    pub giaddr: Ipv4Addr,
    /// Hardware type (1 = Ethernet).
    pub htype: u8,
    /// Client hardware address, `hlen` bytes.
    pub chaddr: Vec<u8>,
    /// Option 61 payload; empty when the client sent none.
    pub client_id: Vec<u8>,
    /// Every option by code, long options already concatenated (RFC 3396).
    pub options: RawOptions,
    /// Option 55 (parameter request list), in the client's order.
    pub requested: Vec<u16>,
}

impl Default for PacketInfo {
    fn default() -> Self {
        PacketInfo {
            protocol: "dhcpv4".into(),
            message_type: "".into(),
            xid: 0,
            hops: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            htype: 1,
            chaddr: Vec::new(),
            client_id: Vec::new(),
            options: RawOptions::default(),
            requested: Vec::new(),
        }
    }
}

/// Relay agent information (option 82, RFC 3046, and option 118, RFC 3011).
#[derive(Debug, Clone, PartialEq)]
pub struct RelayInfo {
    /// The relay agent address (`giaddr`); 0.0.0.0 for a client on a local segment.
    pub address: IpAddr,
    /// Option 82.5 link selection (RFC 3527).
    pub link_selection: Option<Ipv4Addr>,
    /// Option 118 subnet selection (RFC 3011).
    pub subnet_selection: Option<Ipv4Addr>,
    /// Option 82.1 agent circuit id; empty when absent.
    pub circuit_id: Vec<u8>,
    /// Option 82.2 agent remote id (the CM MAC for a device behind a cable modem); empty when absent.
    pub remote_id: Vec<u8>,
    /// Option 82.6 subscriber id (RFC 3993); empty when absent.
    pub subscriber_id: String,
    /// Option 82.4 DOCSIS device class bit field (RFC 3256).
    pub docsis_device_class: Option<u32>,
}

impl Default for RelayInfo {
    fn default() -> Self {
        RelayInfo {
            address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            link_selection: None,
            subnet_selection: None,
            circuit_id: Vec::new(),
            remote_id: Vec::new(),
            subscriber_id: String::new(),
            docsis_device_class: None,
        }
    }
}

/// The device as classified from options 43, 60 and 125 (seed 004 §5.10).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceInfo {
    /// Option 60 as sent (lossy UTF-8); empty when absent.
    pub vendor_class: String,
    /// `"docsis"`, `"pktc"`, `"erouter"` or `"other"`.
    pub family: String,
    /// Version from option 60, e.g. `"3.0"`; empty when unknown.
    pub version: String,
    /// The vendor class name: `"docsis3.0"`, `"pktc2.0"` or a configured `[[vendor_class]]` name.
    pub type_name: String,
    /// The vendor class number (the seed's `$DEVICE.TYPEID()`).
    pub typeid: i64,
    /// Capability TLVs (option 60 hex tail or option 125/4491/5), by type.
    pub capabilities: BTreeMap<u8, Vec<u8>>,
    /// Provisioning flows the device supports: `"secure"`, `"hybrid"`, `"basic"`.
    pub supported_flows: Vec<String>,
    /// Whether the device announced dual-stack operation.
    pub dual_stack: bool,
    /// The octet of option 125/4491 sub-option 124 (CL_V4OPTION_IP_PREF), if sent.
    pub ip_pref: Option<u8>,
    /// Option 43.2 device type: `"ECM"`, `"EMTA"`, `"EDVA"`; empty when absent.
    pub device_type: String,
    /// Option 43.4 serial number.
    pub serial: String,
    /// Option 43.9 model number.
    pub model: String,
    /// Option 43.10 vendor name.
    pub vendor_name: String,
    /// Option 43.8 vendor OUI as 6 hex digits.
    pub oui: String,
    /// The correlation id the device sent (option 43.32 over DHCPv4,
    /// CL_OPTION_CORRELATION_ID 17.2172 over DHCPv6): the provisioning
    /// server checks the enrollment INFORM's pktcMtaDevCorrelationId against it.
    pub correlation_id: Option<u32>,
}

/// An account as expressions see it (seed 004 §2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountInfo {
    /// The account key (normally the MAC as `aa:bb:cc:dd:ee:ff`).
    pub id: String,
    /// Domain memberships, in priority order.
    pub domains: Vec<String>,
    /// Free-form attributes.
    pub attributes: BTreeMap<String, String>,
}

impl From<&Account> for AccountInfo {
    fn from(a: &Account) -> Self {
        AccountInfo {
            id: a.id.clone(),
            domains: a.domains.clone(),
            attributes: a.attributes.clone(),
        }
    }
}

/// The address pool chosen for the packet (seed 004 §5.1).
#[derive(Debug, Clone, PartialEq)]
pub struct PoolInfo {
    /// Pool name.
    pub name: String,
    /// The network the pool lives on.
    pub network: IpNet,
    /// Relay agent addresses the pool serves.
    pub relays: Vec<IpAddr>,
    /// First address of the pool.
    pub first: IpAddr,
    /// Last address of the pool.
    pub last: IpAddr,
}

impl Default for PoolInfo {
    fn default() -> Self {
        PoolInfo {
            name: String::new(),
            network: IpNet::default(),
            relays: Vec::new(),
            first: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            last: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }
}

/// The lease being offered or extended (seed 004 §5.2).
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseInfo {
    /// The leased address.
    pub ip: IpAddr,
    /// The client the lease is bound to.
    pub client: ClientKey,
    /// Lease length in seconds (`u32::MAX` = infinite).
    pub lifetime: u32,
    /// When the lease was last obtained or extended (Unix seconds).
    pub commit_time: UnixTime,
    /// The pool the address came from.
    pub pool: String,
}

impl Default for LeaseInfo {
    fn default() -> Self {
        LeaseInfo {
            ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            client: ClientKey(Vec::new()),
            lifetime: 0,
            commit_time: 0,
            pool: String::new(),
        }
    }
}

impl From<&Lease4> for LeaseInfo {
    fn from(l: &Lease4) -> Self {
        LeaseInfo {
            ip: IpAddr::V4(l.ip),
            client: l.client.clone(),
            lifetime: l.lifetime,
            commit_time: l.commit_time,
            pool: l.pool.clone(),
        }
    }
}

/// Names of the context constants, in the order a session pushes them.
pub(super) const CONTEXT_NAMES: [&str; 8] = [
    "packet", "relay", "device", "account", "modem", "domains", "pool", "lease",
];

// Handles: each context constant is one of these, sharing the session's
// `Arc<EvalContext>`, so building a scope copies no packet data.

#[derive(Clone)]
struct Packet(Arc<EvalContext>);
#[derive(Clone)]
struct Relay(Arc<EvalContext>);
#[derive(Clone)]
struct Device(Arc<EvalContext>);
#[derive(Clone)]
struct AccountRef(Arc<EvalContext>, bool);
#[derive(Clone)]
struct Pool(Arc<EvalContext>);
#[derive(Clone)]
struct Lease(Arc<EvalContext>);

static NO_ACCOUNT: AccountInfo = AccountInfo {
    id: String::new(),
    domains: Vec::new(),
    attributes: BTreeMap::new(),
};

impl AccountRef {
    fn info(&self) -> &AccountInfo {
        let slot = if self.1 {
            &self.0.modem
        } else {
            &self.0.account
        };
        // A handle is only pushed for a present slot; the fallback keeps getters total.
        slot.as_ref().unwrap_or(&NO_ACCOUNT)
    }
}

impl Pool {
    fn info(&self) -> Option<&PoolInfo> {
        self.0.pool.as_ref()
    }
}

impl Lease {
    fn info(&self) -> Option<&LeaseInfo> {
        self.0.lease.as_ref()
    }
}

/// Fills `scope` with the eight context constants for `ctx`.
pub(super) fn push_context(scope: &mut Scope<'static>, ctx: &Arc<EvalContext>) {
    let [packet, relay, device, account, modem, domains, pool, lease] = CONTEXT_NAMES;
    scope.push_constant(packet, Packet(ctx.clone()));
    scope.push_constant(relay, Relay(ctx.clone()));
    scope.push_constant(device, Device(ctx.clone()));
    scope.push_constant_dynamic(
        account,
        if ctx.account.is_some() {
            Dynamic::from(AccountRef(ctx.clone(), false))
        } else {
            Dynamic::UNIT
        },
    );
    scope.push_constant_dynamic(
        modem,
        if ctx.modem.is_some() {
            Dynamic::from(AccountRef(ctx.clone(), true))
        } else {
            Dynamic::UNIT
        },
    );
    scope.push_constant_dynamic(domains, strings(&ctx.domains).into());
    scope.push_constant_dynamic(
        pool,
        if ctx.pool.is_some() {
            Dynamic::from(Pool(ctx.clone()))
        } else {
            Dynamic::UNIT
        },
    );
    scope.push_constant_dynamic(
        lease,
        if ctx.lease.is_some() {
            Dynamic::from(Lease(ctx.clone()))
        } else {
            Dynamic::UNIT
        },
    );
}

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn s(v: &str) -> ImmutableString {
    v.into()
}

fn strings(v: &[String]) -> Array {
    v.iter().map(|x| Dynamic::from(s(x))).collect()
}

fn ip(a: impl Into<Ip>) -> Ip {
    a.into()
}

fn opt_ip(a: Option<impl Into<Ip>>) -> Dynamic {
    a.map_or(Dynamic::UNIT, |a| Dynamic::from(a.into()))
}

fn opt_blob(b: Option<&[u8]>) -> Dynamic {
    b.map_or(Dynamic::UNIT, |b| Dynamic::from_blob(b.to_vec()))
}

fn int(v: impl Into<INT>) -> INT {
    v.into()
}

/// Formats bytes as lowercase hex without separators.
pub(super) fn hex(bytes: &[u8]) -> String {
    headend_store::hex(bytes)
}

/// Formats bytes as a colon-separated MAC address (`aa:bb:cc:dd:ee:ff`).
pub(super) fn mac(bytes: &[u8]) -> String {
    headend_store::hex_colon(bytes)
}

fn code16(what: &str, code: INT) -> Fallible<u16> {
    u16::try_from(code).map_err(|_| format!("{what}({code}): an option code is 0 to 65535").into())
}

fn code8(what: &str, code: INT) -> Fallible<u8> {
    u8::try_from(code).map_err(|_| format!("{what}({code}): a capability type is 0 to 255").into())
}

/// Registers the context types, their getters and methods.
pub(super) fn register(engine: &mut Engine) {
    register_packet(engine);
    register_relay(engine);
    register_device(engine);
    register_account(engine);
    register_pool_and_lease(engine);

    // `print(relay)` and string interpolation should say what the value is, not fail.
    engine.register_fn("to_string", |_: &mut Packet| s("packet"));
    engine.register_fn("to_string", |_: &mut Relay| s("relay"));
    engine.register_fn("to_string", |_: &mut Device| s("device"));
    engine.register_fn("to_string", |a: &mut AccountRef| -> ImmutableString {
        format!("account {}", a.info().id).into()
    });
    engine.register_fn("to_string", |p: &mut Pool| -> ImmutableString {
        format!("pool {}", p.info().map_or("", |p| p.name.as_str())).into()
    });
    engine.register_fn("to_string", |l: &mut Lease| -> ImmutableString {
        l.info()
            .map_or_else(|| s("lease"), |l| format!("lease {}", l.ip).into())
    });
}

fn register_packet(engine: &mut Engine) {
    engine.register_type_with_name::<Packet>("Packet");
    engine.register_get("protocol", |p: &mut Packet| s(&p.0.packet.protocol));
    engine.register_get("message_type", |p: &mut Packet| s(&p.0.packet.message_type));
    engine.register_get("xid", |p: &mut Packet| int(p.0.packet.xid));
    engine.register_get("hops", |p: &mut Packet| int(p.0.packet.hops));
    engine.register_get("ciaddr", |p: &mut Packet| ip(p.0.packet.ciaddr));
    engine.register_get("giaddr", |p: &mut Packet| ip(p.0.packet.giaddr));
    engine.register_get("htype", |p: &mut Packet| int(p.0.packet.htype));
    engine.register_get("chaddr", |p: &mut Packet| -> Blob {
        p.0.packet.chaddr.clone()
    });
    engine.register_get("mac", |p: &mut Packet| -> ImmutableString {
        mac(&p.0.packet.chaddr).into()
    });
    engine.register_get("client_id", |p: &mut Packet| -> Blob {
        p.0.packet.client_id.clone()
    });
    engine.register_get("requested", |p: &mut Packet| -> Array {
        p.0.packet
            .requested
            .iter()
            .map(|&c| Dynamic::from(int(c)))
            .collect()
    });
    engine.register_fn("option", |p: &mut Packet, code: INT| -> Fallible<Dynamic> {
        Ok(opt_blob(p.0.packet.options.get(code16("option", code)?)))
    });
    engine.register_fn(
        "option_str",
        |p: &mut Packet, code: INT| -> Fallible<Dynamic> {
            Ok(p.0
                .packet
                .options
                .get(code16("option_str", code)?)
                .map_or(Dynamic::UNIT, |v| {
                    Dynamic::from(ImmutableString::from(String::from_utf8_lossy(v).as_ref()))
                }))
        },
    );
    engine.register_fn(
        "has_option",
        |p: &mut Packet, code: INT| -> Fallible<bool> {
            Ok(p.0.packet.options.contains(code16("has_option", code)?))
        },
    );
    engine.register_fn("requested", |p: &mut Packet, code: INT| -> Fallible<bool> {
        Ok(p.0.packet.requested.contains(&code16("requested", code)?))
    });
}

fn register_relay(engine: &mut Engine) {
    engine.register_type_with_name::<Relay>("Relay");
    engine.register_get("address", |r: &mut Relay| ip(r.0.relay.address));
    engine.register_get("link_selection", |r: &mut Relay| {
        opt_ip(r.0.relay.link_selection)
    });
    engine.register_get("subnet_selection", |r: &mut Relay| {
        opt_ip(r.0.relay.subnet_selection)
    });
    engine.register_get("circuit_id", |r: &mut Relay| -> Blob {
        r.0.relay.circuit_id.clone()
    });
    engine.register_get("remote_id", |r: &mut Relay| -> Blob {
        r.0.relay.remote_id.clone()
    });
    // "" rather than () when absent, so `relay.remote_id_mac != ""` reads naturally.
    engine.register_get("remote_id_mac", |r: &mut Relay| -> ImmutableString {
        let id = &r.0.relay.remote_id;
        if id.len() == 6 {
            mac(id).into()
        } else {
            ImmutableString::new()
        }
    });
    engine.register_get("subscriber_id", |r: &mut Relay| s(&r.0.relay.subscriber_id));
    engine.register_get("docsis_device_class", |r: &mut Relay| {
        r.0.relay
            .docsis_device_class
            .map_or(Dynamic::UNIT, |c| Dynamic::from(int(c)))
    });
}

fn register_device(engine: &mut Engine) {
    engine.register_type_with_name::<Device>("Device");
    engine.register_get("vendor_class", |d: &mut Device| s(&d.0.device.vendor_class));
    engine.register_get("family", |d: &mut Device| s(&d.0.device.family));
    engine.register_get("version", |d: &mut Device| s(&d.0.device.version));
    engine.register_get("type_name", |d: &mut Device| s(&d.0.device.type_name));
    engine.register_get("typeid", |d: &mut Device| d.0.device.typeid);
    engine.register_get("supported_flows", |d: &mut Device| {
        strings(&d.0.device.supported_flows)
    });
    engine.register_get("dual_stack", |d: &mut Device| d.0.device.dual_stack);
    engine.register_get("ip_pref", |d: &mut Device| {
        d.0.device
            .ip_pref
            .map_or(Dynamic::UNIT, |v| Dynamic::from(int(v)))
    });
    engine.register_get("device_type", |d: &mut Device| s(&d.0.device.device_type));
    engine.register_get("serial", |d: &mut Device| s(&d.0.device.serial));
    engine.register_get("model", |d: &mut Device| s(&d.0.device.model));
    engine.register_get("vendor_name", |d: &mut Device| s(&d.0.device.vendor_name));
    engine.register_get("oui", |d: &mut Device| s(&d.0.device.oui));
    // The device's identity is its hardware address; policies name it `device.mac`.
    engine.register_get("mac", |d: &mut Device| -> ImmutableString {
        mac(&d.0.packet.chaddr).into()
    });
    engine.register_fn(
        "capability",
        |d: &mut Device, t: INT| -> Fallible<Dynamic> {
            Ok(opt_blob(
                d.0.device
                    .capabilities
                    .get(&code8("capability", t)?)
                    .map(Vec::as_slice),
            ))
        },
    );
    engine.register_fn(
        "has_capability",
        |d: &mut Device, t: INT| -> Fallible<bool> {
            Ok(d.0
                .device
                .capabilities
                .contains_key(&code8("has_capability", t)?))
        },
    );
    engine.register_fn("capability_int", |d: &mut Device, t: INT| -> Fallible<Dynamic> {
        let Some(v) = d.0.device.capabilities.get(&code8("capability_int", t)?) else {
            return Ok(Dynamic::UNIT);
        };
        if v.is_empty() || v.len() > 7 {
            return Err(format!(
                "capability_int({t}): the value has {} bytes, only 1 to 7 read as a number; use capability({t})",
                v.len()
            )
            .into());
        }
        Ok(Dynamic::from(v.iter().fold(0, |n: INT, &b| (n << 8) | INT::from(b))))
    });
}

fn register_account(engine: &mut Engine) {
    engine.register_type_with_name::<AccountRef>("Account");
    engine.register_get("id", |a: &mut AccountRef| s(&a.info().id));
    engine.register_get("domains", |a: &mut AccountRef| strings(&a.info().domains));
    engine.register_get("attributes", |a: &mut AccountRef| -> Map {
        a.info()
            .attributes
            .iter()
            .map(|(k, v)| (k.as_str().into(), Dynamic::from(s(v))))
            .collect()
    });
    engine.register_fn("attr", |a: &mut AccountRef, key: &str| {
        a.info()
            .attributes
            .get(key)
            .map_or(Dynamic::UNIT, |v| Dynamic::from(s(v)))
    });
}

fn register_pool_and_lease(engine: &mut Engine) {
    engine.register_type_with_name::<Pool>("Pool");
    engine.register_get("name", |p: &mut Pool| {
        p.info().map_or_else(ImmutableString::new, |p| s(&p.name))
    });
    engine.register_get("network", |p: &mut Pool| -> ImmutableString {
        p.info()
            .map_or_else(ImmutableString::new, |p| p.network.to_string().into())
    });
    engine.register_get("relays", |p: &mut Pool| -> Array {
        p.info()
            .map(|p| p.relays.iter().map(|&a| Dynamic::from(ip(a))).collect())
            .unwrap_or_default()
    });
    engine.register_get("first", |p: &mut Pool| opt_ip(p.info().map(|p| p.first)));
    engine.register_get("last", |p: &mut Pool| opt_ip(p.info().map(|p| p.last)));

    engine.register_type_with_name::<Lease>("Lease");
    engine.register_get("ip", |l: &mut Lease| opt_ip(l.info().map(|l| l.ip)));
    engine.register_get("client", |l: &mut Lease| -> ImmutableString {
        l.info()
            .map_or_else(ImmutableString::new, |l| l.client.to_hex().into())
    });
    engine.register_get("lifetime", |l: &mut Lease| {
        l.info().map_or(0, |l| int(l.lifetime))
    });
    engine.register_get("commit_time", |l: &mut Lease| -> INT {
        l.info()
            .map_or(0, |l| INT::try_from(l.commit_time).unwrap_or(INT::MAX))
    });
    engine.register_get("pool", |l: &mut Lease| {
        l.info().map_or_else(ImmutableString::new, |l| s(&l.pool))
    });
}

/// Each context name whose value is a typed handle: the handle's type (to
/// find its getters and methods among the engine's registrations) and the
/// name scripts and error messages know it by. `domains` is a plain array.
pub(super) fn typed_names() -> [(&'static str, std::any::TypeId, &'static str); 7] {
    use std::any::TypeId;
    [
        ("packet", TypeId::of::<Packet>(), "Packet"),
        ("relay", TypeId::of::<Relay>(), "Relay"),
        ("device", TypeId::of::<Device>(), "Device"),
        ("account", TypeId::of::<AccountRef>(), "Account"),
        ("modem", TypeId::of::<AccountRef>(), "Account"),
        ("pool", TypeId::of::<Pool>(), "Pool"),
        ("lease", TypeId::of::<Lease>(), "Lease"),
    ]
}
