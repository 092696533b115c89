//! Byte-vector, round-trip and robustness tests of the DHCPv6 codec.

use std::net::Ipv6Addr;

use proptest::prelude::*;

use super::code::{self, Status};
use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// An eUE SOLICIT shaped as PKT-SP-EUE-PROV Table 6 eUE-1: CLIENTID
/// (DUID-LL), ORO asking 39, 23 and 17, elapsed time, IA_NA, FQDN with an
/// empty name and S=1 N=0 O=0, vendor class 4491 "pktc2.0", vendor options
/// 4491 with device type EDVA and CL_OPTION_ORO [32, 2171].
const EUE_SOLICIT: &str = "01 123456
    0001 000a 0003 0001 001122334455
    0006 0006 0027 0017 0011
    0008 0002 0000
    0003 000c 00000001 00000000 00000000
    0027 0001 01
    0010 000d 0000118b 0007 706b7463322e30
    0011 0014 0000118b 0002 0004 45445641 0001 0004 0020 087b";

#[test]
fn eue_solicit_fields() {
    let buf = hex(EUE_SOLICIT);
    let m = Message::parse(&buf).unwrap();
    assert_eq!(m.msg_type, MessageType::Solicit);
    assert_eq!(m.transaction_id, 0x123456);
    let codes: Vec<u16> = m.options.iter().map(|(c, _)| c).collect();
    assert_eq!(codes, vec![1, 6, 8, 3, 39, 16, 17]);
    assert_eq!(
        m.options.client_id().unwrap(),
        Some(Duid::Ll {
            hardware_type: 1,
            link_layer_address: &hex("001122334455"),
        })
    );
    assert_eq!(m.options.server_id().unwrap(), None);
    let oro = m.options.oro().unwrap().unwrap();
    assert_eq!(oro.codes().collect::<Vec<_>>(), vec![39, 23, 17]);
    assert!(oro.contains(code::VENDOR_OPTS) && !oro.contains(code::IA_PD));
    assert_eq!(m.options.elapsed_time().unwrap(), Some(0));
    let ias: Vec<Ia> = m.options.ia_nas().collect::<Result<_, _>>().unwrap();
    assert_eq!(ias.len(), 1);
    assert_eq!((ias[0].iaid, ias[0].t1, ias[0].t2), (1, 0, 0));
    assert!(ias[0].options.is_empty());
    let fqdn = m.options.client_fqdn().unwrap().unwrap();
    assert!(fqdn.server_update() && !fqdn.no_update() && !fqdn.override_flag());
    assert_eq!(fqdn.domain_name().unwrap(), (String::new(), false));
    let vc: Vec<VendorClass> = m
        .options
        .vendor_classes()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(vc[0].enterprise, 4491);
    assert_eq!(vc[0].items().collect::<Vec<_>>(), vec![&b"pktc2.0"[..]]);
    assert!(vc[0].has_item(b"PKTC2.0"));
    let vo = m.options.vendor_opts(4491).unwrap().unwrap();
    assert_eq!(
        vo.options.iter().collect::<Vec<_>>(),
        vec![(2u16, &b"EDVA"[..]), (1, &hex("0020087b")[..])]
    );
    assert_eq!(m.options.vendor_opts(9).unwrap(), None);
    assert!(!m.options.rapid_commit().unwrap());
}

#[test]
fn builder_reproduces_the_solicit_byte_for_byte() {
    let mut b = Builder::message(MessageType::Solicit, 0xff12_3456);
    b.client_id(&hex("0003 0001 001122334455"))
        .unwrap()
        .oro(&[39, 23, 17])
        .unwrap()
        .elapsed_time(0)
        .unwrap()
        .ia_na(1, 0, 0, |_| Ok(()))
        .unwrap()
        .client_fqdn(ClientFqdn::FLAG_S, "", false)
        .unwrap()
        .vendor_class(4491, &[b"pktc2.0"])
        .unwrap();
    let mut subs = Builder::new();
    subs.option(2, b"EDVA").unwrap().oro_like(&[32, 2171]);
    b.vendor_opts(4491, subs.as_bytes()).unwrap();
    assert_eq!(b.finish(), hex(EUE_SOLICIT));
}

