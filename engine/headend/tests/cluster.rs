//! Issue 16, several nodes on one database: two `headend run` nodes share a
//! throwaway PostgreSQL cluster (`headend_store_pg::testing`) and one relay
//! that sends every client's messages to both (as a CMTS relays to every
//! helper address). The relay and clients here are this file's own DHCPv4
//! encoder, written from RFC 2131 apart from headend's codec.
//!
//! It shows: the split (128 buckets each, in the database); exactly one
//! answer per message, every address distinct; SIGKILL of one node and the
//! other taking its buckets within `takeover_ms`, rebinding its clients at
//! their addresses; the killed node restarting and getting its buckets
//! handed back; a SIGTERM'd node handing its buckets over at once; and,
//! checked in the database after the run, no address or client twice.
//!
//! Needs `postgresql` (scripts/setup --peers); fails, not skips, without it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Proc, HEADEND, READY_LINE, READY_TIMEOUT};
use headend_store_pg::postgres::{Client, NoTls};
use headend_store_pg::testing::database;

const RELAY: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const TAKEOVER_MS: u64 = 1500;
const CLIENTS: u32 = 48;

fn config(dir: &Path, url: &str, node: &str) -> PathBuf {
    let path = dir.join(format!("{node}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"
[server]
name = "{node}"
store = "store-{node}"
database = "{url}"

[dhcpv4]
listen = ["127.0.0.1:0"]

[[pool]]
name = "cm"
relays = ["127.0.0.2"]
network = "10.17.0.0/16"
ranges = [["10.17.0.10", "10.17.3.250"]]

[cluster]
nodes = ["a", "b"]
heartbeat_ms = 100
takeover_ms = {TAKEOVER_MS}
"#
        ),
    )
    .unwrap();
    path
}

/// `headend run`, ready: the process and its DHCPv4 address.
fn run(config: &Path) -> (Proc, SocketAddr) {
    let mut cmd = Command::new(HEADEND);
    cmd.arg("run").arg("--config").arg(config);
    let mut p = Proc::spawn("headend run", cmd).unwrap();
    p.wait_for(READY_LINE, READY_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}\n{}", p.output_tail(4000)));
    let line = p
        .output()
        .lines()
        .find(|l| l.contains(READY_LINE))
        .unwrap()
        .to_string();
    let addr = line
        .split(['(', ')', ','])
        .map(str::trim)
        .find(|s| s.starts_with("127.0.0.1:"))
        .unwrap_or_else(|| panic!("no DHCPv4 address in {line}"))
        .parse()
        .unwrap();
    (p, addr)
}

fn mac(i: u32) -> [u8; 6] {
    let b = i.to_be_bytes();
    [0x00, 0x10, 0x95, 0x17, b[2], b[3]]
}

/// A relayed BOOTREQUEST (RFC 2131 §2) with option 82 sub-option 19
/// (RFC 8357: answer to the relay's source port).
fn message(mtype: u8, mac: [u8; 6], xid: u32, ciaddr: Ipv4Addr, opts: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut p = vec![1u8, 1, 6, 1];
    p.extend_from_slice(&xid.to_be_bytes());
    p.extend_from_slice(&[0; 4]); // secs, flags
    p.extend_from_slice(&ciaddr.octets());
    p.extend_from_slice(&[0; 8]); // yiaddr, siaddr
    p.extend_from_slice(&RELAY.octets());
    p.extend_from_slice(&mac);
    p.extend_from_slice(&[0; 10 + 64 + 128]);
    p.extend_from_slice(&[99, 130, 83, 99, 53, 1, mtype]);
    for (code, data) in opts {
        p.push(*code);
        p.push(data.len() as u8);
        p.extend_from_slice(data);
    }
    p.extend_from_slice(&[82, 2, 19, 0, 255]);
    p
}

/// A reply: (message type, yiaddr, server identifier).
fn parse(reply: &[u8]) -> Option<(u32, u8, Ipv4Addr, Option<Ipv4Addr>)> {
    let xid = u32::from_be_bytes(reply.get(4..8)?.try_into().ok()?);
    let yiaddr = Ipv4Addr::from(<[u8; 4]>::try_from(reply.get(16..20)?).ok()?);
    let mut i = 240;
    let (mut mtype, mut sid) = (None, None);
    while let Some(&code) = reply.get(i) {
        if code == 255 {
            break;
        }
        if code == 0 {
            i += 1;
            continue;
        }
        let len = usize::from(*reply.get(i + 1)?);
        let data = reply.get(i + 2..i + 2 + len)?;
        match code {
            53 => mtype = data.first().copied(),
            54 => sid = <[u8; 4]>::try_from(data).ok().map(Ipv4Addr::from),
            _ => {}
        }
        i += 2 + len;
    }
    Some((xid, mtype?, yiaddr, sid))
}

