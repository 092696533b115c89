//! TSIG (RFC 8945): signing updates and verifying the server's signed
//! responses, with keys from config.
//!
//! The MAC computation is hickory-proto's (`TSigner`, ring's HMAC). The
//! response check is done here so that every peer-controlled field is
//! checked without panics: the response must parse (at most one TSIG, the
//! last additional record), carry a TSIG with our key name and algorithm, a
//! full-length MAC (no truncation, RFC 8945 section 5.2.4) over the request
//! MAC and the response (section 4.3.1), and a time within the fudge of our
//! clock (section 5.2.3). A response whose TSIG carries an error and an
//! empty MAC is the server's unsigned refusal of our request (BADSIG,
//! BADKEY; section 5.3.2); it is reported as such and never as success.
//!
//! Algorithms: hmac-sha256 (required by RFC 8945 section 6), hmac-sha384
//! and hmac-sha512. Keys also read from BIND's text form, which operators
//! paste: `key "name" { algorithm hmac-sha256; secret "base64"; };`.

use hickory_proto::op::Message;
use hickory_proto::rr::rdata::tsig::{signed_bitmessage_to_buf, TsigAlgorithm};
use hickory_proto::rr::{DNSClass, Name, TSigner};
use serde::{Deserialize, Serialize};

/// The fudge we sign with and accept (seconds; RFC 8945 section 10 suggests 300).
pub const DEFAULT_FUDGE: u16 = 300;

/// Errors from key configuration and signing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key name is not a domain name.
    #[error("bad TSIG key name {0:?}")]
    Name(String),
    /// An algorithm other than hmac-sha256/384/512.
    #[error("unsupported TSIG algorithm {0:?}")]
    Algorithm(String),
    /// The secret is not base64 or is empty.
    #[error("TSIG secret of key {0:?} is not base64")]
    Secret(String),
    /// BIND key text that does not parse.
    #[error("bad key statement: {0}")]
    Syntax(String),
    /// Signing failed inside hickory (encoding the message).
    #[error("signing failed: {0}")]
    Sign(String),
}

/// Why a response to a signed request is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not a DNS message.
    #[error("response does not parse")]
    Malformed,
    /// No TSIG although the request was signed.
    #[error("response is not signed")]
    Unsigned,
    /// The server refused our signature with this TSIG error (unsigned
    /// error response, RFC 8945 section 5.3.2).
    #[error("server reports TSIG error {0}")]
    Rejected(u16),
    /// Another key name or algorithm than ours.
    #[error("response signed with another key")]
    WrongKey,
    /// The MAC does not verify (or is truncated).
    #[error("response MAC does not verify")]
    BadMac,
    /// The signature time is outside the fudge of our clock.
    #[error("response signed at {signed}, our time {now}")]
    BadTime {
        /// Time signed, from the response.
        signed: u64,
        /// Our clock.
        now: u64,
    },
}

/// A TSIG algorithm we sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// hmac-sha256 (RFC 8945 section 6: mandatory).
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
    /// hmac-sha384.
    #[serde(rename = "hmac-sha384")]
    HmacSha384,
    /// hmac-sha512.
    #[serde(rename = "hmac-sha512")]
    HmacSha512,
}

impl Algorithm {
    /// From the BIND / RFC 8945 name (case-insensitive, trailing dot allowed).
    pub fn from_name(name: &str) -> Result<Self, KeyError> {
        match name.trim_end_matches('.').to_ascii_lowercase().as_str() {
            "hmac-sha256" => Ok(Self::HmacSha256),
            "hmac-sha384" => Ok(Self::HmacSha384),
            "hmac-sha512" => Ok(Self::HmacSha512),
            _ => Err(KeyError::Algorithm(name.to_string())),
        }
    }

