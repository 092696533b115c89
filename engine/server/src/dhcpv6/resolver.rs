//! The DHCPv6 side of the device registry (seed 000 section 6.1.5): the
//! device holding an IPv6 address, from the DHCPv6 binding table, for the
//! config server's requests.

use std::net::IpAddr;
use std::sync::Arc;

use headend_abi::Protocol;
use headend_model::expr::AccountInfo;
use headend_store::{hex_colon, LeaseState};

use super::Dhcpv6;
use crate::shared::{DeviceContext, DeviceMemo, DeviceResolver};

/// The DHCPv6 implementation of [`DeviceResolver`]: the active IA_NA binding
/// of the address (eCM, eUE over IPv6), its MAC (CL_OPTION_DEVICE_ID or the
/// relay's CM MAC option) and account, and the remembered classification.
pub struct Dhcpv6Resolver {
    dhcpv6: Arc<Dhcpv6>,
    memo: Arc<DeviceMemo>,
}

impl Dhcpv6Resolver {
    /// A resolver over the DHCPv6 service's bindings.
    pub fn new(dhcpv6: Arc<Dhcpv6>, memo: Arc<DeviceMemo>) -> Dhcpv6Resolver {
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
        let account = self.dhcpv6.accounts.lookup(&snap, &id);
        let info = self.memo.get(&mac);
        let mut dc = DeviceContext::from_parts(
            Protocol::Lease,
            &mac,
            account.as_ref(),
            info.as_deref(),
            Some(addr),
        );
        dc.id = id;
        dc.fqdn = lease.fqdn.clone();
        if let Some(m) = lease.modem_mac.as_ref().filter(|m| m.len() == 6) {
            let mid = hex_colon(m);
            let modem = self.dhcpv6.accounts.lookup(&snap, &mid);
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
