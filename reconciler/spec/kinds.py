"""The spec kinds: Dataset, Model, Gate, Environment.

Strict and frozen: an unknown key is an error (a misspelt threshold that is silently ignored
would let a bad model through a gate), and values are not coerced from other types.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    JsonValue,
    StringConstraints,
    field_validator,
    model_validator,
)

from reconciler.fields import RepoPath
from reconciler.fields import Scalar as Scalar
from reconciler.fields import Spec as Spec
from reconciler.fields import Threshold as Threshold
from reconciler.rules import GateRule as GateRule
from reconciler.rules.baseline import BaselineRule as BaselineRule
from reconciler.rules.cost import CostRule as CostRule
from reconciler.rules.metric import SLICE_OPS as SLICE_OPS
from reconciler.rules.metric import MetricRule as MetricRule
from reconciler.rules.metric import Slice as Slice
from reconciler.sources import Source
from reconciler.sources.csv_file import CsvSource as CsvSource
from reconciler.sources.parquet_file import ParquetSource as ParquetSource
from reconciler.sources.sklearn_bundled import SklearnSource as SklearnSource
from reconciler.spec.rollout import Rollout

API_VERSION = "reconciler/v1"

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
Name = Annotated[str, StringConstraints(pattern=DNS_LABEL, max_length=63)]
# A git revision as users type them (sha, tag, branch, `main~2`); no whitespace or options.
GitRevision = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][\w./@^~{}-]*$", max_length=200)]
Fraction = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]

# MLflow aliases must match ^[\w\-]*$ and may not be `latest` or `v<N>`.
RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$")
# A rollout's candidate is held by the alias `<environment>-candidate`.
CANDIDATE_SUFFIX = "-candidate"


class Object(Spec):
    """Fields every kind has. `apiVersion` is optional today; it exists so the schema can evolve."""

    api_version: Literal["reconciler/v1"] = Field(default="reconciler/v1", alias="apiVersion")
    name: Name


# --- Dataset -----------------------------------------------------------------------------


class Split(Spec):
    test_size: Fraction = 0.25
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    stratify: bool = False


ColumnDtype = Literal["int", "float", "number", "string", "bool", "category", "datetime"]


class ColumnCheck(Spec):
    dtype: ColumnDtype | None = None
    min: Threshold | None = None
    max: Threshold | None = None

    @model_validator(mode="after")
    def _range(self) -> ColumnCheck:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class DataChecks(Spec):
    """A data contract checked before training; a failing check blocks the model."""

    min_rows: Annotated[int, Field(ge=1)] | None = None
    no_nulls: bool = False
    columns: dict[str, ColumnCheck] = Field(default_factory=dict)


Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Snapshot(Spec):
    """Rows added to the source: a Parquet file in the repository (what `reconciler snapshot`
    writes from served traffic), pinned by the SHA-256 of its bytes."""

    parquet: RepoPath = Field(description="A Parquet file inside the repository, with the dataset's columns.")
    sha256: Sha256 = Field(description="The file's SHA-256: training refuses a file that no longer matches.")


FeatureType = Literal["int", "float", "number", "string", "category", "bool"]


class Feature(Spec):
    """A feature column with its type declared: checked against the data before training, and
    `category` columns are given to the estimator as pandas categories (what
    HistGradientBoosting's categorical_features='from_dtype' reads)."""

    name: Annotated[str, StringConstraints(min_length=1)]
    type: FeatureType


class Dataset(Object):
    kind: Literal["Dataset"]
    source: Source
    target: Annotated[str, StringConstraints(min_length=1)]
    features: list[Annotated[str, StringConstraints(min_length=1)] | Feature] | None = None
    split: Split = Field(default_factory=Split)
    checks: DataChecks = Field(default_factory=DataChecks)
    description: str = ""
    snapshots: list[Snapshot] = Field(
        default_factory=list,
        description="Rows appended to the source, oldest first, each pinned by content hash "
        "(the fingerprint changes only when this list does).",
    )

    snapshot_window: Annotated[int, Field(ge=1, le=1000)] | None = Field(
        default=None,
        description="Train on the last N snapshots only, without the source's rows (once there is a snapshot): "
        "a sliding window of recent traffic.",
    )

    @property
    def feature_names(self) -> list[str] | None:
        """The feature columns by name (None: every column but the target)."""
        if self.features is None:
            return None
        return [f if isinstance(f, str) else f.name for f in self.features]

    @property
    def feature_types(self) -> dict[str, str]:
        """The declared types, by column."""
        return {f.name: f.type for f in self.features or () if isinstance(f, Feature)}

    @property
    def used_snapshots(self) -> list[Snapshot]:
        """The snapshots training reads, oldest first."""
        return self.snapshots[-self.snapshot_window :] if self.snapshot_window else self.snapshots

    @property
    def uses_source(self) -> bool:
        """Whether training reads the source's rows (a window of snapshots replaces them)."""
        return not (self.snapshot_window and self.snapshots)

    @field_validator("snapshots")
    @classmethod
    def _unique_snapshots(cls, v: list[Snapshot]) -> list[Snapshot]:
        paths = [s.parquet for s in v]
        dup = sorted({p for p in paths if paths.count(p) > 1})
        if dup:
            raise ValueError(f"snapshot {dup[0]!r} is listed twice")
        return v

    @field_validator("features")
    @classmethod
    def _unique_features(cls, v: list[str | Feature] | None) -> list[str | Feature] | None:
        if v is not None:
            if not v:
                raise ValueError("features must not be empty (leave it out to use every column)")
            names = [f if isinstance(f, str) else f.name for f in v]
            seen = {f for f in names if names.count(f) > 1}
            if seen:
                raise ValueError(f"duplicate feature {sorted(seen)[0]!r}")
        return v


# --- Model -------------------------------------------------------------------------------


class Estimator(Spec):
    """A scikit-learn estimator by import path, or a Pipeline of named steps."""

    class_: str = Field(alias="class", description="e.g. sklearn.linear_model.LogisticRegression")
    params: dict[str, JsonValue] = Field(default_factory=dict)
    steps: list[Step] | None = Field(default=None, description="Only for sklearn.pipeline.Pipeline: the ordered steps.")


class Step(Spec):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=63)]
    class_: str = Field(alias="class")
    params: dict[str, JsonValue] = Field(default_factory=dict)


