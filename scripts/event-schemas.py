#!/usr/bin/env python3
"""The outcome events' JSON Schemas (draft 4), one per detail type, as the template's
EventSchemas registry publishes them (docs/DESIGN.md, "Outcome events"; the Rust type is
`OutcomeEvent` in src/outcome.rs).

  scripts/event-schemas.py           check: events/schemas/*.json and template.yaml hold them
  scripts/event-schemas.py --write   write them there (after changing an event)

Drift from the code is caught by tests/py/check_events.py: every event the test suite emits is
validated against these (every key required, no other key allowed), so a key the code adds,
drops or retypes fails the tests.
"""
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "events" / "schemas"
TEMPLATE = ROOT / "template.yaml"

# Outcome -> (detail type, template resource name, whether `error` is set).
OUTCOMES = {
    "submitted": ("Checkpoint Deletion Submitted", "SubmittedEventSchema", False),
    "completed": ("Checkpoint Deletion Completed", "CompletedEventSchema", False),
    "failed": ("Checkpoint Deletion Failed", "FailedEventSchema", True),
    "timed_out": ("Checkpoint Deletion Timed Out", "TimedOutEventSchema", True),
    "rejected": ("Checkpoint Deletion Rejected", "RejectedEventSchema", True),
    "planned": ("Checkpoint Deletion Planned", "PlannedEventSchema", False),
}


def nullable(t, **more):
    return {"type": [t, "null"], **more}


STRINGS = {"type": "array", "items": {"type": "string"}}

REGION = "^[a-z0-9][a-z0-9-]{0,31}$"

# One target of a task with replicas (docs/DESIGN.md, "Regions").
TARGET = {
    "type": "object",
    "additionalProperties": False,
    "required": ["region", "project_id", "backup_id", "last_status"],
    "properties": {
        "region": nullable("string", pattern=REGION),
        "project_id": {"type": "string"},
        "backup_id": {"type": "string"},
        "last_status": nullable("string"),
    },
}


def detail_schema(outcome):
    _, _, has_error = OUTCOMES[outcome]
    error = {
        "type": "object",
        "additionalProperties": False,
        "required": ["code", "message", "http_status"],
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string", "maxLength": 1024},
            "http_status": {"type": ["integer", "null"]},
        },
    }
    props = {
        "event_id": {"type": "string", "pattern": "^evt_[0-9a-f]{32}$"},
        "task_id": {"type": "string", "minLength": 1},
        "outcome": {"type": "string", "enum": [outcome]},
        "service": {"type": "string", "enum": ["csbs", "cbr"]},
        "project_id": nullable("string"),
        "provider_id": nullable("string"),
        "checkpoint_id": nullable("string"),
        "checkpoint_items": {"type": ["array", "null"], "items": {"type": "string"}},
        "backup_ids": {"type": ["array", "null"], "items": {"type": "string"}},
        "request_id": nullable("string"),
        "context": nullable("object"),
        "submitted_at": nullable("string", format="date-time"),
        "deadline": nullable("string", format="date-time"),
        "finished_at": nullable("string", format="date-time"),
        "elapsed_seconds": {"type": ["number", "null"], "minimum": 0},
        "last_status": nullable("string"),
        "error": error if has_error else {"type": "null"},
        "selection_id": nullable("string"),
        "truncated": {"type": "boolean"},
        "trace_id": nullable("string", pattern="^1-[0-9a-f]{8}-[0-9a-f]{24}$"),
        # The request's region; null only when the request (Rejected) or the pending message
        # (Failed) could not be read.
        "region": nullable("string", pattern=REGION) if outcome in ("rejected", "failed") else {"type": "string", "pattern": REGION},
        "targets": {"type": ["array", "null"], "items": TARGET},
    }
    if outcome == "submitted":
        props["finished_at"] = {"type": "null"}
    if outcome == "planned":
        props["dry_run"] = {"type": "boolean"}
        props["counts"] = {
            "type": "object",
            "additionalProperties": False,
            "required": ["listed", "considered", "kept", "to_delete"],
            "properties": {k: {"type": "integer", "minimum": 0} for k in ["listed", "considered", "kept", "to_delete"]},
        }
        props["target_ids"] = STRINGS
        props["targets"] = {"type": "null"}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(props),
        "properties": props,
    }


def schema(outcome):
    detail_type = OUTCOMES[outcome][0]
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": detail_type.replace(" ", ""),
        "description": f"csbs-deleter outcome event: {detail_type} (docs/DESIGN.md, \"Outcome events\")",
        "type": "object",
        "required": ["detail-type", "source", "detail"],
        "properties": {
            "version": {"type": "string"},
            "id": {"type": "string"},
            "detail-type": {"type": "string", "enum": [detail_type]},
            "source": {"type": "string"},
            "account": {"type": "string"},
            "time": {"type": "string", "format": "date-time"},
            "region": {"type": "string"},
            "resources": STRINGS,
            "detail": {"$ref": "#/definitions/Detail"},
        },
        "definitions": {"Detail": detail_schema(outcome)},
    }


def file_of(outcome):
    return SCHEMAS / f"{OUTCOMES[outcome][0].replace(' ', '')}.json"


def rendered(outcome):
    return json.dumps(schema(outcome), indent=2) + "\n"


def template_block(outcome):
    """The template resource of one schema; its Content is the compact JSON."""
    detail_type, name, _ = OUTCOMES[outcome]
    content = json.dumps(schema(outcome), separators=(",", ":"))
    return (
        f"  {name}:\n"
        f"    Type: AWS::EventSchemas::Schema\n"
        f"    Properties:\n"
        f"      RegistryName: !GetAtt EventSchemaRegistry.RegistryName\n"
        f"      SchemaName: !Sub \"${{EventSource}}@{detail_type.replace(' ', '')}\"\n"
        f"      Type: JSONSchemaDraft4\n"
        f"      Description: {detail_type} (generated by scripts/event-schemas.py)\n"
        f"      Content: '{content}'\n"
    )


BEGIN = "  # --- event schemas (generated by scripts/event-schemas.py --write; do not edit) ---\n"
END = "  # --- end of event schemas ---\n"


def template_section():
    return BEGIN + "\n".join(template_block(o) for o in OUTCOMES) + END


def main(write):
    problems = []
    SCHEMAS.mkdir(parents=True, exist_ok=True)
    for o in OUTCOMES:
        f = file_of(o)
        if write:
            f.write_text(rendered(o))
        elif not f.exists() or f.read_text() != rendered(o):
            problems.append(f"{f.relative_to(ROOT)} is not what scripts/event-schemas.py generates")
    text = TEMPLATE.read_text()
    m = re.search(re.escape(BEGIN) + ".*?" + re.escape(END), text, re.S)
    if m is None:
        problems.append("template.yaml has no generated event-schema section")
    elif write:
        TEMPLATE.write_text(text[: m.start()] + template_section() + text[m.end():])
    elif m.group(0) != template_section():
        problems.append("template.yaml's event schemas are not what scripts/event-schemas.py generates")
    for p in problems:
        print("FAIL " + p)
    if problems:
        print("run scripts/event-schemas.py --write")
        sys.exit(1)
    print(("wrote" if write else "ok  ") + f" {len(OUTCOMES)} event schemas (events/schemas/, template.yaml)")


if __name__ == "__main__":
    main("--write" in sys.argv[1:])
