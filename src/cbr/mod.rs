//! Client for CBR v3 (Cloud Backup and Recovery), the successor of CSBS (docs/cbr-api.md): its
//! models, how its answers are classified, and how a backup's state is read for the poll
//! decision. It rides on the shared Huawei transport (src/cloud/: same credentials, token cache, signing).

pub mod client;
pub mod error;
pub mod models;
pub mod replicas;
pub mod state;

pub use client::{BackupFilter, CbrClient};
