//! What the state machines want sent: one growing byte arena and a list of
//! datagrams pointing into it, filled by `handle`/`handle_timeout` and
//! drained by the I/O shell in batches. Nothing is allocated per packet once
//! the arena has grown to the burst size.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

/// The socket a datagram leaves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Chan {
    /// The DHCPv4 relay socket of virtual CMTS `n` (bound to its giaddr).
    Relay4(u16),
    /// The DHCPv6 relay socket of virtual CMTS `n` (bound to its link address).
    Relay6(u16),
    /// The devices' own sockets: TFTP, ToD, SNMP, syslog, sent from the
    /// device's leased address (`Tx::src`).
    Host(Service),
}

/// The device-side service a host datagram belongs to (one socket each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// TFTP client transfers.
    Tftp,
    /// RFC 868 time requests.
    Tod,
    /// SNMP: the eUE's INFORMs out and its agent answering the SET.
    Snmp,
    /// Syslog messages out.
    Syslog,
}

/// One datagram to send.
#[derive(Debug, Clone)]
pub struct Tx {
    /// Socket to send on.
    pub chan: Chan,
    /// Source address to send from (the device's lease), for host datagrams.
    pub src: Option<IpAddr>,
    /// Destination.
    pub dst: SocketAddr,
    /// The payload's place in [`Outbox::bytes`].
    pub range: Range<usize>,
}

/// Datagrams waiting to be sent.
#[derive(Debug, Default)]
pub struct Outbox {
    buf: Vec<u8>,
    items: Vec<Tx>,
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Outbox {
        Outbox::default()
    }

    /// Appends one datagram whose payload `write` puts at the end of the
    /// arena (it must only append).
    pub fn push(
        &mut self,
        chan: Chan,
        src: Option<IpAddr>,
        dst: SocketAddr,
        write: impl FnOnce(&mut Vec<u8>),
    ) {
        let start = self.buf.len();
        write(&mut self.buf);
        let range = start..self.buf.len();
        self.items.push(Tx {
            chan,
            src,
            dst,
            range,
        });
    }

    /// The datagrams queued, in order.
    pub fn items(&self) -> &[Tx] {
        &self.items
    }

    /// The payload of one queued datagram.
    pub fn payload(&self, tx: &Tx) -> &[u8] {
        self.buf.get(tx.range.clone()).unwrap_or(&[])
    }

    /// The arena the ranges point into.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Number of datagrams queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Forgets everything queued, keeping the capacity.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.items.clear();
    }
}
