//! The TFTP read client of a simulated device (RFC 1350, options RFC 2347,
//! blksize RFC 2348, tsize RFC 2349), a sans-IO state machine: the RRQ goes
//! to the server's port, the transfer continues with the server's TID
//! (source port); the last packet is retransmitted on timeout.
//!
//! What the device checks: the OACK names only options it asked for with
//! a blksize no larger than asked (RFC 2347 §3, RFC 2348), every DATA block
//! is the negotiated size except the last, blocks come in order (a
//! duplicate of the previous block is re-acknowledged, RFC 1350 §6 — never
//! the "sorcerer's apprentice" double-send). The file is bounded in size.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use headend_wire::tftp::{encode_ack, Packet, DEFAULT_BLKSIZE};

use crate::check::{Rule, Violations};
use crate::outbox::{Chan, Outbox, Service};
use crate::retry::Retry;
use crate::rng::Rng;

/// Largest file a device accepts.
pub const MAX_FILE: usize = 4 << 20;

/// What a datagram or timeout did.
#[derive(Debug, PartialEq, Eq)]
pub enum TftpEvent {
    /// Nothing for the caller.
    None,
    /// The whole file arrived.
    Done,
    /// The transfer failed.
    Failed(&'static str),
}

/// One read transfer.
#[derive(Debug)]
pub struct TftpClient {
    src: IpAddr,
    server: SocketAddr,
    tid: Option<SocketAddr>,
    asked_blksize: u16,
    blksize: u16,
    next: u16,
    data: Vec<u8>,
    last: Last,
    sent: u32,
    deadline: Option<Instant>,
    done: bool,
    step: &'static str,
}

/// The packet to retransmit on timeout.
#[derive(Debug, Clone)]
enum Last {
    Rrq(Vec<u8>),
    Ack(u16),
}

impl TftpClient {
    /// Sends the RRQ for `file` from `src` to `server`, asking for
    /// `blksize` (no option when it is 512) and the transfer size.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        now: Instant,
        step: &'static str,
        src: IpAddr,
        server: SocketAddr,
        file: &[u8],
        blksize: u16,
        retry: &Retry,
        rng: &mut Rng,
        out: &mut Outbox,
    ) -> TftpClient {
        let mut rrq = Vec::with_capacity(file.len() + 40);
        rrq.extend_from_slice(&1u16.to_be_bytes());
        rrq.extend_from_slice(file);
        rrq.push(0);
        rrq.extend_from_slice(b"octet\0");
        if blksize != DEFAULT_BLKSIZE {
            rrq.extend_from_slice(b"blksize\0");
            rrq.extend_from_slice(blksize.to_string().as_bytes());
            rrq.push(0);
        }
        rrq.extend_from_slice(b"tsize\x000\0");
        let mut c = TftpClient {
            src,
            server,
            tid: None,
            asked_blksize: blksize,
            blksize: DEFAULT_BLKSIZE,
            next: 1,
            data: Vec::new(),
            last: Last::Rrq(rrq),
            sent: 0,
            deadline: None,
            done: false,
            step,
        };
        c.transmit(now, retry, rng, out);
        c
    }

