//! `broken`: a deliberately misbehaving plugin for the engine's failure
//! tests (plugin ABI v1, `sdk/ABI.md` section 3, "Failure semantics"). It
//! exports all three hooks; the plugin configuration picks the failure:
//!
//! | `mode` | What the hook does |
//! |---|---|
//! | `ok` (default) | answers normally |
//! | `decline` | answers `Response::Err` |
//! | `loop` | spins forever (`loop_iterations` > 0 bounds it, for native tests) |
//! | `memory` | allocates 1 MiB chunks until allocation fails and the guest traps (`memory_limit_bytes` > 0 bounds it) |
//! | `panic` | panics (a trap under `panic = "abort"`) |
//! | `bad-pointer` | returns a packed (pointer, length) far outside memory |
//! | `garbage` | returns bytes that do not decode as a `Response` |
//!
//! A `by_mac` table (`{ "00:10:18:00:00:01" = "panic" }`) overrides `mode`
//! for single devices, so one module can fail for some devices and answer
//! for others.

use std::sync::atomic::{AtomicU64, Ordering};

use headend_sdk::abi::{decode, encode, pack, Request, Response};
use headend_sdk::{
    ConfigExt, ConfigFile, ConfigRequest, Device, EventAction, EventActions, FlowDecision,
    LogLevel, MemEvent, PluginConfig, ProvisioningFlow, RawReply,
};

/// Allocation step of the memory mode.
const CHUNK: usize = 1 << 20;
/// A result range no 32-bit memory can hold: it starts 16 bytes below 4 GiB.
const BAD_PTR: u32 = 0xffff_fff0;
const BAD_LEN: u32 = 0x100;
/// Variant index 7 of a two-variant enum: never a valid `Response`.
const GARBAGE: [u8; 5] = [0x07, 0xde, 0xad, 0xbe, 0xef];

/// Spin counter; an atomic so the optimiser cannot fold the loop away.
static SPINS: AtomicU64 = AtomicU64::new(0);

/// The failure mode for this call.
fn mode<'a>(cfg: &'a PluginConfig, mac: Option<&str>) -> Result<&'a str, String> {
    if let (Some(table), Some(mac)) = (cfg.table("by_mac")?, mac) {
        if let Some(m) = table.opt_str(mac)? {
            return Ok(m);
        }
    }
    Ok(cfg.str_or("mode", "ok")?)
}

/// Runs the failure of `mode`; `None` when the hook should answer normally.
fn misbehave(cfg: &PluginConfig, mode: &str) -> Option<RawReply> {
    match mode {
        "ok" => None,
        "decline" => Some(RawReply::Bytes(encode_err(
            "broken plugin declines (mode decline)",
        ))),
        "loop" => Some(spin(cfg)),
        "memory" => Some(hoard(cfg)),
        "panic" => panic_now(),
        "bad-pointer" => Some(RawReply::Packed(pack(BAD_PTR, BAD_LEN))),
        "garbage" => Some(RawReply::Bytes(GARBAGE.to_vec())),
        other => Some(RawReply::Bytes(encode_err(&format!(
            "broken plugin: unknown mode `{other}`"
        )))),
    }
}

#[allow(clippy::panic)]
fn panic_now() -> ! {
    panic!("broken plugin: mode panic")
}

fn spin(cfg: &PluginConfig) -> RawReply {
    let limit = cfg.int_or("loop_iterations", 0).unwrap_or(0);
    let limit = u64::try_from(limit).unwrap_or(0);
    loop {
        let n = SPINS.fetch_add(1, Ordering::Relaxed) + 1;
        if limit != 0 && n >= limit {
            return RawReply::Bytes(encode_err(&format!("loop ended after {n} spins")));
        }
    }
}

fn hoard(cfg: &PluginConfig) -> RawReply {
    let limit = cfg.int_or("memory_limit_bytes", 0).unwrap_or(0);
    let limit = usize::try_from(limit).unwrap_or(0);
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    let mut total = 0usize;
    while limit == 0 || total < limit {
        // Filled, kept and summed below, so the allocations are real.
        hoard.push(vec![1u8; CHUNK]);
        total += CHUNK;
    }
    let sum: usize = hoard
        .iter()
        .map(|c| c.iter().map(|b| *b as usize).sum::<usize>())
        .sum();
    RawReply::Bytes(encode_err(&format!(
        "memory limit {limit} reached: {total} bytes, checksum {sum}"
    )))
}

fn encode_err(reason: &str) -> Vec<u8> {
    encode(&Response::<()>::Err(reason.to_string())).unwrap_or_default()
}

fn flow_select(bytes: &[u8]) -> RawReply {
    let req: Request<Device> = match decode(bytes) {
        Ok(r) => r,
        Err(e) => return RawReply::Bytes(encode_err(&e.to_string())),
    };
    match mode(&req.config, Some(&req.input.mac)) {
        Err(e) => RawReply::Bytes(encode_err(&e)),
        Ok(m) => misbehave(&req.config, m).unwrap_or_else(|| {
            let realm = req.config.str_or("flow", "BASIC.1").unwrap_or("BASIC.1");
            let out = FlowDecision::flow(ProvisioningFlow::from_realm(realm));
            RawReply::Bytes(encode(&Response::Ok(out)).unwrap_or_default())
        }),
    }
}

