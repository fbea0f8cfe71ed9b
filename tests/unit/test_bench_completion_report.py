"""The completion benchmark's report: every measured row, and only the rows an endpoint can fill."""

from __future__ import annotations

import pytest

from atlas_lsp.bench.completion import CompletionBench, markdown
from atlas_lsp.bench.report import commit, header


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
        follow_up_cold_prompt=[1500],
        evaluated_cold=[1500],
        evaluated_follow_up=[1],
        cache_hits=[0.001],
        generated=[10, 6],
        steps=[5, 2],
        follow_up_generated=[6],
        follow_up_steps=[2],
        modes={"guess": 1, "plain": 1},
        phases=[{"context": 0.5}],
        model_phases=[{"tokenize": 0.1, "arrange": 2.5, "first token": 60.0, "decode": 30.0}],
        follow_up_model_phases=[{"tokenize": 0.05, "arrange": 0.01, "first token": 2.0, "decode": 20.0}],
        follow_up_overhead=[0.004],
        cold_generated=[10],
        protocol=[0.0005],
        first_after_open=0.03,
        switch_back=0.05,
        switch_back_evaluated=2,
        switch_back_prompt=1500,
        switch_back_phases={"tokenize": 0.2, "arrange": 3.5, "first token": 2.0, "decode": 21.0},
        switch_back_overhead=0.0045,
        switch_back_steps={"queue": 2.5, "context": 1.0},
        switch_back_protocol=0.0007,
        open_files=5,
        open_files_overhead=[0.003, 0.004, 0.0035],
        open_files_context=[1.0, 1.2, 0.9],
        new_line=[0.02, 0.03, 0.2],
        new_line_evaluated=[12, 10, 1400],
        new_line_prompt=[1500, 1510, 1400],
        rested=0.012,
        rested_evaluated=6,
        rested_prompt=1480,
        rested_warm_up_ms=250.0,
        accepted=[0.001, 0.0012, 0.3],
        accepted_from_speculation=2,
        speculation_ms=[300.0, 250.0],
        keystroke_wait=[4.0, 12.0],
        keystroke_overhead=[0.008, 0.015],
        follow_up_wait=[0.2, 0.3],
        after_cancel_wait=[0.05, 0.5, 0.09],
        after_cancel_latency=[0.02, 0.05, 0.03],
    )


def test_the_report_shows_tokens_per_step_and_decode_modes() -> None:
    report = markdown(_measured())
    assert (
        "| generated tokens per model step (ours checks prompt-lookup guesses; the raw call takes 1) | 2.29 |" in report
    )
    assert "generated tokens per model step | 3.00 |" in report  # the follow-ups alone
    assert "cold and follow-up | guess 1, plain 1 |" in report
    assert "evaluated of its 1500 | 50.00; 2 |" in report
    back = "its model time, ms: tokenize 0.20, arrange 3.50, first token 2.00, decode 21.00"
    assert f"cold requests' median; its server overhead, ms; {back} | 0.50; 4.50 |" in report
    steps = "cursor 0.00, policy 0.00, cache 0.00, context 1.00, queue 2.50, prompt 0.00, return 0.00, clean 0.00"
    assert f"| … its server overhead by step, ms: {steps}, protocol 0.70 | | |" in report
    assert "| … with 5 other files of about 2,000 lines open (3 requests), p50 / p95 ms; their context step, " in report
    assert "median ms | 3.50 / 4.00; 1.00 | p95 ≤ 5 ms |" in report
    assert "nan" not in report


def test_the_report_shows_what_new_lines_cost() -> None:
    report = markdown(_measured())
    assert "| a new line written (Enter, a statement, a request at its end; 3 lines), p50 / p95 ms; " in report
    assert "its latency / the cold requests' median | 30.00 / 200.00; 0.30 |" in report
    assert "| … prompt tokens evaluated, median / most, of its prompt's (median) | 12 / 1400, of 1500 |" in report
    measured = _measured()
    measured.new_line = []
    assert "| a new line written: no request reached the model | | |" in markdown(measured)


def test_the_report_shows_the_first_request_where_the_cursor_rested() -> None:
    report = markdown(_measured())
    assert "code-action request, in 250 ms), ms; its latency / the cold requests' median | 12.00; 0.12 |" in report
    assert "| … prompt tokens it evaluated, of its prompt's | 6 of 1480 | |" in report
    measured = _measured()
    measured.rested = float("nan")
    assert "| first request where the cursor rested: no warm-up (`completion.warmUp`) | | |" in markdown(measured)


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


def test_the_report_shows_where_the_highest_ratio_went() -> None:
    measured = _measured()
    measured.ours, measured.raw, measured.overhead = [0.1, 0.3, 0.12], [0.1, 0.2, 0.1], [0.003, 0.009, 0.004]
    measured.cold_generated = [10, 24, 12]
    measured.cold_modes = ["fixed", "guess", "fixed"]  # (the tuner checking a slower mode now and then)
    measured.model_phases = [{"decode": 1.0}, {"tokenize": 0.5, "arrange": 9.0, "first token": 90.0, "decode": 200.0}]
    report = markdown(measured)
    assert "its model time, ms: tokenize 0.50, arrange 9.00, first token 90.00, decode 200.00 | " in report
    assert "| 300.00 / 200.00; 9.00; 24, guess | |" in report  # the second pair: 1.5, the highest
    assert "highest ratio" not in markdown(measured, endpoint="http://127.0.0.1:8089/v1")  # no model phases there


