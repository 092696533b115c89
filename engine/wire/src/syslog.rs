//! Syslog datagrams carrying PacketCable / DOCSIS management events
//! (seed 000 section 6.1.6, interface pkt-eue-6: the eUE reports management
//! events, among them step eUE-24's "provisioning complete", to the syslog
//! server named by DHCPv4 option 7 or DHCPv6 17.34, as PKT-SP-MEM1.5 says).
//!
//! Two layers:
//!
//! 1. **Syslog framing** — RFC 3164 (BSD) and RFC 5424 (the syslog
//!    protocol), one message per UDP datagram (RFC 5426), parsed with the
//!    `syslog_loose` crate (PRI, timestamp, hostname, APP-NAME/TAG, PROCID,
//!    MSGID, structured data). Where `syslog_loose` finds no header — the
//!    CMTS and cable-modem form `<133>CMTS[DOCSIS]:<73011700> text` has no
//!    timestamp and no hostname, which RFC 3164 section 4.3.3 tells a
//!    receiver to accept — the header is taken by hand: the PRI, then an
//!    optional `TAG[...]:`, then the message. A datagram is rejected only
//!    when it is empty, longer than [`MAX_DATAGRAM`], or does not start
//!    with a valid `<PRI>` (0–191, RFC 5424 section 6.2.1): without a PRI
//!    there is no syslog message at all. Everything else decodes.
//!
//! 2. **Management event recognition.** The exact MSG layout of a
//!    PacketCable MEM syslog message is **UNCONFIRMED** (protocol notes 8 and
//!    12.4: no PKT-SP-MEM1.5 text was readable), so the common variants seen
//!    in deployed equipment are accepted and the raw message is always kept:
//!    - `<PRI>TAG[vendor]:<eventId> text` (Cisco CMTS DOCSIS events,
//!      `rlaager/docsis` issue 24);
//!    - RDK-B cable modems: `<PRI>CABLEMODEM[vendor]:<eventId><timestamp><CM-MAC><model> text`
//!      (a run of `<…>` groups: the first all-digit one is the event id, one
//!      that is a MAC is the device MAC, the others are kept in the raw text);
//!    - DOCSIS event-log text `text;CM-MAC=…;CMTS-MAC=…;CM-QOS=1.1;CM-VER=3.1;`
//!      (the `KEY=VALUE` segments become [`MemMessage::fields`]; `CMTS-MAC`
//!      is never taken for the device);
//!    - RFC 5424 structured data (RFC 5428 devices default to RFC 5424):
//!      an SD-ID `name@N` gives the enterprise N, and parameters named like
//!      the PKTC-IETF-EVENT-MIB log columns (`id`/`identifier`/`eventId`,
//!      `mac`, `endpoint`/`endpointName`, `level`) are read;
//!    - otherwise an all-digit RFC 5424 MSGID, a bare 8–10-digit first word,
//!      or `EventId=N` / `Event ID: N` give the event id.
//!
//!    MACs are accepted as `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff`,
//!    `aabb.ccdd.eeff` anywhere, and as 12 bare hex digits only right after a
//!    MAC keyword (`MAC`, `CM-MAC=`, `Mac Addr`, …), so that serial numbers
//!    are not taken for MACs. The endpoint name comes from an `endpoint`
//!    key or an `aaln/N[@host]` token (PacketCable analog line endpoints).
//!    A message in which no event id is found is still returned (with
//!    [`MemMessage::event_id`] `None`): it is a syslog line, not a rejected
//!    one.
//!
//! **Levels.** The event record's level is PKTC-EVENT-MIB's critical(1),
//! major(2), minor(3), warning(4), information(5); its mapping to syslog
//! severities is UNCONFIRMED (notes 8). We map the five levels one to one
//! onto the middle syslog severities, keeping the order: crit(2) →
//! critical, err(3) → major, warning(4) → minor, notice(5) → warning,
//! info(6) → information; the ends fold in: emerg(0) and alert(1) →
//! critical, debug(7) → information ([`Level::from_severity`]). A level
//! given explicitly (structured-data `level`) wins.
//!
//! **Enterprise.** An SD-ID `@N`, or a numeric `[vendor]`, gives N; the
//! vendor tags `PACKETCABLE`, `PKTC`, `DOCSIS` and `CABLELABS` give 4491
//! (CableLabs-defined events); otherwise it is unknown (`None`).
//!
//! The scanning is written by hand (no regex crate): the grammar is a few
//! token shapes, and the decoder must stay allocation-light and panic-free
//! on any input (fuzzed: `engine/wire/fuzz`, target `syslog`).

