#!/usr/bin/env bash
# Benchmarks; writes BENCHMARKS.md. Takes about 15 minutes on 2 cores (release builds, the
# 100-deletion detection-delay run, the 500-request soak and a long fuzzing round).
#
#   scripts/bench.sh
#
# Measured: cold start of each release binary (spawn -> first Runtime API `next`, median of 20,
# with a minimal local Runtime API server) and peak RSS after one invocation, binary sizes; the
# same job in Python (boto3 + the Huawei SDK signer under awslambdaric) as the peer; submit and
# poll throughput in-process against csbs-sim with the in-memory queue and bus; detection delay;
# the soak under faults; fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tmp/bench
VENV=.venv
if ! "$VENV/bin/python" -c "import moto, huaweicloudsdkcore, awslambdaric" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r tests/py/requirements.txt -r tests/py/requirements-bench.txt
fi
PY="$PWD/$VENV/bin/python"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

echo "== release build"
cargo build --release --quiet --bin submit --bin poll --bin csbs-sim

MOTO_PORT=$(free_port); SIM_PORT=$(free_port)
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" > .tmp/bench/moto.log 2>&1 & pids+=($!)
./target/release/csbs-sim --port "$SIM_PORT" --seed-demo --delete-ms-min 600000 --delete-ms-max 600000 > .tmp/bench/sim.log 2>&1 & pids+=($!)
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/" 2>/dev/null && break; sleep 0.1; done
for _ in $(seq 1 100); do grep -q listening .tmp/bench/sim.log 2>/dev/null && break; sleep 0.05; done
SIM="http://127.0.0.1:$SIM_PORT"
"$PY" - "$MOTO_PORT" "$SIM" <<'PY'
import json, sys, urllib.request, boto3
moto, sim = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=f"http://127.0.0.1:{moto}", region_name="eu-central-1", aws_access_key_id="testing", aws_secret_access_key="testing")
url = boto3.client("sqs", **kw).create_queue(QueueName="bench-pending")["QueueUrl"]
boto3.client("events", **kw).create_event_bus(Name="bench")
project = "0123456789abcdef0123456789abcdef"
for i in range(10):
    body = json.dumps({"project_id": project, "checkpoint_id": f"bench-{i}", "items": [{"id": f"bench-{i}-item"}]}).encode()
    urllib.request.urlopen(urllib.request.Request(sim + "/_sim/seed", data=body, headers={"Content-Type": "application/json"}))
records = [{"messageId": f"m{i}", "receiptHandle": f"r{i}", "body": json.dumps({"project_id": project, "checkpoint_id": f"bench-{i}"}),
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"}, "messageAttributes": {}, "md5OfBody": "",
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-central-1:000000000000:intake", "awsRegion": "eu-central-1"} for i in range(10)]
json.dump({"Records": records}, open(".tmp/bench/sqs10.json", "w"))
open(".tmp/bench/pending_url", "w").write(url)
PY
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_REGION=eu-central-1 AWS_DEFAULT_REGION=eu-central-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export CSBS_ENDPOINT="$SIM" CSBS_AK=DEMOACCESSKEY0000000 CSBS_SK=DEMOsecretkeyDEMOsecretkeyDEMOsecretkey0
export PENDING_QUEUE_URL=$(cat .tmp/bench/pending_url) EVENT_BUS_NAME=bench WEBHOOK_SECRET=csbs-deleter-test-webhook-secret
export POLL_WINDOW_SECONDS=0 PENDING_RECEIVE_WAIT_SECONDS=0
export AWS_LAMBDA_FUNCTION_NAME=bench AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 AWS_LAMBDA_FUNCTION_VERSION='$LATEST' AWS_LAMBDA_LOG_FORMAT=JSON

echo "== cold start (20 runs each)"
"$PY" scripts/bench/coldstart.py --runs 20 --log .tmp/bench/submit.log --event .tmp/bench/sqs10.json --name submit -- ./target/release/submit > .tmp/bench/cold-submit.json
"$PY" scripts/bench/coldstart.py --runs 20 --log .tmp/bench/poll.log --event events/schedule-v2.json --name poll -- ./target/release/poll > .tmp/bench/cold-poll.json
(cd scripts/bench/peer && LAMBDA_TASK_ROOT="$PWD" "$PY" ../coldstart.py --runs 20 --log ../../../.tmp/bench/peer.log --event ../../../.tmp/bench/sqs10.json --name python-peer -- "$PY" -m awslambdaric handler.handler) > .tmp/bench/cold-peer.json
cat .tmp/bench/cold-*.json

echo "== workflow benchmarks"
cargo bench --quiet --bench workflow -- submit > .tmp/bench/submit.json
cargo bench --quiet --bench workflow -- poll1k > .tmp/bench/poll1k.json
cargo bench --quiet --bench workflow -- poll10k > .tmp/bench/poll10k.json
cargo bench --quiet --bench workflow -- delay > .tmp/bench/delay.json
cat .tmp/bench/submit.json .tmp/bench/poll1k.json .tmp/bench/poll10k.json .tmp/bench/delay.json

echo "== soak (500 requests)"
SOAK_REQUESTS=500 cargo test --release --quiet --test soak -- --nocapture 2>&1 | grep '^soak:' > .tmp/bench/soak.txt
cat .tmp/bench/soak.txt
echo "== fuzzing (5000 cases per property)"
PROPTEST_CASES=5000 cargo test --release --quiet --test fuzz 2>&1 | grep 'test result' > .tmp/bench/fuzz.txt
cat .tmp/bench/fuzz.txt

"$PY" scripts/bench/report.py > BENCHMARKS.md
echo "== wrote BENCHMARKS.md"
