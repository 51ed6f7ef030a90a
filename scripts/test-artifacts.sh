#!/usr/bin/env bash
# Tests what ships: the bootstrap binaries of `sam build` (arm64, run here under
# qemu-aarch64-static with Debian's arm64 sysroot) under a Lambda Runtime API emulator, against
# moto and csbs-sim (tests/artifact/run_artifacts.py). Where qemu cannot be installed, the same
# cargo-lambda build is made for the host (x86_64) and tested instead.
#
#   scripts/test-artifacts.sh [BUILD_DIR]     BUILD_DIR: sam's output (default .aws-sam/build)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
BUILD_DIR=${1:-.aws-sam/build}
export PATH="$PWD/$VENV/bin:$PATH"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
if [ -z "${MOTO_ENDPOINT:-}" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$VENV/bin/python" tests/py/moto_server.py -H 127.0.0.1 -p "$port" > .tmp/moto-artifacts.log 2>&1 & pids+=($!)
  export MOTO_ENDPOINT="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "$MOTO_ENDPOINT/moto-api/" 2>/dev/null && break; sleep 0.1; done
fi
# Built by `cargo test` in scripts/test.sh; a plain build only when run on its own.
[ -x target/debug/csbs-sim ] || cargo build --quiet --bin csbs-sim

if ! command -v qemu-aarch64-static >/dev/null || [ ! -d /usr/aarch64-linux-gnu/lib ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing qemu-user-static and the arm64 sysroot"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static libc6-arm64-cross) > .tmp/apt.log 2>&1 || true
  fi
fi
submit="$BUILD_DIR/SubmitFunction/bootstrap"; poll="$BUILD_DIR/PollFunction/bootstrap"
if [ -x "$submit" ] && [ -x "$poll" ] && command -v qemu-aarch64-static >/dev/null && [ -d /usr/aarch64-linux-gnu/lib ]; then
  echo "== the sam build artifacts (arm64) under qemu, via the Runtime API"
  file "$submit" "$poll"
  "$VENV/bin/python" tests/artifact/run_artifacts.py --submit "$submit" --poll "$poll" \
    --sim target/debug/csbs-sim --qemu /usr/aarch64-linux-gnu
else
  echo "== no arm64 artifacts or no qemu: cargo-lambda builds for the host, as sam build does (release, --no-default-features)"
  cargo lambda build --release --compiler cargo --no-default-features --bin submit --bin poll
  "$VENV/bin/python" tests/artifact/run_artifacts.py --submit target/lambda/submit/bootstrap \
    --poll target/lambda/poll/bootstrap --sim target/debug/csbs-sim
fi
