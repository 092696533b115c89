//! `mem-events`: turns PacketCable management events (PKT-SP-EUE-PROV
//! section 6.5; PKTC-EVENT-MIB priority levels critical(1) … information(5),
//! enterprise 4491 for PacketCable-defined events) into account actions.
//!
//! Two mechanisms, both driven by the plugin configuration (README.md):
//! * rules: every rule whose event id / enterprise / level criteria match
//!   contributes its actions, in rule order;
//! * quarantine: `threshold` provisioning-failure events from one device
//!   within `window_secs` move it to the quarantine domain, with a Publish
//!   and a Log action. The failure times live in the plugin's key/value
//!   store (each call runs in a fresh instance).
//!
//! PacketCable event ids are operator and vendor specific (the id registry
//! PKTC-EVENT-MIB points to is not public), so no id is built in: the
//! configuration names them.

use headend_sdk::{
    host, ConfigError, ConfigExt, ConfigValue, EventAction, EventActions, EventLevel, LogLevel,
    MemEvent, PluginConfig,
};

/// Prefix of the key/value keys holding failure times, one key per device.
const FAIL_KEY_PREFIX: &str = "fail/";
/// Bytes per stored failure time (i64, little endian).
const STAMP: usize = 8;

fn parse_level(key: &str, s: &str) -> Result<EventLevel, String> {
    match s.to_ascii_lowercase().as_str() {
        "critical" => Ok(EventLevel::Critical),
        "major" => Ok(EventLevel::Major),
        "minor" => Ok(EventLevel::Minor),
        "warning" => Ok(EventLevel::Warning),
        "information" => Ok(EventLevel::Information),
        _ => Err(ConfigError::invalid(
            key,
            format!(
                "unknown level `{s}` \
                 (critical, major, minor, warning, information)"
            ),
        )
        .into()),
    }
}

fn level_name(level: EventLevel) -> &'static str {
    match level {
        EventLevel::Critical => "critical",
        EventLevel::Major => "major",
        EventLevel::Minor => "minor",
        EventLevel::Warning => "warning",
        EventLevel::Information => "information",
    }
}

fn parse_log_level(s: &str) -> Result<LogLevel, String> {
    match s.to_ascii_lowercase().as_str() {
        "trace" => Ok(LogLevel::Trace),
        "debug" => Ok(LogLevel::Debug),
        "info" => Ok(LogLevel::Info),
        "warn" => Ok(LogLevel::Warn),
        "error" => Ok(LogLevel::Error),
        _ => Err(format!(
            "log action: unknown level `{s}` (trace, debug, info, warn, error)"
        )),
    }
}

/// Event ids from configuration integers (PKTC-EVENT-MIB Id is Unsigned32).
fn event_ids(table: &dyn ConfigExt, key: &str) -> Result<Vec<u32>, String> {
    table
        .int_list(key)?
        .into_iter()
        .map(|i| {
            u32::try_from(i)
                .map_err(|_| ConfigError::invalid(key, format!("{i} is not an event id")).into())
        })
        .collect()
}

fn levels(table: &dyn ConfigExt, key: &str) -> Result<Vec<EventLevel>, String> {
    table
        .str_list(key)?
        .into_iter()
        .map(|s| parse_level(key, s))
        .collect()
}

/// Expands `{mac}`, `{event_id}`, `{enterprise}`, `{level}`, `{text}`,
/// `{endpoint}`, `{source}` and `{count}` in a message template.
fn expand(template: &str, ev: &MemEvent, count: usize) -> String {
    let mac = ev.device.as_ref().map_or("-", |d| d.mac.as_str());
    let source = ev
        .source
        .map(|a| a.to_string())
        .unwrap_or_else(|| "-".into());
    template
        .replace("{mac}", mac)
        .replace("{event_id}", &ev.event_id.to_string())
        .replace("{enterprise}", &ev.enterprise.to_string())
        .replace("{level}", level_name(ev.level))
        .replace("{text}", &ev.text)
        .replace("{endpoint}", ev.endpoint.as_deref().unwrap_or("-"))
        .replace("{source}", &source)
        .replace("{count}", &count.to_string())
}

