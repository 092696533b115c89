//! The running server: opens the store, loads every lease and account into
//! memory, binds the listeners, and keeps the configuration current.
//!
//! Rolling reload: `SIGHUP` (or [`Server::reload`]) loads and validates the
//! configuration file into a new snapshot; only a valid snapshot that
//! changes nothing restart-only (listeners, store path) is swapped in, and
//! the old one keeps serving otherwise. Packets in flight finish under the
//! snapshot they started with.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use headend_model::config::ConfigErrors;
use headend_model::plugins::Hooks;
use headend_model::snapshot::Snapshot;
use headend_store::group::GroupOptions;
use headend_store::{GroupCommitter, SledStore, Store, StoreError};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::accounts::AccountTable;
use crate::counters::Counters;
use crate::dhcpv4::process::pool_specs;
use crate::dhcpv4::{socket, Dhcpv4};
use crate::leases::LeaseTable;
use crate::shared::{system_clock, Clock};

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
}

/// A server with its state loaded, ready to run.
pub struct Server {
    path: PathBuf,
    config: Arc<ArcSwap<Snapshot>>,
    store: Arc<dyn Store>,
    committer: Arc<GroupCommitter>,
    dhcpv4: Arc<Dhcpv4>,
    dhcpv6: Arc<crate::dhcpv6::Dhcpv6>,
    configsrv: Arc<crate::configsrv::ConfigServer>,
    events: Arc<crate::events::EventSink>,
    counters: Arc<Counters>,
    generation: parking_lot::Mutex<u64>,
    hook_factory: Option<HookFactory>,
}

/// Builds the plugin hooks of a snapshot (the binary supplies one backed by
/// `headend-plugin`); an error rejects the snapshot, so a reload with a broken
/// plugin keeps the running configuration.
pub type HookFactory = Arc<dyn Fn(&Snapshot) -> Result<Arc<dyn Hooks>, ConfigErrors> + Send + Sync>;

impl Server {
    /// Loads the configuration, opens the embedded store and loads its state.
    pub fn open(path: &Path) -> Result<Server, ServerError> {
        let snap = Snapshot::load(path, 1)?;
        std::fs::create_dir_all(&snap.store_path)?;
        let store: Arc<dyn Store> = Arc::new(SledStore::open(&snap.store_path)?);
        Server::with_store(path, snap, store, system_clock())
    }

    /// Builds a server over any store (tests use the memory store).
    pub fn with_store(
        path: &Path,
        snap: Snapshot,
        store: Arc<dyn Store>,
        clock: Clock,
    ) -> Result<Server, ServerError> {
        let started = Instant::now();
        let leases = store.load_leases4()?;
        let n_leases = leases.len();
        let accounts = store.load_accounts()?;
        let n_accounts = accounts.len();
        let mut table = LeaseTable::new();
        table.set_pools(&pool_specs(&snap));
        table.load(leases, clock());
        info!(
            leases = n_leases,
            accounts = n_accounts,
            ms = started.elapsed().as_millis() as u64,
            "state loaded"
        );
        let commit_window = snap.commit_window;
        let config = Arc::new(ArcSwap::from_pointee(snap));
        let counters = Arc::new(Counters::default());
        let committer = Arc::new(GroupCommitter::start(
            store.clone(),
            GroupOptions {
                max_delay: commit_window,
                ..GroupOptions::default()
            },
        ));
        let accounts = Arc::new(AccountTable::load(accounts));
        let dhcpv6 = Arc::new(crate::dhcpv6::process::open(
            config.clone(),
            &*store,
            accounts.clone(),
            counters.clone(),
            clock.clone(),
        )?);
        let events = Arc::new(crate::events::EventSink::new(
            accounts.clone(),
            committer.clone(),
            counters.clone(),
        ));
        let dhcpv4 = Arc::new(Dhcpv4::new(
            config.clone(),
            table,
            accounts,
            counters.clone(),
            clock,
        ));
        // TFTP/HTTP resolve the requesting address through the DHCPv4 leases and DHCPv6 bindings.
        let memo = Arc::new(crate::configsrv::DeviceMemo::default());
        dhcpv4.set_device_memo(memo.clone());
        dhcpv6.set_device_memo(memo.clone());
        let resolvers = crate::configsrv::Resolvers(vec![
            Arc::new(crate::dhcpv4::resolver::Dhcpv4Resolver::new(
                dhcpv4.clone(),
                memo.clone(),
            )),
            Arc::new(crate::dhcpv6::resolver::Dhcpv6Resolver::new(
                dhcpv6.clone(),
                memo.clone(),
            )),
        ]);
        let configsrv = Arc::new(crate::configsrv::ConfigServer::new(
            config.clone(),
            Arc::new(resolvers),
            memo,
            counters.clone(),
        ));
        Ok(Server {
            path: path.to_path_buf(),
            config,
            store,
            committer,
            dhcpv4,
            dhcpv6,
            configsrv,
            events,
            counters,
            generation: parking_lot::Mutex::new(1),
            hook_factory: None,
        })
    }

    /// Sets the factory that builds plugin hooks for every snapshot and
    /// applies it to the running one; on error nothing changes.
    pub fn set_hook_factory(&mut self, factory: HookFactory) -> Result<(), ConfigErrors> {
        let current = self.config.load_full();
        let hooks = factory(&current)?;
        let mut next = Snapshot::clone_with_hooks(&current, hooks);
        next.generation = current.generation;
        self.dhcpv4.install(Arc::new(next));
        self.hook_factory = Some(factory);
        Ok(())
    }

