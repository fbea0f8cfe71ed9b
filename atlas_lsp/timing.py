"""Where a request's time went: named laps of a monotonic clock."""

from __future__ import annotations

import time


class PhaseClock:
    """Adds the seconds since the previous lap (or the start) to ``phases`` under each lap's name."""

    def __init__(self, phases: dict[str, float], started: float) -> None:
        self._phases = phases
        self._last = started

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self._phases[name] = self._phases.get(name, 0.0) + now - self._last
        self._last = now