/// One configured action; exactly one of its keys names the kind.
fn action(spec: &ConfigValue, ev: &MemEvent) -> Result<EventAction, String> {
    let kinds = [
        "add_domain",
        "remove_domain",
        "set_domains",
        "set_attribute",
        "remove_attribute",
        "publish",
        "log",
    ];
    let present: Vec<&str> = kinds
        .iter()
        .copied()
        .filter(|k| spec.value(k).is_some())
        .collect();
    let kind = match present.as_slice() {
        [one] => *one,
        _ => {
            return Err(format!(
                "an action needs exactly one of {}, found {present:?}",
                kinds.join(", ")
            ))
        }
    };
    let text = |key: &str| -> Result<String, String> { Ok(expand(spec.require_str(key)?, ev, 0)) };
    Ok(match kind {
        "add_domain" => EventAction::AddDomain(text(kind)?),
        "remove_domain" => EventAction::RemoveDomain(text(kind)?),
        "set_domains" => EventAction::SetDomains(
            spec.str_list(kind)?
                .into_iter()
                .map(|d| expand(d, ev, 0))
                .collect(),
        ),
        "set_attribute" => EventAction::SetAttribute {
            key: text(kind)?,
            value: expand(spec.str_or("value", "{text}")?, ev, 0),
        },
        "remove_attribute" => EventAction::RemoveAttribute(text(kind)?),
        "publish" => EventAction::Publish {
            topic: text(kind)?,
            payload: expand(
                spec.str_or("payload", "{mac} {level} {enterprise}/{event_id} {text}")?,
                ev,
                0,
            ),
        },
        _ => EventAction::Log {
            level: parse_log_level(spec.require_str(kind)?)?,
            message: expand(
                spec.str_or("message", "{mac} {level} {enterprise}/{event_id} {text}")?,
                ev,
                0,
            ),
        },
    })
}

fn touches_account(a: &EventAction) -> bool {
    !matches!(a, EventAction::Publish { .. } | EventAction::Log { .. })
}

/// An absent enterprise criterion matches every enterprise.
fn enterprise_matches(want: Option<i64>, ev: &MemEvent) -> bool {
    match want {
        Some(e) => e == i64::from(ev.enterprise),
        None => true,
    }
}

/// Whether a rule's criteria (each optional) match the event.
fn matches(rule: &ConfigValue, ev: &MemEvent) -> Result<bool, String> {
    let ids = event_ids(rule, "event_id")?;
    let lv = levels(rule, "level")?;
    let enterprise = rule.opt_int("enterprise")?;
    Ok((ids.is_empty() || ids.contains(&ev.event_id))
        && (lv.is_empty() || lv.contains(&ev.level))
        && enterprise_matches(enterprise, ev))
}

/// Quarantine settings (`[quarantine]` table); `None` when not configured.
struct Quarantine {
    event_ids: Vec<u32>,
    enterprise: Option<i64>,
    threshold: usize,
    window_ms: i64,
    domain: String,
    replace: bool,
    topic: String,
}

impl Quarantine {
    fn parse(cfg: &PluginConfig) -> Result<Option<Quarantine>, String> {
        let t = match cfg.table("quarantine")? {
            Some(t) => t,
            None => return Ok(None),
        };
        let ids = event_ids(t, "event_ids")?;
        if ids.is_empty() {
            return Err(ConfigError::invalid(
                "quarantine.event_ids",
                "name the provisioning-failure event ids",
            )
            .into());
        }
        let threshold = t.int_or("threshold", 3)?;
        let window = t.int_or("window_secs", 900)?;
        if !(1..=1000).contains(&threshold) || !(1..=31_536_000).contains(&window) {
            return Err(ConfigError::invalid(
                "quarantine",
                "threshold must be 1..=1000 and window_secs 1..=31536000",
            )
            .into());
        }
        let replace = match t.str_or("mode", "add")? {
            "add" => false,
            "set" => true,
            other => {
                return Err(ConfigError::invalid(
                    "quarantine.mode",
                    format!("`{other}` is not add or set"),
                )
                .into())
            }
        };
        Ok(Some(Quarantine {
            event_ids: ids,
            enterprise: t.opt_int("enterprise")?,
            threshold: threshold as usize,
            window_ms: window * 1000,
            domain: t.str_or("domain", "quarantine")?.to_string(),
            replace,
            topic: t.str_or("topic", "provisioning/quarantine")?.to_string(),
        }))
    }

