"""Start and stop a real `mlflow server` on 127.0.0.1 (for tests and benchmarks).

It spawns MLflow's own CLI from the same environment; nothing here imports mlflow.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType

# MLflow 3's server starts a job runner with about seven huey consumer processes (GenAI jobs a
# model registry never uses); on 2 cores they starve the request worker for seconds after start
# and make each registry call cost ~40-75 ms instead of ~15. The README recommends the same.
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}


class LocalServer:
    """An `mlflow server` that serves its own artifacts from `root`; its backend store is a
    SQLite file in `root` unless `backend_uri` names another (PostgreSQL, say)."""

    def __init__(self, root: Path, startup_seconds: float = 90, backend_uri: str | None = None) -> None:
        self.root = root
        self.startup_seconds = startup_seconds
        self.backend_uri = backend_uri or f"sqlite:///{root / 'backend.db'}"
        self.log = root / "server.log"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("mlflow")),
                "server",
                "--backend-store-uri",
                self.backend_uri,
                "--serve-artifacts",
                "--artifacts-destination",
                str(self.root / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={**os.environ, **SERVER_ENV},
        )
        log.close()
        deadline = time.monotonic() + self.startup_seconds
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.3)
        self.kill()
        tail = self.log.read_text(errors="replace")[-1500:] if self.log.exists() else ""
        raise RuntimeError(f"mlflow server did not become healthy in {self.startup_seconds:g} s:\n{tail}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.kill()
