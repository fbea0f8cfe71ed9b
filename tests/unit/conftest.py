"""On the GPU machine (scripts/gpu-bench.sh sets ATLAS_TEST_MODEL), only the tests of the loaded model run: the
others need what only this machine has (the bundled model's package, the editors)."""

from __future__ import annotations

import os

import pytest

import atlas_lsp  # noqa: F401 - loads llama.cpp before any test module imports numpy (atlas_lsp/native.py)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not os.environ.get("ATLAS_TEST_MODEL"):
        return
    kept = [item for item in items if "backend" in getattr(item, "fixturenames", ())]
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = kept
