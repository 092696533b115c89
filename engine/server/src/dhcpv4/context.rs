//! From a parsed DHCPv4 request to the device as the model sees it: client
//! key, account id, relay information (option 82, RFC 3046/3527/5107/8357),
//! the vendor class and CableLabs capabilities (options 43, 60, 125; seed 004
//! section 5.10, seed 000 section 6.4.1), what the client requested, and the
//! expression context policies read.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use headend_model::compose::DualStack;
use headend_model::expr::{
    AccountInfo, DeviceInfo, EvalContext, LeaseInfo, PacketInfo, PoolInfo, RawOptions, RelayInfo,
};
use headend_model::options::RequestedOptions;
use headend_model::select::NetworkSelector;
use headend_model::snapshot::{Pool, Snapshot};
use headend_store::{Account, ClientKey, TrustedIdType, UnixTime};
use headend_wire::cablelabs::{ClVendorOptions, IpPref, Option43, VendorClass};
use headend_wire::dhcpv4::Packet;
use headend_wire::suboptions::VendorIdentifying;
use ipnet::IpNet;

/// CableLabs' IANA enterprise number.
const CABLELABS: u32 = 4491;

/// The requesting device, as far as the packet tells.
#[derive(Debug, Clone)]
pub struct Device {
    /// Lease key: option 61, else htype + chaddr.
    pub client: ClientKey,
    /// Account key: the MAC for Ethernet devices, else the client key in hex.
    pub account_id: String,
    /// `chaddr` as `aa:bb:…` (for logs).
    pub mac: String,
    /// `chaddr` bytes.
    pub hwaddr: Vec<u8>,
    /// Options the client asked for.
    pub requested: RequestedOptions,
    /// Dual-stack support it announced.
    pub dual: DualStack,
    /// How its network is identified.
    pub selector: NetworkSelector,
    /// The expression context (shared with expression sessions; copied on write).
    pub ctx: Arc<EvalContext>,
    /// The CM MAC from option 82.2 when it is 6 bytes.
    pub remote_id_mac: Option<String>,
    /// Trusted identifier from the relay (seed 004 section 5.2).
    pub trusted: Option<(Vec<u8>, TrustedIdType)>,
    /// Option 82.11 server identifier override (RFC 5107).
    pub server_id_override: Option<Ipv4Addr>,
    /// Option 82.19 present: reply to the relay's source port (RFC 8357).
    pub relay_source_port: bool,
    /// Option 82 whole, when believed: kept with the lease for leasequery
    /// (RFC 4388, RFC 6926).
    pub relay_info: Option<Vec<u8>>,
}

pub use headend_store::hex_colon;