    fn counts(&self, ev: &MemEvent) -> bool {
        self.event_ids.contains(&ev.event_id) && enterprise_matches(self.enterprise, ev)
    }

    /// Records the failure; the quarantine actions once the threshold is reached.
    fn record(&self, mac: &str, in_domain: bool, now: i64, ev: &MemEvent) -> Vec<EventAction> {
        let key = format!("{FAIL_KEY_PREFIX}{mac}");
        let mut stamps = match host::kv_get(key.as_bytes()) {
            Ok(v) => decode_stamps(&v.unwrap_or_default()),
            Err(e) => {
                host::error(&format!("{mac}: failure history unavailable: {e}"));
                return Vec::new();
            }
        };
        let horizon = now.saturating_sub(self.window_ms);
        stamps.retain(|t| *t > horizon);
        stamps.push(now);
        // Only the last `threshold` failures can matter.
        if stamps.len() > self.threshold {
            stamps.drain(..stamps.len() - self.threshold);
        }
        if stamps.len() < self.threshold {
            if let Err(e) = host::kv_put(key.as_bytes(), &encode_stamps(&stamps)) {
                host::error(&format!("{mac}: failure history not saved: {e}"));
            }
            return Vec::new();
        }
        if let Err(e) = host::kv_delete(key.as_bytes()) {
            host::error(&format!("{mac}: failure history not cleared: {e}"));
        }
        if in_domain {
            return Vec::new();
        }
        let message = expand(
            &format!(
                "{{mac}} moved to domain {} after {{count}} provisioning failures within {} s (last: {{enterprise}}/{{event_id}} {{text}})",
                self.domain,
                self.window_ms / 1000
            ),
            ev,
            stamps.len(),
        );
        vec![
            if self.replace {
                EventAction::SetDomains(vec![self.domain.clone()])
            } else {
                EventAction::AddDomain(self.domain.clone())
            },
            EventAction::Publish {
                topic: self.topic.clone(),
                payload: message.clone(),
            },
            EventAction::Log {
                level: LogLevel::Warn,
                message,
            },
        ]
    }
}

fn encode_stamps(stamps: &[i64]) -> Vec<u8> {
    stamps.iter().flat_map(|t| t.to_le_bytes()).collect()
}

/// Failure times from storage; a torn tail (never written by this plugin) is dropped.
fn decode_stamps(bytes: &[u8]) -> Vec<i64> {
    bytes
        .chunks_exact(STAMP)
        .map(|c| {
            let mut b = [0u8; STAMP];
            b.copy_from_slice(c);
            i64::from_le_bytes(b)
        })
        .collect()
}

/// The management-event hook.
pub fn handle(ev: &MemEvent, cfg: &PluginConfig) -> Result<EventActions, String> {
    let quarantine = Quarantine::parse(cfg)?;
    let mut actions = Vec::new();
    for rule in cfg.tables("rules")? {
        if matches(rule, ev)? {
            for spec in rule.tables("actions")? {
                actions.push(action(spec, ev)?);
            }
        }
    }
    if let Some(q) = quarantine.filter(|q| q.counts(ev)) {
        match &ev.device {
            Some(dev) => {
                let now = if ev.received_unix_ms > 0 {
                    ev.received_unix_ms
                } else {
                    host::now_unix_ms()
                };
                actions.extend(q.record(&dev.mac, dev.in_domain(&q.domain), now, ev));
            }
            None => host::debug(&format!(
                "event {}/{} from an unknown device: not counted",
                ev.enterprise, ev.event_id
            )),
        }
    }
    if ev.device.is_none() && actions.iter().any(touches_account) {
        host::warn(&format!(
            "event {}/{} has no device: account actions dropped",
            ev.enterprise, ev.event_id
        ));
        actions.retain(|a| !touches_account(a));
    }
    Ok(EventActions { actions })
}

headend_sdk::event_handler!(handle);

#[cfg(test)]
mod tests {
    use super::*;
    use headend_sdk::testing::{self, config, string, strings, table};
    use headend_sdk::{Device, EventTransport, Protocol};

    const FAIL: i64 = 4_000_950_100;

