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
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.monitor.request_log import Entry, RequestLog
from reconciler.serve import payload
from reconciler.serve.cache import row_key
from reconciler.serve.fleet import Follower, Loaded, Slot
from reconciler.serve.metrics import Metrics

VERSION_HEADER = "X-Model-Version"
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


def create_app(
    slots: Mapping[tuple[str, str], Slot],
    follower: Follower,
    metrics: Metrics,
    request_log: RequestLog | None,
    *,
    seed: int = 0,
) -> Starlette:
    sampler = random.Random(seed)

    def error(status: int, message: str, labels: tuple[str, ...] | None = None) -> JSONResponse:
        if labels is not None:
            metrics.errors.labels(*labels, str(status)).inc()
        return JSONResponse({"error": message}, status_code=status)

    async def invocations(request: Request) -> Response:
        started = time.perf_counter()
        env, model = request.path_params["environment"], request.path_params["model"]
        slot = slots.get((env, model))
        if slot is None:
            served = ", ".join(f"{e}/{m}" for e, m in sorted(slots))
            return error(404, f"'{model}' is not served in '{env}' (served: {served or 'nothing'})")
        loaded = slot.current  # once: a swap during this request does not change its answer
        if loaded is None:
            why = "nothing is deployed there" if slot.alias_version is None else f"v{slot.alias_version} is loading"
            return error(503, f"models:/{model}@{env}: {why}", (env, model, slot.alias_version or ""))
        labels = (env, model, loaded.version)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return error(413, f"the body is over {MAX_BODY_BYTES:,} bytes", labels)
        try:
            result = await run_in_threadpool(answer, loaded, slot, body, metrics)
        except ClientError as exc:
            return error(400, str(exc), labels)
        request_id = request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
        seconds = time.perf_counter() - started
        metrics.requests.labels(*labels).inc()
        metrics.latency.labels(*labels).observe(seconds)
        metrics.rows.labels(*labels).inc(result.rows)
        metrics.cpu_seconds.labels(*labels).inc(result.cpu_seconds)
        if slot.serving.price_per_cpu_hour is not None:
            metrics.cost.labels(*labels).inc(result.cpu_seconds * slot.serving.price_per_cpu_hour / 3600)
        if request_log is not None and slot.serving.sample_rate > 0 and sampler.random() < slot.serving.sample_rate:
            request_log.append(
                Entry(
                    env,
                    model,
                    request_id[:128],
                    time.time(),
                    loaded.version,
                    seconds * 1000,
                    loaded.columns,
                    result.frame.values.tolist(),
                    result.predictions,
                )
            )
        body_out = {"predictions": result.predictions, "version": loaded.version, "request_id": request_id[:128]}
        return Response(
            json.dumps(body_out, separators=(",", ":")),
            media_type="application/json",
            headers={VERSION_HEADER: loaded.version, REQUEST_ID_HEADER: request_id[:128]},
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        views = [slot.view() for slot in slots.values()]
        ready = follower.polls > 0 and all(v["ready"] for v in views)
        return JSONResponse({"ready": ready, "models": views}, status_code=200 if ready else 503)

    async def status(request: Request) -> Response:
        return JSONResponse(
            {"models": [slot.view() for slot in slots.values()], "polls": follower.polls, "error": follower.last_error}
        )

    async def metrics_page(request: Request) -> Response:
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return Starlette(
        routes=[
            Route("/v1/{environment}/{model}/invocations", invocations, methods=["POST"]),
            Route("/v1/status", status),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_page),
        ]
    )
