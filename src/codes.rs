//! Every error code this project gives itself, as one enum rendered by one function
//! ([`ErrorCode::as_str`]): the codes of refusals, of HTTP answers and of outcome events
//! (docs/DESIGN.md, "Events" and "HTTP API"). The services' own codes (`CSBS.3001`,
//! `BackupService.6200`, `APIGW.0308`) travel as the service wrote them, as strings.

use std::fmt;

use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// a request, query or id that does not validate (400)
    InvalidRequest,
    /// a body that is not JSON (400)
    InvalidJson,
    /// a body the runtime could not read as the event it claims to be
    InvalidBody,
    /// a JSON key given twice: never the last one wins (400)
    DuplicateField,
    /// a field this contract does not have: never ignored (400)
    UnknownField,
    /// a query parameter the route does not take (400)
    UnknownParameter,
    /// `context` over 4 KiB (413)
    ContextTooLarge,
    /// a body over 64 KiB (413)
    PayloadTooLarge,
    /// the route exists, the method does not (405)
    MethodNotAllowed,
    /// no such route (404)
    NotFound,
    /// the project is not in ALLOWED_PROJECT_IDS (403)
    ProjectNotAllowed,
    /// `GET /deletions/{task_id}` of a task the ledger does not hold (404)
    UnknownTask,
    /// `GET /selections/{id}` of a selection the ledger does not hold (404)
    UnknownSelection,
    /// HTTP without a signature while one is required (401)
    UnsignedHttpRefused,
    /// no `X-Signature-256` (401)
    SignatureMissing,
    /// an `X-Signature-256` that cannot be parsed (401)
    SignatureMalformed,
    /// a signature header given twice (401)
    BadSignature,
    /// a v1 signature where only v2 is accepted (401)
    SignatureV1NotAllowed,
    /// a timestamp outside the allowed skew (401)
    SignatureExpired,
    /// a signature that does not match (401)
    SignatureInvalid,
    /// `HTTP_AUTH=iam` without a caller identity (401)
    IamIdentityMissing,
    /// the service reported the deletion as failed
    DeletionFailed,
    /// still not gone at the deadline
    DeletionTimedOut,
    /// the time left for the work ran out
    DeadlineExceeded,
    /// a restore point with more backups than one task takes
    TooManyBackups,
    /// a restore point that lists no backup to delete
    EmptyRestorePoint,
    /// a selection matching more than `max_backups`
    SelectionTooLarge,
    /// a pending message that is not a task
    UnreadablePendingTask,
    /// SQS did not take the pending task
    PendingQueueUnavailable,
    /// EventBridge did not take the event
    EventBusUnavailable,
    /// SQS did not take the fan-out
    IntakeQueueUnavailable,
    /// a selection to fan out without INTAKE_QUEUE_URL
    IntakeQueueNotConfigured,
    /// DynamoDB could not be asked
    LedgerUnavailable,
    /// a ledger record that cannot be read
    LedgerRecordUnreadable,
    /// a call that timed out
    Timeout,
    /// a call that could not connect
    ConnectionError,
    /// an id that may not enter a URL
    InvalidInput,
    /// the endpoint of the task's service is not set
    ServiceNotConfigured,
    /// IAM refused the credentials
    AuthenticationFailed,
    /// an answer that cannot be read
    BadResponse,
    /// a region this stack does not serve
    UnknownRegion,
    /// a replica in a region or project this stack may not call
    ReplicaNotReachable,
    /// a replication still running
    ReplicaInProgress,
}

