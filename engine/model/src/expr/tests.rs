use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use headend_store::ClientKey;

use super::*;

fn origin(line: usize) -> Origin {
    Origin {
        file: PathBuf::from("headend.toml"),
        line,
        what: "policy docsis option tftp-server-name".into(),
    }
}

fn v4(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A cable modem behind relay 10.0.0.1, as the pipeline would fill it.
fn cm_context() -> EvalContext {
    let mut options = RawOptions::default();
    options.insert(53, &[1]);
    options.insert(60, b"docsis3.0:");
    options.insert(55, &[1, 3, 2, 4, 7, 66, 67, 122, 125]);
    options.insert(300, &[0xff]);
    assert!(!options.insert(53, &[3]), "the first occurrence is kept");
    let mut capabilities = BTreeMap::new();
    capabilities.insert(1, vec![1]);
    capabilities.insert(2, vec![3]);
    capabilities.insert(40, vec![0x01, 0x02]);
    capabilities.insert(41, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    let mut attributes = BTreeMap::new();
    attributes.insert("tier".to_owned(), "gold".to_owned());
    EvalContext {
        packet: PacketInfo {
            protocol: "dhcpv4".into(),
            message_type: "DHCPDISCOVER".into(),
            xid: 0x1234_5678,
            hops: 1,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::new(10, 0, 0, 1),
            htype: 1,
            chaddr: vec![0x00, 0x10, 0x95, 0x00, 0x00, 0x01],
            client_id: vec![0x01, 0x00, 0x10, 0x95, 0x00, 0x00, 0x01],
            options,
            requested: vec![1, 3, 2, 4, 7, 66, 67, 122, 125],
        },
        relay: RelayInfo {
            address: v4("10.0.0.1"),
            link_selection: Some(Ipv4Addr::new(10, 1, 0, 0)),
            subnet_selection: None,
            circuit_id: vec![0x00, 0x04, 0x00, 0x01],
            remote_id: vec![0x00, 0x10, 0x95, 0x00, 0x00, 0x01],
            subscriber_id: "sub-42".into(),
            docsis_device_class: Some(1),
        },
        device: DeviceInfo {
            vendor_class: "docsis3.0:".into(),
            family: "docsis".into(),
            version: "3.0".into(),
            type_name: "docsis3.0".into(),
            typeid: 30,
            capabilities,
            supported_flows: vec!["secure".into(), "hybrid".into()],
            dual_stack: true,
            ip_pref: Some(1),
            device_type: "ECM".into(),
            serial: "SN123".into(),
            model: "TCM-1".into(),
            vendor_name: "ACME".into(),
            oui: "001095".into(),
            correlation_id: None,
        },
        account: Some(AccountInfo {
            id: "00:10:95:00:00:01".into(),
            domains: vec!["cablemodems".into()],
            attributes,
        }),
        modem: None,
        domains: vec!["all".into(), "cablemodems".into()],
        pool: Some(PoolInfo {
            name: "cm-lab".into(),
            network: "10.1.0.0/16".parse().unwrap(),
            relays: vec![v4("10.0.0.1"), v4("10.0.0.2")],
            first: v4("10.1.0.10"),
            last: v4("10.1.255.250"),
        }),
        lease: Some(LeaseInfo {
            ip: v4("10.1.0.10"),
            client: ClientKey(vec![1, 0x00, 0x10, 0x95, 0x00, 0x00, 0x01]),
            lifetime: 3600,
            commit_time: 1_700_000_000,
            pool: "cm-lab".into(),
        }),
    }
}

fn engine() -> ExprEngine {
    ExprEngine::new(ExprLimits::default())
}

fn compile(e: &ExprEngine, src: &str) -> Expr {
    e.compile(src, origin(1))
        .unwrap_or_else(|err| panic!("{src}: {err}"))
}

fn literal_in(ctx: &EvalContext, src: &str) -> Option<Literal> {
    let e = engine();
    let expr = compile(&e, src);
    e.session(ctx)
        .eval_literal(&expr)
        .unwrap_or_else(|err| panic!("{src}: {err}"))
}

fn literal(src: &str) -> Option<Literal> {
    literal_in(&cm_context(), src)
}

fn error_in(ctx: &EvalContext, src: &str) -> ExprError {
    let e = engine();
    let expr = compile(&e, src);
    match e.session(ctx).eval(&expr) {
        Ok(v) => panic!("{src}: expected an error, got {v:?}"),
        Err(err) => err,
    }
}

fn error(src: &str) -> ExprError {
    error_in(&cm_context(), src)
}

fn ip_lit(s: &str) -> Option<Literal> {
    Some(Literal::Ip(v4(s)))
}

fn str_lit(s: &str) -> Option<Literal> {
    Some(Literal::Str(s.into()))
}

fn int_lit(i: i128) -> Option<Literal> {
    Some(Literal::Int(i))
}

// --- sandbox ---------------------------------------------------------------

#[test]
fn eval_is_rejected_at_compile_time() {
    let err = engine().compile("eval(\"1 + 1\")", origin(3)).unwrap_err();
    assert_eq!(err.kind, ExprErrorKind::Syntax);
    assert!(err.message.contains("eval"), "{err}");
    assert_eq!(err.line, 3);
}

#[test]
fn endless_loop_stops_with_ran_too_long() {
    let started = Instant::now();
    let err = error("loop { }");
    assert_eq!(err.kind, ExprErrorKind::TooLong);
    assert!(err.message.starts_with("ran too long"), "{err}");
    assert!(err.message.contains("10000 operations"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn operation_budget_is_per_evaluation_not_per_session() {
    let e = engine();
    // About 6000 operations: under the 10000 budget once, over it if budgets accumulated.
    let expr = compile(&e, "let n = 0; for i in 0..2000 { n += 1; } n");
    let mut s = e.session(&cm_context());
    for _ in 0..3 {
        assert_eq!(s.eval(&expr).unwrap().as_int().unwrap(), 2000);
    }
}

#[test]
fn operation_limit_follows_the_configuration() {
    let e = ExprEngine::new(ExprLimits {
        max_operations: 50,
        ..ExprLimits::default()
    });
    let expr = compile(&e, "let n = 0; for i in 0..100 { n += 1; } n");
    let err = e.session(&cm_context()).eval(&expr).unwrap_err();
    assert_eq!(err.kind, ExprErrorKind::TooLong);
    assert!(err.message.contains("50 operations"), "{err}");
}

#[test]
fn the_operation_limit_holds_per_evaluation_with_the_shared_resolution_cache() {
    let e = ExprEngine::new(ExprLimits {
        max_operations: 200,
        ..ExprLimits::default()
    });
    // About 150 operations: twice would be over the limit if the count
    // outlived one evaluation as the resolution cache does.
    let expr = compile(&e, "let n = 0; for i in 0..30 { n += 1; } n");
    let mut session = e.session(&cm_context());
    for _ in 0..20 {
        assert_eq!(session.eval(&expr).unwrap().as_int().unwrap(), 30);
    }
}

#[test]
fn scripts_with_their_own_functions_never_share_a_resolution() {
    let e = engine();
    let one = compile(&e, "fn f(x) { x + 1 } f(1)");
    let two = compile(&e, "fn f(x) { x * 10 } f(1)");
    let plain = compile(&e, "\"a:b\".replace(\":\", \"\") + device.mac");
    let mut session = e.session(&cm_context());
    for _ in 0..3 {
        assert_eq!(session.eval(&one).unwrap().as_int().unwrap(), 2);
        assert_eq!(session.eval(&two).unwrap().as_int().unwrap(), 10);
        assert_eq!(
            session.eval(&plain).unwrap().into_string().unwrap(),
            "ab00:10:95:00:00:01"
        );
    }
    // Another engine on the same thread starts from its own cache.
    let other = engine();
    let again = compile(&other, "\"x\".replace(\"x\", \"y\")");
    let mut s2 = other.session(&cm_context());
    assert_eq!(s2.eval(&again).unwrap().into_string().unwrap(), "y");
    assert_eq!(
        session.eval(&plain).unwrap().into_string().unwrap(),
        "ab00:10:95:00:00:01"
    );
}

#[test]
fn deep_recursion_is_stopped() {
    let err = error("fn down(n) { down(n + 1) }\ndown(0)");
    assert_eq!(err.kind, ExprErrorKind::Limit);
    assert!(err.message.contains("nested more than 16"), "{err}");
}

#[test]
fn huge_string_is_stopped() {
    let err = error("let s = \"x\"; loop { s += s; }");
    assert_eq!(err.kind, ExprErrorKind::Limit);
    assert!(err.message.contains("too large"), "{err}");
    let err = error("let s = \"\"; s.pad(100000, 'x'); s");
    assert_eq!(err.kind, ExprErrorKind::Limit);
}

#[test]
fn huge_array_and_blob_are_stopped() {
    assert_eq!(
        error("let a = []; a.pad(100000, 0); a").kind,
        ExprErrorKind::Limit
    );
    assert_eq!(error("blob(100000)").kind, ExprErrorKind::Limit);
}

#[test]
fn deep_nesting_is_rejected_at_compile_time() {
    let src = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    let err = engine().compile(&src, origin(7)).unwrap_err();
    assert_eq!(err.kind, ExprErrorKind::Limit, "{err}");
}

#[test]
fn no_sleep_or_time_functions() {
    let started = Instant::now();
    assert_eq!(error("sleep(10)").kind, ExprErrorKind::Runtime);
    assert_eq!(error("timestamp()").kind, ExprErrorKind::Runtime);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn print_and_debug_do_not_fail_the_expression() {
    assert_eq!(
        literal("print(relay.address); debug(device); 1"),
        int_lit(1)
    );
}

#[test]
fn context_is_read_only() {
    let err = error("relay = 1; 2");
    assert_eq!(err.kind, ExprErrorKind::Runtime);
    assert!(err.message.contains("read-only"), "{err}");
    let err = error("domains.push(\"admin\"); domains");
    assert!(err.message.contains("read-only"), "{err}");
    assert!(error("relay.address = ip(\"1.2.3.4\"); 1").kind == ExprErrorKind::Runtime);
}

#[test]
fn variables_do_not_leak_into_the_next_expression() {
    let e = engine();
    let shadow = compile(&e, "let relay = 5; relay");
    let read = compile(&e, "relay.address");
    let mut s = e.session(&cm_context());
    assert_eq!(s.eval(&shadow).unwrap().as_int().unwrap(), 5);
    assert_eq!(
        s.eval(&read).unwrap().try_cast::<Ip>(),
        Some(Ip(v4("10.0.0.1")))
    );
    // A failed evaluation is rewound too.
    let fail = compile(&e, "let relay = 7; throw \"no\"");
    assert!(s.eval(&fail).is_err());
    assert_eq!(
        s.eval(&read).unwrap().try_cast::<Ip>(),
        Some(Ip(v4("10.0.0.1")))
    );
}

#[test]
fn fn_definitions_compile_once_and_run_per_packet() {
    let e = engine();
    let expr = compile(&e, "fn next(a) { a + 1 }\nnext(relay.address)");
    let mut other = cm_context();
    other.relay.address = v4("10.9.0.1");
    assert_eq!(
        e.session(&cm_context()).eval_literal(&expr).unwrap(),
        ip_lit("10.0.0.2")
    );
    assert_eq!(
        e.session(&other).eval_literal(&expr).unwrap(),
        ip_lit("10.9.0.2")
    );
}

// --- error positions and messages -------------------------------------------

#[test]
fn compile_error_on_second_line_reports_config_line_plus_one() {
    let err = engine()
        .compile("let a = 1;\nlet b = ;\na", origin(40))
        .unwrap_err();
    assert_eq!(err.kind, ExprErrorKind::Syntax);
    assert_eq!(err.file, PathBuf::from("headend.toml"));
    assert_eq!(err.line, 41);
    assert_eq!(err.column, Some(9));
    assert_eq!(err.what, "policy docsis option tftp-server-name");
    assert!(err
        .to_string()
        .starts_with("headend.toml:41:9: policy docsis option tftp-server-name: "));
}

#[test]
fn compile_error_on_first_line_keeps_the_config_line() {
    let err = engine().compile("relay.address +", origin(12)).unwrap_err();
    assert_eq!(err.line, 12);
    assert!(err.column.is_some());
}

#[test]
fn misspelt_context_name_is_a_compile_error_that_lists_the_names() {
    let err = engine()
        .compile("\nrelai.address + 1", origin(20))
        .unwrap_err();
    assert_eq!(err.kind, ExprErrorKind::Syntax);
    assert_eq!(err.line, 21);
    assert_eq!(err.column, Some(1));
    assert!(err.message.contains("`relai`"), "{err}");
    assert!(err
        .message
        .contains("packet, relay, device, account, modem, domains, pool, lease"));
}

#[test]
fn context_inside_fn_is_an_error_with_advice() {
    let err = error("fn f() { relay.address }\nf()");
    assert_eq!(err.kind, ExprErrorKind::Runtime);
    assert!(err.message.contains("`relay`"), "{err}");
    assert!(err.message.contains("pass them as arguments"), "{err}");
}

#[test]
fn empty_expression_is_rejected() {
    let err = engine().compile("  \n ", origin(5)).unwrap_err();
    assert_eq!(err.kind, ExprErrorKind::Syntax);
    assert_eq!(err.line, 5);
}

#[test]
fn runtime_error_position_maps_to_the_config_file() {
    let e = engine();
    let expr = e
        .compile("let x = 1;\n  ip(\"bogus\")", origin(10))
        .unwrap();
    let err = e.session(&cm_context()).eval(&expr).unwrap_err();
    assert_eq!(err.kind, ExprErrorKind::Runtime);
    assert_eq!((err.line, err.column), (11, Some(3)));
    assert!(err.message.contains("not an IPv4 or IPv6 address"), "{err}");
}

#[test]
fn runtime_error_inside_fn_points_into_the_fn_body() {
    let e = engine();
    let expr = e
        .compile("fn bad() {\n    ip(\"x\")\n}\nbad()", origin(5))
        .unwrap();
    let err = e.session(&cm_context()).eval(&expr).unwrap_err();
    assert_eq!(err.line, 6, "{err}");
    assert!(err.message.contains("not an IPv4"), "{err}");
}

#[test]
fn unknown_function_says_what_to_check() {
    // A method no type has is found when the configuration is loaded.
    let err = compile_error("relay.address.frobnicate()");
    assert_eq!(err.kind, ExprErrorKind::Syntax);
    assert!(err.message.contains("frobnicate"), "{err}");
    assert!(err.message.contains("policies/README.md"), "{err}");
    // A function that exists, with arguments it does not take, only when called.
    let err = error("relay.address.contains(1, 2, 3)");
    assert_eq!(err.kind, ExprErrorKind::Runtime);
    assert!(err.message.contains("contains"), "{err}");
    assert!(err.message.contains("policies/README.md"), "{err}");
}

#[test]
fn thrown_string_is_the_message() {
    let err = error("throw \"no TFTP server for this relay\"");
    assert_eq!(err.message, "no TFTP server for this relay");
}

#[test]
fn expression_keeps_its_origin_and_source() {
    let e = engine();
    let expr = e.compile("relay.address + 1", origin(33)).unwrap();
    assert_eq!(expr.origin().line, 33);
    assert_eq!(expr.source(), "relay.address + 1");
    let copy = expr.clone();
    assert_eq!(copy.origin(), expr.origin());
}

// --- context getters --------------------------------------------------------

#[test]
fn packet_getters() {
    assert_eq!(literal("packet.protocol"), str_lit("dhcpv4"));
    assert_eq!(literal("packet.message_type"), str_lit("DHCPDISCOVER"));
    assert_eq!(literal("packet.xid"), int_lit(0x1234_5678));
    assert_eq!(literal("packet.hops"), int_lit(1));
    assert_eq!(literal("packet.ciaddr"), ip_lit("0.0.0.0"));
    assert_eq!(literal("packet.giaddr"), ip_lit("10.0.0.1"));
    assert_eq!(literal("packet.htype"), int_lit(1));
    assert_eq!(
        literal("packet.chaddr"),
        Some(Literal::Bytes(vec![0x00, 0x10, 0x95, 0x00, 0x00, 0x01]))
    );
    assert_eq!(literal("packet.mac"), str_lit("00:10:95:00:00:01"));
    assert_eq!(literal("hex(packet.client_id)"), str_lit("01001095000001"));
    assert_eq!(
        literal("packet.requested"),
        Some(Literal::List(
            [1, 3, 2, 4, 7, 66, 67, 122, 125].map(Literal::Int).to_vec()
        ))
    );
}

#[test]
fn packet_option_helpers() {
    assert_eq!(
        literal("packet.option(60)"),
        Some(Literal::Bytes(b"docsis3.0:".to_vec()))
    );
    assert_eq!(
        literal("packet.option(300)"),
        Some(Literal::Bytes(vec![0xff]))
    );
    assert_eq!(literal("packet.option(43)"), None);
    assert_eq!(literal("packet.option_str(60)"), str_lit("docsis3.0:"));
    assert_eq!(literal("packet.option_str(300)"), str_lit("\u{fffd}"));
    assert_eq!(literal("packet.option_str(43)"), None);
    assert_eq!(literal("packet.has_option(53)"), Some(Literal::Bool(true)));
    assert_eq!(literal("packet.has_option(43)"), Some(Literal::Bool(false)));
    assert_eq!(literal("packet.requested(122)"), Some(Literal::Bool(true)));
    assert_eq!(literal("packet.requested(43)"), Some(Literal::Bool(false)));
    assert_eq!(literal("packet.option(53)[0]"), int_lit(1));
    let err = error("packet.option(-1)");
    assert!(err.message.contains("0 to 65535"), "{err}");
    assert_eq!(
        error("packet.has_option(65536)").kind,
        ExprErrorKind::Runtime
    );
}

#[test]
fn relay_getters() {
    assert_eq!(literal("relay.address"), ip_lit("10.0.0.1"));
    assert_eq!(literal("relay.link_selection"), ip_lit("10.1.0.0"));
    assert_eq!(literal("relay.subnet_selection"), None);
    assert_eq!(
        literal("relay.circuit_id"),
        Some(Literal::Bytes(vec![0, 4, 0, 1]))
    );
    assert_eq!(
        literal("mac(relay.remote_id)"),
        str_lit("00:10:95:00:00:01")
    );
    assert_eq!(literal("relay.remote_id_mac"), str_lit("00:10:95:00:00:01"));
    assert_eq!(literal("relay.subscriber_id"), str_lit("sub-42"));
    assert_eq!(literal("relay.docsis_device_class"), int_lit(1));

    let mut ctx = cm_context();
    ctx.relay = RelayInfo {
        remote_id: vec![1, 2, 3],
        ..RelayInfo::default()
    };
    assert_eq!(literal_in(&ctx, "relay.address"), ip_lit("0.0.0.0"));
    assert_eq!(literal_in(&ctx, "relay.remote_id_mac"), str_lit(""));
    assert_eq!(
        literal_in(&ctx, "relay.remote_id_mac != \"\""),
        Some(Literal::Bool(false))
    );
    assert_eq!(literal_in(&ctx, "relay.docsis_device_class"), None);
    assert_eq!(literal_in(&ctx, "relay.link_selection"), None);
    assert_eq!(
        literal_in(&ctx, "relay.circuit_id"),
        Some(Literal::Bytes(Vec::new()))
    );
}

#[test]
fn device_getters() {
    assert_eq!(literal("device.vendor_class"), str_lit("docsis3.0:"));
    assert_eq!(literal("device.family"), str_lit("docsis"));
    assert_eq!(literal("device.version"), str_lit("3.0"));
    assert_eq!(literal("device.type_name"), str_lit("docsis3.0"));
    assert_eq!(literal("device.typeid"), int_lit(30));
    assert_eq!(
        literal("device.supported_flows"),
        Some(Literal::List(vec![
            Literal::Str("secure".into()),
            Literal::Str("hybrid".into())
        ]))
    );
    assert_eq!(literal("device.dual_stack"), Some(Literal::Bool(true)));
    assert_eq!(literal("device.ip_pref"), int_lit(1));
    assert_eq!(literal("device.device_type"), str_lit("ECM"));
    assert_eq!(literal("device.serial"), str_lit("SN123"));
    assert_eq!(literal("device.model"), str_lit("TCM-1"));
    assert_eq!(literal("device.vendor_name"), str_lit("ACME"));
    assert_eq!(literal("device.oui"), str_lit("001095"));
    assert_eq!(literal("device.mac"), str_lit("00:10:95:00:00:01"));
    assert_eq!(
        literal("device.capability(2)"),
        Some(Literal::Bytes(vec![3]))
    );
    assert_eq!(literal("device.capability(3)"), None);
    assert_eq!(
        literal("device.has_capability(1)"),
        Some(Literal::Bool(true))
    );
    assert_eq!(
        literal("device.has_capability(3)"),
        Some(Literal::Bool(false))
    );
    assert_eq!(literal("device.capability_int(2)"), int_lit(3));
    assert_eq!(literal("device.capability_int(40)"), int_lit(0x0102));
    assert_eq!(literal("device.capability_int(3)"), None);
    assert!(error("device.capability_int(41)")
        .message
        .contains("8 bytes"));
    assert!(error("device.capability(256)").message.contains("0 to 255"));

    let ctx = EvalContext::default();
    assert_eq!(literal_in(&ctx, "device.ip_pref"), None);
    assert_eq!(literal_in(&ctx, "device.vendor_class"), str_lit(""));
}

#[test]
fn account_and_modem_getters() {
    assert_eq!(literal("account.id"), str_lit("00:10:95:00:00:01"));
    assert_eq!(
        literal("account.domains"),
        Some(Literal::List(vec![Literal::Str("cablemodems".into())]))
    );
    assert_eq!(literal("account.attr(\"tier\")"), str_lit("gold"));
    assert_eq!(literal("account.attr(\"missing\")"), None);
    assert_eq!(literal("account.attributes.tier"), str_lit("gold"));
    assert_eq!(literal("modem == ()"), Some(Literal::Bool(true)));

    let mut ctx = cm_context();
    ctx.account = None;
    ctx.modem = Some(AccountInfo {
        id: "00:10:95:de:ad:00".into(),
        domains: vec!["quarantine".into()],
        attributes: BTreeMap::new(),
    });
    assert_eq!(literal_in(&ctx, "account == ()"), Some(Literal::Bool(true)));
    assert_eq!(literal_in(&ctx, "modem.id"), str_lit("00:10:95:de:ad:00"));
    // The classification idiom of policies/classify.rhai.
    let idiom = "if modem != () && modem.domains.contains(\"quarantine\") { [\"quarantine\"] } else { [\"cpe\"] }";
    assert_eq!(
        literal_in(&ctx, idiom),
        Some(Literal::List(vec![Literal::Str("quarantine".into())]))
    );
    assert_eq!(
        literal(idiom),
        Some(Literal::List(vec![Literal::Str("cpe".into())]))
    );
    assert_eq!(error_in(&ctx, "account.id").kind, ExprErrorKind::Runtime);
}

#[test]
fn domains_constant() {
    assert_eq!(
        literal("domains.contains(\"cablemodems\")"),
        Some(Literal::Bool(true))
    );
    assert_eq!(
        literal("domains.contains(\"emta\")"),
        Some(Literal::Bool(false))
    );
    assert_eq!(literal("domains.len()"), int_lit(2));
    assert_eq!(
        literal("let n = 0; for d in domains { n += d.len(); } n"),
        int_lit(14)
    );
}

#[test]
fn pool_and_lease_getters() {
    assert_eq!(literal("pool.name"), str_lit("cm-lab"));
    assert_eq!(literal("pool.network"), str_lit("10.1.0.0/16"));
    assert_eq!(
        literal("pool.relays"),
        Some(Literal::List(vec![
            Literal::Ip(v4("10.0.0.1")),
            Literal::Ip(v4("10.0.0.2"))
        ]))
    );
    assert_eq!(literal("pool.first"), ip_lit("10.1.0.10"));
    assert_eq!(literal("pool.last"), ip_lit("10.1.255.250"));
    assert_eq!(literal("lease.ip"), ip_lit("10.1.0.10"));
    assert_eq!(literal("lease.client"), str_lit("01:00:10:95:00:00:01"));
    assert_eq!(literal("lease.lifetime"), int_lit(3600));
    assert_eq!(literal("lease.commit_time"), int_lit(1_700_000_000));
    assert_eq!(literal("lease.pool"), str_lit("cm-lab"));
    assert_eq!(
        literal("lease.ip.in_subnet(pool.network)"),
        Some(Literal::Bool(true))
    );

    let ctx = EvalContext::default();
    assert_eq!(
        literal_in(&ctx, "pool == () && lease == ()"),
        Some(Literal::Bool(true))
    );
}

#[test]
fn store_records_convert_to_context() {
    let account = headend_store::Account {
        id: "00:10:95:00:00:01".into(),
        domains: vec!["cablemodems".into()],
        attributes: BTreeMap::new(),
        created: 1,
        source: headend_store::AccountSource::Config,
    };
    let info = AccountInfo::from(&account);
    assert_eq!(info.id, account.id);
    assert_eq!(info.domains, account.domains);
    let lease = headend_store::Lease4 {
        ip: Ipv4Addr::new(10, 1, 0, 10),
        client: ClientKey(vec![1, 2]),
        hwaddr: vec![2],
        state: headend_store::LeaseState::Active,
        commit_time: 5,
        lifetime: 60,
        relay: Ipv4Addr::new(10, 0, 0, 1),
        protocol: headend_store::LeaseProtocol::Dhcp,
        pool: "p".into(),
        trusted_id: None,
        trusted_id_type: None,
        hostname: None,
        relay_info: None,
    };
    let info = LeaseInfo::from(&lease);
    assert_eq!(
        (info.ip, info.lifetime, info.commit_time),
        (v4("10.1.0.10"), 60, 5)
    );
    assert_eq!(info.client, ClientKey(vec![1, 2]));
}

// --- Ip -------------------------------------------------------------------

#[test]
fn ip_arithmetic() {
    assert_eq!(literal("relay.address + 1"), ip_lit("10.0.0.2"));
    assert_eq!(literal("1 + relay.address"), ip_lit("10.0.0.2"));
    assert_eq!(literal("ip(\"10.0.1.0\") - 1"), ip_lit("10.0.0.255"));
    assert_eq!(
        literal("ip(\"2001:db8::ffff\") + 1"),
        ip_lit("2001:db8::1:0")
    );
    assert_eq!(
        literal("ip(\"0.0.0.0\") + 4294967295"),
        ip_lit("255.255.255.255")
    );
}

#[test]
fn ip_overflow_is_a_runtime_error() {
    let err = error("ip(\"255.255.255.255\") + 1");
    assert_eq!(err.kind, ExprErrorKind::Runtime);
    assert!(err.message.contains("address overflow"), "{err}");
    assert!(error("ip(\"0.0.0.0\") - 1")
        .message
        .contains("outside the IPv4"));
    assert!(error("ip(\"::\") - 1").message.contains("outside the IPv6"));
    assert!(error("ip(\"1.2.3.4\") - (-9223372036854775807 - 1)")
        .message
        .contains("overflow"));
}

#[test]
fn ip_comparison_and_conversion() {
    assert_eq!(
        literal("relay.address == ip(\"10.0.0.1\")"),
        Some(Literal::Bool(true))
    );
    assert_eq!(
        literal("relay.address != ip(\"10.0.0.1\")"),
        Some(Literal::Bool(false))
    );
    assert_eq!(
        literal("relay.address == \"10.0.0.1\""),
        Some(Literal::Bool(true))
    );
    assert_eq!(
        literal("\"10.0.0.2\" == relay.address"),
        Some(Literal::Bool(false))
    );
    assert_eq!(
        literal("relay.address != \"not an ip\""),
        Some(Literal::Bool(true))
    );
    assert_eq!(literal("to_string(relay.address + 1)"), str_lit("10.0.0.2"));
    assert_eq!(
        literal("(relay.address + 1).to_string()"),
        str_lit("10.0.0.2")
    );
    assert_eq!(
        literal("`tftp://${relay.address + 1}/`"),
        str_lit("tftp://10.0.0.2/")
    );
    assert_eq!(literal("\"at \" + relay.address"), str_lit("at 10.0.0.1"));
    assert_eq!(literal("relay.address.is_v4"), Some(Literal::Bool(true)));
    assert_eq!(literal("ip(\"::1\").is_v6"), Some(Literal::Bool(true)));
    assert_eq!(
        literal("relay.address.in_subnet(\"10.0.0.0/8\")"),
        Some(Literal::Bool(true))
    );
    assert_eq!(
        literal("relay.address.in_subnet(\"10.1.0.0/16\")"),
        Some(Literal::Bool(false))
    );
    assert!(error("relay.address.in_subnet(\"10.0.0.0\")")
        .message
        .contains("not a subnet"));
    assert_eq!(
        literal("relay.address.to_blob()"),
        Some(Literal::Bytes(vec![10, 0, 0, 1]))
    );
    assert_eq!(literal("ip(relay.address.to_blob())"), ip_lit("10.0.0.1"));
    assert_eq!(literal("ip(packet.option(50))"), None);
    assert_eq!(literal("type_of(relay.address)"), str_lit("Ip"));
    assert!(error("ip(packet.option(60))")
        .message
        .contains("4 or 16 bytes"));
}

// --- helpers ---------------------------------------------------------------

#[test]
fn hex_and_mac_helpers() {
    assert_eq!(literal("hex(packet.chaddr)"), str_lit("001095000001"));
    assert_eq!(
        literal("mac(packet.client_id)"),
        str_lit("01:00:10:95:00:00:01")
    );
    assert_eq!(literal("hex(packet.option(43))"), None);
    assert_eq!(literal("mac(packet.option(43))"), None);
}

#[test]
fn replace_and_trim_return_their_result() {
    assert_eq!(
        literal("\"cm-\" + device.mac.replace(\":\", \"\") + \".cfg\""),
        str_lit("cm-001095000001.cfg")
    );
    assert_eq!(
        literal("let m = device.mac; m.replace(\":\", \"\"); m"),
        str_lit("001095000001")
    );
    assert_eq!(
        literal("device.mac.replace(':', '-')"),
        str_lit("00-10-95-00-00-01")
    );
    assert_eq!(literal("\"  x \".trim()"), str_lit("x"));
    assert_eq!(
        literal("device.vendor_class.starts_with(\"docsis\")"),
        Some(Literal::Bool(true))
    );
    assert_eq!(
        literal("device.vendor_class.contains(\"3.0\")"),
        Some(Literal::Bool(true))
    );
}

// --- typed evaluation -------------------------------------------------------

#[test]
fn literal_conversion() {
    assert_eq!(literal("\"a\""), str_lit("a"));
    assert_eq!(literal("'c'"), str_lit("c"));
    assert_eq!(literal("-5"), int_lit(-5));
    assert_eq!(literal("true"), Some(Literal::Bool(true)));
    assert_eq!(literal("ip(\"::1\")"), ip_lit("::1"));
    assert_eq!(
        literal("let b = blob(2, 7); b"),
        Some(Literal::Bytes(vec![7, 7]))
    );
    assert_eq!(
        literal("[[1, \"x\"], [relay.address]]"),
        Some(Literal::List(vec![
            Literal::List(vec![Literal::Int(1), Literal::Str("x".into())]),
            Literal::List(vec![Literal::Ip(v4("10.0.0.1"))]),
        ]))
    );
    assert_eq!(literal("()"), None);
    assert_eq!(literal("if false { 1 }"), None);
}

#[test]
fn unusable_option_values_are_wrong_type() {
    let e = engine();
    let mut s = e.session(&cm_context());
    for src in ["1.5", "#{a: 1}", "[1, ()]", "relay", "[[[[[1]]]]]"] {
        let err = s.eval_literal(&compile(&e, src)).unwrap_err();
        assert_eq!(err.kind, ExprErrorKind::WrongType, "{src}: {err}");
        assert_eq!(err.line, 1);
    }
}

#[test]
fn eval_bool_accepts_only_booleans() {
    let e = engine();
    let mut s = e.session(&cm_context());
    assert!(s
        .eval_bool(&compile(&e, "relay.remote_id_mac != \"\""))
        .unwrap());
    assert!(!s
        .eval_bool(&compile(&e, "device.family == \"pktc\""))
        .unwrap());
    let err = s.eval_bool(&compile(&e, "if false { true }")).unwrap_err();
    assert_eq!(err.kind, ExprErrorKind::WrongType);
    assert!(err.message.contains("without `else`"), "{err}");
    assert_eq!(
        s.eval_bool(&compile(&e, "1")).unwrap_err().kind,
        ExprErrorKind::WrongType
    );
}

#[test]
fn domain_list_helper() {
    let e = engine();
    let mut s = e.session(&cm_context());
    let mut list = |src: &str| s.eval_string_list(&compile(&e, src));
    assert_eq!(
        list("[\"cablemodems\", \"voice\"]").unwrap(),
        ["cablemodems", "voice"]
    );
    assert_eq!(list("\"cpe\"").unwrap(), ["cpe"]);
    assert_eq!(list("[]").unwrap(), Vec::<String>::new());
    assert_eq!(list("if false { [\"x\"] }").unwrap(), Vec::<String>::new());
    let classify = "if device.family == \"docsis\" {\n  [\"cablemodems\"]\n} else if device.family == \"pktc\" {\n  [\"emta\"]\n} else { [] }";
    assert_eq!(list(classify).unwrap(), ["cablemodems"]);
    let err = list("[\"a\", 1]").unwrap_err();
    assert_eq!(err.kind, ExprErrorKind::WrongType);
    assert!(err.message.contains("element 1"), "{err}");
    assert_eq!(list("5").unwrap_err().kind, ExprErrorKind::WrongType);
}

// --- sharing ---------------------------------------------------------------

#[test]
fn concurrent_sessions_see_their_own_packet() {
    let engine = Arc::new(engine());
    let expr = engine.compile("relay.address + 1", origin(1)).unwrap();
    let threads: Vec<_> = (1..=4u8)
        .map(|t| {
            let engine = Arc::clone(&engine);
            let expr = expr.clone();
            std::thread::spawn(move || {
                let mut ctx = cm_context();
                for i in 0..200u8 {
                    ctx.relay.address = IpAddr::V4(Ipv4Addr::new(10, t, i, 1));
                    let got = engine.session(&ctx).eval_literal(&expr).unwrap();
                    assert_eq!(
                        got,
                        Some(Literal::Ip(IpAddr::V4(Ipv4Addr::new(10, t, i, 2))))
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn shared_context_session_matches_copied_one() {
    let e = engine();
    let expr = compile(&e, "[relay.address + 1, device.type_name]");
    let ctx = cm_context();
    let a = e.session(&ctx).eval_literal(&expr).unwrap();
    let b = e.session_shared(Arc::new(ctx)).eval_literal(&expr).unwrap();
    assert_eq!(a, b);
}

/// `cargo test -p headend-model --release -- --ignored expr_bench --nocapture`
#[test]
#[ignore]
fn expr_bench() {
    const PACKETS: u32 = 20_000;
    const PER_PACKET: u32 = 5;
    let e = engine();
    let expr = compile(&e, "relay.address + 1");
    let ctx = Arc::new(cm_context());

    let mut s = e.session_shared(Arc::clone(&ctx));
    let started = Instant::now();
    for _ in 0..PACKETS * PER_PACKET {
        let _ = std::hint::black_box(s.eval(&expr).unwrap());
    }
    let per_eval = started.elapsed().as_nanos() / u128::from(PACKETS * PER_PACKET);
    println!("expr_bench eval only: {per_eval} ns/eval (`relay.address + 1`)");

    for (label, copy) in [("session(&ctx)", true), ("session_shared(arc)", false)] {
        let started = Instant::now();
        for _ in 0..PACKETS {
            let mut s = if copy {
                e.session(&ctx)
            } else {
                e.session_shared(Arc::clone(&ctx))
            };
            for _ in 0..PER_PACKET {
                let _ = std::hint::black_box(s.eval(&expr).unwrap());
            }
        }
        let per_eval = started.elapsed().as_nanos() / u128::from(PACKETS * PER_PACKET);
        println!("expr_bench {label} + {PER_PACKET} evals: {per_eval} ns/eval amortised");
    }
}

fn compile_error(src: &str) -> ExprError {
    match engine().compile(src, origin(40)) {
        Ok(_) => panic!("{src}: compiled"),
        Err(e) => e,
    }
}

#[test]
fn a_property_typo_on_a_context_value_is_a_load_time_error() {
    let e = compile_error("if device.vendor_klass.starts_with(\"docsis\") { 1 }");
    assert_eq!(e.kind, ExprErrorKind::Syntax);
    assert_eq!((e.line, e.column), (40, Some(11)), "{e}");
    assert!(
        e.message
            .contains("`device` (Device) has no property `vendor_klass`"),
        "{e}"
    );
    // The valid names come from the engine's registrations.
    assert!(
        e.message.contains("`vendor_class`") && e.message.contains("`typeid`"),
        "{e}"
    );
    // On a later line of a script, and for the modem's account too.
    let e = compile_error("let x = 1;\nmodem.domain.contains(\"q\")");
    assert_eq!(e.line, 41, "{e}");
    assert!(
        e.message
            .contains("`modem` (Account) has no property `domain`"),
        "{e}"
    );
}

#[test]
fn a_method_typo_is_a_load_time_error() {
    let e = compile_error("device.vendor_class.startswith(\"docsis\")");
    assert!(
        e.message.contains("no value has a method `startswith`"),
        "{e}"
    );
    let e = compile_error("if account != () { account.atr(\"tier\") }");
    assert!(
        e.message
            .contains("`account` (Account) has no method `atr`"),
        "{e}"
    );
    assert!(e.message.contains("`attr`"), "{e}");
}

#[test]
fn the_api_check_leaves_valid_scripts_alone() {
    let e = engine();
    for src in [
        "device.vendor_class.starts_with(\"docsis\") && device.typeid > 0",
        "if account != () { account.attr(\"tier\") } else { () }",
        "\"cm-\" + device.mac.replace(\":\", \"\") + \".cfg\"",
        "packet.option(82)",
        "relay.address + 1",
        "let m = #{ a: 1 }; m.a + m.len()",
        // A context name declared again is the script's own value.
        "let device = #{ anything: 1 }; device.anything",
        // Script functions are methods too, and their parameters are theirs.
        "fn twice(x) { x * 2 } fn f(device) { device.whatever } 2.twice() + f(#{whatever: 1})",
        "type_of(device) == \"Device\" && device.to_string() != \"\"",
        "modem != () && modem.domains.contains(\"quarantine\")",
    ] {
        if let Err(err) = e.compile(src, origin(1)) {
            panic!("{src}: {err}");
        }
    }
}

#[test]
fn a_constant_expression_is_known_at_load_and_nothing_else_is() {
    let e = engine();
    let c = |src: &str| e.constant(&compile(&e, src));
    assert_eq!(c("\"cm-basic.cfg\""), str_lit("cm-basic.cfg"));
    assert_eq!(c("42"), Some(Literal::Int(42)));
    assert_eq!(c("device.mac"), None);
    assert_eq!(c("\"cm-\" + device.mac"), None);
    assert_eq!(c("let x = 1; x"), None);
    assert_eq!(c("()"), None, "() means leave the option out, per packet");
}

#[test]
fn raw_options_keep_the_first_occurrence_in_code_order() {
    let mut o: RawOptions = [
        (60u16, &b"docsis3.0:"[..]),
        (53, &[1][..]),
        (60, &b"other"[..]),
    ]
    .into_iter()
    .collect();
    assert_eq!(o.len(), 2);
    assert_eq!(o.get(60), Some(&b"docsis3.0:"[..]));
    assert_eq!(o.get(53), Some(&[1][..]));
    assert!(o.contains(53) && !o.contains(54));
    assert_eq!(o.get(54), None);
    assert!(o.insert(1, &[]), "an empty option is an option");
    assert_eq!(o.get(1), Some(&[][..]));
    let codes: Vec<u16> = o.iter().map(|(c, _)| c).collect();
    assert_eq!(codes, vec![1, 53, 60]);
    assert!(!RawOptions::default().contains(0) && RawOptions::default().is_empty());
}

/// The context API reference (policies/README.md, "Context variables")
/// names every property and method the engine registers for each context
/// value, and nothing it does not: the document cannot drift from the code.
#[test]
fn the_context_reference_matches_the_registered_api() {
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../policies/README.md"
    ))
    .unwrap();
    // `### `var`…` sections; first-column entries `var.name`, `var.name(…)` or `.name`.
    let mut documented: BTreeMap<
        String,
        (
            std::collections::BTreeSet<String>,
            std::collections::BTreeSet<String>,
        ),
    > = BTreeMap::new();
    let mut vars: Vec<String> = Vec::new();
    for line in readme.lines() {
        if let Some(head) = line.strip_prefix("### ") {
            vars = head
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            continue;
        }
        if line.starts_with("## ") {
            vars.clear();
        }
        let Some(cell) = line.strip_prefix("| `") else {
            continue;
        };
        let Some(entry) = cell.split('`').next() else {
            continue;
        };
        let member = match entry.split_once('.') {
            Some((var, m)) if var.is_empty() || vars.iter().any(|v| v == var) => m,
            _ => continue,
        };
        let (name, method) = match member.split_once('(') {
            Some((n, _)) => (n, true),
            None => (member, false),
        };
        for var in &vars {
            let e = documented.entry(var.clone()).or_default();
            if method {
                e.1.insert(name.to_string());
            } else {
                e.0.insert(name.to_string());
            }
        }
    }
    let api = engine().api.surface();
    let mut problems = Vec::new();
    for (var, props, methods) in &api {
        let (dp, dm) = documented.get(*var).cloned().unwrap_or_default();
        for p in props.iter().filter(|p| !dp.contains(*p)) {
            problems.push(format!("`{var}.{p}` is registered but not documented"));
        }
        for p in dp.iter().filter(|p| !props.contains(*p)) {
            problems.push(format!("`{var}.{p}` is documented but not registered"));
        }
        for m in methods
            .iter()
            .filter(|m| !dm.contains(*m) && !dp.contains(*m))
        {
            problems.push(format!("`{var}.{m}(…)` is registered but not documented"));
        }
        for m in dm.iter().filter(|m| !methods.contains(*m)) {
            problems.push(format!("`{var}.{m}(…)` is documented but not registered"));
        }
    }
    assert!(api.len() >= 7, "{api:?}");
    assert!(
        problems.is_empty(),
        "policies/README.md vs the engine:\n{}",
        problems.join("\n")
    );
}
