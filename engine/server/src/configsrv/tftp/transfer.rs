//! One TFTP transfer as a sans-IO state machine: the sender of a RRQ
//! ([`Download`]) and the receiver of a WRQ ([`Upload`]), after the request
//! was accepted and its options negotiated.
//!
//! What it implements:
//! - RFC 1350 section 2 and 6: lock-step DATA/ACK, 16-bit block numbers
//!   (wrapping to 0 after 65535, as tftp-hpa, atftp and curl expect), the
//!   last block shorter than the block size (an empty one when the file is a
//!   multiple of it), and the receiver's dally after its final ACK;
//! - RFC 2347 section "Negotiation Protocol": the OACK, acknowledged by
//!   ACK 0 on a read and answered by DATA 1 on a write; an ERROR instead of
//!   ACK 0 refuses it;
//! - RFC 2348 blksize and RFC 2349 timeout (through [`Params`]);
//! - RFC 7440 section 4: the sender sends a whole window and waits; an ACK
//!   inside the window restarts the window after it; the receiver
//!   acknowledges every `windowsize` blocks and, on a block out of order,
//!   the last block it has;
//! - RFC 1123 section 4.2.3.1: a duplicate ACK never causes a retransmission
//!   (the Sorcerer's Apprentice syndrome): only the retransmission timer
//!   does, and it is not postponed by duplicates either;
//! - the server's bounds: the retry count per window (then the transfer is
//!   abandoned without an ERROR, as the peer is presumed gone) and the
//!   whole-transfer deadline.
//!
//! Nothing here touches a socket or reads a clock: the caller passes `now`
//! to [`Machine::handle`] (a datagram from the client's TID) and to
//! [`Machine::handle_timeout`] (when [`Machine::poll_timeout`] has passed),
//! sends what [`Machine::poll_transmit`] writes, and stops on a terminal
//! [`Status`], so every timing rule is tested on a virtual clock. It is
//! written by hand because no crate offers a sans-IO TFTP transfer with RFC
//! 7440 windows; the packets come from `headend_wire::tftp`.

use std::ops::Deref;
use std::time::{Duration, Instant};

use headend_model::configsrv::TftpLimits;
use headend_wire::tftp::{
    encode_ack, encode_data, encode_error, encode_oack, ErrorCode, Negotiated, Packet,
};

/// Longest dally of the receiver after its final ACK (RFC 1350 section 6).
const MAX_DALLY: Duration = Duration::from_secs(1);

/// Cap of a configured duration, so adding it to an `Instant` cannot overflow.
const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `t + d`, saturating (a huge configured timeout must not panic the task).
pub fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d.min(FAR)).unwrap_or(t)
}

/// What a transfer runs with: the negotiated options and the server's timing bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Block size (RFC 2348; 512 without the option).
    pub blksize: u16,
    /// Blocks per window (RFC 7440; 1 without the option).
    pub windowsize: u16,
    /// Retransmission timeout (the client's RFC 2349 timeout, else the server's).
    pub rto: Duration,
    /// Retransmissions of one window (or ACK) before the transfer is abandoned.
    pub retries: u32,
    /// Whole-transfer deadline.
    pub deadline: Instant,
    /// The OACK options; empty for a plain RFC 1350 transfer (no OACK).
    pub oack: Vec<(String, String)>,
}

impl Params {
    /// The parameters of a negotiated request under the server's limits.
    pub fn new(neg: &Negotiated, limits: &TftpLimits, deadline: Instant) -> Params {
        Params {
            blksize: neg.blksize,
            windowsize: neg.windowsize,
            rto: neg
                .timeout
                .map(|s| Duration::from_secs(u64::from(s)))
                .unwrap_or(limits.retransmit),
            retries: limits.retries,
            deadline,
            oack: neg.oack.clone(),
        }
    }

    fn encoded_oack(&self) -> Option<Vec<u8>> {
        if self.oack.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(64);
        encode_oack(
            self.oack.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            &mut out,
        );
        Some(out)
    }
}

/// What one datagram or timer did, for the caller's counters.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Nothing to count (a spurious wake-up, or the transfer ended).
    None,
    /// The transfer moved on: new blocks acknowledged, or the next DATA received.
    Progress,
    /// A duplicate or stale ACK, ignored: only the timer retransmits.
    DuplicateAck,
    /// A duplicate or out-of-order DATA, answered with the last ACK.
    DuplicateData,
    /// A datagram with no place in the transfer, dropped.
    Unexpected,
    /// The timer fired: the window, OACK or last ACK is queued again.
    Retransmit,
}

/// Why a transfer failed; the text is what the transfer record says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The client never acknowledged the OACK of a download.
    #[error("no ACK of the OACK")]
    NoOackAck,
    /// The client answered the OACK with an ERROR (RFC 2347).
    #[error("client refused the OACK")]
    OackRefused,
    /// A window of a download was never acknowledged.
    #[error("no ACK")]
    NoAck,
    /// The uploading client stopped sending DATA.
    #[error("no DATA")]
    NoData,
    /// The client sent an ERROR.
    #[error("client aborted")]
    ClientAborted,
    /// An uploaded block was longer than the block size.
    #[error("oversized block")]
    OversizedBlock,
    /// The upload grew past its size limit.
    #[error("too large")]
    TooLarge,
    /// The whole-transfer deadline passed.
    #[error("transfer deadline passed")]
    Deadline,
    /// The received upload could not be stored.
    #[error("{reason}")]
    Commit {
        /// The TFTP error code sent to the client.
        code: ErrorCode,
        /// Why.
        reason: String,
    },
}

impl Failure {
    /// The TFTP error code this failure is recorded (and, where one is sent, answered) with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Failure::OackRefused => ErrorCode::OptionNegotiation,
            Failure::OversizedBlock => ErrorCode::IllegalOperation,
            Failure::TooLarge => ErrorCode::DiskFull,
            Failure::Commit { code, .. } => *code,
            Failure::NoOackAck
            | Failure::NoAck
            | Failure::NoData
            | Failure::ClientAborted
            | Failure::Deadline => ErrorCode::NotDefined,
        }
    }

    /// The drop-counter reason of a failure caused by a bad datagram, if it is one.
    pub fn drop_reason(&self) -> Option<&'static str> {
        match self {
            Failure::OversizedBlock => Some("tftp_oversized_block"),
            Failure::TooLarge => Some("tftp_upload_too_large"),
            _ => None,
        }
    }
}

