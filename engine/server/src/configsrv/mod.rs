//! The configuration server, interface pkt-eue-5 (seed 000 section 6.1.5;
//! seed 004 section 3.2): devices fetch their configuration file by TFTP
//! ([`tftp`], RFC 1350/2347/2348/2349/7440) or HTTP ([`http`]).
//!
//! Who is asking is answered by a [`DeviceResolver`] (the device registry
//! of `crate::shared`): the requesting address is looked up in the current
//! leases (DHCPv4 and DHCPv6, which register there) and turned into a [`DeviceContext`] — the plugin ABI's `Device` and the
//! expression context — so the virtual root, access mode and overwrite mode
//! expressions and the config-file generators see the same device the DHCP
//! server saw. [`files`] resolves a requested name to a static file inside
//! the (virtual) root or to a generated file, caches generated files by
//! content, and records every transfer against the device.
//!
//! Isolated: TFTP and HTTP are served on a runtime of their own (threads
//! named `headend-files`), so a firmware storm or slow HTTP clients never
//! occupy the workers that answer DHCP.

pub mod files;
pub mod http;
pub mod native;
pub mod tftp;

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use headend_abi::{ConfigFile, ConfigRequest};
use headend_model::snapshot::Snapshot;
use parking_lot::RwLock;

use crate::component::{Component, ServerError, StartContext, Started};
use crate::counters::Counters;
use crate::shared::{tcp_listen, Shared};

pub use files::{resolve_file, FileError, FileService, Served, TransferRecord, TransferResult};
// The device registry is shared with the DHCP servers; these paths keep working.
pub use crate::shared::{DeviceContext, DeviceMemo, DeviceResolver, Resolvers, StaticResolver};
/// Why a generator produced nothing usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    /// The generator failed (plugin trap, deadline, bad output); the request gets ERROR 0 / HTTP 500.
    #[error("generator failed: {0}")]
    Failed(String),
    /// The generator is unavailable (circuit breaker open, not loaded).
    #[error("generator unavailable: {0}")]
    Unavailable(String),
}

/// A config-file generator: the plugin hook `headend_config_file` (the lead
/// implements this over `headend-plugin`), or a native one.
pub trait ConfigGenerator: Send + Sync {
    /// The file for this request; `Ok(None)` = this device gets no such file (TFTP error 1).
    fn generate(&self, req: &ConfigRequest) -> Result<Option<ConfigFile>, GenerateError>;
    /// Changes whenever the same request could produce different bytes (module or configuration change); part of the cache key.
    fn version(&self) -> u64;
}

/// Named generators, shared by TFTP, HTTP and `config-file show`.
#[derive(Default, Clone)]
pub struct Generators(Arc<RwLock<BTreeMap<String, Arc<dyn ConfigGenerator>>>>);

impl Generators {
    /// Registers (or replaces) a generator under `name` (the `generator` of `[[tftp.config_file]]`).
    pub fn insert(&self, name: &str, g: Arc<dyn ConfigGenerator>) {
        self.0.write().insert(name.to_string(), g);
    }

    /// Removes a generator.
    pub fn remove(&self, name: &str) {
        self.0.write().remove(name);
    }

    /// A generator by name.
    pub fn get(&self, name: &str) -> Option<Arc<dyn ConfigGenerator>> {
        self.0.read().get(name).cloned()
    }

    /// The registered names.
    pub fn names(&self) -> Vec<String> {
        self.0.read().keys().cloned().collect()
    }
}

/// The config server of one headend: virtual files, TFTP and HTTP, and the
/// device memo the DHCP pipeline feeds.
pub struct ConfigServer {
    /// The virtual files (transfer log, cache, `resolve` for tools).
    pub files: Arc<FileService>,
    /// The TFTP service.
    pub tftp: Arc<tftp::TftpServer>,
    /// The HTTP service.
    pub http: Arc<http::HttpServer>,
    /// Classification remembered per MAC (fed by the DHCP servers).
    pub memo: Arc<DeviceMemo>,
    /// Where the bound addresses are published (for the provisioning server's URLs).
    services: Option<Arc<crate::shared::Services>>,
    /// The runtime TFTP and HTTP are served on, made at start.
    runtime: std::sync::OnceLock<FilesRuntime>,
}

/// The config server's own runtime; shut down in the background when the
/// server goes (a runtime may not be dropped from async code).
struct FilesRuntime(Option<tokio::runtime::Runtime>);

impl FilesRuntime {
    fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.0.as_ref().map(|r| r.handle())
    }
}

impl Drop for FilesRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Threads of the config server's runtime at most.
const MAX_FILE_WORKERS: usize = 4;

impl ConfigServer {
    /// A config server over the running configuration, resolving devices through `resolver`.
    pub fn new(
        config: Arc<ArcSwap<Snapshot>>,
        resolver: Arc<dyn DeviceResolver>,
        memo: Arc<DeviceMemo>,
        counters: Arc<Counters>,
    ) -> ConfigServer {
        let files = Arc::new(FileService::new(
            config,
            resolver,
            Generators::default(),
            counters,
        ));
        ConfigServer {
            tftp: tftp::TftpServer::new(files.clone()),
            http: http::HttpServer::new(files.clone()),
            files,
            memo,
            services: None,
            runtime: std::sync::OnceLock::new(),
        }
    }

