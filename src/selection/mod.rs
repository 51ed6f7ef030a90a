//! Delete by rule (docs/DESIGN.md, "Selection requests"): a selector chooses backups, a pure
//! plan decides which to delete and why, and a paced fan-out turns each target into an
//! ordinary deletion request on the intake queue.
//!
//! - [`selector`]: the contract, validated before anything is listed;
//! - [`plan`]: the plan, a pure function of selector, listing and reference time;
//! - [`listing`]: the paged listings of both services;
//! - [`fanout`]: the follow-up step message and the pace;
//! - [`expand`]: the workflow that ties them together.

pub mod expand;
pub mod fanout;
pub mod listing;
pub mod plan;
pub mod selector;

pub use expand::{ExpandSettings, Expander, Expansion, StepReport};
pub use fanout::FanOut;
pub use plan::{Action, Candidate, Counts, Plan, PlanRow, TooLarge};
pub use selector::{SelectionRequest, Selector};
