"""Parked prompts: which prompts are copied out of the KV cache, and when they are brought back.

The cache here is a model of one llama.cpp sequence: the list of tokens whose cells it holds, so a saved state is
a copy of that list. The real cache is exercised in tests/unit/test_llama_backend.py and, over LSP, in
tests/e2e/test_completion.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from atlas_lsp.model.parked import MIN_PARK_TOKENS, ParkedPrompts, common_prefix


class FakeCache:
    def __init__(self) -> None:
        self.cells: list[int] = []
        self.fail_loads = False
        self.spares: list[Any] = []  # the spare state each save was offered
        self.live: dict[int, Any] = {}  # the states saved and not released yet (memory held), by identity

    def save(self, spare: Any | None = None) -> tuple[Any, int] | None:
        self.spares.append(spare)
        if spare is not None and len(spare) >= len(self.cells):  # written over, as the backend does
            assert id(spare) in self.live, "a released state was handed back"
            spare[: len(self.cells)] = self.cells
            del spare[len(self.cells) :]
            return spare, 4 * len(spare)
        if spare is not None:  # too small: released, as the backend does
            self.release(spare)
        state = list(self.cells)
        self.live[id(state)] = state
        return state, 4 * len(state)

    def release(self, state: Any) -> None:
        assert id(state) in self.live, "released twice, or never saved"
        del self.live[id(state)]

    def load(self, state: Any) -> bool:
        self.cells = [] if self.fail_loads else list(state)
        return not self.fail_loads

    def parked(self, slots: int = 3, max_bytes: int = 1 << 30) -> ParkedPrompts:
        return ParkedPrompts(slots, self.save, self.load, max_bytes, release=self.release)

    def request(self, parked: ParkedPrompts, prompt: np.ndarray) -> int:
        """One request: arrange, then evaluate; returns how many prompt tokens were reused."""
        held = parked.arrange(prompt, np.asarray(self.cells, dtype=np.intc))
        if held is not None:
            assert self.cells == held.tolist()  # the backend's record of the tokens matches the cells
        reused = common_prefix(np.asarray(self.cells, dtype=np.intc), prompt)
        self.cells = self.cells[:reused] + prompt[reused:].tolist()
        return reused


def _tokens(start: int, count: int) -> np.ndarray:
    return np.arange(start, start + count, dtype=np.intc)


def test_going_back_to_another_files_prompt_reuses_it() -> None:
    cache = FakeCache()
    parked = cache.parked()
    first, second = _tokens(1000, 600), _tokens(5000, 500)
    assert cache.request(parked, first) == 0
    assert cache.request(parked, np.append(first, 7)) == 600  # typing: the cache's prompt goes on
    assert parked.parked == 0
    assert cache.request(parked, second) == 0  # another file: the first one's prompt is parked
    assert parked.parked == 1 and parked.held() == [601]
    assert cache.request(parked, np.append(first, 8)) == 600  # back to it: restored, no prompt evaluated
    assert parked.restored == 1 and parked.held() == [500]  # and the second file's prompt is parked now
    assert cache.request(parked, np.append(second, 9)) == 500


def test_a_short_tail_is_not_worth_parking_and_a_small_gain_not_worth_restoring() -> None:
    cache = FakeCache()
    parked = cache.parked()
    base = _tokens(1000, 400)
    cache.request(parked, base)
    moved = np.concatenate((base[: -(MIN_PARK_TOKENS - 1)], _tokens(9000, 30)))  # a few lines changed
    cache.request(parked, moved)
    assert parked.parked == 0
    cache.request(parked, _tokens(20000, 300))  # elsewhere: parks what the cache holds
    assert parked.parked == 1
    cache.request(parked, np.concatenate((_tokens(20000, 290), _tokens(7, 5))))
    assert parked.restored == 0  # the cache shares more than the parked prompt does


def test_the_least_recently_parked_go_first_by_count_and_by_bytes() -> None:
    cache = FakeCache()
    parked = cache.parked(slots=2)
    prompts = [_tokens(10000 * number, 700) for number in range(1, 6)]
    for prompt in prompts:
        cache.request(parked, prompt)
    assert parked.held() == [700, 700] and parked.dropped == 2
    assert cache.request(parked, prompts[3]) == 700  # the latest two are there
    assert cache.request(parked, prompts[0]) == 0  # the oldest is gone
    small = cache.parked(slots=3, max_bytes=4 * 1000)  # room for one 700-token state
    for prompt in prompts[:3]:
        cache.request(small, prompt)
    assert small.held() == [700] and small.held_bytes() <= 4000


def test_one_slot_still_swaps_two_files() -> None:
    cache = FakeCache()
    parked = cache.parked(slots=1)
    first, second = _tokens(1000, 300), _tokens(5000, 300)
    cache.request(parked, first)
    cache.request(parked, second)  # first parked
    assert cache.request(parked, first) == 300  # restored, and second parked in its place
    assert parked.held() == [300] and cache.request(parked, second) == 300


def test_a_failed_restore_evaluates_the_prompt_again() -> None:
    cache = FakeCache()
    parked = cache.parked()
    first, second = _tokens(1000, 300), _tokens(5000, 300)
    cache.request(parked, first)
    cache.request(parked, second)
    cache.fail_loads = True
    assert cache.request(parked, first) == 0 and cache.cells == first.tolist()


def test_no_slots_means_nothing_is_parked() -> None:
    saved: list[int] = []
    cache = FakeCache()
    parked = ParkedPrompts(0, lambda: saved.append(1), cache.load)  # type: ignore[arg-type,func-returns-value]
    assert not parked.enabled
    for start in (1, 1000, 1):
        assert cache.request(parked, _tokens(start, 300)) == 0
    assert saved == []


def test_overwriting_only_the_output_after_the_prompt_parks_nothing() -> None:
    """The cache holds a prompt and then the output generated after it; only losing the prompt is worth a copy."""
    cache = FakeCache()
    parked = cache.parked()
    prompt = _tokens(1000, 300)
    cache.request(parked, prompt)
    cache.cells += _tokens(70000, MIN_PARK_TOKENS + 20).tolist()  # a long suggestion generated after it
    current = np.asarray(cache.cells, dtype=np.intc)
    assert parked.arrange(np.append(prompt, 5), current, prompt_length=len(prompt)) is None
    assert parked.parked == 0  # a keystroke or the next candidate: the prompt stays
    assert parked.arrange(np.append(prompt, 5), current) is None and parked.parked == 1  # unknown: all of it counts
    moved = np.concatenate((prompt[:200], _tokens(9000, 40)))
    parked.arrange(moved, current, prompt_length=len(prompt))
    assert parked.parked == 1  # the state parked just now covers this prompt: no second copy
    fresh = cache.parked()
    fresh.arrange(moved, current, prompt_length=len(prompt))
    assert fresh.parked == 1  # 100 of the prompt's tokens would be lost


def test_a_state_let_go_is_written_over_by_the_next_park() -> None:
    """Switching between two files: each park writes into the memory of the state just restored (fresh memory
    costs page faults), and the restored data is still the right one."""
    cache = FakeCache()
    parked = cache.parked()
    first, second = _tokens(1000, 300), _tokens(5000, 300)
    cache.request(parked, first)
    cache.request(parked, second)  # first parked into new memory
    assert cache.spares == [None]
    assert cache.request(parked, first) == 300  # second parked (new memory), first restored: its state is spare
    assert cache.spares == [None, None]
    assert cache.request(parked, second) == 300  # first parked over its own old state, second restored
    assert cache.spares[-1] is not None and cache.cells == second.tolist()
    assert cache.request(parked, first) == 300 and cache.cells == first.tolist()
    assert parked.held() == [300] and parked.held_bytes() == 2 * 4 * 300  # one parked, one spare


def test_the_spare_state_counts_against_the_memory_cap() -> None:
    cache = FakeCache()
    parked = cache.parked(slots=1, max_bytes=4 * 700)
    first, second = _tokens(1000, 300), _tokens(5000, 300)
    cache.request(parked, first)
    cache.request(parked, second)
    cache.request(parked, first)  # second parked, first's state spare: 2 x 1,200 bytes fit
    assert parked.held_bytes() == 2400
    third = _tokens(9000, 500)
    cache.request(parked, third)  # first parked over the spare; 1,200 + later 2,000 would not fit with a spare
    cache.request(parked, first)
    assert parked.held_bytes() <= 4 * 700


def test_a_prompt_set_aside_in_idle_time_is_not_copied_again_when_left() -> None:
    cache = FakeCache()
    parked = cache.parked()
    first, second = _tokens(1000, 600), _tokens(5000, 500)
    cache.request(parked, first)
    current = np.asarray(cache.cells, dtype=np.intc)
    assert parked.set_aside(current, prompt_length=600) is True  # the model's thread is idle: copied now
    assert parked.set_aside(current, prompt_length=600) is False  # already covered
    cache.request(parked, np.append(first, [7, 8]))  # typing on: still covered (2 tokens differ)
    assert parked.set_aside(np.asarray(cache.cells, dtype=np.intc), prompt_length=602) is False
    saves = len(cache.spares)
    assert cache.request(parked, second) == 0  # another file: the first prompt is left behind...
    assert len(cache.spares) == saves and parked.parked == 1  # ...without a copy on the request's path
    assert cache.request(parked, np.append(first, [7, 8, 9])) == 600  # back: restored (2 typed tokens again)
    assert parked.restored == 1 and parked.set_aside_ahead == 1


def test_a_prompt_set_aside_does_not_take_a_slot_of_those_left_behind() -> None:
    cache = FakeCache()
    parked = cache.parked(slots=1)
    files = [_tokens(1000 * (n + 1), 300) for n in range(3)]
    cache.request(parked, files[0])
    cache.request(parked, files[1])  # the first is left behind: the one slot
    assert parked.held() == [300]
    assert parked.set_aside(np.asarray(cache.cells, dtype=np.intc)) is True
    assert parked.held() == [300, 300] and parked.dropped == 0  # the cache's own prompt is extra
    cache.request(parked, np.append(files[1], 5))  # typing on: the same prompt, nothing left behind or dropped
    assert parked.set_aside(np.asarray(cache.cells, dtype=np.intc)) is False
    assert parked.held() == [300, 300] and parked.dropped == 0
    cache.request(parked, files[2])  # now the second is left behind too: one slot, the older one goes
    assert parked.held() == [300] and parked.dropped == 1
    assert cache.request(parked, files[1]) == 300  # the most recent left behind comes back


def test_a_short_prompt_or_no_slots_sets_nothing_aside() -> None:
    cache = FakeCache()
    short = _tokens(1000, MIN_PARK_TOKENS - 1)
    parked = cache.parked()
    cache.request(parked, short)
    assert parked.set_aside(np.asarray(cache.cells, dtype=np.intc)) is False and cache.spares == []
    none = cache.parked(slots=0)
    assert none.set_aside(_tokens(1000, 600)) is False and cache.spares == []


def test_every_state_is_released_once_and_none_is_leaked() -> None:
    """Pinned host memory is not garbage-collected: each state the backend saved is released exactly once (the
    fake cache asserts it) when it is dropped, loses its place as the spare, is too small to write over, or is
    cleared; what is held in between is exactly what is parked plus the spare. A seeded random walk over files,
    typing, idle time, failed restores, slots and memory caps reaches each of those paths."""
    rng = np.random.default_rng(8)
    for slots, max_bytes in [(1, 4 * 700), (2, 4 * 1500), (3, 1 << 30)]:
        cache = FakeCache()
        parked = cache.parked(slots=slots, max_bytes=max_bytes)
        files = [_tokens(1000 * n, int(rng.integers(70, 400))) for n in range(1, 6)]
        for _ in range(200):
            chosen = int(rng.integers(len(files)))
            if rng.random() < 0.3:  # typing in that file: its prompt grows
                files[chosen] = np.append(files[chosen], rng.integers(1, 999, int(rng.integers(1, 90))))
            cache.fail_loads = rng.random() < 0.1
            cache.request(parked, files[chosen])
            if rng.random() < 0.5:
                parked.set_aside(np.asarray(cache.cells, dtype=np.intc))
            assert sum(len(state) for state in cache.live.values()) * 4 == parked.held_bytes()
        assert parked.dropped > 0 and parked.restored > 0
        parked.clear()
        assert cache.live == {}
