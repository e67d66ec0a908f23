"""The one door to MLflow: read the actual state in a few batched calls; write runs, versions,
tags and aliases. No other module imports mlflow, so `validate` and `plan` rendering never pay
for it, and every registry call can be counted here. On the embedded SQLite store, reads go
through `sqlite_read` behind this same door, and MLflow is imported only when something writes.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import logging
import math
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reconciler import chaos
from reconciler.diagnostics import ReconcilerError
from reconciler.redact import redact
from reconciler.state import dataset_inputs
from reconciler.state import tags as t
from reconciler.state.actual import (
    MAX_LEDGER_SEQ,
    ActualState,
    LedgerEntry,
    RegisteredModelState,
    VersionState,
    parse_ledger,
    registered_model_state,
    version_label,
    version_state,
)
from reconciler.state.dataset_inputs import DataInput
from reconciler.state.rollout import RolloutState, RolloutVerdict, candidate_alias, state_key
from reconciler.state.signing import METRICS_SIGNATURE, sign_metrics

EXPERIMENT = "reconciler"
MONITOR_EXPERIMENT = "reconciler-monitoring"
PROFILE_ARTIFACT = "reconciler/profile.json"
PAGE = 1000


def default_tracking_uri(repo: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(repo / '.reconciler' / 'mlflow.db').absolute()}"


def _quiet() -> None:
    for name in ("mlflow", "alembic", "sqlalchemy", "urllib3", "git"):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow prints "View run ... at: <tracking URI>/..." after each run, credentials and all.
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    warnings.filterwarnings("ignore", module="mlflow")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*pydantic.*")


@dataclass(frozen=True)
class Candidate:
    """Everything logged for one trained model, handed over by the trainer."""

    model_name: str
    estimator: Any
    input_example: Any
    predictions_example: Any
    params: Mapping[str, Any]
    metrics: Mapping[str, float]
    spec: Mapping[str, Any]
    tags: Mapping[str, str]
    pip_requirements: tuple[str, ...]
    profile: Mapping[str, Any] | None = None  # reference for drift monitoring
    trusted_types: tuple[str, ...] | None = None  # skops types to vouch for, if already known
    inputs: tuple[DataInput, ...] = ()  # the splits it was trained and scored on
    registered: bool = False  # the registered model is known to exist, managed (no need to ensure it)


class MlflowStore:
    def __init__(self, tracking_uri: str, artifact_root: Path | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self.sqlite_path = Path(tracking_uri[len("sqlite:///") :]) if tracking_uri.startswith("sqlite:///") else None
        self.calls = 0  # registry/tracking round trips, for benchmarks and tests
        self._experiment_id: str | None = None
        self._client: Any = None
        self._registry: Any = None
        self._mlflow_module: Any = None
        # Set by the registry lock while it is held: called before every write, it raises
        # LeaseLost once the lease cannot be trusted (`critical`: also re-read the lock's token).
        self.fence: Callable[[bool], None] | None = None
        self.created: set[str] = set()  # registered models this process made (empty when made)
        if self.sqlite_path is not None:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)

    @property
    def _mlflow(self) -> Any:
        """MLflow, imported and pointed at this store on first use: a no-op plan on the
        embedded store never needs it (see sqlite_read)."""
        if self._mlflow_module is None:
            self._open()
        elif self._mlflow_module.get_tracking_uri() != self.tracking_uri:
            _point(self._mlflow_module, self.tracking_uri)  # another store in this process moved it
        return self._mlflow_module

    def _open(self) -> None:
        _quiet()
        import mlflow

        _quiet()  # again: importing mlflow configures its own loggers
        sqlite_path = self.sqlite_path
        _point(mlflow, self.tracking_uri)
        self._mlflow_module = mlflow
        with _store_creation_lock(sqlite_path):
            if sqlite_path is None or _has_schema(sqlite_path):
                return
            try:
                # The tracking and the registry store each create the schema on first use: done
                # here, under the file lock, so two processes never create it at once; and a
                # schema a killed run left half migrated is found here, not mid-apply.
                self._call(lambda: self.client.search_experiments(max_results=1))
                self._call(lambda: self.registry.search_registered_models(max_results=1))
            except RegistryError as exc:
                if "database schema" not in str(exc) and "already exists" not in str(exc):
                    raise
                self._recover_half_made(sqlite_path, exc)

    def _recover_half_made(self, path: Path, exc: RegistryError) -> None:
        """A run killed while MLflow created the store leaves its schema half migrated, and
        MLflow then refuses to open it. Holding nothing yet, it is set aside and made again;
        holding data, it is left alone with the exact commands to repair it."""
        if _holds_data(path):
            uri = f"sqlite:///{path}"
            raise ReconcilerError(
                f"the store {path} is only partly migrated ({str(exc).split('. ')[0].removeprefix('MLflow: ')}) "
                f"and holds data. Back it up (cp {path} {path}.bak), then run: mlflow db upgrade {uri}"
            ) from exc
        aside = path.with_name(f"{path.name}.incomplete-{int(time.time())}")
        _forget_engines(self.tracking_uri)  # pooled connections would follow the file aside
        os.replace(path, aside)
        self._client = None
        self._registry = None
        self._call(lambda: self.client.search_experiments(max_results=1))
        self._call(lambda: self.registry.search_registered_models(max_results=1))
        print(
            f"reconciler: {path} was left half-created by a run that was killed; "
            f"it held nothing, so it was made again (the old file is {aside.name})",
            file=sys.stderr,
        )

    @property
    def client(self) -> Any:
        """The full client (tracking and registry), made on first use: opening MLflow's
        tracking store costs a noticeable share of a no-op plan, which never needs it."""
        if self._client is None:
            self._mlflow  # noqa: B018 - opens the store first
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    @property
    def registry(self) -> Any:
        """Registry calls go through MLflow's registry-only client: moving aliases, the ledger
        and the lock never need the tracking store (~0.2 s to open), and MlflowClient checks
        that a name is not a prompt before each registry call, one more request every time
        (managed models carry our tag; nothing else is touched)."""
        if self._registry is None:
            self._mlflow  # noqa: B018 - opens the store first
            try:
                from mlflow.tracking._model_registry.client import ModelRegistryClient
            except ImportError:  # moved in a later MLflow: the full client does the same reads
                return self.client
            self._registry = ModelRegistryClient(self.tracking_uri, self.tracking_uri)  # type: ignore[no-untyped-call]
        return self._registry

    @classmethod
    def for_repo(cls, repo: Path) -> MlflowStore:
        uri = default_tracking_uri(repo)
        local = not os.environ.get("MLFLOW_TRACKING_URI")
        return cls(uri, (repo / ".reconciler" / "artifacts").absolute() if local else None)

    @property
    def location(self) -> str:
        return redact(self.tracking_uri)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        try:
            return fn(*args, **kwargs)
        except self._mlflow.exceptions.MlflowException as exc:
            text = str(exc)
            if _unreachable(text):
                raise RegistryUnavailable(self.location, text) from exc
            raise RegistryError(redact(text.splitlines()[0])[:500], getattr(exc, "error_code", "")) from exc
        except OSError as exc:  # a dead socket below MLflow's own handling
            raise RegistryUnavailable(self.location, str(exc)) from exc

    # --- reading ------------------------------------------------------------------------

    def read(self) -> ActualState:
        """Everything the reconciler manages, in calls that do not grow with versions per model."""
        state = self.read_direct()
        return state if state is not None else self.read_through_mlflow()

    def read_direct(self) -> ActualState | None:
        """The same state read straight from the embedded store without importing MLflow, or
        None when only MLflow can read it (a server, an unknown schema, a busy file)."""
        if self.sqlite_path is None or os.environ.get("RECONCILER_READ_THROUGH_MLFLOW") == "1":
            return None
        from reconciler.state.sqlite_read import read_sqlite

        state = read_sqlite(self.sqlite_path, self.location, LOCK_MODEL)
        if state is not None:
            self.calls += 1  # one read-only SQLite connection
        return state

    def read_through_mlflow(self) -> ActualState:
        managed: dict[str, Any] = {}
        unmanaged: set[str] = set()
        locked = False
        for rm in self._pages(self.registry.search_registered_models, max_results=PAGE):
            locked = locked or rm.name == LOCK_MODEL
            if rm.tags.get(t.MANAGED) == "true":
                managed[rm.name] = rm
            elif not rm.name.startswith(LOCK_MODEL):
                unmanaged.add(rm.name)
        versions: dict[str, list[VersionState]] = {name: [] for name in managed}
        names = sorted(managed)
        for start in range(0, len(names), 50):
            chunk = names[start : start + 50]
            quoted = ", ".join("'" + n.replace("'", "\\'") + "'" for n in chunk)
            for mv in self._pages(
                self.registry.search_model_versions, filter_string=f"name IN ({quoted})", max_results=PAGE
            ):
                versions[mv.name].append(_version_state(mv))
        models = {
            name: registered_model_state(name, rm.tags, rm.aliases or {}, versions[name])
            for name, rm in managed.items()
        }
        return ActualState(self.location, models, frozenset(unmanaged), locked)

    def _pages(self, fn: Any, **kwargs: Any) -> Iterator[Any]:
        token = None
        while True:
            page = self._call(fn, page_token=token, **kwargs)
            yield from page
            token = page.token
            if not token:
                return

    def read_model(self, name: str) -> RegisteredModelState | None:
        """A fresh read of one model's aliases, tags and versions (for compare-and-set)."""
        try:
            rm = self._call(self.registry.get_registered_model, name)
        except RegistryError as exc:
            if exc.code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        versions = [
            _version_state(mv)
            for mv in self._pages(
                self.registry.search_model_versions, filter_string=f"name = '{name}'", max_results=PAGE
            )
        ]
        return registered_model_state(name, rm.tags, rm.aliases or {}, versions)

    # --- writing ------------------------------------------------------------------------

    def _fenced(self, critical: bool = False) -> None:
        if self.fence is not None:
            self.fence(critical)

    def ensure_model(self, name: str, description: str = "") -> None:
        self._fenced()
        try:
            self._call(
                self.registry.create_registered_model, name, tags={t.MANAGED: "true"}, description=description or None
            )
            self.created.add(name)
        except RegistryError as exc:
            if exc.code != "RESOURCE_ALREADY_EXISTS":
                raise
            rm = self._call(self.registry.get_registered_model, name)
            if rm.tags.get(t.MANAGED) != "true":
                raise ReconcilerError(
                    f"registered model '{name}' exists but is not managed by the reconciler "
                    f"(no tag {t.MANAGED}=true); refusing to touch it"
                ) from exc

    def experiment_id(self) -> str:
        if self._experiment_id is None:
            found = self._call(self.client.get_experiment_by_name, EXPERIMENT)
            if found is not None:
                self._experiment_id = found.experiment_id
            else:
                self._fenced()
                location = self.artifact_root.as_uri() if self.artifact_root else None
                try:
                    self._experiment_id = self._call(
                        self.client.create_experiment, EXPERIMENT, artifact_location=location
                    )
                except RegistryError:
                    self._experiment_id = self._call(self.client.get_experiment_by_name, EXPERIMENT).experiment_id
        assert self._experiment_id is not None
        return self._experiment_id

    def prepare_to_log(self) -> None:
        """Import what logging a model needs (MLflow's scikit-learn flavour, pyfunc, signatures,
        skops: about a second) now, while the fits run in other processes, not in the first train
        step."""
        self._mlflow  # noqa: B018 (the property opens the store)
        for module in ("mlflow.models.signature", "mlflow.pyfunc", "mlflow.sklearn"):
            importlib.import_module(module)
        with contextlib.suppress(ImportError):  # log_model says so when it needs it
            importlib.import_module("skops.io")

    def log_candidate(self, c: Candidate) -> VersionState:
        """Log a run with the model, then register a version carrying its fingerprint from birth."""
        mlflow = self._mlflow
        from mlflow.models import infer_signature

        if not c.registered:
            self.ensure_model(c.model_name, str(c.spec.get("model", {}).get("description", "")))
        exp = self.experiment_id()
        self._fenced()
        self.calls += 1
        with mlflow.start_run(experiment_id=exp, run_name=c.model_name, tags=dict(c.tags)) as run:
            chaos.point("store:after-run-start")
            mlflow.log_params({k: _param_value(v) for k, v in c.params.items()})
            if c.inputs:
                self._call(self.client.log_inputs, run.info.run_id, datasets=dataset_inputs.entities(c.inputs))
            mlflow.log_dict(dict(c.spec), "reconciler/spec.json")
            if c.profile is not None:
                mlflow.log_dict(dict(c.profile), PROFILE_ARTIFACT)
            info = mlflow.sklearn.log_model(
                c.estimator,
                name="model",
                signature=infer_signature(c.input_example, c.predictions_example),
                input_example=c.input_example,
                pip_requirements=list(c.pip_requirements),
                skops_trusted_types=list(c.trusted_types) if c.trusted_types is not None else _own_types(c.estimator),
            )
            # Logged after the model and linked to it: logged before, log_model would read each
            # key's history back to link it (one request per metric) and log them all again.
            mlflow.log_metrics(dict(c.metrics), model_id=info.model_id)
            chaos.point("store:after-log-model")
        chaos.point("store:after-run-end")
        version_tags = dict(c.tags)
        version_tags.update({t.METRIC_PREFIX + k: repr(float(v)) for k, v in c.metrics.items()})
        spec_json = json.dumps(c.spec, sort_keys=True, separators=(",", ":"))
        if len(spec_json) <= t.MAX_TAG_VALUE:
            version_tags[t.SPEC] = spec_json
        # A version is what must never exist twice: re-read the lock right before creating it,
        # so a holder whose lease was taken over (frozen, partitioned) stops here.
        self._fenced(critical=True)
        mv = self._call(
            self.client.create_model_version,
            c.model_name,
            info.model_uri,
            run_id=run.info.run_id,
            tags=version_tags,
            model_id=info.model_id,
        )
        chaos.point("store:after-register")
        # The version number is known only now; until this tag lands the metrics are untrusted
        # (with a verdict key set), which only means they are measured again.
        signature = sign_metrics(c.model_name, str(mv.version), c.tags.get(t.FINGERPRINT, ""), version_tags)
        written = {}
        if signature is not None:
            self.set_version_tag(c.model_name, str(mv.version), METRICS_SIGNATURE, signature)
            written[METRICS_SIGNATURE] = signature
        # The version as the registry answered the create (it computes the number, MAX+1), not
        # as asked for; only the signature tag written since is added.
        return _version_state(mv, written)

    def set_version_tag(self, model: str, version: str, key: str, value: str) -> None:
        self._fenced()
        self._call(self.registry.set_model_version_tag, model, version, key, value)

    def delete_version_tag(self, model: str, version: str, key: str) -> None:
        self._fenced()
        try:
            self._call(self.registry.delete_model_version_tag, model, version, key)
        except RegistryError as exc:
            if exc.code != "RESOURCE_DOES_NOT_EXIST":
                raise

    def move_alias(self, model: str, alias: str, expected: str | None, to: str | None) -> tuple[LedgerEntry, ...]:
        """Compare-and-set: move only if the alias still points where the plan saw it. Returns
        the ledger as read for the comparison, so the entry that follows needs no second read."""
        self._fenced(critical=True)
        rm = self._call(self.registry.get_registered_model, model)
        now = _alias_of(rm, alias)
        if now != expected:
            raise ReconcilerError(
                f"alias {model}@{alias} moved while applying "
                f"(expected {version_label(expected)}, found {version_label(now)}); run plan again"
            )
        ledger = parse_ledger(rm.tags)
        _next_seq(model, ledger)  # a ledger that cannot take the entry stops the move before it is made
        if to is None:
            if now is not None:
                self._call(self.registry.delete_registered_model_alias, model, alias)
        else:
            self._call(self.registry.set_registered_model_alias, model, alias, to)
        return ledger

    def append_ledger(
        self, model: str, entry: LedgerEntry, known: tuple[LedgerEntry, ...] | None = None
    ) -> LedgerEntry:
        """Record an alias move as the next ledger entry. `known` is the ledger just read by
        move_alias under the apply lock; without it the ledger is read now."""
        existing = (
            known if known is not None else parse_ledger(self._call(self.registry.get_registered_model, model).tags)
        )
        seq = _next_seq(model, existing)
        stored = replace(entry, seq=seq)
        self._fenced()
        self._call(self.registry.set_registered_model_tag, model, f"{t.LEDGER_PREFIX}{seq:06d}", stored.to_json())
        chaos.point("promote:after-ledger")
        return stored

    # --- rollouts: every write compares what it replaces first ----------------------------

    def start_rollout(self, model: str, state: RolloutState, entry: LedgerEntry) -> LedgerEntry:
        """Point `<env>-candidate` at the candidate and record the rollout, if the environment's
        alias still holds the champion the plan saw."""
        self._fenced(critical=True)
        env = state.environment
        rm = self._call(self.registry.get_registered_model, model)
        now = _alias_of(rm, env)
        if now != state.champion:
            raise ReconcilerError(
                f"alias {model}@{env} moved while applying "
                f"(expected {version_label(state.champion)}, found {version_label(now)}); run plan again"
            )
        ledger = parse_ledger(rm.tags)
        _next_seq(model, ledger)
        self._call(self.registry.set_registered_model_alias, model, candidate_alias(env), state.candidate)
        self._call(self.registry.set_registered_model_tag, model, state_key(env), state.to_json())
        return self.append_ledger(model, entry, ledger)

    def advance_rollout(
        self, model: str, expected: RolloutState, state: RolloutState, entry: LedgerEntry | None = None
    ) -> bool:
        """Replace the recorded rollout `expected` with `state`; False (nothing written) when
        another process changed it first."""
        self._fenced()
        rm = self._call(self.registry.get_registered_model, model)
        if (rm.tags or {}).get(state_key(state.environment)) != expected.to_json():
            return False
        self._call(self.registry.set_registered_model_tag, model, state_key(state.environment), state.to_json())
        if entry is not None:
            self.append_ledger(model, entry, parse_ledger(rm.tags))
        return True

    def end_rollout(
        self, model: str, expected: RolloutState, state: RolloutState, verdict: RolloutVerdict, entry: LedgerEntry
    ) -> bool:
        """Finish a rollout: promoted moves the environment's alias to the candidate (once,
        compared against the champion), aborted leaves it; either way the candidate alias goes
        and the verdict is written on the candidate. False when another process got there first."""
        self._fenced(critical=True)
        env = state.environment
        rm = self._call(self.registry.get_registered_model, model)
        if (rm.tags or {}).get(state_key(env)) != expected.to_json():
            return False
        ledger = parse_ledger(rm.tags)
        _next_seq(model, ledger)
        if verdict.phase == "promoted":
            now = _alias_of(rm, env)
            if now != expected.champion:
                raise ReconcilerError(
                    f"alias {model}@{env} moved during the rollout (expected {version_label(expected.champion)}, "
                    f"found {version_label(now)}); the rollout of v{state.candidate} is not promoted"
                )
            chaos.point("rollout:before-alias")
            self._call(self.registry.set_registered_model_alias, model, env, state.candidate)
        self._call(self.registry.set_registered_model_tag, model, state_key(env), state.to_json())
        self.set_version_tag(model, state.candidate, state_key(env), verdict.to_json())
        if candidate_alias(env) in (rm.aliases or {}):
            self._call(self.registry.delete_registered_model_alias, model, candidate_alias(env))
        self.append_ledger(model, entry, ledger)
        return True

    def try_lock(self, lease: Lease) -> Lease | None:
        """Take the lock, or return the lease that holds it (an unreadable lock counts as expired)."""
        tags = {
            "token": lease.token,
            "holder": lease.holder,
            "acquired": repr(lease.acquired),
            "expires": repr(lease.expires),
            "host": lease.host,
            "pid": str(lease.pid),
        }
        for _ in range(5):
            try:
                self._call(
                    self.registry.create_registered_model,
                    LOCK_MODEL,
                    tags=tags,
                    description="Held by a running `reconciler apply`; see `reconciler unlock`.",
                )
                return None
            except RegistryError as exc:
                if exc.code != "RESOURCE_ALREADY_EXISTS":
                    raise
            held = self.read_lock()
            if held is not None:
                return held
            # Gone between the two calls (released, or retired by a run taking over): try again.
            # Never report it as an unreadable lock: retiring that would delete the next one.
        now = time.time()
        return Lease("", "a run taking over the lock", now, now + 5)

    def retire_lock(self, held: Lease) -> bool:
        """Move an expired lock out of the way: renamed to a tombstone named after its token.
        Of two runs retiring the same lease exactly one rename succeeds, and a lock another run
        has taken since is never touched: renaming it would collide with the tombstone. (A
        delete here could remove that newer lock.) False: someone else retired it first."""
        if not held.token:  # unreadable, so nameless: nothing to tell incarnations apart by
            self.release_lock(None)
            return True
        try:
            self._call(self.registry.rename_registered_model, LOCK_MODEL, f"{RETIRED_PREFIX}{held.token}")
        except RegistryError as exc:
            if exc.code in ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST") or _lost_race(exc):
                return False
            raise
        self._sweep_retired()
        return True

    def _sweep_retired(self) -> None:
        """Delete tombstones old enough that no run can still be about to retire their lease."""
        cutoff = (time.time() - RETIRED_KEEP_SECONDS) * 1000
        found = self._call(
            self.registry.search_registered_models, filter_string=f"name LIKE '{RETIRED_PREFIX}%'", max_results=100
        )
        for rm in found:
            if rm.name.startswith(RETIRED_PREFIX) and (rm.last_updated_timestamp or 0) < cutoff:
                with contextlib.suppress(RegistryError):
                    self._call(self.registry.delete_registered_model, rm.name)

    def read_lock(self) -> Lease | None:
        """The lease that holds the lock; None when nobody does. A lock whose tags cannot be
        read is a lease with no token that has expired: anyone may remove it."""
        try:
            rm = self._call(self.registry.get_registered_model, LOCK_MODEL)
        except RegistryError as exc:
            if exc.code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        return _lease(rm.tags) or Lease("", "an unreadable lock", 0.0, 0.0)

    def renew_lock(self, lease: Lease) -> bool:
        held = self.read_lock()
        if held is None or held.token != lease.token:
            return False
        self._call(self.registry.set_registered_model_tag, LOCK_MODEL, "expires", repr(lease.expires))
        return True

    def release_lock(self, token: str | None) -> Lease | None:
        """Delete the lock if `token` holds it (None: whoever holds it). Returns what was removed."""
        held = self.read_lock()
        if held is None and token is not None:
            return None
        if token is not None and held is not None and held.token != token:
            return None
        try:
            self._call(self.registry.delete_registered_model, LOCK_MODEL)
        except RegistryError as exc:
            if exc.code != "RESOURCE_DOES_NOT_EXIST" and not _lost_race(exc):
                raise
        return held

    def load_model(self, model: str, version: str) -> Any:
        """The fitted estimator of a version, loaded without running code from the registry.

        Anyone who can write to the registry can register a version, so its artifact is not
        trusted: MLflow's own loader unpickles (and puts a model's `code` directory on sys.path),
        and even its skops path trusts the type list the artifact declares. Here only the skops
        format is read, and only types from scikit-learn, NumPy and SciPy are trusted, whatever
        the artifact says."""
        # A directory of our own, removed once the model is in memory: a server that follows
        # promotions for weeks would otherwise leave a copy of every version in /tmp.
        with tempfile.TemporaryDirectory(prefix="reconciler-model-") as tmp:
            try:
                local = Path(
                    self._call(
                        self._mlflow.artifacts.download_artifacts,
                        artifact_uri=f"models:/{model}/{version}",
                        dst_path=tmp,
                    )
                )
                flavors = self._call(self._mlflow.models.Model.load, str(local)).flavors
            except RegistryError as exc:
                raise ReconcilerError(f"v{version} of '{model}' cannot be loaded: {exc}") from exc
            return load_skops(local, flavors.get("sklearn") or {}, f"v{version} of '{model}'")

    def monitor_report(self, run_id: str, environment: str, model: str) -> dict[str, Any] | None:
        """The JSON report a monitoring run logged (`reconciler monitor`), or None when it is
        not there or not JSON: the status page then shows the check without its histograms."""
        name = f"monitor/{environment}-{model}.json"
        with tempfile.TemporaryDirectory(prefix="reconciler-monitor-") as tmp:
            try:
                local = self._call(
                    self._mlflow.artifacts.download_artifacts, run_id=run_id, artifact_path=name, dst_path=tmp
                )
                with open(local, encoding="utf-8") as fh:
                    value = json.load(fh)
            except (RegistryError, OSError, ValueError):
                return None
        return value if isinstance(value, dict) else None

    def artifact_location(self, model: str, version: str) -> str:
        """Where a version's files are, resolved (never through an alias): what a deployment
        outside MLflow fetches, e.g. KServe's storageUri."""
        return str(self._call(self.registry.get_model_version_download_uri, model, version))

    # --- monitoring -----------------------------------------------------------------------

    def load_profile(self, version: VersionState) -> dict[str, Any] | None:
        """The reference profile logged with the version's training run, if it has one."""
        if not version.run_id:
            return None
        self.calls += 1
        try:
            loaded = self._mlflow.artifacts.load_dict(f"runs:/{version.run_id}/{PROFILE_ARTIFACT}")
        except (self._mlflow.exceptions.MlflowException, OSError, ValueError):
            return None
        return dict(loaded) if isinstance(loaded, dict) else None

    def log_monitoring(
        self,
        version: VersionState,
        environment: str,
        metrics: Mapping[str, float],
        summary: Mapping[str, Any],
        files: Iterable[Path],
    ) -> str:
        """A run in the monitoring experiment, linked to the version it checked, and the check's
        summary on the version itself (`reconciler.monitor.<env>`). Returns the run id."""
        self._fenced()
        mlflow = self._mlflow
        exp = self._monitor_experiment()
        tags = {
            t.PREFIX + "monitor.model": version.model,
            t.PREFIX + "monitor.version": version.version,
            t.PREFIX + "monitor.environment": environment,
            t.PREFIX + "monitor.training_run": version.run_id or "",
            t.PREFIX + "monitor.verdict": str(summary.get("verdict", "")),
        }
        self.calls += 1
        with mlflow.start_run(
            experiment_id=exp, run_name=f"monitor {version.model}@{environment} v{version.version}", tags=tags
        ) as run:
            mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
            for path in files:
                mlflow.log_artifact(str(path), artifact_path="monitor")
        record = json.dumps({**summary, "run_id": run.info.run_id}, sort_keys=True)[: t.MAX_TAG_VALUE]
        self.set_version_tag(version.model, version.version, t.MONITOR_PREFIX + environment, record)
        return str(run.info.run_id)

    def _monitor_experiment(self) -> str:
        found = self._call(self.client.get_experiment_by_name, MONITOR_EXPERIMENT)
        if found is not None:
            return str(found.experiment_id)
        location = (self.artifact_root.parent / "monitoring").as_uri() if self.artifact_root else None
        try:
            return str(self._call(self.client.create_experiment, MONITOR_EXPERIMENT, artifact_location=location))
        except RegistryError:
            return str(self._call(self.client.get_experiment_by_name, MONITOR_EXPERIMENT).experiment_id)


