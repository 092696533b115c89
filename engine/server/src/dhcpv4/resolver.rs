//! The DHCPv4 side of the device registry (seed 000 section 6.1.5): the
//! device holding an address, from the DHCPv4 lease table, for the config
//! server's requests.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use headend_abi::Protocol;
use headend_model::expr::LeaseInfo;
use headend_store::{hex_colon, LeaseState};

use super::Dhcpv4;
use crate::shared::{v4_of, DeviceContext, DeviceMemo, DeviceResolver};

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
        let account = self.dhcpv4.accounts.lookup(&snap, &id);
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
