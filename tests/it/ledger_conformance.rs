//! One conformance suite for both ledgers (docs/DESIGN.md, "Decisions"): the in-memory one and
//! DynamoDB on moto. What the in-memory results of the other tests prove depends on it:
//! conditional writes decide once, also when many copies race, and an unreadable record is
//! never a decision.

use std::sync::Arc;

use chrono::Utc;
use csbs_deleter::adapters::dynamodb::DynamoLedger;
use csbs_deleter::adapters::memory::MemoryLedger;
use csbs_deleter::outcome::{Outcome, OutcomeEvent};
use csbs_deleter::ports::ledger::{Attr, Begun, Decided, Item, Ledger, LedgerError, RETENTION, Record, State};
use csbs_deleter::request::DeletionRequest;
use csbs_deleter::task::PendingTask;
use serde_json::json;
use tokio::time::Instant;

use crate::common::aws;

fn soon() -> Instant {
    Instant::now() + std::time::Duration::from_secs(20)
}

fn task(n: usize) -> PendingTask {
    let req = DeletionRequest::from_value(
        &json!({"project_id": "p", "checkpoint_id": format!("c-{n}"), "request_id": format!("r-{n}")}),
    )
    .unwrap();
    PendingTask::new(&req, Utc::now(), 1800)
}

fn decision(t: &PendingTask, outcome: Outcome) -> Record {
    let e = OutcomeEvent::for_task(t, outcome, Utc::now(), Some("absent".into()), None);
    Record::decided(&e, Utc::now()).unwrap()
}

type PutRaw = Box<dyn Fn(Item) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

async fn conformance(ledger: Arc<dyn Ledger>, put_raw: PutRaw, which: &str) {
    // Unknown → none; begin once → new, again → the same record.
    let t = task(1);
    assert_eq!(ledger.get(&t.task_id, soon()).await.unwrap(), None, "{which}");
    let submitted = Record::submitted(&t);
    assert_eq!(ledger.begin(&submitted, soon()).await.unwrap(), Begun::New, "{which}");
    let Begun::Existing(again) = ledger.begin(&submitted, soon()).await.unwrap() else {
        panic!("{which}: a second begin finds the record");
    };
    assert_eq!(
        (again.state, again.deadline.map(|d| d.timestamp())),
        (State::Submitted, Some(t.deadline.timestamp()))
    );
    assert_eq!(again.expires_at, (t.deadline + RETENTION).timestamp(), "{which}: TTL");

    // The first decision wins; a later one gets it back; so does a late begin.
    let completed = decision(&t, Outcome::Completed);
    assert_eq!(
        ledger.decide(&completed, soon()).await.unwrap(),
        Decided::Won,
        "{which}"
    );
    let Decided::Lost(first) = ledger.decide(&decision(&t, Outcome::TimedOut), soon()).await.unwrap() else {
        panic!("{which}: a second decision loses");
    };
    assert_eq!(first.terminal_event(), completed.event.as_ref(), "{which}");
    let Begun::Existing(decided) = ledger.begin(&submitted, soon()).await.unwrap() else {
        panic!("{which}: begin after the decision finds it");
    };
    assert_eq!(
        (decided.state, decided.terminal_event()),
        (State::Completed, completed.event.as_ref())
    );
    assert_eq!(
        ledger.get(&t.task_id, soon()).await.unwrap().unwrap().state,
        State::Completed
    );

    // A task pending from before the ledger (no record) is decided like any other.
    let old = task(2);
    assert_eq!(
        ledger.decide(&decision(&old, Outcome::Failed), soon()).await.unwrap(),
        Decided::Won
    );

    // Many copies racing: one decision, and every loser is handed that one.
    let racing = task(3);
    ledger.begin(&Record::submitted(&racing), soon()).await.unwrap();
    let outcomes = [Outcome::Completed, Outcome::TimedOut, Outcome::Failed];
    let copies = (0..24).map(|i| {
        let ledger = ledger.clone();
        let r = decision(&racing, outcomes[i % 3]);
        tokio::spawn(async move { ledger.decide(&r, soon()).await.unwrap() })
    });
    let results: Vec<Decided> = futures::future::join_all(copies)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        results.iter().filter(|d| **d == Decided::Won).count(),
        1,
        "{which}: exactly one decision"
    );
    let stored = ledger.get(&racing.task_id, soon()).await.unwrap().unwrap();
    for d in &results {
        if let Decided::Lost(first) = d {
            assert_eq!(
                first.terminal_event(),
                stored.terminal_event(),
                "{which}: losers repeat the winner"
            );
        }
    }
    let begins = (0..12).map(|_| {
        let ledger = ledger.clone();
        let r = Record::submitted(&task(4));
        tokio::spawn(async move { ledger.begin(&r, soon()).await.unwrap() })
    });
    let begun: Vec<Begun> = futures::future::join_all(begins)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        begun.iter().filter(|b| **b == Begun::New).count(),
        1,
        "{which}: one begin writes"
    );

    // Unreadable records: every call about them is Corrupt, never a decision or a begin.
    let unknown_state = {
        let mut i = Record::submitted(&task(5)).to_item();
        i.insert("state".into(), Attr::S("deleted".into()));
        i
    };
    let no_event = {
        let mut i = decision(&task(6), Outcome::Completed).to_item();
        i.remove("event");
        i
    };
    for (n, item) in [(5, unknown_state), (6, no_event)] {
        put_raw(item).await;
        let t = task(n);
        let corrupt = |r: Result<(), LedgerError>| matches!(r, Err(LedgerError::Corrupt { .. }));
        assert!(
            corrupt(ledger.get(&t.task_id, soon()).await.map(|_| ())),
            "{which} {n}: get"
        );
        assert!(
            corrupt(ledger.begin(&Record::submitted(&t), soon()).await.map(|_| ())),
            "{which} {n}: begin"
        );
        assert!(
            corrupt(
                ledger
                    .decide(&decision(&t, Outcome::TimedOut), soon())
                    .await
                    .map(|_| ())
            ),
            "{which} {n}: decide"
        );
    }
    selections(ledger.as_ref(), which).await;
}