/// Builds the device view of a request. Errors are drop reasons.
pub fn device(snap: &Snapshot, pkt: &Packet<'_>) -> Result<Device, &'static str> {
    let hw = pkt.hwaddr();
    let opts = &pkt.options;
    let client_id = opts
        .client_id()
        .map(|c| c.into_owned())
        .filter(|c| !c.is_empty());
    let client = match &client_id {
        // RFC 3396 lets option 61 span several options; no store keys more
        // than 255 bytes, so such a client is refused here rather than at
        // commit, where its batch would fail.
        Some(c) if c.len() > headend_store::MAX_CLIENT_KEY_LEN => return Err("client_id_too_long"),
        Some(c) => ClientKey(c.clone()),
        None if !hw.is_empty() => ClientKey::from_hardware(pkt.htype, hw),
        None => return Err("no_client_identifier"),
    };
    let mac = hex_colon(hw);
    let account_id = if pkt.htype == 1 && hw.len() == 6 {
        mac.clone()
    } else {
        hex_colon(&client.0)
    };

    // Every option once, merged (RFC 3396): for expressions, and for the
    // request lists, which the option registry reads (it knows each
    // vendor's ORO sub-option, operator-declared ones included).
    let mut options = RawOptions::with_capacity(16, 256);
    for (code, data) in opts.iter() {
        options.insert(u16::from(code), &data);
    }
    let requested = RequestedOptions::from_client_options(
        &snap.registry,
        options
            .iter()
            .filter_map(|(c, v)| u8::try_from(c).ok().map(|c| (c, v))),
    );
    let cl = opts
        .get(125)
        .and_then(|v| {
            VendorIdentifying::merged(&v, CABLELABS)
                .ok()
                .flatten()
                .map(|d| d.into_owned())
        })
        .and_then(|d| ClVendorOptions::decode(&d).ok());
    let o43 = opts.get(43).and_then(|d| Option43::decode(&d).ok());

    // Vendor class and capabilities.
    let vc = opts.vendor_class().map(|v| VendorClass::parse(&v));
    let announced = cl.as_ref().and_then(|c| c.ip_pref);
    let caps = vc
        .as_ref()
        .and_then(|v| v.capabilities.clone())
        .or_else(|| cl.as_ref().and_then(|c| c.modem_capabilities.clone()));
    let capability_5_38 = caps
        .as_ref()
        .is_some_and(|c| c.dual_stack_support().is_some());
    let dual = DualStack {
        announced_ip_pref: announced == Some(IpPref::DualStackCapable),
        capability_5_38,
    };

    // Relay agent information: the relay's word, so believed only from a
    // relay this configuration knows (a `[[pool]]`'s `relays`, or
    // `[dhcpv4] trusted_relays`); ignored from any other, and a giaddr-0
    // packet carrying it is a client forging it (RFC 3046 §2.1) unless
    // layer-2 relay agents are declared.
    let d4 = snap.dhcpv4.as_ref();
    let rai = match opts.relay_agent_info() {
        Some(_) if pkt.giaddr.is_unspecified() && !d4.is_some_and(|d| d.layer2_relay_agents) => {
            return Err("option82_without_giaddr")
        }
        Some(r) if pkt.giaddr.is_unspecified() || known_relay(snap, pkt.giaddr) => Some(r),
        _ => None,
    };
    let remote_id = rai.as_ref().and_then(|r| r.remote_id()).map(|r| r.to_vec());
    let circuit_id = rai
        .as_ref()
        .and_then(|r| r.circuit_id())
        .map(|r| r.to_vec());
    let subscriber = rai
        .as_ref()
        .and_then(|r| r.subscriber_id())
        .map(|r| r.to_vec());
    let remote_id_mac = remote_id
        .as_ref()
        .filter(|r| r.len() == 6)
        .map(|r| hex_colon(r));
    let trusted = remote_id
        .clone()
        .map(|r| (r, TrustedIdType::RemoteId))
        .or_else(|| circuit_id.clone().map(|c| (c, TrustedIdType::CircuitId)))
        .or_else(|| subscriber.clone().map(|s| (s, TrustedIdType::SubscriberId)));
    let selector = NetworkSelector {
        giaddr: pkt.giaddr,
        link_selection: rai.as_ref().and_then(|r| r.link_selection()),
        // A client's own choice of network only where the operator allows it.
        subnet_selection: opts
            .subnet_selection()
            .filter(|_| d4.is_some_and(|d| d.subnet_selection)),
    };
    let server_id_override = rai.as_ref().and_then(|r| r.server_id_override());
    let relay_source_port = rai.as_ref().is_some_and(|r| r.relay_source_port());

    let packet = PacketInfo {
        protocol: "dhcpv4".into(),
        message_type: opts
            .message_type()
            .map_or("BOOTREQUEST".into(), |m| m.name().into()),
        xid: pkt.xid,
        hops: pkt.hops,
        ciaddr: pkt.ciaddr,
        giaddr: pkt.giaddr,
        htype: pkt.htype,
        chaddr: hw.to_vec(),
        client_id: client_id.unwrap_or_default(),
        options,
        requested: requested.prl.iter().map(|x| u16::from(*x)).collect(),
    };
    let relay = RelayInfo {
        address: IpAddr::V4(pkt.giaddr),
        link_selection: selector.link_selection,
        subnet_selection: selector.subnet_selection,
        circuit_id: circuit_id.unwrap_or_default(),
        remote_id: remote_id.unwrap_or_default(),
        subscriber_id: subscriber
            .map(|s| String::from_utf8_lossy(&s).into_owned())
            .unwrap_or_default(),
        docsis_device_class: rai.as_ref().and_then(|r| r.docsis_device_class()),
    };

    let mut info = DeviceInfo {
        capabilities: caps
            .as_ref()
            .map(|c| c.0.iter().cloned().collect())
            .unwrap_or_default(),
        supported_flows: caps
            .as_ref()
            .and_then(|c| c.supported_flows())
            .map(|f| {
                let mut v = Vec::new();
                if f.secure() {
                    v.push("secure".to_string());
                }
                if f.hybrid() {
                    v.push("hybrid".to_string());
                }
                if f.basic() {
                    v.push("basic".to_string());
                }
                v
            })
            .unwrap_or_default(),
        dual_stack: dual.capable(),
        ip_pref: announced.map(u8::from),
        ..DeviceInfo::default()
    };
    headend_model::device::describe(vc.as_ref(), &mut info);
    if let Some(o) = &o43 {
        info.device_type = o.device_type.clone().unwrap_or_default();
        info.serial = o.serial_number.clone().unwrap_or_default();
        info.model = o.model_number.clone().unwrap_or_default();
        info.vendor_name = o.vendor_name.clone().unwrap_or_default();
        info.correlation_id = o.correlation_id;
        info.oui = o
            .oui
            .map(|x| hex_colon(&x.bytes).replace(':', ""))
            .unwrap_or_default();
    }

    let mut ctx = Arc::new(EvalContext {
        packet,
        relay,
        device: info,
        ..EvalContext::default()
    });
    headend_model::device::classify(snap, &mut ctx);
    Ok(Device {
        client,
        account_id,
        mac,
        hwaddr: hw.to_vec(),
        requested,
        dual,
        selector,
        ctx,
        remote_id_mac,
        trusted,
        relay_info: rai.as_ref().map(|r| r.as_bytes().to_vec()),
        server_id_override,
        relay_source_port,
    })
}

/// Whether `giaddr` is a relay the configuration knows: one a `[[pool]]`
/// serves, or one of `[dhcpv4] trusted_relays`.
fn known_relay(snap: &Snapshot, giaddr: Ipv4Addr) -> bool {
    snap.pools_by_relay.contains_key(&giaddr)
        || snap
            .dhcpv4
            .as_ref()
            .is_some_and(|d| d.trusted_relays.iter().any(|n| n.contains(&giaddr)))
}

fn account_info(a: &Account) -> AccountInfo {
    AccountInfo {
        id: a.id.clone(),
        domains: a.domains.clone(),
        attributes: a.attributes.clone(),
    }
}

/// Puts the device's account and domains into the context.
pub fn set_account(ctx: &mut Arc<EvalContext>, a: &Account) {
    let ctx = Arc::make_mut(ctx);
    ctx.domains = a.domains.clone();
    ctx.account = Some(account_info(a));
}

/// Puts the modem's account (from option 82.2) into the context.
pub fn set_modem(ctx: &mut Arc<EvalContext>, a: Option<&Account>) {
    Arc::make_mut(ctx).modem = a.map(account_info);
}

/// Puts the chosen pool into the context.
pub fn set_pool(ctx: &mut Arc<EvalContext>, pool: Option<&Pool>) {
    Arc::make_mut(ctx).pool = pool.map(|p| PoolInfo {
        name: p.name.clone(),
        network: IpNet::V4(p.network),
        relays: p.relays.iter().map(|r| IpAddr::V4(*r)).collect(),
        first: IpAddr::V4(
            p.ranges
                .first()
                .map(|r| r.0)
                .unwrap_or(Ipv4Addr::UNSPECIFIED),
        ),
        last: IpAddr::V4(
            p.ranges
                .last()
                .map(|r| r.1)
                .unwrap_or(Ipv4Addr::UNSPECIFIED),
        ),
    });
}

/// Puts the address being offered or leased into the context.
pub fn set_lease(
    ctx: &mut Arc<EvalContext>,
    ip: Option<Ipv4Addr>,
    client: &ClientKey,
    lifetime: u32,
    now: UnixTime,
    pool: Option<&Pool>,
) {
    Arc::make_mut(ctx).lease = ip.map(|ip| LeaseInfo {
        ip: IpAddr::V4(ip),
        client: client.clone(),
        lifetime,
        commit_time: now,
        pool: pool
            .map(|p| p.name.clone())
            .unwrap_or_else(|| "fixed".into()),
    });
}
