//! Names and OIDs of the SNMP objects that provisioning puts in config
//! files (protocol-notes section 7, checked against the pysmi compiles of
//! PKTC-IETF-MTA-MIB = RFC 4682, CableLabs PKTC-MTA-MIB and
//! CL-PKTC-EUE-DEV-MIB). The eUE of PKT-SP-EUE-PROV uses the RFC 4682 MIB:
//! its realm and CMS tables are indexed by integers, so the realm name is an
//! explicit column (seed 000 section 6.4.2.1).

use crate::ber::Oid;

/// A named MIB object (a scalar or a table column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MibObject {
    /// The descriptor, e.g. `pktcMtaDevEnabled`.
    pub name: &'static str,
    /// The object's OID (without instance).
    pub arcs: &'static [u32],
}

impl MibObject {
    /// The object's OID.
    pub fn oid(&self) -> Oid {
        Oid::new(self.arcs)
    }

    /// The OID of an instance: `.0` for a scalar, the row index for a column.
    pub fn instance(&self, index: &[u32]) -> Oid {
        self.oid().child(index)
    }
}

macro_rules! objects {
    ($( $(#[$doc:meta])* $id:ident = $name:literal [$($arc:expr),*]; )*) => {
        $( $(#[$doc])* pub const $id: MibObject = MibObject { name: $name, arcs: &[$($arc),*] }; )*
        /// Every object this module names (for the printer).
        pub const ALL: &[MibObject] = &[$($id),*];
    };
}

objects! {
    /// RFC 4682 pktcMtaDevEnabled (TruthValue).
    DEV_ENABLED = "pktcMtaDevEnabled" [1, 3, 6, 1, 2, 1, 140, 1, 1, 6];
    /// RFC 4682 pktcMtaDevProvisioningTimer (minutes).
    PROVISIONING_TIMER = "pktcMtaDevProvisioningTimer" [1, 3, 6, 1, 2, 1, 140, 1, 1, 10];
    /// RFC 4682 pktcMtaDevConfigFile.
    CONFIG_FILE = "pktcMtaDevConfigFile" [1, 3, 6, 1, 2, 1, 140, 1, 2, 9];
    /// RFC 4682 pktcMtaDevSnmpEntity.
    SNMP_ENTITY = "pktcMtaDevSnmpEntity" [1, 3, 6, 1, 2, 1, 140, 1, 2, 10];
    /// RFC 4682 pktcMtaDevProvConfigHash (SHA-1, 20 octets).
    PROV_CONFIG_HASH = "pktcMtaDevProvConfigHash" [1, 3, 6, 1, 2, 1, 140, 1, 2, 11];
    /// RFC 4682 pktcMtaDevProvConfigKey.
    PROV_CONFIG_KEY = "pktcMtaDevProvConfigKey" [1, 3, 6, 1, 2, 1, 140, 1, 2, 12];
    /// RFC 4682 pktcMtaDevRealmName (column; index pktcMtaDevRealmIndex).
    REALM_NAME = "pktcMtaDevRealmName" [1, 3, 6, 1, 2, 1, 140, 1, 3, 6, 1, 2];
    /// RFC 4682 pktcMtaDevRealmPkinitGracePeriod (minutes).
    REALM_PKINIT_GRACE = "pktcMtaDevRealmPkinitGracePeriod" [1, 3, 6, 1, 2, 1, 140, 1, 3, 6, 1, 3];
    /// RFC 4682 pktcMtaDevRealmTgsGracePeriod (minutes).
    REALM_TGS_GRACE = "pktcMtaDevRealmTgsGracePeriod" [1, 3, 6, 1, 2, 1, 140, 1, 3, 6, 1, 4];
    /// RFC 4682 pktcMtaDevRealmOrgName.
    REALM_ORG_NAME = "pktcMtaDevRealmOrgName" [1, 3, 6, 1, 2, 1, 140, 1, 3, 6, 1, 5];
    /// RFC 4682 pktcMtaDevRealmStatus (RowStatus).
    REALM_STATUS = "pktcMtaDevRealmStatus" [1, 3, 6, 1, 2, 1, 140, 1, 3, 6, 1, 9];
    /// RFC 4682 pktcMtaDevCmsFqdn (column; index pktcMtaDevCmsIndex).
    CMS_FQDN = "pktcMtaDevCmsFqdn" [1, 3, 6, 1, 2, 1, 140, 1, 3, 8, 1, 2];
    /// RFC 4682 pktcMtaDevCmsKerbRealmName.
    CMS_KERB_REALM_NAME = "pktcMtaDevCmsKerbRealmName" [1, 3, 6, 1, 2, 1, 140, 1, 3, 8, 1, 3];
    /// RFC 4682 pktcMtaDevCmsMaxClockSkew (seconds).
    CMS_MAX_CLOCK_SKEW = "pktcMtaDevCmsMaxClockSkew" [1, 3, 6, 1, 2, 1, 140, 1, 3, 8, 1, 4];
    /// RFC 4682 pktcMtaDevCmsIpsecCtrl (TruthValue).
    CMS_IPSEC_CTRL = "pktcMtaDevCmsIpsecCtrl" [1, 3, 6, 1, 2, 1, 140, 1, 3, 8, 1, 9];
    /// RFC 4682 pktcMtaDevCmsStatus (RowStatus).
    CMS_STATUS = "pktcMtaDevCmsStatus" [1, 3, 6, 1, 2, 1, 140, 1, 3, 8, 1, 10];
    /// CableLabs PKTC-MTA-MIB pktcMtaDevEnabled.
    CL_DEV_ENABLED = "pktcMtaDevEnabled(CL)" [1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 1, 1, 7];
    /// CableLabs PKTC-MTA-MIB pktcMtaDevConfigFile.
    CL_CONFIG_FILE = "pktcMtaDevConfigFile(CL)" [1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 1, 2, 5];
    /// CableLabs PKTC-MTA-MIB pktcMtaDevProvConfigHash.
    CL_PROV_CONFIG_HASH = "pktcMtaDevProvConfigHash(CL)" [1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 1, 2, 7];
    /// CableLabs PKTC-MTA-MIB pktcMtaDevRealmOrgName (index: realm name, IMPLIED).
    CL_REALM_ORG_NAME = "pktcMtaDevRealmOrgName(CL)" [1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 1, 3, 16, 1, 4];
    /// CableLabs PKTC-MTA-MIB pktcMtaDevCmsKerbRealmName (index: CMS FQDN, IMPLIED).
    CL_CMS_KERB_REALM_NAME = "pktcMtaDevCmsKerbRealmName(CL)" [1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 1, 3, 17, 1, 2];
    /// CableLabs PKTC-MTA-MIB pktcMtaDevCmsIpsecCtrl.
    CL_CMS_IPSEC_CTRL = "pktcMtaDevCmsIpsecCtrl(CL)" [1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 1, 3, 17, 1, 10];
    /// EuroPacketCable pktcMtaDevProvConfigHash (DOCSIS-TOOL `-eu`).
    EURO_PROV_CONFIG_HASH = "pktcMtaDevProvConfigHash(Euro)" [1, 3, 6, 1, 4, 1, 7432, 1, 1, 2, 9];
    /// CL-PKTC-EUE-DEV-MIB pktcEUEDevOpDomain (index pktcEUEDevOpIndex).
    EUE_OP_DOMAIN = "pktcEUEDevOpDomain" [1, 3, 6, 1, 4, 1, 4491, 2, 2, 10, 3, 1, 1, 2, 1, 2];
    /// CL-PKTC-EUE-DEV-MIB pktcEUEDevOpRowStatus.
    EUE_OP_ROW_STATUS = "pktcEUEDevOpRowStatus" [1, 3, 6, 1, 4, 1, 4491, 2, 2, 10, 3, 1, 1, 2, 1, 11];
    /// CL-PKTC-EUE-DEV-MIB pktcEUEDevDnsAddrType (index OpIndex, DnsIndex).
    EUE_DNS_ADDR_TYPE = "pktcEUEDevDnsAddrType" [1, 3, 6, 1, 4, 1, 4491, 2, 2, 10, 3, 1, 1, 3, 1, 2];
    /// CL-PKTC-EUE-DEV-MIB pktcEUEDevDnsAddr.
    EUE_DNS_ADDR = "pktcEUEDevDnsAddr" [1, 3, 6, 1, 4, 1, 4491, 2, 2, 10, 3, 1, 1, 3, 1, 3];
    /// CL-PKTC-EUE-DEV-MIB pktcEUEDevDnsRowStatus.
    EUE_DNS_ROW_STATUS = "pktcEUEDevDnsRowStatus" [1, 3, 6, 1, 4, 1, 4491, 2, 2, 10, 3, 1, 1, 3, 1, 4];
    /// CL-PKTC-EUE-DEV-MIB pktcEUEDevPCSCFAddrType (index OpIndex, PCSCFIndex).
    EUE_PCSCF_ADDR_TYPE = "pktcEUEDevPCSCFAddrType" [1, 3, 6, 1, 4, 1, 4491, 2, 2, 10, 3, 1, 1, 4, 1, 2];
    /// CL-PKTC-EUE-DEV-MIB pktcEUEDevPCSCFAddr.
    EUE_PCSCF_ADDR = "pktcEUEDevPCSCFAddr" [1, 3, 6, 1, 4, 1, 4491, 2, 2, 10, 3, 1, 1, 4, 1, 3];
    /// CL-PKTC-EUE-DEV-MIB pktcEUEDevPCSCFSipPort.
    EUE_PCSCF_SIP_PORT = "pktcEUEDevPCSCFSipPort" [1, 3, 6, 1, 4, 1, 4491, 2, 2, 10, 3, 1, 1, 4, 1, 4];
    /// CL-PKTC-EUE-DEV-MIB pktcEUEDevPCSCFUsedProtocol (udp 2, tcp 3, tls 4).
    EUE_PCSCF_PROTOCOL = "pktcEUEDevPCSCFUsedProtocol" [1, 3, 6, 1, 4, 1, 4491, 2, 2, 10, 3, 1, 1, 4, 1, 5];
    /// CL-PKTC-EUE-DEV-MIB pktcEUEDevPCSCFRowStatus.
    EUE_PCSCF_ROW_STATUS = "pktcEUEDevPCSCFRowStatus" [1, 3, 6, 1, 4, 1, 4491, 2, 2, 10, 3, 1, 1, 4, 1, 12];
    /// PKTC-SIG / NCS call agent id (seen in DOCSIS-TOOL's packetcable_mta example).
    NCS_CALL_AGENT_ID = "pktcNcsEndPntConfigCallAgentId" [1, 3, 6, 1, 4, 1, 4491, 2, 2, 2, 1, 2, 1, 1, 1];
    /// PKTC-SIG / NCS call agent UDP port.
    NCS_CALL_AGENT_PORT = "pktcNcsEndPntConfigCallAgentUdpPort" [1, 3, 6, 1, 4, 1, 4491, 2, 2, 2, 1, 2, 1, 1, 2];
    /// SNMPv2-MIB sysContact.
    SYS_CONTACT = "sysContact" [1, 3, 6, 1, 2, 1, 1, 4];
    /// SNMPv2-MIB sysName.
    SYS_NAME = "sysName" [1, 3, 6, 1, 2, 1, 1, 5];
    /// SNMPv2-MIB sysLocation.
    SYS_LOCATION = "sysLocation" [1, 3, 6, 1, 2, 1, 1, 6];
    /// DOCS-CABLE-DEVICE-MIB docsDevNmAccessIp.
    DOCS_DEV_NM_ACCESS_IP = "docsDevNmAccessIp" [1, 3, 6, 1, 2, 1, 69, 1, 2, 1, 2];
}

/// RowStatus createAndGo(4) (RFC 2579), which the eUE must support for row
/// creation from a config file (seed 000 section 6.4.2).
pub const CREATE_AND_GO: i64 = 4;

/// The longest-prefix named object of an OID, and the remaining arcs (instance).
pub fn lookup(oid: &Oid) -> Option<(MibObject, &[u32])> {
    ALL.iter()
        .filter(|o| oid.0.starts_with(o.arcs))
        .max_by_key(|o| o.arcs.len())
        .map(|o| (*o, oid.0.get(o.arcs.len()..).unwrap_or(&[])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_splits_name_and_instance() {
        let oid = REALM_ORG_NAME.instance(&[3]);
        let (o, idx) = lookup(&oid).unwrap();
        assert_eq!(o.name, "pktcMtaDevRealmOrgName");
        assert_eq!(idx, &[3]);
        assert!(lookup(&"1.3.6.1.2.1.2.2.1.7.1".parse().unwrap()).is_none());
    }

    #[test]
    fn no_two_objects_share_an_oid() {
        for (i, a) in ALL.iter().enumerate() {
            for b in ALL.iter().skip(i + 1) {
                assert_ne!(a.arcs, b.arcs, "{} {}", a.name, b.name);
            }
        }
    }
}
