//! DHCPv6 as a component of the server (see `crate::component`): built from
//! the shared state (stored bindings and the server DUID), one UDP socket
//! per `[dhcpv6] listen` address with its multicast memberships, a Bulk
//! Leasequery TCP listener per `bulk_leasequery_listen` address, the
//! 1-second binding sweep and the binding gauge.

use std::net::SocketAddr;
use std::sync::Arc;

use headend_model::snapshot::Snapshot;

use super::resolver::Dhcpv6Resolver;
use super::{process, socket, Dhcpv6};
use crate::component::{Component, ServerError, StartContext, Started};
use crate::shared::Shared;

impl Dhcpv6 {
    /// The DHCPv6 service over the shared state (see [`process::open`]);
    /// bound devices are remembered in, and their addresses resolvable
    /// through, the device registry.
    pub fn open(shared: &Shared) -> Result<Arc<Dhcpv6>, ServerError> {
        let dhcpv6 = Arc::new(process::open(
            shared.config.clone(),
            &*shared.store,
            shared.accounts.clone(),
            shared.counters.clone(),
            shared.clock.clone(),
        )?);
        let memo = shared.devices.memo.clone();
        dhcpv6.set_device_memo(memo.clone());
        dhcpv6.set_timeline(shared.timeline.clone());
        dhcpv6.set_store_health(shared.store_health.clone());
        dhcpv6.set_ddns(shared.ddns.clone());
        shared
            .devices
            .register(Arc::new(Dhcpv6Resolver::new(dhcpv6.clone(), memo)));
        Ok(dhcpv6)
    }
}

impl Component for Dhcpv6 {
    fn name(&self) -> &'static str {
        "dhcpv6"
    }

    fn start(self: Arc<Self>, snap: &Snapshot, ctx: &StartContext) -> Result<Started, ServerError> {
        let mut started = Started::default();
        let Some(d6) = &snap.dhcpv6 else {
            return Ok(started);
        };
        self.set_committer(ctx.committer.clone());
        for addr in &d6.listen {
            let SocketAddr::V6(a6) = addr else { continue };
            let sock = socket::open(*a6, d6.receive_buffer, &d6.interfaces)?;
            started.bound.push(sock.local_addr()?);
            started.tasks.push(tokio::spawn(crate::udp::serve(
                self.clone(),
                ctx.committer.clone(),
                sock,
                socket::LinkCache::default(),
                ctx.workers,
                ctx.stop.clone(),
            )));
        }
        // Bulk Leasequery (RFC 5460) over TCP.
        for addr in &d6.bulk_leasequery_listen {
            let listener = super::bulk::listen(*addr)?;
            started.bound.push(listener.local_addr()?);
            started.tasks.push(tokio::spawn(super::bulk::serve(
                self.clone(),
                listener,
                ctx.stop.clone(),
            )));
        }
        Ok(started)
    }

    fn restart_needed(&self, old: &Snapshot, new: &Snapshot) -> Vec<String> {
        headend_model::v6::restart_change(old.dhcpv6.as_ref(), new.dhcpv6.as_ref())
            .into_iter()
            .collect()
    }

    fn tick(&self) {
        self.sweep();
    }

    fn metrics(&self, m: &mut crate::metrics::Metrics) {
        m.gauge(
            "leases_active",
            &[("family", "dhcpv6")],
            self.leases.lock().len() as u64,
        );
        m.gauge(
            "bulk_leasequery_connections",
            &[("family", "dhcpv6")],
            super::bulk::OPEN.load(std::sync::atomic::Ordering::Relaxed) as u64,
        );
    }
}