/// Sends each message to every node, then gathers the replies until each
/// xid has one and a quiet while after: (xid → [(node address, type, yiaddr, server id)]).
type Replies = BTreeMap<u32, Vec<(SocketAddr, u8, Ipv4Addr, Option<Ipv4Addr>)>>;

fn exchange(relay: &UdpSocket, nodes: &[SocketAddr], msgs: &[(u32, Vec<u8>)]) -> Replies {
    for (_, m) in msgs {
        for n in nodes {
            relay.send_to(m, n).unwrap();
        }
    }
    let mut out: Replies = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut quiet_from: Option<Instant> = None;
    let mut buf = [0u8; 1500];
    relay
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    while Instant::now() < deadline {
        match relay.recv_from(&mut buf) {
            Ok((n, from)) => {
                if let Some((xid, t, y, sid)) = parse(&buf[..n]) {
                    out.entry(xid).or_default().push((from, t, y, sid));
                }
            }
            Err(_) => {
                let all = msgs.iter().all(|(x, _)| out.contains_key(x));
                if all {
                    // Every message answered: wait a little more for a second answer.
                    let q = *quiet_from.get_or_insert_with(Instant::now);
                    if q.elapsed() > Duration::from_millis(400) {
                        break;
                    }
                }
            }
        }
    }
    out
}

