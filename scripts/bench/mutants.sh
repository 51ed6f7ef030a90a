#!/usr/bin/env bash
# Mutation testing of the decision code (a bench step, not CI): request validation, id
# checks, error classification, the submit decision, the poll verdict and check schedule, the
# webhook verifier. Every mutant is built and run against the unit tests (`--lib`); the
# result lands in .tmp/bench/mutants.out, which scripts/bench/report.py reads.
#
#   scripts/bench/mutants.sh            (about an hour on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants
mkdir -p .tmp/bench
# Decision code only: the whole of request validation, id checks, error classification (CSBS
# and CBR), the reading of target states (CSBS items, CBR backups and delete tasks, CBR times and
# numbers) and the webhook verifier, and the pure decision functions of submit, poll, the event batching and
# the retry policy; the selection contract, the plan and the fan-out's pace. The I/O shells around them are asserted by the integration tests.
DECISIONS='src/(request|ids|webhook|target|csbs/error|csbs/state|cbr/error|cbr/state|cbr/models|selection/selector|selection/plan)\.rs|in (pace|split_target|verdict|unknown_verdict|item_state|next_check_secs|until_boundary_ms|receive_visibility|PassState::claim|PassState::settle|decide|received_at|prepare_deadline|put_chunks|retry_wait)\b'
rm -rf .tmp/bench/mutants.out
cargo mutants --no-shuffle -j "${MUTANTS_JOBS:-1}" --output .tmp/bench --profile mutants --cargo-test-arg=--lib \
  -f 'src/request/*.rs' -f src/ids.rs -f src/cloud/error.rs -f src/webhook.rs -f 'src/submit/*.rs' -f 'src/poll/*.rs' \
  -f src/ports/sink.rs -f src/csbs/client.rs -f src/target.rs -f src/csbs/state.rs -f src/cbr/error.rs \
  -f src/cbr/state.rs -f src/cbr/models.rs -f src/selection/selector.rs -f src/select/plan.rs \
  -f src/selection/fanout.rs -F "$DECISIONS" -E 'read_backup' \
  || true   # cargo-mutants exits non-zero when mutants survive; the report lists them
test -f .tmp/bench/mutants.out/outcomes.json
