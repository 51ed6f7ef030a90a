#!/usr/bin/env python3
"""Prints the X-Signature-256 header value for a webhook request (standard library only).

  WEBHOOK_SECRET=… scripts/sign-request.py "$BODY"              POST /deletions
  WEBHOOK_SECRET=… scripts/sign-request.py --query "$QUERY"     GET /deletions/status, the mirror DELETE
  … | scripts/sign-request.py -                                 the body from standard input

The secret is read from WEBHOOK_SECRET (never from the command line, where `ps` and the shell
history would show it). The signature covers "<t>.<payload>" with t = now in unix seconds; it
is valid for ±300 s. For a body-less request the payload is the query string exactly as sent
(without the leading '?'); use unreserved characters in values.
"""
import hashlib, hmac, os, sys, time

def main(argv):
    if len(argv) == 2 and argv[1] != "--query":
        payload = sys.stdin.buffer.read() if argv[1] == "-" else argv[1].encode()
    elif len(argv) == 3 and argv[1] == "--query":
        payload = argv[2].lstrip("?").encode()
    else:
        sys.stderr.write(__doc__)
        return 2
    secret = os.environ.get("WEBHOOK_SECRET")
    if not secret:
        sys.stderr.write("sign-request: set WEBHOOK_SECRET to the webhook secret\n")
        return 2
    t = int(time.time())
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    print(f"t={t},v1={mac}")
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv))
