//! The built-in option types: every DHCPv4 option of RFC 2132 and the later
//! options cable operators meet (RFC 3004, 2610, 4702, 3046 and the relay
//! sub-option RFCs, 2241, 2242, 4280, 4578, 2485, 4776, 4833, 2563, 2937,
//! 3011, 3397, 3361, 3442, 3495/3594/3634, 3825, 3925), the CableLabs
//! sub-options of options 43 and 125 (CL-SP-CANN-DHCP-Reg as summarised in
//! protocol-notes sections 2.1 and 3.1, PKT-SP-EUE-PROV section 6.4.1), and
//! the server control options of seed 004 section 5.7.1.
//!
//! Names follow ISC Kea where Kea has one; sub-options carry a prefix
//! (`agent.`, `cablelabs-`, `cl-v4-`, `cl-43-`) so every name is unique.

use super::path::{Space, TagPath};
use super::types::{Bounds, DataType, Framing, OptionDef, Settable};
use DataType::*;

/// The IANA enterprise number of CableLabs.
pub const CABLELABS: u32 = 4491;

/// Numbers of the server control options (`server/N`).
pub mod control {
    /// `server.lease-time`: lease duration in seconds (sent as option 51).
    pub const LEASE_TIME: u32 = 1;
    /// `server.renew-time`: T1 in seconds (sent as option 58).
    pub const RENEW_TIME: u32 = 2;
    /// `server.rebind-time`: T2 in seconds (sent as option 59).
    pub const REBIND_TIME: u32 = 3;
    /// `server.no-response`: do not answer this device.
    pub const NO_RESPONSE: u32 = 4;
    /// `server.ddns-server`: where dynamic DNS updates for this device go.
    pub const DDNS_SERVER: u32 = 5;
    /// `server.next-server`: the BOOTP `siaddr` field.
    pub const NEXT_SERVER: u32 = 6;
    /// `server.boot-file`: the BOOTP `file` field.
    pub const BOOT_FILE: u32 = 7;
    /// `server.server-hostname`: the BOOTP `sname` field.
    pub const SERVER_HOSTNAME: u32 = 8;
    /// `server.offer-hold`: how long an offered address stays reserved.
    pub const OFFER_HOLD: u32 = 9;

    /// Whether control option `code` steers a server of `space` (a reply
    /// composed in that space carries it). `no-response` and `ddns-server`
    /// steer both families; the lease and T1/T2 times, the BOOTP fields and
    /// the offer hold are DHCPv4's (DHCPv6 lifetimes come from `[dhcpv6]`
    /// and the pools), so a DHCPv6 reply never evaluates their expressions.
    pub fn applies_to(code: u32, space: super::Space) -> bool {
        match space {
            super::Space::Dhcp4 => true,
            super::Space::Dhcp6 | super::Space::Server => {
                matches!(code, NO_RESPONSE | DDNS_SERVER)
            }
        }
    }
}

fn path(space: Space, el: &[u32]) -> TagPath {
    // Only called with the literal paths below; a unit test checks none is empty.
    TagPath::new(space, el).unwrap_or(TagPath::dhcp4(0))
}

fn d(el: &[u32], name: &str, t: DataType, desc: &str) -> OptionDef {
    OptionDef::new(path(Space::Dhcp4, el), name, t, desc)
}

fn list(el: &[u32], name: &str, t: DataType, desc: &str) -> OptionDef {
    OptionDef {
        multiple: true,
        ..d(el, name, t, desc)
    }
}

fn server(code: u32, name: &str, t: DataType, desc: &str) -> OptionDef {
    OptionDef::new(TagPath::server(code), name, t, desc)
}

/// Builder steps on definitions, so the table below stays one line per option.
trait Tweak {
    fn range(self, min: i128, max: i128) -> Self;
    fn one_of(self, values: &[i128]) -> Self;
    fn count(self, min: usize, max: usize, step: usize) -> Self;
    fn octets(self, min: usize, max: usize) -> Self;
    fn signed(self) -> Self;
    fn prefixed(self) -> Self;
    fn oro(self) -> Self;
    fn server_owned(self) -> Self;
}

