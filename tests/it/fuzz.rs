//! Property-based fuzzing (proptest): the request parser, the event dispatch and the CSBS
//! response models never panic and always give a clear error. The number of cases per property
//! is `PROPTEST_CASES` (proptest's default 256 in CI; `scripts/bench.sh` runs a longer round).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use csbs_deleter::adapters::memory::MemoryQueue;
use csbs_deleter::adapters::memory::MemorySink;
use csbs_deleter::cbr::models::{BackupEnvelope, BackupListEnvelope, OperationLogListEnvelope, RestorePointEnvelope};
use csbs_deleter::cloud::ClientConfig;
use csbs_deleter::cloud::signer::{SignInput, canonical_query, canonical_uri, parse_authorization};
use csbs_deleter::csbs::CsbsClient;
use csbs_deleter::csbs::models::{CheckpointEnvelope, CountEnvelope, ItemEnvelope, ListEnvelope};
use csbs_deleter::ids::validate_id;
use csbs_deleter::lambda::dispatch;
use csbs_deleter::ports::sink::EventSink;
use csbs_deleter::request::{DeletionRequest, MAX_CONTEXT_BYTES};
use csbs_deleter::secret::Secret;
use csbs_deleter::sim::{self, RunningSim, SimConfig, Simulator};
use csbs_deleter::submit::{SubmitSettings, Submitter};
use csbs_deleter::task::task_id;
use csbs_deleter::webhook::{self, WebhookPolicy};
use csbs_deleter::wiring::SubmitApp;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[A-Za-z0-9_/.?%-]{0,70}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,16}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Request-shaped objects: known and unknown field names with values of any type.
fn arb_request() -> impl Strategy<Value = Value> {
    let name = prop_oneof![
        Just("project_id".to_string()),
        Just("checkpoint_id".to_string()),
        Just("checkpoint_items".to_string()),
        Just("provider_id".to_string()),
        Just("service".to_string()),
        Just("backup_id".to_string()),
        Just("backup_ids".to_string()),
        Just("request_id".to_string()),
        Just("timeout_seconds".to_string()),
        Just("context".to_string()),
        "[a-z_]{1,16}",
    ];
    prop::collection::btree_map(name, arb_json(), 0..8).prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn arb_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,64}"
}

/// Requests that must be accepted: every field valid, optional ones present or not.
fn arb_valid_request() -> impl Strategy<Value = Value> {
    (
        arb_id(),
        arb_id(),
        prop::option::of(prop_oneof![
            arb_id().prop_map(Value::String),
            prop::collection::vec(arb_id(), 1..6).prop_map(|v| json!(v)),
        ]),
        prop::option::of(arb_id()),
        prop::option::of("[ -~]{1,128}"),
        prop::option::of(1u64..=86_400),
        prop::option::of(prop::collection::btree_map("[a-z]{1,8}", "[ -~]{0,40}", 0..5)),
    )
        .prop_map(|(project, checkpoint, items, provider, request_id, timeout, context)| {
            let mut v = json!({"project_id": project, "checkpoint_id": checkpoint});
            if let Some(i) = items {
                v["checkpoint_items"] = i;
            }
            if let Some(p) = provider {
                v["provider_id"] = json!(p);
            }
            if let Some(r) = request_id {
                v["request_id"] = json!(r);
            }
            if let Some(t) = timeout {
                v["timeout_seconds"] = json!(t);
            }
            if let Some(c) = context {
                v["context"] = json!(c);
            }
            v
        })
}

/// Valid CBR requests: `service: cbr` with exactly one target form, optional fields as for CSBS.
fn arb_valid_cbr_request() -> impl Strategy<Value = Value> {
    (
        arb_id(),
        prop_oneof![
            arb_id().prop_map(|b| ("backup_id", json!(b))),
            prop::collection::vec(arb_id(), 1..=100).prop_map(|b| ("backup_ids", json!(b))),
            arb_id().prop_map(|c| ("checkpoint_id", json!(c))),
        ],
        prop::option::of("[ -~]{1,128}"),
        prop::option::of(1u64..=86_400),
    )
        .prop_map(|(project, (form, target), request_id, timeout)| {
            let mut v = json!({"service": "cbr", "project_id": project});
            v[form] = target;
            if let Some(r) = request_id {
                v["request_id"] = json!(r);
            }
            if let Some(t) = timeout {
                v["timeout_seconds"] = json!(t);
            }
            v
        })
}

/// `REGIONS` values: mostly objects of region entries, some well formed, some not.
fn arb_regions() -> impl Strategy<Value = Value> {
    let url = prop_oneof![
        Just(json!("https://cbr.eu-nl.otc.t-systems.com")),
        Just(json!("http://127.0.0.1:9000")),
        Just(json!("http://cbr.example.com")),
        Just(json!("https://x/v3")),
        "[ -~]{0,20}".prop_map(|s| json!(s)),
        arb_json(),
    ];
    let key = prop_oneof![
        Just("cbr".to_string()),
        Just("csbs".to_string()),
        Just("iam".to_string()),
        "[a-z]{1,5}"
    ];
    let entry = prop_oneof![
        prop::collection::btree_map(key, url, 0..4).prop_map(|m| json!(m)),
        arb_json(),
    ];
    let name = prop_oneof![Just("eu-de".to_string()), "[a-z0-9-]{1,12}", "[ -~]{0,12}"];
    prop_oneof![
        prop::collection::btree_map(name, entry, 0..4).prop_map(|m| json!(m)),
        arb_json(),
    ]
}

