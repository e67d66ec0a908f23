"""JSON Schema of the spec kinds, derived from the pydantic models (one source of truth)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from reconciler.spec.kinds import KINDS, Kind

SCHEMA_ID = "https://reconciler.dev/schemas/{name}.schema.json"


def schemas() -> dict[str, dict[str, Any]]:
    """One schema per kind (`dataset`, `model`, ...) and `spec`, any kind chosen by `kind`."""
    out: dict[str, dict[str, Any]] = {}
    for kind, cls in KINDS.items():
        name = kind.lower()
        out[name] = _decorate(cls.model_json_schema(by_alias=True), name, f"reconciler {kind} spec")
    union = TypeAdapter(Kind).json_schema(by_alias=True)
    out["spec"] = _decorate(union, "spec", "any reconciler spec (chosen by 'kind')")
    return out


def schema_files() -> dict[str, str]:
    """`<kind>.schema.json` file name -> its text, as `reconciler schema --out` writes them."""
    return {f"{name}.schema.json": json.dumps(doc, indent=2) + "\n" for name, doc in schemas().items()}


def _decorate(schema: dict[str, Any], name: str, title: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID.format(name=name),
        "title": title,
        **{k: v for k, v in schema.items() if k != "title"},
    }