impl Tweak for OptionDef {
    fn range(mut self, min: i128, max: i128) -> Self {
        self.min = Some(min);
        self.max = Some(max);
        self
    }
    fn one_of(mut self, values: &[i128]) -> Self {
        self.values = values.to_vec();
        self
    }
    fn count(mut self, min: usize, max: usize, step: usize) -> Self {
        self.count = Bounds { min, max, step };
        self
    }
    fn octets(mut self, min: usize, max: usize) -> Self {
        self.octets = Bounds { min, max, step: 1 };
        self
    }
    fn signed(mut self) -> Self {
        self.signed = true;
        self
    }
    fn prefixed(mut self) -> Self {
        self.length_prefix = 1;
        self
    }
    fn oro(mut self) -> Self {
        self.vendor_oro = true;
        self
    }
    fn server_owned(mut self) -> Self {
        self.user = Settable::Disallowed;
        self
    }
}

const ANY: usize = usize::MAX;

/// Every built-in definition, parents before their children.
pub fn definitions() -> Vec<OptionDef> {
    let mut v = rfc2132();
    v.extend(later_options());
    v.extend(relay_agent());
    v.extend(cablelabs_122());
    v.extend(cablelabs_125());
    v.extend(cablelabs_43());
    v.extend(control_options());
    v.extend(dhcpv6());
    v
}

