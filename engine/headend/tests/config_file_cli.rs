//! `headend config-file decode`: prints the TLVs of the protocol-notes 6.3
//! vector with both MICs verified, and fails clearly on a file it cannot decode.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

/// DOCSIS-TOOL `tests/BaseConfig.cm` (protocol-notes 6.3), shared secret "DOCSIS".
const BASE_CONFIG: &str = "03010118070102000106010719070102000206010706101a3ba2e7666290b9725605718c01f9670710cb5b0055aad79103519691cca2cbbe0fff0000";

fn headend(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_headend"))
        .args(["--log", "error"])
        .args(args)
        .output()
        .expect("run headend")
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn decode_prints_tlvs_and_verifies_both_mics() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "base.cm",
        &headend_config_file::unhex(BASE_CONFIG).unwrap(),
    );
    let out = headend(&["config-file", "decode", &f, "--secret", "DOCSIS"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("  24.6 QosParamSetType = 7\n"), "{stdout}");
    assert!(stdout.contains("# CM MIC (TLV 6) verified\n"), "{stdout}");
    assert!(stdout.contains("# CMTS MIC (TLV 7) verified\n"), "{stdout}");
}

#[test]
fn wrong_secret_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "base.cm",
        &headend_config_file::unhex(BASE_CONFIG).unwrap(),
    );
    let out = headend(&["config-file", "decode", &f, "--secret", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("# CMTS MIC (TLV 7) MISMATCH"), "{stdout}");
}

#[test]
fn undecodable_file_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "junk.cm", &[0x03, 0x05, 0x01]);
    let out = headend(&["config-file", "decode", &f]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not a valid DOCSIS or PacketCable configuration file")
            && stderr.contains("truncated"),
        "{stderr}"
    );
}
