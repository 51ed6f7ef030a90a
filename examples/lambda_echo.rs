//! A bare `lambda_runtime` function that answers each event with itself: the cold-start
//! baseline of `scripts/bench.sh coldstart` (BENCHMARKS.md, "Cold start and memory"), built
//! with the same release profile as the functions.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