use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset, Utc};
use syslog_loose::{ProcId, Variant};

/// The longest datagram decoded (RFC 5426 section 3.2: receivers should take
/// 2048 octets, may take more; 8 KiB covers every MEM line with room).
pub const MAX_DATAGRAM: usize = 8192;

/// CableLabs' IANA enterprise number (PacketCable- and DOCSIS-defined events).
pub const CABLELABS_ENTERPRISE: u32 = 4491;

/// A six-octet MAC address.
pub type Mac = [u8; 6];

/// Why a datagram is not a syslog message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Zero bytes (or only whitespace/NULs).
    #[error("empty datagram")]
    Empty,
    /// More than [`MAX_DATAGRAM`] bytes.
    #[error("datagram of {0} bytes is longer than {MAX_DATAGRAM}")]
    TooLong(usize),
    /// No `<PRI>` at the start, or a PRI above 191.
    #[error("no valid <PRI> at the start of the datagram")]
    NoPri,
}

/// Which syslog framing the message used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// RFC 3164 (BSD syslog), including the header-less `<PRI>TAG: text` form.
    Rfc3164,
    /// RFC 5424 (VERSION 1).
    Rfc5424,
}

/// PKTC-EVENT-MIB / PKTC-IETF-EVENT-MIB event priority levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// critical(1).
    Critical = 1,
    /// major(2).
    Major = 2,
    /// minor(3).
    Minor = 3,
    /// warning(4).
    Warning = 4,
    /// information(5).
    Information = 5,
}

impl Level {
    /// The level of a syslog severity (0–7); see the module doc for why
    /// this mapping.
    pub fn from_severity(severity: u8) -> Level {
        match severity {
            0..=2 => Level::Critical,
            3 => Level::Major,
            4 => Level::Minor,
            5 => Level::Warning,
            _ => Level::Information,
        }
    }

    /// The syslog severity a sender uses for this level (inverse of
    /// [`Level::from_severity`] on 2–6).
    pub fn severity(self) -> u8 {
        self as u8 + 1
    }

    /// A level written as a MIB name (`critical` …) or number (1–5).
    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" | "1" => Some(Level::Critical),
            "major" | "2" => Some(Level::Major),
            "minor" | "3" => Some(Level::Minor),
            "warning" | "4" => Some(Level::Warning),
            "information" | "info" | "5" => Some(Level::Information),
            _ => None,
        }
    }

    /// The MIB name.
    pub fn name(self) -> &'static str {
        match self {
            Level::Critical => "critical",
            Level::Major => "major",
            Level::Minor => "minor",
            Level::Warning => "warning",
            Level::Information => "information",
        }
    }
}

/// One RFC 5424 structured-data element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdElement {
    /// SD-ID, e.g. `pktcEvent@4491`.
    pub id: String,
    /// Parameters in order.
    pub params: Vec<(String, String)>,
}

/// The syslog header fields (RFC 3164 / RFC 5424), as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The framing.
    pub format: Format,
    /// Facility (0–23).
    pub facility: u8,
    /// Severity (0–7).
    pub severity: u8,
    /// The timestamp, when one was sent (RFC 3164 timestamps without a zone
    /// are read as UTC, in the year the caller passes).
    pub timestamp: Option<DateTime<FixedOffset>>,
    /// HOSTNAME.
    pub hostname: Option<String>,
    /// APP-NAME (RFC 5424) or TAG (RFC 3164).
    pub app: Option<String>,
    /// PROCID (RFC 5424) or the bracketed part of an RFC 3164 TAG (`TAG[x]`).
    pub procid: Option<String>,
    /// MSGID (RFC 5424).
    pub msgid: Option<String>,
    /// Structured data (RFC 5424; also accepted after an RFC 3164 header).
    pub structured: Vec<SdElement>,
}

