//! Dynamic DNS for DHCPv4 leases (issue 17): on an ACK, the FQDN (the
//! `[ddns] hostname` expression, else the client's option 81 name, RFC
//! 4702 section 3, else option 12) and the RFC 4702 section 4 decision of
//! who updates what; the job rides in the lease's commit batch, so it is
//! durable with the lease and goes to the updater only once the lease is
//! ([`crate::shared::ddns::DdnsLink::committed`]). RELEASE and expiry
//! remove the records of leases whose name we registered (the lease's
//! `hostname` is then the absolute FQDN) — exactly those the add put
//! there, at the server that got it (the published-add record).
//!
//! The OFFER and ACK to a client that sent option 81 carry option 81 back
//! (RFC 4702 section 4, with `[ddns]` configured): the decided S, O and N,
//! the client's E, RCODE1 = RCODE2 = 255 (section 2.2) and the name in
//! the client's encoding.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use headend_ddns::{Action, FqdnDecision, FqdnFlags, FqdnPolicy};
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
                link::v4_removal(Some(l), d, lease)
                    .map(|j| (headend_store::hex_colon(&lease.hwaddr), j))
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
    /// The `DdnsQueue` records (queue entry and published add).
    pub record: Vec<Mutation>,
}

/// Who updates what for a client (RFC 4702 section 4) and the absolute
/// FQDN it applies to.
pub(super) struct Named {
    /// The decision from the client's option 81 flags and the policy.
    pub decision: FqdnDecision,
    /// The absolute FQDN.
    pub fqdn: String,
}

/// The decision and name for the client of `pkt`; `None` when the server
/// updates nothing (no `[ddns]`, the client's N, no usable name).
pub(super) fn name(
    svc: &Dhcpv4,
    snap: &Snapshot,
    pkt: &Packet<'_>,
    dev: &Device,
    trace: &mut Trace,
) -> Option<Named> {
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
    Some(Named { decision, fqdn })
}

/// The option 81 payload of an OFFER or ACK (RFC 4702 section 4), when
/// the client sent option 81 and `[ddns]` is configured: the flags of
/// `named`'s decision (none: the server updates nothing, N=1), E as the
/// client's, RCODE1 = RCODE2 = 255 (section 2.2), and the server's name
/// in the client's encoding (without one, the client's name as sent).
pub(super) fn reply_option(
    snap: &Snapshot,
    pkt: &Packet<'_>,
    named: Option<&Named>,
) -> Option<Vec<u8>> {
    let d = snap.ddns.as_ref()?;
    let opt = pkt.options.client_fqdn()?;
    let client = FqdnFlags::from_v4(opt.flags);
    let (flags, name) = match named {
        Some(n) => (n.decision.reply?, encode_name(&n.fqdn, client.e)),
        None => {
            let off = FqdnPolicy {
                enabled: false,
                ..d.policy
            };
            (
                headend_ddns::decide(Some(client), &off).reply?,
                opt.name.to_vec(),
            )
        }
    };
    let mut out = Vec::with_capacity(3 + name.len());
    out.extend_from_slice(&[flags.to_v4(), 255, 255]);
    out.extend_from_slice(&name);
    Some(out)
}

/// An absolute FQDN (`host.example.test.`) as option 81 carries it: the
/// canonical wire format (RFC 4702 section 2.3.1: lower-case labels,
/// ending with the root label) when `wire` (E=1), else ASCII text.
fn encode_name(fqdn: &str, wire: bool) -> Vec<u8> {
    if !wire {
        return fqdn.as_bytes().to_vec();
    }
    let mut out = Vec::with_capacity(fqdn.len() + 2);
    for label in fqdn
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        // `qualify` made labels of at most 63 octets.
        let label = label.get(..63).unwrap_or(label);
        out.push(label.len() as u8);
        out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
    }
    out.push(0);
    out
}

/// Plans the DNS update of an ACK of `ip` for `lease_secs` (`named`: the
/// client's [`name`]), noting the plan in `trace` (what `headend explain`
/// shows) whether or not an updater runs. The DHCID is of option 61 when
/// the client sent it, else of htype + chaddr (RFC 4701 section 3.3).
#[allow(clippy::too_many_arguments)]
pub(super) fn on_ack(
    svc: &Dhcpv4,
    snap: &Snapshot,
    pkt: &Packet<'_>,
    dev: &Device,
    named: Option<&Named>,
    ip: Ipv4Addr,
    lease_secs: u32,
    device_server: Option<IpAddr>,
    trace: &mut Trace,
) -> Option<AckDns> {
    let d = snap.ddns.as_ref().filter(|d| d.enable)?;
    let Named { decision, fqdn } = named?;
    let address = IpAddr::V4(ip);
    let plan = d.plan(fqdn, address, decision, lease_secs, device_server);
    let client_id = pkt.options.client_id();
    let dhcid = link::dhcid_v4(client_id.as_deref(), pkt.htype, &dev.hwaddr, fqdn)?;
    let job = link::job(Action::Add, &plan, address, dhcid)?;
    trace.note(|| link::describe(&job));
    let l = svc.ddns_link(snap)?;
    let record = if l.unchanged(&job) {
        trace.note(|| "dynamic DNS: unchanged since the last update: not sent again".into());
        Vec::new()
    } else {
        l.record(&dev.mac, &job)
    };
    Some(AckDns {
        fqdn: fqdn.clone(),
        record,
    })
}

