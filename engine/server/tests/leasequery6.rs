//! Issue 17: DHCPv6 Leasequery (RFC 5007) over UDP and Bulk Leasequery
//! (RFC 5460) against the packet path, with a few thousand bindings made
//! by relayed SOLICITs (Rapid Commit) through three relays on two links:
//! who may ask, every answer checked against the binding table, the
//! bulk-only query types refused over UDP, the bulk state machine
//! streaming REPLY / DATA / DONE by transaction id for pipelined queries,
//! frames that are not queries closing the connection, a real TCP
//! listener closing a stranger's connection and counting it, and
//! the table never changed by a query.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use headend_model::config::SourceFile;
use headend_model::snapshot::Snapshot;
use headend_model::trace::Trace;
use headend_server::counters::{Event, Family};
use headend_server::dhcpv6::bulk::{BulkConnection, Output};
use headend_server::dhcpv6::{Dhcpv6, Outcome6};
use headend_server::runtime::Server;
use headend_store::{Lease6, MemoryStore};
use headend_wire::dhcpv6::code::{self, Status};
use headend_wire::dhcpv6::leasequery::{
    parse_client_links, ClientData, QUERY_BY_ADDRESS, QUERY_BY_CLIENTID, QUERY_BY_LINK_ADDRESS,
    QUERY_BY_RELAY_ID, QUERY_BY_REMOTE_ID,
};
use headend_wire::dhcpv6::{Builder, Message, MessageType};

const LINK_A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 1);
const LINK_B: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x200, 0, 0, 0, 0, 1);
/// The CMTS (relay and leasequery requester).
const CMTS: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xc);
const STRANGER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xbad, 0, 0, 0, 0, 1);
const REQUESTOR_DUID: [u8; 10] = [0, 3, 0, 1, 0x02, 0, 0, 0, 0, 0x0c];

const CONFIG: &str = r#"
[server]
store = "state"
[[domain]]
name = "cpe"
[dhcpv6]
listen = ["[::1]:0"]
rapid_commit = true
leasequery_requesters = ["2001:db8::c/128"]
[[pool6]]
name = "a"
prefix = "2001:db8:1::/64"
links = ["2001:db8:100::1"]
[[pool6]]
name = "b"
prefix = "2001:db8:2::/64"
links = ["2001:db8:200::1"]
[[pool6]]
name = "pd"
kind = "pd"
prefix = "2001:db8:8000::/40"
delegated_length = 56
links = ["2001:db8:100::1", "2001:db8:200::1"]
"#;

/// Clients bound: 3,000 through three relays (relay ids 1-3, relay 3 on
/// link B), each with a remote id of its own modem (one modem per 10).
const CLIENTS: u32 = 3_000;

struct Env {
    server: Server,
    now: Arc<AtomicU64>,
}

fn env() -> Env {
    let src = SourceFile::new("t.toml".into(), CONFIG.into());
    let snap = Snapshot::from_source(&src, 1).unwrap();
    let now = Arc::new(AtomicU64::new(1_700_000_000));
    let n2 = now.clone();
    let server = Server::with_store(
        std::path::Path::new("t.toml"),
        snap,
        Arc::new(MemoryStore::new()),
        Arc::new(move || n2.load(Ordering::SeqCst)),
    )
    .unwrap();
    Env { server, now }
}

fn v6(e: &Env) -> &Arc<Dhcpv6> {
    e.server.dhcpv6()
}

fn duid(n: u32) -> Vec<u8> {
    let mut d = vec![0, 3, 0, 1, 0x3c, 0];
    d.extend_from_slice(&n.to_be_bytes());
    d
}

fn relay_of(n: u32) -> u8 {
    (n % 3) as u8 + 1
}

fn link_of(n: u32) -> Ipv6Addr {
    if relay_of(n) == 3 {
        LINK_B
    } else {
        LINK_A
    }
}

