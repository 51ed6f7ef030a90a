//! csbs-deleter: reliable, event-driven deletion of CSBS backups on AWS Lambda.
//!
//! The workflows ([`submit`], [`poll`]) are plain async code over ports ([`pending`],
//! [`events`]) and the [`csbs`] client; Lambda types stay in [`lambda`] and `src/bin/`.

pub mod config;
pub mod csbs;
pub mod events;
pub mod ids;
pub mod lambda;
pub mod local;
pub mod pending;
pub mod poll;
pub mod request;
pub mod secret;
pub mod secrets;
pub mod sim;
pub mod submit;
pub mod task;
pub mod webhook;
