#!/usr/bin/env python3
"""The simulator accepts requests signed by the official Huawei Cloud Python SDK signer
(huaweicloudsdkcore.signer.signer.Signer) and refuses tampered ones.

Usage: check_signer.py http://127.0.0.1:PORT   (a csbs-sim started with --seed-demo)
Prints 'N passed, N failed' and exits non-zero on any failure.
"""
import datetime, sys, urllib.error, urllib.request

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

AK, SK = "DEMOACCESSKEY0000000", "DEMOsecretkeyDEMOsecretkeyDEMOsecretkey0"
PROJECT = "0123456789abcdef0123456789abcdef"
PROVIDER = "fc4d5750-22e7-4798-8a46-f48f62c4c1da"
CKPT, ITEM = "c0ffee00-0000-4000-8000-000000000001", "be1a0000-0001-4000-8000-000000000000"
# CBR demo data of the simulator (Simulator::seed_demo_cbr).
RESTORE_POINT, BACKUP = "cb400000-0000-4000-8000-000000000001", "cbb00000-0001-4000-8000-000000000000"


def signed(base, method, path, query, sk=SK, date=None):
    host = base.split("://", 1)[1]
    headers = {"Content-Type": "application/json", "User-Agent": "huaweicloud-usdk-python/3.0", "X-Project-Id": PROJECT}
    if date:
        headers["X-Sdk-Date"] = date
    req = SdkRequest(method=method, schema="http", host=host, resource_path=path, query_params=query, header_params=headers)
    Signer(BasicCredentials(AK, sk, PROJECT)).sign(req)
    return req


def send(base, req, path=None, query=None, headers=None):
    uri = req.uri if path is None else path + ("?" + query if query else "")
    h = dict(req.header_params)
    h.update(headers or {})
    r = urllib.request.Request(base + uri, method=req.method, headers=h)
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def main(base):
    results = []

    def check(name, got, want):
        ok = got == want
        results.append(ok)
        print(f"{'ok  ' if ok else 'FAIL'} {name}: HTTP {got} (want {want})")

    list_path = f"/v1/{PROJECT}/checkpoint_items"
    q = [("checkpoint_id", CKPT), ("limit", 10)]
    check("list signed by the SDK", send(base, signed(base, "GET", list_path, q)), 200)
    check("count signed by the SDK", send(base, signed(base, "GET", list_path + "/count", [("status", "available")])), 200)
    check("get item signed by the SDK", send(base, signed(base, "GET", f"{list_path}/{ITEM}", [])), 200)
    r = signed(base, "GET", list_path, q)
    check("tampered query", send(base, r, list_path, f"checkpoint_id={CKPT}&limit=11"), 401)
    check("tampered path", send(base, r, f"/v1/{PROJECT}/checkpoint_items/count", f"checkpoint_id={CKPT}&limit=10"), 401)
    check("tampered signed header", send(base, r, headers={"User-Agent": "curl/8"}), 401)
    check("wrong secret key", send(base, signed(base, "GET", list_path, q, sk="not-the-secret")), 401)
    old = (datetime.datetime.utcnow() - datetime.timedelta(minutes=20)).strftime("%Y%m%dT%H%M%SZ")
    check("X-Sdk-Date 20 minutes old", send(base, signed(base, "GET", list_path, q, date=old)), 401)
    delete_path = f"/v1/{PROJECT}/providers/{PROVIDER}/checkpoints/{CKPT}"
    check("tampered DELETE target", send(base, signed(base, "DELETE", delete_path, [("checkpoint_items", ITEM)]), delete_path, "checkpoint_items=other"), 401)
    check("DELETE signed by the SDK", send(base, signed(base, "DELETE", delete_path, [("checkpoint_items", ITEM)])), 200)
    check("repeated DELETE is CSBS.2003", send(base, signed(base, "DELETE", delete_path, [("checkpoint_items", ITEM)])), 400)
    # CBR v3: the same gateway and signing (docs/cbr-api.md §4).
    backups = f"/v3/{PROJECT}/backups"
    cq = [("checkpoint_id", RESTORE_POINT), ("limit", 1000), ("offset", 0)]
    check("CBR list backups signed by the SDK", send(base, signed(base, "GET", backups, cq)), 200)
    check("CBR get backup signed by the SDK", send(base, signed(base, "GET", f"{backups}/{BACKUP}", [])), 200)
    logs = f"/v3/{PROJECT}/operation-logs"
    check("CBR operation logs signed by the SDK", send(base, signed(base, "GET", logs, [("operation_type", "delete"), ("start_time", "2026-01-01T00:00:00Z")])), 200)
    r = signed(base, "GET", backups, cq)
    check("CBR tampered query", send(base, r, backups, f"checkpoint_id={RESTORE_POINT}&limit=1000&offset=1"), 401)
    check("CBR wrong secret key", send(base, signed(base, "GET", f"{backups}/{BACKUP}", [], sk="not-the-secret")), 401)
    r = signed(base, "DELETE", f"{backups}/{BACKUP}", [])
    check("CBR tampered DELETE target", send(base, r, f"{backups}/cbb00000-0000-4000-8000-000000000000"), 401)
    check("CBR DELETE signed by the SDK", send(base, signed(base, "DELETE", f"{backups}/{BACKUP}", [])), 204)
    check("CBR repeated DELETE is busy", send(base, signed(base, "DELETE", f"{backups}/{BACKUP}", [])), 400)
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1].rstrip("/")))