fn owners(sql: &mut Client) -> BTreeMap<String, i64> {
    sql.query(
        "SELECT owner, count(*) FROM cluster_buckets GROUP BY owner",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// Waits until the bucket counts are `want`; returns how long it took.
fn wait_owners(sql: &mut Client, want: &[(&str, i64)], within: Duration) -> Duration {
    let start = Instant::now();
    let want: BTreeMap<String, i64> = want.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    loop {
        let now = owners(sql);
        if now == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "bucket owners {now:?}, wanted {want:?} within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// REBINDING (RFC 2131 §4.4.5): REQUEST with ciaddr, no server identifier,
/// sent to every node; each client must be ACKed by exactly one node, at
/// its address. Returns which node answered each client.
fn rebind(
    relay: &UdpSocket,
    nodes: &[SocketAddr],
    clients: &BTreeMap<u32, Ipv4Addr>,
    xid_base: u32,
) -> BTreeMap<u32, SocketAddr> {
    let msgs: Vec<(u32, Vec<u8>)> = clients
        .iter()
        .map(|(i, ip)| (xid_base + i, message(3, mac(*i), xid_base + i, *ip, &[])))
        .collect();
    let replies = exchange(relay, nodes, &msgs);
    let mut by = BTreeMap::new();
    for (i, ip) in clients {
        let r = replies
            .get(&(xid_base + i))
            .unwrap_or_else(|| panic!("client {i} not answered on rebinding"));
        assert_eq!(r.len(), 1, "client {i} answered {} times: {r:?}", r.len());
        assert_eq!((r[0].1, r[0].2), (5, *ip), "client {i}: {r:?}");
        by.insert(*i, r[0].0);
    }
    by
}

#[test]
fn two_nodes_split_the_buckets_fail_over_and_hand_back() {
    let dir = common::scratch("cluster").unwrap();
    let url = database();
    headend_store_pg::migrate(&url).unwrap();
    let mut sql = Client::connect(&url, NoTls).unwrap();
    let (ca, cb) = (config(dir.path(), &url, "a"), config(dir.path(), &url, "b"));
    let (mut a, mut addr_a) = run(&ca);
    let (mut b, addr_b) = run(&cb);
    wait_owners(&mut sql, &[("a", 128), ("b", 128)], Duration::from_secs(10));
    let relay = UdpSocket::bind((RELAY, 0)).unwrap();

    // DORA for every client, each message to both nodes.
    let discovers: Vec<(u32, Vec<u8>)> = (0..CLIENTS)
        .map(|i| (i, message(1, mac(i), i, Ipv4Addr::UNSPECIFIED, &[])))
        .collect();
    let offers = exchange(&relay, &[addr_a, addr_b], &discovers);
    let mut requests = Vec::new();
    for i in 0..CLIENTS {
        let r = offers
            .get(&i)
            .unwrap_or_else(|| panic!("no OFFER for client {i}"));
        assert_eq!(r.len(), 1, "client {i} got {} OFFERs: {r:?}", r.len());
        let (_, t, ip, sid) = r[0];
        assert_eq!(t, 2);
        let opts = [
            (50, ip.octets().to_vec()),
            (54, sid.unwrap().octets().to_vec()),
        ];
        requests.push((
            1000 + i,
            message(3, mac(i), 1000 + i, Ipv4Addr::UNSPECIFIED, &opts),
        ));
    }
    let acks = exchange(&relay, &[addr_a, addr_b], &requests);
    let mut clients: BTreeMap<u32, Ipv4Addr> = BTreeMap::new();
    let mut first_node: BTreeMap<u32, SocketAddr> = BTreeMap::new();
    for i in 0..CLIENTS {
        let r = acks
            .get(&(1000 + i))
            .unwrap_or_else(|| panic!("no ACK for client {i}"));
        assert_eq!(r.len(), 1, "client {i} got {} answers: {r:?}", r.len());
        assert_eq!(r[0].1, 5, "client {i}: {r:?}");
        assert_eq!(
            r[0].0, offers[&i][0].0,
            "the node that offered acknowledges"
        );
        clients.insert(i, r[0].2);
        first_node.insert(i, r[0].0);
    }
    let distinct: BTreeSet<_> = clients.values().collect();
    assert_eq!(
        distinct.len(),
        clients.len(),
        "an address given twice: {clients:?}"
    );
    let of_a: Vec<u32> = first_node
        .iter()
        .filter(|(_, n)| **n == addr_a)
        .map(|(i, _)| *i)
        .collect();
    assert!(
        !of_a.is_empty() && of_a.len() < clients.len(),
        "both nodes answer some clients: a has {of_a:?}"
    );

    // SIGKILL a: b fences it and takes its buckets within the takeover time.
    a.signal("KILL").unwrap();
    a.wait(Duration::from_secs(10)).unwrap();
    let took = wait_owners(&mut sql, &[("b", 256)], Duration::from_secs(10));
    assert!(
        took < Duration::from_millis(TAKEOVER_MS + 1500),
        "takeover took {took:?}"
    );
    // a's clients rebind: b answers them at their addresses.
    let by = rebind(&relay, &[addr_a, addr_b], &clients, 10_000);
    assert!(by.values().all(|n| *n == addr_b), "{by:?}");

    // a comes back: b hands a's buckets back; a answers its clients again.
    let (a2, new_addr_a) = run(&ca);
    a = a2;
    addr_a = new_addr_a;
    wait_owners(&mut sql, &[("a", 128), ("b", 128)], Duration::from_secs(10));
    let by = rebind(&relay, &[addr_a, addr_b], &clients, 20_000);
    for i in &of_a {
        assert_eq!(by[i], addr_a, "client {i} back on a");
    }

    // SIGTERM b: it hands everything to a before it stops, well inside the
    // takeover time a silent node would need.
    let start = Instant::now();
    b.signal("TERM").unwrap();
    let handed = wait_owners(&mut sql, &[("a", 256)], Duration::from_secs(10));
    assert!(
        handed < Duration::from_millis(TAKEOVER_MS),
        "hand-over took {handed:?}"
    );
    b.wait(Duration::from_secs(20)).unwrap();
    let by = rebind(&relay, &[addr_a, addr_b], &clients, 30_000);
    assert!(by.values().all(|n| *n == addr_a), "{by:?}");
    eprintln!(
        "cluster: takeover after SIGKILL {took:?}, hand-over on SIGTERM {handed:?} (stop took {:?})",
        start.elapsed()
    );

    // In the database: one row per address, one active address per client.
    let twice: i64 = sql
        .query_one(
            "SELECT count(*) FROM (SELECT client FROM leases4 WHERE record->>'state' = 'Active' \
             GROUP BY client HAVING count(*) > 1) t",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(twice, 0, "a client holds two addresses");
    let rows: i64 = sql
        .query_one("SELECT count(DISTINCT ip) FROM leases4", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, i64::from(CLIENTS));
    a.stop(Duration::from_secs(20)).unwrap();
}
