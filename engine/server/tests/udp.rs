//! The shared UDP loop (`headend_server::udp`) over loopback with a toy
//! service: drops counted in the service's family, silence, replies sent at
//! once, replies sent only once their commit is durable, and withheld (and
//! counted) when the commit fails, commits without a reply.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use headend_server::counters::{Counters, Event, Family};
use headend_server::udp::{self, Outcome, Service};
use headend_store::group::GroupOptions;
use headend_store::{GroupCommitter, MemoryStore, Mutation, Store};
use tokio::net::UdpSocket;
use tokio::sync::watch;

/// Answers by the first byte: `d` drop, `s` silent, `n` reply now, `c`
/// reply after committing the datagram under meta key `k`, `m` commit it
/// without a reply.
#[derive(Default)]
struct Toy {
    counters: Counters,
}

impl Service for Toy {
    type Addr = SocketAddrV4;
    type Task = ();
    const FAMILY: Family = Family::Dhcpv6;
    const COMMITS: &'static str = "toy";

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn datagram(&self, data: &[u8], source: SocketAddr, _: &mut ()) -> Outcome<SocketAddrV4> {
        let SocketAddr::V4(to) = source else {
            return Outcome::Silent("not_ipv4");
        };
        let commit = vec![Mutation::PutMeta {
            key: "k".into(),
            value: data.to_vec(),
        }];
        match data.first() {
            Some(b'd') => Outcome::Drop("toy_drop"),
            Some(b'n') => Outcome::Reply {
                packet: data.to_vec(),
                to,
                commit: Vec::new(),
                durable: false,
            },
            Some(b'c') => Outcome::Reply {
                packet: data.to_vec(),
                to,
                commit,
                durable: true,
            },
            Some(b'm') => Outcome::Commit(commit),
            _ => Outcome::Silent("toy_silent"),
        }
    }
}

struct Lab {
    svc: Arc<Toy>,
    store: Arc<MemoryStore>,
    client: UdpSocket,
    stop: watch::Sender<bool>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn lab(max_queue: usize) -> Lab {
    let store = Arc::new(MemoryStore::new());
    let opts = GroupOptions {
        max_queue,
        ..GroupOptions::default()
    };
    let committer = Arc::new(GroupCommitter::start(store.clone(), opts));
    let socket: std::net::UdpSocket =
        udp::bind("127.0.0.1:0".parse().unwrap(), 1 << 16, |_| Ok(()))
            .unwrap()
            .into();
    let addr = socket.local_addr().unwrap();
    let svc = Arc::new(Toy::default());
    let (stop, rx) = watch::channel(false);
    // One task: datagrams are served in the order they were sent.
    let served = tokio::spawn(udp::serve(svc.clone(), committer, socket, (), 1, rx));
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.connect(addr).await.unwrap();
    Lab {
        svc,
        store,
        client,
        stop,
        served,
    }
}

async fn next_reply(lab: &Lab) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), lab.client.recv(&mut buf))
        .await
        .expect("a reply")
        .unwrap();
    buf[..n].to_vec()
}

async fn stop(lab: Lab) {
    lab.stop.send(true).unwrap();
    lab.served.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drops_are_counted_in_the_family_and_durable_replies_follow_their_commit() {
    let lab = lab(1024).await;
    for d in [&b"d1"[..], b"s1", b"d2", b"n1"] {
        lab.client.send(d).await.unwrap();
    }
    // Neither drops nor silence answer: the first reply is the `n`.
    assert_eq!(next_reply(&lab).await, b"n1");
    let c = &lab.svc.counters;
    assert_eq!(c.drops_in(Family::Dhcpv6).get("toy_drop"), Some(&2));
    assert!(c.drops().is_empty());
    lab.client.send(b"c1").await.unwrap();
    assert_eq!(next_reply(&lab).await, b"c1");
    // Sent from the committer once durable: the change is already stored.
    assert_eq!(lab.store.meta("k").unwrap().as_deref(), Some(&b"c1"[..]));
    assert_eq!(c.get_in(Family::Dhcpv6, Event::CommitFailed), 0);
    stop(lab).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_whose_commit_fails_is_withheld_and_counted() {
    // A queue of 0 refuses every durable commit at once.
    let lab = lab(0).await;
    lab.client.send(b"c1").await.unwrap();
    lab.client.send(b"n1").await.unwrap();
    assert_eq!(next_reply(&lab).await, b"n1");
    let c = &lab.svc.counters;
    assert_eq!(c.get_in(Family::Dhcpv6, Event::CommitFailed), 1);
    assert_eq!(c.get(Event::CommitFailed), 0);
    assert_eq!(lab.store.meta("k").unwrap(), None);
    stop(lab).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_without_reply_is_stored_and_answers_nothing() {
    let lab = lab(1024).await;
    lab.client.send(b"m1").await.unwrap();
    lab.client.send(b"n1").await.unwrap();
    // `m1` got no reply: the first one is the `n`.
    assert_eq!(next_reply(&lab).await, b"n1");
    // Persisted in the background: wait (bounded) for the committer.
    let mut stored = None;
    for _ in 0..100 {
        stored = lab.store.meta("k").unwrap();
        if stored.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stored.as_deref(), Some(&b"m1"[..]));
    assert!(lab.svc.counters.drops_in(Family::Dhcpv6).is_empty());
    stop(lab).await;
}
