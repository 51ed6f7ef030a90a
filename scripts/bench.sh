#!/usr/bin/env bash
# Benchmarks; writes BENCHMARKS.md from what the steps measured (scripts/bench/report.py reads
# their results in .tmp/bench/; no figure is typed in by hand).
#
#   scripts/bench.sh                 every step (about an hour on 2 cores; mutants are most of it)
#   scripts/bench.sh STEP...         only these steps, then the report from all results present
#
# Steps:
#   artifacts  `sam build` (arm64, as deployed): bootstrap sizes, unzipped and zipped; and the same
#              cargo-lambda build for the host (x86_64, release, --no-default-features)
#   coldstart  the host artifacts: spawn -> first Runtime API `next` (median of 20), first
#              invocation and peak RSS, against the Python peer (boto3 + the Huawei SDK signer)
#   baseline   the same for BENCH_BASELINE (a git revision, default 21c50bc: before the lean build)
#   workflow   cargo bench: submit, the edges (strict parse, v2 signature, token burst), poll ticks,
#              pipeline throughput, detection delay, the cost of metrics and trace ids (operate),
#              regions, checks read in bulk and the pace (bulk)
#   bulk       only the bulk part of workflow (calls per pass for a 10,000-task backlog, 100,000
#              tasks under two invocations, a 20 calls/s throttle; about 5 minutes)
#   soak       the soak under faults with 500 requests
#   fuzz       the fuzz properties with 5,000 cases each
#   mutants    mutation testing of the decision code (scripts/bench/mutants.sh)
#   report     nothing measured: BENCHMARKS.md rendered again from the results present
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tmp/bench
VENV=.venv
if ! "$VENV/bin/python" -c "import moto, huaweicloudsdkcore, awslambdaric, samcli" 2>/dev/null || [ ! -x "$VENV/bin/cargo-lambda" ]; then
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r tests/py/requirements.txt -r tests/py/requirements-bench.txt -r tests/py/requirements-deploy.txt
fi
PY="$PWD/$VENV/bin/python"
export PATH="$PWD/$VENV/bin:$PATH" SAM_CLI_TELEMETRY=0
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(artifacts coldstart workflow soak fuzz mutants)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

artifacts() {
  echo "== sam build (arm64) and the same build for the host"
  rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
  sam build --region eu-central-1 > .tmp/bench/sam-build.log 2>&1
  cargo lambda build --release --compiler cargo --no-default-features --bin submit --bin poll > .tmp/bench/lambda-build.log 2>&1
  "$PY" - <<'PY'
import io, json, os, zipfile
def sizes(path):
    data = open(path, "rb").read()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:   # as `sam package` zips it
        z.writestr("bootstrap", data)
    return {"unzipped_mb": len(data) / 1e6, "zipped_mb": len(buf.getvalue()) / 1e6}
out = {f: sizes(f".aws-sam/build/{f}Function/bootstrap") for f in ["Submit", "Poll"]}
out.update({f"host-{f}": sizes(f"target/lambda/{f}/bootstrap") for f in ["submit", "poll"]})
json.dump(out, open(".tmp/bench/artifacts.json", "w"))
print(json.dumps(out))
PY
}