    /// The DHCPv4 service (for in-process use and tests).
    pub fn dhcpv4(&self) -> &Arc<Dhcpv4> {
        &self.dhcpv4
    }

    /// The DHCPv6 service (flow-source hook, `explain`, tests).
    pub fn dhcpv6(&self) -> &Arc<crate::dhcpv6::Dhcpv6> {
        &self.dhcpv6
    }

    /// The TFTP/HTTP config server (generators, transfer log, `resolve_file`).
    pub fn config_server(&self) -> &Arc<crate::configsrv::ConfigServer> {
        &self.configsrv
    }

    /// Hands a management event to the mem-event plugin and applies its
    /// actions (seed 000 section 6.5); the syslog and SNMP receivers call this.
    pub fn mem_event(
        &self,
        event: &headend_abi::MemEvent,
    ) -> Result<crate::events::EventOutcome, crate::events::EventError> {
        let now = self.dhcpv4.now();
        self.events.handle(&self.config.load(), event, now)
    }

    /// The management-event sink (published events).
    pub fn events(&self) -> &Arc<crate::events::EventSink> {
        &self.events
    }

    /// The counters.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.config.load_full()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Reloads the configuration file; on error the running snapshot stays.
    pub fn reload(&self) -> Result<u64, ConfigErrors> {
        let mut gen = self.generation.lock();
        let next = *gen + 1;
        let mut new = Snapshot::load(&self.path, next)?;
        self.config.load().check_reloadable(&new)?;
        if let Some(f) = &self.hook_factory {
            new.hooks = f(&new)?;
        }
        self.dhcpv4.install(Arc::new(new));
        self.configsrv.files.reloaded();
        *gen = next;
        Ok(next)
    }

    /// Binds the listeners and serves until `stop` resolves. `ready` is
    /// called with the bound addresses once every listener is open.
    pub async fn run(
        self,
        ready: impl FnOnce(&[SocketAddr]),
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), ServerError> {
        let snap = self.snapshot();
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut bound = Vec::new();
        let mut tasks = Vec::new();
        // One receiving task per runtime worker and socket: every worker can
        // drain a socket under load, and `run --workers` sets both at once.
        let workers = tokio::runtime::Handle::current().metrics().num_workers();
        if let Some(d4) = &snap.dhcpv4 {
            for addr in &d4.listen {
                let SocketAddr::V4(a4) = addr else { continue };
                let sock = socket::open(*a4, d4.interface.as_deref(), d4.receive_buffer)?;
                let local = match sock.local_addr()? {
                    SocketAddr::V4(l) => l,
                    SocketAddr::V6(_) => *a4,
                };
                bound.push(SocketAddr::V4(local));
                tasks.push(tokio::spawn(crate::udp::serve(
                    self.dhcpv4.clone(),
                    self.committer.clone(),
                    sock,
                    local,
                    workers,
                    stop_rx.clone(),
                )));
            }
        }
        if let Some(d6) = &snap.dhcpv6 {
            for addr in &d6.listen {
                let SocketAddr::V6(a6) = addr else { continue };
                let sock = crate::dhcpv6::socket::open(*a6, d6.receive_buffer, &d6.interfaces)?;
                bound.push(sock.local_addr()?);
                tasks.push(tokio::spawn(crate::udp::serve(
                    self.dhcpv6.clone(),
                    self.committer.clone(),
                    sock,
                    crate::dhcpv6::socket::LinkCache::default(),
                    workers,
                    stop_rx.clone(),
                )));
            }
        }
        let (cs_bound, cs_tasks) = self.configsrv.start(&snap, &stop_rx).await?;
        bound.extend(cs_bound);
        tasks.extend(cs_tasks);
        ready(&bound);
        info!(listeners = ?bound, "serving");

        let me = Arc::new(self);
        let sweeper = {
            let me = me.clone();
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        _ = tick.tick() => { me.dhcpv4.sweep(); me.dhcpv6.sweep(); }
                        _ = stop.changed() => break,
                    }
                }
            })
        };
        let signals = {
            let me = me.clone();
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                let (Ok(mut hup), Ok(mut usr1)) = (
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()),
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()),
                ) else {
                    warn!(
                        "cannot install SIGHUP/SIGUSR1 handlers; reload by signal is unavailable"
                    );
                    return;
                };
                loop {
                    tokio::select! {
                        _ = hup.recv() => match me.reload() {
                            Ok(g) => info!(generation = g, "configuration reloaded"),
                            Err(e) => error!("configuration rejected, the running one stays:\n{e}"),
                        },
                        _ = usr1.recv() => me.log_counters(),
                        _ = stop.changed() => break,
                    }
                }
            })
        };

        stop.await;
        info!("stopping");
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        let _ = sweeper.await;
        let _ = signals.await;
        me.log_counters();
        if let Err(e) = me.committer.flush_blocking() {
            error!(error = %e, "final store flush failed");
        }
        Ok(())
    }

    /// Logs every counter at info level.
    pub fn log_counters(&self) {
        let line = self
            .counters
            .snapshot()
            .into_iter()
            .chain(self.dhcpv6.gauges())
            .chain(self.config.load().hooks.counters())
            .filter(|(_, v)| *v > 0)
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        info!(counters = %line, "counters");
    }
}
