//! Hash maps for the packet path: the keys (DUIDs, MACs, account ids)
//! come from peers, so the hasher is seeded at random per process (HashDoS
//! resistance, as std's SipHash), but is aHash, which costs a fraction of
//! SipHash-1-3 on the 6–20-byte keys a DHCP exchange hashes some forty
//! times (measured with callgrind on `sarr_bench`).

use std::collections::{HashMap, HashSet};

/// The hasher of [`FastMap`] and [`FastSet`]: aHash with runtime-random keys.
pub type FastState = ahash::RandomState;

/// A `HashMap` keyed by peer-controlled values on the packet path.
pub type FastMap<K, V> = HashMap<K, V, FastState>;

/// A `HashSet` of peer-controlled values on the packet path.
pub type FastSet<T> = HashSet<T, FastState>;
