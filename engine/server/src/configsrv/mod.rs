//! The configuration server, interface pkt-eue-5 (seed 000 section 6.1.5;
//! seed 004 section 3.2): devices fetch their configuration file by TFTP
//! ([`tftp`], RFC 1350/2347/2348/2349/7440) or HTTP ([`http`]).
//!
//! Who is asking is answered by a [`DeviceResolver`]: the requesting
//! address is looked up in the current leases (DHCPv4 and DHCPv6)
//! and turned into a [`DeviceContext`] — the plugin ABI's `Device` and the
//! expression context — so the virtual root, access mode and overwrite mode
//! expressions and the config-file generators see the same device the DHCP
//! server saw. [`files`] resolves a requested name to a static file inside
//! the (virtual) root or to a generated file, caches generated files by
//! content, and records every transfer against the device.

pub mod files;
pub mod http;
pub mod native;
pub mod tftp;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use headend_abi::{ConfigFile, ConfigRequest, Device, Protocol};
use headend_model::expr::{AccountInfo, DeviceInfo, EvalContext, LeaseInfo};
use headend_model::snapshot::ALL_DEVICES;
use headend_store::{hex_colon, Account, LeaseState};
use parking_lot::{Mutex, RwLock};

use crate::counters::Counters;
use crate::dhcpv4::Dhcpv4;

pub use files::{resolve_file, FileError, FileService, Served, TransferRecord, TransferResult};

use arc_swap::ArcSwap;
use headend_model::snapshot::Snapshot;
use std::net::SocketAddr;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The device behind a request, as far as the engine knows it.
#[derive(Debug, Clone)]
pub struct DeviceContext {
    /// The plugin ABI view (what generators receive).
    pub device: Device,
    /// The expression context (what root/access/overwrite expressions read).
    pub ctx: Arc<EvalContext>,
    /// The account key (normally the MAC), under which transfers are recorded.
    pub id: String,
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
            device,
            ctx: Arc::new(ctx),
        }
    }
}

/// Address → device: implemented over the DHCPv4 leases and the DHCPv6
/// bindings; [`Resolvers`] chains both.
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

type MemoInner = (HashMap<String, Arc<DeviceInfo>>, VecDeque<String>);

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
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
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

/// The DHCPv4 implementation of [`DeviceResolver`]: the active lease of the
/// address, its client's account (configuration first, then the store, as
/// the DHCP pipeline does) and the remembered classification.
pub struct Dhcpv4Resolver {
    dhcpv4: Arc<Dhcpv4>,
    memo: Arc<DeviceMemo>,
}

impl Dhcpv4Resolver {
    /// A resolver over the DHCPv4 service's leases.
    pub fn new(dhcpv4: Arc<Dhcpv4>, memo: Arc<DeviceMemo>) -> Dhcpv4Resolver {
        Dhcpv4Resolver { dhcpv4, memo }
    }
}

fn v4_of(addr: IpAddr) -> Option<Ipv4Addr> {
    match addr {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(a) => a.to_ipv4_mapped(),
    }
}

impl DeviceResolver for Dhcpv4Resolver {
    fn resolve(&self, addr: IpAddr) -> Option<DeviceContext> {
        let ip = v4_of(addr)?;
        let now = self.dhcpv4.now();
        let lease = {
            let t = self.dhcpv4.leases.lock();
            let l = t.lease(ip)?;
            let live = l.state == LeaseState::Active && l.expires_at().is_none_or(|e| e > now);
            if !live {
                return None;
            }
            l.clone()
        };
        let mac = hex_colon(&lease.hwaddr);
        let id = if lease.hwaddr.len() == 6 {
            mac.clone()
        } else {
            hex_colon(&lease.client.0)
        };
        let snap = self.dhcpv4.config.load();
        let account = snap
            .accounts
            .get(&id)
            .cloned()
            .or_else(|| self.dhcpv4.accounts.get(&id));
        let info = self.memo.get(&mac);
        let mut dc = DeviceContext::from_parts(
            Protocol::Lease,
            &mac,
            account.as_ref(),
            info.as_deref(),
            Some(IpAddr::V4(ip)),
        );
        dc.id = id;
        if lease.relay != Ipv4Addr::UNSPECIFIED {
            dc.device.relay = Some(IpAddr::V4(lease.relay));
        }
        let ctx = Arc::make_mut(&mut dc.ctx);
        ctx.relay.address = IpAddr::V4(lease.relay);
        ctx.packet.giaddr = lease.relay;
        ctx.lease = Some(LeaseInfo::from(&lease));
        Some(dc)
    }
}