    /// The file received so far (all of it after [`TftpEvent::Done`]).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Takes the received file.
    pub fn take_data(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.data)
    }

    /// The blksize in use.
    pub fn blksize(&self) -> u16 {
        self.blksize
    }

    /// When [`TftpClient::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// Retransmits the last packet, or fails after the retries.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        retry: &Retry,
        rng: &mut Rng,
        out: &mut Outbox,
    ) -> TftpEvent {
        if self.done || self.deadline.is_none_or(|d| d > now) {
            return TftpEvent::None;
        }
        if self.sent >= retry.attempts {
            self.deadline = None;
            self.done = true;
            return TftpEvent::Failed(if self.tid.is_none() {
                "no answer to the RRQ"
            } else {
                "transfer timed out"
            });
        }
        self.transmit(now, retry, rng, out);
        TftpEvent::None
    }

    /// One datagram from `from` addressed to this device's TFTP socket.
    #[allow(clippy::too_many_arguments)]
    pub fn handle(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        mac: &[u8; 6],
        retry: &Retry,
        rng: &mut Rng,
        v: &mut Violations,
        out: &mut Outbox,
    ) -> TftpEvent {
        if self.done {
            return TftpEvent::None;
        }
        match self.tid {
            // RFC 1350 §4: a packet from another port is not this transfer.
            Some(tid) if tid != from => return TftpEvent::None,
            None if from.ip() != self.server.ip() => return TftpEvent::None,
            _ => {}
        }
        let Ok(p) = Packet::parse(datagram) else {
            v.add(
                Rule::TftpProtocol,
                mac,
                self.step,
                || "packet does not parse".into(),
                datagram,
            );
            return TftpEvent::None;
        };
        match p {
            Packet::Oack(opts) if self.tid.is_none() => {
                self.tid = Some(from);
                let mut blksize = DEFAULT_BLKSIZE;
                for (name, value) in opts.iter() {
                    match name.to_ascii_lowercase().as_str() {
                        "blksize" => match value.parse::<u16>() {
                            Ok(b) if b >= 8 && b <= self.asked_blksize => blksize = b,
                            _ => {
                                v.add(
                                    Rule::TftpBlksize,
                                    mac,
                                    self.step,
                                    || {
                                        format!(
                                            "OACK blksize {value} (asked {})",
                                            self.asked_blksize
                                        )
                                    },
                                    datagram,
                                );
                                return self.fail(out, "bad OACK blksize");
                            }
                        },
                        "tsize" => {
                            if value.parse::<u64>().is_ok_and(|t| t > MAX_FILE as u64) {
                                return self.fail(out, "file too large");
                            }
                        }
                        other => {
                            let other = other.to_string();
                            v.add(
                                Rule::TftpBlksize,
                                mac,
                                self.step,
                                || format!("OACK option {other:?} not requested"),
                                datagram,
                            );
                        }
                    }
                }
                if blksize != DEFAULT_BLKSIZE && self.asked_blksize == DEFAULT_BLKSIZE {
                    return self.fail(out, "bad OACK blksize");
                }
                self.blksize = blksize;
                self.last = Last::Ack(0);
                self.sent = 0;
                self.transmit(now, retry, rng, out);
                TftpEvent::None
            }
            Packet::Data { block, data } => {
                if self.tid.is_none() {
                    // The server ignored our options (allowed, RFC 2347 §3).
                    self.tid = Some(from);
                    self.blksize = DEFAULT_BLKSIZE;
                }
                if block == self.next.wrapping_sub(1) && block != 0 {
                    // Our ACK was lost: acknowledge the duplicate once more
                    // without restarting the timer (RFC 1350 §6).
                    let tid = self.tid.unwrap_or(self.server);
                    out.push(Chan::Host(Service::Tftp), Some(self.src), tid, |b| {
                        encode_ack(block, b)
                    });
                    return TftpEvent::None;
                }
                if block != self.next {
                    v.add(
                        Rule::TftpProtocol,
                        mac,
                        self.step,
                        || format!("DATA block {block}, expected {}", self.next),
                        datagram,
                    );
                    return TftpEvent::None;
                }
                if data.len() > usize::from(self.blksize) {
                    v.add(
                        Rule::TftpBlksize,
                        mac,
                        self.step,
                        || format!("DATA of {} octets, blksize {}", data.len(), self.blksize),
                        &datagram[..datagram.len().min(64)],
                    );
                    return self.fail(out, "DATA larger than blksize");
                }
                if self.data.len() + data.len() > MAX_FILE {
                    return self.fail(out, "file too large");
                }
                self.data.extend_from_slice(data);
                self.next = self.next.wrapping_add(1);
                self.last = Last::Ack(block);
                self.sent = 0;
                if data.len() < usize::from(self.blksize) {
                    // The last block: acknowledge it once; no timer (the
                    // server retransmits if this ACK is lost, and a dally
                    // period adds nothing to a simulation).
                    let tid = self.tid.unwrap_or(self.server);
                    out.push(Chan::Host(Service::Tftp), Some(self.src), tid, |b| {
                        encode_ack(block, b)
                    });
                    self.deadline = None;
                    self.done = true;
                    return TftpEvent::Done;
                }
                self.transmit(now, retry, rng, out);
                TftpEvent::None
            }
            Packet::Error { code, .. } => {
                self.deadline = None;
                self.done = true;
                TftpEvent::Failed(match code.code() {
                    1 => "TFTP error: file not found",
                    2 => "TFTP error: access violation",
                    3 => "TFTP error: disk full",
                    8 => "TFTP error: option negotiation refused",
                    _ => "TFTP error",
                })
            }
            _ => {
                v.add(
                    Rule::TftpProtocol,
                    mac,
                    self.step,
                    || "unexpected packet".into(),
                    datagram,
                );
                TftpEvent::None
            }
        }
    }

    fn fail(&mut self, out: &mut Outbox, why: &'static str) -> TftpEvent {
        // RFC 2347 §3: a client refusing the OACK sends ERROR 8.
        if let Some(tid) = self.tid {
            out.push(Chan::Host(Service::Tftp), Some(self.src), tid, |b| {
                headend_wire::tftp::encode_error(headend_wire::tftp::ErrorCode::from_u16(8), why, b)
            });
        }
        self.deadline = None;
        self.done = true;
        TftpEvent::Failed(why)
    }

    fn transmit(&mut self, now: Instant, retry: &Retry, rng: &mut Rng, out: &mut Outbox) {
        let to = self.tid.unwrap_or(self.server);
        match &self.last {
            Last::Rrq(r) => out.push(Chan::Host(Service::Tftp), Some(self.src), to, |b| {
                b.extend_from_slice(r)
            }),
            Last::Ack(n) => {
                let n = *n;
                out.push(Chan::Host(Service::Tftp), Some(self.src), to, |b| {
                    encode_ack(n, b)
                })
            }
        }
        self.deadline = Some(now + retry.timeout(self.sent, rng));
        self.sent += 1;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use headend_wire::tftp::encode_data;
    use std::time::Duration;

    fn oack(opts: &[(&str, &str)]) -> Vec<u8> {
        let mut b = 6u16.to_be_bytes().to_vec();
        for (k, v) in opts {
            b.extend_from_slice(k.as_bytes());
            b.push(0);
            b.extend_from_slice(v.as_bytes());
            b.push(0);
        }
        b
    }

    fn data(block: u16, len: usize) -> Vec<u8> {
        let mut b = vec![];
        encode_data(block, &vec![7u8; len], &mut b);
        b
    }

    #[test]
    fn negotiated_transfer_with_a_lost_ack() {
        let mut now = Instant::now();
        let retry = Retry {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(4),
            attempts: 3,
            jitter: Duration::ZERO,
        };
        let mut rng = Rng::new(1);
        let mut out = Outbox::new();
        let mut v = Violations::new(4);
        let mac = [0; 6];
        let server: SocketAddr = "127.0.0.1:69".parse().unwrap();
        let tid: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let src: IpAddr = "10.1.0.5".parse().unwrap();
        let mut c = TftpClient::start(
            now, "TFTP", src, server, b"a.cm", 1024, &retry, &mut rng, &mut out,
        );
        let rrq = out.payload(&out.items()[0]).to_vec();
        assert_eq!(
            rrq,
            b"\x00\x01a.cm\x00octet\x00blksize\x001024\x00tsize\x000\x00"
        );
        assert_eq!(out.items()[0].src, Some(src));
        assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(1)));
        let ev = c.handle(
            now,
            tid,
            &oack(&[("blksize", "1024"), ("tsize", "1500")]),
            &mac,
            &retry,
            &mut rng,
            &mut v,
            &mut out,
        );
        assert_eq!(ev, TftpEvent::None);
        assert_eq!(out.payload(&out.items()[1]), b"\x00\x04\x00\x00");
        assert_eq!(out.items()[1].dst, tid);
        // A packet from another port is ignored.
        let other: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        assert_eq!(
            c.handle(
                now,
                other,
                &data(1, 1024),
                &mac,
                &retry,
                &mut rng,
                &mut v,
                &mut out
            ),
            TftpEvent::None
        );
        assert_eq!(out.len(), 2);
        c.handle(
            now,
            tid,
            &data(1, 1024),
            &mac,
            &retry,
            &mut rng,
            &mut v,
            &mut out,
        );
        assert_eq!(out.payload(&out.items()[2]), b"\x00\x04\x00\x01");
        // The server did not see ACK 1: it resends block 1, we re-ACK.
        c.handle(
            now,
            tid,
            &data(1, 1024),
            &mac,
            &retry,
            &mut rng,
            &mut v,
            &mut out,
        );
        assert_eq!(out.payload(&out.items()[3]), b"\x00\x04\x00\x01");
        // Our timer resends ACK 1 too.
        now += Duration::from_secs(1);
        c.handle_timeout(now, &retry, &mut rng, &mut out);
        assert_eq!(out.payload(&out.items()[4]), b"\x00\x04\x00\x01");
        let ev = c.handle(
            now,
            tid,
            &data(2, 476),
            &mac,
            &retry,
            &mut rng,
            &mut v,
            &mut out,
        );
        assert_eq!(ev, TftpEvent::Done);
        assert_eq!(c.data().len(), 1500);
        assert_eq!(v.total(), 0);
    }

    #[test]
    fn oversize_blocks_and_oack_are_violations() {
        let now = Instant::now();
        let retry = Retry::default();
        let mut rng = Rng::new(1);
        let mut out = Outbox::new();
        let mut v = Violations::new(4);
        let server: SocketAddr = "127.0.0.1:69".parse().unwrap();
        let src: IpAddr = "10.1.0.5".parse().unwrap();
        let mut c = TftpClient::start(
            now, "TFTP", src, server, b"a", 1024, &retry, &mut rng, &mut out,
        );
        let ev = c.handle(
            now,
            server,
            &oack(&[("blksize", "2048")]),
            &[0; 6],
            &retry,
            &mut rng,
            &mut v,
            &mut out,
        );
        assert_eq!(ev, TftpEvent::Failed("bad OACK blksize"));
        assert_eq!(v.samples()[0].rule, Rule::TftpBlksize);
        // No options honoured: 512-octet blocks; a 600-octet block breaks it.
        let mut c = TftpClient::start(
            now, "TFTP", src, server, b"a", 1024, &retry, &mut rng, &mut out,
        );
        let ev = c.handle(
            now,
            server,
            &data(1, 600),
            &[0; 6],
            &retry,
            &mut rng,
            &mut v,
            &mut out,
        );
        assert_eq!(ev, TftpEvent::Failed("DATA larger than blksize"));
        assert_eq!(v.total(), 2);
    }

    #[test]
    fn silence_fails_after_the_retries() {
        let mut now = Instant::now();
        let retry = Retry {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(1),
            attempts: 2,
            jitter: Duration::ZERO,
        };
        let mut rng = Rng::new(1);
        let mut out = Outbox::new();
        let server: SocketAddr = "127.0.0.1:69".parse().unwrap();
        let src: IpAddr = "10.1.0.5".parse().unwrap();
        let mut c = TftpClient::start(
            now, "TFTP", src, server, b"a", 512, &retry, &mut rng, &mut out,
        );
        now += Duration::from_secs(1);
        assert_eq!(
            c.handle_timeout(now, &retry, &mut rng, &mut out),
            TftpEvent::None
        );
        now += Duration::from_secs(1);
        assert_eq!(
            c.handle_timeout(now, &retry, &mut rng, &mut out),
            TftpEvent::Failed("no answer to the RRQ")
        );
        assert_eq!(out.len(), 2);
        assert!(c.poll_timeout().is_none());
    }
}