    /// The RFC 8945 algorithm name.
    pub fn name(self) -> &'static str {
        match self {
            Self::HmacSha256 => "hmac-sha256",
            Self::HmacSha384 => "hmac-sha384",
            Self::HmacSha512 => "hmac-sha512",
        }
    }

    fn hickory(self) -> TsigAlgorithm {
        match self {
            Self::HmacSha256 => TsigAlgorithm::HmacSha256,
            Self::HmacSha384 => TsigAlgorithm::HmacSha384,
            Self::HmacSha512 => TsigAlgorithm::HmacSha512,
        }
    }

    fn mac_len(self) -> usize {
        match self {
            Self::HmacSha256 => 32,
            Self::HmacSha384 => 48,
            Self::HmacSha512 => 64,
        }
    }
}

/// A TSIG key: name, algorithm and secret.
#[derive(Clone)]
pub struct TsigKey {
    name: String,
    algorithm: Algorithm,
    signer: TSigner,
}

impl std::fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl TsigKey {
    /// A key from its parts; the secret is the raw key octets.
    pub fn new(name: &str, algorithm: Algorithm, secret: Vec<u8>) -> Result<Self, KeyError> {
        let key_name = Name::from_ascii(name).map_err(|_| KeyError::Name(name.to_string()))?;
        if secret.is_empty() || name.is_empty() {
            return Err(KeyError::Secret(name.to_string()));
        }
        let signer = TSigner::new(secret, algorithm.hickory(), key_name, DEFAULT_FUDGE)
            .map_err(|e| KeyError::Algorithm(e.to_string()))?;
        Ok(Self {
            name: name.trim_end_matches('.').to_ascii_lowercase(),
            algorithm,
            signer,
        })
    }

    /// A key with a base64 secret, as in config files.
    pub fn from_base64(name: &str, algorithm: Algorithm, secret: &str) -> Result<Self, KeyError> {
        let compact: String = secret.split_whitespace().collect();
        let raw = data_encoding::BASE64
            .decode(compact.as_bytes())
            .map_err(|_| KeyError::Secret(name.to_string()))?;
        Self::new(name, algorithm, raw)
    }

    /// Every `key "name" { algorithm ...; secret "..."; };` statement of a
    /// BIND key file (what `tsig-keygen` prints); `#`, `//` and `/* */`
    /// comments are skipped.
    pub fn parse_bind(text: &str) -> Result<Vec<Self>, KeyError> {
        let tokens = bind_tokens(text)?;
        let mut keys = Vec::new();
        let mut i = 0;
        let syntax = |what: &str| KeyError::Syntax(what.to_string());
        while i < tokens.len() {
            if !tokens[i].eq_ignore_ascii_case("key") {
                return Err(syntax(&format!("expected `key`, found {:?}", tokens[i])));
            }
            let name = tokens
                .get(i + 1)
                .ok_or_else(|| syntax("key name missing"))?;
            if tokens.get(i + 2).map(String::as_str) != Some("{") {
                return Err(syntax("expected `{` after the key name"));
            }
            i += 3;
            let (mut algorithm, mut secret) = (None, None);
            loop {
                let word = tokens.get(i).ok_or_else(|| syntax("unterminated key"))?;
                if word == "}" {
                    i += 1;
                    break;
                }
                let value = tokens.get(i + 1).ok_or_else(|| syntax("value missing"))?;
                if tokens.get(i + 2).map(String::as_str) != Some(";") {
                    return Err(syntax(&format!("expected `;` after {word}")));
                }
                match word.to_ascii_lowercase().as_str() {
                    "algorithm" => algorithm = Some(Algorithm::from_name(value)?),
                    "secret" => secret = Some(value.clone()),
                    other => return Err(syntax(&format!("unknown key clause {other:?}"))),
                }
                i += 3;
            }
            if tokens.get(i).map(String::as_str) == Some(";") {
                i += 1;
            }
            let algorithm = algorithm.ok_or_else(|| syntax("algorithm missing"))?;
            let secret = secret.ok_or_else(|| syntax("secret missing"))?;
            keys.push(Self::from_base64(name, algorithm, &secret)?);
        }
        Ok(keys)
    }