fn rfc2132() -> Vec<OptionDef> {
    vec![
        d(&[1], "subnet-mask", Ip, "Subnet mask (RFC 2132 section 3.3)"),
        d(&[2], "time-offset", Time, "Offset of the client's subnet from UTC in seconds (RFC 2132 section 3.4)").signed(),
        list(&[3], "routers", Ip, "Routers on the client's subnet, preferred first (RFC 2132 section 3.5)"),
        list(&[4], "time-servers", Ip, "RFC 868 time servers (RFC 2132 section 3.6)"),
        list(&[5], "name-servers", Ip, "IEN 116 name servers (RFC 2132 section 3.7)"),
        list(&[6], "domain-name-servers", Ip, "DNS servers (RFC 2132 section 3.8)"),
        list(&[7], "log-servers", Ip, "MIT-LCS UDP log servers; syslog for PacketCable (RFC 2132 section 3.9)"),
        list(&[8], "cookie-servers", Ip, "RFC 865 cookie servers (RFC 2132 section 3.10)"),
        list(&[9], "lpr-servers", Ip, "RFC 1179 line printer servers (RFC 2132 section 3.11)"),
        list(&[10], "impress-servers", Ip, "Imagen Impress servers (RFC 2132 section 3.12)"),
        list(&[11], "resource-location-servers", Ip, "RFC 887 resource location servers (RFC 2132 section 3.13)"),
        d(&[12], "host-name", String, "Client host name (RFC 2132 section 3.14)").octets(1, ANY),
        d(&[13], "boot-size", U16, "Boot file size in 512-octet blocks (RFC 2132 section 3.15)"),
        d(&[14], "merit-dump", String, "Merit dump file path (RFC 2132 section 3.16)").octets(1, ANY),
        d(&[15], "domain-name", String, "Domain name for DNS resolution (RFC 2132 section 3.17)").octets(1, ANY),
        d(&[16], "swap-server", Ip, "Swap server (RFC 2132 section 3.18)"),
        d(&[17], "root-path", String, "Root disk path (RFC 2132 section 3.19)").octets(1, ANY),
        d(&[18], "extensions-path", String, "TFTP file of further options (RFC 2132 section 3.20)").octets(1, ANY),
        d(&[19], "ip-forwarding", Bool, "Enable IP forwarding (RFC 2132 section 4.1)"),
        d(&[20], "non-local-source-routing", Bool, "Allow non-local source routes (RFC 2132 section 4.2)"),
        list(&[21], "policy-filter", Ip, "Source route filters as address/mask pairs (RFC 2132 section 4.3)")
            .count(2, ANY, 2),
        d(&[22], "max-dgram-reassembly", U16, "Largest datagram to reassemble (RFC 2132 section 4.4)")
            .range(576, 65535),
        d(&[23], "default-ip-ttl", U8, "Default IP TTL (RFC 2132 section 4.5)").range(1, 255),
        d(&[24], "path-mtu-aging-timeout", Time, "Path MTU aging timeout (RFC 2132 section 4.6)"),
        list(&[25], "path-mtu-plateau-table", U16, "Path MTU plateau table (RFC 2132 section 4.7)").range(68, 65535),
        d(&[26], "interface-mtu", U16, "Interface MTU (RFC 2132 section 5.1)").range(68, 65535),
        d(&[27], "all-subnets-local", Bool, "All subnets share the MTU (RFC 2132 section 5.2)"),
        d(&[28], "broadcast-address", Ip, "Broadcast address (RFC 2132 section 5.3)"),
        d(&[29], "perform-mask-discovery", Bool, "Use ICMP mask discovery (RFC 2132 section 5.4)"),
        d(&[30], "mask-supplier", Bool, "Answer ICMP mask requests (RFC 2132 section 5.5)"),
        d(&[31], "router-discovery", Bool, "Use RFC 1256 router discovery (RFC 2132 section 5.6)"),
        d(&[32], "router-solicitation-address", Ip, "Router solicitation address (RFC 2132 section 5.7)"),
        list(&[33], "static-routes", Ip, "Classful static routes as destination/router pairs (RFC 2132 section 5.8)")
            .count(2, ANY, 2),
        d(&[34], "trailer-encapsulation", Bool, "Negotiate ARP trailers (RFC 2132 section 6.1)"),
        d(&[35], "arp-cache-timeout", Time, "ARP cache timeout (RFC 2132 section 6.2)"),
        d(&[36], "ieee802-3-encapsulation", Bool, "Use IEEE 802.3 encapsulation (RFC 2132 section 6.3)"),
        d(&[37], "default-tcp-ttl", U8, "Default TCP TTL (RFC 2132 section 7.1)").range(1, 255),
        d(&[38], "tcp-keepalive-interval", Time, "TCP keepalive interval (RFC 2132 section 7.2)"),
        d(&[39], "tcp-keepalive-garbage", Bool, "Send a garbage octet in keepalives (RFC 2132 section 7.3)"),
        d(&[40], "nis-domain", String, "NIS domain (RFC 2132 section 8.1)").octets(1, ANY),
        list(&[41], "nis-servers", Ip, "NIS servers (RFC 2132 section 8.2)"),
        list(&[42], "ntp-servers", Ip, "NTP servers (RFC 2132 section 8.3)"),
        d(&[43], "vendor-encapsulated-options", Suboptions, "Vendor-specific information; CableLabs sub-options for eCM/eMTA (RFC 2132 section 8.4)"),
        list(&[44], "netbios-name-servers", Ip, "NetBIOS name servers (RFC 2132 section 8.5)"),
        list(&[45], "netbios-dd-server", Ip, "NetBIOS datagram distribution servers (RFC 2132 section 8.6)"),
        d(&[46], "netbios-node-type", U8, "NetBIOS node type: 1 B, 2 P, 4 M, 8 H (RFC 2132 section 8.7)").one_of(&[1, 2, 4, 8]),
        d(&[47], "netbios-scope", String, "NetBIOS scope (RFC 2132 section 8.8)").octets(1, ANY),
        list(&[48], "font-servers", Ip, "X Window font servers (RFC 2132 section 8.9)"),
        list(&[49], "x-display-manager", Ip, "X Window display managers (RFC 2132 section 8.10)"),
        d(&[50], "dhcp-requested-address", Ip, "Requested IP address, client only (RFC 2132 section 9.1)").server_owned(),
        d(&[51], "dhcp-lease-time", Time, "Lease time; set it with server.lease-time (RFC 2132 section 9.2)").server_owned(),
        d(&[52], "dhcp-option-overload", U8, "file/sname carry options: 1, 2 or 3 (RFC 2132 section 9.3)")
            .one_of(&[1, 2, 3])
            .server_owned(),
        d(&[53], "dhcp-message-type", U8, "DHCP message type (RFC 2132 section 9.6, RFC 3203, RFC 4388, RFC 6926)")
            .range(1, 18)
            .server_owned(),
        d(&[54], "dhcp-server-identifier", Ip, "Server identifier (RFC 2132 section 9.7)").server_owned(),
        list(&[55], "dhcp-parameter-request-list", U8, "Options the client requests (RFC 2132 section 9.8)").server_owned(),
        d(&[56], "dhcp-message", String, "Error message in a DHCPNAK (RFC 2132 section 9.9)").server_owned(),
        d(&[57], "dhcp-max-message-size", U16, "Largest DHCP message the client accepts (RFC 2132 section 9.10)")
            .range(576, 65535)
            .server_owned(),
        d(&[58], "dhcp-renewal-time", Time, "T1; set it with server.renew-time (RFC 2132 section 9.11)").server_owned(),
        d(&[59], "dhcp-rebinding-time", Time, "T2; set it with server.rebind-time (RFC 2132 section 9.12)").server_owned(),
        d(&[60], "vendor-class-identifier", String, "Vendor class, e.g. docsis3.0: or pktc2.0: (RFC 2132 section 9.13)").octets(1, ANY),
        d(&[61], "dhcp-client-identifier", Bytes, "Client identifier (RFC 2132 section 9.14)").octets(2, ANY).server_owned(),
        d(&[62], "nwip-domain-name", String, "NetWare/IP domain name (RFC 2242)").octets(1, ANY),
        d(&[63], "nwip-suboptions", Bytes, "NetWare/IP sub-options (RFC 2242)"),
        d(&[64], "nisplus-domain-name", String, "NIS+ domain (RFC 2132 section 8.11)").octets(1, ANY),
        list(&[65], "nisplus-servers", Ip, "NIS+ servers (RFC 2132 section 8.12)"),
        d(&[66], "tftp-server-name", String, "TFTP server name when sname is overloaded (RFC 2132 section 9.4)").octets(1, ANY),
        d(&[67], "boot-file-name", String, "Boot file name when file is overloaded (RFC 2132 section 9.5)").octets(1, ANY),
        list(&[68], "mobile-ip-home-agent", Ip, "Mobile IP home agents, possibly none (RFC 2132 section 8.13)").count(0, ANY, 1),
        list(&[69], "smtp-server", Ip, "SMTP servers (RFC 2132 section 8.14)"),
        list(&[70], "pop-server", Ip, "POP3 servers (RFC 2132 section 8.15)"),
        list(&[71], "nntp-server", Ip, "NNTP servers (RFC 2132 section 8.16)"),
        list(&[72], "www-server", Ip, "WWW servers (RFC 2132 section 8.17)"),
        list(&[73], "finger-server", Ip, "Finger servers (RFC 2132 section 8.18)"),
        list(&[74], "irc-server", Ip, "IRC servers (RFC 2132 section 8.19)"),
        list(&[75], "streettalk-server", Ip, "StreetTalk servers (RFC 2132 section 8.20)"),
        list(&[76], "streettalk-directory-assistance-server", Ip, "StreetTalk directory assistance servers (RFC 2132 section 8.21)"),
    ]
}

