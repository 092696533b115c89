//! DHCPv6 option codes (RFC 8415 §21 and the IANA "DHCPv6 Option Codes"
//! registry; leasequery's from RFC 5007 §5 and RFC 5460 §8), status codes
//! (RFC 8415 §21.13 and Table 4, RFC 5007 §4.1.3, RFC 5460 §5.3) and DUID
//! types (RFC 8415 §11, RFC 6355).

/// OPTION_CLIENTID (RFC 8415 §21.2).
pub const CLIENTID: u16 = 1;
/// OPTION_SERVERID (RFC 8415 §21.3).
pub const SERVERID: u16 = 2;
/// OPTION_IA_NA (RFC 8415 §21.4).
pub const IA_NA: u16 = 3;
/// OPTION_IA_TA (RFC 8415 §21.5).
pub const IA_TA: u16 = 4;
/// OPTION_IAADDR (RFC 8415 §21.6).
pub const IAADDR: u16 = 5;
/// OPTION_ORO (RFC 8415 §21.7).
pub const ORO: u16 = 6;
/// OPTION_PREFERENCE (RFC 8415 §21.8).
pub const PREFERENCE: u16 = 7;
/// OPTION_ELAPSED_TIME (RFC 8415 §21.9).
pub const ELAPSED_TIME: u16 = 8;
/// OPTION_RELAY_MSG (RFC 8415 §21.10).
pub const RELAY_MSG: u16 = 9;
/// OPTION_AUTH (RFC 8415 §21.11).
pub const AUTH: u16 = 11;
/// OPTION_UNICAST (RFC 8415 §21.12).
pub const UNICAST: u16 = 12;
/// OPTION_STATUS_CODE (RFC 8415 §21.13).
pub const STATUS_CODE: u16 = 13;
/// OPTION_RAPID_COMMIT (RFC 8415 §21.14).
pub const RAPID_COMMIT: u16 = 14;
/// OPTION_USER_CLASS (RFC 8415 §21.15).
pub const USER_CLASS: u16 = 15;
/// OPTION_VENDOR_CLASS (RFC 8415 §21.16).
pub const VENDOR_CLASS: u16 = 16;
/// OPTION_VENDOR_OPTS (RFC 8415 §21.17).
pub const VENDOR_OPTS: u16 = 17;
/// OPTION_INTERFACE_ID (RFC 8415 §21.18).
pub const INTERFACE_ID: u16 = 18;
/// OPTION_RECONF_MSG (RFC 8415 §21.19).
pub const RECONF_MSG: u16 = 19;
/// OPTION_RECONF_ACCEPT (RFC 8415 §21.20).
pub const RECONF_ACCEPT: u16 = 20;
/// OPTION_DNS_SERVERS (RFC 3646 §3).
pub const DNS_SERVERS: u16 = 23;
/// OPTION_DOMAIN_LIST (RFC 3646 §4).
pub const DOMAIN_LIST: u16 = 24;
/// OPTION_IA_PD (RFC 8415 §21.21).
pub const IA_PD: u16 = 25;
/// OPTION_IAPREFIX (RFC 8415 §21.22).
pub const IAPREFIX: u16 = 26;
/// OPTION_SNTP_SERVERS (RFC 4075).
pub const SNTP_SERVERS: u16 = 31;
/// OPTION_INFORMATION_REFRESH_TIME (RFC 8415 §21.23).
pub const INFORMATION_REFRESH_TIME: u16 = 32;
/// OPTION_REMOTE_ID (RFC 4649 §3).
pub const REMOTE_ID: u16 = 37;
/// OPTION_SUBSCRIBER_ID (RFC 4580).
pub const SUBSCRIBER_ID: u16 = 38;
/// OPTION_CLIENT_FQDN (RFC 4704 §4).
pub const CLIENT_FQDN: u16 = 39;
/// OPTION_LQ_QUERY (RFC 5007 §4.1.2.1).
pub const LQ_QUERY: u16 = 44;
/// OPTION_CLIENT_DATA (RFC 5007 §4.1.2.2).
pub const CLIENT_DATA: u16 = 45;
/// OPTION_CLT_TIME (RFC 5007 §4.1.2.3).
pub const CLT_TIME: u16 = 46;
/// OPTION_LQ_RELAY_DATA (RFC 5007 §4.1.2.4).
pub const LQ_RELAY_DATA: u16 = 47;
/// OPTION_LQ_CLIENT_LINK (RFC 5007 §4.1.2.5).
pub const LQ_CLIENT_LINK: u16 = 48;
/// OPTION_RELAY_ID (RFC 5460 §5.4.1).
pub const RELAY_ID: u16 = 53;
/// OPTION_NTP_SERVER (RFC 5908).
pub const NTP_SERVER: u16 = 56;
/// OPTION_CLIENT_LINKLAYER_ADDR, relay-inserted (RFC 6939).
pub const CLIENT_LINKLAYER_ADDR: u16 = 79;
/// OPTION_SOL_MAX_RT (RFC 8415 §21.24).
pub const SOL_MAX_RT: u16 = 82;
/// OPTION_INF_MAX_RT (RFC 8415 §21.25).
pub const INF_MAX_RT: u16 = 83;
/// OPTION_RELAY_SOURCE_PORT (RFC 8357 §5.2).
pub const RELAY_SOURCE_PORT: u16 = 135;

