//! `flow-select`: chooses the PacketCable eUE provisioning flow (PKT-SP-EUE-PROV
//! section 6.3, realms BASIC.1/BASIC.2/HYBRID.1/HYBRID.2 or a Kerberos realm
//! for Secure, carried in option 122 / CL_OPTION_CCCV6 sub-option 6) and the
//! provisioning server (sub-option 3) from the device's domains, its
//! announced capabilities (TLV 5.18, Supported Provisioning Flows) and the
//! plugin configuration. Devices outside the handled families get the
//! Disabled flow, which the engine sends as provisioning server 0.0.0.0
//! ("the eUE must not provision", section 6.4.1).
//!
//! Configuration keys are documented in this crate's README.md.

use std::net::IpAddr;

use headend_sdk::{
    host, ConfigError, ConfigExt, Device, FlowDecision, FlowVariant, PluginConfig,
    ProvisioningFlow, ProvisioningServer, StrItems,
};

/// DSS_ID is at most 32 bytes (CCCv6 sub-option 1).
const MAX_DSS_ID: usize = 32;
/// DNS limits (RFC 1035 section 2.3.4).
const MAX_FQDN: usize = 253;
const MAX_LABEL: usize = 63;

/// A flow as the configuration names it; Secure takes its realm from `secure_realm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Secure,
    Hybrid(FlowVariant),
    Basic(FlowVariant),
    Disabled,
}

impl Flow {
    fn parse(key: &str, s: &str) -> Result<Flow, String> {
        // Case-insensitive without an upper-cased copy: this runs per call.
        const NAMES: [(&str, Flow); 6] = [
            ("BASIC.1", Flow::Basic(FlowVariant::One)),
            ("BASIC.2", Flow::Basic(FlowVariant::Two)),
            ("HYBRID.1", Flow::Hybrid(FlowVariant::One)),
            ("HYBRID.2", Flow::Hybrid(FlowVariant::Two)),
            ("SECURE", Flow::Secure),
            ("DISABLED", Flow::Disabled),
        ];
        match NAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(s)) {
            Some((_, flow)) => Ok(*flow),
            None => Err(ConfigError::invalid(
                key,
                format!(
                    "unknown flow `{s}` \
                     (BASIC.1, BASIC.2, HYBRID.1, HYBRID.2, SECURE or disabled)"
                ),
            )
            .into()),
        }
    }

    /// The TLV 5.18 name of the flow (`None` for Disabled, which needs no support).
    fn capability(self) -> Option<&'static str> {
        match self {
            Flow::Secure => Some("secure"),
            Flow::Hybrid(_) => Some("hybrid"),
            Flow::Basic(_) => Some("basic"),
            Flow::Disabled => None,
        }
    }

    /// Lower-case name for logs and the `{flow}` file-name placeholder.
    fn name(self) -> &'static str {
        match self {
            Flow::Secure => "secure",
            Flow::Hybrid(FlowVariant::One) => "hybrid.1",
            Flow::Hybrid(FlowVariant::Two) => "hybrid.2",
            Flow::Basic(FlowVariant::One) => "basic.1",
            Flow::Basic(FlowVariant::Two) => "basic.2",
            Flow::Disabled => "disabled",
        }
    }
}

/// What to do with a device outside `families`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unknown {
    /// Answer with this flow.
    Flow(Flow),
    /// Decline (`Err`): the engine applies its own default.
    Decline,
}

/// The plugin configuration, validated.
struct Settings<'a> {
    families: StrItems<'a>,
    voice_domain: Option<&'a str>,
    voice_flow: Flow,
    basic_domains: StrItems<'a>,
    basic_flow: Flow,
    default_flow: Flow,
    unknown: Unknown,
    secure_realm: Option<&'a str>,
    provisioning_server: Option<ProvisioningServer>,
    config_file: Option<&'a str>,
    tftp_servers: Vec<IpAddr>,
    syslog_server: Option<IpAddr>,
    dss_id: Option<Vec<u8>>,
}

