//! Property-based fuzzing (proptest): the request parser, the event dispatch and the CSBS
//! response models never panic and always give a clear error. The number of cases per property
//! is `PROPTEST_CASES` (proptest's default 256 in CI; `scripts/bench.sh` runs a longer round).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use csbs_deleter::csbs::models::{CheckpointEnvelope, CountEnvelope, ItemEnvelope, ListEnvelope};
use csbs_deleter::csbs::signer::{SignInput, canonical_query, canonical_uri, parse_authorization};
use csbs_deleter::csbs::{ClientConfig, CsbsClient};
use csbs_deleter::events::EventSink;
use csbs_deleter::events::memory::MemorySink;
use csbs_deleter::ids::validate_id;
use csbs_deleter::lambda::dispatch;
use csbs_deleter::lambda::wiring::SubmitApp;
use csbs_deleter::pending::memory::MemoryQueue;
use csbs_deleter::request::{DeletionRequest, MAX_CONTEXT_BYTES};
use csbs_deleter::secret::Secret;
use csbs_deleter::sim::{self, RunningSim, SimConfig, Simulator};
use csbs_deleter::submit::{SubmitSettings, Submitter};
use csbs_deleter::webhook::{self, WebhookPolicy};
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
        Just("request_id".to_string()),
        Just("timeout_seconds".to_string()),
        Just("context".to_string()),
        "[a-z_]{1,16}",
    ];
    prop::collection::btree_map(name, arb_json(), 0..8).prop_map(|m| Value::Object(m.into_iter().collect()))
}

const ERROR_CODES: [&str; 4] = ["invalid_json", "invalid_request", "unknown_field", "context_too_large"];

proptest! {
    #[test]
    fn request_parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for r in [DeletionRequest::from_json(&bytes), DeletionRequest::from_sqs_body(&String::from_utf8_lossy(&bytes))] {
            if let Err(e) = r {
                prop_assert!(ERROR_CODES.contains(&e.code));
                prop_assert!(!e.message.is_empty());
            }
        }
    }

    #[test]
    fn valid_requests_hold_only_safe_ids(v in arb_request()) {
        match DeletionRequest::from_value(&v) {
            Ok(r) => {
                for id in [&r.project_id, &r.checkpoint_id, &r.provider_id] {
                    prop_assert!(validate_id("id", id).is_ok());
                }
                if let Some(items) = &r.checkpoint_items {
                    prop_assert!(!items.is_empty());
                    prop_assert!(items.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
                    prop_assert!(items.iter().all(|i| validate_id("item", i).is_ok()));
                }
                if let Some(c) = &r.context {
                    prop_assert!(serde_json::to_vec(c).unwrap().len() <= MAX_CONTEXT_BYTES);
                }
            }
            Err(e) => {
                prop_assert!(ERROR_CODES.contains(&e.code));
                prop_assert!(!e.message.is_empty());
            }
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
            let e = csbs_deleter::csbs::error::api_error(status, input, None);
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
        prop_assert!(webhook::verify(&policy, Some(&header), &payload, 1_700_000_000).is_err() || header.starts_with("t="));
        let good = webhook::sign(&secret, 1_700_000_000, &payload);
        prop_assert!(webhook::verify(&policy, Some(&good), &payload, 1_700_000_000).is_ok());
        if !payload.is_empty() {
            let mut tampered = payload.clone();
            let i = flip.index(tampered.len());
            tampered[i] ^= 0x01;
            prop_assert!(webhook::verify(&policy, Some(&good), &tampered, 1_700_000_000).is_err());
        }
    }
}

/// One runtime, simulator and app for the dispatch property (they outlive the cases).
struct Harness {
    rt: tokio::runtime::Runtime,
    app: SubmitApp,
    _sim: RunningSim,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (app, sim) = rt.block_on(async {
            let sim = Simulator::start(SimConfig::default()).await.unwrap();
            sim.sim.seed_demo();
            let creds = sim::demo_aksk();
            let mut cc = ClientConfig::new(sim.base_url(), sim.base_url(), creds);
            cc.retry.max_attempts = 1;
            let csbs = CsbsClient::new(cc).unwrap();
            let submitter = Submitter::new(
                csbs,
                Arc::new(MemoryQueue::new(Duration::from_secs(30))),
                Arc::new(MemorySink::new()) as Arc<dyn EventSink>,
                SubmitSettings::default(),
            );
            (
                SubmitApp {
                    submitter,
                    webhook: WebhookPolicy::AllowUnsigned,
                },
                sim,
            )
        });
        Harness { rt, app, _sim: sim }
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

    #[test]
    fn http_routes_answer_any_path_query_and_body(
        method in prop::sample::select(vec!["GET", "POST", "DELETE", "PUT", "PATCH"]),
        path in "(/[A-Za-z0-9%._~{}-]{0,20}){0,8}",
        query in "[A-Za-z0-9=&%+,._~-]{0,60}",
        body in prop::option::of(any::<String>()),
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
