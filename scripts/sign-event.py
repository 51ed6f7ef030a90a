#!/usr/bin/env python3
"""Writes the sample events in events/, or re-signs one with the current time.

  scripts/sign-event.py --all            regenerate events/*.json (fixed timestamp)
  scripts/sign-event.py events/X.json    print X re-signed now (for cargo lambda invoke;
                                         signatures are valid for ±300 s)

The HTTP samples are signed with the documented test secret below (WEBHOOK_SECRET of the
local examples). Standard library only.
"""
import copy, hashlib, hmac, json, sys, time, urllib.parse

SECRET = "csbs-deleter-test-webhook-secret"
FIXED_T = 1764979200
PROJECT = "0123456789abcdef0123456789abcdef"
PROVIDER = "fc4d5750-22e7-4798-8a46-f48f62c4c1da"
def ckpt(n): return f"c0ffee00-0000-4000-8000-{n:012d}"
def item(c, i=0): return f"be1a0000-{c:04d}-4000-8000-{i:012d}"

def enc(s): return urllib.parse.quote(s, safe="-_.~")

def canonical_query(pairs):
    return "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(pairs))

def sent(ev):
    """What the client sent: method, route path (no stage prefix), decoded query pairs, body."""
    method = ev.get("httpMethod") or ev["requestContext"]["http"]["method"]
    path = ev.get("rawPath") or ev.get("path") or "/"
    stage = ev["requestContext"].get("stage")
    if "rawPath" in ev and stage and stage != "$default" and path.startswith(f"/{stage}/"):
        path = path[len(stage) + 1:]
    alb = "elb" in ev["requestContext"]
    dec = (lambda s: urllib.parse.unquote(s)) if alb else (lambda s: s)
    if "rawQueryString" in ev:
        pairs = urllib.parse.parse_qsl(ev["rawQueryString"], keep_blank_values=True)
    elif ev.get("multiValueQueryStringParameters"):
        pairs = [(dec(k), dec(v)) for k, vs in ev["multiValueQueryStringParameters"].items() for v in vs]
    else:
        pairs = [(dec(k), dec(v)) for k, v in (ev.get("queryStringParameters") or {}).items()]
    body = (ev.get("body") or "").encode()
    return method, path.rstrip("/") or "/", pairs, body

def signature(t, ev, secret=SECRET):
    """X-Signature-256 v2 (docs/DESIGN.md, "HTTP API")."""
    method, path, pairs, body = sent(ev)
    signed = f"{t}\n{method}\n{path}\n{canonical_query(pairs)}\n".encode() + body
    return f"t={t},v2=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()

def sign(ev, t, secret=SECRET):
    """A copy of the sample signed (v2) at t; tests/artifact/run_artifacts.py signs with this too."""
    ev = copy.deepcopy(ev)
    sig = signature(t, ev, secret)
    ev["headers"]["x-signature-256"] = sig
    if "multiValueHeaders" in ev and ev["multiValueHeaders"] is not None:
        ev["multiValueHeaders"]["x-signature-256"] = [sig]
    return ev

def body(**kw): return json.dumps(kw, separators=(",", ":"))

def sqs_record(i, b):
    return {
        "messageId": f"059f36b4-87a3-44ab-83d2-66197559400{i}",
        "receiptHandle": f"AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a{i}",
        "body": b,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764979200000",
                       "SenderId": "AIDAIENQZJOLO23YVJ4VO", "ApproximateFirstReceiveTimestamp": "1764979200100"},
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(b.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-central-1:123456789012:csbs-deleter-intake",
        "awsRegion": "eu-central-1",
    }

