//! The `headend` binary: `run` serves, `check` validates a configuration,
//! `explain` shows what a device would get and why, without a network,
//! `config-file` builds and decodes device configuration files, and `store`
//! seeds and counts the embedded store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};
use headend_model::snapshot::{normalize_mac, parse_hex, Snapshot};
use headend_server::runtime::Server;

mod config_file;
mod explain;
mod plugins;
mod seed;

// Per-packet work allocates small objects at a high rate; mimalloc is
// markedly faster than glibc malloc for that pattern.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// headend: a provisioning engine for cable operators (DHCPv4, DHCPv6 and
/// TFTP/HTTP config files for DOCSIS and PacketCable devices, with domains,
/// pools, policies, Rhai and WASM plugins).
#[derive(Parser)]
#[command(name = "headend", version, about)]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax); RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "info")]
    log: String,
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
        /// Extra request options as CODE=HEX (e.g. 60=646f63736973332e303a, 55=01037a7d); repeatable.
        #[arg(long = "option", value_name = "CODE=HEX")]
        options: Vec<String>,
        /// Also boot the same device over DHCPv6 through a Relay-Forward from this CMTS link address (dual stack).
        #[arg(long)]
        link: Option<std::net::Ipv6Addr>,
    },
    /// DOCSIS CM and PacketCable MTA/eUE configuration files.
    ConfigFile {
        #[command(subcommand)]
        command: ConfigFileCommand,
    },
    /// Store maintenance.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
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
    },
    /// Print the number of leases and accounts in the store.
    Stats {
        /// Configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

fn init_logging(filter: &str) {
    let env = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(env)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log);
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
        } => {
            let Some(mac) = normalize_mac(&mac).and_then(|m| parse_hex(&m)) else {
                bail!("--mac {mac:?} is not a MAC address");
            };
            let mut opts = Vec::new();
            for o in options {
                let Some((c, h)) = o.split_once('=') else {
                    bail!("--option {o:?}: write CODE=HEX");
                };
                let code: u8 = c
                    .trim()
                    .parse()
                    .with_context(|| format!("--option {o:?}: bad code"))?;
                let Some(bytes) = parse_hex(h.trim()) else {
                    bail!("--option {o:?}: bad hex");
                };
                opts.push((code, bytes));
            }
            explain::explain(&config, &mac, relay, &opts, link)?;
            Ok(ExitCode::SUCCESS)
        }
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
        Command::Store { command } => match command {
            StoreCommand::Seed {
                config,
                pool,
                count,
            } => {
                seed::seed(&config, &pool, count)?;
                Ok(ExitCode::SUCCESS)
            }
            StoreCommand::Stats { config } => {
                seed::stats(&config)?;
                Ok(ExitCode::SUCCESS)
            }
        },
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    let loaded = Snapshot::load(path, 1).and_then(|s| {
        // Plugins are part of the configuration: load, ABI-check and
        // self-test them exactly as `run` and a reload would.
        let factory = plugins::factory(|| {
            headend_plugin::PluginHost::new(
                headend_plugin::HostConfig::default(),
                std::sync::Arc::new(headend_plugin::MemoryKv::new()),
            )
        });
        factory(&s).map(|_| s)
    });
    match loaded {
        Ok(s) => {
            println!(
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
fn open_server(config: &std::path::Path) -> Result<Server> {
    let snap = Snapshot::load(config, 1).map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::create_dir_all(&snap.store_path)
        .with_context(|| format!("creating {}", snap.store_path.display()))?;
    let store =
        headend_store::SledStore::open(&snap.store_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let kv_tree = store
        .extra_tree("plugin-kv")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let cache_dir = snap.store_path.join("plugin-cache");
    let mut server = Server::with_store(
        config,
        snap,
        std::sync::Arc::new(store),
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
                std::sync::Arc::new(headend_plugin::SledKv::new(kv_tree.clone())),
            )
        }))
        .map_err(|e| anyhow::anyhow!("plugins:\n{e}"))?;
    Ok(server)
}

fn run(config: PathBuf, workers: Option<u16>) -> Result<()> {
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all().thread_name("headend");
    if let Some(n) = workers {
        rt.worker_threads(usize::from(n));
    }
    let rt = rt.build().context("starting the tokio runtime")?;
    rt.block_on(async move {
        let server = open_server(&config)?;
        let stop = async {
            let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
            match term {
                Ok(mut t) => {
                    tokio::select! {
                        _ = t.recv() => {}
                        _ = tokio::signal::ctrl_c() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        };
        let ready = |addrs: &[std::net::SocketAddr]| {
            let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
            eprintln!("headend: ready ({})", list.join(", "));
        };
        server
            .run(ready, stop)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    })?;
    Ok(())
}
