//! Issue 21 ("Hardening"): attacks a client or a forged relay can mount on
//! the DHCPv4 pipeline, each reproduced, with the fix's answer checked —
//! relay trust (option 82 and 118), DECLINE starvation and the poison batch.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::net::Ipv4Addr;

use common::*;
use headend_server::counters::Event;
use headend_server::dhcpv4::Outcome;
use headend_wire::dhcpv4::{code, MessageType};

const CM: [u8; 6] = [0x00, 0x10, 0x95, 0x00, 0x00, 0x01];

/// A relay no `[[pool]]` lists.
const STRANGER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

fn cm(mac: [u8; 6]) -> Req {
    Req::new(mac).vendor_class("docsis3.0:")
}

/// `BASE` with extra `[dhcpv4]` settings.
fn with_dhcpv4(extra: &str) -> String {
    BASE.replace(
        "decline_hold = 600\n",
        &format!("decline_hold = 600\n{extra}\n"),
    )
}

/// Option 82 with sub-option 5 (link selection, RFC 3527) naming `net`.
fn link_selection(net: Ipv4Addr) -> Vec<u8> {
    let mut d = vec![5, 4];
    d.extend_from_slice(&net.octets());
    d
}

#[test]
fn option82_in_a_packet_no_relay_forwarded_is_dropped() {
    // A client on the local segment writing its own option 82 (a remote-id
    // naming somebody else's modem, a server-id override) is forging it.
    let bed = bed(BASE);
    let mut req = cm(CM).remote_id([0, 0x10, 0x95, 0xaa, 0xbb, 0xcc]);
    req.giaddr = Ipv4Addr::UNSPECIFIED;
    match bed.send(&req.discover()) {
        Outcome::Drop(r) => assert_eq!(r, "option82_without_giaddr"),
        other => panic!("{other:?}"),
    }
    // Layer-2 relay agents declared: believed, and served by a local pool.
    let local = with_dhcpv4("layer2_relay_agents = true").replace(
        "[[pool]]\nname = \"cm\"\ndomains = [\"cablemodems\"]\nrelays = [\"127.0.0.2\"]",
        "[[pool]]\nname = \"cm\"\ndomains = [\"cablemodems\"]\nrelays = [\"127.0.0.2\", \"0.0.0.0\"]",
    );
    let bed = common::bed(&local);
    let offer = bed.reply(&req.discover());
    assert_eq!(offer.mtype(), MessageType::Offer);
}

#[test]
fn link_selection_from_a_relay_nobody_configured_is_ignored() {
    // Before: a packet from any giaddr naming a pool's network in 82.5 was
    // served from that pool.
    let bed = bed(BASE);
    let mut req = cm(CM).opt(
        code::RELAY_AGENT_INFO,
        &link_selection(Ipv4Addr::new(10, 1, 0, 0)),
    );
    req.giaddr = STRANGER;
    match bed.send(&req.discover()) {
        Outcome::Silent(_) | Outcome::Drop(_) => {}
        other => panic!("served through an unknown relay: {other:?}"),
    }
    // The operator vouches for the relay: its link selection is believed.
    let bed = common::bed(&with_dhcpv4("trusted_relays = [\"10.99.0.0/16\"]"));
    let offer = bed.reply(&req.discover());
    assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 1, 0, 10));
}

#[test]
fn a_client_picks_its_subnet_with_option_118_only_where_allowed() {
    let bed = bed(BASE);
    let mut req = cm(CM).opt(118, &[10, 1, 0, 1]);
    req.giaddr = STRANGER;
    match bed.send(&req.discover()) {
        Outcome::Silent(_) | Outcome::Drop(_) => {}
        other => panic!("option 118 honoured by default: {other:?}"),
    }
    let bed = common::bed(&with_dhcpv4("subnet_selection = true"));
    let offer = bed.reply(&req.discover());
    assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 1, 0, 10));
}

#[test]
fn an_offer_cannot_be_declined_into_quarantine() {
    // Before: DISCOVER + DECLINE quarantined the offered address for an
    // hour, so a client could empty a pool without ever holding a lease.
    let bed = bed(BASE);
    let offer = bed.reply(&cm(CM).discover());
    let ip = offer.yiaddr();
    match bed.send(&cm(CM).decline(ip)) {
        Outcome::Silent(r) => assert_eq!(r, "decline_unknown_binding"),
        other => panic!("{other:?}"),
    }
    assert_eq!(bed.server.counters().get(Event::Decline), 0);
    let stats = bed.server.dhcpv4().leases.lock().stats(1_700_000_000);
    assert_eq!(stats.declined, 0);
    // The offer still stands: the same client gets the same address.
    assert_eq!(dora(&bed, &cm(CM)).yiaddr(), ip);
    // Bound, the address can be declined (RFC 2131 §3.1 step 5).
    assert!(matches!(bed.send(&cm(CM).decline(ip)), Outcome::Commit(_)));
    assert_eq!(bed.server.counters().get(Event::Decline), 1);
}

