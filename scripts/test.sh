#!/usr/bin/env bash
# The test command. On a fresh machine it installs what the tests need (a Python venv with
# moto[server], cfn-lint and the Huawei SDK core), starts a moto server and a csbs-sim on
# 127.0.0.1, runs the lints and every test, and stops the servers afterwards.
#
#   scripts/test.sh            lints + all tests
#   scripts/test.sh -- ARGS    extra arguments for `cargo test` (e.g. a test name)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tmp

VENV=.venv
if ! "$VENV/bin/python" -c "import moto, cfnlint, huaweicloudsdkcore" 2>/dev/null; then
  echo "== installing the Python test tools into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r tests/py/requirements.txt
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

port=$(free_port)
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" > .tmp/moto.log 2>&1 &
pids+=($!)
export MOTO_ENDPOINT="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "$MOTO_ENDPOINT/moto-api/" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "$MOTO_ENDPOINT/moto-api/" || { echo "moto did not start:"; cat .tmp/moto.log; exit 1; }
echo "== moto on $MOTO_ENDPOINT"

echo "== cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings

echo "== cargo test"
extra=()
if [ "${1:-}" = "--" ]; then shift; extra=("$@"); fi
cargo test --all-targets "${extra[@]}"

echo "== the simulator accepts the official Huawei SDK signer"
cargo build --quiet --bin csbs-sim
./target/debug/csbs-sim --port 0 --seed-demo > .tmp/sim.out 2> .tmp/sim.err &
pids+=($!)
for _ in $(seq 1 100); do grep -q listening .tmp/sim.out 2>/dev/null && break; sleep 0.05; done
sim_url=$(awk '/listening/ {print $4; exit}' .tmp/sim.out)
"$VENV/bin/python" tests/py/check_signer.py "$sim_url"

if [ -f template.yaml ]; then
  echo "== cfn-lint template.yaml"
  "$VENV/bin/cfn-lint" template.yaml
fi
echo "== all checks passed"
