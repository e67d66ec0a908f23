"""`reconciler schema [--out DIR]`: JSON Schema of each kind, for editors' YAML language servers."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from reconciler.spec.schema import schema_files, schemas


def register(sub: Any) -> None:
    p = sub.add_parser("schema", help="write the JSON Schema of each spec kind")
    p.add_argument("--out", type=Path, help="directory to write <kind>.schema.json files into (default: print)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.out is None:
        print(json.dumps(schemas()["spec"], indent=2))
        return 0
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name, text in schema_files().items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0
