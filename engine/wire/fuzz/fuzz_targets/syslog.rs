//! Fuzzes the syslog management-event decoder (RFC 3164/5424 framing via
//! `syslog_loose`, then the PacketCable/DOCSIS event recognition):
//! `syslog::decode` never panics on any datagram; a datagram that starts
//! with a valid `<PRI>` and is not empty or oversize always decodes (a
//! parseable syslog line is never rejected), with that PRI; every MAC it
//! reports re-reads from its canonical spelling.
#![no_main]

use headend_wire::syslog::{decode, mac_any, mac_string, DecodeError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match decode(data, 2026) {
        Ok(m) => {
            let pri = u16::from(m.header.facility) * 8 + u16::from(m.header.severity);
            assert!(pri <= 191);
            // The PRI it decoded is the one the line starts with (leading
            // zeros are accepted, as senders write them).
            let sent = m
                .raw
                .strip_prefix('<')
                .and_then(|r| r.split_once('>'))
                .and_then(|(d, _)| d.parse::<u16>().ok());
            assert_eq!(sent, Some(pri), "{:?}", m.raw);
            for mac in m.mac.iter().chain(m.cmts_mac.iter()) {
                assert_eq!(mac_any(&mac_string(mac)), Some(*mac));
            }
        }
        Err(DecodeError::NoPri) => {
            let text = String::from_utf8_lossy(data);
            let t = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
            let valid_pri = t
                .strip_prefix('<')
                .and_then(|r| r.split_once('>'))
                .is_some_and(|(d, _)| {
                    !d.is_empty() && d.len() <= 3 && d.parse::<u16>().is_ok_and(|v| v <= 191)
                        && d.bytes().all(|b| b.is_ascii_digit())
                });
            assert!(!valid_pri, "a line with a valid PRI was rejected: {t:?}");
        }
        Err(_) => {}
    }
});
