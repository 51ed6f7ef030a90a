//! Which backup service a request, task or event is about (docs/DESIGN.md, "CBR targets").

use serde::{Deserialize, Serialize};

/// The fixed provider id of CSBS.
pub const DEFAULT_PROVIDER_ID: &str = "fc4d5750-22e7-4798-8a46-f48f62c4c1da";

/// The backup service of a deletion. CSBS is the default: every request without `service`
/// and every pending task written before CBR existed is a CSBS one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// Cloud Server Backup Service, v1: checkpoints and their items.
    #[default]
    Csbs,
    /// Cloud Backup and Recovery, v3: backups, one DELETE each.
    Cbr,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Csbs => "csbs",
            Service::Cbr => "cbr",
        }
    }

    /// The name used in messages ("CSBS answered …").
    pub fn display_name(self) -> &'static str {
        match self {
            Service::Csbs => "CSBS",
            Service::Cbr => "CBR",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "csbs" => Some(Service::Csbs),
            "cbr" => Some(Service::Cbr),
            _ => None,
        }
    }

    /// The variable that configures the service's endpoint.
    pub fn endpoint_variable(self) -> &'static str {
        match self {
            Service::Csbs => "CSBS_ENDPOINT",
            Service::Cbr => "CBR_ENDPOINT",
        }
    }

    /// The service's own "backup does not exist" codes, the only ones that make a 404 mean gone:
    /// CSBS's `CSBS.3001` ("Checkpoint_item (…) is not found"), CBR's `BackupService.6200` and,
    /// from CBR's CSBS-compatible layer, `CSBS.3001` too (docs/DESIGN.md, "CBR behaviour").
    pub fn not_found_codes(self) -> &'static [&'static str] {
        match self {
            Service::Csbs => &["CSBS.3001"],
            Service::Cbr => &["BackupService.6200", "CSBS.3001"],
        }
    }

    /// Every service, in a fixed order (metrics, listings).
    pub const ALL: [Service; 2] = [Service::Csbs, Service::Cbr];

    pub fn is_csbs(&self) -> bool {
        *self == Service::Csbs
    }
}
