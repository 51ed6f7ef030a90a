//! The integration tests: one binary, so the crate and its dependencies are linked once.
//!
//! Each module is one subject (the CSBS and CBR clients against the simulator, the Lambda
//! handlers with real payload shapes, the workflows with the in-memory adapters, the adapters'
//! conformance suite, fuzzing, the soak); `common` holds what they share: the simulator, the
//! moto-backed AWS resources, fixtures from `events/`, signing and answer helpers.
//! Moto-backed tests start with `require_moto!()`: without `MOTO_ENDPOINT` they return at once
//! with a one-line message (scripts/test.sh starts a moto server and sets it).

#[macro_use]
mod common;

mod adapter_conformance;
mod bulk;
mod cbr_client;
mod cbr_lambda;
mod cli;
mod cli_watch;
mod csbs_client;
mod csbs_models;
mod edges;
mod event_fixtures;
mod exactly_once;
mod fuzz;
mod layers;
mod ledger_conformance;
mod operate;
mod pipeline;
mod poll_lambda;
mod poll_workflow;
mod regions;
mod regressions;
mod secrets_in_logs;
mod selection;
mod selection_lambda;
mod soak;
mod submit_lambda;
