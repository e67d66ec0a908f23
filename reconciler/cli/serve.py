"""`reconciler serve`: serve every deployed (environment, model) by alias, following the registry."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from reconciler.cli.common import add_workspace, valid_specs, workspace


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve each environment's models by alias; follows promotions and rollbacks")
    add_workspace(p, positional=False)
    p.add_argument("--env", action="append", metavar="ENV", help="only this environment (repeatable)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    p.add_argument(
        "--poll",
        type=float,
        metavar="SECONDS",
        help="how often to read the aliases (default: the smallest serving.poll_seconds of what is served)",
    )
    p.add_argument("--no-request-log", action="store_true", help="log no requests, whatever the specs' sample_rate")
    p.set_defaults(run=run, parser_error=p.error)


def run(args: argparse.Namespace) -> int:
    import warnings

    import uvicorn

    from reconciler.desired.load import STATE_DIR
    from reconciler.diagnostics import ReconcilerError
    from reconciler.monitor.request_log import URL_VARIABLE, open_request_log
    from reconciler.redact import redact_url
    from reconciler.serve.app import create_app
    from reconciler.serve.fleet import Follower, Slot
    from reconciler.serve.metrics import new_metrics
    from reconciler.state.mlflow_store import MlflowStore

    # Rows reach models as arrays in the order the server checked by name (Loaded.predict);
    # scikit-learn would warn on every request that an array has no names.
    warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
    if not 0 < args.port < 65536:
        args.parser_error(f"--port {args.port}: expected 1-65535")
    if args.poll is not None and not 0.05 <= args.poll <= 3600:
        args.parser_error(f"--poll {args.poll}: expected 0.05-3600 seconds")
    root = workspace(args)
    result = valid_specs(root, args.env)
    specs = result.desired.specs
    slots = {
        (env, model): Slot(env, model, specs.environments[env].serving_of(model))
        for (env, model) in sorted(result.desired.resolved)
        if not args.env or env in args.env
    }
    if not slots:
        raise ReconcilerError(
            "nothing to serve: the specs deploy no model" + (" to those environments" if args.env else "")
        )
    poll = args.poll or min(slot.serving.poll_seconds for slot in slots.values())
    metrics = new_metrics()
    store = MlflowStore.for_repo(root)
    request_log = None
    log_url = os.environ.get(URL_VARIABLE) or None
    if not args.no_request_log and any(s.serving.sample_rate > 0 for s in slots.values()):
        request_log = open_request_log(
            root / STATE_DIR,
            log_url,
            dropped=lambda e: metrics.dropped_rows.labels(e.environment, e.model, e.version).inc(len(e.rows)),
            written=lambda e: metrics.logged_rows.labels(e.environment, e.model, e.version).inc(len(e.rows)),
        )
    follower = Follower(store, list(slots.values()), metrics, poll, say=lambda text: print(text, flush=True))
    app = create_app(slots, follower, metrics, request_log)
    print(
        f"serving {len(slots)} model(s) from {store.location} on http://{args.host}:{args.port} "
        f"(aliases read every {poll:g}s; POST /v1/<env>/<model>/invocations)",
        flush=True,
    )
    if request_log is not None:
        where = redact_url(log_url) if log_url else str(root / STATE_DIR / "requests")
        print(f"request log: {where}", flush=True)
    follower.start()
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    finally:
        follower.stop()
        if request_log is not None:
            request_log.close()
    print("serve: stopped", file=sys.stderr)
    return 0
