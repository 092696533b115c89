//! Issue 17: DHCPv4 leasequery (RFC 4388 with RFC 6148's query by remote
//! id) against the packet path without sockets — who may ask, every
//! answer checked against the lease table, malformed queries dropped, and
//! the table never changed by a query.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::net::{Ipv4Addr, SocketAddrV4};

use common::*;
use headend_model::trace::Trace;
use headend_server::dhcpv4::{Inbound, Outcome};
use headend_wire::dhcpv4::{code, Builder, MessageType, BOOTREQUEST};

const CM: [u8; 6] = [0x00, 0x10, 0x95, 0x00, 0x00, 0x01];
const CPE: [u8; 6] = [0x3c, 0x00, 0x00, 0x00, 0x00, 0x01];

/// `BASE` with the relay allowed to query.
fn allowed() -> String {
    BASE.replace(
        "decline_hold = 600\n",
        "decline_hold = 600\nleasequery_requesters = [\"127.0.0.0/30\"]\n",
    )
}

/// A DHCPLEASEQUERY from the relay: `ciaddr`, `chaddr` (hlen from its
/// length), option 53 = 10, then `options`.
fn query(ciaddr: Ipv4Addr, chaddr: &[u8], options: &[(u8, Vec<u8>)]) -> Vec<u8> {
    query_from(RELAY, ciaddr, chaddr, options)
}

fn query_from(
    giaddr: Ipv4Addr,
    ciaddr: Ipv4Addr,
    chaddr: &[u8],
    options: &[(u8, Vec<u8>)],
) -> Vec<u8> {
    let mut b = Builder::new();
    b.op = BOOTREQUEST;
    b.htype = u8::from(!chaddr.is_empty());
    b.hlen = chaddr.len() as u8;
    b.xid = 0x4c51_0001;
    b.ciaddr = ciaddr;
    b.giaddr = giaddr;
    b.chaddr[..chaddr.len()].copy_from_slice(chaddr);
    b.push_option(code::MESSAGE_TYPE, &[u8::from(MessageType::LeaseQuery)]);
    for (c, d) in options {
        b.push_option(*c, d);
    }
    b.encode(576).unwrap()
}

/// Sends `data` as if from `source`.
fn send_from(bed: &Bed, source: SocketAddrV4, data: &[u8]) -> Outcome {
    let inb = Inbound {
        data,
        source,
        local: SocketAddrV4::new(SERVER, 67),
    };
    bed.server.dhcpv4().handle(&inb, &mut Trace::disabled())
}

fn answer(bed: &Bed, data: &[u8]) -> Reply {
    let r = bed.reply(data);
    assert_eq!(r.commits, 0, "a leasequery commits nothing");
    assert!(!r.durable);
    assert_eq!(
        r.to,
        SocketAddrV4::new(RELAY, 67),
        "answered to giaddr at the relay port"
    );
    assert_eq!(r.packet().op, 2);
    assert_eq!(r.packet().xid, 0x4c51_0001);
    assert_eq!(r.packet().giaddr, RELAY);
    r
}

fn u32_opt(r: &Reply, c: u8) -> u32 {
    u32::from_be_bytes(r.opt(c).unwrap().try_into().unwrap())
}

fn cpe(mac: [u8; 6], client_id: &[u8]) -> Req {
    Req::new(mac).opt(code::CLIENT_ID, client_id).remote_id(CM)
}

