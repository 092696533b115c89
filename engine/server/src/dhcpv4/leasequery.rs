//! DHCPv4 Leasequery (RFC 4388, with RFC 6148's query by Remote ID): a
//! CMTS that lost its table of who sits behind which interface asks the
//! server which client holds an address, or which addresses a MAC address,
//! client identifier or cable modem (remote id) holds.
//!
//! Only the requesters `[dhcpv4] leasequery_requesters` names are answered:
//! both the datagram's source and `giaddr`, where the answer goes (RFC
//! 4388), must be among them; any other DHCPLEASEQUERY is left unanswered
//! and counted as `leasequery_refused`: no binding data to whoever asks,
//! and no answer at all, as ISC dhcpd and Kea do. A query the server cannot read is dropped and counted by
//! [`headend_wire::dhcpv4::leasequery::QueryError::reason`].
//!
//! Answers (RFC 4388): DHCPLEASEACTIVE with the binding's
//! address in `ciaddr`, its client in `htype`/`hlen`/`chaddr` and option
//! 61, the remaining lease time (51), the seconds since the client's last
//! transaction (91), the relay agent information kept with the lease (82,
//! whole as the relay sent it) and, for a query by MAC address, client identifier or remote
//! id, the client's other bound addresses (92) with the most recent binding
//! in `ciaddr`; DHCPLEASEUNASSIGNED for an address this server manages (a
//! pool's, a fixed binding's, or one it has a record of) that nobody holds;
//! DHCPLEASEUNKNOWN otherwise. Leasequery reads the lease table and never
//! changes it.

use std::net::{Ipv4Addr, SocketAddrV4};

use headend_model::snapshot::{Dhcpv4Settings, Snapshot};
use headend_model::trace::Trace;
use headend_store::{ClientKey, Lease4, LeaseState, TrustedIdType, UnixTime};
use headend_wire::dhcpv4::leasequery::{
    encode_associated_ip, encode_client_last_transaction_time, Query,
};
use headend_wire::dhcpv4::{code, reply_size_limit, Builder, MessageType, Packet};
use headend_wire::relay::sub;
use headend_wire::suboptions::{push_tlv8, Tlv8};

use super::process::{Dhcpv4, Inbound, Outcome};

/// Lease records examined per hold of the lease lock while a query by MAC
/// address or remote id walks the table, so DORA never waits long (bulk
/// leasequery walks in the same slices).
pub(super) const SCAN_SLICE: usize = 4096;

/// The answer to one query, before it is encoded.
enum Answer {
    /// The most recent active binding, and the other active ones' addresses.
    Active(Box<Lease4>, Vec<Ipv4Addr>),
    /// The address is this server's, and nobody holds it.
    Unassigned,
    /// The server knows nothing of what was asked.
    Unknown,
}

/// Whether `ip` is one of the configured leasequery requesters (UDP and
/// bulk leasequery alike).
pub(super) fn allowed(d4: &Dhcpv4Settings, ip: Ipv4Addr) -> bool {
    d4.leasequery_requesters.iter().any(|n| n.contains(&ip))
}