fn config_file(bytes: &[u8]) -> RawReply {
    let req: Request<ConfigRequest> = match decode(bytes) {
        Ok(r) => r,
        Err(e) => return RawReply::Bytes(encode_err(&e.to_string())),
    };
    match mode(&req.config, Some(&req.input.device.mac)) {
        Err(e) => RawReply::Bytes(encode_err(&e)),
        Ok(m) => misbehave(&req.config, m).unwrap_or_else(|| {
            let out = Some(ConfigFile {
                bytes: format!("broken:{}", req.input.file_name).into_bytes(),
                config_hash: None,
            });
            RawReply::Bytes(encode(&Response::Ok(out)).unwrap_or_default())
        }),
    }
}

fn mem_event(bytes: &[u8]) -> RawReply {
    let req: Request<MemEvent> = match decode(bytes) {
        Ok(r) => r,
        Err(e) => return RawReply::Bytes(encode_err(&e.to_string())),
    };
    let mac = req.input.device.as_ref().map(|d| d.mac.as_str());
    match mode(&req.config, mac) {
        Err(e) => RawReply::Bytes(encode_err(&e)),
        Ok(m) => misbehave(&req.config, m).unwrap_or_else(|| {
            let out = EventActions {
                actions: vec![EventAction::Log {
                    level: LogLevel::Info,
                    message: format!("broken plugin saw event {}", req.input.event_id),
                }],
            };
            RawReply::Bytes(encode(&Response::Ok(out)).unwrap_or_default())
        }),
    }
}

headend_sdk::raw_hook!(headend_flow_select, flow_select);
headend_sdk::raw_hook!(headend_config_file, config_file);
headend_sdk::raw_hook!(headend_mem_event, mem_event);

#[cfg(test)]
mod tests {
    use super::*;
    use headend_sdk::testing::{self, config, string, table, HarnessError};
    use headend_sdk::{ConfigValue, EventLevel, EventTransport, FlowVariant, Protocol, Transfer};

    const MAC: &str = "00:10:18:00:00:01";

    fn dev() -> Device {
        Device::with_mac(Protocol::Dhcpv4, MAC)
    }

    fn flow(cfg: &PluginConfig) -> Result<Response<FlowDecision>, HarnessError> {
        testing::reset();
        testing::call(headend_flow_select, cfg, &dev())
    }

    #[test]
    fn ok_answers_every_hook() {
        let cfg = config(vec![("flow", string("HYBRID.2"))]);
        assert_eq!(
            flow(&cfg).unwrap(),
            Response::Ok(FlowDecision::flow(ProvisioningFlow::Hybrid(
                FlowVariant::Two
            )))
        );
        let req = ConfigRequest {
            device: dev(),
            file_name: "x.bin".into(),
            transfer: Transfer::Tftp,
        };
        let file = testing::config_file(headend_config_file, &cfg, &req).unwrap();
        assert_eq!(file.unwrap().bytes, b"broken:x.bin");
        let ev = MemEvent {
            device: None,
            source: None,
            transport: EventTransport::Local,
            level: EventLevel::Information,
            enterprise: 4491,
            event_id: 9,
            text: String::new(),
            endpoint: None,
            received_unix_ms: 0,
        };
        let actions = testing::mem_event(headend_mem_event, &cfg, &ev).unwrap();
        assert_eq!(actions.actions.len(), 1);
    }

    #[test]
    fn each_failure_mode_fails_the_way_the_host_must_detect() {
        let with = |m: &str| config(vec![("mode", string(m))]);
        assert!(matches!(
            flow(&with("panic")),
            Err(HarnessError::Panicked(_))
        ));
        assert_eq!(
            flow(&with("bad-pointer")),
            Err(HarnessError::OutOfBounds {
                ptr: BAD_PTR,
                len: BAD_LEN
            })
        );
        assert!(matches!(
            flow(&with("garbage")),
            Err(HarnessError::Malformed(_))
        ));
        assert!(matches!(flow(&with("decline")), Ok(Response::Err(_))));
        match flow(&with("sideways")) {
            Ok(Response::Err(e)) => assert!(e.contains("unknown mode")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn loop_and_memory_really_spin_and_allocate() {
        let cfg = config(vec![
            ("mode", string("loop")),
            ("loop_iterations", ConfigValue::Int(1_000)),
        ]);
        match flow(&cfg) {
            Ok(Response::Err(e)) => assert!(e.starts_with("loop ended after"), "{e}"),
            other => panic!("{other:?}"),
        }
        let cfg = config(vec![
            ("mode", string("memory")),
            ("memory_limit_bytes", ConfigValue::Int(3 << 20)),
        ]);
        match flow(&cfg) {
            Ok(Response::Err(e)) => {
                assert_eq!(
                    e,
                    format!(
                        "memory limit {} reached: {} bytes, checksum {}",
                        3 << 20,
                        3 << 20,
                        3 << 20
                    )
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn by_mac_overrides_mode() {
        let cfg = config(vec![
            ("mode", string("ok")),
            ("by_mac", table(vec![(MAC, string("garbage"))])),
        ]);
        assert!(matches!(flow(&cfg), Err(HarnessError::Malformed(_))));
        let cfg = config(vec![
            ("mode", string("garbage")),
            ("by_mac", table(vec![("00:10:18:00:00:02", string("ok"))])),
        ]);
        assert!(matches!(flow(&cfg), Err(HarnessError::Malformed(_))));
    }
}
