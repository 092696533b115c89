//! Several nodes on one shared store (issue 16): the RFC 3074 load-balancing
//! hash that puts every client in one of 256 buckets, and the
//! [`Coordinator`] a shared backend offers so that the nodes agree, through
//! the database alone, which node answers which bucket.
//!
//! RFC 3074 §5–6: the hash is the Pearson hash of §6 (the mixing table
//! below is that section's) over the client identifier (option 61) when
//! the client sent one, otherwise over `chaddr` (`hlen` bytes). For DHCPv6
//! the input is the client's DUID (draft-ietf-dhc-dhcpv6-loadb, as Kea's
//! load balancing does).
//!
//! One deviation, on purpose: a lease record keeps the client key (option 61,
//! or `htype` followed by `chaddr`) and `chaddr`, not which of the two the
//! client sent, and a node taking over a bucket must find that bucket's
//! leases by the same hash the packet path uses. So when option 61 is
//! exactly `htype` followed by `chaddr` (what most clients send), headend
//! hashes `chaddr`, as it does for a client without option 61; the RFC would
//! hash the option. The split stays uniform, every node agrees, and only an
//! RFC 3074 server of another make sharing the same clients would disagree
//! on those clients — a mixed deployment headend does not offer.

use crate::{ClientKey, Lease4, Lease6, StoreError};

/// Buckets of the hash (RFC 3074 §3: one per value of the 8-bit hash).
pub const BUCKETS: usize = 256;

/// RFC 3074 §6 "A mixing table of 256 distinct values, in pseudo-random order".
const LOADB_MX_TBL: [u8; 256] = [
    251, 175, 119, 215, 81, 14, 79, 191, 103, 49, 181, 143, 186, 157, 0, 232, 31, 32, 55, 60, 152,
    58, 17, 237, 174, 70, 160, 144, 220, 90, 57, 223, 59, 3, 18, 140, 111, 166, 203, 196, 134, 243,
    124, 95, 222, 179, 197, 65, 180, 48, 36, 15, 107, 46, 233, 130, 165, 30, 123, 161, 209, 23, 97,
    16, 40, 91, 219, 61, 100, 10, 210, 109, 250, 127, 22, 138, 29, 108, 244, 67, 207, 9, 178, 204,
    74, 98, 126, 249, 167, 116, 34, 77, 193, 200, 121, 5, 20, 113, 71, 35, 128, 13, 182, 94, 25,
    226, 227, 199, 75, 27, 41, 245, 230, 224, 43, 225, 177, 26, 155, 150, 212, 142, 218, 115, 241,
    73, 88, 105, 39, 114, 62, 255, 192, 201, 145, 214, 168, 158, 221, 148, 154, 122, 12, 84, 82,
    163, 44, 139, 228, 236, 205, 242, 217, 11, 187, 146, 159, 64, 86, 239, 195, 42, 106, 198, 118,
    112, 184, 172, 87, 2, 173, 117, 176, 229, 247, 253, 137, 185, 99, 164, 102, 147, 45, 66, 231,
    52, 141, 211, 194, 206, 246, 238, 56, 110, 78, 248, 63, 240, 189, 93, 92, 51, 53, 183, 19, 171,
    72, 50, 33, 104, 101, 69, 8, 252, 83, 120, 76, 135, 85, 54, 202, 125, 188, 213, 96, 235, 136,
    208, 162, 129, 190, 132, 156, 38, 47, 1, 7, 254, 24, 4, 216, 131, 89, 21, 28, 133, 37, 153,
    149, 80, 170, 68, 6, 169, 234, 151,
];

/// RFC 3074 §6 `loadb_p_hash`: start from the key's length (mod 256), mix
/// the key's bytes in from the last to the first.
pub fn loadb_hash(key: &[u8]) -> u8 {
    // The RFC's `unsigned char hash = len`: the length truncated to 8 bits.
    let mut hash = (key.len() & 0xff) as u8;
    for b in key.iter().rev() {
        hash = LOADB_MX_TBL[usize::from(hash ^ b)];
    }
    hash
}

/// The bucket of a DHCPv4 client by its client key and `chaddr` (see the
/// module doc for the one case where this differs from the RFC's input).
pub fn bucket4(client: &ClientKey, hwaddr: &[u8]) -> u8 {
    let k = &client.0;
    let is_hardware = !hwaddr.is_empty() && k.len() == hwaddr.len() + 1 && k[1..] == *hwaddr;
    if is_hardware || k.is_empty() {
        loadb_hash(hwaddr)
    } else {
        loadb_hash(k)
    }
}