/// How a completed transfer went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Octets carried in DATA (netascii as on the wire).
    pub bytes: u64,
    /// DATA blocks, the final (possibly empty) one included.
    pub blocks: u64,
    /// Timer-driven retransmissions (of a window, an OACK or an ACK).
    pub retransmits: u64,
    /// Duplicate ACKs (download) or duplicate DATA (upload) seen.
    pub duplicates: u64,
}

/// Where a transfer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Exchanging packets.
    Running,
    /// Upload only: every block is in; store [`Upload::take_data`], then call
    /// [`Upload::committed`] or [`Upload::commit_failed`] (the final ACK waits for it).
    Received,
    /// Completed (terminal).
    Done(Summary),
    /// Failed (terminal); an ERROR, when one is due, is still in [`Machine::poll_transmit`].
    Failed(Failure),
}

impl Status {
    /// Whether nothing more will happen.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Status::Done(_) | Status::Failed(_))
    }
}

/// The sans-IO interface of a transfer, driven by the socket task.
pub trait Machine {
    /// Feeds one datagram received from the client's TID at `now`.
    fn handle(&mut self, now: Instant, datagram: &[u8]) -> Event;
    /// Fires the timers that are due at `now` (call once `now >= poll_timeout()`).
    fn handle_timeout(&mut self, now: Instant) -> Event;
    /// When [`Machine::handle_timeout`] is next due; `None` once terminal.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Writes the next datagram to send into `out` (cleared first); false when none is queued.
    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> bool;
    /// Where the transfer is.
    fn status(&self) -> &Status;
}

/// The retransmission timer with its retry count and the whole-transfer deadline.
#[derive(Debug)]
struct Timer {
    rto: Duration,
    retries: u32,
    tries: u32,
    at: Instant,
    deadline: Instant,
}

impl Timer {
    fn new(p: &Params, now: Instant) -> Timer {
        Timer {
            rto: p.rto,
            retries: p.retries,
            tries: 0,
            at: later(now, p.rto),
            deadline: p.deadline,
        }
    }

    fn arm(&mut self, now: Instant) {
        self.at = later(now, self.rto);
    }

    /// The next wake-up: the timer, never past the deadline.
    fn next(&self) -> Instant {
        self.at.min(self.deadline)
    }

    /// What a wake-up at `now` means.
    fn fire(&mut self, now: Instant) -> Fired {
        if now >= self.deadline {
            Fired::Deadline
        } else if now < self.at {
            Fired::Early
        } else {
            self.tries += 1;
            if self.tries > self.retries {
                Fired::GiveUp
            } else {
                self.arm(now);
                Fired::Retransmit
            }
        }
    }
}

enum Fired {
    Early,
    Retransmit,
    GiveUp,
    Deadline,
}

/// Maps a 16-bit block number to its position in `lo..=hi` (block numbers
/// wrap; the range is at most 65536 long, so the position is unique).
fn block_index(lo: u64, hi: u64, wire: u16) -> Option<u64> {
    let i = lo + u64::from(wire.wrapping_sub((lo & 0xffff) as u16));
    (i <= hi).then_some(i)
}

fn wire_block(i: u64) -> u16 {
    (i & 0xffff) as u16
}

/// The sender of a download (RRQ): OACK wait, windows, retransmission.
#[derive(Debug)]
pub struct Download<B> {
    bytes: B,
    blksize: usize,
    window: u64,
    /// Blocks in the file, the final short (or empty) one included.
    nblocks: u64,
    /// The encoded OACK while it waits for ACK 0.
    oack: Option<Vec<u8>>,
    oack_queued: bool,
    /// First block not acknowledged.
    base: u64,
    /// Last block of the current window.
    end: u64,
    /// Next block of the window for `poll_transmit` (none queued when past `end`).
    queued: u64,
    timer: Timer,
    summary: Summary,
    status: Status,
}

impl<B> Download<B>
where
    B: Deref,
    B::Target: AsRef<[u8]>,
{
    /// Starts sending `bytes` (already in netascii for a netascii request; any
    /// owner of the octets, such as `Vec<u8>` or `Arc<Vec<u8>>`) at `now`:
    /// the OACK when options were accepted, else the first window.
    pub fn new(params: Params, bytes: B, now: Instant) -> Download<B> {
        let blksize = usize::from(params.blksize.max(1));
        let nblocks = ((*bytes).as_ref().len() / blksize) as u64 + 1;
        let oack = params.encoded_oack();
        let mut d = Download {
            blksize,
            window: u64::from(params.windowsize.max(1)),
            nblocks,
            oack_queued: oack.is_some(),
            oack,
            base: 1,
            end: 0,
            queued: 1,
            timer: Timer::new(&params, now),
            summary: Summary {
                bytes: (*bytes).as_ref().len() as u64,
                blocks: nblocks,
                ..Summary::default()
            },
            bytes,
            status: Status::Running,
        };
        if d.oack.is_none() {
            d.open_window(now);
        }
        d
    }

    /// Queues the window starting at `base` and restarts the timer and its retry count.
    fn open_window(&mut self, now: Instant) {
        self.end = (self.base + self.window - 1).min(self.nblocks);
        self.queued = self.base;
        self.timer.tries = 0;
        self.timer.arm(now);
    }

    fn fail(&mut self, why: Failure) -> Event {
        self.oack_queued = false;
        self.queued = self.end + 1;
        self.status = Status::Failed(why);
        Event::None
    }
}

