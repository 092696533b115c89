//! `eue-config`: builds PacketCable eUE / MTA configuration files
//! (PKT-SP-EUE-PROV-I07 section 6.4.2, Table 7) and returns their SHA-1
//! hash for the provisioning server's pktcMtaDevProvConfigHash SET
//! (Hybrid and Secure flows, step eUE-19). In the Basic flow there is no
//! SET: the hash goes into the file as a TLV 11 VarBind instead and
//! `config_hash` is `None` (protocol-notes 5.2).
//!
//! The flow comes from the device account attribute `flow_attribute`
//! (default `pktc_flow`, values `BASIC.1`, `BASIC.2`, `HYBRID.1`,
//! `HYBRID.2`, `SECURE`), else `BASIC.1` for a device in one of
//! `basic_domains`, else `flow` (default `HYBRID.2`).
//!
//! Configuration:
//! ```toml
//! file_pattern = "*.bin"            # names this plugin serves; others → None
//! flow = "HYBRID.2"
//! basic_domains = ["basic"]
//! hash_object = "ietf"              # or "cablelabs" / "euro": the in-file hash OID
//! enabled = true                    # pktcMtaDevEnabled
//! realm = "VOICE.EXAMPLE.NET"       # Secure flow: realm row (required for SECURE)
//! realm_org_name = "Example Voice"
//! cms = [{ fqdn = "cms.example.net", realm = "VOICE.EXAMPLE.NET" }]
//! operator_domain = "example.net"   # pktcEUEDevOpTable row 1
//! pcscf = [{ address = "10.0.0.5", port = 5060, transport = "udp" }]
//! dns_servers = ["10.0.0.53"]
//! notification_receivers = [{ address = "2001:db8::9", port = 162, type = 3 }]
//! snmp = [{ oid = "1.3.6.1.2.1.1.6.0", type = "string", value = "lab" }]
//! ```

use std::net::IpAddr;

use headend_sdk::config_file::{HashObject, MtaConfig, NotificationType, SipTransport};
use headend_sdk::{
    in_range, ConfigError, ConfigExt, ConfigFile, ConfigRequest, Device, PluginConfig,
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

/// The flows this plugin distinguishes (what matters is Basic or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Basic,
    Hybrid,
    Secure,
}

fn parse_flow(s: &str) -> Result<Flow, String> {
    // Case-insensitive without an upper-cased copy: this runs per file.
    const NAMES: [(&str, Flow); 5] = [
        ("BASIC.1", Flow::Basic),
        ("BASIC.2", Flow::Basic),
        ("HYBRID.1", Flow::Hybrid),
        ("HYBRID.2", Flow::Hybrid),
        ("SECURE", Flow::Secure),
    ];
    match NAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(s)) {
        Some((_, flow)) => Ok(*flow),
        None => Err(format!(
            "unknown flow `{s}` (BASIC.1, BASIC.2, HYBRID.1, HYBRID.2 or SECURE)"
        )),
    }
}

fn flow_of(dev: &Device, cfg: &PluginConfig) -> Result<Flow, String> {
    let attr = cfg.str_or("flow_attribute", "pktc_flow")?;
    if let Some(v) = dev.account.as_ref().and_then(|a| a.attribute(attr)) {
        return parse_flow(v).map_err(|e| format!("account attribute {attr}: {e}"));
    }
    let mut basic = cfg.str_items("basic_domains")?;
    if basic.any(|b| dev.domains.iter().any(|d| d == b)) {
        return Ok(Flow::Basic);
    }
    parse_flow(cfg.str_or("flow", "HYBRID.2")?).map_err(|e| ConfigError::invalid("flow", e).into())
}

fn ip(key: &str, s: &str) -> Result<IpAddr, ConfigError> {
    s.parse()
        .map_err(|_| ConfigError::invalid(key, format!("`{s}` is not an IP address")))
}