/// The DHCPv6 implementation of [`DeviceResolver`]: the active IA_NA binding
/// of the address (eCM, eUE over IPv6), its MAC (CL_OPTION_DEVICE_ID or the
/// relay's CM MAC option) and account, and the remembered classification.
pub struct Dhcpv6Resolver {
    dhcpv6: Arc<crate::dhcpv6::Dhcpv6>,
    memo: Arc<DeviceMemo>,
}

impl Dhcpv6Resolver {
    /// A resolver over the DHCPv6 service's bindings.
    pub fn new(dhcpv6: Arc<crate::dhcpv6::Dhcpv6>, memo: Arc<DeviceMemo>) -> Dhcpv6Resolver {
        Dhcpv6Resolver { dhcpv6, memo }
    }
}

impl DeviceResolver for Dhcpv6Resolver {
    fn resolve(&self, addr: IpAddr) -> Option<DeviceContext> {
        let IpAddr::V6(ip) = addr else {
            return None;
        };
        let now = self.dhcpv6.now();
        let lease = {
            let t = self.dhcpv6.leases.lock();
            let l = t.get(&headend_store::Lease6Key {
                address: ip,
                prefix_len: 128,
            })?;
            let live = l.state == LeaseState::Active && l.expires_at().is_none_or(|e| e > now);
            if !live {
                return None;
            }
            l.clone()
        };
        let (mac, id) = match &lease.mac {
            Some(m) if m.len() == 6 => (hex_colon(m), hex_colon(m)),
            _ => (String::new(), hex_colon(&lease.duid)),
        };
        let snap = self.dhcpv6.config.load();
        let account = snap
            .accounts
            .get(&id)
            .cloned()
            .or_else(|| self.dhcpv6.accounts.get(&id));
        let info = self.memo.get(&mac);
        let mut dc = DeviceContext::from_parts(
            Protocol::Lease,
            &mac,
            account.as_ref(),
            info.as_deref(),
            Some(addr),
        );
        dc.id = id;
        if let Some(m) = lease.modem_mac.as_ref().filter(|m| m.len() == 6) {
            let mid = hex_colon(m);
            let modem = snap
                .accounts
                .get(&mid)
                .cloned()
                .or_else(|| self.dhcpv6.accounts.get(&mid));
            if let Some(a) = modem {
                Arc::make_mut(&mut dc.ctx).modem = Some(AccountInfo::from(&a));
                dc.device.modem = Some(headend_abi::Account {
                    id: a.id.clone(),
                    domains: a.domains.clone(),
                    attributes: a.attributes.into_iter().collect(),
                });
            }
        }
        dc.device.relay = Some(IpAddr::V6(lease.link));
        Arc::make_mut(&mut dc.ctx).relay.address = IpAddr::V6(lease.link);
        Some(dc)
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

/// Why a generator produced nothing usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    /// The generator failed (plugin trap, deadline, bad output); the request gets ERROR 0 / HTTP 500.
    #[error("generator failed: {0}")]
    Failed(String),
    /// The generator is unavailable (circuit breaker open, not loaded).
    #[error("generator unavailable: {0}")]
    Unavailable(String),
}

/// A config-file generator: the plugin hook `headend_config_file` (the lead
/// implements this over `headend-plugin`), or a native one.
pub trait ConfigGenerator: Send + Sync {
    /// The file for this request; `Ok(None)` = this device gets no such file (TFTP error 1).
    fn generate(&self, req: &ConfigRequest) -> Result<Option<ConfigFile>, GenerateError>;
    /// Changes whenever the same request could produce different bytes (module or configuration change); part of the cache key.
    fn version(&self) -> u64;
}

/// Named generators, shared by TFTP, HTTP and `config-file show`.
#[derive(Default, Clone)]
pub struct Generators(Arc<RwLock<BTreeMap<String, Arc<dyn ConfigGenerator>>>>);

impl Generators {
    /// Registers (or replaces) a generator under `name` (the `generator` of `[[tftp.config_file]]`).
    pub fn insert(&self, name: &str, g: Arc<dyn ConfigGenerator>) {
        self.0.write().insert(name.to_string(), g);
    }

