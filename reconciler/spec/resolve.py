"""Resolve what each environment should run: the model spec with the environment's overrides.

Pure: data in, data out. Overrides are deep-merged the way Kubernetes users expect from a
strategic merge patch: mappings merge key by key, lists of named items (pipeline steps) merge
by name, any other value replaces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.spec.kinds import Dataset, Gate, Model


def deep_merge(base: Any, patch: Any) -> Any:
    if isinstance(base, Mapping) and isinstance(patch, Mapping):
        out = dict(base)
        for key, value in patch.items():
            out[key] = deep_merge(base[key], value) if key in base else value
        return out
    if _named_list(base) and _named_list(patch):
        by_name = {item["name"]: item for item in patch}
        merged = [deep_merge(item, by_name.pop(item["name"])) if item["name"] in by_name else item for item in base]
        return merged + [item for item in patch if item["name"] in by_name]
    return patch


def _named_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, Mapping) and isinstance(item.get("name"), str) for item in value)
    )


def model_data(model: Model) -> dict[str, Any]:
    """The model spec as plain data, the way it was written (aliases, no defaults dropped)."""
    return model.model_dump(by_alias=True, mode="json")


def apply_overrides(model: Model, overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = deep_merge(model_data(model), overrides)
    assert isinstance(merged, dict)
    return merged


@dataclass(frozen=True)
class ResolvedModel:
    """One model as one environment should run it."""

    environment: str
    model: Model  # overrides applied
    dataset: Dataset
    gates: tuple[Gate, ...]
    pin: str | None = None

    @property
    def name(self) -> str:
        return self.model.name
