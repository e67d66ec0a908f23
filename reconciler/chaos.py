"""Fault injection for crash tests: SIGKILL this process at a named point.

Set RECONCILER_KILL_AT=<point> (or <point>#<n> for its n-th occurrence). Unset, every call is
a dictionary lookup and nothing else. The chaos tests use it to prove that an apply killed at
any instant is finished by the next run without duplicates or a half-moved environment.
"""

from __future__ import annotations

import os
import signal

ENV = "RECONCILER_KILL_AT"
STOP_ENV = "RECONCILER_STOP_AT"  # SIGSTOP instead: the process freezes there until SIGCONT
FAIL_ENV = "RECONCILER_FAIL_AT"  # comma-separated points where `fail` raises, every time
_seen: dict[str, int] = {}


def point(name: str) -> None:
    for env, sig in ((ENV, signal.SIGKILL), (STOP_ENV, signal.SIGSTOP)):
        wanted = os.environ.get(env)
        if not wanted:
            continue
        target, _, nth = wanted.partition("#")
        if target != name:
            continue
        _seen[env + name] = _seen.get(env + name, 0) + 1
        if _seen[env + name] == int(nth or 1):
            os.kill(os.getpid(), sig)


class InjectedFault(Exception):
    """Raised where RECONCILER_FAIL_AT asks: a stand-in for a network or server error."""


def fail(name: str) -> None:
    wanted = os.environ.get(FAIL_ENV)
    if wanted and name in wanted.split(","):
        raise InjectedFault(f"injected failure at {name}")
