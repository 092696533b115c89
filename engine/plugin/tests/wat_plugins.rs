//! The plugin host against hand-written ABI v1 modules (WAT): every failure
//! mode of issue 3 ("a trap, deadline, out-of-memory, bad pointer or
//! malformed result fails only that call") and every load-time refusal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use headend_abi::{
    self as abi, ConfigFile, ConfigRequest, ConfigValue, Device, EventAction, EventActions,
    EventLevel, EventTransport, FlowDecision, FlowVariant, MemEvent, PluginConfig, Protocol,
    ProvisioningFlow, Request, Response, Transfer,
};
use headend_plugin::{
    BreakerConfig, BreakerState, Deadlines, FailureReason, Hook, LoadErrorKind, PluginKv,
    PluginSet, PluginSpec,
};

const GOOD_MAC: &str = "00:10:18:aa:bb:cc";
const BAD_MAC: &str = "bb:10:18:aa:bb:cc";

fn decision() -> FlowDecision {
    FlowDecision::flow(ProvisioningFlow::Hybrid(FlowVariant::Two))
}

fn ok_flow() -> Vec<u8> {
    abi::encode(&Response::Ok(decision())).unwrap()
}

fn dev(mac: &str) -> Device {
    Device::with_mac(Protocol::Dhcpv4, mac)
}

/// Generous deadlines so a busy CI machine never fails a good call.
fn relaxed(mut s: PluginSpec) -> PluginSpec {
    s.deadlines = Deadlines {
        flow_select: Duration::from_secs(2),
        config_file: Duration::from_secs(2),
        mem_event: Duration::from_secs(2),
    };
    s
}

fn load_one(spec: PluginSpec) -> PluginSet {
    match PluginSet::load(&[spec], &host().0) {
        Ok(set) => set,
        Err(errs) => panic!("load failed: {errs:?}"),
    }
}

fn load_err(spec: PluginSpec) -> LoadErrorKind {
    match PluginSet::load(&[spec], &host().0) {
        Ok(_) => panic!("load should fail"),
        Err(mut errs) => {
            assert_eq!(errs.len(), 1);
            errs.remove(0).kind
        }
    }
}

/// Loads a flow-select module whose hook misbehaves with `bad` for b-MACs.
fn misbehaving(name: &str, bad: &str, imports: &str) -> (tempfile::TempDir, PluginSet) {
    let dir = tempfile::tempdir().unwrap();
    let resp = ok_flow();
    let wat = module(
        1,
        imports,
        &resp,
        &[(abi::EXPORT_FLOW_SELECT, &misbehave_for_b_macs(bad, &resp))],
    );
    let path = wasm_file(dir.path(), name, &wat);
    let set = load_one(relaxed(spec(name, path)));
    (dir, set)
}

fn fail_reason(set: &PluginSet, name: &str) -> FailureReason {
    let p = set.get(name).unwrap();
    let err = p.select_flow(&dev(BAD_MAC)).unwrap_err();
    assert_eq!(err.hook, Hook::FlowSelect);
    assert_eq!(&*err.plugin, name);
    err.reason
}

#[test]
fn good_plugin_answers_and_counts() {
    let (_d, set) = misbehaving("good", "(unreachable)", "");
    let p = set.get("good").unwrap();
    assert_eq!(p.select_flow(&dev(GOOD_MAC)).unwrap(), decision());
    assert_eq!(p.select_flow(&dev(GOOD_MAC)).unwrap(), decision());
    let c = p.counters();
    assert_eq!((c.calls, c.ok), (2, 2));
    assert!(c.failures.iter().all(|(_, n)| *n == 0));
    assert_eq!(c.breaker, BreakerState::Closed);
    assert!(p.has_hook(Hook::FlowSelect));
    assert!(!p.has_hook(Hook::ConfigFile));
    assert_eq!(p.wasm_sha256().len(), 64);
}

#[test]
fn counters_go_on_across_a_reload_on_the_same_host() {
    // `misbehaving` loads through the shared host, as a reload does.
    let (dir, first) = misbehaving("kept", "(unreachable)", "");
    let p = first.get("kept").unwrap();
    p.select_flow(&dev(GOOD_MAC)).unwrap();
    p.select_flow(&dev(BAD_MAC)).unwrap_err();
    // A reload builds a new set through the same host.
    let path = dir.path().join("kept.wasm");
    let second = PluginSet::load(&[relaxed(spec("kept", path))], &host().0).unwrap();
    let q = second.get("kept").unwrap();
    q.select_flow(&dev(GOOD_MAC)).unwrap();
    let c = q.counters();
    assert_eq!(
        (c.calls, c.ok),
        (3, 2),
        "the self-test is not counted, calls before the reload are"
    );
    assert_eq!(c.failures.iter().map(|(_, n)| n).sum::<u64>(), 1);
}