/// DUID-LLT: link-layer address plus time (RFC 8415 §11.2).
pub const DUID_LLT: u16 = 1;
/// DUID-EN: enterprise number plus identifier (RFC 8415 §11.3).
pub const DUID_EN: u16 = 2;
/// DUID-LL: link-layer address (RFC 8415 §11.4).
pub const DUID_LL: u16 = 3;
/// DUID-UUID (RFC 6355 §4).
pub const DUID_UUID: u16 = 4;

/// A status code, the first field of OPTION_STATUS_CODE (RFC 8415 §21.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// 0 Success.
    Success,
    /// 1 UnspecFail.
    UnspecFail,
    /// 2 NoAddrsAvail.
    NoAddrsAvail,
    /// 3 NoBinding.
    NoBinding,
    /// 4 NotOnLink.
    NotOnLink,
    /// 5 UseMulticast.
    UseMulticast,
    /// 6 NoPrefixAvail.
    NoPrefixAvail,
    /// 7 UnknownQueryType (RFC 5007 §4.1.3).
    UnknownQueryType,
    /// 8 MalformedQuery (RFC 5007 §4.1.3).
    MalformedQuery,
    /// 9 NotConfigured (RFC 5007 §4.1.3).
    NotConfigured,
    /// 10 NotAllowed (RFC 5007 §4.1.3).
    NotAllowed,
    /// 11 QueryTerminated (RFC 5460 §5.3).
    QueryTerminated,
    /// Any other value.
    Other(u16),
}

impl From<u16> for Status {
    fn from(v: u16) -> Self {
        match v {
            0 => Status::Success,
            1 => Status::UnspecFail,
            2 => Status::NoAddrsAvail,
            3 => Status::NoBinding,
            4 => Status::NotOnLink,
            5 => Status::UseMulticast,
            6 => Status::NoPrefixAvail,
            7 => Status::UnknownQueryType,
            8 => Status::MalformedQuery,
            9 => Status::NotConfigured,
            10 => Status::NotAllowed,
            11 => Status::QueryTerminated,
            other => Status::Other(other),
        }
    }
}

impl From<Status> for u16 {
    fn from(s: Status) -> u16 {
        match s {
            Status::Success => 0,
            Status::UnspecFail => 1,
            Status::NoAddrsAvail => 2,
            Status::NoBinding => 3,
            Status::NotOnLink => 4,
            Status::UseMulticast => 5,
            Status::NoPrefixAvail => 6,
            Status::UnknownQueryType => 7,
            Status::MalformedQuery => 8,
            Status::NotConfigured => 9,
            Status::NotAllowed => 10,
            Status::QueryTerminated => 11,
            Status::Other(v) => v,
        }
    }
}