/// One field of a CBR request made invalid: a bad backup id or list, a CSBS-only field, a
/// second target form, a bad service.
fn arb_bad_cbr_field() -> impl Strategy<Value = (String, Value)> {
    prop_oneof![
        prop_oneof![
            Just(json!([])),
            arb_bad_id().prop_map(|b| json!(["ok-backup", b])),
            Just(json!((0..101).map(|i| format!("b{i}")).collect::<Vec<_>>())),
            Just(json!("one-string")),
        ]
        .prop_map(|v| ("backup_ids".to_string(), v)),
        Just(("checkpoint_items".to_string(), json!(["i"]))),
        Just((
            "provider_id".to_string(),
            json!(csbs_deleter::csbs::DEFAULT_PROVIDER_ID)
        )),
        prop_oneof![Just(json!("CBR")), Just(json!("vbs")), Just(json!(1)), Just(json!(""))]
            .prop_map(|v| ("service".to_string(), v)),
        arb_bad_id().prop_map(|v| ("project_id".to_string(), v)),
    ]
}

/// An id that must be refused: empty, too long, a character outside `[A-Za-z0-9_-]`, or not a
/// string at all.
fn arb_bad_id() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("")),
        "[A-Za-z0-9]{65,80}".prop_map(Value::String),
        ("[A-Za-z0-9]{0,10}", "[/?%.#& \\:@+=\u{e9}\u{0}]", "[A-Za-z0-9]{0,10}")
            .prop_map(|(a, c, b)| Value::String(format!("{a}{c}{b}"))),
        Just(json!(42)),
        Just(json!(true)),
        Just(json!(["a"])),
        Just(json!({"id": "a"})),
    ]
}

/// One field name and a value that is invalid for it (or a misspelt field name).
fn arb_bad_field() -> impl Strategy<Value = (String, Value)> {
    let id_field = prop::sample::select(vec!["project_id", "checkpoint_id", "provider_id"]);
    prop_oneof![
        (id_field, arb_bad_id()).prop_map(|(f, v)| (f.to_string(), v)),
        prop_oneof![
            Just(json!([])),
            arb_bad_id().prop_map(|b| json!(["ok-item", b])),
            arb_bad_id()
                .prop_filter("a string or a non-list", |b| !b.is_array())
                .prop_map(|b| match b {
                    Value::String(s) => json!(s),
                    other => other,
                }),
        ]
        .prop_map(|v| ("checkpoint_items".to_string(), v)),
        prop_oneof![
            Just(json!("")),
            "[ -~]{129,140}".prop_map(Value::String),
            ("[a-z]{0,5}", "[\u{0}-\u{1f}\u{7f}\u{e9}]").prop_map(|(a, c)| Value::String(format!("{a}{c}"))),
            Just(json!(7)),
        ]
        .prop_map(|v| ("request_id".to_string(), v)),
        prop_oneof![
            Just(json!(0)),
            Just(json!(-1)),
            (86_401u64..u64::MAX).prop_map(|t| json!(t)),
            Just(json!(1.5)),
            Just(json!("60")),
            Just(json!([60])),
        ]
        .prop_map(|v| ("timeout_seconds".to_string(), v)),
        prop_oneof![
            Just(json!([1])),
            Just(json!("x")),
            Just(json!(3)),
            Just(json!({"big": "x".repeat(MAX_CONTEXT_BYTES)})),
        ]
        .prop_map(|v| ("context".to_string(), v)),
        prop::sample::select(vec![
            "checkpoint_item",
            "checkpointItems",
            "project",
            "items",
            "timeout",
            "Context",
            "dryrun"
        ])
        .prop_map(|f| (f.to_string(), json!("x"))),
    ]
}

const ERROR_CODES: [&str; 4] = ["invalid_json", "invalid_request", "unknown_field", "context_too_large"];

