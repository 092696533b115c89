//! TFTP packets (RFC 1350 section 5 and appendix): RRQ, WRQ, DATA, ACK and
//! ERROR, plus option negotiation (RFC 2347: options appended to RRQ/WRQ as
//! `name\0value\0` pairs, answered by OACK, opcode 6, and error code 8),
//! and the negotiated options themselves: blksize (RFC 2348, 8..65464),
//! timeout and tsize (RFC 2349), windowsize (RFC 7440, 1..65535).
//!
//! [`Packet::parse`] borrows the datagram; option names are matched
//! case-insensitively (RFC 2347 section "Option Format"). [`negotiate`]
//! turns a request's options into the values the server will use and the
//! OACK it sends, without any I/O: out-of-range blksize and windowsize are
//! answered with error 8, a blksize or windowsize above the server's limit
//! is lowered (RFC 2348 lets the server answer a smaller block size, RFC
//! 7440 a smaller window), and an unacceptable timeout or an unknown option
//! is left out of the OACK, as RFC 2347 allows.

use std::fmt;

/// Smallest block size a client may ask for (RFC 2348).
pub const MIN_BLKSIZE: u16 = 8;
/// Largest block size a client may ask for (RFC 2348).
pub const MAX_BLKSIZE: u16 = 65464;
/// Block size without the blksize option (RFC 1350).
pub const DEFAULT_BLKSIZE: u16 = 512;

/// Opcodes (RFC 1350 section 5, RFC 2347).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// Read request.
    Rrq = 1,
    /// Write request.
    Wrq = 2,
    /// Data.
    Data = 3,
    /// Acknowledgment.
    Ack = 4,
    /// Error.
    Error = 5,
    /// Option acknowledgment (RFC 2347).
    Oack = 6,
}

impl Opcode {
    /// The opcode of a 16-bit value.
    pub fn from_u16(v: u16) -> Option<Opcode> {
        Some(match v {
            1 => Opcode::Rrq,
            2 => Opcode::Wrq,
            3 => Opcode::Data,
            4 => Opcode::Ack,
            5 => Opcode::Error,
            6 => Opcode::Oack,
            _ => return None,
        })
    }
}

/// Error codes (RFC 1350 appendix, RFC 2347 for 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0: not defined, see the message.
    NotDefined,
    /// 1: file not found.
    FileNotFound,
    /// 2: access violation.
    AccessViolation,
    /// 3: disk full or allocation exceeded.
    DiskFull,
    /// 4: illegal TFTP operation.
    IllegalOperation,
    /// 5: unknown transfer ID.
    UnknownTransferId,
    /// 6: file already exists.
    FileExists,
    /// 7: no such user.
    NoSuchUser,
    /// 8: option negotiation refused (RFC 2347).
    OptionNegotiation,
    /// Any other value, kept as received.
    Other(u16),
}

impl ErrorCode {
    /// The code on the wire.
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::NotDefined => 0,
            ErrorCode::FileNotFound => 1,
            ErrorCode::AccessViolation => 2,
            ErrorCode::DiskFull => 3,
            ErrorCode::IllegalOperation => 4,
            ErrorCode::UnknownTransferId => 5,
            ErrorCode::FileExists => 6,
            ErrorCode::NoSuchUser => 7,
            ErrorCode::OptionNegotiation => 8,
            ErrorCode::Other(c) => c,
        }
    }

    /// The code of a wire value.
    pub fn from_u16(v: u16) -> ErrorCode {
        match v {
            0 => ErrorCode::NotDefined,
            1 => ErrorCode::FileNotFound,
            2 => ErrorCode::AccessViolation,
            3 => ErrorCode::DiskFull,
            4 => ErrorCode::IllegalOperation,
            5 => ErrorCode::UnknownTransferId,
            6 => ErrorCode::FileExists,
            7 => ErrorCode::NoSuchUser,
            8 => ErrorCode::OptionNegotiation,
            c => ErrorCode::Other(c),
        }
    }
}

/// Transfer mode of a request (RFC 1350 section 1; "mail" is obsolete).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `octet`: raw bytes.
    Octet,
    /// `netascii`: 8-bit ASCII with CR LF line ends.
    Netascii,
    /// `mail` (RFC 1350 marks it obsolete; servers refuse it).
    Mail,
}

