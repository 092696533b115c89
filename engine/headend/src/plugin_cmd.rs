//! `headend plugin new` and `headend plugin build` (issue 20): a plugin crate
//! made and built anywhere on disk, inside this repository or outside it.
//!
//! `new` writes a crate that builds with either wasm toolchain the project
//! supports: its own empty `[workspace]` (so a checkout's workspace does not
//! claim it), a path dependency on the SDK, the plugins' release profile and
//! bulk-memory flag, and a `Cargo.lock` cut from `plugins/Cargo.lock` — the
//! lockfile version 3 pinned to crates that build on Debian's rustc 1.63,
//! which a fresh `cargo generate-lockfile` would not give. `build` runs the
//! same script as `plugins/build.sh` (embedded in the binary, so there is
//! one build recipe), then loads the `.wasm` as the server would: ABI
//! version, exports, and the load-time self-test.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};
use headend_plugin::{
    FailureReason, Hook, HostConfig, LoadErrorKind, MemoryKv, PluginHost, PluginSet, PluginSpec,
};

/// The build recipe shared with the plugins workspace.
const BUILD_SCRIPT: &str = include_str!("../../../plugins/build.sh");
/// The plugins workspace's lock file: versions pinned for rustc 1.63.
const PLUGINS_LOCK: &str = include_str!("../../../plugins/Cargo.lock");
/// The plugins workspace's code-generation flags (bulk memory).
const CARGO_CONFIG: &str = include_str!("../../../plugins/.cargo/config.toml");

/// The hook a new plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HookArg {
    /// Chooses the eUE provisioning flow (option 122 / CCCv6 sub-options 3 and 6).
    FlowSelect,
    /// Generates configuration files served by TFTP/HTTP.
    ConfigFile,
    /// Handles PacketCable management events (syslog, SNMP notifications).
    MemEvent,
}

impl HookArg {
    fn name(self) -> &'static str {
        match self {
            HookArg::FlowSelect => "flow-select",
            HookArg::ConfigFile => "config-file",
            HookArg::MemEvent => "mem-event",
        }
    }

    fn lib_rs(self) -> &'static str {
        match self {
            HookArg::FlowSelect => FLOW_SELECT_RS,
            HookArg::ConfigFile => CONFIG_FILE_RS,
            HookArg::MemEvent => MEM_EVENT_RS,
        }
    }

    fn config_example(self) -> &'static str {
        match self {
            HookArg::FlowSelect => "voice_domain = \"voice\"\n",
            HookArg::ConfigFile => "file_pattern = \"*.cm\"\nshared_secret = \"change-me\"\n",
            HookArg::MemEvent => "attribute = \"last_critical_event\"\n",
        }
    }
}

/// Where the SDK is, in order: `--sdk`, `$HEADEND_SDK`, the checkout this
/// binary was built from, the Debian package's copy.
fn find_sdk(given: Option<&Path>) -> Result<PathBuf> {
    let from_env = std::env::var_os("HEADEND_SDK").map(PathBuf::from);
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk");
    let candidates: Vec<PathBuf> = match given.map(Path::to_path_buf).or(from_env) {
        Some(p) => vec![p],
        None => vec![checkout, PathBuf::from("/usr/share/headend/sdk")],
    };
    for c in &candidates {
        if c.join("Cargo.toml").is_file() && c.join("abi/Cargo.toml").is_file() {
            return c
                .canonicalize()
                .with_context(|| format!("resolving {}", c.display()));
        }
    }
    bail!(
        "no headend SDK at {}: pass --sdk PATH (the sdk/ directory of a headend checkout)",
        candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(" or ")
    )
}

/// A crate name cargo and the engine both accept: it names the `.wasm` and
/// the `[[plugin]]`.
fn check_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        bail!("plugin name {name:?}: 1-64 characters, a lower-case letter first, then a-z 0-9 - _");
    }
    Ok(())
}