#[test]
fn infinite_loop_hits_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let resp = ok_flow();
    let wat = module(
        1,
        "",
        &resp,
        &[(
            abi::EXPORT_FLOW_SELECT,
            &misbehave_for_b_macs("(loop $l (br $l))", &resp),
        )],
    );
    let mut s = spec("looper", wasm_file(dir.path(), "looper", &wat));
    s.deadlines.flow_select = Duration::from_millis(20);
    let set = load_one(s);
    let start = Instant::now();
    assert_eq!(fail_reason(&set, "looper"), FailureReason::Deadline);
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(20), "stopped early: {took:?}");
    assert!(took < Duration::from_secs(2), "not interrupted: {took:?}");
    let c = set.get("looper").unwrap().counters();
    assert_eq!(c.failures_of(FailureReason::Deadline), 1);
}

#[test]
fn memory_bomb_hits_the_memory_cap() {
    let dir = tempfile::tempdir().unwrap();
    let resp = ok_flow();
    let bomb =
        "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) (unreachable)";
    let wat = module(
        1,
        "",
        &resp,
        &[(abi::EXPORT_FLOW_SELECT, &misbehave_for_b_macs(bomb, &resp))],
    );
    let mut s = relaxed(spec("bomb", wasm_file(dir.path(), "bomb", &wat)));
    s.memory_limit = 1 << 20;
    let set = load_one(s);
    let err = set
        .get("bomb")
        .unwrap()
        .select_flow(&dev(BAD_MAC))
        .unwrap_err();
    assert_eq!(err.reason, FailureReason::Memory, "{err}");
    assert!(err.detail.contains("1048576"), "{err}");
}

#[test]
fn initial_memory_above_the_cap_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let resp = ok_flow();
    // 32 pages = 2 MiB initial memory against a 1 MiB cap.
    let wat = module(1, "", &resp, &[(abi::EXPORT_FLOW_SELECT, &respond(&resp))]).replace(
        "(memory (export \"memory\") 2)",
        "(memory (export \"memory\") 32)",
    );
    let mut s = relaxed(spec("fat", wasm_file(dir.path(), "fat", &wat)));
    s.memory_limit = 1 << 20;
    assert!(matches!(load_err(s), LoadErrorKind::Instantiate(m) if m.contains("memory")));
}

#[test]
fn unreachable_is_a_trap() {
    let (_d, set) = misbehaving("trapper", "(unreachable)", "");
    assert_eq!(fail_reason(&set, "trapper"), FailureReason::Trap);
}

#[test]
fn out_of_bounds_access_in_the_guest_is_a_trap() {
    let (_d, set) = misbehaving("oob", "(drop (i32.load (i32.const 0x7ffffff0)))", "");
    assert_eq!(fail_reason(&set, "oob"), FailureReason::Trap);
}

#[test]
fn out_of_bounds_result_is_a_bad_pointer() {
    let bad = format!("(return {})", packed(0xffff_0000, 100));
    let (_d, set) = misbehaving("oob-result", &bad, "");
    assert_eq!(fail_reason(&set, "oob-result"), FailureReason::BadPointer);
    // A length running past the end of memory, from a valid start.
    let bad = format!("(return {})", packed(RESPONSE_AT, 200_000));
    let (_d, set) = misbehaving("oob-len", &bad, "");
    assert_eq!(fail_reason(&set, "oob-len"), FailureReason::BadPointer);
}

#[test]
fn garbage_result_is_a_bad_result() {
    // 0x10 bytes of 0xff at 4000: not a Response of any kind.
    let bad = format!(
        "(memory.fill (i32.const 4000) (i32.const 0xff) (i32.const 16)) (return {})",
        packed(4000, 16)
    );
    let (_d, set) = misbehaving("garbage", &bad, "");
    assert_eq!(fail_reason(&set, "garbage"), FailureReason::BadResult);
    // A valid response followed by trailing bytes is also refused.
    let bad = format!("(return {})", packed(RESPONSE_AT, ok_flow().len() + 1));
    let (_d, set) = misbehaving("trailing", &bad, "");
    assert_eq!(fail_reason(&set, "trailing"), FailureReason::BadResult);
}

