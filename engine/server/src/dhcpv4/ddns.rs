//! Dynamic DNS for DHCPv4 leases (issue 17): on an ACK, the FQDN (the
//! `[ddns] hostname` expression, else the client's option 81 name, RFC
//! 4702 section 3, else option 12) and the RFC 4702 section 4 decision of
//! who updates what; the job rides in the lease's commit batch, so it is
//! durable with the lease and goes to the updater only once the lease is
//! ([`crate::shared::ddns::DdnsLink::committed`]). RELEASE and expiry
//! remove the records of leases whose name we registered (the lease's
//! `hostname` is then the absolute FQDN).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use headend_ddns::{Action, FqdnFlags};
use headend_model::snapshot::Snapshot;
use headend_model::trace::Trace;
use headend_store::{Lease4, Mutation};
use headend_wire::dhcpv4::Packet;
use tracing::warn;

use super::context::Device;
use super::process::Dhcpv4;
use crate::shared::ddns::{self as link, DdnsLink};

impl Dhcpv4 {
    /// Sends the DNS jobs of this server's leases through `link`.
    pub fn set_ddns(&self, link: Arc<DdnsLink>) {
        let _ = self.ddns.set(link);
    }

    /// The link, when `[ddns]` is on and the updater runs.
    pub(super) fn ddns_link(&self, snap: &Snapshot) -> Option<&Arc<DdnsLink>> {
        self.ddns
            .get()
            .filter(|l| l.attached() && snap.ddns.as_ref().is_some_and(|d| d.enable))
    }

    /// The removals of leases that ended (the sweep's).
    pub(super) fn ddns_expired(&self, snap: &Snapshot, ended: &[Lease4]) {
        let (Some(l), Some(d)) = (self.ddns_link(snap), snap.ddns.as_ref()) else {
            return;
        };
        let jobs: Vec<_> = ended
            .iter()
            .filter_map(|lease| {
                link::v4_removal(d, lease).map(|j| (headend_store::hex_colon(&lease.hwaddr), j))
            })
            .collect();
        if !jobs.is_empty() {
            l.submit(jobs);
        }
    }
}

/// What an ACK puts into DNS: the FQDN to record with the lease and the
/// job record for the commit (`None` for a renewal that changes nothing).
pub(super) struct AckDns {
    /// The absolute FQDN.
    pub fqdn: String,
    /// The `DdnsQueue` record.
    pub record: Option<Mutation>,
}

/// Decides the DNS update of an ACK of `ip` for `lease_secs`, noting the
/// plan in `trace` (what `headend explain` shows) whether or not an
/// updater runs.
#[allow(clippy::too_many_arguments)]
pub(super) fn on_ack(
    svc: &Dhcpv4,
    snap: &Snapshot,
    pkt: &Packet<'_>,
    dev: &Device,
    ip: Ipv4Addr,
    lease_secs: u32,
    device_server: Option<IpAddr>,
    trace: &mut Trace,
) -> Option<AckDns> {
    let d = snap.ddns.as_ref().filter(|d| d.enable)?;
    let fqdn_opt = pkt.options.client_fqdn();
    let client_flags = fqdn_opt.as_ref().map(|f| FqdnFlags::from_v4(f.flags));
    if client_flags.is_none() && !d.update_without_fqdn {
        trace
            .note(|| "dynamic DNS: no option 81 and update_without_fqdn = false: no update".into());
        return None;
    }
    let decision = headend_ddns::decide(client_flags, &d.policy);
    if !decision.forward && !decision.reverse {
        trace.note(|| "dynamic DNS: the client asked for no update (option 81 N): none".into());
        return None;
    }
    let from_expr = d.hostname.as_ref().and_then(|e| {
        let mut s = snap.exprs.session_shared(dev.ctx.clone());
        match s.eval(e) {
            Ok(v) if v.is_string() => v
                .into_immutable_string()
                .ok()
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty()),
            Ok(_) => None,
            Err(err) => {
                svc.counters.expression_failed(err.kind.as_str());
                warn!(mac = %dev.mac, error = %err, "[ddns] hostname expression failed; the client's name is used");
                None
            }
        }
    });
    let from_81 = fqdn_opt
        .as_ref()
        .and_then(|f| f.domain_name().ok())
        .filter(|(n, _)| !n.is_empty())
        .map(|(n, full)| if full { format!("{n}.") } else { n });
    let from_12 = pkt
        .options
        .hostname()
        .map(|h| String::from_utf8_lossy(&h).into_owned());
    let Some(name) = from_expr.or(from_81).or(from_12) else {
        trace.note(|| "dynamic DNS: no host name (expression, option 81 or 12): no update".into());
        return None;
    };
    let fqdn = d.qualify(&name)?;
    let address = IpAddr::V4(ip);
    let plan = d.plan(&fqdn, address, &decision, lease_secs, device_server);
    let dhcid = link::dhcid_v4(&dev.client, &dev.hwaddr, &fqdn)?;
    let job = link::job(Action::Add, &plan, address, dhcid)?;
    trace.note(|| link::describe(&job));
    let l = svc.ddns_link(snap)?;
    let record = if l.unchanged(&job) {
        trace.note(|| "dynamic DNS: unchanged since the last update: not sent again".into());
        None
    } else {
        l.record(&dev.mac, &job)
    };
    Some(AckDns { fqdn, record })
}

/// The removal record of a released lease.
pub(super) fn on_release(svc: &Dhcpv4, snap: &Snapshot, lease: &Lease4) -> Option<Mutation> {
    let l = svc.ddns_link(snap)?;
    let job = link::v4_removal(snap.ddns.as_ref()?, lease)?;
    l.record(&headend_store::hex_colon(&lease.hwaddr), &job)
}
