"""Checks that need the data itself, run by `validate` before anything trains: the data
contract of every dataset read from a file in the repository, and metrics that cannot be
computed on a dataset's target (a binary-only scorer on a multiclass target)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.data.frames import contract_failures, load_frame
from reconciler.diagnostics import Diagnostic
from reconciler.sources import source_type
from reconciler.spec.catalog import PIPELINE, Catalog
from reconciler.spec.encoding import COLUMN_TRANSFORMER, unencoded
from reconciler.spec.kinds import Dataset, Model
from reconciler.spec.loader import DesiredState

# Scorers that average over one positive class or need binary scores: on a target with more
# than two classes scikit-learn raises instead of scoring.
BINARY_ONLY = frozenset(
    {
        "f1",
        "precision",
        "recall",
        "jaccard",
        "roc_auc",
        "average_precision",
        "neg_brier_score",
        "positive_likelihood_ratio",
        "neg_negative_likelihood_ratio",
    }
)


def data_diagnostics(desired: DesiredState, repo: Path, catalog: Catalog) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for name, dataset in sorted(desired.specs.datasets.items()):
        doc = desired.specs.documents[("Dataset", name)]
        kind = source_type(dataset.source)
        classes = kind.known(dataset.source, repo, catalog.datasets).classes
        local = not kind.remote(dataset.source)
        if kind.files(dataset.source) or (dataset.snapshots and local):  # in the repository: cheap, so checked now
            try:
                frame = load_frame(dataset, repo)
            except (OSError, ValueError, KeyError) as exc:
                line, col = doc.position(("source",))
                out.append(Diagnostic(doc.file, line, col, f"source: cannot read the data: {exc}".splitlines()[0]))
                continue
            for path, message in contract_failures(dataset, frame):
                line, col = doc.position(path)
                out.append(Diagnostic(doc.file, line, col, f"data contract: {message}"))
            classes = _classes(dataset, frame)
            out.extend(_text_features(desired, dataset, frame))
        if classes is not None and classes > 2:
            out.extend(_binary_scorers(desired, name, classes))
    return out


@dataclass(frozen=True)
class TextColumns:
    """The feature columns that hold text (or are declared to), with a few of their values."""

    kinds: dict[str, str]  # column -> "string" | "category"
    examples: dict[str, str]


def text_columns(dataset: Dataset, frame: Any) -> TextColumns:
    features = [c for c in (dataset.feature_names or frame.columns) if c != dataset.target and c in frame.columns]
    declared = dataset.feature_types
    kinds = {}
    for c in features:
        if declared.get(c) in ("string", "category") or (c not in declared and _holds_text(frame[c])):
            kinds[str(c)] = (
                "category" if declared.get(c) == "category" or str(frame[c].dtype) == "category" else "string"
            )
    return TextColumns(kinds, {c: _examples(frame[c]) for c in kinds})


def text_problem(dataset: Dataset, model: Model, text: TextColumns) -> str | None:
    """Why the model's estimator cannot take the dataset's text columns, or None."""
    if not text.kinds:
        return None
    refused = unencoded(model.estimator.model_dump(by_alias=True, mode="json"), text.kinds)
    if not refused:
        return None
    shown = ", ".join(f"'{u.column}' ({text.examples[u.column]})" for u in refused[:5])
    reaches = refused[0].reaches.rsplit(".", 1)[-1]
    return (
        f"{reaches} needs numbers, but dataset '{dataset.name}' has text in {shown}: encode them first, e.g. a "
        f"{PIPELINE} whose first step is a {COLUMN_TRANSFORMER} sending those columns to "
        "sklearn.preprocessing.OneHotEncoder"
    )


def _text_features(desired: DesiredState, dataset: Dataset, frame: Any) -> list[Diagnostic]:
    """A model whose estimator would receive a text column it cannot take: an error at the
    model, naming the columns, instead of a failed fit after merge."""
    text = text_columns(dataset, frame)
    out = []
    for name, model in sorted(desired.specs.models.items()):
        problem = text_problem(dataset, model, text) if model.dataset == dataset.name else None
        if problem is not None:
            doc = desired.specs.documents[("Model", name)]
            line, col = doc.position(("estimator", "class"))
            out.append(Diagnostic(doc.file, line, col, f"estimator: {problem}"))
    return out


def _holds_text(series: Any) -> bool:
    return series.dtype.kind in "OSU" or str(series.dtype) in ("category", "string", "str")


def _examples(series: Any) -> str:
    values = [repr(str(v)) for v in series.dropna().unique()[:3]]
    return ", ".join(values) + (", ..." if series.nunique() > 3 else "")


def _classes(dataset: Dataset, frame: object) -> int | None:
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    if dataset.target not in frame.columns:
        return None
    target = frame[dataset.target].dropna()
    if target.dtype.kind == "f" and not (target == target.round()).all():
        return None  # a regression target
    return int(target.nunique())


def _binary_scorers(desired: DesiredState, dataset: str, classes: int) -> list[Diagnostic]:
    out = []
    for name, model in sorted(desired.specs.models.items()):
        if model.dataset != dataset:
            continue
        doc = desired.specs.documents[("Model", name)]
        for i, metric in enumerate(model.metrics):
            if metric not in BINARY_ONLY:
                continue
            line, col = doc.position(("metrics", i))
            instead = MULTICLASS.get(metric)
            out.append(
                Diagnostic(
                    doc.file,
                    line,
                    col,
                    f"metrics: '{metric}' needs a binary target, but dataset '{dataset}' has {classes} classes"
                    + (f"; use '{instead}'" if instead else ""),
                )
            )
    return out


MULTICLASS = {
    "f1": "f1_macro",
    "precision": "precision_macro",
    "recall": "recall_macro",
    "jaccard": "jaccard_macro",
    "roc_auc": "roc_auc_ovr",
}
