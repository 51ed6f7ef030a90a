//! A CBR request `with_replicas`: each source backup's replicas, found at submit from its
//! `replication_records` and judged before any DELETE, so nothing is half-deleted
//! (docs/DESIGN.md, "Regions": replicas).

use tokio::time::Instant;

use super::{SubmitError, Submitter, event_error};
use crate::cbr::replicas::{RecordProblem, ReplicaRecord, replicas_of};
use crate::cloud::{ClientConfig, ErrorClass};
use crate::codes::ErrorCode;
use crate::outcome::EventError;
use crate::service::Service;
use crate::task::{PendingTask, Replica};

/// Whether this stack can delete a replica: its region served with CBR, its project allowed.
/// A pure decision (table tests below); the refusal names the record, region and project.
pub fn reach(
    record: &ReplicaRecord,
    source: &str,
    regions: &ClientConfig,
    allowed: impl Fn(&str) -> bool,
) -> Result<Replica, EventError> {
    let refuse = |why: String| EventError {
        code: ErrorCode::ReplicaNotReachable.into(),
        message: format!(
            "backup {source}: {} (replica {} in {}/{}) {why}; nothing was deleted",
            record.record, record.backup_id, record.region, record.project_id
        ),
        http_status: None,
    };
    if !regions.serves_region(&record.region) {
        return Err(refuse(format!(
            "is in region {}, which is not in REGIONS",
            record.region
        )));
    }
    if !regions.serves(Some(&record.region), Service::Cbr) {
        return Err(refuse(format!(
            "is in region {}, which has no cbr endpoint",
            record.region
        )));
    }
    if !allowed(&record.project_id) {
        return Err(refuse(format!(
            "is in project {}, which is not in ALLOWED_PROJECT_IDS",
            record.project_id
        )));
    }
    Ok(Replica {
        region: record.region.clone(),
        project_id: record.project_id.clone(),
        backup_id: record.backup_id.clone(),
        source_backup_id: source.to_string(),
    })
}

/// The refusal of records that cannot be followed.
fn refusal(source: &str, problem: RecordProblem) -> EventError {
    let (code, message) = match problem {
        RecordProblem::InProgress { record, status } => (
            ErrorCode::ReplicaInProgress,
            format!("backup {source}: {record} is {status}; retry once the replication has settled"),
        ),
        RecordProblem::Malformed { record, reason } => (
            ErrorCode::ReplicaNotReachable,
            format!("backup {source}: {record} {reason}, so its replica cannot be found; nothing was deleted"),
        ),
    };
    EventError {
        code: code.into(),
        message,
        http_status: None,
    }
}

impl Submitter {
    /// The replicas of the task's sources (one GET round), each one reachable; or the
    /// refusal to decide (Rejected), or a transient failure. A source already gone names no
    /// replica: what its records said is no longer there to read.
    pub(super) async fn find_replicas(
        &self,
        task: &PendingTask,
        deadline: Instant,
    ) -> Result<Vec<Replica>, Result<EventError, SubmitError>> {
        let mut sources = self.backups.sources(task, deadline, &self.cloud_slots).await;
        // In the task's order: the first refusal is the same on every copy.
        sources.sort_by(|a, b| a.0.cmp(&b.0));
        let mut replicas = Vec::new();
        for (id, got) in sources {
            let backup = match got {
                Ok(Some(b)) => b,
                Ok(None) => continue,
                Err(e) if e.class() == ErrorClass::Permanent => return Err(Ok(event_error(&e))),
                Err(e) => return Err(Err(SubmitError::transient(&e))),
            };
            let records = replicas_of(&backup).map_err(|p| Ok(refusal(&id, p)))?;
            for r in &records {
                let replica = reach(r, &id, self.backups.regions(), |p| self.is_allowed(p)).map_err(Ok)?;
                replicas.push(replica);
            }
        }
        replicas.sort();
        replicas.dedup();
        Ok(replicas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::RegionEndpoints;
    use std::collections::BTreeMap;
    use url::Url;

    fn regions() -> ClientConfig {
        let url = |u: &str| Url::parse(u).unwrap();
        let only = |s: Service| RegionEndpoints {
            services: BTreeMap::from([(s, url("https://x"))]),
            iam: None,
        };
        let aksk = crate::cloud::Credentials::AkSk {
            ak: "ak".into(),
            sk: crate::secret::Secret::new("sk"),
            security_token: None,
        };
        ClientConfig::new(url("https://csbs"), url("https://iam"), aksk).with_regions(
            "eu-de",
            BTreeMap::from([
                ("eu-nl".into(), only(Service::Cbr)),
                ("eu-ch2".into(), only(Service::Csbs)),
            ]),
        )
    }

    fn record(region: &str, project: &str) -> ReplicaRecord {
        ReplicaRecord {
            record: "replication record r1".into(),
            region: region.into(),
            project_id: project.into(),
            backup_id: "b2".into(),
        }
    }

    #[test]
    fn a_replica_is_reachable_only_in_a_served_cbr_region_and_an_allowed_project() {
        let allowed = |p: &str| p != "other";
        for (region, project, want) in [
            ("eu-nl", "p2", Ok(())),
            ("eu-fr", "p2", Err("not in REGIONS")),
            ("eu-ch2", "p2", Err("has no cbr endpoint")),
            ("eu-nl", "other", Err("not in ALLOWED_PROJECT_IDS")),
        ] {
            let got = reach(&record(region, project), "b1", &regions(), allowed);
            match (got, want) {
                (Ok(r), Ok(())) => assert_eq!(
                    (r.region.as_str(), r.project_id.as_str(), r.source_backup_id.as_str()),
                    (region, project, "b1")
                ),
                (Err(e), Err(why)) => {
                    assert_eq!(e.code, "replica_not_reachable");
                    assert!(
                        e.message.contains(why) && e.message.contains("replication record r1"),
                        "{}",
                        e.message
                    );
                }
                (got, want) => panic!("{region}/{project}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn record_problems_refuse_with_their_codes() {
        let e = refusal(
            "b1",
            RecordProblem::InProgress {
                record: "replication record r1".into(),
                status: "replicating".into(),
            },
        );
        assert_eq!(e.code, "replica_in_progress");
        let e = refusal(
            "b1",
            RecordProblem::Malformed {
                record: "replication_records[0]".into(),
                reason: "has no status".into(),
            },
        );
        assert_eq!(e.code, "replica_not_reachable");
        assert!(e.message.contains("replication_records[0] has no status"));
    }
}