/// The removal records of a released lease.
pub(super) fn on_release(svc: &Dhcpv4, snap: &Snapshot, lease: &Lease4) -> Vec<Mutation> {
    let Some(l) = svc.ddns_link(snap) else {
        return Vec::new();
    };
    let Some(job) = snap
        .ddns
        .as_ref()
        .and_then(|d| link::v4_removal(Some(l), d, lease))
    else {
        return Vec::new();
    };
    l.record(&headend_store::hex_colon(&lease.hwaddr), &job)
}

#[cfg(test)]
mod tests {
    use super::*;
    use headend_wire::dhcpv4::{code, Builder};

    fn snap(extra: &str) -> Snapshot {
        let text = format!("[server]\nstore = \"st\"\n[ddns]\nserver = \"127.0.0.1:53\"\nforward_zones = [\"example.test\"]\n{extra}");
        let src = headend_model::source::SourceFile::new("t.toml".into(), text);
        Snapshot::from_source(&src, 1).unwrap()
    }

    /// A DISCOVER carrying option 81 with `flags` and `name`.
    fn discover(flags: u8, name: &[u8]) -> Vec<u8> {
        let mut b = Builder::new();
        b.htype = 1;
        b.hlen = 6;
        b.chaddr[..6].copy_from_slice(&[0, 1, 2, 3, 4, 5]);
        b.push_option(code::MESSAGE_TYPE, &[1]);
        let mut v = vec![flags, 0, 0];
        v.extend_from_slice(name);
        b.push_option(code::CLIENT_FQDN, &v);
        b.encode(576).unwrap()
    }

    fn named(s: &Snapshot, flags: u8) -> Named {
        let decision = headend_ddns::decide(
            Some(FqdnFlags::from_v4(flags)),
            &s.ddns.as_ref().unwrap().policy,
        );
        Named {
            decision,
            fqdn: "host1.example.test.".into(),
        }
    }

    /// RFC 4702 section 4: S=1 asked, S=1 answered; RCODEs 255; the name
    /// in canonical wire format for E=1.
    #[test]
    fn answer_to_s1_e1() {
        let s = snap("");
        let raw = discover(0x05, b"\x05host1\x00");
        let pkt = Packet::parse(&raw).unwrap();
        let o = reply_option(&s, &pkt, Some(&named(&s, 0x05))).unwrap();
        assert_eq!(&o[..3], &[0x05, 255, 255]);
        assert_eq!(&o[3..], b"\x05host1\x07example\x04test\x00");
    }

    /// S=0 (the client updates its A): S=0 O=0 answered (PTR only); with
    /// `override_client_update`, S=1 O=1. E=0: the name in ASCII.
    #[test]
    fn answer_to_s0_and_override() {
        let s = snap("");
        let raw = discover(0x00, b"host1");
        let pkt = Packet::parse(&raw).unwrap();
        let n = named(&s, 0x00);
        assert!(!n.decision.forward && n.decision.reverse);
        let o = reply_option(&s, &pkt, Some(&n)).unwrap();
        assert_eq!(&o[..3], &[0x00, 255, 255]);
        assert_eq!(&o[3..], b"host1.example.test.");
        let s = snap("override_client_update = true\n");
        let n = named(&s, 0x00);
        assert!(n.decision.forward);
        let o = reply_option(&s, &pkt, Some(&n)).unwrap();
        assert_eq!(o[0], 0x03);
    }

    /// No update by the server (the client's N, or `[ddns]` disabled): N=1,
    /// O when the client's S was 1, the client's name as sent; no
    /// `[ddns]` at all or no option 81: no option 81 in the reply.
    #[test]
    fn answer_without_update() {
        let s = snap("");
        let raw = discover(0x0c, b"\x05host1\x00");
        let pkt = Packet::parse(&raw).unwrap();
        let o = reply_option(&s, &pkt, None).unwrap();
        assert_eq!(o, b"\x0c\xff\xff\x05host1\x00");
        let raw = discover(0x01, b"host1");
        let pkt = Packet::parse(&raw).unwrap();
        assert_eq!(reply_option(&s, &pkt, None).unwrap()[0], 0x0a);
        let src = headend_model::source::SourceFile::new(
            "t.toml".into(),
            "[server]\nstore = \"st\"\n".into(),
        );
        let plain = Snapshot::from_source(&src, 1).unwrap();
        assert!(reply_option(&plain, &pkt, None).is_none());
    }

    #[test]
    fn names_in_either_encoding() {
        assert_eq!(encode_name("A.b.", true), b"\x01a\x01b\x00");
        assert_eq!(encode_name("a.b.", false), b"a.b.");
    }
}