impl Status {
    /// The RFC 8415 name, e.g. `"NoAddrsAvail"`; `"unknown"` otherwise.
    pub fn name(self) -> &'static str {
        match self {
            Status::Success => "Success",
            Status::UnspecFail => "UnspecFail",
            Status::NoAddrsAvail => "NoAddrsAvail",
            Status::NoBinding => "NoBinding",
            Status::NotOnLink => "NotOnLink",
            Status::UseMulticast => "UseMulticast",
            Status::NoPrefixAvail => "NoPrefixAvail",
            Status::UnknownQueryType => "UnknownQueryType",
            Status::MalformedQuery => "MalformedQuery",
            Status::NotConfigured => "NotConfigured",
            Status::NotAllowed => "NotAllowed",
            Status::QueryTerminated => "QueryTerminated",
            Status::Other(_) => "unknown",
        }
    }
}

/// The RFC 8415 / IANA name of an option code, for logs and traces.
pub fn name(code: u16) -> &'static str {
    match code {
        CLIENTID => "OPTION_CLIENTID",
        SERVERID => "OPTION_SERVERID",
        IA_NA => "OPTION_IA_NA",
        IA_TA => "OPTION_IA_TA",
        IAADDR => "OPTION_IAADDR",
        ORO => "OPTION_ORO",
        PREFERENCE => "OPTION_PREFERENCE",
        ELAPSED_TIME => "OPTION_ELAPSED_TIME",
        RELAY_MSG => "OPTION_RELAY_MSG",
        AUTH => "OPTION_AUTH",
        UNICAST => "OPTION_UNICAST",
        STATUS_CODE => "OPTION_STATUS_CODE",
        RAPID_COMMIT => "OPTION_RAPID_COMMIT",
        USER_CLASS => "OPTION_USER_CLASS",
        VENDOR_CLASS => "OPTION_VENDOR_CLASS",
        VENDOR_OPTS => "OPTION_VENDOR_OPTS",
        INTERFACE_ID => "OPTION_INTERFACE_ID",
        RECONF_MSG => "OPTION_RECONF_MSG",
        RECONF_ACCEPT => "OPTION_RECONF_ACCEPT",
        DNS_SERVERS => "OPTION_DNS_SERVERS",
        DOMAIN_LIST => "OPTION_DOMAIN_LIST",
        IA_PD => "OPTION_IA_PD",
        IAPREFIX => "OPTION_IAPREFIX",
        SNTP_SERVERS => "OPTION_SNTP_SERVERS",
        INFORMATION_REFRESH_TIME => "OPTION_INFORMATION_REFRESH_TIME",
        REMOTE_ID => "OPTION_REMOTE_ID",
        SUBSCRIBER_ID => "OPTION_SUBSCRIBER_ID",
        CLIENT_FQDN => "OPTION_CLIENT_FQDN",
        LQ_QUERY => "OPTION_LQ_QUERY",
        CLIENT_DATA => "OPTION_CLIENT_DATA",
        CLT_TIME => "OPTION_CLT_TIME",
        LQ_RELAY_DATA => "OPTION_LQ_RELAY_DATA",
        LQ_CLIENT_LINK => "OPTION_LQ_CLIENT_LINK",
        RELAY_ID => "OPTION_RELAY_ID",
        NTP_SERVER => "OPTION_NTP_SERVER",
        CLIENT_LINKLAYER_ADDR => "OPTION_CLIENT_LINKLAYER_ADDR",
        SOL_MAX_RT => "OPTION_SOL_MAX_RT",
        INF_MAX_RT => "OPTION_INF_MAX_RT",
        RELAY_SOURCE_PORT => "OPTION_RELAY_SOURCE_PORT",
        _ => "unknown",
    }
}
