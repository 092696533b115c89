//! Option types and typed option values (seed 004 sections 5.7 "DHCP
//! Options" and 5.9 "Option Types"), done for DHCPv4.
//!
//! - [`path`]: tag paths such as `122/3` or `125/4491/2`.
//! - [`types`]: data types and option definitions.
//! - [`builtin`]: every built-in definition, with its RFC.
//! - [`registry`]: built-ins plus `[[option_type]]` declarations.
//! - [`value`]: typed values, coercion from literals, their text form.
//! - [`codec`]: wire encoding and decoding of values and containers.
//! - [`set`]: the options of one reply, encoded into option payloads.
//! - [`request`]: what a client asked for (option 55, vendor ORO, 43/1).
//! - [`describe`]: decoding a client's options for `headend explain`.
//!
//! Sub-option framing is parameterised by tag and length widths so the
//! DHCPv6 spaces (2-octet codes and lengths, option 17) can be added as
//! another [`path::Space`] without changing the model.

pub mod builtin;
pub mod codec;
pub mod describe;
pub mod path;
pub mod registry;
pub mod request;
pub mod set;
pub mod types;
pub mod value;

pub use codec::{decode_value, encode_value};
pub use describe::{decode_option, decode_option6, describe, describe6, Decoded};
pub use path::{PathError, Space, TagPath};
pub use registry::{OptionError, OptionTypeDecl, OptionTypeError, Registry};
pub use request::{is_requested, RequestedOptions};
pub use set::{
    ControlOptions, EncodeFailure, EncodedOptions, EncodedOptions6, Entry, OptionSet, Origin,
};
pub use types::{Bounds, DataType, Framing, OptionDef, Settable};
pub use value::{coerce, validate, ClasslessRoute, ClientFqdn, Value, ValueError};