# Starts moto and a csbs-sim whose deletions never finish, seeds them, writes the env for
# the cold-start runs into .tmp/bench/env.sh.
servers() {
  [ -f .tmp/bench/env.sh ] && [ -n "${BENCH_SERVERS_UP:-}" ] && return
  cargo build --quiet --bin csbs-sim
  local moto_port sim_port
  moto_port=$(free_port); sim_port=$(free_port)
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$moto_port" > .tmp/bench/moto.log 2>&1 & pids+=($!)
  ./target/debug/csbs-sim --port "$sim_port" --seed-demo --delete-ms-min 600000 --delete-ms-max 600000 > .tmp/bench/sim.log 2>&1 & pids+=($!)
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$moto_port/moto-api/" 2>/dev/null && break; sleep 0.1; done
  for _ in $(seq 1 100); do grep -q listening .tmp/bench/sim.log 2>/dev/null && break; sleep 0.05; done
  "$PY" - "$moto_port" "http://127.0.0.1:$sim_port" <<'PY'
import json, sys, urllib.request, boto3
moto, sim = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=f"http://127.0.0.1:{moto}", region_name="eu-central-1", aws_access_key_id="testing", aws_secret_access_key="testing")
url = boto3.client("sqs", **kw).create_queue(QueueName="bench-pending")["QueueUrl"]
boto3.client("events", **kw).create_event_bus(Name="bench")
# The decision ledger, as the template creates it.
boto3.client("dynamodb", **kw).create_table(
    TableName="bench-ledger", BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": "task_id", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "task_id", "KeyType": "HASH"}])
project = "0123456789abcdef0123456789abcdef"
for i in range(10):
    body = json.dumps({"project_id": project, "checkpoint_id": f"bench-{i}", "items": [{"id": f"bench-{i}-item"}]}).encode()
    urllib.request.urlopen(urllib.request.Request(sim + "/_sim/seed", data=body, headers={"Content-Type": "application/json"}))
records = [{"messageId": f"m{i}", "receiptHandle": f"r{i}", "body": json.dumps({"project_id": project, "checkpoint_id": f"bench-{i}"}),
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"}, "messageAttributes": {}, "md5OfBody": "",
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-central-1:000000000000:intake", "awsRegion": "eu-central-1"} for i in range(10)]
json.dump({"Records": records}, open(".tmp/bench/sqs10.json", "w"))
env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto}", "AWS_REGION": "eu-central-1", "AWS_DEFAULT_REGION": "eu-central-1",
       "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "CSBS_ENDPOINT": sim,
       "CSBS_AK": "DEMOACCESSKEY0000000", "CSBS_SK": "DEMOsecretkeyDEMOsecretkeyDEMOsecretkey0",
       "PENDING_QUEUE_URL": url, "EVENT_BUS_NAME": "bench", "LEDGER_TABLE_NAME": "bench-ledger", "WEBHOOK_SECRET": "csbs-deleter-test-webhook-secret",
       "POLL_WINDOW_SECONDS": "0", "PENDING_RECEIVE_WAIT_SECONDS": "0", "AWS_LAMBDA_FUNCTION_NAME": "bench",
       "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_FORMAT": "JSON"}
open(".tmp/bench/env.sh", "w").write("".join(f"export {k}='{v}'\n" for k, v in env.items()))
# As deployed: both of submit's secrets in Secrets Manager (moto), no inline credential.
sm = boto3.client("secretsmanager", **kw)
creds = sm.create_secret(Name="bench-creds", SecretString=json.dumps({"ak": env["CSBS_AK"], "sk": env["CSBS_SK"]}))["ARN"]
hook = sm.create_secret(Name="bench-webhook", SecretString=env["WEBHOOK_SECRET"])["ARN"]
open(".tmp/bench/env-secrets.sh", "w").write(
    "unset CSBS_AK CSBS_SK WEBHOOK_SECRET\n"
    f"export CSBS_CREDENTIALS_SECRET_ARN='{creds}' WEBHOOK_SECRET_ARN='{hook}'\n")
PY
  BENCH_SERVERS_UP=1
}

# cold NAME SUBMIT POLL: cold start, first invocation and peak RSS of two bootstraps.
cold() {
  local name=$1 submit=$2 poll=$3
  ( . .tmp/bench/env.sh
    "$PY" scripts/bench/coldstart.py --runs 20 --log ".tmp/bench/$name-submit.log" --event .tmp/bench/sqs10.json --name "$name-submit" -- "$submit" > ".tmp/bench/cold-$name-submit.json"
    "$PY" scripts/bench/coldstart.py --runs 20 --log ".tmp/bench/$name-poll.log" --event events/schedule-v2.json --name "$name-poll" -- "$poll" > ".tmp/bench/cold-$name-poll.json" )
  cat ".tmp/bench/cold-$name-submit.json" ".tmp/bench/cold-$name-poll.json"
}

