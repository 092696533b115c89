//! Text rendering of a decoded config file: one TLV per line, indented by
//! depth, with the MULPI / PKT-SP-EUE-PROV names, SNMP objects by name and
//! OID with their BER values, and the MIC / hash verification results.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::decode::{Check, File, Node};
use crate::mib;
use crate::tlv::FileKind;

#[derive(Clone, Copy)]
enum Fmt {
    Uint,
    Ipv4,
    Ipv6,
    Text,
    Hex,
    Mac,
}

fn describe(kind: FileKind, path: &[u8]) -> (&'static str, Fmt) {
    use Fmt::*;
    match (kind, path) {
        (FileKind::Mta, [11]) | (FileKind::Mta, [64]) => ("SnmpMibObject", Hex),
        (FileKind::Mta, [254]) => ("eUE Start/End of File", Uint),
        (_, [38]) => ("SnmpV3NotificationReceiver", Hex),
        (_, [38, 1]) => ("ReceiverIPv4", Ipv4),
        (_, [38, 2]) => ("ReceiverPort", Uint),
        (_, [38, 3]) => ("NotificationType", Uint),
        (_, [38, 4]) => ("Timeout", Uint),
        (_, [38, 5]) => ("Retries", Uint),
        (_, [38, 6]) => ("FilteringParameters", Hex),
        (_, [38, 7]) => ("SecurityName", Text),
        (_, [38, 8]) => ("ReceiverIPv6", Ipv6),
        (FileKind::Mta, [43]) => ("VendorSpecific", Hex),
        (FileKind::Mta, [43, 8]) => ("VendorOUI", Text),
        (FileKind::Mta, _) => ("", Hex),
        (FileKind::Cm, [1]) => ("DownstreamFrequency", Uint),
        (FileKind::Cm, [2]) => ("UpstreamChannelId", Uint),
        (FileKind::Cm, [3]) => ("NetworkAccess", Uint),
        (FileKind::Cm, [4]) => ("ClassOfService", Hex),
        (FileKind::Cm, [4, 1]) => ("ClassID", Uint),
        (FileKind::Cm, [4, 2]) => ("MaxRateDown", Uint),
        (FileKind::Cm, [4, 3]) => ("MaxRateUp", Uint),
        (FileKind::Cm, [4, 4]) => ("PriorityUp", Uint),
        (FileKind::Cm, [4, 5]) => ("GuaranteedUp", Uint),
        (FileKind::Cm, [4, 6]) => ("MaxBurstUp", Uint),
        (FileKind::Cm, [4, 7]) => ("PrivacyEnable", Uint),
        (FileKind::Cm, [5]) => ("ModemCapabilities", Hex),
        (FileKind::Cm, [6]) => ("CmMic", Hex),
        (FileKind::Cm, [7]) => ("CmtsMic", Hex),
        (FileKind::Cm, [9]) => ("SwUpgradeFilename", Text),
        (FileKind::Cm, [10]) => ("SnmpWriteControl", Hex),
        (FileKind::Cm, [11]) => ("SnmpMibObject", Hex),
        (FileKind::Cm, [12]) => ("ModemIPAddress", Ipv4),
        (FileKind::Cm, [14]) => ("CpeMacAddress", Mac),
        (FileKind::Cm, [17]) => ("BaselinePrivacy", Hex),
        (FileKind::Cm, [17, _]) => ("BpiTimer", Uint),
        (FileKind::Cm, [18]) => ("MaxCPE", Uint),
        (FileKind::Cm, [19]) => ("TftpTimestamp", Uint),
        (FileKind::Cm, [20]) => ("TftpModemAddress", Ipv4),
        (FileKind::Cm, [21]) => ("SwUpgradeServer", Ipv4),
        (FileKind::Cm, [22]) => ("UsPacketClass", Hex),
        (FileKind::Cm, [23]) => ("DsPacketClass", Hex),
        (FileKind::Cm, [22 | 23, 1]) => ("ClassifierRef", Uint),
        (FileKind::Cm, [22 | 23, 2]) => ("ClassifierId", Uint),
        (FileKind::Cm, [22 | 23, 3]) => ("ServiceFlowRef", Uint),
        (FileKind::Cm, [22 | 23, 5]) => ("RulePriority", Uint),
        (FileKind::Cm, [22 | 23, 6]) => ("ActivationState", Uint),
        (FileKind::Cm, [22 | 23, 9]) => ("IpPacketClassifier", Hex),
        (FileKind::Cm, [24]) => ("UsServiceFlow", Hex),
        (FileKind::Cm, [25]) => ("DsServiceFlow", Hex),
        (FileKind::Cm, [24 | 25, 1]) => ("ServiceFlowRef", Uint),
        (FileKind::Cm, [24 | 25, 2]) => ("ServiceFlowId", Uint),
        (FileKind::Cm, [24 | 25, 4]) => ("ServiceClassName", Text),
        (FileKind::Cm, [24 | 25, 6]) => ("QosParamSetType", Uint),
        (FileKind::Cm, [24 | 25, 7]) => ("TrafficPriority", Uint),
        (FileKind::Cm, [24 | 25, 8]) => ("MaxRateSustained", Uint),
        (FileKind::Cm, [24 | 25, 9]) => ("MaxTrafficBurst", Uint),
        (FileKind::Cm, [24 | 25, 10]) => ("MinReservedRate", Uint),
        (FileKind::Cm, [24 | 25, 11]) => ("MinResPacketSize", Uint),
        (FileKind::Cm, [24 | 25, 12]) => ("ActQosParamsTimeout", Uint),
        (FileKind::Cm, [24 | 25, 13]) => ("AdmQosParamsTimeout", Uint),
        (FileKind::Cm, [24, 14]) => ("MaxConcatenatedBurst", Uint),
        (FileKind::Cm, [25, 14]) => ("MaxDsLatency", Uint),
        (FileKind::Cm, [24, 15]) => ("SchedulingType", Uint),
        (FileKind::Cm, [24, 16]) => ("RequestOrTxPolicy", Hex),
        (FileKind::Cm, [24, 17]) => ("NominalPollInterval", Uint),
        (FileKind::Cm, [24, 18]) => ("ToleratedPollJitter", Uint),
        (FileKind::Cm, [24, 19]) => ("UnsolicitedGrantSize", Uint),
        (FileKind::Cm, [24, 20]) => ("NominalGrantInterval", Uint),
        (FileKind::Cm, [24, 21]) => ("ToleratedGrantJitter", Uint),
        (FileKind::Cm, [24, 22]) => ("GrantsPerInterval", Uint),
        (FileKind::Cm, [26]) => ("PHS", Hex),
        (FileKind::Cm, [28]) => ("MaxClassifiers", Uint),
        (FileKind::Cm, [29]) => ("GlobalPrivacyEnable", Uint),
        (FileKind::Cm, [32]) => ("ManufacturerCVC", Hex),
        (FileKind::Cm, [33]) => ("CoSignerCVC", Hex),
        (FileKind::Cm, [34]) => ("SnmpV3Kickstart", Hex),
        (FileKind::Cm, [35]) => ("SubMgmtControl", Hex),
        (FileKind::Cm, [37]) => ("SubMgmtFilters", Hex),
        (FileKind::Cm, [39]) => ("DocsisTwoEnable", Uint),
        (FileKind::Cm, [43]) => ("VendorSpecific", Hex),
        (FileKind::Cm, [_, 43]) => ("VendorSpecific", Hex),
        (FileKind::Cm, [.., 43, 8]) => ("VendorIdentifier", Hex),
        (FileKind::Cm, [43, 5]) => ("L2VPNEncoding", Hex),
        (FileKind::Cm, [53]) => ("SnmpV1V2cCoexistence", Hex),
        (FileKind::Cm, [53, 1]) => ("CommunityName", Text),
        (FileKind::Cm, [53, 2]) => ("TransportAddressAccess", Hex),
        (FileKind::Cm, [53, 2, 1]) => ("TransportAddress", Hex),
        (FileKind::Cm, [53, 2, 2]) => ("TransportAddressMask", Hex),
        (FileKind::Cm, [53, 3]) => ("AccessViewType", Uint),
        (FileKind::Cm, [53, 4]) => ("AccessViewName", Text),
        (FileKind::Cm, [54]) => ("SnmpV3AccessView", Hex),
        (FileKind::Cm, [58]) => ("SwUpgradeServer6", Ipv6),
        (FileKind::Cm, [64]) => ("CMTSStaticMulticastSession", Hex),
        (FileKind::Cm, [202]) => ("eRouter", Hex),
        _ => ("", Hex),
    }
}

