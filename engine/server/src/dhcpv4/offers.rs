//! The offer memo: what each outstanding DHCPOFFER promised, kept until the
//! client's REQUEST so that the ACK carries exactly the OFFER's options
//! (seed 000 Table 2 CM4; RFC 2131 §4.3.1–4.3.2), and the cap on
//! outstanding offers per relay circuit (issue 21).
//!
//! Memory is what a flood buys, so an offer is small: the address, a hash
//! of the client key, the circuit, its expiry and a shared pointer to its
//! [`Prepared`] options, which are interned (identical offers, the common
//! case for a domain's devices, share one copy). An address has at most one
//! offer, so the memo is bounded by the pools plus the fixed bindings.
//!
//! A circuit is a relay's giaddr with the relay agent's circuit-id (82.1)
//! and remote-id (82.2): one CMTS interface, or one cable modem and what is
//! behind it. A circuit past its cap recycles its oldest offer (the lease
//! table's hold ends with it), so a random-MAC flood from one circuit holds
//! at most `cap` addresses while devices on other circuits — and devices
//! on the same circuit that REQUEST promptly, as every client does — still
//! get offers.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::net::Ipv4Addr;
use std::sync::Arc;

use headend_model::hash::FastMap;
use headend_store::{ClientKey, UnixTime};

use super::reply::Prepared;

/// Circuits counted apart; past this many, new circuits share one count.
pub const MAX_CIRCUITS: usize = 65_536;

/// The shared circuit of those past [`MAX_CIRCUITS`].
const OVERFLOW: u64 = 0;

/// One outstanding offer.
#[derive(Debug)]
struct Offer {
    client: u64,
    circuit: u64,
    /// Tells this offer from an earlier one of the same address in the
    /// circuit's order.
    seq: u32,
    until: UnixTime,
    options: Arc<Prepared>,
}

/// One circuit's outstanding offers, oldest first.
#[derive(Debug, Default)]
struct Circuit {
    live: usize,
    /// `(address, seq)`; entries whose offer ended are skipped (and
    /// compacted away when they outnumber the live ones).
    order: VecDeque<(Ipv4Addr, u32)>,
}

/// An offer recycled to keep its circuit under the cap: the lease table's
/// hold on `ip` that ends at `until` must end now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recycled {
    /// The address.
    pub ip: Ipv4Addr,
    /// When its hold would have ended.
    pub until: UnixTime,
}

/// The offer memo of one DHCPv4 service.
#[derive(Debug, Default)]
pub struct Offers {
    by_ip: FastMap<Ipv4Addr, Offer>,
    interned: HashSet<Arc<Prepared>>,
    circuits: HashMap<u64, Circuit>,
    hasher: RandomState,
    seq: u32,
}

impl Offers {
    /// An empty memo.
    pub fn new() -> Offers {
        Offers::default()
    }

    /// The memo's name for a client (a hash: the memo keeps no keys).
    pub fn client_id(&self, client: &ClientKey) -> u64 {
        self.hasher.hash_one(client)
    }

    /// The memo's name for a circuit: giaddr, circuit-id, remote-id (empty
    /// when absent).
    pub fn circuit_id(&self, giaddr: Ipv4Addr, circuit_id: &[u8], remote_id: &[u8]) -> u64 {
        // Never OVERFLOW: that one is shared.
        self.hasher
            .hash_one((giaddr, circuit_id, remote_id))
            .max(OVERFLOW + 1)
    }

    /// Remembers that `ip` was offered to `client` on `circuit` until
    /// `until` with `options` (replacing any earlier offer of `ip`). Returns
    /// the circuit's oldest offers recycled to keep it at `cap`.
    pub fn insert(
        &mut self,
        ip: Ipv4Addr,
        client: u64,
        circuit: u64,
        until: UnixTime,
        options: Prepared,
        cap: usize,
    ) -> Vec<Recycled> {
        self.remove(ip);
        let circuit = if self.circuits.contains_key(&circuit) || self.circuits.len() < MAX_CIRCUITS
        {
            circuit
        } else {
            OVERFLOW
        };
        let options = match self.interned.get(&options) {
            Some(shared) => shared.clone(),
            None => {
                let shared = Arc::new(options);
                self.interned.insert(shared.clone());
                shared
            }
        };
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        self.by_ip.insert(
            ip,
            Offer {
                client,
                circuit,
                seq,
                until,
                options,
            },
        );
        let c = self.circuits.entry(circuit).or_default();
        c.live += 1;
        c.order.push_back((ip, seq));
        let mut recycled = Vec::new();
        while self.circuits.get(&circuit).is_some_and(|c| c.live > cap) {
            let Some((old, old_seq)) = self
                .circuits
                .get_mut(&circuit)
                .and_then(|c| c.order.pop_front())
            else {
                break;
            };
            let current = self
                .by_ip
                .get(&old)
                .is_some_and(|o| o.circuit == circuit && o.seq == old_seq);
            if current {
                if let Some(o) = self.remove(old) {
                    recycled.push(Recycled {
                        ip: old,
                        until: o.until,
                    });
                }
            }
        }
        self.compact(circuit);
        recycled
    }

