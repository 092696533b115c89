//! `docsis-config`: builds DOCSIS cable-modem configuration files (MULPI
//! annex C, with CM MIC and CMTS MIC; protocol-notes section 6) from service
//! classes in the plugin configuration. The class comes from the modem's
//! account attribute (`class_attribute`, default `service_class`), else from
//! the requested file name (`gold.cm` → class `gold`), else from the first
//! of the device's domains that a class names, else `default_class`.
//!
//! Configuration:
//! ```toml
//! file_pattern = "*.cm"          # names this plugin serves; others → None
//! shared_secret = "DOCSIS"       # CMTS MIC key (required)
//! default_class = "basic"
//! [[classes]]
//! name = "gold"
//! domain = "gold"                # optional: domain membership selects it
//! network_access = true          # TLV 3
//! downstream_rate = 100000000    # TLV 25.8, bit/s
//! upstream_rate = 20000000       # TLV 24.8, bit/s
//! max_burst = 1522               # 24.9 / 25.9, octets (optional)
//! max_cpe = 4                    # TLV 18
//! snmp = [{ oid = "1.3.6.1.2.1.1.6.0", type = "string", value = "lab" }]  # TLV 11
//! # Top level: `snmp` (every class), `notification_receivers` =
//! # [{ address = "10.0.0.9", port = 162, type = 2 }] (TLV 38), `community` (TLV 53, read-only).
//! ```

use headend_sdk::config_file::{
    ClassOfService, CmConfig, Direction, NotificationType, ServiceFlow, SnmpCoexistence,
    TransportAccess, ViewType,
};
use headend_sdk::{
    in_range, ConfigError, ConfigExt, ConfigFile, ConfigRequest, ConfigValue, Device, PluginConfig,
};

/// Whether `name` matches `pattern`, where `*` matches any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let first = parts.first().copied().unwrap_or("");
    let last = parts.last().copied().unwrap_or("");
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = name.get(first.len()..name.len() - last.len()).unwrap_or("");
    for mid in parts.iter().skip(1).take(parts.len().saturating_sub(2)) {
        match rest.find(mid) {
            Some(i) => rest = rest.get(i + mid.len()..).unwrap_or(""),
            None => return false,
        }
    }
    true
}

/// The service class the device gets, by the precedence in the crate doc.
fn select_class<'a>(
    classes: &[&'a ConfigValue],
    dev: &Device,
    file_name: &str,
    attribute: &str,
    default: Option<&str>,
) -> Result<&'a ConfigValue, String> {
    let by_name = |n: &str| {
        classes
            .iter()
            .copied()
            .find(|c| c.get("name").and_then(ConfigValue::as_str) == Some(n))
    };
    if let Some(n) = dev.account.as_ref().and_then(|a| a.attribute(attribute)) {
        return by_name(n)
            .ok_or_else(|| format!("account attribute {attribute} = {n:?}: no such class"));
    }
    let stem = file_name.rsplit('/').next().unwrap_or(file_name);
    let stem = stem.split('.').next().unwrap_or(stem);
    if let Some(c) = by_name(stem) {
        return Ok(c);
    }
    for d in &dev.domains {
        let hit = classes
            .iter()
            .copied()
            .find(|c| c.get("domain").and_then(ConfigValue::as_str) == Some(d.as_str()));
        if let Some(c) = hit {
            return Ok(c);
        }
    }
    match default {
        Some(n) => by_name(n).ok_or_else(|| format!("default_class {n:?}: no such class")),
        None => Err(format!("no service class for {} ({file_name})", dev.mac)),
    }
}

