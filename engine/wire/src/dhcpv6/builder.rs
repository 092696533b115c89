//! Encoding of DHCPv6 messages and options (RFC 8415 §8, §9, §21): a
//! [`Builder`] appends options in the order the caller pushes them and
//! nests container options (IA_NA, IA_PD, IAADDR, IAPREFIX, vendor options,
//! Relay Message) through closures, patching each length when the
//! container closes.

use std::net::Ipv6Addr;

use super::code;
use super::options::Duid;
use super::MessageType;
use crate::dns::{encode_name, NameError};

/// Why a message or option could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// An option value is longer than the 65535 octets its length allows.
    #[error("option {code} value of {len} octets exceeds 65535")]
    TooLong {
        /// Code of the option.
        code: u16,
        /// Length of the value.
        len: usize,
    },
    /// A domain name could not be encoded.
    #[error("option {code}: {err}")]
    Name {
        /// Code of the option.
        code: u16,
        /// The name error.
        err: NameError,
    },
    /// A value outside what the option allows (e.g. prefix length > 128).
    #[error("option {code}: {what}")]
    BadValue {
        /// Code of the option.
        code: u16,
        /// What is wrong.
        what: &'static str,
    },
}

/// An encoded message, relay message or bare option list under
/// construction; options keep the order they are pushed in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Builder {
    buf: Vec<u8>,
}

impl Builder {
    /// An empty option list (for vendor sub-options or nested options).
    pub fn new() -> Builder {
        Builder { buf: Vec::new() }
    }

    /// A client/server message: `msg-type(1) transaction-id(3)` then
    /// options (RFC 8415 §8). Only the low 24 bits of `transaction_id`
    /// are written.
    pub fn message(msg_type: MessageType, transaction_id: u32) -> Builder {
        let mut buf = Vec::with_capacity(256);
        buf.push(u8::from(msg_type));
        let [_, a, b, c] = transaction_id.to_be_bytes();
        buf.extend_from_slice(&[a, b, c]);
        Builder { buf }
    }

    /// A relay agent/server message: `msg-type hop-count link-address
    /// peer-address` then options (RFC 8415 §9).
    pub fn relay(
        msg_type: MessageType,
        hop_count: u8,
        link_address: Ipv6Addr,
        peer_address: Ipv6Addr,
    ) -> Builder {
        let mut buf = Vec::with_capacity(64);
        buf.push(u8::from(msg_type));
        buf.push(hop_count);
        buf.extend_from_slice(&link_address.octets());
        buf.extend_from_slice(&peer_address.octets());
        Builder { buf }
    }

    /// The encoded bytes so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Number of octets encoded so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing has been encoded.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The finished encoding.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }

    /// Appends option `code` with `value`.
    pub fn option(&mut self, code: u16, value: &[u8]) -> Result<&mut Self, EncodeError> {
        let len = u16::try_from(value.len()).map_err(|_| EncodeError::TooLong {
            code,
            len: value.len(),
        })?;
        self.buf.reserve(4 + value.len());
        self.buf.extend_from_slice(&code.to_be_bytes());
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(value);
        Ok(self)
    }

    /// Appends option `code` whose value is `head` followed by whatever
    /// `body` writes (options, for containers). On error nothing is left
    /// of the option.
    pub fn nested<F>(&mut self, code: u16, head: &[u8], body: F) -> Result<&mut Self, EncodeError>
    where
        F: FnOnce(&mut Builder) -> Result<(), EncodeError>,
    {
        let start = self.buf.len();
        self.buf.extend_from_slice(&code.to_be_bytes());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(head);
        let mut inner = Builder {
            buf: std::mem::take(&mut self.buf),
        };
        let result = body(&mut inner);
        self.buf = inner.buf;
        if let Err(e) = result {
            self.buf.truncate(start);
            return Err(e);
        }
        let value_len = self.buf.len() - start - 4;
        let Ok(len) = u16::try_from(value_len) else {
            self.buf.truncate(start);
            return Err(EncodeError::TooLong {
                code,
                len: value_len,
            });
        };
        if let Some(slot) = self.buf.get_mut(start + 2..start + 4) {
            slot.copy_from_slice(&len.to_be_bytes());
        }
        Ok(self)
    }

    /// Appends every option of an already encoded option list as is (e.g.
    /// the options of an ADVERTISE repeated in the REPLY).
    pub fn raw(&mut self, encoded_options: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(encoded_options);
        self
    }

    /// Option 1, Client Identifier, copied from the client.
    pub fn client_id(&mut self, duid: &[u8]) -> Result<&mut Self, EncodeError> {
        self.option(code::CLIENTID, duid)
    }

    /// Option 2, Server Identifier.
    pub fn server_id(&mut self, duid: &[u8]) -> Result<&mut Self, EncodeError> {
        self.option(code::SERVERID, duid)
    }

    /// Option 2 from a typed DUID.
    pub fn server_duid(&mut self, duid: &Duid<'_>) -> Result<&mut Self, EncodeError> {
        self.option(code::SERVERID, &duid.to_bytes())
    }