proptest! {
    #[test]
    fn request_parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for r in [DeletionRequest::from_json(&bytes), DeletionRequest::from_sqs_body(&String::from_utf8_lossy(&bytes))] {
            if let Err(e) = r {
                prop_assert!(ERROR_CODES.contains(&e.code.as_str()));
                prop_assert!(!e.message.is_empty());
            }
        }
    }

    #[test]
    fn arbitrary_request_objects_are_refused_with_a_known_code(v in arb_request()) {
        if let Err(e) = DeletionRequest::from_value(&v) {
            prop_assert!(ERROR_CODES.contains(&e.code.as_str()));
            prop_assert!(!e.message.is_empty());
        }
    }

    /// Generated valid requests parse, hold only safe ids, and give the same task id however
    /// they arrive (plain SQS body, EventBridge envelope, SNS notification).
    #[test]
    fn valid_requests_parse_and_hold_only_safe_ids(v in arb_valid_request()) {
        let r = DeletionRequest::from_value(&v);
        prop_assert!(r.is_ok(), "{v}: {:?}", r.err());
        let r = r.unwrap();
        for id in [Some(&r.project_id), r.checkpoint_id.as_ref(), r.provider_id.as_ref()] {
            prop_assert!(id.is_some_and(|id| validate_id("id", id).is_ok()));
        }
        if let Some(items) = &r.checkpoint_items {
            prop_assert!(!items.is_empty());
            prop_assert!(items.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
            prop_assert!(items.iter().all(|i| validate_id("item", i).is_ok()));
        }
        if let Some(c) = &r.context {
            prop_assert!(serde_json::to_vec(c).unwrap().len() <= MAX_CONTEXT_BYTES);
        }
        let id = task_id(&r);
        let eb = json!({"version": "0", "id": "e", "detail-type": "t", "source": "caller", "detail": v});
        let sns = json!({"Type": "Notification", "MessageId": "m", "Message": eb.to_string()});
        for body in [v.to_string(), eb.to_string(), sns.to_string()] {
            let again = DeletionRequest::from_sqs_body(&body);
            prop_assert!(again.is_ok(), "{body}");
            prop_assert_eq!(task_id(&again.unwrap()), id.clone());
        }
    }

    /// A valid request with exactly one field made invalid is refused, and the error names
    /// that field: a mistyped or out-of-range field never passes silently.
    #[test]
    fn one_invalid_field_is_refused_and_named(v in arb_valid_request(), (field, bad) in arb_bad_field()) {
        let mut v = v;
        v[field.as_str()] = bad.clone();
        let r = DeletionRequest::from_value(&v);
        prop_assert!(r.is_err(), "{field} = {bad} was accepted");
        let e = r.unwrap_err();
        prop_assert_eq!(e.field.as_deref(), Some(field.as_str()), "{} = {}: {:?}", field, bad, e);
        prop_assert!(ERROR_CODES.contains(&e.code.as_str()));
        prop_assert!(e.message.contains(field.as_str()) || e.code == "unknown_field" || e.code == "context_too_large", "{}", e.message);
    }

    /// The same for CBR: a valid CBR request with one field made invalid is refused naming
    /// it (replacing or adding a field; a second target form is named too).
    #[test]
    fn cbr_one_invalid_field_is_refused_and_named(v in arb_valid_cbr_request(), (field, bad) in arb_bad_cbr_field()) {
        let mut v = v;
        let has_other_form = ["backup_id", "backup_ids", "checkpoint_id"].iter().any(|f| *f != field && v.get(*f).is_some());
        v[field.as_str()] = bad.clone();
        let r = DeletionRequest::from_value(&v);
        prop_assert!(r.is_err(), "{field} = {bad} was accepted: {v}");
        let e = r.unwrap_err();
        if field == "backup_ids" && has_other_form {
            // Two target forms: refused, naming one of them.
            prop_assert!(["backup_id", "backup_ids", "checkpoint_id"].contains(&e.field.as_deref().unwrap_or("")), "{e:?}");
        } else {
            prop_assert_eq!(e.field.as_deref(), Some(field.as_str()), "{} = {}: {:?}", field, bad, e);
        }
        prop_assert!(ERROR_CODES.contains(&e.code.as_str()));
    }

    /// Valid CBR requests parse into backups or a restore point, never both, with safe ids,
    /// and the same task id through every envelope; never the task id of a CSBS request.
    #[test]
    fn valid_cbr_requests_parse(v in arb_valid_cbr_request()) {
        let r = DeletionRequest::from_value(&v);
        prop_assert!(r.is_ok(), "{v}: {:?}", r.err());
        let r = r.unwrap();
        prop_assert!(r.backup_ids.is_some() != r.checkpoint_id.is_some());
        prop_assert!(r.provider_id.is_none() && r.checkpoint_items.is_none());
        if let Some(b) = &r.backup_ids {
            prop_assert!(!b.is_empty() && b.len() <= 100 && b.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(b.iter().all(|i| validate_id("b", i).is_ok()));
        }
        let id = task_id(&r);
        let eb = json!({"version": "0", "id": "e", "detail-type": "t", "source": "caller", "detail": v});
        prop_assert_eq!(task_id(&DeletionRequest::from_sqs_body(&eb.to_string()).unwrap()), id.clone());
        if let Some(c) = &r.checkpoint_id {
            let mut csbs = v.clone();
            csbs.as_object_mut().unwrap().remove("service");
            csbs["checkpoint_id"] = json!(c);
            let as_csbs = DeletionRequest::from_value(&csbs);
            prop_assert!(as_csbs.is_ok_and(|c| task_id(&c) != id), "CSBS and CBR tasks never share an id");
        }
    }

    /// Any `REGIONS` value: start-up either takes it, holding only valid names with https (or
    /// loopback http) endpoints, or refuses it naming `REGIONS` — never a panic, never a table
    /// that would send a call to a plain-http host.
    #[test]
    fn regions_values_are_taken_or_refused_by_name(v in arb_regions()) {
        let text = v.to_string();
        match csbs_deleter::region::parse_regions(&text, "eu-de") {
            Ok(table) => {
                for (name, r) in &table {
                    prop_assert!(csbs_deleter::region::valid_region_name(name) && name != "eu-de");
                    prop_assert!(!r.services.is_empty());
                    for url in r.services.values().chain(r.iam.iter()) {
                        prop_assert!(url.scheme() == "https" || url.host_str() == Some("127.0.0.1"), "{url}");
                    }
                }
            }
            Err(e) => prop_assert!(e.path.starts_with("REGIONS"), "{e}"),
        }
        let raw = csbs_deleter::region::parse_regions(&String::from_utf8_lossy(text.as_bytes()[..text.len() / 2].as_ref()), "eu-de");
        prop_assert!(raw.is_err() || text.len() < 4);
    }

    /// Any `region` value: a request takes a valid name (and a different one makes a
    /// different task), refuses anything else naming `region`.
    #[test]
    fn a_request_region_is_a_name_or_refused(v in arb_valid_cbr_request(), region in arb_json(), name in "[a-z0-9][a-z0-9-]{0,31}") {
        let mut with = v.clone();
        with["region"] = region.clone();
        match DeletionRequest::from_value(&with) {
            Ok(r) => prop_assert!(region.is_null() || r.region.as_deref().is_some_and(csbs_deleter::region::valid_region_name)),
            Err(e) => prop_assert_eq!(e.field.as_deref(), Some("region"), "{}", e),
        }
        let mut named = v.clone();
        named["region"] = json!(name);
        let plain = DeletionRequest::from_value(&v).unwrap();
        let named = DeletionRequest::from_value(&named).unwrap();
        prop_assert_ne!(task_id(&plain), task_id(&named));
    }

    #[test]
    fn cbr_models_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), v in arb_json(), status in 100u16..600) {
        let text = v.to_string();
        for input in [bytes.as_slice(), text.as_bytes()] {
            let _ = serde_json::from_slice::<BackupEnvelope>(input);
            let _ = serde_json::from_slice::<BackupListEnvelope>(input);
            let _ = serde_json::from_slice::<OperationLogListEnvelope>(input);
            let _ = serde_json::from_slice::<RestorePointEnvelope>(input);
            let e = csbs_deleter::cloud::error::api_error(status, input, None);
            let _ = csbs_deleter::cbr::error::classify(&e);
        }
        let wrapped = json!({"backup": v.clone(), "backups": [v.clone()], "operation_logs": [v.clone()], "checkpoint": v.clone()});
        if let Ok(env) = serde_json::from_value::<BackupEnvelope>(wrapped.clone()) && let Some(b) = env.backup {
            let _ = csbs_deleter::cbr::state::backup_state(Some(&b));
            let _ = (b.created(), b.resource_size_gb());
        }
        if let Ok(env) = serde_json::from_value::<OperationLogListEnvelope>(wrapped) {
            let logs = env.operation_logs.unwrap_or_default();
            let _ = csbs_deleter::cbr::state::error_state("b", &logs, chrono::Utc::now());
        }
        if let Value::String(t) = &v {
            let _ = csbs_deleter::cbr::models::parse_time(t);
        }
    }

    #[test]
    fn envelopes_never_panic(detail in arb_request(), as_sns in any::<bool>()) {
        let eb = json!({"version": "0", "id": "x", "detail-type": "t", "source": "s", "detail": detail});
        let body = if as_sns { json!({"Type": "Notification", "Message": eb.to_string()}) } else { eb };
        let _ = DeletionRequest::from_sqs_body(&body.to_string());
    }

    #[test]
    fn csbs_models_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), v in arb_json(), status in 100u16..600) {
        let text = v.to_string();
        for input in [bytes.as_slice(), text.as_bytes()] {
            let _ = serde_json::from_slice::<ItemEnvelope>(input);
            let _ = serde_json::from_slice::<ListEnvelope>(input);
            let _ = serde_json::from_slice::<CountEnvelope>(input);
            let _ = serde_json::from_slice::<CheckpointEnvelope>(input);
            let e = csbs_deleter::cloud::error::api_error(status, input, None);
            prop_assert!(!e.code().is_empty());
            let _ = e.class();
        }
        let wrapped = json!({"checkpoint_item": v.clone(), "checkpoint_items": [v.clone()], "count": v});
        let _ = serde_json::from_value::<ItemEnvelope>(wrapped.clone());
        let _ = serde_json::from_value::<ListEnvelope>(wrapped);
    }

    #[test]
    fn signer_round_trips_and_never_panics(path in "(/[A-Za-z0-9%._~-]{0,12}){0,5}", query in "[A-Za-z0-9=&%+._~-]{0,40}", s in any::<String>()) {
        let _ = parse_authorization(&s);
        let _ = canonical_query(&s);
        let _ = canonical_uri(&s);
        let headers = vec![("Host".to_string(), "h".to_string()), ("X-Sdk-Date".to_string(), "20260101T000000Z".to_string())];
        let input = SignInput { method: "GET", path: &path, raw_query: &query, headers: &headers, body: b"" };
        let auth = input.authorization("AK", "SK", "20260101T000000Z");
        let parsed = parse_authorization(&auth).unwrap();
        prop_assert_eq!(parsed.signature, input.signature("SK", "20260101T000000Z"));
        prop_assert_eq!(parsed.signed_headers, vec!["host".to_string(), "x-sdk-date".to_string()]);
    }

    #[test]
    fn webhook_verification_is_total(header in any::<String>(), payload in prop::collection::vec(any::<u8>(), 0..256), flip in any::<prop::sample::Index>()) {
        let secret = Secret::new("fuzz-webhook-secret-0123456789");
        let policy = WebhookPolicy::Secret(secret.clone());
        fn req(body: &[u8]) -> webhook::Signed<'_> {
            webhook::Signed { method: "POST", path: "/deletions", query: "", body }
        }
        prop_assert!(webhook::verify(&policy, Some(&header), &req(&payload), 1_700_000_000).is_err() || header.starts_with("t="));
        let good = webhook::sign(&secret, 1_700_000_000, &req(&payload));
        prop_assert!(webhook::verify(&policy, Some(&good), &req(&payload), 1_700_000_000).is_ok());
        // The same header never authorizes another route or method.
        for other in [
            webhook::Signed { method: "DELETE", ..req(&payload) },
            webhook::Signed { path: "/deletions/status", ..req(&payload) },
            webhook::Signed { query: "project_id=p", ..req(&payload) },
        ] {
            prop_assert!(webhook::verify(&policy, Some(&good), &other, 1_700_000_000).is_err());
        }
        if !payload.is_empty() {
            let mut tampered = payload.clone();
            let i = flip.index(tampered.len());
            tampered[i] ^= 0x01;
            prop_assert!(webhook::verify(&policy, Some(&good), &req(&tampered), 1_700_000_000).is_err());
        }
    }
}

