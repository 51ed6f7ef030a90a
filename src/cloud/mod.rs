//! The Huawei cloud transport shared by the CSBS and CBR clients (docs/DESIGN.md, "Layout"):
//! credentials and IAM tokens ([`auth`]), the `SDK-HMAC-SHA256` signer ([`signer`]), the errors
//! and their classes ([`error`]), call timing ([`latency`]) and the retrying, deadline-bounded
//! [`Transport`].

pub mod auth;
pub mod error;
pub mod latency;
pub mod signer;
pub mod transport;

pub use auth::Credentials;
pub use error::{CloudError, ErrorClass, api_error};
pub use latency::{CallLatencies, Latencies};
pub use transport::{ClientConfig, RetryPolicy, Transport, decode, retry_wait};

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
