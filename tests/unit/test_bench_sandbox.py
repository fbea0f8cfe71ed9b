"""`atlas-lsp bench sandbox`, small: both ways run the candidate to a pass, and the project over the copy's limits is
refused by a copy and run through the overlay."""

from __future__ import annotations

import pytest

from atlas_lsp.bench import sandbox
from atlas_lsp.solve import sandbox as sandbox_module


def test_the_sandbox_benchmark_runs_candidates_copied_and_overlaid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_module, "MAX_PROJECT_FILES", 30)
    result = sandbox.run(files=20, rounds=2, large_files=40)
    assert result.overlay_available and result.overlay is not None and result.large_overlay is not None
    assert (result.copy.passed, result.overlay.passed, result.large_overlay.passed) == (2, 2, 2)
    assert result.large_copy_refused
    assert all(0 <= seconds < whole for seconds, whole in zip(result.copy.preparation, result.copy.whole, strict=True))
    report = sandbox.markdown(result)
    assert "| runs whose test passed (copy / overlay) | 2/2 / 2/2 |" in report
    assert "A project of 40 files (the copy's limit: 30):" in report and "2/2 passed; a copy refused it." in report
    assert "nan" not in report