/// The CM file for one class.
fn build(cfg: &PluginConfig, class: &ConfigValue) -> Result<Vec<u8>, String> {
    let secret = cfg.require_str("shared_secret")?;
    if secret.is_empty() {
        return Err(ConfigError::invalid("shared_secret", "must not be empty").into());
    }
    let mut cm = CmConfig::new();
    cm.network_access(class.bool_or("network_access", true)?);
    let burst = class
        .opt_int("max_burst")?
        .map(|b| in_range("max_burst", b))
        .transpose()?;
    if class.bool_or("docsis10", false)? {
        // DOCSIS 1.0 modems take rates from the Class of Service TLV 4.
        cm.class_of_service(&ClassOfService {
            class_id: 1,
            max_rate_down: class
                .opt_int("downstream_rate")?
                .map(|v| in_range("downstream_rate", v))
                .transpose()?,
            max_rate_up: class
                .opt_int("upstream_rate")?
                .map(|v| in_range("upstream_rate", v))
                .transpose()?,
            ..ClassOfService::default()
        });
    } else {
        let mut us = ServiceFlow::new(Direction::Upstream, 1);
        us.max_sustained_rate = class
            .opt_int("upstream_rate")?
            .map(|v| in_range("upstream_rate", v))
            .transpose()?;
        us.max_traffic_burst = burst;
        let mut ds = ServiceFlow::new(Direction::Downstream, 2);
        ds.max_sustained_rate = class
            .opt_int("downstream_rate")?
            .map(|v| in_range("downstream_rate", v))
            .transpose()?;
        ds.max_traffic_burst = burst;
        cm.service_flow(&us).service_flow(&ds);
    }
    let max_cpe = class.int_or("max_cpe", cfg.int_or("max_cpe", 1)?)?;
    cm.max_cpe(in_range("max_cpe", max_cpe)?);
    for vb in cfg
        .snmp_objects("snmp")?
        .iter()
        .chain(class.snmp_objects("snmp")?.iter())
    {
        cm.snmp_mib_object(vb).map_err(|e| e.to_string())?;
    }
    for r in cfg.notification_receivers("notification_receivers", NotificationType::V2cTrap)? {
        cm.notification_receiver(&r);
    }
    if let Some(community) = cfg.opt_str("community")? {
        cm.snmp_coexistence(&SnmpCoexistence {
            community: community.to_string(),
            transport: Vec::<TransportAccess>::new(),
            view_type: ViewType::ReadOnly,
            view_name: None,
        });
    }
    cm.build(secret.as_bytes()).map_err(|e| e.to_string())
}

/// The config-file hook.
pub fn generate(req: &ConfigRequest, cfg: &PluginConfig) -> Result<Option<ConfigFile>, String> {
    let pattern = cfg.str_or("file_pattern", "*.cm")?;
    if !glob(pattern, &req.file_name) {
        return Ok(None);
    }
    let classes = cfg.tables("classes")?;
    let class = select_class(
        &classes,
        &req.device,
        &req.file_name,
        cfg.str_or("class_attribute", "service_class")?,
        cfg.opt_str("default_class")?,
    )?;
    let bytes = build(cfg, class)?;
    Ok(Some(ConfigFile {
        bytes,
        config_hash: None,
    }))
}

