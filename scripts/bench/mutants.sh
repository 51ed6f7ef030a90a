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
# The I/O shells around the decisions (receive/emit/delete loops, counters) are excluded:
# their behaviour is asserted by the integration tests, not by unit tests.
cargo mutants --no-shuffle -j "${MUTANTS_JOBS:-1}" --output .tmp/bench --profile mutants --cargo-test-arg=--lib \
  -f src/request.rs -f src/ids.rs -f src/csbs/error.rs -f src/webhook.rs -f src/submit.rs -f src/poll.rs \
  -E 'Poller::(run|pass|receive_all|forget|reissue|check|new)|PollSummary::add|Submitter::|next_pass_in|impl Default' \
  || true   # cargo-mutants exits non-zero when mutants survive; the report says which
test -f .tmp/bench/mutants.out/outcomes.json