# --- the registry lock ----------------------------------------------------------------------
# A registered model named with a dot (never a DNS-label model name, so never a spec's model).
# Creating a registered model is atomic: exactly one of two racing creators succeeds.
LOCK_MODEL = "reconciler.lock"
RETIRED_PREFIX = LOCK_MODEL + ".retired."  # expired locks, renamed (see retire_lock)
RETIRED_KEEP_SECONDS = 600.0


@dataclass(frozen=True)
class Lease:
    token: str
    holder: str
    acquired: float
    expires: float
    host: str = ""  # where the holder runs, and its process id: a dead holder on this host
    pid: int = 0  # is taken over at once instead of waiting out its lease


def _lost_race(exc: RegistryError) -> bool:
    """Two runs changed the same lock row at once and this one's UPDATE or DELETE matched no row
    (SQLAlchemy's StaleDataError, which MLflow reports as an internal error): the other won."""
    text = str(exc)
    return "expected to update" in text or "expected to delete" in text


def _alias_of(rm: Any, alias: str) -> str | None:
    """The version an alias of a registered model (as MLflow returns it) points at."""
    held = (rm.aliases or {}).get(alias)
    return str(held) if held is not None else None


def _next_seq(model: str, ledger: tuple[LedgerEntry, ...]) -> int:
    seq = ledger[-1].seq + 1 if ledger else 1
    if seq > MAX_LEDGER_SEQ:
        raise ReconcilerError(
            f"the ledger of '{model}' ends at entry {seq - 1}, a number the reconciler never reaches: "
            f"its tag {t.LEDGER_PREFIX}{seq - 1:06d} was set by hand; delete it, then apply again"
        )
    return seq


