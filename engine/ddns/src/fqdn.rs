//! The client FQDN option flags (DHCPv4 option 81, RFC 4702 section 2.1;
//! DHCPv6 option 39, RFC 4704 section 4.1) and the server's decision
//! (RFC 4702 section 4, RFC 4704 section 5): who updates the A/AAAA RR,
//! whether the server updates at all, and the flags it answers with.
//!
//! - S: the client asks the server to do the forward (A/AAAA) update; in
//!   the reply, whether the server took that responsibility.
//! - O: set by the server only, when its S differs from the client's.
//! - N: the client asks for no update at all; in the reply, the server
//!   does none. N and S are never both set in a reply.
//! - E (DHCPv4 only): the domain name encoding; the reply keeps the
//!   client's (RFC 4702 section 4).
//!
//! The PTR RR is always the server's when it updates at all (RFC 4702
//! section 4: the server "SHOULD" do the PTR update for the leases it
//! assigns).

use serde::{Deserialize, Serialize};

/// The flags of an option 81 or 39, decoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FqdnFlags {
    /// S: the server does the forward (A/AAAA) update.
    pub s: bool,
    /// O: the server overrode the client's S.
    pub o: bool,
    /// N: no DNS update by the server.
    pub n: bool,
    /// E: canonical wire encoding of the name (DHCPv4 only).
    pub e: bool,
}

impl FqdnFlags {
    /// The S bit in both options.
    pub const S: u8 = 0x01;
    /// The O bit in both options.
    pub const O: u8 = 0x02;
    /// The E bit of option 81.
    pub const E_V4: u8 = 0x04;
    /// The N bit of option 81.
    pub const N_V4: u8 = 0x08;
    /// The N bit of option 39.
    pub const N_V6: u8 = 0x04;

    /// Decodes the flags octet of option 81 (MBZ bits ignored).
    pub fn from_v4(octet: u8) -> Self {
        Self {
            s: octet & Self::S != 0,
            o: octet & Self::O != 0,
            n: octet & Self::N_V4 != 0,
            e: octet & Self::E_V4 != 0,
        }
    }

    /// Encodes the flags octet of option 81 (MBZ bits zero).
    pub fn to_v4(self) -> u8 {
        (u8::from(self.s) * Self::S)
            | (u8::from(self.o) * Self::O)
            | (u8::from(self.e) * Self::E_V4)
            | (u8::from(self.n) * Self::N_V4)
    }

    /// Decodes the flags octet of option 39 (MBZ bits ignored; no E).
    pub fn from_v6(octet: u8) -> Self {
        Self {
            s: octet & Self::S != 0,
            o: octet & Self::O != 0,
            n: octet & Self::N_V6 != 0,
            e: false,
        }
    }

    /// Encodes the flags octet of option 39 (MBZ bits zero; E dropped).
    pub fn to_v6(self) -> u8 {
        (u8::from(self.s) * Self::S)
            | (u8::from(self.o) * Self::O)
            | (u8::from(self.n) * Self::N_V6)
    }
}

/// The server's DDNS policy for a client (from the policy's server control
/// options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FqdnPolicy {
    /// The server sends DNS updates at all.
    pub enabled: bool,
    /// Do the forward update even when the client says it does it (S=0).
    pub override_client_update: bool,
    /// Update even when the client asks for no update (N=1).
    pub override_no_update: bool,
}

impl Default for FqdnPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            override_client_update: false,
            override_no_update: false,
        }
    }
}

/// What the server updates and the flags it answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FqdnDecision {
    /// The server updates the A/AAAA and DHCID RRs.
    pub forward: bool,
    /// The server updates the PTR RR.
    pub reverse: bool,
    /// The flags of the option in the reply; `None` when the client sent
    /// no FQDN option (then the server sends none either).
    pub reply: Option<FqdnFlags>,
}