    /// Option 3, IA_NA, with the options `body` writes inside it.
    pub fn ia_na<F>(
        &mut self,
        iaid: u32,
        t1: u32,
        t2: u32,
        body: F,
    ) -> Result<&mut Self, EncodeError>
    where
        F: FnOnce(&mut Builder) -> Result<(), EncodeError>,
    {
        self.nested(code::IA_NA, &ia_head(iaid, t1, t2), body)
    }

    /// Option 4, IA_TA, with the options `body` writes inside it.
    pub fn ia_ta<F>(&mut self, iaid: u32, body: F) -> Result<&mut Self, EncodeError>
    where
        F: FnOnce(&mut Builder) -> Result<(), EncodeError>,
    {
        self.nested(code::IA_TA, &iaid.to_be_bytes(), body)
    }

    /// Option 25, IA_PD, with the options `body` writes inside it.
    pub fn ia_pd<F>(
        &mut self,
        iaid: u32,
        t1: u32,
        t2: u32,
        body: F,
    ) -> Result<&mut Self, EncodeError>
    where
        F: FnOnce(&mut Builder) -> Result<(), EncodeError>,
    {
        self.nested(code::IA_PD, &ia_head(iaid, t1, t2), body)
    }

    /// Option 5, IAADDR, with no options inside.
    pub fn ia_addr(
        &mut self,
        addr: Ipv6Addr,
        preferred_lifetime: u32,
        valid_lifetime: u32,
    ) -> Result<&mut Self, EncodeError> {
        self.ia_addr_with(addr, preferred_lifetime, valid_lifetime, |_| Ok(()))
    }

    /// Option 5, IAADDR, with the options `body` writes (a status code).
    pub fn ia_addr_with<F>(
        &mut self,
        addr: Ipv6Addr,
        preferred_lifetime: u32,
        valid_lifetime: u32,
        body: F,
    ) -> Result<&mut Self, EncodeError>
    where
        F: FnOnce(&mut Builder) -> Result<(), EncodeError>,
    {
        let mut head = [0u8; 24];
        let (a, life) = head.split_at_mut(16);
        a.copy_from_slice(&addr.octets());
        let (p, v) = life.split_at_mut(4);
        p.copy_from_slice(&preferred_lifetime.to_be_bytes());
        v.copy_from_slice(&valid_lifetime.to_be_bytes());
        self.nested(code::IAADDR, &head, body)
    }

    /// Option 26, IAPREFIX, with no options inside.
    pub fn ia_prefix(
        &mut self,
        prefix: Ipv6Addr,
        prefix_len: u8,
        preferred_lifetime: u32,
        valid_lifetime: u32,
    ) -> Result<&mut Self, EncodeError> {
        self.ia_prefix_with(
            prefix,
            prefix_len,
            preferred_lifetime,
            valid_lifetime,
            |_| Ok(()),
        )
    }

    /// Option 26, IAPREFIX, with the options `body` writes (a status code).
    pub fn ia_prefix_with<F>(
        &mut self,
        prefix: Ipv6Addr,
        prefix_len: u8,
        preferred_lifetime: u32,
        valid_lifetime: u32,
        body: F,
    ) -> Result<&mut Self, EncodeError>
    where
        F: FnOnce(&mut Builder) -> Result<(), EncodeError>,
    {
        if prefix_len > 128 {
            return Err(EncodeError::BadValue {
                code: code::IAPREFIX,
                what: "prefix length over 128",
            });
        }
        let mut head = Vec::with_capacity(25);
        head.extend_from_slice(&preferred_lifetime.to_be_bytes());
        head.extend_from_slice(&valid_lifetime.to_be_bytes());
        head.push(prefix_len);
        head.extend_from_slice(&prefix.octets());
        self.nested(code::IAPREFIX, &head, body)
    }

    /// Option 6, Option Request.
    pub fn oro(&mut self, codes: &[u16]) -> Result<&mut Self, EncodeError> {
        let v: Vec<u8> = codes.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.option(code::ORO, &v)
    }

    /// Option 7, Preference.
    pub fn preference(&mut self, preference: u8) -> Result<&mut Self, EncodeError> {
        self.option(code::PREFERENCE, &[preference])
    }

    /// Option 8, Elapsed Time in hundredths of a second.
    pub fn elapsed_time(&mut self, centiseconds: u16) -> Result<&mut Self, EncodeError> {
        self.option(code::ELAPSED_TIME, &centiseconds.to_be_bytes())
    }

    /// Option 9, Relay Message, holding an encoded message.
    pub fn relay_msg(&mut self, message: &[u8]) -> Result<&mut Self, EncodeError> {
        self.option(code::RELAY_MSG, message)
    }

    /// Option 13, Status Code with a UTF-8 message.
    pub fn status_code(
        &mut self,
        status: code::Status,
        message: &str,
    ) -> Result<&mut Self, EncodeError> {
        let mut v = Vec::with_capacity(2 + message.len());
        v.extend_from_slice(&u16::from(status).to_be_bytes());
        v.extend_from_slice(message.as_bytes());
        self.option(code::STATUS_CODE, &v)
    }

