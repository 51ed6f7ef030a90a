//! Shared test harness: the CSBS simulator in-process, AWS services on the moto server that the
//! test command started (`MOTO_ENDPOINT`), fixtures from `events/`, and helpers to read the
//! emitted events back through an EventBridge rule that targets a capture queue.
#![allow(dead_code)]

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::Credentials as AwsCredentials;
use aws_sdk_sqs::types::QueueAttributeName;
use csbs_deleter::config::Config;
use csbs_deleter::sim::{RunningSim, SimConfig, Simulator};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

pub const WEBHOOK_SECRET: &str = "csbs-deleter-test-webhook-secret";
pub const EVENT_SOURCE: &str = "csbs.checkpoint-deletion";

/// Whether a moto server was started for the tests (`MOTO_ENDPOINT`, set by scripts/test.sh).
pub fn moto_available() -> bool {
    std::env::var("MOTO_ENDPOINT").is_ok_and(|e| !e.is_empty())
}

/// The first statement of a moto-backed test: without `MOTO_ENDPOINT` the test returns at once
/// with one line on stderr, so a plain `cargo test` passes offline (scripts/test.sh runs them).
#[macro_export]
macro_rules! require_moto {
    () => {
        if !$crate::common::moto_available() {
            eprintln!(
                "skipped {}: no MOTO_ENDPOINT (scripts/test.sh starts a moto server)",
                module_path!()
            );
            return;
        }
    };
}

pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT")
        .expect("MOTO_ENDPOINT is not set: run the tests with scripts/test.sh, which installs and starts a moto server")
}

