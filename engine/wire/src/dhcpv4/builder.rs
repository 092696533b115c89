//! Owned DHCPv4 reply builder and encoder: header defaults from RFC 2131
//! Table 3, options in push order, values over 255 octets split into
//! consecutive instances (RFC 3396 §6), option overload into `file` and
//! `sname` when the options field is full (RFC 2131 §4.1, RFC 2132 §9.3),
//! padding to the 300-octet BOOTP minimum (RFC 951).

use std::net::Ipv4Addr;

use super::{
    code, Overload, Packet, BOOTP_MIN_LEN, BOOTREPLY, FILE, HEADER_LEN, IP_UDP_OVERHEAD,
    MAGIC_COOKIE, SNAME,
};

/// Why a reply could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The options do not fit the size limit even with overload.
    #[error("options do not fit a {limit}-octet message")]
    TooLarge {
        /// The limit passed to encode (IP datagram size, as option 57).
        limit: usize,
    },
    /// Option 0, 52 or 255 was pushed; the encoder writes those itself.
    #[error("option {0} is written by the encoder and cannot be pushed")]
    ReservedCode(u8),
    /// A `file` or `sname` value is longer than its field.
    #[error("{field} value of {len} octets is longer than the field")]
    FieldTooLong {
        /// `"file"` or `"sname"`.
        field: &'static str,
        /// Length of the rejected value.
        len: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    code: u8,
    start: usize,
    len: usize,
}

/// An owned DHCPv4 message under construction (normally a reply).
#[derive(Debug, Clone)]
pub struct Builder {
    /// Message op code; [`BOOTREPLY`] by default.
    pub op: u8,
    /// Hardware address type.
    pub htype: u8,
    /// Hardware address length.
    pub hlen: u8,
    /// Relay hop count.
    pub hops: u8,
    /// Transaction ID.
    pub xid: u32,
    /// Seconds field; 0 in server messages (RFC 2131 Table 3).
    pub secs: u16,
    /// Flags; bit 15 is broadcast.
    pub flags: u16,
    /// Client IP address.
    pub ciaddr: Ipv4Addr,
    /// "Your" (client) IP address.
    pub yiaddr: Ipv4Addr,
    /// Next server IP address.
    pub siaddr: Ipv4Addr,
    /// Relay agent IP address.
    pub giaddr: Ipv4Addr,
    /// Client hardware address field.
    pub chaddr: [u8; 16],
    sname: [u8; 64],
    file: [u8; 128],
    entries: Vec<Entry>,
    data: Vec<u8>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// An empty BOOTREPLY for Ethernet (htype 1, hlen 6).
    pub fn new() -> Self {
        Builder {
            op: BOOTREPLY,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid: 0,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: [0; 16],
            sname: [0; 64],
            file: [0; 128],
            entries: Vec::with_capacity(16),
            data: Vec::with_capacity(256),
        }
    }

    /// A reply to `req`: copies `htype`, `hlen`, `xid`, `flags`, `giaddr`
    /// and `chaddr` as RFC 2131 Table 3 requires, and `hops` as Kea and ISC
    /// dhcpd do (Table 3 says 0; relays ignore it on the way down). `ciaddr`,
    /// `yiaddr` and `siaddr` stay 0 for the server to fill per message type.
    pub fn reply_to(req: &Packet<'_>) -> Self {
        let mut b = Builder::new();
        b.htype = req.htype;
        b.hlen = req.hlen;
        b.hops = req.hops;
        b.xid = req.xid;
        b.flags = req.flags;
        b.giaddr = req.giaddr;
        b.chaddr = *req.chaddr;
        b
    }

    /// Appends an option. Options are encoded in call order; pushing the
    /// same code twice yields two instances, which the client concatenates
    /// (RFC 3396). Codes 0, 52 and 255 fail at encode time.
    pub fn push_option(&mut self, code: u8, data: &[u8]) -> &mut Self {
        self.entries.push(Entry {
            code,
            start: self.data.len(),
            len: data.len(),
        });
        self.data.extend_from_slice(data);
        self
    }

