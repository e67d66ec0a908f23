"""Engine benchmarks, each next to its baseline measured in the same run.

    python bench/engine_bench.py [--repeat 5] [--models 100] [--fresh 10]

- no-op `reconciler plan` and `apply` over the examples, and the plan over N generated models
  x 3 environments, with the number of registry round trips; beside the physical floor
  (PHYSICAL_FLOOR: imports, a libyaml parse of the same files, one read of the registry
  tables), `python -c "import mlflow"` and MLflow's own floor (`MlflowClient` plus one search);
- `reconciler apply` of K fresh models, beside a plain MLflow script doing the same work with
  MLflow's defaults (what a user writes) and the same calls tuned (the floor);
- revert rollback: wall time and number of trainings, against the no-op plan plus the time of
  importing MLflow (what moving an alias must pay on top of planning);
- DVC: a pipeline of one stage per model training the same trees (fresh `dvc repro` against a
  fresh apply), and its no-op `dvc status` / `dvc repro` against the no-op plan;
- with --server: a fresh apply against a real `mlflow server` beside a hand-written script
  making the same calls, with the requests each made (from the server's access log);
- with --baseline-rev REV: the fresh apply of N models x 3 environments with the package as it
  was at REV, beside today's.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.local_server import LocalServer

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

FLOOR_SEARCH = """
import sys
from mlflow import MlflowClient
c = MlflowClient(tracking_uri=sys.argv[1], registry_uri=sys.argv[1])
c.search_registered_models(max_results=1000)
"""

# The least any no-op plan must do: import what validation needs, parse the same spec files
# with the fastest exact parser there is (libyaml, keeping every node's line and column), and
# read the five registry tables once, in one read transaction.
PHYSICAL_FLOOR = """
import sqlite3, sys
from pathlib import Path
import pydantic, ruamel.yaml, yaml
root, db = Path(sys.argv[1]), sys.argv[2]
for top in ("specs", "environments", "policies"):
    for p in sorted((root / top).rglob("*.yaml")):
        list(yaml.compose_all(p.read_text(), Loader=yaml.CSafeLoader))
con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
con.execute("BEGIN")
for table in ("registered_models", "registered_model_tags", "registered_model_aliases",
              "model_versions", "model_version_tags"):
    con.execute(f"SELECT * FROM {table}").fetchall()
"""

# What moving aliases costs any MLflow script on the embedded store: the import, opening the
# SQLAlchemy store (SQLAlchemy, alembic and MLflow's table models: `import mlflow` loads none of
# them) and the alias writes; each alias is set to where it already points.
ALIAS_SCRIPT = """
import sys
from mlflow import MlflowClient
c = MlflowClient(tracking_uri=sys.argv[1], registry_uri=sys.argv[1])
name = sys.argv[2]
for alias, version in c.get_registered_model(name).aliases.items():
    c.set_registered_model_alias(name, alias, version)
"""

PLAIN_SCRIPT = """
import sys, warnings, logging
warnings.filterwarnings("ignore")
logging.getLogger("mlflow").setLevel(logging.ERROR)
import mlflow, sklearn
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.metrics import accuracy_score
uri, count, tuned = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "tuned"
mlflow.set_tracking_uri(uri)
client = MlflowClient(uri, uri)
X, y = load_iris(return_X_y=True, as_frame=True)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=7, stratify=y)
exp = client.create_experiment("plain")
for i in range(count):
    name = f"plain-{i}"
    model = LogisticRegression(C=1.0 + i, max_iter=500).fit(Xtr, ytr)
    with mlflow.start_run(experiment_id=exp):
        mlflow.log_params({"C": 1.0 + i})
        mlflow.log_metric("accuracy", accuracy_score(yte, model.predict(Xte)))
        kwargs = {"pip_requirements": [f"scikit-learn=={sklearn.__version__}"]} if tuned else {}
        info = mlflow.sklearn.log_model(model, name="model", input_example=Xte.head(5),
                                        signature=infer_signature(Xte.head(5), model.predict(Xte.head(5))), **kwargs)
    mv = mlflow.register_model(info.model_uri, name)
    client.set_model_version_tag(name, mv.version, "fingerprint", str(i))
    client.set_registered_model_alias(name, "dev", mv.version)
