"""Check what a test received against the published AsyncAPI document's schemas."""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from realtime.apidocs import asyncapi


@cache
def _registry() -> tuple[dict, Registry]:
    doc = asyncapi()
    return doc, Registry().with_resource("urn:asyncapi", Resource.from_contents(doc, DRAFT202012))


def _validate(schema_ref: str, payload: Any) -> None:
    _, registry = _registry()
    validator = jsonschema.Draft202012Validator({"$ref": "urn:asyncapi" + schema_ref}, registry=registry)
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(payload)]
    assert not problems, f"{schema_ref}: {problems} in {payload!r}"


def event(name: str, payload: Any) -> Any:
    """A server-to-client event's payload, checked against its message in the document; returned as is."""
    doc, _ = _registry()
    keys = [k for k, m in doc["components"]["messages"].items()
            if m["name"] == name and doc["operations"].get(k, {}).get("action") == "send"]
    assert len(keys) == 1, f"no server event {name!r} in asyncapi.json"
    _validate(f"#/components/messages/{keys[0]}/payload", payload)
    return payload


def ack(name: str, payload: Any) -> Any:
    """A client event's ack, checked against its operation's reply; returned as is."""
    doc, _ = _registry()
    reply = doc["operations"][name]["reply"]["messages"][0]["$ref"].split("/")[-1]
    _validate(f"#/components/messages/{reply}/payload", payload)
    return payload


def request(name: str, payload: Any) -> Any:
    """A client event's payload, checked against its message (so tests send only documented shapes)."""
    _validate(f"#/components/messages/{name}/payload", payload)
    return payload
