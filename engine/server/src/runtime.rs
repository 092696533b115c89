//! The running server: opens the store, loads every account into memory,
//! builds the protocol servers (each a [`Component`]: DHCPv4, DHCPv6, the
//! TFTP/HTTP config server, RFC 868 Time, the syslog receiver) from the shared state, starts them, ticks them,
//! collects their counters and keeps the configuration current.
//!
//! Rolling reload: `SIGHUP` (or [`Server::reload`]) loads and validates the
//! configuration file into a new snapshot; only a valid snapshot that
//! changes nothing restart-only (the store path, or what a component says
//! needs a restart: its listeners) is swapped in, and
//! the old one keeps serving otherwise. Packets in flight finish under the
//! snapshot they started with.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use headend_model::config::ConfigErrors;
use headend_model::plugins::Hooks;
use headend_model::snapshot::{restart_error, Snapshot};
use headend_store::group::GroupOptions;
use headend_store::{GroupCommitter, Mutation, SledStore, Store};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::accounts::AccountTable;
use crate::component::{Component, StartContext};
use crate::configsrv::ConfigServer;
use crate::counters::Counters;
use crate::dhcpv4::Dhcpv4;
use crate::dhcpv6::Dhcpv6;
use crate::shared::{system_clock, Clock, Shared};

/// How long a stopping server lets TFTP/HTTP transfers in flight finish.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

pub use crate::component::ServerError;

/// How long the store may refuse commits before the server stops with an
/// error for its supervisor to restart it (offers stop at the first failure).
pub const STORE_DOWN_EXIT: Duration = Duration::from_secs(30);

/// A server with its state loaded, ready to run.
pub struct Server {
    path: PathBuf,
    config: Arc<ArcSwap<Snapshot>>,
    store: Arc<dyn Store>,
    committer: Arc<GroupCommitter>,
    dhcpv4: Arc<Dhcpv4>,
    dhcpv6: Arc<Dhcpv6>,
    configsrv: Arc<ConfigServer>,
    syslog: Arc<crate::syslog::Syslog>,
    timeline: Arc<crate::shared::timeline::Timeline>,
    /// Every protocol server, in start order (the three above among them).
    components: Vec<Arc<dyn Component>>,
    events: Arc<crate::events::EventSink>,
    devices: Arc<crate::shared::Devices>,
    counters: Arc<Counters>,
    store_health: crate::shared::StoreHealth,
    generation: parking_lot::Mutex<u64>,
    loaded_at: parking_lot::Mutex<std::time::SystemTime>,
    accounts: Arc<AccountTable>,
    /// The control channel (answers `headend device show` with this server's picture).
    control: Arc<crate::control::Control>,
    /// The operators' fixed bindings (in the store), merged into every snapshot.
    stored_fixed: parking_lot::Mutex<Vec<headend_store::FixedBinding4>>,
    /// The operators' DHCPv6 reservations (in the store), in every snapshot.
    reservations6: parking_lot::Mutex<Vec<headend_store::Reservation6>>,
    hook_factory: Option<HookFactory>,
    reload_gate: Option<ReloadGate>,
    /// The cluster agent, when this node is one of several (`[cluster]`).
    cluster: parking_lot::Mutex<Option<Arc<crate::cluster::Agent>>>,
    /// Which buckets this node answers (all, outside a cluster).
    membership: Option<Arc<crate::cluster::Membership>>,
}

/// Puts the operators' fixed bindings (under the file's) and DHCPv6
/// reservations into `snap`; a binding the file overrides is logged.
fn merge_operators(
    snap: &mut Snapshot,
    fixed: &[headend_store::FixedBinding4],
    reservations6: &[headend_store::Reservation6],
) {
    for (f, why) in snap.merge_stored_fixed(fixed) {
        warn!(ip = %f.ip, client = %f.client.to_hex(), relay = %f.relay, "stored fixed binding not applied: {why}");
    }
    snap.reservations6 = Arc::new(headend_model::snapshot::Reservations6::new(reservations6));
}

