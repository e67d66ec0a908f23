"""Write a file so that a reader (or a run killed halfway) never sees half of it."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_text(path: Path, text: str, mode: int | None = None) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path`. `mode`: the
    file's permissions (a temporary file is made readable by its owner alone)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any, **dump: Any) -> bool:
    """`value` as JSON, written as `write_text` does. False when the directory cannot be written
    (a read-only home): callers use these files as caches."""
    try:
        write_text(path, json.dumps(value, **dump))
    except OSError:
        return False
    return True
