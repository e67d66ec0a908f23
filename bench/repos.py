"""Spec repositories the benchmarks make: files written, then one real git commit."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path


def committed_repo(path: Path, files: Mapping[str, str]) -> Path:
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    for git in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=b", "-c", "user.email=b@x", "commit", "-qm", "s"],
    ):
        subprocess.run(["git", *git], cwd=path, check=True, capture_output=True)
    return path