/// One runtime, simulator and apps for the dispatch properties (they outlive the cases):
/// `app` allows unsigned HTTP, `signed` requires signatures with [`FUZZ_SECRET`].
struct Harness {
    rt: tokio::runtime::Runtime,
    app: SubmitApp,
    signed: SubmitApp,
    sink: Arc<MemorySink>,
    _sim: RunningSim,
}

const FUZZ_SECRET: &str = "fuzz-webhook-secret-for-the-signed-route";

/// The v2 `X-Signature-256` of a `POST /deletions`, computed with the hmac crate
/// (independently of `webhook::sign`).
fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}\nPOST\n/deletions\n\n").as_bytes());
    mac.update(body);
    format!("t={t},v2={}", hex::encode(mac.finalize().into_bytes()))
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (app, signed, sink, sim) = rt.block_on(async {
            let sim = Simulator::start(SimConfig::default()).await.unwrap();
            sim.sim.seed_demo();
            let creds = sim::demo_aksk();
            let mut cc = ClientConfig::new(sim.base_url(), sim.base_url(), creds).with_cbr(sim.base_url());
            cc.retry.max_attempts = 1;
            let csbs = CsbsClient::new(cc).unwrap();
            let sink = Arc::new(MemorySink::new());
            let submitter = || {
                Submitter::new(
                    csbs.clone(),
                    Arc::new(MemoryQueue::new(Duration::from_secs(30))),
                    sink.clone() as Arc<dyn EventSink>,
                    std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
                    SubmitSettings::default(),
                )
            };
            let app = SubmitApp::new(submitter(), WebhookPolicy::AllowUnsigned);
            let signed = SubmitApp::new(submitter(), WebhookPolicy::Secret(Secret::new(FUZZ_SECRET)));
            (app, signed, sink, sim)
        });
        Harness {
            rt,
            app,
            signed,
            sink,
            _sim: sim,
        }
    })
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap())
        .unwrap()
}