impl<'a> Settings<'a> {
    fn parse(cfg: &'a PluginConfig) -> Result<Settings<'a>, String> {
        let mut families = cfg.str_items("families")?;
        if families.len() == 0 {
            families = StrItems::One(Some("pktc"));
        }
        let flow = |key: &str, default: &str| -> Result<Flow, String> {
            Flow::parse(key, cfg.str_or(key, default)?)
        };
        let unknown = match cfg.str_or("unknown", "disabled")? {
            s if s.eq_ignore_ascii_case("decline") => Unknown::Decline,
            s => Unknown::Flow(Flow::parse("unknown", s)?),
        };
        let secure_realm = cfg.opt_str("secure_realm")?;
        if let Some(realm) = secure_realm {
            // These strings mean Basic/Hybrid/Disabled in sub-option 6.
            if realm.is_empty() || Flow::parse("", realm).is_ok() || realm == "0.0.0.0" {
                return Err(ConfigError::invalid(
                    "secure_realm",
                    format!("`{realm}` is not a Kerberos realm"),
                )
                .into());
            }
        }
        let dss_id = match cfg.opt_str("dss_id")? {
            Some(s) if s.len() > MAX_DSS_ID => {
                return Err(ConfigError::invalid(
                    "dss_id",
                    format!("at most {MAX_DSS_ID} bytes, got {}", s.len()),
                )
                .into())
            }
            Some(s) => Some(s.as_bytes().to_vec()),
            None => None,
        };
        let settings = Settings {
            families,
            voice_domain: cfg.opt_str("voice_domain")?,
            voice_flow: flow("voice_flow", "HYBRID.2")?,
            basic_domains: cfg.str_items("basic_domains")?,
            basic_flow: flow("basic_flow", "BASIC.1")?,
            default_flow: flow("default_flow", "disabled")?,
            unknown,
            secure_realm,
            provisioning_server: provisioning_server(&cfg.str_list("provisioning_server")?)?,
            config_file: cfg.opt_str("config_file")?,
            tftp_servers: addresses("tftp_servers", &cfg.str_list("tftp_servers")?)?,
            syslog_server: match cfg.opt_str("syslog_server")? {
                Some(s) => Some(address("syslog_server", s)?),
                None => None,
            },
            dss_id,
        };
        let configured = [
            settings.voice_flow,
            settings.basic_flow,
            settings.default_flow,
        ];
        if settings.secure_realm.is_none()
            && (configured.contains(&Flow::Secure)
                || settings.unknown == Unknown::Flow(Flow::Secure))
        {
            return Err("a SECURE flow is configured but `secure_realm` is not".to_string());
        }
        Ok(settings)
    }
}

fn address(key: &str, s: &str) -> Result<IpAddr, String> {
    s.parse()
        .map_err(|_| ConfigError::invalid(key, format!("`{s}` is not an IP address")).into())
}

fn addresses(key: &str, items: &[&str]) -> Result<Vec<IpAddr>, String> {
    items.iter().map(|s| address(key, s)).collect()
}

/// Sub-option 3: one IPv4 address, IPv6 addresses, or an FQDN.
fn provisioning_server(items: &[&str]) -> Result<Option<ProvisioningServer>, String> {
    const KEY: &str = "provisioning_server";
    match items {
        [] => Ok(None),
        [one] => match one.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => Ok(Some(ProvisioningServer::Ipv4(a))),
            Ok(IpAddr::V6(a)) => Ok(Some(ProvisioningServer::Ipv6(vec![a]))),
            Err(_) => fqdn(one).map(|f| Some(ProvisioningServer::Fqdn(f))),
        },
        many => {
            let v6 = many
                .iter()
                .map(|s| s.parse().ok())
                .collect::<Option<Vec<std::net::Ipv6Addr>>>()
                .ok_or_else(|| ConfigError::invalid(KEY, "a list must hold only IPv6 addresses"))?;
            Ok(Some(ProvisioningServer::Ipv6(v6)))
        }
    }
}

/// A host name as sub-option 3 carries it (RFC 1035 labels), without a trailing dot.
fn fqdn(s: &str) -> Result<String, String> {
    let name = s.strip_suffix('.').unwrap_or(s);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= MAX_LABEL
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.is_empty() || name.len() > MAX_FQDN || !name.split('.').all(label_ok) {
        return Err(ConfigError::invalid(
            "provisioning_server",
            format!("`{s}` is neither an IP address nor a host name"),
        )
        .into());
    }
    Ok(name.to_string())
}

/// Whether the device announced `flow` in TLV 5.18. A device that sent no
/// TLV 5.18 gets the benefit of the doubt: section 6.3 requires every eUE
/// to support all three flows.
fn supports(dev: &Device, flow: Flow) -> bool {
    match flow.capability() {
        None => true,
        Some(name) => {
            dev.supported_flows.is_empty()
                || dev
                    .supported_flows
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(name))
        }
    }
}

