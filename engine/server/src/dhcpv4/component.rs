//! DHCPv4 as a component of the server (see `crate::component`): built from
//! the shared state (the stored leases loaded into the lease table), one
//! UDP socket per `[dhcpv4] listen` address, the bulk leasequery TCP
//! listeners, the 1-second lease sweep.

use std::net::SocketAddr;
use std::sync::Arc;

use headend_model::snapshot::Snapshot;

use super::process::pool_specs;
use super::resolver::Dhcpv4Resolver;
use super::{socket, Dhcpv4};
use crate::component::{Component, ServerError, StartContext, Started};
use crate::leases::LeaseTable;
use crate::shared::Shared;

impl Dhcpv4 {
    /// The DHCPv4 service over the shared state: every stored lease loaded
    /// into the allocators of the running pools; acknowledged devices are
    /// remembered in, and their leases resolvable through, the device
    /// registry.
    pub fn open(shared: &Shared) -> Result<Arc<Dhcpv4>, ServerError> {
        let mut table = LeaseTable::new();
        table.set_pools(&pool_specs(&shared.config.load()));
        table.load(shared.store.load_leases4()?, (shared.clock)());
        let dhcpv4 = Arc::new(Dhcpv4::new(
            shared.config.clone(),
            table,
            shared.accounts.clone(),
            shared.counters.clone(),
            shared.clock.clone(),
        ));
        let memo = shared.devices.memo.clone();
        dhcpv4.set_device_memo(memo.clone());
        dhcpv4.set_timeline(shared.timeline.clone());
        dhcpv4.set_store_health(shared.store_health.clone());
        dhcpv4.set_ddns(shared.ddns.clone());
        shared
            .devices
            .register(Arc::new(Dhcpv4Resolver::new(dhcpv4.clone(), memo)));
        Ok(dhcpv4)
    }
}

impl Component for Dhcpv4 {
    fn name(&self) -> &'static str {
        "dhcpv4"
    }

    fn start(self: Arc<Self>, snap: &Snapshot, ctx: &StartContext) -> Result<Started, ServerError> {
        let mut started = Started::default();
        let Some(d4) = &snap.dhcpv4 else {
            return Ok(started);
        };
        for addr in &d4.listen {
            let SocketAddr::V4(a4) = addr else { continue };
            let sock = socket::open(*a4, d4.interface.as_deref(), d4.receive_buffer)?;
            let local = match sock.local_addr()? {
                SocketAddr::V4(l) => l,
                SocketAddr::V6(_) => *a4,
            };
            started.bound.push(SocketAddr::V4(local));
            started.tasks.push(tokio::spawn(crate::udp::serve(
                self.clone(),
                ctx.committer.clone(),
                sock,
                local,
                ctx.workers,
                ctx.stop.clone(),
            )));
        }
        // Bulk leasequery (RFC 6926): TCP, read-only on the lease table.
        for addr in &d4.bulk_leasequery.listen {
            let l = crate::shared::tcp_listen(*addr)?;
            started.bound.push(l.local_addr()?);
            started.tasks.push(tokio::spawn(super::bulk_tcp::serve(
                self.clone(),
                l,
                ctx.stop.clone(),
            )));
        }
        Ok(started)
    }

    fn restart_needed(&self, old: &Snapshot, new: &Snapshot) -> Vec<String> {
        headend_model::v4::restart_change(old.dhcpv4.as_ref(), new.dhcpv4.as_ref())
            .into_iter()
            .collect()
    }

    fn prepare(&self, next: &Snapshot) {
        // Pools first, so no packet of the new configuration sees the old allocators.
        self.leases.lock().set_pools(&pool_specs(next));
    }

    fn tick(&self) {
        self.sweep();
    }

    fn metrics(&self, m: &mut crate::metrics::Metrics) {
        let st = self.leases.lock().stats(self.now());
        let v4 = ("family", "dhcpv4");
        for (state, n) in [
            ("active", st.active),
            ("offered", st.offered),
            ("declined", st.declined),
            ("released", st.released),
            ("expired", st.expired),
        ] {
            m.gauge("leases", &[v4, ("state", state)], n);
        }
        m.gauge("leases_active", &[v4], st.active);
        let bulk = &super::bulk_tcp::STATS;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        m.gauge(
            "bulk_leasequery_connections",
            &[v4],
            bulk.open.load(std::sync::atomic::Ordering::Relaxed) as u64,
        );
        m.counter(
            "bulk_leasequery_connections_total",
            &[v4],
            load(&bulk.connections),
        );
        m.counter("bulk_leasequery_queries_total", &[v4], load(&bulk.queries));
        m.counter("bulk_leasequery_answers_total", &[v4], load(&bulk.answers));
        for p in &st.pools {
            let pool = ("pool", p.name.as_str());
            m.gauge("pool_addresses", &[pool, ("state", "size")], p.size);
            m.gauge("pool_addresses", &[pool, ("state", "blocked")], p.blocked);
            m.gauge("pool_addresses", &[pool, ("state", "used")], p.used);
            m.gauge("pool_addresses", &[pool, ("state", "free")], p.free);
        }
    }
}