fn later_options() -> Vec<OptionDef> {
    vec![
        list(
            &[77],
            "user-class",
            Bytes,
            "User classes, each length-prefixed (RFC 3004 section 4)",
        )
        .prefixed()
        .octets(1, 255),
        d(
            &[78],
            "slp-directory-agent",
            Bytes,
            "SLP directory agents: mandatory octet, then addresses (RFC 2610 section 3)",
        )
        .octets(1, ANY),
        d(
            &[79],
            "slp-service-scope",
            Bytes,
            "SLP scopes: mandatory octet, then a scope list (RFC 2610 section 4)",
        )
        .octets(1, ANY),
        d(
            &[81],
            "fqdn",
            ClientFqdn,
            "Client FQDN and DNS update responsibility (RFC 4702 section 2)",
        ),
        d(
            &[82],
            "dhcp-agent-options",
            Suboptions,
            "Relay agent information, echoed to the relay (RFC 3046 section 2)",
        )
        .server_owned(),
        list(
            &[85],
            "nds-servers",
            Ip,
            "Novell Directory Services servers (RFC 2241 section 2)",
        ),
        d(
            &[86],
            "nds-tree-name",
            String,
            "NDS tree name (RFC 2241 section 3)",
        )
        .octets(1, ANY),
        d(
            &[87],
            "nds-context",
            String,
            "NDS context (RFC 2241 section 4)",
        )
        .octets(1, ANY),
        list(
            &[88],
            "bcms-controller-names",
            DnsNameList,
            "BCMCS controller domain names (RFC 4280 section 4.1)",
        ),
        list(
            &[89],
            "bcms-controller-address",
            Ip,
            "BCMCS controller addresses (RFC 4280 section 4.2)",
        ),
        list(
            &[93],
            "client-system",
            U16,
            "Client system architecture types (RFC 4578 section 2.1)",
        )
        .server_owned(),
        list(
            &[94],
            "client-ndi",
            U8,
            "Client network interface: type, major, minor (RFC 4578 section 2.2)",
        )
        .count(3, 3, 1)
        .server_owned(),
        d(
            &[97],
            "uuid-guid",
            Bytes,
            "Client machine identifier: type 0 + 16-octet UUID (RFC 4578 section 2.3)",
        )
        .octets(17, 17)
        .server_owned(),
        d(
            &[98],
            "uap-servers",
            String,
            "User authentication protocol URLs, space-separated (RFC 2485)",
        )
        .octets(1, ANY),
        d(
            &[99],
            "geoconf-civic",
            Bytes,
            "Civic address location (RFC 4776 section 3.1)",
        )
        .octets(3, ANY),
        d(
            &[100],
            "pcode",
            String,
            "IEEE 1003.1 TZ string (RFC 4833 section 2)",
        )
        .octets(1, ANY),
        d(
            &[101],
            "tcode",
            String,
            "tz database time zone name (RFC 4833 section 2)",
        )
        .octets(1, ANY),
        d(
            &[116],
            "auto-config",
            U8,
            "Auto-configure: 0 do not, 1 auto-configure (RFC 2563 section 2)",
        )
        .one_of(&[0, 1]),
        list(
            &[117],
            "name-service-search",
            U16,
            "Name services in search order (RFC 2937 section 3)",
        ),
        d(
            &[118],
            "subnet-selection",
            Ip,
            "Subnet the client is on, relay-supplied (RFC 3011 section 3)",
        )
        .server_owned(),
        list(
            &[119],
            "domain-search",
            DnsNameList,
            "DNS domain search list (RFC 3397 section 2)",
        ),
        list(
            &[120],
            "sip-servers",
            SipServers,
            "SIP outbound proxy servers, names or addresses (RFC 3361 section 3)",
        ),
        list(
            &[121],
            "classless-static-route",
            ClasslessRoutes,
            "Classless static routes (RFC 3442 section 3)",
        ),
        d(
            &[123],
            "geoconf",
            Bytes,
            "Coordinate-based location (RFC 3825 section 2)",
        )
        .octets(16, 16),
        d(
            &[124],
            "vivco-suboptions",
            Bytes,
            "Vendor-identifying vendor class: enterprise blocks (RFC 3925 section 3)",
        ),
        d(
            &[125],
            "vivso-suboptions",
            Vendor,
            "Vendor-identifying vendor-specific information (RFC 3925 section 4)",
        ),
    ]
}

