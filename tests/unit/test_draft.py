"""Prompt-lookup guesses and the tuner that decides how many to check per model step."""

from __future__ import annotations

import pytest

from atlas_lsp.model.draft import DraftTuner, RecentOutputs, TokenHistory


@pytest.mark.parametrize(
    ("tokens", "limit", "expected"),
    [
        # the latest earlier occurrence of the last three tokens, and what followed it
        ([1, 2, 3, 9, 8, 1, 2, 3, 7, 6, 5, 1, 2, 3], 4, ([7, 6, 5, 1], 3)),
        # no three-token repeat: fall back to two, then one
        ([5, 2, 3, 4, 9, 2, 3], 2, ([4, 9], 2)),
        ([5, 3, 6, 7, 3], 3, ([6, 7, 3], 1)),
        # the guess is cut at the end of the history
        ([4, 5, 6, 4, 5], 8, ([6, 4, 5], 2)),
        # nothing repeats, or nothing asked for
        ([1, 2, 3, 4], 4, ([], 0)),
        ([1, 2, 1, 2], 0, ([], 0)),
        ([7], 4, ([], 0)),
        ([], 4, ([], 0)),
    ],
)
def test_guesses_follow_the_latest_repeat_of_the_longest_suffix(
    tokens: list[int], limit: int, expected: tuple[list[int], int]
) -> None:
    assert TokenHistory(tokens).draft(limit)[:2] == expected


def test_a_byte_match_across_token_boundaries_is_not_a_repeat() -> None:
    # 0x0100 followed by 0x0000 contains the bytes of 0x0001 shifted by one byte: not the same token
    history = TokenHistory([0x01000000, 0x00000000, 0x7, 0x00000100])
    assert history.draft(2)[:2] == ([], 0)
    history = TokenHistory([0x00000100, 0x7, 0x01000000, 0x00000000, 0x8, 0x00000100])
    assert history.draft(2)[:2] == ([0x7, 0x01000000], 1)


def test_appended_tokens_are_searched() -> None:
    history = TokenHistory([1, 2, 3])
    for token in (4, 1, 2):
        history.append(token)
    assert len(history) == 6
    assert history.draft(3) == ([3, 4, 1], 2, False)


def test_earlier_outputs_are_searched_first_for_each_suffix_length() -> None:
    # the suffix (2, 3) follows 9 in the history but 5 in the earlier output: the earlier output is asked first
    assert TokenHistory([2, 3, 9, 1, 2, 3], earlier=[[0, 2, 3, 5, 6]]).draft(2) == ([5, 6], 2, True)
    # a longer suffix found in the history beats a shorter one found in an earlier output
    assert TokenHistory([1, 2, 3, 9, 1, 2, 3], earlier=[[3, 5]]).draft(1) == ([9], 3, False)
    # of several earlier outputs the first given wins; one whose match ends at its last token has nothing to give
    assert TokenHistory([4, 7], earlier=[[8, 7], [7, 1], [7, 2]]).draft(3) == ([1], 1, True)
    # byte matches across token boundaries do not count there either
    assert TokenHistory([0x7, 0x00000100], earlier=[[0x01000000, 0x00000000, 0x5]]).draft(2)[:2] == ([], 0)


def test_outputs_after_nearly_the_same_prompt_are_related() -> None:
    recent = RecentOutputs(keep=2, lead_in=2)
    prompt = list(range(1000, 1200))
    recent.add(prompt, [])  # nothing generated: nothing kept
    assert len(recent) == 0
    recent.add(prompt, [7, 8, 9])
    typed = [*prompt, 42]  # a character typed at the same place
    assert recent.related(typed) == [[1198, 1199, 7, 8, 9]]
    assert recent.related(prompt[:-1]) == [[1198, 1199, 7, 8, 9]]  # one deleted
    assert recent.related([*prompt[:100], *range(5000, 5100)]) == []  # elsewhere in the file
    assert recent.related([1, *prompt]) == []  # something changed near the top: nothing shared at the start
    recent.add(typed, [5, 6])
    assert recent.related([*typed, 43]) == [[1199, 42, 5, 6], [1198, 1199, 7, 8, 9]]  # the latest first
    assert recent.related([*prompt[:150], *range(5000, 5030)]) == []  # a tail longer than a tenth
    short = RecentOutputs()
    short.add([1, 2, 3, 4, 5, 6], [9])
    assert short.related([1, 2, 3, 4, 5, 7]) == [[4, 5, 6, 9]]  # a short prompt, its last token changed
    assert short.related([1, 8, 8]) == [] and short.related([1]) == []  # not much in common
    recent.add(list(range(10)), [3])  # only the last ``keep`` are remembered
    assert recent.related([*typed, 43]) == [[1199, 42, 5, 6]]