/// One `[[package]]` block of a lock file, as cargo wrote it.
struct LockBlock<'a> {
    name: &'a str,
    version: &'a str,
    text: &'a str,
    deps: Vec<&'a str>,
}

fn quoted<'a>(block: &'a str, key: &str) -> Option<&'a str> {
    block.lines().find_map(|l| {
        l.strip_prefix(key)?
            .strip_prefix(" = \"")?
            .strip_suffix('"')
    })
}

/// The lock file for a crate `name` depending on `headend-sdk` alone: the
/// plugins' lock with its members' blocks replaced by this crate's, byte for
/// byte what cargo would write (so `--locked` builds accept it), keeping
/// only packages reachable from the SDK.
fn lock_for(name: &str, plugins_lock: &str) -> Result<String> {
    let mut parts = plugins_lock.split("\n[[package]]\n");
    let header = parts.next().unwrap_or_default();
    if !header.lines().any(|l| l == "version = 3") {
        bail!("plugins/Cargo.lock is not lockfile version 3");
    }
    let mut blocks = Vec::new();
    for text in parts {
        let name = quoted(text, "name").ok_or_else(|| anyhow!("a lock block has no name"))?;
        let version =
            quoted(text, "version").ok_or_else(|| anyhow!("lock block {name} has no version"))?;
        let deps = text
            .split_once("dependencies = [\n")
            .map(|(_, rest)| {
                rest.lines()
                    .take_while(|l| *l != "]")
                    .filter_map(|l| l.trim().strip_prefix('"')?.strip_suffix("\","))
                    .collect()
            })
            .unwrap_or_default();
        blocks.push(LockBlock {
            name,
            version,
            text: text.trim_end_matches('\n'),
            deps,
        });
    }
    // A dependency is "name", or "name version" when several versions are locked.
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, b) in blocks.iter().enumerate() {
        by_name.entry(b.name).or_default().push(i);
    }
    let resolve = |dep: &str| -> Option<usize> {
        let mut words = dep.split(' ');
        let n = words.next()?;
        let v = words.next();
        by_name
            .get(n)?
            .iter()
            .copied()
            .find(|&i| v.is_none_or(|v| blocks[i].version == v))
    };
    let mut keep = BTreeSet::new();
    let mut todo: Vec<usize> = resolve("headend-sdk").into_iter().collect();
    if todo.is_empty() {
        bail!("plugins/Cargo.lock does not lock headend-sdk");
    }
    while let Some(i) = todo.pop() {
        if keep.insert(i) {
            for d in &blocks[i].deps {
                todo.push(resolve(d).ok_or_else(|| anyhow!("lock: unresolved dependency {d}"))?);
            }
        }
    }
    // Cargo writes "name version" for a dependency only while several
    // versions of it are locked: keeping one of two would change that line.
    let kept_versions = |n: &str| {
        by_name
            .get(n)
            .map_or(0, |v| v.iter().filter(|j| keep.contains(j)).count())
    };
    if let Some(d) = keep
        .iter()
        .flat_map(|&i| &blocks[i].deps)
        .find(|d| d.split_once(' ').is_some_and(|(n, _)| kept_versions(n) < 2))
    {
        bail!("lock: {d} would be written without its version; regenerate the plugins lock");
    }
    let own =
        format!("name = \"{name}\"\nversion = \"0.1.0\"\ndependencies = [\n \"headend-sdk\",\n]");
    let mut entries: Vec<(&str, &str, String)> = keep
        .iter()
        .map(|&i| {
            (
                blocks[i].name,
                blocks[i].version,
                blocks[i].text.to_string(),
            )
        })
        .collect();
    if entries.iter().any(|(n, _, _)| *n == name) {
        bail!("plugin name {name:?} is the name of a crate the SDK uses");
    }
    entries.push((name, "0.1.0", own));
    entries.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut out = header.to_string();
    for (_, _, text) in entries {
        out.push_str("\n[[package]]\n");
        out.push_str(&text);
        out.push('\n');
    }
    Ok(out)
}