MAX_LEASE_SECONDS = 86_400.0  # no run renews a lease further ahead than this


def _lease(tags: Mapping[str, str]) -> Lease | None:
    try:
        pid = int(tags.get("pid") or 0)
    except ValueError:
        pid = 0
    try:
        acquired, expires = float(tags["acquired"]), float(tags["expires"])
        # A hand-edited lease (inf, nan, a date in the next century) would hold the registry
        # forever: only a finite expiry at most a day ahead is a lease at all.
        if not (math.isfinite(acquired) and math.isfinite(expires)) or expires - time.time() > MAX_LEASE_SECONDS:
            return None
        return Lease(
            tags["token"][:200], tags.get("holder", "?")[:200], acquired, expires, tags.get("host", "")[:200], pid
        )
    except (KeyError, ValueError, OverflowError):
        return None


class LeaseLost(ReconcilerError):
    """This run no longer holds the registry lock: it stops before its next write, because
    another run may be writing now."""

    def __init__(self, why: str) -> None:
        super().__init__(
            f"lost the registry lock ({why}); stopped before the next write so that two runs never write at "
            "once. Nothing this run did is lost: run apply again to converge"
        )


# Types a model the reconciler trained can hold; submodules that compile or run code are not.
SAFE_TYPE_PREFIXES = ("sklearn.", "numpy.", "scipy.")
UNSAFE_TYPE_PREFIXES = ("numpy.f2py", "numpy.distutils", "numpy.testing", "sklearn.utils._testing", "scipy.weave")


