//! csbs-deleter: reliable, event-driven deletion of CSBS backups on AWS Lambda.
//!
//! The workflows ([`submit`], [`poll`]) are plain async code over ports ([`pending`],
//! [`events`]) and the [`csbs`] client; Lambda types stay in [`lambda`] and `src/bin/`.
//! The development tools (`sim`, `local`) exist only with the `dev` feature, which the Lambda
//! builds leave off.

pub mod adapters;
pub mod backups;
pub mod cbr;
pub mod chaos;
#[cfg(feature = "cli")]
pub mod cli;
pub mod cloud;
pub mod codes;
pub mod config;
pub mod csbs;
pub mod failure;
pub mod ids;
pub mod json;
pub mod lambda;
#[cfg(feature = "dev")]
pub mod local;
pub mod metrics;
pub mod outcome;
pub mod poll;
pub mod ports;
pub mod query;
pub mod request;
pub mod secret;
pub mod secrets;
pub mod select;
pub mod selection;
pub mod service;
#[cfg(feature = "dev")]
pub mod sim;
pub mod status;
pub mod submit;
pub mod target;
pub mod task;
pub mod trace;
pub mod webhook;
pub mod wiring;
