"""All benchmarks in one command; writes bench/RESULTS.md.

python -m bench            # full sizes (1,000 spec files, 100 models, a 1 GB CSV)
python -m bench --quick    # small sizes, so CI can run it and it cannot rot
python -m bench --quick --only engine_bench    # one of them
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

FULL = {
    "validate_bench.py": ["--files", "1000", "--repeat", "5"],
    "engine_bench.py": ["--models", "100", "--fresh", "10", "--repeat", "5", "--fresh-repeat", "3", "--server"],
    "hash_bench.py": ["--megabytes", "1024", "--repeat", "3"],
    "monitor_bench.py": ["--rows", "100000", "--repeat", "3"],
    "serve_bench.py": ["--requests", "2000", "--seconds", "10", "--clients", "4"],
    "rollout_bench.py": ["--requests", "3000"],
    "external_bench.py": ["--rows", "200000", "--repeat", "3"],
    "status_page_bench.py": ["--models", "100", "--repeat", "5"],
}
QUICK = {
    "validate_bench.py": ["--files", "60", "--repeat", "1"],
    "engine_bench.py": [
        "--models",
        "6",
        "--fresh",
        "2",
        "--repeat",
        "1",
        "--fresh-repeat",
        "1",
        "--jobs-models",
        "2",
        "--forest",
        "5",
    ],
    "hash_bench.py": ["--megabytes", "16", "--repeat", "1"],
    "monitor_bench.py": ["--rows", "2000", "--repeat", "1"],
    "serve_bench.py": ["--requests", "100", "--seconds", "1", "--clients", "2"],
    "rollout_bench.py": ["--requests", "90"],
    "external_bench.py": ["--rows", "2000", "--repeat", "1"],
    "status_page_bench.py": ["--models", "10", "--repeat", "1"],
}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        cpu = model
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small sizes (what CI runs)")
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write the results (default: bench/RESULTS.md, full mode only)"
    )
    parser.add_argument(
        "--only", action="append", choices=sorted(n.removesuffix(".py") for n in FULL), help="run just this one"
    )
    args = parser.parse_args()
    if args.out is None and not args.quick and not args.only:
        # A quick or partial run must not overwrite the committed full figures.
        args.out = HERE / "RESULTS.md"
    plan = QUICK if args.quick else FULL
    if args.only:
        plan = {script: rest for script, rest in plan.items() if script.removesuffix(".py") in args.only}
    sections = []
    # pip byte-compiled MLflow and the other installed libraries; the editable reconciler package
    # is compiled on every run where PYTHONDONTWRITEBYTECODE is set (as on CI machines), which no
    # installed copy is. Both sides get their bytecode, as a user's install has.
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PYTHONDONTWRITEBYTECODE")}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "reconciler")], check=True, env=env)
    for script, script_args in plan.items():
        result = subprocess.run(
            # As modules from the repository root: the server benchmark uses the tests' LocalServer.
            [sys.executable, "-m", f"bench.{script.removesuffix('.py')}", *script_args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            print(result.stdout + result.stderr, file=sys.stderr)
            return result.returncode
        print(result.stdout, flush=True)
        sections.append(result.stdout.strip())
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n\n".join(f"```\n{s}\n```" for s in sections)
    mode = "quick (small sizes)" if args.quick else "full"
    if args.out is None:
        return 0
    args.out.write_text(
        f"# Benchmark results\n\nMachine: {machine()}\nRun: {stamp}, {mode} mode, `python -m bench"
        f"{' --quick' if args.quick else ''}`. Each figure sits next to its baseline, measured in the same run.\n\n"
        f"{body}\n",
        encoding="utf-8",
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