fn context() -> lambda_runtime::Context {
    let mut c = lambda_runtime::Context::default();
    c.deadline = (std::time::SystemTime::now() + Duration::from_secs(5))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    c
}

/// A fixture with one field replaced (or removed, for Null) somewhere in it.
fn mutate(mut v: Value, path: &[String], new: Value) -> Value {
    mutate_at(&mut v, path, new);
    v
}

fn mutate_at(v: &mut Value, path: &[String], new: Value) {
    let Some((k, rest)) = path.split_first() else {
        *v = new;
        return;
    };
    match v {
        Value::Object(m) if !m.is_empty() => {
            let key = m.keys().nth(k.len() % m.len()).unwrap().clone();
            if rest.is_empty() && new.is_null() {
                m.remove(&key);
            } else {
                mutate_at(m.get_mut(&key).unwrap(), rest, new);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            let n = k.len() % a.len();
            mutate_at(&mut a[n], rest, new);
        }
        other => *other = new,
    }
}

/// A valid request that CSBS can serve: a `provider_id`, when given, is CSBS's own (CSBS
/// refuses any other with 400 CSBS.9001, and so does the simulator).
fn servable(mut v: Value) -> Value {
    if v.get("provider_id").is_some() {
        v["provider_id"] = json!(csbs_deleter::csbs::DEFAULT_PROVIDER_ID);
    }
    v
}

/// A path of the HTTP API: a real route with valid or invalid ids, under an optional stage
/// prefix, or now and then an arbitrary one.
fn arb_route_path() -> impl Strategy<Value = String> {
    let seg = prop_oneof![3 => arb_id(), 1 => "[A-Za-z0-9%._~{}-]{0,20}"];
    let route = prop_oneof![
        Just("/deletions".to_string()),
        Just("/deletions/status".to_string()),
        (seg.clone(), seg.clone(), seg.clone()).prop_map(|(p, v, c)| format!("/v1/{p}/providers/{v}/checkpoints/{c}")),
        (arb_id(), arb_id())
            .prop_map(|(p, c)| format!("/v1/{p}/providers/fc4d5750-22e7-4798-8a46-f48f62c4c1da/checkpoints/{c}")),
        (seg.clone(), seg).prop_map(|(p, b)| format!("/v3/{p}/backups/{b}")),
        (arb_id(), arb_id()).prop_map(|(p, b)| format!("/v3/{p}/backups/{b}")),
    ];
    prop_oneof![
        4 => (prop::option::of(prop::sample::select(vec!["/prod", "/v1", "/$default", "/stage-1"])), route)
            .prop_map(|(stage, r)| format!("{}{r}", stage.unwrap_or(""))),
        1 => "(/[A-Za-z0-9%._~{}-]{0,20}){0,8}",
    ]
}

const NAMES: [&str; 8] = [
    "sqs.json",
    "apigw-rest.json",
    "http-api-v2.json",
    "http-api-v2-status.json",
    "function-url.json",
    "alb.json",
    "schedule-v2.json",
    "scheduled-event.json",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(128), ..ProptestConfig::default() })]

    #[test]
    fn dispatch_never_panics_on_mutated_fixtures(which in 0usize..NAMES.len(), path in prop::collection::vec("[a-z]{0,6}", 1..5), new in arb_json()) {
        let h = harness();
        let payload = mutate(fixture(NAMES[which]), &path, new);
        let shape = dispatch::shape_of(&payload);
        if let Some(s) = shape {
            let _ = dispatch::raw_query(&payload, s);
        }
        let event = lambda_runtime::LambdaEvent::new(payload, context());
        let result = h.rt.block_on(dispatch::handle(&h.app, event));
        match (shape, result) {
            (Some(dispatch::Shape::Sqs), Ok(v)) => prop_assert!(v["batchItemFailures"].is_array()),
            (Some(_), Ok(v)) => {
                let code = v["statusCode"].as_u64().unwrap_or(0);
                prop_assert!([200, 202, 400, 401, 403, 404, 405, 413, 502, 503].contains(&code), "{v}");
            }
            (_, Err(e)) => prop_assert!(!e.to_string().is_empty()),
            (None, Ok(v)) => prop_assert!(false, "an unsupported payload was answered: {v}"),
        }
    }

    #[test]
    fn dispatch_never_panics_on_any_json(v in arb_json()) {
        let h = harness();
        let event = lambda_runtime::LambdaEvent::new(v, context());
        let _ = h.rt.block_on(dispatch::handle(&h.app, event));
    }

    /// Paths built from the real routes (with and without a stage prefix, valid and invalid
    /// ids), so that requests reach the router's handlers and their bodies and queries are
    /// parsed; every answer is a known status with an error body for every refusal.
    #[test]
    fn http_routes_answer_any_path_query_and_body(
        method in prop::sample::select(vec!["GET", "POST", "DELETE", "PUT", "PATCH"]),
        path in arb_route_path(),
        query in prop_oneof![
            "[A-Za-z0-9=&%+,._~-]{0,60}",
            (arb_id(), arb_id()).prop_map(|(p, c)| format!("project_id={p}&checkpoint_id={c}")),
            arb_id().prop_map(|i| format!("checkpoint_items={i}")),
            (arb_id(), arb_id()).prop_map(|(p, b)| format!("service=cbr&project_id={p}&backup_id={b}")),
        ],
        body in prop_oneof![
            Just(None),
            any::<String>().prop_map(Some),
            arb_valid_request().prop_map(|v| Some(v.to_string())),
        ],
    ) {
        let h = harness();
        let mut ev = fixture("http-api-v2.json");
        ev["requestContext"]["http"]["method"] = json!(method);
        ev["rawPath"] = json!(path);
        ev["requestContext"]["http"]["path"] = json!(path);
        ev["rawQueryString"] = json!(query);
        ev["body"] = body.map(Value::String).unwrap_or(Value::Null);
        let v = h.rt.block_on(dispatch::handle(&h.app, lambda_runtime::LambdaEvent::new(ev, context()))).unwrap();
        let code = v["statusCode"].as_u64().unwrap();
        prop_assert!([200, 202, 400, 401, 403, 404, 405, 413, 502, 503].contains(&code), "{v}");
        if code >= 400 {
            let body: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
            prop_assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{body}");
        }
    }

    /// The signed route with a real secret: a correct signature over a valid body is served
    /// (the backups do not exist: 200 completed); a tampered body, another key, or a timestamp
    /// outside ±300 s (any i64, the extremes included) is 401 and reaches nothing.
    #[test]
    fn signed_route_accepts_only_correct_fresh_signatures(
        req in arb_valid_request(),
        flip in any::<prop::sample::Index>(),
        skew in prop_oneof![-300i64..=300, any::<i64>(), Just(i64::MIN), Just(i64::MAX)],
        name in prop::sample::select(vec!["http-api-v2.json", "apigw-rest.json", "function-url.json", "alb.json"]),
    ) {
        let h = harness();
        let body = servable(req).to_string();
        let now = chrono::Utc::now().timestamp();
        let send = |header: String, body: &str| {
            let mut ev = fixture(name);
            if name == "alb.json" {
                // The ALB sample is a mirror DELETE; make it a POST /deletions with a body.
                ev["httpMethod"] = json!("POST");
                ev["path"] = json!("/deletions");
                ev.as_object_mut().unwrap().remove("queryStringParameters");
            }
            ev["body"] = json!(body);
            ev["headers"]["x-signature-256"] = json!(header);
            if ev.get("multiValueHeaders").is_some_and(Value::is_object) {
                ev["multiValueHeaders"]["x-signature-256"] = json!([header]);
            }
            let v = h.rt.block_on(dispatch::handle(&h.signed, lambda_runtime::LambdaEvent::new(ev, context()))).unwrap();
            let code = v["statusCode"].as_u64().unwrap();
            let answer: Value = serde_json::from_str(v["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
            (code, answer)
        };
        let (code, answer) = send(signature(FUZZ_SECRET, now, body.as_bytes()), &body);
        prop_assert!(code == 200 || code == 202, "{name}: {code} {answer}");
        // One byte of the body changed (kept valid UTF-8 by flipping within ASCII).
        let mut tampered = body.clone().into_bytes();
        let i = flip.index(tampered.len());
        tampered[i] = if tampered[i] == b'a' { b'b' } else { b'a' };
        let tampered = String::from_utf8(tampered).unwrap();
        if tampered != body {
            let (code, answer) = send(signature(FUZZ_SECRET, now, body.as_bytes()), &tampered);
            prop_assert_eq!((code, answer["error"]["code"].as_str()), (401, Some("signature_invalid")));
        }
        let (code, answer) = send(signature("another-key", now, body.as_bytes()), &body);
        prop_assert_eq!((code, answer["error"]["code"].as_str()), (401, Some("signature_invalid")));
        let t = now.saturating_add(skew);
        let (code, answer) = send(signature(FUZZ_SECRET, t, body.as_bytes()), &body);
        let off = (i128::from(t) - i128::from(now)).abs();
        if off <= 299 {
            prop_assert!(code == 200 || code == 202, "t={t}: {code} {answer}");
        } else if off > 301 {
            prop_assert_eq!((code, answer["error"]["code"].as_str()), (401, Some("signature_expired")), "t={}", t);
        }
    }

    /// SQS batches built from the real fixture, of valid and one-field-broken requests: every
    /// record is answered (valid ones end Completed: their backups do not exist; broken ones
    /// Rejected), nothing is reported for redelivery, and each record yields its event.
    #[test]
    fn sqs_batches_of_valid_and_broken_requests(
        reqs in prop::collection::vec((arb_valid_request(), prop::option::of(arb_bad_field())), 1..10),
    ) {
        let h = harness();
        let mut ev = fixture("sqs.json");
        let template = ev["Records"][0].clone();
        let mut expected = std::collections::BTreeMap::new();
        ev["Records"] = reqs.iter().enumerate().map(|(i, (v, bad))| {
            let mut v = servable(v.clone());
            let outcome = match bad {
                Some((field, value)) => { v[field.as_str()] = value.clone(); "rejected" }
                None => "completed",
            };
            let body = v.to_string();
            let task = match DeletionRequest::from_sqs_body(&body) {
                Ok(r) => task_id(&r),
                Err(_) => csbs_deleter::request::task_id_of_raw(body.as_bytes()),
            };
            expected.insert(task, outcome);
            let mut r = template.clone();
            r["messageId"] = json!(format!("fz-{i}"));
            r["body"] = json!(body);
            r
        }).collect();
        let mut events = h.sink.subscribe();
        let v = h.rt.block_on(dispatch::handle(&h.app, lambda_runtime::LambdaEvent::new(ev, context()))).unwrap();
        prop_assert_eq!(&v["batchItemFailures"], &json!([]), "{}", v);
        let mut seen = std::collections::BTreeMap::new();
        while let Ok(e) = events.try_recv() {
            seen.insert(e.task_id.clone(), e.outcome.as_str());
        }
        for (task, outcome) in &expected {
            prop_assert_eq!(seen.get(task).copied(), Some(*outcome), "{}", task);
        }
    }
}

/// Regression (found by `dispatch_never_panics_on_mutated_fixtures`): lambda_http panics when
/// a payload's path or host cannot form a URI; the function answers 400 in the origin's shape.
#[test]
fn invalid_uri_is_a_400_not_a_panic() {
    let h = harness();
    // A host that cannot be part of a URI makes lambda_http panic: contained, answered 400.
    for (name, host) in [
        ("alb.json", "bad host name"),
        ("function-url.json", "a{b}"),
        ("apigw-rest.json", "x y"),
    ] {
        let mut ev = fixture(name);
        ev["headers"]["host"] = json!(host);
        if ev.get("multiValueHeaders").is_some() {
            ev["multiValueHeaders"]["host"] = json!([host]);
            ev["headers"]["Host"] = json!(host);
            ev["multiValueHeaders"]["Host"] = json!([host]);
        }
        let v =
            h.rt.block_on(dispatch::handle(
                &h.app,
                lambda_runtime::LambdaEvent::new(ev, context()),
            ))
            .unwrap();
        assert_eq!(v["statusCode"], 400, "{name}: {v}");
        let body: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "invalid_request", "{name}");
        if name == "alb.json" {
            assert_eq!(v["statusDescription"], "400 Bad Request", "answered in the ALB shape");
        }
    }
    // Odd paths are lambda_http's to encode; they reach the router and miss every route.
    for (name, field, path) in [
        ("http-api-v2.json", "/rawPath", "/dele tions"),
        ("apigw-rest.json", "/path", "/x\ny"),
    ] {
        let mut ev = fixture(name);
        *ev.pointer_mut(field).unwrap() = json!(path);
        let v =
            h.rt.block_on(dispatch::handle(
                &h.app,
                lambda_runtime::LambdaEvent::new(ev, context()),
            ))
            .unwrap();
        assert_eq!(v["statusCode"], 404, "{name}: {v}");
    }
}

