//! Flow selection through the hook interface (issue 3): the decision of the
//! flow-select hook fills option 122 sub-options 3 and 6 for a PacketCable
//! device; a failing hook falls back to the policy values and is counted; a
//! reload rebuilds the hooks and a failing rebuild keeps the running ones.
//! The hooks here are native; the WASM host is tested in `headend-plugin`
//! and end to end in `engine/headend/tests`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use common::*;
use headend_abi::{
    ConfigFile, ConfigRequest, Device, EventActions, FlowDecision, FlowVariant, MemEvent,
    ProvisioningFlow, ProvisioningServer,
};
use headend_model::config::{ConfigError, ConfigErrors};
use headend_model::plugins::{HookError, Hooks};
use headend_wire::cablelabs::{Ccc, ProvisioningServer as WireProvServer};
use headend_wire::dhcpv4::code;

const MTA: [u8; 6] = [0x00, 0x10, 0x95, 0x0e, 0x00, 0x01];

#[derive(Debug)]
struct TestHooks {
    /// What the hook answers; `None` = it fails like a trapped plugin.
    answer: Option<FlowDecision>,
    calls: Arc<AtomicU32>,
    seen: Arc<parking_lot::Mutex<Vec<Device>>>,
}

impl Hooks for TestHooks {
    fn select_flow(&self, device: &Device) -> Option<Result<FlowDecision, HookError>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.seen.lock().push(device.clone());
        Some(self.answer.clone().ok_or(HookError {
            plugin: "test".into(),
            kind: "trap".into(),
            detail: "unreachable executed".into(),
        }))
    }
    fn config_file(
        &self,
        _g: &str,
        _r: &ConfigRequest,
    ) -> Option<Result<Option<ConfigFile>, HookError>> {
        None
    }
    fn generator_version(&self, _g: &str) -> Option<u64> {
        None
    }
    fn mem_event(&self, _e: &MemEvent) -> Option<Result<EventActions, HookError>> {
        None
    }
}

fn mta_discover() -> Vec<u8> {
    // pktc2.0, TLV 5.18 supported flows = 0x07 (secure | hybrid | basic).
    Req::new(MTA)
        .opt(code::VENDOR_CLASS, b"pktc2.0:050412020007".as_slice())
        .prl(&[1, 3, 6, 12, 122])
        .discover()
}

fn hooks(answer: Option<FlowDecision>) -> (Arc<TestHooks>, Arc<AtomicU32>) {
    let calls = Arc::new(AtomicU32::new(0));
    (
        Arc::new(TestHooks {
            answer,
            calls: calls.clone(),
            seen: Arc::default(),
        }),
        calls,
    )
}

#[test]
fn plugin_decision_fills_122_3_and_122_6() {
    let mut bed = bed(BASE);
    let mut d = FlowDecision::flow(ProvisioningFlow::Secure {
        realm: "VOICE.EXAMPLE.NET".into(),
    });
    d.provisioning_server = Some(ProvisioningServer::Ipv4("192.0.2.44".parse().unwrap()));
    let (h, calls) = hooks(Some(d));
    let seen = h.seen.clone();
    bed.server
        .set_hook_factory(Arc::new(move |_| Ok(h.clone() as Arc<dyn Hooks>)))
        .unwrap();
    let vc = "pktc2.0:050412020007";
    let req = Req::new(MTA)
        .opt(code::VENDOR_CLASS, vc.as_bytes())
        .prl(&[1, 3, 6, 12, 122]);
    let offer = bed.reply(&req.discover());
    let ccc = Ccc::decode(&offer.opt(122).unwrap()).unwrap();
    assert_eq!(ccc.realm.as_deref(), Some("VOICE.EXAMPLE.NET"));
    assert_eq!(
        ccc.provisioning_server,
        Some(WireProvServer::Ipv4("192.0.2.44".parse().unwrap()))
    );
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    // The plugin saw the classified device.
    let dev = seen.lock()[0].clone();
    assert_eq!(dev.mac, "00:10:95:0e:00:01");
    assert_eq!(dev.family, "pktc");
    assert!(dev.supports_flow("hybrid"), "{:?}", dev.supported_flows);
    assert!(dev.in_domain("emta"), "{:?}", dev.domains);
    assert!(dev.requested_options.contains(&122));

    // The ACK carries the OFFER's decision (no second call needed for it).
    let ack = bed.reply(&req.request_selecting(offer.yiaddr()));
    assert_eq!(ack.opt(122), offer.opt(122));

    // A cable modem is not a PacketCable device: the hook is not called.
    let cm = Req::new([0x00, 0x10, 0x95, 0, 0, 9])
        .vendor_class("docsis3.0:")
        .prl(&[1, 3, 122]);
    let before = calls.load(Ordering::Relaxed);
    let _ = bed.reply(&cm.discover());
    assert_eq!(calls.load(Ordering::Relaxed), before);
}

