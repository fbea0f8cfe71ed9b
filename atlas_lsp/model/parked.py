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

Parking costs a copy (4 ms on a CPU into a spare; on an H200, where the KV state comes off the GPU, 4.9 ms into a
pageable spare and 32 ms into new pageable memory, 1.4 ms into pinned memory, which a GPU model's states now use:
`atlas_lsp/model/host_memory.py`), so it is done ahead, off the request's path: once the model's thread has
had no request for a moment (`atlas_lsp/model/worker.py`), ``set_aside`` copies the cache's prompt out unless a parked
state already covers it (fewer than MIN_PARK_TOKENS of its prompt differ). A request that then overwrites that prompt
has nothing to copy (a request that comes within that moment parks on its path, as before).
The state covering the cache's own prompt does not take one of the slots: the slots are for prompts left behind.
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
    current: bool = False  # set aside ahead: it covers the prompt the cache still holds


class ParkedPrompts:
    """Prompts parked out of the KV cache, and when to park and restore them.

    ``save(spare)`` copies the cache's sequence out and returns it with the bytes it holds (None when it cannot);
    ``spare`` is a state no longer needed (restored or dropped), or None, and is handed over: ``save`` writes over
    its memory (memory used for the first time costs more than the copy itself: a 39 MB state, 26 ms for fresh
    memory, 4.5 ms into memory used before, on a CPU) or releases it. ``load(state)`` replaces the cache's sequence
    with a saved one and says whether that worked. ``release(state)`` gives a state's memory back (pinned memory is
    not garbage-collected): every state that ``save`` returned is released exactly once, or handed back to ``save``.
    """

    def __init__(
        self,
        slots: int,
        save: Callable[[Any | None], tuple[Any, int] | None],
        load: Callable[[Any], bool],
        max_bytes: int = MAX_PARKED_BYTES,
        release: Callable[[Any], None] = lambda state: None,
    ) -> None:
        self.slots = slots
        self._save = save
        self._load = load
        self._release = release
        self.max_bytes = max_bytes
        self._parked: list[_Parked] = []
        self._spare: _Parked | None = None  # the largest state let go lately, to be written over by the next park
        self._clock = 0
        self.parked = 0  # prompts parked, restored and dropped so far (for status and tests)
        self.restored = 0
        self.dropped = 0
        self.set_aside_ahead = 0  # of those parked, how many were copied in idle time (off a request's path)

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
        leaving = held_prompt - shared_now >= MIN_PARK_TOKENS
        if leaving:
            covering = self._covering(current, held_prompt)
            if covering is None:
                self._park(current)  # before a restore overwrites the cache
            else:
                covering.last_used = self._clock  # set aside ahead: now the prompt left behind
        if leaving or restore:
            for entry in self._parked:
                entry.current = False  # the cache is about to hold another prompt
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
        self._evict()
        return held

    def set_aside(self, current: np.ndarray, prompt_length: int | None = None) -> bool:
        """Copy the cache's prompt out now, ahead of a request that may overwrite it (call when the model's thread
        is idle); nothing when it is short or a parked state already covers it. Whether it copied."""
        if not self.enabled:
            return False
        held_prompt = len(current) if prompt_length is None else min(prompt_length, len(current))
        if held_prompt < MIN_PARK_TOKENS:
            return False
        covering = self._covering(current, held_prompt)
        if covering is not None:
            covering.current = True
            return False
        self._clock += 1
        entry = self._park(current)
        if entry is None:
            return False
        entry.current = True
        self.set_aside_ahead += 1
        self._evict()
        return True

    def _covering(self, current: np.ndarray, held_prompt: int) -> _Parked | None:
        """A parked state that holds all but fewer than MIN_PARK_TOKENS of the cache's prompt."""
        for entry in self._parked:
            if held_prompt - common_prefix(entry.tokens, current) < MIN_PARK_TOKENS:
                return entry
        return None

    def _evict(self) -> None:
        """Drop the least recently used states beyond the slots (the one covering the cache's prompt aside) or
        the memory cap (the spare first)."""
        while True:
            left_behind = [entry for entry in self._parked if not entry.current]
            over_bytes = self.held_bytes() > self.max_bytes
            if len(left_behind) <= self.slots and not over_bytes:
                return
            if over_bytes and self._spare is not None:
                self._release(self._spare.state)
                self._spare = None
                continue
            oldest = min(left_behind or self._parked, key=lambda entry: entry.last_used)
            logger.debug("dropped a parked prompt of %d tokens (the least recently used)", len(oldest.tokens))
            self._parked.remove(oldest)
            self._let_go(oldest)
            self.dropped += 1

    def _park(self, current: np.ndarray) -> _Parked | None:
        spare, self._spare = self._spare, None
        saved = self._save(spare.state if spare is not None else None)  # the spare is save's now
        if saved is None:
            return None
        state, size = saved
        if size > self.max_bytes:
            self._release(state)
            return None
        entry = _Parked(current.copy(), state, size, self._clock)
        self._parked.append(entry)
        self.parked += 1
        logger.debug("parked a prompt of %d tokens (%d parked)", len(current), len(self._parked))
        return entry

    def _let_go(self, entry: _Parked) -> None:
        """Keep a state no longer needed as the spare when it is the largest at hand; release the other."""
        if self._spare is None or entry.size > self._spare.size:
            entry, self._spare = self._spare, entry
        if entry is not None:
            self._release(entry.state)

    def clear(self) -> None:
        """Drop every parked state and the spare, releasing their memory."""
        self.dropped += len(self._parked)
        for entry in [*self._parked, *([self._spare] if self._spare is not None else [])]:
            self._release(entry.state)
        self._parked.clear()
        self._spare = None