headend_sdk::config_generator!(generate);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use headend_sdk::config_file::{decode, Check};
    use headend_sdk::testing::{self, config, string, table};
    use headend_sdk::{Account, Protocol, Transfer};

    fn site() -> PluginConfig {
        config(vec![
            ("shared_secret", string("DOCSIS")),
            ("default_class", string("basic")),
            (
                "snmp",
                ConfigValue::List(vec![table(vec![
                    ("oid", string("1.3.6.1.2.1.1.6.0")),
                    ("type", string("string")),
                    ("value", string("lab")),
                ])]),
            ),
            (
                "classes",
                ConfigValue::List(vec![
                    table(vec![
                        ("name", string("basic")),
                        ("downstream_rate", ConfigValue::Int(10_000_000)),
                        ("upstream_rate", ConfigValue::Int(1_000_000)),
                    ]),
                    table(vec![
                        ("name", string("gold")),
                        ("domain", string("gold")),
                        ("downstream_rate", ConfigValue::Int(100_000_000)),
                        ("upstream_rate", ConfigValue::Int(20_000_000)),
                        ("max_cpe", ConfigValue::Int(4)),
                    ]),
                    table(vec![
                        ("name", string("blocked")),
                        ("network_access", ConfigValue::Bool(false)),
                    ]),
                ]),
            ),
        ])
    }

    fn request(file: &str, domains: &[&str], class: Option<&str>) -> ConfigRequest {
        let mut d = Device::with_mac(Protocol::Lease, "00:11:22:33:44:55");
        d.domains = domains.iter().map(|s| s.to_string()).collect();
        if let Some(c) = class {
            d.account = Some(Account {
                id: d.mac.clone(),
                domains: Vec::new(),
                attributes: vec![("service_class".into(), c.into())],
            });
        }
        ConfigRequest {
            device: d,
            file_name: file.into(),
            transfer: Transfer::Tftp,
        }
    }

    fn call(cfg: &PluginConfig, req: &ConfigRequest) -> Result<Option<ConfigFile>, String> {
        testing::reset();
        testing::config_file(headend_config_file, cfg, req)
    }

    fn rates(bytes: &[u8]) -> (u8, Vec<(u8, Vec<u8>)>) {
        let f = decode(bytes, Some(b"DOCSIS")).unwrap();
        assert_eq!(f.cm_mic, Check::Verified);
        assert_eq!(f.cmts_mic, Check::Verified);
        let cpe = f.find(18).unwrap().value[0];
        let flows = [24u8, 25]
            .iter()
            .filter_map(|t| f.find(*t))
            .map(|n| {
                let r = n.children.iter().find(|c| c.tlv_type == 8).unwrap();
                (n.tlv_type, r.value.clone())
            })
            .collect();
        (cpe, flows)
    }

    #[test]
    fn domain_selects_class_and_file_carries_both_mics() {
        let f = call(&site(), &request("cm.cm", &["gold", "all"], None))
            .unwrap()
            .unwrap();
        assert_eq!(f.config_hash, None);
        let (cpe, flows) = rates(&f.bytes);
        assert_eq!(cpe, 4);
        assert_eq!(
            flows,
            vec![
                (24, 20_000_000u32.to_be_bytes().to_vec()),
                (25, 100_000_000u32.to_be_bytes().to_vec())
            ]
        );
        let text = headend_sdk::config_file::to_text(&decode(&f.bytes, None).unwrap());
        assert!(text.contains("sysLocation.0 = STRING \"lab\""), "{text}");
    }

    #[test]
    fn account_attribute_beats_file_name_beats_domain() {
        let by_attr = call(&site(), &request("gold.cm", &["gold"], Some("basic")))
            .unwrap()
            .unwrap();
        assert_eq!(
            rates(&by_attr.bytes).1[1].1,
            10_000_000u32.to_be_bytes().to_vec()
        );
        let by_name = call(&site(), &request("gold.cm", &[], None))
            .unwrap()
            .unwrap();
        assert_eq!(rates(&by_name.bytes).0, 4);
        let default = call(&site(), &request("x.cm", &["all"], None))
            .unwrap()
            .unwrap();
        assert_eq!(rates(&default.bytes).0, 1);
    }

    #[test]
    fn blocked_class_denies_network_access() {
        let f = call(&site(), &request("blocked.cm", &[], None))
            .unwrap()
            .unwrap();
        let d = decode(&f.bytes, None).unwrap();
        assert_eq!(d.find(3).unwrap().value, vec![0]);
    }

    #[test]
    fn other_file_names_are_not_served() {
        assert_eq!(call(&site(), &request("eue.bin", &[], None)).unwrap(), None);
        let mut cfg = site();
        cfg.entries
            .push(("file_pattern".into(), string("cm/*-docsis.*")));
        assert!(call(&cfg, &request("cm/a-docsis.cfg", &[], None))
            .unwrap()
            .is_some());
        assert_eq!(call(&cfg, &request("cm/a.cfg", &[], None)).unwrap(), None);
    }

    #[test]
    fn configuration_errors_are_reported() {
        let no_secret = config(vec![(
            "classes",
            ConfigValue::List(vec![table(vec![("name", string("basic"))])]),
        )]);
        let err = call(&no_secret, &request("basic.cm", &[], None)).unwrap_err();
        assert!(err.contains("shared_secret"), "{err}");
        let err = call(&site(), &request("x.cm", &[], Some("platinum"))).unwrap_err();
        assert!(err.contains("platinum"), "{err}");
        let mut cfg = site();
        cfg.entries.retain(|(k, _)| k != "default_class");
        let err = call(&cfg, &request("x.cm", &[], None)).unwrap_err();
        assert!(err.contains("no service class"), "{err}");
    }

    #[test]
    fn glob_matches_stars() {
        assert!(glob("*.cm", "a.cm"));
        assert!(!glob("*.cm", "a.cmx"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXc"));
        assert!(glob("exact.cm", "exact.cm"));
        assert!(!glob("ab*ba", "aba"));
    }
}