#[test]
fn bad_pointer_to_a_host_function_is_a_bad_pointer() {
    let imports = r#"(import "headend" "log" (func $log (param i32 i32 i32)))"#;
    let bad = "(call $log (i32.const 2) (i32.const 0x7ffffff0) (i32.const 64))";
    let (_d, set) = misbehaving("bad-log", bad, imports);
    assert_eq!(fail_reason(&set, "bad-log"), FailureReason::BadPointer);
}

#[test]
fn alloc_returning_a_wild_pointer_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let resp = ok_flow();
    let wat = module(1, "", &resp, &[(abi::EXPORT_FLOW_SELECT, &respond(&resp))]).replace(
        "(local.get $ptr))",
        "(drop (local.get $ptr)) (i32.const -16))",
    );
    let s = relaxed(spec(
        "wild-alloc",
        wasm_file(dir.path(), "wild-alloc", &wat),
    ));
    match load_err(s) {
        LoadErrorKind::SelfTest(e) => assert_eq!(e.reason, FailureReason::BadPointer),
        other => panic!("{other:?}"),
    }
}

#[test]
fn alloc_returning_zero_is_out_of_memory() {
    // The allocator refuses (returns 0 for) requests above 4000 bytes.
    let dir = tempfile::tempdir().unwrap();
    let resp = ok_flow();
    let wat = module(1, "", &resp, &[(abi::EXPORT_FLOW_SELECT, &respond(&resp))]).replace(
        "(local $ptr i32)",
        "(local $ptr i32) (if (i32.gt_u (local.get $len) (i32.const 4000)) (then (return (i32.const 0))))",
    );
    let set = load_one(relaxed(spec(
        "small-heap",
        wasm_file(dir.path(), "small-heap", &wat),
    )));
    let p = set.get("small-heap").unwrap();
    assert_eq!(p.select_flow(&dev(GOOD_MAC)).unwrap(), decision());
    let mut big = dev(GOOD_MAC);
    big.vendor_class = "x".repeat(5000);
    let e = p.select_flow(&big).unwrap_err();
    assert_eq!(e.reason, FailureReason::Memory, "{e}");
}