fn relay_id(r: u8) -> Vec<u8> {
    vec![0, 3, 0, 1, 0x02, 0, 0, 0, 0xee, r]
}

fn remote_id(n: u32) -> Vec<u8> {
    let mut v = 4491u32.to_be_bytes().to_vec();
    v.extend_from_slice(&[0x00, 0x10, 0x18, 0, ((n / 10) >> 8) as u8, (n / 10) as u8]);
    v
}

/// A Rapid Commit SOLICIT with IA_NA (and IA_PD for every fifth client)
/// through client `n`'s relay, which adds its Relay-ID and Remote-ID.
fn solicit(n: u32) -> Vec<u8> {
    let mut b = Builder::message(MessageType::Solicit, n & 0xff_ffff);
    b.client_id(&duid(n)).unwrap();
    b.ia_na(1, 0, 0, |_| Ok(())).unwrap();
    if n % 5 == 0 {
        b.ia_pd(2, 0, 0, |_| Ok(())).unwrap();
    }
    b.rapid_commit().unwrap();
    let mut r = Builder::relay(
        MessageType::RelayForw,
        0,
        link_of(n),
        "fe80::1".parse().unwrap(),
    );
    r.interface_id(b"cable-1/0").unwrap();
    let rid = remote_id(n);
    r.remote_id(u32::from_be_bytes(rid[..4].try_into().unwrap()), &rid[4..])
        .unwrap();
    r.relay_id(&relay_id(relay_of(n))).unwrap();
    r.relay_msg(&b.finish()).unwrap();
    r.finish()
}

fn from(ip: Ipv6Addr) -> SocketAddrV6 {
    SocketAddrV6::new(ip, 40547, 0, 0)
}

/// Binds every client; the binding table afterwards.
fn bind_all(e: &Env) -> Vec<Lease6> {
    for n in 0..CLIENTS {
        match v6(e).handle(&solicit(n), from(CMTS), &mut Trace::disabled()) {
            Outcome6::Reply { .. } => {}
            other => panic!("client {n}: {other:?}"),
        }
    }
    let all: Vec<Lease6> = v6(e).leases.lock().iter().cloned().collect();
    assert_eq!(all.len() as u32, CLIENTS + CLIENTS / 5);
    all
}

fn lq_message(xid: u32, qtype: u8, link: Ipv6Addr, body: impl FnOnce(&mut Builder)) -> Vec<u8> {
    let mut b = Builder::message(MessageType::Leasequery, xid);
    b.client_id(&REQUESTOR_DUID).unwrap();
    b.lq_query(qtype, link, |q| {
        body(q);
        q.oro(&[code::LQ_RELAY_DATA])?;
        Ok(())
    })
    .unwrap();
    b.finish()
}

/// Sends a UDP LEASEQUERY from `src`; the LEASEQUERY-REPLY.
fn ask(e: &Env, src: Ipv6Addr, q: &[u8]) -> Vec<u8> {
    match v6(e).handle(q, from(src), &mut Trace::disabled()) {
        Outcome6::Reply {
            packet,
            to,
            commit,
            durable,
        } => {
            assert_eq!(to, from(src), "answered to the requestor");
            assert!(
                commit.is_empty() && !durable,
                "a leasequery commits nothing"
            );
            packet
        }
        other => panic!("no answer: {other:?}"),
    }
}

fn status(m: &Message<'_>) -> Option<Status> {
    m.options.status_code().unwrap().map(|s| s.status)
}

