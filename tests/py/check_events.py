"""Validates every outcome event the test suite emitted against its published schema
(events/schemas/, the template's EventSchemas registry): scripts/test.sh runs `cargo test`
with CSBS_EVENT_LOG set, so the in-memory bus and the moto-backed tests append each event they
saw (the detail with its detail type, or the whole envelope EventBridge delivered), then runs
this. Any event that does not validate fails the suite, and so does a detail type no test
emitted (its schema would be unchecked).

  python tests/py/check_events.py .tmp/events.jsonl
"""
import collections
import json
import pathlib
import sys

import jsonschema

SCHEMAS = pathlib.Path(__file__).resolve().parents[2] / "events" / "schemas"


def load_schemas():
    out = {}
    for f in sorted(SCHEMAS.glob("*.json")):
        s = json.loads(f.read_text())
        jsonschema.Draft4Validator.check_schema(s)
        out[s["properties"]["detail-type"]["enum"][0]] = jsonschema.Draft4Validator(
            s, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
        )
    return out


def main(path):
    validators = load_schemas()
    seen = collections.Counter()
    envelopes = 0
    bad = []
    first = {}
    for n, line in enumerate(open(path), 1):
        event = json.loads(line)
        if "source" not in event:
            # From the in-memory bus: the detail and its type, as the EventBridge adapter sends them.
            event = {"detail-type": event["detail-type"], "source": "csbs.checkpoint-deletion", "detail": event["detail"]}
        else:
            envelopes += 1
        dt = event.get("detail-type")
        v = validators.get(dt)
        if v is None:
            bad.append(f"line {n}: unknown detail type {dt!r}")
            continue
        seen[dt] += 1
        first.setdefault(dt, event)
        errors = sorted(v.iter_errors(event), key=lambda e: list(e.path))
        for e in errors[:3]:
            where = "/".join(str(p) for p in e.path)
            bad.append(f"line {n} ({dt}, task {event['detail'].get('task_id')}): {where}: {e.message[:300]}")
    # The schemas are strict, or this check would prove nothing: for one event of each type, a
    # key taken away or a key added must fail.
    for dt, event in first.items():
        v = validators[dt]
        for key in ["event_id", "trace_id", "truncated"]:
            broken = json.loads(json.dumps(event))
            del broken["detail"][key]
            if v.is_valid(broken):
                bad.append(f"{dt}: the schema accepts an event without {key}")
        broken = json.loads(json.dumps(event))
        broken["detail"]["unknown_key"] = 1
        if v.is_valid(broken):
            bad.append(f"{dt}: the schema accepts an unknown key")
    for dt in validators:
        if not seen[dt]:
            bad.append(f"no test emitted a {dt!r} event: its schema is unchecked")
    for dt, count in sorted(seen.items()):
        print(f"ok   {count:6d} × {dt}")
    print(f"     ({envelopes} of them as EventBridge delivered them, through moto)")
    for b in bad[:50]:
        print("FAIL " + b)
    if bad:
        print(f"\n{len(bad)} event(s) do not match their schema (events/schemas/, scripts/event-schemas.py)")
        sys.exit(1)
    print(f"\nall {sum(seen.values())} emitted events match their schemas")


if __name__ == "__main__":
    main(sys.argv[1])
