"""Prompt-lookup drafting: guess the next tokens from earlier text, check them all in one model step.

Code repeats itself (names, call shapes, whole lines), so the tokens that followed the latest earlier occurrence
of the last few tokens are a good guess of what comes next. The model evaluates the guess in the same step as the
token it just chose and keeps the guessed tokens only while each one is the token it would have chosen anyway:
the output is the same as decoding one token per step; only the number of steps changes.

How long a guess pays depends on the device (on a GPU a step of nine tokens costs about what a step of one does;
on a CPU it costs several times more) and on how often guesses are right in the text at hand. `DraftTuner`
measures both as it runs and picks the length with the most expected tokens per second; it also compares whole
generations with and without guesses, which catches costs that no single step shows (switching step sizes).
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np

from atlas_lsp.model.parked import common_prefix

_ITEM = array("i").itemsize
REVISIT_EVERY = 64  # decisions between looks for a step size whose cost was last measured long ago
CHECK_EVERY = 8  # every 8th generation runs another way (guessing or not), so each stays measured
SLOW_MODE = 2.0  # a way this many times slower per token than the best, or one not measured yet, is checked by
SLOW_CHECK_EVERY = 32  # requests every 32nd generation only (a user waits for them; low-priority work: every 8th)
MIN_COMPARED_TOKENS = 8  # shorter generations say too little about the cost per token
STALE_AFTER = 256  # decisions after which a size's measured cost is stale
FIXED_STEP_TOKENS = 8  # a fixed-shape step: up to 8 tokens stay on llama.cpp's CUDA matrix-vector kernels

# How a generation decodes: "plain" one token per step; "guess" the latest token plus as many guessed tokens as
# the tuner expects to pay; "fixed" always `fixed_step` tokens (guesses, then the latest token repeated), so a
# GPU keeps one captured graph for every step (llama.cpp re-captures it whenever a step's shape changes).
DecodeMode = Literal["plain", "guess", "fixed"]


class Guess(NamedTuple):
    tokens: list[int]
    match_size: int  # how many of the latest tokens were found repeated (0: no guess)
    earlier: bool = False  # found in an earlier output rather than in this prompt and output


class TokenHistory:
    """The prompt and the tokens generated so far, searchable for repeated token sequences; and, searched first,
    what the model wrote after nearly the same prompt before (``earlier``, the most relevant first)."""

    def __init__(self, tokens: list[int], longest_match: int = 3, earlier: Sequence[Sequence[int]] = ()) -> None:
        self._tokens = array("i", tokens)
        self._longest_match = longest_match
        self._earlier = [array("i", text) for text in earlier if len(text) > 1]

    def __len__(self) -> int:
        return len(self._tokens)

    def append(self, token: int) -> None:
        self._tokens.append(token)

    def draft(self, limit: int) -> Guess:
        """Up to ``limit`` tokens that followed the latest earlier occurrence of the longest recent suffix (3, 2
        or 1 tokens). For each suffix length the earlier outputs are searched before the history itself."""
        count = len(self._tokens)
        if limit <= 0 or count < 2:
            return Guess([], 0)
        data = self._tokens.tobytes()
        for size in range(min(self._longest_match, count - 1), 0, -1):
            pattern = data[(count - size) * _ITEM :]
            for text in [*self._earlier, self._tokens]:
                start = _after_latest(text, pattern)
                if start >= 0:
                    return Guess(text[start : start + limit].tolist(), size, text is not self._tokens)
        return Guess([], 0)


def _after_latest(text: array[int], pattern: bytes) -> int:
    """Where the tokens after the latest occurrence of ``pattern`` (token bytes) in ``text`` start, when at least
    one token follows it; -1 when there is none."""
    data = text.tobytes()
    end = len(data) - _ITEM  # the match must be followed by at least one token (also: not the suffix itself)
    while True:
        found = data.rfind(pattern, 0, end)
        if found < 0:
            return -1
        if found % _ITEM == 0:
            return (found + len(pattern)) // _ITEM
        end = found + len(pattern) - 1  # a match across token boundaries: look further back


class RecentOutputs:
    """The latest generations' outputs, each with the prompt it followed. When a user types a character where a
    suggestion was just made, the new prompt starts with almost all of the old one's tokens, and the new output
    often repeats much of the old one (its lines, after a different first token): good guesses to check."""

    def __init__(self, keep: int = 4, lead_in: int = 3) -> None:
        self._entries: deque[tuple[np.ndarray, list[int]]] = deque(maxlen=keep)
        self._lead_in = lead_in  # prompt tokens kept before an output, so a suffix at its very start matches

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, prompt: Sequence[int], output: Sequence[int]) -> None:
        if output:
            self._entries.append((np.asarray(prompt, dtype=np.intc), [*prompt[-self._lead_in :], *output]))

    def related(self, prompt: Sequence[int]) -> list[list[int]]:
        """The outputs (each after the last few tokens of its prompt) whose prompt and ``prompt`` share all but
        their tails: each tail at most a tenth of the prompt (or 16 tokens) and at most half what they share. The
        latest first."""
        new = np.asarray(prompt, dtype=np.intc)
        allowed = max(16, len(new) // 10)
        found: list[list[int]] = []
        for old, text in reversed(self._entries):
            shared = common_prefix(old, new)
            tail = max(len(new), len(old)) - shared
            if tail <= allowed and 2 * tail <= shared:
                found.append(text)
        return found


@dataclass
class _Rate:
    """How often a guessed token is right, forgetting old evidence so it follows the text being written."""

    right: float = 1.0  # a prior of one right guess in two
    tried: float = 2.0

    def update(self, right: int, tried: int, decay: float = 0.97) -> None:
        self.right = self.right * decay + right
        self.tried = self.tried * decay + tried

    @property
    def value(self) -> float:
        return self.right / self.tried


@dataclass
class DraftTuner:
    """Chooses each step's guess length from measured step costs and guess accuracy."""

    max_tokens: int = 8
    step_seconds: dict[int, float] = field(default_factory=dict)  # moving average by tokens in the step
    steps_seen: dict[int, int] = field(default_factory=dict)
    # by where the guess was found (an earlier output?) and the length of the matched suffix
    accuracy: dict[tuple[bool, int], _Rate] = field(default_factory=dict)
    declined: int = 0  # guesses found but not checked (every 16th is checked anyway, to keep the rates current)
    decisions: int = 0
    measured_at: dict[int, int] = field(default_factory=dict)  # the decision count when a size was last measured
    generations: int = 0
    last_check: int = 0  # the generation that last ran another mode than the best
    seconds_per_token: dict[DecodeMode, float] = field(default_factory=dict)  # by how the generation decoded
    last_planned: dict[DecodeMode, int] = field(default_factory=dict)  # the generation that last used a mode
    planned: dict[DecodeMode, int] = field(default_factory=dict)  # generations run in each mode
    fixed_step: int = 0  # tokens in a "fixed" step; 0: that mode is not used (on a CPU a step costs by its tokens)

    def modes(self) -> list[DecodeMode]:
        """The decode modes to compare, the one to start with first."""
        if self.max_tokens <= 0:
            return ["plain"]
        return ["fixed", "guess", "plain"] if self.fixed_step > 1 else ["guess", "plain"]

    def plan_generation(self, low_priority: bool = False) -> DecodeMode:
        """How the next generation decodes. Step costs measured one by one miss what switching step sizes costs (a
        GPU's captured graphs are rebuilt when the shape changes), so whole generations are compared: the mode
        with the least time per token is used, and every CHECK_EVERY-th generation runs another one (the one not
        measured, or not run, for longest) so that each stays measured. A mode measured SLOW_MODE times slower
        than the best (on a GPU, guesses of changing length: a graph rebuilt each step) makes a request that
        checks it that much slower (likely the H200's slowest cold request at 87dd496: 115 ms of decoding against
        a 25 ms median), and so may one not measured yet, so requests check those every SLOW_CHECK_EVERY-th
        generation, while ``low_priority`` work (a speculation, which no one waits for) checks them every
        CHECK_EVERY-th."""
        modes = self.modes()
        if len(modes) == 1:
            return modes[0]
        self.generations += 1
        measured = [mode for mode in modes if mode in self.seconds_per_token]
        best = min(measured, key=self.seconds_per_token.__getitem__) if modes[0] in measured else modes[0]
        due: list[DecodeMode] = []
        if self.generations - self.last_check >= CHECK_EVERY:
            for mode in modes:
                waited = self.generations - self.last_planned.get(mode, 0)
                if mode != best and waited >= self._check_every(mode, best, low_priority):
                    due.append(mode)
        chosen = best
        if due:
            chosen = min(due, key=lambda mode: (mode in measured, self.last_planned.get(mode, 0)))
            self.last_check = self.generations
        self.last_planned[chosen] = self.generations
        self.planned[chosen] = self.planned.get(chosen, 0) + 1
        return chosen

    def _check_every(self, mode: DecodeMode, best: DecodeMode, low_priority: bool) -> int:
        """Generations from one run of ``mode`` (not the best) to its next check, by a request or by low-priority
        work (a mode not measured yet may be slow too)."""
        cost, best_cost = self.seconds_per_token.get(mode), self.seconds_per_token.get(best)
        slow = cost is None or (best_cost is not None and cost >= SLOW_MODE * best_cost)
        return SLOW_CHECK_EVERY if slow and not low_priority else CHECK_EVERY

    def record_generation(self, mode: DecodeMode, tokens: int, seconds: float) -> None:
        """A generation's decoding (after its prompt) produced ``tokens`` tokens in ``seconds``."""
        if tokens < MIN_COMPARED_TOKENS or seconds <= 0:
            return
        previous = self.seconds_per_token.get(mode)
        value = seconds / tokens
        self.seconds_per_token[mode] = value if previous is None else previous * 0.7 + value * 0.3

    def length(self, available: int, match_size: int, earlier: bool = False) -> int:
        """How many of ``available`` guessed tokens (found by a suffix of ``match_size``, in an earlier output or
        not) to check this step."""
        available = min(available, self.max_tokens)
        if available <= 0 or match_size <= 0:
            return 0
        self.decisions += 1
        if self.decisions % REVISIT_EVERY == 0:  # a size measured long ago (maybe on a busy moment): measure again
            for tokens in range(2, available + 2):
                if self.decisions - self.measured_at.get(tokens, 0) > STALE_AFTER and self.steps_seen.get(tokens):
                    return tokens - 1
        single = self.step_seconds.get(1)
        if single is None or self.steps_seen.get(1, 0) < 2:
            return 0  # measure a plain step first
        rate = self.accuracy.setdefault((earlier, match_size), _Rate()).value
        best, best_speed = 0, 1.0 / single
        expected = 1.0
        for length in range(1, available + 1):
            expected += rate**length
            speed = expected / self._cost(length + 1, single)
            if speed > best_speed:
                best, best_speed = length, speed
        if best == 0:
            self.declined += 1
            if self.declined % 16 == 0:
                return 1  # the text may have become repetitive since the rate fell
        return best

    def _cost(self, tokens: int, single: float) -> float:
        if self.steps_seen.get(tokens, 0) >= 2:
            return self.step_seconds[tokens]
        # not measured yet: guess it cheap, so that it gets tried (the first try of a size is not counted:
        # it may include one-time setup)
        return single * (1.0 + 0.05 * (tokens - 1))

    def record_step(self, tokens: int, seconds: float) -> None:
        seen = self.steps_seen.get(tokens, 0) + 1
        self.steps_seen[tokens] = seen
        stale = self.decisions - self.measured_at.get(tokens, self.decisions) > STALE_AFTER
        self.measured_at[tokens] = self.decisions
        if seen == 1:
            return
        previous = self.step_seconds.get(tokens)
        # a stale average is replaced: it may be one slow moment that kept the size from being tried since
        self.step_seconds[tokens] = seconds if previous is None or stale else previous * 0.8 + seconds * 0.2

    def record_guesses(self, match_size: int, checked: int, right: int, earlier: bool = False) -> None:
        """``checked`` guessed tokens were compared with the model's choice; the first ``right`` matched."""
        if checked > 0:
            self.accuracy.setdefault((earlier, match_size), _Rate()).update(right, min(checked, right + 1))
