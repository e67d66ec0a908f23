"""One monitoring check: the version an environment's alias holds, against a live batch."""

from __future__ import annotations

import io
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reconciler.desired.model import Target
from reconciler.diagnostics import ReconcilerError
from reconciler.monitor.drift import DriftResult, Thresholds, compare
from reconciler.monitor.quality import QualityCheck, live_quality
from reconciler.redact import redact, redact_url
from reconciler.sources import SOURCE_TYPES
from reconciler.sources.files import DataFileError, check_data_file, check_repo_path, max_data_bytes
from reconciler.sources.repo_file import RepoFile
from reconciler.spec.kinds import Monitoring
from reconciler.state.mlflow_store import MlflowStore

# Batches are read as the dataset sources that are files are: a file format added as a source
# type is a batch format too.
FILE_TYPES: tuple[RepoFile[Any], ...] = tuple(t for t in SOURCE_TYPES if isinstance(t, RepoFile))


class MonitorError(ReconcilerError):
    exit_code = 2


class NothingToCheck(MonitorError):
    """A sweep skips these: nothing deployed there yet, or no traffic in the window."""


class NothingDeployed(NothingToCheck):
    """The environment's alias holds no version yet."""


@dataclass(frozen=True)
class MonitorReport:
    model: str
    environment: str
    version: str
    batch: str
    rows: int
    checked_at: str
    drift: DriftResult
    quality: tuple[QualityCheck, ...] = ()
    labels: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def quality_failed(self) -> tuple[QualityCheck, ...]:
        return tuple(q for q in self.quality if not q.passed)

    @property
    def reasons(self) -> list[str]:
        out = []
        d = self.drift
        if d.schema_drift:
            out.append("schema: " + "; ".join(f"{s.column} {s.problem}" for s in d.schema if s.problem != "extra"))
        if d.feature_drift:
            names = ", ".join(f.name for f in d.drifted_features)
            out.append(f"{len(d.drifted_features)} of {len(d.features)} features drifted ({names})")
        if d.prediction is not None and d.prediction.drifted:
            out.append(f"predictions drifted ({d.prediction.describe()})")
        if self.quality_failed:
            out.append("live quality below the gates: " + "; ".join(q.describe() for q in self.quality_failed))
        return out

    @property
    def drifted(self) -> bool:
        return bool(self.reasons)

    @property
    def verdict(self) -> str:
        return "drifted" if self.drifted else "ok"

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["verdict"] = self.verdict
        body["reasons"] = self.reasons
        body["drift"]["drifted_share"] = self.drift.drifted_share
        return body


def thresholds(monitoring: Monitoring) -> Thresholds:
    return Thresholds(
        psi_max=monitoring.psi_max,
        ks_pvalue_min=monitoring.ks_pvalue_min,
        drifted_share_max=monitoring.drifted_share_max,
        prediction_psi_max=monitoring.prediction_psi_max,
        correction=monitoring.correction,
    )


def batch_location(target: Target, repo: Path, data: str | None) -> str | None:
    """The batch to check: given on the command line, else the spec's source, else None."""
    if data is not None:
        return data
    monitoring = target.resolved.model.monitoring
    source = monitoring.batch if monitoring else None
    if source is None:
        return None
    if source.uri_env is not None:
        value = os.environ.get(source.uri_env, "")
        if not value:
            raise MonitorError(f"the batch source is ${source.uri_env}, which is not set")  # (never its value)
        return value
    kind = next(t for t in FILE_TYPES if getattr(source, t.key, None))
    rel = str(getattr(source, kind.key))
    problem = check_repo_path(rel, repo, kind.suffixes)
    if problem is not None:
        raise MonitorError(f"{target.spec_file}: monitoring.batch: {problem}")
    return str(repo / rel)


@dataclass(frozen=True)
class RequestWindow:
    """The rows `reconciler serve` answered for (environment, model) since a moment, as the
    batch: drift checks on live traffic, with no manual dump."""

    state_dir: Path
    environment: str
    model: str
    since: datetime
    labels_from: str | None = None  # a file (or URL) of request_id[, row], label
    label_column: str = "label"
    url: str | None = None  # the database servers log to (RECONCILER_REQUEST_LOG_URL), else the files

    def __str__(self) -> str:
        return f"requests served to {self.model}@{self.environment} since {self.since.isoformat(timespec='seconds')}"

    def read(self) -> Any:
        from reconciler.monitor.request_log import LabelError, answered, features_of, join_labels, read_window

        frame = answered(read_window(self.state_dir, self.environment, self.model, self.since, self.url))
        if frame.empty:
            raise NothingToCheck(f"no {self}: is `reconciler serve` running with a sample_rate above 0?")
        if self.labels_from is None:
            return features_of(frame)
        try:
            joined = join_labels(frame, read_batch(self.labels_from), self.label_column)
        except LabelError as exc:
            raise MonitorError(f"labels {redact_url(self.labels_from)}: {exc}") from exc
        return features_of(joined, keep=[self.label_column])


