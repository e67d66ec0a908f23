"""Fits in the background: a train step waits for its own fit and never hangs, whatever
happens to the fitting thread. (fit_many itself, with real children, is exercised by the e2e
tests with --jobs 2; here it is replaced to drive the timing.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from reconciler.apply import prefit
from reconciler.apply.fit import Fitted
from reconciler.apply.prefit import Prefits

A, B, C = ("a", "fa"), ("b", "fb"), ("c", "fc")


def _fake(
    behaviour: Callable[[Mapping[Any, Any], Callable[[Any, Fitted], None], threading.Event], None],
) -> Callable[..., dict[Any, Fitted]]:
    def fit_many(work: Mapping[Any, Any], catalog: Any, jobs: int, progress: Any, *, on_fitted: Any, stop: Any) -> Any:
        behaviour(work, on_fitted, stop)
        return {}

    return fit_many


def test_a_step_takes_its_fit_as_soon_as_it_is_back(monkeypatch: pytest.MonkeyPatch) -> None:
    release = {key: threading.Event() for key in (B, C)}

    def fits(work: Mapping[Any, Any], on_fitted: Any, stop: threading.Event) -> None:
        for key in work:
            release[key].wait(5)
            on_fitted(key, Fitted(error=f"fit {key[0]}"))

    monkeypatch.setattr(prefit, "fit_many", _fake(fits))
    fits_ = Prefits({A: Fitted(error="fit a")})
    fits_.start({B: None, C: None}, None, 2, None)  # type: ignore[arg-type,dict-item]
    assert A in fits_ and B in fits_ and C in fits_ and ("d", "fd") not in fits_
    assert fits_.take(A) == Fitted(error="fit a"), "a fit done before the run is there at once"
    taken: list[Fitted | None] = []
    waiter = threading.Thread(target=lambda: taken.append(fits_.take(B)))
    waiter.start()
    time.sleep(0.2)
    assert not taken, "B is still fitting: its step waits"
    release[B].set()
    waiter.join(5)
    assert taken == [Fitted(error="fit b")]
    release[C].set()
    assert fits_.take(C) == Fitted(error="fit c")
    assert fits_.take(C) is None, "taken once"
    fits_.close()


def test_a_crashed_fitting_thread_never_leaves_a_step_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    def fits(work: Mapping[Any, Any], on_fitted: Any, stop: threading.Event) -> None:
        on_fitted(B, Fitted(error="fit b"))
        raise RuntimeError("the fitting thread broke")

    monkeypatch.setattr(prefit, "fit_many", _fake(fits))
    fits_ = Prefits()
    fits_.start({B: None, C: None}, None, 2, None)  # type: ignore[arg-type,dict-item]
    assert fits_.take(B) == Fitted(error="fit b")
    assert fits_.take(C) is None, "not fitted: its train step fits it itself"
    fits_.close()


def test_closing_stops_the_fits_nobody_will_record(monkeypatch: pytest.MonkeyPatch) -> None:
    stopped = threading.Event()

    def fits(work: Mapping[Any, Any], on_fitted: Any, stop: threading.Event) -> None:
        if stop.wait(5):
            stopped.set()

    monkeypatch.setattr(prefit, "fit_many", _fake(fits))
    fits_ = Prefits()
    fits_.start({B: None}, None, 2, None)  # type: ignore[arg-type,dict-item]
    fits_.close()
    assert stopped.is_set()
    assert fits_.take(B) is None