impl Mode {
    /// The mode name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Octet => "octet",
            Mode::Netascii => "netascii",
            Mode::Mail => "mail",
        }
    }
}

/// Why a datagram is not a TFTP packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Shorter than the opcode and fixed fields.
    #[error("TFTP packet truncated")]
    Truncated,
    /// The opcode is not 1..6.
    #[error("unknown TFTP opcode {0}")]
    UnknownOpcode(u16),
    /// A string field has no terminating zero octet.
    #[error("TFTP string field not terminated")]
    Unterminated,
    /// A string field is not UTF-8 (file names, modes, options and messages are ASCII).
    #[error("TFTP string field is not text")]
    NotText,
    /// The file name is empty.
    #[error("empty file name")]
    EmptyFileName,
    /// The mode is not octet, netascii or mail.
    #[error("unknown transfer mode {0:?}")]
    UnknownMode(String),
    /// An option name without a value, or an empty option name.
    #[error("malformed option list")]
    BadOptions,
    /// The same option appears twice.
    #[error("option {0:?} appears twice")]
    DuplicateOption(String),
}

impl ParseError {
    /// A short stable label for counters.
    pub fn label(&self) -> &'static str {
        match self {
            ParseError::Truncated => "tftp_truncated",
            ParseError::UnknownOpcode(_) => "tftp_unknown_opcode",
            ParseError::Unterminated => "tftp_unterminated",
            ParseError::NotText => "tftp_not_text",
            ParseError::EmptyFileName => "tftp_empty_filename",
            ParseError::UnknownMode(_) => "tftp_unknown_mode",
            ParseError::BadOptions => "tftp_bad_options",
            ParseError::DuplicateOption(_) => "tftp_duplicate_option",
        }
    }
}

/// A read or write request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// The file name as sent.
    pub filename: &'a str,
    /// Transfer mode.
    pub mode: Mode,
    /// Options in wire order, names as sent (RFC 2347).
    pub options: Vec<(&'a str, &'a str)>,
}

impl Request<'_> {
    /// An option's value, the name matched case-insensitively.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// A TFTP packet, borrowing the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Read request.
    Rrq(Request<'a>),
    /// Write request.
    Wrq(Request<'a>),
    /// Data block.
    Data {
        /// Block number (wraps after 65535).
        block: u16,
        /// Payload, at most the block size.
        data: &'a [u8],
    },
    /// Acknowledgment of a block (0 acknowledges an OACK to a RRQ).
    Ack {
        /// Block number.
        block: u16,
    },
    /// Error.
    Error {
        /// Error code.
        code: ErrorCode,
        /// Message (lossy text).
        message: std::borrow::Cow<'a, str>,
    },
    /// Option acknowledgment.
    Oack(Vec<(&'a str, &'a str)>),
}

fn take_str<'a>(buf: &'a [u8], pos: &mut usize) -> Result<&'a str, ParseError> {
    let rest = buf.get(*pos..).ok_or(ParseError::Truncated)?;
    let end = rest
        .iter()
        .position(|b| *b == 0)
        .ok_or(ParseError::Unterminated)?;
    let s = rest.get(..end).ok_or(ParseError::Truncated)?;
    *pos += end + 1;
    std::str::from_utf8(s).map_err(|_| ParseError::NotText)
}

fn u16_at(buf: &[u8], at: usize) -> Result<u16, ParseError> {
    match buf.get(at..at + 2) {
        Some([a, b]) => Ok(u16::from_be_bytes([*a, *b])),
        _ => Err(ParseError::Truncated),
    }
}

fn options<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Vec<(&'a str, &'a str)>, ParseError> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    while *pos < buf.len() {
        let name = take_str(buf, pos).map_err(|e| match e {
            ParseError::Unterminated => ParseError::BadOptions,
            e => e,
        })?;
        if name.is_empty() {
            // Some clients pad with NULs after the last option; nothing may follow.
            if buf.get(*pos..).is_some_and(|r| r.iter().all(|b| *b == 0)) {
                *pos = buf.len();
                break;
            }
            return Err(ParseError::BadOptions);
        }
        let value = take_str(buf, pos).map_err(|e| match e {
            ParseError::Unterminated | ParseError::Truncated => ParseError::BadOptions,
            e => e,
        })?;
        if out.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return Err(ParseError::DuplicateOption(name.to_ascii_lowercase()));
        }
        out.push((name, value));
    }
    Ok(out)
}

