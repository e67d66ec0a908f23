"""Kubernetes manifests of what the registry's aliases hold: per environment, a KServe
InferenceService per model and a Kustomization, and an Argo CD Application that deploys the
environment's directory. Pure and deterministic: the same registry state gives byte-identical
files, so a commit of them changes exactly what changed (GitOps all the way down)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML

HEADER = "# Rendered by `reconciler render --target kserve`: do not edit; render again instead.\n"
GROUP = "reconciler.gitops.dev"  # label and annotation prefix


@dataclass(frozen=True)
class Deployed:
    """One (environment, model) as the registry holds it."""

    environment: str
    model: str
    version: str
    fingerprint: str
    commit: str  # the commit the version was trained from ("" when unknown)
    storage_uri: str  # the version's own artifact location, never the alias
    canary_percent: int | None = None  # the rollout step's weight, when one runs


def inference_service(d: Deployed) -> dict[str, Any]:
    predictor: dict[str, Any] = {
        "model": {
            "modelFormat": {"name": "mlflow"},
            "protocolVersion": "v2",
            "storageUri": d.storage_uri,
        }
    }
    if d.canary_percent is not None:
        predictor["canaryTrafficPercent"] = d.canary_percent
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": d.model,
            "namespace": d.environment,
            "labels": {
                "app.kubernetes.io/managed-by": "gitops-model-reconciler",
                f"{GROUP}/model": d.model,
                f"{GROUP}/version": d.version,
                # a label value holds 63 characters: the fingerprint's prefix, the whole in an annotation
                f"{GROUP}/fingerprint": d.fingerprint[:16],
            },
            "annotations": {
                f"{GROUP}/fingerprint": d.fingerprint,
                f"{GROUP}/commit": d.commit or "unknown",
                f"{GROUP}/model-uri": f"models:/{d.model}/{d.version}",
            },
        },
        "spec": {"predictor": predictor},
    }


def kustomization(environment: str, files: Sequence[str]) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": environment,
        "resources": list(files),
    }


def application(environment: str, repo_url: str, revision: str, path: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": f"models-{environment}", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "targetRevision": revision, "path": path},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": environment},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true"],
            },
        },
    }


def dump(doc: Mapping[str, Any]) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096  # long URIs stay on one line
    out = io.StringIO()
    yaml.dump(dict(doc), out)
    return HEADER + out.getvalue()


def manifests(deployed: Sequence[Deployed], repo_url: str, revision: str, out_path: str) -> dict[str, str]:
    """Relative path -> file text. `out_path` is where the files will sit in the repository
    (what each Application's `source.path` names)."""
    files: dict[str, str] = {}
    for environment in sorted({d.environment for d in deployed}):
        here = sorted((d for d in deployed if d.environment == environment), key=lambda d: d.model)
        names = [f"{d.model}.yaml" for d in here]
        for d, name in zip(here, names, strict=True):
            files[f"{environment}/{name}"] = dump(inference_service(d))
        files[f"{environment}/kustomization.yaml"] = dump(kustomization(environment, names))
        path = f"{out_path.rstrip('/')}/{environment}" if out_path not in ("", ".") else environment
        files[f"argocd/{environment}.yaml"] = dump(application(environment, repo_url, revision, path))
    return files
