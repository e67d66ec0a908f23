"""A real S3-compatible server on 127.0.0.1: moto's server mode, in its own process (what
s3fs's own tests run against), with the environment a client needs to reach it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

# Not real credentials (moto accepts any), but distinctive: tests look for them in every output.
ACCESS_KEY = "AKIARECONCILERTEST01"
SECRET_KEY = "s3cr3t-Never-Printed-7f2b9c"


class S3Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        log = (self.root / "moto.log").open("ab")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"moto_server exited: {(self.root / 'moto.log').read_text()[-2000:]}") from None
                time.sleep(0.2)
        raise RuntimeError("moto_server did not answer within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)

    def client(self) -> object:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )


def serve(root: Path) -> Iterator[S3Server]:
    server = S3Server(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()


if __name__ == "__main__":  # a server for trying things by hand
    srv = S3Server(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/s3"))
    srv.start()
    print(srv.endpoint)