fn request<'a>(buf: &'a [u8]) -> Result<Request<'a>, ParseError> {
    let mut pos = 2;
    let filename = take_str(buf, &mut pos)?;
    if filename.is_empty() {
        return Err(ParseError::EmptyFileName);
    }
    let mode_s = take_str(buf, &mut pos)?;
    let mode = if mode_s.eq_ignore_ascii_case("octet") {
        Mode::Octet
    } else if mode_s.eq_ignore_ascii_case("netascii") {
        Mode::Netascii
    } else if mode_s.eq_ignore_ascii_case("mail") {
        Mode::Mail
    } else {
        return Err(ParseError::UnknownMode(mode_s.chars().take(32).collect()));
    };
    let options = options(buf, &mut pos)?;
    Ok(Request {
        filename,
        mode,
        options,
    })
}

impl<'a> Packet<'a> {
    /// Parses one datagram.
    pub fn parse(buf: &'a [u8]) -> Result<Packet<'a>, ParseError> {
        let op = u16_at(buf, 0)?;
        match Opcode::from_u16(op).ok_or(ParseError::UnknownOpcode(op))? {
            Opcode::Rrq => Ok(Packet::Rrq(request(buf)?)),
            Opcode::Wrq => Ok(Packet::Wrq(request(buf)?)),
            Opcode::Data => Ok(Packet::Data {
                block: u16_at(buf, 2)?,
                data: buf.get(4..).unwrap_or_default(),
            }),
            Opcode::Ack => Ok(Packet::Ack {
                block: u16_at(buf, 2)?,
            }),
            Opcode::Error => {
                let code = ErrorCode::from_u16(u16_at(buf, 2)?);
                let rest = buf.get(4..).unwrap_or_default();
                // A missing terminator is tolerated: the error ends the transfer anyway.
                let text = rest.split(|b| *b == 0).next().unwrap_or_default();
                Ok(Packet::Error {
                    code,
                    message: String::from_utf8_lossy(text),
                })
            }
            Opcode::Oack => {
                let mut pos = 2;
                Ok(Packet::Oack(options(buf, &mut pos)?))
            }
        }
    }

    /// The packet's opcode.
    pub fn opcode(&self) -> Opcode {
        match self {
            Packet::Rrq(_) => Opcode::Rrq,
            Packet::Wrq(_) => Opcode::Wrq,
            Packet::Data { .. } => Opcode::Data,
            Packet::Ack { .. } => Opcode::Ack,
            Packet::Error { .. } => Opcode::Error,
            Packet::Oack(_) => Opcode::Oack,
        }
    }

    /// Appends the wire form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Packet::Rrq(r) => encode_request(Opcode::Rrq, r, out),
            Packet::Wrq(r) => encode_request(Opcode::Wrq, r, out),
            Packet::Data { block, data } => encode_data(*block, data, out),
            Packet::Ack { block } => encode_ack(*block, out),
            Packet::Error { code, message } => encode_error(*code, message, out),
            Packet::Oack(opts) => encode_oack(opts.iter().map(|(n, v)| (*n, *v)), out),
        }
    }
}

fn push_str(s: &str, out: &mut Vec<u8>) {
    // A NUL inside would end the field early on the peer: cut it there.
    let bytes = s.as_bytes();
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    out.extend_from_slice(bytes.get(..end).unwrap_or_default());
    out.push(0);
}

fn encode_request(op: Opcode, r: &Request<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(&(op as u16).to_be_bytes());
    push_str(r.filename, out);
    push_str(r.mode.as_str(), out);
    for (n, v) in &r.options {
        push_str(n, out);
        push_str(v, out);
    }
}

/// Appends a DATA packet.
pub fn encode_data(block: u16, data: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(Opcode::Data as u16).to_be_bytes());
    out.extend_from_slice(&block.to_be_bytes());
    out.extend_from_slice(data);
}

/// Appends an ACK packet.
pub fn encode_ack(block: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(&(Opcode::Ack as u16).to_be_bytes());
    out.extend_from_slice(&block.to_be_bytes());
}

/// Appends an ERROR packet.
pub fn encode_error(code: ErrorCode, message: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(Opcode::Error as u16).to_be_bytes());
    out.extend_from_slice(&code.code().to_be_bytes());
    push_str(message, out);
}

