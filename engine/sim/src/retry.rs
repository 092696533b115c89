//! Retransmission schedules: exponential backoff with jitter, as RFC 2131
//! §4.1 (DHCPv4), RFC 8415 §15 (DHCPv6, via [`Retry::rfc8415`]), and the
//! fixed-ish timeouts of TFTP, RFC 868 and SNMP requests.

use std::time::Duration;

use crate::rng::Rng;

/// A retransmission schedule; the default is RFC 2131 §4.1: 4 s doubling
/// to 64 s, ±1 s.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// First timeout.
    pub initial: Duration,
    /// Largest timeout.
    pub max: Duration,
    /// Transmissions of one message before the step fails.
    pub attempts: u32,
    /// Randomisation, ± this.
    pub jitter: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            initial: Duration::from_secs(4),
            max: Duration::from_secs(64),
            attempts: 5,
            jitter: Duration::from_secs(1),
        }
    }
}

impl Retry {
    /// The timeout after transmission number `n` (0-based).
    pub fn timeout(&self, n: u32, rng: &mut Rng) -> Duration {
        let base = self.initial.saturating_mul(1u32 << n.min(16)).min(self.max);
        let j = self.jitter.as_micros() as u64;
        if j == 0 {
            return base;
        }
        let delta = rng.below(2 * j + 1);
        let us = (base.as_micros() as u64 + delta).saturating_sub(j);
        Duration::from_micros(us.max(1000))
    }
}