/// Checks one client data against the table: the client's every active
/// binding on its link, lifetimes remaining, CLT_TIME, relay data.
fn check_client(cd: &ClientData<'_>, table: &[Lease6], now: u64) -> (Vec<u8>, Ipv6Addr) {
    let d = cd.client_id.unwrap().to_vec();
    let mine: Vec<&Lease6> = table.iter().filter(|l| l.duid == d).collect();
    assert!(!mine.is_empty());
    let link = mine[0].link;
    let want: BTreeSet<(Ipv6Addr, u8)> = mine.iter().map(|l| (l.address, l.prefix_len)).collect();
    let got: BTreeSet<(Ipv6Addr, u8)> = cd
        .addresses
        .iter()
        .map(|a| (a.addr, 128))
        .chain(cd.prefixes.iter().map(|p| (p.prefix, p.prefix_len)))
        .collect();
    assert_eq!(got, want);
    for a in &cd.addresses {
        let l = mine.iter().find(|l| l.address == a.addr).unwrap();
        assert_eq!(
            u64::from(a.valid_lifetime),
            u64::from(l.valid) - (now - l.commit_time)
        );
    }
    let newest = mine.iter().map(|l| l.commit_time).max().unwrap();
    assert_eq!(u64::from(cd.clt_time.unwrap()), now - newest);
    let rd = cd.relay_data.expect("relay data asked for");
    assert_eq!(rd.peer_address, CMTS, "the relay the message came from");
    let layers = rd.layers().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0].link_address, link);
    assert!(
        layers[0].options.relay_msg().is_none(),
        "client message cut out"
    );
    (d, link)
}

#[test]
fn udp_leasequery_by_address_and_client_id_matches_the_bindings() {
    let e = env();
    let table = bind_all(&e);
    e.now.fetch_add(100, Ordering::SeqCst);
    let now = e.now.load(Ordering::SeqCst);
    // By address: a sample of every kind of binding.
    for l in table.iter().step_by(97) {
        let q = lq_message(7, QUERY_BY_ADDRESS, Ipv6Addr::UNSPECIFIED, |q| {
            q.ia_addr(l.address, 0, 0).unwrap();
        });
        let r = ask(&e, CMTS, &q);
        let m = Message::parse(&r).unwrap();
        assert_eq!(m.msg_type, MessageType::LeasequeryReply);
        assert_eq!(m.transaction_id, 7);
        assert_eq!(m.options.get(code::CLIENTID), Some(&REQUESTOR_DUID[..]));
        assert_eq!(m.options.get(code::SERVERID), Some(v6(&e).server_duid()));
        assert_eq!(status(&m), None);
        let cd = ClientData::parse(m.options.get(code::CLIENT_DATA).unwrap()).unwrap();
        let (d, link) = check_client(&cd, &table, now);
        assert_eq!((d, link), (l.duid.clone(), l.link));
    }
    // An address inside a delegated prefix finds its client too.
    let pd = table.iter().find(|l| l.prefix_len == 56).unwrap();
    let inside = Ipv6Addr::from(u128::from(pd.address) | 0x1234);
    let q = lq_message(8, QUERY_BY_ADDRESS, Ipv6Addr::UNSPECIFIED, |q| {
        q.ia_addr(inside, 0, 0).unwrap();
    });
    let r = ask(&e, CMTS, &q);
    let m = Message::parse(&r).unwrap();
    let cd = ClientData::parse(m.options.get(code::CLIENT_DATA).unwrap()).unwrap();
    assert_eq!(cd.client_id, Some(&pd.duid[..]));
    // A pool address nobody holds: no client data; an address of no pool:
    // NotConfigured.
    for (a, want) in [
        ("2001:db8:1::ffff:ffff", None),
        ("2001:db8:99::1", Some(Status::NotConfigured)),
    ] {
        let q = lq_message(9, QUERY_BY_ADDRESS, Ipv6Addr::UNSPECIFIED, |q| {
            q.ia_addr(a.parse().unwrap(), 0, 0).unwrap();
        });
        let r = ask(&e, CMTS, &q);
        let m = Message::parse(&r).unwrap();
        assert_eq!(status(&m), want, "{a}");
        assert!(m.options.get(code::CLIENT_DATA).is_none());
    }
    // By client id, with and without the link.
    for n in [0u32, 5, 1234, 2999] {
        for link in [Ipv6Addr::UNSPECIFIED, link_of(n)] {
            let q = lq_message(10, QUERY_BY_CLIENTID, link, |q| {
                q.client_id(&duid(n)).unwrap();
            });
            let r = ask(&e, CMTS, &q);
            let m = Message::parse(&r).unwrap();
            let cd = ClientData::parse(m.options.get(code::CLIENT_DATA).unwrap()).unwrap();
            assert_eq!(check_client(&cd, &table, now), (duid(n), link_of(n)));
        }
        // The other link: nothing.
        let other = if link_of(n) == LINK_A { LINK_B } else { LINK_A };
        let q = lq_message(11, QUERY_BY_CLIENTID, other, |q| {
            q.client_id(&duid(n)).unwrap();
        });
        let m_buf = ask(&e, CMTS, &q);
        let m = Message::parse(&m_buf).unwrap();
        assert!(m.options.get(code::CLIENT_DATA).is_none());
    }
    // Queries changed nothing.
    let after: Vec<Lease6> = v6(&e).leases.lock().iter().cloned().collect();
    assert_eq!(after.len(), table.len());
    for l in &after {
        assert!(table.contains(l));
    }
    assert!(v6(&e).counters.get_in(Family::Dhcpv6, Event::Leasequery) >= 40);
}

