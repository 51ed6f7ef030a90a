#!/usr/bin/env bash
# Starts a local stand-in for everything the functions talk to, for `cargo lambda watch`:
# a moto server (SQS, EventBridge, Secrets Manager) with the queues, the bus (plus a rule that
# copies every event to a capture queue) and a csbs-sim with demo backups, all on 127.0.0.1.
# Writes the functions' environment to .tmp/dev.env and waits; Ctrl-C stops everything.
#
#   scripts/dev-env.sh &            # or in another terminal
#   set -a; . .tmp/dev.env; set +a
#   cargo lambda watch              # then: cargo lambda invoke submit --data-file events/sqs.json
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tmp
VENV=.venv
if ! "$VENV/bin/python" -c "import moto" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r tests/py/requirements.txt
fi
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
MOTO_PORT=${MOTO_PORT:-5005}
SIM_PORT=${SIM_PORT:-9100}
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" > .tmp/dev-moto.log 2>&1 &
pids+=($!)
cargo build --quiet --bin csbs-sim
./target/debug/csbs-sim --port "$SIM_PORT" --seed-demo > .tmp/dev-sim.log 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/" 2>/dev/null && break; sleep 0.1; done
"$VENV/bin/python" - "$MOTO_PORT" <<'PY'
import json, sys, boto3
ep = f"http://127.0.0.1:{sys.argv[1]}"
kw = dict(endpoint_url=ep, region_name="eu-central-1", aws_access_key_id="testing", aws_secret_access_key="testing")
sqs, eb, sm = boto3.client("sqs", **kw), boto3.client("events", **kw), boto3.client("secretsmanager", **kw)
pending = sqs.create_queue(QueueName="csbs-deleter-pending", Attributes={"VisibilityTimeout": "120"})["QueueUrl"]
capture = sqs.create_queue(QueueName="csbs-deleter-events")["QueueUrl"]
# Where selections fan out to (nothing consumes it here: read it with aws sqs receive-message).
intake = sqs.create_queue(QueueName="csbs-deleter-intake", Attributes={"MaximumMessageSize": "1048576"})["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=capture, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
eb.create_event_bus(Name="csbs-deleter")
eb.put_rule(Name="capture", EventBusName="csbs-deleter", EventPattern=json.dumps({"source": ["csbs.checkpoint-deletion"]}))
eb.put_targets(Rule="capture", EventBusName="csbs-deleter", Targets=[{"Id": "q", "Arn": arn}])
creds = sm.create_secret(Name="csbs-credentials", SecretString=json.dumps({"ak": "DEMOACCESSKEY0000000", "sk": "DEMOsecretkeyDEMOsecretkeyDEMOsecretkey0"}))["ARN"]
hook = sm.create_secret(Name="csbs-webhook", SecretString="csbs-deleter-test-webhook-secret")["ARN"]
with open(".tmp/dev.env", "w") as f:
    f.write(f"""AWS_ENDPOINT_URL={ep}
AWS_REGION=eu-central-1
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
CSBS_ENDPOINT=http://127.0.0.1:__SIM__
CBR_ENDPOINT=http://127.0.0.1:__SIM__
CSBS_CREDENTIALS_SECRET_ARN={creds}
WEBHOOK_SECRET_ARN={hook}
PENDING_QUEUE_URL={pending}
INTAKE_QUEUE_URL={intake}
EVENT_BUS_NAME=csbs-deleter
POLL_WINDOW_SECONDS=20
POLL_INTERVAL_SECONDS=2
CAPTURE_QUEUE_URL={capture}
""")
PY
sed -i "s/__SIM__/$SIM_PORT/" .tmp/dev.env
echo "moto on http://127.0.0.1:$MOTO_PORT, csbs-sim on http://127.0.0.1:$SIM_PORT; environment in .tmp/dev.env"
wait
