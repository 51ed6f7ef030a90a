"""Runs the deployable bootstrap binaries (as `sam build` / cargo-lambda produce them) under a
Lambda Runtime API emulator, against moto (SQS, EventBridge, Secrets Manager) and csbs-sim.

  python tests/artifact/run_artifacts.py --submit DIR/SubmitFunction/bootstrap \
      --poll DIR/PollFunction/bootstrap --sim target/debug/csbs-sim [--qemu SYSROOT]

Each function is started once, as Lambda starts a container, and serves a sequence of
invocations through the Runtime API (`/2018-06-01/runtime/invocation/next`, `…/response`,
`…/error`): for submit an SQS batch, one event of each HTTP origin (signed), the payload whose
URI lambda_http cannot build (answered 400 in the ALB's shape), a set of mangled payloads, and a
last request that proves the same process still serves; for poll a scheduled tick that checks
the tasks submit recorded. With `--qemu` an arm64 artifact runs under qemu-aarch64-static.
Prints one line per check and a closing "N passed, N failed".
"""
import argparse
import importlib.util
import json
import re
import os
import queue
import random
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECRET = "artifact-test-webhook-secret"
PROJECT = "0123456789abcdef0123456789abcdef"
DEMO_AK, DEMO_SK = "DEMOACCESSKEY0000000", "DEMOsecretkeyDEMOsecretkeyDEMOsecretkey0"

# The v2 signer of the samples (scripts/sign-event.py), with this test's secret.
_spec = importlib.util.spec_from_file_location("sign_event", os.path.join(ROOT, "scripts", "sign-event.py"))
sign_event = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sign_event)

passed, failed = 0, 0


def check(ok, what):
    global passed, failed
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if ok:
        passed += 1
    else:
        failed += 1


class RuntimeApi:
    """The Lambda Runtime API, for one function process: events are handed out one at a time
    (`next` blocks until one is queued); the answer of each is awaited by `invoke`."""

    def __init__(self):
        self.events = queue.Queue()
        self.answers = {}
        self.cond = threading.Condition()
        self.init_errors = []
        self.nexts = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    self.send_error(404)
                    return
                with api.cond:
                    api.nexts += 1
                    api.cond.notify_all()
                request_id, payload, deadline_ms = api.events.get()
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline_ms))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-central-1:123456789012:function:artifact")
                # A trace per invocation, as Lambda passes it: submit writes its Root into the tasks.
                self.send_header("Lambda-Runtime-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent=53995c3f42cd8ad8;Sampled=1")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = self.path.strip("/").split("/")
                if parts[-2:] == ["init", "error"]:
                    api.init_errors.append(body.decode(errors="replace"))
                elif len(parts) >= 5 and parts[2] == "invocation":
                    with api.cond:
                        api.answers[parts[3]] = (parts[4], body)
                        api.cond.notify_all()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self):
        return f"127.0.0.1:{self.server.server_address[1]}"

    def invoke(self, payload, seconds=20):
        """Queues one event; returns ("response" | "error", parsed body) once answered."""
        request_id = str(uuid.uuid4())
        self.events.put((request_id, payload, int((time.time() + seconds) * 1000)))
        with self.cond:
            ok = self.cond.wait_for(lambda: request_id in self.answers, timeout=seconds + 30)
        if not ok:
            return ("none", None)
        kind, body = self.answers.pop(request_id)
        try:
            return (kind, json.loads(body))
        except ValueError:
            return (kind, body.decode(errors="replace"))

    def wait_ready(self, process, timeout=60):
        """Until the process asks for its first event (or dies)."""
        with self.cond:
            self.cond.wait_for(lambda: self.nexts > 0 or process.poll() is not None, timeout=timeout)
        return self.nexts > 0


def fixture(name):
    with open(os.path.join(ROOT, "events", name)) as f:
        return json.load(f)


def set_header(ev, name, value):
    ev.setdefault("headers", {})[name] = value
    if isinstance(ev.get("multiValueHeaders"), dict):
        ev["multiValueHeaders"][name] = [value]


def signed(ev):
    """Signs (v2) over what a client signs: method, path, canonical query and body."""
    return sign_event.sign(ev, int(time.time()), SECRET)


def http_status(answer):
    return answer.get("statusCode") if isinstance(answer, dict) else None