/// The wanted flow if the device supports it, else the best one it does
/// (Secure, then Hybrid, then Basic, keeping the variant), else Disabled.
fn fit(dev: &Device, wanted: Flow, secure_available: bool) -> Flow {
    if supports(dev, wanted) {
        return wanted;
    }
    let variant = match wanted {
        Flow::Hybrid(v) | Flow::Basic(v) => v,
        Flow::Secure | Flow::Disabled => FlowVariant::Two,
    };
    let mut candidates = Vec::with_capacity(3);
    if secure_available {
        candidates.push(Flow::Secure);
    }
    candidates.push(Flow::Hybrid(variant));
    candidates.push(Flow::Basic(variant));
    candidates
        .into_iter()
        .find(|f| supports(dev, *f))
        .unwrap_or(Flow::Disabled)
}

/// Expands `{mac}`, `{mac_hex}`, `{flow}`, `{device_type}` and `{model}` in
/// one pass (other `{...}` text is kept as written).
fn file_name(template: &str, dev: &Device, flow: Flow) -> String {
    let mut out = String::with_capacity(template.len() + dev.mac.len() + dev.model.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let (text, tail) = rest.split_at(open);
        out.push_str(text);
        let name_len = tail.find('}').map(|close| close + 1);
        let placeholder = name_len.and_then(|n| tail.get(..n));
        match placeholder {
            Some("{mac}") => out.push_str(&dev.mac),
            Some("{mac_hex}") => out.extend(dev.mac.chars().filter(|c| *c != ':')),
            Some("{flow}") => out.push_str(flow.name()),
            Some("{device_type}") => {
                out.extend(dev.device_type.chars().map(|c| c.to_ascii_lowercase()))
            }
            Some("{model}") => out.push_str(&dev.model),
            _ => {
                out.push('{');
                rest = tail.get(1..).unwrap_or("");
                continue;
            }
        }
        rest = name_len.and_then(|n| tail.get(n..)).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// The flow-selection hook.
pub fn select(dev: &Device, cfg: &PluginConfig) -> Result<FlowDecision, String> {
    let s = Settings::parse(cfg)?;
    let (wanted, reason) = if !s.families.clone().any(|f| f == dev.family) {
        match s.unknown {
            Unknown::Decline => {
                return Err(format!("device family `{}` is not handled", dev.family))
            }
            Unknown::Flow(f) => (f, "unknown device"),
        }
    } else if s.basic_domains.clone().any(|d| dev.in_domain(d)) {
        (s.basic_flow, "basic domain")
    } else {
        match s.voice_domain {
            Some(d) if !dev.in_domain(d) => (s.default_flow, "default"),
            _ => (s.voice_flow, "voice domain"),
        }
    };
    let flow = fit(dev, wanted, s.secure_realm.is_some());
    if flow != wanted {
        host::info(&format!(
            "{}: {reason} flow {} not in supported flows {:?}; using {}",
            dev.mac,
            wanted.name(),
            dev.supported_flows,
            flow.name()
        ));
    }
    let provisioning_flow = match flow {
        Flow::Secure => match s.secure_realm {
            Some(realm) => ProvisioningFlow::Secure {
                realm: realm.to_string(),
            },
            // Settings::parse rejects Secure without a realm, and fit only
            // offers Secure when a realm exists.
            None => ProvisioningFlow::Disabled,
        },
        Flow::Hybrid(v) => ProvisioningFlow::Hybrid(v),
        Flow::Basic(v) => ProvisioningFlow::Basic(v),
        Flow::Disabled => ProvisioningFlow::Disabled,
    };
    if provisioning_flow == ProvisioningFlow::Disabled {
        return Ok(FlowDecision::flow(ProvisioningFlow::Disabled));
    }
    Ok(FlowDecision {
        flow: provisioning_flow,
        provisioning_server: s.provisioning_server,
        config_file: s.config_file.map(|t| file_name(t, dev, flow)),
        tftp_servers: s.tftp_servers,
        syslog_server: s.syslog_server,
        dss_id: s.dss_id,
    })
}

headend_sdk::flow_selector!(select);
// Fresh instance per call: a bump allocator beats dlmalloc (see the macro).
headend_sdk::bump_allocator!();

#[cfg(test)]
mod tests {
    use super::*;
    use headend_sdk::testing::{self, config, string, strings};
    use headend_sdk::{ConfigValue, Protocol};
    use std::net::Ipv4Addr;

    fn eue(domains: &[&str], flows: &[&str]) -> Device {
        let mut d = Device::with_mac(Protocol::Dhcpv4, "00:10:18:aa:bb:cc");
        d.family = "pktc".into();
        d.version = "2.0".into();
        d.device_type = "EDVA".into();
        d.domains = domains.iter().map(|s| s.to_string()).collect();
        d.supported_flows = flows.iter().map(|s| s.to_string()).collect();
        d
    }

    fn site() -> PluginConfig {
        config(vec![
            ("voice_domain", string("voice")),
            ("voice_flow", string("HYBRID.2")),
            ("basic_domains", strings(&["basic", "lab"])),
            ("basic_flow", string("BASIC.1")),
            ("secure_realm", string("VOICE.EXAMPLE.NET")),
            ("provisioning_server", string("prov.example.net")),
            ("unknown", string("disabled")),
        ])
    }

    fn call(cfg: &PluginConfig, dev: &Device) -> Result<FlowDecision, String> {
        testing::reset();
        testing::flow_select(headend_flow_select, cfg, dev)
    }

    #[test]
    fn voice_domain_gets_hybrid_2_and_the_server() {
        let d = call(
            &site(),
            &eue(&["voice", "all"], &["secure", "hybrid", "basic"]),
        )
        .unwrap();
        assert_eq!(d.flow, ProvisioningFlow::Hybrid(FlowVariant::Two));
        assert_eq!(d.flow.realm().unwrap(), "HYBRID.2");
        assert_eq!(
            d.provisioning_server,
            Some(ProvisioningServer::Fqdn("prov.example.net".into()))
        );
    }

    #[test]
    fn basic_domain_wins_over_voice() {
        let d = call(&site(), &eue(&["lab", "voice", "all"], &[])).unwrap();
        assert_eq!(d.flow, ProvisioningFlow::Basic(FlowVariant::One));
    }

    #[test]
    fn pktc_outside_configured_domains_gets_default_flow() {
        let d = call(&site(), &eue(&["all"], &[])).unwrap();
        assert_eq!(d, FlowDecision::flow(ProvisioningFlow::Disabled));
        let mut cfg = site();
        cfg.entries.push(("default_flow".into(), string("SECURE")));
        let d = call(&cfg, &eue(&["all"], &[])).unwrap();
        assert_eq!(
            d.flow,
            ProvisioningFlow::Secure {
                realm: "VOICE.EXAMPLE.NET".into()
            }
        );
    }

    #[test]
    fn unsupported_flow_falls_back_to_best_supported() {
        // Configured Hybrid.2, device only does Basic: Basic keeps variant 2.
        let d = call(&site(), &eue(&["voice"], &["basic"])).unwrap();
        assert_eq!(d.flow, ProvisioningFlow::Basic(FlowVariant::Two));
        let logs = testing::take_logs();
        assert_eq!(logs.len(), 1);
        assert!(logs[0].message.contains("using basic.2"), "{logs:?}");
        // Configured Basic.1, device only does Secure and Hybrid: Secure first.
        let d = call(&site(), &eue(&["basic"], &["hybrid", "secure"])).unwrap();
        assert_eq!(
            d.flow,
            ProvisioningFlow::Secure {
                realm: "VOICE.EXAMPLE.NET".into()
            }
        );
        // Without a realm Secure is not on offer.
        let cfg = config(vec![("basic_domains", string("basic"))]);
        let d = call(&cfg, &eue(&["basic"], &["hybrid", "secure"])).unwrap();
        assert_eq!(d.flow, ProvisioningFlow::Hybrid(FlowVariant::One));
        // Nothing usable: disabled.
        let d = call(&cfg, &eue(&["basic"], &["secure"])).unwrap();
        assert_eq!(d.flow, ProvisioningFlow::Disabled);
    }

    #[test]
    fn unknown_devices_are_disabled_or_declined() {
        let mut cm = Device::with_mac(Protocol::Dhcpv4, "00:10:18:00:00:01");
        cm.family = "docsis".into();
        cm.domains = vec!["voice".into()];
        let d = call(&site(), &cm).unwrap();
        assert_eq!(d, FlowDecision::flow(ProvisioningFlow::Disabled));
        let cfg = config(vec![("unknown", string("decline"))]);
        assert_eq!(
            call(&cfg, &cm).unwrap_err(),
            "device family `docsis` is not handled"
        );
        let cfg = config(vec![("families", strings(&["pktc", "docsis"]))]);
        assert_eq!(
            call(&cfg, &cm).unwrap().flow,
            ProvisioningFlow::Hybrid(FlowVariant::Two)
        );
    }

    #[test]
    fn no_voice_domain_means_every_pktc_device() {
        let d = call(&PluginConfig::default(), &eue(&["all"], &[])).unwrap();
        assert_eq!(d.flow, ProvisioningFlow::Hybrid(FlowVariant::Two));
        assert_eq!(d.provisioning_server, None);
    }

    #[test]
    fn file_name_placeholders_expand_in_one_pass() {
        let mut d = eue(&["all"], &[]);
        d.model = "TM822".into();
        let flow = Flow::Basic(FlowVariant::One);
        assert_eq!(
            file_name("{mac}|{mac_hex}|{flow}|{device_type}|{model}", &d, flow),
            "00:10:18:aa:bb:cc|001018aabbcc|basic.1|edva|TM822"
        );
        // Unknown and unterminated placeholders stay as written.
        assert_eq!(file_name("a{x}{mac_hex", &d, flow), "a{x}{mac_hex");
        assert_eq!(file_name("{{model}}", &d, flow), "{TM822}");
        assert_eq!(file_name("", &d, flow), "");
    }

    #[test]
    fn flow_names_are_case_insensitive() {
        assert_eq!(
            Flow::parse("k", "hybrid.1"),
            Ok(Flow::Hybrid(FlowVariant::One))
        );
        assert_eq!(Flow::parse("k", "Disabled"), Ok(Flow::Disabled));
        assert!(Flow::parse("k", "HYBRID").is_err());
    }

    #[test]
    fn server_forms_and_extras() {
        let cfg = config(vec![
            ("provisioning_server", string("192.0.2.10")),
            ("config_file", string("eue/{mac_hex}-{flow}.bin")),
            ("tftp_servers", strings(&["192.0.2.20", "192.0.2.21"])),
            ("syslog_server", string("192.0.2.30")),
            ("dss_id", string("dss-1")),
        ]);
        let d = call(&cfg, &eue(&["all"], &[])).unwrap();
        assert_eq!(
            d.provisioning_server,
            Some(ProvisioningServer::Ipv4(Ipv4Addr::new(192, 0, 2, 10)))
        );
        assert_eq!(
            d.config_file.as_deref(),
            Some("eue/001018aabbcc-hybrid.2.bin")
        );
        assert_eq!(d.tftp_servers.len(), 2);
        assert_eq!(d.syslog_server, Some("192.0.2.30".parse().unwrap()));
        assert_eq!(d.dss_id.as_deref(), Some(&b"dss-1"[..]));
        let cfg = config(vec![(
            "provisioning_server",
            strings(&["2001:db8:1::10", "2001:db8:1::11"]),
        )]);
        match call(&cfg, &eue(&[], &[])).unwrap().provisioning_server {
            Some(ProvisioningServer::Ipv6(v)) => assert_eq!(v.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_configuration_is_reported() {
        let cases: Vec<(PluginConfig, &str)> = vec![
            (
                config(vec![("voice_flow", string("HYBRID.3"))]),
                "unknown flow",
            ),
            (
                config(vec![("voice_flow", string("SECURE"))]),
                "secure_realm",
            ),
            (
                config(vec![("secure_realm", string("BASIC.1"))]),
                "not a Kerberos realm",
            ),
            (
                config(vec![("provisioning_server", string("bad host!"))]),
                "neither an IP address",
            ),
            (
                config(vec![(
                    "provisioning_server",
                    strings(&["192.0.2.1", "192.0.2.2"]),
                )]),
                "only IPv6",
            ),
            (
                config(vec![("dss_id", string(&"x".repeat(33)))]),
                "at most 32",
            ),
            (
                config(vec![("basic_domains", ConfigValue::Int(3))]),
                "basic_domains",
            ),
            (
                config(vec![("tftp_servers", string("tftp.example"))]),
                "not an IP",
            ),
        ];
        for (cfg, want) in cases {
            let err = call(&cfg, &eue(&["voice"], &[])).unwrap_err();
            assert!(err.contains(want), "{err} does not mention {want}");
        }
    }
}