/// A decoded syslog message with the management-event fields recognised in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemMessage {
    /// The syslog header.
    pub header: Header,
    /// Event id (PKTC-EVENT-MIB Id, Unsigned32), when one was found.
    pub event_id: Option<u32>,
    /// Event level (explicit, else from the severity).
    pub level: Level,
    /// Enterprise number, when known.
    pub enterprise: Option<u32>,
    /// The vendor tag (`[vendor]` after the TAG), when not a process id.
    pub vendor: Option<String>,
    /// The device MAC named in the message.
    pub mac: Option<Mac>,
    /// The CMTS MAC named in the message (DOCSIS `CMTS-MAC=`), never the device.
    pub cmts_mac: Option<Mac>,
    /// Endpoint name (e.g. `aaln/1`).
    pub endpoint: Option<String>,
    /// `KEY=VALUE` fields found (DOCSIS `;K=V;` trailer, structured-data parameters).
    pub fields: Vec<(String, String)>,
    /// The event text (the MSG without the recognised prefix and trailer).
    pub text: String,
    /// The whole datagram as text (invalid UTF-8 replaced), trailing newlines and NULs removed.
    pub raw: String,
}

/// Decodes one syslog datagram. `year` is the year given to RFC 3164
/// timestamps, which carry none (the caller's current year: the decoder
/// reads no clock).
pub fn decode(datagram: &[u8], year: i32) -> Result<MemMessage, DecodeError> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(DecodeError::TooLong(datagram.len()));
    }
    let text = String::from_utf8_lossy(datagram);
    // Senders append LF, CRLF or NUL (RFC 6587 habits carried over to UDP).
    let raw = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    if raw.is_empty() {
        return Err(DecodeError::Empty);
    }
    let (facility, severity, after_pri) = pri(raw).ok_or(DecodeError::NoPri)?;
    let header_and_msg = match syslog_loose::parse_message_with_year_exact_tz(
        raw,
        |_| year,
        Some(Utc),
        Variant::Either,
    ) {
        Ok(m) => Some(from_loose(&m, facility, severity)),
        Err(_) => None,
    };
    let (header, msg) =
        header_and_msg.unwrap_or_else(|| loose_header(after_pri, facility, severity));
    Ok(recognise(header, &msg, raw))
}

/// `<PRI>` at the start: (facility, severity, rest).
fn pri(s: &str) -> Option<(u8, u8, &str)> {
    let rest = s.strip_prefix('<')?;
    let close = rest.find('>')?;
    let digits = rest.get(..close)?;
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: u16 = digits.parse().ok()?;
    if v > 191 {
        return None;
    }
    let v = u8::try_from(v).ok()?;
    Some((v >> 3, v & 7, rest.get(close + 1..)?))
}

fn opt_str(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty() && *s != "-").map(str::to_string)
}

fn from_loose(m: &syslog_loose::Message<&str>, facility: u8, severity: u8) -> (Header, String) {
    let format = match m.protocol {
        syslog_loose::Protocol::RFC5424(_) => Format::Rfc5424,
        syslog_loose::Protocol::RFC3164 => Format::Rfc3164,
    };
    let header = Header {
        format,
        facility,
        severity,
        timestamp: m.timestamp,
        hostname: opt_str(m.hostname),
        app: opt_str(m.appname),
        procid: m.procid.as_ref().map(|p| match p {
            ProcId::PID(n) => n.to_string(),
            ProcId::Name(s) => (*s).to_string(),
        }),
        msgid: opt_str(m.msgid),
        structured: m
            .structured_data
            .iter()
            .map(|e| SdElement {
                id: e.id.to_string(),
                params: e
                    .params()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            })
            .collect(),
    };
    (header, m.msg.to_string())
}

