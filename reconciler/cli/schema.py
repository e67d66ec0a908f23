"""`reconciler schema [--out DIR]`: JSON Schema of each kind, for editors' YAML language servers."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from reconciler.spec.schema import schemas


def register(sub: Any) -> None:
    p = sub.add_parser("schema", help="write the JSON Schema of each spec kind")
    p.add_argument("--out", type=Path, help="directory to write <kind>.schema.json files into (default: print)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    docs = schemas()
    if args.out is None:
        print(json.dumps(docs["spec"], indent=2))
        return 0
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name, doc in docs.items():
        path = out / f"{name}.schema.json"
        path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path}")
    return 0