    /// Takes the offer of `ip` if it was made to `client` and has not
    /// expired at `now`: its options, for the ACK.
    pub fn take(&mut self, ip: Ipv4Addr, client: u64, now: UnixTime) -> Option<Arc<Prepared>> {
        let o = self.by_ip.get(&ip)?;
        if o.client != client {
            return None;
        }
        let o = self.remove(ip)?;
        (o.until > now).then_some(o.options)
    }

    /// Forgets the offer of `ip` if it was made to `client` (the client
    /// chose another server, declined or was acknowledged); returns when
    /// its hold would have ended.
    pub fn forget(&mut self, ip: Ipv4Addr, client: u64) -> Option<UnixTime> {
        if self.by_ip.get(&ip)?.client != client {
            return None;
        }
        self.remove(ip).map(|o| o.until)
    }

    /// Forgets offers that ended by `now` and returns memory a flood took;
    /// returns how many ended.
    pub fn sweep(&mut self, now: UnixTime) -> usize {
        let ended: Vec<Ipv4Addr> = self
            .by_ip
            .iter()
            .filter(|(_, o)| o.until <= now)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in &ended {
            self.remove(*ip);
        }
        self.circuits.retain(|_, c| c.live > 0);
        self.interned.retain(|p| Arc::strong_count(p) > 1);
        shrink(&mut self.by_ip);
        shrink(&mut self.circuits);
        if self.interned.capacity() > 4 * self.interned.len() + 1024 {
            self.interned.shrink_to(2 * self.interned.len());
        }
        ended.len()
    }

    /// Outstanding offers.
    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    /// Whether no offer is outstanding.
    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    /// Circuits with outstanding offers.
    pub fn circuits(&self) -> usize {
        self.circuits.len()
    }

    /// Distinct option sets the outstanding offers share.
    pub fn distinct_options(&self) -> usize {
        self.interned.len()
    }

    fn remove(&mut self, ip: Ipv4Addr) -> Option<Offer> {
        let o = self.by_ip.remove(&ip)?;
        if let Some(c) = self.circuits.get_mut(&o.circuit) {
            c.live = c.live.saturating_sub(1);
        }
        // The memo's copy and this one: the last offer of these options.
        if Arc::strong_count(&o.options) == 2 {
            self.interned.remove(&*o.options);
        }
        Some(o)
    }

    /// Drops the circuit's order entries of ended offers once they
    /// outnumber the live ones, so the order stays O(live).
    fn compact(&mut self, circuit: u64) {
        let Some(c) = self.circuits.get_mut(&circuit) else {
            return;
        };
        if c.order.len() <= 2 * c.live + 64 {
            return;
        }
        let by_ip = &self.by_ip;
        c.order.retain(|(ip, seq)| {
            by_ip
                .get(ip)
                .is_some_and(|o| o.circuit == circuit && o.seq == *seq)
        });
        c.order.shrink_to_fit();
    }
}