fn relay_agent() -> Vec<OptionDef> {
    vec![
        d(
            &[82, 1],
            "agent.circuit-id",
            Bytes,
            "Agent circuit ID (RFC 3046 section 3.1)",
        )
        .octets(1, 255),
        d(
            &[82, 2],
            "agent.remote-id",
            Bytes,
            "Agent remote ID; the modem MAC on a CMTS (RFC 3046 section 3.2)",
        )
        .octets(1, 255),
        d(
            &[82, 4],
            "agent.docsis-device-class",
            U32,
            "DOCSIS device class (RFC 3256 section 3)",
        ),
        d(
            &[82, 5],
            "agent.link-selection",
            Ip,
            "Link selection (RFC 3527 section 3)",
        ),
        d(
            &[82, 6],
            "agent.subscriber-id",
            String,
            "Subscriber ID (RFC 3993 section 3)",
        )
        .octets(1, 255),
        d(
            &[82, 7],
            "agent.radius-attributes",
            Bytes,
            "RADIUS attributes (RFC 4014 section 3)",
        ),
        d(
            &[82, 8],
            "agent.authentication",
            Bytes,
            "Relay agent authentication (RFC 4030 section 4)",
        ),
        d(
            &[82, 9],
            "agent.vendor-specific",
            Vendor,
            "Vendor-specific relay information (RFC 4243 section 3)",
        ),
        d(
            &[82, 10],
            "agent.flags",
            U8,
            "Relay agent flags; bit 0x80 unicast (RFC 5010 section 3)",
        ),
        d(
            &[82, 11],
            "agent.server-id-override",
            Ip,
            "Server identifier override (RFC 5107 section 4)",
        ),
        d(
            &[82, 12],
            "agent.relay-id",
            Bytes,
            "Relay agent identifier (RFC 6925 section 3)",
        )
        .octets(1, 255),
    ]
}