fn render_value(fmt: Fmt, v: &[u8]) -> String {
    match fmt {
        Fmt::Uint if !v.is_empty() && v.len() <= 8 => v
            .iter()
            .fold(0u64, |a, &b| (a << 8) | u64::from(b))
            .to_string(),
        Fmt::Ipv4 => match <[u8; 4]>::try_from(v) {
            Ok(a) => Ipv4Addr::from(a).to_string(),
            Err(_) => crate::hex(v),
        },
        Fmt::Ipv6 => match <[u8; 16]>::try_from(v) {
            Ok(a) => Ipv6Addr::from(a).to_string(),
            Err(_) => crate::hex(v),
        },
        Fmt::Mac if v.len() == 6 => v
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
        Fmt::Text => {
            let t = v.strip_suffix(&[0]).unwrap_or(v);
            if t.iter().all(|c| (0x20..0x7f).contains(c)) {
                format!("{:?}", String::from_utf8_lossy(t))
            } else {
                crate::hex(v)
            }
        }
        _ => crate::hex(v),
    }
}

fn check_text(c: &Check, what: &str) -> String {
    match c {
        Check::Verified => format!("{what} verified"),
        Check::Mismatch { computed } => {
            format!("{what} MISMATCH (computed {})", crate::hex(computed))
        }
        Check::Missing => format!("{what} absent"),
        Check::NotChecked => format!("{what} not checked (no shared secret)"),
    }
}

