//! The device registry (seed 000 section 6.1.5: the configuration server
//! serves a device by the address the DHCP server gave it): what the DHCP
//! servers know about each device, for the services that see only an
//! address (TFTP, HTTP).
//!
//! The DHCP components feed the [`DeviceMemo`] (the classification leases
//! do not keep) and register a [`DeviceResolver`] over their leases with
//! [`Devices`]; the config server resolves through [`Devices`] without
//! knowing which protocol handed out the address.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use headend_abi::{Device, Protocol};
use headend_model::expr::{AccountInfo, DeviceInfo, EvalContext};
use headend_model::hash::FastMap;
use headend_model::snapshot::ALL_DEVICES;
use headend_store::Account;
use parking_lot::{Mutex, RwLock};

/// The device behind a request, as far as the engine knows it.
#[derive(Debug, Clone)]
pub struct DeviceContext {
    /// The plugin ABI view (what generators receive).
    pub device: Device,
    /// The expression context (what root/access/overwrite expressions read).
    pub ctx: Arc<EvalContext>,
    /// The account key (normally the MAC), under which transfers are recorded.
    pub id: String,
    /// The FQDN the DHCP server assigned (DHCPv6 option 39), when it did.
    pub fqdn: Option<String>,
}

impl DeviceContext {
    /// A context for a device known only by MAC and account (tests, `config-file show`).
    pub fn from_parts(
        protocol: Protocol,
        mac: &str,
        account: Option<&Account>,
        info: Option<&DeviceInfo>,
        address: Option<IpAddr>,
    ) -> DeviceContext {
        let mut device = Device::with_mac(protocol, mac);
        let mut ctx = EvalContext::default();
        let mut domains: Vec<String> = account.map(|a| a.domains.clone()).unwrap_or_default();
        if !domains.iter().any(|d| d == ALL_DEVICES) {
            domains.push(ALL_DEVICES.to_string());
        }
        if let Some(a) = account {
            device.account = Some(headend_abi::Account {
                id: a.id.clone(),
                domains: a.domains.clone(),
                attributes: a
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            });
            ctx.account = Some(AccountInfo::from(a));
        }
        if let Some(i) = info {
            device.vendor_class = i.vendor_class.clone();
            device.family = i.family.clone();
            device.version = i.version.clone();
            device.type_name = i.type_name.clone();
            device.device_type = i.device_type.clone();
            device.capabilities = i
                .capabilities
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect();
            device.supported_flows = i.supported_flows.clone();
            device.serial = i.serial.clone();
            device.model = i.model.clone();
            device.vendor_name = i.vendor_name.clone();
            device.oui = i.oui.clone();
            device.ip_pref = i.ip_pref;
            ctx.device = i.clone();
        }
        device.domains = domains.clone();
        device.address = address;
        ctx.domains = domains;
        ctx.packet.chaddr = headend_model::snapshot::normalize_mac(mac)
            .and_then(|m| headend_model::snapshot::parse_hex(&m))
            .unwrap_or_default();
        DeviceContext {
            id: account
                .map(|a| a.id.clone())
                .unwrap_or_else(|| mac.to_string()),
            fqdn: None,
            device,
            ctx: Arc::new(ctx),
        }
    }
}

/// Address → device: the DHCP servers implement it over their leases and
/// register it with [`Devices`], which asks them in order.
pub trait DeviceResolver: Send + Sync {
    /// The device currently holding `addr`, or `None` when no lease covers it.
    fn resolve(&self, addr: IpAddr) -> Option<DeviceContext>;
}

/// Several resolvers, asked in order (DHCPv4 then DHCPv6).
#[derive(Default, Clone)]
pub struct Resolvers(pub Vec<Arc<dyn DeviceResolver>>);

impl DeviceResolver for Resolvers {
    fn resolve(&self, addr: IpAddr) -> Option<DeviceContext> {
        self.0.iter().find_map(|r| r.resolve(addr))
    }
}

type MemoInner = (FastMap<String, Arc<DeviceInfo>>, VecDeque<String>);

/// The classification the DHCP server last made of each device (vendor
/// class, capabilities, device type), which the lease itself does not keep:
/// the DHCP pipeline calls [`DeviceMemo::remember`] and the resolvers read
/// it. Bounded; the oldest entries go first.
#[derive(Debug)]
pub struct DeviceMemo {
    max: usize,
    inner: Mutex<MemoInner>,
}

impl DeviceMemo {
    /// A memo keeping at most `max` devices.
    pub fn new(max: usize) -> DeviceMemo {
        DeviceMemo {
            max: max.max(1),
            inner: Mutex::new((FastMap::default(), VecDeque::new())),
        }
    }

