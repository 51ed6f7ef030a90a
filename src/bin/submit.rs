//! The submit Lambda function: SQS batches and HTTP webhooks (every origin).

use csbs_deleter::config::Config;
use csbs_deleter::lambda::{dispatch, init_logging};
use csbs_deleter::wiring;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    // Configuration and secrets are read and checked once, before the first event.
    let config = Config::from_env()?;
    let aws = wiring::aws_from_env().await;
    let app = wiring::submit_app(&config, &aws).await?;
    let app = &app;
    run(service_fn(move |event: LambdaEvent<Value>| {
        dispatch::handle(app, event)
    }))
    .await
}
