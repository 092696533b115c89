//! What a storm does: the servers and relays, the device profiles, the
//! ports of the post-DHCP services and the retry schedules. Built once from
//! the command line and shared read-only by every device.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::device::Kind;
use crate::dhcp4::Profile4;
use crate::dhcp6::Profile6;
use crate::retry::Retry;

/// Ports of the services a device talks to after DHCP.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// TFTP (69).
    pub tftp: u16,
    /// RFC 868 time (37).
    pub tod: u16,
    /// Syslog (514).
    pub syslog: u16,
    /// The provisioning server's SNMP INFORM port (162).
    pub snmp: u16,
    /// The eUE's own SNMP agent port (161).
    pub agent: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            tftp: 69,
            tod: 37,
            syslog: 514,
            snmp: 162,
            agent: 161,
        }
    }
}

/// The storm's settings.
#[derive(Debug, Clone)]
pub struct Plan {
    /// DHCPv4 server (where the relays send).
    pub server4: SocketAddr,
    /// DHCPv6 server.
    pub server6: SocketAddr,
    /// The giaddr of each virtual CMTS.
    pub relays4: Vec<Ipv4Addr>,
    /// The DHCPv6 link-address of each virtual CMTS.
    pub links6: Vec<Ipv6Addr>,
    /// Relays ask for replies on their source port (RFC 8357).
    pub relay_source_port: bool,
    /// Run the steps after DHCP (ToD, files, SNMP, syslog).
    pub full: bool,
    /// Renew leases at T1 after provisioning.
    pub renew: bool,
    /// Service ports.
    pub ports: Ports,
    /// DHCPv4 retransmissions.
    pub retry4: Retry,
    /// DHCPv6 retransmissions.
    pub retry6: Retry,
    /// TFTP, ToD and SNMP retransmissions.
    pub retry_udp: Retry,
    /// How long an eUE waits for the SET after its enrollment is answered.
    pub set_wait: Duration,
    /// TFTP blksize asked for.
    pub blksize: u16,
    /// CMTS shared secret, to check the CMTS MIC.
    pub cmts_secret: Option<Vec<u8>>,
    /// Community of the eUE's INFORMs.
    pub inform_community: String,
    /// Community the eUE's agent accepts in the SET (any if none).
    pub agent_community: Option<String>,
    /// DOCSIS cable modems' DHCPv4 profile.
    pub cm: Profile4,
    /// E-UE eCMs' DHCPv4 profile.
    pub ecm: Profile4,
    /// eUEs' DHCPv4 profile.
    pub eue4: Profile4,
    /// eUEs' DHCPv6 profile.
    pub eue6: Profile6,
    /// CPE's DHCPv4 profile.
    pub cpe: Profile4,
    /// eCMs and CMs provision over DHCPv6 (Table 3) instead of DHCPv4.
    pub ecm_v6: bool,
    /// CPE provision over DHCPv6 instead of DHCPv4.
    pub cpe_v6: bool,
    /// eCMs' DHCPv6 profile.
    pub ecm6: Profile6,
    /// CPE's DHCPv6 profile.
    pub cpe6: Profile6,
    /// Added to every device's number when its MAC is made: repeated runs
    /// against one server get fresh clients.
    pub mac_offset: u64,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            server4: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 67),
            server6: SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 547),
            relays4: vec![Ipv4Addr::new(127, 0, 0, 2)],
            links6: vec![Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 1)],
            relay_source_port: true,
            full: true,
            renew: false,
            ports: Ports::default(),
            retry4: Retry::default(),
            retry6: Retry {
                // RFC 8415 §15: SOL_TIMEOUT/REQ_TIMEOUT 1 s, doubling, ±10 %.
                initial: Duration::from_secs(1),
                max: Duration::from_secs(30),
                attempts: 6,
                jitter: Duration::from_millis(100),
            },
            retry_udp: Retry {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(8),
                attempts: 5,
                jitter: Duration::from_millis(100),
            },
            set_wait: Duration::from_secs(30),
            blksize: 1448,
            cmts_secret: None,
            inform_community: "public".into(),
            agent_community: None,
            cm: Profile4 {
                vendor_class: b"docsis3.0:053701010102010203010104010105010106010107010f0801"
                    .to_vec(),
                prl: vec![1, 2, 3, 4, 7, 66, 67],
                vivso: None,
                max_message_size: Some(1500),
            },
            ecm: Profile4 {
                vendor_class: b"docsis3.0:053701010102010203010104010105010106010107010f0801"
                    .to_vec(),
                prl: vec![1, 2, 3, 4, 7, 66, 67, 122, 125],
                // 125/4491: CL_V4OPTION_ORO (123, 124) and IP_PREF b'111
                // (Table 2 CM1: the eUE is dual-stack capable).
                vivso: Some(vec![0, 0, 0x11, 0x8b, 7, 1, 2, 123, 124, 124, 1, 7]),
                max_message_size: Some(1500),
            },
            eue4: Profile4 {
                vendor_class: b"pktc2.0:051201070102".to_vec(),
                prl: vec![1, 3, 6, 7, 12, 15, 66, 67, 122],
                vivso: None,
                max_message_size: Some(1500),
            },
            eue6: Profile6::default(),
            ecm_v6: false,
            cpe_v6: false,
            ecm6: Profile6::ecm(),
            cpe6: Profile6::cpe(),
            mac_offset: 0,
            cpe: Profile4 {
                vendor_class: Vec::new(),
                prl: vec![1, 3, 6, 15, 28],
                vivso: None,
                max_message_size: None,
            },
        }
    }
}

impl Plan {
    /// The giaddr of relay `n`.
    pub fn relay4(&self, n: u16) -> Ipv4Addr {
        self.relays4
            .get(usize::from(n))
            .or(self.relays4.first())
            .copied()
            .unwrap_or(Ipv4Addr::LOCALHOST)
    }

    /// The link-address of relay `n`.
    pub fn link6(&self, n: u16) -> Ipv6Addr {
        self.links6
            .get(usize::from(n) % self.links6.len().max(1))
            .copied()
            .unwrap_or(Ipv6Addr::UNSPECIFIED)
    }

    /// The DHCPv4 profile of a kind (the eCM's for an E-UE).
    pub fn profile4(&self, kind: Kind) -> &Profile4 {
        match kind {
            Kind::Cm => &self.cm,
            Kind::Eue => &self.ecm,
            Kind::Cpe => &self.cpe,
        }
    }
}
