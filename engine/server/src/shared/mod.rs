//! What the components of the server share: the running configuration
//! (one snapshot behind an `ArcSwap`, swapped whole by a reload), the clock,
//! the account table, the counters, the device registry ([`device`]) and the
//! management-event sink the event receivers hand events to, gathered in
//! [`Shared`], from which every component is built.
//!
//! Below every protocol module: `dhcpv4`, `dhcpv6`, `configsrv`, `tod` and
//! `syslog` depend on this module and never on each other.

pub mod ddns;
pub mod device;
pub mod limit;
pub mod provision;
pub mod timeline;

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use headend_model::snapshot::Snapshot;
use headend_store::{Store, UnixTime};

use crate::accounts::AccountTable;
use crate::counters::Counters;
use crate::events::EventSink;

pub use device::{
    v4_of, DeviceContext, DeviceMemo, DeviceResolver, Devices, Resolvers, StaticResolver,
};
pub use provision::{FileProvider, ProvisionedFile, Services};

/// The running configuration: packets load it once and finish under that
/// snapshot; a reload stores a new one.
pub type ConfigSwap = Arc<ArcSwap<Snapshot>>;

/// Source of the current time (injectable for tests).
pub type Clock = Arc<dyn Fn() -> UnixTime + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    })
}

/// A TCP listener on `addr` as the protocol servers open them: address
/// reuse (a restart does not wait out TIME_WAIT) and a 1024-connection
/// backlog. Binding is synchronous, listening needs the runtime.
pub fn tcp_listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// The state every component is built from.
#[derive(Clone)]
pub struct Shared {
    /// The running configuration.
    pub config: ConfigSwap,
    /// The embedded store (leases, bindings, accounts).
    pub store: Arc<dyn Store>,
    /// Every account, in memory (DHCPv4 and DHCPv6 resolve devices through it).
    pub accounts: Arc<AccountTable>,
    /// The server's counters.
    pub counters: Arc<Counters>,
    /// The clock leases and holds are timed by.
    pub clock: Clock,
    /// What the DHCP servers know about devices, for TFTP, HTTP and the event receivers.
    pub devices: Arc<Devices>,
    /// Where management events go (the mem-event plugin hook and its actions).
    pub events: Arc<EventSink>,
    /// File generation and management events, for the provisioning server.
    pub services: Arc<Services>,
    /// Every device's provisioning timeline.
    pub timeline: Arc<timeline::Timeline>,
    /// Whether the store takes commits (the group committer's health):
    /// while it does not, the DHCP servers offer nothing, so that clients
    /// go to a healthy peer instead of to a server that cannot bind.
    pub store_health: StoreHealth,
    /// The hand-off of lease events to the dynamic DNS updater.
    pub ddns: Arc<ddns::DdnsLink>,
}

/// The store's health and the store, for the DHCP servers: refuse new
/// work while commits fail, and undo in memory what a failed commit held.
#[derive(Clone)]
pub struct StoreHealth {
    healthy: Arc<std::sync::atomic::AtomicBool>,
    store: Arc<dyn Store>,
}

impl StoreHealth {
    /// The health flag of a group committer over `store`.
    pub fn new(healthy: Arc<std::sync::atomic::AtomicBool>, store: Arc<dyn Store>) -> StoreHealth {
        StoreHealth { healthy, store }
    }

    /// Whether commits reach the disk.
    pub fn healthy(&self) -> bool {
        self.healthy.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The durable record of an address (what a failed commit leaves).
    pub fn lease4(&self, ip: std::net::Ipv4Addr) -> Option<headend_store::Lease4> {
        self.store.lease4(ip).ok().flatten()
    }

    /// The durable record of a DHCPv6 resource.
    pub fn lease6(&self, key: headend_store::Lease6Key) -> Option<headend_store::Lease6> {
        self.store.lease6(key).ok().flatten()
    }
}
