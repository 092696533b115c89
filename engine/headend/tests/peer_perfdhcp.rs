//! headend against ISC perfdhcp (Kea 2.2) in relay mode over loopback, inside a
//! namespace shaped like shared/docs/peers.md §2 `pl`: DORA completion and rate, leases
//! surviving a restart, and CableLabs options 122 / 125 (RFC 3495, RFC 3925,
//! CL-SP-CANN-DHCP-Reg) checked on the wire with tshark (peers.md §3.6, §11).

use crate::common;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use common::scenarios::{self, RELAY, SERVER};
use common::{peers_available, scratch, HeadendServer, Netns};

/// A headend config serving relay 127.0.0.2 from 127.0.0.1:67, with a CableLabs policy
/// on the pool (options 122 sub-options 1/2 and 125 enterprise 4491 sub-option 2). No
/// domains: every device is in the built-in "All devices" domain, which the pool is in.
fn relay_config(dir: &Path) -> Result<PathBuf> {
    let store = dir.join("store");
    let text = format!(
        r#"[server]
name = "peer-perfdhcp"
store = "{store}"

[dhcpv4]
listen = ["{SERVER}:67"]

[[pool]]
name = "relay-lo"
relays = ["{RELAY}"]
network = "10.10.0.0/16"
ranges = [["10.10.0.10", "10.10.255.250"]]
lifetime = 3600
policies = ["cablelabs"]
[pool.options]
routers = "10.10.0.1"

[[policy]]
name = "cablelabs"
enforced = true
[policy.options]
"122/1" = "192.0.2.1"
"122/2" = "192.0.2.1"
"125/4491/2" = ["192.0.2.1"]
"#,
        store = store.display()
    );
    let path = dir.join("headend.toml");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[test]
fn dora_500_per_second_and_leases_survive_restart() -> Result<()> {
    let _heavy = common::heavy();
    if !peers_available("peer_perfdhcp", &["perfdhcp"])? {
        return Ok(());
    }
    let dir = scratch("perfdhcp")?;
    let ns = Netns::loopback_relay()?;
    let mut server = HeadendServer::new(relay_config(dir.path())?);
    scenarios::dora_then_restart(&mut server, &ns)
}

#[test]
fn cablelabs_options_in_offer_and_ack_decode_cleanly() -> Result<()> {
    let _heavy = common::heavy();
    if !peers_available("peer_perfdhcp", &["perfdhcp", "tshark"])? {
        return Ok(());
    }
    let dir = scratch("cablelabs")?;
    let ns = Netns::loopback_relay()?;
    let mut server = HeadendServer::new(relay_config(dir.path())?);
    scenarios::cablelabs_options(&mut server, &ns, dir.path())
}