coldstart() {
  echo "== cold start (20 runs each): the deployable build for the host, a bare lambda_runtime echo, and the Python peer"
  # For the host (target/lambda/ may hold the arm64 build of `sam build`; this is fresh when
  # the host build is current).
  cargo lambda build --release --compiler cargo --no-default-features --bin submit --bin poll
  cargo build --release --quiet --no-default-features --example lambda_echo
  servers
  cold lean target/lambda/submit/bootstrap target/lambda/poll/bootstrap
  # The same run's baseline and submit with both secrets in Secrets Manager (moto), as deployed.
  ( . .tmp/bench/env.sh
    "$PY" scripts/bench/coldstart.py --runs 20 --log .tmp/bench/echo.log --event .tmp/bench/sqs10.json --name echo -- target/release/examples/lambda_echo > .tmp/bench/cold-echo.json
    . .tmp/bench/env-secrets.sh
    "$PY" scripts/bench/coldstart.py --runs 20 --log .tmp/bench/secrets-submit.log --event .tmp/bench/sqs10.json --name secrets-submit -- target/lambda/submit/bootstrap > .tmp/bench/cold-secrets-submit.json )
  cat .tmp/bench/cold-echo.json .tmp/bench/cold-secrets-submit.json
  ( . .tmp/bench/env.sh; cd scripts/bench/peer && LAMBDA_TASK_ROOT="$PWD" "$PY" ../coldstart.py --runs 20 --log ../../../.tmp/bench/peer.log \
      --event ../../../.tmp/bench/sqs10.json --name python-peer -- "$PY" -m awslambdaric handler.handler ) > .tmp/bench/cold-peer.json
  cat .tmp/bench/cold-peer.json
}

baseline() {
  local rev=${BENCH_BASELINE:-21c50bc}
  echo "== baseline $rev: built as its own bench did (cargo build --release), measured the same way"
  rm -rf .tmp/baseline && git worktree prune
  git worktree add --detach .tmp/baseline "$rev" > /dev/null
  (cd .tmp/baseline && CARGO_TARGET_DIR="$PWD/../baseline-target" cargo build --release --quiet --bin submit --bin poll)
  servers
  cold baseline .tmp/baseline-target/release/submit .tmp/baseline-target/release/poll
  "$PY" -c "import json, os; json.dump({'rev': '$rev', 'submit_mb': os.path.getsize('.tmp/baseline-target/release/submit') / 1e6, 'poll_mb': os.path.getsize('.tmp/baseline-target/release/poll') / 1e6}, open('.tmp/bench/baseline.json', 'w'))"
  git worktree remove --force .tmp/baseline
}

workflow() {
  echo "== workflow benchmarks"
  for part in submit edges ledger poll1k poll10k cbr selection throughput delay operate regions bulk; do
    cargo bench --quiet --bench workflow -- "$part" > ".tmp/bench/$part.json"
    cat ".tmp/bench/$part.json"
  done
}

soak() {
  echo "== soak (500 requests)"
  SOAK_REQUESTS=500 cargo test --profile bench --quiet --test it soak:: -- --nocapture 2>&1 | grep -E '^soak' > .tmp/bench/soak.txt
  cat .tmp/bench/soak.txt
}

fuzz() {
  echo "== fuzzing (5000 cases per property)"
  PROPTEST_CASES=5000 cargo test --profile bench --quiet --test it fuzz:: 2>&1 | grep 'test result' > .tmp/bench/fuzz.txt
  cat .tmp/bench/fuzz.txt
}

mutants() { scripts/bench/mutants.sh; }

bulk() {
  echo "== checks read in bulk and the pace"
  cargo bench --quiet --bench workflow -- bulk > .tmp/bench/bulk.json
  cat .tmp/bench/bulk.json
}

for step in "${steps[@]}"; do
  case "$step" in
    artifacts|coldstart|baseline|workflow|soak|fuzz|mutants|bulk)
      "$step"
      git describe --always --dirty > ".tmp/bench/$step.commit"
      # Parts that can also be run on their own keep their own commit record.
      if [ "$step" = workflow ]; then
        for part in cbr selection edges ledger delay operate regions bulk; do cp ".tmp/bench/workflow.commit" ".tmp/bench/$part.commit"; done
      fi ;;
    report) ;;
    *) echo "unknown step $step"; exit 2 ;;
  esac
done
"$PY" scripts/bench/report.py > .tmp/bench/BENCHMARKS.md   # rendered whole, then moved into place
mv .tmp/bench/BENCHMARKS.md BENCHMARKS.md
echo "== wrote BENCHMARKS.md"
