"""`atlas-lsp solve path/file.py::func` (or .js, .ts, .rs, .go): the verified loop from a shell. Progress to stderr;
the diff and the evidence to stdout; the file changes only with --apply. With --check: no model, the selected tests
run once on the function as it is."""

from __future__ import annotations

import asyncio
import difflib
import json
import logging
from pathlib import Path
from typing import IO

from atlas_lsp.config import ModelSettings, SolveSettings
from atlas_lsp.model.backend import CancelToken
from atlas_lsp.model.service import ModelService
from atlas_lsp.solve.loop import SolveResult, replace_function
from atlas_lsp.solve.service import SolveError, SolveRequest, SolveService, project_root
from atlas_lsp.syntax.registry import load_registry

logger = logging.getLogger(__name__)


def result_json(result: SolveResult, path: str) -> dict[str, object]:
    best = result.best
    return {
        "file": path,
        "function": result.target.name,
        "passed": result.passed,
        "evidence": result.evidence(),
        "tests": result.tests,
        "tests_label": result.tests_label,
        "model_calls": result.model_calls,
        "test_runs": result.test_runs,
        "seconds": round(result.seconds, 2),
        "cancelled": result.cancelled,
        "best": None
        if best is None
        else {
            "origin": best.origin,
            "code": best.code,
            "passed": best.report.passed if best.report else 0,
            "total": best.report.total if best.report else 0,
            "skipped": best.report.skipped if best.report else 0,
        },
        "candidates": [
            {
                "origin": c.origin,
                "passed": c.report.passed if c.report else 0,
                "total": c.report.total if c.report else 0,
                "problem": c.invalid or (c.report.problem if c.report else ""),
            }
            for c in result.candidates
        ],
    }


def _split_location(location: str) -> tuple[Path, str, str] | None:
    """(path, its text, the function's name) of ``path/file.py::function``; None (logged) when unusable."""
    file_part, _, name = location.rpartition("::")
    if not file_part or not name:
        logger.error("expected path/file.py::function (or .js, .ts, .rs, .go), got %r", location)
        return None
    path = Path(file_part).resolve()
    try:
        return path, path.read_text(encoding="utf-8"), name
    except (OSError, UnicodeDecodeError) as error:
        logger.error("cannot read %s: %s", path, error)
        return None


def check_command(location: str, settings: SolveSettings, as_json: bool, out: IO[str]) -> int:
    """`atlas-lsp solve FILE::function --check`: the tests a solve would select (and the runner), run once on the
    function as it is, without a model. 0 when they all pass, 1 when one does not, 2 when nothing can run."""
    found_location = _split_location(location)
    if found_location is None:
        return 2
    path, text, name = found_location
    service = SolveService(load_registry(), None)
    request = SolveRequest(str(path), text, project_root(path, []), {}, name=name)
    try:
        found, report = service.check(request, settings, lambda message: logger.info("%s", message))
    except SolveError as error:
        logger.error("%s", error)
        return 2
    tests = [{"id": o.node_id, "passed": o.passed, "skipped": o.skipped, "message": o.message} for o in report.outcomes]
    if as_json:
        summary = {"file": str(path), "function": found.target.name, "runner": found.runner.name}
        summary |= {"tests_label": found.label, "tests": tests, "problem": report.problem}
        summary |= {"passed": report.passed, "total": report.total, "skipped": report.skipped}
        out.write(json.dumps(summary, indent=2) + "\n")
    else:
        out.write(f"{found.target.name} in {path}: {found.label}, run with {found.runner.name}\n")
        for test in tests:
            verdict = "SKIP" if test["skipped"] else ("PASS" if test["passed"] else "FAIL")
            out.write(f"  {verdict} {test['id']}\n")
            lines = [line for line in str(test["message"]).split("\n") if line.strip()] if verdict == "FAIL" else []
            out.writelines(f"      {line}\n" for line in lines[:8])  # (the start of why: the whole is in --json)
        if report.problem:
            out.write(f"problem: {report.problem}\n")
        out.write(f"{report.passed}/{report.total} pass" + (f" ({report.skipped} skipped)" if report.skipped else ""))
        out.write(f", {report.seconds:.1f} s\n")
    return 0 if report.all_passed else 1


async def solve_command(
    location: str, model: ModelSettings, settings: SolveSettings, as_json: bool, apply: bool, out: IO[str]
) -> int:
    found_location = _split_location(location)
    if found_location is None:
        return 2
    path, text, name = found_location
    models = ModelService(on_status=lambda status: logger.info("model: %s", status.message))
    try:
        status = await models.load(model)
        if status.state != "ready":
            logger.error("%s", status.message)
            return 1
        service = SolveService(load_registry(), models.worker)
        request = SolveRequest(str(path), text, project_root(path, []), {}, name=name)
        info = models.info
        try:
            result = await asyncio.to_thread(
                service.solve,
                request,
                settings,
                lambda message: logger.info("%s", message),
                CancelToken(),
                info.chat_template if info else None,
            )
        except SolveError as error:
            logger.error("%s", error)
            return 1
    finally:
        models.close()
    new_text = replace_function(text, result.target, result.best.code) if result.best else text
    if as_json:
        out.write(json.dumps(result_json(result, str(path)), indent=2) + "\n")
    else:
        diff = difflib.unified_diff(
            text.splitlines(keepends=True), new_text.splitlines(keepends=True), str(path), str(path) + " (proposed)"
        )
        out.writelines(diff)
        out.write(("PASS: " if result.passed else "NO PASSING CANDIDATE: ") + result.evidence() + "\n")
    if apply and result.best is not None:
        if not result.passed:
            logger.warning("applying a candidate that did not pass every selected test (--apply)")
        path.write_text(new_text, encoding="utf-8")
        logger.info("applied to %s", path)
    return 0 if result.passed else 3
