"""The completion benchmark's report: every measured row, and only the rows an endpoint can fill."""

from __future__ import annotations

import pytest

from atlas_lsp.bench.completion import CompletionBench, markdown
from atlas_lsp.bench.report import commit


def _measured() -> CompletionBench:
    return CompletionBench(
        model="m",
        device="cpu",
        prompt_tokens=[1500],
        ours=[0.1],
        raw=[0.1],
        overhead=[0.003],
        follow_up=[0.02],
        follow_up_ratio=[0.2],
        evaluated_cold=[1500],
        evaluated_follow_up=[1],
        cache_hits=[0.001],
        generated=[10, 6],
        steps=[5, 2],
        follow_up_generated=[6],
        follow_up_steps=[2],
        modes={"guess": 1, "plain": 1},
        phases=[{"context": 0.5}],
        protocol=[0.0005],
        first_after_open=0.03,
        switch_back=0.05,
        switch_back_evaluated=2,
        switch_back_prompt=1500,
    )


def test_the_report_shows_tokens_per_step_and_decode_modes() -> None:
    report = markdown(_measured())
    assert (
        "| generated tokens per model step (ours checks prompt-lookup guesses; the raw call takes 1) | 2.29 |" in report
    )
    assert "generated tokens per model step | 3.00 |" in report  # the follow-ups alone
    assert "cold and follow-up | guess 1, plain 1 |" in report
    assert "evaluated of its 1500 | 50.00; 2 |" in report and "cold requests' median | 0.50 |" in report
    assert "nan" not in report


def test_an_endpoint_report_leaves_out_what_the_endpoint_does_not_report() -> None:
    report = markdown(_measured(), endpoint="http://127.0.0.1:8089/v1")
    assert "decode mode" not in report and "tokens" not in report.split("|---|---|---|")[1]
    assert "ratio through the endpoint / raw in-process" in report


def test_the_commit_can_be_named_by_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of the tree on the GPU machine may carry a stale .git: the run names the commit it measures."""
    monkeypatch.setenv("ATLAS_BENCH_COMMIT", "abc1234")
    assert commit() == "abc1234"
    monkeypatch.delenv("ATLAS_BENCH_COMMIT")
    assert commit() not in ("abc1234", "")
