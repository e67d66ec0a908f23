"""The HTTP side of `reconciler serve` (Starlette): invocations by (environment, model), health,
readiness, the slots' state and Prometheus metrics. Answering runs in a worker thread; what it
answers with is the slot's current version, taken once per request."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.monitor.request_log import Entry, RequestLog
from reconciler.redact import redact
from reconciler.serve import payload, router
from reconciler.serve.cache import row_key
from reconciler.serve.fleet import Follower, Loaded, Slot
from reconciler.serve.metrics import Metrics

VERSION_HEADER = "X-Model-Version"
ROLE_HEADER = "X-Rollout-Role"  # champion | candidate, while a rollout is under way
REQUEST_ID_HEADER = "X-Request-Id"
MAX_BODY_BYTES = 64 << 20


@dataclass(frozen=True)
class Answer:
    predictions: list[Any]
    rows: int
    cpu_seconds: float
    frame: Any


class ClientError(Exception):
    """The request's fault: answered 400 with the message."""


def answer(loaded: Loaded, slot: Slot, body: bytes, metrics: Metrics) -> Answer:
    """Runs in a worker thread; thread_time counts only this request's CPU."""
    cpu = time.thread_time()
    try:
        frame = payload.parse(body, loaded.columns)
    except payload.PayloadError as exc:
        raise ClientError(str(exc)) from exc
    labels = (slot.environment, slot.model, loaded.version)
    try:
        if slot.serving.cache_size > 0:
            predictions = _cached_predict(loaded, slot, frame, metrics, labels)
        else:
            predictions = payload.to_json(loaded.predict(frame))
    except (ValueError, TypeError) as exc:  # scikit-learn refusing the values: the caller's data
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ClientError(f"the model cannot predict on these rows: {first[:300]}") from exc
    return Answer(predictions, len(frame), time.thread_time() - cpu, frame)


def _cached_predict(loaded: Loaded, slot: Slot, frame: Any, metrics: Metrics, labels: tuple[str, ...]) -> list[Any]:
    rows = frame.itertuples(index=False, name=None)
    keys = [row_key(row) for row in rows]
    found = [slot.cache.get(loaded.version, k) for k in keys]
    missing = [i for i, (hit, _) in enumerate(found) if not hit]
    out = [value for _, value in found]
    if missing:
        fresh = payload.to_json(loaded.predict(frame.iloc[missing]))
        for i, value in zip(missing, fresh, strict=True):
            out[i] = value
            slot.cache.put(loaded.version, keys[i], value)
    metrics.cache_hits.labels(*labels).inc(len(keys) - len(missing))
    metrics.cache_misses.labels(*labels).inc(len(missing))
    return out