/// Answers one DHCPLEASEQUERY (option 53 = 10) that has been parsed.
pub(super) fn handle(
    svc: &Dhcpv4,
    snap: &Snapshot,
    d4: &Dhcpv4Settings,
    pkt: &Packet<'_>,
    inb: &Inbound<'_>,
    trace: &mut Trace,
) -> Outcome {
    // Refused before anything else is read: nothing about the query, not
    // even whether it parses, is told to a stranger.
    if !allowed(d4, *inb.source.ip()) {
        trace.note(|| {
            format!(
                "DHCPLEASEQUERY from {}: not a leasequery requester",
                inb.source
            )
        });
        return Outcome::Silent("leasequery_refused");
    }
    let query = match Query::of(pkt) {
        Ok(q) => q,
        Err(e) => {
            trace.note(|| format!("DHCPLEASEQUERY dropped: {e}"));
            return Outcome::Drop(e.reason());
        }
    };
    if !allowed(d4, pkt.giaddr) {
        trace.note(|| {
            format!(
                "DHCPLEASEQUERY for giaddr {}: not a leasequery requester",
                pkt.giaddr
            )
        });
        return Outcome::Silent("leasequery_refused");
    }
    let now = svc.now();
    let answer = lookup(svc, snap, &query, now);
    let server_id = d4.server_id.unwrap_or(*inb.local.ip());
    let mut b = Builder::reply_to(pkt);
    b.ciaddr = pkt.ciaddr;
    let mtype = match &answer {
        Answer::Active(..) => MessageType::LeaseActive,
        Answer::Unassigned => MessageType::LeaseUnassigned,
        Answer::Unknown => MessageType::LeaseUnknown,
    };
    b.push_option(code::MESSAGE_TYPE, &[u8::from(mtype)]);
    b.push_option(code::SERVER_ID, &server_id.octets());
    match &answer {
        Answer::Active(lease, others) => active(&mut b, lease, others, now),
        Answer::Unassigned | Answer::Unknown => {
            // The query echoed, so the requester can match the answer.
            if let Some(cid) = pkt.options.client_id() {
                b.push_option(code::CLIENT_ID, &cid);
            }
            if matches!(query, Query::ByRemoteId(_)) {
                if let Some(rai) = pkt.options.get(code::RELAY_AGENT_INFO) {
                    b.push_option(code::RELAY_AGENT_INFO, &rai);
                }
            }
        }
    }
    trace.note(|| {
        format!(
            "DHCPLEASEQUERY by {} from {}: {} {}",
            query.kind(),
            pkt.giaddr,
            mtype.name(),
            b.ciaddr
        )
    });
    let limit = reply_size_limit(
        pkt.options.max_message_size(),
        usize::from(d4.max_message_size),
    );
    let packet = match b.encode(limit) {
        Ok(p) => p,
        Err(_) => {
            // Only a very long associated-ip list can overflow: send the
            // most recent binding without it rather than nothing.
            b.remove_option(code::ASSOCIATED_IP);
            match b.encode(limit) {
                Ok(p) => p,
                Err(_) => return Outcome::Drop("reply_too_large"),
            }
        }
    };
    // RFC 4388: the answer goes to giaddr, at the relay port unless
    // the query asked for its source port (RFC 8357 sub-option 19).
    let port = if pkt
        .options
        .relay_agent_info()
        .is_some_and(|r| r.relay_source_port())
    {
        inb.source.port()
    } else {
        d4.relay_port
    };
    Outcome::Reply {
        packet,
        to: SocketAddrV4::new(pkt.giaddr, port),
        commit: Vec::new(),
        durable: false,
    }
}

/// Whether `l` holds its address at `now`.
fn bound(l: &Lease4, now: UnixTime) -> bool {
    l.state == LeaseState::Active && l.is_current(now)
}

/// Finds what the query asks for in the lease table.
fn lookup(svc: &Dhcpv4, snap: &Snapshot, query: &Query<'_>, now: UnixTime) -> Answer {
    let found: Vec<Lease4> = match query {
        Query::ByIp(ip) => {
            let leases = svc.leases.lock();
            return match leases.lease(*ip) {
                Some(l) if bound(l, now) => Answer::Active(Box::new(l.clone()), Vec::new()),
                Some(_) => Answer::Unassigned,
                None if leases.in_pool(*ip).is_some()
                    || snap.pools.iter().any(|p| p.contains(*ip))
                    || snap.fixed.values().any(|f| f.binding.ip == *ip) =>
                {
                    Answer::Unassigned
                }
                None => Answer::Unknown,
            };
        }
        Query::ByClientId(cid) => client_leases(svc, &ClientKey(cid.to_vec()), now),
        // The client key is option 61 when the client sent one, so a MAC
        // address is looked for in every record's chaddr.
        Query::ByMac { hwaddr, .. } => scan(svc, |l| l.hwaddr == *hwaddr && bound(l, now)),
        Query::ByRemoteId(id) => scan(svc, |l| {
            relay_sub_option(l, sub::REMOTE_ID) == Some(id.as_slice()) && bound(l, now)
        }),
    };
    most_recent(found)
}

/// The client's bindings, by the client key index.
fn client_leases(svc: &Dhcpv4, key: &ClientKey, now: UnixTime) -> Vec<Lease4> {
    svc.leases
        .lock()
        .leases_of(key)
        .filter(|l| bound(l, now))
        .cloned()
        .collect()
}

/// Every record matching `keep`, the lease lock taken one slice at a time.
fn scan(svc: &Dhcpv4, mut keep: impl FnMut(&Lease4) -> bool) -> Vec<Lease4> {
    let mut found = Vec::new();
    let mut next = Some(0);
    while let Some(from) = next {
        next = svc.leases.lock().scan(from, SCAN_SLICE, |l| {
            if keep(l) {
                found.push(l.clone());
            }
        });
    }
    found
}

/// The most recent binding (the latest client transaction, RFC 4388)
/// and the other addresses, most recent first; `Unknown` when none.
fn most_recent(mut found: Vec<Lease4>) -> Answer {
    found.sort_by_key(|l| (std::cmp::Reverse(l.commit_time), l.ip));
    found.dedup_by_key(|l| l.ip);
    let mut it = found.into_iter();
    match it.next() {
        Some(first) => Answer::Active(Box::new(first), it.map(|l| l.ip).collect()),
        None => Answer::Unknown,
    }
}

/// Fills a DHCPLEASEACTIVE from the binding (RFC 4388).
fn active(b: &mut Builder, lease: &Lease4, others: &[Ipv4Addr], now: UnixTime) {
    client_fields(b, lease);
    lease_times(b, lease, now);
    if !others.is_empty() {
        b.push_option(code::ASSOCIATED_IP, &encode_associated_ip(others));
    }
    relay_option(b, lease);
}

