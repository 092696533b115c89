//! On-disk encoding shared by the backends: records are postcard behind a
//! one-byte format version, and index keys are fixed-layout byte strings whose
//! lexicographic order is the order the `Store` methods promise (address
//! order, big-endian).

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{ClientKey, Lease6Key, StoreError, MAX_CLIENT_KEY_LEN, MAX_DUID_LEN};

/// Format version of every record written by this build. A record with any
/// other first byte is refused rather than guessed at: it was written by a
/// newer (or broken) headend.
pub(crate) const FORMAT_V1: u8 = 1;

/// `FORMAT_V1` followed by the postcard encoding of `rec`.
pub(crate) fn encode<T: Serialize>(tree: &'static str, rec: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_extend(rec, vec![FORMAT_V1])
        .map_err(|e| StoreError::Invalid(format!("cannot encode a {tree} record: {e}")))
}

/// Format version of lease records (v4 and v6) since they carry relay
/// data: the lease layouts grew a field, and postcard is not
/// self-describing, so version 1 lease records are read through their old
/// layout ([`legacy`]) and upgraded.
pub(crate) const FORMAT_V2: u8 = 2;

/// `FORMAT_V2` followed by the postcard encoding of a lease record.
pub(crate) fn encode_lease<T: Serialize>(
    tree: &'static str,
    rec: &T,
) -> Result<Vec<u8>, StoreError> {
    postcard::to_extend(rec, vec![FORMAT_V2])
        .map_err(|e| StoreError::Invalid(format!("cannot encode a {tree} record: {e}")))
}

/// Decode a record written by [`encode`], refusing unknown versions and trailing bytes.
pub(crate) fn decode<T: DeserializeOwned>(
    tree: &'static str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    match bytes.split_first() {
        None => Err(empty(tree)),
        Some((&FORMAT_V1, body)) => decode_body(tree, body),
        Some((v, _)) => Err(unknown_version(tree, *v)),
    }
}

