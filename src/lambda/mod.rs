//! The Lambda edge: event-shape dispatch, HTTP routes, metrics and
//! logging. Everything behind it is plain async code.

pub mod dispatch;
pub mod http;
pub mod poll;
mod route;

use std::time::Duration;

use tokio::time::Instant;

/// Time kept back from the Lambda deadline to answer (partial batch response, HTTP reply).
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(1500);

/// Below this a "deadline" cannot be epoch milliseconds (it would be before 2001).
const EPOCH_MS_FLOOR: u64 = 1_000_000_000_000;

/// The instant by which work must be done: the invocation deadline (`Context::deadline`, epoch
/// milliseconds) minus a margin, or at least 100 ms from now.
///
/// cargo-lambda's emulator sends `Lambda-Runtime-Deadline-Ms: 600000`, meaning ten minutes from
/// now rather than an epoch time; such small values are read as a duration.
pub fn work_deadline(deadline_ms: u64) -> Instant {
    let left = if deadline_ms < EPOCH_MS_FLOOR {
        Duration::from_millis(deadline_ms)
    } else {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Duration::from_millis(deadline_ms.saturating_sub(now_ms))
    };
    Instant::now() + left.saturating_sub(DEADLINE_MARGIN).max(Duration::from_millis(100))
}

/// Prints the invocation's EMF metric lines (crate::metrics) to stdout, where CloudWatch Logs
/// reads them, under the function's name.
pub fn publish_metrics(tally: &crate::metrics::Tally, latencies: &crate::cloud::Latencies) {
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into());
    let now = chrono::Utc::now().timestamp_millis();
    for line in crate::metrics::emf_lines(&function, now, tally, latencies) {
        println!("{line}");
    }
}

/// Logs: JSON when `AWS_LAMBDA_LOG_FORMAT=JSON` (each line carries its spans' fields: the
/// invocation's request and trace ids, task id, request id, message id, project, checkpoint),
/// plain text otherwise. Level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, default info.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().map(|l| l.to_lowercase());
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        let _ = tracing::subscriber::set_global_default(json_subscriber(filter, std::io::stdout));
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            .with_ansi(false)
            .without_time()
            .init();
    }
}

/// The JSON log format of both functions (tests capture it with their own writer).
pub fn json_subscriber<W>(
    filter: tracing_subscriber::EnvFilter,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false)
        .json()
        .with_current_span(true)
        // Every enclosing span too: the runtime's (the Lambda request id and X-Ray trace id of
        // the invocation) and ours (task id, request id, the task's trace id).
        .with_span_list(true)
        .without_time()
        .with_writer(writer)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch_ms_in(d: Duration) -> u64 {
        (std::time::SystemTime::now() + d)
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    }

    #[test]
    fn deadline_keeps_a_margin() {
        let d = work_deadline(epoch_ms_in(Duration::from_secs(30)));
        let left = d - Instant::now();
        assert!(
            left <= Duration::from_secs(30) - DEADLINE_MARGIN && left > Duration::from_secs(27),
            "{left:?}"
        );
    }

    #[test]
    fn past_deadline_still_leaves_a_moment() {
        let d = work_deadline(epoch_ms_in(Duration::ZERO) - 5000);
        assert!(d > Instant::now() && d - Instant::now() <= Duration::from_millis(100));
    }

    #[test]
    fn emulator_relative_deadline_is_a_duration() {
        let left = work_deadline(600_000) - Instant::now();
        assert!(
            left > Duration::from_secs(590) && left <= Duration::from_secs(600),
            "{left:?}"
        );
    }
}
