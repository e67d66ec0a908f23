"""`reconciler render --target kserve`: Kubernetes manifests of what each environment's alias
holds, for Argo CD or Flux to deploy (see reconciler.render.kserve)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from reconciler.cli.common import add_workspace, find_workspace_of, valid_specs

PLACEHOLDER_REPO = "https://github.com/OWNER/REPO.git"


def register(sub: Any) -> None:
    p = sub.add_parser("render", help="write Kubernetes manifests (KServe, Kustomize, Argo CD) of what is deployed")
    add_workspace(p, positional=False)
    p.add_argument("--target", choices=("kserve",), required=True, help="what to render for")
    p.add_argument("--out", type=Path, help="directory to write into (default: <repo>/deploy)")
    p.add_argument("--env", action="append", metavar="ENV", help="only this environment (repeatable)")
    p.add_argument("--repo-url", help="the git URL Argo CD reads (default: the `origin` remote)")
    p.add_argument("--revision", default="HEAD", help="the revision Argo CD follows (default: HEAD)")
    p.set_defaults(run=run, parser_error=p.error)


def run(args: argparse.Namespace) -> int:
    from reconciler.redact import redact
    from reconciler.render.kserve import HEADER, Deployed, manifests
    from reconciler.state import tags
    from reconciler.state.mlflow_store import MlflowStore
    from reconciler.vcs.git import remote_url

    where = find_workspace_of(args)
    root = where.root
    result = valid_specs(root, args.env)
    specs = result.desired.specs
    store = MlflowStore.for_repo(root)
    actual = store.read()
    deployed = []
    locations: dict[tuple[str, str], str] = {}
    for env, model in sorted(result.desired.resolved):
        if args.env and env not in args.env:
            continue
        rm = actual.models.get(model)
        version = rm.aliases.get(env) if rm else None
        if rm is None or version is None:
            print(f"render: {model}@{env} holds no version yet; not rendered", file=sys.stderr)
            continue
        canary = None
        rolling = rm.rollout(env)
        if rolling is not None and rolling.spec.strategy == "canary" and rolling.candidate in rm.versions:
            # KServe sends canaryTrafficPercent to the revision in the manifest and the rest to
            # the last one rolled out: the candidate goes in, at the rollout step's weight.
            version, canary = rolling.candidate, rolling.weight
        elif rolling is not None:
            print(
                f"render: {model}@{env} shadows v{rolling.candidate}; KServe is given v{version} only", file=sys.stderr
            )
        state = rm.versions[version]
        commit = state.tags.get(tags.GIT_COMMIT, "")
        if (model, version) not in locations:  # one version promoted through every environment: one read
            locations[(model, version)] = store.artifact_location(model, version)
        deployed.append(Deployed(env, model, version, state.fingerprint, commit, locations[(model, version)], canary))
    out: Path = args.out or root / "deploy"
    top = where.git_top or root
    try:
        out_path = out.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        out_path = out.as_posix()
    repo_url = args.repo_url or remote_url(root) or PLACEHOLDER_REPO
    files = manifests(deployed, repo_url, args.revision, out_path)
    changed = 0
    for rel, text in files.items():
        path = out / rel
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        changed += 1
    removed = 0
    scope = set(args.env or specs.environments)  # other environments' files are not this run's to judge
    for path in sorted(out.rglob("*.yaml")) if out.is_dir() else ():
        rel = path.relative_to(out).as_posix()
        owner = rel.split("/")[-1].removesuffix(".yaml") if rel.startswith("argocd/") else rel.split("/")[0]
        if owner not in scope or rel in files:
            continue
        if path.read_text(encoding="utf-8").startswith(HEADER):
            path.unlink()  # rendered before for a model no longer deployed here
            removed += 1
    print(f"render: {len(files)} files in {out} ({changed} written, {removed} removed)")
    if repo_url == PLACEHOLDER_REPO:
        print(
            f"render: no `origin` remote: the Argo CD Applications say {PLACEHOLDER_REPO} (pass --repo-url)",
            file=sys.stderr,
        )
    else:
        print(f"render: Argo CD reads {redact(repo_url)} at {args.revision}", file=sys.stderr)
    return 0