#[test]
fn leasequery_is_refused_unless_configured() {
    let bed = bed(BASE);
    let ack = dora(&bed, &Req::new(CM).vendor_class("docsis3.0:"));
    match bed.send(&query(ack.yiaddr(), &[], &[])) {
        Outcome::Silent(r) => assert_eq!(r, "leasequery_refused"),
        other => panic!("{other:?}"),
    }
    // Even a malformed one: a stranger learns nothing, not even that.
    match bed.send(&query(Ipv4Addr::UNSPECIFIED, &[], &[])) {
        Outcome::Silent(r) => assert_eq!(r, "leasequery_refused"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn only_listed_sources_and_giaddrs_are_answered() {
    let bed = bed(&allowed());
    let ack = dora(&bed, &Req::new(CM).vendor_class("docsis3.0:"));
    let q = query(ack.yiaddr(), &[], &[]);
    match send_from(&bed, SocketAddrV4::new(Ipv4Addr::new(10, 9, 9, 9), 67), &q) {
        Outcome::Silent(r) => assert_eq!(r, "leasequery_refused"),
        other => panic!("{other:?}"),
    }
    // An allowed source naming somebody else as the requester: no answer
    // goes to an address that may not ask.
    let elsewhere = query_from(Ipv4Addr::new(10, 9, 9, 9), ack.yiaddr(), &[], &[]);
    match bed.send(&elsewhere) {
        Outcome::Silent(r) => assert_eq!(r, "leasequery_refused"),
        other => panic!("{other:?}"),
    }
    assert_eq!(answer(&bed, &q).mtype(), MessageType::LeaseActive);
    // Option 82.19 (RFC 8357): the answer goes to the requester's source port.
    let q = query(ack.yiaddr(), &[], &[(code::RELAY_AGENT_INFO, vec![19, 0])]);
    match send_from(&bed, SocketAddrV4::new(RELAY, 40_000), &q) {
        Outcome::Reply { to, .. } => assert_eq!(to, SocketAddrV4::new(RELAY, 40_000)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn query_by_ip_answers_active_unassigned_and_unknown() {
    let bed = bed(&allowed());
    let ack = dora(&bed, &cpe(CPE, &[0xff, 0, 0, 0, 1, 0, 1]));
    let ip = ack.yiaddr();
    bed.advance(100);

    let r = answer(&bed, &query(ip, &[], &[]));
    assert_eq!(r.mtype(), MessageType::LeaseActive);
    let p = r.packet();
    assert_eq!(p.ciaddr, ip);
    assert_eq!((p.htype, p.hwaddr()), (1, &CPE[..]));
    assert_eq!(r.opt(code::CLIENT_ID).unwrap(), [0xff, 0, 0, 0, 1, 0, 1]);
    assert_eq!(u32_opt(&r, code::LEASE_TIME), 3600 - 100, "remaining time");
    assert_eq!(u32_opt(&r, code::CLIENT_LAST_TRANSACTION_TIME), 100);
    assert_eq!(r.opt(code::SERVER_ID).unwrap(), SERVER.octets());
    // The relay agent information kept with the lease, whole as the
    // relay sent it: circuit id "cm-1" and remote id (82.2) the modem's MAC.
    let mut rai = vec![1, 4, b'c', b'm', b'-', b'1', 2, 6];
    rai.extend_from_slice(&CM);
    assert_eq!(r.opt(code::RELAY_AGENT_INFO).unwrap(), rai);
    assert_eq!(r.opt(code::ASSOCIATED_IP), None);

    // A pool address nobody holds; an address this server knows nothing of.
    let free = Ipv4Addr::new(10, 1, 0, 15);
    let r = answer(&bed, &query(free, &[], &[]));
    assert_eq!(r.mtype(), MessageType::LeaseUnassigned);
    assert_eq!(r.packet().ciaddr, free);
    assert_eq!(r.opt(code::LEASE_TIME), None);
    let r = answer(&bed, &query(Ipv4Addr::new(192, 0, 2, 99), &[], &[]));
    assert_eq!(r.mtype(), MessageType::LeaseUnknown);

    // Released, the address is still this server's but nobody's.
    assert!(matches!(
        bed.send(&cpe(CPE, &[0xff, 0, 0, 0, 1, 0, 1]).release(ip)),
        Outcome::Commit(_)
    ));
    let r = answer(&bed, &query(ip, &[], &[]));
    assert_eq!(r.mtype(), MessageType::LeaseUnassigned);
    assert_eq!(r.opt(code::CLIENT_ID), None);
}

#[test]
fn query_by_mac_client_id_and_remote_id_list_associated_addresses() {
    let bed = bed(&allowed());
    // One device behind the modem with two client identifiers (two
    // bindings), and a second device behind the same modem.
    let first = dora(&bed, &cpe(CPE, &[0xff, 1])).yiaddr();
    bed.advance(10);
    let second = dora(&bed, &cpe(CPE, &[0xff, 2])).yiaddr();
    bed.advance(10);
    let other_mac = [0x3c, 0, 0, 0, 0, 2];
    let other = dora(&bed, &Req::new(other_mac).remote_id(CM)).yiaddr();
    assert_ne!(first, second);
    let leases_before: Vec<_> = [first, second, other]
        .iter()
        .map(|ip| bed.server.dhcpv4().leases.lock().lease(*ip).cloned())
        .collect();

    // By MAC: the most recent binding in ciaddr, the other in option 92.
    let r = answer(&bed, &query(Ipv4Addr::UNSPECIFIED, &CPE, &[]));
    assert_eq!(r.mtype(), MessageType::LeaseActive);
    assert_eq!(r.packet().ciaddr, second);
    assert_eq!(r.packet().options.associated_ip(), Some(vec![first]));
    assert_eq!(r.opt(code::CLIENT_ID).unwrap(), [0xff, 2]);

    // By client identifier: that binding alone.
    let r = answer(
        &bed,
        &query(
            Ipv4Addr::UNSPECIFIED,
            &[],
            &[(code::CLIENT_ID, vec![0xff, 1])],
        ),
    );
    assert_eq!(r.mtype(), MessageType::LeaseActive);
    assert_eq!(r.packet().ciaddr, first);
    assert_eq!(r.packet().hwaddr(), CPE);
    assert_eq!(r.opt(code::ASSOCIATED_IP), None);

    // A client without option 61: no option 61 in the answer.
    let r = answer(&bed, &query(Ipv4Addr::UNSPECIFIED, &other_mac, &[]));
    assert_eq!(r.packet().ciaddr, other);
    assert_eq!(r.opt(code::CLIENT_ID), None);

    // By remote id (RFC 6148): everything behind the modem, newest first.
    let mut rid = vec![2, 6];
    rid.extend_from_slice(&CM);
    let r = answer(
        &bed,
        &query(
            Ipv4Addr::UNSPECIFIED,
            &[],
            &[(code::RELAY_AGENT_INFO, rid.clone())],
        ),
    );
    assert_eq!(r.mtype(), MessageType::LeaseActive);
    assert_eq!(r.packet().ciaddr, other);
    assert_eq!(
        r.packet().options.associated_ip(),
        Some(vec![second, first])
    );
    let mut whole = vec![1, 4, b'c', b'm', b'-', b'1'];
    whole.extend_from_slice(&rid);
    assert_eq!(r.opt(code::RELAY_AGENT_INFO).unwrap(), whole);

    // Nothing known: DHCPLEASEUNKNOWN, the query echoed.
    let r = answer(
        &bed,
        &query(
            Ipv4Addr::UNSPECIFIED,
            &[],
            &[(code::CLIENT_ID, vec![0xff, 9])],
        ),
    );
    assert_eq!(r.mtype(), MessageType::LeaseUnknown);
    assert_eq!(r.opt(code::CLIENT_ID).unwrap(), [0xff, 9]);
    let r = answer(
        &bed,
        &query(Ipv4Addr::UNSPECIFIED, &[2, 2, 2, 2, 2, 2], &[]),
    );
    assert_eq!(r.mtype(), MessageType::LeaseUnknown);
    assert_eq!(r.packet().hwaddr(), [2, 2, 2, 2, 2, 2]);

    let leases_after: Vec<_> = [first, second, other]
        .iter()
        .map(|ip| bed.server.dhcpv4().leases.lock().lease(*ip).cloned())
        .collect();
    assert_eq!(leases_before, leases_after, "leasequery changed a lease");
}

#[test]
fn expired_bindings_are_not_active() {
    let bed = bed(&allowed());
    let ip = dora(&bed, &Req::new(CM).vendor_class("docsis3.0:")).yiaddr();
    bed.advance(3601);
    let r = answer(&bed, &query(ip, &[], &[]));
    assert_eq!(r.mtype(), MessageType::LeaseUnassigned);
    let r = answer(&bed, &query(Ipv4Addr::UNSPECIFIED, &CM, &[]));
    assert_eq!(r.mtype(), MessageType::LeaseUnknown);
}

#[test]
fn malformed_queries_are_dropped() {
    let bed = bed(&allowed());
    let drop = |data: &[u8]| match bed.send(data) {
        Outcome::Drop(r) => r,
        other => panic!("{other:?}"),
    };
    // No giaddr: nowhere to answer.
    let no_giaddr = query_from(Ipv4Addr::UNSPECIFIED, Ipv4Addr::new(10, 1, 0, 10), &[], &[]);
    assert_eq!(drop(&no_giaddr), "leasequery_no_giaddr");
    // Nothing asked.
    assert_eq!(
        drop(&query(Ipv4Addr::UNSPECIFIED, &[], &[])),
        "leasequery_malformed"
    );
    // By IP and by MAC at once.
    assert_eq!(
        drop(&query(Ipv4Addr::new(10, 1, 0, 10), &CM, &[])),
        "leasequery_malformed"
    );
    // Truncated: the codec's own drop reason.
    let full = query(Ipv4Addr::new(10, 1, 0, 10), &[], &[]);
    assert_eq!(drop(&full[..200]), "truncated");
    // An answer type sent to the server is not a client message.
    let mut active = query(Ipv4Addr::UNSPECIFIED, &CM, &[]);
    assert_eq!(active[240..243], [53, 1, 10]);
    active[242] = 13;
    assert_eq!(drop(&active), "not_client_message");
}

/// Runs a bulk leasequery connection (RFC 6926) over the bed's lease
/// table to its end; the answers, parsed.
fn bulk(bed: &Bed, framed_queries: &[u8]) -> Vec<Vec<u8>> {
    use headend_server::dhcpv4::bulk::{Connection, Limits};
    use headend_wire::dhcpv4::bulk::FrameReader;
    let svc = bed.server.dhcpv4();
    let mut c = Connection::new(SERVER, Limits::default());
    c.receive(framed_queries);
    let mut stream = Vec::new();
    for _ in 0..10_000 {
        c.step(&svc.leases, svc.now());
        let n = c.output().len();
        stream.extend_from_slice(c.output());
        c.consumed(n);
        if !c.has_work() && c.output().is_empty() {
            break;
        }
    }
    let mut r = FrameReader::new();
    r.push(&stream);
    let mut out = Vec::new();
    while let Some(m) = r.next_frame().unwrap() {
        out.push(m.to_vec());
    }
    out
}

fn bulk_query(xid: u32, chaddr: &[u8], options: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut q = query_from(
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        chaddr,
        options,
    );
    q[4..8].copy_from_slice(&xid.to_be_bytes());
    q[242] = 14; // DHCPBULKLEASEQUERY
    let mut framed = Vec::new();
    headend_wire::dhcpv4::bulk::frame(&q, &mut framed).unwrap();
    framed
}

#[test]
fn bulk_leasequery_streams_the_relay_information_kept_at_ack() {
    use headend_wire::dhcpv4::Packet;
    let bed = bed(&allowed());
    let first = dora(&bed, &cpe(CPE, &[0xff, 1])).yiaddr();
    let other = dora(&bed, &Req::new([0x3c, 0, 0, 0, 0, 2]).remote_id(CM)).yiaddr();
    let modem = dora(&bed, &Req::new(CM).vendor_class("docsis3.0:")).yiaddr();
    let stored = bed
        .server
        .dhcpv4()
        .leases
        .lock()
        .lease(first)
        .cloned()
        .unwrap();
    let mut rai = vec![1, 4, b'c', b'm', b'-', b'1', 2, 6];
    rai.extend_from_slice(&CM);
    assert_eq!(
        stored.relay_info.as_deref(),
        Some(&rai[..]),
        "option 82 kept whole at ACK"
    );

    // By remote id, pipelined with a query for everything.
    let mut qs = bulk_query(1, &[], &[(code::RELAY_AGENT_INFO, rai[6..].to_vec())]);
    qs.extend(bulk_query(2, &[], &[]));
    let msgs = bulk(&bed, &qs);
    let parsed: Vec<Packet<'_>> = msgs.iter().map(|m| Packet::parse(m).unwrap()).collect();
    let of = |x: u32| {
        parsed
            .iter()
            .filter(move |p| p.xid == x)
            .collect::<Vec<_>>()
    };
    let by_remote = of(1);
    let ips: Vec<Ipv4Addr> = by_remote.iter().map(|p| p.ciaddr).collect();
    assert_eq!(ips.len(), 3, "{ips:?}");
    assert!(ips.contains(&first) && ips.contains(&other), "{ips:?}");
    assert_eq!(
        by_remote[2].message_type(),
        Some(MessageType::LeaseQueryDone)
    );
    for p in &by_remote[..2] {
        assert_eq!(p.message_type(), Some(MessageType::LeaseActive));
        assert_eq!(
            p.options.get(code::RELAY_AGENT_INFO).unwrap().as_ref(),
            &rai[..]
        );
    }
    let all: Vec<Ipv4Addr> = of(2).iter().map(|p| p.ciaddr).collect();
    assert_eq!(all.len(), 4);
    assert!(all.contains(&modem));
    // The table is unchanged by the queries.
    assert_eq!(
        bed.server
            .dhcpv4()
            .leases
            .lock()
            .lease(first)
            .cloned()
            .unwrap(),
        stored
    );
}

/// The tokio shell: a stranger is closed at once, a connection past the
/// limit is closed, an allowed one is answered and then closed when idle;
/// each counted.
#[test]
fn bulk_listener_refuses_strangers_limits_connections_and_closes_idle_ones() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let config = allowed().replace(
        "decline_hold = 600\n",
        "decline_hold = 600\nbulk_leasequery_max_connections = 1\nbulk_leasequery_idle_timeout = 1\n",
    );
    let bed = bed(&config);
    dora(&bed, &cpe(CPE, &[0xff, 1]));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = rt.spawn(headend_server::dhcpv4::bulk_tcp::serve(
        bed.server.dhcpv4().clone(),
        listener,
        stop_rx,
    ));
    let connect_from = |src: [u8; 4]| {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.bind(&std::net::SocketAddr::from((src, 0)).into())
            .unwrap();
        s.connect(&addr.into()).unwrap();
        let s = std::net::TcpStream::from(s);
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    };
    let closed = |mut s: std::net::TcpStream| {
        let mut b = [0u8; 16];
        matches!(s.read(&mut b), Ok(0) | Err(_))
    };
    // 127.0.0.9 is not among the requesters (127.0.0.0/30).
    assert!(closed(connect_from([127, 0, 0, 9])));
    // An allowed requester is answered ...
    let mut a = connect_from([127, 0, 0, 1]);
    a.write_all(&bulk_query(3, &[], &[])).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < 4 {
        let n = a.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    // ... and a second connection meanwhile is one too many.
    assert!(closed(connect_from([127, 0, 0, 2])));
    // The first, silent, is closed after the idle timeout.
    let t = Instant::now();
    loop {
        match a.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let idle = t.elapsed();
    assert!(idle < Duration::from_secs(4), "{idle:?}");
    stop_tx.send(true).unwrap();
    rt.block_on(task).unwrap().unwrap();
    let silent = bed
        .server
        .counters()
        .silent_of(headend_server::counters::Family::Dhcpv4);
    assert_eq!(
        silent.get("bulk_leasequery_refused"),
        Some(&1),
        "{silent:?}"
    );
    assert_eq!(silent.get("bulk_leasequery_busy"), Some(&1), "{silent:?}");
    assert_eq!(silent.get("bulk_leasequery_idle"), Some(&1), "{silent:?}");
}
