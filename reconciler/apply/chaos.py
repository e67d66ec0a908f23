"""Fault injection for crash tests: SIGKILL this process at a named point.

Set RECONCILER_KILL_AT=<point> (or <point>#<n> for its n-th occurrence). Unset, every call is
a dictionary lookup and nothing else. The chaos tests use it to prove that an apply killed at
any instant is finished by the next run without duplicates or a half-moved environment.
"""

from __future__ import annotations

import os
import signal

ENV = "RECONCILER_KILL_AT"
_seen: dict[str, int] = {}


def point(name: str) -> None:
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    target, _, nth = wanted.partition("#")
    if target != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