class Handlers:
    """The routes' handlers over what the server holds."""

    def __init__(
        self,
        slots: Mapping[tuple[str, str], Slot],
        follower: Follower,
        metrics: Metrics,
        request_log: RequestLog | None,
        seed: int,
    ) -> None:
        self.slots = slots
        self.follower = follower
        self.metrics = metrics
        self.request_log = request_log
        self.sampler = random.Random(seed)
        self.split = random.Random(seed + 1)  # the traffic split's draws, apart from the log's sampling

    def error(self, status: int, message: str, labels: tuple[str, ...] | None = None) -> JSONResponse:
        if labels is not None:
            self.metrics.errors.labels(*labels, str(status)).inc()
        return JSONResponse({"error": message}, status_code=status)

    async def invocations(self, request: Request) -> Response:
        started = time.perf_counter()
        env, model = request.path_params["environment"], request.path_params["model"]
        slot = self.slots.get((env, model))
        if slot is None:
            served = ", ".join(f"{e}/{m}" for e, m in sorted(self.slots))
            return self.error(404, f"'{model}' is not served in '{env}' (served: {served or 'nothing'})")
        champion = slot.current  # once: a swap during this request does not change its answer
        state, candidate = slot.rollout, slot.candidate
        if candidate is not None and (state is None or candidate.version != state.candidate):
            candidate = None
        if champion is None:
            why = "nothing is deployed there" if slot.alias_version is None else f"v{slot.alias_version} is loading"
            return self.error(503, f"models:/{model}@{env}: {why}", (env, model, slot.alias_version or ""))
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return self.error(413, f"the body is over {MAX_BODY_BYTES:,} bytes", (env, model, champion.version))
        request_id = (request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex)[:128]
        role = router.CHAMPION
        loaded = champion
        if state is not None and candidate is not None:
            key = request.headers.get(state.spec.key_header) if state.spec.key_header else None
            if router.to_candidate(state, key, self.split.random):
                loaded, role = candidate, router.CANDIDATE
        try:
            result = await run_in_threadpool(answer, loaded, slot, body, self.metrics)
        except Exception as exc:
            if role != router.CANDIDATE:
                if isinstance(exc, ClientError):
                    return self.error(400, str(exc), (env, model, loaded.version))
                raise
            # The candidate failed: the champion answers, so the caller never sees the failure;
            # when the champion cannot answer either, the request was the caller's fault.
            try:
                result = await run_in_threadpool(answer, champion, slot, body, self.metrics)
            except ClientError as again:
                return self.error(400, str(again), (env, model, champion.version))
            self._failed(slot, loaded, request_id, time.perf_counter() - started, exc)
            loaded, role = champion, router.CHAMPION
        seconds = time.perf_counter() - started
        self._count(loaded, slot, result, seconds)
        if state is not None and candidate is not None:
            router.record_answer(slot, role, loaded.version, seconds, result.predictions, result.frame, request_id)
        self._log(slot, loaded, request_id, seconds, result)
        body_out = {"predictions": result.predictions, "version": loaded.version, "request_id": request_id}
        headers = {VERSION_HEADER: loaded.version, REQUEST_ID_HEADER: request_id}
        background = None
        if state is not None and candidate is not None:
            headers[ROLE_HEADER] = role
            if state.spec.strategy == "shadow":
                background = BackgroundTask(self.shadow, slot, candidate, body, request_id)
        return Response(
            json.dumps(body_out, separators=(",", ":")),
            media_type="application/json",
            headers=headers,
            background=background,
        )

    def _count(self, loaded: Loaded, slot: Slot, result: Answer, seconds: float) -> None:
        labels = (slot.environment, slot.model, loaded.version)
        self.metrics.requests.labels(*labels).inc()
        self.metrics.latency.labels(*labels).observe(seconds)
        self.metrics.rows.labels(*labels).inc(result.rows)
        self.metrics.cpu_seconds.labels(*labels).inc(result.cpu_seconds)
        if slot.serving.price_per_cpu_hour is not None:
            self.metrics.cost.labels(*labels).inc(result.cpu_seconds * slot.serving.price_per_cpu_hour / 3600)

    def _log(self, slot: Slot, loaded: Loaded, request_id: str, seconds: float, result: Answer) -> None:
        self._append(slot, loaded, request_id, seconds, result.frame.values.tolist(), result.predictions)

    def _append(
        self,
        slot: Slot,
        loaded: Loaded,
        request_id: str,
        seconds: float,
        rows: list[list[Any]],
        predictions: list[Any],
        error: str = "",
    ) -> None:
        """One request to the request log, sampled at the slot's rate."""
        if self.request_log is None or slot.serving.sample_rate <= 0:
            return
        if self.sampler.random() >= slot.serving.sample_rate:
            return
        self.request_log.append(
            Entry(
                slot.environment,
                slot.model,
                request_id,
                time.time(),
                loaded.version,
                seconds * 1000,
                loaded.columns,
                rows,
                predictions,
                error,
            )
        )

    def _failed(self, slot: Slot, candidate: Loaded, request_id: str, seconds: float, exc: Exception) -> None:
        """A rollout's candidate failed on a request: counted, kept for the analysis, and logged
        (the request log's `error` column) so `reconciler rollout` can judge from the log too."""
        self.metrics.candidate_failures.labels(slot.environment, slot.model, candidate.version).inc()
        router.record_failure(slot, candidate.version)
        message = redact((str(exc) or type(exc).__name__).splitlines()[0])[:300]
        self._append(slot, candidate, request_id, seconds, [[None] * len(candidate.columns)], [None], message)

    async def shadow(self, slot: Slot, candidate: Loaded, body: bytes, request_id: str) -> None:
        """The candidate answers a copy of the request after the caller has the champion's
        answer; its answer is measured and logged, never returned."""
        started = time.perf_counter()
        try:
            result = await run_in_threadpool(answer, candidate, slot, body, self.metrics)
        except Exception as exc:
            self._failed(slot, candidate, request_id, time.perf_counter() - started, exc)
            return
        seconds = time.perf_counter() - started
        self._count(candidate, slot, result, seconds)
        router.record_answer(
            slot, router.CANDIDATE, candidate.version, seconds, result.predictions, result.frame, request_id
        )
        self._log(slot, candidate, request_id, seconds, result)

    async def labels(self, request: Request) -> Response:
        slot = self.slots.get((request.path_params["environment"], request.path_params["model"]))
        if slot is None:
            return self.error(404, "not served here")
        try:
            raw = json.loads(await request.body())
        except ValueError as exc:
            return self.error(400, f"the body is not JSON: {exc}")
        items = raw.get("labels") if isinstance(raw, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return self.error(400, 'expected {"labels": [{"request_id": ..., "row": 0, "label": ...}, ...]}')
        return JSONResponse({"received": len(items), "joined": router.record_labels(slot, items)})

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        views = [slot.view() for slot in self.slots.values()]
        ready = self.follower.polls > 0 and all(v["ready"] for v in views)
        return JSONResponse({"ready": ready, "models": views}, status_code=200 if ready else 503)

    async def status(self, request: Request) -> Response:
        return JSONResponse(
            {
                "models": [slot.view() for slot in self.slots.values()],
                "polls": self.follower.polls,
                "error": self.follower.last_error,
            }
        )

    async def metrics_page(self, request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")


def create_app(
    slots: Mapping[tuple[str, str], Slot],
    follower: Follower,
    metrics: Metrics,
    request_log: RequestLog | None,
    *,
    seed: int = 0,
) -> Starlette:
    h = Handlers(slots, follower, metrics, request_log, seed)
    return Starlette(
        routes=[
            Route("/v1/{environment}/{model}/invocations", h.invocations, methods=["POST"]),
            Route("/v1/{environment}/{model}/labels", h.labels, methods=["POST"]),
            Route("/v1/status", h.status),
            Route("/healthz", h.healthz),
            Route("/readyz", h.readyz),
            Route("/metrics", h.metrics_page),
        ]
    )