/// The header-less RFC 3164 form: `[TAG[vendor]:] message` after the PRI.
fn loose_header(after_pri: &str, facility: u8, severity: u8) -> (Header, String) {
    let mut header = Header {
        format: Format::Rfc3164,
        facility,
        severity,
        timestamp: None,
        hostname: None,
        app: None,
        procid: None,
        msgid: None,
        structured: Vec::new(),
    };
    let s = after_pri.trim_start();
    // A TAG is a run of non-space characters ending in ':' (RFC 3164 4.1.3),
    // optionally with a bracketed part before the colon.
    let tag_end = s
        .char_indices()
        .find(|&(_, c)| c == ':' || c.is_whitespace() || c == '<')
        .filter(|&(_, c)| c == ':')
        .map(|(i, _)| i);
    let msg = match tag_end {
        Some(i) if i > 0 => {
            let tag = s.get(..i).unwrap_or_default();
            match (tag.find('['), tag.strip_suffix(']')) {
                (Some(open), Some(inner)) => {
                    header.app = opt_str(tag.get(..open));
                    header.procid = opt_str(inner.get(open + 1..));
                }
                _ => header.app = opt_str(Some(tag)),
            }
            s.get(i + 1..).unwrap_or_default()
        }
        _ => s,
    };
    (header, msg.trim_start().to_string())
}

/// Recognises the management-event fields of a decoded message.
fn recognise(header: Header, msg: &str, raw: &str) -> MemMessage {
    let mut out = MemMessage {
        level: Level::from_severity(header.severity),
        header,
        event_id: None,
        enterprise: None,
        vendor: None,
        mac: None,
        cmts_mac: None,
        endpoint: None,
        fields: Vec::new(),
        text: String::new(),
        raw: raw.to_string(),
    };
    // The vendor: `TAG[vendor]` unless the bracket holds a process id.
    if let Some(p) = &out.header.procid {
        if out.header.format == Format::Rfc3164 && !p.bytes().all(|b| b.is_ascii_digit()) {
            out.vendor = Some(p.clone());
        }
    }
    if out.vendor.is_none() {
        if let Some((_, inner)) = out.header.app.as_deref().and_then(bracketed) {
            out.vendor = Some(inner.to_string());
        }
    }
    if let Some(v) = &out.vendor {
        out.enterprise = vendor_enterprise(v);
    }
    structured(&mut out);

    // A leading run of `<…>` groups (Cisco CMTS and RDK-B forms), after
    // the BOM an RFC 5424 UTF-8 MSG starts with (section 6.4).
    let mut rest = msg.trim_start().trim_start_matches('\u{feff}').trim_start();
    while let Some(inner_end) = rest.strip_prefix('<').and_then(|r| r.find('>')) {
        let inner = rest.get(1..=inner_end).unwrap_or_default();
        if inner.contains('<') {
            break;
        }
        if out.event_id.is_none() && is_digits(inner, 1, 10) {
            out.event_id = inner.parse().ok();
        } else if let Some(m) = mac_any(inner) {
            out.mac.get_or_insert(m);
        }
        rest = rest.get(inner_end + 2..).unwrap_or_default().trim_start();
    }
    // A bare 8–10-digit first word.
    if out.event_id.is_none() {
        let first = rest.split_whitespace().next().unwrap_or_default();
        let word = first.trim_end_matches(':');
        if is_digits(word, 8, 10) {
            if let Ok(id) = word.parse() {
                out.event_id = Some(id);
                rest = rest.get(first.len()..).unwrap_or_default().trim_start();
            }
        }
    }
    // An all-digit RFC 5424 MSGID.
    if out.event_id.is_none() {
        if let Some(id) = out.header.msgid.as_deref().filter(|m| is_digits(m, 1, 10)) {
            out.event_id = id.parse().ok();
        }
    }

    // DOCSIS `text;KEY=VALUE;KEY=VALUE;` trailer.
    let mut text_parts: Vec<&str> = Vec::new();
    let mut trailer = Vec::new();
    for (i, seg) in rest.split(';').enumerate() {
        match seg.split_once('=') {
            Some((k, v)) if i > 0 && is_field_key(k.trim()) => {
                trailer.push((k.trim().to_string(), v.trim().to_string()));
            }
            _ if seg.trim().is_empty() && i > 0 => {}
            _ => text_parts.push(seg),
        }
    }
    let text = if trailer.is_empty() {
        rest.trim_end().to_string()
    } else {
        text_parts.join(";").trim().to_string()
    };
    for (k, v) in &trailer {
        let key = k.to_ascii_lowercase();
        if key.contains("mac") {
            if let Some(m) = mac_any(v).or_else(|| mac_bare(v)) {
                if key.contains("cmts") {
                    out.cmts_mac.get_or_insert(m);
                } else {
                    out.mac.get_or_insert(m);
                }
            }
        }
    }
    out.fields.extend(trailer);
    scan_text(&mut out, &text);
    out.text = text;
    out
}

