//! The X-Ray trace a deletion began in (docs/DESIGN.md, "Operating it"): submit runs each
//! invocation inside [`scope`] with the invocation's trace id, the tasks it creates carry it
//! (`PendingTask::trace_id`), and poll logs and emits it, so one search for the id finds the
//! submit, every check and the outcome of a deletion.
//!
//! A task-local rather than a parameter: the id belongs to the invocation, not to any one
//! request of its batch, and every workflow call of an invocation runs on its task (nothing
//! in submit spawns).

use std::future::Future;

tokio::task_local! {
    static TRACE_ID: Option<String>;
}

/// Runs `f` with `trace_id` as the current trace.
pub async fn scope<F: Future>(trace_id: Option<String>, f: F) -> F::Output {
    TRACE_ID.scope(trace_id, f).await
}

/// The trace of the running invocation, if any.
pub fn current() -> Option<String> {
    TRACE_ID.try_with(Clone::clone).ok().flatten()
}

/// The trace id of an X-Ray trace header (`Root=1-5759e988-bd862e3fe1be46a994272793;
/// Parent=53995c3f42cd8ad8;Sampled=1`, the `Lambda-Runtime-Trace-Id` the runtime passes):
/// its `Root`, when well formed (`1-` 8 hex digits `-` 24 hex digits). Anything else is none:
/// the value ends up in events and logs.
pub fn root_of(header: &str) -> Option<String> {
    let root = header.split(';').find_map(|part| part.trim().strip_prefix("Root="))?;
    let mut parts = root.split('-');
    let well_formed = parts.next() == Some("1")
        && parts.next().is_some_and(|t| t.len() == 8 && is_hex(t))
        && parts.next().is_some_and(|r| r.len() == 24 && is_hex(r))
        && parts.next().is_none();
    well_formed.then(|| root.to_string())
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_of_a_trace_header() {
        let cases = [
            (
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
                Some("1-5759e988-bd862e3fe1be46a994272793"),
            ),
            (
                "Parent=53995c3f42cd8ad8; Root=1-5759e988-bd862e3fe1be46a994272793",
                Some("1-5759e988-bd862e3fe1be46a994272793"),
            ),
            ("Root=1-5759e988-bd862e3fe1be46a99427279", None),
            ("Root=2-5759e988-bd862e3fe1be46a994272793", None),
            ("Root=1-5759e988-bd862e3fe1be46a99427279z", None),
            ("Root=1-5759e988-bd862e3fe1be46a994272793-x", None),
            ("Root=1-5759e988-bd862e3fe1be46a994272793\n{\"x\":1}", None),
            ("", None),
        ];
        for (header, want) in cases {
            assert_eq!(root_of(header).as_deref(), want, "{header:?}");
        }
    }

    #[tokio::test]
    async fn the_scope_sets_the_current_trace() {
        assert_eq!(current(), None);
        let inner = scope(Some("1-a".into()), async { current() }).await;
        assert_eq!(inner.as_deref(), Some("1-a"));
        assert_eq!(current(), None);
    }
}