#[test]
fn a_client_on_two_links_gets_lq_client_link() {
    let e = env();
    // Client 0 on link A, then the same DUID with another IAID on link B.
    let _ = bind_all(&e);
    let mut b = Builder::message(MessageType::Solicit, 5);
    b.client_id(&duid(0)).unwrap();
    b.ia_na(9, 0, 0, |_| Ok(())).unwrap();
    b.rapid_commit().unwrap();
    let mut r = Builder::relay(
        MessageType::RelayForw,
        0,
        LINK_B,
        "fe80::1".parse().unwrap(),
    );
    r.relay_msg(&b.finish()).unwrap();
    assert!(matches!(
        v6(&e).handle(&r.finish(), from(CMTS), &mut Trace::disabled()),
        Outcome6::Reply { .. }
    ));
    let q = lq_message(12, QUERY_BY_CLIENTID, Ipv6Addr::UNSPECIFIED, |q| {
        q.client_id(&duid(0)).unwrap();
    });
    let r = ask(&e, CMTS, &q);
    let m = Message::parse(&r).unwrap();
    assert!(m.options.get(code::CLIENT_DATA).is_none());
    let mut links = parse_client_links(m.options.get(code::LQ_CLIENT_LINK).unwrap()).unwrap();
    links.sort();
    assert_eq!(links, [LINK_A, LINK_B]);
}

