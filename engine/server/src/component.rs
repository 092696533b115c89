//! The interface every protocol server of headend implements (DHCPv4,
//! DHCPv6, the TFTP/HTTP config server, RFC 868 Time): the runtime keeps a
//! list of components and drives each the same way, so adding a server is
//! its own module plus one line in that list.
//!
//! A component is built from [`crate::shared::Shared`]; the runtime then
//! starts it (bind listeners, spawn tasks), asks it at every reload what
//! the new snapshot changes that only a restart can apply, lets it follow
//! the reload, ticks it once a second and collects its counters.

use std::net::SocketAddr;
use std::sync::Arc;

use headend_model::config::ConfigErrors;
use headend_model::snapshot::Snapshot;
use headend_store::{GroupCommitter, StoreError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is invalid.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// The store could not be opened or read.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A listener could not be opened.
    #[error("{0}")]
    Listen(#[from] crate::udp::ListenError),
    /// Another I/O failure.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The store took no commit for this many seconds (a full disk, an I/O
    /// error): the server stopped so that its supervisor restarts it.
    #[error("the store took no commit for {0} s")]
    StoreDown(u64),
}

/// What [`Component::start`] gets from the runtime.
pub struct StartContext {
    /// Becomes `true` when the server stops; every task ends then.
    pub stop: watch::Receiver<bool>,
    /// Receiving tasks per socket (one per runtime worker).
    pub workers: usize,
    /// The group committer that makes leases durable before replies.
    pub committer: Arc<GroupCommitter>,
}

/// What a started component runs: its bound addresses and its tasks (the
/// runtime awaits them after the stop signal).
#[derive(Default)]
pub struct Started {
    /// The addresses actually bound (ephemeral ports resolved).
    pub bound: Vec<SocketAddr>,
    /// The serving tasks.
    pub tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

/// One protocol server of headend.
pub trait Component: Send + Sync {
    /// Short name, for logs.
    fn name(&self) -> &'static str;

    /// Binds the listeners `snap` configures and spawns their tasks (from
    /// inside the runtime). No listener configured: nothing started.
    fn start(self: Arc<Self>, snap: &Snapshot, ctx: &StartContext) -> Result<Started, ServerError>;

    /// What `new` changes that only a restart can apply (bound sockets,
    /// identities fixed at start), one message each; a reload with any is
    /// refused.
    fn restart_needed(&self, old: &Snapshot, new: &Snapshot) -> Vec<String>;

    /// Called before `next` replaces the running snapshot: state that the
    /// first packet under `next` must find ready (DHCPv4's allocators).
    fn prepare(&self, _next: &Snapshot) {}

    /// Called after `now` replaced the running snapshot: state derived
    /// from the configuration (the config server's file cache).
    fn apply(&self, _now: &Arc<Snapshot>) {}

    /// Once a second: expire what is due (leases, holds).
    fn tick(&self) {}

    /// Adds this component's own counters and gauges to the registry (the
    /// shared [`crate::counters::Counters`] are collected apart).
    fn metrics(&self, _m: &mut crate::metrics::Metrics) {}

    /// Work in flight that a stopping server lets finish (at most
    /// [`crate::runtime::DRAIN_TIMEOUT`]) once its listeners are closed,
    /// e.g. TFTP/HTTP transfers.
    fn in_flight(&self) -> usize {
        0
    }
}
