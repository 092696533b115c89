//! Rate limiting per sender: a token bucket per key (a syslog source
//! address, a DHCPv4 relay circuit declining addresses), refilled at `rate`
//! per second up to `burst`, in a map of at most `max_sources` keys.
//!
//! Memory and time stay bounded under a flood from spoofed sources: when the
//! map is full, buckets that have refilled completely (indistinguishable
//! from a fresh one) are swept out, at most once a second so that a flood of
//! new addresses cannot make every datagram pay for a sweep; a new source
//! that still finds the map full shares one overflow bucket with every other
//! such source. Sans-IO: the caller passes the time.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::shared::v4_of;

/// How often a full map may be swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Bucket {
        Bucket {
            tokens: burst,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant, rate: f64, burst: f64) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * rate).min(burst);
        self.at = now;
    }

    fn take(&mut self, now: Instant, rate: f64, burst: f64) -> bool {
        self.refill(now, rate, burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Token buckets per key (by default a source address), bounded in number.
#[derive(Debug)]
pub struct RateLimiter<K = IpAddr> {
    rate: f64,
    burst: f64,
    max_sources: usize,
    buckets: HashMap<K, Bucket>,
    overflow: Bucket,
    last_sweep: Option<Instant>,
}

impl RateLimiter<IpAddr> {
    /// `rate` datagrams per second per source, `burst` at once, `max_sources` tracked apart.
    pub fn new(rate: u32, burst: u32, max_sources: usize, now: Instant) -> RateLimiter {
        RateLimiter::keyed(f64::from(rate.max(1)), burst, max_sources, now)
    }

    /// Whether a datagram from `source` at `now` is within its rate (and counts it).
    pub fn allow(&mut self, source: IpAddr, now: Instant) -> bool {
        // One sender, one bucket, whichever socket family it came in on.
        let source = v4_of(source).map_or(source, IpAddr::V4);
        self.allow_key(source, now)
    }
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// `rate` events per second per key (may be below one), `burst` at
    /// once, `max_sources` keys tracked apart.
    pub fn keyed(rate: f64, burst: u32, max_sources: usize, now: Instant) -> RateLimiter<K> {
        let burst = f64::from(burst.max(1));
        RateLimiter {
            rate: rate.max(1e-6),
            burst,
            max_sources: max_sources.max(1),
            buckets: HashMap::new(),
            overflow: Bucket::full(burst, now),
            last_sweep: None,
        }
    }

    /// New limits (a reload); buckets keep their tokens, capped at the new burst.
    pub fn set_limits(&mut self, rate: f64, burst: u32, max_sources: usize) {
        self.rate = rate.max(1e-6);
        self.burst = f64::from(burst.max(1));
        self.max_sources = max_sources.max(1);
    }

    /// Whether an event of `key` at `now` is within its rate (and counts it).
    pub fn allow_key(&mut self, source: K, now: Instant) -> bool {
        let (rate, burst) = (self.rate, self.burst);
        if let Some(b) = self.buckets.get_mut(&source) {
            return b.take(now, rate, burst);
        }
        if self.buckets.len() >= self.max_sources {
            self.sweep(now);
        }
        if self.buckets.len() >= self.max_sources {
            return self.overflow.take(now, rate, burst);
        }
        let mut b = Bucket::full(burst, now);
        let ok = b.take(now, rate, burst);
        self.buckets.insert(source, b);
        ok
    }

    /// Drops the buckets that have refilled completely, at most once per [`SWEEP_EVERY`].
    fn sweep(&mut self, now: Instant) {
        if self
            .last_sweep
            .is_some_and(|t| now.saturating_duration_since(t) < SWEEP_EVERY)
        {
            return;
        }
        self.last_sweep = Some(now);
        let (rate, burst) = (self.rate, self.burst);
        self.buckets.retain(|_, b| {
            b.refill(now, rate, burst);
            b.tokens < burst
        });
    }

    /// Sources tracked apart right now.
    pub fn sources(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn burst_then_rate_on_a_virtual_clock() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(10, 5, 16, t0);
        let a = ip("10.0.0.1");
        let passed = (0..20).filter(|_| l.allow(a, t0)).count();
        assert_eq!(passed, 5, "the burst, then nothing at the same instant");
        // 100 ms refills one token at 10/s.
        assert!(l.allow(a, t0 + Duration::from_millis(100)));
        assert!(!l.allow(a, t0 + Duration::from_millis(100)));
        // Over 10 s at 100 datagrams/s: the rate, plus nothing more than the burst.
        let mut passed = 0;
        for i in 0..1000u64 {
            if l.allow(a, t0 + Duration::from_millis(100 + 10 * i)) {
                passed += 1;
            }
        }
        assert!((99..=101).contains(&passed), "{passed}");
        // Another source has its own bucket.
        assert!(l.allow(ip("10.0.0.2"), t0 + Duration::from_millis(100)));
        // An IPv4-mapped IPv6 source is the same sender.
        let t = t0 + Duration::from_secs(60);
        let passed = (0..10)
            .filter(|i| l.allow(if i % 2 == 0 { a } else { ip("::ffff:10.0.0.1") }, t))
            .count();
        assert_eq!(passed, 5);
    }

    #[test]
    fn the_map_stays_bounded_under_spoofed_sources() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(1, 2, 100, t0);
        // 10,000 spoofed sources in one instant: 100 tracked, the rest share
        // the overflow bucket (2 tokens).
        let mut passed = 0;
        for i in 0..10_000u32 {
            let src = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            if l.allow(src, t0) {
                passed += 1;
            }
        }
        assert_eq!(l.sources(), 100);
        assert_eq!(passed, 100 + 2);
        // Once they have refilled, a sweep frees the map for new sources.
        let later = t0 + Duration::from_secs(10);
        assert!(l.allow(ip("192.0.2.1"), later));
        assert_eq!(l.sources(), 1);
        // A second full map within the sweep interval is not swept again.
        for i in 0..200u32 {
            l.allow(IpAddr::V4(std::net::Ipv4Addr::from(0x0b00_0000 + i)), later);
        }
        assert_eq!(l.sources(), 100);
    }

    #[test]
    fn new_limits_apply_to_existing_buckets() {
        let t0 = Instant::now();
        let mut l = RateLimiter::new(1, 100, 8, t0);
        let a = ip("10.0.0.1");
        assert!(l.allow(a, t0));
        l.set_limits(1.0, 3, 8);
        let passed = (0..10)
            .filter(|_| l.allow(a, t0 + Duration::from_secs(1)))
            .count();
        assert_eq!(passed, 3, "the bucket is capped at the new burst");
    }
}
