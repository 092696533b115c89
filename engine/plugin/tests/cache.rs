//! The compile cache: a second load of the same `.wasm` comes from the cache,
//! a damaged cache entry is recompiled instead of trusted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::sync::Arc;

use common::*;
use headend_abi::{
    self as abi, Device, FlowDecision, FlowVariant, Protocol, ProvisioningFlow, Response,
};
use headend_plugin::{HostConfig, MemoryKv, PluginHost, PluginSet};

#[test]
fn second_load_comes_from_the_cache_and_damage_is_recompiled() {
    let cache = tempfile::tempdir().unwrap();
    let host = PluginHost::new(
        HostConfig {
            max_concurrent_instances: 4,
            cache_dir: Some(cache.path().join("plugins")),
            ..HostConfig::default()
        },
        Arc::new(MemoryKv::new()),
    )
    .unwrap();
    let resp = abi::encode(&Response::Ok(FlowDecision::flow(ProvisioningFlow::Basic(
        FlowVariant::Two,
    ))))
    .unwrap();
    let wat = module(1, "", &resp, &[(abi::EXPORT_FLOW_SELECT, &respond(&resp))]);
    let dir = tempfile::tempdir().unwrap();
    let specs = [spec("cached", wasm_file(dir.path(), "cached", &wat))];
    let call = |set: &PluginSet| {
        set.get("cached")
            .unwrap()
            .select_flow(&Device::with_mac(Protocol::Dhcpv4, "00:10:18:00:00:01"))
            .unwrap()
            .flow
    };

    let first = PluginSet::load(&specs, &host).unwrap();
    assert!(!first.get("cached").unwrap().from_cache());
    assert_eq!(call(&first), ProvisioningFlow::Basic(FlowVariant::Two));

    let entries: Vec<_> = std::fs::read_dir(cache.path().join("plugins"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry.extension().unwrap(), "cwasm");

    let second = PluginSet::load(&specs, &host).unwrap();
    assert!(second.get("cached").unwrap().from_cache());
    assert_eq!(call(&second), ProvisioningFlow::Basic(FlowVariant::Two));

    // Flip one byte in the middle of the entry: the checksum catches it.
    let mut bytes = std::fs::read(entry).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(entry, &bytes).unwrap();
    let third = PluginSet::load(&specs, &host).unwrap();
    assert!(!third.get("cached").unwrap().from_cache());
    assert_eq!(call(&third), ProvisioningFlow::Basic(FlowVariant::Two));
    // ... and the entry was rewritten, so the next load is cached again.
    let fourth = PluginSet::load(&specs, &host).unwrap();
    assert!(fourth.get("cached").unwrap().from_cache());

    // Another module gets its own entry.
    let other = wat.replace(
        "(func (export \"headend_free\")",
        "(func (export \"unused\"))\n  (func (export \"headend_free\")",
    );
    let specs2 = [spec("other", wasm_file(dir.path(), "other", &other))];
    PluginSet::load(&specs2, &host).unwrap();
    assert_eq!(
        std::fs::read_dir(cache.path().join("plugins"))
            .unwrap()
            .count(),
        2
    );
}
