//! The Lambda edge: event-shape dispatch, HTTP routes, wiring of clients from configuration,
//! logging. Everything behind it is plain async code.

pub mod dispatch;
pub mod http;
pub mod poll;
pub mod wiring;

use std::time::Duration;

use tokio::time::Instant;

/// Time kept back from the Lambda deadline to answer (partial batch response, HTTP reply).
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(1500);

/// The instant by which work must be done: the invocation deadline (`Context::deadline`, epoch
/// milliseconds) minus a margin, or at least 100 ms from now.
pub fn work_deadline(deadline_epoch_ms: u64) -> Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let left = Duration::from_millis(deadline_epoch_ms.saturating_sub(now_ms));
    Instant::now() + left.saturating_sub(DEADLINE_MARGIN).max(Duration::from_millis(100))
}

/// Logs: JSON when `AWS_LAMBDA_LOG_FORMAT=JSON` (each line carries the current span's fields:
/// task id, message id, project, checkpoint), plain text otherwise. Level from
/// `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, default info.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().map(|l| l.to_lowercase());
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false);
    if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .without_time()
            .init();
    } else {
        builder.without_time().init();
    }
}