    fn event(id: u32, level: EventLevel, at: i64) -> MemEvent {
        let mut dev = Device::with_mac(Protocol::Lease, "00:10:18:aa:bb:cc");
        dev.domains = vec!["voice".into(), "all".into()];
        MemEvent {
            device: Some(dev),
            source: Some("192.0.2.44".parse().unwrap()),
            transport: EventTransport::Syslog,
            level,
            enterprise: 4491,
            event_id: id,
            text: "provisioning failed".into(),
            endpoint: None,
            received_unix_ms: at,
        }
    }

    fn quarantine_cfg(mode: &str) -> PluginConfig {
        config(vec![(
            "quarantine",
            table(vec![
                ("event_ids", ConfigValue::List(vec![ConfigValue::Int(FAIL)])),
                ("threshold", ConfigValue::Int(3)),
                ("window_secs", ConfigValue::Int(600)),
                ("domain", string("quarantine")),
                ("mode", string(mode)),
            ]),
        )])
    }

    fn call(cfg: &PluginConfig, ev: &MemEvent) -> Vec<EventAction> {
        testing::mem_event(headend_mem_event, cfg, ev)
            .unwrap()
            .actions
    }

    #[test]
    fn rules_map_ids_and_levels_to_actions() {
        testing::reset();
        let cfg = config(vec![(
            "rules",
            ConfigValue::List(vec![
                table(vec![
                    ("event_id", ConfigValue::Int(7)),
                    ("level", strings(&["critical", "major"])),
                    (
                        "actions",
                        ConfigValue::List(vec![
                            table(vec![("add_domain", string("needs-attention"))]),
                            table(vec![
                                ("set_attribute", string("last_event")),
                                ("value", string("{event_id}:{text}")),
                            ]),
                            table(vec![("publish", string("voice/alarm"))]),
                        ]),
                    ),
                ]),
                table(vec![(
                    "actions",
                    ConfigValue::List(vec![table(vec![
                        ("log", string("info")),
                        ("message", string("{mac} said {text} via {source}")),
                    ])]),
                )]),
            ]),
        )]);
        let got = call(&cfg, &event(7, EventLevel::Critical, 1));
        assert_eq!(
            got,
            vec![
                EventAction::AddDomain("needs-attention".into()),
                EventAction::SetAttribute {
                    key: "last_event".into(),
                    value: "7:provisioning failed".into()
                },
                EventAction::Publish {
                    topic: "voice/alarm".into(),
                    payload: "00:10:18:aa:bb:cc critical 4491/7 provisioning failed".into()
                },
                EventAction::Log {
                    level: LogLevel::Info,
                    message: "00:10:18:aa:bb:cc said provisioning failed via 192.0.2.44".into()
                },
            ]
        );
        // Level outside the first rule's criteria: only the catch-all rule.
        assert_eq!(call(&cfg, &event(7, EventLevel::Warning, 1)).len(), 1);
        assert_eq!(call(&cfg, &event(8, EventLevel::Critical, 1)).len(), 1);
    }

