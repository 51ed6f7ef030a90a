#!/usr/bin/env bash
# Deployment checks: cfn-lint and `sam validate --lint` on template.yaml, `sam build` (arm64,
# cargo-lambda + zig, both from PyPI), then the built artifacts under a Lambda Runtime API
# emulator (scripts/test-artifacts.sh). Where the arm64 Rust target cannot be installed, the
# artifacts are built for the host the same way and tested.
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
mkdir -p .tmp

echo "== cfn-lint template.yaml"
cfn-lint template.yaml
echo "== sam validate --lint"
sam validate --lint --region eu-central-1

if rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu; then
  echo "== sam build (arm64, cargo-lambda + zig)"
  # The command sam build runs per function (aws-lambda-builders' rust-cargolambda workflow:
  # `cargo lambda build --release --arm64 --bin X` + CargoLambdaFlags), run once for both
  # binaries first: one cargo invocation links the two fat-LTO binaries side by side on two
  # cores instead of one after the other. sam build then runs its own commands, finds every
  # unit fresh (same target, profile and features) and packages those very binaries.
  cargo lambda build --release --arm64 --no-default-features --bin submit --bin poll
  cp target/lambda/submit/bootstrap .tmp/submit.bootstrap
  cp target/lambda/poll/bootstrap .tmp/poll.bootstrap
  sam build --region eu-central-1
  ls -l .aws-sam/build/SubmitFunction/bootstrap .aws-sam/build/PollFunction/bootstrap
  # What sam build packaged is, byte for byte, the lean build above (no `dev`/`cli` features:
  # Cargo.toml's [package.metadata.lambda.build]), not a rebuild with other flags.
  cmp .tmp/submit.bootstrap .aws-sam/build/SubmitFunction/bootstrap
  cmp .tmp/poll.bootstrap .aws-sam/build/PollFunction/bootstrap
  echo "sam build packaged the lean builds (identical bytes)"
  scripts/test-artifacts.sh .aws-sam/build
else
  echo "== the aarch64-unknown-linux-gnu target cannot be installed on this machine"
  scripts/test-artifacts.sh /nonexistent
fi
echo "== deployment checks passed"