def _measured(costs: dict[int, float]) -> DraftTuner:
    tuner = DraftTuner(max_tokens=8)
    for tokens, seconds in costs.items():
        for _ in range(3):
            tuner.record_step(tokens, seconds)
    return tuner


def test_no_guess_before_a_plain_step_was_measured() -> None:
    tuner = DraftTuner(max_tokens=8)
    assert tuner.length(8, 3) == 0
    tuner.record_step(1, 0.01)  # the first step of a size is not counted (one-time setup)
    assert tuner.length(8, 3) == 0
    tuner.record_step(1, 0.01)
    assert tuner.length(8, 3) > 0


def test_steps_that_cost_the_same_whatever_their_size_take_long_guesses() -> None:
    tuner = _measured({size: 0.002 for size in range(1, 10)})  # a GPU on a small model
    tuner.record_guesses(3, checked=8, right=8)
    assert tuner.length(8, 3) == 8
    assert tuner.length(3, 3) == 3  # never more than was found
    assert tuner.length(8, 0) == 0  # nothing matched: nothing to guess


def test_steps_that_cost_a_plain_step_per_token_take_no_guess() -> None:
    tuner = _measured({size: 0.018 * size for size in range(1, 10)})
    for _ in range(5):
        tuner.record_guesses(3, checked=4, right=3)
    assert [tuner.length(8, 3) for _ in range(15)] == [0] * 15


def test_the_length_follows_measured_accuracy() -> None:
    # a CPU: a second token costs a sixth of a step, four tokens cost 1.65 steps, nine cost 2.8
    tuner = _measured({1: 0.0176, 2: 0.0204, 3: 0.0246, 4: 0.0289, 5: 0.033, 6: 0.037, 7: 0.041, 8: 0.046, 9: 0.05})
    for _ in range(30):
        tuner.record_guesses(1, checked=1, right=0)  # one-token matches are always wrong here
        tuner.record_guesses(3, checked=8, right=8)  # three-token matches always right
    assert tuner.length(8, 1) == 0
    assert tuner.length(8, 3) == 8
    assert [tuner.length(8, 1) for _ in range(32)].count(1) == 2  # a declined kind is still checked now and then


def test_guesses_from_earlier_outputs_are_judged_by_their_own_accuracy() -> None:
    tuner = _measured({1: 0.0176, 2: 0.0204, 3: 0.0246, 4: 0.0289, 5: 0.033, 6: 0.037, 7: 0.041, 8: 0.046, 9: 0.05})
    for _ in range(30):
        tuner.record_guesses(1, checked=1, right=0)  # one-token matches in the prompt: always wrong
        tuner.record_guesses(1, checked=8, right=8, earlier=True)  # in the last output at this place: right
    assert tuner.length(8, 1) == 0
    assert tuner.length(8, 1, earlier=True) == 8


def test_unmeasured_sizes_get_tried_and_the_first_try_is_not_trusted() -> None:
    tuner = _measured({1: 0.01})
    tuner.record_guesses(3, checked=4, right=4)
    assert tuner.length(4, 3) == 4  # guessed cheap until measured
    tuner.record_step(5, 0.5)  # its first try (setup): not counted
    assert tuner.length(4, 3) == 4
    tuner.record_step(5, 0.5)
    assert tuner.length(4, 3) < 4


def test_off_means_no_guess() -> None:
    tuner = DraftTuner(max_tokens=0)
    tuner.record_step(1, 0.01)
    tuner.record_step(1, 0.01)
    assert tuner.length(8, 3) == 0


def test_a_size_measured_on_a_slow_moment_is_measured_again_later() -> None:
    tuner = _measured({size: 0.01 for size in range(1, 10)})
    tuner.record_guesses(3, checked=8, right=8)
    tuner.record_step(6, 5.0)  # one slow moment (the machine was busy): six-token steps now look terrible
    chosen = []
    for _ in range(700):
        length = tuner.length(8, 3)
        chosen.append(length)
        tuner.record_step(length + 1, 0.01)
    assert chosen[0] == 8 and chosen.count(8) > 600  # steps cost the same whatever their size: guess long
    assert 5 in chosen  # six tokens (five guessed) tried again once its measurement was stale
    assert tuner.step_seconds[6] == 0.01  # and the stale average was replaced, not blended


