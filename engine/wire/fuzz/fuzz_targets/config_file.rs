//! Fuzzes the config-file decoders of `headend-config-file` (what
//! `headend config-file decode` runs on any file an operator hands it):
//! DOCSIS CM and PacketCable MTA/eUE TLV files with and without a CMTS
//! secret, their text rendering, and the BER VarBind / OID decoders of
//! TLV 11 and TLV 64. None may panic; a VarBind that re-encodes decodes to
//! the same value.
#![no_main]

use headend_config_file::{decode, to_text, Oid, VarBind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for secret in [None, Some(&b"lab-secret"[..])] {
        if let Ok(file) = decode(data, secret) {
            let _ = to_text(&file);
        }
    }
    if let Ok(vb) = VarBind::decode(data) {
        if let Ok(wire) = vb.encode() {
            let again = VarBind::decode(&wire).expect("an encoded VarBind decodes");
            assert_eq!(again, vb, "round trip");
        }
    }
    if let Ok(oid) = Oid::decode_contents(data) {
        let _ = oid.to_string();
    }
});