fn write_node(out: &mut String, kind: FileKind, path: &mut Vec<u8>, n: &Node, depth: usize) {
    path.push(n.tlv_type);
    let (name, fmt) = describe(kind, path);
    let dotted = path
        .iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(".");
    let indent = "  ".repeat(depth);
    let name = if name.is_empty() { "Unknown" } else { name };
    match &n.varbind {
        Some(Ok(vb)) => {
            let label = match mib::lookup(&vb.oid) {
                Some((o, idx)) => {
                    let idx: Vec<String> = idx.iter().map(|a| a.to_string()).collect();
                    format!(" {}.{}", o.name, idx.join("."))
                }
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "{indent}{dotted} {name} {}{label} = {}",
                vb.oid, vb.value
            );
        }
        Some(Err(e)) => {
            let _ = writeln!(
                out,
                "{indent}{dotted} {name} (undecodable VarBind: {e}) {}",
                crate::hex(&n.value)
            );
        }
        None if !n.children.is_empty() => {
            let _ = writeln!(out, "{indent}{dotted} {name}");
            for c in &n.children {
                write_node(out, kind, path, c, depth + 1);
            }
        }
        None => {
            let _ = writeln!(
                out,
                "{indent}{dotted} {name} = {}",
                render_value(fmt, &n.value)
            );
        }
    }
    path.pop();
}

/// Renders a decoded file as text, one TLV per line, verification results last.
pub fn to_text(file: &File) -> String {
    let mut out = String::new();
    let title = match file.kind {
        FileKind::Cm => "DOCSIS CM configuration file",
        FileKind::Mta => "PacketCable MTA/eUE configuration file",
    };
    let _ = writeln!(out, "# {title}, {} octets", file.len);
    let mut path = Vec::new();
    for n in &file.tlvs {
        write_node(&mut out, file.kind, &mut path, n, 0);
    }
    match file.kind {
        FileKind::Cm => {
            let _ = writeln!(out, "255 EndOfData (+{} pad octets)", file.padding);
            let _ = writeln!(out, "# {}", check_text(&file.cm_mic, "CM MIC (TLV 6)"));
            let _ = writeln!(out, "# {}", check_text(&file.cmts_mic, "CMTS MIC (TLV 7)"));
        }
        FileKind::Mta => {
            if let Some(h) = &file.config_hash {
                let _ = writeln!(
                    out,
                    "# SHA-1 of file (pktcMtaDevProvConfigHash, Hybrid/Secure): {}",
                    crate::hex(h)
                );
            }
            let _ = writeln!(
                out,
                "# {}",
                check_text(&file.in_file_hash, "in-file hash (Basic flow)")
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, unhex};

    #[test]
    fn base_config_text() {
        let b = unhex("03010118070102000106010719070102000206010706101a3ba2e7666290b9725605718c01f9670710cb5b0055aad79103519691cca2cbbe0fff0000").unwrap();
        let t = to_text(&decode(&b, Some(b"DOCSIS")).unwrap());
        let expected = "\
# DOCSIS CM configuration file, 60 octets
3 NetworkAccess = 1
24 UsServiceFlow
  24.1 ServiceFlowRef = 1
  24.6 QosParamSetType = 7
25 DsServiceFlow
  25.1 ServiceFlowRef = 2
  25.6 QosParamSetType = 7
6 CmMic = 1a3ba2e7666290b9725605718c01f967
7 CmtsMic = cb5b0055aad79103519691cca2cbbe0f
255 EndOfData (+2 pad octets)
# CM MIC (TLV 6) verified
# CMTS MIC (TLV 7) verified
";
        assert_eq!(t, expected);
        let t = to_text(&decode(&b, None).unwrap());
        assert!(t.ends_with("# CMTS MIC (TLV 7) not checked (no shared secret)\n"));
    }

    #[test]
    fn mta_text_names_objects() {
        let mut cfg = crate::MtaConfig::new();
        cfg.dev_enabled(true).unwrap();
        cfg.realm(1, "VOICE.EXAMPLE.NET", "Example").unwrap();
        let bytes = cfg.build_with_hash(crate::HashObject::Ietf).unwrap();
        let t = to_text(&decode(&bytes, None).unwrap());
        assert!(t.contains(
            "11 SnmpMibObject 1.3.6.1.2.1.140.1.1.6.0 pktcMtaDevEnabled.0 = INTEGER 1\n"
        ));
        assert!(t.contains("pktcMtaDevRealmName.1 = STRING \"VOICE.EXAMPLE.NET\"\n"));
        assert!(t.contains("254 eUE Start/End of File = 1\n"));
        assert!(t.contains("254 eUE Start/End of File = 255\n"));
        assert!(t.ends_with("# in-file hash (Basic flow) verified\n"));
    }
}
