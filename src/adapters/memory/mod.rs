//! In-memory adapters: the local run's queue, bus and ledger, and the tests' (they behave like
//! the AWS services where the workflows depend on it: visibility, receive counts, batch answers,
//! per-entry failures, conditional writes).

pub mod ledger;
pub mod queue;
pub mod sink;

pub use ledger::MemoryLedger;
pub use queue::MemoryQueue;
pub use sink::MemorySink;