fn cablelabs_122() -> Vec<OptionDef> {
    vec![
        d(&[122], "cablelabs-client-configuration", Suboptions, "CableLabs client configuration (RFC 3495 section 3)"),
        d(&[122, 1], "cablelabs-primary-dhcp-server", Ip,
          "TSP's primary DHCP server; 0.0.0.0 disables the eMTA, 255.255.255.255 accepts any server (RFC 3495 section 3.1, PKT-SP-EUE-PROV 6.3.2.2)"),
        d(&[122, 2], "cablelabs-secondary-dhcp-server", Ip, "TSP's secondary DHCP server (RFC 3495 section 3.2)"),
        d(&[122, 3], "cablelabs-prov-server", ProvServer, "TSP's provisioning server: FQDN (type 0) or IPv4 (type 1) (RFC 3495 section 3.3)"),
        list(&[122, 4], "cablelabs-as-req-as-rep-backoff", U32,
             "AS-REQ/AS-REP backoff: nominal timeout, maximum timeout, maximum retries (RFC 3495 section 3.4)").count(3, 3, 1),
        list(&[122, 5], "cablelabs-ap-req-ap-rep-backoff", U32,
             "AP-REQ/AP-REP backoff: nominal timeout, maximum timeout, maximum retries (RFC 3495 section 3.5)").count(3, 3, 1),
        d(&[122, 6], "cablelabs-realm", DnsName, "TSP's Kerberos realm, e.g. BASIC.1 or HYBRID.2 (RFC 3495 section 3.6)"),
        d(&[122, 7], "cablelabs-tgt-flag", U8, "Ticket granting server utilization: non-zero fetches a TGT (RFC 3495 section 3.7)"),
        d(&[122, 8], "cablelabs-prov-timer", U8, "Provisioning timer in minutes (RFC 3495 section 3.8)"),
        d(&[122, 9], "cablelabs-security-ticket-control", U16,
          "Security ticket control: 0x0001 invalidate provisioning ticket, 0x0002 all CMS tickets (RFC 3594 section 2)").range(0, 3),
        list(&[122, 10], "cablelabs-kdc-servers", Ip, "KDC server addresses (RFC 3634 section 2)"),
    ]
}

fn cablelabs_125() -> Vec<OptionDef> {
    let cl = CABLELABS;
    vec![
        d(&[125, cl], "vivso-4491", Suboptions, "CableLabs vendor-specific sub-options (CL-SP-CANN-DHCP-Reg, RFC 3925 section 4)"),
        list(&[125, cl, 1], "cl-v4-oro", U8, "CL_V4OPTION_ORO: sub-options the device requests (CL-SP-CANN-DHCP-Reg)")
            .oro()
            .server_owned(),
        list(&[125, cl, 2], "cl-v4-tftp-servers", Ip, "TFTP server addresses (CL-SP-CANN-DHCP-Reg)"),
        d(&[125, cl, 3], "cl-v4-erouter-container", Bytes, "eRouter container option (CL-SP-CANN-DHCP-Reg)"),
        d(&[125, cl, 4], "cl-v4-mib-env-indicator", U8,
          "MIB environment: 1 CableLabs, 2 IETF, 3 EuroCableLabs (CL-SP-CANN-DHCP-Reg)").range(1, 3),
        d(&[125, cl, 5], "cl-v4-modem-capabilities", Bytes, "Modem capabilities TLV 5 list, client only (CL-SP-CANN-DHCP-Reg)")
            .server_owned(),
        d(&[125, cl, 123], "cl-v4-cccv6", Suboptions,
          "CL_V4OPTION_CCCV6: the eUE's DHCPv6 servers (CL-SP-CANN-DHCP-Reg, PKT-SP-EUE-PROV 6.4.1.2)"),
        d(&[125, cl, 123, 1], "cl-v4-cccv6-primary-dss-id", DssId,
          "Primary DHCPv6 server selector ID; 00000000 must not provision, ffffffff any server (PKT-SP-EUE-PROV 6.4.1.2)"),
        d(&[125, cl, 123, 2], "cl-v4-cccv6-secondary-dss-id", DssId, "Secondary DHCPv6 server selector ID (PKT-SP-EUE-PROV 6.4.1.2)"),
        d(&[125, cl, 124], "cl-v4-ip-pref", U8,
          "CL_V4OPTION_IP_PREF: 1 IPv4, 2 IPv6, 5 dual/IPv4, 6 dual/IPv6, 7 device supports dual stack (PKT-SP-EUE-PROV 6.4.1.5, Table 4)")
            .one_of(&[1, 2, 5, 6, 7]),
    ]
}

