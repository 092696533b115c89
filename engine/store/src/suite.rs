//! The behaviour every [`Store`] backend must share (the contract on the
//! `Store` trait; seed 004 sections 2, 5.2, 5.3 for the records), written once
//! and instantiated by each backend's tests with [`store_suite!`].

// Test code for every backend: a failed expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use crate::{
    Account, AccountSource, ClientKey, FixedBinding4, Lease4, Lease6, Lease6Key, Lease6Kind,
    LeaseProtocol, LeaseState, Mutation, Store, StoreError, TrustedIdType,
};

/// Instantiate every suite test for a backend. `$make` is a function
/// returning the store and whatever must outlive it (e.g. its temp dir).
#[macro_export]
#[doc(hidden)]
macro_rules! store_suite {
    ($make:path) => {
        $crate::suite::store_suite!(@tests $make;
            lease_roundtrip_and_delete,
            load_leases4_is_in_address_order,
            lease_moves_between_clients_and_relays,
            lease_move_inside_one_batch,
            client_prefix_does_not_match_longer_key,
            delete_missing_is_noop,
            accounts_roundtrip_order_delete,
            fixed_bindings_keyed_by_client_and_relay,
            meta_roundtrip,
            timeline_roundtrip_and_replace,
            later_mutation_in_batch_wins,
            invalid_batch_has_no_effect,
            overlong_client_lookup_is_empty,
            concurrent_writers_keep_indexes_consistent,
            many_leases_load,
            lease6_roundtrip_by_duid_and_delete,
            lease6_address_and_prefix_do_not_collide,
            lease6_moves_between_duids,
            lease6_invalid_batch_has_no_effect,
            lease6_and_lease4_are_independent,
            records_are_per_table_newest_first,
            scans_page_in_key_order,
        );
    };
    (@tests $make:path; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let (store, _keep) = $make();
                $crate::suite::$name(&store);
            }
        )*
    };
}
pub use crate::store_suite;

/// Lease number `n` (address 10.0.0.0 + n) of client `client` through relay 192.0.2.`relay`.
pub fn lease(n: u32, client: u32, relay: u8) -> Lease4 {
    let c = client.to_be_bytes();
    let mac = vec![0x00, 0x10, c[0], c[1], c[2], c[3]];
    Lease4 {
        ip: Ipv4Addr::from(0x0a00_0000 + n),
        client: ClientKey::from_hardware(1, &mac),
        hwaddr: mac,
        state: LeaseState::Active,
        commit_time: 1_700_000_000 + u64::from(n),
        lifetime: 3600,
        relay: Ipv4Addr::new(192, 0, 2, relay),
        protocol: LeaseProtocol::Dhcp,
        pool: "cm".into(),
        trusted_id: (n % 2 == 1).then(|| mac_of(client)),
        trusted_id_type: (n % 2 == 1).then_some(TrustedIdType::RemoteId),
        hostname: (n % 3 == 0).then(|| format!("cm-{n}")),
        relay_info: None,
    }
}

fn mac_of(client: u32) -> Vec<u8> {
    let c = client.to_be_bytes();
    vec![0x00, 0x10, c[0], c[1], c[2], c[3]]
}

/// The client key `lease(_, client, _)` uses.
pub fn client(client: u32) -> ClientKey {
    ClientKey::from_hardware(1, &mac_of(client))
}

/// An account with one attribute.
pub fn account(id: &str, domain: &str) -> Account {
    Account {
        id: id.into(),
        domains: vec![domain.into(), "default".into()],
        attributes: BTreeMap::from([("cm-config".into(), format!("{id}.cfg"))]),
        created: 1_700_000_000,
        source: AccountSource::AutoProvisioned,
    }
}

/// A fixed binding of `client` on relay 192.0.2.`relay`.
pub fn fixed(client_n: u32, relay: u8, ip: Ipv4Addr) -> FixedBinding4 {
    FixedBinding4 {
        client: client(client_n),
        relay: Ipv4Addr::new(192, 0, 2, relay),
        ip,
        hostname: Some(format!("host-{client_n}")),
        policies: vec!["static".into()],
    }
}

fn ips(v: &[Lease4]) -> Vec<Ipv4Addr> {
    v.iter().map(|l| l.ip).collect()
}

