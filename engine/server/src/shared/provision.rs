//! What the provisioning server (SNMP, pkt-eue-4) asks of the other
//! components without depending on them: the config server generates an
//! eUE's file and pins those bytes so TFTP and HTTP serve exactly what was
//! hashed (eUE-18). (Status INFORMs, eUE-25, go to the management-event
//! sink in `Shared::events`, as syslog events do.) The runtime registers
//! the implementation here once the config server is built.

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::RwLock;

use super::DeviceContext;

/// A generated file pinned for its device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedFile {
    /// The name TFTP/HTTP serve it under (relative to the virtual root).
    pub name: String,
    /// Size in octets.
    pub size: usize,
    /// SHA-1 of the bytes: pktcMtaDevProvConfigHash (protocol-notes 5.2).
    pub sha1: [u8; 20],
    /// The generator's own hash, when it gave one (also SHA-1 for eue-config).
    pub config_hash: Option<Vec<u8>>,
}

/// Generates and pins a device's config file.
pub trait FileProvider: Send + Sync {
    /// Generates `name` for `dc` (its `inputs` — capability GET results —
    /// handed to the generator), and pins the bytes for that device and
    /// name. `Err` says why (no generator for the name, plugin failure …).
    fn provision(
        &self,
        dc: &DeviceContext,
        name: &str,
        inputs: &[(String, String)],
    ) -> Result<ProvisionedFile, String>;
}

/// The registered providers (empty until the runtime fills them in).
#[derive(Default)]
pub struct Services {
    files: RwLock<Option<Arc<dyn FileProvider>>>,
    listeners: RwLock<(Vec<SocketAddr>, Vec<SocketAddr>)>,
}

impl Services {
    /// Registers the file provider.
    pub fn set_files(&self, f: Arc<dyn FileProvider>) {
        *self.files.write() = Some(f);
    }

    /// The config server's bound TFTP and HTTP addresses (ephemeral ports
    /// resolved), which the SET's URL names.
    pub fn set_listeners(&self, tftp: Vec<SocketAddr>, http: Vec<SocketAddr>) {
        *self.listeners.write() = (tftp, http);
    }

    /// The bound TFTP and HTTP addresses (empty before the config server starts).
    pub fn listeners(&self) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
        self.listeners.read().clone()
    }

    /// The file provider, if registered.
    pub fn files(&self) -> Option<Arc<dyn FileProvider>> {
        self.files.read().clone()
    }
}