fn cablelabs_43() -> Vec<OptionDef> {
    let s = |code: u32, name: &str, desc: &str| d(&[43, code], name, String, desc);
    vec![
        list(
            &[43, 1],
            "cl-43-request-list",
            U8,
            "Sub-option request list (CableLabs option 43, protocol-notes 3.1)",
        )
        .oro()
        .server_owned(),
        s(
            2,
            "cl-43-device-type",
            "Device type: ECM, EMTA, EDVA … (CableLabs option 43)",
        ),
        s(
            3,
            "cl-43-esafe-types",
            "eSAFE types / embedded components (CableLabs option 43)",
        ),
        s(
            4,
            "cl-43-serial-number",
            "Serial number (CableLabs option 43)",
        ),
        s(
            5,
            "cl-43-hardware-version",
            "Hardware version (CableLabs option 43)",
        ),
        s(
            6,
            "cl-43-software-version",
            "Software version (CableLabs option 43)",
        ),
        s(
            7,
            "cl-43-boot-rom-version",
            "Boot ROM version (CableLabs option 43)",
        ),
        s(
            8,
            "cl-43-oui",
            "Vendor OUI as 6 ASCII hex digits (CableLabs option 43, PKT-SP-EUE-PROV 6.4.2)",
        ),
        s(
            9,
            "cl-43-model-number",
            "Model number (CableLabs option 43)",
        ),
        s(10, "cl-43-vendor-name", "Vendor name (CableLabs option 43)"),
        d(
            &[43, 11],
            "cl-43-address-realm",
            U8,
            "Address realm (CableHome, CableLabs option 43)",
        ),
        s(
            12,
            "cl-43-system-description",
            "CM/PS system description (CableHome, CableLabs option 43)",
        ),
        s(
            13,
            "cl-43-firmware-revision",
            "CM/PS firmware revision (CableHome, CableLabs option 43)",
        ),
        s(
            14,
            "cl-43-firewall-policy-version",
            "Firewall policy file version (CableHome, CableLabs option 43)",
        ),
        s(
            15,
            "cl-43-esafe-config-devices",
            "eSAFE config file devices (CableLabs option 43)",
        ),
        s(
            18,
            "cl-43-video-security-type",
            "Video security type (CableLabs option 43)",
        ),
        d(
            &[43, 31],
            "cl-43-mta-mac-address",
            Bytes,
            "MTA MAC address (PacketCable, CableLabs option 43)",
        )
        .octets(6, 6),
        d(
            &[43, 32],
            "cl-43-correlation-id",
            U32,
            "Correlation ID, as pktcMtaDevCorrelationId (PacketCable, CableLabs option 43)",
        ),
        s(
            51,
            "cl-43-cablelabs-vendor-name",
            "Vendor name, CableLabs range (CableLabs option 43)",
        ),
        d(
            &[43, 52],
            "cl-43-cablecard-capability",
            Bytes,
            "CableCARD capability (CableLabs option 43)",
        ),
        d(
            &[43, 53],
            "cl-43-device-id-ca",
            Bytes,
            "Device identification, CA (CableLabs option 43)",
        ),
        s(
            54,
            "cl-43-device-id-x509",
            "Device identification, X.509 (CableLabs option 43)",
        ),
    ]
}

fn control_options() -> Vec<OptionDef> {
    use control::*;
    vec![
        server(
            LEASE_TIME,
            "server.lease-time",
            Time,
            "Lease duration in seconds, sent as option 51 (seed 004 5.7.1)",
        ),
        server(
            RENEW_TIME,
            "server.renew-time",
            Time,
            "Renewal (T1) time, sent as option 58 (seed 004 5.7.1)",
        ),
        server(
            REBIND_TIME,
            "server.rebind-time",
            Time,
            "Rebinding (T2) time, sent as option 59 (seed 004 5.7.1)",
        ),
        server(
            NO_RESPONSE,
            "server.no-response",
            Bool,
            "Do not answer this device at all (seed 004 5.7.1)",
        ),
        server(
            DDNS_SERVER,
            "server.ddns-server",
            Ip,
            "DNS server for this device's dynamic updates (seed 004 5.7.1)",
        ),
        server(
            NEXT_SERVER,
            "server.next-server",
            Ip,
            "Next server, written to siaddr (RFC 2131 section 2)",
        ),
        server(
            BOOT_FILE,
            "server.boot-file",
            String,
            "Boot file, written to the file field (RFC 2131 section 2)",
        )
        .octets(1, 128),
        server(
            SERVER_HOSTNAME,
            "server.server-hostname",
            String,
            "Server host name, written to sname (RFC 2131 section 2)",
        )
        .octets(1, 64),
        server(
            OFFER_HOLD,
            "server.offer-hold",
            Time,
            "How long an offered address stays reserved (seed 004 5.7.1)",
        ),
    ]
}

fn d6(el: &[u32], name: &str, t: DataType, desc: &str) -> OptionDef {
    OptionDef::new(path(Space::Dhcp6, el), name, t, desc)
}

fn list6(el: &[u32], name: &str, t: DataType, desc: &str) -> OptionDef {
    OptionDef {
        multiple: true,
        ..d6(el, name, t, desc)
    }
}

