//! Management events through the mem-event hook (issue 3, hook 3; seed 000
//! section 6.5): the plugin's actions move the device's account between
//! domains durably, set attributes, publish and log; actions that cannot be
//! applied are skipped with a reason; no plugin or a failing plugin means the
//! event is ignored and counted. The hook is native here; the real
//! `mem-events.wasm` is exercised through the host in `headend-plugin`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use headend_abi::{
    Account as AbiAccount, ConfigFile, ConfigRequest, Device, EventAction, EventActions,
    EventLevel, EventTransport, FlowDecision, LogLevel, MemEvent, Protocol,
};
use headend_model::config::SourceFile;
use headend_model::plugins::{HookError, Hooks};
use headend_model::snapshot::Snapshot;
use headend_server::accounts::AccountTable;
use headend_server::counters::Counters;
use headend_server::events::{EventError, EventSink};
use headend_store::{GroupCommitter, GroupOptions, MemoryStore, Store};

const CONFIG: &str = r#"
[server]
store = "state"
[dhcpv4]
listen = ["127.0.0.1:0"]
[[domain]]
name = "emta"
[[domain]]
name = "quarantine"
[[account]]
id = "00:10:95:0e:00:99"
domains = ["emta"]
"#;

#[derive(Debug)]
struct Rules(Option<EventActions>);

impl Hooks for Rules {
    fn select_flow(&self, _d: &Device) -> Option<Result<FlowDecision, HookError>> {
        None
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
        Some(self.0.clone().ok_or(HookError {
            plugin: "rules".into(),
            kind: "deadline".into(),
            detail: "interrupted".into(),
        }))
    }
}

fn snapshot(hooks: Option<Rules>) -> Snapshot {
    let src = SourceFile::new("/tmp/events-test.toml".into(), CONFIG.into());
    let snap = Snapshot::from_source(&src, 1).unwrap();
    match hooks {
        Some(h) => snap.clone_with_hooks(Arc::new(h)),
        None => snap,
    }
}

fn event(mac: &str, account: Option<&str>) -> MemEvent {
    let mut dev = Device::with_mac(Protocol::Lease, mac);
    dev.account = account.map(|id| AbiAccount {
        id: id.into(),
        domains: vec!["emta".into()],
        attributes: Vec::new(),
    });
    MemEvent {
        device: Some(dev),
        source: Some("10.2.0.10".parse().unwrap()),
        transport: EventTransport::Local,
        level: EventLevel::Critical,
        enterprise: 4491,
        event_id: 4_000_950_100,
        text: "provisioning failed".into(),
        endpoint: None,
        received_unix_ms: 1_700_000_000_000,
    }
}

struct Fixture {
    sink: EventSink,
    store: Arc<MemoryStore>,
    committer: Arc<GroupCommitter>,
    accounts: Arc<AccountTable>,
    counters: Arc<Counters>,
}

fn fixture() -> Fixture {
    let store = Arc::new(MemoryStore::default());
    let committer = Arc::new(GroupCommitter::start(
        store.clone() as Arc<dyn Store>,
        GroupOptions::default(),
    ));
    let accounts = Arc::new(AccountTable::default());
    let counters = Arc::new(Counters::default());
    Fixture {
        sink: EventSink::new(accounts.clone(), committer.clone(), counters.clone()),
        store,
        committer,
        accounts,
        counters,
    }
}

#[test]
fn quarantine_action_moves_the_account_durably() {
    let f = fixture();
    let actions = EventActions {
        actions: vec![
            EventAction::AddDomain("quarantine".into()),
            EventAction::SetAttribute {
                key: "last_event".into(),
                value: "4000950100".into(),
            },
            EventAction::Publish {
                topic: "quarantine".into(),
                payload: "00:10:95:0e:00:01".into(),
            },
            EventAction::Log {
                level: LogLevel::Warn,
                message: "device quarantined".into(),
            },
            EventAction::AddDomain("no-such-domain".into()),
        ],
    };
    let snap = snapshot(Some(Rules(Some(actions))));
    let out = f
        .sink
        .handle(
            &snap,
            &event("00:10:95:0e:00:01", None),
            1_700_000_000,
            true,
        )
        .unwrap();
    assert_eq!(out.applied, 4);
    assert_eq!(out.skipped.len(), 1, "{:?}", out.skipped);
    assert!(out.skipped[0].contains("not declared"), "{:?}", out.skipped);
    let acc = f.accounts.get("00:10:95:0e:00:01").unwrap();
    assert_eq!(acc.domains, ["quarantine"]);
    assert_eq!(
        acc.attributes.get("last_event").map(String::as_str),
        Some("4000950100")
    );
    f.committer.flush_blocking().unwrap();
    assert_eq!(f.store.account("00:10:95:0e:00:01").unwrap(), Some(acc));
    let published = f.sink.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].topic, "quarantine");
    assert_eq!(published[0].mac.as_deref(), Some("00:10:95:0e:00:01"));

    // A second event keeps the domain first and does not duplicate it.
    let actions = EventActions {
        actions: vec![
            EventAction::AddDomain("emta".into()),
            EventAction::AddDomain("quarantine".into()),
        ],
    };
    let snap = snapshot(Some(Rules(Some(actions))));
    let out = f
        .sink
        .handle(
            &snap,
            &event("00:10:95:0e:00:01", None),
            1_700_000_001,
            true,
        )
        .unwrap();
    assert_eq!(out.account.unwrap().domains, ["quarantine", "emta"]);
}