def load_skops(directory: Path, flavor: Mapping[str, Any], what: str) -> Any:
    fmt = flavor.get("serialization_format", "pickle")
    if fmt != "skops":
        raise ReconcilerError(
            f"{what} is stored as {fmt!s:.40}; the reconciler loads only skops models (unpickling an artifact "
            "from the registry would run whatever code it holds)"
        )
    file = (directory / str(flavor.get("pickled_model", ""))).resolve()
    if not file.is_relative_to(directory.resolve()) or not file.is_file():
        raise ReconcilerError(f"{what}: its model file is missing or outside the artifact")
    import skops.io

    try:
        types = skops.io.get_untrusted_types(file=file)
        unsafe = [n for n in types if not n.startswith(SAFE_TYPE_PREFIXES) or n.startswith(UNSAFE_TYPE_PREFIXES)]
        if unsafe:
            raise ReconcilerError(f"{what} holds types the reconciler does not load: {', '.join(unsafe[:5])}")
        return skops.io.load(file, trusted=types)
    except ReconcilerError:
        raise
    except Exception as exc:  # a corrupt or crafted file: whatever skops raises, it is the artifact's fault
        raise ReconcilerError(f"{what} cannot be loaded: {type(exc).__name__}: {str(exc)[:200]}") from exc