#[test]
fn strangers_bulk_only_types_and_malformed_queries() {
    let e = env();
    let _ = bind_all(&e);
    let q = lq_message(13, QUERY_BY_CLIENTID, Ipv6Addr::UNSPECIFIED, |q| {
        q.client_id(&duid(1)).unwrap();
    });
    // A stranger: NotAllowed, nothing else, counted.
    let r = ask(&e, STRANGER, &q);
    let m = Message::parse(&r).unwrap();
    assert_eq!(status(&m), Some(Status::NotAllowed));
    assert!(m.options.get(code::CLIENT_DATA).is_none());
    assert!(r.len() <= q.len() + 64, "no amplification");
    assert_eq!(
        v6(&e)
            .counters
            .get_in(Family::Dhcpv6, Event::LeasequeryRefused),
        1
    );
    // RFC 5460 §6: query types 3-5 over UDP are NotAllowed.
    for (t, link) in [
        (QUERY_BY_RELAY_ID, Ipv6Addr::UNSPECIFIED),
        (QUERY_BY_LINK_ADDRESS, LINK_A),
        (QUERY_BY_REMOTE_ID, Ipv6Addr::UNSPECIFIED),
    ] {
        let q = lq_message(14, t, link, |q| {
            q.relay_id(&relay_id(1)).unwrap();
            let rid = remote_id(1);
            q.remote_id(4491, &rid[4..]).unwrap();
        });
        let r = ask(&e, CMTS, &q);
        assert_eq!(
            status(&Message::parse(&r).unwrap()),
            Some(Status::NotAllowed)
        );
    }
    // Malformed: by address without an IAADDR (MalformedQuery), an unknown
    // type (UnknownQueryType), no Client Identifier (dropped).
    let q = lq_message(15, QUERY_BY_ADDRESS, Ipv6Addr::UNSPECIFIED, |_| {});
    let r = ask(&e, CMTS, &q);
    assert_eq!(
        status(&Message::parse(&r).unwrap()),
        Some(Status::MalformedQuery)
    );
    let q = lq_message(16, 77, Ipv6Addr::UNSPECIFIED, |_| {});
    let r = ask(&e, CMTS, &q);
    assert_eq!(
        status(&Message::parse(&r).unwrap()),
        Some(Status::UnknownQueryType)
    );
    let mut b = Builder::message(MessageType::Leasequery, 17);
    b.lq_query(QUERY_BY_LINK_ADDRESS, LINK_A, |_| Ok(()))
        .unwrap();
    match v6(&e).handle(&b.finish(), from(CMTS), &mut Trace::disabled()) {
        Outcome6::Drop(r) => assert_eq!(r, "leasequery_no_client_id"),
        other => panic!("{other:?}"),
    }
    let drops = v6(&e).counters.drops_in(Family::Dhcpv6);
    assert_eq!(drops.get("leasequery_malformed"), Some(&1));
    assert_eq!(drops.get("leasequery_unknown_query_type"), Some(&1));
}

/// Runs the bulk state machine over `frames` (the LEASEQUERY messages,
/// framed and concatenated, fed in 7-octet pieces); every message out.
fn bulk(e: &Env, queries: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut stream = Vec::new();
    for q in queries {
        stream.extend_from_slice(&(q.len() as u16).to_be_bytes());
        stream.extend_from_slice(q);
    }
    let mut conn = BulkConnection::new();
    for piece in stream.chunks(7) {
        conn.received(piece).unwrap();
    }
    let mut out = Vec::new();
    for _ in 0..1_000_000 {
        match conn.next_output(&**v6(e)) {
            Output::Frame(f) => {
                let n = u16::from_be_bytes([f[0], f[1]]) as usize;
                assert_eq!(n + 2, f.len());
                out.push(f[2..].to_vec());
            }
            Output::Walking => {}
            Output::Idle => break,
        }
    }
    assert!(conn.is_idle());
    out
}

/// Splits bulk answers by transaction id: (REPLY, [client data], DONE?).
fn by_xid(msgs: &[Vec<u8>]) -> BTreeMap<u32, Vec<Vec<u8>>> {
    let mut m: BTreeMap<u32, Vec<Vec<u8>>> = BTreeMap::new();
    for x in msgs {
        let msg = Message::parse(x).unwrap();
        m.entry(msg.transaction_id).or_default().push(x.clone());
    }
    m
}

/// The clients one bulk answer carried, checked message by message.
fn clients_of(answer: &[Vec<u8>], table: &[Lease6], now: u64) -> BTreeSet<(Vec<u8>, Ipv6Addr)> {
    let mut out = BTreeSet::new();
    for (i, x) in answer.iter().enumerate() {
        let m = Message::parse(x).unwrap();
        let want = if i == 0 {
            MessageType::LeasequeryReply
        } else if i + 1 == answer.len() && answer.len() > 1 {
            MessageType::LeasequeryDone
        } else {
            MessageType::LeasequeryData
        };
        assert_eq!(m.msg_type, want, "message {i}");
        if m.msg_type == MessageType::LeasequeryData {
            assert!(m.options.get(code::SERVERID).is_none());
        }
        if let Some(cd) = m.options.get(code::CLIENT_DATA) {
            let cd = ClientData::parse(cd).unwrap();
            assert!(out.insert(check_client(&cd, table, now)), "client twice");
        }
    }
    out
}

