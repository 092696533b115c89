//! Conformance rules: what a device checks in every reply, and the tally of
//! violations by rule. A violation is a server's reply breaking a MUST of
//! the spec the device is entitled to rely on; the device still reacts as
//! the spec says (usually it ignores the reply or fails the step), and the
//! report shows the rule, the device and the packet.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// One rule a reply can break, named after its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// RFC 2131 §3.1/§4.3.1: a DHCPACK confirms the address of the OFFER
    /// and carries the parameters the OFFER carried (ACK ⊇ OFFER).
    AckSupersetOffer,
    /// RFC 2131 §4.3.1: an OFFER/ACK has option 53, option 54 and a usable
    /// yiaddr; option lengths are consistent.
    Dhcp4Malformed,
    /// PKT-SP-EUE-PROV Table 2 CM2: a server that sends 122 or
    /// CL_V4OPTION_CCCV6 to the eCM MUST also send CL_V4OPTION_IP_PREF.
    Table2IpPref,
    /// Table 2 / PKT-PROV1.5 option 122 and option 125 (4491) decode.
    Table2Syntax,
    /// §6.7 / Table 4: IP_PREF is one of b'001, b'010, b'101, b'110, the
    /// dual-stack values only to an eCM that announced b'111, and the
    /// family it names comes with valid servers for that family.
    IpPref,
    /// Table 6 eUE-3: a valid ADVERTISE carries CL_OPTION_CCCV6 with valid
    /// sub-options 1, 3 and 6, sub-option 1 an allowed server.
    Eue3Advertise,
    /// Table 6 eUE-4: the REPLY contains every option and sub-option of the
    /// ADVERTISE (REPLY ⊇ ADVERTISE).
    ReplySupersetAdvertise,
    /// RFC 8415 §16/§18: a reply carries the client's DUID, a server DUID,
    /// the IA asked for with usable lifetimes, or a status code.
    Dhcp6Malformed,
    /// RFC 2348/7440: the OACK names no option the client did not ask for,
    /// a blksize no larger than asked, and DATA blocks are that size.
    TftpBlksize,
    /// RFC 1350: blocks arrive in sequence, ERROR only with a code.
    TftpProtocol,
    /// DOCSIS MULPI D.2.3: the CM MIC (and CMTS MIC, when the secret is
    /// known) of the CM configuration file verify.
    CmMic,
    /// PKT-SP-EUE-PROV eUE-23: the SHA-1 of the eUE configuration file
    /// equals pktcMtaDevProvConfigHash of the SET.
    EueHash,
    /// RFC 868: the reply is four octets.
    TodReply,
    /// RFC 3416 / PKT-SP-EUE-PROV eUE-19: the SET names the configuration
    /// file URL and hash, with the community the device was given.
    SnmpSet,
}

impl Rule {
    /// The rule's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Rule::AckSupersetOffer => "ack-superset-offer",
            Rule::Dhcp4Malformed => "dhcp4-malformed",
            Rule::Table2IpPref => "table2-ip-pref",
            Rule::Table2Syntax => "table2-syntax",
            Rule::IpPref => "ip-pref",
            Rule::Eue3Advertise => "eue3-advertise",
            Rule::ReplySupersetAdvertise => "reply-superset-advertise",
            Rule::Dhcp6Malformed => "dhcp6-malformed",
            Rule::TftpBlksize => "tftp-blksize",
            Rule::TftpProtocol => "tftp-protocol",
            Rule::CmMic => "cm-mic",
            Rule::EueHash => "eue-hash",
            Rule::TodReply => "tod-reply",
            Rule::SnmpSet => "snmp-set",
        }
    }
}

/// One violation as found: the rule, the device, what was wrong and the
/// packet (hex, truncated).
#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    /// The rule broken.
    pub rule: Rule,
    /// The device's MAC.
    pub device: String,
    /// The step that saw it (e.g. `eCM DHCPv4`).
    pub step: &'static str,
    /// What was wrong.
    pub detail: String,
    /// The packet, hex, at most 256 octets.
    pub packet: String,
}

