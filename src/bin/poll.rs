//! The poll Lambda function: run every minute by EventBridge Scheduler.

use csbs_deleter::config::Config;
use csbs_deleter::lambda::{init_logging, poll};
use csbs_deleter::wiring;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = Config::from_env()?;
    let aws = wiring::aws_from_env().await;
    let app = wiring::poll_app(&config, &aws).await?;
    let app = &app;
    run(service_fn(move |event: LambdaEvent<Value>| poll::handle(app, event))).await
}
