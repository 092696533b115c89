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

/// `headend config-file show --config FILE --mac MAC --file NAME`: the file
/// this device would receive by TFTP/HTTP (same virtual root, access rules,
/// `[[tftp.config_file]]` mappings, generators and plugins as the server),
/// decoded, without a network exchange. `--out` also writes the exact bytes.
pub fn show(config: &Path, mac: &str, name: &str, out: Option<&Path>) -> Result<ExitCode> {
    use std::sync::Arc;

    use headend_abi::Protocol;
    use headend_model::snapshot::{normalize_mac, Snapshot};
    use headend_server::configsrv::{resolve_file, DeviceContext};
    use headend_server::runtime::Server;
    use headend_store::{MemoryStore, SledStore, Store};

    let snap = Snapshot::load(config, 1).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mac = normalize_mac(mac).with_context(|| format!("{mac:?} is not a MAC address"))?;
    // The account: the configuration's, else the store's (read while no
    // server holds the store; a running server keeps it locked).
    let account = match snap.accounts.get(&mac) {
        Some(a) => Some(a.clone()),
        None => match SledStore::open(&snap.store_path) {
            Ok(store) => store.account(&mac).map_err(|e| anyhow::anyhow!("{e}"))?,
            Err(e) => {
                eprintln!(
                    "headend: store {} not readable ({e}); showing the file for a device without a stored account",
                    snap.store_path.display()
                );
                None
            }
        },
    };
    let secret = snap.config_server.files.cmts_secret.clone();
    let mut server = Server::with_store(
        config,
        snap,
        Arc::new(MemoryStore::default()) as Arc<dyn Store>,
        headend_server::dhcpv4::process::system_clock(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    server
        .set_hook_factory(crate::plugins::factory(|| {
            headend_plugin::PluginHost::new(
                headend_plugin::HostConfig::default(),
                Arc::new(headend_plugin::MemoryKv::new()),
            )
        }))
        .map_err(|e| anyhow::anyhow!("plugins:\n{e}"))?;
    let snap = server.snapshot();
    let dc = DeviceContext::from_parts(Protocol::Lease, &mac, account.as_ref(), None, None);
    let served = resolve_file(&snap, server.config_server().generators(), &dc, name)
        .map_err(|e| anyhow::anyhow!("{name} for {mac}: {e}"))?;
    if let Some(p) = out {
        std::fs::write(p, served.bytes.as_slice())
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    eprintln!(
        "headend: {name} for {mac}: {} bytes ({:?}){}",
        served.bytes.len(),
        served.origin,
        served
            .config_hash
            .as_ref()
            .map(|h| format!(", config hash {}", headend_store::hex_colon(h)))
            .unwrap_or_default()
    );
    match decode_file(&served.bytes, secret.as_deref()) {
        Ok(file) => print!("{}", to_text(&file)),
        Err(e) => eprintln!("headend: not a DOCSIS/PacketCable config file ({e}); raw bytes only"),
    }
    Ok(ExitCode::SUCCESS)
}
