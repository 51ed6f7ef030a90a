"""The CLI's `--iam` signs as AWS does: the request `csbs-deleter submit --iam` and `status --iam`
send is captured on loopback and its SigV4 signature computed again by botocore (the signer of
the AWS CLI and boto3), over the headers the CLI says it signed. A different canonical request,
scope or key derivation fails this. Run by scripts/test.sh.

  python tests/py/check_cli_sigv4.py target/debug/csbs-deleter
"""
import http.server
import json
import os
import subprocess
import sys
import threading

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AK, SK, TOKEN, REGION = "AKIDCHECKSIGV40000000", "check/sigv4/secret+key", "check-session-token", "eu-west-3"
captured = []


class Capture(http.server.BaseHTTPRequestHandler):
    def _any(self):
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n) if n else b""
        captured.append((self.command, self.path, dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"state":"completed"}')

    do_GET = do_POST = do_DELETE = _any

    def log_message(self, *args):
        pass


def main(binary):
    server = http.server.HTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    env = {"PATH": os.environ.get("PATH", ""), "AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK,
           "AWS_SESSION_TOKEN": TOKEN, "AWS_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true"}
    body = json.dumps({"project_id": "0123456789abcdef0123456789abcdef", "checkpoint_id": "c0ffee", "context": {"note": "a b+c/é"}})
    runs = [
        [binary, "submit", "--url", base + "/prod", "--iam", body],
        [binary, "status", "--url", base, "--iam", "--project-id", "0123456789abcdef0123456789abcdef",
         "--checkpoint-id", "c0ffee", "--item", "b a", "--item", "a+b"],
    ]
    for args in runs:
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            print(f"FAIL {' '.join(args[1:3])}: exit {done.returncode}: {done.stderr}")
            sys.exit(1)
    failures = 0
    for method, path, headers, body in captured:
        lower = {k.lower(): v for k, v in headers.items()}
        auth = lower["authorization"]
        fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        signed = fields["SignedHeaders"].split(";")
        scope = fields["Credential"].split("/")
        request = AWSRequest(method=method, url=base + path, data=body,
                             headers={h: lower[h] for h in signed if h in lower})
        request.context["timestamp"] = lower["x-amz-date"]
        signer = SigV4Auth(Credentials(AK, SK, TOKEN), "execute-api", REGION)
        canonical = signer.canonical_request(request)
        want = signer.signature(signer.string_to_sign(request, canonical), request)
        ok = (fields["Signature"] == want and scope == [AK, lower["x-amz-date"][:8], REGION, "execute-api", "aws4_request"]
              and lower.get("x-amz-security-token") == TOKEN and "x-signature-256" not in lower
              and SK not in json.dumps(headers))
        print(("ok   " if ok else "FAIL ") + f"{method} {path}: SigV4 as botocore computes it (signed: {';'.join(signed)})")
        failures += not ok
    if len(captured) != len(runs):
        print(f"FAIL {len(captured)} requests arrived, {len(runs)} expected")
        failures += 1
    server.shutdown()
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main(sys.argv[1])
