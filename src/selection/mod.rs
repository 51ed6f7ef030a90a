//! The contract of delete-by-rule (docs/DESIGN.md, "Selection requests"): the selection request,
//! validated before anything is listed ([`selector`]), the fan-out step message that carries its
//! targets through the intake queue ([`fanout`]) and the plan's counts that its events report.
//! The workflow that lists, plans and fans out is [`crate::select`].

pub mod fanout;
pub mod selector;

use serde::Serialize;

pub use fanout::FanOut;
pub use selector::{SelectionRequest, Selector};

/// How many backups a selection's plan saw, kept and chose (the Planned event's `counts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Counts {
    /// Backups the service listed (before any filter).
    pub listed: usize,
    /// Backups within the selection's scope (project, status, resource, vault, checkpoints,
    /// name): the rows of the plan.
    pub considered: usize,
    pub kept: usize,
    pub to_delete: usize,
}
