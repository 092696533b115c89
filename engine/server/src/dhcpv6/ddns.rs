//! Dynamic DNS for DHCPv6 bindings (issue 17, RFC 4704 section 5): a
//! committed address binding with an FQDN (the name the REPLY carried in
//! option 39, recorded with the binding) gets its AAAA, DHCID (from the
//! DUID, RFC 4701 type 0x0002) and ip6.arpa PTR; a release or the end of
//! the binding removes them. Jobs are persisted and handed to the updater
//! once durable ([`crate::shared::ddns::DdnsLink::submit`]); a renewal
//! that changes nothing sends nothing.
//!
//! With `[ddns]` configured, the ADVERTISE / REPLY option 39 carries the
//! server's RFC 4704 section 5 decision ([`reply_flags`]): S when it does
//! the AAAA update, O when that differs from the client's S, N when it
//! does none. The add follows the flags the REPLY carried (a client that
//! updates its AAAA itself, S=0, gets only the PTR), goes to the device's
//! `server.ddns-server`, and is recorded (the published-add record) so
//! that the removal undoes exactly it at the same server.

use std::net::IpAddr;
use std::sync::Arc;

use headend_ddns::{Action, FqdnDecision, FqdnFlags, FqdnPolicy};
use headend_model::snapshot::Snapshot;
use headend_store::{hex_colon, Lease6, Mutation};

use super::process::Dhcpv6;
use crate::shared::ddns::{self as link, DdnsLink};

impl Dhcpv6 {
    /// Sends the DNS jobs of this server's bindings through `link`.
    pub fn set_ddns(&self, link: Arc<DdnsLink>) {
        let _ = self.ddns.set(link);
    }

    /// The removals of `leases` (released, or ended when `ended`):
    /// what each address's add published, else (an add from before those
    /// records) every record of the name the store keeps with it.
    pub(super) fn ddns_jobs(&self, leases: &[Lease6], ended: bool) {
        let Some(l) = self.ddns.get().filter(|l| l.attached()) else {
            return;
        };
        let snap = self.config.load();
        let Some(d) = snap.ddns.as_ref() else {
            return;
        };
        let all = FqdnDecision {
            forward: true,
            reverse: true,
            reply: None,
        };
        let mut jobs = Vec::new();
        for lease in leases {
            if lease.kind != headend_store::Lease6Kind::Na {
                continue;
            }
            if let Some(j) = l.published_removal(IpAddr::V6(lease.address)) {
                jobs.push((device(lease), j));
                continue;
            }
            // The in-memory bindings carry no name: a release or an expiry
            // finds it in the store (still there: its change is queued after).
            let mut lease = lease.clone();
            if lease.fqdn.is_none() {
                lease.fqdn = l.stored_fqdn6(lease.key());
            }
            if lease.fqdn.is_none() {
                continue;
            }
            for j in link::v6_jobs(d, std::slice::from_ref(&lease), ended, &all, None) {
                if j.action == Action::Remove {
                    jobs.push((device(&lease), j));
                }
            }
        }
        if !jobs.is_empty() {
            l.submit(jobs);
        }
    }

    /// The add records of the address bindings a REPLY carrying option 39
    /// with `flags` (the server's decision) gives `fqdn`, towards
    /// `device_server`; to commit with the bindings. Renewals that change
    /// nothing give none.
    pub(super) fn ddns_adds(
        &self,
        snap: &Snapshot,
        leases: &[Lease6],
        flags: u8,
        device_server: Option<IpAddr>,
    ) -> Vec<Mutation> {
        let Some(l) = self.ddns.get().filter(|l| l.attached()) else {
            return Vec::new();
        };
        let Some(d) = snap.ddns.as_ref().filter(|d| d.enable) else {
            return Vec::new();
        };
        let decision = decision_of_reply(flags);
        let mut out = Vec::new();
        for lease in leases {
            for j in link::v6_jobs(
                d,
                std::slice::from_ref(lease),
                false,
                &decision,
                device_server,
            ) {
                if j.action == Action::Add && !l.unchanged(&j) {
                    out.extend(l.record(&device(lease), &j));
                }
            }
        }
        out
    }