    /// The key name (lower case, no trailing dot).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Signs `message` at `unix_time` (RFC 8945 section 5.1): the TSIG RR
    /// becomes the last additional record. Returns the request MAC, which
    /// the response's MAC covers.
    pub fn sign(&self, message: &mut Message, unix_time: u64) -> Result<Vec<u8>, KeyError> {
        message.signature = None;
        message
            .finalize(&self.signer, unix_time)
            .map_err(|e| KeyError::Sign(e.to_string()))?;
        message
            .signature()
            .map(|s| s.data.mac.clone())
            .ok_or_else(|| KeyError::Sign("no TSIG record".to_string()))
    }

    /// Verifies the response `datagram` to a request signed with MAC
    /// `request_mac`, at our `unix_time` (RFC 8945 section 5.3).
    pub fn verify_response(
        &self,
        datagram: &[u8],
        request_mac: &[u8],
        unix_time: u64,
    ) -> Result<Message, VerifyError> {
        // Parsing first also guarantees what hickory's TBS builder relies
        // on: one TSIG, the last record.
        let message = Message::from_vec(datagram).map_err(|_| VerifyError::Malformed)?;
        // hickory rebuilds the header for the MAC from the parsed fields and
        // drops the Z bit (RFC 1035 section 4.1.1: zero), so a set Z bit
        // would not be covered: refuse it.
        if datagram.get(3).is_some_and(|flags| flags & 0x40 != 0) {
            return Err(VerifyError::Malformed);
        }
        let Some(tsig) = message.signature() else {
            return Err(VerifyError::Unsigned);
        };
        // RFC 8945 section 4.2: CLASS ANY and TTL 0. The MAC covers these
        // as constants, so a change would go unnoticed by the MAC alone.
        if tsig.dns_class != DNSClass::ANY || tsig.ttl != 0 {
            return Err(VerifyError::Malformed);
        }
        if let Some(error) = tsig.data.error {
            if tsig.data.mac.is_empty() {
                return Err(VerifyError::Rejected(u16::from(error)));
            }
        }
        if !same_name(&tsig.name, self.signer.signer_name())
            || tsig.data.algorithm != self.algorithm.hickory()
        {
            return Err(VerifyError::WrongKey);
        }
        if tsig.data.mac.len() != self.algorithm.mac_len() {
            return Err(VerifyError::BadMac);
        }
        let (tbv, record) = signed_bitmessage_to_buf(datagram, Some(request_mac), true)
            .map_err(|_| VerifyError::Malformed)?;
        self.signer
            .verify(&tbv, &record.data.mac)
            .map_err(|_| VerifyError::BadMac)?;
        let signed = record.data.time;
        if signed.abs_diff(unix_time) > u64::from(record.data.fudge.min(DEFAULT_FUDGE)) {
            return Err(VerifyError::BadTime {
                signed,
                now: unix_time,
            });
        }
        if let Some(error) = record.data.error {
            // A signed error (BADTIME is signed, RFC 8945 section 5.2.3).
            return Err(VerifyError::Rejected(u16::from(error)));
        }
        Ok(message)
    }
}

#[cfg(test)]
impl TsigKey {
    /// Signs a response the way a server does (tests play the server).
    pub(crate) fn sign_response(&self, response: &mut Message, request_mac: &[u8], time: u64) {
        use hickory_proto::rr::rdata::tsig::{make_tsig_record, TSIG};
        let bytes = response.to_vec().unwrap();
        let stub = TSIG::new(
            self.algorithm.hickory(),
            time,
            DEFAULT_FUDGE,
            Vec::new(),
            response.id,
            None,
            Vec::new(),
        );
        let tbs = self
            .signer
            .encode_response_tbs(request_mac, &bytes, &stub)
            .unwrap();
        let mac = self.signer.sign(&tbs).unwrap();
        response.set_signature(Box::new(make_tsig_record(
            self.signer.signer_name().clone(),
            stub.set_mac(mac),
        )));
    }
}

