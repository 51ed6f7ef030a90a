//! `local-run --serve`: the HTTP API on 127.0.0.1, bridged into the submit handler as API
//! Gateway HTTP API (v2) payloads, with poll ticking in the background.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::LambdaEvent;
use tokio::time::Instant;

use super::payloads::{context, http_v2_event};
use super::{LOCAL_WEBHOOK_SECRET, Local};
use crate::lambda::dispatch;
use crate::sim::DEMO_PROJECT;
use crate::webhook;
use crate::wiring::SubmitApp;

/// Serves the HTTP API on 127.0.0.1 until Ctrl-C, polling in the background.
pub(super) async fn serve(local: &Local, port: u16) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let addr = listener.local_addr()?;
    let router = http_api(local.app.clone());
    let poller = local.poller.clone();
    let ticker = tokio::spawn(async move {
        loop {
            poller.run(Instant::now() + Duration::from_secs(5)).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    // Fresh backups for the user's own requests (the demo deleted the others).
    for n in 10..20u32 {
        let item = format!("be1a0000-{n:04}-4000-8000-000000000000");
        local.sim.sim.seed(
            DEMO_PROJECT,
            &format!("c0ffee00-0000-4000-8000-{n:012}"),
            &[crate::sim::ItemSeed::ok(item)],
        );
    }
    println!(
        "HTTP API on http://{addr} (webhook secret: {LOCAL_WEBHOOK_SECRET}); CSBS simulator on {}",
        local.sim.base_url()
    );
    println!("Project {DEMO_PROJECT} has fresh backups c0ffee00-0000-4000-8000-000000000010 to …019 to delete.");
    println!("Ctrl-C to stop.");
    let server = axum::serve(listener, router);
    tokio::select! {
        r = server => r?,
        _ = tokio::signal::ctrl_c() => {}
    }
    ticker.abort();
    Ok(())
}

/// The HTTP API of `app` as a real HTTP server's router: each request goes through the submit
/// handler as an API Gateway v2 payload (the local run; the CLI's tests).
pub fn http_api(app: Arc<SubmitApp>) -> axum::Router {
    axum::Router::new().fallback(move |req: axum::extract::Request| {
        let app = app.clone();
        async move { bridge(&app, req).await }
    })
}

/// One real HTTP request → an API Gateway v2 payload → the submit handler → the HTTP answer.
async fn bridge(app: &SubmitApp, req: axum::extract::Request) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return (http::StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let sig = parts
        .headers
        .get(webhook::HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let ev = http_v2_event(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
        (!text.is_empty()).then_some(text.as_str()),
        sig,
    );
    match dispatch::handle(app, LambdaEvent::new(ev, context(30))).await {
        Ok(v) => {
            let status = http::StatusCode::from_u16(v["statusCode"].as_u64().unwrap_or(500) as u16)
                .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp = (status, v["body"].as_str().unwrap_or("").to_string()).into_response();
            if let Some(h) = v["headers"].as_object() {
                for (k, val) in h {
                    if let (Ok(name), Some(Ok(value))) = (
                        http::HeaderName::try_from(k.as_str()),
                        val.as_str().map(http::HeaderValue::from_str),
                    ) {
                        resp.headers_mut().insert(name, value);
                    }
                }
            }
            resp
        }
        Err(e) => (http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
