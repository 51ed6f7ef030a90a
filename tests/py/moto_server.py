#!/usr/bin/env python3
"""moto's server, with DynamoDB's per-item atomicity (scripts/test.sh starts this one).

DynamoDB applies a conditional write atomically: of two copies racing to decide one task, one
write succeeds and the other's condition fails (docs/DESIGN.md, "Decisions"). moto's server is
threaded and its DynamoDB backend takes no lock, so two racing requests can both pass their
condition — a property of the emulator, not of the service. The ledger's conformance suite
races conditional writes on purpose (tests/it/ledger_conformance.rs), so the backend's item
operations are serialised here with one lock; every other service, long polls included, stays
threaded.

  tests/py/moto_server.py -H 127.0.0.1 -p PORT     (the arguments of moto_server)
"""
import functools
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_lock = threading.RLock()


def _serialised(method):
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with _lock:
            return method(*args, **kwargs)
    return locked


for _name in ("put_item", "update_item", "get_item", "delete_item", "transact_write_items"):
    setattr(DynamoDBBackend, _name, _serialised(getattr(DynamoDBBackend, _name)))

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
