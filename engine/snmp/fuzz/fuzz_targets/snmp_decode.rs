//! Any datagram: decode never panics; a decoded message re-encodes and
//! decodes to itself; a v3 message goes through the authoritative USM
//! engine (digest, window, decryption) without panicking.
#![no_main]

use std::sync::OnceLock;

use headend_snmp::engine::{LocalEngine, UserConfig};
use headend_snmp::usm::{AuthProtocol, PrivProtocol};
use headend_snmp::Message;
use libfuzzer_sys::fuzz_target;

fn engine() -> &'static LocalEngine {
    static E: OnceLock<LocalEngine> = OnceLock::new();
    E.get_or_init(|| {
        LocalEngine::new(
            vec![0x80, 0, 0x1f, 0x88, 4, 1, 2, 3],
            1,
            &[UserConfig {
                name: "u".into(),
                auth: Some((AuthProtocol::Sha1, "authpass123".into())),
                privacy: Some((PrivProtocol::Aes128, "privpass123".into())),
            }],
            0,
        )
        .expect("fixed test keys")
    })
}

fuzz_target!(|data: &[u8]| {
    match Message::decode(data) {
        Ok(Message::Community(m)) => {
            let again = m.encode();
            assert_eq!(Message::decode(&again).ok(), Some(Message::Community(m)));
        }
        Ok(Message::V3(m)) => {
            let _ = engine().receive(&m, data, 0);
        }
        Err(_) => {}
    }
});