/// [`bucket4`] straight from a message's option 61 (if any) and `chaddr`,
/// without building the client key (the packet path's early drop). Without
/// option 61 the key would be `htype` followed by `chaddr`, which hashes as
/// `chaddr`, so `htype` plays no part.
pub fn bucket4_of(client_id: Option<&[u8]>, hwaddr: &[u8]) -> u8 {
    match client_id {
        Some(c) if !c.is_empty() => {
            let is_hardware =
                !hwaddr.is_empty() && c.len() == hwaddr.len() + 1 && c[1..] == *hwaddr;
            loadb_hash(if is_hardware { hwaddr } else { c })
        }
        _ => loadb_hash(hwaddr),
    }
}

/// The bucket of a DHCPv4 lease's client.
pub fn bucket_of_lease4(l: &Lease4) -> u8 {
    bucket4(&l.client, &l.hwaddr)
}

/// The bucket of a DHCPv6 client by its DUID.
pub fn bucket6(duid: &[u8]) -> u8 {
    loadb_hash(duid)
}

/// The bucket of a DHCPv6 binding's client.
pub fn bucket_of_lease6(l: &Lease6) -> u8 {
    bucket6(&l.duid)
}

/// A set of buckets (one bit each).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BucketSet(pub [u64; 4]);

impl BucketSet {
    /// Every bucket.
    pub const ALL: BucketSet = BucketSet([u64::MAX; 4]);

    /// Whether `b` is in the set.
    pub fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1u64 << (b & 63)) != 0
    }

    /// Adds `b`.
    pub fn insert(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1u64 << (b & 63);
    }

    /// Removes `b`.
    pub fn remove(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] &= !(1u64 << (b & 63));
    }

    /// How many buckets are in the set.
    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == [0; 4]
    }

    /// The buckets in the set, in order.
    pub fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=255u8).filter(|b| self.contains(*b))
    }

    /// Ranges of consecutive buckets, as "0-127, 200" (for logs and status).
    pub fn ranges(&self) -> String {
        let mut out: Vec<String> = Vec::new();
        let mut start: Option<u8> = None;
        for b in 0..=256u16 {
            let inside = b < 256 && self.contains(b as u8);
            match (inside, start) {
                (true, None) => start = Some(b as u8),
                (false, Some(s)) => {
                    let last = (b - 1) as u8;
                    out.push(if s == last {
                        s.to_string()
                    } else {
                        format!("{s}-{last}")
                    });
                    start = None;
                }
                _ => {}
            }
        }
        out.join(", ")
    }
}

/// One node as the shared store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    /// The node's name (`[cluster] node`).
    pub name: String,
    /// Bumped at each registration and when another node fences it.
    pub epoch: i64,
    /// Its heartbeat has not expired (by the database's clock).
    pub live: bool,
    /// It is stopping and handing its buckets over.
    pub leaving: bool,
    /// Hash of the configuration it runs.
    pub config_hash: String,
    /// The headend version it runs.
    pub version: String,
    /// Milliseconds since its last heartbeat (by the database's clock).
    pub silent_ms: i64,
}

/// Who owns one bucket, as the shared store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketRow {
    /// The bucket.
    pub bucket: u8,
    /// The owning node.
    pub owner: String,
    /// The owner's epoch when it took the bucket.
    pub owner_epoch: i64,
}

/// The nodes and bucket owners at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// Every node that ever registered.
    pub nodes: Vec<NodeRow>,
    /// Every bucket with an owner.
    pub buckets: Vec<BucketRow>,
}