pub fn lease_roundtrip_and_delete(s: &dyn Store) {
    let mut bootp = lease(5, 2, 1);
    bootp.protocol = LeaseProtocol::Bootp;
    bootp.lifetime = u32::MAX;
    bootp.state = LeaseState::Declined;
    bootp.trusted_id_type = Some(TrustedIdType::SubscriberId);
    let a = lease(4, 1, 1);
    s.apply(&[
        Mutation::PutLease4(a.clone()),
        Mutation::PutLease4(bootp.clone()),
    ])
    .unwrap();
    s.sync().unwrap();
    assert_eq!(s.lease4(a.ip).unwrap(), Some(a.clone()));
    assert_eq!(s.lease4(bootp.ip).unwrap(), Some(bootp.clone()));
    assert_eq!(s.lease4(Ipv4Addr::new(10, 0, 0, 6)).unwrap(), None);
    assert_eq!(s.leases4_by_client(&a.client).unwrap(), vec![a.clone()]);
    assert_eq!(
        s.leases4_by_relay(a.relay).unwrap(),
        vec![a.clone(), bootp.clone()]
    );

    s.apply(&[Mutation::DeleteLease4(a.ip)]).unwrap();
    assert_eq!(s.lease4(a.ip).unwrap(), None);
    assert_eq!(s.leases4_by_client(&a.client).unwrap(), vec![]);
    assert_eq!(s.leases4_by_relay(a.relay).unwrap(), vec![bootp.clone()]);
    assert_eq!(s.load_leases4().unwrap(), vec![bootp]);
}

pub fn load_leases4_is_in_address_order(s: &dyn Store) {
    // 10.0.1.0 sorts after 10.0.0.255 only with big-endian keys.
    let ns = [256u32, 3, 255, 70_000, 0];
    let batch: Vec<_> = ns
        .iter()
        .map(|&n| Mutation::PutLease4(lease(n, n, 9)))
        .collect();
    s.apply(&batch).unwrap();
    let mut want: Vec<_> = ns.iter().map(|&n| lease(n, n, 9)).collect();
    want.sort_by_key(|l| u32::from(l.ip));
    assert_eq!(s.load_leases4().unwrap(), want);
    assert_eq!(
        ips(&s.leases4_by_relay(Ipv4Addr::new(192, 0, 2, 9)).unwrap()),
        ips(&want)
    );
}

pub fn lease_moves_between_clients_and_relays(s: &dyn Store) {
    let first = lease(10, 1, 1);
    s.apply(&[Mutation::PutLease4(first.clone())]).unwrap();
    // Same address, now bound to client 2 through relay 2.
    let moved = Lease4 {
        commit_time: first.commit_time + 60,
        ..lease(10, 2, 2)
    };
    s.apply(&[Mutation::PutLease4(moved.clone())]).unwrap();
    assert_eq!(s.leases4_by_client(&client(1)).unwrap(), vec![]);
    assert_eq!(
        s.leases4_by_client(&client(2)).unwrap(),
        vec![moved.clone()]
    );
    assert_eq!(s.leases4_by_relay(first.relay).unwrap(), vec![]);
    assert_eq!(
        s.leases4_by_relay(moved.relay).unwrap(),
        vec![moved.clone()]
    );

    // Renewal through the same relay and client keeps exactly one entry each.
    let renewed = Lease4 {
        commit_time: moved.commit_time + 60,
        ..moved.clone()
    };
    s.apply(&[Mutation::PutLease4(renewed.clone())]).unwrap();
    assert_eq!(
        s.leases4_by_client(&client(2)).unwrap(),
        vec![renewed.clone()]
    );
    assert_eq!(
        s.leases4_by_relay(moved.relay).unwrap(),
        vec![renewed.clone()]
    );

    // A client holding two addresses, one of which moves away.
    let second = lease(11, 2, 2);
    s.apply(&[Mutation::PutLease4(second.clone())]).unwrap();
    assert_eq!(
        ips(&s.leases4_by_client(&client(2)).unwrap()),
        vec![renewed.ip, second.ip]
    );
    s.apply(&[Mutation::PutLease4(lease(11, 3, 1))]).unwrap();
    assert_eq!(
        ips(&s.leases4_by_client(&client(2)).unwrap()),
        vec![renewed.ip]
    );
    assert_eq!(
        ips(&s.leases4_by_client(&client(3)).unwrap()),
        vec![second.ip]
    );
    assert_eq!(
        ips(&s.leases4_by_relay(Ipv4Addr::new(192, 0, 2, 1)).unwrap()),
        vec![second.ip]
    );
    assert_eq!(
        ips(&s.leases4_by_relay(Ipv4Addr::new(192, 0, 2, 2)).unwrap()),
        vec![renewed.ip]
    );
}