impl<B> Machine for Download<B>
where
    B: Deref,
    B::Target: AsRef<[u8]>,
{
    fn handle(&mut self, now: Instant, datagram: &[u8]) -> Event {
        if self.status != Status::Running {
            return Event::None;
        }
        let pkt = Packet::parse(datagram);
        if self.oack.is_some() {
            return match pkt {
                Ok(Packet::Ack { block: 0 }) => {
                    self.oack = None;
                    self.oack_queued = false;
                    self.open_window(now);
                    Event::Progress
                }
                Ok(Packet::Ack { .. }) => {
                    self.summary.duplicates += 1;
                    Event::DuplicateAck
                }
                Ok(Packet::Error { .. }) => self.fail(Failure::OackRefused),
                _ => Event::Unexpected,
            };
        }
        match pkt {
            Ok(Packet::Ack { block }) => match block_index(self.base - 1, self.end, block) {
                Some(i) if i >= self.base => {
                    self.base = i + 1;
                    if self.base > self.nblocks {
                        self.queued = self.end + 1;
                        self.status = Status::Done(self.summary);
                    } else {
                        self.open_window(now);
                    }
                    Event::Progress
                }
                // The previous window's ACK again, or older: the timer decides.
                _ => {
                    self.summary.duplicates += 1;
                    Event::DuplicateAck
                }
            },
            Ok(Packet::Error { .. }) => self.fail(Failure::ClientAborted),
            _ => Event::Unexpected,
        }
    }

    fn handle_timeout(&mut self, now: Instant) -> Event {
        if self.status != Status::Running {
            return Event::None;
        }
        match self.timer.fire(now) {
            Fired::Early => Event::None,
            Fired::Deadline => self.fail(Failure::Deadline),
            Fired::GiveUp if self.oack.is_some() => self.fail(Failure::NoOackAck),
            Fired::GiveUp => self.fail(Failure::NoAck),
            Fired::Retransmit => {
                self.summary.retransmits += 1;
                if self.oack.is_some() {
                    self.oack_queued = true;
                } else {
                    // The whole window again (RFC 7440 section 4).
                    self.queued = self.base;
                }
                Event::Retransmit
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (self.status == Status::Running).then(|| self.timer.next())
    }

    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> bool {
        out.clear();
        if self.oack_queued {
            self.oack_queued = false;
            if let Some(o) = &self.oack {
                out.extend_from_slice(o);
                return true;
            }
        }
        if self.queued > self.end {
            return false;
        }
        let i = self.queued;
        self.queued += 1;
        let bytes = (*self.bytes).as_ref();
        let start = usize::try_from(i - 1)
            .unwrap_or(usize::MAX)
            .saturating_mul(self.blksize);
        let stop = start.saturating_add(self.blksize).min(bytes.len());
        encode_data(
            wire_block(i),
            bytes.get(start..stop).unwrap_or_default(),
            out,
        );
        true
    }

    fn status(&self) -> &Status {
        &self.status
    }
}

/// What the receiver answers again on a timeout or a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    Oack,
    Ack(u16),
}

/// The receiver of an upload (WRQ): ACK per window, duplicates, final block, dally.
#[derive(Debug)]
pub struct Upload {
    blksize: usize,
    window: u64,
    max_size: u64,
    data: Vec<u8>,
    /// Next block expected.
    next: u64,
    /// In-order blocks since the last ACK.
    since_ack: u64,
    oack: Option<Vec<u8>>,
    reply: Reply,
    reply_queued: bool,
    error: Option<(ErrorCode, String)>,
    /// The final block's number, once received.
    last: u16,
    /// End of the dally after the final ACK, once committed.
    dally_until: Option<Instant>,
    timer: Timer,
    summary: Summary,
    status: Status,
}

impl Upload {
    /// Starts receiving at `now` at most `max_size` octets: answers the WRQ
    /// with the OACK when options were accepted, else with ACK 0.
    pub fn new(params: Params, max_size: u64, now: Instant) -> Upload {
        let oack = params.encoded_oack();
        Upload {
            blksize: usize::from(params.blksize.max(1)),
            window: u64::from(params.windowsize.max(1)),
            max_size,
            data: Vec::new(),
            next: 1,
            since_ack: 0,
            reply: if oack.is_some() {
                Reply::Oack
            } else {
                Reply::Ack(0)
            },
            oack,
            reply_queued: true,
            error: None,
            last: 0,
            dally_until: None,
            timer: Timer::new(&params, now),
            summary: Summary::default(),
            status: Status::Running,
        }
    }

    /// The received octets (as on the wire), taken out once [`Status::Received`].
    pub fn take_data(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.data)
    }

    /// The upload was stored: queues the final ACK and dallies for a resent last block.
    pub fn committed(&mut self, now: Instant) {
        if self.status != Status::Received {
            return;
        }
        self.ack(self.last);
        self.dally_until = Some(later(now, self.timer.rto.min(MAX_DALLY)).min(self.timer.deadline));
        self.status = Status::Running;
    }

    /// The upload could not be stored: queues an ERROR and fails.
    pub fn commit_failed(&mut self, code: ErrorCode, reason: String) {
        if self.status != Status::Received {
            return;
        }
        self.error = Some((code, reason.clone()));
        self.status = Status::Failed(Failure::Commit { code, reason });
    }

    fn ack(&mut self, block: u16) {
        self.reply = Reply::Ack(block);
        self.reply_queued = true;
    }

    fn fail(&mut self, why: Failure, error: Option<&str>) -> Event {
        self.reply_queued = false;
        self.error = error.map(|m| (why.code(), m.to_string()));
        self.status = Status::Failed(why);
        Event::None
    }

    fn on_data(&mut self, now: Instant, block: u16, chunk: &[u8]) -> Event {
        if wire_block(self.next) != block {
            // Out of order or a duplicate: acknowledge what we have (RFC 7440).
            self.ack(wire_block(self.next - 1));
            self.since_ack = 0;
            self.timer.arm(now);
            self.summary.duplicates += 1;
            return Event::DuplicateData;
        }
        if chunk.len() > self.blksize {
            return self.fail(Failure::OversizedBlock, Some("block larger than blksize"));
        }
        if (self.data.len() + chunk.len()) as u64 > self.max_size {
            return self.fail(Failure::TooLarge, Some("upload exceeds the size limit"));
        }
        self.data.extend_from_slice(chunk);
        self.summary.bytes += chunk.len() as u64;
        self.summary.blocks += 1;
        self.timer.tries = 0;
        self.timer.arm(now);
        self.since_ack += 1;
        self.next += 1;
        if chunk.len() < self.blksize {
            // The final ACK waits until the caller has stored the file.
            self.last = block;
            self.status = Status::Received;
        } else if self.since_ack >= self.window {
            self.ack(block);
            self.since_ack = 0;
        }
        Event::Progress
    }
}