    /// Removes a generator.
    pub fn remove(&self, name: &str) {
        self.0.write().remove(name);
    }

    /// A generator by name.
    pub fn get(&self, name: &str) -> Option<Arc<dyn ConfigGenerator>> {
        self.0.read().get(name).cloned()
    }

    /// The registered names.
    pub fn names(&self) -> Vec<String> {
        self.0.read().keys().cloned().collect()
    }
}

/// The config server of one headend: virtual files, TFTP and HTTP, and the
/// device memo the DHCP pipeline feeds.
pub struct ConfigServer {
    /// The virtual files (transfer log, cache, `resolve` for tools).
    pub files: Arc<FileService>,
    /// The TFTP service.
    pub tftp: Arc<tftp::TftpServer>,
    /// The HTTP service.
    pub http: Arc<http::HttpServer>,
    /// Classification remembered per MAC (fed by the DHCP servers).
    pub memo: Arc<DeviceMemo>,
}

impl ConfigServer {
    /// A config server over the running configuration, resolving devices through `resolver`.
    pub fn new(
        config: Arc<ArcSwap<Snapshot>>,
        resolver: Arc<dyn DeviceResolver>,
        memo: Arc<DeviceMemo>,
        counters: Arc<Counters>,
    ) -> ConfigServer {
        let files = Arc::new(FileService::new(
            config,
            resolver,
            Generators::default(),
            counters,
        ));
        ConfigServer {
            tftp: tftp::TftpServer::new(files.clone()),
            http: http::HttpServer::new(files.clone()),
            files,
            memo,
        }
    }

    /// The named generators (native ones; `[[plugin]]` generators come from the snapshot's hooks).
    pub fn generators(&self) -> &Generators {
        self.files.generators()
    }

    /// TFTP transfers and HTTP connections in flight.
    pub fn active_transfers(&self) -> usize {
        self.tftp.active() + self.http.active()
    }

    /// Binds the `[tftp]` and `[http]` listeners of `snap` and serves them until `stop`.
    pub async fn start(
        &self,
        snap: &Snapshot,
        stop: &watch::Receiver<bool>,
    ) -> std::io::Result<(Vec<SocketAddr>, Vec<JoinHandle<std::io::Result<()>>>)> {
        let mut bound = Vec::new();
        let mut tasks = Vec::new();
        for addr in &snap.config_server.tftp_listen {
            let sock = tftp::bind(*addr)?;
            bound.push(sock.local_addr()?);
            let serve = self.tftp.clone().serve(sock, stop.clone());
            tasks.push(tokio::spawn(async move {
                serve.await;
                Ok(())
            }));
        }
        for addr in &snap.config_server.http_listen {
            let l = tokio::net::TcpListener::bind(addr).await?;
            bound.push(l.local_addr()?);
            let serve = self.http.clone().serve(l, stop.clone());
            tasks.push(tokio::spawn(async move {
                serve.await;
                Ok(())
            }));
        }
        Ok((bound, tasks))
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