#[test]
fn decline_is_reported_but_does_not_trip_the_breaker() {
    let declined = abi::encode(&Response::<FlowDecision>::Err("unknown device".into())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wat = module(
        1,
        "",
        &declined,
        &[(abi::EXPORT_FLOW_SELECT, &respond(&declined))],
    );
    let mut s = relaxed(spec("decliner", wasm_file(dir.path(), "decliner", &wat)));
    s.breaker.failure_threshold = 2;
    let set = load_one(s);
    let p = set.get("decliner").unwrap();
    for _ in 0..5 {
        let e = p.select_flow(&dev(GOOD_MAC)).unwrap_err();
        assert_eq!(e.reason, FailureReason::Declined);
        assert_eq!(e.detail, "unknown device");
    }
    let c = p.counters();
    assert_eq!(c.failures_of(FailureReason::Declined), 5);
    assert_eq!(c.breaker, BreakerState::Closed);
}

#[test]
fn a_failing_call_does_not_affect_the_next_good_call() {
    // The bad call scribbles over the canned response and the allocator state
    // before trapping; a fresh instance per call means the next call sees none of it.
    let bad = format!(
        "(memory.fill (i32.const {RESPONSE_AT}) (i32.const 0) (i32.const 64)) (global.set $bump (i32.const -1)) (unreachable)"
    );
    let (_d, set) = misbehaving("flaky", &bad, "");
    let p = set.get("flaky").unwrap();
    for _ in 0..3 {
        assert_eq!(
            p.select_flow(&dev(BAD_MAC)).unwrap_err().reason,
            FailureReason::Trap
        );
        assert_eq!(p.select_flow(&dev(GOOD_MAC)).unwrap(), decision());
    }
    let c = p.counters();
    assert_eq!((c.ok, c.failures_of(FailureReason::Trap)), (3, 3));
    assert_eq!(c.consecutive_failures, 0);
}

#[test]
fn breaker_opens_after_repeated_failures_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let resp = ok_flow();
    let wat = module(
        1,
        "",
        &resp,
        &[(
            abi::EXPORT_FLOW_SELECT,
            &misbehave_for_b_macs("(unreachable)", &resp),
        )],
    );
    let mut s = relaxed(spec("breaker", wasm_file(dir.path(), "breaker", &wat)));
    s.breaker = BreakerConfig {
        failure_threshold: 3,
        cool_down: Duration::from_millis(300),
    };
    let set = load_one(s);
    let p = set.get("breaker").unwrap();
    // Issue 21: one device failing again and again opens only its own
    // breaker; every other device is still served.
    for _ in 0..10 {
        let e = p.select_flow(&dev(BAD_MAC)).unwrap_err();
        assert!(matches!(
            e.reason,
            FailureReason::Trap | FailureReason::BreakerOpen
        ));
    }
    assert_eq!(p.breaker_state(), BreakerState::Closed);
    assert_eq!(p.select_flow(&dev(GOOD_MAC)).unwrap(), decision());
    assert_eq!(
        p.select_flow(&dev(BAD_MAC)).unwrap_err().reason,
        FailureReason::BreakerOpen,
        "the failing device's own breaker is open"
    );
    // Failures of distinct devices open the hook's breaker for everybody.
    for i in 1..=3 {
        assert_eq!(
            p.select_flow(&dev(&format!("bb:10:18:aa:00:{i:02x}")))
                .unwrap_err()
                .reason,
            FailureReason::Trap
        );
    }
    assert_eq!(p.breaker_state(), BreakerState::Open);
    // Open: even a good device is not sent to the plugin.
    let e = p.select_flow(&dev(GOOD_MAC)).unwrap_err();
    assert_eq!(e.reason, FailureReason::BreakerOpen);
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(p.breaker_state(), BreakerState::HalfOpen);
    // A failing trial re-opens it for another cool-down.
    assert_eq!(
        p.select_flow(&dev(BAD_MAC)).unwrap_err().reason,
        FailureReason::Trap
    );
    assert_eq!(
        p.select_flow(&dev(GOOD_MAC)).unwrap_err().reason,
        FailureReason::BreakerOpen
    );
    std::thread::sleep(Duration::from_millis(350));
    // A good trial closes it.
    assert_eq!(p.select_flow(&dev(GOOD_MAC)).unwrap(), decision());
    assert_eq!(p.breaker_state(), BreakerState::Closed);
    assert_eq!(p.select_flow(&dev(GOOD_MAC)).unwrap(), decision());
    let c = p.counters();
    assert_eq!(c.failures_of(FailureReason::Trap), 7);
    assert_eq!(c.failures_of(FailureReason::BreakerOpen), 10);
    assert_eq!(c.ok, 3);
    assert_eq!(c.calls, 20);
}