impl Machine for Upload {
    fn handle(&mut self, now: Instant, datagram: &[u8]) -> Event {
        if self.status != Status::Running {
            return Event::None;
        }
        let pkt = Packet::parse(datagram);
        if self.dally_until.is_some() {
            // Dallying: the final ACK was lost if the last block comes again.
            return match pkt {
                Ok(Packet::Data { block, .. }) if block == self.last => {
                    self.ack(self.last);
                    self.summary.duplicates += 1;
                    Event::DuplicateData
                }
                _ => Event::None,
            };
        }
        match pkt {
            Ok(Packet::Data { block, data }) => self.on_data(now, block, data),
            Ok(Packet::Error { .. }) => self.fail(Failure::ClientAborted, None),
            _ => Event::Unexpected,
        }
    }

    fn handle_timeout(&mut self, now: Instant) -> Event {
        match (&self.status, self.dally_until) {
            (Status::Running, Some(until)) => {
                if now >= until {
                    self.reply_queued = false;
                    self.status = Status::Done(self.summary);
                }
                Event::None
            }
            (Status::Running, None) => match self.timer.fire(now) {
                Fired::Early => Event::None,
                Fired::Deadline => self.fail(Failure::Deadline, None),
                Fired::GiveUp => self.fail(Failure::NoData, None),
                Fired::Retransmit => {
                    self.summary.retransmits += 1;
                    self.reply_queued = true;
                    Event::Retransmit
                }
            },
            (Status::Received, _) if now >= self.timer.deadline => {
                self.fail(Failure::Deadline, None)
            }
            _ => Event::None,
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (&self.status, self.dally_until) {
            (Status::Running, Some(until)) => Some(until),
            (Status::Running, None) => Some(self.timer.next()),
            (Status::Received, _) => Some(self.timer.deadline),
            _ => None,
        }
    }

    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> bool {
        out.clear();
        if let Some((code, msg)) = self.error.take() {
            encode_error(code, &msg, out);
            return true;
        }
        if !self.reply_queued {
            return false;
        }
        self.reply_queued = false;
        match (self.reply, &self.oack) {
            (Reply::Oack, Some(o)) => out.extend_from_slice(o),
            (Reply::Ack(b), _) => encode_ack(b, out),
            (Reply::Oack, None) => encode_ack(0, out),
        }
        true
    }

    fn status(&self) -> &Status {
        &self.status
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTO: Duration = Duration::from_secs(1);

    fn params(base: Instant, blksize: u16, windowsize: u16, oack: &[(&str, &str)]) -> Params {
        Params {
            blksize,
            windowsize,
            rto: RTO,
            retries: 2,
            deadline: base + Duration::from_secs(60),
            oack: oack
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// Every queued datagram, in order.
    fn drain(m: &mut impl Machine) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while m.poll_transmit(&mut buf) {
            out.push(buf.clone());
        }
        out
    }

    fn ack(block: u16) -> Vec<u8> {
        let mut v = Vec::new();
        encode_ack(block, &mut v);
        v
    }

    fn data(block: u16, d: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_data(block, d, &mut v);
        v
    }

    fn error() -> Vec<u8> {
        let mut v = Vec::new();
        encode_error(ErrorCode::NotDefined, "bye", &mut v);
        v
    }

    /// The block numbers of DATA packets (panics on anything else).
    fn blocks(pkts: &[Vec<u8>]) -> Vec<u16> {
        pkts.iter()
            .map(|p| match Packet::parse(p) {
                Ok(Packet::Data { block, .. }) => block,
                other => panic!("not DATA: {other:?}"),
            })
            .collect()
    }

    fn file(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn params_take_the_client_timeout_else_the_server_retransmit() {
        let t0 = Instant::now();
        let limits = TftpLimits::default();
        let mut neg = Negotiated {
            blksize: 1428,
            timeout: Some(3),
            windowsize: 8,
            upload_size: None,
            oack: vec![("timeout".into(), "3".into())],
            ignored: Vec::new(),
        };
        let p = Params::new(&neg, &limits, t0);
        assert_eq!(p.rto, Duration::from_secs(3));
        assert_eq!(
            (p.blksize, p.windowsize, p.retries),
            (1428, 8, limits.retries)
        );
        assert_eq!(p.oack, neg.oack);
        neg.timeout = None;
        assert_eq!(Params::new(&neg, &limits, t0).rto, limits.retransmit);
    }

    #[test]
    fn a_huge_timeout_saturates_instead_of_panicking() {
        let t0 = Instant::now();
        let mut p = params(t0, 8, 1, &[]);
        p.rto = Duration::MAX;
        let mut d = Download::new(p.clone(), file(3), t0);
        assert_eq!(d.poll_timeout(), Some(p.deadline));
        let _ = d.handle(t0, &ack(1));
        assert!(d.status().is_terminal());
        assert_eq!(later(t0, Duration::MAX), later(t0, FAR));
    }

    #[test]
    fn block_numbers_wrap() {
        assert_eq!(block_index(65534, 65537, 0), Some(65536));
        assert_eq!(block_index(65534, 65537, 1), Some(65537));
        assert_eq!(block_index(65534, 65537, 65535), Some(65535));
        assert_eq!(block_index(65534, 65537, 2), None);
        assert_eq!(block_index(10, 12, 9), None);
        assert_eq!(block_index(0, 3, 0), Some(0));
        assert_eq!(block_index(0, 65535, 65535), Some(65535));
    }

    #[test]
    fn download_lock_step_ends_on_the_short_block() {
        let t0 = Instant::now();
        let f = file(20);
        let mut d = Download::new(params(t0, 8, 1, &[]), f.clone(), t0);
        let p = drain(&mut d);
        assert_eq!(p, vec![data(1, &f[..8])]);
        assert_eq!(d.handle(t0, &ack(1)), Event::Progress);
        assert_eq!(drain(&mut d), vec![data(2, &f[8..16])]);
        assert_eq!(d.handle(t0, &ack(2)), Event::Progress);
        assert_eq!(drain(&mut d), vec![data(3, &f[16..])]);
        assert_eq!(d.status(), &Status::Running);
        assert_eq!(d.handle(t0, &ack(3)), Event::Progress);
        assert!(drain(&mut d).is_empty());
        assert_eq!(
            d.status(),
            &Status::Done(Summary {
                bytes: 20,
                blocks: 3,
                retransmits: 0,
                duplicates: 0
            })
        );
        assert_eq!(d.poll_timeout(), None);
    }

    #[test]
    fn download_of_a_blksize_multiple_ends_with_an_empty_block() {
        let t0 = Instant::now();
        let f = file(16);
        let mut d = Download::new(params(t0, 8, 1, &[]), f.clone(), t0);
        assert_eq!(drain(&mut d), vec![data(1, &f[..8])]);
        let _ = d.handle(t0, &ack(1));
        assert_eq!(drain(&mut d), vec![data(2, &f[8..])]);
        // A full block is never the last: block 3 carries nothing.
        let _ = d.handle(t0, &ack(2));
        assert_eq!(drain(&mut d), vec![data(3, b"")]);
        assert_eq!(d.status(), &Status::Running);
        let _ = d.handle(t0, &ack(3));
        assert!(matches!(d.status(), Status::Done(s) if s.blocks == 3 && s.bytes == 16));
        // An empty file is one empty block.
        let mut e = Download::new(params(t0, 8, 1, &[]), Vec::new(), t0);
        assert_eq!(drain(&mut e), vec![data(1, b"")]);
        let _ = e.handle(t0, &ack(1));
        assert!(matches!(e.status(), Status::Done(s) if s.blocks == 1));
    }

    #[test]
    fn download_waits_for_ack_0_of_the_oack() {
        let t0 = Instant::now();
        let f = file(10);
        let p = params(t0, 8, 1, &[("blksize", "8"), ("tsize", "10")]);
        let mut d = Download::new(p, f.clone(), t0);
        let sent = drain(&mut d);
        assert_eq!(sent.len(), 1);
        assert_eq!(
            Packet::parse(&sent[0]).unwrap(),
            Packet::Oack(vec![("blksize", "8"), ("tsize", "10")])
        );
        // Another ACK or junk does not start the data.
        assert_eq!(d.handle(t0, &ack(1)), Event::DuplicateAck);
        assert_eq!(d.handle(t0, &data(1, b"x")), Event::Unexpected);
        assert_eq!(d.handle(t0, b"\x00"), Event::Unexpected);
        assert!(drain(&mut d).is_empty());
        // Unanswered, the OACK is sent again when the timer fires.
        assert_eq!(d.poll_timeout(), Some(t0 + RTO));
        assert_eq!(d.handle_timeout(t0 + RTO), Event::Retransmit);
        assert_eq!(drain(&mut d), vec![sent[0].clone()]);
        // ACK 0 starts block 1 and restarts the timer from then.
        let t1 = t0 + Duration::from_millis(1500);
        assert_eq!(d.handle(t1, &ack(0)), Event::Progress);
        assert_eq!(drain(&mut d), vec![data(1, &f[..8])]);
        assert_eq!(d.poll_timeout(), Some(t1 + RTO));
        // ACK 0 again is now a duplicate.
        assert_eq!(d.handle(t1, &ack(0)), Event::DuplicateAck);
        assert!(drain(&mut d).is_empty());
    }

    #[test]
    fn download_oack_refused_or_never_acknowledged() {
        let t0 = Instant::now();
        let p = params(t0, 8, 1, &[("blksize", "8")]);
        let mut d = Download::new(p.clone(), file(10), t0);
        let _ = drain(&mut d);
        let _ = d.handle(t0, &error());
        assert_eq!(d.status(), &Status::Failed(Failure::OackRefused));
        assert_eq!(Failure::OackRefused.code(), ErrorCode::OptionNegotiation);
        assert!(drain(&mut d).is_empty(), "never an error to an error");

        let mut d = Download::new(p, file(10), t0);
        let _ = drain(&mut d);
        for k in 1..=2 {
            assert_eq!(d.handle_timeout(t0 + RTO * k), Event::Retransmit);
            assert_eq!(drain(&mut d).len(), 1);
        }
        assert_eq!(d.handle_timeout(t0 + RTO * 3), Event::None);
        assert_eq!(d.status(), &Status::Failed(Failure::NoOackAck));
        assert!(drain(&mut d).is_empty(), "abandoned silently");
    }

    #[test]
    fn download_retransmits_on_timeout_then_gives_up_silently() {
        let t0 = Instant::now();
        let f = file(20);
        let mut d = Download::new(params(t0, 8, 1, &[]), f.clone(), t0);
        let _ = drain(&mut d);
        // Early wake-ups do nothing.
        assert_eq!(
            d.handle_timeout(t0 + Duration::from_millis(999)),
            Event::None
        );
        assert!(drain(&mut d).is_empty());
        assert_eq!(d.handle_timeout(t0 + RTO), Event::Retransmit);
        assert_eq!(drain(&mut d), vec![data(1, &f[..8])]);
        assert_eq!(d.poll_timeout(), Some(t0 + RTO * 2));
        // Progress resets the retry count: two more retransmissions are allowed.
        let t1 = t0 + RTO * 2;
        let _ = d.handle(t1, &ack(1));
        assert_eq!(drain(&mut d), vec![data(2, &f[8..16])]);
        for k in 1..=2 {
            assert_eq!(d.handle_timeout(t1 + RTO * k), Event::Retransmit);
            assert_eq!(drain(&mut d), vec![data(2, &f[8..16])]);
        }
        assert_eq!(d.handle_timeout(t1 + RTO * 3), Event::None);
        assert_eq!(d.status(), &Status::Failed(Failure::NoAck));
        assert!(drain(&mut d).is_empty());
        assert_eq!(d.poll_timeout(), None);
        // A late ACK changes nothing.
        assert_eq!(d.handle(t1 + RTO * 4, &ack(2)), Event::None);
    }

    #[test]
    fn duplicate_acks_never_retransmit_nor_delay_the_timer() {
        // RFC 1123 4.2.3.1: the Sorcerer's Apprentice syndrome.
        let t0 = Instant::now();
        let f = file(40);
        let mut d = Download::new(params(t0, 8, 1, &[]), f.clone(), t0);
        let _ = drain(&mut d);
        let _ = d.handle(t0, &ack(1));
        assert_eq!(blocks(&drain(&mut d)), vec![2]);
        for k in 1..=5 {
            let t = t0 + Duration::from_millis(100 * k);
            assert_eq!(d.handle(t, &ack(1)), Event::DuplicateAck);
            assert!(drain(&mut d).is_empty());
        }
        // A stale ACK and an ACK from the future are ignored the same way.
        assert_eq!(d.handle(t0, &ack(0)), Event::DuplicateAck);
        assert_eq!(d.handle(t0, &ack(9)), Event::DuplicateAck);
        assert!(drain(&mut d).is_empty());
        // The timer still fires one RTO after block 2 was sent.
        assert_eq!(d.poll_timeout(), Some(t0 + RTO));
        let _ = d.handle(t0, &ack(2));
        assert_eq!(blocks(&drain(&mut d)), vec![3]);
        for b in 3..=6 {
            let _ = d.handle(t0, &ack(b));
            let _ = drain(&mut d);
        }
        assert!(matches!(
            d.status(),
            Status::Done(Summary {
                retransmits: 0,
                duplicates: 7,
                ..
            })
        ));
    }

    #[test]
    fn window_restarts_after_an_ack_inside_it() {
        // RFC 7440 section 4, blksize 8, windowsize 4, 10 full blocks + an empty one.
        let t0 = Instant::now();
        let f = file(80);
        let mut d = Download::new(params(t0, 8, 4, &[]), f.clone(), t0);
        let w = drain(&mut d);
        assert_eq!(blocks(&w), vec![1, 2, 3, 4]);
        assert_eq!(w[2], data(3, &f[16..24]));
        // Blocks 3 and 4 were lost: ACK 2 opens the window at 3.
        assert_eq!(d.handle(t0, &ack(2)), Event::Progress);
        assert_eq!(blocks(&drain(&mut d)), vec![3, 4, 5, 6]);
        // ACK 2 again (the client's dally) is a duplicate.
        assert_eq!(d.handle(t0, &ack(2)), Event::DuplicateAck);
        assert!(drain(&mut d).is_empty());
        // The timer sends the whole window again, once per timeout.
        assert_eq!(d.handle_timeout(t0 + RTO), Event::Retransmit);
        assert_eq!(blocks(&drain(&mut d)), vec![3, 4, 5, 6]);
        let _ = d.handle(t0 + RTO, &ack(6));
        assert_eq!(blocks(&drain(&mut d)), vec![7, 8, 9, 10]);
        let _ = d.handle(t0 + RTO, &ack(10));
        let last = drain(&mut d);
        assert_eq!(last, vec![data(11, b"")]);
        let _ = d.handle(t0 + RTO, &ack(11));
        assert!(matches!(
            d.status(),
            Status::Done(Summary {
                blocks: 11,
                retransmits: 1,
                duplicates: 1,
                ..
            })
        ));
    }

    #[test]
    fn download_block_numbers_roll_over_past_65535() {
        // blksize 8 and 65,538 blocks: 65535 is followed by 0, 1, 2.
        let t0 = Instant::now();
        let n: u64 = 65_538;
        let f = file(8 * (n as usize - 1) + 3);
        let mut d = Download::new(params(t0, 8, 4, &[]), f.clone(), t0);
        let mut got = Vec::with_capacity(f.len());
        let mut wire = Vec::new();
        let mut buf = Vec::new();
        let mut expect_next: u64 = 1;
        while !d.status().is_terminal() {
            let mut last = None;
            while d.poll_transmit(&mut buf) {
                match Packet::parse(&buf).unwrap() {
                    Packet::Data { block, data } => {
                        assert_eq!(u64::from(block), expect_next & 0xffff);
                        expect_next += 1;
                        got.extend_from_slice(data);
                        if (65_533..=65_538).contains(&(expect_next - 1)) {
                            wire.push(block);
                        }
                        last = Some(block);
                    }
                    p => panic!("{p:?}"),
                }
            }
            let block = last.expect("a window");
            // Acknowledge the window's last block and, first, the stale previous one.
            assert_eq!(
                d.handle(t0, &ack(block.wrapping_sub(4))),
                Event::DuplicateAck
            );
            assert_eq!(d.handle(t0, &ack(block)), Event::Progress);
        }
        assert_eq!(wire, vec![65533, 65534, 65535, 0, 1, 2]);
        assert_eq!(got, f);
        assert!(matches!(d.status(), Status::Done(s) if s.blocks == n));
    }

    #[test]
    fn ack_inside_a_window_across_the_rollover() {
        let t0 = Instant::now();
        let f = file(8 * 65_540);
        let mut d = Download::new(params(t0, 8, 4, &[]), f, t0);
        // Lock-step up to block 65533 (ACK 65533 opens 65534..65537).
        let _ = drain(&mut d);
        let mut b: u64 = 4;
        while b < 65_533 {
            let _ = d.handle(t0, &ack(wire_block(b)));
            let _ = drain(&mut d);
            b = (b + 4).min(65_533);
        }
        let _ = d.handle(t0, &ack(wire_block(65_533)));
        assert_eq!(blocks(&drain(&mut d)), vec![65534, 65535, 0, 1]);
        // ACK 0 is block 65536: the window restarts at 65537 (wire 1).
        assert_eq!(d.handle(t0, &ack(0)), Event::Progress);
        assert_eq!(blocks(&drain(&mut d)), vec![1, 2, 3, 4]);
        // ACK 65535 is now stale.
        assert_eq!(d.handle(t0, &ack(65535)), Event::DuplicateAck);
        assert!(drain(&mut d).is_empty());
    }

    #[test]
    fn the_deadline_ends_a_transfer_the_retries_would_keep() {
        let t0 = Instant::now();
        let mut p = params(t0, 8, 1, &[]);
        p.retries = 1000;
        p.deadline = t0 + Duration::from_millis(4500);
        let mut d = Download::new(p.clone(), file(20), t0);
        let _ = drain(&mut d);
        let mut t = t0;
        let mut retransmits = 0;
        while let Some(at) = d.poll_timeout() {
            assert!(at <= p.deadline, "never waits past the deadline");
            t = at;
            if d.handle_timeout(t) == Event::Retransmit {
                retransmits += 1;
                assert_eq!(blocks(&drain(&mut d)), vec![1]);
            }
        }
        assert_eq!(retransmits, 4);
        assert_eq!(t, p.deadline);
        assert_eq!(d.status(), &Status::Failed(Failure::Deadline));
        assert!(drain(&mut d).is_empty(), "no ERROR at the deadline");

        // An upload too, even while the client keeps its transfer alive.
        let mut u = Upload::new(p.clone(), 1 << 20, t0);
        let _ = drain(&mut u);
        let mut b = 1u16;
        let mut t = t0;
        while t < p.deadline {
            assert_eq!(u.handle(t, &data(b, &[0; 8])), Event::Progress);
            assert_eq!(u.poll_timeout(), Some((t + RTO).min(p.deadline)));
            b += 1;
            t += Duration::from_millis(500);
        }
        assert_eq!(u.handle_timeout(t), Event::None);
        assert_eq!(u.status(), &Status::Failed(Failure::Deadline));
    }

    #[test]
    fn download_aborted_by_the_client() {
        let t0 = Instant::now();
        let mut d = Download::new(params(t0, 8, 2, &[]), file(40), t0);
        let _ = drain(&mut d);
        let _ = d.handle(t0, &ack(2));
        let _ = drain(&mut d);
        let _ = d.handle(t0, &error());
        assert_eq!(d.status(), &Status::Failed(Failure::ClientAborted));
        assert!(drain(&mut d).is_empty());
    }

    #[test]
    fn upload_acks_each_block_reacks_duplicates_and_dallies() {
        let t0 = Instant::now();
        let mut u = Upload::new(params(t0, 8, 1, &[]), 1 << 20, t0);
        assert_eq!(drain(&mut u), vec![ack(0)]);
        assert_eq!(u.handle(t0, &data(1, b"abcdefgh")), Event::Progress);
        assert_eq!(drain(&mut u), vec![ack(1)]);
        // Our ACK 1 was lost: block 1 again is acknowledged again, not stored twice.
        assert_eq!(u.handle(t0, &data(1, b"abcdefgh")), Event::DuplicateData);
        assert_eq!(drain(&mut u), vec![ack(1)]);
        // Junk is dropped without an answer.
        assert_eq!(u.handle(t0, &ack(1)), Event::Unexpected);
        assert!(drain(&mut u).is_empty());
        // The short block ends the data; its ACK waits for the commit.
        assert_eq!(u.handle(t0, &data(2, b"ij")), Event::Progress);
        assert_eq!(u.status(), &Status::Received);
        assert!(drain(&mut u).is_empty());
        assert_eq!(u.take_data(), b"abcdefghij");
        let t1 = t0 + Duration::from_millis(300);
        u.committed(t1);
        assert_eq!(drain(&mut u), vec![ack(2)]);
        // Dally: a resent last block is answered again until the dally ends.
        assert_eq!(u.poll_timeout(), Some(t1 + RTO));
        assert_eq!(u.handle(t1, &data(2, b"ij")), Event::DuplicateData);
        assert_eq!(drain(&mut u), vec![ack(2)]);
        assert_eq!(u.handle(t1, &data(1, b"abcdefgh")), Event::None);
        assert!(drain(&mut u).is_empty());
        assert_eq!(u.handle_timeout(t1 + RTO), Event::None);
        assert_eq!(
            u.status(),
            &Status::Done(Summary {
                bytes: 10,
                blocks: 2,
                retransmits: 0,
                duplicates: 2
            })
        );
        assert_eq!(u.poll_timeout(), None);
    }

    #[test]
    fn upload_dally_is_capped_at_one_second() {
        let t0 = Instant::now();
        let mut p = params(t0, 8, 1, &[]);
        p.rto = Duration::from_secs(5);
        let mut u = Upload::new(p, 100, t0);
        let _ = drain(&mut u);
        let _ = u.handle(t0, &data(1, b""));
        assert_eq!(u.status(), &Status::Received);
        assert!(u.take_data().is_empty());
        u.committed(t0);
        assert_eq!(drain(&mut u), vec![ack(1)]);
        assert_eq!(u.poll_timeout(), Some(t0 + MAX_DALLY));
    }

    #[test]
    fn upload_of_a_blksize_multiple_waits_for_the_empty_block() {
        let t0 = Instant::now();
        let mut u = Upload::new(params(t0, 8, 1, &[]), 16, t0);
        let _ = drain(&mut u);
        let _ = u.handle(t0, &data(1, &[1; 8]));
        assert_eq!(drain(&mut u), vec![ack(1)]);
        let _ = u.handle(t0, &data(2, &[2; 8]));
        assert_eq!(drain(&mut u), vec![ack(2)]);
        assert_eq!(u.status(), &Status::Running);
        let _ = u.handle(t0, &data(3, b""));
        assert_eq!(u.status(), &Status::Received);
        assert_eq!(u.take_data().len(), 16);
        u.committed(t0);
        assert_eq!(drain(&mut u), vec![ack(3)]);
    }

    #[test]
    fn upload_with_oack_retransmits_it_then_gives_up_silently() {
        let t0 = Instant::now();
        let p = params(t0, 8, 1, &[("blksize", "8")]);
        let mut u = Upload::new(p, 100, t0);
        let oack = drain(&mut u);
        assert_eq!(
            oack.iter()
                .map(|p| Packet::parse(p).unwrap())
                .collect::<Vec<_>>(),
            vec![Packet::Oack(vec![("blksize", "8")])]
        );
        for k in 1..=2 {
            assert_eq!(u.handle_timeout(t0 + RTO * k), Event::Retransmit);
            assert_eq!(drain(&mut u), oack);
        }
        assert_eq!(u.handle_timeout(t0 + RTO * 3), Event::None);
        assert_eq!(u.status(), &Status::Failed(Failure::NoData));
        assert!(drain(&mut u).is_empty());
    }

    #[test]
    fn upload_retransmits_its_last_ack_and_progress_resets_the_count() {
        let t0 = Instant::now();
        let mut u = Upload::new(params(t0, 8, 1, &[("blksize", "8")]), 100, t0);
        let _ = drain(&mut u);
        // DATA 1 answers the OACK.
        let _ = u.handle(t0, &data(1, &[0; 8]));
        assert_eq!(drain(&mut u), vec![ack(1)]);
        for k in 1..=2 {
            assert_eq!(u.handle_timeout(t0 + RTO * k), Event::Retransmit);
            assert_eq!(drain(&mut u), vec![ack(1)]);
        }
        let t1 = t0 + RTO * 2 + Duration::from_millis(10);
        let _ = u.handle(t1, &data(2, &[0; 8]));
        assert_eq!(drain(&mut u), vec![ack(2)]);
        assert_eq!(u.handle_timeout(t1 + RTO), Event::Retransmit);
        assert_eq!(drain(&mut u), vec![ack(2)]);
        let _ = u.handle(t1, &error());
        assert_eq!(u.status(), &Status::Failed(Failure::ClientAborted));
        assert!(drain(&mut u).is_empty());
    }

    #[test]
    fn upload_window_acks_every_windowsize_blocks_and_the_gap() {
        let t0 = Instant::now();
        let mut u = Upload::new(params(t0, 8, 4, &[("windowsize", "4")]), 1000, t0);
        let _ = drain(&mut u);
        for b in 1..=3 {
            let _ = u.handle(t0, &data(b, &[b as u8; 8]));
            assert!(drain(&mut u).is_empty(), "no ACK inside the window");
        }
        let _ = u.handle(t0, &data(4, &[4; 8]));
        assert_eq!(drain(&mut u), vec![ack(4)]);
        // Block 6 lost: 7 is out of order, answered with ACK 5, and the count restarts.
        let _ = u.handle(t0, &data(5, &[5; 8]));
        assert_eq!(u.handle(t0, &data(7, &[7; 8])), Event::DuplicateData);
        assert_eq!(drain(&mut u), vec![ack(5)]);
        for b in 6..=8 {
            let _ = u.handle(t0, &data(b, &[b as u8; 8]));
        }
        assert!(drain(&mut u).is_empty());
        let _ = u.handle(t0, &data(9, &[9; 8]));
        assert_eq!(drain(&mut u), vec![ack(9)]);
        let _ = u.handle(t0, &data(10, b"end"));
        assert_eq!(u.status(), &Status::Received);
        let got = u.take_data();
        assert_eq!(got.len(), 9 * 8 + 3);
        assert_eq!(&got[32..40], &[5; 8]);
        assert_eq!(&got[40..48], &[6; 8]);
    }

    #[test]
    fn upload_refuses_oversized_blocks_and_files_with_an_error() {
        let t0 = Instant::now();
        let mut u = Upload::new(params(t0, 8, 1, &[]), 100, t0);
        let _ = drain(&mut u);
        let _ = u.handle(t0, &data(1, &[0; 9]));
        assert_eq!(u.status(), &Status::Failed(Failure::OversizedBlock));
        let e = drain(&mut u);
        assert_eq!(
            Packet::parse(&e[0]).unwrap(),
            Packet::Error {
                code: ErrorCode::IllegalOperation,
                message: "block larger than blksize".into()
            }
        );
        assert_eq!(e.len(), 1);

        let mut u = Upload::new(params(t0, 8, 1, &[]), 12, t0);
        let _ = drain(&mut u);
        let _ = u.handle(t0, &data(1, &[0; 8]));
        assert_eq!(drain(&mut u), vec![ack(1)]);
        let _ = u.handle(t0, &data(2, &[0; 5]));
        assert_eq!(u.status(), &Status::Failed(Failure::TooLarge));
        assert_eq!(
            drain(&mut u)
                .iter()
                .map(|p| Packet::parse(p).unwrap())
                .collect::<Vec<_>>(),
            vec![Packet::Error {
                code: ErrorCode::DiskFull,
                message: "upload exceeds the size limit".into()
            }]
        );
        assert_eq!(
            Failure::TooLarge.drop_reason(),
            Some("tftp_upload_too_large")
        );
    }

    #[test]
    fn upload_commit_failure_answers_an_error_instead_of_the_final_ack() {
        let t0 = Instant::now();
        let mut u = Upload::new(params(t0, 8, 1, &[]), 100, t0);
        let _ = drain(&mut u);
        let _ = u.handle(t0, &data(1, b"x"));
        assert_eq!(u.poll_timeout(), Some(t0 + Duration::from_secs(60)));
        u.commit_failed(ErrorCode::FileExists, "file exists".into());
        let mut e = Vec::new();
        encode_error(ErrorCode::FileExists, "file exists", &mut e);
        assert_eq!(drain(&mut u), vec![e]);
        assert_eq!(
            u.status(),
            &Status::Failed(Failure::Commit {
                code: ErrorCode::FileExists,
                reason: "file exists".into()
            })
        );
        assert_eq!(u.poll_timeout(), None);
    }

    #[test]
    fn upload_block_numbers_roll_over() {
        let t0 = Instant::now();
        let mut u = Upload::new(params(t0, 8, 1, &[]), 1 << 20, t0);
        let _ = drain(&mut u);
        for i in 1..=65_537u64 {
            assert_eq!(u.handle(t0, &data(wire_block(i), &[0; 8])), Event::Progress);
            assert_eq!(drain(&mut u), vec![ack(wire_block(i))]);
        }
        // Block 65535 again after the rollover is a duplicate: ACK 1 (= 65537).
        assert_eq!(u.handle(t0, &data(65535, &[0; 8])), Event::DuplicateData);
        assert_eq!(drain(&mut u), vec![ack(1)]);
        let _ = u.handle(t0, &data(2, b""));
        assert_eq!(u.status(), &Status::Received);
        assert_eq!(u.take_data().len(), 8 * 65_537);
    }
}
