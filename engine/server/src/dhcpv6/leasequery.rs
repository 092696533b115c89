//! DHCPv6 Leasequery (RFC 5007) over UDP, and the lookups and answers
//! Bulk Leasequery (RFC 5460, [`super::bulk`]) shares with it: a CMTS
//! that lost its table of who sits behind which interface asks which
//! client holds an address or prefix, or what a client holds.
//!
//! Who may ask: `[dhcpv6] leasequery_requesters`. A LEASEQUERY from
//! anybody else (its source, and the requestor behind a relay) is answered
//! with status NotAllowed and counted as `leasequery_refused`: RFC 5007
//! §4.1.3 defines that refusal, and it tells a stranger nothing about any
//! binding and is no bigger than the query, so it is no amplifier (the
//! DHCPv4 side stays silent because RFC 4388 has no refusal to send, and
//! its answer would go to giaddr, a third address). A LEASEQUERY the
//! server cannot address an answer to (no Client Identifier, options that
//! do not frame) is dropped and counted; one it can but cannot run is
//! answered UnknownQueryType or MalformedQuery and counted as dropped
//! under its reason too. Query types 3-5 are Bulk Leasequery's only (RFC
//! 5460 §6): over UDP they are answered NotAllowed.
//!
//! Answers (RFC 5007 §4.3.3): LEASEQUERY-REPLY with the Server and
//! Client Identifiers, and for a client found one OPTION_CLIENT_DATA with
//! its DUID, every address (IAADDR) and delegated prefix (IAPREFIX) it
//! holds on that link with the remaining lifetimes, OPTION_CLT_TIME and,
//! when the query's ORO asks for it, OPTION_LQ_RELAY_DATA as kept with its
//! most recent binding. A query by client id without a link whose client
//! has bindings on several links gets OPTION_LQ_CLIENT_LINK with them
//! instead. An address of no pool: NotConfigured; of a pool but held by
//! nobody: no client data. Leasequery reads the binding table and never
//! changes it.

use std::net::{Ipv6Addr, SocketAddrV6};

use headend_model::trace::Trace;
use headend_model::v6::{Dhcpv6Settings, Pool6Kind};
use headend_store::{Lease6, Lease6Key, Lease6Kind, LeaseState, Relay6, UnixTime};
use headend_wire::dhcpv6::code::{self, Status};
use headend_wire::dhcpv6::leasequery::{relay_data_message, relay_layers, Leasequery, Query};
use headend_wire::dhcpv6::{Builder, EncodeError, MessageType, Relayed};

use super::leases::LeaseTable6;
use super::process::{Dhcpv6, Outcome6};
use crate::counters::{Event, Family};

/// The relay data a binding keeps (RFC 5007 §4.1.2.4): the relay the
/// message came from (the datagram's source) and the Relay-forward chain
/// without the client's message; `None` for a client that sent directly.
pub fn relay_of(relayed: &Relayed<'_>, source: &SocketAddrV6) -> Option<Relay6> {
    let message = relay_data_message(&relayed.relays).ok()??;
    Some(Relay6 {
        peer_address: *source.ip(),
        message,
    })
}

/// Whether `ip` is one of the configured leasequery requesters.
pub fn allowed(d6: &Dhcpv6Settings, ip: &Ipv6Addr) -> bool {
    d6.leasequery_requesters.iter().any(|n| n.contains(ip))
}

/// One client's bindings on one link: what one OPTION_CLIENT_DATA carries
/// (RFC 5007 §4.1.2.2), most recent binding first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientBindings {
    /// The client's DUID.
    pub duid: Vec<u8>,
    /// The link the bindings are on.
    pub link: Ipv6Addr,
    /// The active bindings, most recent first.
    pub bindings: Vec<Lease6>,
}

/// What a query by address or client id found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The client data to send (empty: nobody holds it).
    Clients(Vec<ClientBindings>),
    /// The client has bindings on several links (OPTION_LQ_CLIENT_LINK).
    Links(Vec<Ipv6Addr>),
}

/// Whether `l` holds its resource at `now`.
pub fn active(l: &Lease6, now: UnixTime) -> bool {
    l.state == LeaseState::Active && l.is_current(now)
}

/// Whether some pool serves `link` (a query's link-address must be one).
fn known_link(d6: &Dhcpv6Settings, link: Ipv6Addr) -> bool {
    link.is_unspecified() || d6.pools.iter().any(|p| p.links.contains(&link))
}

/// `client`'s active bindings on `link`, most recent first.
fn client_on(table: &LeaseTable6, duid: &[u8], link: Ipv6Addr, now: UnixTime) -> ClientBindings {
    let mut bindings: Vec<Lease6> = table
        .of_client(duid)
        .into_iter()
        .filter(|l| active(l, now) && l.link == link)
        .cloned()
        .collect();
    sort_recent(&mut bindings);
    ClientBindings {
        duid: duid.to_vec(),
        link,
        bindings,
    }
}

