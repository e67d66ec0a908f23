"""Content fingerprints: same training inputs -> same fingerprint -> same registry version.

The fingerprint covers every input that changes the trained artifact and nothing descriptive.
It is a SHA-256 over canonical JSON (reconciler.canonical), so it is stable across processes,
machines and Python hash seeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from reconciler.canonical import sha256_json
from reconciler.spec.kinds import Dataset, Estimator, Model
from reconciler.spec.resolve import ResolvedModel

# Bump when the training code changes what it produces from the same inputs (e.g. how the
# split is drawn or how the seed reaches the estimator): every model then retrains once.
TRAINING_CODE_VERSION = "1"


def estimator_inputs(est: Estimator) -> dict[str, Any]:
    out: dict[str, Any] = {"class": est.class_, "params": dict(est.params)}
    if est.steps is not None:
        out["steps"] = [{"name": s.name, "class": s.class_, "params": dict(s.params)} for s in est.steps]
    return out


def dataset_inputs(dataset: Dataset, content_hash: str) -> dict[str, Any]:
    """What of a dataset shapes training: its content, not where the file lives."""
    return {
        "content": content_hash,
        "target": dataset.target,
        # Plain names as they always were; a declared type (it changes what trains) as a mapping.
        "features": [f if isinstance(f, str) else f.model_dump(mode="json") for f in dataset.features]
        if dataset.features is not None
        else None,
        "split": dataset.split.model_dump(mode="json"),
    }


def training_inputs(model: Model, dataset: Dataset, dataset_hash: str) -> dict[str, Any]:
    return {
        "training_code": TRAINING_CODE_VERSION,
        "dataset": dataset_inputs(dataset, dataset_hash),
        "estimator": estimator_inputs(model.estimator),
        "seed": model.seed,
    }


def fingerprint(resolved: ResolvedModel, dataset_hash: str) -> str:
    """The fingerprint of one resolved (environment, model).

    `dataset_hash` is the dataset's content hash (see reconciler.data); it is an argument so
    that this function stays pure.
    """
    return sha256_json(training_inputs(resolved.model, resolved.dataset, dataset_hash))


class DatasetHasher(Protocol):
    """Gives a dataset's content hash: a hex digest of the rows and columns it loads.

    It must be stable across machines and processes (the data layer implements it; tests
    may pass a table). Same content, same hash, wherever the file lives.
    """

    def content_hash(self, dataset: Dataset) -> str: ...


def fingerprints(
    resolved: Mapping[tuple[str, str], ResolvedModel], hasher: DatasetHasher
) -> dict[tuple[str, str], str]:
    """Fingerprint of every (environment, model); each dataset is hashed once."""
    hashes: dict[str, str] = {}
    out: dict[tuple[str, str], str] = {}
    for key, item in resolved.items():
        name = item.dataset.name
        if name not in hashes:
            hashes[name] = hasher.content_hash(item.dataset)
        out[key] = fingerprint(item, hashes[name])
    return out


def spec_hash(value: Any) -> str:
    """Hash of a whole spec, descriptive fields included (provenance, not identity)."""
    return sha256_json(value)