"""


# What a user would write for the same outcome as `apply` on a server, one model at a time:
# the run with its parameters, metrics, spec and model (requirements given), a version with the
# reconciler's tags, and per environment a verdict tag, the alias and a ledger tag.
SERVER_SCRIPT = """
import json, sys, warnings, logging
warnings.filterwarnings("ignore")
logging.getLogger("mlflow").setLevel(logging.ERROR)
import mlflow, sklearn
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.datasets import load_iris, load_wine, load_breast_cancer
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier
uri, count = sys.argv[1], int(sys.argv[2])
mlflow.set_tracking_uri(uri)
client = MlflowClient(uri, uri)
exp = client.create_experiment("hand-written")
loaders = [load_iris, load_wine, load_breast_cancer]
for i in range(count):
    X, y = loaders[i % 3](return_X_y=True, as_frame=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=1, stratify=y)
    params = {"max_depth": 2 + i % 5, "min_samples_leaf": 1 + i // 5}
    model = DecisionTreeClassifier(**params).fit(Xtr, ytr)
    accuracy = accuracy_score(yte, model.predict(Xte))
    name = f"hand-{i}"
    client.create_registered_model(name, tags={"managed": "true"})
    with mlflow.start_run(experiment_id=exp) as run:
        mlflow.log_params(params)
        mlflow.log_dict({"model": name, "params": params}, "spec.json")
        info = mlflow.sklearn.log_model(model, name="model", input_example=Xte.head(5),
                                        signature=infer_signature(Xte.head(5), model.predict(Xte.head(5))),
                                        pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
                                        skops_trusted_types=["sklearn.tree._tree.Tree"])
        mlflow.log_metrics({"accuracy": accuracy}, model_id=info.model_id)
    mv = client.create_model_version(name, info.model_uri, run_id=run.info.run_id,
                                     tags={"fingerprint": str(i), "metric.accuracy": repr(accuracy)},
                                     model_id=info.model_id)
    for n, env in enumerate(("dev", "staging", "production"), 1):
        client.set_model_version_tag(name, mv.version, f"gate.{env}", json.dumps({"passed": True}))
        client.set_registered_model_alias(name, env, mv.version)
        client.set_registered_model_tag(name, f"ledger.{n:06d}", json.dumps({"env": env, "to": mv.version}))
"""


def requests_logged(log: Path) -> int:
    """Requests the server answered (its access log), health checks aside."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return sum(1 for line in text.splitlines() if '" ' in line and "HTTP/1.1" in line and "/health" not in line)


def sh(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None, expect: int | None = 0) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if expect is not None and result.returncode != expect:
        raise SystemExit(f"{cmd} exited {result.returncode}:\n{result.stdout[-1500:]}\n{result.stderr[-3000:]}")
    return elapsed


def median(cmd: list[str], repeat: int, **kw: object) -> float:
    return statistics.median(sh(cmd, **kw) for _ in range(repeat))  # type: ignore[arg-type]


def git_repo(path: Path) -> None:
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=b", "-c", "user.email=b@x", "commit", "-qm", "specs"],
    ):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)


def commit(path: Path, message: str) -> str:
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-qm", message], cwd=path, check=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=path, check=True, capture_output=True, text=True
    ).stdout.strip()


def examples(path: Path) -> None:
    import shutil

    for top in ("specs", "environments", "data"):
        shutil.copytree(ROOT / top, path / top)
    (path / ".gitignore").write_text(".reconciler/\n")
    git_repo(path)


# Single-threaded and seconds to fit on the bundled data, with a model of a few hundred KB.
FOREST = "class: sklearn.ensemble.GradientBoostingClassifier\n  params: {{n_estimators: {n}, max_depth: 3}}"