/// `name[inner]` → (name, inner).
fn bracketed(s: &str) -> Option<(&str, &str)> {
    let open = s.find('[')?;
    let inner = s.strip_suffix(']')?.get(open + 1..)?;
    Some((s.get(..open)?, inner))
}

fn vendor_enterprise(v: &str) -> Option<u32> {
    if is_digits(v, 1, 10) {
        return v.parse().ok();
    }
    match v.to_ascii_uppercase().as_str() {
        "PACKETCABLE" | "PKTC" | "DOCSIS" | "CABLELABS" => Some(CABLELABS_ENTERPRISE),
        _ => None,
    }
}

/// Structured-data elements: enterprise from `@N`, known parameters.
fn structured(out: &mut MemMessage) {
    let mut fields = Vec::new();
    for e in &out.header.structured {
        let enterprise =
            e.id.rsplit_once('@')
                .and_then(|(_, n)| is_digits(n, 1, 10).then(|| n.parse().ok()).flatten());
        // timeQuality and the other IANA-registered SD-IDs carry no event.
        if enterprise.is_none() {
            continue;
        }
        if out.enterprise.is_none() {
            out.enterprise = enterprise;
        }
        for (k, v) in &e.params {
            let key: String = k
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect();
            match key.as_str() {
                "id" | "eventid" | "identifier" | "event" if out.event_id.is_none() => {
                    out.event_id = v.trim().parse().ok();
                }
                "mac" | "cmmac" | "mtamac" | "euemac" | "ifphysaddress" | "macaddress" => {
                    if let Some(m) = mac_any(v).or_else(|| mac_bare(v)) {
                        out.mac.get_or_insert(m);
                    }
                }
                "endpoint" | "endpointname" if out.endpoint.is_none() && !v.is_empty() => {
                    out.endpoint = Some(v.clone());
                }
                "level" | "priority" => {
                    if let Some(l) = Level::parse(v) {
                        out.level = l;
                    }
                }
                "enterprise" | "organization" => {
                    if let Ok(n) = v.trim().parse() {
                        out.enterprise = Some(n);
                    }
                }
                _ => {}
            }
            fields.push((k.clone(), v.clone()));
        }
    }
    out.fields.extend(fields);
}

/// Scans the event text for MACs, a keyed event id and an endpoint name.
fn scan_text(out: &mut MemMessage, text: &str) {
    let is_sep = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                ';' | ',' | '<' | '>' | '(' | ')' | '"' | '\'' | '[' | ']'
            )
    };
    let words: Vec<&str> = text.split(is_sep).filter(|w| !w.is_empty()).collect();
    for (i, w) in words.iter().enumerate() {
        let (key, value) = match w.split_once('=') {
            Some((k, v)) => (Some(k), v),
            None => (None, *w),
        };
        let value = value.trim_end_matches(['.', ':', ',']);
        // What precedes: the key, else up to three words before.
        let context = match key {
            Some(k) => k.to_ascii_lowercase(),
            None => words
                .get(i.saturating_sub(3)..i)
                .unwrap_or_default()
                .join(" ")
                .to_ascii_lowercase(),
        };
        let keyed_mac = context.contains("mac") || context.contains("hw addr");
        let mac = mac_any(value).or_else(|| keyed_mac.then(|| mac_bare(value)).flatten());
        if let Some(m) = mac {
            // Only the nearest key or word decides whether it is the CMTS's.
            let near = key.map(str::to_ascii_lowercase).unwrap_or_else(|| {
                words
                    .get(i.saturating_sub(2)..i)
                    .unwrap_or_default()
                    .join(" ")
                    .to_ascii_lowercase()
            });
            if near.contains("cmts") {
                out.cmts_mac.get_or_insert(m);
            } else {
                out.mac.get_or_insert(m);
            }
            continue;
        }
        let lower = value.to_ascii_lowercase();
        if out.endpoint.is_none() {
            let k = key.map(str::to_ascii_lowercase).unwrap_or_default();
            if (k.contains("endpoint") && !value.is_empty()) || lower.starts_with("aaln/") {
                out.endpoint = Some(value.to_string());
            }
        }
        if out.event_id.is_none() && is_digits(value, 1, 10) {
            let k = key.map(str::to_ascii_lowercase).unwrap_or_default();
            let before = words
                .get(i.saturating_sub(2)..i)
                .unwrap_or_default()
                .join(" ")
                .to_ascii_lowercase();
            let keyed = k.replace(['-', '_', ' '], "") == "eventid"
                || (key.is_none() && (before.ends_with("eventid") || before.ends_with("event id")));
            if keyed {
                out.event_id = value.parse().ok();
            }
        }
    }
}