def load_batch(location: str | RequestWindow) -> Any:
    return location.read() if isinstance(location, RequestWindow) else read_batch(location)


def read_batch(location: str) -> Any:
    shown = redact_url(location)  # a presigned URL's query is a credential
    remote = location.startswith(("http://", "https://"))
    path = location.removeprefix("file://")
    lowered = path.lower().split("?", 1)[0].split("#", 1)[0]
    kind = next((t for t in FILE_TYPES if lowered.endswith(t.suffixes)), None)
    if kind is None:
        raise MonitorError(f"the batch {shown} should be a {' or '.join('.' + t.key for t in FILE_TYPES)} file")
    source: Any = path
    if remote:
        source = io.BytesIO(fetch(location, shown))
    else:
        try:
            check_data_file(path, f"the batch {shown}")
        except DataFileError as exc:
            raise MonitorError(str(exc)) from exc
    try:
        return kind.read(source)
    except Exception as exc:  # pandas raises many types for a malformed file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MonitorError(f"cannot read the batch {shown}: {redact(first)}") from exc


def _request(url: str) -> Any:
    """User info in the URL becomes basic auth (urllib would take it for part of the host)."""
    import base64
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return urllib.request.Request(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return urllib.request.Request(parts._replace(netloc=netloc).geturl(), headers={"Authorization": f"Basic {token}"})


def fetch_timeout() -> float:
    try:
        return float(os.environ.get("RECONCILER_BATCH_TIMEOUT_SECONDS", "60"))
    except ValueError:
        return 60.0


def fetch(url: str, shown: str) -> bytes:
    """The body of an http(s) batch, within a deadline and the data size limit: a server that
    accepts and never answers, or trickles forever, ends the check (pandas' own URL reading has
    no timeout at all)."""
    import urllib.error
    import urllib.request

    budget = fetch_timeout()
    deadline = time.monotonic() + budget
    limit = max_data_bytes()
    chunks: list[bytes] = []
    size = 0
    try:
        with urllib.request.urlopen(_request(url), timeout=budget) as response:
            while chunk := response.read(1 << 16):
                size += len(chunk)
                if size > limit:
                    raise MonitorError(
                        f"the batch {shown} is over the limit of {limit:,} bytes (RECONCILER_MAX_DATA_BYTES)"
                    )
                if time.monotonic() > deadline:
                    raise MonitorError(f"the batch {shown} took longer than {budget:g} s to download")
                chunks.append(chunk)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise MonitorError(f"cannot fetch the batch {shown}: {redact(str(reason))}") from exc
    return b"".join(chunks)


def run(
    target: Target,
    store: MlflowStore,
    location: str | RequestWindow,
    labels: str | None,
) -> MonitorReport:
    name, env = target.resolved.name, target.resolved.environment
    rm = store.read_model(name)
    version_id = rm.aliases.get(env) if rm else None
    if rm is None or version_id is None:
        raise NothingDeployed(f"models:/{name}@{env} holds no version: nothing is deployed to monitor")
    version = rm.versions[version_id]
    profile = store.load_profile(version)
    if profile is None:
        raise MonitorError(
            f"v{version_id} of {name} has no reference profile (trained before profiles were recorded); "
            "retrain it to monitor it"
        )
    batch = load_batch(location)
    monitoring = target.resolved.model.monitoring or Monitoring()
    labels = labels or monitoring.labels
    if isinstance(location, RequestWindow):  # the log holds no label column unless one was joined
        labels = location.label_column if location.labels_from is not None else None
    if labels is not None and labels not in batch.columns:
        raise MonitorError(
            f"the label column '{labels}' is not in the batch (columns: {', '.join(map(str, batch.columns))})"
        )
    features = list(profile["features"])
    t = thresholds(monitoring)
    present = all(f in batch.columns for f in features)
    notes: list[str] = []
    estimator = None
    predictions = None
    if present and len(batch):
        estimator = store.load_model(name, version_id)
        try:
            predictions = estimator.predict(batch[features])
        except (ValueError, TypeError) as exc:
            notes.append(f"the model could not predict on this batch: {str(exc).splitlines()[0]}")
    drift = compare(profile, batch, t, predictions=predictions, ignore=[labels] if labels else [])
    quality: tuple[QualityCheck, ...] = ()
    if labels is not None and estimator is not None and predictions is not None:
        labelled = batch[labels].notna()  # labels arrive late: quality is judged on the rows that have one
        x, y = batch.loc[labelled, features], batch.loc[labelled, labels]
        quality = live_quality(target.resolved.gates, estimator, x, y, version.metrics) if len(y) else ()
        if not len(y):
            notes.append("live quality was not measured: no row has a label yet")
    elif labels is not None:
        notes.append("live quality was not measured: the model cannot predict on this batch")
    return MonitorReport(
        model=name,
        environment=env,
        version=version_id,
        batch=str(location) if isinstance(location, RequestWindow) else redact_url(location),
        rows=len(batch),
        checked_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        drift=drift,
        quality=quality,
        labels=labels,
        notes=(*drift.notes, *notes),
    )
