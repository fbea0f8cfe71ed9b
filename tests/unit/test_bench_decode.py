"""`atlas-lsp bench decode` on the real bundled model, small: it runs each setting and reports what it measured."""

from __future__ import annotations

import math

from atlas_lsp.bench import decode


def test_the_decode_benchmark_compares_both_settings_on_the_same_prompts() -> None:
    result = decode.run(count=2, prompt_chars=800)
    assert len(result.plain.follow_up) == len(result.guessing.follow_up) == 2
    assert result.plain.tokens == result.plain.steps  # guessing off: one token per model step
    assert result.guessing.steps <= result.guessing.tokens
    assert 0 < result.plain.follow_up_steps == result.plain.follow_up_tokens < result.plain.tokens
    assert 1 in result.step_ms and all(ms > 0 for ms in result.step_ms.values())
    assert sum(result.mode_runs.values()) == 4 and set(result.mode_runs) <= {"guess", "plain"}
    assert math.isfinite(result.logit_spread) and result.logit_spread >= 0
    assert not result.flash_default and len(result.flash_other.follow_up) == 2  # on a CPU auto is off: on compared
    assert result.flash_other.decode_tokens > 0
    report = decode.markdown(result)
    assert "| generated tokens per model step | 1.00 |" in report
    assert "model.draftTokens 8" in report and "nan" not in report
    assert '"auto" chose off on this device' in report and "| outputs identical |" in report
    park = result.park  # what a cold request pays to set the previous prompt aside
    assert park is not None and park.tokens > 100 and park.megabytes > 1
    assert 0 < park.used.spare_ms and 0 < park.used.fresh_ms and 0 < park.used.restore_ms
    assert f"parking a prompt's KV state ({park.tokens} tokens" in report
    assert park.memory == "ordinary memory" and park.ordinary is None  # on a CPU: nothing pinned to compare
    assert "in ordinary memory (what parking uses here)" in report and "pageable" not in report