/// Decode a lease record written by [`encode_lease`], or by a build that
/// wrote version 1 (`Old`, upgraded with `Into`).
pub(crate) fn decode_lease<T, Old>(tree: &'static str, bytes: &[u8]) -> Result<T, StoreError>
where
    T: DeserializeOwned,
    Old: DeserializeOwned + Into<T>,
{
    match bytes.split_first() {
        None => Err(empty(tree)),
        Some((&FORMAT_V2, body)) => decode_body(tree, body),
        Some((&FORMAT_V1, body)) => decode_body::<Old>(tree, body).map(Into::into),
        Some((v, _)) => Err(unknown_version(tree, *v)),
    }
}

fn empty(tree: &'static str) -> StoreError {
    StoreError::Corrupt {
        tree,
        detail: "empty record".into(),
    }
}

fn unknown_version(tree: &'static str, v: u8) -> StoreError {
    StoreError::Corrupt {
        tree,
        detail: format!("unknown record format version {v}"),
    }
}

fn decode_body<T: DeserializeOwned>(tree: &'static str, body: &[u8]) -> Result<T, StoreError> {
    let (rec, rest) = postcard::take_from_bytes::<T>(body).map_err(|e| StoreError::Corrupt {
        tree,
        detail: format!("undecodable record: {e}"),
    })?;
    if rest.is_empty() {
        Ok(rec)
    } else {
        Err(StoreError::Corrupt {
            tree,
            detail: format!("{} trailing bytes after the record", rest.len()),
        })
    }
}

/// The record layouts of format version 1, read to upgrade stores written
/// before leases kept relay data. Field order is the old one: postcard
/// decodes by position.
pub(crate) mod legacy {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use serde::Deserialize;

    use crate::{
        ClientKey, Lease4, Lease6, Lease6Kind, LeaseProtocol, LeaseState, TrustedIdType, UnixTime,
    };

    /// A [`Lease4`] as format version 1 wrote it (no `relay_info`).
    #[derive(Deserialize)]
    pub(crate) struct Lease4V1 {
        ip: Ipv4Addr,
        client: ClientKey,
        hwaddr: Vec<u8>,
        state: LeaseState,
        commit_time: UnixTime,
        lifetime: u32,
        relay: Ipv4Addr,
        protocol: LeaseProtocol,
        pool: String,
        trusted_id: Option<Vec<u8>>,
        trusted_id_type: Option<TrustedIdType>,
        hostname: Option<String>,
    }

    impl From<Lease4V1> for Lease4 {
        fn from(o: Lease4V1) -> Lease4 {
            Lease4 {
                ip: o.ip,
                client: o.client,
                hwaddr: o.hwaddr,
                state: o.state,
                commit_time: o.commit_time,
                lifetime: o.lifetime,
                relay: o.relay,
                protocol: o.protocol,
                pool: o.pool,
                trusted_id: o.trusted_id,
                trusted_id_type: o.trusted_id_type,
                hostname: o.hostname,
                relay_info: None,
            }
        }
    }

    /// A [`Lease6`] as format version 1 wrote it (no `relay`).
    #[derive(Deserialize)]
    pub(crate) struct Lease6V1 {
        kind: Lease6Kind,
        address: Ipv6Addr,
        prefix_len: u8,
        duid: Vec<u8>,
        iaid: u32,
        state: LeaseState,
        commit_time: UnixTime,
        preferred: u32,
        valid: u32,
        link: Ipv6Addr,
        pool: String,
        mac: Option<Vec<u8>>,
        modem_mac: Option<Vec<u8>>,
        fqdn: Option<String>,
    }

    impl From<Lease6V1> for Lease6 {
        fn from(o: Lease6V1) -> Lease6 {
            Lease6 {
                kind: o.kind,
                address: o.address,
                prefix_len: o.prefix_len,
                duid: o.duid,
                iaid: o.iaid,
                state: o.state,
                commit_time: o.commit_time,
                preferred: o.preferred,
                valid: o.valid,
                link: o.link,
                pool: o.pool,
                mac: o.mac,
                modem_mac: o.modem_mac,
                fqdn: o.fqdn,
                relay: None,
            }
        }
    }
}

/// The one-byte length followed by the key bytes: the prefix under which a
/// client's index entries sort, so that key `ab` never matches `abc`.
pub(crate) fn client_prefix(client: &ClientKey) -> Result<Vec<u8>, StoreError> {
    // MAX_CLIENT_KEY_LEN is u8::MAX: the length byte is the limit.
    let len = u8::try_from(client.0.len()).map_err(|_| {
        StoreError::Invalid(format!(
            "client key of {} bytes is longer than {MAX_CLIENT_KEY_LEN}",
            client.0.len()
        ))
    })?;
    let mut k = Vec::with_capacity(client.0.len() + 1 + 4);
    k.push(len);
    k.extend_from_slice(&client.0);
    Ok(k)
}

/// Key of the `leases4_by_client` index: client prefix then the address.
pub(crate) fn client_index_key(client: &ClientKey, ip: Ipv4Addr) -> Result<Vec<u8>, StoreError> {
    let mut k = client_prefix(client)?;
    k.extend_from_slice(&ip.octets());
    Ok(k)
}

/// Key of the `leases4_by_relay` index: relay then the address.
pub(crate) fn relay_index_key(relay: Ipv4Addr, ip: Ipv4Addr) -> [u8; 8] {
    let [a, b, c, d] = relay.octets();
    let [e, f, g, h] = ip.octets();
    [a, b, c, d, e, f, g, h]
}

/// Key of the `fixed4` table: client prefix then the relay.
pub(crate) fn fixed_key(client: &ClientKey, relay: Ipv4Addr) -> Result<Vec<u8>, StoreError> {
    let mut k = client_prefix(client)?;
    k.extend_from_slice(&relay.octets());
    Ok(k)
}

/// The address at the end of an index key (both indexes end with it).
pub(crate) fn ip_suffix(key: &[u8]) -> Option<Ipv4Addr> {
    let start = key.len().checked_sub(4)?;
    let tail: [u8; 4] = key.get(start..)?.try_into().ok()?;
    Some(Ipv4Addr::from(tail))
}

/// Key of the `leases6` table: the 16 address bytes then the prefix length,
/// so a /56 and the address that starts it never collide.
pub(crate) fn lease6_key(k: Lease6Key) -> [u8; 17] {
    let mut out = [0u8; 17];
    for (o, b) in out.iter_mut().zip(k.address.octets()) {
        *o = b;
    }
    out[16] = k.prefix_len;
    out
}

/// The [`Lease6Key`] at the end of a `leases6` or `leases6_by_duid` key.
pub(crate) fn lease6_suffix(key: &[u8]) -> Option<Lease6Key> {
    let start = key.len().checked_sub(17)?;
    let tail: [u8; 17] = key.get(start..)?.try_into().ok()?;
    let (addr, len) = tail.split_at(16);
    let addr: [u8; 16] = addr.try_into().ok()?;
    Some(Lease6Key {
        address: Ipv6Addr::from(addr),
        prefix_len: *len.first()?,
    })
}

/// The one-byte length followed by the DUID: the prefix of a DUID's
/// `leases6_by_duid` entries.
pub(crate) fn duid_prefix(duid: &[u8]) -> Result<Vec<u8>, StoreError> {
    if duid.len() > MAX_DUID_LEN {
        return Err(StoreError::Invalid(format!(
            "DUID of {} bytes is longer than {MAX_DUID_LEN}",
            duid.len()
        )));
    }
    let mut k = Vec::with_capacity(duid.len() + 1 + 4 + 17);
    // MAX_DUID_LEN < 256.
    k.push(u8::try_from(duid.len()).unwrap_or(u8::MAX));
    k.extend_from_slice(duid);
    Ok(k)
}

/// Key of the `leases6_by_duid` index: DUID prefix, IAID, then the lease key.
pub(crate) fn duid_index_key(duid: &[u8], iaid: u32, k: Lease6Key) -> Result<Vec<u8>, StoreError> {
    let mut out = duid_prefix(duid)?;
    out.extend_from_slice(&iaid.to_be_bytes());
    out.extend_from_slice(&lease6_key(k));
    Ok(out)
}

/// Reject a batch that the sled backend could not index, before touching
/// anything, so both backends refuse exactly the same batches (and the
/// group committer refuses it at submit, so it never joins a group).
/// Allocates nothing: it runs for every batch on the packet path.
pub fn validate(batch: &[crate::Mutation]) -> Result<(), StoreError> {
    use crate::Mutation as M;
    let client = |c: &ClientKey| {
        if c.0.len() > MAX_CLIENT_KEY_LEN {
            Err(StoreError::Invalid(format!(
                "client key of {} bytes is longer than {MAX_CLIENT_KEY_LEN}",
                c.0.len()
            )))
        } else {
            Ok(())
        }
    };
    for m in batch {
        match m {
            M::PutLease4(l) => client(&l.client)?,
            M::PutFixed4(f) => client(&f.client)?,
            M::PutRecord { key, .. } | M::DeleteRecord { key, .. }
                if key.len() > crate::MAX_RECORD_KEY_LEN =>
            {
                return Err(StoreError::Invalid(format!(
                    "record key of {} bytes is longer than {}",
                    key.len(),
                    crate::MAX_RECORD_KEY_LEN
                )));
            }
            M::DeleteFixed4 { client: c, .. } => client(c)?,
            M::PutLease6(l) => {
                if l.duid.len() > MAX_DUID_LEN {
                    return Err(StoreError::Invalid(format!(
                        "DUID of {} bytes is longer than {MAX_DUID_LEN}",
                        l.duid.len()
                    )));
                }
                if l.prefix_len > 128 {
                    return Err(StoreError::Invalid(format!(
                        "prefix length {} is longer than 128",
                        l.prefix_len
                    )));
                }
            }
            M::DeleteLease4(_)
            | M::DeleteLease6(_)
            | M::PutAccount(_)
            | M::DeleteAccount(_)
            | M::PutTimeline(_)
            | M::PutRecord { .. }
            | M::DeleteRecord { .. }
            | M::PutMeta { .. } => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_is_version_byte_then_postcard() {
        let v = encode("meta", &(7u8, String::from("ab"))).unwrap();
        // postcard: u8 raw, then varint length 2 and the bytes.
        assert_eq!(v, vec![FORMAT_V1, 7, 2, b'a', b'b']);
        let back: (u8, String) = decode("meta", &v).unwrap();
        assert_eq!(back, (7, "ab".into()));
    }

    #[test]
    fn decode_rejects_bad_versions_and_garbage() {
        let good = encode("leases4", &(1u32, 2u32)).unwrap();
        for bad_version in [0u8, 2, 0xff] {
            let mut b = good.clone();
            b[0] = bad_version;
            let e = decode::<(u32, u32)>("leases4", &b).unwrap_err();
            assert!(
                matches!(&e, StoreError::Corrupt { tree: "leases4", detail } if detail.contains("version")),
                "{e}"
            );
        }
        assert!(matches!(
            decode::<(u32, u32)>("leases4", &[]),
            Err(StoreError::Corrupt { .. })
        ));
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(
            decode::<(u32, u32)>("leases4", &trailing),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            decode::<(u32, u32)>("leases4", &good[..2]),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn index_keys_have_the_documented_layout() {
        let c = ClientKey(vec![0x01, 0xaa, 0xbb]);
        let ip = Ipv4Addr::new(10, 0, 0, 9);
        assert_eq!(
            client_index_key(&c, ip).unwrap(),
            vec![3, 0x01, 0xaa, 0xbb, 10, 0, 0, 9]
        );
        assert_eq!(
            relay_index_key(Ipv4Addr::new(192, 0, 2, 1), ip),
            [192, 0, 2, 1, 10, 0, 0, 9]
        );
        assert_eq!(
            fixed_key(&c, Ipv4Addr::new(192, 0, 2, 1)).unwrap(),
            vec![3, 0x01, 0xaa, 0xbb, 192, 0, 2, 1]
        );
        assert_eq!(ip_suffix(&[3, 1, 2, 3, 10, 0, 0, 9]), Some(ip));
        assert_eq!(ip_suffix(&[10, 0, 0]), None);
    }

    #[test]
    fn lease6_keys_have_the_documented_layout() {
        let k = Lease6Key {
            address: "2001:db8::7".parse().unwrap(),
            prefix_len: 128,
        };
        let raw = lease6_key(k);
        assert_eq!(
            raw,
            [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 128]
        );
        assert_eq!(lease6_suffix(&raw), Some(k));
        let idx = duid_index_key(&[0, 3, 0, 1, 0xaa], 0x0102_0304, k).unwrap();
        assert_eq!(&idx[..10], &[5, 0, 3, 0, 1, 0xaa, 1, 2, 3, 4]);
        assert_eq!(lease6_suffix(&idx), Some(k));
        assert_eq!(lease6_suffix(&raw[..16]), None);
        assert!(duid_prefix(&[0; 130]).is_ok());
        assert!(matches!(
            duid_prefix(&[0; 131]),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn client_keys_longer_than_255_bytes_are_invalid() {
        assert!(client_prefix(&ClientKey(vec![7; 255])).is_ok());
        assert!(matches!(
            client_prefix(&ClientKey(vec![7; 256])),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn version_1_leases_are_upgraded_and_version_2_round_trips() {
        use crate::{Lease4, Lease6, Lease6Kind, LeaseProtocol, LeaseState, Relay6};
        use legacy::{Lease4V1, Lease6V1};
        let l4 = Lease4 {
            ip: Ipv4Addr::new(10, 0, 0, 9),
            client: ClientKey(vec![1, 0, 0x10, 0x95, 1, 2, 3]),
            hwaddr: vec![0, 0x10, 0x95, 1, 2, 3],
            state: LeaseState::Active,
            commit_time: 1_700_000_000,
            lifetime: 3600,
            relay: Ipv4Addr::new(10, 0, 0, 1),
            protocol: LeaseProtocol::Dhcp,
            pool: "cm".into(),
            trusted_id: Some(vec![9, 9]),
            trusted_id_type: None,
            hostname: Some("cm-1".into()),
            relay_info: None,
        };
        // What a version 1 build wrote: the same fields in the same order,
        // without relay_info (postcard encodes a struct as its fields).
        let mut v1 = vec![FORMAT_V1];
        v1.extend(
            postcard::to_allocvec(&(
                l4.ip,
                &l4.client,
                &l4.hwaddr,
                l4.state,
                l4.commit_time,
                l4.lifetime,
                l4.relay,
                l4.protocol,
                &l4.pool,
                &l4.trusted_id,
                l4.trusted_id_type,
                &l4.hostname,
            ))
            .unwrap(),
        );
        assert_eq!(
            decode_lease::<Lease4, Lease4V1>("leases4", &v1).unwrap(),
            l4
        );
        let with_relay = Lease4 {
            relay_info: Some(vec![1, 2, 0xab, 0xcd, 2, 1, 7]),
            ..l4
        };
        let v2 = encode_lease("leases4", &with_relay).unwrap();
        assert_eq!(v2[0], FORMAT_V2);
        assert_eq!(
            decode_lease::<Lease4, Lease4V1>("leases4", &v2).unwrap(),
            with_relay
        );
        // The generic decoder refuses lease version 2 rather than misreading it.
        assert!(decode::<Lease4>("leases4", &v2).is_err());

        let l6 = Lease6 {
            kind: Lease6Kind::Na,
            address: "2001:db8::5".parse().unwrap(),
            prefix_len: 128,
            duid: vec![0, 3, 0, 1, 1, 2, 3, 4, 5, 6],
            iaid: 7,
            state: LeaseState::Active,
            commit_time: 1_700_000_000,
            preferred: 1800,
            valid: 3600,
            link: "2001:db8::1".parse().unwrap(),
            pool: "eue".into(),
            mac: Some(vec![1, 2, 3, 4, 5, 6]),
            modem_mac: None,
            fqdn: None,
            relay: None,
        };
        let mut v1 = vec![FORMAT_V1];
        v1.extend(
            postcard::to_allocvec(&(
                l6.kind,
                l6.address,
                l6.prefix_len,
                &l6.duid,
                l6.iaid,
                l6.state,
                l6.commit_time,
                l6.preferred,
                l6.valid,
                l6.link,
                &l6.pool,
                &l6.mac,
                &l6.modem_mac,
                &l6.fqdn,
            ))
            .unwrap(),
        );
        assert_eq!(
            decode_lease::<Lease6, Lease6V1>("leases6", &v1).unwrap(),
            l6
        );
        let with_relay = Lease6 {
            relay: Some(Relay6 {
                peer_address: "fe80::1".parse().unwrap(),
                message: vec![12, 0, 0x20, 1, 0x0d, 0xb8],
            }),
            ..l6
        };
        let v2 = encode_lease("leases6", &with_relay).unwrap();
        assert_eq!(
            decode_lease::<Lease6, Lease6V1>("leases6", &v2).unwrap(),
            with_relay
        );
        assert!(matches!(
            decode_lease::<Lease6, Lease6V1>("leases6", &[3, 0]),
            Err(StoreError::Corrupt { detail, .. }) if detail.contains("version 3")
        ));
    }
}
