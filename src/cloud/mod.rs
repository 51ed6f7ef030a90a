//! The Huawei cloud transport shared by the CSBS and CBR clients (docs/DESIGN.md, "Layout"):
//! credentials and IAM tokens ([`auth`]), the `SDK-HMAC-SHA256` signer ([`signer`]), the errors
//! and their classes ([`error`]), call timing ([`latency`]) and the retrying, deadline-bounded
//! [`Transport`].

pub mod auth;
pub mod error;
pub mod latency;
pub mod pace;
pub mod settings;
pub mod signer;
mod token;
pub mod transport;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use auth::Credentials;
pub use error::{CloudError, ErrorClass, api_error};
pub use latency::{CallLatencies, Latencies};
pub use pace::PaceSettings;
pub use transport::{ClientConfig, Request, RetryPolicy, ServiceTransport, Transport, decode, retry_wait};

/// What a DELETE achieved, whichever service answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// CSBS 200 / CBR 204: the service queued the deletion.
    Accepted,
    /// The service's own not-found answer: nothing left to delete.
    AlreadyGone,
    /// 400 CSBS.2003: a deletion is already running (a redelivery).
    AlreadyDeleting,
}

/// `extra_info` of CSBS and CBR alike: documented as an object, returned as a JSON string too.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ExtraInfo {
    Object(serde_json::Map<String, Value>),
    Text(String),
}

impl ExtraInfo {
    /// The object, parsing the string form when it holds JSON.
    pub fn as_object(&self) -> Option<serde_json::Map<String, Value>> {
        match self {
            ExtraInfo::Object(m) => Some(m.clone()),
            ExtraInfo::Text(s) => serde_json::from_str(s).ok(),
        }
    }
}