    /// Remembers the classification of the device with this MAC (`aa:bb:…`).
    /// Called on every DHCP ACK/REPLY: an unchanged classification (a
    /// renewal, the common case) costs a lookup and a compare, no clone.
    pub fn remember(&self, mac: &str, info: &DeviceInfo) {
        let mut g = self.inner.lock();
        let (map, order) = &mut *g;
        if map.get(mac).is_some_and(|known| **known == *info) {
            return;
        }
        if map
            .insert(mac.to_string(), Arc::new(info.clone()))
            .is_none()
        {
            order.push_back(mac.to_string());
            while order.len() > self.max {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
    }

    /// The classification of a MAC, if remembered.
    pub fn get(&self, mac: &str) -> Option<Arc<DeviceInfo>> {
        self.inner.lock().0.get(mac).cloned()
    }
}

impl Default for DeviceMemo {
    fn default() -> Self {
        DeviceMemo::new(1 << 20)
    }
}

/// Every registered resolver, asked in registration order (DHCPv4, then
/// DHCPv6), and the memo the DHCP servers feed.
#[derive(Default)]
pub struct Devices {
    /// The classification of each device, remembered by the DHCP servers.
    pub memo: Arc<DeviceMemo>,
    resolvers: RwLock<Vec<Arc<dyn DeviceResolver>>>,
}

impl Devices {
    /// Adds a resolver, asked after the ones registered before it.
    pub fn register(&self, resolver: Arc<dyn DeviceResolver>) {
        self.resolvers.write().push(resolver);
    }
}

impl DeviceResolver for Devices {
    fn resolve(&self, addr: IpAddr) -> Option<DeviceContext> {
        self.resolvers.read().iter().find_map(|r| r.resolve(addr))
    }
}

/// The IPv4 address of `addr`, also when written IPv4-mapped (`::ffff:a.b.c.d`).
pub fn v4_of(addr: IpAddr) -> Option<Ipv4Addr> {
    match addr {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(a) => a.to_ipv4_mapped(),
    }
}

/// A fixed address → device table (tests, benchmarks, static labs).
#[derive(Default)]
pub struct StaticResolver(pub RwLock<HashMap<IpAddr, DeviceContext>>);

impl StaticResolver {
    /// Adds or replaces the device at `addr`.
    pub fn insert(&self, addr: IpAddr, dc: DeviceContext) {
        self.0.write().insert(addr, dc);
    }
}

impl DeviceResolver for StaticResolver {
    fn resolve(&self, addr: IpAddr) -> Option<DeviceContext> {
        let m = self.0.read();
        m.get(&addr)
            .or_else(|| v4_of(addr).and_then(|a| m.get(&IpAddr::V4(a))))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memo_is_bounded() {
        let m = DeviceMemo::new(2);
        for mac in ["a", "b", "c"] {
            m.remember(
                mac,
                &DeviceInfo {
                    device_type: mac.into(),
                    ..DeviceInfo::default()
                },
            );
        }
        assert!(m.get("a").is_none());
        assert_eq!(m.get("c").map(|i| i.device_type.clone()), Some("c".into()));
    }

    #[test]
    fn memo_keeps_an_unchanged_classification_and_replaces_a_changed_one() {
        let m = DeviceMemo::new(4);
        let emta = DeviceInfo {
            device_type: "EDVA".into(),
            ..DeviceInfo::default()
        };
        m.remember("a", &emta);
        let first = m.get("a").unwrap();
        m.remember("a", &emta);
        assert!(
            Arc::ptr_eq(&first, &m.get("a").unwrap()),
            "renewal: no new entry"
        );
        let ecm = DeviceInfo {
            device_type: "ECM".into(),
            ..DeviceInfo::default()
        };
        m.remember("a", &ecm);
        assert_eq!(m.get("a").unwrap().device_type, "ECM");
        // Replacing an entry does not count it twice against the bound.
        for mac in ["b", "c", "d"] {
            m.remember(mac, &emta);
        }
        assert!(m.get("a").is_some());
    }

    #[test]
    fn device_context_carries_account_and_domains() {
        let a = Account {
            id: "00:11:22:33:44:55".into(),
            domains: vec!["docsis".into()],
            attributes: [("tier".to_string(), "gold".to_string())].into(),
            created: 0,
            source: headend_store::AccountSource::Config,
        };
        let dc =
            DeviceContext::from_parts(Protocol::Lease, "00:11:22:33:44:55", Some(&a), None, None);
        assert_eq!(dc.device.domains, vec!["docsis", "all"]);
        assert_eq!(
            dc.device.account.as_ref().and_then(|a| a.attribute("tier")),
            Some("gold")
        );
        assert_eq!(dc.ctx.packet.chaddr, vec![0, 0x11, 0x22, 0x33, 0x44, 0x55]);
        let s = StaticResolver::default();
        s.insert(IpAddr::V4(Ipv4Addr::LOCALHOST), dc);
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(s.resolve(mapped).is_some());
        assert!(s.resolve("::1".parse().unwrap()).is_none());
    }
}