/// Returns a map's memory once most of it is empty (after a flood).
fn shrink<K: std::hash::Hash + Eq, V, S: std::hash::BuildHasher>(m: &mut HashMap<K, V, S>) {
    if m.capacity() > 4 * m.len() + 1024 {
        m.shrink_to(2 * m.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> Ipv4Addr {
        Ipv4Addr::from(0x0a00_0000 + n)
    }

    fn prepared(tag: u8) -> Prepared {
        let mut set = headend_model::options::OptionSet::new();
        set.insert(
            headend_model::options::TagPath::from_slice(&[66]),
            headend_model::options::Value::Str(format!("tftp-{tag}")),
            "test",
        );
        let reg = headend_model::options::Registry::builtin();
        Prepared::new(&set, &reg, &mut headend_model::trace::Trace::disabled())
    }

    #[test]
    fn an_offer_is_taken_once_by_its_client_before_it_ends() {
        let mut m = Offers::new();
        let (a, b) = (
            m.client_id(&ClientKey(vec![1])),
            m.client_id(&ClientKey(vec![2])),
        );
        let c = m.circuit_id(Ipv4Addr::new(10, 0, 0, 1), b"", b"");
        assert!(m.insert(ip(1), a, c, 100, prepared(1), 10).is_empty());
        assert!(m.take(ip(1), b, 50).is_none(), "another client's offer");
        let o = m.take(ip(1), a, 50).expect("the client's own offer");
        assert_eq!(o.options().count(), 1);
        assert!(m.take(ip(1), a, 50).is_none(), "taken once");
        m.insert(ip(2), a, c, 100, prepared(1), 10);
        assert!(m.take(ip(2), a, 100).is_none(), "ended at its hold");
        assert!(m.is_empty());
    }

    #[test]
    fn identical_options_are_shared_and_released_with_their_last_offer() {
        let mut m = Offers::new();
        let c = m.circuit_id(Ipv4Addr::UNSPECIFIED, b"", b"");
        for n in 0..100 {
            m.insert(ip(n), u64::from(n), c, 100, prepared((n % 2) as u8), 1000);
        }
        assert_eq!(m.distinct_options(), 2);
        for n in (0..100).step_by(2) {
            m.forget(ip(n), u64::from(n));
        }
        assert_eq!(m.distinct_options(), 1);
        assert_eq!(m.sweep(100), 50);
        assert_eq!(m.distinct_options(), 0);
        assert_eq!(m.circuits(), 0);
    }

    #[test]
    fn a_circuit_past_its_cap_recycles_its_oldest_offers_only() {
        let mut m = Offers::new();
        let flood = m.circuit_id(Ipv4Addr::new(10, 0, 0, 1), b"cable1/0", b"cm");
        let other = m.circuit_id(Ipv4Addr::new(10, 0, 0, 1), b"cable1/0", b"cm2");
        m.insert(ip(1000), 1000, other, 500, prepared(0), 4);
        let mut recycled = Vec::new();
        for n in 0..10 {
            recycled.extend(m.insert(
                ip(n),
                u64::from(n),
                flood,
                100 + u64::from(n),
                prepared(0),
                4,
            ));
        }
        let want: Vec<Recycled> = (0..6)
            .map(|n| Recycled {
                ip: ip(n),
                until: 100 + u64::from(n),
            })
            .collect();
        assert_eq!(recycled, want);
        assert_eq!(m.len(), 5, "4 on the flooded circuit, 1 on the other");
        assert!(
            m.take(ip(1000), 1000, 0).is_some(),
            "the other circuit untouched"
        );
        // Offers that ended earlier are skipped, not recycled twice.
        assert!(m.take(ip(6), 6, 0).is_some());
        let r = m.insert(ip(20), 20, flood, 200, prepared(0), 4);
        assert!(r.is_empty(), "{r:?}");
        let r = m.insert(ip(21), 21, flood, 200, prepared(0), 4);
        assert_eq!(
            r,
            vec![Recycled {
                ip: ip(7),
                until: 107
            }]
        );
    }

    #[test]
    fn an_address_offered_again_counts_once() {
        let mut m = Offers::new();
        let c = m.circuit_id(Ipv4Addr::UNSPECIFIED, b"", b"");
        for _ in 0..1000 {
            assert!(m.insert(ip(1), 7, c, 100, prepared(0), 2).is_empty());
        }
        assert_eq!(m.len(), 1);
        m.insert(ip(2), 8, c, 100, prepared(0), 2);
        let r = m.insert(ip(3), 9, c, 100, prepared(0), 2);
        assert_eq!(
            r,
            vec![Recycled {
                ip: ip(1),
                until: 100
            }]
        );
        // The order is compacted, not grown by re-offers.
        assert!(m
            .circuits
            .values()
            .all(|c| c.order.len() <= 2 * c.live + 64));
    }

    #[test]
    fn circuits_past_the_bound_share_one_count() {
        let mut m = Offers::new();
        for n in 0..(MAX_CIRCUITS as u32 + 10) {
            let c = m.circuit_id(ip(n), b"", b"");
            m.insert(ip(n), u64::from(n), c, 100, prepared(0), 4);
        }
        assert_eq!(m.circuits(), MAX_CIRCUITS + 1);
        // The 10 past the bound share one circuit, capped at 4.
        assert_eq!(m.len(), MAX_CIRCUITS + 4);
        m.sweep(100);
        assert!(m.is_empty());
        assert!(m.by_ip.capacity() < 2048, "memory returned after the flood");
    }
}