/// `headend plugin new NAME --hook HOOK`: scaffolds a plugin crate in `DIR/NAME`.
pub fn new(name: &str, hook: HookArg, dir: &Path, sdk: Option<&Path>) -> Result<ExitCode> {
    check_name(name)?;
    let sdk = find_sdk(sdk)?;
    let root = dir.join(name);
    if root.exists() {
        bail!(
            "{} exists; choose another name or directory",
            root.display()
        );
    }
    let sdk_toml = toml::Value::String(sdk.display().to_string()).to_string();
    let files: Vec<(&str, String)> = vec![
        (
            "Cargo.toml",
            CARGO_TOML
                .replace("@NAME@", name)
                .replace("@HOOK@", hook.name())
                .replace("@SDK@", &sdk_toml),
        ),
        ("Cargo.lock", lock_for(name, PLUGINS_LOCK)?),
        (".cargo/config.toml", CARGO_CONFIG.to_string()),
        (".gitignore", "/target\n/dist\n".to_string()),
        ("src/lib.rs", hook.lib_rs().replace("@NAME@", name)),
        (
            "README.md",
            README
                .replace("@NAME@", name)
                .replace("@HOOK@", hook.name())
                .replace("@CONFIG@", hook.config_example()),
        ),
    ];
    for (rel, text) in &files {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "created {} ({} plugin, SDK {})\n  cd {} && cargo test            # native tests\n  headend plugin build {}    # -> {}/dist/{name}.wasm",
        root.display(),
        hook.name(),
        sdk.display(),
        root.display(),
        root.display(),
        root.display(),
    );
    Ok(ExitCode::SUCCESS)
}

