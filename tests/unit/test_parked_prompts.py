"""Parked prompts: which prompts stay in the KV cache as extra sequences, and the cache moves that keep them.

The cache here is a model of llama.cpp's unified cache: a cell per (sequence, position) holding the token, so the
moves are checked by what each sequence would hold afterwards. The real cache is exercised in
tests/unit/test_llama_backend.py and, over LSP, in tests/e2e/test_completion.py.
"""

from __future__ import annotations

import numpy as np

from atlas_lsp.model.parked import MIN_PARK_TOKENS, ParkedPrompts, common_prefix


class FakeCache:
    def __init__(self) -> None:
        self.cells: dict[int, list[int]] = {0: []}

    def remove(self, seq: int, start: int) -> None:
        self.cells[seq] = self.cells.get(seq, [])[:start]

    def copy(self, source: int, target: int, count: int) -> None:
        self.cells[target] = list(self.cells[source][:count])

    def evaluate(self, prompt: np.ndarray, reused: int) -> None:
        """What the backend does after arranging: keep the reused prefix of sequence 0, append the rest."""
        self.cells[0] = self.cells[0][:reused] + prompt[reused:].tolist()


def _tokens(start: int, count: int) -> np.ndarray:
    return np.arange(start, start + count, dtype=np.intc)


def _request(parked: ParkedPrompts, cache: FakeCache, prompt: np.ndarray, reserve: int = 16) -> int:
    """One request: arrange, then evaluate over sequence 0; returns how many prompt tokens were reused."""
    held = parked.arrange(prompt, np.asarray(cache.cells[0], dtype=np.intc), reserve)
    if held is not None:
        assert cache.cells[0] == held.tolist()  # the backend's token record matches the cells
    reused = common_prefix(np.asarray(cache.cells[0], dtype=np.intc), prompt)
    cache.evaluate(prompt, reused)
    return reused


def test_going_back_to_another_files_prompt_reuses_it() -> None:
    cache = FakeCache()
    parked = ParkedPrompts(3, 4096, cache.remove, cache.copy)
    first, second = _tokens(1000, 600), _tokens(5000, 500)
    assert _request(parked, cache, first) == 0
    assert _request(parked, cache, np.append(first, 7)) == 600  # typing: the same sequence goes on
    assert parked.parked == 0
    assert _request(parked, cache, second) == 0  # another file: the first one's prompt is parked
    assert parked.parked == 1 and parked.held() == [601]
    assert _request(parked, cache, np.append(first, 8)) == 600  # back to it: restored, no prompt evaluated
    assert parked.restored == 1 and parked.held() == [500]  # and the second file's prompt is parked now
    assert _request(parked, cache, np.append(second, 9)) == 500


def test_a_short_tail_is_not_worth_parking_and_a_small_gain_not_worth_restoring() -> None:
    cache = FakeCache()
    parked = ParkedPrompts(3, 4096, cache.remove, cache.copy)
    base = _tokens(1000, 400)
    _request(parked, cache, base)
    moved = np.concatenate((base[: -(MIN_PARK_TOKENS - 1)], _tokens(9000, 30)))  # a few lines changed
    _request(parked, cache, moved)
    assert parked.parked == 0
    _request(parked, cache, _tokens(20000, 300))  # elsewhere: parks what sequence 0 holds
    assert parked.parked == 1
    _request(parked, cache, np.concatenate((_tokens(20000, 290), _tokens(7, 5))))
    assert parked.restored == 0  # sequence 0 shares more than the parked prompt does


def test_parked_prompts_are_evicted_so_the_request_always_fits() -> None:
    cache = FakeCache()
    parked = ParkedPrompts(3, 2048, cache.remove, cache.copy)
    prompts = [_tokens(10000 * number, 700) for number in range(1, 5)]
    for prompt in prompts:
        _request(parked, cache, prompt, reserve=64)
        assert 700 + 64 + sum(parked.held()) <= 2048  # this request's prompt and generation, and what is parked
    assert parked.evicted >= 1 and len(parked.held()) == 1
    for seq, cells in cache.cells.items():
        if seq != 0 and cells:
            assert cells in [prompt.tolist() for prompt in prompts]  # a parked sequence holds a whole prompt
    assert sum(1 for seq, cells in cache.cells.items() if seq and cells) == len(parked.held())


def test_the_prompt_being_restored_is_not_evicted_to_park_another() -> None:
    cache = FakeCache()
    parked = ParkedPrompts(1, 4096, cache.remove, cache.copy)  # one slot
    first, second = _tokens(1000, 300), _tokens(5000, 300)
    _request(parked, cache, first)
    _request(parked, cache, second)  # first parked in the only slot
    assert _request(parked, cache, first) == 300  # restored; second could not be parked (no other slot)
    assert parked.held() == [] and parked.restored == 1 and parked.evicted == 0


def test_no_slots_means_nothing_is_parked() -> None:
    cache = FakeCache()
    parked = ParkedPrompts(0, 4096, cache.remove, cache.copy)
    assert not parked.enabled
    _request(parked, cache, _tokens(1, 300))
    assert _request(parked, cache, _tokens(1000, 300)) == 0
    assert _request(parked, cache, _tokens(1, 300)) == 0
    assert list(cache.cells) == [0]
