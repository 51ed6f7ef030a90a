//! Every sample in events/ is a real AWS payload shape: it deserialises into its
//! aws_lambda_events type, and runs through the function's handler (in-memory queue and bus,
//! the simulator over loopback; the moto-backed tests run the same files against AWS APIs).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::alb::AlbTargetGroupRequest;
use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use aws_lambda_events::sqs::SqsEvent;
use csbs_deleter::adapters::memory::MemoryQueue;
use csbs_deleter::adapters::memory::MemorySink;
use csbs_deleter::cloud::ClientConfig;
use csbs_deleter::csbs::CsbsClient;
use csbs_deleter::lambda::{dispatch, poll};
use csbs_deleter::poll::{PollSettings, Poller};
use csbs_deleter::ports::sink::EventSink;
use csbs_deleter::secret::Secret;
use csbs_deleter::sim::{self, SimConfig, Simulator};
use csbs_deleter::submit::{SubmitSettings, Submitter};
use csbs_deleter::webhook::WebhookPolicy;
use csbs_deleter::wiring::SubmitApp;
use serde_json::Value;

fn raw(name: &str) -> String {
    std::fs::read_to_string(format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// MD5, as SQS computes `md5OfBody`.
fn md5_of(body: &str) -> Vec<u8> {
    use md5::Digest;
    md5::Md5::digest(body.as_bytes()).to_vec()
}

fn context() -> lambda_runtime::Context {
    let mut c = lambda_runtime::Context::default();
    c.deadline = (std::time::SystemTime::now() + Duration::from_secs(20))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    c
}

#[test]
fn samples_deserialise_into_their_aws_lambda_events_types() {
    let sqs: SqsEvent = serde_json::from_str(&raw("sqs.json")).unwrap();
    assert_eq!(sqs.records.len(), 2);
    assert_eq!(sqs.records[0].event_source.as_deref(), Some("aws:sqs"));
    let cbr: SqsEvent = serde_json::from_str(&raw("sqs-cbr.json")).unwrap();
    for r in &cbr.records {
        let body = r.body.as_deref().unwrap();
        assert_eq!(
            r.md5_of_body.as_deref(),
            Some(hex::encode(md5_of(body)).as_str()),
            "md5OfBody matches"
        );
        let req = csbs_deleter::request::DeletionRequest::from_sqs_body(body).unwrap();
        assert_eq!(req.service, csbs_deleter::service::Service::Cbr);
    }
    let selections: SqsEvent = serde_json::from_str(&raw("sqs-selection.json")).unwrap();
    for r in &selections.records {
        let body = r.body.as_deref().unwrap();
        assert_eq!(r.md5_of_body.as_deref(), Some(hex::encode(md5_of(body)).as_str()));
        let parsed = csbs_deleter::ports::intake::parse_sqs_body(body, "csbs.checkpoint-deletion");
        assert!(
            matches!(parsed, Ok(csbs_deleter::ports::intake::Intake::Select(_))),
            "{body}"
        );
    }
    let rest: ApiGatewayProxyRequest = serde_json::from_str(&raw("apigw-rest.json")).unwrap();
    assert_eq!(
        (rest.http_method.as_str(), rest.request_context.stage.as_deref()),
        ("POST", Some("Prod"))
    );
    for name in ["http-api-v2.json", "http-api-v2-status.json"] {
        let v2: ApiGatewayV2httpRequest = serde_json::from_str(&raw(name)).unwrap();
        assert_eq!(v2.version.as_deref(), Some("2.0"));
    }
    let url: LambdaFunctionUrlRequest = serde_json::from_str(&raw("function-url.json")).unwrap();
    assert!(url.request_context.domain_name.unwrap().contains(".lambda-url."));
    let alb: AlbTargetGroupRequest = serde_json::from_str(&raw("alb.json")).unwrap();
    assert_eq!(alb.http_method.as_str(), "DELETE");
    assert!(alb.request_context.elb.target_group_arn.is_some());
    let classic: CloudWatchEvent = serde_json::from_str(&raw("scheduled-event.json")).unwrap();
    assert_eq!(classic.detail_type.as_deref(), Some("Scheduled Event"));
    let as_eb: EventBridgeEvent = serde_json::from_str(&raw("scheduled-event.json")).unwrap();
    assert_eq!(as_eb.source, "aws.events");
    // EventBridge Scheduler passes the schedule's Input verbatim: any JSON.
    let input: Value = serde_json::from_str(&raw("schedule-v2.json")).unwrap();
    assert!(input.is_object());
    // The SQS sample's second record is an EventBridge event carrying a request.
    let envelope: EventBridgeEvent = serde_json::from_str(sqs.records[1].body.as_deref().unwrap()).unwrap();
    assert!(envelope.detail.get("checkpoint_id").is_some());
}

/// The committed HTTP samples carry the v2 signature scripts/sign-event.py computed at its
/// fixed time; computed here again with the hmac crate, it must be the same string (the
/// Python signer and the Rust one agree on the canonical form).
#[test]
fn committed_signatures_are_v2_over_what_the_client_sent() {
    for name in [
        "apigw-rest.json",
        "http-api-v2.json",
        "http-api-v2-status.json",
        "function-url.json",
        "alb.json",
    ] {
        let ev: Value = serde_json::from_str(&raw(name)).unwrap();
        let (method, path, pairs, body) = crate::common::sent_request(&ev);
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let want = crate::common::signature_v2(
            csbs_deleter::local::LOCAL_WEBHOOK_SECRET,
            1_764_979_200,
            &method,
            &path,
            &query,
            &body,
        );
        assert_eq!(ev["headers"]["x-signature-256"], want, "{name}");
    }
}

#[tokio::test]
async fn samples_run_through_the_handlers() {
    let s = Simulator::start(SimConfig::default()).await.unwrap();
    s.sim.seed_demo();
    let creds = sim::demo_aksk();
    let csbs = CsbsClient::new(ClientConfig::new(s.base_url(), s.base_url(), creds).with_cbr(s.base_url())).unwrap();
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30)));
    let sink = Arc::new(MemorySink::new());
    let secret = Secret::new(csbs_deleter::local::LOCAL_WEBHOOK_SECRET);
    let app = SubmitApp::new(
        Submitter::new(
            csbs.clone(),
            queue.clone(),
            sink.clone() as Arc<dyn EventSink>,
            std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
            SubmitSettings::default(),
        ),
        WebhookPolicy::Secret(secret.clone()),
    );
    let answer = dispatch::handle(
        &app,
        lambda_runtime::LambdaEvent::new(serde_json::from_str(&raw("sqs.json")).unwrap(), context()),
    )
    .await
    .unwrap();
    assert_eq!(answer["batchItemFailures"], serde_json::json!([]));
    let answer = dispatch::handle(
        &app,
        lambda_runtime::LambdaEvent::new(serde_json::from_str(&raw("sqs-cbr.json")).unwrap(), context()),
    )
    .await
    .unwrap();
    assert_eq!(answer["batchItemFailures"], serde_json::json!([]));
    let answer = dispatch::handle(
        &app,
        lambda_runtime::LambdaEvent::new(serde_json::from_str(&raw("sqs-selection.json")).unwrap(), context()),
    )
    .await
    .unwrap();
    assert_eq!(
        answer["batchItemFailures"],
        serde_json::json!([]),
        "dry runs need no intake queue"
    );
    for (name, status) in [
        ("apigw-rest.json", 202),
        ("http-api-v2.json", 202),
        ("function-url.json", 202),
        ("alb.json", 202),
        ("http-api-v2-status.json", 200),
    ] {
        let mut ev: Value = serde_json::from_str(&raw(name)).unwrap();
        // The committed samples are signed at a fixed time; sign again now (±300 s window), over
        // the method, path, query and body the client sent (v2), with the hmac crate directly.
        crate::common::resign(&mut ev, secret.expose());
        let answer = dispatch::handle(&app, lambda_runtime::LambdaEvent::new(ev, context()))
            .await
            .unwrap();
        assert_eq!(answer["statusCode"], status, "{name}: {answer}");
    }
    let planned = |o: &csbs_deleter::outcome::Outcome| *o == csbs_deleter::outcome::Outcome::Planned;
    let events = sink.events();
    let submitted = events.iter().filter(|e| !planned(&e.outcome)).count();
    assert_eq!(submitted, 8, "two SQS records, two CBR ones and four HTTP submissions");
    assert_eq!(
        events.iter().filter(|e| planned(&e.outcome)).count(),
        2,
        "two dry-run plans"
    );
    let poll_app = csbs_deleter::wiring::PollApp::new(Poller::new(
        csbs,
        queue.clone(),
        sink.clone() as Arc<dyn EventSink>,
        std::sync::Arc::new(csbs_deleter::adapters::memory::MemoryLedger::new()),
        PollSettings {
            window: Duration::ZERO,
            ..Default::default()
        },
    ));
    for name in ["schedule-v2.json", "scheduled-event.json"] {
        let summary = poll::handle(
            &poll_app,
            lambda_runtime::LambdaEvent::new(serde_json::from_str(&raw(name)).unwrap(), context()),
        )
        .await
        .unwrap();
        assert!(
            summary["checked"].is_u64() && summary["passes"] == 1,
            "{name}: {summary}"
        );
    }
}
