//! Client for the CSBS v1 API (Huawei Cloud, Open Telekom Cloud, Flexible Engine).

pub mod auth;
pub mod client;
pub mod error;
pub mod models;
pub mod signer;
pub mod state;

pub use auth::Credentials;
pub use client::{ClientConfig, CsbsClient, DeleteOutcome, ListFilter, Page, RetryPolicy};
pub use error::{CsbsError, ErrorClass};

/// The fixed provider id of CSBS.
pub const DEFAULT_PROVIDER_ID: &str = "fc4d5750-22e7-4798-8a46-f48f62c4c1da";