#[test]
fn bulk_leasequery_streams_every_matching_client_once_in_pipelined_order() {
    let e = env();
    let table = bind_all(&e);
    let now = e.now.load(Ordering::SeqCst);
    let queries = vec![
        lq_message(0x100, QUERY_BY_RELAY_ID, Ipv6Addr::UNSPECIFIED, |q| {
            q.relay_id(&relay_id(1)).unwrap();
        }),
        lq_message(0x101, QUERY_BY_LINK_ADDRESS, LINK_B, |_| {}),
        lq_message(0x102, QUERY_BY_REMOTE_ID, Ipv6Addr::UNSPECIFIED, |q| {
            let rid = remote_id(42);
            q.remote_id(4491, &rid[4..]).unwrap();
        }),
        lq_message(0x103, QUERY_BY_CLIENTID, Ipv6Addr::UNSPECIFIED, |q| {
            q.client_id(&duid(10)).unwrap();
        }),
        lq_message(0x104, QUERY_BY_ADDRESS, Ipv6Addr::UNSPECIFIED, |q| {
            q.ia_addr(table[0].address, 0, 0).unwrap();
        }),
        // Relay 1 is on link A only: limited to link B, nothing.
        lq_message(0x105, QUERY_BY_RELAY_ID, LINK_B, |q| {
            q.relay_id(&relay_id(1)).unwrap();
        }),
        lq_message(0x106, 77, Ipv6Addr::UNSPECIFIED, |_| {}),
    ];
    let out = bulk(&e, &queries);
    // In query order, each answer whole before the next.
    let order: Vec<u32> = out
        .iter()
        .map(|x| Message::parse(x).unwrap().transaction_id)
        .collect();
    let mut seen = order.clone();
    seen.dedup();
    assert_eq!(seen, [0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106]);
    let ans = by_xid(&out);
    let expect = |keep: &dyn Fn(u32) -> bool| -> BTreeSet<(Vec<u8>, Ipv6Addr)> {
        (0..CLIENTS)
            .filter(|n| keep(*n))
            .map(|n| (duid(n), link_of(n)))
            .collect()
    };
    assert_eq!(
        clients_of(&ans[&0x100], &table, now),
        expect(&|n| relay_of(n) == 1)
    );
    assert_eq!(
        clients_of(&ans[&0x101], &table, now),
        expect(&|n| link_of(n) == LINK_B)
    );
    assert_eq!(
        clients_of(&ans[&0x102], &table, now),
        expect(&|n| n / 10 == 42 / 10)
    );
    assert_eq!(clients_of(&ans[&0x103], &table, now), expect(&|n| n == 10));
    assert_eq!(ans[&0x103].len(), 2, "REPLY and DONE");
    assert_eq!(clients_of(&ans[&0x104], &table, now).len(), 1);
    // Nothing found: the REPLY alone; a bad query: the REPLY with status.
    assert_eq!(ans[&0x105].len(), 1);
    let m = Message::parse(&ans[&0x106][0]).unwrap();
    assert_eq!(
        (m.msg_type, status(&m)),
        (MessageType::LeasequeryReply, Some(Status::UnknownQueryType))
    );
}

#[test]
fn bulk_frames_that_are_not_queries_close_the_connection() {
    let mut conn = BulkConnection::new();
    assert!(conn.received(&[0, 0]).is_err(), "empty frame");
    let mut conn = BulkConnection::new();
    assert!(conn.received(&[0xff, 0xff]).is_err(), "over the limit");
    let mut conn = BulkConnection::new();
    // A SOLICIT on the bulk connection.
    assert!(conn.received(&[0, 4, 1, 0, 0, 1]).is_err());
    let mut conn = BulkConnection::new();
    // A LEASEQUERY without a Client Identifier.
    assert!(conn.received(&[0, 4, 14, 0, 0, 1]).is_err());
}