pub fn lease_move_inside_one_batch(s: &dyn Store) {
    let a = lease(20, 1, 1);
    let b = lease(20, 2, 2);
    let c = lease(21, 1, 3);
    s.apply(&[
        Mutation::PutLease4(a.clone()),
        Mutation::PutLease4(b.clone()),
        Mutation::PutLease4(c.clone()),
        Mutation::DeleteLease4(c.ip),
        Mutation::PutLease4(c.clone()),
    ])
    .unwrap();
    assert_eq!(s.leases4_by_client(&client(1)).unwrap(), vec![c.clone()]);
    assert_eq!(s.leases4_by_client(&client(2)).unwrap(), vec![b.clone()]);
    assert_eq!(s.leases4_by_relay(a.relay).unwrap(), vec![]);
    assert_eq!(s.leases4_by_relay(b.relay).unwrap(), vec![b.clone()]);
    assert_eq!(s.leases4_by_relay(c.relay).unwrap(), vec![c.clone()]);
    assert_eq!(s.load_leases4().unwrap(), vec![b, c]);
}

pub fn client_prefix_does_not_match_longer_key(s: &dyn Store) {
    let mut short = lease(30, 0, 1);
    short.client = ClientKey(vec![0xff, 0x01]);
    let mut long = lease(31, 0, 1);
    long.client = ClientKey(vec![0xff, 0x01, 0x02]);
    let mut empty = lease(32, 0, 1);
    empty.client = ClientKey(vec![]);
    s.apply(&[
        Mutation::PutLease4(short.clone()),
        Mutation::PutLease4(long.clone()),
        Mutation::PutLease4(empty.clone()),
    ])
    .unwrap();
    assert_eq!(s.leases4_by_client(&short.client).unwrap(), vec![short]);
    assert_eq!(s.leases4_by_client(&long.client).unwrap(), vec![long]);
    assert_eq!(s.leases4_by_client(&empty.client).unwrap(), vec![empty]);
    assert_eq!(s.leases4_by_client(&ClientKey(vec![0xff])).unwrap(), vec![]);
    // The relay index is keyed by the whole relay address only.
    assert_eq!(
        s.leases4_by_relay(Ipv4Addr::new(192, 0, 2, 0)).unwrap(),
        vec![]
    );
}

pub fn delete_missing_is_noop(s: &dyn Store) {
    s.apply(&[
        Mutation::DeleteLease4(Ipv4Addr::new(10, 9, 9, 9)),
        Mutation::DeleteAccount("nobody".into()),
        Mutation::DeleteFixed4 {
            client: client(1),
            relay: Ipv4Addr::UNSPECIFIED,
        },
    ])
    .unwrap();
    s.apply(&[]).unwrap();
    assert_eq!(s.load_leases4().unwrap(), vec![]);
    assert_eq!(s.load_accounts().unwrap(), vec![]);
    assert_eq!(s.load_fixed4().unwrap(), vec![]);
}

