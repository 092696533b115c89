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

use common::{Proc, HEADEND};
use headend_store_pg::postgres::{Client, NoTls};
use headend_store_pg::testing::database;

const RELAY: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const TAKEOVER_MS: u64 = 1500;
const CLIENTS: u32 = 48;

fn config(dir: &Path, url: &str, node: &str) -> PathBuf {
    config_of(dir, url, node, &["a", "b"])
}

/// One node's file of a cluster of `nodes`, all on loopback.
fn config_of(dir: &Path, url: &str, node: &str, nodes: &[&str]) -> PathBuf {
    let path = dir.join(format!("{node}.toml"));
    let nodes = nodes
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ");
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
nodes = [{nodes}]
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
    common::run_ready(config, "127.0.0.1:").unwrap()
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

/// A node answers a bucket handed to it from its next round on (it loads
/// the bucket's leases first): up to one heartbeat after the database says
/// it owns it. Clients retransmit across that; this file's do not.
fn settle() {
    std::thread::sleep(Duration::from_millis(400));
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
    settle();
    let relay = UdpSocket::bind((RELAY, 0)).unwrap();

    // DORA for every client, each message to both nodes.
    let discovers: Vec<(u32, Vec<u8>)> = (0..CLIENTS)
        .map(|i| (i, message(1, mac(i), i, Ipv4Addr::UNSPECIFIED, &[])))
        .collect();
    let offers = exchange(&relay, &[addr_a, addr_b], &discovers);
    let mut requests = Vec::new();
    for i in 0..CLIENTS {
        let r = offers.get(&i).unwrap_or_else(|| {
            panic!(
                "no OFFER for client {i}\na:\n{}\nb:\n{}",
                a.output_tail(3000),
                b.output_tail(3000)
            )
        });
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
    settle();
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
    settle();
    let by = rebind(&relay, &[addr_a, addr_b], &clients, 20_000);
    for i in &of_a {
        assert_eq!(by[i], addr_a, "client {i} back on a");
    }

    // SIGTERM b: it hands everything to a before it stops, well inside the
    // takeover time a silent node would need.
    let start = Instant::now();
    b.signal("TERM").unwrap();
    let handed = wait_owners(&mut sql, &[("a", 256)], Duration::from_secs(10));
    settle();
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

/// A CMTS configured with two helper addresses sends every relayed
/// message to both: this tee does that part (perfdhcp is the relay itself,
/// giaddr 127.0.0.2, and the nodes answer it there directly).
const TEE: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(("127.0.0.4", 67))
dst = [(a, 67) for a in sys.argv[1:]]
print("tee ready", flush=True)
while True:
    d, _ = s.recvfrom(4096)
    for x in dst:
        s.sendto(d, x)
"#;

fn ns_config(dir: &Path, url: &str, node: &str, listen: &str, nodes: &[&str]) -> PathBuf {
    let path = dir.join(format!("{node}-ns.toml"));
    let nodes = nodes
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        &path,
        format!(
            r#"
[server]
name = "{node}"
store = "store-ns-{node}"
database = "{url}"

[dhcpv4]
listen = ["{listen}:67"]

[[pool]]
name = "cm"
relays = ["127.0.0.2"]
network = "10.18.0.0/16"
ranges = [["10.18.0.10", "10.18.255.250"]]
lifetime = 16

[cluster]
nodes = [{nodes}]
heartbeat_ms = 100
takeover_ms = {TAKEOVER_MS}
"#
        ),
    )
    .unwrap();
    path
}

/// perfdhcp's leases (`-x l`): every ACKed (MAC, address) is in the
/// database with that address, and the database has no address or client twice.
fn check_acked_leases_stored(sql: &mut Client, report: &common::PerfReport) -> usize {
    let acked = report.lease_map().unwrap();
    let rows = sql.query("SELECT ip, client FROM leases4", &[]).unwrap();
    let mut by_client: BTreeMap<Vec<u8>, Ipv4Addr> = BTreeMap::new();
    for r in &rows {
        let ip = Ipv4Addr::from(u32::try_from(r.get::<_, i64>(0)).unwrap());
        let client: Vec<u8> = r.get(1);
        assert!(
            by_client.insert(client.clone(), ip).is_none(),
            "client {client:02x?} has two rows"
        );
    }
    for (id, ip) in &acked {
        // perfdhcp prints the client identifier the ACK echoed (RFC 6842):
        // the key the server stored.
        let key: Vec<u8> = (0..id.len() / 2)
            .map(|i| u8::from_str_radix(&id[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        assert_eq!(
            by_client.get(&key),
            Some(ip),
            "ACKed lease {id} -> {ip} not in the database"
        );
    }
    acked.len()
}

#[test]
fn perfdhcp_through_two_helpers_survives_a_node_killed_under_load() {
    perfdhcp_through_helpers(&["a", "b"], &[("a", 128), ("b", 128)], &[("b", 256)]);
}

/// Three nodes: the killed node's buckets go half to each survivor.
#[test]
fn perfdhcp_through_three_helpers_survives_a_node_killed_under_load() {
    perfdhcp_through_helpers(
        &["a", "b", "c"],
        &[("a", 86), ("b", 85), ("c", 85)],
        &[("b", 128), ("c", 128)],
    );
}

/// perfdhcp (the relay, giaddr 127.0.0.2) through a tee to every node
/// (node i on 127.0.0.{2i+1}:67), 400 DORA/s for 8 s, the first node
/// SIGKILLed 3 s in; `split` is the bucket split of all nodes, `after`
/// the one the survivors reach.
fn perfdhcp_through_helpers(names: &[&str], split: &[(&str, i64)], after: &[(&str, i64)]) {
    let _heavy = common::heavy();
    assert!(
        common::find_on_path("perfdhcp").is_some() && common::find_on_path("python3").is_some(),
        "cluster needs perfdhcp and python3"
    );
    let dir = common::scratch("cluster-ns").unwrap();
    // Over the Unix socket: the nodes run inside the test's namespace.
    let url = headend_store_pg::testing::database_via_socket();
    headend_store_pg::migrate(&url).unwrap();
    let mut sql = Client::connect(&url, NoTls).unwrap();
    let ns = common::Netns::loopback_relay().unwrap();
    let listens: Vec<String> = (0..names.len())
        .map(|i| format!("127.0.0.{}", 2 * i + 1))
        .collect();
    let cfgs: Vec<PathBuf> = names
        .iter()
        .zip(&listens)
        .map(|(n, l)| ns_config(dir.path(), &url, n, l, names))
        .collect();
    let mut nodes: Vec<Proc> = cfgs
        .iter()
        .map(|c| common::start_headend(&ns, c).unwrap())
        .collect();
    wait_owners(&mut sql, split, Duration::from_secs(10));
    settle();
    let mut tee_cmd = ns.command("python3");
    tee_cmd.args(["-c", TEE]).args(&listens);
    let mut tee = Proc::spawn("tee", tee_cmd).unwrap();
    tee.wait_for("tee ready", Duration::from_secs(10)).unwrap();

    // 400 DORA/s for 8 s; the first node is killed 3 s in.
    const RATE: u32 = 400;
    let perf = common::Perfdhcp::new(RATE, 100_000)
        .period(8)
        .base_mac("00:10:95:18:00:00")
        .print_leases();
    let killer = {
        let pid = nodes[0].pid();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(3));
            let _ = Command::new("kill")
                .args(["-s", "KILL", &pid.to_string()])
                .status();
        })
    };
    let report = perf.run(&ns, "127.0.0.2", "127.0.0.4").unwrap();
    killer.join().unwrap();
    nodes[0].wait(Duration::from_secs(10)).unwrap();
    eprintln!(
        "cluster of {} under load, a killed at 3 s: {}",
        names.len(),
        report.summary()
    );
    // At most one answer per message: perfdhcp counts an answer it does not
    // wait for as an orphan. A late answer is one to an exchange it already
    // counted as dropped (a machine too busy); a second answer to an
    // answered exchange would be an orphan beyond the drops.
    for ex in [&report.discover_offer, &report.request_ack] {
        assert!(ex.orphans <= ex.drops, "{}", report.summary());
    }
    // Only a's clients in the takeover window go unanswered.
    let window = u64::from(RATE) * (TAKEOVER_MS + 1000) / 1000;
    assert!(
        report.discover_offer.drops + report.request_ack.drops <= window,
        "{} drops, more than a takeover's worth ({window}): {}",
        report.discover_offer.drops + report.request_ack.drops,
        report.summary()
    );
    assert!(
        report.request_ack.received > u64::from(RATE) * 5,
        "{}",
        report.summary()
    );
    wait_owners(&mut sql, after, Duration::from_secs(5));
    settle();
    let n = check_acked_leases_stored(&mut sql, &report);
    // perfdhcp draws MACs at random: some clients came twice.
    assert!(
        n as u64 >= report.request_ack.received * 9 / 10,
        "{n} leases printed"
    );

    // a restarts and rejoins: the split is back and a clean run follows.
    nodes[0] = common::start_headend(&ns, &cfgs[0]).unwrap();
    wait_owners(&mut sql, split, Duration::from_secs(10));
    settle();
    let again = common::Perfdhcp::new(RATE, 100_000)
        .period(3)
        .base_mac("00:10:95:19:00:00")
        .print_leases()
        .run(&ns, "127.0.0.2", "127.0.0.4")
        .unwrap();
    eprintln!(
        "cluster of {} after the rejoin: {}",
        names.len(),
        again.summary()
    );
    for ex in [&again.discover_offer, &again.request_ack] {
        assert!(ex.orphans <= ex.drops, "{}", again.summary());
    }
    assert!(
        again.request_ack.completed(995) && again.discover_offer.completed(995),
        "{}",
        again.summary()
    );
    check_acked_leases_stored(&mut sql, &again);
    tee.stop(Duration::from_secs(5)).ok();
    for p in nodes.iter_mut() {
        p.stop(Duration::from_secs(20)).unwrap();
    }
}

/// A node's file for the broadcast segment of the dhclient test: each node
/// in a namespace of its own, on one bridge with the client.
fn segment_config(dir: &Path, url: &str, node: &str, server_id: &str) -> PathBuf {
    let path = dir.join(format!("{node}-seg.toml"));
    std::fs::write(
        &path,
        format!(
            r#"
[server]
name = "{node}"
store = "store-seg-{node}"
database = "{url}"

[dhcpv4]
listen = ["0.0.0.0:67"]
interface = "vs0"
server_id = "{server_id}"

[[pool]]
name = "segment"
relays = ["0.0.0.0"]
network = "192.0.2.0/24"
ranges = [["192.0.2.100", "192.0.2.200"]]
lifetime = 30

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

/// ISC dhclient holds a lease from node a; a is killed; at T2 the client
/// rebinds (RFC 2131 §4.4.5, broadcast) and node b, which took a's buckets,
/// acknowledges the same address.
#[test]
fn dhclient_rebinds_at_the_same_address_on_the_surviving_node() {
    assert!(
        common::find_on_path("dhclient").is_some(),
        "cluster needs dhclient"
    );
    let dir = common::scratch("cluster-dhclient").unwrap();
    let url = headend_store_pg::testing::database_via_socket();
    headend_store_pg::migrate(&url).unwrap();
    let mut sql = Client::connect(&url, NoTls).unwrap();
    // A bridge in a hub namespace joins both nodes and the client.
    let hub = common::Netns::new().unwrap();
    let (s1, s2, cli) = (
        common::Netns::new().unwrap(),
        common::Netns::new().unwrap(),
        common::Netns::new().unwrap(),
    );
    hub.ip(&["link", "add", "br0", "type", "bridge"]).unwrap();
    hub.ip(&["link", "set", "br0", "up"]).unwrap();
    for (ns, dev, port) in [(&s1, "vs0", "h1"), (&s2, "vs0", "h2"), (&cli, "vc0", "h3")] {
        common::veth_pair(ns, dev, &hub, port).unwrap();
        hub.ip(&["link", "set", port, "master", "br0"]).unwrap();
    }
    s1.add_addr("vs0", "192.0.2.1/24").unwrap();
    s2.add_addr("vs0", "192.0.2.2/24").unwrap();
    // A client MAC in a's half of the buckets (RFC 3074 hash of chaddr).
    let mac = (0u32..)
        .map(|i| {
            let b = i.to_be_bytes();
            [0x02, 0x10, 0x95, b[1], b[2], b[3]]
        })
        .find(|m| {
            headend_store::cluster::bucket4(&headend_store::ClientKey::from_hardware(1, m), m) < 128
        })
        .unwrap();
    let mac_text = mac.map(|b| format!("{b:02x}")).join(":");
    cli.ip(&["link", "set", "vc0", "down"]).unwrap();
    cli.ip(&["link", "set", "vc0", "address", &mac_text])
        .unwrap();
    cli.ip(&["link", "set", "vc0", "up"]).unwrap();

    let ca = segment_config(dir.path(), &url, "a", "192.0.2.1");
    let cb = segment_config(dir.path(), &url, "b", "192.0.2.2");
    let mut a = common::start_headend(&s1, &ca).unwrap();
    let mut b = common::start_headend(&s2, &cb).unwrap();
    wait_owners(&mut sql, &[("a", 128), ("b", 128)], Duration::from_secs(10));
    settle();

    let mut client = common::Dhclient::start(&cli, "vc0", dir.path(), 90).unwrap();
    let bound = client
        .wait_bound(Duration::from_secs(25))
        .unwrap_or_else(|e| {
            panic!(
                "{e:#}\na:\n{}\nb:\n{}",
                a.output_tail(3000),
                b.output_tail(3000)
            )
        });
    let ip = bound["new_ip_address"].clone();
    // As dhclient-script would: the address on the interface, so that the
    // unicast ACK of a renewal reaches the client.
    cli.add_addr("vc0", &format!("{ip}/24")).unwrap();
    assert_eq!(
        bound.get("new_dhcp_server_identifier").map(String::as_str),
        Some("192.0.2.1"),
        "{bound:?}"
    );

    a.signal("KILL").unwrap();
    a.wait(Duration::from_secs(10)).unwrap();
    wait_owners(&mut sql, &[("b", 256)], Duration::from_secs(10));
    settle();
    // T1 = 15 s: RENEW to a goes unanswered; T2 = 26.25 s: REBIND, b answers.
    let deadline = Instant::now() + Duration::from_secs(45);
    let rebound = loop {
        let log = std::fs::read_to_string(dir.path().join("hook.log")).unwrap_or_default();
        let found = common::hook_blocks(&log).into_iter().find(|v| {
            matches!(
                v.get("reason").map(String::as_str),
                Some("REBIND" | "RENEW")
            )
        });
        if let Some(v) = found {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "no renewal within 45 s\nhook log:\n{log}\nb:\n{}",
            b.output_tail(3000)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(rebound["new_ip_address"], ip, "{rebound:?}");
    assert_eq!(
        rebound
            .get("new_dhcp_server_identifier")
            .map(String::as_str),
        Some("192.0.2.2"),
        "{rebound:?}"
    );
    client.stop().unwrap();
    b.stop(Duration::from_secs(20)).unwrap();
}

/// A rolling restart (each node stopped with SIGTERM and started again,
/// one at a time, as for an upgrade) while the boot-storm simulator brings
/// up cable modems through the two helper addresses and renews their
/// leases every 8 s: no device fails, no renewal changes an address.
#[test]
fn a_rolling_restart_under_load_fails_no_device() {
    let _heavy = common::heavy();
    assert!(
        common::find_on_path("python3").is_some(),
        "cluster needs python3"
    );
    let dir = common::scratch("cluster-roll").unwrap();
    let url = headend_store_pg::testing::database_via_socket();
    headend_store_pg::migrate(&url).unwrap();
    let mut sql = Client::connect(&url, NoTls).unwrap();
    let ns = common::Netns::loopback_relay().unwrap();
    let ca = ns_config(dir.path(), &url, "a", "127.0.0.1", &["a", "b"]);
    let cb = ns_config(dir.path(), &url, "b", "127.0.0.3", &["a", "b"]);
    let a = common::start_headend(&ns, &ca).unwrap();
    let b = common::start_headend(&ns, &cb).unwrap();
    wait_owners(&mut sql, &[("a", 128), ("b", 128)], Duration::from_secs(10));
    settle();
    let mut tee_cmd = ns.command("python3");
    tee_cmd.args(["-c", TEE, "127.0.0.1", "127.0.0.3"]);
    let mut tee = Proc::spawn("tee", tee_cmd).unwrap();
    tee.wait_for("tee ready", Duration::from_secs(10)).unwrap();

    const MODEMS: u64 = 400;
    let mut sim = ns.command(HEADEND);
    sim.args([
        "simulate",
        "--server4",
        "127.0.0.4:67",
        "--relay",
        "127.0.0.2",
        "--relay-port",
        "67",
        "--cm",
        &MODEMS.to_string(),
        "--rate",
        "40",
        "--dhcp-only",
        "--renew",
        "--duration",
        "24",
        "--json",
    ]);
    let mut sim = Proc::spawn_stdout("headend simulate", sim).unwrap();
    // Roll: a, then b; each back and holding its half before the next.
    let mut nodes = [(a, ca), (b, cb)];
    let mut rolls = Vec::new();
    for (node, cfg) in nodes.iter_mut() {
        std::thread::sleep(Duration::from_secs(3));
        let started = Instant::now();
        node.stop(Duration::from_secs(20)).unwrap();
        let stopped = started.elapsed();
        *node = common::start_headend(&ns, cfg).unwrap();
        wait_owners(&mut sql, &[("a", 128), ("b", 128)], Duration::from_secs(10));
        rolls.push((stopped, started.elapsed()));
    }
    let status = sim.wait(Duration::from_secs(60)).unwrap();
    let out = sim.output();
    let json: serde_json::Value = out
        .find('{')
        .and_then(|i| serde_json::from_str(&out[i..]).ok())
        .unwrap_or_else(|| panic!("no JSON report ({status}):\n{out}"));
    let text = serde_json::to_string_pretty(&json).unwrap();
    eprintln!(
        "cluster rolling restart (stop, back in): {rolls:?}; renewals {}, datagrams {} sent / {} received",
        json["renewals"], json["datagrams_sent"], json["datagrams_received"]
    );
    let d = &json["devices"][0];
    assert_eq!(d["completed"], MODEMS, "{text}");
    assert_eq!(d["failed"], 0, "{text}");
    assert_eq!(
        json["violations"].as_array().map(Vec::len),
        Some(0),
        "{text}"
    );
    assert!(json["renewals"].as_u64().unwrap_or(0) >= MODEMS, "{text}");
    assert!(status.success(), "{text}");
    let twice: i64 = sql
        .query_one(
            "SELECT count(*) FROM (SELECT client FROM leases4 GROUP BY client HAVING count(*) > 1) t",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(twice, 0, "a modem holds two addresses");
    tee.stop(Duration::from_secs(5)).ok();
    for (node, _) in nodes.iter_mut() {
        node.stop(Duration::from_secs(20)).unwrap();
    }
}

/// Three nodes: a killed node's buckets are shared by the two others (by
/// bucket parity), each of its clients rebinds at its address with exactly
/// one of them, and the node gets its third back when it returns.
#[test]
fn three_nodes_share_a_killed_nodes_buckets() {
    let dir = common::scratch("cluster3").unwrap();
    let url = database();
    headend_store_pg::migrate(&url).unwrap();
    let mut sql = Client::connect(&url, NoTls).unwrap();
    let names = ["a", "b", "c"];
    let cfgs: Vec<PathBuf> = names
        .iter()
        .map(|n| config_of(dir.path(), &url, n, &names))
        .collect();
    let mut procs = Vec::new();
    let mut addrs = Vec::new();
    for c in &cfgs {
        let (p, addr) = run(c);
        procs.push(p);
        addrs.push(addr);
    }
    let split = [("a", 86), ("b", 85), ("c", 85)];
    wait_owners(&mut sql, &split, Duration::from_secs(10));
    settle();
    // The split is visible, and nobody's bucket is orphaned.
    let out = Command::new(HEADEND)
        .args(["cluster", "status", "--config"])
        .arg(&cfgs[0])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("b ") && l.contains(" 85 ") && l.ends_with("86-170")),
        "{text}"
    );
    assert!(text.contains("buckets without a live owner: 0"), "{text}");
    assert!(!text.contains("config drift"), "{text}");

    let relay = UdpSocket::bind((RELAY, 0)).unwrap();
    let n = 60u32;
    let discovers: Vec<(u32, Vec<u8>)> = (0..n)
        .map(|i| (i, message(1, mac(i), i, Ipv4Addr::UNSPECIFIED, &[])))
        .collect();
    let offers = exchange(&relay, &addrs, &discovers);
    let mut requests = Vec::new();
    for i in 0..n {
        let r = &offers[&i];
        assert_eq!(r.len(), 1, "client {i}: {r:?}");
        let (_, _, ip, sid) = r[0];
        let opts = [
            (50, ip.octets().to_vec()),
            (54, sid.unwrap().octets().to_vec()),
        ];
        requests.push((
            1000 + i,
            message(3, mac(i), 1000 + i, Ipv4Addr::UNSPECIFIED, &opts),
        ));
    }
    let acks = exchange(&relay, &addrs, &requests);
    let mut clients = BTreeMap::new();
    let mut of_b = Vec::new();
    for i in 0..n {
        let r = &acks[&(1000 + i)];
        assert_eq!(r.len(), 1, "client {i}: {r:?}");
        assert_eq!(r[0].1, 5);
        clients.insert(i, r[0].2);
        if r[0].0 == addrs[1] {
            of_b.push(i);
        }
    }
    assert!(!of_b.is_empty(), "b answered nobody");

    procs[1].signal("KILL").unwrap();
    procs[1].wait(Duration::from_secs(10)).unwrap();
    let start = Instant::now();
    loop {
        let o = owners(&mut sql);
        if !o.contains_key("b") && o.values().sum::<i64>() == 256 {
            // b's 85 buckets by parity: 43 even ones to a, 42 odd ones to c.
            assert_eq!(o.get("a"), Some(&(86 + 43)), "{o:?}");
            assert_eq!(o.get("c"), Some(&(85 + 42)), "{o:?}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{o:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    settle();
    let by = rebind(&relay, &addrs, &clients, 10_000);
    for i in &of_b {
        assert_ne!(by[i], addrs[1]);
    }
    let (p, addr) = run(&cfgs[1]);
    procs[1] = p;
    addrs[1] = addr;
    wait_owners(&mut sql, &split, Duration::from_secs(10));
    settle();
    let by = rebind(&relay, &addrs, &clients, 20_000);
    for i in &of_b {
        assert_eq!(by[i], addrs[1], "client {i} back on b");
    }
    let twice: i64 = sql
        .query_one(
            "SELECT count(*) FROM (SELECT client FROM leases4 GROUP BY client HAVING count(*) > 1) t",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(twice, 0);
    for p in procs.iter_mut() {
        p.stop(Duration::from_secs(20)).unwrap();
    }
}

/// DHCPv6 in a cluster (RFC 3074's hash over the DUID): one node answers
/// each client's Relay-Forward, both nodes use the one server DUID the
/// database holds, and after a SIGKILL the other renews the bindings at
/// their addresses. Messages are built with headend's wire codec (the
/// independent DHCPv6 peers are in peer_dhcpv6.rs).
#[test]
fn dhcpv6_clients_are_split_and_renewed_by_the_survivor() {
    use headend_wire::dhcpv6::{parse, Builder, MessageType, Packet};
    use std::net::{Ipv6Addr, SocketAddrV6};
    const LINK: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x106, 0, 0, 0, 0, 1);
    let dir = common::scratch("cluster6").unwrap();
    let url = database();
    headend_store_pg::migrate(&url).unwrap();
    let mut sql = Client::connect(&url, NoTls).unwrap();
    let cfg = |node: &str| {
        let path = dir.path().join(format!("{node}6.toml"));
        std::fs::write(
            &path,
            format!(
                r#"
[server]
name = "{node}"
store = "store6-{node}"
database = "{url}"

[dhcpv6]
listen = ["[::1]:0"]

[[pool6]]
name = "cpe"
prefix = "2001:db8:106::/64"
links = ["{LINK}"]

[cluster]
nodes = ["a", "b"]
heartbeat_ms = 100
takeover_ms = {TAKEOVER_MS}
"#
            ),
        )
        .unwrap();
        path
    };
    let start = |path: &Path| -> (Proc, SocketAddrV6) {
        match common::run_ready(path, "[::1]:").unwrap() {
            (p, SocketAddr::V6(a)) => (p, a),
            (_, other) => panic!("not an IPv6 listener: {other}"),
        }
    };
    let (mut a, addr_a) = start(&cfg("a"));
    let (mut b, addr_b) = start(&cfg("b"));
    wait_owners(&mut sql, &[("a", 128), ("b", 128)], Duration::from_secs(10));
    settle();
    let sock = UdpSocket::bind("[::1]:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let duid = |i: u32| {
        let mut d = vec![0, 3, 0, 1, 0x02, 0x10, 0x95, 0x06];
        d.extend_from_slice(&i.to_be_bytes()[2..]);
        d
    };
    let wrap = |inner: &[u8]| {
        let mut r = Builder::relay(MessageType::RelayForw, 0, LINK, "fe80::1".parse().unwrap());
        r.relay_msg(inner).unwrap();
        r.finish()
    };
    // Sends each client's message to both nodes; the replies by xid:
    // (node, type, first IA_NA address, server DUID).
    type Reply6 = (SocketAddr, MessageType, Option<Ipv6Addr>, Vec<u8>);
    let ask_all = |msgs: &[(u32, Vec<u8>)], nodes: &[SocketAddrV6]| {
        for (_, m) in msgs {
            for n in nodes {
                sock.send_to(m, n).unwrap();
            }
        }
        let mut out: BTreeMap<u32, Vec<Reply6>> = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(8);
        let mut quiet: Option<Instant> = None;
        let mut buf = vec![0u8; 65_536];
        while Instant::now() < deadline {
            match sock.recv_from(&mut buf) {
                Ok((n, from)) => {
                    let Ok(Packet::Relay(r)) = parse(&buf[..n]) else {
                        continue;
                    };
                    let inner = r.relay_msg().to_vec();
                    let Ok(Packet::Message(m)) = parse(&inner) else {
                        continue;
                    };
                    let addr = m
                        .options
                        .ia_nas()
                        .next()
                        .and_then(Result::ok)
                        .and_then(|ia| ia.addresses().next().and_then(Result::ok).map(|a| a.addr));
                    let sid = m
                        .options
                        .server_id()
                        .ok()
                        .flatten()
                        .map(|d| d.to_bytes())
                        .unwrap_or_default();
                    out.entry(m.transaction_id)
                        .or_default()
                        .push((from, m.msg_type, addr, sid));
                }
                Err(_) if msgs.iter().all(|(x, _)| out.contains_key(x)) => {
                    let q = *quiet.get_or_insert_with(Instant::now);
                    if q.elapsed() > Duration::from_millis(400) {
                        break;
                    }
                }
                Err(_) => {}
            }
        }
        out
    };
    let n = 40u32;
    let solicits: Vec<(u32, Vec<u8>)> = (0..n)
        .map(|i| {
            let mut m = Builder::message(MessageType::Solicit, 0x10_0000 + i);
            m.client_id(&duid(i)).unwrap();
            m.ia_na(1, 0, 0, |_| Ok(())).unwrap();
            (0x10_0000 + i, wrap(&m.finish()))
        })
        .collect();
    let adv = ask_all(&solicits, &[addr_a, addr_b]);
    let mut requests = Vec::new();
    let mut server_ids = BTreeSet::new();
    for i in 0..n {
        let r = adv
            .get(&(0x10_0000 + i))
            .unwrap_or_else(|| panic!("no ADVERTISE for {i}\n{}", a.output_tail(2000)));
        assert_eq!(r.len(), 1, "client {i}: {r:?}");
        assert_eq!(r[0].1, MessageType::Advertise);
        server_ids.insert(r[0].3.clone());
        let mut m = Builder::message(MessageType::Request, 0x20_0000 + i);
        m.client_id(&duid(i)).unwrap();
        m.server_id(&r[0].3).unwrap();
        let addr = r[0].2.unwrap();
        m.ia_na(1, 0, 0, |ib| {
            ib.ia_addr(addr, 0, 0)?;
            Ok(())
        })
        .unwrap();
        requests.push((0x20_0000 + i, wrap(&m.finish())));
    }
    assert_eq!(server_ids.len(), 1, "both nodes are one DHCPv6 server");
    let replies = ask_all(&requests, &[addr_a, addr_b]);
    let mut bound = BTreeMap::new();
    let mut on_a = 0;
    for i in 0..n {
        let r = &replies[&(0x20_0000 + i)];
        assert_eq!(r.len(), 1, "client {i}: {r:?}");
        assert_eq!(r[0].1, MessageType::Reply);
        bound.insert(i, r[0].2.unwrap());
        on_a += usize::from(r[0].0 == SocketAddr::V6(addr_a));
    }
    assert!(on_a > 0 && on_a < n as usize, "{on_a} of {n} on a");
    let sid = server_ids.into_iter().next().unwrap();

    a.signal("KILL").unwrap();
    a.wait(Duration::from_secs(10)).unwrap();
    wait_owners(&mut sql, &[("b", 256)], Duration::from_secs(10));
    settle();
    let renews: Vec<(u32, Vec<u8>)> = bound
        .iter()
        .map(|(i, addr)| {
            let mut m = Builder::message(MessageType::Renew, 0x30_0000 + i);
            m.client_id(&duid(*i)).unwrap();
            m.server_id(&sid).unwrap();
            m.ia_na(1, 0, 0, |ib| {
                ib.ia_addr(*addr, 0, 0)?;
                Ok(())
            })
            .unwrap();
            (0x30_0000 + i, wrap(&m.finish()))
        })
        .collect();
    let renewed = ask_all(&renews, &[addr_a, addr_b]);
    for (i, addr) in &bound {
        let r = &renewed[&(0x30_0000 + i)];
        assert_eq!(r.len(), 1, "client {i}: {r:?}");
        assert_eq!(r[0].0, SocketAddr::V6(addr_b));
        assert_eq!(
            (r[0].1, r[0].2),
            (MessageType::Reply, Some(*addr)),
            "client {i}"
        );
    }
    let rows: i64 = sql
        .query_one("SELECT count(DISTINCT duid) FROM leases6", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, i64::from(n));
    b.stop(Duration::from_secs(20)).unwrap();
}