impl Builder {
    /// CL_OPTION_ORO has the ORO layout under vendor code 1.
    fn oro_like(&mut self, codes: &[u16]) -> &mut Self {
        let v: Vec<u8> = codes.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.option(1, &v).unwrap()
    }
}

#[test]
fn reply_with_nested_ia_na_and_ia_pd() {
    let addr: Ipv6Addr = "2001:db8:100::10".parse().unwrap();
    let prefix: Ipv6Addr = "2001:db8:8000::".parse().unwrap();
    let mut b = Builder::message(MessageType::Reply, 0x0a0b0c);
    b.server_id(&hex("0001 0001 5f5e1000 02aabbccddee"))
        .unwrap()
        .ia_na(7, 1800, 2880, |ia| {
            ia.ia_addr(addr, 3600, 7200)?;
            ia.status_code(Status::Success, "ok")?;
            Ok(())
        })
        .unwrap()
        .ia_pd(9, 0, 0, |ia| {
            ia.ia_prefix_with(prefix, 56, 3600, 7200, |p| {
                p.status_code(Status::Success, "")?;
                Ok(())
            })?;
            Ok(())
        })
        .unwrap();
    let bytes = b.finish();
    // RFC 8415 §21.4/§21.6/§21.13, §21.21/§21.22 layouts.
    let expected = hex("07 0a0b0c
         0002 000e 0001 0001 5f5e1000 02aabbccddee
         0003 0030 00000007 00000708 00000b40
           0005 0018 20010db8010000000000000000000010 00000e10 00001c20
           000d 0004 0000 6f6b
         0019 002f 00000009 00000000 00000000
           001a 001f 00000e10 00001c20 38 20010db8800000000000000000000000
             000d 0002 0000");
    assert_eq!(bytes, expected);

    let m = Message::parse(&bytes).unwrap();
    assert_eq!(
        m.options.server_id().unwrap(),
        Some(Duid::Llt {
            hardware_type: 1,
            time: 0x5f5e1000,
            link_layer_address: &hex("02aabbccddee"),
        })
    );
    let ia = m.options.ia_nas().next().unwrap().unwrap();
    assert_eq!((ia.iaid, ia.t1, ia.t2), (7, 1800, 2880));
    let a = ia.addresses().next().unwrap().unwrap();
    assert_eq!(
        (a.addr, a.preferred_lifetime, a.valid_lifetime),
        (addr, 3600, 7200)
    );
    let st = ia.status_code().unwrap().unwrap();
    assert_eq!(
        (st.status, st.message_lossy().as_ref()),
        (Status::Success, "ok")
    );
    let pd = m.options.ia_pds().next().unwrap().unwrap();
    let p = pd.prefixes().next().unwrap().unwrap();
    assert_eq!((p.prefix, p.prefix_len), (prefix, 56));
    assert_eq!(
        p.options.status_code().unwrap().map(|s| s.status),
        Some(Status::Success)
    );
}

#[test]
fn duid_types() {
    let en = hex("0002 0000118b 0102030405");
    assert_eq!(
        Duid::parse(1, &en).unwrap(),
        Duid::En {
            enterprise: 4491,
            identifier: &hex("0102030405"),
        }
    );
    let uuid = hex("0004 00112233445566778899aabbccddeeff");
    let d = Duid::parse(2, &uuid).unwrap();
    assert_eq!(d.duid_type(), code::DUID_UUID);
    assert_eq!(d.to_bytes(), uuid);
    let other = hex("00ff 0102");
    assert_eq!(Duid::parse(1, &other).unwrap().to_bytes(), other);
    for d in [
        en,
        hex("0001 0001 5f5e1000 02aabbccddee"),
        hex("0003 0001 02aabbccddee"),
    ] {
        assert_eq!(Duid::parse(1, &d).unwrap().to_bytes(), d);
    }
    assert_eq!(
        Duid::parse(1, &hex("0003 0001 02aabbccddee"))
            .unwrap()
            .link_layer_address(),
        Some((1, &hex("02aabbccddee")[..]))
    );
    for bad in [
        "00",
        "0001 0001 5f5e10",
        "0002 0000",
        "0003 00",
        "0004 0011",
    ] {
        assert!(
            matches!(
                Duid::parse(1, &hex(bad)),
                Err(OptionError::BadLength { code: 1, .. })
            ),
            "{bad}"
        );
    }
    assert!(Duid::parse(2, &[0; 131]).is_err());
}

/// A Relay-Forward from the lab CMTS (link 2001:db8:100::1) with an
/// Interface-Id, a Remote-ID (RFC 4649, enterprise 4491 + CM MAC) and the
/// SOLICIT in its Relay Message option.
fn relay_forward(hop_count: u8, link: &str, inner: &[u8]) -> Vec<u8> {
    let mut b = Builder::relay(
        MessageType::RelayForw,
        hop_count,
        link.parse().unwrap(),
        "fe80::211:22ff:fe33:4455".parse().unwrap(),
    );
    b.interface_id(b"cm-1")
        .unwrap()
        .remote_id(4491, &hex("001122334455"))
        .unwrap()
        .relay_msg(inner)
        .unwrap();
    b.finish()
}

#[test]
fn relay_forward_bytes_and_unwrap() {
    let solicit = hex(EUE_SOLICIT);
    let fwd = relay_forward(0, "2001:db8:100::1", &solicit);
    let mut expected = hex(
        "0c 00 20010db8010000000000000000000001 fe800000000000000211 22fffe334455
         0012 0004 636d2d31
         0025 000a 0000118b 001122334455",
    );
    expected.extend(hex("0009"));
    expected.extend((solicit.len() as u16).to_be_bytes());
    expected.extend(&solicit);
    assert_eq!(fwd, expected);

    let r = Relayed::parse(&fwd).unwrap();
    assert_eq!(r.relays.len(), 1);
    assert_eq!(r.message, Message::parse(&solicit).unwrap());
    let relay = r.innermost().unwrap();
    assert_eq!(relay.hop_count, 0);
    assert_eq!(relay.interface_id(), Some(&b"cm-1"[..]));
    assert_eq!(
        relay.options.remote_id().unwrap(),
        Some(RemoteId {
            enterprise: 4491,
            remote_id: &hex("001122334455"),
        })
    );
    assert_eq!(r.link_address(), Some("2001:db8:100::1".parse().unwrap()));
    assert!(matches!(parse(&fwd), Ok(Packet::Relay(_))));
    assert!(matches!(parse(&solicit), Ok(Packet::Message(_))));
}

#[test]
fn reply_goes_back_through_the_same_chain() {
    let solicit = hex(EUE_SOLICIT);
    let inner = relay_forward(0, "2001:db8:100::1", &solicit);
    // An outer relay without Interface-Id, as a second-level aggregator.
    let mut outer = Builder::relay(
        MessageType::RelayForw,
        1,
        "2001:db8:1::1".parse().unwrap(),
        "2001:db8:100::1".parse().unwrap(),
    );
    outer.relay_msg(&inner).unwrap();
    let outer = outer.finish();
    let r = Relayed::parse(&outer).unwrap();
    assert_eq!(r.relays.len(), 2);
    assert_eq!(r.relays[0].hop_count, 1);
    assert_eq!(r.link_address(), Some("2001:db8:100::1".parse().unwrap()));

    let reply = hex("07 123456 0002 000a 0003 0001 02aabbccddee");
    let wrapped = r.wrap_reply(&reply).unwrap();
    let mut inner_reply = hex(
        "0d 00 20010db8010000000000000000000001 fe80000000000000021122fffe334455
         0012 0004 636d2d31",
    );
    inner_reply.extend(hex("0009"));
    inner_reply.extend((reply.len() as u16).to_be_bytes());
    inner_reply.extend(&reply);
    let mut expected =
        hex("0d 01 20010db8000100000000000000000001 20010db8010000000000000000000001");
    expected.extend(hex("0009"));
    expected.extend((inner_reply.len() as u16).to_be_bytes());
    expected.extend(&inner_reply);
    assert_eq!(wrapped, expected);
    // The chain parses back, reply inside, as a relay agent would read it.
    let Packet::Relay(top) = parse(&wrapped).unwrap() else {
        panic!("not a relay message")
    };
    assert_eq!(top.msg_type, MessageType::RelayRepl);
    assert_eq!(
        Relayed::parse(&wrapped),
        Err(ParseError::UnexpectedType(13))
    );
    // Without relays the reply is unchanged.
    let direct = Relayed::parse(&solicit).unwrap();
    assert!(!direct.is_relayed());
    assert_eq!(direct.wrap_reply(&reply).unwrap(), reply);
    // A reply that fits one Relay Message option but not one datagram.
    let big = vec![7u8; MAX_MESSAGE_LEN - 10];
    assert!(matches!(
        r.wrap_reply(&big),
        Err(EncodeError::TooLong { code: 9, .. })
    ));
}

#[test]
fn lightweight_relay_link_address_falls_back_outwards() {
    let ldra = {
        let mut b = Builder::relay(
            MessageType::RelayForw,
            0,
            Ipv6Addr::UNSPECIFIED,
            "fe80::1".parse().unwrap(),
        );
        b.relay_msg(&hex(EUE_SOLICIT)).unwrap();
        b.finish()
    };
    let outer = relay_forward(1, "2001:db8:100::1", &ldra);
    let r = Relayed::parse(&outer).unwrap();
    assert_eq!(r.link_address(), Some("2001:db8:100::1".parse().unwrap()));
}

fn chain(depth: usize) -> Vec<u8> {
    let mut msg = hex(EUE_SOLICIT);
    for hop in 0..depth {
        msg = relay_forward(u8::try_from(hop.min(8)).unwrap(), "2001:db8::1", &msg);
    }
    msg
}

#[test]
fn relay_depth_limit_is_hop_count_limit() {
    let ok = chain(MAX_RELAY_DEPTH);
    assert_eq!(Relayed::parse(&ok).unwrap().relays.len(), 9);
    assert_eq!(
        Relayed::parse(&chain(MAX_RELAY_DEPTH + 1)),
        Err(ParseError::RelayTooDeep)
    );
    assert_eq!(Relayed::parse(&chain(40)), Err(ParseError::RelayTooDeep));
    let mut hop9 = relay_forward(0, "2001:db8::1", &hex(EUE_SOLICIT));
    hop9[1] = 9;
    assert_eq!(Relayed::parse(&hop9), Err(ParseError::RelayTooDeep));
    assert_eq!(ParseError::RelayTooDeep.reason(), "relay_too_deep");
}

#[test]
fn malformed_messages_are_errors() {
    assert_eq!(Message::parse(&[1, 2, 3]), Err(ParseError::Truncated(3)));
    assert_eq!(parse(&[]), Err(ParseError::Truncated(0)));
    assert_eq!(
        RelayMessage::parse(&[12; 33]),
        Err(ParseError::Truncated(33))
    );
    assert_eq!(
        Message::parse(&[12, 0, 0, 0]),
        Err(ParseError::UnexpectedType(12))
    );
    assert_eq!(
        Message::parse(&vec![1; MAX_MESSAGE_LEN + 1]),
        Err(ParseError::TooLarge(MAX_MESSAGE_LEN + 1))
    );
    // Option length runs past the end.
    let bad = hex("01 000001 0001 0005 0003 0001");
    assert!(matches!(
        Message::parse(&bad),
        Err(ParseError::Option(OptionError::Framing {
            container: 0,
            ..
        }))
    ));
    // Relay-Forward without a Relay Message option.
    let mut b = Builder::relay(
        MessageType::RelayForw,
        0,
        Ipv6Addr::LOCALHOST,
        Ipv6Addr::LOCALHOST,
    );
    b.interface_id(b"x").unwrap();
    assert_eq!(
        Relayed::parse(b.as_bytes()),
        Err(ParseError::MissingRelayMessage)
    );
    // Relay Message holding garbage.
    let fwd = relay_forward(0, "2001:db8::1", &[1, 0]);
    assert_eq!(Relayed::parse(&fwd), Err(ParseError::Truncated(2)));
}

#[test]
fn malformed_option_values_are_errors() {
    let msg = |opts: &str| {
        let mut v = hex("0b 000001");
        v.extend(hex(opts));
        v
    };
    let bad_len = |code| move |e: OptionError| matches!(e, OptionError::BadLength { code: c, .. } if c == code);
    let b = msg("0008 0003 000000");
    assert!(bad_len(8)(
        Message::parse(&b)
            .unwrap()
            .options
            .elapsed_time()
            .unwrap_err()
    ));
    let b = msg("0006 0003 000100");
    assert!(bad_len(6)(
        Message::parse(&b).unwrap().options.oro().unwrap_err()
    ));
    let b = msg("0007 0000");
    assert!(bad_len(7)(
        Message::parse(&b)
            .unwrap()
            .options
            .preference()
            .unwrap_err()
    ));
    let b = msg("000e 0001 00");
    assert!(bad_len(14)(
        Message::parse(&b)
            .unwrap()
            .options
            .rapid_commit()
            .unwrap_err()
    ));
    let b = msg("0017 0011 20010db8000000000000000000000001 00");
    assert!(bad_len(23)(
        Message::parse(&b)
            .unwrap()
            .options
            .dns_servers()
            .unwrap_err()
    ));
    let b = msg("0003 000b 0000000100000000000000");
    let m = Message::parse(&b).unwrap();
    assert!(bad_len(3)(m.options.ia_nas().next().unwrap().unwrap_err()));
    // IA_NA whose IAADDR is 23 octets.
    let b = msg("0003 0027 00000001 00000000 00000000 0005 0017 2001000000000000000000000000000100000000000000");
    let m = Message::parse(&b).unwrap();
    let ia = m.options.ia_nas().next().unwrap().unwrap();
    assert!(bad_len(5)(ia.addresses().next().unwrap().unwrap_err()));
    // IA_NA whose nested options do not frame.
    let b = msg("0003 0010 00000001 00000000 00000000 0005 00ff");
    let m = Message::parse(&b).unwrap();
    assert!(matches!(
        m.options.ia_nas().next().unwrap(),
        Err(OptionError::Framing { container: 3, .. })
    ));
    // IAPREFIX with prefix length 129.
    let v = hex("00000000 00000000 81 20010db8000000000000000000000000");
    assert!(IaPrefix::parse(&v).is_err());
    assert!(IaPrefix::parse(&v[..24]).is_err());
    // Vendor class whose item runs past the end.
    assert!(VendorClass::parse(&hex("0000118b 0008 706b7463")).is_err());
    assert!(VendorOpts::parse(&hex("0000118b 0002 0004 45")).is_err());
    assert!(RemoteId::parse(&hex("000011")).is_err());
    assert!(StatusCode::parse(&hex("00")).is_err());
    // FQDN: compression pointer and trailing bytes after the root label.
    assert!(ClientFqdn::parse(&hex("01 c000"))
        .unwrap()
        .domain_name()
        .is_err());
    assert!(ClientFqdn::parse(&hex("01 0161 00 00"))
        .unwrap()
        .domain_name()
        .is_err());
    assert!(ClientFqdn::parse(&[]).is_err());
    // A truncated vendor option of our enterprise is an error; of another is skipped.
    let b = msg("0011 0002 0000 0011 0004 00000009");
    assert!(Message::parse(&b)
        .unwrap()
        .options
        .vendor_opts(4491)
        .is_err());
    let b = msg("0011 0006 00000009 0001 0011 0004 0000118b");
    assert!(Message::parse(&b)
        .unwrap()
        .options
        .vendor_opts(4491)
        .unwrap()
        .is_some());
}

#[test]
fn simple_options_round_trip() {
    let dns: Vec<Ipv6Addr> = vec![
        "2001:db8::53".parse().unwrap(),
        "2001:db8::54".parse().unwrap(),
    ];
    let mut b = Builder::message(MessageType::Advertise, 1);
    b.preference(255)
        .unwrap()
        .rapid_commit()
        .unwrap()
        .reconf_accept()
        .unwrap()
        .dns_servers(&dns)
        .unwrap()
        .domain_list(&["lab.example", "example.com."])
        .unwrap()
        .sntp_servers(&dns[..1])
        .unwrap()
        .client_fqdn(
            ClientFqdn::FLAG_S | ClientFqdn::FLAG_O,
            "eue-1.voice.example",
            true,
        )
        .unwrap()
        .sol_max_rt(3600)
        .unwrap()
        .inf_max_rt(86400)
        .unwrap()
        .status_code(Status::NoAddrsAvail, "none")
        .unwrap()
        .option(999, &[1, 2, 3])
        .unwrap();
    let bytes = b.finish();
    let m = Message::parse(&bytes).unwrap();
    let o = m.options;
    assert_eq!(o.preference().unwrap(), Some(255));
    assert!(o.rapid_commit().unwrap() && o.reconf_accept().unwrap());
    assert_eq!(o.dns_servers().unwrap(), Some(dns.clone()));
    assert_eq!(
        o.domain_list().unwrap(),
        Some(vec!["lab.example".to_string(), "example.com".to_string()])
    );
    assert_eq!(o.sntp_servers().unwrap(), Some(dns[..1].to_vec()));
    let f = o.client_fqdn().unwrap().unwrap();
    assert_eq!(f.flags, 0x03);
    assert_eq!(
        f.domain_name().unwrap(),
        ("eue-1.voice.example".to_string(), true)
    );
    assert_eq!(o.sol_max_rt().unwrap(), Some(3600));
    assert_eq!(o.inf_max_rt().unwrap(), Some(86400));
    assert_eq!(
        o.status_code().unwrap().unwrap().status,
        Status::NoAddrsAvail
    );
    assert_eq!(
        o.get(999),
        Some(&[1u8, 2, 3][..]),
        "unknown options pass through"
    );
    assert_eq!(o.len(), 11);
    // Partial FQDN: no root label (RFC 4704 §4.2).
    let mut p = Builder::new();
    p.client_fqdn(0, "eue-1", false).unwrap();
    assert_eq!(p.as_bytes(), hex("0027 0007 00 05 6575652d31"));
    // Status and message type names.
    assert_eq!(Status::from(6), Status::NoPrefixAvail);
    assert_eq!(u16::from(Status::Other(9)), 9);
    assert_eq!(MessageType::from(11).name(), "INFORMATION-REQUEST");
    assert_eq!(u8::from(MessageType::Unknown(20)), 20);
    assert_eq!(code::name(code::IA_PD), "OPTION_IA_PD");
}

#[test]
fn builder_errors_leave_no_partial_option() {
    let mut b = Builder::message(MessageType::Reply, 1);
    let before = b.as_bytes().to_vec();
    let big = vec![0u8; 70_000];
    assert!(matches!(
        b.option(17, &big),
        Err(EncodeError::TooLong {
            code: 17,
            len: 70_000
        })
    ));
    assert!(matches!(
        b.ia_na(1, 0, 0, |ia| {
            ia.option(99, &big[..40_000])?;
            ia.option(99, &big[..40_000])?;
            Ok(())
        }),
        Err(EncodeError::TooLong { code: 3, .. })
    ));
    assert!(b
        .ia_pd(1, 0, 0, |ia| {
            ia.ia_prefix("::".parse().unwrap(), 129, 0, 0)?;
            Ok(())
        })
        .is_err());
    assert!(b.domain_list(&["a..b"]).is_err());
    assert_eq!(b.as_bytes(), &before[..]);
}

proptest! {
    #[test]
    fn parsers_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(r) = Relayed::parse(&buf) {
            exercise(&r.message.options);
            for relay in &r.relays {
                exercise(&relay.options);
            }
            // As the dhcpv6_parse fuzz target asserts.
            let wrapped = r.wrap_reply(&buf).unwrap();
            prop_assert!(!r.is_relayed() || matches!(parse(&wrapped), Ok(Packet::Relay(_))));
        }
        if let Ok(Packet::Message(m)) = parse(&buf) {
            exercise(&m.options);
        }
        if let Ok(o) = Options::parse(&buf, 0) {
            exercise(&o);
        }
    }

    #[test]
    fn every_truncation_of_valid_messages_is_handled(cut in 0usize..400) {
        for full in [hex(EUE_SOLICIT), chain(3)] {
            let part = &full[..cut.min(full.len())];
            if let Ok(r) = Relayed::parse(part) {
                exercise(&r.message.options);
            }
        }
    }

    #[test]
    fn ia_round_trip(
        iaid in any::<u32>(), t1 in any::<u32>(), t2 in any::<u32>(),
        addrs in proptest::collection::vec((any::<[u8; 16]>(), any::<u32>(), any::<u32>()), 0..4),
        prefixes in proptest::collection::vec((any::<[u8; 16]>(), 0u8..=128, any::<u32>(), any::<u32>()), 0..4),
        xid in 0u32..0x100_0000,
    ) {
        let mut b = Builder::message(MessageType::Reply, xid);
        b.ia_na(iaid, t1, t2, |ia| {
            for (a, p, v) in &addrs {
                ia.ia_addr(Ipv6Addr::from(*a), *p, *v)?;
            }
            Ok(())
        }).unwrap();
        b.ia_pd(iaid, t1, t2, |ia| {
            for (a, l, p, v) in &prefixes {
                ia.ia_prefix(Ipv6Addr::from(*a), *l, *p, *v)?;
            }
            Ok(())
        }).unwrap();
        let bytes = b.finish();
        let m = Message::parse(&bytes).unwrap();
        prop_assert_eq!(m.transaction_id, xid);
        let na = m.options.ia_nas().next().unwrap().unwrap();
        prop_assert_eq!((na.iaid, na.t1, na.t2), (iaid, t1, t2));
        let back: Vec<_> = na.addresses().map(|a| a.map(|a| (a.addr.octets(), a.preferred_lifetime, a.valid_lifetime))).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(back, addrs);
        let pd = m.options.ia_pds().next().unwrap().unwrap();
        let back: Vec<_> = pd.prefixes().map(|p| p.map(|p| (p.prefix.octets(), p.prefix_len, p.preferred_lifetime, p.valid_lifetime))).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(back, prefixes);
    }
}

/// Calls every accessor, recursing into IAs; results are ignored, only
/// panics matter.
fn exercise(o: &Options<'_>) {
    let _ = (
        o.client_id(),
        o.server_id(),
        o.oro(),
        o.preference(),
        o.elapsed_time(),
    );
    let _ = (
        o.status_code(),
        o.rapid_commit(),
        o.reconf_accept(),
        o.dns_servers(),
    );
    let _ = (
        o.domain_list(),
        o.sntp_servers(),
        o.remote_id(),
        o.client_linklayer_addr(),
    );
    let _ = (o.sol_max_rt(), o.inf_max_rt(), o.vendor_opts(4491));
    if let Ok(Some(f)) = o.client_fqdn() {
        let _ = f.domain_name();
    }
    for vc in o.vendor_classes().flatten() {
        vc.items().for_each(drop);
    }
    for ia in o.ia_nas().chain(o.ia_tas()).chain(o.ia_pds()).flatten() {
        let _ = ia.status_code();
        for a in ia.addresses().flatten() {
            let _ = a.options.status_code();
        }
        for p in ia.prefixes().flatten() {
            let _ = p.options.status_code();
        }
    }
}
