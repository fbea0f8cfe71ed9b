"""Prompts set aside from the KV cache, so that going back to them costs no prompt evaluation.

The in-process backend extends one sequence of the KV cache: a request reuses the prefix it shares with what the
cache holds and evaluates the rest. A user who switches to another file, or runs a solve job, replaces that
prompt; coming back used to evaluate the whole prompt again (seconds on a CPU). Before a request overwrites most
of the cache, its prompt is *parked*: the sequence's state (its K and V cells) is copied out to memory
(`llama_state_seq_get_data`), and a later request whose prompt shares a longer prefix with a parked prompt than
with the cache copies that state back in first (`llama_state_seq_set_data`).

The states live in host memory, not in the cache: parked prompts cost the cache nothing (keeping them there as
extra sequences made every model step attend over their cells too: 58% slower decoding with SmolLM2-135M on a CPU
with one 1,685-token prompt parked). Copying a 1,713-token state (39 MB) out took 27 ms and in 4 ms there; a
cold request with a 1,540-token prompt took 6.3 s in the completion benchmark on that machine. Most of the 27 ms
was first-touch memory (page faults), so a state let go (restored or dropped) is kept as the spare that the next
park writes over: switching between two files then copies out in 4.5 ms instead of 24-28 ms (measured there).

A prompt is parked only when a request would overwrite the prompt itself: the output generated after it is
overwritten by every keystroke's request and every candidate sampled from the same prompt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

MIN_PARK_TOKENS = 64  # a prompt tail shorter than this is cheap to evaluate again: not worth parking
MIN_GAIN_TOKENS = 32  # restore a parked prompt only when it saves at least this many tokens over the cache
MAX_PARKED_BYTES = 1 << 30  # parked states kept in memory at most (1 GiB); the least recently used go first


def common_prefix(first: np.ndarray, second: np.ndarray) -> int:
    """How many leading tokens two token arrays share."""
    size = min(len(first), len(second))
    differing = np.flatnonzero(first[:size] != second[:size])
    return int(differing[0]) if len(differing) else size


@dataclass(eq=False)  # compared by identity (list.remove), not by its arrays
class _Parked:
    tokens: np.ndarray
    state: Any  # what ``save`` returned
    size: int  # its bytes
    last_used: int


class ParkedPrompts:
    """Prompts parked out of the KV cache, and when to park and restore them.

    ``save(spare)`` copies the cache's sequence out and returns it with the bytes it holds (None when it cannot);
    ``spare`` is a state no longer needed (restored or dropped), or None: its memory may be written over, because
    memory used for the first time costs more than the copy itself (a 39 MB state: 26 ms for fresh memory, 4.5 ms
    into memory used before, on a CPU). ``load(state)`` replaces the cache's sequence with a saved one and says
    whether that worked.
    """

    def __init__(
        self,
        slots: int,
        save: Callable[[Any | None], tuple[Any, int] | None],
        load: Callable[[Any], bool],
        max_bytes: int = MAX_PARKED_BYTES,
    ) -> None:
        self.slots = slots
        self._save = save
        self._load = load
        self.max_bytes = max_bytes
        self._parked: list[_Parked] = []
        self._spare: _Parked | None = None  # the largest state let go lately, to be written over by the next park
        self._clock = 0
        self.parked = 0  # prompts parked, restored and dropped so far (for status and tests)
        self.restored = 0
        self.dropped = 0

    @property
    def enabled(self) -> bool:
        return self.slots > 0

    def held(self) -> list[int]:
        """The lengths of the prompts parked now, oldest first."""
        return [len(entry.tokens) for entry in self._parked]

    def held_bytes(self) -> int:
        """The memory the parked states hold, and the spare one."""
        spare = self._spare.size if self._spare is not None else 0
        return spare + sum(entry.size for entry in self._parked)

    def arrange(self, prompt: np.ndarray, current: np.ndarray, prompt_length: int | None = None) -> np.ndarray | None:
        """Before ``prompt`` is evaluated over the cache (which holds ``current``): park ``current`` when the
        prompt would overwrite most of the prompt that made it, and bring back a parked prompt that shares more with
        ``prompt``. ``prompt_length``: how many of ``current``'s leading tokens were that prompt (None: all); the
        rest is what the model generated after it, and overwriting only that (the next keystroke's request, the
        next candidate for the same prompt) is no reason to copy anything out.
        Returns the tokens the cache holds when they changed, else None."""
        if not self.enabled:
            return None
        self._clock += 1
        shared_now = common_prefix(current, prompt)
        best: _Parked | None = None
        best_shared = 0
        for entry in self._parked:
            shared = common_prefix(entry.tokens, prompt)
            if shared > best_shared:
                best, best_shared = entry, shared
        restore = best is not None and best_shared >= shared_now + MIN_GAIN_TOKENS
        held_prompt = len(current) if prompt_length is None else min(prompt_length, len(current))
        if held_prompt - shared_now >= MIN_PARK_TOKENS:
            self._park(current)  # before a restore overwrites the cache
        held: np.ndarray | None = None
        if restore and best is not None:
            self._parked.remove(best)
            loaded = self._load(best.state)
            self._let_go(best)
            if loaded:
                self.restored += 1
                held = best.tokens
                logger.debug("restored a parked prompt of %d tokens (%d shared)", len(best.tokens), best_shared)
            else:
                logger.warning("could not restore a parked prompt of %d tokens: evaluating it again", len(best.tokens))
                held = np.zeros(0, dtype=current.dtype)  # the cache's sequence may be half-written: start afresh
        while len(self._parked) > self.slots or self.held_bytes() > self.max_bytes:
            if self.held_bytes() > self.max_bytes and self._spare is not None:
                self._spare = None
                continue
            oldest = min(self._parked, key=lambda entry: entry.last_used)
            self._parked.remove(oldest)
            self._let_go(oldest)
            self.dropped += 1
        return held

    def _park(self, current: np.ndarray) -> None:
        spare, self._spare = self._spare, None
        saved = self._save(spare.state if spare is not None else None)
        if saved is None:
            self._spare = spare
            return
        state, size = saved
        if size <= self.max_bytes:
            self._parked.append(_Parked(current.copy(), state, size, self._clock))
            self.parked += 1

    def _let_go(self, entry: _Parked) -> None:
        """Keep a state no longer needed as the spare when it is the largest at hand."""
        if self._spare is None or entry.size > self._spare.size:
            self._spare = entry

    def clear(self) -> None:
        self.dropped += len(self._parked)
        self._parked.clear()
        self._spare = None
