"""Prompts kept in the KV cache besides the one being extended, so that going back to them costs no prompt.

The in-process backend extends one sequence of the KV cache (sequence 0): a request reuses the prefix it shares
with what that sequence holds and evaluates the rest. A user who switches to another file, or runs a solve job,
replaces that prompt; coming back used to evaluate the whole prompt again (seconds on a CPU). Before a request
overwrites most of sequence 0, its prompt is *parked*: its cells are tagged with another sequence id as well
(llama.cpp's `seq_cp` on a unified cache shares cells, it copies nothing). A later request whose prompt shares a
longer prefix with a parked prompt than with sequence 0 moves that prompt back into sequence 0 first.

Parked prompts live in the context already allocated: they are evicted, least recently used first, so that the
request's prompt and generation always fit. The count is an overestimate (cells shared between sequences are
counted once per sequence), so the cache never runs out of cells mid-request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

MIN_PARK_TOKENS = 64  # a prompt tail shorter than this is cheap to evaluate again: not worth a slot
MIN_GAIN_TOKENS = 32  # restore a parked prompt only when it saves at least this many tokens over sequence 0


def common_prefix(first: np.ndarray, second: np.ndarray) -> int:
    """How many leading tokens two token arrays share."""
    size = min(len(first), len(second))
    differing = np.flatnonzero(first[:size] != second[:size])
    return int(differing[0]) if len(differing) else size


@dataclass
class _Slot:
    tokens: np.ndarray
    last_used: int


class ParkedPrompts:
    """Which prompts are parked in which sequence ids (1..slots), and the KV-cache moves that keep them.

    ``remove(seq, start)`` drops a sequence's cells from position ``start`` on; ``copy(source, target, count)``
    tags the first ``count`` cells of ``source`` with ``target`` too.
    """

    def __init__(
        self,
        slots: int,
        context_size: int,
        remove: Callable[[int, int], None],
        copy: Callable[[int, int, int], None],
    ) -> None:
        self.slots = slots
        self._free = list(range(1, slots + 1))
        self._slots: dict[int, _Slot] = {}
        self._context_size = context_size
        self._remove = remove
        self._copy = copy
        self._clock = 0
        self.parked = 0  # prompts parked, restored and evicted so far (for status and tests)
        self.restored = 0
        self.evicted = 0

    @property
    def enabled(self) -> bool:
        return bool(self._free or self._slots)

    def held(self) -> list[int]:
        """The lengths of the prompts parked now."""
        return [len(slot.tokens) for slot in self._slots.values()]

    def arrange(self, prompt: np.ndarray, current: np.ndarray, reserve: int) -> np.ndarray | None:
        """Before ``prompt`` is evaluated over sequence 0 (which holds ``current``): park ``current`` when the
        prompt would overwrite most of it, bring back a parked prompt that shares more with ``prompt``, and evict
        parked prompts until ``prompt`` plus ``reserve`` more positions (the generation) fit. Returns the tokens
        sequence 0 holds when they changed, else None."""
        if not self.enabled:
            return None
        self._clock += 1
        shared_now = common_prefix(current, prompt)
        best_seq, best_shared = None, 0
        for seq, slot in self._slots.items():
            shared = common_prefix(slot.tokens, prompt)
            if shared > best_shared:
                best_seq, best_shared = seq, shared
        restore = best_seq is not None and best_shared >= shared_now + MIN_GAIN_TOKENS
        if len(current) - shared_now >= MIN_PARK_TOKENS:
            self._park(current, keep=best_seq if restore else None)
        held: np.ndarray | None = None
        if restore and best_seq is not None:
            slot = self._slots.pop(best_seq)
            self._remove(0, 0)
            self._copy(best_seq, 0, len(slot.tokens))
            self._remove(best_seq, 0)  # sequence 0 holds those cells now
            self._free.append(best_seq)
            self.restored += 1
            held = slot.tokens
            logger.debug("restored a parked prompt of %d tokens (%d shared)", len(slot.tokens), best_shared)
        while self._slots and len(prompt) + reserve + sum(self.held()) > self._context_size:
            self._evict(self._least_recent())
        return held

    def _park(self, current: np.ndarray, keep: int | None) -> None:
        if not self._free:
            candidates = [seq for seq in self._slots if seq != keep]
            if not candidates:
                return
            self._evict(min(candidates, key=lambda seq: self._slots[seq].last_used))
        seq = self._free.pop(0)
        self._copy(0, seq, len(current))
        self._slots[seq] = _Slot(current.copy(), self._clock)
        self.parked += 1

    def _least_recent(self) -> int:
        return min(self._slots, key=lambda seq: self._slots[seq].last_used)

    def _evict(self, seq: int) -> None:
        self._remove(seq, 0)
        del self._slots[seq]
        self._free.append(seq)
        self.evicted += 1

    def clear(self) -> None:
        """Forget every parked prompt (and drop their cells)."""
        for seq in list(self._slots):
            self._evict(seq)