def generated(path: Path, models: int, forest: int = 0) -> None:
    """`models` models over the bundled datasets x 3 environments; with `forest`, each is a
    gradient-boosted model of that many rounds (about a second to fit) instead of a small tree."""
    (path / "specs").mkdir(parents=True)
    (path / "environments").mkdir()
    (path / ".gitignore").write_text(".reconciler/\n")
    sets = ["iris", "wine", "breast_cancer"]
    for s in sets:
        (path / "specs" / f"{s}.yaml").write_text(
            f"kind: Dataset\nname: {s.replace('_', '-')}\nsource: {{sklearn: load_{s}}}\ntarget: target\n"
            "split: {test_size: 0.3, seed: 1, stratify: true}\n"
        )
    (path / "specs" / "gate.yaml").write_text("kind: Gate\nname: floor\nrules:\n  - {metric: accuracy, min: 0.5}\n")
    for i in range(models):
        estimator = (
            "  " + FOREST.format(n=forest + i) + "\n"
            if forest
            else "  class: sklearn.tree.DecisionTreeClassifier\n"
            f"  params: {{max_depth: {2 + i % 5}, min_samples_leaf: {1 + i // 5}}}\n"
        )
        (path / "specs" / f"m{i}.yaml").write_text(
            f"kind: Model\nname: m{i}\ndataset: {sets[i % 3].replace('_', '-')}\nestimator:\n{estimator}"
            "metrics: [accuracy]\n"
        )
    previous = None
    for env in ("dev", "staging", "production"):
        body = f"kind: Environment\nname: {env}\n" + (f"promotes_from: {previous}\n" if previous else "") + "models:\n"
        body += "".join(f"  m{i}: {{gates: [floor]}}\n" for i in range(models))
        (path / "environments" / f"{env}.yaml").write_text(body)
        previous = env
    git_repo(path)


def package_at(rev: str, dest: Path) -> Path:
    """The package as it was at a git revision, byte-compiled as pip would leave it; put first
    on PYTHONPATH (with a working directory outside this checkout) it is the one imported."""
    dest.mkdir()
    got = subprocess.run(["git", "archive", rev, "reconciler"], cwd=ROOT, capture_output=True)
    if got.returncode != 0:
        raise SystemExit(f"--baseline-rev {rev}: {got.stderr.decode().strip() or 'git archive failed'}")
    archive = got.stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    subprocess.run([PY, "-m", "compileall", "-q", str(dest)], check=True, capture_output=True)
    return dest


def registry_calls(repo: Path) -> int:
    probe = (
        "import sys\nfrom pathlib import Path\nfrom reconciler.cli.common import open_session\n"
        "s = open_session(Path(sys.argv[1]), None, check_data=False)\n"
        "assert not s.plan.has_changes\nprint(s.store.calls)\n"
    )
    out = subprocess.run([PY, "-c", probe, str(repo)], capture_output=True, text=True, check=True).stdout
    return int(out.strip().splitlines()[-1])


def server_rows(tmpdir: Path, repeat: int) -> list[tuple[str, str, str]]:
    root = tmpdir / "server"
    repo = tmpdir / "server-examples"
    examples(repo)
    with LocalServer(root) as server:
        env = {**os.environ, "MLFLOW_TRACKING_URI": server.uri}
        start = time.perf_counter()
        sh([PY, "-m", "reconciler", "apply", str(repo)], env=env)
        fresh = time.perf_counter() - start
        noop = median([PY, "-m", "reconciler", "plan", str(repo)], repeat, env=env)
        floor = median([PY, "-c", FLOOR_SEARCH, server.uri], repeat)
        probe = (
            "import sys\nfrom pathlib import Path\nfrom reconciler.cli.common import open_session\n"
            "s = open_session(Path(sys.argv[1]), None, check_data=False)\nprint(s.store.calls)\n"
        )
        calls = (
            subprocess.run([PY, "-c", probe, str(repo)], env=env, capture_output=True, text=True, check=True)
            .stdout.strip()
            .splitlines()[-1]
        )
    return [
        ("server: fresh apply, examples", f"{fresh:.2f} s", "mlflow server on loopback"),
        ("server: no-op plan, examples", f"{noop:.2f} s", f"{calls} registry calls, {noop / floor:.2f}x floor"),
        ("server: floor, MlflowClient + one search", f"{floor:.2f} s", "floor"),
    ]