/// `headend plugin build [DIR]`: builds with whichever wasm toolchain exists,
/// then loads each `.wasm` as the server would.
pub fn build(dir: &Path) -> Result<ExitCode> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("no plugin crate at {}", dir.display()))?;
    let status = Command::new("bash")
        .arg("-c")
        .arg(BUILD_SCRIPT)
        .arg("headend plugin build")
        .arg(&dir)
        .env("HEADEND_BUILD_NAME", "headend plugin build")
        .status()
        .context("running bash (the build script needs it)")?;
    if !status.success() {
        bail!("the plugin build failed ({status})");
    }
    let dist = dir.join("dist");
    let mut wasm: Vec<PathBuf> = std::fs::read_dir(&dist)
        .with_context(|| format!("reading {}", dist.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    wasm.sort();
    let mut failed = false;
    for path in &wasm {
        match load(path) {
            Ok(verdict) => println!("{}: {verdict}", path.display()),
            Err(e) => {
                failed = true;
                println!("{}: does not load: {e}", path.display());
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Loads one module with an empty config table: ABI version, exports and
/// the self-test. A self-test decline because of the (empty) configuration
/// is reported, not fatal: `headend check` runs it with the `[[plugin]]`'s
/// own table.
fn load(path: &Path) -> Result<String> {
    let host = PluginHost::new(HostConfig::default(), Arc::new(MemoryKv::new()))
        .map_err(|e| anyhow!("{e}"))?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin")
        .to_string();
    let spec = PluginSpec::new(stem, path);
    let set = match PluginSet::load(std::slice::from_ref(&spec), &host) {
        Ok(set) => set,
        Err(errors) => {
            let text = errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            // The host refuses a self-test only for a decline caused by the
            // config table (other declines load with a warning).
            let config_decline = errors.iter().all(|e| {
                matches!(&e.kind, LoadErrorKind::SelfTest(p) if p.reason == FailureReason::Declined)
            });
            if config_decline {
                return Ok(format!(
                    "loads (ABI version 1); its self-test declines with an empty config table \
                     ({text}): `headend check` runs it with the [[plugin]] config"
                ));
            }
            bail!("{text}");
        }
    };
    let plugin = set
        .get(&spec.name)
        .ok_or_else(|| anyhow!("no plugin loaded"))?;
    let hooks: Vec<&str> = Hook::ALL
        .iter()
        .filter(|h| plugin.has_hook(**h))
        .map(|h| h.as_str())
        .collect();
    if hooks.is_empty() {
        bail!("it exports no hook (flow_selector!, config_generator! or event_handler!)");
    }
    Ok(format!(
        "loads (ABI version 1, hooks: {})",
        hooks.join(", ")
    ))
}

const CARGO_TOML: &str = r#"# A headend plugin (hook: @HOOK@), made by `headend plugin new`.
# Build: `headend plugin build .` (rustup's wasm32 target, or Debian's rustc
# 1.63 with vendored sources). Tests: `cargo test` (native, no WebAssembly).
[package]
name = "@NAME@"
version = "0.1.0"
edition = "2021"
rust-version = "1.63"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
headend-sdk = { path = @SDK@ }

# Its own workspace: it builds the same inside a headend checkout or anywhere else.
[workspace]

[profile.release]
# Every hook call runs on the DHCP/TFTP path: speed over size.
opt-level = 3
lto = true
strip = true
panic = "abort"
codegen-units = 1
"#;

const README: &str = r#"# @NAME@

A headend plugin for the `@HOOK@` hook, made by `headend plugin new`.

- `cargo test` runs the native tests (`headend_sdk::testing` calls the hook
  through the same encoding the engine uses; a trap fails the test).
- `headend plugin build .` builds `dist/@NAME@.wasm` with rustup's
  `wasm32-unknown-unknown` target if installed, else Debian's rustc 1.63
  (`apt-get install rustc cargo libstd-rust-dev-wasm32 lld-14`), offline
  against sources vendored into `target/vendor` (the first build needs the
  network once), then loads it as the server would.
- `Cargo.lock` is lockfile version 3 pinned to crates that build on rustc
  1.63. A dependency you add must build there too; after `cargo update`,
  keep the first line `version = 3` (see the SDK's README, "Building").

Use it in headend's configuration, then `headend check --config FILE`:

```toml
[[plugin]]
name = "@NAME@"
path = "/path/to/@NAME@/dist/@NAME@.wasm"
hooks = ["@HOOK@"]
[plugin.config]
@CONFIG@```
"#;

const FLOW_SELECT_RS: &str = r#"//! @NAME@: a headend flow-selection plugin. PacketCable devices in the
//! configured voice domain get the Hybrid.2 flow, other PacketCable devices
//! Basic.1, anything else Disabled (PKT-SP-EUE-PROV 6.3; the engine puts the
//! flow in option 122 / CL_OPTION_CCCV6 sub-option 6).
//!
//! Configuration: `voice_domain` (string, default "voice").

use headend_sdk::{
    host, ConfigExt, Device, FlowDecision, FlowVariant, PluginConfig, ProvisioningFlow,
};

/// The flow-select hook.
pub fn select(dev: &Device, cfg: &PluginConfig) -> Result<FlowDecision, String> {
    let voice = cfg.str_or("voice_domain", "voice")?;
    if dev.family != "pktc" {
        return Ok(FlowDecision::flow(ProvisioningFlow::Disabled));
    }
    if dev.in_domain(voice) {
        Ok(FlowDecision::flow(ProvisioningFlow::Hybrid(FlowVariant::Two)))
    } else {
        host::debug(&format!("{} is not in {voice}: Basic.1", dev.mac));
        Ok(FlowDecision::flow(ProvisioningFlow::Basic(FlowVariant::One)))
    }
}

headend_sdk::flow_selector!(select);

#[cfg(test)]
mod tests {
    use super::*;
    use headend_sdk::testing::{self, config, string};
    use headend_sdk::{ConfigValue, Protocol};

    fn emta(domains: &[&str]) -> Device {
        let mut dev = Device::with_mac(Protocol::Dhcpv4, "00:10:18:aa:bb:cc");
        dev.family = "pktc".into();
        dev.domains = domains.iter().map(|d| d.to_string()).collect();
        dev
    }

    #[test]
    fn voice_devices_get_hybrid_2_and_others_basic_1() {
        testing::reset();
        let cfg = config(vec![("voice_domain", string("premium"))]);
        let d = testing::flow_select(headend_flow_select, &cfg, &emta(&["premium"])).unwrap();
        assert_eq!(d.flow.realm().as_deref(), Some("HYBRID.2"));
        let d = testing::flow_select(headend_flow_select, &cfg, &emta(&["basic"])).unwrap();
        assert_eq!(d.flow.realm().as_deref(), Some("BASIC.1"));
    }

    #[test]
    fn a_wrong_type_in_the_config_declines() {
        let cfg = config(vec![("voice_domain", ConfigValue::Int(7))]);
        let err = testing::flow_select(headend_flow_select, &cfg, &emta(&[])).unwrap_err();
        assert!(err.contains("voice_domain"), "{err}");
    }
}
"#;

const CONFIG_FILE_RS: &str = r#"//! @NAME@: a headend config-file plugin. Generates a DOCSIS CM
//! configuration file (network access on, CM MIC and CMTS MIC computed with
//! the shared secret) for requested names that match `file_pattern`, and
//! leaves other names to the next generator.
//!
//! Configuration: `file_pattern` (string, `*` as the only wildcard, default
//! "*.cm"), `shared_secret` (string, required: the CMTS MIC secret).

use headend_sdk::config_file::CmConfig;
use headend_sdk::{ConfigError, ConfigExt, ConfigFile, ConfigRequest, PluginConfig};

/// Whether `name` matches `pattern` (a `*` matches any run of characters).
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.len() >= head.len() + tail.len()
                && name.starts_with(head)
                && glob(tail, &name[name.len() - tail.len()..])
        }
    }
}

/// The config-file hook.
pub fn generate(req: &ConfigRequest, cfg: &PluginConfig) -> Result<Option<ConfigFile>, String> {
    let pattern = cfg.str_or("file_pattern", "*.cm")?;
    if !glob(pattern, &req.file_name) {
        return Ok(None);
    }
    let secret = cfg.require_str("shared_secret")?;
    if secret.is_empty() {
        return Err(ConfigError::invalid("shared_secret", "must not be empty").into());
    }
    let mut cm = CmConfig::new();
    cm.network_access(true);
    let bytes = cm.build(secret.as_bytes()).map_err(|e| e.to_string())?;
    Ok(Some(ConfigFile {
        bytes,
        config_hash: None,
    }))
}

headend_sdk::config_generator!(generate);

#[cfg(test)]
mod tests {
    use super::*;
    use headend_sdk::config_file::{decode, Check};
    use headend_sdk::testing::{self, config, string};
    use headend_sdk::{Device, Protocol, Transfer};

    fn request(file: &str) -> ConfigRequest {
        ConfigRequest {
            device: Device::with_mac(Protocol::Lease, "00:11:22:33:44:55"),
            file_name: file.into(),
            transfer: Transfer::Tftp,
        }
    }

    #[test]
    fn matching_names_get_a_file_whose_mics_verify() {
        testing::reset();
        let cfg = config(vec![("shared_secret", string("DOCSIS"))]);
        let file = testing::config_file(headend_config_file, &cfg, &request("modem.cm"))
            .unwrap()
            .unwrap();
        let decoded = decode(&file.bytes, Some(b"DOCSIS")).unwrap();
        assert_eq!(decoded.cm_mic, Check::Verified);
        assert_eq!(decoded.cmts_mic, Check::Verified);
        let other = testing::config_file(headend_config_file, &cfg, &request("x.bin")).unwrap();
        assert!(other.is_none());
    }

    #[test]
    fn a_missing_secret_declines() {
        let err = testing::config_file(headend_config_file, &config(vec![]), &request("a.cm"))
            .unwrap_err();
        assert!(err.contains("shared_secret"), "{err}");
    }
}
"#;

const MEM_EVENT_RS: &str = r#"//! @NAME@: a headend management-event plugin. Records the text of every
//! critical PacketCable event (PKTC-EVENT-MIB level critical) in an attribute
//! of the device's account, and logs the others.
//!
//! Configuration: `attribute` (string, default "last_critical_event").

use headend_sdk::{
    ConfigExt, EventAction, EventActions, EventLevel, LogLevel, MemEvent, PluginConfig,
};

/// The mem-event hook.
pub fn handle(ev: &MemEvent, cfg: &PluginConfig) -> Result<EventActions, String> {
    let attribute = cfg.str_or("attribute", "last_critical_event")?;
    let action = match ev.level {
        EventLevel::Critical if ev.device.is_some() => EventAction::SetAttribute {
            key: attribute.to_string(),
            value: format!("{} {}", ev.event_id, ev.text),
        },
        _ => EventAction::Log {
            level: LogLevel::Info,
            message: format!("event {} from {:?}: {}", ev.event_id, ev.source, ev.text),
        },
    };
    Ok(EventActions {
        actions: vec![action],
    })
}

headend_sdk::event_handler!(handle);

#[cfg(test)]
mod tests {
    use super::*;
    use headend_sdk::testing::{self, config};
    use headend_sdk::{Device, EventTransport, Protocol};

    fn event(level: EventLevel) -> MemEvent {
        MemEvent {
            device: Some(Device::with_mac(Protocol::Lease, "00:10:95:0e:00:07")),
            source: None,
            transport: EventTransport::Local,
            level,
            enterprise: 4491,
            event_id: 4_000_950_100,
            text: "config file download failed".into(),
            endpoint: None,
            received_unix_ms: 0,
        }
    }

    #[test]
    fn critical_events_are_recorded_on_the_account() {
        testing::reset();
        let out = testing::mem_event(headend_mem_event, &config(vec![]), &event(EventLevel::Critical))
            .unwrap();
        assert_eq!(
            out.actions,
            vec![EventAction::SetAttribute {
                key: "last_critical_event".into(),
                value: "4000950100 config file download failed".into(),
            }]
        );
        let out = testing::mem_event(headend_mem_event, &config(vec![]), &event(EventLevel::Minor))
            .unwrap();
        assert!(matches!(out.actions[0], EventAction::Log { .. }));
    }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_keeps_the_sdk_closure_and_adds_the_crate_in_cargo_order() {
        let lock = lock_for("premium-voice", PLUGINS_LOCK).unwrap();
        assert!(lock.starts_with("# This file is automatically @generated by Cargo."));
        assert!(lock.contains("\nversion = 3\n"));
        assert!(lock.contains(
            "[[package]]\nname = \"premium-voice\"\nversion = \"0.1.0\"\ndependencies = [\n \"headend-sdk\",\n]\n"
        ));
        for gone in [
            "flow-select",
            "eue-config",
            "docsis-config",
            "mem-events",
            "broken",
        ] {
            assert!(!lock.contains(&format!("name = \"{gone}\"")), "{gone} kept");
        }
        for kept in [
            "headend-sdk",
            "headend-abi",
            "headend-config-file",
            "serde",
            "postcard",
            "hmac",
        ] {
            assert!(
                lock.contains(&format!("name = \"{kept}\"\n")),
                "{kept} dropped"
            );
        }
        let names: Vec<&str> = lock
            .split("[[package]]\n")
            .skip(1)
            .filter_map(|b| quoted(b, "name"))
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn names_the_engine_and_cargo_refuse_are_refused() {
        for bad in ["", "Voice", "9lives", "a b", "a/b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        check_name("premium-voice_2").unwrap();
        assert!(lock_for("serde", PLUGINS_LOCK).is_err());
    }
}
