"""What a training run read, as MLflow dataset inputs: MLflow's UI then shows, for each version,
the train and test splits it was fitted and scored on, their columns and sizes, a digest equal
to the dataset's content hash, and where the data came from at which pin."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# MLflow's SQL store keeps a digest in 36 characters: the content hash's first 32 hex digits
# (128 bits) are the digest; the version's `reconciler.dataset_hash` tag starts with them.
DIGEST_LENGTH = 32
SOURCE_TYPE = "reconciler"  # how MLflow lists the source: a reconciler dataset at a pin
TRAINING, EVALUATION = "training", "evaluation"


def digest_of(content_hash: str) -> str:
    return content_hash[:DIGEST_LENGTH]


@dataclass(frozen=True)
class DataInput:
    """One split a run read: `columns` is an empty frame with the split's columns and dtypes
    (the rows stay in the fitting process; only their number comes back)."""

    name: str
    context: str  # training | evaluation
    content_hash: str
    uri: str
    pin: str | None
    target: str
    columns: Any
    rows: int
    split: Mapping[str, Any] = field(default_factory=dict)


def entities(inputs: Sequence[DataInput]) -> list[Any]:
    """MLflow DatasetInput entities, built by mlflow.data (schema) with the real row counts."""
    from mlflow.data.dataset_source import DatasetSource
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    class PinnedSource(DatasetSource):
        """The source as data: where it is and at which pin (nothing to load it back with)."""

        def __init__(self, described: Mapping[str, Any]) -> None:
            self.described = dict(described)

        @staticmethod
        def _get_source_type() -> str:
            return SOURCE_TYPE

        def load(self, **kwargs: Any) -> Any:
            raise NotImplementedError

        @staticmethod
        def _can_resolve(raw_source: Any) -> bool:
            return False

        @classmethod
        def _resolve(cls, raw_source: Any) -> Any:
            raise NotImplementedError

        def to_dict(self) -> dict[str, Any]:
            return dict(self.described)

        @classmethod
        def from_dict(cls, source_dict: dict[str, Any]) -> Any:
            return cls(source_dict)

    out = []
    for item in inputs:
        described = {"uri": item.uri, "pin": item.pin, "content_hash": item.content_hash, "split": dict(item.split)}
        dataset = from_pandas(
            item.columns,
            source=PinnedSource(described),
            targets=item.target,
            name=item.name,
            digest=digest_of(item.content_hash),
        )
        logged = dataset._to_mlflow_entity()
        profile = json.dumps({"num_rows": item.rows, "num_elements": item.rows * len(item.columns.columns)})
        entity = Dataset(logged.name, logged.digest, logged.source_type, logged.source, logged.schema, profile)
        out.append(DatasetInput(entity, [InputTag(MLFLOW_DATASET_CONTEXT, item.context)]))
    return out