fn build(cfg: &PluginConfig, flow: Flow) -> Result<MtaConfig, String> {
    let err = |e: headend_sdk::config_file::MtaError| e.to_string();
    let mut f = MtaConfig::new();
    f.dev_enabled(cfg.bool_or("enabled", true)?).map_err(err)?;
    if flow == Flow::Secure {
        // Seed 000 section 6.4.2.1: both objects, one conceptual row.
        let realm = cfg
            .opt_str("realm")?
            .ok_or_else(|| ConfigError::invalid("realm", "required for the Secure flow"))?;
        let org = cfg.opt_str("realm_org_name")?.ok_or_else(|| {
            ConfigError::invalid("realm_org_name", "required for the Secure flow")
        })?;
        f.realm(1, realm, org).map_err(err)?;
    }
    for (i, t) in cfg.tables("cms")?.iter().enumerate() {
        let realm = t.opt_str("realm")?.or(cfg.opt_str("realm")?).unwrap_or("");
        f.cms(i as u32 + 1, t.require_str("fqdn")?, realm)
            .map_err(err)?;
    }
    let pcscf = cfg.tables("pcscf")?;
    let dns = cfg.str_list("dns_servers")?;
    if let Some(domain) = cfg.opt_str("operator_domain")? {
        f.operator(1, domain).map_err(err)?;
    } else if !pcscf.is_empty() || !dns.is_empty() {
        return Err(ConfigError::invalid(
            "operator_domain",
            "required with `pcscf` / `dns_servers` (their rows hang off operator row 1)",
        )
        .into());
    }
    for (i, t) in pcscf.iter().enumerate() {
        let transport = match t.str_or("transport", "udp")? {
            s if s.eq_ignore_ascii_case("udp") => SipTransport::Udp,
            s if s.eq_ignore_ascii_case("tcp") => SipTransport::Tcp,
            s if s.eq_ignore_ascii_case("tls") => SipTransport::Tls,
            other => {
                return Err(ConfigError::invalid(
                    "pcscf",
                    format!("transport `{other}` (udp, tcp or tls)"),
                )
                .into())
            }
        };
        let default_port = if transport == SipTransport::Tls {
            5061
        } else {
            5060
        };
        f.pcscf(
            1,
            i as u32 + 1,
            ip("pcscf", t.require_str("address")?)?,
            in_range("pcscf", t.int_or("port", default_port)?)?,
            transport,
        )
        .map_err(err)?;
    }
    for (i, s) in dns.iter().enumerate() {
        f.dns_server(1, i as u32 + 1, ip("dns_servers", s)?)
            .map_err(err)?;
    }
    for r in cfg.notification_receivers("notification_receivers", NotificationType::V2cInform)? {
        f.notification_receiver(&r);
    }
    for vb in cfg.snmp_objects("snmp")? {
        f.snmp(&vb).map_err(err)?;
    }
    Ok(f)
}

/// The config-file hook.
pub fn generate(req: &ConfigRequest, cfg: &PluginConfig) -> Result<Option<ConfigFile>, String> {
    if !glob(cfg.str_or("file_pattern", "*.bin")?, &req.file_name) {
        return Ok(None);
    }
    let flow = flow_of(&req.device, cfg)?;
    let file = build(cfg, flow)?;
    let hash_object = match cfg.str_or("hash_object", "ietf")? {
        s if s.eq_ignore_ascii_case("ietf") => HashObject::Ietf,
        s if s.eq_ignore_ascii_case("cablelabs") => HashObject::CableLabs,
        s if s.eq_ignore_ascii_case("euro") => HashObject::Euro,
        other => {
            return Err(ConfigError::invalid(
                "hash_object",
                format!("`{other}` (ietf, cablelabs or euro)"),
            )
            .into())
        }
    };
    let out = if flow == Flow::Basic {
        ConfigFile {
            bytes: file
                .build_with_hash(hash_object)
                .map_err(|e| e.to_string())?,
            config_hash: None,
        }
    } else {
        let bytes = file.build().map_err(|e| e.to_string())?;
        let hash = headend_sdk::config_file::config_hash(&bytes).to_vec();
        ConfigFile {
            bytes,
            config_hash: Some(hash),
        }
    };
    Ok(Some(out))
}

