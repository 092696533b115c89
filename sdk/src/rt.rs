//! Hook runtime behind the hook macros (`sdk/ABI.md`, "Hook calls"): read
//! the request from guest memory, decode it, call the plugin function, and
//! hand back the encoded response as a packed (pointer, length).
//!
//! Not part of the stable SDK surface except [`RawReply`] and [`raw_entry`],
//! which test plugins use to misbehave on purpose.

use headend_abi::{decode, encode, PluginConfig, Request, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::guest;

/// What a [`raw_hook!`](crate::raw_hook) function hands back to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawReply {
    /// These bytes, placed in guest memory and returned as (pointer, length).
    Bytes(Vec<u8>),
    /// This exact packed result, whatever it points at.
    Packed(i64),
}

/// Entry of a typed hook: decode `Request<I>` at (ptr, len), call `f`,
/// return the packed `Response<O>`.
pub fn entry<I, O, F>(ptr: i32, len: i32, f: F) -> i64
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(&I, &PluginConfig) -> Result<O, String>,
{
    guest::on_call();
    let reply = guest::with_request(ptr, len, |request| match request {
        Some(bytes) => handle(bytes, f),
        None => error_response("request (pointer, length) lies outside guest memory"),
    });
    guest::respond(reply)
}

/// Entry of a raw hook: `f` sees the request bytes (empty when the
/// (pointer, length) the host passed is unusable).
pub fn raw_entry<F>(ptr: i32, len: i32, f: F) -> i64
where
    F: FnOnce(&[u8]) -> RawReply,
{
    guest::on_call();
    let reply = guest::with_request(ptr, len, |request| f(request.unwrap_or(&[])));
    match reply {
        RawReply::Bytes(bytes) => guest::respond(bytes),
        RawReply::Packed(v) => v,
    }
}

/// The byte-level hook path shared by the wasm entry and the native
/// harness: a request that does not decode, and a plugin error, both become
/// `Response::Err` so the host sees one well-formed answer either way.
pub fn handle<I, O, F>(request: &[u8], f: F) -> Vec<u8>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(&I, &PluginConfig) -> Result<O, String>,
{
    let response = match decode::<Request<I>>(request) {
        Ok(req) => match f(&req.input, &req.config) {
            Ok(out) => Response::Ok(out),
            Err(reason) => Response::Err(reason),
        },
        Err(e) => Response::Err(format!("request does not decode: {e}")),
    };
    match encode(&response) {
        Ok(bytes) => bytes,
        Err(e) => error_response(&format!("response does not encode: {e}")),
    }
}

/// An encoded `Response::Err(reason)`; its bytes do not depend on the
/// response's `Ok` type, so one encoder serves every hook.
pub fn error_response(reason: &str) -> Vec<u8> {
    // An empty answer is malformed, which the host also handles; but a
    // String always encodes, so this never happens in practice.
    encode(&Response::<()>::Err(reason.to_string())).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use headend_abi::{Device, FlowDecision, Protocol, ProvisioningFlow};

    fn disabled(_: &Device, _: &PluginConfig) -> Result<FlowDecision, String> {
        Ok(FlowDecision::flow(ProvisioningFlow::Disabled))
    }

    #[test]
    fn undecodable_request_becomes_err_response() {
        let out = handle::<Device, FlowDecision, _>(&[0xff, 0xff, 0xff], disabled);
        match decode::<Response<FlowDecision>>(&out).unwrap() {
            Response::Err(reason) => assert!(reason.starts_with("request does not decode")),
            Response::Ok(_) => panic!("garbage request answered Ok"),
        }
    }

    #[test]
    fn plugin_error_travels_as_err() {
        let req = Request {
            config: PluginConfig::default(),
            input: Device::with_mac(Protocol::Dhcpv4, "00:00:00:00:00:01"),
        };
        let out = handle::<Device, FlowDecision, _>(&encode(&req).unwrap(), |_, _| {
            Err::<FlowDecision, _>("no".to_string())
        });
        assert_eq!(
            decode::<Response<FlowDecision>>(&out).unwrap(),
            Response::Err("no".to_string())
        );
    }

    #[test]
    fn error_response_decodes_as_any_hook_output() {
        let bytes = error_response("why");
        assert_eq!(
            decode::<Response<FlowDecision>>(&bytes).unwrap(),
            Response::Err("why".into())
        );
        assert_eq!(
            decode::<Response<Option<headend_abi::ConfigFile>>>(&bytes).unwrap(),
            Response::Err("why".into())
        );
        // postcard: variant index 1, string length 3, the bytes.
        assert_eq!(bytes, [1, 3, b'w', b'h', b'y']);
    }
}