Estimator.model_rebuild()


# --- Monitoring --------------------------------------------------------------------------

# A spec names the variable, CI sets it: only variables meant for batches may be named, so a
# spec cannot point at MLFLOW_TRACKING_TOKEN (or any other secret) and get it read or echoed.
BATCH_ENV_PREFIX = "RECONCILER_BATCH_"
BatchEnvName = Annotated[str, StringConstraints(pattern=r"^RECONCILER_BATCH_[A-Z0-9_]+$", max_length=128)]


class BatchSource(Spec):
    """Where the scheduled check finds a live batch: a file in the repository (a snapshot the
    serving side commits), or an environment variable that holds a path or an http(s) URL."""

    csv: RepoPath | None = None
    parquet: RepoPath | None = None
    uri_env: BatchEnvName | None = Field(
        default=None,
        description="Environment variable holding a path or URL; its name starts with RECONCILER_BATCH_.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> BatchSource:
        given = [k for k in ("csv", "parquet", "uri_env") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("batch needs exactly one of: csv, parquet, uri_env")
        return self


class Feedback(Spec):
    """Where the true labels of served requests arrive, so `reconciler propose` can retrain on
    drifted traffic (README: Keep models fresh). CI sets the variable; the spec only names it."""

    labels_env: BatchEnvName = Field(
        description="Environment variable holding the labels' path or URL; its name starts with RECONCILER_BATCH_."
    )
    since: Annotated[str, StringConstraints(pattern=r"^\d+(\.\d+)?[smhd]$", max_length=16)] = Field(
        default="7d", description="The window of served requests each proposal looks at (30m, 6h, 7d)."
    )
    when: Literal["drift", "always"] = Field(
        default="drift",
        description="drift: propose when the window drifted (or live quality fell below the gates); "
        "always: on every scheduled run, a refresh with the latest labelled traffic.",
    )


class Monitoring(Spec):
    """What `reconciler monitor` checks a live batch against. A feature drifts when its PSI is
    above psi_max and its test's p-value below ks_pvalue_min (Bonferroni-corrected over the
    features unless correction is none)."""

    psi_max: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] = 0.2
    ks_pvalue_min: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] = 0.01
    drifted_share_max: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = Field(
        default=0.0, description="Share of drifted features tolerated before the batch counts as drifted."
    )
    prediction_psi_max: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] = 0.2
    correction: Literal["bonferroni", "none"] = "bonferroni"
    batch: BatchSource | None = None
    labels: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = Field(
        default=None, description="Column of the batch holding true labels: checks live quality against the gates."
    )
    feedback: Feedback | None = Field(
        default=None, description="Let `reconciler propose` retrain on served traffic when it drifts."
    )


class Training(Spec):
    """Limits on fitting one model; not part of the fingerprint (they do not change the result)."""

    max_seconds: Annotated[int, Field(ge=1, le=7 * 86_400)] | None = Field(
        default=None,
        description="Stop the fit after this long (default: RECONCILER_MAX_TRAIN_SECONDS, else 3600).",
    )


class Model(Object):
    kind: Literal["Model"]
    dataset: Name
    estimator: Estimator
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    metrics: list[str] = Field(min_length=1, description="scikit-learn scorer names")
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    monitoring: Monitoring | None = Field(
        default=None, description="Drift thresholds and the batch to check; override per environment."
    )
    training: Training = Field(default_factory=Training, description="Limits on fitting this model.")

    @field_validator("metrics")
    @classmethod
    def _unique_metrics(cls, v: list[str]) -> list[str]:
        dup = sorted({m for m in v if v.count(m) > 1})
        if dup:
            raise ValueError(f"duplicate metric {dup[0]!r}")
        return v