fn sort_recent(v: &mut [Lease6]) {
    v.sort_by_key(|l| {
        (
            std::cmp::Reverse(l.commit_time),
            l.kind == Lease6Kind::Pd,
            l.key(),
        )
    });
}

/// Answers a query by address or client id from the table (RFC 5007
/// §4.3.2); `Err` is the status to answer with. `bulk`: a client on
/// several links gets one client data per link instead of
/// OPTION_LQ_CLIENT_LINK (RFC 5460 streams a message per client and link).
pub fn lookup(
    table: &LeaseTable6,
    d6: &Dhcpv6Settings,
    query: &Query<'_>,
    now: UnixTime,
    bulk: bool,
) -> Result<Found, (Status, &'static str)> {
    if !known_link(d6, query.link()) {
        return Err((Status::NotConfigured, "not a configured link"));
    }
    match *query {
        Query::ByAddress { address, link } => {
            let mut keys = vec![Lease6Key {
                address,
                prefix_len: 128,
            }];
            // A delegated prefix containing the address: one key per
            // prefix pool holding the address.
            for p in &d6.pools {
                if p.kind == Pool6Kind::Pd && p.prefix.contains(&address) {
                    let bits = u32::from(p.delegated_length);
                    let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                    keys.push(Lease6Key {
                        address: Ipv6Addr::from(u128::from(address) & mask),
                        prefix_len: p.delegated_length,
                    });
                }
            }
            let held = keys
                .iter()
                .filter_map(|k| table.get(k))
                .find(|l| active(l, now) && (link.is_unspecified() || l.link == link));
            match held {
                Some(l) => Ok(Found::Clients(vec![client_on(table, &l.duid, l.link, now)])),
                None if d6.pools.iter().any(|p| p.prefix.contains(&address)) => {
                    Ok(Found::Clients(Vec::new()))
                }
                None => Err((Status::NotConfigured, "address not in a configured pool")),
            }
        }
        Query::ByClientId { duid, link } => {
            let mut links: Vec<Ipv6Addr> = table
                .of_client(duid)
                .into_iter()
                .filter(|l| active(l, now) && (link.is_unspecified() || l.link == link))
                .map(|l| l.link)
                .collect();
            links.sort();
            links.dedup();
            if links.len() > 1 && !bulk {
                return Ok(Found::Links(links));
            }
            Ok(Found::Clients(
                links
                    .into_iter()
                    .map(|l| client_on(table, duid, l, now))
                    .collect(),
            ))
        }
        _ => Err((Status::NotAllowed, "query type only over Bulk Leasequery")),
    }
}

/// Whether binding `l` answers a Bulk Leasequery by relay id, link
/// address or remote id (RFC 5460 §5.4.2): the link-address, or an
/// OPTION_RELAY_ID / OPTION_REMOTE_ID in any layer of the relay data kept
/// with it; a non-`::` link-address limits the others to that link.
pub fn matches(query: &Query<'_>, l: &Lease6) -> bool {
    let link = query.link();
    if !link.is_unspecified() && l.link != link {
        return false;
    }
    let relay_option = |c: u16, want: &[u8]| {
        l.relay.as_ref().is_some_and(|r| {
            relay_layers(&r.message)
                .map(|layers| {
                    layers
                        .iter()
                        .any(|x| x.options.get_all(c).any(|v| v == want))
                })
                .unwrap_or(false)
        })
    };
    match *query {
        Query::ByLinkAddress { .. } => true,
        Query::ByRelayId { relay_id, .. } => relay_option(code::RELAY_ID, relay_id),
        Query::ByRemoteId { remote_id, .. } => relay_option(code::REMOTE_ID, remote_id),
        Query::ByAddress { .. } | Query::ByClientId { .. } => false,
    }
}

/// When a walk meets binding `l` that matches `query`: the client's
/// bindings on its link that match too, if `l` is the first of them in
/// key order (so each client is sent once, whichever of its bindings the
/// walk meets first), else `None`.
pub fn client_if_first(
    table: &LeaseTable6,
    query: &Query<'_>,
    l: &Lease6,
    now: UnixTime,
) -> Option<ClientBindings> {
    if !active(l, now) || !matches(query, l) {
        return None;
    }
    // Decide on borrowed records; clone only the client that is sent.
    let mine: Vec<&Lease6> = table
        .of_client(&l.duid)
        .into_iter()
        .filter(|b| active(b, now) && b.link == l.link && (b.key() == l.key() || matches(query, b)))
        .collect();
    let first = mine.iter().map(|b| b.key()).min()?;
    if first != l.key() {
        return None;
    }
    let mut bindings: Vec<Lease6> = mine.into_iter().cloned().collect();
    sort_recent(&mut bindings);
    Some(ClientBindings {
        duid: l.duid.clone(),
        link: l.link,
        bindings,
    })
}

