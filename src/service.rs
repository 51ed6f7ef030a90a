//! Which backup service a request, task or event is about (docs/DESIGN.md, "CBR targets").

use serde::{Deserialize, Serialize};

/// The backup service of a deletion. CSBS is the default: every request without `service`
/// and every pending task written before CBR existed is a CSBS one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

    pub fn is_csbs(&self) -> bool {
        *self == Service::Csbs
    }
}