/// Appends an OACK packet with the given options.
pub fn encode_oack<'s>(opts: impl IntoIterator<Item = (&'s str, &'s str)>, out: &mut Vec<u8>) {
    out.extend_from_slice(&(Opcode::Oack as u16).to_be_bytes());
    for (n, v) in opts {
        push_str(n, out);
        push_str(v, out);
    }
}

/// What the server accepts, for [`negotiate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Largest block size the server sends (clients asking more get this).
    pub max_blksize: u16,
    /// Largest window the server sends (clients asking more get this).
    pub max_windowsize: u16,
    /// Largest file the server accepts by WRQ, for a WRQ's tsize.
    pub max_upload: u64,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_blksize: MAX_BLKSIZE,
            max_windowsize: 64,
            max_upload: 16 << 20,
        }
    }
}

/// The values a transfer runs with after option negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Block size.
    pub blksize: u16,
    /// Retransmission timeout in seconds when the client set one.
    pub timeout: Option<u8>,
    /// Window size (1 without RFC 7440).
    pub windowsize: u16,
    /// For a WRQ, the size the client announced.
    pub upload_size: Option<u64>,
    /// The OACK options, in the client's order; empty = no OACK (plain RFC 1350 transfer).
    pub oack: Vec<(String, String)>,
    /// Options left out of the OACK (unknown or unacceptable values), lowercase.
    pub ignored: Vec<String>,
}

/// Why option negotiation failed: answer ERROR 8 (or 3 for an upload that is too large).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    /// An option value the server must refuse (RFC 2347 error 8).
    #[error("option {name} value {value:?} refused: {why}")]
    Refused {
        /// Option name, lowercase.
        name: String,
        /// Value as sent (cut to 32 characters).
        value: String,
        /// Why.
        why: &'static str,
    },
    /// A WRQ announced a tsize larger than the server accepts.
    #[error("upload of {0} octets is larger than allowed")]
    TooLarge(u64),
}

impl NegotiationError {
    /// The TFTP error code to answer with.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            NegotiationError::Refused { .. } => ErrorCode::OptionNegotiation,
            NegotiationError::TooLarge(_) => ErrorCode::DiskFull,
        }
    }
}

fn refused(name: &str, value: &str, why: &'static str) -> NegotiationError {
    NegotiationError::Refused {
        name: name.to_ascii_lowercase(),
        value: value.chars().take(32).collect(),
        why,
    }
}

/// Negotiates a request's options (RFC 2347/2348/2349/7440). `file_size` is
/// the size of the file to send for a RRQ (answered in tsize), `None` for a WRQ.
pub fn negotiate(
    req: &Request<'_>,
    file_size: Option<u64>,
    limits: &ServerLimits,
) -> Result<Negotiated, NegotiationError> {
    let mut n = Negotiated {
        blksize: DEFAULT_BLKSIZE,
        timeout: None,
        windowsize: 1,
        upload_size: None,
        oack: Vec::new(),
        ignored: Vec::new(),
    };
    for (name, value) in &req.options {
        let lname = name.to_ascii_lowercase();
        let num = value.trim().parse::<u64>();
        match lname.as_str() {
            "blksize" => {
                let v = num.map_err(|_| refused(name, value, "not a number"))?;
                if v < u64::from(MIN_BLKSIZE) || v > u64::from(MAX_BLKSIZE) {
                    return Err(refused(name, value, "outside 8..65464 (RFC 2348)"));
                }
                let b = u16::try_from(v)
                    .unwrap_or(MAX_BLKSIZE)
                    .min(limits.max_blksize.max(MIN_BLKSIZE));
                n.blksize = b;
                n.oack.push((lname, b.to_string()));
            }
            "timeout" => match num {
                Ok(v) if (1..=255).contains(&v) => {
                    n.timeout = u8::try_from(v).ok();
                    n.oack.push((lname, v.to_string()));
                }
                // RFC 2349: the server may decline the option by leaving it out.
                _ => n.ignored.push(lname),
            },
            "tsize" => {
                let v = num.map_err(|_| refused(name, value, "not a number"))?;
                match file_size {
                    Some(size) => n.oack.push((lname, size.to_string())),
                    None => {
                        if v > limits.max_upload {
                            return Err(NegotiationError::TooLarge(v));
                        }
                        n.upload_size = Some(v);
                        n.oack.push((lname, v.to_string()));
                    }
                }
            }
            "windowsize" => {
                let v = num.map_err(|_| refused(name, value, "not a number"))?;
                if !(1..=65535).contains(&v) {
                    return Err(refused(name, value, "outside 1..65535 (RFC 7440)"));
                }
                let w = u16::try_from(v)
                    .unwrap_or(u16::MAX)
                    .min(limits.max_windowsize.max(1));
                n.windowsize = w;
                n.oack.push((lname, w.to_string()));
            }
            _ => n.ignored.push(lname),
        }
    }
    Ok(n)
}