def server_fresh_rows(tmpdir: Path, models: int) -> tuple[list[tuple[str, str, str]], list[Any]]:
    """A fresh apply of `models` models x 3 environments and the hand-written script doing the
    same, each against its own new server; requests counted from each server's access log."""
    repo = tmpdir / "server-generated"
    generated(repo, models)
    measured = {}
    for label in ("reconciler", "script"):
        with LocalServer(tmpdir / f"server-{label}") as server:
            before = requests_logged(server.log)
            env = {**os.environ, "MLFLOW_TRACKING_URI": server.uri}
            start = time.perf_counter()
            if label == "reconciler":
                sh([PY, "-m", "reconciler", "apply", str(repo)], env=env)
            else:
                sh([PY, "-c", SERVER_SCRIPT, server.uri, str(models)], env=env)
            measured[label] = (time.perf_counter() - start, requests_logged(server.log) - before)
    (ours, our_requests), (script, script_requests) = measured["reconciler"], measured["script"]
    rows = [
        (
            f"server: fresh apply, {models} models x 3 envs",
            f"{ours:.2f} s",
            f"{our_requests / models:.1f} requests/model",
        ),
        (
            f"server: hand-written script, {models} models x 3 envs",
            f"{script:.2f} s",
            f"{script_requests / models:.1f} requests/model",
        ),
    ]
    checks = [
        (
            "server: requests per model / script's",
            our_requests / script_requests,
            "<= 1",
            our_requests <= script_requests,
        ),
        ("server: fresh apply / script", ours / script, "<= 1.1", ours <= 1.1 * script),
    ]
    return rows, checks


DVC_TRAIN = """
import json, pickle, sys
import yaml
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier
i = int(sys.argv[1])
params = yaml.safe_load(open("params.yaml"))[f"m{i}"]
X, y = [load_iris, load_wine, load_breast_cancer][i % 3](return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=1, stratify=y)
model = DecisionTreeClassifier(**params).fit(Xtr, ytr)
with open(f"out/m{i}.pkl", "wb") as fh:
    pickle.dump(model, fh)
with open(f"out/m{i}.json", "w") as fh:
    json.dump({"accuracy": accuracy_score(yte, model.predict(Xte))}, fh)
"""


def dvc_repo(path: Path, stages: int) -> float:
    """What a DVC user would keep instead: one stage per model that trains the same decision
    tree on the same bundled data with its own parameters and writes the model and its metric.
    Returns the time of the first `dvc repro` (every stage trains); `status` then has a lock
    file to compare against."""
    path.mkdir()
    (path / "params.yaml").write_text(
        "".join(f"m{i}: {{max_depth: {2 + i % 5}, min_samples_leaf: {1 + i // 5}}}\n" for i in range(stages))
    )
    (path / "train.py").write_text(DVC_TRAIN)
    body = "stages:\n" + "".join(
        f"  m{i}:\n    cmd: {PY} train.py {i}\n    deps: [train.py]\n"
        f"    params: [m{i}]\n    outs: [out/m{i}.pkl]\n    metrics: [{{out/m{i}.json: {{cache: false}}}}]\n"
        for i in range(stages)
    )
    (path / "dvc.yaml").write_text(body)
    (path / "out").mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
    dvc = str(Path(PY).with_name("dvc"))
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    for cmd in (["init", "-q"], ["config", "core.analytics", "false"]):
        subprocess.run([dvc, *cmd], cwd=path, check=True, capture_output=True, env=env)
    return sh([dvc, "repro", "-q"], cwd=path, env=env)


def dvc_rows(tmpdir: Path, stages: int, repeat: int) -> list[tuple[str, str, str]]:
    dvc = Path(PY).with_name("dvc")
    if not dvc.exists():
        return [("dvc status", "-", "DVC not installed: pip install -e '.[bench]'")]
    repo = tmpdir / "dvc"
    fresh = dvc_repo(repo, stages)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    status = median([str(dvc), "status", "-q"], repeat, cwd=repo, env=env)
    repro = median([str(dvc), "repro", "-q"], repeat, cwd=repo, env=env)
    return [
        (f"baseline: dvc repro, {stages} training stages (fresh)", f"{fresh:.2f} s", "same trees, same data"),
        (f"baseline: dvc status, {stages} stages (no-op)", f"{status:.2f} s", "what a DVC user runs"),
        (f"baseline: dvc repro, {stages} stages (no-op)", f"{repro:.2f} s", ""),
    ]


