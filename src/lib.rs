//! csbs-deleter: reliable, event-driven deletion of CSBS backups on AWS Lambda.
//!
//! The workflows ([`submit`], [`poll`]) are plain async code over ports ([`pending`],
//! [`events`]) and the [`csbs`] client; Lambda types stay in [`lambda`] and `src/bin/`.

pub mod csbs;
pub mod ids;
pub mod secret;
pub mod sim;