/// The binding's address in `ciaddr`, its client in `htype`/`hlen`/`chaddr`
/// and option 61 (RFC 4388 §6.4.2; RFC 6926 answers the same way).
pub(super) fn client_fields(b: &mut Builder, lease: &Lease4) {
    b.ciaddr = lease.ip;
    // The client key is htype + chaddr unless the client sent option 61.
    let key = &lease.client.0;
    let hardware_key = key.get(1..) == Some(lease.hwaddr.as_slice());
    b.htype = match key.first() {
        Some(&t) if hardware_key => t,
        _ if lease.hwaddr.is_empty() => 0,
        _ => 1,
    };
    let hw = lease.hwaddr.get(..16).unwrap_or(lease.hwaddr.as_slice());
    b.hlen = u8::try_from(hw.len()).unwrap_or(16);
    b.chaddr = [0; 16];
    if let Some(dst) = b.chaddr.get_mut(..hw.len()) {
        dst.copy_from_slice(hw);
    }
    if !hardware_key && !key.is_empty() {
        b.push_option(code::CLIENT_ID, key);
    }
}

/// The remaining lease time (51) and the seconds since the client's last
/// transaction (91).
pub(super) fn lease_times(b: &mut Builder, lease: &Lease4, now: UnixTime) {
    let remaining = match lease.expires_at() {
        None => u32::MAX,
        Some(end) => u32::try_from(end.saturating_sub(now)).unwrap_or(u32::MAX - 1),
    };
    b.push_option(code::LEASE_TIME, &remaining.to_be_bytes());
    let since = u32::try_from(now.saturating_sub(lease.commit_time)).unwrap_or(u32::MAX);
    b.push_option(
        code::CLIENT_LAST_TRANSACTION_TIME,
        &encode_client_last_transaction_time(since),
    );
}

/// The relay agent information kept with the lease, for the CMTS to
/// rebuild its table, as option 82, last (RFC 3046 §2.2): the whole
/// option as the relay sent it (but 82.19); for a lease stored before headend kept it,
/// the one sub-option the lease trusted (remote-id, else circuit-id, else
/// subscriber-id).
pub(super) fn relay_option(b: &mut Builder, lease: &Lease4) {
    if let Some(rai) = lease.relay_info.as_deref().filter(|r| !r.is_empty()) {
        // Relay Source Port (82.19, RFC 8357) told how to answer the
        // relay's one message, not who the client is: not echoed.
        let port = |(c, _): &(u8, &[u8])| *c == sub::RELAY_SOURCE_PORT;
        if Tlv8::new(rai).map_while(Result::ok).any(|s| port(&s)) {
            let mut kept = Vec::with_capacity(rai.len());
            for (c, v) in Tlv8::new(rai).map_while(Result::ok).filter(|s| !port(s)) {
                if push_tlv8(&mut kept, c, v).is_err() {
                    return;
                }
            }
            if !kept.is_empty() {
                b.push_option(code::RELAY_AGENT_INFO, &kept);
            }
        } else {
            b.push_option(code::RELAY_AGENT_INFO, rai);
        }
        return;
    }
    if let (Some(id), Some(kind)) = (&lease.trusted_id, lease.trusted_id_type) {
        let sub_code = match kind {
            TrustedIdType::CircuitId => sub::CIRCUIT_ID,
            TrustedIdType::RemoteId => sub::REMOTE_ID,
            TrustedIdType::SubscriberId => sub::SUBSCRIBER_ID,
            TrustedIdType::RelayId => sub::RELAY_ID,
        };
        let mut rai = Vec::with_capacity(id.len() + 2);
        if push_tlv8(&mut rai, sub_code, id).is_ok() {
            b.push_option(code::RELAY_AGENT_INFO, &rai);
        }
    }
}

/// Sub-option `code` of the relay agent information kept with the lease:
/// from the whole option when the lease has it, else from the one trusted
/// sub-option (leases stored before headend kept the whole option).
pub(super) fn relay_sub_option(lease: &Lease4, code: u8) -> Option<&[u8]> {
    if let Some(rai) = lease.relay_info.as_deref() {
        return Tlv8::new(rai)
            .map_while(Result::ok)
            .find_map(|(c, v)| (c == code).then_some(v));
    }
    let kind = match code {
        sub::CIRCUIT_ID => TrustedIdType::CircuitId,
        sub::REMOTE_ID => TrustedIdType::RemoteId,
        sub::SUBSCRIBER_ID => TrustedIdType::SubscriberId,
        sub::RELAY_ID => TrustedIdType::RelayId,
        _ => return None,
    };
    if lease.trusted_id_type == Some(kind) {
        lease.trusted_id.as_deref()
    } else {
        None
    }
}
