//! The CSBS v1 API (Huawei Cloud, Open Telekom Cloud, Flexible Engine): its calls, models and
//! how to read a backup's state from them. The transport is [`crate::cloud`]'s.

pub mod client;
pub mod models;
pub mod state;

pub use crate::service::DEFAULT_PROVIDER_ID;
pub use client::{CsbsClient, ListFilter, Page};
