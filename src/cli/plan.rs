//! `csbs-deleter plan`: a selection's plan, listed and planned here and now with nothing
//! emitted or sent (the same plan a dry run answers).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::{Failure, parse_request, refused, unavailable};
use crate::adapters::memory::MemorySink;
use crate::config::Config;
use crate::ports::intake::Intake;
use crate::select::{Action, ExpandSettings, Expander, PlanRow};
use crate::selection::SelectionRequest;
use crate::wiring;

pub(super) async fn plan(text: &str, as_json: bool) -> Result<String, Failure> {
    let (_, intake) = parse_request(text)?;
    let Intake::Select(req) = intake else {
        return Err(refused("plan takes a selection request ({\"select\": {…}})"));
    };
    let config = Config::from_env().map_err(|e| refused(e.to_string()))?;
    let aws = wiring::aws_from_env().await;
    let secrets = wiring::secrets(&config, &aws)
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let csbs = wiring::csbs_client(&config, &secrets).map_err(|e| refused(e.to_string()))?;
    let expander = Expander::new(
        csbs.into(),
        None,
        Arc::new(MemorySink::new()),
        ExpandSettings::default(),
    );
    let reference = req.reference_time.unwrap_or_else(Utc::now);
    let deadline = Instant::now() + Duration::from_secs(300);
    let plan = match expander.plan_only(&req, reference, deadline).await {
        Ok(Ok(p)) => p,
        Ok(Err(too_large)) => {
            return Err(refused(format!(
                "selection_too_large: the selection matches {} backups, more than max_backups ({})",
                too_large.count, too_large.max
            )));
        }
        Err(e) if e.class() == crate::cloud::ErrorClass::Permanent => return Err(refused(e.to_string())),
        Err(e) => return Err(unavailable(e.to_string())),
    };
    let selection_id = req.selection_id(reference);
    if as_json {
        // Serialised straight from the plan: no JSON tree of 10,000 rows in between.
        #[derive(serde::Serialize)]
        struct Printed<'a> {
            selection_id: &'a str,
            reference_time: String,
            counts: crate::selection::Counts,
            plan: &'a [PlanRow],
        }
        let printed = Printed {
            selection_id: &selection_id,
            reference_time: crate::task::rfc3339(reference),
            counts: plan.counts,
            plan: &plan.rows,
        };
        return Ok(serde_json::to_string_pretty(&printed).expect("serialisable"));
    }
    Ok(table(&req, &selection_id, reference, &plan.rows, plan.counts))
}

fn table(
    req: &SelectionRequest,
    selection_id: &str,
    reference: DateTime<Utc>,
    rows: &[PlanRow],
    counts: crate::selection::Counts,
) -> String {
    let mut out = format!(
        "{} selection {selection_id} of project {} at {}\n",
        req.select.service.display_name(),
        req.select.project_id,
        crate::task::rfc3339(reference)
    );
    out.push_str(&format!(
        "{:<40} {:<38} {:<28} {:<10} {:<7} {}\n",
        "ID", "RESOURCE", "CREATED_AT", "STATUS", "ACTION", "WHY"
    ));
    for r in rows {
        let b = &r.backup;
        out.push_str(&format!(
            "{:<40} {:<38} {:<28} {:<10} {:<7} {}\n",
            b.id,
            b.resource_id.as_deref().unwrap_or("-"),
            b.created_at.as_deref().unwrap_or("-"),
            b.status,
            match r.action {
                Action::Delete => "delete",
                Action::Keep => "keep",
            },
            r.reason
        ));
    }
    out.push_str(&format!(
        "{} to delete, {} kept, {} considered, {} listed",
        counts.to_delete, counts.kept, counts.considered, counts.listed
    ));
    out
}
