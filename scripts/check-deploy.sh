#!/usr/bin/env bash
# Deployment checks: cfn-lint and `sam validate --lint` on template.yaml, then `sam build`
# (cargo-lambda + zig, both from PyPI) for arm64. Where the arm64 Rust target cannot be
# installed, it says so and builds for the host with `cargo lambda build --compiler cargo`.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
if ! "$VENV/bin/python" -c "import cfnlint, samcli" 2>/dev/null || [ ! -x "$VENV/bin/cargo-lambda" ]; then
  echo "== installing the deployment tools into $VENV"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r tests/py/requirements.txt -r tests/py/requirements-deploy.txt
fi
export PATH="$PWD/$VENV/bin:$PATH" SAM_CLI_TELEMETRY=0

echo "== cfn-lint template.yaml"
cfn-lint template.yaml
echo "== sam validate --lint"
sam validate --lint --region eu-central-1

if rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu; then
  echo "== sam build (arm64, cargo-lambda + zig)"
  sam build --beta-features --region eu-central-1
  file .aws-sam/build/SubmitFunction/bootstrap .aws-sam/build/PollFunction/bootstrap
else
  echo "== the aarch64-unknown-linux-gnu target cannot be installed on this machine:"
  echo "   building the functions for the host instead (cargo lambda build --compiler cargo)"
  cargo lambda build --release --compiler cargo --bin submit --bin poll
  ls -l target/lambda/submit/bootstrap target/lambda/poll/bootstrap
fi
echo "== deployment checks passed"
