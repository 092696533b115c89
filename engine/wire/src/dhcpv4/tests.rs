use std::borrow::Cow;
use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;
use crate::cablelabs::{ClVendorOptions, DeviceFamily, VendorClass};

/// RFC 2131 §2 fixed header, written out field by field.
#[allow(clippy::too_many_arguments)]
fn header(
    op: u8,
    hops: u8,
    xid: u32,
    flags: u16,
    giaddr: [u8; 4],
    chaddr: &[u8],
    sname: &[u8],
    file: &[u8],
) -> Vec<u8> {
    let mut h = vec![op, 1, 6, hops];
    h.extend_from_slice(&xid.to_be_bytes());
    h.extend_from_slice(&[0, 0]); // secs
    h.extend_from_slice(&flags.to_be_bytes());
    h.extend_from_slice(&[0; 12]); // ciaddr, yiaddr, siaddr
    h.extend_from_slice(&giaddr);
    let mut field = |v: &[u8], n: usize| {
        let mut f = v.to_vec();
        f.resize(n, 0);
        h.extend_from_slice(&f);
    };
    field(chaddr, 16);
    field(sname, 64);
    field(file, 128);
    assert_eq!(h.len(), 236);
    h
}

const MAC: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];

/// A cable modem DISCOVER as a CMTS relays it: option 53, 61, 55 asking
/// for 122/125, 60 `docsis3.0:`, 125 with the CableLabs ORO, and the
/// relay's option 82 (circuit-id, remote-id = CM MAC) last.
fn discover() -> Vec<u8> {
    let mut p = header(1, 1, 0x3903_f326, 0, [10, 1, 0, 1], &MAC, b"", b"");
    p.extend_from_slice(&[99, 130, 83, 99]);
    p.extend_from_slice(&[53, 1, 1]);
    p.extend_from_slice(&[61, 7, 1, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55]);
    p.extend_from_slice(&[55, 9, 1, 2, 3, 4, 7, 66, 67, 122, 125]);
    p.extend_from_slice(&[60, 10]);
    p.extend_from_slice(b"docsis3.0:");
    p.extend_from_slice(&[125, 9, 0x00, 0x00, 0x11, 0x8b, 4, 1, 2, 2, 3]);
    p.extend_from_slice(&[82, 14, 1, 4, b'c', b'm', b'-', b'1', 2, 6]);
    p.extend_from_slice(&MAC);
    p.push(255);
    p
}