/// Decides per RFC 4702 section 4 / RFC 4704 section 5. `client` is the
/// client's flags, `None` without option 81/39 (the server then updates
/// per policy, with a name it chose). A client that sets both N and S
/// (which RFC 4702 section 2.1 forbids) is taken as asking for no update.
pub fn decide(client: Option<FqdnFlags>, policy: &FqdnPolicy) -> FqdnDecision {
    let Some(client) = client else {
        return FqdnDecision {
            forward: policy.enabled,
            reverse: policy.enabled,
            reply: None,
        };
    };
    let (forward, reverse) = if !policy.enabled {
        (false, false)
    } else if client.n {
        (policy.override_no_update, policy.override_no_update)
    } else if client.s {
        (true, true)
    } else {
        (policy.override_client_update, true)
    };
    let reply = FqdnFlags {
        s: forward,
        o: forward != client.s,
        n: !reverse,
        e: client.e,
    };
    FqdnDecision {
        forward,
        reverse,
        reply: Some(reply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ON: FqdnPolicy = FqdnPolicy {
        enabled: true,
        override_client_update: false,
        override_no_update: false,
    };

    fn flags(s: bool, n: bool) -> Option<FqdnFlags> {
        Some(FqdnFlags {
            s,
            n,
            ..FqdnFlags::default()
        })
    }

    fn reply(d: FqdnDecision) -> (bool, bool, bool) {
        let r = d.reply.unwrap();
        (r.s, r.o, r.n)
    }

    #[test]
    fn octets() {
        let f = FqdnFlags::from_v4(0x05);
        assert!(f.s && f.e && !f.o && !f.n);
        assert_eq!(f.to_v4(), 0x05);
        assert_eq!(FqdnFlags::from_v4(0xf8).to_v4(), 0x08);
        let f = FqdnFlags::from_v6(0x04);
        assert!(f.n && !f.s && !f.e);
        assert_eq!(f.to_v6(), 0x04);
        let all = FqdnFlags {
            s: true,
            o: true,
            n: true,
            e: true,
        };
        assert_eq!(all.to_v4(), 0x0f);
        assert_eq!(all.to_v6(), 0x07);
    }

    #[test]
    fn client_asks_server_to_update() {
        let d = decide(flags(true, false), &ON);
        assert!(d.forward && d.reverse);
        assert_eq!(reply(d), (true, false, false));
    }

    #[test]
    fn client_updates_forward_itself() {
        let d = decide(flags(false, false), &ON);
        assert!(!d.forward && d.reverse);
        assert_eq!(reply(d), (false, false, false));
        let p = FqdnPolicy {
            override_client_update: true,
            ..ON
        };
        let d = decide(flags(false, false), &p);
        assert!(d.forward && d.reverse);
        assert_eq!(reply(d), (true, true, false));
    }

    #[test]
    fn client_asks_for_no_update() {
        let d = decide(flags(false, true), &ON);
        assert!(!d.forward && !d.reverse);
        assert_eq!(reply(d), (false, false, true));
        let p = FqdnPolicy {
            override_no_update: true,
            ..ON
        };
        let d = decide(flags(false, true), &p);
        assert!(d.forward && d.reverse);
        assert_eq!(reply(d), (true, true, false));
        // N and S together: taken as N.
        let d = decide(flags(true, true), &ON);
        assert!(!d.forward && !d.reverse);
        assert_eq!(reply(d), (false, true, true));
    }

    #[test]
    fn server_does_not_update() {
        let off = FqdnPolicy {
            enabled: false,
            ..ON
        };
        let d = decide(flags(true, false), &off);
        assert!(!d.forward && !d.reverse);
        assert_eq!(reply(d), (false, true, true));
        let d = decide(flags(false, false), &off);
        assert_eq!(reply(d), (false, false, true));
        let d = decide(None, &off);
        assert!(!d.forward && !d.reverse && d.reply.is_none());
    }

    #[test]
    fn no_option_and_e_bit() {
        let d = decide(None, &ON);
        assert!(d.forward && d.reverse && d.reply.is_none());
        let c = FqdnFlags {
            s: true,
            e: true,
            ..FqdnFlags::default()
        };
        assert!(decide(Some(c), &ON).reply.unwrap().e);
    }

    #[test]
    fn reply_never_has_n_and_s() {
        for policy_bits in 0..8u8 {
            let p = FqdnPolicy {
                enabled: policy_bits & 1 != 0,
                override_client_update: policy_bits & 2 != 0,
                override_no_update: policy_bits & 4 != 0,
            };
            for octet in 0..16u8 {
                let r = decide(Some(FqdnFlags::from_v4(octet)), &p).reply.unwrap();
                assert!(!(r.n && r.s), "{p:?} {octet:#x}");
                assert_eq!(r.o, r.s != (octet & 1 != 0));
            }
        }
    }
}
