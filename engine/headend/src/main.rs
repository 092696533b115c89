//! The `headend` binary: `run` serves, `check` validates a configuration,
//! `explain` shows what a device would get and why, without a network,
//! `config-file` builds and decodes device configuration files, and `store`
//! seeds and counts the embedded store; `completions` and `man` generate
//! shell completions and man pages from these definitions.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};
use headend_model::snapshot::{normalize_mac, parse_hex, Snapshot};
use headend_server::runtime::Server;

/// `println!` for the commands that print reports (explain, config-file,
/// device, store): a reader that closes the pipe (`headend explain … | head`)
/// ends the command quietly instead of the standard macro's panic and exit
/// code 101. (Restoring SIGPIPE's default would need `unsafe`.)
macro_rules! println {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($t)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

mod config_file;
mod device;
mod explain;
mod logging;
mod notify;
mod plugin_cmd;
mod plugins;
mod policy_test;
mod prove;
mod seed;
mod store_kv;
mod store_tools;
mod users_cli;

// Per-packet work allocates small objects at a high rate; mimalloc is
// markedly faster than glibc malloc for that pattern.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The version line: the crate version and the git commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("HEADEND_GIT_COMMIT"),
    ")"
);

/// How long the runtime waits for blocking work (a plugin compile, a file
/// generation) after the server has stopped, before exiting anyway.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// headend: a provisioning engine for cable operators (DHCPv4, DHCPv6 and
/// TFTP/HTTP config files for DOCSIS and PacketCable devices, with domains,
/// pools, policies, Rhai and WASM plugins).
#[derive(Parser)]
#[command(name = "headend", version = VERSION, about)]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax, e.g. "warn,headend_server=debug"); overrides the configuration's [log]; RUST_LOG overrides both.
    #[arg(long, global = true)]
    log: Option<String>,
    /// Log format: human-readable text, or one JSON object per line for log shippers; overrides [log] format.
    #[arg(long, global = true, value_enum)]
    log_format: Option<logging::LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve DHCPv4, DHCPv6, TFTP and HTTP on the configured listeners until SIGTERM/SIGINT; SIGHUP reloads the configuration, SIGUSR1 logs the counters.
    Run {
        /// Configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Worker threads of the packet path, and receiving tasks per DHCP socket
        /// (default: one per CPU core, or TOKIO_WORKER_THREADS). Storage and
        /// plugin compilation have their own threads.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
        workers: Option<u16>,
    },
    /// Validate a configuration and every Rhai expression in it; print each error with file, line and fix.
    Check {
        /// Configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Dry run: which vendor class, account, domains, pool and options a device with these attributes would get, and why.
    Explain {
        /// Configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The device's MAC (chaddr).
        #[arg(long)]
        mac: String,
        /// The relay agent address (giaddr); omitted = a local-segment client.
        #[arg(long)]
        relay: Option<std::net::Ipv4Addr>,
        /// Extra request options, repeatable: CODE=HEX (55=01037a7d), CODE=TEXT when the value is not hex
        /// (60=docsis3.0:), CODE="TEXT" to force text, and sub-options 43.SUB=VALUE and
        /// 125.ENTERPRISE.SUB=VALUE (125.4491.1=...), assembled into one option 43 / 125.
        #[arg(long = "option", value_name = "CODE=VALUE")]
        options: Vec<String>,
        /// Also boot the same device over DHCPv6 through a Relay-Forward from this CMTS link address (dual stack).
        #[arg(long)]
        link: Option<std::net::Ipv6Addr>,
        /// Print one JSON object (device, each exchange's trace and decoded reply) instead of text.
        #[arg(long)]
        json: bool,
        /// Explain a known device: its account, leases and bindings as the site's store holds them
        /// (asked of the running server, else read from the store), the exchanges made against them,
        /// from its lease's relay unless --relay says otherwise.
        #[arg(long)]
        from_store: bool,
    },
    /// Run a site's policy tests: devices described in TOML test files, and the pool, domains, options
    /// or silence each must get through the configuration's own pipeline; exit status 1 on any failure.
    Test {
        /// Configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Test files, or directories of `*.toml` test files.
        #[arg(required = true)]
        tests: Vec<PathBuf>,
    },
    /// DOCSIS CM and PacketCable MTA/eUE configuration files.
    ConfigFile {
        #[command(subcommand)]
        command: ConfigFileCommand,
    },
    /// Provisioning timelines of devices (asked of the running server, else read from the store).
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Operators of the management API (create them with the server stopped, or through the API as an admin).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Boot-storm simulator and conformance tester: thousands of cable modems, E-UEs and CPE running the
    /// real provisioning flows against any server (also shipped as `headend-sim`); exit status 1 when a
    /// device failed or a reply broke the spec.
    Simulate {
        #[command(flatten)]
        args: Box<headend_sim::cli::Args>,
    },
    /// Write and build WASM plugins: a new plugin crate anywhere on disk, built with whichever wasm toolchain exists.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Store maintenance.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// The nodes sharing this node's database (`[cluster]`).
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Print a shell completion script for this command line to stdout.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages for headend and every subcommand (headend.1, headend-run.1, ...).
    Man {
        /// Directory to write them to (created if missing).
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Every node (live, epoch, version, the hash of the configuration it runs) and the RFC 3074 buckets each owns, from the shared database; says when nodes run different configurations.
    Status {
        /// The configuration file (gives the database).
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum ConfigFileCommand {
    /// Print a config file one TLV per line (names, OIDs, SNMP values) and check its MICs / hash; exit 1 if undecodable, 2 on a MIC or hash mismatch.
    Decode {
        /// The file (.cm / .bin / eUE file).
        file: PathBuf,
        /// CMTS shared secret, to check the CMTS MIC (TLV 7).
        #[arg(long)]
        secret: Option<String>,
    },
    /// Print the file a device would receive by TFTP/HTTP (generated or static), decoded, without a network exchange.
    Show {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The device's MAC address.
        #[arg(long)]
        mac: String,
        /// The requested file name.
        #[arg(long)]
        file: String,
        /// Also write the exact bytes here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// Every provisioning step of a device (CM1…, eUE-1…eUE-25) with its time and outcome, the devices linked to it, and where it is stuck.
    Show {
        /// Configuration file (gives the store, and the control socket in it).
        #[arg(long)]
        config: PathBuf,
        /// The device's MAC.
        #[arg(long)]
        mac: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password (12 bytes or more) is read from standard input.
    Add {
        /// Configuration file (gives the store).
        #[arg(long)]
        config: PathBuf,
        /// Login name.
        name: String,
        /// admin (everything, users), operator (accounts, reloads) or viewer (read only).
        #[arg(long)]
        role: String,
        /// Limit the user to this domain (repeatable): it sees and changes only that partition.
        #[arg(long = "domain")]
        domains: Vec<String>,
    },
    /// Create an API token acting as a user (for an OSS system); printed once.
    Token {
        /// Configuration file (gives the store).
        #[arg(long)]
        config: PathBuf,
        /// The user the token acts as.
        name: String,
        /// Which system will use it.
        #[arg(long)]
        label: String,
    },
    /// List users, roles and scopes.
    List {
        /// Configuration file (gives the store).
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Scaffold a plugin crate in DIR/NAME: Cargo.toml (its own workspace, pinned lock file for
    /// Debian's rustc 1.63), src/lib.rs with the hook and native tests, README.
    New {
        /// Crate and plugin name (lower case, digits, - and _).
        name: String,
        /// The hook it implements.
        #[arg(long, value_enum)]
        hook: plugin_cmd::HookArg,
        /// Directory to create it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The SDK (sdk/ of a headend checkout); default: $HEADEND_SDK, this binary's checkout,
        /// /usr/share/headend/sdk.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Build a plugin crate (or workspace) to DIR/dist/NAME.wasm with rustup's wasm32 target or
    /// Debian's rustc 1.63 (offline, vendored sources), then load it as the server would.
    Build {
        /// The crate's directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Fill the store with synthetic active leases (for benchmarks): COUNT leases from POOL's ranges, to clients 02:00:xx:xx:xx:xx.
    Seed {
        /// Configuration file (gives the store path and the pool).
        #[arg(long)]
        config: PathBuf,
        /// Pool to take addresses from: a `[[pool]]` or a `[[pool6]]` name.
        #[arg(long)]
        pool: String,
        /// How many leases.
        #[arg(long)]
        count: u32,
        /// Give each DHCPv4 lease relay agent information as if relayed by
        /// one of N relay agents (82.12 "relay-<i mod N>"), behind a cable
        /// modem per 4 leases (82.2), on its own circuit (82.1): data for
        /// bulk leasequery by relay id and remote id (0: none).
        #[arg(long, default_value_t = 0)]
        relay_agents: u32,
    },
    /// Print the number of leases and accounts in the store.
    Stats {
        /// Configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// List every record that cannot be read back and every index entry naming no record; exit 1 if any.
    Check {
        /// Configuration file (gives the store path).
        #[arg(long)]
        config: PathBuf,
    },
    /// Move the records `store check` finds to the store's quarantine tree (kept for recovery) and drop dangling index entries.
    Repair {
        /// Configuration file (gives the store path).
        #[arg(long)]
        config: PathBuf,
    },
    /// Write every readable record as one JSON mutation per line.
    Export {
        /// Configuration file (gives the store path).
        #[arg(long)]
        config: PathBuf,
        /// Output file (`-` for standard output).
        #[arg(long, default_value = "-")]
        out: PathBuf,
    },
    /// Create or upgrade the PostgreSQL schema of `[server] database`.
    Migrate {
        /// Configuration file (gives the database).
        #[arg(long)]
        config: PathBuf,
    },
    /// Copy every record from one store to another, empty one, and check them: `sled:PATH` or a `postgres://` URL each.
    Copy {
        /// The source store.
        #[arg(long)]
        from: String,
        /// The destination store (must be empty).
        #[arg(long)]
        to: String,
    },
    /// Apply a file written by `store export` (every line checked first; nothing written if one is bad).
    Import {
        /// Configuration file (gives the store path).
        #[arg(long)]
        config: PathBuf,
        /// The exported file.
        #[arg(long)]
        input: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `run` takes its log settings from the configuration's [log]; the
    // command line overrides them, and RUST_LOG overrides everything.
    let mut settings = match &cli.command {
        Command::Run { config, .. } => match logging::from_config(config) {
            Ok(s) => s,
            Err(errors) => {
                eprintln!("{}", headend_model::config::ConfigErrors(errors));
                return ExitCode::FAILURE;
            }
        },
        // The report is the output: only errors besides it.
        Command::Test { .. } => logging::LogSettings {
            filter: "error".into(),
            ..logging::LogSettings::default()
        },
        _ => logging::LogSettings::default(),
    };
    if let Some(filter) = cli.log {
        settings.filter = filter;
    }
    if let Some(format) = cli.log_format {
        settings.format = format;
    }
    logging::init(&settings);
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("headend: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Check { config } => Ok(check(&config)),
        Command::Run { config, workers } => run(config, workers).map(|()| ExitCode::SUCCESS),
        Command::Explain {
            config,
            mac,
            relay,
            options,
            link,
            json,
            from_store,
        } => {
            let Some(mac) = normalize_mac(&mac).and_then(|m| parse_hex(&m)) else {
                bail!("--mac {mac:?} is not a MAC address");
            };
            let opts = explain::request_options(&options)?;
            let stored = if from_store {
                Some(explain::stored_picture(&config, &mac)?)
            } else {
                None
            };
            if json {
                let report =
                    explain::explain_json(&config, &mac, relay, &opts, link, stored.as_ref())?;
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                explain::explain(&config, &mac, relay, &opts, link, stored.as_ref())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Test { config, tests } => policy_test::run(&config, &tests),
        Command::Simulate { args } => Ok(match headend_sim::cli::run(&args)? {
            true => ExitCode::SUCCESS,
            false => ExitCode::from(1),
        }),
        Command::ConfigFile {
            command: ConfigFileCommand::Decode { file, secret },
        } => config_file::decode(&file, secret.as_deref()),
        Command::ConfigFile {
            command:
                ConfigFileCommand::Show {
                    config,
                    mac,
                    file,
                    out,
                },
        } => config_file::show(&config, &mac, &file, out.as_deref()),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "headend", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { out_dir } => {
            std::fs::create_dir_all(&out_dir)
                .with_context(|| format!("creating {}", out_dir.display()))?;
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::generate_to(cmd, &out_dir)
                .with_context(|| format!("writing man pages to {}", out_dir.display()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Device {
            command: DeviceCommand::Show { config, mac },
        } => device::show(&config, &mac),
        Command::Plugin { command } => match command {
            PluginCommand::New {
                name,
                hook,
                dir,
                sdk,
            } => plugin_cmd::new(&name, hook, &dir, sdk.as_deref()),
            PluginCommand::Build { dir } => plugin_cmd::build(&dir),
        },
        Command::User { command } => match command {
            UserCommand::Add {
                config,
                name,
                role,
                domains,
            } => users_cli::add(&config, &name, &role, &domains),
            UserCommand::Token {
                config,
                name,
                label,
            } => users_cli::token(&config, &name, &label),
            UserCommand::List { config } => users_cli::list(&config),
        },
        Command::Cluster {
            command: ClusterCommand::Status { config },
        } => store_tools::cluster_status(&config),
        Command::Store { command } => match command {
            StoreCommand::Seed {
                config,
                pool,
                count,
                relay_agents,
            } => {
                seed::seed(&config, &pool, count, relay_agents)?;
                Ok(ExitCode::SUCCESS)
            }
            StoreCommand::Stats { config } => {
                seed::stats(&config)?;
                Ok(ExitCode::SUCCESS)
            }
            StoreCommand::Check { config } => store_tools::check(&config),
            StoreCommand::Repair { config } => store_tools::repair(&config),
            StoreCommand::Export { config, out } => store_tools::export(&config, &out),
            StoreCommand::Import { config, input } => store_tools::import(&config, &input),
            StoreCommand::Migrate { config } => store_tools::migrate(&config),
            StoreCommand::Copy { from, to } => store_tools::copy(&from, &to),
        },
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    let loaded = Snapshot::load(path, 1).and_then(|s| {
        // [log] is the binary's to interpret; a bad level or filter would
        // otherwise only show when `run` starts.
        logging::from_config(path).map_err(headend_model::config::ConfigErrors)?;
        // Plugins are part of the configuration: load, ABI-check and
        // self-test them exactly as `run` and a reload would.
        let factory = plugins::factory(|| {
            headend_plugin::PluginHost::new(
                headend_plugin::HostConfig::default(),
                std::sync::Arc::new(headend_plugin::MemoryKv::new()),
            )
        });
        let hooks = factory(&s)?;
        Ok(Snapshot::clone_with_hooks(&s, hooks))
    });
    match loaded {
        Ok(s) => {
            let summary = format!(
                "{}: OK ({} domains, {} pools, {} policies, {} accounts, {} fixed bindings, {} vendor classes, {} IPv6 pools, {} plugins)",
                path.display(),
                s.domains.len(),
                s.pools.len(),
                s.policies.len(),
                s.accounts.len(),
                s.fixed.len(),
                s.vendor_classes.len(),
                s.dhcpv6.as_ref().map_or(0, |d| d.pools.len()),
                s.plugins.len()
            );
            // Every expression run for a synthetic device of each vendor
            // class, domain and relay the configuration declares.
            match prove::prove(path, s) {
                Ok(failures) if failures.is_empty() => {}
                Ok(failures) => {
                    for f in &failures {
                        println!(
                            "{f}\n    fix: correct the expression, or make it handle such devices"
                        );
                    }
                    println!("{} error(s)", failures.len());
                    return ExitCode::FAILURE;
                }
                Err(e) => {
                    println!(
                        "{}: cannot run the synthetic devices: {e:#}",
                        path.display()
                    );
                    return ExitCode::FAILURE;
                }
            }
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(errors) => {
            println!("{errors}");
            println!("{} error(s)", errors.0.len());
            ExitCode::FAILURE
        }
    }
}

/// Opens the embedded store and the server, with the WASM plugin hooks
/// (plugin key/value state lives in a tree of the same sled database, the
/// compile cache in the store directory).
/// `explain --json` for the management API's `POST /api/v1/explain`.
fn explainer() -> headend_mgmt::Explainer {
    std::sync::Arc::new(|config, req| {
        let run = || -> Result<serde_json::Value> {
            let Some(mac) = normalize_mac(&req.mac).and_then(|m| parse_hex(&m)) else {
                bail!("mac {:?} is not a MAC address", req.mac);
            };
            let opts = explain::request_options(&req.options)?;
            explain::explain_json(config, &mac, req.relay, &opts, req.link, None)
        };
        run().map_err(|e| format!("{e:#}"))
    })
}

/// How long a stopping node of a cluster waits for its buckets to be handed over.
const CLUSTER_LEAVE: std::time::Duration = std::time::Duration::from_secs(5);

/// Sessions a node keeps open to `[server] database`.
const PG_CONNECTIONS: usize = 8;

fn open_server(config: &std::path::Path) -> Result<Server> {
    let snap = Snapshot::load(config, 1).map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::create_dir_all(&snap.store_path)
        .with_context(|| format!("creating {}", snap.store_path.display()))?;
    let local =
        headend_store::SledStore::open(&snap.store_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let kv_tree = local
        .extra_tree("plugin-kv")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let cache_dir = snap.store_path.join("plugin-cache");
    // The shared store when one is configured; the node's own directory
    // keeps the plugin compile cache either way.
    let mut pg = None;
    let store: std::sync::Arc<dyn headend_store::Store> = match snap.database.as_deref() {
        Some(url) => {
            let s = std::sync::Arc::new(
                headend_store_pg::PgStore::connect(url, PG_CONNECTIONS)
                    .map_err(|e| anyhow::anyhow!("[server] database: {e}"))?,
            );
            pg = Some((url.to_string(), s.clone()));
            s
        }
        None => std::sync::Arc::new(local),
    };
    let cluster_node = snap.cluster.as_ref().map(|c| c.node.clone());
    // Plugin state goes where the leases go: into the shared database
    // when there is one, so it follows the clients from node to node.
    let plugin_kv: std::sync::Arc<dyn headend_plugin::PluginKv> = if pg.is_some() {
        std::sync::Arc::new(store_kv::StoreKv::new(store.clone()))
    } else {
        std::sync::Arc::new(headend_plugin::SledKv::new(kv_tree))
    };
    let mut server = Server::with_store(
        config,
        snap,
        store,
        headend_server::dhcpv4::process::system_clock(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    server
        .set_hook_factory(plugins::factory(move || {
            headend_plugin::PluginHost::new(
                headend_plugin::HostConfig {
                    cache_dir: Some(cache_dir.clone()),
                    ..headend_plugin::HostConfig::default()
                },
                plugin_kv.clone(),
            )
        }))
        .map_err(|e| anyhow::anyhow!("plugins:\n{e}"))?;
    // A reload passes what `check` passes: the synthetic devices too.
    server.set_reload_gate(prove::reload_gate());
    if let (Some(node), Some((url, pg))) = (cluster_node, pg) {
        // The database client blocks on a runtime of its own: off the
        // tokio workers.
        let joined = std::thread::scope(|s| {
            s.spawn(|| {
                let coord = headend_store_pg::cluster::PgCoordinator::connect(&url)
                    .map_err(|e| anyhow::anyhow!("[cluster]: {e}"))?;
                server
                    .start_cluster(
                        Box::new(coord),
                        Box::new(move |epoch| {
                            pg.join(headend_store_pg::Member {
                                node: node.clone(),
                                epoch,
                            })
                        }),
                    )
                    .map_err(|e| anyhow::anyhow!("{e}"))
            })
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("[cluster]: the start thread panicked")))
        });
        joined?;
    }
    Ok(server)
}

/// Serves until SIGTERM or SIGINT, then stops gracefully: listeners close,
/// transfers and lease commits in flight finish (bounded), exit status 0.
/// Raises the open-file limit to its hard limit: every TFTP transfer and
/// HTTP connection holds a descriptor, and the default soft limit (often
/// 1,024) would make a firmware storm fail on descriptors long before the
/// configured `max_transfers` (issue 21).
fn raise_nofile() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    let before = lim.current;
    if lim.current < lim.maximum {
        lim.current = lim.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, lim) {
            tracing::warn!(error = %e, soft = ?before, "cannot raise the open-file limit");
            return;
        }
    }
    tracing::info!(soft = ?getrlimit(Resource::Nofile).current, before = ?before, "open-file limit");
}

fn run(config: PathBuf, workers: Option<u16>) -> Result<()> {
    raise_nofile();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all().thread_name("headend");
    if let Some(n) = workers {
        rt.worker_threads(usize::from(n));
    }
    let rt = rt.build().context("starting the tokio runtime")?;
    let served = rt.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        // Installed before the (possibly long) state load, so a stop asked
        // for during start-up is a graceful one too.
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        let server = open_server(&config)?;
        let agent = server.cluster_agent();
        let stop = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            notify::notify("STOPPING=1");
            if let Some(a) = agent {
                // Still answering while the buckets move to the other nodes.
                let _ = tokio::task::spawn_blocking(move || {
                    a.leave(CLUSTER_LEAVE);
                    a.stop();
                })
                .await;
            }
        };
        let watchdog = notify::watchdog_period().map(|period| {
            // A stalled runtime stops these pings and systemd restarts the service.
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                loop {
                    tick.tick().await;
                    notify::notify("WATCHDOG=1");
                }
            })
        });
        let ready = |addrs: &[std::net::SocketAddr]| {
            let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
            eprintln!("headend: ready ({})", list.join(", "));
            notify::notify(&format!(
                "READY=1\nSTATUS=serving on {}\nMAINPID={}",
                list.join(", "),
                std::process::id()
            ));
        };
        let server = std::sync::Arc::new(server);
        // The management plane shares the server and stops with it.
        let (mgmt_stop_tx, mgmt_stop) = tokio::sync::watch::channel(false);
        let mgmt = match server.snapshot().management.clone() {
            Some(m) => Some(
                headend_mgmt::start(server.clone(), m, Some(explainer()), mgmt_stop)
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            ),
            None => None,
        };
        let mgmt_bound = mgmt.as_ref().map(|m| m.bound.clone()).unwrap_or_default();
        let ready = move |addrs: &[std::net::SocketAddr]| {
            let mut all = addrs.to_vec();
            all.extend(mgmt_bound);
            ready(&all)
        };
        let result = server.run_shared(ready, stop).await;
        let _ = mgmt_stop_tx.send(true);
        if let Some(m) = mgmt {
            for t in m.tasks {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), t).await;
            }
        }
        if let Some(w) = watchdog {
            w.abort();
        }
        result.map_err(|e| anyhow::anyhow!("{e}"))
    });
    // Blocking work still running (a file generation, a plugin compile) gets
    // a bounded time; the store was flushed by `Server::run` already.
    rt.shutdown_timeout(SHUTDOWN_GRACE);
    served?;
    tracing::info!("stopped");
    Ok(())
}