#[test]
fn disabled_flow_sends_provisioning_server_0_0_0_0() {
    let mut bed = bed(BASE);
    let (h, _) = hooks(Some(FlowDecision::flow(ProvisioningFlow::Disabled)));
    bed.server
        .set_hook_factory(Arc::new(move |_| Ok(h.clone() as Arc<dyn Hooks>)))
        .unwrap();
    let offer = bed.reply(&mta_discover());
    let ccc = Ccc::decode(&offer.opt(122).unwrap()).unwrap();
    assert_eq!(
        ccc.provisioning_server,
        Some(WireProvServer::Ipv4("0.0.0.0".parse().unwrap()))
    );
}

#[test]
fn failing_hook_falls_back_to_policy_and_is_counted() {
    let mut bed = bed(BASE);
    let (h, calls) = hooks(None);
    bed.server
        .set_hook_factory(Arc::new(move |_| Ok(h.clone() as Arc<dyn Hooks>)))
        .unwrap();
    let offer = bed.reply(&mta_discover());
    let ccc = Ccc::decode(&offer.opt(122).unwrap()).unwrap();
    // The policy of BASE: prov.example.com and HYBRID.2 for a hybrid-capable eMTA.
    assert_eq!(ccc.realm.as_deref(), Some("HYBRID.2"));
    assert_eq!(
        ccc.provisioning_server,
        Some(WireProvServer::Fqdn("prov.example.com".into()))
    );
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    let fallbacks = bed.server.counters().hook_fallbacks();
    assert_eq!(
        fallbacks.get(&("flow-select", "trap".to_string())),
        Some(&1)
    );
}

#[test]
fn reload_rebuilds_hooks_and_a_failing_build_keeps_the_old_ones() {
    let mut bed = bed(BASE);
    let generation = Arc::new(AtomicU32::new(0));
    let g = generation.clone();
    bed.server
        .set_hook_factory(Arc::new(move |snap| {
            let n = g.fetch_add(1, Ordering::Relaxed);
            if snap.name == "broken" {
                return Err(ConfigErrors(vec![ConfigError {
                    file: snap.source.clone(),
                    line: 0,
                    message: "plugin self-test failed".into(),
                    fix: "fix the plugin".into(),
                }]));
            }
            let flow = if n == 0 {
                ProvisioningFlow::Basic(FlowVariant::One)
            } else {
                ProvisioningFlow::Hybrid(FlowVariant::One)
            };
            let (h, _) = hooks(Some(FlowDecision::flow(flow)));
            Ok(h as Arc<dyn Hooks>)
        }))
        .unwrap();
    let realm = |bed: &Bed| {
        let offer = bed.reply(&mta_discover());
        Ccc::decode(&offer.opt(122).unwrap()).unwrap().realm
    };
    assert_eq!(realm(&bed).as_deref(), Some("BASIC.1"));
    bed.server.reload().unwrap();
    assert_eq!(realm(&bed).as_deref(), Some("HYBRID.1"));
    // A configuration whose plugins do not build is refused; HYBRID.1 stays.
    bed.rewrite(&BASE.replacen("[server]\n", "[server]\nname = \"broken\"\n", 1));
    let err = bed.server.reload().unwrap_err();
    assert!(err.to_string().contains("self-test failed"), "{err}");
    assert_eq!(realm(&bed).as_deref(), Some("HYBRID.1"));
}