pub fn accounts_roundtrip_order_delete(s: &dyn Store) {
    let b = account("00:10:18:00:00:02", "cm");
    let a = account("00:10:18:00:00:01", "mta");
    let z = account("zz", "cm");
    let empty = account("", "cm");
    s.apply(&[
        Mutation::PutAccount(z.clone()),
        Mutation::PutAccount(b.clone()),
        Mutation::PutAccount(a.clone()),
        Mutation::PutAccount(empty.clone()),
    ])
    .unwrap();
    assert_eq!(s.account(&a.id).unwrap(), Some(a.clone()));
    assert_eq!(s.account("").unwrap(), Some(empty.clone()));
    assert_eq!(s.account("00:10:18:00:00:03").unwrap(), None);
    assert_eq!(
        s.load_accounts().unwrap(),
        vec![empty.clone(), a.clone(), b.clone(), z.clone()]
    );

    let mut a2 = a.clone();
    a2.domains = vec!["gold".into()];
    a2.source = AccountSource::Operator;
    s.apply(&[
        Mutation::PutAccount(a2.clone()),
        Mutation::DeleteAccount(b.id.clone()),
    ])
    .unwrap();
    assert_eq!(s.account(&a.id).unwrap(), Some(a2.clone()));
    assert_eq!(s.account(&b.id).unwrap(), None);
    assert_eq!(s.load_accounts().unwrap(), vec![empty, a2, z]);
}

pub fn fixed_bindings_keyed_by_client_and_relay(s: &dyn Store) {
    let f1 = fixed(1, 1, Ipv4Addr::new(10, 1, 0, 1));
    let f1_other_relay = fixed(1, 2, Ipv4Addr::new(10, 1, 0, 2));
    let f2 = fixed(2, 1, Ipv4Addr::new(10, 1, 0, 3));
    s.apply(&[
        Mutation::PutFixed4(f2.clone()),
        Mutation::PutFixed4(f1_other_relay.clone()),
        Mutation::PutFixed4(f1.clone()),
    ])
    .unwrap();
    // Key order: client length, client bytes, relay.
    assert_eq!(
        s.load_fixed4().unwrap(),
        vec![f1.clone(), f1_other_relay.clone(), f2.clone()]
    );
    let f1_new = FixedBinding4 {
        ip: Ipv4Addr::new(10, 1, 0, 9),
        hostname: None,
        policies: vec![],
        ..f1.clone()
    };
    s.apply(&[
        Mutation::PutFixed4(f1_new.clone()),
        Mutation::DeleteFixed4 {
            client: f2.client.clone(),
            relay: f2.relay,
        },
    ])
    .unwrap();
    assert_eq!(s.load_fixed4().unwrap(), vec![f1_new, f1_other_relay]);
}

pub fn meta_roundtrip(s: &dyn Store) {
    assert_eq!(s.meta("duid").unwrap(), None);
    s.apply(&[Mutation::PutMeta {
        key: "duid".into(),
        value: vec![0, 1, 0, 1, 0xde, 0xad],
    }])
    .unwrap();
    assert_eq!(s.meta("duid").unwrap(), Some(vec![0, 1, 0, 1, 0xde, 0xad]));
    s.apply(&[
        Mutation::PutMeta {
            key: "duid".into(),
            value: vec![],
        },
        Mutation::PutMeta {
            key: "epoch".into(),
            value: vec![1],
        },
    ])
    .unwrap();
    assert_eq!(s.meta("duid").unwrap(), Some(vec![]));
    assert_eq!(s.meta("epoch").unwrap(), Some(vec![1]));
}

pub fn later_mutation_in_batch_wins(s: &dyn Store) {
    let a = account("a", "cm");
    s.apply(&[
        Mutation::PutAccount(a.clone()),
        Mutation::DeleteAccount("a".into()),
        Mutation::PutFixed4(fixed(1, 1, Ipv4Addr::new(10, 1, 0, 1))),
        Mutation::DeleteFixed4 {
            client: client(1),
            relay: Ipv4Addr::new(192, 0, 2, 1),
        },
        Mutation::PutLease4(lease(40, 1, 1)),
        Mutation::DeleteLease4(lease(40, 1, 1).ip),
    ])
    .unwrap();
    assert_eq!(s.account("a").unwrap(), None);
    assert_eq!(s.load_fixed4().unwrap(), vec![]);
    assert_eq!(s.lease4(lease(40, 1, 1).ip).unwrap(), None);
    assert_eq!(s.leases4_by_client(&client(1)).unwrap(), vec![]);
    assert_eq!(
        s.leases4_by_relay(Ipv4Addr::new(192, 0, 2, 1)).unwrap(),
        vec![]
    );

    s.apply(&[
        Mutation::DeleteAccount("a".into()),
        Mutation::PutAccount(a.clone()),
    ])
    .unwrap();
    assert_eq!(s.account("a").unwrap(), Some(a));
}