def fresh_apply(tmpdir: Path, models: int, repeat: int, env: dict[str, str]) -> tuple[float, float, float]:
    """Median wall time of a fresh apply of `models` models, of the plain script with MLflow's
    defaults and of the same calls tuned (the floor); each run on a brand-new store, interleaved
    so a noisy neighbour hits all three alike."""
    ours: list[float] = []
    defaults: list[float] = []
    floor: list[float] = []
    for i in range(repeat):
        repo = tmpdir / f"fresh-{i}"
        generated(repo, models)
        start = time.perf_counter()
        sh([PY, "-m", "reconciler", "apply", "--env", "dev", str(repo)], env=env)
        ours.append(time.perf_counter() - start)
        for mode, out in (("defaults", defaults), ("tuned", floor)):
            store = tmpdir / f"plain-{mode}-{i}"
            store.mkdir()
            out.append(sh([PY, "-c", PLAIN_SCRIPT, f"sqlite:///{store / 'mlflow.db'}", str(models), mode], cwd=store))
    return statistics.median(ours), statistics.median(defaults), statistics.median(floor)


def jobs_rows(tmpdir: Path, models: int, forest: int, env: dict[str, str], server: bool) -> list[tuple[str, str, str]]:
    """Fresh apply of `models` gradient-boosted models with --jobs 1 and --jobs 2, on the SQLite store
    and, with `server`, on a real mlflow server."""
    rows = []
    backends: list[tuple[str, str | None]] = [("sqlite", None)]
    if server:
        backends.append(("server", "server"))
    for label, kind in backends:
        for jobs in (1, 2):
            repo = tmpdir / f"jobs-{label}-{jobs}"
            generated(repo, models, forest)
            run_env = dict(env)
            srv = LocalServer(tmpdir / f"jobs-server-{jobs}") if kind else None
            if srv is not None:
                srv.start()
                run_env["MLFLOW_TRACKING_URI"] = srv.uri
            try:
                start = time.perf_counter()
                sh([PY, "-m", "reconciler", "apply", "--env", "dev", "--jobs", str(jobs), str(repo)], env=run_env)
                elapsed = time.perf_counter() - start
            finally:
                if srv is not None:
                    srv.kill()
            rows.append((f"fresh apply, {models} boosted models, {label}, --jobs {jobs}", f"{elapsed:.2f} s", ""))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", action="store_true", help="also measure against a real mlflow server")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fresh-repeat", type=int, default=3, help="runs of each fresh apply (they are slow)")
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--fresh", type=int, default=10)
    parser.add_argument("--jobs-models", type=int, default=8, help="models in the --jobs 1 vs 2 comparison")
    parser.add_argument("--forest", type=int, default=400, help="boosting rounds per model in the --jobs comparison")
    parser.add_argument(
        "--baseline-rev",
        metavar="REV",
        help="also time the fresh apply of --models x 3 with the package as it was at this git revision",
    )
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    reconciler = [PY, "-m", "reconciler"]
    rows: list[tuple[str, str, str]] = []
    checks: list[tuple[str, float, str, bool]] = []  # target, measured, bound, met
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        ex = tmpdir / "examples"
        examples(ex)
        sh([*reconciler, "apply", str(ex)], env=env)
        uri = f"sqlite:///{ex / '.reconciler' / 'mlflow.db'}"
        db = str(ex / ".reconciler" / "mlflow.db")
        noop_examples = median([*reconciler, "plan", str(ex)], args.repeat, env=env)
        noop_apply = median([*reconciler, "apply", str(ex)], args.repeat, env=env)
        physical = median([PY, "-c", PHYSICAL_FLOOR, str(ex), db], args.repeat)
        floor = median([PY, "-c", FLOOR_SEARCH, uri], args.repeat)
        rows.append(
            ("no-op plan, examples (12 env x model)", f"{noop_examples:.2f} s", f"{registry_calls(ex)} registry calls")
        )
        rows.append(("no-op apply, examples", f"{noop_apply:.2f} s", "MLflow never imported"))
        rows.append(("physical floor: imports, libyaml parse, one read", f"{physical:.2f} s", "floor"))
        # The same floor with the validated schema imported (pydantic building the spec classes):
        # what any plan that validates its specs with them pays before reading one file.
        schema_floor = median([PY, "-c", "import reconciler.spec.kinds\n" + PHYSICAL_FLOOR, str(ex), db], args.repeat)
        rows.append(
            (
                "physical floor + import of the validated schema",
                f"{schema_floor:.2f} s",
                f"no-op plan {noop_examples / schema_floor:.2f}x of it",
            )
        )
        checks.append(
            ("no-op plan examples / physical floor", noop_examples / physical, "<= 2", noop_examples <= 2 * physical)
        )
        checks.append(
            ("no-op apply / no-op plan", noop_apply / noop_examples, "<= 1.2", noop_apply <= 1.2 * noop_examples)
        )
        # The same plan reading through MLflow (what any command that writes pays: the import).
        through = {**env, "RECONCILER_READ_THROUGH_MLFLOW": "1"}
        noop_through = median([*reconciler, "plan", str(ex)], args.repeat, env=through)
        rows.append(("no-op plan, examples, read through MLflow", f"{noop_through:.2f} s", "as before the direct read"))
        import_mlflow = median([PY, "-c", "import mlflow"], args.repeat)
        interpreter = median([PY, "-c", "pass"], args.repeat)
        rows.append(('python -c "import mlflow"', f"{import_mlflow:.2f} s", "baseline"))
        rows.append(('python -c "pass"', f"{interpreter:.2f} s", "interpreter start"))
        rows.append(("MLflow floor: MlflowClient + one search", f"{floor:.2f} s", "floor through MLflow"))

        # revert rollback
        spec = ex / "specs" / "models" / "iris-classifier.yaml"
        spec.write_text(spec.read_text().replace("C: 1.0", "C: 0.5"))
        change = commit(ex, "iris C 0.5")
        sh([*reconciler, "apply", str(ex)], env=env)
        subprocess.run(
            ["git", "-c", "user.name=b", "-c", "user.email=b@x", "revert", "--no-edit", change],
            cwd=ex,
            check=True,
            capture_output=True,
        )
        start = time.perf_counter()
        out = subprocess.run(
            [*reconciler, "apply", str(ex)], env=env, capture_output=True, text=True, check=True
        ).stdout
        rollback = time.perf_counter() - start
        trained = int(out.split("Apply: ", 1)[1].split(" trained", 1)[0])
        rows.append(("revert rollback apply (3 aliases back)", f"{rollback:.2f} s", f"{trained} trainings"))
        checks.append(("revert: trainings", trained, "= 0", trained == 0))
        mlflow_import = import_mlflow - interpreter
        checks.append(
            (
                "revert: wall time - (no-op plan + import mlflow) (s)",
                rollback - noop_examples - mlflow_import,
                "<= 0.5",
                rollback <= noop_examples + mlflow_import + 0.5,
            )
        )
        alias_script = median([PY, "-c", ALIAS_SCRIPT, uri, "iris-classifier"], args.repeat)
        rows.append(("plain MLflow script moving the same 3 aliases", f"{alias_script:.2f} s", "baseline"))
        checks.append(
            (
                "revert: wall time - (no-op plan + plain alias script) (s)",
                rollback - noop_examples - (alias_script - interpreter),
                "<= 0.5",
                rollback <= noop_examples + alias_script - interpreter + 0.5,
            )
        )

        gen = tmpdir / "generated"
        generated(gen, args.models)
        start = time.perf_counter()
        sh([*reconciler, "apply", str(gen)], env=env)
        fresh_generated = time.perf_counter() - start
        rows.append((f"fresh apply, {args.models} models x 3 envs", f"{fresh_generated:.2f} s", "train, gate, promote"))
        if args.baseline_rev:
            then = package_at(args.baseline_rev, tmpdir / "package-then")
            gen_then = tmpdir / "generated-then"
            generated(gen_then, args.models)
            start = time.perf_counter()
            sh([*reconciler, "apply", str(gen_then)], cwd=tmpdir, env={**env, "PYTHONPATH": str(then)})
            fresh_then = time.perf_counter() - start
            then_label = f"fresh apply, {args.models} models x 3 envs, at {args.baseline_rev}"
            rows.append((then_label, f"{fresh_then:.2f} s", "baseline"))
            checks.append(
                (
                    f"fresh apply {args.models}x3 / at {args.baseline_rev}",
                    fresh_generated / fresh_then,
                    "<= 0.75",
                    fresh_generated <= 0.75 * fresh_then,
                )
            )
        noop = median([*reconciler, "plan", str(gen)], args.repeat, env=env)
        gen_physical = median([PY, "-c", PHYSICAL_FLOOR, str(gen), str(gen / ".reconciler" / "mlflow.db")], args.repeat)
        calls = registry_calls(gen)
        rows.append((f"no-op plan, {args.models} models x 3 envs", f"{noop:.2f} s", f"{calls} registry calls"))
        rows.append((f"physical floor, {args.models} models x 3 envs", f"{gen_physical:.2f} s", "floor"))
        checks.append(
            (f"no-op plan {args.models}x3 / physical floor", noop / gen_physical, "<= 1.5", noop <= 1.5 * gen_physical)
        )
        checks.append((f"no-op plan {args.models}x3 / MLflow floor", noop / floor, "<= 1.3", noop / floor <= 1.3))
        checks.append((f"no-op plan {args.models}x3: registry calls", calls, "<= 5", calls <= 5))
        rows.extend(dvc_rows(tmpdir, args.models, args.repeat))
        dvc = next((r for r in rows if r[0].startswith("baseline: dvc status") and r[1] != "-"), None)
        if dvc is not None:
            status = float(dvc[1].split()[0])
            checks.append((f"no-op plan {args.models}x3 / dvc status", noop / status, "< 1 (faster)", noop < status))
        dvc_fresh = next((r for r in rows if r[0].startswith("baseline: dvc repro") and "fresh" in r[0]), None)
        if dvc_fresh is not None:
            repro_fresh = float(dvc_fresh[1].split()[0])
            checks.append(
                (
                    f"fresh apply {args.models}x3 / fresh dvc repro",
                    fresh_generated / repro_fresh,
                    "< 1 (faster)",
                    fresh_generated < repro_fresh,
                )
            )

        ours, defaults, tuned = fresh_apply(tmpdir, args.fresh, args.fresh_repeat, env)
        rows.append((f"fresh apply, {args.fresh} models (dev)", f"{ours:.2f} s", "reconciler"))
        rows.append((f"plain MLflow script, defaults ({args.fresh} models)", f"{defaults:.2f} s", "baseline"))
        rows.append((f"floor: same calls, pip_requirements given ({args.fresh} models)", f"{tuned:.2f} s", "floor"))
        checks.append(
            (f"fresh apply {args.fresh} / plain script defaults", ours / defaults, "<= 0.10", ours / defaults <= 0.10)
        )
        checks.append((f"fresh apply {args.fresh} / tuned floor", ours / tuned, "<= 1.25", ours / tuned <= 1.25))
        if args.server:
            rows.extend(server_rows(tmpdir, args.repeat))
            server_rows_, server_checks = server_fresh_rows(tmpdir, args.fresh)
            rows.extend(server_rows_)
            checks.extend(server_checks)
        rows.extend(jobs_rows(tmpdir, args.jobs_models, args.forest, env, args.server))

    print(
        f"# engine benchmark ({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"plans: median of {args.repeat}, fresh applies: median of {args.fresh_repeat})"
    )
    print(f"{'work':<58} {'time':>9}  note")
    for name, value, note in rows:
        print(f"{name:<58} {value:>9}  {note}")
    print(f"\n{'target':<58} {'measured':>9}  bound")
    for name, value, bound, met in checks:
        print(f"{name:<58} {value:>9.2f}  {bound}  {'met' if met else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
