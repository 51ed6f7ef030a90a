//! Why a request or a selection did not go through: the one failure type of the submit and
//! select workflows, which the edges render (an HTTP status, an SQS redelivery).

use crate::cloud::CloudError;
use crate::outcome::OutcomeEvent;
use crate::ports::ledger::LedgerError;

/// Why a request did not go through.
#[derive(Debug, Clone)]
pub enum SubmitError {
    /// The project is not on the allow-list (refused before CSBS is called).
    NotAllowed { project_id: String },
    /// Refused before any call to the service (an unknown region): 400 over HTTP with no
    /// event, a Rejected event over SQS.
    Invalid(crate::request::RequestError),
    /// CSBS refused for good; a Rejected event was emitted.
    Rejected { event: Box<OutcomeEvent> },
    /// Try again later: CSBS or AWS is failing, or time ran out. `bad_gateway`: the failure is
    /// our credentials or endpoint (502 over HTTP) rather than the service's load (503).
    Transient {
        code: String,
        message: String,
        bad_gateway: bool,
    },
}

impl SubmitError {
    /// The ledger could not be asked: transient, like an unavailable queue or bus.
    pub fn ledger(e: &LedgerError) -> Self {
        tracing::error!(code = e.code().as_str(), error = %e, "the decision ledger failed");
        SubmitError::Transient {
            code: e.code().into(),
            message: e.to_string(),
            bad_gateway: false,
        }
    }

    /// The service or the transport failed; SQS redelivers, HTTP answers 502 or 503.
    pub fn transient(e: &CloudError) -> Self {
        SubmitError::Transient {
            code: e.code(),
            message: e.to_string(),
            bad_gateway: e.is_bad_gateway(),
        }
    }
}