pub fn invalid_batch_has_no_effect(s: &dyn Store) {
    let good = lease(50, 1, 1);
    let mut bad = lease(51, 2, 1);
    bad.client = ClientKey(vec![1; 256]);
    let e = s
        .apply(&[
            Mutation::PutLease4(good.clone()),
            Mutation::PutAccount(account("x", "cm")),
            Mutation::PutLease4(bad),
        ])
        .unwrap_err();
    assert!(matches!(e, StoreError::Invalid(_)), "{e}");
    assert_eq!(s.lease4(good.ip).unwrap(), None);
    assert_eq!(s.account("x").unwrap(), None);

    let e = s
        .apply(&[
            Mutation::PutLease4(good.clone()),
            Mutation::DeleteFixed4 {
                client: ClientKey(vec![0; 300]),
                relay: Ipv4Addr::UNSPECIFIED,
            },
        ])
        .unwrap_err();
    assert!(matches!(e, StoreError::Invalid(_)), "{e}");
    assert_eq!(s.load_leases4().unwrap(), vec![]);

    // A 255-byte key is the longest allowed and works end to end.
    let mut longest = lease(52, 3, 1);
    longest.client = ClientKey(vec![9; 255]);
    s.apply(&[Mutation::PutLease4(longest.clone())]).unwrap();
    assert_eq!(s.leases4_by_client(&longest.client).unwrap(), vec![longest]);
}

pub fn overlong_client_lookup_is_empty(s: &dyn Store) {
    s.apply(&[Mutation::PutLease4(lease(60, 1, 1))]).unwrap();
    assert_eq!(
        s.leases4_by_client(&ClientKey(vec![0; 256])).unwrap(),
        vec![]
    );
}

pub fn concurrent_writers_keep_indexes_consistent(s: &dyn Store) {
    // Four writers fight over the same 64 addresses with different clients
    // and relays; whoever wins last, every index must agree with the table.
    std::thread::scope(|scope| {
        for w in 0..4u32 {
            scope.spawn(move || {
                for round in 0..50u32 {
                    let batch: Vec<_> = (0..8u32)
                        .map(|i| {
                            let n = (round * 8 + i + w * 16) % 64;
                            Mutation::PutLease4(lease(n, w, u8::try_from(w).unwrap_or(0)))
                        })
                        .collect();
                    s.apply(&batch).unwrap();
                }
            });
        }
    });
    let all = s.load_leases4().unwrap();
    assert_eq!(all.len(), 64);
    let mut by_client = 0;
    let mut by_relay = 0;
    for w in 0..4u32 {
        let mine: Vec<_> = all
            .iter()
            .filter(|l| l.client == client(w))
            .cloned()
            .collect();
        assert_eq!(s.leases4_by_client(&client(w)).unwrap(), mine);
        by_client += mine.len();
        let relay = Ipv4Addr::new(192, 0, 2, u8::try_from(w).unwrap_or(0));
        let via: Vec<_> = all.iter().filter(|l| l.relay == relay).cloned().collect();
        assert_eq!(s.leases4_by_relay(relay).unwrap(), via);
        by_relay += via.len();
    }
    assert_eq!(by_client, 64);
    assert_eq!(by_relay, 64);
}

/// How many leases [`many_leases_load`] writes.
pub(crate) const MANY: u32 = 100_000;

pub fn many_leases_load(s: &dyn Store) {
    let t = Instant::now();
    for chunk in 0..MANY / 1000 {
        let batch: Vec<_> = (chunk * 1000..(chunk + 1) * 1000)
            .map(|n| Mutation::PutLease4(lease(n, n, u8::try_from(n % 200).unwrap_or(0))))
            .collect();
        s.apply(&batch).unwrap();
    }
    s.sync().unwrap();
    let written = t.elapsed();
    let t = Instant::now();
    let all = s.load_leases4().unwrap();
    let loaded = t.elapsed();
    eprintln!("{MANY} leases: written in {written:?}, loaded in {loaded:?}");
    assert_eq!(all.len(), MANY as usize);
    assert!(all
        .windows(2)
        .all(|w| u32::from(w[0].ip) < u32::from(w[1].ip)));
    assert_eq!(all[12_345], lease(12_345, 12_345, (12_345 % 200) as u8));
    assert_eq!(
        s.leases4_by_relay(Ipv4Addr::new(192, 0, 2, 7))
            .unwrap()
            .len(),
        (MANY / 200) as usize
    );
}