def test_whole_generations_decide_whether_to_guess_at_all() -> None:
    """Per-step costs miss the cost of switching step sizes (a GPU rebuilds its captured graph when the shape
    changes): whole generations are compared, each way checked every 8th time (a way not measured yet by
    low-priority work, a speculation; by requests only every 32nd: it may be slow)."""
    tuner = DraftTuner(max_tokens=8)
    plans = [tuner.plan_generation(low_priority=True) for _ in range(16)]
    assert plans == ["guess"] * 7 + ["plain"] + ["guess"] * 7 + ["plain"]  # guess; check plain now and then
    requests_only = DraftTuner(max_tokens=8)
    plans = [requests_only.plan_generation() for _ in range(40)]
    assert [number for number, plan in enumerate(plans, 1) if plan == "plain"] == [32]
    tuner.record_generation("guess", tokens=40, seconds=0.3)
    tuner.record_generation("plain", tokens=40, seconds=0.2)  # plain decoding was faster per token
    plans = [tuner.plan_generation() for _ in range(16)]
    assert plans == ["plain"] * 7 + ["guess"] + ["plain"] * 7 + ["guess"]  # stop guessing; re-check it now and then
    for _ in range(6):
        tuner.record_generation("guess", tokens=40, seconds=0.1)  # guessing got faster (repetitive code, say)
    assert tuner.plan_generation() == "guess"
    tuner.record_generation("plain", tokens=3, seconds=30.0)  # too short to say anything: ignored
    assert tuner.seconds_per_token["plain"] == pytest.approx(0.005)
    assert DraftTuner(max_tokens=0).plan_generation() == "plain"


def test_a_mode_twice_as_slow_is_checked_by_speculations_and_rarely_by_requests() -> None:
    """A request that checks a mode measured twice as slow or worse waits that much longer (on a GPU, guesses of
    changing length rebuild the captured graph each step): requests check it every 32nd generation, low-priority
    work (a speculation, which no one waits for) every 8th, as before."""
    tuner = DraftTuner(max_tokens=8, fixed_step=8)
    tuner.record_generation("fixed", tokens=24, seconds=0.024)
    tuner.record_generation("guess", tokens=24, seconds=0.096)  # four times as slow per token
    tuner.record_generation("plain", tokens=24, seconds=0.036)  # half as slow again: still checked every 8th
    plans = [tuner.plan_generation() for _ in range(64)]
    assert [number for number, plan in enumerate(plans, 1) if plan == "guess"] == [32, 64]
    assert [number for number, plan in enumerate(plans, 1) if plan == "plain"] == [8, 16, 24, 40, 48, 56]
    assert plans.count("fixed") == 56
    on_a_cpu = DraftTuner(max_tokens=8)  # guess or plain
    on_a_cpu.record_generation("guess", tokens=24, seconds=0.024)
    on_a_cpu.record_generation("plain", tokens=24, seconds=0.072)  # three times as slow per token
    plans = [on_a_cpu.plan_generation() for _ in range(40)]
    assert [number for number, plan in enumerate(plans, 1) if plan == "plain"] == [32]
    plans = [on_a_cpu.plan_generation(low_priority=number % 4 == 0) for number in range(41, 65)]
    assert [number for number, plan in enumerate(plans, 41) if plan == "plain"] == [44, 52, 60]  # every 8th
    on_a_cpu.record_generation("plain", tokens=24, seconds=0.024)  # as fast as guessing now: requests check it
    on_a_cpu.record_generation("plain", tokens=24, seconds=0.024)
    on_a_cpu.record_generation("plain", tokens=24, seconds=0.024)
    plans = [on_a_cpu.plan_generation() for _ in range(16)]
    assert [number for number, plan in enumerate(plans, 65) if plan == "plain"] == [68, 76]


def test_a_gpu_also_compares_fixed_shape_steps() -> None:
    """Where steps are launch-bound (a GPU), steps of one fixed size keep the captured graph: that mode starts,
    and the other two are each measured in turn; the fastest per token wins."""
    tuner = DraftTuner(max_tokens=8, fixed_step=8)
    plans = [tuner.plan_generation(low_priority=True) for _ in range(24)]  # (speculations: they check the others)
    assert plans[7] == "guess" and plans[15] == "plain" and plans[23] == "guess"  # the unmeasured, then the oldest
    assert all(plan == "fixed" for number, plan in enumerate(plans) if number % 8 != 7)
    tuner.record_generation("fixed", tokens=40, seconds=0.08)
    tuner.record_generation("guess", tokens=40, seconds=0.10)
    tuner.record_generation("plain", tokens=40, seconds=0.06)  # here plain was fastest after all
    plans = [tuner.plan_generation() for _ in range(16)]
    assert plans.count("plain") == 14 and set(plans) == {"plain", "fixed", "guess"}
    assert tuner.planned == {"fixed": 21 + 1, "guess": 2 + 1, "plain": 1 + 14}
    assert DraftTuner(max_tokens=8).modes() == ["guess", "plain"]
    assert DraftTuner(max_tokens=0, fixed_step=8).modes() == ["plain"]