// --- delete by rule -------------------------------------------------------------------------

use csbs_deleter::select::plan::{Action, Candidate, plan};
use csbs_deleter::selection::selector::SELECT_FIELDS;
use csbs_deleter::selection::{SelectionRequest, Selector};

/// `select` objects of known and unknown filter names with values of any type.
fn arb_select() -> impl Strategy<Value = Value> {
    let name = prop_oneof![
        prop::sample::select(SELECT_FIELDS.to_vec()).prop_map(str::to_string),
        "[a-z_]{1,16}",
    ];
    let value = prop_oneof![
        arb_json(),
        (0u64..4000).prop_map(|n| json!(n)),
        Just(json!("p1")),
        Just(json!(["c1"])),
        Just(json!(true)),
        Just(json!("2026-01-01T00:00:00Z")),
    ];
    prop::collection::btree_map(name, value, 0..6).prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn narrows(s: &Selector) -> bool {
    s.resource_id.is_some()
        || s.vault_id.is_some()
        || s.checkpoint_ids.is_some()
        || s.older_than_days.is_some()
        || s.created_before.is_some()
}

/// Listings from a small alphabet, so that filters match some backups and not others.
fn arb_listing() -> impl Strategy<Value = Vec<Candidate>> {
    let backup = (
        0u32..60,
        prop::sample::select(vec!["r1", "r2", ""]),
        prop::sample::select(vec!["v1", "v2"]),
        prop::sample::select(vec!["c1", "c2"]),
        prop::sample::select(vec!["manual-a", "auto-b", ""]),
        prop::sample::select(vec!["available", "error", "deleting"]),
        prop::option::weighted(0.9, 0i64..400),
    )
        .prop_map(|(n, r, v, c, name, status, age)| {
            Candidate::new(
                format!("b{n}"),
                Some(c.into()),
                (!r.is_empty()).then(|| r.to_string()),
                Some(v.into()),
                (!name.is_empty()).then(|| name.to_string()),
                status.into(),
                age.map(|d| (reference() - chrono::Duration::days(d)).to_rfc3339()),
            )
        });
    prop::collection::vec(backup, 0..40)
}

/// Valid selectors over the listing alphabet.
fn arb_selector() -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop::sample::select(vec!["r1", "r2"])),
        prop::option::of(prop::sample::select(vec!["v1", "v2"])),
        prop::option::of(prop::sample::select(vec!["c1", "c2"])),
        prop::option::of(1u64..300),
        prop::option::of(prop::sample::select(vec!["manual", "auto-b"])),
        prop::option::of(1u64..4),
        prop::sample::select(vec!["available", "error"]),
    )
        .prop_map(|(r, v, c, age, prefix, keep, status)| {
            let mut s = json!({"service": "cbr", "project_id": "p1", "status": status, "all_in_project": true, "max_backups": 10000});
            if let Some(r) = r {
                s["resource_id"] = json!(r);
            }
            if let Some(v) = v {
                s["vault_id"] = json!(v);
            }
            if let Some(c) = c {
                s["checkpoint_ids"] = json!([c]);
            }
            if let Some(a) = age {
                s["older_than_days"] = json!(a);
            }
            if let Some(p) = prefix {
                s["name_prefix"] = json!(p);
            }
            if let Some(k) = keep {
                s["keep_last"] = json!(k);
            }
            s
        })
}