/// RFC 8945 TSIG error codes worth naming.
pub mod codes {
    /// BADSIG.
    pub const BADSIG: u16 = 16;
    /// BADKEY.
    pub const BADKEY: u16 = 17;
    /// BADTIME.
    pub const BADTIME: u16 = 18;
    /// BADTRUNC.
    pub const BADTRUNC: u16 = 22;
}

/// Case-insensitive name equality that ignores the FQDN flag.
fn same_name(a: &Name, b: &Name) -> bool {
    let (mut a, mut b) = (a.clone(), b.clone());
    a.set_fqdn(true);
    b.set_fqdn(true);
    a == b
}

/// Splits BIND config text into words, quoted strings and `{ } ;`.
fn bind_tokens(text: &str) -> Result<Vec<String>, KeyError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                let mut closed = false;
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        closed = true;
                        break;
                    }
                    last = c;
                }
                if !closed {
                    return Err(KeyError::Syntax("unterminated comment".to_string()));
                }
            }
            '{' | '}' | ';' => out.push(c.to_string()),
            '"' => {
                let mut s = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '"' {
                        closed = true;
                        break;
                    }
                    s.push(c);
                }
                if !closed {
                    return Err(KeyError::Syntax("unterminated string".to_string()));
                }
                out.push(s);
            }
            c => {
                let mut s = c.to_string();
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, '{' | '}' | ';' | '"') {
                        break;
                    }
                    s.push(n);
                    chars.next();
                }
                out.push(s);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode, ResponseCode};
    use hickory_proto::rr::rdata::tsig::{make_tsig_record, TsigError, TSIG};

    const KEYGEN: &str = r#"key "ddns-key" {
	algorithm hmac-sha256;
	secret "4xc0d+wrz3zGagarlKrvR6scLtnb5cD+5Fl/aQ/4RN4=";
};
"#;

    fn key() -> TsigKey {
        TsigKey::parse_bind(KEYGEN).unwrap().remove(0)
    }

    fn request() -> Message {
        let zone = Name::from_ascii("example.test.").unwrap();
        let fqdn = Name::from_ascii("h.example.test.").unwrap();
        let d = crate::Dhcid::from_duid(&[0, 1, 2], &fqdn).unwrap();
        crate::update::add_forward(0x1234, &zone, &fqdn, "192.0.2.1".parse().unwrap(), &d, 60)
            .unwrap()
    }

    /// What a server does: a response signed over the request MAC.
    fn server_response(
        key: &TsigKey,
        request_mac: &[u8],
        time: u64,
        rcode: ResponseCode,
    ) -> Vec<u8> {
        let mut resp = Message::new(0x1234, MessageType::Response, OpCode::Update);
        resp.metadata.response_code = rcode;
        key.sign_response(&mut resp, request_mac, time);
        resp.to_vec().unwrap()
    }

    #[test]
    fn parses_bind_key_text() {
        let text = format!(
            "# comment\n{KEYGEN}/* two */ key other. {{ algorithm HMAC-SHA512; secret \"AAAA\"; }};\n// end"
        );
        let keys = TsigKey::parse_bind(&text).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].name(), "ddns-key");
        assert_eq!(keys[0].algorithm(), Algorithm::HmacSha256);
        assert_eq!(keys[1].name(), "other");
        assert_eq!(keys[1].algorithm(), Algorithm::HmacSha512);
        assert!(!format!("{:?}", keys[0]).contains("4xc0d"));
    }

    #[test]
    fn rejects_bad_key_text() {
        for bad in [
            "key",
            "key x {",
            "key x { algorithm hmac-sha256; };",
            "key x { secret \"AAAA\"; };",
            "key x { algorithm hmac-md5; secret \"AAAA\"; };",
            "key x { algorithm hmac-sha256; secret \"not base64!\"; };",
            "key x { algorithm hmac-sha256 secret \"AAAA\"; };",
            "key x { algorithm hmac-sha256; secret \"AAAA; };",
            "zone x { };",
            "/* open",
        ] {
            assert!(TsigKey::parse_bind(bad).is_err(), "{bad}");
        }
        assert!(TsigKey::new("k", Algorithm::HmacSha256, Vec::new()).is_err());
    }

    #[test]
    fn signs_and_verifies_a_round_trip() {
        let key = key();
        let mut m = request();
        let mac = key.sign(&mut m, 1_000_000).unwrap();
        assert_eq!(mac.len(), 32);
        let bytes = m.to_vec().unwrap();
        // The request verifies with hickory's own request check.
        let (_, _, range) = key.signer.verify_message_byte(&bytes, None, true).unwrap();
        assert!(range.contains(&1_000_000));
        let resp = server_response(&key, &mac, 1_000_010, ResponseCode::NoError);
        let ok = key.verify_response(&resp, &mac, 1_000_000).unwrap();
        assert_eq!(ok.response_code, ResponseCode::NoError);
    }

    #[test]
    fn rejects_bad_responses() {
        let key = key();
        let mut m = request();
        let mac = key.sign(&mut m, 1_000_000).unwrap();
        let good = server_response(&key, &mac, 1_000_000, ResponseCode::NoError);
        // Another request MAC (a response to another request).
        assert_eq!(
            key.verify_response(&good, &[0; 32], 1_000_000).err(),
            Some(VerifyError::BadMac)
        );
        // Flipped rcode bit after signing.
        let mut flipped = good.clone();
        flipped[3] |= 0x05;
        assert_eq!(
            key.verify_response(&flipped, &mac, 1_000_000).err(),
            Some(VerifyError::BadMac)
        );
        // Too old.
        assert!(matches!(
            key.verify_response(&good, &mac, 1_000_000 + 301),
            Err(VerifyError::BadTime { .. })
        ));
        // Unsigned.
        let plain = Message::new(0x1234, MessageType::Response, OpCode::Update)
            .to_vec()
            .unwrap();
        assert_eq!(
            key.verify_response(&plain, &mac, 1_000_000).err(),
            Some(VerifyError::Unsigned)
        );
        // Another key.
        let other = TsigKey::from_base64("other", Algorithm::HmacSha256, "AAAA").unwrap();
        let resp = server_response(&other, &mac, 1_000_000, ResponseCode::NoError);
        assert_eq!(
            key.verify_response(&resp, &mac, 1_000_000).err(),
            Some(VerifyError::WrongKey)
        );
        // Same name, other secret.
        let forged = TsigKey::from_base64("ddns-key", Algorithm::HmacSha256, "AAAA").unwrap();
        let resp = server_response(&forged, &mac, 1_000_000, ResponseCode::NoError);
        assert_eq!(
            key.verify_response(&resp, &mac, 1_000_000).err(),
            Some(VerifyError::BadMac)
        );
        // Garbage and truncations never panic.
        assert_eq!(
            key.verify_response(b"\x12\x34", &mac, 1_000_000).err(),
            Some(VerifyError::Malformed)
        );
        for n in 0..good.len() {
            assert!(key.verify_response(&good[..n], &mac, 1_000_000).is_err());
        }
    }

    #[test]
    fn unsigned_badsig_refusal_is_reported() {
        let key = key();
        let mut resp = Message::new(0x1234, MessageType::Response, OpCode::Update);
        resp.metadata.response_code = ResponseCode::NotAuth;
        let stub = TSIG::new(
            TsigAlgorithm::HmacSha256,
            1_000_000,
            300,
            Vec::new(),
            0x1234,
            Some(TsigError::BadSig),
            Vec::new(),
        );
        resp.set_signature(Box::new(make_tsig_record(
            Name::from_ascii("ddns-key.").unwrap(),
            stub,
        )));
        let bytes = resp.to_vec().unwrap();
        assert_eq!(
            key.verify_response(&bytes, &[0; 32], 1_000_000).err(),
            Some(VerifyError::Rejected(codes::BADSIG))
        );
    }
}