#[test]
fn request_reaches_the_guest_as_config_then_input() {
    // The hook stores its raw request in kv under "req"; the test decodes it.
    let imports =
        r#"(import "headend" "kv_put" (func $kv_put (param i32 i32 i32 i32) (result i32)))"#;
    let resp = ok_flow();
    let body = format!(
        "(if (i32.ne (call $kv_put (i32.const 900) (i32.const 3) (local.get $p) (local.get $n)) (i32.const 0)) (then unreachable)) {}",
        respond(&resp)
    );
    let wat = module(1, imports, &resp, &[(abi::EXPORT_FLOW_SELECT, &body)]).replace(
        "(func (export \"headend_free\")",
        "(data (i32.const 900) \"req\")\n  (func (export \"headend_free\")",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut s = relaxed(spec("echo-req", wasm_file(dir.path(), "echo-req", &wat)));
    s.config = PluginConfig {
        entries: vec![
            ("voice_domain".into(), ConfigValue::Str("voice".into())),
            ("realm".into(), ConfigValue::Str("VOICE.EXAMPLE.NET".into())),
        ],
    };
    let set = load_one(s.clone());
    let mut d = dev(GOOD_MAC);
    d.domains = vec!["voice".into(), "all".into()];
    d.supported_flows = vec!["hybrid".into()];
    set.get("echo-req").unwrap().select_flow(&d).unwrap();
    let raw = host().1.get("echo-req", b"req").unwrap().unwrap();
    let req: Request<Device> = abi::decode(&raw).unwrap();
    assert_eq!(req.config, s.config);
    assert_eq!(req.input, d);
}

#[test]
fn kv_imports_follow_the_abi() {
    // Each step traps (unreachable) if the host answers otherwise than ABI.md says.
    let imports = r#"
  (import "headend" "kv_get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "headend" "kv_put" (func $put (param i32 i32 i32 i32) (result i32)))
  (import "headend" "kv_delete" (func $del (param i32 i32) (result i32)))
  (import "headend" "now_unix_ms" (func $now (result i64)))"#;
    let resp = ok_flow();
    let check = |call: &str, want: i32| {
        format!("(if (i32.ne {call} (i32.const {want})) (then unreachable))\n")
    };
    let mut body = String::new();
    // key "k1" at 900, value "hello" at 910, buffer at 2000.
    body += &check(
        "(call $get (i32.const 900) (i32.const 2) (i32.const 2000) (i32.const 64))",
        -1,
    );
    body += &check(
        "(call $put (i32.const 900) (i32.const 2) (i32.const 910) (i32.const 5))",
        0,
    );
    // Too small a buffer: the length is returned and nothing is copied.
    body += &check(
        "(call $get (i32.const 900) (i32.const 2) (i32.const 2000) (i32.const 4))",
        5,
    );
    body += &check("(i32.load8_u (i32.const 2000))", 0);
    body += &check(
        "(call $get (i32.const 900) (i32.const 2) (i32.const 2000) (i32.const 64))",
        5,
    );
    body += &check("(i32.load8_u (i32.const 2004))", i32::from(b'o'));
    // Empty and oversized keys are size errors (-2).
    body += &check(
        "(call $put (i32.const 900) (i32.const 0) (i32.const 910) (i32.const 5))",
        -2,
    );
    body += &check(
        "(call $get (i32.const 900) (i32.const 300) (i32.const 2000) (i32.const 64))",
        -2,
    );
    // Oversized value: -2.
    body += &check(
        "(call $put (i32.const 900) (i32.const 2) (i32.const 0) (i32.const 70000))",
        -2,
    );
    body += &check("(call $del (i32.const 900) (i32.const 2))", 1);
    body += &check("(call $del (i32.const 900) (i32.const 2))", 0);
    body += &check(
        "(call $get (i32.const 900) (i32.const 2) (i32.const 2000) (i32.const 64))",
        -1,
    );
    // Leave one value behind for the test to see, namespaced by plugin.
    body += &check(
        "(call $put (i32.const 900) (i32.const 2) (i32.const 910) (i32.const 5))",
        0,
    );
    // The clock is Unix milliseconds (after 2020-01-01).
    body += "(if (i64.lt_s (call $now) (i64.const 1577836800000)) (then unreachable))\n";
    body += &respond(&resp);
    let wat = module(1, imports, &resp, &[(abi::EXPORT_FLOW_SELECT, &body)]).replace(
        "(func (export \"headend_free\")",
        "(data (i32.const 900) \"k1\")\n  (data (i32.const 910) \"hello\")\n  (func (export \"headend_free\")",
    );
    let dir = tempfile::tempdir().unwrap();
    let set = load_one(relaxed(spec(
        "kv-user",
        wasm_file(dir.path(), "kv-user", &wat),
    )));
    set.get("kv-user")
        .unwrap()
        .select_flow(&dev(GOOD_MAC))
        .unwrap();
    let kv = &host().1;
    assert_eq!(
        kv.get("kv-user", b"k1").unwrap().as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(kv.get("other", b"k1").unwrap(), None);
    // A wild value pointer is the guest's fault: bad pointer.
    let bad =
        "(drop (call $put (i32.const 900) (i32.const 2) (i32.const 0x7ffffff0) (i32.const 64)))";
    let (_d, set) = misbehaving("kv-wild", bad, imports);
    assert_eq!(fail_reason(&set, "kv-wild"), FailureReason::BadPointer);
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn log_import_goes_to_tracing_with_plugin_and_device() {
    let imports = r#"(import "headend" "log" (func $log (param i32 i32 i32)))"#;
    let resp = ok_flow();
    let body = format!(
        "(call $log (i32.const 3) (i32.const 900) (i32.const 15)) {}",
        respond(&resp)
    );
    let wat = module(1, imports, &resp, &[(abi::EXPORT_FLOW_SELECT, &body)]).replace(
        "(func (export \"headend_free\")",
        "(data (i32.const 900) \"hello from wasm\")\n  (func (export \"headend_free\")",
    );
    let dir = tempfile::tempdir().unwrap();
    let set = load_one(relaxed(spec(
        "logger",
        wasm_file(dir.path(), "logger", &wat),
    )));
    let out = Capture::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        set.get("logger")
            .unwrap()
            .select_flow(&dev(GOOD_MAC))
            .unwrap();
    });
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("hello from wasm"))
        .unwrap_or_else(|| panic!("no log line in {text:?}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains("plugin=\"logger\"") || line.contains("plugin=logger"),
        "{line}"
    );
    assert!(line.contains(GOOD_MAC), "{line}");
}

#[test]
fn config_file_and_mem_event_hooks() {
    let file = ConfigFile {
        bytes: vec![0xfe, 0x01, 0x01, 0xfe, 0x01, 0xff],
        config_hash: Some(vec![0xaa; 20]),
    };
    let file_resp = abi::encode(&Response::Ok(Some(file.clone()))).unwrap();
    let actions = EventActions {
        actions: vec![EventAction::AddDomain("quarantine".into())],
    };
    let ev_resp = abi::encode(&Response::Ok(actions.clone())).unwrap();
    // Second canned response right after the first.
    let at2 = RESPONSE_AT as usize + file_resp.len();
    let mut both = file_resp.clone();
    both.extend_from_slice(&ev_resp);
    let wat = module(
        1,
        "",
        &both,
        &[
            (abi::EXPORT_CONFIG_FILE, &respond(&file_resp)),
            (abi::EXPORT_MEM_EVENT, &packed(at2 as u32, ev_resp.len())),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let mut s = relaxed(spec("files", wasm_file(dir.path(), "files", &wat)));
    s.required_hooks = vec![Hook::ConfigFile, Hook::MemEvent];
    let set = load_one(s);
    let p = set.get("files").unwrap();
    let req = ConfigRequest {
        device: dev(GOOD_MAC),
        file_name: "eue.bin".into(),
        transfer: Transfer::Tftp,
    };
    assert_eq!(p.config_file(&req).unwrap(), Some(file));
    let ev = MemEvent {
        device: Some(dev(GOOD_MAC)),
        source: None,
        transport: EventTransport::Syslog,
        level: EventLevel::Critical,
        enterprise: 4491,
        event_id: 4_000_950_100,
        text: "provisioning failed".into(),
        endpoint: None,
        received_unix_ms: 0,
    };
    assert_eq!(p.mem_event(&ev).unwrap(), actions);
    // Not exported: unavailable, and the breaker does not care.
    let e = p.select_flow(&dev(GOOD_MAC)).unwrap_err();
    assert_eq!(e.reason, FailureReason::Unavailable);
    assert_eq!(set.with_hook(Hook::FlowSelect).count(), 0);
    assert_eq!(set.with_hook(Hook::MemEvent).count(), 1);
}

#[test]
fn concurrent_calls_are_isolated() {
    let (_d, set) = misbehaving("busy", "(unreachable)", "");
    let p = set.get("busy").unwrap().clone();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let p = p.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    let bad = (i + t) % 7 == 0;
                    let r = p.select_flow(&dev(if bad { BAD_MAC } else { GOOD_MAC }));
                    if bad {
                        // Its own breaker opens after repeated traps; the
                        // good device is never affected.
                        let reason = r.unwrap_err().reason;
                        assert!(
                            matches!(reason, FailureReason::Trap | FailureReason::BreakerOpen),
                            "{reason:?}"
                        );
                    } else {
                        assert_eq!(r.unwrap(), decision());
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let c = p.counters();
    assert_eq!(c.calls, 400);
    assert_eq!(
        c.ok + c.failures_of(FailureReason::Trap) + c.failures_of(FailureReason::BreakerOpen),
        400
    );
}

fn simple_module(abi_version: i32, imports: &str) -> String {
    let resp = ok_flow();
    module(
        abi_version,
        imports,
        &resp,
        &[(abi::EXPORT_FLOW_SELECT, &respond(&resp))],
    )
}

fn refused(name: &str, wat: &str) -> LoadErrorKind {
    let dir = tempfile::tempdir().unwrap();
    load_err(relaxed(spec(name, wasm_file(dir.path(), name, wat))))
}

#[test]
fn wrong_abi_version_is_refused() {
    assert!(matches!(
        refused("v2", &simple_module(2, "")),
        LoadErrorKind::AbiVersion {
            found: 2,
            expected: 1
        }
    ));
}

#[test]
fn missing_exports_are_refused() {
    let wat = simple_module(1, "").replace("(export \"headend_alloc\")", "");
    assert!(matches!(
        refused("no-alloc", &wat),
        LoadErrorKind::MissingExport("headend_alloc")
    ));
    let wat = simple_module(1, "").replace("(memory (export \"memory\") 2)", "(memory 2)");
    assert!(matches!(
        refused("no-memory", &wat),
        LoadErrorKind::MissingExport("memory")
    ));
    let wat = simple_module(1, "").replace("(export \"headend_abi_version\")", "");
    assert!(matches!(
        refused("no-version", &wat),
        LoadErrorKind::MissingExport("headend_abi_version")
    ));
    let wat = simple_module(1, "").replace("(export \"headend_flow_select\")", "");
    assert!(matches!(refused("no-hooks", &wat), LoadErrorKind::NoHooks));
    // Right name, wrong type.
    let wat = simple_module(1, "").replace(
        "(func (export \"headend_free\") (param i32 i32))",
        "(func (export \"headend_free\") (param i32))",
    );
    assert!(matches!(
        refused("bad-free", &wat),
        LoadErrorKind::ExportType {
            name: "headend_free",
            ..
        }
    ));
}

#[test]
fn required_hook_must_be_exported() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = relaxed(spec(
        "needs-files",
        wasm_file(dir.path(), "needs-files", &simple_module(1, "")),
    ));
    s.required_hooks = vec![Hook::ConfigFile];
    assert!(matches!(
        load_err(s),
        LoadErrorKind::MissingHook(Hook::ConfigFile)
    ));
}

#[test]
fn wasi_and_unknown_imports_are_refused() {
    let wasi = r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#;
    let e = refused("wasi", &simple_module(1, wasi));
    assert!(matches!(&e, LoadErrorKind::Wasi { name, .. } if name == "fd_write"));
    assert!(e.to_string().contains("WASI is not supported"), "{e}");
    let env = r#"(import "env" "abort" (func (param i32)))"#;
    assert!(matches!(
        refused("env", &simple_module(1, env)),
        LoadErrorKind::UnknownImport { module, name } if module == "env" && name == "abort"
    ));
    let unknown = r#"(import "headend" "exec" (func))"#;
    assert!(matches!(
        refused("exec", &simple_module(1, unknown)),
        LoadErrorKind::UnknownImport { .. }
    ));
    let wrong = r#"(import "headend" "log" (func (param i32)))"#;
    assert!(matches!(
        refused("wrong-log", &simple_module(1, wrong)),
        LoadErrorKind::ImportType { name, .. } if name == "log"
    ));
}

#[test]
fn only_wasm_binaries_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("text.wasm");
    std::fs::write(&text, simple_module(1, "")).unwrap();
    assert!(matches!(
        load_err(relaxed(spec("text", text))),
        LoadErrorKind::NotWasm(_)
    ));
    // Precompiled native code (what Module::serialize produces) is refused too.
    let wasm = wat::parse_str(simple_module(1, "")).unwrap();
    let native = host().0.engine().precompile_module(&wasm).unwrap();
    let path = dir.path().join("native.cwasm");
    std::fs::write(&path, native).unwrap();
    assert!(matches!(
        load_err(relaxed(spec("native", path))),
        LoadErrorKind::NotWasm("precompiled native code")
    ));
    let missing = dir.path().join("missing.wasm");
    assert!(matches!(
        load_err(relaxed(spec("missing", missing))),
        LoadErrorKind::Read(_)
    ));
}

#[test]
fn self_test_refuses_a_module_that_fails_every_call() {
    let resp = ok_flow();
    let wat = module(
        1,
        "",
        &resp,
        &[(abi::EXPORT_FLOW_SELECT, "(loop $l (br $l)) (i64.const 0)")],
    );
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec("always-loops", wasm_file(dir.path(), "always-loops", &wat));
    s.deadlines.flow_select = Duration::from_millis(10);
    match load_err(s) {
        LoadErrorKind::SelfTest(e) => {
            assert_eq!(e.reason, FailureReason::Deadline);
            assert_eq!(e.hook, Hook::FlowSelect);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn self_test_refuses_a_plugin_its_own_config_makes_decline() {
    let dir = tempfile::tempdir().unwrap();
    let declining = |name: &str, reason: &str| {
        let declined = abi::encode(&Response::<FlowDecision>::Err(reason.into())).unwrap();
        let wat = module(
            1,
            "",
            &declined,
            &[(abi::EXPORT_FLOW_SELECT, &respond(&declined))],
        );
        relaxed(spec(name, wasm_file(dir.path(), name, &wat)))
    };
    // The SDK's ConfigError text: every call would decline, so it does not load.
    match load_err(declining(
        "misconfigured",
        "config key `voice_flow`: expected a string",
    )) {
        LoadErrorKind::SelfTest(e) => {
            assert_eq!(e.reason, FailureReason::Declined);
            assert_eq!(e.hook, Hook::FlowSelect);
            assert!(e.detail.contains("because of its configuration"), "{e}");
            assert!(e.detail.contains("voice_flow"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // Declining the synthetic device for another reason is allowed (a warning).
    load_one(declining("picky", "not one of my devices"));
}

#[test]
fn a_set_loads_whole_or_reports_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = wasm_file(dir.path(), "good", &simple_module(1, ""));
    let v2 = wasm_file(dir.path(), "v2", &simple_module(2, ""));
    let specs = vec![
        relaxed(spec("a", good.clone())),
        relaxed(spec("b", v2)),
        relaxed(spec("a", good.clone())),
        relaxed(spec("bad name", good.clone())),
    ];
    let errs = PluginSet::load(&specs, &host().0).unwrap_err();
    let names: Vec<_> = errs.iter().map(|e| e.plugin.as_str()).collect();
    assert_eq!(names, ["b", "a", "bad name"]);
    assert!(matches!(errs[0].kind, LoadErrorKind::AbiVersion { .. }));
    assert!(matches!(errs[1].kind, LoadErrorKind::BadName));
    assert!(matches!(errs[2].kind, LoadErrorKind::BadName));
    let mut too_big = relaxed(spec("big", good));
    too_big.memory_limit = 1 << 30;
    assert!(matches!(load_err(too_big), LoadErrorKind::BadSpec(_)));
}

#[test]
fn reload_keeps_old_plugins_alive_for_calls_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let path = wasm_file(dir.path(), "swap", &simple_module(1, ""));
    let old = load_one(relaxed(spec("swap", path.clone())));
    let in_flight = old.get("swap").unwrap().clone();
    // The file changes to a module with another answer; the new set sees it.
    let other = abi::encode(&Response::Ok(FlowDecision::flow(ProvisioningFlow::Basic(
        FlowVariant::One,
    ))))
    .unwrap();
    let wat = module(
        1,
        "",
        &other,
        &[(abi::EXPORT_FLOW_SELECT, &respond(&other))],
    );
    std::fs::write(&path, wat::parse_str(wat).unwrap()).unwrap();
    let new = load_one(relaxed(spec("swap", path.clone())));
    drop(old);
    assert_eq!(in_flight.select_flow(&dev(GOOD_MAC)).unwrap(), decision());
    assert_eq!(
        new.get("swap")
            .unwrap()
            .select_flow(&dev(GOOD_MAC))
            .unwrap()
            .flow,
        ProvisioningFlow::Basic(FlowVariant::One)
    );
    assert_ne!(
        in_flight.wasm_sha256(),
        new.get("swap").unwrap().wasm_sha256()
    );
    // A broken replacement is refused, so the caller keeps its current set.
    std::fs::write(&path, wat::parse_str(simple_module(2, "")).unwrap()).unwrap();
    assert!(PluginSet::load(&[relaxed(spec("swap", path))], &host().0).is_err());
}

#[test]
fn guard_page_hosts_classify_failures_the_same_way() {
    let host = headend_plugin::PluginHost::new(
        headend_plugin::HostConfig {
            max_concurrent_instances: 4,
            guard_pages: true,
            ..headend_plugin::HostConfig::default()
        },
        Arc::new(headend_plugin::MemoryKv::new()),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let resp = ok_flow();
    let cases = [
        ("(drop (i32.load (i32.const 0x7ffffff0)))", FailureReason::Trap),
        (
            "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) (unreachable)",
            FailureReason::Memory,
        ),
        ("(loop $l (br $l))", FailureReason::Deadline),
    ];
    for (i, (bad, want)) in cases.into_iter().enumerate() {
        let name = format!("guarded-{i}");
        let wat = module(
            1,
            "",
            &resp,
            &[(abi::EXPORT_FLOW_SELECT, &misbehave_for_b_macs(bad, &resp))],
        );
        let mut s = spec(&name, wasm_file(dir.path(), &name, &wat));
        s.memory_limit = 1 << 20;
        s.deadlines.flow_select = Duration::from_millis(30);
        let set = PluginSet::load(&[s], &host).unwrap();
        let p = set.get(&name).unwrap();
        assert_eq!(p.select_flow(&dev(BAD_MAC)).unwrap_err().reason, want);
        assert_eq!(p.select_flow(&dev(GOOD_MAC)).unwrap(), decision());
    }
}