headend_sdk::config_generator!(generate);
// Fresh instance per call: a bump allocator beats dlmalloc (see the macro).
headend_sdk::bump_allocator!();

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use headend_sdk::config_file::{decode, mib, to_text, Check, Value};
    use headend_sdk::testing::{self, config, string, strings, table};
    use headend_sdk::{Account, ConfigValue, Protocol, Transfer};

    fn site() -> PluginConfig {
        config(vec![
            ("basic_domains", strings(&["basic"])),
            ("realm", string("VOICE.EXAMPLE.NET")),
            ("realm_org_name", string("Example Voice")),
            ("operator_domain", string("example.net")),
            (
                "pcscf",
                ConfigValue::List(vec![table(vec![
                    ("address", string("10.0.0.5")),
                    ("transport", string("udp")),
                ])]),
            ),
            (
                "notification_receivers",
                ConfigValue::List(vec![table(vec![("address", string("2001:db8::9"))])]),
            ),
        ])
    }

    fn request(domains: &[&str], flow: Option<&str>) -> ConfigRequest {
        let mut d = Device::with_mac(Protocol::Lease, "00:10:18:aa:bb:cc");
        d.domains = domains.iter().map(|s| s.to_string()).collect();
        if let Some(f) = flow {
            d.account = Some(Account {
                id: d.mac.clone(),
                domains: Vec::new(),
                attributes: vec![("pktc_flow".into(), f.into())],
            });
        }
        ConfigRequest {
            device: d,
            file_name: "eue.bin".into(),
            transfer: Transfer::Tftp,
        }
    }

    fn call(cfg: &PluginConfig, req: &ConfigRequest) -> Result<Option<ConfigFile>, String> {
        testing::reset();
        testing::config_file(headend_config_file, cfg, req)
    }

    #[test]
    fn hybrid_returns_the_sha1_of_the_file_and_no_hash_tlv() {
        let f = call(&site(), &request(&["voice"], None)).unwrap().unwrap();
        let hash = f.config_hash.clone().unwrap();
        assert_eq!(
            hash,
            headend_sdk::config_file::config_hash(&f.bytes).to_vec()
        );
        let d = decode(&f.bytes, None).unwrap();
        assert_eq!(d.in_file_hash, Check::Missing);
        assert_eq!(d.config_hash.unwrap().to_vec(), hash);
        let text = to_text(&d);
        assert!(text.contains("pktcMtaDevEnabled.0 = INTEGER 1"), "{text}");
        assert!(
            text.contains("pktcEUEDevPCSCFAddr.1.1 = HEX 0a000005"),
            "{text}"
        );
        assert!(text.contains("38.8 ReceiverIPv6 = 2001:db8::9"), "{text}");
        // No realm row outside the Secure flow.
        assert!(!text.contains("pktcMtaDevRealmName"), "{text}");
    }

    #[test]
    fn basic_domain_puts_the_hash_in_the_file() {
        let f = call(&site(), &request(&["basic"], None)).unwrap().unwrap();
        assert_eq!(f.config_hash, None);
        let d = decode(&f.bytes, None).unwrap();
        assert_eq!(d.in_file_hash, Check::Verified);
        let hash_vb = d
            .varbinds()
            .into_iter()
            .find(|vb| vb.oid == mib::PROV_CONFIG_HASH.instance(&[0]))
            .unwrap();
        assert!(matches!(&hash_vb.value, Value::OctetString(h) if h.len() == 20));
    }

    #[test]
    fn secure_flow_carries_realm_and_org_name_in_one_row() {
        let f = call(&site(), &request(&[], Some("SECURE")))
            .unwrap()
            .unwrap();
        assert!(f.config_hash.is_some());
        let d = decode(&f.bytes, None).unwrap();
        let vbs = d.varbinds();
        let name = vbs
            .iter()
            .find(|vb| vb.oid == mib::REALM_NAME.instance(&[1]))
            .unwrap();
        let org = vbs
            .iter()
            .find(|vb| vb.oid == mib::REALM_ORG_NAME.instance(&[1]))
            .unwrap();
        assert_eq!(name.value, Value::string("VOICE.EXAMPLE.NET"));
        assert_eq!(org.value, Value::string("Example Voice"));
        let mut cfg = site();
        cfg.entries.retain(|(k, _)| k != "realm_org_name");
        let err = call(&cfg, &request(&[], Some("SECURE"))).unwrap_err();
        assert!(err.contains("realm_org_name"), "{err}");
    }

    #[test]
    fn account_flow_beats_domain_and_bad_values_are_errors() {
        let f = call(&site(), &request(&["basic"], Some("HYBRID.1")))
            .unwrap()
            .unwrap();
        assert!(f.config_hash.is_some());
        let err = call(&site(), &request(&[], Some("FANCY"))).unwrap_err();
        assert!(err.contains("FANCY"), "{err}");
        let mut cfg = site();
        cfg.entries.retain(|(k, _)| k != "operator_domain");
        let err = call(&cfg, &request(&[], None)).unwrap_err();
        assert!(err.contains("operator_domain"), "{err}");
    }

    #[test]
    fn other_file_names_are_not_served() {
        let mut req = request(&[], None);
        req.file_name = "modem.cm".into();
        assert_eq!(call(&site(), &req).unwrap(), None);
    }
}
