//! The DHCPv4 pipeline end to end, without sockets: classification, pool
//! selection, the RFC 2131 state machine, option composition and the
//! CableLabs rules of seed 000 Table 2.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::net::{Ipv4Addr, SocketAddrV4};

use common::*;
use headend_model::trace::Trace;
use headend_server::counters::Event;
use headend_server::dhcpv4::Outcome;
use headend_wire::cablelabs::Ccc;
use headend_wire::dhcpv4::{code, MessageType};
use headend_wire::suboptions::VendorIdentifying;

const CM: [u8; 6] = [0x00, 0x10, 0x95, 0x00, 0x00, 0x01];
const CM2: [u8; 6] = [0x00, 0x10, 0x95, 0x00, 0x00, 0x02];
const MTA: [u8; 6] = [0x00, 0x10, 0x95, 0x0e, 0x00, 0x01];
const PC: [u8; 6] = [0x3c, 0x00, 0x00, 0x00, 0x00, 0x01];

fn cl_subs(reply: &Reply) -> Vec<(u8, Vec<u8>)> {
    let Some(v) = reply.opt(code::VENDOR_SPECIFIC_VI) else {
        return Vec::new();
    };
    let data = VendorIdentifying::merged(&v, 4491).unwrap().unwrap();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < data.len() {
        let (c, l) = (data[i], data[i + 1] as usize);
        out.push((c, data[i + 2..i + 2 + l].to_vec()));
        i += 2 + l;
    }
    out
}

fn cm() -> Req {
    Req::new(CM)
        .vendor_class("docsis3.0:")
        .prl(&[1, 3, 4, 6, 66])
}

#[test]
fn cable_modem_dora_through_the_relay() {
    let bed = bed(BASE);
    let offer = bed.reply(&cm().discover());
    assert_eq!(offer.mtype(), MessageType::Offer);
    assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 1, 0, 10));
    assert_eq!(
        offer.to,
        SocketAddrV4::new(RELAY, 67),
        "replies go to giaddr:67"
    );
    assert!(!offer.durable);
    let codes = offer.codes();
    assert_eq!(&codes[..5], &[53, 54, 51, 58, 59], "{codes:?}");
    assert_eq!(
        offer.opt(code::SUBNET_MASK).unwrap(),
        vec![255, 255, 255, 0]
    );
    assert_eq!(offer.opt(code::ROUTER).unwrap(), vec![10, 1, 0, 1]);
    assert_eq!(offer.opt(4).unwrap(), vec![10, 0, 0, 5]);
    // The seed's example: TFTP server = relay address + 1.
    assert_eq!(offer.opt(66).unwrap(), b"127.0.0.3".to_vec());
    assert_eq!(cl_subs(&offer), vec![(2, vec![127, 0, 0, 3])]);
    // Optional policy of "all": 6 requested in 55, so sent.
    assert_eq!(offer.opt(6).unwrap(), vec![192, 0, 2, 53]);
    // 122 was not requested.
    assert!(offer.opt(122).is_none());
    assert_eq!(offer.opt(51).unwrap(), 3600u32.to_be_bytes().to_vec());

    let ack = bed.reply(&cm().request_selecting(offer.yiaddr()));
    assert_eq!(ack.mtype(), MessageType::Ack);
    assert!(ack.durable, "an ACK waits for its lease to be committed");
    assert!(ack.commits >= 1);
    assert_eq!(ack.yiaddr(), offer.yiaddr());
    assert_eq!(bed.server.counters().get(Event::Ack), 1);
}