    /// Option 14, Rapid Commit.
    pub fn rapid_commit(&mut self) -> Result<&mut Self, EncodeError> {
        self.option(code::RAPID_COMMIT, &[])
    }

    /// Option 16, Vendor Class: `enterprise` and opaque items.
    pub fn vendor_class(
        &mut self,
        enterprise: u32,
        items: &[&[u8]],
    ) -> Result<&mut Self, EncodeError> {
        let mut v = Vec::new();
        v.extend_from_slice(&enterprise.to_be_bytes());
        for item in items {
            let len = u16::try_from(item.len()).map_err(|_| EncodeError::TooLong {
                code: code::VENDOR_CLASS,
                len: item.len(),
            })?;
            v.extend_from_slice(&len.to_be_bytes());
            v.extend_from_slice(item);
        }
        self.option(code::VENDOR_CLASS, &v)
    }

    /// Option 17, Vendor-specific Information: `enterprise` and already
    /// encoded vendor options (`code(2) len(2) data` each).
    pub fn vendor_opts(
        &mut self,
        enterprise: u32,
        encoded: &[u8],
    ) -> Result<&mut Self, EncodeError> {
        let mut v = Vec::with_capacity(4 + encoded.len());
        v.extend_from_slice(&enterprise.to_be_bytes());
        v.extend_from_slice(encoded);
        self.option(code::VENDOR_OPTS, &v)
    }

    /// Option 18, Interface-Id.
    pub fn interface_id(&mut self, id: &[u8]) -> Result<&mut Self, EncodeError> {
        self.option(code::INTERFACE_ID, id)
    }

    /// Option 20, Reconfigure Accept.
    pub fn reconf_accept(&mut self) -> Result<&mut Self, EncodeError> {
        self.option(code::RECONF_ACCEPT, &[])
    }

    /// Option 23, DNS recursive name servers (RFC 3646).
    pub fn dns_servers(&mut self, servers: &[Ipv6Addr]) -> Result<&mut Self, EncodeError> {
        self.ipv6_list(code::DNS_SERVERS, servers)
    }

    /// Option 24, domain search list (RFC 3646), uncompressed.
    pub fn domain_list(&mut self, names: &[&str]) -> Result<&mut Self, EncodeError> {
        let mut v = Vec::new();
        for n in names {
            encode_name(n, &mut v).map_err(|err| EncodeError::Name {
                code: code::DOMAIN_LIST,
                err,
            })?;
        }
        self.option(code::DOMAIN_LIST, &v)
    }

    /// Option 31, SNTP servers (RFC 4075).
    pub fn sntp_servers(&mut self, servers: &[Ipv6Addr]) -> Result<&mut Self, EncodeError> {
        self.ipv6_list(code::SNTP_SERVERS, servers)
    }

    /// An option whose value is a list of IPv6 addresses.
    pub fn ipv6_list(&mut self, code: u16, addrs: &[Ipv6Addr]) -> Result<&mut Self, EncodeError> {
        let v: Vec<u8> = addrs.iter().flat_map(|a| a.octets()).collect();
        self.option(code, &v)
    }

    /// Option 37, Remote-ID (RFC 4649), as a relay would insert it.
    pub fn remote_id(
        &mut self,
        enterprise: u32,
        remote_id: &[u8],
    ) -> Result<&mut Self, EncodeError> {
        let mut v = Vec::with_capacity(4 + remote_id.len());
        v.extend_from_slice(&enterprise.to_be_bytes());
        v.extend_from_slice(remote_id);
        self.option(code::REMOTE_ID, &v)
    }

    /// Option 39, Client FQDN (RFC 4704): `flags` and a dotted name, fully
    /// qualified when `fully_qualified` (root label written), partial
    /// otherwise; an empty partial name is the empty field.
    pub fn client_fqdn(
        &mut self,
        flags: u8,
        name: &str,
        fully_qualified: bool,
    ) -> Result<&mut Self, EncodeError> {
        let mut v = vec![flags];
        let trimmed = name.strip_suffix('.').unwrap_or(name);
        let name_err = |err| EncodeError::Name {
            code: code::CLIENT_FQDN,
            err,
        };
        if fully_qualified || !trimmed.is_empty() {
            encode_name(trimmed, &mut v).map_err(name_err)?;
            if !fully_qualified {
                v.pop();
            }
        }
        self.option(code::CLIENT_FQDN, &v)
    }

    /// Option 82, SOL_MAX_RT in seconds.
    pub fn sol_max_rt(&mut self, seconds: u32) -> Result<&mut Self, EncodeError> {
        self.option(code::SOL_MAX_RT, &seconds.to_be_bytes())
    }

    /// Option 83, INF_MAX_RT in seconds.
    pub fn inf_max_rt(&mut self, seconds: u32) -> Result<&mut Self, EncodeError> {
        self.option(code::INF_MAX_RT, &seconds.to_be_bytes())
    }
}

fn ia_head(iaid: u32, t1: u32, t2: u32) -> [u8; 12] {
    let mut h = [0u8; 12];
    for (dst, w) in h.chunks_exact_mut(4).zip([iaid, t1, t2]) {
        dst.copy_from_slice(&w.to_be_bytes());
    }
    h
}
