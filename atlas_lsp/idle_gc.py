"""Full garbage collections in quiet moments, not in the middle of a request.

CPython runs a full (generation 2) collection on its own once enough objects have survived the younger ones. With a
model loaded, documents parsed and token caches filled, a full collection walks hundreds of thousands of objects:
14 and 38 ms in the server during a completion session here (measured with `gc.callbacks`, eighth session), and
while it runs nothing else in the process does: a keystroke's answer or a typing-as-suggested hit, which take 1-3 ms,
waited for it: a cause of the slow requests in the benchmarks' p95s (not the only one, it turned out).

So the server turns automatic full collections off and runs them itself: when no message has come from the client
for ``quiet_s`` and the model has no job (a collection during a generation holds up its Python steps: 92-96 ms
collections were measured that way), at most every ``min_interval_s``; and, so that memory cannot grow without
bound for a client that is never quiet, after ``max_interval_s`` whatever the traffic. Young collections
(generations 0 and 1, about a millisecond) stay automatic, so short-lived cycles are freed as before.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

NEVER = 1 << 30  # a generation-2 threshold that the number of generation-1 collections never reaches


class IdleCollector:
    """Decides when to run a full collection; `run` checks once per ``period_s`` on the event loop."""

    def __init__(
        self,
        quiet_s: float = 1.0,
        min_interval_s: float = 20.0,
        max_interval_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        collect: Callable[[], object] = lambda: gc.collect(2),
        busy: Callable[[], bool] = lambda: False,
    ) -> None:
        self.quiet_s = quiet_s
        self.min_interval_s = min_interval_s
        self.max_interval_s = max_interval_s
        self._clock = clock
        self._collect = collect
        self._busy = busy  # whether work is running that a collection would hold up (the model's jobs)
        self.last_activity = clock()
        self.last_full = clock()
        self.full_collections = 0
        self.last_full_ms = 0.0
        self._saved_threshold: tuple[int, int, int] | None = None

    def install(self) -> None:
        """Turn automatic full collections off (young ones stay on)."""
        if self._saved_threshold is None:
            self._saved_threshold = gc.get_threshold()
            young, middle, _ = self._saved_threshold
            gc.set_threshold(young, middle, NEVER)

    def uninstall(self) -> None:
        if self._saved_threshold is not None:
            gc.set_threshold(*self._saved_threshold)
            self._saved_threshold = None

    def activity(self) -> None:
        """A message came from the client (called for every one: keep it cheap)."""
        self.last_activity = self._clock()

    def due(self) -> bool:
        now = self._clock()
        since_full = now - self.last_full
        if since_full >= self.max_interval_s:
            return True
        return since_full >= self.min_interval_s and now - self.last_activity >= self.quiet_s and not self._busy()

    def maybe_collect(self) -> bool:
        """Run a full collection when one is due; whether it ran."""
        if not self.due():
            return False
        started = time.perf_counter()
        self._collect()
        self.last_full_ms = (time.perf_counter() - started) * 1000
        self.last_full = self._clock()
        self.full_collections += 1
        logger.debug("full garbage collection in a quiet moment: %.1f ms", self.last_full_ms)
        return True

    async def run(self, period_s: float = 0.5) -> None:
        """Check every ``period_s`` until cancelled (with the server's event loop)."""
        while True:
            await asyncio.sleep(period_s)
            self.maybe_collect()
