//! csbs-deleter: reliable, event-driven deletion of CSBS and CBR backups on AWS Lambda.
//!
//! The modules are in layers, each importing only from the ones before it (docs/DESIGN.md,
//! "Layout"; `tests/it/layers.rs` keeps it so):
//!
//! 1. utilities: [`json`], [`secret`], [`trace`], [`chaos`];
//! 2. contracts, pure: [`ids`], [`service`], [`region`], [`codes`], [`request`], [`query`], [`task`],
//!    [`target`], [`selection`], [`outcome`], [`webhook`];
//! 3. the cloud — one transport for the Huawei APIs ([`cloud`]), each service's calls
//!    ([`csbs`], [`cbr`]) and the one module that dispatches on the service ([`backups`]) —
//!    and the [`ports`];
//! 4. the [`adapters`] (SQS, EventBridge, DynamoDB, in-memory);
//! 5. the workflows, with no Lambda or AWS types: [`submit`], [`poll`], [`select`],
//!    [`status`], their failure type ([`failure`]) and [`metrics`];
//! 6. the composition root: [`config`], [`secrets`], [`wiring`];
//! 7. the edges: [`lambda`], the CLI (`cli`, feature `cli`), the simulator and the local run
//!    (`sim`, `local`, feature `dev`: the Lambda builds leave them out); then `src/bin`.

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
pub mod region;
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
