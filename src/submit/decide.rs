//! The pure decisions of submit: what a request's DELETE answers call for, and when it was
//! received (docs/DESIGN.md, "Outcome events").

use chrono::{DateTime, Utc};

use crate::cloud::{CloudError, DeleteOutcome, ErrorClass};
use crate::task::RefusedItem;

/// What the DELETE answers of one request call for (docs/DESIGN.md, "Outcome events").
#[derive(Debug)]
pub enum Decision<'a> {
    /// A transient failure: hand the whole request back (accepted items answer CSBS.2003 on
    /// the retry, refused ones are refused again).
    Retry(&'a CloudError),
    /// Every DELETE was refused for good: Rejected, with the first refusal.
    Reject(&'a CloudError),
    /// Nothing was left to delete: Completed at once.
    AllGone,
    /// At least one item was accepted (or was already gone or being deleted): a pending task,
    /// which remembers the items refused for good.
    Pending { refused: Vec<RefusedItem> },
}

/// Decides a request from its DELETE answers, one per target (`None` = the whole checkpoint).
/// Rejected only when no item was accepted: when some were, the refused ones must not leave
/// the accepted deletions running unwatched.
pub fn decide(results: &[(Option<String>, Result<DeleteOutcome, CloudError>)]) -> Decision<'_> {
    let errors = || results.iter().filter_map(|(_, r)| r.as_ref().err());
    if let Some(e) = errors().find(|e| e.class() != ErrorClass::Permanent) {
        return Decision::Retry(e);
    }
    if let Some(first) = errors().next()
        && results.iter().all(|(_, r)| r.is_err())
    {
        return Decision::Reject(first);
    }
    if results.iter().all(|(_, r)| matches!(r, Ok(DeleteOutcome::AlreadyGone))) {
        return Decision::AllGone;
    }
    let mut refused: Vec<RefusedItem> = results
        .iter()
        .filter_map(|(item, r)| {
            let e = r.as_ref().err()?;
            Some(RefusedItem {
                item_id: item.clone().unwrap_or_default(),
                code: e.code(),
                message: e.to_string(),
                http_status: e.http_status(),
            })
        })
        .collect();
    // Sorted: a redelivery records a byte-identical task whatever order the answers came in.
    refused.sort_by(|a, b| a.item_id.cmp(&b.item_id));
    Decision::Pending { refused }
}

/// How long a message's `SentTimestamp` stands for its submission time: it covers the
/// redeliveries of the intake queue (5 receives × 180 s visibility); a message redriven from
/// the dead-letter queue later starts a fresh deadline instead of one already past.
pub const SENT_AT_HORIZON: chrono::Duration = chrono::Duration::hours(1);

/// The submission time of a record sent at `sent_at`.
pub fn received_at(sent_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
    match sent_at {
        Some(t) if t <= now && now - t < SENT_AT_HORIZON => t,
        _ => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::error::api_error;

    fn refused() -> CloudError {
        api_error(400, br#"{"error_code":"CSBS.9006","error_msg":"refused"}"#, None)
    }

    fn answers(
        rs: Vec<(&str, Result<DeleteOutcome, CloudError>)>,
    ) -> Vec<(Option<String>, Result<DeleteOutcome, CloudError>)> {
        rs.into_iter().map(|(i, r)| (Some(i.to_string()), r)).collect()
    }

    #[test]
    fn rejected_only_when_no_item_was_accepted() {
        let all_refused = answers(vec![("a", Err(refused())), ("b", Err(refused()))]);
        assert!(matches!(decide(&all_refused), Decision::Reject(e) if e.code() == "CSBS.9006"));
        let whole = vec![(None, Err(refused()))];
        assert!(matches!(decide(&whole), Decision::Reject(_)));
        for other in [
            DeleteOutcome::Accepted,
            DeleteOutcome::AlreadyDeleting,
            DeleteOutcome::AlreadyGone,
        ] {
            let mixed = answers(vec![("b", Err(refused())), ("a", Ok(other))]);
            match decide(&mixed) {
                Decision::Pending { refused } => {
                    assert_eq!(refused.len(), 1);
                    assert_eq!(
                        (
                            refused[0].item_id.as_str(),
                            refused[0].code.as_str(),
                            refused[0].http_status
                        ),
                        ("b", "CSBS.9006", Some(400))
                    );
                }
                d => panic!("{other:?}: {d:?}"),
            }
        }
    }

    #[test]
    fn transient_wins_and_all_gone_completes() {
        let busy = api_error(503, b"{}", None);
        let r = answers(vec![
            ("a", Err(refused())),
            ("b", Err(busy)),
            ("c", Ok(DeleteOutcome::Accepted)),
        ]);
        assert!(matches!(decide(&r), Decision::Retry(e) if e.http_status() == Some(503)));
        let gateway_404 = api_error(404, br#"{"error_code":"APIGW.0101","error_msg":"no such API"}"#, None);
        let r = answers(vec![("a", Err(gateway_404))]);
        assert!(
            matches!(decide(&r), Decision::Retry(e) if e.is_bad_gateway()),
            "a gateway 404 is never gone"
        );
        let r = answers(vec![
            ("a", Ok(DeleteOutcome::AlreadyGone)),
            ("b", Ok(DeleteOutcome::AlreadyGone)),
        ]);
        assert!(matches!(decide(&r), Decision::AllGone));
        let r = answers(vec![
            ("a", Ok(DeleteOutcome::AlreadyGone)),
            ("b", Ok(DeleteOutcome::Accepted)),
        ]);
        assert!(matches!(decide(&r), Decision::Pending { refused } if refused.is_empty()));
    }

    #[test]
    fn refusals_are_recorded_in_item_order() {
        let r = answers(vec![
            ("c", Err(refused())),
            ("a", Ok(DeleteOutcome::Accepted)),
            ("b", Err(refused())),
        ]);
        let Decision::Pending { refused } = decide(&r) else {
            panic!()
        };
        let ids: Vec<&str> = refused.iter().map(|r| r.item_id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
    }

    #[test]
    fn sent_timestamp_is_used_within_the_horizon() {
        let now = Utc::now();
        let recent = now - chrono::Duration::minutes(10);
        assert_eq!(received_at(Some(recent), now), recent);
        assert_eq!(received_at(Some(now - chrono::Duration::hours(2)), now), now);
        assert_eq!(received_at(Some(now + chrono::Duration::minutes(1)), now), now);
        assert_eq!(received_at(None, now), now);
        // The horizon's edge: an hour old is too old; a millisecond less is not.
        let hour = chrono::Duration::hours(1);
        assert_eq!(received_at(Some(now - hour), now), now);
        let just = now - hour + chrono::Duration::milliseconds(1);
        assert_eq!(received_at(Some(just), now), just);
        assert_eq!(received_at(Some(now), now), now);
    }
}