/// What a node asks of the shared store to take part in a cluster. Every
/// call is one short transaction; the database's clock decides liveness, so
/// the nodes' clocks need not agree.
pub trait Coordinator: Send {
    /// Registers `node` (or registers it again after a restart): a new
    /// epoch, which fences every write of an earlier incarnation.
    fn register(
        &mut self,
        node: &str,
        ttl_ms: u64,
        config_hash: &str,
        version: &str,
    ) -> Result<i64, StoreError>;
    /// Extends the node's liveness by `ttl_ms`; `false` when its epoch is no
    /// longer `epoch` (another node fenced it).
    fn heartbeat(
        &mut self,
        node: &str,
        epoch: i64,
        ttl_ms: u64,
        config_hash: &str,
        leaving: bool,
    ) -> Result<bool, StoreError>;
    /// Nodes and bucket owners now.
    fn view(&mut self) -> Result<ClusterView, StoreError>;
    /// Fences `node` at `epoch` if its liveness has expired: bumps its
    /// epoch, after its writes in flight have committed. `false` if it is
    /// live again or already fenced.
    fn fence(&mut self, node: &str, epoch: i64) -> Result<bool, StoreError>;
    /// Takes each bucket for `node` at `epoch` if it is still owned as given
    /// (`None`: no owner yet); returns the buckets taken.
    fn claim(
        &mut self,
        node: &str,
        epoch: i64,
        buckets: &[(u8, Option<(String, i64)>)],
    ) -> Result<Vec<u8>, StoreError>;
    /// Gives `node`'s buckets to `to` at `to_epoch`; returns those given.
    fn hand_over(
        &mut self,
        node: &str,
        epoch: i64,
        buckets: &[u8],
        to: &str,
        to_epoch: i64,
    ) -> Result<Vec<u8>, StoreError>;
    /// The DHCPv4 leases of clients in `buckets`.
    fn leases4_in(&mut self, buckets: &BucketSet) -> Result<Vec<Lease4>, StoreError>;
    /// The DHCPv6 bindings of clients in `buckets`.
    fn leases6_in(&mut self, buckets: &BucketSet) -> Result<Vec<Lease6>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values computed apart from this code, in Python from the
    // RFC's §6 text (hash = len; for i = len down to 1: hash = T[hash ^ key[i-1]]).
    #[test]
    fn rfc3074_hash_vectors() {
        assert_eq!(loadb_hash(&[]), 0);
        // len 1, key 0: T[1 ^ 0] = T[1] = 175.
        assert_eq!(loadb_hash(&[0]), 175);
        assert_eq!(loadb_hash(&[0, 1]), 120);
        assert_eq!(loadb_hash(&[0x00, 0x11, 0x22, 0x33, 0x44, 0x55]), 135);
        assert_eq!(loadb_hash(&[1, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55]), 223);
        let duid = [
            0, 1, 0, 1, 0x2a, 0x2b, 0x2c, 0x2d, 0, 0x11, 0x22, 0x33, 0x44, 0x55,
        ];
        assert_eq!(bucket6(&duid), 30);
    }

    #[test]
    fn the_table_is_a_permutation() {
        let mut seen = [false; 256];
        for v in LOADB_MX_TBL {
            assert!(!seen[usize::from(v)], "{v} twice");
            seen[usize::from(v)] = true;
        }
    }

    #[test]
    fn v4_clients_hash_chaddr_unless_option_61_says_otherwise() {
        let mac = [2u8, 0, 0, 0, 0, 9];
        let by_hw = ClientKey::from_hardware(1, &mac);
        assert_eq!(bucket4(&by_hw, &mac), loadb_hash(&mac));
        let duid_style = ClientKey(vec![0xff, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(bucket4(&duid_style, &mac), loadb_hash(&duid_style.0));
    }

    #[test]
    fn buckets_spread_evenly_over_macs() {
        let mut per = [0u32; BUCKETS];
        for i in 0..65_536u32 {
            let b = i.to_be_bytes();
            per[usize::from(loadb_hash(&[0x00, 0x10, 0x18, b[1], b[2], b[3]]))] += 1;
        }
        // 256 per bucket on average; a Pearson hash of sequential MACs stays close.
        assert!(per.iter().all(|n| (128..=384).contains(n)), "{per:?}");
    }

    #[test]
    fn the_early_drop_hashes_as_the_lease_records_do() {
        let mac = [2u8, 0, 0, 0, 0, 9];
        for (cid, htype) in [
            (None, 1u8),
            (Some(vec![1u8, 2, 0, 0, 0, 0, 9]), 1),
            (Some(vec![0xff, 7, 7, 7]), 1),
            (None, 6),
        ] {
            let key = match &cid {
                Some(c) => ClientKey(c.clone()),
                None => ClientKey::from_hardware(htype, &mac),
            };
            assert_eq!(bucket4_of(cid.as_deref(), &mac), bucket4(&key, &mac));
        }
    }

    #[test]
    fn bucket_sets() {
        let mut s = BucketSet::default();
        assert!(s.is_empty());
        for b in [0u8, 1, 2, 7, 63, 64, 255] {
            s.insert(b);
        }
        assert_eq!(s.len(), 7);
        assert!(s.contains(64) && !s.contains(65));
        assert_eq!(s.ranges(), "0-2, 7, 63-64, 255");
        s.remove(1);
        assert_eq!(s.ranges(), "0, 2, 7, 63-64, 255");
        assert_eq!(BucketSet::ALL.len(), 256);
        assert_eq!(BucketSet::ALL.ranges(), "0-255");
    }
}