def start(bootstrap, api, env, qemu):
    cmd = [bootstrap] if not qemu else ["qemu-aarch64-static", "-L", qemu, bootstrap]
    full_env = dict(os.environ, **env, AWS_LAMBDA_RUNTIME_API=api.address)
    return subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def drain(process, sink):
    for line in process.stdout:
        sink.append(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--submit", required=True)
    ap.add_argument("--poll", required=True)
    ap.add_argument("--sim", required=True, help="the csbs-sim binary")
    ap.add_argument("--qemu", help="arm64 sysroot: run the artifacts under qemu-aarch64-static")
    args = ap.parse_args()
    moto = os.environ["MOTO_ENDPOINT"]

    sim = subprocess.Popen([args.sim, "--port", "0", "--seed-demo", "--delete-ms-min", "100", "--delete-ms-max", "300"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    sim_url = sim.stdout.readline().split()[-1]
    aws = dict(endpoint_url=moto, region_name="eu-central-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    sqs, events, sm = boto3.client("sqs", **aws), boto3.client("events", **aws), boto3.client("secretsmanager", **aws)
    tag = uuid.uuid4().hex[:10]
    pending = sqs.create_queue(QueueName=f"artifact-pending-{tag}")["QueueUrl"]
    capture = sqs.create_queue(QueueName=f"artifact-capture-{tag}")["QueueUrl"]
    capture_arn = sqs.get_queue_attributes(QueueUrl=capture, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = f"artifact-{tag}"
    events.create_event_bus(Name=bus)
    events.put_rule(Name=f"capture-{tag}", EventBusName=bus, EventPattern=json.dumps({"source": ["csbs.checkpoint-deletion"]}))
    events.put_targets(Rule=f"capture-{tag}", EventBusName=bus, Targets=[{"Id": "c", "Arn": capture_arn}])
    creds = sm.create_secret(Name=f"artifact-creds-{tag}", SecretString=json.dumps({"ak": DEMO_AK, "sk": DEMO_SK}))["ARN"]
    webhook = sm.create_secret(Name=f"artifact-webhook-{tag}", SecretString=SECRET)["ARN"]
    # The decision ledger, as the template creates it.
    ledger = f"artifact-ledger-{tag}"
    boto3.client("dynamodb", **aws).create_table(
        TableName=ledger, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "task_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "task_id", "KeyType": "HASH"}])
    env = {
        "AWS_ENDPOINT_URL": moto, "AWS_REGION": "eu-central-1", "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "CSBS_ENDPOINT": sim_url, "CBR_ENDPOINT": sim_url, "CSBS_CREDENTIALS_SECRET_ARN": creds, "WEBHOOK_SECRET_ARN": webhook,
        "PENDING_QUEUE_URL": pending, "EVENT_BUS_NAME": bus, "PENDING_RECEIVE_WAIT_SECONDS": "0", "LEDGER_TABLE_NAME": ledger,
        "POLL_WINDOW_SECONDS": "0", "AWS_LAMBDA_FUNCTION_NAME": "artifact", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_FORMAT": "JSON",
    }
    arch = "arm64 under qemu" if args.qemu else "host"
    try:
        # --- submit -----------------------------------------------------------------------
        api = RuntimeApi()
        proc = start(args.submit, api, env, args.qemu)
        logs = []
        threading.Thread(target=drain, args=(proc, logs), daemon=True).start()
        check(api.wait_ready(proc), f"submit ({arch}) started and asked for its first event")
        check(not api.init_errors, f"submit: no init error {api.init_errors}")

        kind, answer = api.invoke(fixture("sqs.json"))
        check(kind == "response" and answer.get("batchItemFailures") == [], f"submit: SQS batch answered, no failures: {kind} {answer}")
        kind, answer = api.invoke(fixture("sqs-cbr.json"))
        check(kind == "response" and answer.get("batchItemFailures") == [], f"submit: CBR SQS batch answered, no failures: {kind} {answer}")
        # The CBR-mirroring DELETE, from the HTTP API v2 sample.
        mirror = fixture("http-api-v2.json")
        path = "/v3/0123456789abcdef0123456789abcdef/backups/cbb00000-0000-4000-8000-000000000001"
        mirror["rawPath"], mirror["rawQueryString"], mirror["body"] = path, "", None
        mirror["requestContext"]["http"].update(method="DELETE", path=path)
        kind, answer = api.invoke(signed(mirror))
        # 202 while the restore point's deletion of it runs, 200 if it already finished (qemu is slow).
        check(kind == "response" and http_status(answer) in (200, 202), f"submit: the CBR mirror DELETE answered 202/200: {answer}")
        # Delete by rule: dry runs from the queue (CSBS and a scheduled CBR one), and over HTTP.
        kind, answer = api.invoke(fixture("sqs-selection.json"))
        check(kind == "response" and answer.get("batchItemFailures") == [], f"submit: selection dry runs from SQS answered, no failures: {kind} {answer}")
        dry = fixture("http-api-v2.json")
        dry["body"] = json.dumps({"select": {"project_id": "0123456789abcdef0123456789abcdef", "all_in_project": True}, "dry_run": True})
        kind, answer = api.invoke(signed(dry))
        body = json.loads(answer.get("body") or "{}") if kind == "response" else {}
        check(http_status(answer) == 200 and body.get("status") == "planned" and body.get("dry_run") is True and isinstance(body.get("plan"), list),
              f"submit: a dry-run selection over HTTP answered 200 with its plan: {answer}")

        for name, status in [("apigw-rest.json", 202), ("http-api-v2.json", 202), ("function-url.json", 202), ("alb.json", 202), ("http-api-v2-status.json", 200)]:
            ev = signed(fixture(name))
            kind, answer = api.invoke(ev)
            shape_ok = {
                "apigw-rest.json": isinstance(answer, dict) and isinstance(answer.get("multiValueHeaders"), dict),
                "alb.json": isinstance(answer, dict) and answer.get("statusDescription") == f"{status} Accepted",
            }.get(name, isinstance(answer, dict) and "headers" in answer)
            check(kind == "response" and http_status(answer) == status and shape_ok, f"submit: {name} answered {status} in its origin's shape: {http_status(answer)}")

        # lambda_http panics building a URI from this host; the unwinding build answers 400.
        bad = fixture("alb.json")
        set_header(bad, "host", "bad host name")
        kind, answer = api.invoke(bad)
        check(kind == "response" and http_status(answer) == 400 and answer.get("statusDescription") == "400 Bad Request",
              f"submit: the invalid-URI payload is answered 400 (ALB shape): {kind} {answer}")
        check(proc.poll() is None, "submit: the process survived it")

        # Mangled payloads (deterministic): every one gets an answer or a function error.
        rng = random.Random(20261201)
        names = ["sqs.json", "apigw-rest.json", "http-api-v2.json", "function-url.json", "alb.json", "schedule-v2.json"]
        answered = 0
        for i in range(30):
            ev = fixture(rng.choice(names))
            keys = [k for k in ev]
            key = rng.choice(keys)
            ev[key] = rng.choice([None, "", 0, [], {}, "\u0000", {"x": [1, {"y": None}]}, "a" * 300])
            kind, answer = api.invoke(ev, seconds=10)
            answered += kind in ("response", "error")
        check(answered == 30, f"submit: 30 mangled payloads, {answered} answered (response or function error)")
        check(proc.poll() is None, "submit: the process survived them")

        ev = signed(fixture("http-api-v2-status.json"))
        kind, answer = api.invoke(ev)
        check(kind == "response" and http_status(answer) == 200, "submit: the same process serves the next request")
        # The one panic expected: lambda_http's, building a URI it cannot (contained, 400).
        panics = [l.strip() for l in logs if " panicked at " in l]
        unexpected = [p for p in panics if "/lambda_http-" not in p or "/src/request.rs:" not in p]
        check(panics and not unexpected, f"submit: the only panics are lambda_http's contained one ({len(panics)}): {unexpected}")
        check(SECRET not in "".join(logs) and DEMO_SK not in "".join(logs), "submit: no secret in the logs")
        # Its metrics: EMF lines of outcomes per service and of cloud-call latency.
        emf = [json.loads(l) for l in logs if l.startswith("{") and '"CloudWatchMetrics"' in l]
        check(any(d.get("Service") in ("csbs", "cbr") and d.get("submitted", 0) > 0 for d in emf)
              and any(isinstance(d.get("cloud_call_ms"), list) for d in emf), f"submit: EMF outcome and latency lines ({len(emf)})")
        proc.kill()

        # --- poll -------------------------------------------------------------------------
        api = RuntimeApi()
        proc = start(args.poll, api, env, args.qemu)
        logs = []
        threading.Thread(target=drain, args=(proc, logs), daemon=True).start()
        check(api.wait_ready(proc), f"poll ({arch}) started and asked for its first event")
        kind, answer = api.invoke(fixture("schedule-v2.json"))
        check(kind == "response" and isinstance(answer, dict) and answer.get("checked", 0) >= 8,
              f"poll: a tick checked the eight recorded tasks (six CSBS, two CBR): {answer}")
        kind, answer = api.invoke(fixture("scheduled-event.json"))
        check(kind == "response" and isinstance(answer, dict) and "checked" in answer, "poll: the classic scheduled event is served too")
        check(proc.poll() is None, "poll: the process is still serving")
        emf = [json.loads(l) for l in logs if l.startswith("{") and '"CloudWatchMetrics"' in l]
        check(any(isinstance(d.get("detection_delay_bound_seconds"), list) for d in emf),
              f"poll: EMF lines with the detection-delay bound ({len(emf)})")
        emitted = [json.loads(l) for l in logs if l.startswith("{") and '"event emitted"' in l]
        trace = re.compile(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$")
        traced = [l for l in emitted if trace.match(str(l.get("fields", {}).get("trace_id", "")))]
        check(emitted and len(traced) == len(emitted), f"poll: each emitted event's log line names the trace it began in ({len(traced)}/{len(emitted)})")
        proc.kill()

        # The decision ledger: a record per task that reached the service, the decided ones
        # holding their terminal event.
        items = boto3.client("dynamodb", **aws).scan(TableName=ledger)["Items"]
        decided = [i for i in items if i["state"]["S"] != "submitted"]
        check(len(items) >= 8 and len(decided) >= 8 and all(json.loads(i["event"]["S"])["task_id"] == i["task_id"]["S"] for i in decided),
              f"the ledger holds the decisions: {len(items)} records, {len(decided)} decided")
        check(all(str(json.loads(i["event"]["S"]).get("trace_id") or "").startswith("1-") for i in decided),
              "every decided event carries the trace id of the submit it began in")

        got = 0
        for _ in range(10):
            got += len(sqs.receive_message(QueueUrl=capture, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []))
            if got >= 6:
                break
        check(got >= 6, f"the outcome events reached the bus: {got}")
    finally:
        sim.kill()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