fn is_digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_field_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 32
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn hex_pair(s: &str) -> Option<u8> {
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u8::from_str_radix(s, 16).ok())
        .flatten()
}

/// `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` or `aabb.ccdd.eeff`.
pub fn mac_any(s: &str) -> Option<Mac> {
    let s = s.trim();
    for sep in [':', '-'] {
        let parts: Vec<&str> = s.split(sep).collect();
        if parts.len() == 6 {
            let mut m = [0u8; 6];
            for (o, p) in m.iter_mut().zip(&parts) {
                *o = hex_pair(p)?;
            }
            return Some(m);
        }
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() == 3 && parts.iter().all(|p| p.len() == 4) {
        return mac_bare(&parts.concat());
    }
    None
}

/// Exactly 12 hex digits.
pub fn mac_bare(s: &str) -> Option<Mac> {
    let s = s.trim();
    if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut m = [0u8; 6];
    for (i, o) in m.iter_mut().enumerate() {
        *o = hex_pair(s.get(2 * i..2 * i + 2)?)?;
    }
    Some(m)
}

/// `aa:bb:cc:dd:ee:ff` (lowercase), the form the engine keys devices by.
pub fn mac_string(m: &Mac) -> String {
    let mut s = String::with_capacity(17);
    for (i, b) in m.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A management event as a device would send it (tests, benchmarks and the
/// lab's sender; the decoder's inverse on the fields it writes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemLine {
    /// Facility (0–23).
    pub facility: u8,
    /// Level (written as the matching severity).
    pub level: Level,
    /// TAG / APP-NAME, e.g. `MTA`.
    pub tag: String,
    /// Vendor tag (RFC 3164 `TAG[vendor]`), e.g. `PACKETCABLE`.
    pub vendor: Option<String>,
    /// Event id.
    pub event_id: u32,
    /// Device MAC.
    pub mac: Option<Mac>,
    /// Event text.
    pub text: String,
}

impl MemLine {
    /// The line in `format`: RFC 3164 as `<PRI>TAG[vendor]:<id> text;CM-MAC=…;`
    /// (the header-less CMTS form), RFC 5424 as `<PRI>1 - - TAG - - [pktcEvent@E …] <id> text`.
    pub fn encode(&self, format: Format) -> String {
        let pri = u16::from(self.facility.min(23)) * 8 + u16::from(self.level.severity());
        let mut s = String::new();
        match format {
            Format::Rfc3164 => {
                let _ = write!(s, "<{pri}>{}", self.tag);
                if let Some(v) = &self.vendor {
                    let _ = write!(s, "[{v}]");
                }
                let _ = write!(s, ":<{}>", self.event_id);
                if !self.text.is_empty() {
                    let _ = write!(s, " {}", self.text);
                }
                if let Some(m) = &self.mac {
                    let _ = write!(s, ";CM-MAC={};", mac_string(m));
                }
            }
            Format::Rfc5424 => {
                let enterprise = self
                    .vendor
                    .as_deref()
                    .and_then(vendor_enterprise)
                    .unwrap_or(CABLELABS_ENTERPRISE);
                let _ = write!(
                    s,
                    "<{pri}>1 - - {} - - [pktcEvent@{enterprise} id=\"{}\" level=\"{}\"",
                    self.tag,
                    self.event_id,
                    self.level.name()
                );
                if let Some(m) = &self.mac {
                    let _ = write!(s, " mac=\"{}\"", mac_string(m));
                }
                s.push(']');
                if !self.text.is_empty() {
                    let _ = write!(s, " {}", self.text);
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests;