class RegistryError(ReconcilerError):
    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(f"MLflow: {message}")
        self.code = code


class RegistryUnavailable(ReconcilerError):
    """The registry cannot be reached at all: stop the whole run, not just one step."""

    exit_code = 4

    def __init__(self, location: str, detail: str) -> None:
        reason = "connection refused" if "refused" in detail.lower() else _short(detail)
        super().__init__(
            f"cannot reach the MLflow registry at {location} ({reason}); nothing was changed after this point"
        )


def _short(detail: str) -> str:
    last = redact(detail.strip().splitlines()[-1] if detail.strip() else "no answer")
    return last[:200]


_UNREACHABLE = (
    "Max retries exceeded",
    "Connection refused",
    "Failed to establish",
    "timed out",
    "Read timed out",
    "RemoteDisconnected",
    "Connection aborted",
    "Name or service not known",
)


def _unreachable(text: str) -> bool:
    return any(marker in text for marker in _UNREACHABLE)


# Bounded retries: MLflow's defaults retry for minutes before giving up on a dead server.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def _point(mlflow: Any, tracking_uri: str) -> None:
    """Make MLflow's fluent API (start_run, log_model, models:/ URIs) use this store."""
    # mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI (for its subprocesses); left
    # there, it would silently redirect the next store this process opens to this one.
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:6000]


