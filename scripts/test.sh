#!/usr/bin/env bash
# The test command. On a fresh machine it installs what the tests need (a Python venv with
# moto[server], cfn-lint, the Huawei SDK core, SAM CLI and cargo-lambda; qemu-user-static for
# the arm64 artifacts), starts a moto server and a csbs-sim on 127.0.0.1, runs the lints,
# every test and the template checks, then builds what ships (`sam build`, arm64) and runs
# those artifacts under a Lambda Runtime API emulator; it stops the servers afterwards.
#
#   scripts/test.sh                    everything (what CI runs)
#   scripts/test.sh --quick            without the release builds (iterating)
#   scripts/test.sh [--quick] -- ARGS  extra arguments for `cargo test` (e.g. a test name)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tmp

quick=false
if [ "${1:-}" = "--quick" ]; then quick=true; shift; fi
extra=()
if [ "${1:-}" = "--" ]; then shift; extra=("$@"); fi

# The phases overlap where one waits and another computes (2 cores): in the background the
# Python tools install, the arm64 target downloads and then the release build of what ships
# runs, niced, filling the cores whenever the foreground waits (links, the tests' timers and
# loopback calls); in the foreground cargo lints, builds and runs the tests.
VENV=.venv
reqs=(-r tests/py/requirements.txt)
$quick || reqs+=(-r tests/py/requirements-deploy.txt)
need_pip=false
if ! "$VENV/bin/python" -c "import moto, cfnlint, cfn_lint_serverless, huaweicloudsdkcore, samtranslator, yaml, jsonschema, rfc3339_validator" 2>/dev/null \
   || { ! $quick && [ ! -x "$VENV/bin/cargo-lambda" ]; }; then
  need_pip=true
  echo "== installing the Python test and deployment tools into $VENV (in the background)"
fi
rm -f .tmp/pip.done
(
  set -e
  if $need_pip; then
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    # cargo-lambda and its zig linker first: the release build starts on them while the rest
    # (moto, cfn-lint, SAM CLI) installs.
    $quick || "$VENV/bin/pip" install -q $(grep -E '^(cargo-lambda|ziglang)==' tests/py/requirements-deploy.txt)
  fi
  release=
  if ! $quick; then
    rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
    # The command sam build runs per function (scripts/check-deploy.sh), for both at once.
    PATH="$PWD/$VENV/bin:$PATH" nice -n 19 cargo lambda build --release --arm64 --no-default-features --bin submit --bin poll &
    release=$!
  fi
  if $need_pip; then
    "$VENV/bin/pip" install -q "${reqs[@]}"
  fi
  touch .tmp/pip.done
  [ -z "$release" ] || wait "$release"
) > .tmp/background.log 2>&1 &
background=$!

# The artifact test's qemu and arm64 sysroot (scripts/test-artifacts.sh installs them when
# missing; here they download meanwhile).
apt_job=
if ! $quick && { ! command -v qemu-aarch64-static >/dev/null || [ ! -d /usr/aarch64-linux-gnu/lib ]; } \
   && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static libc6-arm64-cross) > .tmp/apt.log 2>&1 &
  apt_job=$!
fi

pids=("$background")
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