#[test]
fn option_122_and_cccv6_only_when_requested_with_ip_pref() {
    let bed = bed(BASE);
    // Table 2 CM1: 55 has 122; CL ORO asks for 123 and 124; IP_PREF b'111 announced.
    let req = Req::new(CM)
        .vendor_class("docsis3.0:")
        .prl(&[1, 3, 122, 125])
        .cl125(&[(1, &[123, 124]), (124, &[7])]);
    let offer = bed.reply(&req.discover());
    let ccc = Ccc::decode(&offer.opt(122).expect("122 requested")).unwrap();
    assert_eq!(ccc.primary_dhcp, Some(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!(ccc.secondary_dhcp, Some(Ipv4Addr::new(10, 0, 0, 2)));
    let subs = cl_subs(&offer);
    let cccv6 = subs
        .iter()
        .find(|(c, _)| *c == 123)
        .expect("CCCv6 requested")
        .1
        .clone();
    assert_eq!(cccv6, [&[1u8, 9][..], b"lab-dhcp6"].concat());
    assert_eq!(
        subs.iter().find(|(c, _)| *c == 124).unwrap().1,
        vec![5],
        "b'101 allowed: the eCM announced b'111"
    );
    // CM4: the ACK carries every option of the OFFER.
    let ack = bed.reply(&req.request_selecting(offer.yiaddr()));
    assert_eq!(ack.opt(122), offer.opt(122));
    assert_eq!(cl_subs(&ack), subs);
}

#[test]
fn ip_pref_dual_stack_values_never_go_to_a_device_that_did_not_announce_111() {
    let bed = bed(BASE);
    let req = Req::new(CM)
        .vendor_class("docsis3.0:")
        .prl(&[122, 125])
        .cl125(&[(1, &[123, 124])]);
    let offer = bed.reply(&req.discover());
    let subs = cl_subs(&offer);
    assert_eq!(
        subs.iter().find(|(c, _)| *c == 124).unwrap().1,
        vec![1],
        "b'101 reduced to b'001 (seed 000 6.7 case 3)"
    );
}

#[test]
fn nothing_cablelabs_when_not_requested() {
    let bed = bed(BASE);
    // 122 requested, but no CL ORO: no CCCv6 and no IP_PREF (not requested, not both asked).
    let req = Req::new(CM).vendor_class("docsis3.0:").prl(&[122]);
    let offer = bed.reply(&req.discover());
    assert!(offer.opt(122).is_some());
    let subs = cl_subs(&offer);
    assert!(subs.iter().all(|(c, _)| *c != 123 && *c != 124), "{subs:?}");
    // CCCv6 asked in the ORO without 122 in 55: CCCv6 only.
    let req = Req::new(CM2)
        .vendor_class("docsis3.0:")
        .prl(&[125])
        .cl125(&[(1, &[123])]);
    let offer = bed.reply(&req.discover());
    assert!(offer.opt(122).is_none());
    assert!(cl_subs(&offer).iter().any(|(c, _)| *c == 123));
}

#[test]
fn emta_gets_flow_from_its_capabilities() {
    let bed = bed(BASE);
    // pktc2.0 with TLV 5.18 supported flows = 0x0007 (secure|hybrid|basic).
    let vc = "pktc2.0:0504120200 07";
    let vc = vc.replace(' ', "");
    let req = Req::new(MTA)
        .opt(code::VENDOR_CLASS, vc.as_bytes())
        .prl(&[1, 3, 6, 12, 122]);
    let offer = bed.reply(&req.discover());
    assert_eq!(offer.yiaddr(), Ipv4Addr::new(10, 2, 0, 10), "eMTA pool");
    let ccc = Ccc::decode(&offer.opt(122).unwrap()).unwrap();
    assert_eq!(ccc.realm.as_deref(), Some("HYBRID.2"));
    let raw = offer.opt(122).unwrap();
    let realm = [
        0x06, 0x0a, 0x06, b'H', b'Y', b'B', b'R', b'I', b'D', 0x01, b'2', 0x00,
    ];
    assert!(raw.windows(realm.len()).any(|w| w == realm), "{raw:02x?}");
    assert!(offer.opt(12).is_some(), "host name from an expression");
    // Basic-only device: BASIC.1.
    let req = Req::new([0, 0x10, 0x95, 0x0e, 0, 2])
        .opt(code::VENDOR_CLASS, b"pktc2.0:050412020004")
        .prl(&[122]);
    let offer = bed.reply(&req.discover());
    assert_eq!(
        Ccc::decode(&offer.opt(122).unwrap())
            .unwrap()
            .realm
            .as_deref(),
        Some("BASIC.1")
    );
}

#[test]
fn cpe_needs_a_modem_behind_it() {
    let bed = bed(BASE);
    let offer = bed.reply(&Req::new(PC).remote_id(CM).discover());
    assert_eq!(offer.yiaddr(), Ipv4Addr::new(100, 64, 0, 10));
    // Option 82 is echoed last (RFC 3046).
    assert_eq!(*offer.codes().last().unwrap(), code::RELAY_AGENT_INFO);
    // No remote-id: no domain, no pool: no answer.
    match bed.send(&Req::new([0x3c, 0, 0, 0, 0, 2]).discover()) {
        Outcome::Silent(r) => assert_eq!(r, "no_pool_for_network"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn moving_an_account_between_domains_changes_the_next_exchange() {
    let with_account =
        format!("{BASE}\n[[account]]\nid = \"00:10:95:00:00:01\"\ndomains = [ \"cablemodems\" ]\n");
    let bed = bed(&with_account);
    let ack = dora(&bed, &cm());
    assert_eq!(ack.yiaddr(), Ipv4Addr::new(10, 1, 0, 10));
    // Move the modem to "gold" and reload.
    bed.rewrite(&with_account.replace("domains = [ \"cablemodems\" ]\n", "domains = [\"gold\"]\n"));
    bed.server.reload().unwrap();
    // Its lease comes from a pool of a domain it left: the renewal is NAKed (seed 004 3.1).
    let nak = bed.reply(&cm().renew(ack.yiaddr()));
    assert_eq!(nak.mtype(), MessageType::Nak);
    // Starting over, it gets the gold pool.
    let ack2 = dora(&bed, &cm());
    assert_eq!(ack2.yiaddr(), Ipv4Addr::new(10, 9, 0, 10));
}

#[test]
fn ack_carries_every_offered_option_even_across_a_reload() {
    let bed = bed(BASE);
    let req = Req::new(CM).vendor_class("docsis3.0:").prl(&[122]);
    let offer = bed.reply(&req.discover());
    assert!(offer.opt(122).is_some());
    // The operator removes the voice policy between OFFER and REQUEST.
    let start = BASE.find("[[policy]]\nname = \"voice\"").unwrap();
    let end = BASE.find("[[policy]]\nname = \"packetcable\"").unwrap();
    bed.rewrite(&format!("{}{}", &BASE[..start], &BASE[end..]));
    bed.server.reload().unwrap();
    let ack = bed.reply(&req.request_selecting(offer.yiaddr()));
    assert_eq!(ack.mtype(), MessageType::Ack);
    assert_eq!(ack.opt(122), offer.opt(122), "seed 000 Table 2 CM4");
    // A later, fresh exchange follows the new configuration.
    let other = bed.reply(
        &Req::new(CM2)
            .vendor_class("docsis3.0:")
            .prl(&[122])
            .discover(),
    );
    assert!(other.opt(122).is_none());
}

#[test]
fn a_broken_reload_keeps_the_running_configuration() {
    let bed = bed(BASE);
    bed.rewrite(&BASE.replace("network = \"10.1.0.0/24\"", "network = \"10.1.0.0/33\""));
    let err = bed.server.reload().unwrap_err().to_string();
    assert!(err.contains("headend.toml:"), "{err}");
    assert!(err.contains("fix:"), "{err}");
    assert_eq!(bed.server.snapshot().generation, 1);
    dora(&bed, &cm());
    // Restart-only settings are refused by reload.
    bed.rewrite(&BASE.replace("127.0.0.1:0", "127.0.0.1:1"));
    let err = bed.server.reload().unwrap_err().to_string();
    assert!(err.contains("cannot change by reload"), "{err}");
}

#[test]
fn decline_quarantines_the_address() {
    let bed = bed(BASE);
    let ack = dora(&bed, &cm());
    let ip = ack.yiaddr();
    match bed.send(&cm().decline(ip)) {
        Outcome::Commit(m) => assert_eq!(m.len(), 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(bed.server.counters().get(Event::Decline), 1);
    // Nobody gets it while it is quarantined, not even the same client.
    let offer = bed.reply(&cm().discover());
    assert_ne!(offer.yiaddr(), ip);
    let other = bed.reply(&Req::new(CM2).vendor_class("docsis3.0:").discover());
    assert_ne!(other.yiaddr(), ip);
    bed.advance(601);
    // After the quarantine it is free again (the pool hands out the lowest free address first).
    let later = bed.reply(
        &Req::new([0, 0x10, 0x95, 0, 0, 3])
            .vendor_class("docsis3.0:")
            .discover(),
    );
    assert!(
        later.yiaddr() == ip
            || bed.server.dhcpv4().leases.lock().is_available_for(
                ip,
                &headend_store::ClientKey::from_hardware(1, &[9; 6]),
                bed.clock.load(std::sync::atomic::Ordering::Relaxed)
            )
    );
}

#[test]
fn release_then_return_gets_the_same_address() {
    let bed = bed(BASE);
    let ip = dora(&bed, &cm()).yiaddr();
    assert!(matches!(bed.send(&cm().release(ip)), Outcome::Commit(_)));
    // Another client comes first, the released one comes back: it keeps its address.
    let other = dora(&bed, &Req::new(CM2).vendor_class("docsis3.0:"));
    assert_ne!(other.yiaddr(), ip);
    assert_eq!(dora(&bed, &cm()).yiaddr(), ip);
}

#[test]
fn init_reboot_and_renewal() {
    let bed = bed(BASE);
    let ip = dora(&bed, &cm()).yiaddr();
    let ack = bed.reply(&cm().request_init_reboot(ip));
    assert_eq!(ack.mtype(), MessageType::Ack);
    let ack = bed.reply(&cm().renew(ip));
    assert_eq!(ack.mtype(), MessageType::Ack);
    // Wrong network: NAK.
    let nak = bed.reply(&cm().request_init_reboot(Ipv4Addr::new(192, 168, 7, 7)));
    assert_eq!(nak.mtype(), MessageType::Nak);
    assert!(
        nak.packet().broadcast(),
        "a NAK through a relay has the broadcast bit (RFC 2131 4.3.2)"
    );
    // Someone else's address: NAK.
    let nak = bed.reply(
        &Req::new(CM2)
            .vendor_class("docsis3.0:")
            .request_init_reboot(ip),
    );
    assert_eq!(nak.mtype(), MessageType::Nak);
    // The lease expires; renewing an expired lease is still honoured if the address is free.
    bed.advance(4000);
    let ack = bed.reply(&cm().renew(ip));
    assert_eq!(ack.mtype(), MessageType::Ack);
}

#[test]
fn client_choosing_another_server_withdraws_our_offer() {
    let bed = bed(BASE);
    let offer = bed.reply(&cm().discover());
    let req = cm().build(
        MessageType::Request,
        &[
            (code::SERVER_ID, vec![10, 9, 9, 9]),
            (code::REQUESTED_IP, offer.yiaddr().octets().to_vec()),
        ],
    );
    assert!(matches!(
        bed.send(&req),
        Outcome::Silent("selected_other_server")
    ));
    let nak = bed.reply(&cm().request_selecting(offer.yiaddr()));
    assert_eq!(
        nak.mtype(),
        MessageType::Nak,
        "the withdrawn offer is no longer valid"
    );
}

#[test]
fn pool_exhaustion_and_recovery() {
    let bed = bed(BASE);
    // Pool "cm" has 10.1.0.10-20 minus .11 = 10 addresses.
    let mut got = Vec::new();
    for i in 0..10u8 {
        let ack = dora(
            &bed,
            &Req::new([0, 0x10, 0x95, 1, 0, i]).vendor_class("docsis3.0:"),
        );
        got.push(ack.yiaddr());
    }
    assert!(
        !got.contains(&Ipv4Addr::new(10, 1, 0, 11)),
        "excluded address never leased"
    );
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 10);
    match bed.send(
        &Req::new([0, 0x10, 0x95, 1, 0, 99])
            .vendor_class("docsis3.0:")
            .discover(),
    ) {
        Outcome::Silent(r) => assert_eq!(r, "no_pool_for_network"),
        other => panic!("{other:?}"),
    }
    bed.advance(3601);
    let ack = dora(
        &bed,
        &Req::new([0, 0x10, 0x95, 1, 0, 99]).vendor_class("docsis3.0:"),
    );
    assert!(got.contains(&ack.yiaddr()));
}

#[test]
fn failing_or_runaway_expression_omits_its_option_and_still_answers() {
    let cfg = BASE.replace(
        "time-servers = [\"10.0.0.5\"]",
        "time-servers = [\"10.0.0.5\"]\nlog-servers = { expr = 'let x = 0; loop { x += 1; }' }\nhost-name = { expr = 'throw \"no host name for this device\"' }",
    );
    let bed = bed(&cfg);
    let offer = bed.reply(&cm().prl(&[7, 12]).discover());
    assert_eq!(offer.mtype(), MessageType::Offer);
    assert!(offer.opt(7).is_none());
    assert!(offer.opt(12).is_none());
    assert!(offer.opt(4).is_some());
    assert_eq!(bed.server.counters().get(Event::ExpressionFailed), 2);
    let kinds = bed.server.counters().expression_failures();
    assert_eq!(kinds.get("too_long"), Some(&1), "{kinds:?}");
    assert_eq!(kinds.values().sum::<u64>(), 2, "{kinds:?}");
}

#[test]
fn malformed_datagrams_are_dropped_with_a_reason() {
    let bed = bed(BASE);
    let good = cm().discover();
    for (data, why) in [
        (vec![], "empty"),
        (good[..100].to_vec(), "truncated header"),
        (
            {
                let mut d = good.clone();
                d[0] = 2;
                d
            },
            "a reply",
        ),
        (
            {
                // An option whose length runs past the end of the datagram.
                let mut d = good[..240].to_vec();
                d.extend_from_slice(&[53, 1, 1, 55, 200, 1, 2]);
                d
            },
            "option overrun",
        ),
        (vec![0xff; 1000], "garbage"),
    ] {
        match bed.send(&data) {
            Outcome::Drop(reason) => assert!(!reason.is_empty(), "{why}"),
            other => panic!("{why}: {other:?}"),
        }
    }
    // Every truncation of a valid packet is handled without a panic.
    for n in 0..good.len() {
        let _ = bed.send(&good[..n]);
    }
}

#[test]
fn bootp_client_gets_a_permanent_address() {
    let bed = bed(BASE);
    let req = cm();
    let mut b = headend_wire::dhcpv4::Builder::new();
    b.op = 1;
    b.htype = 1;
    b.hlen = 6;
    b.xid = 7;
    b.giaddr = RELAY;
    b.chaddr[..6].copy_from_slice(&req.mac);
    b.push_option(code::VENDOR_CLASS, b"docsis1.0:");
    let data = b.encode(576).unwrap();
    let reply = bed.reply(&data);
    let p = reply.packet();
    assert!(
        p.options.message_type().is_none(),
        "BOOTREPLY has no option 53"
    );
    assert_eq!(p.yiaddr, Ipv4Addr::new(10, 1, 0, 10));
    assert!(reply.durable);
    assert!(reply.raw.len() >= 300);
}

#[test]
fn inform_gets_options_without_a_lease() {
    let bed = bed(BASE);
    let mut r = cm();
    r.ciaddr = Ipv4Addr::new(10, 1, 0, 50);
    let reply = bed.reply(&r.build(MessageType::Inform, &[]));
    assert_eq!(reply.mtype(), MessageType::Ack);
    assert_eq!(reply.yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert!(reply.opt(code::LEASE_TIME).is_none());
    assert_eq!(reply.opt(code::ROUTER).unwrap(), vec![10, 1, 0, 1]);
}

#[test]
fn explain_trace_tells_why() {
    let bed = bed(BASE);
    let mut t = Trace::enabled();
    let _ = bed.send_traced(
        &Req::new(CM)
            .vendor_class("docsis3.0:")
            .prl(&[122])
            .discover(),
        &mut t,
    );
    let all = t.notes().join("\n");
    assert!(
        all.contains("auto-provisioned into [\"cablemodems\"]"),
        "{all}"
    );
    assert!(all.contains("stage 1: relay 127.0.0.2"), "{all}");
    assert!(all.contains("selected pool \"cm\""), "{all}");
    assert!(all.contains("policy \"voice\""), "{all}");
}

#[test]
fn relay_source_port_and_server_id_override() {
    let bed = bed(BASE);
    // 82.19 present: reply to the relay's source port (RFC 8357). 82.11: server id override (RFC 5107).
    let rai = [1u8, 2, b'c', b'1', 11, 4, 127, 0, 0, 9, 19, 2, 0, 0];
    let req = cm().opt(code::RELAY_AGENT_INFO, &rai);
    let inb_source = SocketAddrV4::new(RELAY, 40_000);
    let out = bed.server.dhcpv4().handle(
        &headend_server::dhcpv4::Inbound {
            data: &req.discover(),
            source: inb_source,
            local: SocketAddrV4::new(SERVER, 67),
        },
        &mut Trace::disabled(),
    );
    let Outcome::Reply { packet, to, .. } = out else {
        panic!("{out:?}")
    };
    assert_eq!(to, inb_source);
    let p = headend_wire::dhcpv4::Packet::parse(&packet).unwrap();
    assert_eq!(p.options.server_id(), Some(Ipv4Addr::new(127, 0, 0, 9)));
}

#[test]
fn concurrent_discovers_never_share_an_offered_address() {
    let bed = bed(BASE);
    // 4 threads x 40 eMTAs into the 191-address "mta" pool, all at once.
    let offers: Vec<Ipv4Addr> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4u8)
            .map(|t| {
                let bed = &bed;
                s.spawn(move || {
                    (0..40u8)
                        .map(|i| {
                            let req =
                                Req::new([0, 0x10, 0x95, 0x0e, t, i]).vendor_class("pktc1.5:");
                            bed.reply(&req.discover()).yiaddr()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut unique = offers.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        offers.len(),
        "an address was offered to two clients"
    );
}