/// Violations counted by rule, with the first few kept whole.
#[derive(Debug, Default)]
pub struct Violations {
    counts: BTreeMap<(Rule, &'static str), u64>,
    samples: Vec<Violation>,
    keep: usize,
}

impl Violations {
    /// A tally keeping the first `keep` violations whole.
    pub fn new(keep: usize) -> Violations {
        Violations {
            keep,
            ..Violations::default()
        }
    }

    /// Records one violation.
    pub fn add(
        &mut self,
        rule: Rule,
        mac: &[u8; 6],
        step: &'static str,
        detail: impl FnOnce() -> String,
        packet: &[u8],
    ) {
        *self.counts.entry((rule, step)).or_insert(0) += 1;
        if self.samples.len() < self.keep {
            self.samples.push(Violation {
                rule,
                device: mac_string(mac),
                step,
                detail: detail(),
                packet: hex(packet, 256),
            });
        }
    }

    /// Total violations.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Counts by (rule, step).
    pub fn counts(&self) -> &BTreeMap<(Rule, &'static str), u64> {
        &self.counts
    }

    /// The violations kept whole.
    pub fn samples(&self) -> &[Violation] {
        &self.samples
    }
}

/// Table 4 / §6.7: what is wrong with a server's IP_PREF, given whether the
/// same reply names DHCPv4 servers (`v4`) and DSS_IDs (`v6`) for the eUE.
pub fn ip_pref_problem(
    pref: headend_wire::cablelabs::IpPref,
    v4: bool,
    v6: bool,
) -> Option<&'static str> {
    use headend_wire::cablelabs::IpPref;
    match pref {
        IpPref::Ipv4Only => (!v4).then_some("IP_PREF b'001 without a DHCPv4 server for the eUE"),
        IpPref::Ipv6Only => (!v6).then_some("IP_PREF b'010 without a DSS_ID for the eUE"),
        // The simulated eCM announces b'111, so dual-stack values are allowed.
        IpPref::DualStackIpv4 | IpPref::DualStackIpv6 => {
            (!(v4 && v6)).then_some("dual-stack IP_PREF without servers of both families")
        }
        IpPref::DualStackCapable => Some("IP_PREF b'111 is the device's value, not a server's"),
        IpPref::Other(_) => Some("IP_PREF not a Table 4 value"),
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_string(mac: &[u8; 6]) -> String {
    let mut s = String::with_capacity(17);
    for (i, b) in mac.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Lower-case hex of at most `max` octets, `…` when cut.
pub fn hex(bytes: &[u8], max: usize) -> String {
    let mut s = String::with_capacity(bytes.len().min(max) * 2 + 3);
    for b in bytes.iter().take(max) {
        let _ = write!(s, "{b:02x}");
    }
    if bytes.len() > max {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_counts_all_and_keeps_the_first() {
        let mut v = Violations::new(1);
        let mac = [0, 1, 2, 3, 4, 5];
        v.add(
            Rule::AckSupersetOffer,
            &mac,
            "DHCPv4",
            || "a".into(),
            &[1, 2],
        );
        v.add(Rule::AckSupersetOffer, &mac, "DHCPv4", || "b".into(), &[3]);
        v.add(Rule::CmMic, &mac, "TFTP", || "c".into(), &[]);
        assert_eq!(v.total(), 3);
        assert_eq!(v.samples().len(), 1);
        assert_eq!(v.samples()[0].packet, "0102");
        assert_eq!(v.samples()[0].device, "00:01:02:03:04:05");
        assert_eq!(v.counts()[&(Rule::AckSupersetOffer, "DHCPv4")], 2);
        assert_eq!(hex(&[0xab; 3], 2), "abab…");
    }
}