def _forget_engines(uri: str) -> None:
    """Drop MLflow's cached SQLAlchemy engines for a store (kept per URI, per store class)."""
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

    for cls in (TrackingStore, RegistryStore):
        engines = getattr(cls, "_engine_map", None)
        if isinstance(engines, dict):
            engine = engines.pop(uri, None)
            if engine is not None:
                engine.dispose()


def _holds_data(path: Path) -> bool:
    """Whether a SQLite store holds anything of ours: a registered model or a run."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
            names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            return any(
                db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None
                for table in ("registered_models", "runs")
                if table in names
            )
    except sqlite3.Error:
        return True  # unreadable: never assume it is empty


def _has_schema(path: Path) -> bool:
    """Whether a SQLite store already holds MLflow's tracking and registry tables, migrated to
    the version this MLflow expects (a store a killed run left half migrated does not count)."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
            names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"alembic_version", "experiments", "registered_models"} <= names:
                return False
            found = db.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return False  # let MLflow open it and say what is wrong
    return found is not None and found[0] == _schema_head()


@functools.lru_cache(maxsize=1)
def _schema_head() -> str | None:
    """The migration MLflow's stores expect (about 15 ms to read from its alembic scripts)."""
    try:
        from mlflow.store.db.utils import _get_latest_schema_revision

        return str(_get_latest_schema_revision())  # type: ignore[no-untyped-call]
    except Exception:  # a future MLflow without it: the probe in _open decides instead
        return None


@contextlib.contextmanager
def _store_creation_lock(path: Path | None) -> Iterator[None]:
    """Two processes creating a brand-new SQLite store at once crash in MLflow's schema
    migration; under a file lock the second one waits, then finds the store ready."""
    if path is None:
        yield
        return
    import fcntl

    with open(path.with_name(path.name + ".init-lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _own_types(estimator: Any) -> list[str] | None:
    """Types skops asks us to vouch for. We built and fitted this estimator ourselves from an
    allowlisted class, so its own types are trusted; files from elsewhere are never loaded."""
    try:
        import skops.io
    except ImportError:
        return None
    return list(skops.io.get_untrusted_types(data=skops.io.dumps(estimator)))


def _version_state(mv: Any, written: Mapping[str, str] | None = None) -> VersionState:
    """A version as MLflow returned it, plus tags `written` since."""
    tags = {**(mv.tags or {}), **(written or {})}
    return version_state(mv.name, mv.version, mv.creation_timestamp, mv.run_id, mv.source, tags)