#[test]
fn an_event_from_an_untrusted_sender_changes_no_account() {
    let f = fixture();
    let actions = EventActions {
        actions: vec![
            EventAction::AddDomain("quarantine".into()),
            EventAction::Log {
                level: LogLevel::Info,
                message: "seen".into(),
            },
        ],
    };
    let snap = snapshot(Some(Rules(Some(actions))));
    let out = f
        .sink
        .handle(&snap, &event("00:10:95:0e:00:01", None), 1, false)
        .unwrap();
    assert_eq!(out.applied, 1, "the log action only");
    assert!(
        out.skipped[0].contains("did not come from the device's own address"),
        "{:?}",
        out.skipped
    );
    assert!(f.accounts.get("00:10:95:0e:00:01").is_none());
}

#[test]
fn configured_accounts_are_not_changed_by_events() {
    let f = fixture();
    let actions = EventActions {
        actions: vec![EventAction::SetDomains(vec!["quarantine".into()])],
    };
    let snap = snapshot(Some(Rules(Some(actions))));
    let out = f
        .sink
        .handle(
            &snap,
            &event("00:10:95:0e:00:99", Some("00:10:95:0e:00:99")),
            1,
            true,
        )
        .unwrap();
    assert_eq!(out.applied, 0);
    assert!(
        out.skipped[0].contains("declared in the configuration"),
        "{:?}",
        out.skipped
    );
    assert!(f.accounts.get("00:10:95:0e:00:99").is_none());
}

#[test]
fn no_plugin_or_a_failing_plugin_ignores_the_event_and_counts_it() {
    let f = fixture();
    let err = f
        .sink
        .handle(&snapshot(None), &event("00:10:95:0e:00:01", None), 1, true)
        .unwrap_err();
    assert_eq!(err, EventError::NoHandler);
    let err = f
        .sink
        .handle(
            &snapshot(Some(Rules(None))),
            &event("00:10:95:0e:00:01", None),
            1,
            true,
        )
        .unwrap_err();
    assert!(matches!(err, EventError::Plugin(_)), "{err:?}");
    assert!(f.accounts.get("00:10:95:0e:00:01").is_none());
    let fb = f.counters.hook_fallbacks();
    assert_eq!(fb.get(&("mem-event", "no_handler".to_string())), Some(&1));
    assert_eq!(fb.get(&("mem-event", "deadline".to_string())), Some(&1));
    // Both are listed for the dashboard with what became of them.
    let seen = f.sink.received();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].mac.as_deref(), Some("00:10:95:0e:00:01"));
    assert!(
        seen[0].outcome.starts_with("ignored: no mem-event plugin"),
        "{seen:?}"
    );
    assert!(seen[1].outcome.starts_with("ignored: "), "{seen:?}");
}

#[test]
fn received_events_are_listed_with_their_outcome_and_bounded() {
    let f = fixture();
    let actions = EventActions {
        actions: vec![EventAction::AddDomain("quarantine".into())],
    };
    let snap = snapshot(Some(Rules(Some(actions))));
    for _ in 0..(headend_server::events::RECEIVED_KEPT + 5) {
        f.sink
            .handle(&snap, &event("00:10:95:0e:00:01", None), 1, true)
            .unwrap();
    }
    let seen = f.sink.received();
    assert_eq!(seen.len(), headend_server::events::RECEIVED_KEPT);
    let last = seen.last().unwrap();
    assert_eq!(last.outcome, "actions applied: 1");
    assert!(last.id.contains('.'), "{last:?}");
}