echo "== cargo fmt"
cargo fmt --all -- --check
# Clippy lints the test build itself: clippy-driver as the workspace's rustc wrapper (what
# `cargo clippy` sets up around `cargo check`), the same lints over the same targets as
# `cargo clippy --all-targets -- -D warnings`. A separate `cargo clippy` would compile every
# dependency a second time, in check mode: 80 s of a cold run on two cores.
cargo_linted() { cargo "$@"; }
if clippy_driver=$(rustup which clippy-driver 2>/dev/null) && [ -x "$clippy_driver" ]; then
  cargo_linted() { RUSTC_WORKSPACE_WRAPPER="$clippy_driver" CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__" cargo "$@"; }
  echo "== cargo test: the build, linted by clippy (-D warnings)"
else
  echo "== cargo clippy (no clippy-driver to lint the build with)"
  cargo clippy --all-targets --quiet -- -D warnings
  echo "== cargo test: the build"
fi
cargo_linted test --all-targets --no-run --quiet

while [ ! -f .tmp/pip.done ]; do
  kill -0 "$background" 2>/dev/null || { echo "installing the Python tools failed:"; cat .tmp/background.log; exit 1; }
  sleep 1
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
"$VENV/bin/python" tests/py/moto_server.py -H 127.0.0.1 -p "$port" > .tmp/moto.log 2>&1 &
pids+=($!)
export MOTO_ENDPOINT="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$MOTO_ENDPOINT/moto-api/" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "$MOTO_ENDPOINT/moto-api/" || { echo "moto did not start:"; cat .tmp/moto.log; exit 1; }
echo "== moto on $MOTO_ENDPOINT"

echo "== cargo test: the run"
# Every event the tests emit is recorded (CSBS_EVENT_LOG) and validated against its schema below.
rm -f .tmp/events.jsonl
CSBS_EVENT_LOG="$PWD/.tmp/events.jsonl" cargo_linted test --all-targets "${extra[@]}"

echo "== the outcome events: the published schemas, and every event the tests emitted against them"
"$VENV/bin/python" scripts/event-schemas.py
if [ ${#extra[@]} -eq 0 ]; then
  "$VENV/bin/python" tests/py/check_events.py .tmp/events.jsonl
fi

echo "== the simulator accepts the official Huawei SDK signer"
# `cargo test` built it (integration tests build the package's binaries); a plain `cargo build`
# would build every dependency again without the dev-dependencies' features.
[ -x target/debug/csbs-sim ] || cargo build --quiet --bin csbs-sim
./target/debug/csbs-sim --port 0 --seed-demo > .tmp/sim.out 2> .tmp/sim.err &
pids+=($!)
for _ in $(seq 1 100); do grep -q listening .tmp/sim.out 2>/dev/null && break; sleep 0.05; done
sim_url=$(awk '/listening/ {print $4; exit}' .tmp/sim.out)
"$VENV/bin/python" tests/py/check_signer.py "$sim_url"

echo "== the CLI's --iam signs as botocore does (SigV4)"
[ -x target/debug/csbs-deleter ] || cargo build --quiet --bin csbs-deleter
"$VENV/bin/python" tests/py/check_cli_sigv4.py target/debug/csbs-deleter

echo "== cfn-lint and the SAM-expanded template"
"$VENV/bin/cfn-lint" template.yaml
# AWS's serverless rules: 0 findings (false positives are suppressed on their resource, with why).
"$VENV/bin/cfn-lint" --append-rules cfn_lint_serverless.rules -- template.yaml
"$VENV/bin/python" tests/py/check_template.py template.yaml

echo "== the Lambda binaries link neither the development tools nor a second TLS stack"
lambda_deps=$(cargo tree --no-default-features -e normal --prefix none 2>/dev/null | sed 's/ (\*)//' | sort -u)
for banned in axum clap indicatif aws-lc-rs aws-lc-sys openssl; do
  if grep -q "^$banned " <<<"$lambda_deps"; then echo "the Lambda build links $banned"; exit 1; fi
done
[ "$(grep -c '^rustls ' <<<"$lambda_deps")" = 1 ] || { echo "more than one rustls in the Lambda build"; exit 1; }

if $quick; then
  echo "== --quick: the release builds and the artifact test were skipped"
else
  [ -z "$apt_job" ] || wait "$apt_job" || echo "(qemu could not be installed: .tmp/apt.log)"
  echo "== waiting for the background release build (.tmp/background.log)"
  wait "$background" || { echo "the background release build failed:"; tail -30 .tmp/background.log; exit 1; }
  scripts/check-deploy.sh
fi
echo "== all checks passed"
