//! The adapters of the ports: the AWS services (SQS, EventBridge, DynamoDB) and the in-memory
//! twins that pass the same conformance suites (tests/it/adapter_conformance.rs,
//! tests/it/ledger_conformance.rs).

pub mod dynamodb;
pub mod eventbridge;
pub mod memory;
pub mod sqs;