# --- Gate --------------------------------------------------------------------------------


class Gate(Object):
    kind: Literal["Gate"]
    rules: list[GateRule] = Field(min_length=1)
    enforcement: Literal["required", "advisory"] = Field(
        default="required", description="advisory: failures are reported, never block"
    )
    description: str = ""


# --- Environment -------------------------------------------------------------------------


class Serving(Spec):
    """How `reconciler serve` serves a model in an environment. Never part of a fingerprint: it
    changes what the server does with requests, not what was trained."""

    sample_rate: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = Field(
        default=1.0, description="Share of answered requests written to the request log (0: none)."
    )
    cache_size: Annotated[int, Field(ge=0, le=10_000_000)] = Field(
        default=0, description="Predictions kept per model, keyed by version and input row (0: no cache)."
    )
    price_per_cpu_hour: Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)] | None = Field(
        default=None, description="Turns CPU seconds per request into money in /metrics."
    )
    poll_seconds: Annotated[float, Field(ge=0.1, le=3600, allow_inf_nan=False)] = Field(
        default=5.0, description="How often the server reads the aliases to follow promotions and rollbacks."
    )

    def over(self, base: Serving) -> Serving:
        """These settings where given, `base` elsewhere (a model's block over its environment's)."""
        return base.model_copy(update={k: getattr(self, k) for k in self.model_fields_set})


class Deployment(Spec):
    """One model in one environment."""

    gates: list[Name] = Field(default_factory=list)
    overrides: dict[str, JsonValue] = Field(
        default_factory=dict, description="Deep-merged onto the Model spec for this environment."
    )
    pin: GitRevision | None = Field(default=None, description="Deploy the model spec as it was at this git revision.")
    serving: Serving | None = Field(default=None, description="Serving settings of this model here.")
    rollout: Rollout | None = Field(
        default=None, description="How a new version of this model takes traffic here (replaces the environment's)."
    )

    @field_validator("overrides")
    @classmethod
    def _no_identity(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in ("kind", "name", "apiVersion"):
            if key in v:
                raise ValueError(f"overrides cannot change '{key}'")
        return v


class Environment(Object):
    kind: Literal["Environment"]
    promotes_from: Name | None = None
    models: dict[Name, Deployment] = Field(default_factory=dict)
    description: str = ""
    serving: Serving | None = Field(default=None, description="Serving settings of every model here.")
    rollout: Rollout | None = Field(
        default=None, description="How a new version takes traffic here; without it, promotion is one alias move."
    )

    def serving_of(self, model: str) -> Serving:
        base = self.serving or Serving()
        deployment = self.models.get(model)
        return deployment.serving.over(base) if deployment and deployment.serving else base

    def rollout_of(self, model: str) -> Rollout | None:
        """The model's own rollout block, else the environment's; None for an immediate move."""
        deployment = self.models.get(model)
        chosen = deployment.rollout if deployment and deployment.rollout else self.rollout
        return chosen if chosen is not None and chosen.gradual else None

    @field_validator("name")
    @classmethod
    def _alias_safe(cls, v: str) -> str:
        if RESERVED_ALIAS.match(v):
            raise ValueError(f"'{v}' is reserved by the MLflow registry and cannot name an environment")
        if v.endswith(CANDIDATE_SUFFIX):
            raise ValueError(f"names ending in '{CANDIDATE_SUFFIX}' are the aliases of rollouts' candidates")
        return v


# --- Policy ------------------------------------------------------------------------------

Pattern = Annotated[str, StringConstraints(pattern=r"^[a-z0-9*?\[\]-]+$", max_length=63)]


class PolicyScope(Spec):
    """Which (environment, model) pairs a policy judges; shell-style patterns."""

    environments: list[Pattern] = Field(default_factory=lambda: ["*"])
    models: list[Pattern] = Field(default_factory=lambda: ["*"])


class Policy(Object):
    """A rule every change must satisfy, as an expression in a sandbox (see README: Policies)."""

    kind: Literal["Policy"]
    description: str = ""
    severity: Literal["error", "warning"] = "error"
    scope: PolicyScope = Field(default_factory=PolicyScope)
    require: Annotated[str, StringConstraints(min_length=1, max_length=4000)] = Field(
        description="A Jinja2 expression that must be true, e.g. model.owner != ''"
    )
    message: Annotated[str, StringConstraints(max_length=4000)] = Field(
        default="", description="Shown on violation; may use {{ }} over the same context."
    )


Kind = Dataset | Model | Gate | Environment | Policy
KINDS: dict[str, type[Object]] = {
    "Dataset": Dataset,
    "Model": Model,
    "Gate": Gate,
    "Environment": Environment,
    "Policy": Policy,
}


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