    /// Removes every instance of `code`; returns whether any was present.
    pub fn remove_option(&mut self, code: u8) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.code != code);
        before != self.entries.len()
    }

    /// Removes all options.
    pub fn clear_options(&mut self) {
        self.entries.clear();
        self.data.clear();
    }

    /// The pushed options, in push order.
    pub fn options(&self) -> impl Iterator<Item = (u8, &[u8])> + '_ {
        self.entries.iter().map(|e| (e.code, self.entry_data(e)))
    }

    /// Whether option `code` has been pushed.
    pub fn contains(&self, code: u8) -> bool {
        self.entries.iter().any(|e| e.code == code)
    }

    fn entry_data(&self, e: &Entry) -> &[u8] {
        self.data.get(e.start..e.start + e.len).unwrap_or(&[])
    }

    /// Sets the `file` field (boot file name), NUL-padded; an empty value
    /// leaves it free for option overload.
    pub fn set_file(&mut self, value: &[u8]) -> Result<&mut Self, EncodeError> {
        set_field(&mut self.file, "file", value)?;
        Ok(self)
    }

    /// Sets the `sname` field (server host name), NUL-padded; an empty value
    /// leaves it free for option overload.
    pub fn set_sname(&mut self, value: &[u8]) -> Result<&mut Self, EncodeError> {
        set_field(&mut self.sname, "sname", value)?;
        Ok(self)
    }

    /// The `file` field as set.
    pub fn file(&self) -> &[u8; 128] {
        &self.file
    }

    /// The `sname` field as set.
    pub fn sname(&self) -> &[u8; 64] {
        &self.sname
    }

    /// Option instances as they go on the wire: values over 255 octets cut
    /// into 255-octet pieces, empty values kept as one empty instance.
    fn instances(&self) -> impl Iterator<Item = (u8, &[u8])> + '_ {
        self.entries.iter().flat_map(move |e| {
            let data = self.entry_data(e);
            let first = std::iter::once(data.get(..255).unwrap_or(data));
            let rest = data.get(255..).unwrap_or(&[]).chunks(255);
            first.chain(rest).map(move |chunk| (e.code, chunk))
        })
    }

    /// Encodes into a new vector; see [`Builder::encode_into`].
    pub fn encode(&self, max_message_size: usize) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(BOOTP_MIN_LEN.max(max_message_size.min(1500)));
        self.encode_into(max_message_size, &mut out)?;
        Ok(out)
    }

    /// Encodes the message into `out` (cleared first). `max_message_size`
    /// is an IP datagram size, the unit of option 57 (see
    /// [`super::reply_size_limit`]); the UDP payload is kept 28 octets
    /// shorter. When the options do not fit the options field, they
    /// continue in `file` and then `sname` (whichever is unset) with
    /// option 52 placed last in the options field so that option 53 stays
    /// where the caller put it; otherwise [`EncodeError::TooLarge`] (the
    /// caller then drops optional options and retries). On error `out` is
    /// left empty.
    pub fn encode_into(
        &self,
        max_message_size: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        out.clear();
        let result = self.encode_inner(max_message_size, out);
        if result.is_err() {
            out.clear();
        }
        result
    }

    fn encode_inner(&self, max_message_size: usize, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let too_large = EncodeError::TooLarge {
            limit: max_message_size,
        };
        if let Some(e) = self
            .entries
            .iter()
            .find(|e| matches!(e.code, code::PAD | code::OVERLOAD | code::END))
        {
            return Err(EncodeError::ReservedCode(e.code));
        }
        let limit = max_message_size.saturating_sub(IP_UDP_OVERHEAD);
        // Room for options plus the end option in the options field.
        let main_room = limit
            .checked_sub(HEADER_LEN + MAGIC_COOKIE.len())
            .ok_or(too_large.clone())?;
        let needed: usize = self.instances().map(|(_, d)| 2 + d.len()).sum::<usize>() + 1;

        let mut file_region = [0u8; 128];
        let mut sname_region = [0u8; 64];
        let mut main = Vec::with_capacity(needed.min(main_room));
        let mut overload = None;
        if needed <= main_room {
            for (c, d) in self.instances() {
                put(&mut main, c, d);
            }
        } else {
            let file_free = self.file.iter().all(|&b| b == 0);
            let sname_free = self.sname.iter().all(|&b| b == 0);
            // Each region keeps one octet for its end option; the options
            // field also keeps three for option 52.
            let caps = [
                main_room.checked_sub(4).ok_or(too_large.clone())?,
                if file_free { file_region.len() - 1 } else { 0 },
                if sname_free {
                    sname_region.len() - 1
                } else {
                    0
                },
            ];
            let mut used = [0usize; 3];
            let mut region = 0usize;
            for (c, d) in self.instances() {
                let size = 2 + d.len();
                while region < caps.len()
                    && used.get(region).copied().unwrap_or(0) + size
                        > caps.get(region).copied().unwrap_or(0)
                {
                    region += 1;
                }
                let at = used.get(region).copied().ok_or(too_large.clone())?;
                match region {
                    0 => put(&mut main, c, d),
                    1 => put_at(&mut file_region, at, c, d),
                    _ => put_at(&mut sname_region, at, c, d),
                }
                if let Some(u) = used.get_mut(region) {
                    *u += size;
                }
            }
            let (in_file, in_sname) = (used[1] > 0, used[2] > 0);
            if in_file {
                put_end(&mut file_region, used[1]);
            }
            if in_sname {
                put_end(&mut sname_region, used[2]);
            }
            let ov = match (in_file, in_sname) {
                (true, true) => Overload::Both,
                (false, true) => Overload::Sname,
                _ => Overload::File,
            };
            main.extend_from_slice(&[code::OVERLOAD, 1, ov.value()]);
            overload = Some(ov);
        }
        main.push(code::END);

        let (sname, file) = match overload {
            Some(Overload::Both) => (&sname_region, &file_region),
            Some(Overload::Sname) => (&sname_region, &self.file),
            Some(Overload::File) => (&self.sname, &file_region),
            None => (&self.sname, &self.file),
        };
        out.reserve(HEADER_LEN + MAGIC_COOKIE.len() + main.len());
        out.extend_from_slice(&[self.op, self.htype, self.hlen, self.hops]);
        out.extend_from_slice(&self.xid.to_be_bytes());
        out.extend_from_slice(&self.secs.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        for a in [self.ciaddr, self.yiaddr, self.siaddr, self.giaddr] {
            out.extend_from_slice(&a.octets());
        }
        out.extend_from_slice(&self.chaddr);
        debug_assert_eq!(out.len(), SNAME.start);
        out.extend_from_slice(sname);
        debug_assert_eq!(out.len(), FILE.start);
        out.extend_from_slice(file);
        out.extend_from_slice(&MAGIC_COOKIE);
        out.extend_from_slice(&main);
        let padded = BOOTP_MIN_LEN.min(limit);
        if out.len() < padded {
            out.resize(padded, 0);
        }
        Ok(())
    }
}

fn set_field(field: &mut [u8], name: &'static str, value: &[u8]) -> Result<(), EncodeError> {
    if value.len() > field.len() {
        return Err(EncodeError::FieldTooLong {
            field: name,
            len: value.len(),
        });
    }
    field.fill(0);
    if let Some(dst) = field.get_mut(..value.len()) {
        dst.copy_from_slice(value);
    }
    Ok(())
}

fn put(out: &mut Vec<u8>, code: u8, data: &[u8]) {
    out.push(code);
    out.push(u8::try_from(data.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(data);
}

/// Writes one instance into a fixed region; the caller has checked it fits.
fn put_at(region: &mut [u8], at: usize, code: u8, data: &[u8]) {
    if let Some(dst) = region.get_mut(at..at + 2 + data.len()) {
        let (hdr, value) = dst.split_at_mut(2);
        hdr.copy_from_slice(&[code, u8::try_from(data.len()).unwrap_or(u8::MAX)]);
        value.copy_from_slice(data);
    }
}

fn put_end(region: &mut [u8], at: usize) {
    if let Some(b) = region.get_mut(at) {
        *b = code::END;
    }
}