/// A selection's record (its plan, decided once) and its tasks, read back by selection; no
/// other selection's task among them.
async fn selections(ledger: &dyn Ledger, which: &str) {
    let sel = format!("sel_{:032x}", rand_u128());
    let other = format!("sel_{:032x}", rand_u128());
    let mut tasks = Vec::new();
    for n in 0..3 {
        let mut t = task(100 + n);
        t.task_id = format!("tsk_{:032x}", rand_u128());
        t.selection_id = Some(sel.clone());
        ledger.begin(&Record::submitted(&t), soon()).await.unwrap();
        tasks.push(t);
    }
    let mut foreign = task(200);
    foreign.selection_id = Some(other.clone());
    ledger.begin(&Record::submitted(&foreign), soon()).await.unwrap();
    ledger
        .decide(&decision(&tasks[0], Outcome::Completed), soon())
        .await
        .unwrap();
    ledger
        .decide(&decision(&tasks[1], Outcome::Failed), soon())
        .await
        .unwrap();
    // The selection's own record: its Planned event, decided once.
    let mut plan = OutcomeEvent::for_task(&tasks[2], Outcome::Planned, Utc::now(), None, None);
    plan.task_id = sel.clone();
    plan.event_id = csbs_deleter::outcome::event_id(&sel, Outcome::Planned);
    plan.selection_id = Some(sel.clone());
    let record = Record::decided(&plan, Utc::now()).unwrap();
    assert_eq!(
        ledger.decide(&record, soon()).await.unwrap(),
        Decided::Won,
        "{which}: the plan"
    );
    assert!(
        matches!(ledger.decide(&record, soon()).await.unwrap(), Decided::Lost(_)),
        "{which}: once"
    );
    let got = ledger.get(&sel, soon()).await.unwrap().unwrap();
    assert_eq!(
        (got.state, got.terminal_event().map(|e| e.outcome)),
        (State::Planned, Some(Outcome::Planned)),
        "{which}"
    );
    let mut want: Vec<(String, State)> = vec![
        (tasks[0].task_id.clone(), State::Completed),
        (tasks[1].task_id.clone(), State::Failed),
        (tasks[2].task_id.clone(), State::Submitted),
    ];
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        ledger.by_selection(&sel, soon()).await.unwrap(),
        want,
        "{which}: by selection"
    );
    assert_eq!(ledger.by_selection(&other, soon()).await.unwrap().len(), 1, "{which}");
    assert!(
        ledger.by_selection("sel_unknown", soon()).await.unwrap().is_empty(),
        "{which}"
    );
}

fn rand_u128() -> u128 {
    uuid::Uuid::new_v4().as_u128()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_ledger_conforms() {
    let ledger = Arc::new(MemoryLedger::new());
    let raw = ledger.clone();
    let put_raw: PutRaw = Box::new(move |item| {
        raw.put_raw(item);
        Box::pin(async {})
    });
    conformance(ledger, put_raw, "memory").await;
}

/// A ledger table on moto as the template creates it (key `task_id`, TTL on `expires_at`).
pub async fn ledger_table() -> (aws_sdk_dynamodb::Client, String) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
        ScalarAttributeType, TimeToLiveSpecification,
    };
    let client = aws_sdk_dynamodb::Client::new(&aws().await);
    let name = format!("ledger-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("task_id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("selection_id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("task_id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        // As template.yaml's LedgerTable: the selections' index, projecting the state.
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(csbs_deleter::ports::ledger::SELECTION_INDEX)
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name("selection_id")
                        .key_type(KeyType::Hash)
                        .build()
                        .unwrap(),
                )
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .non_key_attributes("state")
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    client
        .update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    (client, name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_ledger_on_moto_conforms() {
    require_moto!();
    let (client, table) = ledger_table().await;
    let ledger = Arc::new(DynamoLedger::new(client.clone(), table.clone()));
    let put_raw: PutRaw = Box::new(move |item: Item| {
        let (client, table) = (client.clone(), table.clone());
        Box::pin(async move {
            let item = item
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Attr::S(s) => aws_sdk_dynamodb::types::AttributeValue::S(s),
                        Attr::N(n) => aws_sdk_dynamodb::types::AttributeValue::N(n),
                    };
                    (k, v)
                })
                .collect();
            client
                .put_item()
                .table_name(table)
                .set_item(Some(item))
                .send()
                .await
                .unwrap();
        })
    });
    conformance(ledger, put_raw, "dynamodb").await;
}
