//! Delete by rule (docs/DESIGN.md, "Selection requests"): a pure plan decides which backups
//! to delete and why, and a paced fan-out turns each target into an ordinary deletion request on
//! the intake queue. The contract it reads and writes is [`crate::selection`].
//!
//! - [`plan`]: the plan, a pure function of selector, listing and reference time;
//! - [`expand`]: the workflow that ties them together.

mod events;
pub mod expand;
pub mod plan;

pub use expand::{ExpandSettings, Expander, Expansion, StepReport};
pub use plan::{Action, Candidate, Plan, PlanRow, TooLarge};
