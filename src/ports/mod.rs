//! The ports: the traits the workflows are written against (docs/DESIGN.md, "Layout"). Their
//! adapters live in [`crate::adapters`].

pub mod intake;
pub mod ledger;
pub mod pending;
pub mod sink;