/// Writes one OPTION_CLIENT_DATA (RFC 5007 §4.1.2.2): Client Identifier,
/// every address and prefix with its remaining lifetimes, OPTION_CLT_TIME
/// from the most recent binding, and the relay data when `relay_data`.
pub fn client_data(
    b: &mut Builder,
    c: &ClientBindings,
    now: UnixTime,
    relay_data: bool,
) -> Result<(), EncodeError> {
    b.client_data(|cd| {
        cd.client_id(&c.duid)?;
        for l in &c.bindings {
            let elapsed = now.saturating_sub(l.commit_time);
            let left = |t: u32| {
                if t == u32::MAX {
                    t
                } else {
                    u32::try_from(u64::from(t).saturating_sub(elapsed)).unwrap_or(0)
                }
            };
            match l.kind {
                Lease6Kind::Na => cd.ia_addr(l.address, left(l.preferred), left(l.valid))?,
                Lease6Kind::Pd => {
                    cd.ia_prefix(l.address, l.prefix_len, left(l.preferred), left(l.valid))?
                }
            };
        }
        if let Some(last) = c.bindings.first() {
            let since = now.saturating_sub(last.commit_time);
            cd.clt_time(u32::try_from(since).unwrap_or(u32::MAX))?;
        }
        if relay_data {
            if let Some(r) = c.bindings.iter().find_map(|l| l.relay.as_ref()) {
                cd.lq_relay_data(r.peer_address, &r.message)?;
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// A LEASEQUERY-REPLY (or LEASEQUERY-DATA / -DONE) header: the message,
/// and for a reply the Server and Client Identifiers.
pub fn reply_head(
    mtype: MessageType,
    transaction_id: u32,
    server_duid: &[u8],
    client_id: &[u8],
) -> Result<Builder, EncodeError> {
    let mut b = Builder::message(mtype, transaction_id);
    if mtype == MessageType::LeasequeryReply {
        b.server_id(server_duid)?;
        b.client_id(client_id)?;
    }
    Ok(b)
}

/// Answers one LEASEQUERY that came over UDP (message type 14).
pub(super) fn handle(
    svc: &Dhcpv6,
    d6: &Dhcpv6Settings,
    relayed: &Relayed<'_>,
    source: SocketAddrV6,
    trace: &mut Trace,
) -> Outcome6 {
    let lq = match Leasequery::parse(&relayed.message) {
        Ok(q) => q,
        Err(e) => {
            trace.note(|| format!("LEASEQUERY dropped: {e}"));
            return Outcome6::Drop(e.reason());
        }
    };
    if lq.server_id.is_some_and(|s| s != svc.server_duid()) {
        return Outcome6::Silent("other_server");
    }
    // The requestor: the datagram's source, and behind relays the
    // innermost relay's peer too.
    let requestor_ok = allowed(d6, source.ip())
        && relayed
            .innermost()
            .is_none_or(|r| allowed(d6, &r.peer_address));
    let now = svc.now();
    let answer: Result<Found, (Status, &'static str)> = if !requestor_ok {
        svc.counters
            .count_in(Family::Dhcpv6, Event::LeasequeryRefused);
        trace.note(|| format!("LEASEQUERY from {source}: not a leasequery requester"));
        Err((Status::NotAllowed, "not a leasequery requester"))
    } else {
        match &lq.query {
            Err(e) => {
                svc.counters.drop_in(Family::Dhcpv6, e.reason());
                trace.note(|| format!("LEASEQUERY: {e}"));
                Err((
                    e.status().unwrap_or(Status::MalformedQuery),
                    "malformed query",
                ))
            }
            Ok(q) if q.bulk_only() => Err((
                Status::NotAllowed,
                "query type only over Bulk Leasequery (RFC 5460)",
            )),
            Ok(q) => lookup(&svc.leases.lock(), d6, q, now, false),
        }
    };
    let encoded = (|| -> Result<Vec<u8>, EncodeError> {
        let mut b = reply_head(
            MessageType::LeasequeryReply,
            lq.transaction_id,
            svc.server_duid(),
            lq.client_id,
        )?;
        match &answer {
            Err((s, m)) => {
                b.status_code(*s, m)?;
            }
            Ok(Found::Links(links)) => {
                b.lq_client_link(links)?;
            }
            Ok(Found::Clients(clients)) => {
                if let Some(c) = clients.first() {
                    client_data(&mut b, c, now, lq.wants_relay_data())?;
                }
            }
        }
        relayed.wrap_reply(&b.finish())
    })();
    let packet = match encoded {
        Ok(p) => p,
        Err(_) => return Outcome6::Drop("encode_failed"),
    };
    if requestor_ok {
        svc.counters.count_in(Family::Dhcpv6, Event::Leasequery);
    }
    trace.note(|| {
        let kind = lq.query.as_ref().map(|q| q.kind()).unwrap_or("malformed");
        match &answer {
            Ok(Found::Clients(c)) => format!("LEASEQUERY by {kind}: {} client(s)", c.len()),
            Ok(Found::Links(l)) => format!("LEASEQUERY by {kind}: client on {} links", l.len()),
            Err((s, m)) => format!("LEASEQUERY by {kind}: {} ({m})", s.name()),
        }
    });
    Outcome6::Reply {
        packet,
        to: source,
        commit: Vec::new(),
        durable: false,
    }
}
