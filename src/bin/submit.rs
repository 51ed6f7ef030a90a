//! The submit Lambda function: SQS batches and HTTP webhooks (every origin).

use csbs_deleter::config::Config;
use csbs_deleter::lambda::{dispatch, init_logging};
use csbs_deleter::wiring;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    // The configuration is checked before the first event (a bad variable fails the init
    // phase); the AWS configuration and the secrets load while the runtime starts
    // (wiring::Deferred), and each invocation waits for them.
    let config = std::sync::Arc::new(Config::from_env()?);
    let app = wiring::Deferred::start(move || {
        let config = config.clone();
        async move {
            let aws = wiring::aws_from_env().await;
            wiring::submit_app(&config, &aws).await
        }
    });
    let app = &app;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        dispatch::handle(app.get().await?, event).await
    }))
    .await
}