/// DHCPv6 address `n` (2001:db8::n) of DUID-LL `duid`, IAID `iaid`.
pub fn lease6(n: u32, duid: u32, iaid: u32) -> Lease6 {
    let d = duid.to_be_bytes();
    Lease6 {
        kind: Lease6Kind::Na,
        address: Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(n)),
        prefix_len: 128,
        duid: vec![0, 3, 0, 1, 0x00, 0x10, d[0], d[1], d[2], d[3]],
        iaid,
        state: LeaseState::Active,
        commit_time: 1_700_000_000 + u64::from(n),
        preferred: 3600,
        valid: 7200,
        link: "2001:db8:100::1".parse().unwrap_or(Ipv6Addr::UNSPECIFIED),
        pool: "cm6".into(),
        mac: Some(mac_of(duid)),
        modem_mac: (n % 2 == 1).then(|| mac_of(duid + 1)),
        fqdn: (n % 3 == 0).then(|| format!("eue-{n}.example.net")),
        relay: None,
    }
}

fn duid_of(duid: u32) -> Vec<u8> {
    lease6(0, duid, 0).duid
}

pub fn lease6_roundtrip_by_duid_and_delete(s: &dyn Store) {
    let a = lease6(5, 1, 2);
    let b = lease6(3, 1, 1);
    let c = lease6(4, 2, 1);
    s.apply(&[
        Mutation::PutLease6(a.clone()),
        Mutation::PutLease6(b.clone()),
        Mutation::PutLease6(c.clone()),
    ])
    .unwrap();
    s.sync().unwrap();
    assert_eq!(s.lease6(a.key()).unwrap(), Some(a.clone()));
    assert_eq!(
        s.lease6(Lease6Key {
            address: a.address,
            prefix_len: 64
        })
        .unwrap(),
        None
    );
    // IAID order first, then address.
    assert_eq!(
        s.leases6_by_duid(&duid_of(1)).unwrap(),
        vec![b.clone(), a.clone()]
    );
    assert_eq!(
        s.load_leases6().unwrap(),
        vec![b.clone(), c.clone(), a.clone()]
    );
    s.apply(&[Mutation::DeleteLease6(b.key())]).unwrap();
    assert_eq!(s.leases6_by_duid(&duid_of(1)).unwrap(), vec![a.clone()]);
    assert_eq!(s.load_leases6().unwrap(), vec![c, a]);
    // A DUID that is a prefix of another one matches only itself.
    assert_eq!(s.leases6_by_duid(&duid_of(1)[..9]).unwrap(), vec![]);
    assert_eq!(s.leases6_by_duid(&[0; 200]).unwrap(), vec![]);
}

pub fn lease6_address_and_prefix_do_not_collide(s: &dyn Store) {
    let addr = lease6(0, 1, 1);
    let mut pd = lease6(0, 1, 1);
    pd.kind = Lease6Kind::Pd;
    pd.prefix_len = 56;
    pd.pool = "cpe-pd".into();
    s.apply(&[
        Mutation::PutLease6(pd.clone()),
        Mutation::PutLease6(addr.clone()),
    ])
    .unwrap();
    assert_eq!(s.lease6(pd.key()).unwrap(), Some(pd.clone()));
    assert_eq!(s.lease6(addr.key()).unwrap(), Some(addr.clone()));
    assert_eq!(s.load_leases6().unwrap(), vec![pd.clone(), addr.clone()]);
    assert_eq!(s.leases6_by_duid(&addr.duid).unwrap(), vec![pd, addr]);
}