pub async fn aws() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(csbs_deleter::wiring::aws_http_client())
        .endpoint_url(moto_endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(AwsCredentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await
}

/// One test's AWS resources, with unique names so tests run in parallel on one moto server.
pub struct Infra {
    pub aws: SdkConfig,
    pub sqs: aws_sdk_sqs::Client,
    pub pending_url: String,
    pub capture_url: String,
    pub bus_name: String,
    pub credentials_arn: String,
    pub webhook_arn: String,
    /// The decision ledger's table (DynamoDB on moto), as the template creates it.
    pub ledger_table: String,
}

impl Infra {
    /// `credentials_json`: the CSBS credentials secret.
    pub async fn new(credentials_json: &str) -> Infra {
        let aws = aws().await;
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let pending_url = create_queue(
            &sqs,
            &format!("pending-{id}"),
            QueueAttributeName::VisibilityTimeout,
            "120",
        )
        .await;
        let capture_url = create_queue(
            &sqs,
            &format!("capture-{id}"),
            QueueAttributeName::VisibilityTimeout,
            "30",
        )
        .await;
        let capture_arn = sqs
            .get_queue_attributes()
            .queue_url(&capture_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes()
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        let eb = aws_sdk_eventbridge::Client::new(&aws);
        let bus_name = format!("bus-{id}");
        eb.create_event_bus().name(&bus_name).send().await.unwrap();
        eb.put_rule()
            .name(format!("capture-{id}"))
            .event_bus_name(&bus_name)
            .event_pattern(serde_json::json!({"source": [EVENT_SOURCE]}).to_string())
            .send()
            .await
            .unwrap();
        eb.put_targets()
            .rule(format!("capture-{id}"))
            .event_bus_name(&bus_name)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("capture")
                    .arn(capture_arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let sm = aws_sdk_secretsmanager::Client::new(&aws);
        let credentials_arn = create_secret(&sm, format!("csbs-credentials-{id}"), credentials_json).await;
        let webhook_arn = create_secret(&sm, format!("webhook-{id}"), WEBHOOK_SECRET).await;
        let (_, ledger_table) = crate::ledger_conformance::ledger_table().await;
        Infra {
            aws,
            sqs,
            pending_url,
            capture_url,
            bus_name,
            credentials_arn,
            webhook_arn,
            ledger_table,
        }
    }

    /// The function configuration, as the environment would give it.
    pub fn config(&self, sim: &RunningSim, extra: &[(&str, &str)]) -> Config {
        let base = sim.base_url().to_string();
        let mut env: Vec<(String, String)> = vec![
            ("CSBS_ENDPOINT".into(), base.clone()),
            ("CBR_ENDPOINT".into(), base.clone()),
            ("IAM_ENDPOINT".into(), base),
            ("CSBS_CREDENTIALS_SECRET_ARN".into(), self.credentials_arn.clone()),
            ("PENDING_QUEUE_URL".into(), self.pending_url.clone()),
            ("EVENT_BUS_NAME".into(), self.bus_name.clone()),
            ("WEBHOOK_SECRET_ARN".into(), self.webhook_arn.clone()),
            ("PENDING_RECEIVE_WAIT_SECONDS".into(), "0".into()),
            ("LEDGER_TABLE_NAME".into(), self.ledger_table.clone()),
        ];
        for (k, v) in extra {
            env.retain(|(ek, _)| ek != k);
            if !v.is_empty() {
                env.push((k.to_string(), v.to_string()));
            }
        }
        Config::from_lookup(|k| env.iter().find(|(ek, _)| ek == k).map(|(_, v)| v.clone())).unwrap()
    }

    /// Reads `n` events from the capture queue (their `detail`), waiting for them with long
    /// polls; fails after `timeout`.
    pub async fn events(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        let started = tokio::time::Instant::now();
        while out.len() < n {
            assert!(
                started.elapsed() < timeout,
                "only {} of {n} events arrived: {out:#?}",
                out.len()
            );
            out.extend(self.take_events().await);
        }
        out
    }

    /// One long poll of the capture queue: the events it brings (their `detail`, with
    /// `_detail_type`), deleted from the queue.
    async fn take_events(&self) -> Vec<Value> {
        let bodies = take(&self.sqs, &self.capture_url).await;
        bodies
            .into_iter()
            .map(|v| {
                assert_eq!(v["source"], EVENT_SOURCE);
                record_envelope(&v);
                let mut detail = v["detail"].clone();
                detail["_detail_type"] = v["detail-type"].clone();
                detail
            })
            .collect()
    }

    /// Every event that arrives until one long poll comes back empty.
    pub async fn drain_events(&self) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let got = self.take_events().await;
            if got.is_empty() {
                return out;
            }
            out.extend(got);
        }
    }

    /// Asserts that no further event arrives (one empty long poll).
    pub async fn no_more_events(&self) {
        let got = self
            .sqs
            .receive_message()
            .queue_url(&self.capture_url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        assert!(got.messages().is_empty(), "unexpected events: {:?}", got.messages());
    }

    /// Bodies of the messages on the pending queue (at most ten), left visible.
    pub async fn pending_bodies(&self) -> Vec<Value> {
        let got = self
            .sqs
            .receive_message()
            .queue_url(&self.pending_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
        got.messages()
            .iter()
            .map(|m| serde_json::from_str::<Value>(m.body().unwrap()).unwrap())
            .collect()
    }

    /// Messages on the pending queue, visible or in flight.
    pub async fn pending_count(&self) -> usize {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.pending_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let a = attrs.attributes().unwrap();
        let n = |k: QueueAttributeName| a.get(&k).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
        n(QueueAttributeName::ApproximateNumberOfMessages)
            + n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
    }
}

/// Creates a queue with one attribute set; returns its URL.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str, attribute: QueueAttributeName, value: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .attributes(attribute, value)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string()
}

/// One long poll (1 s) of up to ten messages of `url`: their bodies as JSON, each deleted.
pub async fn take(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Value> {
    let got = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for m in got.messages() {
        out.push(serde_json::from_str(m.body().unwrap()).unwrap());
        sqs.delete_message()
            .queue_url(url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }
    out
}

/// Creates a secret on moto; returns its ARN.
async fn create_secret(sm: &aws_sdk_secretsmanager::Client, name: String, value: &str) -> String {
    let out = sm.create_secret().name(name).secret_string(value).send().await.unwrap();
    out.arn().unwrap().to_string()
}

pub async fn sim() -> RunningSim {
    Simulator::start(SimConfig {
        delete_duration: (Duration::from_secs(60), Duration::from_secs(60)),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

pub fn aksk_json() -> String {
    serde_json::json!({"ak": csbs_deleter::sim::DEMO_AK, "sk": csbs_deleter::sim::DEMO_SK}).to_string()
}

pub fn password_json() -> String {
    serde_json::json!({"username": csbs_deleter::sim::DEMO_USER, "password": csbs_deleter::sim::DEMO_PASSWORD, "domain_name": csbs_deleter::sim::DEMO_DOMAIN}).to_string()
}

/// A Lambda context whose deadline is `secs` from now.
pub fn context(secs: u64) -> Context {
    let mut c = Context::default();
    c.request_id = uuid::Uuid::new_v4().to_string();
    c.deadline = (std::time::SystemTime::now() + Duration::from_secs(secs))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    c
}

pub fn event(payload: Value, secs: u64) -> LambdaEvent<Value> {
    LambdaEvent::new(payload, context(secs))
}

/// A sample from `events/`.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The v2 `X-Signature-256` of one request, computed here with the hmac crate: independently
/// of `csbs_deleter::webhook`, so a bug there cannot hide behind a test that signs with it.
/// `query` is the query as the client sent it; it is signed in canonical form (docs/DESIGN.md,
/// "HTTP API": decoded, sorted by key and value, RFC 3986-encoded, joined by `&`).
pub fn signature_v2(secret: &str, t: i64, method: &str, path: &str, query: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let pairs = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect::<Vec<_>>();
    let signed = format!("{t}\n{method}\n{path}\n{}\n", canonical(pairs));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    mac.update(body);
    format!("t={t},v2={}", hex::encode(mac.finalize().into_bytes()))
}

/// The canonical query of decoded pairs, as a client computes it.
pub fn canonical(mut pairs: Vec<(String, String)>) -> String {
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The legacy v1 `X-Signature-256` (`"<t>.<body>"`), still accepted for `POST /deletions`
/// with a body.
pub fn signature_v1(secret: &str, t: i64, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// What a client of an HTTP sample sent: method, route path (no stage prefix), the query as
/// decoded pairs, and the body.
pub fn sent_request(ev: &Value) -> (String, String, Vec<(String, String)>, Vec<u8>) {
    let method = ev["httpMethod"]
        .as_str()
        .or(ev["requestContext"]["http"]["method"].as_str())
        .expect("an HTTP sample")
        .to_string();
    let mut path = ev["rawPath"]
        .as_str()
        .or(ev["path"].as_str())
        .unwrap_or("/")
        .to_string();
    // An HTTP API named stage prefixes rawPath; a REST API's `path` has no stage.
    if let Some(stage) = ev["requestContext"]["stage"].as_str().filter(|s| *s != "$default")
        && ev.get("rawPath").is_some()
    {
        path = path.strip_prefix(&format!("/{stage}")).unwrap_or(&path).to_string();
    }
    let is_alb = ev["requestContext"].get("elb").is_some();
    let decode = |s: &str| {
        if is_alb {
            percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
        } else {
            s.to_string()
        }
    };
    let mut pairs = Vec::new();
    if let Some(raw) = ev["rawQueryString"].as_str() {
        pairs = url::form_urlencoded::parse(raw.as_bytes()).into_owned().collect();
    } else if let Some(multi) = ev["multiValueQueryStringParameters"].as_object() {
        for (k, vs) in multi {
            for v in vs.as_array().unwrap() {
                pairs.push((decode(k), decode(v.as_str().unwrap())));
            }
        }
    } else if let Some(single) = ev["queryStringParameters"].as_object() {
        for (k, v) in single {
            pairs.push((decode(k), decode(v.as_str().unwrap())));
        }
    }
    let body = match ev["body"].as_str() {
        Some(b) if ev["isBase64Encoded"] == true => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(b).unwrap()
        }
        Some(b) => b.as_bytes().to_vec(),
        None => Vec::new(),
    };
    (method, path.trim_end_matches('/').to_string(), pairs, body)
}

/// Re-signs an HTTP sample (v2) at the current time (the committed ones carry a fixed
/// timestamp), over what its client sent: method, path, query and body.
pub fn resign(ev: &mut Value, secret: &str) {
    let (method, path, pairs, body) = sent_request(ev);
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let sig = signature_v2(secret, chrono::Utc::now().timestamp(), &method, &path, &query, &body);
    set_header(ev, "x-signature-256", &sig);
}

pub fn set_header(ev: &mut Value, name: &str, value: &str) {
    ev["headers"][name] = Value::String(value.into());
    if ev.get("multiValueHeaders").is_some_and(Value::is_object) {
        ev["multiValueHeaders"][name] = serde_json::json!([value]);
    }
}

pub fn remove_header(ev: &mut Value, name: &str) {
    if let Some(h) = ev["headers"].as_object_mut() {
        h.remove(name);
    }
    if let Some(h) = ev.get_mut("multiValueHeaders").and_then(Value::as_object_mut) {
        h.remove(name);
    }
}

/// An SQS batch from the real fixture, one record per body (message ids `m-0`, `m-1`, …).
pub fn sqs_body_event(bodies: &[Value]) -> Value {
    let mut ev = fixture("sqs.json");
    let template = ev["Records"][0].clone();
    ev["Records"] = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut r = template.clone();
            r["messageId"] = Value::String(format!("m-{i}"));
            r["body"] = Value::String(b.to_string());
            r
        })
        .collect();
    ev
}

/// The message ids of a partial batch response, sorted.
pub fn failures(answer: &Value) -> Vec<String> {
    let mut v: Vec<String> = answer["batchItemFailures"]
        .as_array()
        .expect("a partial batch response")
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// Status code and parsed JSON body of an HTTP handler answer, whatever the origin's shape.
pub fn http_answer(v: &Value) -> (u16, Value) {
    let code = v["statusCode"].as_u64().expect("statusCode") as u16;
    let body = v["body"]
        .as_str()
        .map(|b| serde_json::from_str(b).unwrap_or(Value::String(b.into())))
        .unwrap_or(Value::Null);
    (code, body)
}

/// An event as EventBridge delivered it (through moto), appended to `CSBS_EVENT_LOG` like the
/// in-memory bus's (tests/py/check_events.py validates the whole envelope against the schema).
fn record_envelope(v: &Value) {
    let Some(path) = std::env::var_os("CSBS_EVENT_LOG") else {
        return;
    };
    let line = v.to_string() + "\n";
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("CSBS_EVENT_LOG opens");
    std::io::Write::write_all(&mut f, line.as_bytes()).expect("CSBS_EVENT_LOG takes the line");
}

/// The event of a request from `events` (their `detail`), by `request_id`.
pub fn by<'a>(events: &'a [Value], request_id: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["request_id"] == request_id)
        .unwrap_or_else(|| panic!("no event for {request_id}: {events:#?}"))
}

/// An HTTP API v2 request from the fixture, signed at the current time.
pub fn http_v2(method: &str, path: &str, query: &str, body: Option<&Value>) -> Value {
    let mut ev = fixture("http-api-v2.json");
    ev["requestContext"]["http"]["method"] = json!(method);
    ev["rawPath"] = json!(path);
    ev["requestContext"]["http"]["path"] = json!(path);
    ev["rawQueryString"] = json!(query);
    ev["body"] = body.map_or(Value::Null, |b| json!(b.to_string()));
    resign(&mut ev, WEBHOOK_SECRET);
    ev
}