impl ErrorCode {
    /// Every code, for the tests that keep literals out of the code (tests/it/layers.rs).
    pub const ALL: [ErrorCode; 43] = [
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidJson,
        ErrorCode::InvalidBody,
        ErrorCode::DuplicateField,
        ErrorCode::UnknownField,
        ErrorCode::UnknownParameter,
        ErrorCode::ContextTooLarge,
        ErrorCode::PayloadTooLarge,
        ErrorCode::MethodNotAllowed,
        ErrorCode::NotFound,
        ErrorCode::ProjectNotAllowed,
        ErrorCode::UnknownTask,
        ErrorCode::UnknownSelection,
        ErrorCode::UnsignedHttpRefused,
        ErrorCode::SignatureMissing,
        ErrorCode::SignatureMalformed,
        ErrorCode::BadSignature,
        ErrorCode::SignatureV1NotAllowed,
        ErrorCode::SignatureExpired,
        ErrorCode::SignatureInvalid,
        ErrorCode::IamIdentityMissing,
        ErrorCode::DeletionFailed,
        ErrorCode::DeletionTimedOut,
        ErrorCode::DeadlineExceeded,
        ErrorCode::TooManyBackups,
        ErrorCode::EmptyRestorePoint,
        ErrorCode::SelectionTooLarge,
        ErrorCode::UnreadablePendingTask,
        ErrorCode::PendingQueueUnavailable,
        ErrorCode::EventBusUnavailable,
        ErrorCode::IntakeQueueUnavailable,
        ErrorCode::IntakeQueueNotConfigured,
        ErrorCode::LedgerUnavailable,
        ErrorCode::LedgerRecordUnreadable,
        ErrorCode::Timeout,
        ErrorCode::ConnectionError,
        ErrorCode::InvalidInput,
        ErrorCode::ServiceNotConfigured,
        ErrorCode::AuthenticationFailed,
        ErrorCode::BadResponse,
        ErrorCode::UnknownRegion,
        ErrorCode::ReplicaNotReachable,
        ErrorCode::ReplicaInProgress,
    ];

    /// The code as events, logs and HTTP answers carry it.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidBody => "invalid_body",
            ErrorCode::DuplicateField => "duplicate_field",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::UnknownParameter => "unknown_parameter",
            ErrorCode::ContextTooLarge => "context_too_large",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::ProjectNotAllowed => "project_not_allowed",
            ErrorCode::UnknownTask => "unknown_task",
            ErrorCode::UnknownSelection => "unknown_selection",
            ErrorCode::UnsignedHttpRefused => "unsigned_http_refused",
            ErrorCode::SignatureMissing => "signature_missing",
            ErrorCode::SignatureMalformed => "signature_malformed",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::SignatureV1NotAllowed => "signature_v1_not_allowed",
            ErrorCode::SignatureExpired => "signature_expired",
            ErrorCode::SignatureInvalid => "signature_invalid",
            ErrorCode::IamIdentityMissing => "iam_identity_missing",
            ErrorCode::DeletionFailed => "deletion_failed",
            ErrorCode::DeletionTimedOut => "deletion_timed_out",
            ErrorCode::DeadlineExceeded => "deadline_exceeded",
            ErrorCode::TooManyBackups => "too_many_backups",
            ErrorCode::EmptyRestorePoint => "empty_restore_point",
            ErrorCode::SelectionTooLarge => "selection_too_large",
            ErrorCode::UnreadablePendingTask => "unreadable_pending_task",
            ErrorCode::PendingQueueUnavailable => "pending_queue_unavailable",
            ErrorCode::EventBusUnavailable => "event_bus_unavailable",
            ErrorCode::IntakeQueueUnavailable => "intake_queue_unavailable",
            ErrorCode::IntakeQueueNotConfigured => "intake_queue_not_configured",
            ErrorCode::LedgerUnavailable => "ledger_unavailable",
            ErrorCode::LedgerRecordUnreadable => "ledger_record_unreadable",
            ErrorCode::Timeout => "timeout",
            ErrorCode::ConnectionError => "connection_error",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::ServiceNotConfigured => "service_not_configured",
            ErrorCode::AuthenticationFailed => "authentication_failed",
            ErrorCode::BadResponse => "bad_response",
            ErrorCode::UnknownRegion => "unknown_region",
            ErrorCode::ReplicaNotReachable => "replica_not_reachable",
            ErrorCode::ReplicaInProgress => "replica_in_progress",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for ErrorCode {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<ErrorCode> for String {
    fn from(c: ErrorCode) -> String {
        c.as_str().to_string()
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<ErrorCode> for &str {
    fn eq(&self, other: &ErrorCode) -> bool {
        *self == other.as_str()
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            let s = c.as_str();
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{s}"
            );
            assert!(seen.insert(s), "{s} twice");
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(s));
        }
    }
}