    /// A batch is committed: its add records go to the updater, and its
    /// released address bindings are removed from DNS.
    pub(super) fn ddns_committed(&self, batch: &[Mutation]) {
        let Some(l) = self.ddns.get().filter(|l| l.attached()) else {
            return;
        };
        l.committed(batch);
        let released: Vec<Lease6> = batch
            .iter()
            .filter_map(|m| match m {
                Mutation::PutLease6(l) if l.state == headend_store::LeaseState::Released => {
                    Some(l.clone())
                }
                _ => None,
            })
            .collect();
        if !released.is_empty() {
            self.ddns_jobs(&released, false);
        }
    }
}

/// The flags octet of the option 39 the server answers to a client's
/// `client` octet (RFC 4704 section 5), when `[ddns]` is configured:
/// `None` without it (the reply then keeps the PacketCable behaviour of
/// taking on what the client asked).
pub(super) fn reply_flags(snap: &Snapshot, client: u8) -> Option<u8> {
    let d = snap.ddns.as_ref()?;
    let policy = FqdnPolicy {
        enabled: d.enable,
        ..d.policy
    };
    let reply = headend_ddns::decide(Some(FqdnFlags::from_v6(client)), &policy).reply?;
    Some(reply.to_v6())
}

/// What the server updates, read back from the flags it answered (RFC
/// 4704 section 5: S = it does the AAAA; N = it does nothing; else the
/// PTR only), so that the add follows exactly what the REPLY said.
fn decision_of_reply(flags: u8) -> FqdnDecision {
    let f = FqdnFlags::from_v6(flags);
    FqdnDecision {
        forward: f.s && !f.n,
        reverse: !f.n,
        reply: Some(f),
    }
}

/// The device of a binding for logs: its MAC when known, else the DUID.
fn device(lease: &Lease6) -> String {
    lease
        .mac
        .as_deref()
        .map_or_else(|| hex_colon(&lease.duid), hex_colon)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(text: &str) -> Snapshot {
        let src = headend_model::source::SourceFile::new("t.toml".into(), text.into());
        Snapshot::from_source(&src, 1).unwrap()
    }

    /// RFC 4704 section 5 with `[ddns]`: S=1 kept; S=0 kept (the client
    /// does its AAAA) unless overridden (S=1 O=1); N kept; disabled: N=1
    /// (O=1 when the client had S=1). Without `[ddns]`: no decision here.
    #[test]
    fn reply_flags_per_rfc_4704() {
        let base = "[server]\nstore = \"st\"\n[ddns]\nserver = \"127.0.0.1:53\"\nforward_zones = [\"example.test\"]\n";
        let s = snap(base);
        assert_eq!(reply_flags(&s, 0x01), Some(0x01));
        assert_eq!(reply_flags(&s, 0x00), Some(0x00));
        assert_eq!(reply_flags(&s, 0x04), Some(0x04));
        let s = snap(&format!("{base}override_client_update = true\n"));
        assert_eq!(reply_flags(&s, 0x00), Some(0x03));
        let s = snap(&format!("{base}enable = false\n"));
        assert_eq!(reply_flags(&s, 0x01), Some(0x06));
        assert_eq!(reply_flags(&snap("[server]\nstore = \"st\"\n"), 0x01), None);
    }

    #[test]
    fn the_add_follows_the_answered_flags() {
        // S=1: AAAA and PTR.
        let d = decision_of_reply(0x01);
        assert!(d.forward && d.reverse);
        // S=0 (the client updates its AAAA): the PTR only.
        let d = decision_of_reply(0x00);
        assert!(!d.forward && d.reverse);
        // N=1: nothing.
        let d = decision_of_reply(0x04);
        assert!(!d.forward && !d.reverse);
        // S=1 and O=1 (the server overrode the client's S=0): both.
        let d = decision_of_reply(0x03);
        assert!(d.forward && d.reverse);
    }
}
