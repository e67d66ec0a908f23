"""`reconciler status`: environment x model, desired against actual, in Argo CD's words."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reconciler.cli.common import Session, add_repo, open_session, workspace
from reconciler.diagnostics import ReconcilerError
from reconciler.render.status import status_rows, with_served
from reconciler.render.views import render


def register(sub: Any) -> None:
    p = sub.add_parser("status", help="desired vs actual version of every model in every environment")
    add_repo(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument(
        "--cost",
        action="store_true",
        help="training time, model size and predict time per row of each deployed version, beside the previous one",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="verify the registry's invariants (one version per fingerprint, every alias on a passed "
        "version); exit 1 on a violation",
    )
    p.add_argument(
        "--html",
        metavar="DIR",
        type=Path,
        help="also write the status as a static site in DIR: index.html (environments x models) and a "
        "page per model (ledger, verdicts, costs, rollouts, latest monitoring); self-contained, no scripts",
    )
    p.add_argument(
        "--serve-url",
        metavar="URL",
        help="also ask a running `reconciler serve` which version it answers with (e.g. http://127.0.0.1:8080)",
    )
    p.set_defaults(run=run, parser_error=p.error)


def _served(url: str) -> list[dict[str, Any]] | None:
    """The server's view of what it serves, or None (with a note) when it cannot be asked."""
    import sys
    import urllib.error
    import urllib.request

    from reconciler.redact import redact_url

    try:
        with urllib.request.urlopen(url.rstrip("/") + "/v1/status", timeout=5) as response:
            doc = json.loads(response.read(1 << 22))
        models = doc["models"]
        if not isinstance(models, list):
            raise ValueError("'models' is not a list")
        return [m for m in models if isinstance(m, dict)]
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as exc:
        print(
            f"status: cannot ask {redact_url(url)} what it serves ({type(exc).__name__}); SERVED shows ?",
            file=sys.stderr,
        )
        return None


def write_site(session: Session, out: Path) -> int:
    """The site's pages in `out`, each renamed over the old one once written (atomic.write_text),
    so a web server publishing `out` never serves half a page."""
    from reconciler.atomic import write_text
    from reconciler.redact import redact_url
    from reconciler.render.site import build, pages

    site = build(
        session.plan,
        session.actual,
        session.desired.state,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        revision=session.desired.provenance.short,
        report=lambda env, model, run_id: session.store.monitor_report(run_id, env, model),
    )
    written = pages(replace(site, registry=redact_url(site.registry)))
    try:
        for rel, html in written.items():
            write_text(out / rel, html, mode=0o644)
    except OSError as exc:
        raise ReconcilerError(f"cannot write the status site to {out}: {exc.strerror or exc}") from exc
    return len(written)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def run(args: argparse.Namespace) -> int:
    session = open_session(workspace(args), args.env, check_data=False)
    if args.check:
        from reconciler.state.invariants import violations

        found = violations(session.actual)
        for line in found:
            print(f"invariant violated: {line}")
        print(f"{len(found)} invariant violation(s) in {session.store.location}" if found else "invariants hold")
        return 1 if found else 0
    if args.cost:
        from reconciler.render.status import COSTS, cost_rows

        pairs = sorted(
            {(a.environment, a.model) for a in session.plan.actions},
            key=lambda p: (session.plan.environments.index(p[0]) if p[0] in session.plan.environments else 99, p[1]),
        )
        costs = cost_rows(session.actual, pairs)
        if args.format == "json":
            print(json.dumps([{**c.__dict__} for c in costs], indent=2))
        else:
            print(render("cost.txt.j2", rows=costs, costs=COSTS, fmt=_fmt), end="")
        return 0
    if args.html is not None:
        written = write_site(session, args.html)
        print(f"status: wrote {written} page(s) to {args.html}", file=sys.stderr)
    rows = status_rows(session.plan, session.actual)
    if args.serve_url:
        rows = with_served(rows, _served(args.serve_url))
    if args.format == "json":
        shown = [{k: v for k, v in r.__dict__.items() if k != "served" or args.serve_url} for r in rows]
        print(json.dumps(shown, indent=2))
    else:
        print(render("status.txt.j2", rows=rows, served=bool(args.serve_url)), end="")
    return 0 if all(r.state == "Synced" for r in rows) else 1
