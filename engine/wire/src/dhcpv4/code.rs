//! DHCPv4 option codes: RFC 2132 §3-§9 plus the later options headend reads
//! or writes (RFC 3004, 3011, 3046, 3397, 3442, 3495, 3925, 4388, 4702,
//! 4833).
//! Names follow the RFC titles.

/// Pad (RFC 2132 §3.1): one octet, no length.
pub const PAD: u8 = 0;
/// Subnet Mask (RFC 2132 §3.3).
pub const SUBNET_MASK: u8 = 1;
/// Time Offset, signed seconds from UTC (RFC 2132 §3.4).
pub const TIME_OFFSET: u8 = 2;
/// Router list (RFC 2132 §3.5).
pub const ROUTER: u8 = 3;
/// RFC 868 Time Server list (RFC 2132 §3.6).
pub const TIME_SERVER: u8 = 4;
/// IEN 116 Name Server list (RFC 2132 §3.7).
pub const NAME_SERVER: u8 = 5;
/// Domain Name Server list (RFC 2132 §3.8).
pub const DOMAIN_NAME_SERVER: u8 = 6;
/// Log (MIT-LCS UDP log) Server list, used for syslog by cable devices (RFC 2132 §3.9).
pub const LOG_SERVER: u8 = 7;
/// Cookie Server list (RFC 2132 §3.10).
pub const COOKIE_SERVER: u8 = 8;
/// LPR Server list (RFC 2132 §3.11).
pub const LPR_SERVER: u8 = 9;
/// Impress Server list (RFC 2132 §3.12).
pub const IMPRESS_SERVER: u8 = 10;
/// Resource Location Server list (RFC 2132 §3.13).
pub const RESOURCE_LOCATION_SERVER: u8 = 11;
/// Host Name (RFC 2132 §3.14).
pub const HOST_NAME: u8 = 12;
/// Boot File Size in 512-octet blocks (RFC 2132 §3.15).
pub const BOOT_FILE_SIZE: u8 = 13;
/// Merit Dump File (RFC 2132 §3.16).
pub const MERIT_DUMP_FILE: u8 = 14;
/// Domain Name (RFC 2132 §3.17).
pub const DOMAIN_NAME: u8 = 15;
/// Swap Server (RFC 2132 §3.18).
pub const SWAP_SERVER: u8 = 16;
/// Root Path (RFC 2132 §3.19).
pub const ROOT_PATH: u8 = 17;
/// Extensions Path (RFC 2132 §3.20).
pub const EXTENSIONS_PATH: u8 = 18;
/// IP Forwarding Enable/Disable (RFC 2132 §4.1).
pub const IP_FORWARDING: u8 = 19;
/// Non-Local Source Routing Enable/Disable (RFC 2132 §4.2).
pub const NON_LOCAL_SOURCE_ROUTING: u8 = 20;
/// Policy Filter (RFC 2132 §4.3).
pub const POLICY_FILTER: u8 = 21;
/// Maximum Datagram Reassembly Size (RFC 2132 §4.4).
pub const MAX_DATAGRAM_REASSEMBLY_SIZE: u8 = 22;
/// Default IP Time-to-live (RFC 2132 §4.5).
pub const DEFAULT_IP_TTL: u8 = 23;
/// Path MTU Aging Timeout (RFC 2132 §4.6).
pub const PATH_MTU_AGING_TIMEOUT: u8 = 24;
/// Path MTU Plateau Table (RFC 2132 §4.7).
pub const PATH_MTU_PLATEAU_TABLE: u8 = 25;
/// Interface MTU (RFC 2132 §5.1).
pub const INTERFACE_MTU: u8 = 26;
/// All Subnets are Local (RFC 2132 §5.2).
pub const ALL_SUBNETS_LOCAL: u8 = 27;
/// Broadcast Address (RFC 2132 §5.3).
pub const BROADCAST_ADDRESS: u8 = 28;
/// Perform Mask Discovery (RFC 2132 §5.4).
pub const PERFORM_MASK_DISCOVERY: u8 = 29;
/// Mask Supplier (RFC 2132 §5.5).
pub const MASK_SUPPLIER: u8 = 30;
/// Perform Router Discovery (RFC 2132 §5.6).
pub const PERFORM_ROUTER_DISCOVERY: u8 = 31;
/// Router Solicitation Address (RFC 2132 §5.7).
pub const ROUTER_SOLICITATION_ADDRESS: u8 = 32;
/// Static Route (RFC 2132 §5.8).
pub const STATIC_ROUTE: u8 = 33;
/// Trailer Encapsulation (RFC 2132 §6.1).
pub const TRAILER_ENCAPSULATION: u8 = 34;
/// ARP Cache Timeout (RFC 2132 §6.2).
pub const ARP_CACHE_TIMEOUT: u8 = 35;
/// Ethernet Encapsulation (RFC 2132 §6.3).
pub const ETHERNET_ENCAPSULATION: u8 = 36;
/// TCP Default TTL (RFC 2132 §7.1).
pub const TCP_DEFAULT_TTL: u8 = 37;
/// TCP Keepalive Interval (RFC 2132 §7.2).
pub const TCP_KEEPALIVE_INTERVAL: u8 = 38;
/// TCP Keepalive Garbage (RFC 2132 §7.3).
pub const TCP_KEEPALIVE_GARBAGE: u8 = 39;
/// Network Information Service Domain (RFC 2132 §8.1).
pub const NIS_DOMAIN: u8 = 40;
/// Network Information Servers (RFC 2132 §8.2).
pub const NIS_SERVERS: u8 = 41;
/// Network Time Protocol Servers (RFC 2132 §8.3).
pub const NTP_SERVERS: u8 = 42;
/// Vendor Specific Information (RFC 2132 §8.4); CableLabs device info (protocol-notes §3.1).
pub const VENDOR_SPECIFIC: u8 = 43;
/// NetBIOS over TCP/IP Name Server (RFC 2132 §8.5).
pub const NETBIOS_NAME_SERVERS: u8 = 44;
/// NetBIOS over TCP/IP Datagram Distribution Server (RFC 2132 §8.6).
pub const NETBIOS_DATAGRAM_DISTRIBUTION: u8 = 45;
/// NetBIOS over TCP/IP Node Type (RFC 2132 §8.7).
pub const NETBIOS_NODE_TYPE: u8 = 46;
/// NetBIOS over TCP/IP Scope (RFC 2132 §8.8).
pub const NETBIOS_SCOPE: u8 = 47;
/// X Window System Font Server (RFC 2132 §8.9).
pub const X_FONT_SERVERS: u8 = 48;
/// X Window System Display Manager (RFC 2132 §8.10).
pub const X_DISPLAY_MANAGERS: u8 = 49;
/// Requested IP Address (RFC 2132 §9.1).
pub const REQUESTED_IP: u8 = 50;
/// IP Address Lease Time (RFC 2132 §9.2).
pub const LEASE_TIME: u8 = 51;
/// Option Overload (RFC 2132 §9.3): managed by the codec, never pushed by hand.
pub const OVERLOAD: u8 = 52;
/// DHCP Message Type (RFC 2132 §9.6).
pub const MESSAGE_TYPE: u8 = 53;
/// Server Identifier (RFC 2132 §9.7).
pub const SERVER_ID: u8 = 54;
/// Parameter Request List (RFC 2132 §9.8).
pub const PARAMETER_REQUEST_LIST: u8 = 55;
/// Message, a textual error (RFC 2132 §9.9).
pub const MESSAGE: u8 = 56;
/// Maximum DHCP Message Size (RFC 2132 §9.10).
pub const MAX_MESSAGE_SIZE: u8 = 57;
/// Renewal (T1) Time Value (RFC 2132 §9.11).
pub const RENEWAL_TIME: u8 = 58;
/// Rebinding (T2) Time Value (RFC 2132 §9.12).
pub const REBINDING_TIME: u8 = 59;
/// Vendor class identifier (RFC 2132 §9.13), e.g. `docsis3.0:` or `pktc2.0:…`.
pub const VENDOR_CLASS: u8 = 60;
/// Client-identifier (RFC 2132 §9.14).
pub const CLIENT_ID: u8 = 61;
/// Network Information Service+ Domain (RFC 2132 §8.11).
pub const NISPLUS_DOMAIN: u8 = 64;
/// Network Information Service+ Servers (RFC 2132 §8.12).
pub const NISPLUS_SERVERS: u8 = 65;
/// TFTP server name (RFC 2132 §9.4).
pub const TFTP_SERVER_NAME: u8 = 66;
/// Bootfile name (RFC 2132 §9.5).
pub const BOOTFILE_NAME: u8 = 67;
/// Mobile IP Home Agent (RFC 2132 §8.13).
pub const MOBILE_IP_HOME_AGENT: u8 = 68;
/// Simple Mail Transport Protocol Server (RFC 2132 §8.14).
pub const SMTP_SERVER: u8 = 69;
/// Post Office Protocol Server (RFC 2132 §8.15).
pub const POP3_SERVER: u8 = 70;
/// Network News Transport Protocol Server (RFC 2132 §8.16).
pub const NNTP_SERVER: u8 = 71;
/// Default World Wide Web Server (RFC 2132 §8.17).
pub const WWW_SERVER: u8 = 72;
/// Default Finger Server (RFC 2132 §8.18).
pub const FINGER_SERVER: u8 = 73;
/// Default Internet Relay Chat Server (RFC 2132 §8.19).
pub const IRC_SERVER: u8 = 74;
/// StreetTalk Server (RFC 2132 §8.20).
pub const STREETTALK_SERVER: u8 = 75;
/// StreetTalk Directory Assistance Server (RFC 2132 §8.21).
pub const STDA_SERVER: u8 = 76;
/// User Class (RFC 3004).
pub const USER_CLASS: u8 = 77;
/// Client FQDN (RFC 4702).
pub const CLIENT_FQDN: u8 = 81;
/// Relay Agent Information (RFC 3046).
pub const RELAY_AGENT_INFO: u8 = 82;
/// client-last-transaction-time: seconds since the client last talked to
/// the server about this lease (RFC 4388 §6.1, DHCPLEASEACTIVE).
pub const CLIENT_LAST_TRANSACTION_TIME: u8 = 91;
/// associated-ip: the client's other bound addresses (RFC 4388 §6.1).
pub const ASSOCIATED_IP: u8 = 92;
/// status-code: the outcome of a bulk leasequery (RFC 6926).
pub const STATUS_CODE: u8 = 151;
/// base-time: the server's clock when it sent the message (RFC 6926).
pub const BASE_TIME: u8 = 152;
/// start-time-of-state: seconds before base-time the binding entered its
/// state (RFC 6926).
pub const START_TIME_OF_STATE: u8 = 153;
/// query-start-time: only bindings that changed since (RFC 6926).
pub const QUERY_START_TIME: u8 = 154;
/// query-end-time: only bindings that changed until (RFC 6926).
pub const QUERY_END_TIME: u8 = 155;
/// dhcp-state: the binding's state (RFC 6926).
pub const DHCP_STATE: u8 = 156;
/// data-source: where the server got the binding (RFC 6926).
pub const DATA_SOURCE: u8 = 157;
/// IEEE 1003.1 TZ string (RFC 4833).
pub const PCODE: u8 = 100;
/// Reference to the TZ database (RFC 4833).
pub const TCODE: u8 = 101;
/// Subnet Selection (RFC 3011).
pub const SUBNET_SELECTION: u8 = 118;
/// Domain Search list (RFC 3397).
pub const DOMAIN_SEARCH: u8 = 119;
/// Classless Static Route (RFC 3442).
pub const CLASSLESS_STATIC_ROUTE: u8 = 121;
/// CableLabs Client Configuration (RFC 3495).
pub const CCC: u8 = 122;
/// Vendor-Identifying Vendor Class (RFC 3925 §3).
pub const VENDOR_CLASS_VI: u8 = 124;
/// Vendor-Identifying Vendor-Specific Information (RFC 3925 §4).
pub const VENDOR_SPECIFIC_VI: u8 = 125;
/// End (RFC 2132 §3.2): one octet, no length.
pub const END: u8 = 255;