    #[test]
    fn repeated_failures_within_window_quarantine_once() {
        testing::reset();
        let cfg = quarantine_cfg("add");
        let t0 = 1_700_000_000_000;
        assert!(call(&cfg, &event(FAIL as u32, EventLevel::Critical, t0)).is_empty());
        assert!(call(&cfg, &event(FAIL as u32, EventLevel::Critical, t0 + 1_000)).is_empty());
        assert_eq!(testing::kv_entries().len(), 1);
        let got = call(&cfg, &event(FAIL as u32, EventLevel::Critical, t0 + 2_000));
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0], EventAction::AddDomain("quarantine".into()));
        match (&got[1], &got[2]) {
            (EventAction::Publish { topic, payload }, EventAction::Log { level, message }) => {
                assert_eq!(topic, "provisioning/quarantine");
                assert_eq!(payload, message);
                assert_eq!(*level, LogLevel::Warn);
                assert!(payload.starts_with(
                    "00:10:18:aa:bb:cc moved to domain quarantine after 3 provisioning failures within 600 s"
                ), "{payload}");
            }
            other => panic!("{other:?}"),
        }
        // The counter starts over after a quarantine.
        assert!(testing::kv_entries().is_empty());
    }

    #[test]
    fn failures_outside_window_do_not_count() {
        testing::reset();
        let cfg = quarantine_cfg("set");
        let t0 = 1_700_000_000_000;
        let ev = |t| event(FAIL as u32, EventLevel::Major, t);
        assert!(call(&cfg, &ev(t0)).is_empty());
        assert!(call(&cfg, &ev(t0 + 300_000)).is_empty());
        // t0 leaves the 600 s window: two in window, not three.
        assert!(call(&cfg, &ev(t0 + 600_000)).is_empty());
        let got = call(&cfg, &ev(t0 + 601_000));
        assert_eq!(got[0], EventAction::SetDomains(vec!["quarantine".into()]));
    }

    #[test]
    fn already_quarantined_and_unknown_devices_are_left_alone() {
        testing::reset();
        let cfg = quarantine_cfg("add");
        let mut ev = event(FAIL as u32, EventLevel::Critical, 0);
        ev.device
            .as_mut()
            .unwrap()
            .domains
            .insert(0, "quarantine".into());
        for _ in 0..3 {
            assert!(call(&cfg, &ev).is_empty());
        }
        ev.device = None;
        for _ in 0..5 {
            assert!(call(&cfg, &ev).is_empty());
        }
        assert!(testing::kv_entries().is_empty());
    }

    #[test]
    fn clock_is_used_when_the_event_has_no_time() {
        testing::reset();
        let cfg = quarantine_cfg("add");
        let ev = event(FAIL as u32, EventLevel::Critical, 0);
        call(&cfg, &ev);
        let stored = testing::kv_entries();
        assert_eq!(stored[0].0, b"fail/00:10:18:aa:bb:cc".to_vec());
        assert_eq!(
            decode_stamps(&stored[0].1),
            vec![testing::DEFAULT_NOW_UNIX_MS]
        );
    }

    #[test]
    fn account_actions_need_a_device() {
        testing::reset();
        let cfg = config(vec![(
            "rules",
            ConfigValue::List(vec![table(vec![(
                "actions",
                ConfigValue::List(vec![
                    table(vec![("remove_domain", string("voice"))]),
                    table(vec![("publish", string("t"))]),
                ]),
            )])]),
        )]);
        let mut ev = event(1, EventLevel::Minor, 1);
        ev.device = None;
        let got = call(&cfg, &ev);
        assert_eq!(
            got,
            vec![EventAction::Publish {
                topic: "t".into(),
                payload: "- minor 4491/1 provisioning failed".into()
            }]
        );
        assert_eq!(testing::take_logs()[0].level, LogLevel::Warn);
    }

    #[test]
    fn store_failure_is_logged_not_fatal() {
        testing::reset();
        testing::kv_fail_with(Some(-5));
        let got = call(
            &quarantine_cfg("add"),
            &event(FAIL as u32, EventLevel::Critical, 1),
        );
        assert!(got.is_empty());
        let logs = testing::take_logs();
        assert_eq!(logs[0].level, LogLevel::Error);
        assert!(logs[0].message.contains("status -5"), "{logs:?}");
    }

    #[test]
    fn bad_configuration_is_reported() {
        testing::reset();
        let ev = event(1, EventLevel::Minor, 1);
        let bad_action = config(vec![(
            "rules",
            ConfigValue::List(vec![table(vec![(
                "actions",
                ConfigValue::List(vec![table(vec![
                    ("add_domain", string("a")),
                    ("log", string("warn")),
                ])]),
            )])]),
        )]);
        let bad_level = config(vec![(
            "rules",
            ConfigValue::List(vec![table(vec![("level", string("severe"))])]),
        )]);
        let no_ids = config(vec![("quarantine", table(vec![]))]);
        let bad_mode = config(vec![(
            "quarantine",
            table(vec![
                ("event_ids", ConfigValue::Int(1)),
                ("mode", string("replace")),
            ]),
        )]);
        for (cfg, want) in [
            (bad_action, "exactly one"),
            (bad_level, "unknown level"),
            (no_ids, "event_ids"),
            (bad_mode, "not add or set"),
        ] {
            let err = testing::mem_event(headend_mem_event, &cfg, &ev).unwrap_err();
            assert!(err.contains(want), "{err} does not mention {want}");
        }
    }
}