pub fn lease6_moves_between_duids(s: &dyn Store) {
    let first = lease6(9, 1, 1);
    s.apply(&[Mutation::PutLease6(first.clone())]).unwrap();
    let moved = Lease6 {
        state: LeaseState::Declined,
        ..lease6(9, 2, 7)
    };
    s.apply(&[Mutation::PutLease6(moved.clone())]).unwrap();
    assert_eq!(s.leases6_by_duid(&duid_of(1)).unwrap(), vec![]);
    assert_eq!(s.leases6_by_duid(&duid_of(2)).unwrap(), vec![moved.clone()]);
    // Same DUID, new IAID: still one index entry.
    let reiad = Lease6 {
        iaid: 8,
        ..moved.clone()
    };
    s.apply(&[Mutation::PutLease6(reiad.clone())]).unwrap();
    assert_eq!(s.leases6_by_duid(&duid_of(2)).unwrap(), vec![reiad]);
}

pub fn lease6_invalid_batch_has_no_effect(s: &dyn Store) {
    let good = lease6(1, 1, 1);
    let mut long_duid = lease6(2, 2, 1);
    long_duid.duid = vec![0; 131];
    let mut bad_len = lease6(3, 3, 1);
    bad_len.prefix_len = 129;
    for bad in [long_duid, bad_len] {
        let e = s
            .apply(&[Mutation::PutLease6(good.clone()), Mutation::PutLease6(bad)])
            .unwrap_err();
        assert!(matches!(e, StoreError::Invalid(_)), "{e}");
        assert_eq!(s.load_leases6().unwrap(), vec![]);
    }
    let mut longest = lease6(4, 4, 1);
    longest.duid = vec![7; 130];
    s.apply(&[Mutation::PutLease6(longest.clone())]).unwrap();
    assert_eq!(s.leases6_by_duid(&longest.duid).unwrap(), vec![longest]);
}

pub fn lease6_and_lease4_are_independent(s: &dyn Store) {
    let l4 = lease(1, 1, 1);
    let l6 = lease6(1, 1, 1);
    s.apply(&[
        Mutation::PutLease4(l4.clone()),
        Mutation::PutLease6(l6.clone()),
        Mutation::PutMeta {
            key: crate::META_SERVER_DUID.into(),
            value: vec![0, 1, 0, 1, 1, 2, 3, 4, 0, 0x10, 0, 0, 0, 1],
        },
    ])
    .unwrap();
    s.apply(&[Mutation::DeleteLease4(l4.ip)]).unwrap();
    assert_eq!(s.load_leases4().unwrap(), vec![]);
    assert_eq!(s.load_leases6().unwrap(), vec![l6.clone()]);
    s.apply(&[Mutation::DeleteLease6(l6.key())]).unwrap();
    assert_eq!(s.load_leases6().unwrap(), vec![]);
    assert_eq!(
        s.meta(crate::META_SERVER_DUID).unwrap().map(|v| v.len()),
        Some(14)
    );
}

/// A device timeline is stored under its MAC and replaced whole.
pub fn timeline_roundtrip_and_replace(s: &dyn Store) {
    use crate::{DeviceTimeline, TimelineEvent};
    let ev = |ms: u64, step: &str| TimelineEvent {
        at_ms: ms,
        step: step.into(),
        outcome: "ok".into(),
        detail: String::new(),
    };
    let mut t = DeviceTimeline {
        device: "00:10:95:00:00:01".into(),
        linked: vec!["00:10:95:00:00:02".into()],
        events: vec![ev(1, "eUE-1")],
    };
    s.apply(&[Mutation::PutTimeline(t.clone())]).unwrap();
    assert_eq!(s.timeline(&t.device).unwrap(), Some(t.clone()));
    t.events.push(ev(2, "eUE-4"));
    s.apply(&[Mutation::PutTimeline(t.clone())]).unwrap();
    assert_eq!(s.timeline(&t.device).unwrap().unwrap().events.len(), 2);
    assert_eq!(s.timeline("00:10:95:00:00:09").unwrap(), None);
}

