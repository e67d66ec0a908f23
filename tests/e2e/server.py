"""A real `mlflow server` whose backend store is the machine's PostgreSQL (a database of its own,
created for the test session and dropped after), serving its own artifacts.

When PostgreSQL cannot be reached the server-mode tests skip with the reason, except under
RECONCILER_REQUIRE_SERVER=1 (what `.ci/run` sets): there they fail, so CI never skips them.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.local_server import LocalServer

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}


def _connect(dbname: str) -> object:
    import psycopg

    return psycopg.connect(**{**PG, "dbname": dbname}, connect_timeout=5, autocommit=True)


def postgres_or_skip() -> None:
    try:
        with _connect(PG["dbname"]):  # type: ignore[attr-defined]
            return
    except Exception as exc:
        reason = f"PostgreSQL is not reachable on {PG['host']}:{PG['port']} ({type(exc).__name__}: {exc})"
        if os.environ.get("RECONCILER_REQUIRE_SERVER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@dataclass
class PostgresServer:
    server: LocalServer
    database: str

    @property
    def uri(self) -> str:
        return self.server.uri

    def reset(self) -> None:
        """Empty every MLflow table but the schema version and the default experiment, so each
        test starts from an empty registry without paying for a new server."""
        with _connect(self.database) as db:  # type: ignore[attr-defined]
            tables = [
                row[0]
                for row in db.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename NOT IN ('alembic_version', 'experiments')"
                )
            ]
            if tables:
                db.execute("TRUNCATE TABLE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
            db.execute("DELETE FROM experiments WHERE experiment_id <> 0")


def _create(database: str) -> None:
    """CREATE DATABASE copies template1 and refuses while another session is copying it: the
    suite's parallel workers each make their database at start, so a refusal is retried."""
    import psycopg

    for attempt in range(20):
        try:
            with _connect(PG["dbname"]) as admin:  # type: ignore[attr-defined]
                admin.execute(f'CREATE DATABASE "{database}"')
            return
        except psycopg.errors.ObjectInUse:
            if attempt == 19:
                raise
            time.sleep(0.25 + random.random() / 2)


def start(root: Path) -> Iterator[PostgresServer]:
    postgres_or_skip()
    database = f"reconciler_{uuid.uuid4().hex[:12]}"
    _create(database)
    server = LocalServer(root, backend_uri=f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}")
    try:
        server.start()
        yield PostgresServer(server, database)
    finally:
        server.kill()
        with _connect(PG["dbname"]) as admin:  # type: ignore[attr-defined]
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