#[test]
fn cable_modem_discover_field_by_field() {
    let buf = discover();
    let pkt = Packet::parse(&buf).unwrap();
    assert_eq!(pkt.op, BOOTREQUEST);
    assert_eq!(pkt.htype, 1);
    assert_eq!(pkt.hlen, 6);
    assert_eq!(pkt.hops, 1);
    assert_eq!(pkt.xid, 0x3903_f326);
    assert_eq!(pkt.secs, 0);
    assert!(!pkt.broadcast());
    assert_eq!(pkt.ciaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(pkt.giaddr, Ipv4Addr::new(10, 1, 0, 1));
    assert!(pkt.is_relayed());
    assert_eq!(pkt.hwaddr(), &MAC);
    assert_eq!(pkt.chaddr[6..], [0; 10]);
    assert!(pkt.magic_cookie);
    assert!(!pkt.is_bootp());
    assert_eq!(pkt.overload, None);
    assert_eq!(pkt.server_name(), None);
    assert_eq!(pkt.boot_file(), None);

    let o = &pkt.options;
    assert_eq!(pkt.message_type(), Some(MessageType::Discover));
    assert_eq!(
        o.client_id().as_deref(),
        Some(&[1, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55][..])
    );
    assert_eq!(
        o.parameter_request_list().as_deref(),
        Some(&[1, 2, 3, 4, 7, 66, 67, 122, 125][..])
    );
    let vc = VendorClass::parse(&o.vendor_class().unwrap());
    assert_eq!(vc.family, DeviceFamily::Docsis { major: 3, minor: 0 });
    let cl = ClVendorOptions::from_option125(&o.get(code::VENDOR_SPECIFIC_VI).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(cl.oro, vec![2, 3]);
    let rai = o.relay_agent_info().unwrap();
    assert_eq!(rai.circuit_id(), Some(&b"cm-1"[..]));
    assert_eq!(rai.remote_id(), Some(&MAC[..]));
    assert_eq!(o.requested_ip(), None);
    assert_eq!(o.max_message_size(), None);
    let codes: Vec<u8> = o.iter().map(|(c, _)| c).collect();
    assert_eq!(codes, vec![53, 61, 55, 60, 125, 82]);
    assert!(matches!(o.get(code::CLIENT_ID), Some(Cow::Borrowed(_))));
}

#[test]
fn typical_discover_parses_without_heap() {
    // Not a timing test: the parse path must stay allocation-free for a
    // normal packet, which is what keeps it under a microsecond.
    let buf = discover();
    let pkt = Packet::parse(&buf).unwrap();
    assert!(!pkt.options.spilled());
    assert_eq!(pkt.options.fragment_count(), 6);
}

#[test]
fn typed_accessors() {
    let mut p = header(1, 0, 7, FLAG_BROADCAST, [0; 4], &MAC, b"", b"");
    p.extend_from_slice(&MAGIC_COOKIE);
    for (c, v) in [
        (53u8, &[3u8][..]),
        (50, &[10, 20, 0, 5]),
        (54, &[10, 20, 0, 1]),
        (51, &[0, 0, 0x0e, 0x10]),
        (57, &[0x05, 0xdc]),
        (12, b"cm-host"),
        (118, &[10, 20, 0, 0]),
        (77, b"\x04iPXE"),
        (81, b"\x05\x00\x00\x04host\x07example\x00"),
    ] {
        p.push(c);
        p.push(v.len() as u8);
        p.extend_from_slice(v);
    }
    let pkt = Packet::parse(&p).unwrap();
    let o = &pkt.options;
    assert!(pkt.broadcast());
    assert_eq!(pkt.message_type(), Some(MessageType::Request));
    assert_eq!(o.requested_ip(), Some(Ipv4Addr::new(10, 20, 0, 5)));
    assert_eq!(o.server_id(), Some(Ipv4Addr::new(10, 20, 0, 1)));
    assert_eq!(o.lease_time(), Some(3600));
    assert_eq!(o.max_message_size(), Some(1500));
    assert_eq!(o.hostname().as_deref(), Some(&b"cm-host"[..]));
    assert_eq!(o.subnet_selection(), Some(Ipv4Addr::new(10, 20, 0, 0)));
    assert_eq!(o.user_class().as_deref(), Some(&b"\x04iPXE"[..]));
    let fqdn = o.client_fqdn().unwrap();
    assert!(fqdn.server_update() && fqdn.encoded() && !fqdn.no_update());
    assert_eq!(
        fqdn.domain_name().unwrap(),
        ("host.example".to_string(), true)
    );
    // Wrong widths are absent, not misread.
    let mut q = header(1, 0, 7, 0, [0; 4], &MAC, b"", b"");
    q.extend_from_slice(&MAGIC_COOKIE);
    q.extend_from_slice(&[53, 2, 1, 1, 50, 3, 10, 0, 0, 51, 0, 81, 2, 0, 0]);
    let pkt = Packet::parse(&q).unwrap();
    // A malformed option 53 is not BOOTP (that would earn an infinite
    // lease): the type is unknown and the server drops it.
    assert_eq!(pkt.message_type(), None);
    assert!(!pkt.is_bootp());
    assert!(pkt.options.contains(code::MESSAGE_TYPE));
    assert_eq!(pkt.options.requested_ip(), None);
    assert_eq!(pkt.options.lease_time(), None);
    assert_eq!(pkt.options.client_fqdn(), None);
}

#[test]
fn client_fqdn_forms() {
    let partial = ClientFqdn::parse(Cow::Borrowed(&b"\x04\xff\xff\x04host"[..])).unwrap();
    assert_eq!(partial.domain_name().unwrap(), ("host".to_string(), false));
    assert_eq!((partial.rcode1, partial.rcode2), (255, 255));
    let ascii = ClientFqdn::parse(Cow::Owned(b"\x01\x00\x00host.example.".to_vec())).unwrap();
    assert!(!ascii.encoded());
    assert_eq!(
        ascii.domain_name().unwrap(),
        ("host.example".to_string(), true)
    );
    let bad = ClientFqdn::parse(Cow::Borrowed(&b"\x04\x00\x00\x05ab"[..])).unwrap();
    assert!(bad.domain_name().is_err());
}

#[test]
fn bootp_without_cookie_has_no_options() {
    // RFC 951 request: 64-octet vendor area of zeros, no cookie.
    let mut p = header(1, 0, 1, 0, [0; 4], &MAC, b"", b"");
    p.extend_from_slice(&[0; 64]);
    let pkt = Packet::parse(&p).unwrap();
    assert!(!pkt.magic_cookie);
    assert!(pkt.is_bootp());
    assert!(pkt.options.is_empty());
    // Bare 236-octet header, and a non-cookie vendor area that looks like options.
    assert!(Packet::parse(&p[..236]).unwrap().options.is_empty());
    let mut v = p[..236].to_vec();
    v.extend_from_slice(&[1, 2, 3, 4, 53, 1, 1, 255]);
    let pkt = Packet::parse(&v).unwrap();
    assert!(pkt.options.is_empty() && pkt.is_bootp());
}

#[test]
fn header_errors_have_stable_reasons() {
    let buf = discover();
    assert_eq!(
        Packet::parse(&buf[..235]).unwrap_err(),
        ParseError::Truncated(235)
    );
    assert_eq!(Packet::parse(&[]).unwrap_err().reason(), "truncated");
    let mut bad = buf.clone();
    bad[0] = 3;
    let e = Packet::parse(&bad).unwrap_err();
    assert_eq!((e, e.reason()), (ParseError::BadOp(3), "bad_op"));
    let mut bad = buf.clone();
    bad[2] = 17;
    let e = Packet::parse(&bad).unwrap_err();
    assert_eq!((e, e.reason()), (ParseError::BadHlen(17), "bad_hlen"));
    let mut big = buf.clone();
    big.resize(MAX_PACKET_LEN + 1, 0);
    let e = Packet::parse(&big).unwrap_err();
    assert_eq!(e.reason(), "too_large");
    big.truncate(MAX_PACKET_LEN);
    assert!(
        Packet::parse(&big).is_ok(),
        "zero padding after the end option is fine"
    );
    // hlen 16 and 0 are legal (RFC 4390 uses 0).
    let mut h = buf.clone();
    h[2] = 16;
    assert_eq!(Packet::parse(&h).unwrap().hwaddr().len(), 16);
    h[2] = 0;
    assert!(Packet::parse(&h).unwrap().hwaddr().is_empty());
}

#[test]
fn option_framing_errors_and_tolerance() {
    let base = {
        let mut p = header(1, 0, 1, 0, [0; 4], &MAC, b"", b"");
        p.extend_from_slice(&MAGIC_COOKIE);
        p
    };
    let with = |opts: &[u8]| {
        let mut p = base.clone();
        p.extend_from_slice(opts);
        p
    };
    // Missing end option: accepted.
    let pkt_buf = with(&[53, 1, 1, 0, 0, 12, 2, b'h', b'i']);
    let pkt = Packet::parse(&pkt_buf).unwrap();
    assert_eq!(pkt.message_type(), Some(MessageType::Discover));
    assert_eq!(pkt.options.hostname().as_deref(), Some(&b"hi"[..]));
    // Anything after the end option is ignored, even garbage.
    let pkt_buf = with(&[53, 1, 1, 255, 12, 200]);
    assert_eq!(Packet::parse(&pkt_buf).unwrap().options.fragment_count(), 1);
    // Length past the end of the datagram.
    let e = Packet::parse(&with(&[53, 1, 1, 12, 5, b'a'])).unwrap_err();
    assert_eq!(
        (e, e.reason()),
        (ParseError::OptionOverrun { code: 12 }, "option_overrun")
    );
    // Code without a length octet.
    assert_eq!(
        Packet::parse(&with(&[53, 1, 1, 61])).unwrap_err(),
        ParseError::OptionOverrun { code: 61 }
    );
    // Overload: bad length, bad value, conflicting repeats; a repeat with
    // the same value is harmless.
    for opts in [
        &[52u8, 2, 1, 1, 255][..],
        &[52, 1, 4, 255],
        &[52, 1, 1, 52, 1, 2, 255],
    ] {
        let e = Packet::parse(&with(opts)).unwrap_err();
        assert_eq!((e, e.reason()), (ParseError::BadOverload, "bad_overload"));
    }
    assert_eq!(
        Packet::parse(&with(&[52, 1, 2, 52, 1, 2, 255]))
            .unwrap()
            .overload,
        Some(Overload::Sname)
    );
}

/// Overload by hand (RFC 2131 §4.1): options field holds 53, 52 = 3 and
/// the first half of option 43; `file` holds the rest of option 43 and
/// option 12; `sname` holds option 15. Option 43 must come back joined
/// in options-then-file order (RFC 3396 §5), and sname/file must not be
/// read as names.
#[test]
fn overload_example_parses_in_rfc2131_order() {
    let mut file = vec![43, 3, b'D', b'E', b'F', 12, 4, b'h', b'o', b's', b't', 255];
    file.resize(128, 0);
    let mut sname = vec![0, 15, 11];
    sname.extend_from_slice(b"example.com");
    sname.push(255);
    let mut p = header(1, 0, 9, 0, [0; 4], &MAC, &sname, &file);
    p.extend_from_slice(&MAGIC_COOKIE);
    p.extend_from_slice(&[53, 1, 3, 52, 1, 3, 43, 3, b'A', b'B', b'C', 255]);
    let pkt = Packet::parse(&p).unwrap();
    assert_eq!(pkt.overload, Some(Overload::Both));
    assert_eq!(pkt.server_name(), None);
    assert_eq!(pkt.boot_file(), None);
    let o = &pkt.options;
    assert_eq!(
        o.get(code::VENDOR_SPECIFIC).as_deref(),
        Some(&b"ABCDEF"[..])
    );
    assert!(matches!(o.get(code::VENDOR_SPECIFIC), Some(Cow::Owned(_))));
    assert_eq!(o.hostname().as_deref(), Some(&b"host"[..]));
    assert_eq!(
        o.get(code::DOMAIN_NAME).as_deref(),
        Some(&b"example.com"[..])
    );
    let frags: Vec<(u8, &[u8])> = o.fragments().collect();
    assert_eq!(
        frags,
        vec![
            (53, &[3u8][..]),
            (43, b"ABC"),
            (43, b"DEF"),
            (12, b"host"),
            (15, b"example.com")
        ]
    );
    let merged: Vec<u8> = o.iter().map(|(c, _)| c).collect();
    assert_eq!(
        merged,
        vec![53, 43, 12, 15],
        "option 52 is consumed by the parser"
    );
    assert!(!o.contains(code::OVERLOAD));

    // Overload = 1: sname is a real name and is not scanned.
    let mut p = header(1, 0, 9, 0, [0; 4], &MAC, b"tftp.example\0\x0c\x01x", &file);
    p.extend_from_slice(&MAGIC_COOKIE);
    p.extend_from_slice(&[53, 1, 3, 52, 1, 1, 255]);
    let pkt = Packet::parse(&p).unwrap();
    assert_eq!(pkt.overload, Some(Overload::File));
    assert_eq!(pkt.server_name(), Some(&b"tftp.example"[..]));
    assert_eq!(pkt.options.get(code::DOMAIN_NAME), None);
    assert_eq!(pkt.options.hostname().as_deref(), Some(&b"host"[..]));

    // An option overrunning the file field is an error, and a stray 52
    // inside file is skipped.
    let mut bad_file = vec![52, 1, 2, 12, 200];
    bad_file.resize(128, 0);
    let mut p = header(1, 0, 9, 0, [0; 4], &MAC, b"", &bad_file);
    p.extend_from_slice(&MAGIC_COOKIE);
    p.extend_from_slice(&[52, 1, 1, 255]);
    assert_eq!(
        Packet::parse(&p).unwrap_err(),
        ParseError::OptionOverrun { code: 12 }
    );
}

/// RFC 3396 §7-style split: a 300-octet domain search list (option 119)
/// travels as 255 + 45 octets and is joined on receipt.
#[test]
fn rfc3396_split_option_is_joined_and_re_split() {
    let value: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
    let mut p = header(2, 0, 5, 0, [0; 4], &MAC, b"", b"");
    p.extend_from_slice(&MAGIC_COOKIE);
    p.extend_from_slice(&[53, 1, 5, 119, 255]);
    p.extend_from_slice(&value[..255]);
    p.extend_from_slice(&[119, 45]);
    p.extend_from_slice(&value[255..]);
    p.push(255);
    let pkt = Packet::parse(&p).unwrap();
    assert_eq!(
        pkt.options.get(code::DOMAIN_SEARCH).as_deref(),
        Some(&value[..])
    );
    assert_eq!(pkt.options.fragment_count(), 3);

    let mut b = Builder::reply_to(&pkt);
    b.op = BOOTREPLY;
    b.push_option(53, &[5]).push_option(119, &value);
    let enc = b.encode(1500).unwrap();
    assert_eq!(enc.len(), p.len(), "no padding needed past 300 octets");
    assert_eq!(enc, p);
}

#[test]
fn builder_reply_copies_table3_fields_and_keeps_option_order() {
    let req_buf = discover();
    let req = Packet::parse(&req_buf).unwrap();
    let mut b = Builder::reply_to(&req);
    b.yiaddr = Ipv4Addr::new(10, 1, 0, 50);
    b.siaddr = Ipv4Addr::new(10, 0, 0, 5);
    b.set_file(b"cm.cfg").unwrap();
    let rai = req.options.get(code::RELAY_AGENT_INFO).unwrap();
    b.push_option(code::MESSAGE_TYPE, &[u8::from(MessageType::Offer)])
        .push_option(code::SERVER_ID, &[10, 0, 0, 1])
        .push_option(code::LEASE_TIME, &3600u32.to_be_bytes())
        .push_option(code::SUBNET_MASK, &[255, 255, 255, 0])
        .push_option(code::ROUTER, &[10, 1, 0, 1])
        .push_option(code::RELAY_AGENT_INFO, &rai)
        .push_option(code::TIME_OFFSET, &[0, 0, 0, 0]);
    let enc = b.encode(DEFAULT_MAX_MESSAGE_SIZE).unwrap();
    assert_eq!(
        enc.len(),
        BOOTP_MIN_LEN,
        "short replies are padded to 300 octets"
    );
    let rep = Packet::parse(&enc).unwrap();
    assert_eq!(rep.op, BOOTREPLY);
    assert_eq!((rep.htype, rep.hlen, rep.hops), (1, 6, 1));
    assert_eq!(rep.xid, req.xid);
    assert_eq!(rep.flags, req.flags);
    assert_eq!(rep.giaddr, req.giaddr);
    assert_eq!(rep.chaddr, req.chaddr);
    assert_eq!(rep.secs, 0);
    assert_eq!(rep.ciaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(rep.yiaddr, Ipv4Addr::new(10, 1, 0, 50));
    assert_eq!(rep.siaddr, Ipv4Addr::new(10, 0, 0, 5));
    assert_eq!(rep.boot_file(), Some(&b"cm.cfg"[..]));
    let codes: Vec<u8> = rep.options.fragments().map(|(c, _)| c).collect();
    assert_eq!(
        codes,
        vec![53, 54, 51, 1, 3, 82, 2],
        "push order, 82 where it was pushed"
    );
    assert_eq!(rep.options.get(82), Some(rai));
    assert_eq!(
        &enc[240..243],
        &[53, 1, 2],
        "option 53 first, right after the cookie"
    );
}

#[test]
fn builder_rejects_reserved_codes_and_long_fields() {
    for c in [0u8, 52, 255] {
        let mut b = Builder::new();
        b.push_option(53, &[2]).push_option(c, &[1]);
        let mut out = vec![1, 2, 3];
        assert_eq!(
            b.encode_into(576, &mut out),
            Err(EncodeError::ReservedCode(c))
        );
        assert!(out.is_empty(), "a failed encode leaves the buffer empty");
    }
    let mut b = Builder::new();
    assert_eq!(
        b.set_file(&[b'a'; 129]).unwrap_err(),
        EncodeError::FieldTooLong {
            field: "file",
            len: 129
        }
    );
    assert!(b.set_sname(&[b'a'; 64]).is_ok());
    assert!(b.set_sname(&[b'a'; 65]).is_err());
    assert_eq!(b.sname(), &[b'a'; 64]);
    b.set_file(b"x").unwrap().set_file(b"").unwrap();
    assert_eq!(
        b.file(),
        &[0; 128],
        "setting a shorter value clears the rest"
    );
    // Header and cookie take 240 octets; the end option needs one more.
    assert_eq!(
        b.encode(240 + IP_UDP_OVERHEAD),
        Err(EncodeError::TooLarge {
            limit: 240 + IP_UDP_OVERHEAD
        })
    );
    assert_eq!(b.encode(241 + IP_UDP_OVERHEAD).unwrap().len(), 241);
}

#[test]
fn builder_option_editing() {
    let mut b = Builder::new();
    b.push_option(53, &[5])
        .push_option(6, &[8, 8, 8, 8])
        .push_option(15, b"x")
        .push_option(6, &[1, 1, 1, 1]);
    assert!(b.contains(6));
    assert!(b.remove_option(6));
    assert!(!b.remove_option(6));
    let opts: Vec<(u8, &[u8])> = b.options().collect();
    assert_eq!(opts, vec![(53, &[5u8][..]), (15, b"x")]);
    b.clear_options();
    assert_eq!(b.options().count(), 0);
    // A repeated code is two instances, joined by the receiver.
    b.push_option(43, b"ab")
        .push_option(1, &[255, 0, 0, 0])
        .push_option(43, b"cd");
    let enc = b.encode(576).unwrap();
    let p = Packet::parse(&enc).unwrap();
    assert_eq!(p.options.get(43).as_deref(), Some(&b"abcd"[..]));
    let merged: Vec<u8> = p.options.iter().map(|(c, _)| c).collect();
    assert_eq!(merged, vec![43, 1]);
}

#[test]
fn builder_overloads_file_then_sname() {
    // 576-octet limit: 548 octets of message, 308 for options + end.
    let big = vec![0xabu8; 250];
    let mut b = Builder::new();
    b.xid = 42;
    b.push_option(53, &[2])
        .push_option(54, &[10, 0, 0, 1])
        .push_option(43, &big) // 252 octets: fits the options field
        .push_option(12, &[b'h'; 100]) // 102: only fits file
        .push_option(15, &[b'd'; 40]) // 42: file has 25 left, so sname
        .push_option(82, b"\x01\x02ab");
    let enc = b.encode(576).unwrap();
    assert!(enc.len() <= 576 - IP_UDP_OVERHEAD);
    let p = Packet::parse(&enc).unwrap();
    assert_eq!(p.overload, Some(Overload::Both));
    let codes: Vec<u8> = p.options.fragments().map(|(c, _)| c).collect();
    assert_eq!(codes, vec![53, 54, 43, 12, 15, 82]);
    assert_eq!(p.options.get(12).as_deref(), Some(&[b'h'; 100][..]));
    // Option 12 went to file, 15 and 82 to sname; 52 sits last in the
    // options field so 53 stays first.
    assert_eq!(&enc[108..110], &[12, 100]);
    assert_eq!(&enc[44..46], &[15, 40]);
    assert_eq!(&enc[240..243], &[53, 1, 2]);
    let main_end = enc
        .iter()
        .skip(240)
        .position(|&x| x == 255)
        .map(|i| i + 240);
    assert_eq!(main_end.map(|e| &enc[e - 3..e]), Some(&[52u8, 1, 3][..]));

    // With file set, only sname is free: option 12 cannot go anywhere.
    let mut b2 = b.clone();
    b2.set_file(b"cm.cfg").unwrap();
    assert_eq!(b2.encode(576), Err(EncodeError::TooLarge { limit: 576 }));
    // Dropping option 12 lets the rest spill into sname alone.
    b2.remove_option(12);
    let enc = b2.encode(576).unwrap();
    let p = Packet::parse(&enc).unwrap();
    assert_eq!(p.overload, Some(Overload::Sname));
    assert_eq!(p.boot_file(), Some(&b"cm.cfg"[..]));
    assert_eq!(p.options.get(82).as_deref(), Some(&b"\x01\x02ab"[..]));
    // A bigger limit needs no overload at all.
    let p_buf = b.encode(1500).unwrap();
    assert_eq!(Packet::parse(&p_buf).unwrap().overload, None);
}

#[test]
fn reply_size_limit_follows_option57() {
    assert_eq!(reply_size_limit(None, 1500), 576);
    assert_eq!(reply_size_limit(Some(1500), 1500), 1500);
    assert_eq!(reply_size_limit(Some(9000), 1500), 1500);
    assert_eq!(
        reply_size_limit(Some(300), 1500),
        576,
        "below the legal minimum"
    );
    assert_eq!(reply_size_limit(Some(1400), 1500), 1400);
}

#[test]
fn message_type_numbers() {
    for v in 0..=255u8 {
        assert_eq!(u8::from(MessageType::from(v)), v);
    }
    assert_eq!(MessageType::from(1), MessageType::Discover);
    assert_eq!(MessageType::from(8), MessageType::Inform);
    assert_eq!(MessageType::from(9), MessageType::Unknown(9));
    assert_eq!(MessageType::from(10), MessageType::LeaseQuery);
    assert_eq!(MessageType::from(11), MessageType::LeaseUnassigned);
    assert_eq!(MessageType::from(12), MessageType::LeaseUnknown);
    assert_eq!(MessageType::from(13), MessageType::LeaseActive);
    assert_eq!(MessageType::from(14), MessageType::BulkLeaseQuery);
    assert_eq!(MessageType::from(15), MessageType::LeaseQueryDone);
    assert_eq!(MessageType::from(16), MessageType::Unknown(16));
    assert_eq!(MessageType::LeaseActive.name(), "DHCPLEASEACTIVE");
    assert_eq!(MessageType::Ack.name(), "DHCPACK");
}

#[test]
fn many_fragments_spill_to_the_heap_and_stay_ordered() {
    let mut p = header(1, 0, 1, 0, [0; 4], &MAC, b"", b"");
    p.extend_from_slice(&MAGIC_COOKIE);
    for i in 0..300u32 {
        p.extend_from_slice(&[224, 1, (i % 256) as u8]);
    }
    p.extend_from_slice(&[53, 1, 1, 255]);
    let pkt = Packet::parse(&p).unwrap();
    assert!(pkt.options.spilled());
    assert_eq!(pkt.options.fragment_count(), 301);
    let v = pkt.options.get(224).unwrap();
    assert_eq!(v.len(), 300);
    assert_eq!(v[299], (299 % 256) as u8);
    let merged: Vec<u8> = pkt.options.iter().map(|(c, _)| c).collect();
    assert_eq!(merged, vec![224, 53]);
}

fn distinct_options() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    let code = (1u8..=254).prop_filter("52 is the encoder's", |c| *c != 52);
    let value = prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..40),
        1 => proptest::collection::vec(any::<u8>(), 200..700),
    ];
    proptest::collection::vec((code, value), 0..12).prop_map(|v| {
        let mut seen = [false; 256];
        v.into_iter()
            .filter(|(c, _)| !std::mem::replace(&mut seen[usize::from(*c)], true))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn builder_encode_parse_round_trip(
        opts in distinct_options(),
        limit in prop_oneof![Just(576usize), 300usize..2000, Just(65_000)],
        file in proptest::option::of("[a-z]{1,20}"),
        sname in proptest::option::of("[a-z]{1,20}"),
        xid in any::<u32>(),
        flags in any::<u16>(),
        chaddr in any::<[u8; 16]>(),
    ) {
        let mut b = Builder::new();
        b.xid = xid;
        b.flags = flags;
        b.chaddr = chaddr;
        b.giaddr = Ipv4Addr::new(10, 0, 0, 1);
        if let Some(f) = &file { b.set_file(f.as_bytes()).unwrap(); }
        if let Some(s) = &sname { b.set_sname(s.as_bytes()).unwrap(); }
        for (c, v) in &opts {
            b.push_option(*c, v);
        }
        let needed: usize = opts.iter().map(|(_, v)| 2 * v.len().div_ceil(255).max(1) + v.len()).sum::<usize>() + 1;
        match b.encode(limit) {
            Ok(enc) => {
                prop_assert!(enc.len() <= limit.saturating_sub(IP_UDP_OVERHEAD).max(BOOTP_MIN_LEN.min(limit - IP_UDP_OVERHEAD)));
                prop_assert!(enc.len() >= BOOTP_MIN_LEN.min(limit - IP_UDP_OVERHEAD));
                let p = Packet::parse(&enc).unwrap();
                prop_assert_eq!(p.xid, xid);
                prop_assert_eq!(p.flags, flags);
                prop_assert_eq!(p.chaddr, &chaddr);
                let back: Vec<(u8, Vec<u8>)> = p.options.iter().map(|(c, v)| (c, v.into_owned())).collect();
                prop_assert_eq!(&back, &opts);
                if file.is_some() {
                    prop_assert_eq!(p.boot_file(), file.as_deref().map(str::as_bytes));
                }
                if sname.is_some() {
                    prop_assert_eq!(p.server_name(), sname.as_deref().map(str::as_bytes));
                }
                if p.overload.is_none() {
                    prop_assert!(needed <= limit - IP_UDP_OVERHEAD - 240);
                }
            }
            Err(e) => {
                prop_assert_eq!(e, EncodeError::TooLarge { limit });
                prop_assert!(needed > limit - IP_UDP_OVERHEAD - 240, "fits without overload yet failed");
            }
        }
    }

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(buf in proptest::collection::vec(any::<u8>(), 0..700)) {
        let _ = Packet::parse(&buf);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_options(
        tail in proptest::collection::vec(any::<u8>(), 0..400),
        sname in proptest::collection::vec(any::<u8>(), 64),
        file in proptest::collection::vec(any::<u8>(), 128),
        op in 1u8..=2,
    ) {
        let mut p = header(op, 0, 1, 0, [0; 4], &MAC, &sname, &file);
        p.extend_from_slice(&MAGIC_COOKIE);
        p.extend_from_slice(&tail);
        if let Ok(pkt) = Packet::parse(&p) {
            for (c, v) in pkt.options.fragments() {
                prop_assert!(c != 0 && c != 255 && c != 52);
                prop_assert!(v.len() <= 255);
            }
            for (c, v) in pkt.options.iter() {
                prop_assert_eq!(pkt.options.get(c), Some(v));
            }
        }
    }

    #[test]
    fn every_truncation_is_an_error_or_a_prefix(opts in distinct_options(), overload_limit in any::<bool>()) {
        let mut b = Builder::new();
        for (c, v) in &opts {
            b.push_option(*c, v);
        }
        let Ok(full) = b.encode(if overload_limit { 576 } else { 4000 }) else { return Ok(()) };
        let whole = Packet::parse(&full).unwrap();
        let all: Vec<(u8, &[u8])> = whole.options.fragments().collect();
        for cut in 0..full.len() {
            match Packet::parse(&full[..cut]) {
                Err(_) => {}
                Ok(p) => {
                    let got: Vec<(u8, &[u8])> = p.options.fragments().collect();
                    if p.overload.is_none() {
                        prop_assert!(got.len() <= all.len());
                        prop_assert_eq!(&got[..], &all[..got.len()]);
                    } else {
                        // file and sname are intact (they are in the header),
                        // so only options-field fragments can be missing.
                        prop_assert!(got.iter().all(|f| all.contains(f)));
                    }
                }
            }
        }
    }
}