pub fn records_are_per_table_newest_first(s: &dyn Store) {
    use crate::RecordTable as T;
    let put = |t: T, k: &str, v: &[u8]| Mutation::PutRecord {
        table: t,
        key: k.into(),
        value: v.to_vec(),
    };
    s.apply(&[
        put(T::Audit, "0001", b"a1"),
        put(T::Audit, "0002", b"a2"),
        put(T::Audit, "0003", b"a3"),
        put(T::Users, "alice", b"u1"),
        put(T::Tokens, "zz", b"t1"),
    ])
    .unwrap();
    let keys = |v: Vec<(String, Vec<u8>)>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(
        keys(s.records(T::Audit, None, 10).unwrap()),
        ["0003", "0002", "0001"]
    );
    assert_eq!(
        keys(s.records(T::Audit, Some("0003"), 1).unwrap()),
        ["0002"]
    );
    assert_eq!(keys(s.records(T::Users, None, 10).unwrap()), ["alice"]);
    assert_eq!(
        s.record(T::Users, "alice").unwrap().as_deref(),
        Some(&b"u1"[..])
    );
    assert_eq!(s.record(T::Audit, "alice").unwrap(), None);
    s.apply(&[Mutation::DeleteRecord {
        table: T::Users,
        key: "alice".into(),
    }])
    .unwrap();
    assert!(s.records(T::Users, None, 10).unwrap().is_empty());
    assert_eq!(keys(s.records(T::Tokens, None, 10).unwrap()), ["zz"]);
    let long = "k".repeat(crate::MAX_RECORD_KEY_LEN + 1);
    assert!(matches!(
        s.apply(&[put(T::Users, "bob", b"x"), put(T::Users, &long, b"x")]),
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(s.record(T::Users, "bob").unwrap(), None);
}

pub fn scans_page_in_key_order(s: &dyn Store) {
    let batch: Vec<_> = [5u32, 1, 3, 2, 4]
        .iter()
        .map(|n| Mutation::PutLease4(lease(*n, *n, 1)))
        .collect();
    s.apply(&batch).unwrap();
    let ips = |v: Vec<Lease4>| v.into_iter().map(|l| l.ip).collect::<Vec<_>>();
    let first = ips(s.scan_leases4(None, 2).unwrap());
    assert_eq!(first, [lease(1, 1, 1).ip, lease(2, 1, 1).ip]);
    let next = ips(s.scan_leases4(Some(first[1]), 10).unwrap());
    assert_eq!(
        next,
        [lease(3, 1, 1).ip, lease(4, 1, 1).ip, lease(5, 1, 1).ip]
    );
    assert!(s.scan_leases4(Some(next[2]), 10).unwrap().is_empty());
    let by_relay = ips(s
        .leases4_by_relay_page(lease(1, 1, 1).relay, Some(first[0]), 2)
        .unwrap());
    assert_eq!(by_relay, [lease(2, 1, 1).ip, lease(3, 1, 1).ip]);
    assert!(s
        .leases4_by_relay_page(Ipv4Addr::new(192, 0, 2, 99), None, 9)
        .unwrap()
        .is_empty());
    let acc = |id: &str| Account {
        id: id.into(),
        domains: vec![],
        attributes: BTreeMap::new(),
        created: 1,
        source: AccountSource::Operator,
    };
    s.apply(&[
        Mutation::PutAccount(acc("c")),
        Mutation::PutAccount(acc("a")),
        Mutation::PutAccount(acc("b")),
    ])
    .unwrap();
    let ids = |v: Vec<Account>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(ids(s.scan_accounts(None, 2).unwrap()), ["a", "b"]);
    assert_eq!(ids(s.scan_accounts(Some("b"), 5).unwrap()), ["c"]);
    let l6: Vec<_> = (1..=3u8).map(lease6_n).collect();
    s.apply(
        &l6.iter()
            .cloned()
            .map(Mutation::PutLease6)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let got = s.scan_leases6(Some(l6[0].key()), 10).unwrap();
    assert_eq!(got, l6[1..].to_vec());
}

fn lease6_n(i: u8) -> Lease6 {
    Lease6 {
        kind: Lease6Kind::Na,
        address: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(i)),
        prefix_len: 128,
        duid: vec![0, 3, 0, 1, 0, 0x10, 0x95, 0, 0, i],
        iaid: 1,
        state: LeaseState::Active,
        commit_time: 100,
        preferred: 300,
        valid: 600,
        link: Ipv6Addr::UNSPECIFIED,
        pool: "p6".into(),
        mac: None,
        modem_mac: None,
        fqdn: None,
        relay: None,
    }
}