/// Every stored DHCPv6 reservation (an undecodable record is skipped and logged).
fn load_reservations6(store: &dyn Store) -> Result<Vec<headend_store::Reservation6>, ServerError> {
    Ok(store
        .records(headend_store::RecordTable::Reservations6, None, usize::MAX)?
        .into_iter()
        .filter_map(|(k, v)| match serde_json::from_slice(&v) {
            Ok(r) => Some(r),
            Err(e) => {
                warn!(key = %k, error = %e, "undecodable DHCPv6 reservation skipped");
                None
            }
        })
        .collect())
}

/// A last check of a reloaded snapshot, after it loaded and its plugins
/// passed, before it is installed (the binary runs its synthetic devices
/// here); an error refuses the reload and the running snapshot stays.
pub type ReloadGate = Arc<dyn Fn(&Path, &Snapshot) -> Result<(), ConfigErrors> + Send + Sync>;

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
        mut snap: Snapshot,
        store: Arc<dyn Store>,
        clock: Clock,
    ) -> Result<Server, ServerError> {
        let started = Instant::now();
        let stored_fixed = store.load_fixed4()?;
        let reservations6 = load_reservations6(&*store)?;
        merge_operators(&mut snap, &stored_fixed, &reservations6);
        let accounts = store.load_accounts()?;
        let n_accounts = accounts.len();
        let commit_window = snap.commit_window;
        let timeline_mode = snap.timeline;
        let snap_event_buffer = snap
            .management
            .as_ref()
            .map_or(crate::bus::DEFAULT_BUFFER, |m| m.event_buffer);
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
        let events = Arc::new(crate::events::EventSink::new(
            accounts.clone(),
            committer.clone(),
            counters.clone(),
        ));
        let bus = Arc::new(crate::bus::Bus::new(snap_event_buffer));
        events.set_bus(bus.clone());
        let timeline = Arc::new(crate::shared::timeline::Timeline::default().with_bus(bus));
        timeline.set_mode(timeline_mode);
        let shared = Shared {
            config: config.clone(),
            store: store.clone(),
            accounts,
            counters: counters.clone(),
            clock,
            devices: Arc::default(),
            events: events.clone(),
            services: Arc::default(),
            timeline: timeline.clone(),
            store_health: crate::shared::StoreHealth::new(committer.health(), store.clone()),
            ddns: Arc::default(),
        };
        // DHCPv4 and DHCPv6 register with the device registry the config
        // server resolves through, so they are built first.
        let dhcpv4 = Dhcpv4::open(&shared)?;
        let dhcpv6 = Dhcpv6::open(&shared)?;
        let configsrv = ConfigServer::open(&shared);
        let syslog = crate::syslog::Syslog::open(&shared);
        // The provisioning server generates files through the config server
        // without depending on it.
        shared.services.set_files(configsrv.files.clone());
        let control = crate::control::Control::open(&shared);
        // Every protocol server, in start order.
        let components: Vec<Arc<dyn Component>> = vec![
            // First: it takes jobs (and queues the stored ones) before the
            // DHCP servers make new ones.
            crate::ddns::Ddns::open(&shared),
            dhcpv4.clone(),
            dhcpv6.clone(),
            configsrv.clone(),
            crate::tod::Tod::open(&shared),
            syslog.clone(),
            crate::snmp::Snmp::open(&shared),
            control.clone(),
            // a new component: one line here
        ];
        info!(
            leases = dhcpv4.leases.lock().len(),
            accounts = n_accounts,
            ms = started.elapsed().as_millis() as u64,
            "state loaded"
        );
        let skipped = store.skipped_records();
        if skipped > 0 {
            // Degraded, not down: every readable binding is served.
            tracing::error!(
                skipped,
                "the store holds undecodable records, skipped; serving the rest. Run `headend store check` (and `store repair`)"
            );
        }
        Ok(Server {
            path: path.to_path_buf(),
            config,
            store,
            committer,
            dhcpv4,
            dhcpv6,
            configsrv,
            syslog,
            timeline,
            components,
            events,
            devices: shared.devices.clone(),
            accounts: shared.accounts.clone(),
            stored_fixed: parking_lot::Mutex::new(stored_fixed),
            reservations6: parking_lot::Mutex::new(reservations6),
            control,
            loaded_at: parking_lot::Mutex::new(std::time::SystemTime::now()),
            counters,
            store_health: shared.store_health.clone(),
            generation: parking_lot::Mutex::new(1),
            hook_factory: None,
            reload_gate: None,
            cluster: parking_lot::Mutex::new(None),
            membership: None,
        })
    }

    /// Joins the cluster of `[cluster]` through `coord`: registers, takes
    /// this node's buckets (loading leases written by other nodes) and
    /// answers only those from then on (see [`crate::cluster`]);
    /// `on_epoch` gets every epoch, for the store to fence its writes.
    /// Without `[cluster]` it does nothing.
    pub fn start_cluster(
        &mut self,
        coord: Box<dyn headend_store::cluster::Coordinator>,
        on_epoch: Box<dyn Fn(i64) + Send>,
    ) -> Result<(), crate::cluster::ClusterError> {
        let snap = self.config.load_full();
        let Some(settings) = snap.cluster.clone() else {
            return Ok(());
        };
        let membership = Arc::new(crate::cluster::Membership::new());
        self.dhcpv4.set_cluster(membership.clone());
        self.dhcpv6.set_cluster(membership.clone());
        let agent = crate::cluster::Agent::start(
            settings,
            snap.config_hash.clone(),
            coord,
            crate::cluster::Hooks {
                load4: {
                    let d4 = self.dhcpv4.clone();
                    Box::new(move |leases: &[headend_store::Lease4]| {
                        let mut t = d4.leases.lock();
                        for l in leases {
                            if t.lease(l.ip) != Some(l) {
                                t.bind(l.clone());
                            }
                        }
                    })
                },
                load6: {
                    let d6 = self.dhcpv6.clone();
                    Box::new(move |leases: &[headend_store::Lease6]| {
                        let mut t = d6.leases.lock();
                        for l in leases {
                            t.bind(l.clone());
                        }
                    })
                },
                config_hash: {
                    let config = self.config.clone();
                    Box::new(move || config.load().config_hash.clone())
                },
                committer: self.committer.clone(),
                on_epoch,
            },
            membership.clone(),
        )?;
        *self.cluster.lock() = Some(Arc::new(agent));
        self.membership = Some(membership);
        Ok(())
    }

    /// The cluster agent, when this node is one of several.
    pub fn cluster_agent(&self) -> Option<Arc<crate::cluster::Agent>> {
        self.cluster.lock().clone()
    }

    /// This node's cluster membership, when it is one of several.
    pub fn membership(&self) -> Option<&Arc<crate::cluster::Membership>> {
        self.membership.as_ref()
    }

    /// Before a stop: hands this node's buckets to the live nodes (waits
    /// up to `within`), then stops its heartbeat. Blocks: call it off the
    /// tokio workers.
    pub fn leave_cluster(&self, within: Duration) {
        let agent = self.cluster.lock().take();
        if let Some(a) = agent {
            a.leave(within);
            a.stop();
        }
    }

    /// Sets the factory that builds plugin hooks for every snapshot and
    /// applies it to the running one; on error nothing changes.
    pub fn set_hook_factory(&mut self, factory: HookFactory) -> Result<(), ConfigErrors> {
        let current = self.config.load_full();
        let hooks = factory(&current)?;
        let mut next = Snapshot::clone_with_hooks(&current, hooks);
        next.generation = current.generation;
        self.install(Arc::new(next));
        self.hook_factory = Some(factory);
        Ok(())
    }

    /// Sets the check every reload must also pass ([`ReloadGate`]).
    pub fn set_reload_gate(&mut self, gate: ReloadGate) {
        self.reload_gate = Some(gate);
    }

    /// The DHCPv4 service (for in-process use and tests).
    pub fn dhcpv4(&self) -> &Arc<Dhcpv4> {
        &self.dhcpv4
    }

    /// The DHCPv6 service (flow-source hook, `explain`, tests).
    pub fn dhcpv6(&self) -> &Arc<Dhcpv6> {
        &self.dhcpv6
    }

    /// The TFTP/HTTP config server (generators, transfer log, `resolve_file`).
    pub fn config_server(&self) -> &Arc<ConfigServer> {
        &self.configsrv
    }

    /// The syslog management-event receiver.
    pub fn syslog(&self) -> &Arc<crate::syslog::Syslog> {
        &self.syslog
    }

    /// The event bus (leases, provisioning steps, account changes, …).
    pub fn bus(&self) -> &Arc<crate::bus::Bus> {
        self.timeline.bus()
    }

    /// Every device's provisioning timeline (in memory).
    pub fn timeline(&self) -> &Arc<crate::shared::timeline::Timeline> {
        &self.timeline
    }

    /// Hands a management event to the mem-event plugin and applies its
    /// actions (seed 000 section 6.5), as the syslog receiver does through
    /// `Shared::events`; for the SNMP receiver, operator tools and tests.
    pub fn mem_event(
        &self,
        event: &headend_abi::MemEvent,
    ) -> Result<crate::events::EventOutcome, crate::events::EventError> {
        let now = self.dhcpv4.now();
        self.events.handle(&self.config.load(), event, now, true)
    }

    /// The management-event sink (published events).
    pub fn events(&self) -> &Arc<crate::events::EventSink> {
        &self.events
    }

    /// The device registry (tools and tests register static resolvers).
    pub fn devices(&self) -> &Arc<crate::shared::Devices> {
        &self.devices
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

    /// The group committer every durable change goes through.
    pub fn committer(&self) -> &Arc<GroupCommitter> {
        &self.committer
    }

    /// The in-memory account table (stored accounts).
    pub fn accounts(&self) -> &Arc<AccountTable> {
        &self.accounts
    }

    /// The configuration file the server runs.
    pub fn config_path(&self) -> &Path {
        &self.path
    }

    /// When the running snapshot was installed (start or last reload).
    pub fn loaded_at(&self) -> std::time::SystemTime {
        *self.loaded_at.lock()
    }

    /// The server's clock (Unix seconds), as leases are timed.
    pub fn now(&self) -> headend_store::UnixTime {
        self.dhcpv4.now()
    }

    /// Reloads the configuration file; on error the running snapshot stays.
    pub fn reload(&self) -> Result<u64, ConfigErrors> {
        let mut gen = self.generation.lock();
        let next = *gen + 1;
        let new = self.candidate(Snapshot::load(&self.path, next)?)?;
        self.install(Arc::new(new));
        *gen = next;
        *self.loaded_at.lock() = std::time::SystemTime::now();
        Ok(next)
    }

    /// Everything held of device `mac` (`aa:bb:…`) besides its timeline:
    /// its account, DHCPv4 leases and DHCPv6 bindings. `headend device
    /// show` and the management API both answer with it.
    pub fn device_picture_of(
        &self,
        mac: &str,
    ) -> Result<crate::control::DevicePicture, headend_store::StoreError> {
        let snap = self.snapshot();
        let (account, account_from_config) = match snap.accounts.get(mac) {
            Some(a) => (Some(a.clone()), true),
            None => (self.accounts.get(mac), false),
        };
        let leases = match headend_model::snapshot::parse_hex(mac) {
            Some(bytes) if bytes.len() == 6 => self
                .store
                .leases4_by_client(&headend_store::ClientKey::from_hardware(1, &bytes))?,
            _ => Vec::new(),
        };
        Ok(crate::control::DevicePicture {
            mac: mac.to_string(),
            account,
            account_from_config,
            leases,
            leases6: self.dhcpv6.bindings_of_mac(mac),
        })
    }

    /// The operators' fixed bindings (from the store).
    pub fn stored_fixed(&self) -> Vec<headend_store::FixedBinding4> {
        self.stored_fixed.lock().clone()
    }

    /// Installs the running snapshot again with `list` as the operators'
    /// fixed bindings (once the store holds them): the next exchange of
    /// the client gets its address, and the allocator reserves it.
    pub fn set_stored_fixed(&self, list: Vec<headend_store::FixedBinding4>) {
        self.reinstall(|| *self.stored_fixed.lock() = list);
    }

    /// The operators' DHCPv6 reservations (from the store).
    pub fn reservations6(&self) -> Vec<headend_store::Reservation6> {
        self.reservations6.lock().clone()
    }

    /// Installs the running snapshot again with `list` as the DHCPv6
    /// reservations (once the store holds them).
    pub fn set_reservations6(&self, list: Vec<headend_store::Reservation6>) {
        self.reinstall(|| *self.reservations6.lock() = list);
    }

    /// Applies `change` to the operators' records and installs the running
    /// snapshot again with them, under the reload lock (a reload in flight
    /// merges the new records too).
    fn reinstall(&self, change: impl FnOnce()) {
        let _gen = self.generation.lock();
        change();
        let mut next = (*self.config.load_full()).clone();
        merge_operators(
            &mut next,
            &self.stored_fixed.lock(),
            &self.reservations6.lock(),
        );
        self.install(Arc::new(next));
    }

    /// Validates configuration text as a reload of it would (parse, every
    /// section, what only a restart can change, the plugins, the reload
    /// gate), without installing it: the management API's "validate".
    /// Relative paths resolve against the running file's directory.
    pub fn validate_text(&self, text: &str) -> Result<(), ConfigErrors> {
        let src = headend_model::source::SourceFile::new(self.path.clone(), text.to_string());
        let gen = *self.generation.lock() + 1;
        self.candidate(Snapshot::from_source(&src, gen)?).map(drop)
    }

    /// The checks a loaded snapshot passes before it may be installed
    /// (with the operators' fixed bindings merged in first).
    fn candidate(&self, mut new: Snapshot) -> Result<Snapshot, ConfigErrors> {
        merge_operators(
            &mut new,
            &self.stored_fixed.lock(),
            &self.reservations6.lock(),
        );
        self.check_reloadable(&new)?;
        if let Some(f) = &self.hook_factory {
            new.hooks = f(&new)?;
        }
        if let Some(g) = &self.reload_gate {
            g(&self.path, &new)?;
        }
        Ok(new)
    }

    /// Refuses a snapshot that changes the store path or anything a
    /// component can only apply by restarting.
    fn check_reloadable(&self, new: &Snapshot) -> Result<(), ConfigErrors> {
        let old = self.config.load();
        let mut errors = old.check_reloadable(new).err().map_or(Vec::new(), |e| e.0);
        // The management listeners are bound by the binary at start.
        if let Some(m) = headend_model::management::restart_change(
            old.management.as_ref(),
            new.management.as_ref(),
        ) {
            errors.push(restart_error(new, m));
        }
        for c in &self.components {
            for m in c.restart_needed(&old, new) {
                errors.push(restart_error(new, m));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Swaps `next` in: every component prepares for it, the running
    /// snapshot is replaced, every component follows.
    fn install(&self, next: Arc<Snapshot>) {
        for c in &self.components {
            c.prepare(&next);
        }
        self.config.store(next.clone());
        self.timeline.set_mode(next.timeline);
        for c in &self.components {
            c.apply(&next);
        }
    }

    /// Binds the listeners and serves until `stop` resolves. `ready` is
    /// called with the bound addresses once every listener is open. On
    /// `stop` the listeners close, TFTP/HTTP transfers in flight finish
    /// (at most [`DRAIN_TIMEOUT`]), and queued lease commits are made
    /// durable and their replies sent before this returns.
    pub async fn run(
        self,
        ready: impl FnOnce(&[SocketAddr]),
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), ServerError> {
        Arc::new(self).run_shared(ready, stop).await
    }

    /// [`Server::run`] for a server others hold too (the management API
    /// reads it while it runs).
    pub async fn run_shared(
        self: Arc<Self>,
        ready: impl FnOnce(&[SocketAddr]),
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), ServerError> {
        let snap = self.snapshot();
        let me: Arc<dyn crate::control::DevicePictures> = self.clone();
        self.control.set_server(Arc::downgrade(&me));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut bound = Vec::new();
        let mut tasks = Vec::new();
        // One receiving task per runtime worker and socket: every worker can
        // drain a socket under load, and `run --workers` sets both at once.
        let ctx = StartContext {
            stop: stop_rx.clone(),
            workers: tokio::runtime::Handle::current().metrics().num_workers(),
            committer: self.committer.clone(),
        };
        for c in &self.components {
            let started = c.clone().start(&snap, &ctx)?;
            bound.extend(started.bound);
            tasks.extend(started.tasks);
        }
        ready(&bound);
        info!(listeners = ?bound, "serving");

        let me = self;
        // Set when the store stayed unhealthy for STORE_DOWN_EXIT: the run
        // ends with an error, so a supervisor restarts the process and the
        // store is opened afresh (sled refuses every write after an I/O
        // error until it is reopened).
        let (store_dead_tx, store_dead) = tokio::sync::oneshot::channel::<()>();
        let sweeper = {
            let me = me.clone();
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                let mut down_since: Option<Instant> = None;
                let mut store_dead_tx = Some(store_dead_tx);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {
                            // Sweeps take locks and may write: off the
                            // runtime workers that serve packets.
                            let m = me.clone();
                            let _ = tokio::task::spawn_blocking(move || {
                                m.components.iter().for_each(|c| c.tick());
                            })
                            .await;
                            if me.store_health.healthy() {
                                down_since = None;
                                continue;
                            }
                            // Probe: a small write tells when commits work again.
                            me.committer.submit_nowait(vec![Mutation::PutMeta {
                                key: "store-probe".into(),
                                value: crate::shared::timeline::now_ms().to_be_bytes().to_vec(),
                            }]);
                            let since = *down_since.get_or_insert_with(Instant::now);
                            if since.elapsed() >= STORE_DOWN_EXIT {
                                if let Some(tx) = store_dead_tx.take() {
                                    error!(seconds = STORE_DOWN_EXIT.as_secs(), "the store has not taken a commit for too long; stopping so that the supervisor restarts headend");
                                    let _ = tx.send(());
                                }
                            }
                        }
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
                        // File I/O, Rhai and wasmtime compilation: on a
                        // blocking thread, never on a worker serving packets.
                        _ = hup.recv() => {
                            let m = me.clone();
                            match tokio::task::spawn_blocking(move || m.reload()).await {
                                Ok(Ok(g)) => info!(generation = g, "configuration reloaded"),
                                Ok(Err(e)) => error!("configuration rejected, the running one stays:\n{e}"),
                                Err(e) => error!(error = %e, "configuration reload failed; the running one stays"),
                            }
                        },
                        _ = usr1.recv() => me.log_counters(),
                        _ = stop.changed() => break,
                    }
                }
            })
        };

        let store_failed = tokio::select! {
            () = stop => false,
            r = store_dead => r.is_ok(),
        };
        info!("stopping: listeners closed");
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        let _ = sweeper.await;
        let _ = signals.await;
        // No new request is taken now; work already running (TFTP/HTTP
        // transfers) gets a bounded time to finish: a stuck client must not
        // hold up a stop.
        let in_flight = || me.components.iter().map(|c| c.in_flight()).sum::<usize>();
        let drain_until = Instant::now() + DRAIN_TIMEOUT;
        while in_flight() > 0 && Instant::now() < drain_until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = in_flight();
        if left > 0 {
            warn!(in_flight = left, "stopping with transfers unfinished");
        }
        me.log_counters();
        if let Err(e) = me.committer.flush_blocking() {
            error!(error = %e, "final store flush failed");
        }
        if store_failed {
            return Err(ServerError::StoreDown(STORE_DOWN_EXIT.as_secs()));
        }
        Ok(())
    }

    /// Logs every counter at info level: the shared counters, each
    /// component's own, the plugin hooks'.
    pub fn log_counters(&self) {
        let line = self.metrics().log_line();
        info!(counters = %line, "counters");
    }

    /// Every counter and gauge of the server: the shared counters, each
    /// component's own, the store's group commit and the plugins'.
    pub fn metrics(&self) -> crate::metrics::Metrics {
        let mut m = crate::metrics::Metrics::new();
        self.counters.collect(&mut m);
        for c in &self.components {
            c.metrics(&mut m);
        }
        if let Some(c) = &self.membership {
            let st = c.status();
            m.gauge("cluster_buckets_served", &[], c.served().len() as u64);
            m.counter(
                "cluster_left_to_owner_total",
                &[],
                c.not_ours.load(std::sync::atomic::Ordering::Relaxed),
            );
            m.gauge("cluster_epoch", &[], u64::try_from(st.epoch).unwrap_or(0));
            let live = st.view.nodes.iter().filter(|n| n.live).count();
            m.gauge("cluster_nodes_live", &[], live as u64);
            let hashes: std::collections::BTreeSet<&str> = st
                .view
                .nodes
                .iter()
                .filter(|n| n.live)
                .map(|n| n.config_hash.as_str())
                .collect();
            m.gauge("cluster_config_hashes", &[], hashes.len() as u64);
        }
        let g = self.committer.stats();
        m.counter("store_commit_groups_total", &[], g.groups);
        m.counter("store_commit_batches_total", &[], g.batches);
        m.counter("store_committed_mutations_total", &[], g.mutations);
        m.gauge("store_commit_largest_group", &[], g.max_group);
        m.counter(
            "store_commit_failures_total",
            &[("reason", "failed")],
            g.failures,
        );
        m.counter(
            "store_commit_failures_total",
            &[("reason", "retried_one_by_one")],
            g.fallbacks,
        );
        m.counter(
            "store_commit_failures_total",
            &[("reason", "rejected")],
            g.rejected,
        );
        m.counter(
            "store_commit_failures_total",
            &[("reason", "dropped")],
            g.dropped,
        );
        m.gauge("store_skipped_records", &[], self.store.skipped_records());
        m.gauge(
            "store_commit_longest_us",
            &[],
            u64::try_from(g.max_commit.as_micros()).unwrap_or(u64::MAX),
        );
        for (name, v) in self.config.load().hooks.counters() {
            // `plugin.<name>.<counter>`, as the plugin host names them.
            let mut parts = name.splitn(3, '.');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("plugin"), Some(plugin), Some(what)) => {
                    m.counter("plugin_total", &[("plugin", plugin), ("counter", what)], v)
                }
                _ => m.counter("plugin_total", &[("counter", &name)], v),
            }
        }
        m
    }
}

impl crate::control::DevicePictures for Server {
    fn device_picture(
        &self,
        mac: &str,
    ) -> Result<crate::control::DevicePicture, headend_store::StoreError> {
        self.device_picture_of(mac)
    }
}