impl fmt::Display for Packet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Packet::Rrq(r) => write!(f, "RRQ {:?} {}", r.filename, r.mode.as_str()),
            Packet::Wrq(r) => write!(f, "WRQ {:?} {}", r.filename, r.mode.as_str()),
            Packet::Data { block, data } => write!(f, "DATA {block} ({} octets)", data.len()),
            Packet::Ack { block } => write!(f, "ACK {block}"),
            Packet::Error { code, message } => write!(f, "ERROR {} {message:?}", code.code()),
            Packet::Oack(o) => write!(f, "OACK {o:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 1350 figure 5-1 layouts, written out byte by byte.
    const RRQ_PLAIN: &[u8] = b"\x00\x01cm-2k.cfg\x00octet\x00";
    // What curl sends by default (peers.md section 6: tsize=0, blksize=512, timeout=6).
    const RRQ_CURL: &[u8] =
        b"\x00\x01cm.cfg\x00octet\x00tsize\x000\x00blksize\x00512\x00timeout\x006\x00";

    #[test]
    fn parses_plain_rrq() {
        let p = Packet::parse(RRQ_PLAIN).unwrap();
        let Packet::Rrq(r) = p else {
            panic!("not RRQ: {p:?}")
        };
        assert_eq!(r.filename, "cm-2k.cfg");
        assert_eq!(r.mode, Mode::Octet);
        assert!(r.options.is_empty());
    }

    #[test]
    fn parses_rrq_with_options_and_roundtrips() {
        let p = Packet::parse(RRQ_CURL).unwrap();
        let Packet::Rrq(r) = &p else {
            panic!("not RRQ")
        };
        assert_eq!(r.option("TSIZE"), Some("0"));
        assert_eq!(r.option("blksize"), Some("512"));
        assert_eq!(r.option("timeout"), Some("6"));
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(out, RRQ_CURL);
    }

    #[test]
    fn data_ack_error_oack_wire_forms() {
        let mut out = Vec::new();
        encode_data(5, b"", &mut out);
        assert_eq!(out, [0, 3, 0, 5]);
        out.clear();
        encode_ack(0xfffe, &mut out);
        assert_eq!(out, [0, 4, 0xff, 0xfe]);
        out.clear();
        encode_error(ErrorCode::FileNotFound, "File not found", &mut out);
        assert_eq!(out, b"\x00\x05\x00\x01File not found\x00");
        out.clear();
        encode_oack([("blksize", "1448"), ("tsize", "2048")], &mut out);
        assert_eq!(out, b"\x00\x06blksize\x001448\x00tsize\x002048\x00");
        assert_eq!(
            Packet::parse(&out).unwrap(),
            Packet::Oack(vec![("blksize", "1448"), ("tsize", "2048")])
        );
        assert_eq!(
            Packet::parse(b"\x00\x03\x01\x00abc").unwrap(),
            Packet::Data {
                block: 256,
                data: b"abc"
            }
        );
        assert_eq!(
            Packet::parse(b"\x00\x05\x00\x08no\x00").unwrap(),
            Packet::Error {
                code: ErrorCode::OptionNegotiation,
                message: "no".into()
            }
        );
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(Packet::parse(b""), Err(ParseError::Truncated));
        assert_eq!(Packet::parse(b"\x00"), Err(ParseError::Truncated));
        assert_eq!(
            Packet::parse(b"\x00\x07x"),
            Err(ParseError::UnknownOpcode(7))
        );
        assert_eq!(Packet::parse(b"\x00\x01abc"), Err(ParseError::Unterminated));
        assert_eq!(
            Packet::parse(b"\x00\x01abc\x00"),
            Err(ParseError::Unterminated)
        );
        assert_eq!(
            Packet::parse(b"\x00\x01\x00octet\x00"),
            Err(ParseError::EmptyFileName)
        );
        assert_eq!(
            Packet::parse(b"\x00\x01a\x00binary\x00"),
            Err(ParseError::UnknownMode("binary".into()))
        );
        assert_eq!(
            Packet::parse(b"\x00\x01a\x00octet\x00blksize\x00"),
            Err(ParseError::BadOptions)
        );
        assert_eq!(
            Packet::parse(b"\x00\x01a\x00octet\x00blksize\x00512\x00BLKSIZE\x001024\x00"),
            Err(ParseError::DuplicateOption("blksize".into()))
        );
        assert_eq!(Packet::parse(b"\x00\x04\x00"), Err(ParseError::Truncated));
        assert_eq!(
            Packet::parse(b"\x00\x01\xff\xfe\x00octet\x00"),
            Err(ParseError::NotText)
        );
    }

    #[test]
    fn trailing_nul_padding_after_options_is_accepted() {
        let p = Packet::parse(b"\x00\x01a\x00octet\x00tsize\x000\x00\x00\x00").unwrap();
        let Packet::Rrq(r) = p else { panic!() };
        assert_eq!(r.options, vec![("tsize", "0")]);
    }

    fn req<'a>(opts: &[(&'a str, &'a str)]) -> Request<'a> {
        Request {
            filename: "f",
            mode: Mode::Octet,
            options: opts.to_vec(),
        }
    }

    #[test]
    fn negotiates_packetcable_block_sizes_and_tsize() {
        let l = ServerLimits::default();
        for b in ["512", "1428", "1448", "8192"] {
            let n = negotiate(&req(&[("blksize", b), ("tsize", "0")]), Some(2048), &l).unwrap();
            assert_eq!(n.blksize.to_string(), b);
            assert_eq!(
                n.oack,
                vec![
                    ("blksize".to_string(), b.to_string()),
                    ("tsize".to_string(), "2048".to_string())
                ]
            );
        }
        let n = negotiate(&req(&[]), Some(1), &l).unwrap();
        assert_eq!(n.blksize, 512);
        assert!(n.oack.is_empty());
    }

    #[test]
    fn out_of_range_values_are_refused_or_lowered_or_ignored() {
        let l = ServerLimits {
            max_blksize: 1468,
            max_windowsize: 16,
            max_upload: 1000,
        };
        for bad in ["7", "65465", "0", "x", ""] {
            let e = negotiate(&req(&[("blksize", bad)]), Some(1), &l).unwrap_err();
            assert_eq!(e.error_code(), ErrorCode::OptionNegotiation, "{bad}");
        }
        let n = negotiate(&req(&[("blksize", "65464")]), Some(1), &l).unwrap();
        assert_eq!(n.blksize, 1468);
        assert_eq!(n.oack, vec![("blksize".into(), "1468".into())]);
        let n = negotiate(&req(&[("windowsize", "64")]), Some(1), &l).unwrap();
        assert_eq!(n.windowsize, 16);
        assert_eq!(
            negotiate(&req(&[("windowsize", "0")]), Some(1), &l)
                .unwrap_err()
                .error_code(),
            ErrorCode::OptionNegotiation
        );
        let n = negotiate(
            &req(&[("timeout", "0"), ("timeout2", "5"), ("multicast", "")]),
            Some(1),
            &l,
        )
        .unwrap();
        assert_eq!(n.timeout, None);
        assert!(n.oack.is_empty());
        assert_eq!(n.ignored, vec!["timeout", "timeout2", "multicast"]);
        let n = negotiate(&req(&[("timeout", "6")]), Some(1), &l).unwrap();
        assert_eq!(n.timeout, Some(6));
        // WRQ: tsize is the upload's size, bounded.
        let n = negotiate(&req(&[("tsize", "999")]), None, &l).unwrap();
        assert_eq!(n.upload_size, Some(999));
        assert_eq!(
            negotiate(&req(&[("tsize", "1001")]), None, &l)
                .unwrap_err()
                .error_code(),
            ErrorCode::DiskFull
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            if let Ok(p) = Packet::parse(&bytes) {
                let mut out = Vec::new();
                p.encode(&mut out);
                if let Ok(Packet::Rrq(r)) = Packet::parse(&out) {
                    let _ = negotiate(&r, Some(10), &ServerLimits::default());
                }
            }
        }
    }
}
