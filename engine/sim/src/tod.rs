//! The RFC 868 Time Protocol client of a cable modem (DOCSIS MULPI "Time
//! of Day", CM ToD step): an empty UDP datagram to the server named in
//! option 4 (or CableLabs 17.37), answered by four octets, seconds since
//! 1900. Sans-IO with retries; a reply of another length is a violation.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::check::{Rule, Violations};
use crate::outbox::{Chan, Outbox, Service};
use crate::retry::Retry;
use crate::rng::Rng;

/// Seconds from 1900-01-01 to 1970-01-01 (RFC 868).
pub const EPOCH_1900: u64 = 2_208_988_800;

/// What a reply or timeout did.
#[derive(Debug, PartialEq, Eq)]
pub enum TodEvent {
    /// Nothing for the caller.
    None,
    /// The time arrived (seconds since 1900).
    Time(u32),
    /// No answer after the retries.
    Failed(&'static str),
}

/// One time request.
#[derive(Debug, Clone)]
pub struct TodClient {
    src: IpAddr,
    server: SocketAddr,
    sent: u32,
    deadline: Option<Instant>,
}

impl TodClient {
    /// Sends the request from `src` to `server`.
    pub fn start(
        now: Instant,
        src: IpAddr,
        server: SocketAddr,
        retry: &Retry,
        rng: &mut Rng,
        out: &mut Outbox,
    ) -> TodClient {
        let mut c = TodClient {
            src,
            server,
            sent: 0,
            deadline: None,
        };
        c.transmit(now, retry, rng, out);
        c
    }

    /// When [`TodClient::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// Retransmits, or fails after the retries.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        retry: &Retry,
        rng: &mut Rng,
        out: &mut Outbox,
    ) -> TodEvent {
        if self.deadline.is_none_or(|d| d > now) {
            return TodEvent::None;
        }
        if self.sent >= retry.attempts {
            self.deadline = None;
            return TodEvent::Failed("no time reply");
        }
        self.transmit(now, retry, rng, out);
        TodEvent::None
    }

    /// A datagram from the server.
    pub fn handle(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
        mac: &[u8; 6],
        step: &'static str,
        v: &mut Violations,
    ) -> TodEvent {
        if from != self.server || self.deadline.is_none() {
            return TodEvent::None;
        }
        match <[u8; 4]>::try_from(datagram) {
            Ok(b) => {
                self.deadline = None;
                TodEvent::Time(u32::from_be_bytes(b))
            }
            Err(_) => {
                v.add(
                    Rule::TodReply,
                    mac,
                    step,
                    || format!("time reply of {} octets", datagram.len()),
                    datagram,
                );
                TodEvent::None
            }
        }
    }

    fn transmit(&mut self, now: Instant, retry: &Retry, rng: &mut Rng, out: &mut Outbox) {
        out.push(
            Chan::Host(Service::Tod),
            Some(self.src),
            self.server,
            |_| {},
        );
        self.deadline = Some(now + retry.timeout(self.sent, rng));
        self.sent += 1;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    #[test]
    fn request_retry_and_reply() {
        let mut now = Instant::now();
        let retry = Retry {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(2),
            attempts: 3,
            jitter: Duration::ZERO,
        };
        let mut rng = Rng::new(3);
        let mut out = Outbox::new();
        let mut v = Violations::new(2);
        let server: SocketAddr = "127.0.0.1:37".parse().unwrap();
        let mut c = TodClient::start(
            now,
            "10.1.0.9".parse().unwrap(),
            server,
            &retry,
            &mut rng,
            &mut out,
        );
        assert_eq!(out.payload(&out.items()[0]), b"");
        now += Duration::from_secs(1);
        c.handle_timeout(now, &retry, &mut rng, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(
            c.handle(server, &[1, 2, 3], &[0; 6], "ToD", &mut v),
            TodEvent::None
        );
        assert_eq!(v.total(), 1);
        let t = (EPOCH_1900 as u32).wrapping_add(5).to_be_bytes();
        assert_eq!(
            c.handle(server, &t, &[0; 6], "ToD", &mut v),
            TodEvent::Time(EPOCH_1900 as u32 + 5)
        );
        assert!(c.poll_timeout().is_none());
        let mut c = TodClient::start(
            now,
            "10.1.0.9".parse().unwrap(),
            server,
            &retry,
            &mut rng,
            &mut out,
        );
        for _ in 0..2 {
            now = c.poll_timeout().unwrap();
            assert_eq!(
                c.handle_timeout(now, &retry, &mut rng, &mut out),
                TodEvent::None
            );
        }
        now = c.poll_timeout().unwrap();
        assert_eq!(
            c.handle_timeout(now, &retry, &mut rng, &mut out),
            TodEvent::Failed("no time reply")
        );
    }
}