fn reference() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

proptest! {
    #[test]
    fn selectors_parse_only_when_every_filter_is_known_and_valid(select in arb_select(), dry in any::<bool>()) {
        match SelectionRequest::from_value(&json!({"select": select, "dry_run": dry})) {
            Ok(r) => {
                let obj = select.as_object().unwrap();
                prop_assert!(obj.keys().all(|k| SELECT_FIELDS.contains(&k.as_str())));
                prop_assert!(validate_id("project_id", &r.select.project_id).is_ok());
                prop_assert!(r.select.all_in_project || narrows(&r.select), "{select}");
                prop_assert!(r.select.max_backups >= 1 && r.select.max_backups <= 10_000);
            }
            Err(e) => {
                let field = e.field.clone().unwrap_or_default();
                prop_assert!(field.starts_with("select"), "{field}: {}", e.message);
                prop_assert!(e.message.contains(&field), "the message names {field}: {}", e.message);
            }
        }
    }

    /// A misspelt filter — an unknown name next to valid ones — is refused, never ignored.
    #[test]
    fn a_misspelt_filter_is_refused(select in arb_selector(), typo in "[a-z_]{1,16}", value in arb_json()) {
        prop_assume!(!SELECT_FIELDS.contains(&typo.as_str()));
        let mut s = select.clone();
        s[typo.as_str()] = value;
        let e = SelectionRequest::from_value(&json!({"select": s})).unwrap_err();
        prop_assert_eq!(e.field, Some(format!("select.{typo}")));
    }

    /// Whatever the listing holds, every target matches every filter, is old enough, and is
    /// not among the newest `keep_last` of its resource.
    #[test]
    fn a_plan_never_targets_what_a_filter_excludes(select in arb_selector(), listing in arb_listing()) {
        let s = SelectionRequest::from_value(&json!({"select": select})).unwrap().select;
        // The plan keeps the first of duplicate ids (paging); so does the check.
        let mut seen = std::collections::HashSet::new();
        let listing: Vec<Candidate> = listing.into_iter().filter(|b| seen.insert(b.id.clone())).collect();
        let Ok(p) = plan(&s, listing.clone(), reference()) else { return Ok(()) };
        let cutoff = s.age_cutoff(reference());
        for t in p.targets() {
            prop_assert_eq!(&t.status, &s.status);
            prop_assert!(s.resource_id.as_ref().is_none_or(|r| t.resource_id.as_ref() == Some(r)));
            prop_assert!(s.vault_id.as_ref().is_none_or(|v| t.vault_id.as_ref() == Some(v)));
            prop_assert!(s.checkpoint_ids.as_ref().is_none_or(|c| t.checkpoint_id.as_ref().is_some_and(|id| c.contains(id))));
            prop_assert!(s.name_prefix.as_ref().is_none_or(|pre| t.name.as_deref().is_some_and(|n| n.starts_with(pre.as_str()))));
            if let Some(c) = cutoff {
                prop_assert!(t.created.is_some_and(|when| when < c));
            }
            if let Some(k) = s.keep_last {
                let resource = t.resource_id.clone();
                prop_assert!(resource.is_some());
                let newer = listing
                    .iter()
                    .filter(|b| b.status == s.status && b.resource_id == resource && b.id != t.id)
                    .filter(|b| match (b.created, t.created) {
                        (None, _) => true,
                        (Some(x), Some(y)) => x > y || (x == y && b.id > t.id),
                        (Some(_), None) => false,
                    })
                    .map(|b| b.id.clone())
                    .collect::<std::collections::HashSet<_>>()
                    .len() as u64;
                prop_assert!(newer >= k, "{} has only {newer} newer backups, keep_last {k}", t.id);
            }
        }
        let rows: Vec<_> = p.rows.iter().filter(|r| r.action == Action::Keep).collect();
        prop_assert_eq!(rows.len() + p.counts.to_delete, p.counts.considered);
    }
}
