//! Reading the server's answer to an update: the RCODEs of RFC 2136
//! section 2.2 and the TSIG errors of RFC 8945 section 3, mapped to what
//! an updater does next (RFC 4703 section 5).
//!
//! Datagrams that do not parse or answer no outstanding request are not
//! classified at all: the updater ignores (and counts) them.

use hickory_proto::op::{Message, ResponseCode};
use serde::{Deserialize, Serialize};

use crate::tsig::{codes, VerifyError};

/// Why an attempt failed (the job is retried later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FailReason {
    /// FORMERR: the server did not understand the update.
    FormErr,
    /// SERVFAIL.
    ServFail,
    /// NOTIMP: the server does not do UPDATE.
    NotImp,
    /// REFUSED: policy (for example an unsigned update).
    Refused,
    /// NOTAUTH: the server is not authoritative, or refused the TSIG.
    NotAuth,
    /// NOTZONE: a name outside the zone.
    NotZone,
    /// An RCODE this step does not expect (the code).
    Unexpected(u16),
    /// The server's TSIG error BADSIG: it does not accept our MAC.
    BadSig,
    /// The server's TSIG error BADKEY: it does not know our key.
    BadKey,
    /// The server's TSIG error BADTIME: our clocks differ too much.
    BadTime,
    /// Another TSIG error from the server (the code).
    TsigError(u16),
    /// The response to our signed request is unsigned or its TSIG does not
    /// verify (RFC 8945 section 5.3): not believed.
    BadResponseSignature,
    /// No answer after all retransmissions.
    Timeout,
}

impl From<VerifyError> for FailReason {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Rejected(codes::BADSIG) => Self::BadSig,
            VerifyError::Rejected(codes::BADKEY) => Self::BadKey,
            VerifyError::Rejected(codes::BADTIME) => Self::BadTime,
            VerifyError::Rejected(code) => Self::TsigError(code),
            VerifyError::Malformed
            | VerifyError::Unsigned
            | VerifyError::WrongKey
            | VerifyError::BadMac
            | VerifyError::BadTime { .. } => Self::BadResponseSignature,
        }
    }
}

impl std::fmt::Display for FailReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::FormErr => f.write_str("FORMERR"),
            Self::ServFail => f.write_str("SERVFAIL"),
            Self::NotImp => f.write_str("NOTIMP"),
            Self::Refused => f.write_str("REFUSED"),
            Self::NotAuth => f.write_str("NOTAUTH"),
            Self::NotZone => f.write_str("NOTZONE"),
            Self::Unexpected(c) => write!(f, "unexpected RCODE {c}"),
            Self::BadSig => f.write_str("BADSIG"),
            Self::BadKey => f.write_str("BADKEY"),
            Self::BadTime => f.write_str("BADTIME"),
            Self::TsigError(c) => write!(f, "TSIG error {c}"),
            Self::BadResponseSignature => f.write_str("bad response signature"),
            Self::Timeout => f.write_str("timeout"),
        }
    }
}

/// The server's answer, as far as the conflict rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answer {
    /// NOERROR: the update was applied.
    Applied,
    /// YXDOMAIN: "name not in use" failed (the name exists).
    NameInUse,
    /// NXRRSET: a "RRset exists" prerequisite failed (the DHCID is not ours).
    NotOurs,
    /// YXRRSET: a "RRset does not exist" prerequisite failed.
    RrsetExists,
    /// Anything else: the attempt failed.
    Failed(FailReason),
}

/// Classifies a (verified) response by its RCODE.
pub fn classify(response: &Message) -> Answer {
    match response.response_code {
        ResponseCode::NoError => Answer::Applied,
        ResponseCode::YXDomain => Answer::NameInUse,
        ResponseCode::NXRRSet => Answer::NotOurs,
        ResponseCode::YXRRSet => Answer::RrsetExists,
        ResponseCode::FormErr => Answer::Failed(FailReason::FormErr),
        ResponseCode::ServFail => Answer::Failed(FailReason::ServFail),
        ResponseCode::NotImp => Answer::Failed(FailReason::NotImp),
        ResponseCode::Refused => Answer::Failed(FailReason::Refused),
        ResponseCode::NotAuth => Answer::Failed(FailReason::NotAuth),
        ResponseCode::NotZone => Answer::Failed(FailReason::NotZone),
        ResponseCode::BADSIG => Answer::Failed(FailReason::BadSig),
        ResponseCode::BADKEY => Answer::Failed(FailReason::BadKey),
        ResponseCode::BADTIME => Answer::Failed(FailReason::BadTime),
        other => Answer::Failed(FailReason::Unexpected(u16::from(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode};

    fn with(rcode: ResponseCode) -> Message {
        let mut m = Message::new(1, MessageType::Response, OpCode::Update);
        m.metadata.response_code = rcode;
        m
    }

    #[test]
    fn rcodes() {
        assert_eq!(classify(&with(ResponseCode::NoError)), Answer::Applied);
        assert_eq!(classify(&with(ResponseCode::YXDomain)), Answer::NameInUse);
        assert_eq!(classify(&with(ResponseCode::NXRRSet)), Answer::NotOurs);
        assert_eq!(classify(&with(ResponseCode::YXRRSet)), Answer::RrsetExists);
        assert_eq!(
            classify(&with(ResponseCode::Refused)),
            Answer::Failed(FailReason::Refused)
        );
        assert_eq!(
            classify(&with(ResponseCode::NotAuth)),
            Answer::Failed(FailReason::NotAuth)
        );
        assert_eq!(
            classify(&with(ResponseCode::NXDomain)),
            Answer::Failed(FailReason::Unexpected(3))
        );
    }

    #[test]
    fn tsig_errors() {
        assert_eq!(
            FailReason::from(VerifyError::Rejected(16)),
            FailReason::BadSig
        );
        assert_eq!(
            FailReason::from(VerifyError::Rejected(17)),
            FailReason::BadKey
        );
        assert_eq!(
            FailReason::from(VerifyError::Rejected(18)),
            FailReason::BadTime
        );
        assert_eq!(
            FailReason::from(VerifyError::Unsigned),
            FailReason::BadResponseSignature
        );
        assert_eq!(FailReason::BadSig.to_string(), "BADSIG");
    }
}
