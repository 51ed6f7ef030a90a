#!/usr/bin/env python3
"""Prints the X-Signature-256 header value (v2) for one HTTP API request (standard library only).

  WEBHOOK_SECRET=… scripts/sign-request.py POST /deletions "$BODY"
  WEBHOOK_SECRET=… scripts/sign-request.py DELETE /v3/$PROJECT/backups/$BACKUP
  WEBHOOK_SECRET=… scripts/sign-request.py DELETE "/v1/$PROJECT/providers/$PROVIDER/checkpoints/$CKPT?checkpoint_items=$ITEM"
  WEBHOOK_SECRET=… scripts/sign-request.py GET "/deletions/status?project_id=$PROJECT&checkpoint_id=$CKPT"
  … | scripts/sign-request.py POST /deletions -                     the body from standard input

The secret is read from WEBHOOK_SECRET (never from the command line, where `ps` and the shell
history would show it). The signature (docs/DESIGN.md, "HTTP API") covers
"<t>\\n<METHOD>\\n<path>\\n<canonical query>\\n<body>" with t = now in unix seconds: one method on
one path (without a stage prefix) with one query and one body, valid for ±300 s. The canonical
query is every parameter decoded, sorted by key and then value, RFC 3986-encoded and joined by
'&', so the order in which a client sends parameters does not matter.
"""
import hashlib, hmac, os, sys, time, urllib.parse


def canonical_query(query: str) -> str:
    pairs = sorted(urllib.parse.parse_qsl(query, keep_blank_values=True))
    enc = lambda s: urllib.parse.quote(s, safe="-_.~")
    return "&".join(f"{enc(k)}={enc(v)}" for k, v in pairs)


def signature(secret: str, t: int, method: str, target: str, body: bytes) -> str:
    path, _, query = target.partition("?")
    signed = f"{t}\n{method.upper()}\n{path.rstrip('/')}\n{canonical_query(query)}\n".encode() + body
    return f"t={t},v2=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def main(argv):
    if len(argv) not in (3, 4):
        sys.stderr.write(__doc__)
        return 2
    method, target = argv[1], argv[2]
    body = b""
    if len(argv) == 4:
        body = sys.stdin.buffer.read() if argv[3] == "-" else argv[3].encode()
    secret = os.environ.get("WEBHOOK_SECRET")
    if not secret:
        sys.stderr.write("sign-request: set WEBHOOK_SECRET to the webhook secret\n")
        return 2
    print(signature(secret, int(time.time()), method, target, body))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
