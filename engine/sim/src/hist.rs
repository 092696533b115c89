//! A fixed-size log-linear latency histogram (1 µs resolution below 128 µs,
//! then 64 sub-buckets per power of two: under 1.6 % error), recorded
//! without allocation on the hot path and merged for the report.

use std::time::Duration;

const LINEAR: usize = 128;
const SUB: usize = 64;
const OCTAVES: usize = 40;
const BUCKETS: usize = LINEAR + SUB * OCTAVES;

/// Latency histogram.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            max_us: 0,
        }
    }
}

fn index(us: u64) -> usize {
    if us < LINEAR as u64 {
        return us as usize;
    }
    let bits = 64 - us.leading_zeros() as usize; // ≥ 8
    let shift = bits - 7; // keep 7 significant bits: 64..=127
    let mantissa = (us >> shift) as usize; // 64..=127
    (LINEAR + (shift - 1) * SUB + (mantissa - SUB)).min(BUCKETS - 1)
}

fn lower(i: usize) -> u64 {
    if i < LINEAR {
        return i as u64;
    }
    let k = i - LINEAR;
    let shift = k / SUB + 1;
    ((SUB + k % SUB) as u64) << shift
}

impl Histogram {
    /// Records one latency.
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        if let Some(c) = self.counts.get_mut(index(us)) {
            *c += 1;
        }
        self.total += 1;
        self.max_us = self.max_us.max(us);
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest value.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max_us)
    }

    /// The `q` quantile (0..=1), as the lower bound of its bucket.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_micros(lower(i).min(self.max_us));
            }
        }
        self.max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_two_percent() {
        let mut h = Histogram::default();
        for us in 1..=100_000u64 {
            h.record(Duration::from_micros(us));
        }
        assert_eq!(h.count(), 100_000);
        for (q, want) in [(0.5, 50_000.0), (0.9, 90_000.0), (0.99, 99_000.0)] {
            let got = h.quantile(q).as_micros() as f64;
            assert!((got - want).abs() / want < 0.02, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.max(), Duration::from_micros(100_000));
        assert_eq!(h.quantile(0.0), Duration::from_micros(1));
        for i in 0..BUCKETS - 1 {
            assert!(lower(i) < lower(i + 1), "bucket {i}");
            assert_eq!(index(lower(i)), i);
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }
}
