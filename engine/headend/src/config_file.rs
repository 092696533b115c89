//! `headend config-file decode FILE [--secret S]`: prints a DOCSIS CM or
//! PacketCable MTA/eUE configuration file one TLV per line and checks its
//! CM MIC, CMTS MIC (with the CMTS shared secret) or SHA-1 config hash
//! (formats: `headend-config-file`, protocol-notes sections 5 and 6).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use headend_config_file::{decode as decode_file, to_text, Check};

/// Prints the decoded file; exit status 2 when a MIC or hash does not match.
pub fn decode(path: &Path, secret: Option<&str>) -> Result<ExitCode> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = decode_file(&bytes, secret.map(str::as_bytes)).with_context(|| {
        format!(
            "{} is not a valid DOCSIS or PacketCable configuration file",
            path.display()
        )
    })?;
    print!("{}", to_text(&file));
    let bad = [&file.cm_mic, &file.cmts_mic, &file.in_file_hash]
        .iter()
        .any(|c| matches!(c, Check::Mismatch { .. }));
    if bad {
        eprintln!(
            "headend: {}: integrity check failed (see the MIC / hash lines)",
            path.display()
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