def events():
    out = {}
    eb_envelope = json.dumps({"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "Delete Backup",
        "source": "com.example.backups", "account": "123456789012", "time": "2025-12-06T00:00:00Z", "region": "eu-central-1",
        "resources": [], "detail": {"project_id": PROJECT, "checkpoint_id": ckpt(1), "request_id": "req-eb-1"}})
    out["sqs.json"] = {"Records": [
        sqs_record(1, body(project_id=PROJECT, checkpoint_id=ckpt(0), request_id="req-sqs-1", context={"ticket": "OPS-1"})),
        sqs_record(2, eb_envelope),
    ]}
    rest_body = body(project_id=PROJECT, checkpoint_id=ckpt(2), request_id="req-rest-1")
    hdr = {"Content-Type": "application/json", "Host": "abcdef1234.execute-api.eu-central-1.amazonaws.com",
           "User-Agent": "curl/8.5.0", "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Port": "443", "X-Forwarded-Proto": "https"}
    out["apigw-rest.json"] = {
        "resource": "/deletions", "path": "/deletions", "httpMethod": "POST",
        "headers": dict(hdr), "multiValueHeaders": {k: [v] for k, v in hdr.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": None,
        "requestContext": {"accountId": "123456789012", "apiId": "abcdef1234", "resourceId": "k2x9pq", "resourcePath": "/deletions",
            "httpMethod": "POST", "path": "/Prod/deletions", "stage": "Prod", "protocol": "HTTP/1.1",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "requestTime": "06/Dec/2025:00:00:00 +0000", "requestTimeEpoch": 1764979200000,
            "domainName": "abcdef1234.execute-api.eu-central-1.amazonaws.com", "domainPrefix": "abcdef1234",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0", "accountId": None, "caller": None, "user": None, "userArn": None}},
        "body": rest_body, "isBase64Encoded": False}
    def v2(domain, route_key, method, raw_path, raw_query, b, api_id):
        h = {"content-type": "application/json", "host": domain, "user-agent": "curl/8.5.0",
             "x-forwarded-for": "203.0.113.7", "x-forwarded-port": "443", "x-forwarded-proto": "https"}
        ev = {"version": "2.0", "routeKey": route_key, "rawPath": raw_path, "rawQueryString": raw_query, "headers": h,
              "requestContext": {"accountId": "123456789012", "apiId": api_id, "domainName": domain, "domainPrefix": api_id,
                  "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0"},
                  "requestId": "JKJaXmPLvHcESHA=", "routeKey": route_key, "stage": "$default", "time": "06/Dec/2025:00:00:00 +0000",
                  "timeEpoch": 1764979200000},
              "isBase64Encoded": False}
        if raw_query:
            ev["queryStringParameters"] = dict(urllib.parse.parse_qsl(raw_query))
        if b is not None:
            ev["body"] = b
        return ev
    out["http-api-v2.json"] = v2("abcdef1234.execute-api.eu-central-1.amazonaws.com", "POST /deletions", "POST", "/deletions", "",
        body(project_id=PROJECT, checkpoint_id=ckpt(3), checkpoint_items=[item(3, 0), item(3, 1), item(3, 2)], request_id="req-v2-1"), "abcdef1234")
    out["http-api-v2-status.json"] = v2("abcdef1234.execute-api.eu-central-1.amazonaws.com", "GET /deletions/status", "GET", "/deletions/status",
        f"project_id={PROJECT}&checkpoint_id={ckpt(3)}", None, "abcdef1234")
    out["function-url.json"] = v2("a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6.lambda-url.eu-central-1.on.aws", "$default", "POST", "/deletions", "",
        body(project_id=PROJECT, checkpoint_id=ckpt(4), request_id="req-url-1"), "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6")
    alb_path = f"/v1/{PROJECT}/providers/{PROVIDER}/checkpoints/{ckpt(5)}"
    alb_h = {"host": "csbs-deleter-alb-1234567890.eu-central-1.elb.amazonaws.com", "user-agent": "curl/8.5.0",
             "x-amzn-trace-id": "Root=1-6932a000-0123456789abcdef01234567", "x-forwarded-for": "203.0.113.7",
             "x-forwarded-port": "443", "x-forwarded-proto": "https"}
    out["alb.json"] = {"requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/csbs-deleter/6d0ecf831eec9f09"}},
        "httpMethod": "DELETE", "path": alb_path, "queryStringParameters": {"checkpoint_items": item(5)},
        "headers": alb_h, "body": "", "isBase64Encoded": False}
    out["schedule-v2.json"] = {"source": "csbs-deleter.schedule", "action": "poll"}
    out["scheduled-event.json"] = {"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012", "time": "2025-12-06T00:00:00Z", "region": "eu-central-1",
        "resources": ["arn:aws:events:eu-central-1:123456789012:rule/csbs-deleter-poll"], "detail": {}}
    return out

HTTP = {"apigw-rest.json", "http-api-v2.json", "http-api-v2-status.json", "function-url.json", "alb.json"}

if __name__ == "__main__":
    if sys.argv[1:] == ["--all"]:
        for name, ev in events().items():
            if name in HTTP:
                ev = sign(ev, FIXED_T)
            with open(f"events/{name}", "w") as f:
                json.dump(ev, f, indent=2)
                f.write("\n")
    elif len(sys.argv) == 2:
        ev = json.load(open(sys.argv[1]))
        print(json.dumps(sign(ev, int(time.time())), indent=2))
    else:
        sys.exit(__doc__)