#[test]
fn bulk_leasequery_over_tcp_closes_strangers_at_accept() {
    use std::io::{Read, Write};
    let e = env();
    let _ = bind_all(&e);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let listener = rt
        .block_on(async { headend_server::dhcpv6::bulk::listen("[::1]:0".parse().unwrap()) })
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = v6(&e).clone();
    let task = rt.spawn(headend_server::dhcpv6::bulk::serve(svc, listener, stop));
    let th = std::thread::spawn(move || {
        rt.block_on(async {
            let _ = task.await;
        });
    });
    // ::1 is not a requester here: closed at accept, counted.
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let q = lq_message(1, QUERY_BY_LINK_ADDRESS, LINK_B, |_| {});
    let mut f = (q.len() as u16).to_be_bytes().to_vec();
    f.extend_from_slice(&q);
    let _ = s.write_all(&f);
    let mut buf = Vec::new();
    let n = s.read_to_end(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "a stranger gets nothing");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while v6(&e)
        .counters
        .get_in(Family::Dhcpv6, Event::LeasequeryRefused)
        == 0
    {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    stop_tx.send(true).unwrap();
    th.join().unwrap();
}

#[test]
fn bulk_leasequery_streams_100k_bindings() {
    let e = env();
    let now = e.now.load(Ordering::SeqCst);
    // 100,000 bindings put straight into the table, as a restart loads
    // them: one relay (relay id 1) on link A, ten clients a modem.
    const N: u32 = 100_000;
    {
        let stored = v6(&e);
        let mut t = stored.leases.lock();
        for n in 0..N {
            let r = solicit(n);
            let relayed = headend_wire::dhcpv6::Relayed::parse(&r).unwrap();
            t.bind(Lease6 {
                kind: headend_store::Lease6Kind::Na,
                address: Ipv6Addr::from(
                    u128::from(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0)) + u128::from(n) + 1,
                ),
                prefix_len: 128,
                duid: duid(n),
                iaid: 1,
                state: headend_store::LeaseState::Active,
                commit_time: now,
                preferred: 1800,
                valid: 3600,
                link: LINK_A,
                pool: "a".into(),
                mac: None,
                modem_mac: None,
                fqdn: None,
                relay: headend_server::dhcpv6::leasequery::relay_of(&relayed, &from(CMTS)),
            });
        }
    }
    let q = lq_message(0x200, QUERY_BY_LINK_ADDRESS, LINK_A, |_| {});
    let started = std::time::Instant::now();
    let out = bulk(&e, &[q]);
    let took = started.elapsed();
    assert_eq!(out.len() as u32, N + 1, "REPLY + DATA per client + DONE");
    let mut seen = BTreeSet::new();
    for x in &out {
        let m = Message::parse(x).unwrap();
        if let Some(cd) = m.options.get(code::CLIENT_DATA) {
            let cd = ClientData::parse(cd).unwrap();
            assert!(seen.insert(cd.client_id.unwrap().to_vec()));
        }
    }
    assert_eq!(seen.len() as u32, N);
    eprintln!(
        "bulk leasequery: {N} bindings streamed in {took:?} ({:.0}/s, without a socket)",
        f64::from(N) / took.as_secs_f64()
    );
    // A selective walk: ten clients of one modem among the 100,000.
    let q = lq_message(0x201, QUERY_BY_REMOTE_ID, Ipv6Addr::UNSPECIFIED, |q| {
        let rid = remote_id(777);
        q.remote_id(4491, &rid[4..]).unwrap();
    });
    let out = bulk(&e, &[q]);
    assert_eq!(out.len(), 11, "REPLY, 9 DATA, DONE");
}