#[test]
fn one_circuit_cannot_decline_a_pool_away() {
    let bed = bed(&with_dhcpv4("declines_per_minute = 3"));
    // Devices behind one modem (one circuit): DORA, then DECLINE, each.
    let behind = |i: u8| cm([0, 0x10, 0x95, 0x10, 0, i]).remote_id([0, 0x10, 0x95, 0, 0, 0x99]);
    let mut quarantined = 0;
    let mut refused = 0;
    for i in 0..8 {
        let req = behind(i);
        let ip = dora(&bed, &req).yiaddr();
        match bed.send(&req.decline(ip)) {
            Outcome::Commit(_) => quarantined += 1,
            Outcome::Silent("decline_rate_limited") => refused += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((quarantined, refused), (3, 5));
    // Another circuit has its own budget.
    let ip = dora(&bed, &cm(CM)).yiaddr();
    assert!(matches!(bed.send(&cm(CM).decline(ip)), Outcome::Commit(_)));
}

#[test]
fn a_client_id_no_store_can_key_is_refused_at_parse() {
    // RFC 3396 concatenation: two option 61 instances of 200 bytes make a
    // 400-byte client identifier. Before: it passed parsing and failed its
    // commit group in the store.
    let bed = bed(BASE);
    let part = vec![7u8; 200];
    let req = cm(CM)
        .opt(code::CLIENT_ID, &part)
        .opt(code::CLIENT_ID, &part);
    match bed.send(&req.discover()) {
        Outcome::Drop(r) => assert_eq!(r, "client_id_too_long"),
        other => panic!("{other:?}"),
    }
    // 255 bytes is the longest key and is served.
    let req = cm(CM).opt(code::CLIENT_ID, &[7u8; 255]);
    assert_eq!(bed.reply(&req.discover()).mtype(), MessageType::Offer);
}

#[test]
fn a_discover_flood_stores_no_account_and_a_lease_stores_its_account() {
    // Before: every DISCOVER of a new MAC created an account in memory and
    // in the store (a flood of 100,000 random MACs persisted 49,993), and a
    // device whose first DISCOVER went unanswered kept an in-memory account
    // that was never persisted, even once it held a lease.
    let bed = bed(BASE);
    let accounts = || bed.server.dhcpv4().accounts.len();
    let commits_account = |o: &Outcome| match o {
        Outcome::Reply { commit, .. } | Outcome::Commit(commit) => commit
            .iter()
            .any(|m| matches!(m, headend_store::Mutation::PutAccount(_))),
        _ => false,
    };
    for i in 0..2_000u32 {
        let b = i.to_be_bytes();
        let mut req = cm([0x02, 0x66, b[0], b[1], b[2], b[3]]);
        // Most through a relay no pool serves (unanswered); a few offered
        // (the "cm" pool holds 10 addresses).
        if i % 250 != 0 {
            req.giaddr = STRANGER;
        }
        let out = bed.send(&req.discover());
        assert!(!commits_account(&out), "DISCOVER {i} stores an account");
    }
    assert_eq!(accounts(), 0, "offers and silence create no account");

    // First DISCOVER unanswered, then a full DORA: the ACK's commit carries
    // the account with the lease.
    let late = [0x02, 0x66, 0, 0, 0, 1];
    let ip = {
        let offer = bed.reply(&cm(late).discover());
        offer.yiaddr()
    };
    let ack = bed.send(&cm(late).request_selecting(ip));
    assert!(
        commits_account(&ack),
        "the first binding persists the account"
    );
    assert_eq!(accounts(), 1);
    assert_eq!(
        bed.server.counters().get_in(
            headend_server::counters::Family::Dhcpv4,
            Event::AutoProvisioned
        ),
        1
    );
    // A renewal does not store it again.
    let renew = bed.send(&cm(late).renew(ip));
    assert!(!commits_account(&renew));
}

#[test]
fn one_circuit_cannot_hold_a_pool_with_offers() {
    // Before: a DISCOVER flood held one address per random MAC for the
    // whole offer hold, until the pool ran dry (65,520 addresses with 30 s
    // holds), and each held offer kept its composed options (~1.9 KiB).
    let bed = bed(&with_dhcpv4("max_offers_per_circuit = 3"));
    let flood = |i: u8| cm([0x02, 0x77, 0, 0, 0, i]).remote_id([0, 0x10, 0x95, 0, 0, 0x66]);
    let mut offered = Vec::new();
    for i in 0..20 {
        offered.push(bed.reply(&flood(i).discover()).yiaddr());
    }
    // Every DISCOVER was answered from the 10-address "cm" pool: the
    // circuit's oldest offers were recycled, never the pool exhausted.
    assert_eq!(
        bed.server.counters().get(Event::OfferRecycled),
        17,
        "{offered:?}"
    );
    // A device of another circuit booting for the first time gets an offer
    // and its lease.
    let ip = dora(&bed, &cm(CM)).yiaddr();
    assert!(
        !offered[17..].contains(&ip),
        "{ip} is still held for the flood"
    );
    // So does a device of the flooded circuit that REQUESTs promptly.
    let prompt = flood(200);
    let ip = dora(&bed, &prompt).yiaddr();
    assert!(!ip.is_unspecified());
    // A recycled offer's REQUEST is NAKed: the client starts over.
    let late = bed.reply(&flood(0).request_selecting(offered[0]));
    assert_eq!(late.mtype(), MessageType::Nak);
}

#[test]
fn a_client_that_selects_another_server_frees_its_offer() {
    let bed = bed(&with_dhcpv4("max_offers_per_circuit = 100"));
    let ip = bed.reply(&cm(CM).discover()).yiaddr();
    // REQUEST naming another server (RFC 2131 §4.3.2): our offer is withdrawn.
    let other = cm(CM)
        .opt(code::SERVER_ID, &[192, 0, 2, 99])
        .opt(code::REQUESTED_IP, &ip.octets());
    assert!(matches!(
        bed.send(&other.build(MessageType::Request, &[])),
        Outcome::Silent("selected_other_server")
    ));
    // The address is free at once: another device asking for it gets it.
    let next = cm([0x02, 0x78, 0, 0, 0, 1]).opt(code::REQUESTED_IP, &ip.octets());
    assert_eq!(bed.reply(&next.discover()).yiaddr(), ip);
}