def test_the_report_splits_the_model_time_of_cold_requests_and_follow_ups() -> None:
    report = markdown(_measured())
    assert "cold: tokenize 0.10, arrange 2.50, first token 60.00, decode 30.00 |" in report
    follow_up = "model's time, median ms: tokenize 0.05, arrange 0.01, first token 2.00, decode 20.00 | 4.00 / 4.00 |"
    assert follow_up in report
    assert "| tokens generated, median: cold / follow-up | 10 / 6 |" in report
    assert "first sample), median / median | 0.03 |" in report  # 2.0 / 60.0


def test_a_gpu_section_says_so_and_names_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("atlas_lsp.bench.report.gpus", lambda: "NVIDIA H200 (driver 580.1)")
    on_gpu = header("Inline completion (`atlas-lsp bench completion`)", "m, gpu (30/30 layers)")
    assert on_gpu.startswith("## Inline completion on the GPU (`atlas-lsp bench completion`)\n")
    assert "- machine: NVIDIA H200 (driver 580.1); " in on_gpu
    on_cpu = header("Inline completion (`atlas-lsp bench completion`)", "m, cpu")
    assert on_cpu.startswith("## Inline completion (`atlas-lsp bench completion`)\n") and "H200" not in on_cpu


def test_the_report_shows_where_the_slowest_follow_ups_overhead_went() -> None:
    measured = _measured()
    measured.follow_up_overhead = [0.003, 0.0083, 0.004]
    measured.follow_up_phases = [{"context": 0.5}, {"context": 0.6, "queue": 5.1, "return": 0.3}, {"context": 0.7}]
    measured.follow_up_protocol = [0.0005, 0.0012, 0.0006]
    row = next(line for line in markdown(measured).split("\n") if "follow-up with the most server overhead" in line)
    assert "cursor 0.00, policy 0.00, cache 0.00, context 0.60, queue 5.10, prompt 0.00, return 0.30" in row
    assert row.endswith("clean 0.00, protocol 1.20 | 8.30 | |")


def test_the_report_shows_where_the_slowest_cold_requests_overhead_went() -> None:
    measured = _measured()
    measured.overhead = [0.003, 0.0062]
    measured.phases = [{"context": 0.5}, {"context": 4.1, "prompt": 1.0}]
    measured.protocol = [0.0005, 0.0004]
    row = next(line for line in markdown(measured).split("\n") if "cold request with the most server overhead" in line)
    assert "context 4.10, queue 0.00, prompt 1.00" in row and row.endswith("protocol 0.40 | 6.20 | |")


def test_the_report_shows_what_accepting_a_suggestion_costs_with_its_speculation() -> None:
    report = markdown(_measured())
    assert "(its text inserted, a request at its end; 3 accepted), p50 / p95 ms; answered from its" in report
    assert "| 1.20 / 300.00; 2 of 3 |" in report
    assert "median ms | 0.060; 275 |" in report  # 1.2 ms / the follow-up's 20 ms; the speculations' median
    assert "(2 requests): the request's wait for the model, median / most ms" in report
    assert "| 8.00 / 12.00 (0.25); 11.50 / 15.00 |" in report


def test_no_accepted_suggestion_is_said_so() -> None:
    bench = _measured()
    bench.accepted = []
    assert "| after accepting a suggestion: none accepted (no suggestion at the positions tried) |" in markdown(bench)


def test_the_report_shows_the_wait_after_a_cancelled_cold_request() -> None:
    report = markdown(_measured())
    row = next(line for line in report.split("\n") if "after a cold request was cancelled" in line)
    assert "(3)" in row and "| 90; 0.30 |" in row  # median wait 90 ms; median latency 30 ms / cold 100 ms


def test_the_follow_up_target_counts_only_cold_prompts_of_its_size() -> None:
    """The target is stated for prompts of 1,500 tokens or more: a follow-up after a shorter cold prompt (whose
    cold request cost less, so its ratio is higher) is left out of the target's row, and the row says so."""
    bench = _measured()
    bench.follow_up_ratio = [0.2, 0.25, 0.9]
    bench.follow_up_cold_prompt = [1500, 1720, 1499]
    bench.prompt_tokens = [1500, 1720, 1499]
    report = markdown(bench)
    assert (
        "| follow-up / cold latency, median (where the cold prompt had ≥ 1,500 tokens: 2 of 3) | 0.23 | ≤ 0.30 |"
        in (report)
    )
    assert (
        "| prompt tokens at the cold positions, median / fewest | 1500 / 1499 | ≥ 1,500 for the follow-up target |"
        in (report)
    )
