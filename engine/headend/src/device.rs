//! `headend device show`: a device's provisioning timeline (every step by
//! its seed 000 name, with where it is stuck) and the devices linked to it.
//!
//! While the server runs it holds the store (sled allows one process), so
//! the command asks it over the control socket in the store directory
//! (`headend_server::control`); with no server running it reads the store
//! itself.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context as _, Result};
use headend_model::snapshot::{normalize_mac, Snapshot};
use headend_server::control::{ask_device_show, device_show, socket_path, DeviceShow};
use headend_server::shared::timeline::{now_ms, render, Timeline};

/// Prints the timeline of `mac`; exit 1 when nothing is recorded for it.
pub fn show(config: &Path, mac: &str) -> Result<ExitCode> {
    let mac = normalize_mac(mac).ok_or_else(|| anyhow!("{mac:?} is not a MAC address"))?;
    let snap = Snapshot::load(config, 1).map_err(|e| anyhow!("{e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the I/O runtime")?;
    let asked = runtime
        .block_on(ask_device_show(&snap.store_path, &mac))
        .with_context(|| {
            format!(
                "asking the server on {}",
                socket_path(&snap.store_path).display()
            )
        })?;
    let answer = match asked {
        Some(a) => a,
        None => offline(&snap.store_path, &mac)?,
    };
    if !answer.ok {
        bail!(
            "the server could not answer: {}",
            answer.error.unwrap_or_default()
        );
    }
    // The timeline first (its first line says where the device stands),
    // then what the running server holds of it.
    let shown = match answer.device {
        Some(d) => {
            print!("{}", render(&d, &answer.linked, now_ms()));
            ExitCode::SUCCESS
        }
        None => {
            println!("{mac}: no provisioning steps recorded");
            ExitCode::FAILURE
        }
    };
    if let Some(p) = &answer.picture {
        print_picture(p);
    }
    Ok(shown)
}

/// The account and bindings the running server holds (the same picture
/// as `GET /api/v1/devices/{mac}`).
fn print_picture(p: &headend_server::control::DevicePicture) {
    for line in picture_lines(p) {
        println!("{line}");
    }
}

/// What the server holds of a device, a line each: its account (and where
/// it is declared), its leases and its bindings. Shared by `device show`
/// and `explain --from-store`.
pub(crate) fn picture_lines(p: &headend_server::control::DevicePicture) -> Vec<String> {
    let mut out = vec![match &p.account {
        Some(a) => format!(
            "account {} ({}): domains {}",
            a.id,
            if p.account_from_config {
                "configuration file"
            } else {
                "store"
            },
            if a.domains.is_empty() {
                "none".to_string()
            } else {
                a.domains.join(", ")
            }
        ),
        None => "account: none".to_string(),
    }];
    let now = (headend_server::shared::system_clock())();
    for l in &p.leases {
        let state = l.status(now);
        out.push(format!(
            "lease {} ({state}) pool {} via {}",
            l.ip, l.pool, l.relay
        ));
    }
    for l in &p.leases6 {
        out.push(format!(
            "binding {}/{} pool {} link {}",
            l.address, l.prefix_len, l.pool, l.link
        ));
    }
    out
}

/// Reads the timeline from the store of a server that is not running.
fn offline(store_dir: &Path, mac: &str) -> Result<DeviceShow> {
    if !store_dir.exists() {
        bail!(
            "no server answers on {} and there is no store at {}",
            socket_path(store_dir).display(),
            store_dir.display()
        );
    }
    let store = headend_store::SledStore::open(store_dir).map_err(|e| {
        anyhow!(
            "{e}; the server holding it does not answer on {}",
            socket_path(store_dir).display()
        )
    })?;
    Ok(device_show(&Timeline::new(1), &store, mac))
}
