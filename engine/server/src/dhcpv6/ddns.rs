//! Dynamic DNS for DHCPv6 bindings (issue 17, RFC 4704 section 5): a
//! committed address binding with an FQDN (the name the REPLY carried in
//! option 39, recorded with the binding) gets its AAAA, DHCID (from the
//! DUID, RFC 4701 type 0x0002) and ip6.arpa PTR; a release or the end of
//! the binding removes them. Jobs are persisted and handed to the updater
//! once durable ([`crate::shared::ddns::DdnsLink::submit`]); a renewal
//! that changes nothing sends nothing.

use std::sync::Arc;

use headend_store::{hex_colon, Lease6, Mutation};

use super::process::Dhcpv6;
use crate::shared::ddns::{self as link, DdnsLink};

impl Dhcpv6 {
    /// Sends the DNS jobs of this server's bindings through `link`.
    pub fn set_ddns(&self, link: Arc<DdnsLink>) {
        let _ = self.ddns.set(link);
    }

    /// The jobs of `leases` (`ended`: they expired).
    pub(super) fn ddns_jobs(&self, leases: &[Lease6], ended: bool) {
        let Some(l) = self.ddns.get().filter(|l| l.attached()) else {
            return;
        };
        let snap = self.config.load();
        let Some(d) = snap.ddns.as_ref() else {
            return;
        };
        // The in-memory bindings carry no name: a release or an expiry
        // finds it in the store (still there: its change is queued after).
        let named: Vec<Lease6> = leases
            .iter()
            .filter_map(|lease| {
                let mut lease = lease.clone();
                if lease.fqdn.is_none() {
                    lease.fqdn = l.stored_fqdn6(lease.key());
                }
                lease.fqdn.is_some().then_some(lease)
            })
            .collect();
        let jobs: Vec<_> = named
            .iter()
            .flat_map(|lease| {
                link::v6_jobs(d, std::slice::from_ref(lease), ended)
                    .into_iter()
                    .map(move |j| (device(lease), j))
            })
            .filter(|(_, j)| j.action == headend_ddns::Action::Remove || !l.unchanged(j))
            .collect();
        if !jobs.is_empty() {
            l.submit(jobs);
        }
    }

    /// A batch is committed: the jobs of its address bindings.
    pub(super) fn ddns_committed(&self, batch: &[Mutation]) {
        if self.ddns.get().is_none_or(|l| !l.attached()) {
            return;
        }
        let leases: Vec<Lease6> = batch
            .iter()
            .filter_map(|m| match m {
                Mutation::PutLease6(l)
                    if l.fqdn.is_some() || l.state == headend_store::LeaseState::Released =>
                {
                    Some(l.clone())
                }
                _ => None,
            })
            .collect();
        if !leases.is_empty() {
            self.ddns_jobs(&leases, false);
        }
    }
}

/// The device of a binding for logs: its MAC when known, else the DUID.
fn device(lease: &Lease6) -> String {
    lease
        .mac
        .as_deref()
        .map_or_else(|| hex_colon(&lease.duid), hex_colon)
}
