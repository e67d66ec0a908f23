"""`reconciler serve` started for real on 127.0.0.1 in a subprocess, and a small HTTP client."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    port: int
    proc: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def get(self, path: str) -> tuple[int, str]:
        conn = self.connection()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def get_json(self, path: str) -> Any:
        return json.loads(self.get(path)[1])

    def metric(self, name: str, **labels: str) -> float:
        """The sum of a metric's samples whose labels include `labels`."""
        total = 0.0
        for line in self.get("/metrics")[1].splitlines():
            if not line.startswith(name + "{"):
                continue
            inside, value = line[len(name) + 1 :].rsplit("} ", 1)
            have = dict(part.split("=", 1) for part in inside.split(","))
            if all(have.get(k) == f'"{v}"' for k, v in labels.items()):
                total += float(value)
        return total


def post(conn: http.client.HTTPConnection, env: str, model: str, doc: Any) -> tuple[int, dict[str, Any], str]:
    """(status, body, version header) on a kept-alive connection."""
    conn.request(
        "POST", f"/v1/{env}/{model}/invocations", body=json.dumps(doc), headers={"Content-Type": "application/json"}
    )
    response = conn.getresponse()
    return response.status, json.loads(response.read()), response.getheader("X-Model-Version") or ""


@contextlib.contextmanager
def serving(repo: Path, *args: str, ready: bool = True, timeout: float = 90) -> Iterator[Server]:
    """The server for `repo` until the block ends; waits until /readyz says every model is loaded."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONUNBUFFERED": "1"}
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = str(root)
    log = repo.parent / f"serve-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "serve", "--repo", str(repo), "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
    server = Server(port, proc)
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert proc.poll() is None, f"serve exited {proc.returncode}:\n{log.read_text()}"
            try:
                status, _ = server.get("/readyz")
                if status == 200 or (not ready and status == 503):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"serve not ready in {timeout}s:\n{log.read_text()}"
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        server.output[:] = log.read_text().splitlines()