/// The DHCPv6 space (`v6/…`, names `v6.…`): the RFC 8415 options a server
/// sets and the later ones cable operators hand out (RFC 3319, 3646, 4075,
/// 4704, 4833), and option 17 with the CableLabs sub-options a server sends
/// (CL-SP-CANN-DHCP-Reg as summarised in protocol-notes section 4;
/// PKT-SP-EUE-PROV section 6.4.1). CL_OPTION_CCCV6 (17.2171) is not here:
/// the server builds it from its DSS_ID and the flow decision (seed 000
/// Tables 3 and 6), so no policy can contradict those rules.
fn dhcpv6() -> Vec<OptionDef> {
    let cl = CABLELABS;
    vec![
        list6(&[21], "v6.sip-server-dns", DnsNameList, "SIP server domain names (RFC 3319 section 3.1)"),
        list6(&[22], "v6.sip-server-addr", Ip6, "SIP server addresses (RFC 3319 section 3.2)"),
        list6(&[23], "v6.dns-servers", Ip6, "DNS recursive name servers (RFC 3646 section 3)"),
        list6(&[24], "v6.domain-search", DnsNameList, "Domain search list (RFC 3646 section 4)"),
        list6(&[31], "v6.sntp-servers", Ip6, "SNTP servers (RFC 4075 section 4)"),
        d6(&[32], "v6.information-refresh-time", U32, "Information refresh time in seconds (RFC 8415 section 21.23)")
            .range(600, i128::from(u32::MAX)),
        d6(&[39], "v6.client-fqdn", DnsName,
           "The name assigned to the client (RFC 4704); sent only to a client that sent option 39, with the flags RFC 4704 section 5.2 gives"),
        d6(&[41], "v6.new-posix-timezone", String, "POSIX time zone string (RFC 4833 section 3)"),
        d6(&[42], "v6.new-tzdb-timezone", String, "TZ database time zone name (RFC 4833 section 3)"),
        OptionDef { framing: Framing::DHCP6, ..d6(&[17], "v6.vendor-opts", Vendor, "Vendor-specific information, one option per enterprise (RFC 8415 section 21.17)") },
        OptionDef { framing: Framing::DHCP6, ..d6(&[17, cl], "v6.vendor-4491", Suboptions, "CableLabs DHCPv6 vendor sub-options (CL-SP-CANN-DHCP-Reg)") },
        list6(&[17, cl, 1], "v6.cl-oro", U16, "CL_OPTION_ORO: sub-options the device requests, client only (CL-SP-CANN-DHCP-Reg)")
            .oro()
            .server_owned(),
        list6(&[17, cl, 32], "v6.cl-tftp-servers", Ip6, "CL_OPTION_TFTP_SERVERS (seed 000 Table 3/6)"),
        d6(&[17, cl, 33], "v6.cl-config-file", String, "CL_OPTION_CONFIG_FILE_NAME (seed 000 Table 3/6)"),
        list6(&[17, cl, 34], "v6.cl-syslog-servers", Ip6, "CL_OPTION_SYSLOG_SERVERS; an eUE uses the first (seed 000 section 6.1.6)"),
        list6(&[17, cl, 37], "v6.cl-time-servers", Ip6, "CL_OPTION_TIME_SERVERS, RFC 868 (seed 000 Table 3)"),
        d6(&[17, cl, 38], "v6.cl-time-offset", U32, "CL_OPTION_TIME_OFFSET in seconds (seed 000 Table 3)")
            .signed(),
        d6(&[17, cl, 39], "v6.cl-ip-pref", U8,
           "CL_OPTION_IP_PREF for eCMs: 1 IPv4, 2 IPv6, 5/6 dual stack preferring v4/v6, sent 5/6 only to an eCM that sent b'111 (seed 000 Table 4)")
            .one_of(&[1, 2, 5, 6]),
        d6(&[17, cl, 2170], "v6.cl-ccc", Suboptions, "CL_OPTION_CCC for eCMs: the eUE's DHCPv4 servers (seed 000 Table 3, option 122 framing)"),
        d6(&[17, cl, 2170, 1], "v6.cl-ccc-primary-dhcp4", Ip, "The eUE's primary DHCPv4 server (CL_OPTION_CCC sub-option 1, RFC 3495)"),
        d6(&[17, cl, 2170, 2], "v6.cl-ccc-secondary-dhcp4", Ip, "The eUE's secondary DHCPv4 server (CL_OPTION_CCC sub-option 2, RFC 3495)"),
    ]
}