    /// The named generators (native ones; `[[plugin]]` generators come from the snapshot's hooks).
    pub fn generators(&self) -> &Generators {
        self.files.generators()
    }

    /// TFTP transfers and HTTP connections in flight.
    pub fn active_transfers(&self) -> usize {
        self.tftp.active() + self.http.active()
    }

    /// The config server over the shared state, resolving devices through
    /// the device registry the DHCP servers feed.
    pub fn open(shared: &Shared) -> Arc<ConfigServer> {
        let mut cs = ConfigServer::new(
            shared.config.clone(),
            shared.devices.clone(),
            shared.devices.memo.clone(),
            shared.counters.clone(),
        );
        cs.files
            .set_timeline(shared.timeline.clone(), shared.devices.memo.clone());
        cs.services = Some(shared.services.clone());
        Arc::new(cs)
    }
}

impl Component for ConfigServer {
    fn name(&self) -> &'static str {
        "configsrv"
    }

    /// Binds the `[tftp]` and `[http]` listeners of `snap` and serves them until `stop`.
    fn start(self: Arc<Self>, snap: &Snapshot, ctx: &StartContext) -> Result<Started, ServerError> {
        let mut started = Started::default();
        if snap.config_server.tftp_listen.is_empty() && snap.config_server.http_listen.is_empty() {
            return Ok(started);
        }
        if self.runtime.get().is_none() {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(ctx.workers.clamp(1, MAX_FILE_WORKERS))
                .thread_name("headend-files")
                .enable_all()
                .build()?;
            // Set by a concurrent start: this one is shut down by its Drop.
            let _ = self.runtime.set(FilesRuntime(Some(rt)));
        }
        let Some(rt) = self.runtime.get() else {
            return Ok(started);
        };
        let Some(handle) = rt.handle().cloned() else {
            return Ok(started);
        };
        // Sockets belong to the runtime whose reactor they are made in.
        let _in_files = handle.enter();
        let (mut tftp_bound, mut http_bound) = (Vec::new(), Vec::new());
        for addr in &snap.config_server.tftp_listen {
            let sock = tftp::bind(*addr)?;
            started.bound.push(sock.local_addr()?);
            tftp_bound.push(sock.local_addr()?);
            let serve = self.tftp.clone().serve(sock, ctx.stop.clone());
            started.tasks.push(handle.spawn(async move {
                serve.await;
                Ok(())
            }));
        }
        for addr in &snap.config_server.http_listen {
            let l = tcp_listen(*addr)?;
            started.bound.push(l.local_addr()?);
            http_bound.push(l.local_addr()?);
            let serve = self.http.clone().serve(l, ctx.stop.clone());
            started.tasks.push(handle.spawn(async move {
                serve.await;
                Ok(())
            }));
        }
        if let Some(s) = &self.services {
            s.set_listeners(tftp_bound, http_bound);
        }
        Ok(started)
    }

    fn restart_needed(&self, old: &Snapshot, new: &Snapshot) -> Vec<String> {
        headend_model::configsrv::restart_change(&old.config_server, &new.config_server)
            .into_iter()
            .collect()
    }

    fn in_flight(&self) -> usize {
        self.active_transfers()
    }

    fn apply(&self, _now: &Arc<Snapshot>) {
        self.files.reloaded();
    }

    fn metrics(&self, m: &mut crate::metrics::Metrics) {
        use std::sync::atomic::Ordering::Relaxed;
        let t = self.tftp.stats();
        for (what, v) in [
            ("request", &t.requests),
            ("download", &t.downloads),
            ("upload", &t.uploads),
            ("failed", &t.failed),
            ("retransmit", &t.retransmits),
            ("duplicate_ack", &t.duplicate_acks),
        ] {
            m.counter("tftp_events_total", &[("event", what)], v.load(Relaxed));
        }
        let h = self.http.stats();
        m.counter(
            "http_responses_total",
            &[("result", "ok")],
            h.ok.load(Relaxed),
        );
        m.counter(
            "http_responses_total",
            &[("result", "error")],
            h.errors.load(Relaxed),
        );
        let f = self.files.stats();
        m.counter(
            "config_files_generated_total",
            &[],
            f.generated.load(Relaxed),
        );
        m.counter(
            "config_file_cache_hits_total",
            &[],
            f.cache_hits.load(Relaxed),
        );
        m.gauge("config_files_cached", &[], self.files.cached() as u64);
        m.counter("static_file_hits_total", &[], f.static_hits.load(Relaxed));
        m.counter("static_file_reads_total", &[], f.static_reads.load(Relaxed));
        let (files, bytes) = self.files.static_cached();
        m.gauge("static_files_cached", &[], files as u64);
        m.gauge("static_file_cache_bytes", &[], bytes as u64);
        m.gauge(
            "static_file_budget_held_bytes",
            &[],
            self.files.static_budget_held() as u64,
        );
        m.gauge(
            "config_transfers_active",
            &[],
            self.active_transfers() as u64,
        );
    }
}
