"""Time `reconciler validate` on 1,000 generated spec files against its floors.

Physical floor: the same interpreter importing the libraries validate needs (pydantic,
ruamel.yaml) and parsing the same files with libyaml's C composer, nothing else. Beside it:
the same with ruamel's round-trip loader, and `python -c "import mlflow"`, which validate
never pays for.

    python bench/validate_bench.py [--files 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The physical floor: the same imports, and the fastest exact parse there is (libyaml's C
# composer, which keeps every node's line and column for positioned errors).
PHYSICAL = """
import sys
from pathlib import Path
import pydantic, ruamel.yaml, yaml
for p in sorted(Path(sys.argv[1]).rglob("*.yaml")):
    list(yaml.compose_all(p.read_text(), Loader=yaml.CSafeLoader))
"""

FLOOR = """
import sys
from pathlib import Path
import pydantic
from ruamel.yaml import YAML
yaml = YAML(typ="rt")
for p in sorted(Path(sys.argv[1]).rglob("*.yaml")):
    list(yaml.load_all(p.read_text()))
"""


def generate(root: Path, files: int) -> None:
    """A realistic mix: datasets, models, gates and three environments that use them all."""
    datasets = max(1, files // 10)
    gates = max(1, files // 10)
    models = files - datasets - gates - 3
    (root / "specs" / "datasets").mkdir(parents=True)
    (root / "specs" / "models").mkdir(parents=True)
    (root / "specs" / "gates").mkdir(parents=True)
    (root / "environments").mkdir()
    loaders = ["load_iris", "load_wine", "load_breast_cancer"]
    for i in range(datasets):
        (root / "specs" / "datasets" / f"d{i}.yaml").write_text(
            f"kind: Dataset\nname: d{i}\nsource: {{sklearn: {loaders[i % 3]}}}\ntarget: target\n"
            f"split: {{test_size: 0.25, seed: {i}, stratify: true}}\nchecks: {{min_rows: 100, no_nulls: true}}\n"
        )
    for i in range(gates):
        (root / "specs" / "gates" / f"g{i}.yaml").write_text(
            f"kind: Gate\nname: g{i}\nrules:\n  - {{metric: accuracy, min: 0.{50 + i % 40}}}\n"
            "  - {metric: accuracy, max_regression: 0.02}\n"
        )
    for i in range(models):
        (root / "specs" / "models" / f"m{i}.yaml").write_text(
            f"kind: Model\nname: m{i}\ndescription: generated model {i}\ndataset: d{i % datasets}\n"
            "estimator:\n  class: sklearn.linear_model.LogisticRegression\n"
            f"  params: {{C: {1 + i % 7}.0, max_iter: 500}}\nseed: {i}\nmetrics: [accuracy, f1_macro]\n"
        )
    previous = None
    for env in ("dev", "staging", "production"):
        lines = [f"kind: Environment\nname: {env}\n"]
        if previous:
            lines.append(f"promotes_from: {previous}\n")
        lines.append("models:\n")
        lines.extend(f"  m{i}: {{gates: [g{i % gates}]}}\n" for i in range(models))
        (root / "environments" / f"{env}.yaml").write_text("".join(lines))
        previous = env


def timed(cmd: list[str], repeat: int, expect: int = 0) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        runs.append(time.perf_counter() - start)
        if result.returncode != expect:
            raise SystemExit(f"{cmd} exited {result.returncode}: {result.stdout[-500:]}{result.stderr[-2000:]}")
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root, args.files)
        # Commands work on a git repository (they record its commit); validate needs no commit.
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        count = len(list(root.rglob("*.yaml")))
        rows = [
            (
                f"reconciler validate ({count} files)",
                timed([py, "-m", "reconciler", "validate", str(root)], args.repeat),
            ),
            (f"physical floor: imports + libyaml ({count} files)", timed([py, "-c", PHYSICAL, str(root)], args.repeat)),
            (f"imports + ruamel round-trip parse ({count} files)", timed([py, "-c", FLOOR, str(root)], args.repeat)),
            ("reconciler validate (the example files)", timed([py, "-m", "reconciler", "validate", "."], args.repeat)),
            ('python -c "import mlflow"', timed([py, "-c", "import mlflow"], args.repeat)),
            ('python -c "pass" (interpreter start)', timed([py, "-c", "pass"], args.repeat)),
        ]
    print(
        f"# validate benchmark  ({platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"median of {args.repeat})"
    )
    print(f"{'work':<48} {'seconds':>8}")
    for name, secs in rows:
        print(f"{name:<48} {secs:>8.3f}")
    ratio = rows[0][1] / rows[1][1]
    print(f"validate / physical floor: {ratio:.2f}x (target <= 1.5x: {'met' if ratio <= 1.5 else 'NOT MET'})")
    print(f"validate / ruamel round-trip parse: {rows[0][1] / rows[2][1]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
