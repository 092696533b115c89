//! headend against ISC dhclient 4.4 on a broadcast segment: a veth pair between two
//! namespaces, the server end 192.0.2.1/24 (shared/docs/peers.md §2, §4; RFC 2131 §4.1
//! for replies to a client that has no address yet).

mod common;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use common::scenarios::{self, SEGMENT_POOL, SEGMENT_SERVER};
use common::{peers_available, scratch, HeadendServer};

/// A headend config serving the directly attached segment on `vs0`.
fn segment_config(dir: &Path) -> Result<PathBuf> {
    let store = dir.join("store");
    let text = format!(
        r#"[server]
name = "peer-dhclient"
store = "{store}"

[dhcpv4]
listen = ["0.0.0.0:67"]
interface = "vs0"
server_id = "{SEGMENT_SERVER}"

[[pool]]
name = "segment"
relays = ["0.0.0.0"]
network = "192.0.2.0/24"
ranges = [["{first}", "{last}"]]
lifetime = 3600
[pool.options]
routers = "{SEGMENT_SERVER}"
"#,
        store = store.display(),
        first = SEGMENT_POOL.0,
        last = SEGMENT_POOL.1,
    );
    let path = dir.join("headend.toml");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[test]
fn dhclient_gets_an_address_on_a_veth_segment() -> Result<()> {
    if !peers_available("peer_dhclient", &["dhclient"])? {
        return Ok(());
    }
    let dir = scratch("dhclient")?;
    let (srv, cli) = scenarios::segment()?;
    let mut server = HeadendServer::new(segment_config(dir.path())?);
    scenarios::dhclient_bound(&mut server, &srv, &cli, dir.path())
}
