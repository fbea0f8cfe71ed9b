"""Run a candidate against the selected tests in a throw-away copy of the project, with limits.

The copy has every unsaved buffer applied and the function replaced; the user's files are never touched. Where the
OS allows namespaces (as root, or through an unprivileged user namespace) the run sees a read-only filesystem except
its copy, no network, and no process outside itself; everywhere it runs in its own session with CPU, memory,
file-size and process limits, a wall-clock timeout and a scrubbed environment, and is killed by process group. Where
the OS allows overlay mounts there too (Linux 5.11 and later) the copy is an overlay: the run sees the project in its
own folder with the candidate's own files over it, and what it writes lands in the candidate's folder, so nothing is
copied, a project of any size runs, and paths leading out of the project lead where they do; elsewhere (or with
`solve.copyProject`) the project is copied.
What a run means is the runner's to read (solve/runners/): pytest's JUnit XML report, node:test's events, cargo
test's result lines.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from atlas_lsp.context.index import SKIPPED_DIRS
from atlas_lsp.model.backend import CancelToken
from atlas_lsp.solve.runs import FinishedRun, Limits, RunPlace, TestOutcome, TestReport, TestRunner

logger = logging.getLogger(__name__)
MAX_COPY_BYTES = 5 * 1024 * 1024  # files larger than this are linked into the sandbox's copy (see copy_project)
# each candidate's tests run in a fresh copy of the project: a project with more to copy is refused (a home
# directory taken for the project would fill the disk)
MAX_PROJECT_FILES = 20_000
MAX_PROJECT_BYTES = 1024 * 1024 * 1024
# The parent that the untrusted test process sees. A candidate that kills its parent kills this process, not the
# server; the server then kills the whole process group and reports the candidate as failed. Inline code, so it
# needs nothing importable by the (possibly unprivileged) sandbox user.
GUARD = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"
OUTPUT_TAIL_BYTES = 64 * 1024  # of the test run's console output, the end kept (shown when there is no report)


class _OutputTail:
    """Reads a test run's console output as it comes, on a thread, keeping its last OUTPUT_TAIL_BYTES: the pipe
    never fills (a run whose failing test printed more than a pipe holds, 64 KiB, used to block on its write until
    the wall-clock limit killed it, and was reported as timed out), and a run that prints without end costs at
    most twice that memory."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._tail = bytearray()
        self._thread = threading.Thread(target=self._read, name="sandbox-output", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while chunk := self._stream.read1(OUTPUT_TAIL_BYTES):
                self._tail += chunk
                if len(self._tail) > 2 * OUTPUT_TAIL_BYTES:
                    del self._tail[:-OUTPUT_TAIL_BYTES]
        except (OSError, ValueError):  # the stream closed under it (after a join that timed out): what came stays
            return

    def tail(self, wait_s: float = 5.0) -> bytes:
        """The output's end, once the pipe is closed (every writer gone), or what came within ``wait_s``."""
        self._thread.join(wait_s)
        return bytes(self._tail[-OUTPUT_TAIL_BYTES:])


class ProjectTooLarge(Exception):
    """The project has more to copy than MAX_PROJECT_FILES or MAX_PROJECT_BYTES."""


def _skipped(folder: str, name: str, keep_links: bool) -> bool:
    """Left out of the copy: VCS, virtualenvs, caches, node_modules, and links unless ``keep_links``."""
    if name in SKIPPED_DIRS or name.endswith(".egg-info"):
        return True
    return not keep_links and os.path.islink(os.path.join(folder, name))


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:  # gone meanwhile, or unreadable: copytree reports it, if it still matters
        return 0


def check_copy_size(
    root: Path, max_files: int | None = None, max_bytes: int | None = None, link_large: bool | None = None
) -> None:
    """Raise ProjectTooLarge when `copy_project` would copy more than ``max_files`` files or ``max_bytes`` from
    ``root`` (default: MAX_PROJECT_FILES, MAX_PROJECT_BYTES; it stops counting there)."""
    max_files = MAX_PROJECT_FILES if max_files is None else max_files
    max_bytes = MAX_PROJECT_BYTES if max_bytes is None else max_bytes
    link = _links_are_safe() if link_large is None else link_large
    files = size = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = [name for name in dirs if not _skipped(folder, name, link)]
        for name in names:
            path = os.path.join(folder, name)
            if _skipped(folder, name, link) or os.path.islink(path):
                continue
            files += 1
            file_size = _size(path)
            size += 0 if link and file_size > MAX_COPY_BYTES else file_size
        if files > max_files or size > max_bytes:
            raise ProjectTooLarge(
                f"{root} is too large to copy for each candidate's test run (over {max_files:,} files or "
                f"{max_bytes // (1024 * 1024):,} MB): open the project's own folder (one with a pyproject.toml, "
                "setup.py or .git)"
            )


def _links_are_safe() -> bool:
    """Test runs see the filesystem read-only outside their copy (see isolation_prefix): a link from the copy to an
    original file lets them read it, never write it."""
    return bool(isolation_prefix())


def copy_project(
    root: Path,
    destination: Path,
    overlays: dict[str, str],
    link_large: bool | None = None,
    linked_folders: tuple[str, ...] = (),
) -> None:
    """Copy ``root`` (without VCS, virtualenvs, caches or node_modules), then write ``overlays`` (absolute path ->
    text: unsaved buffers and the candidate) over it. Where test runs cannot write outside their copy
    (``link_large``, default: `_links_are_safe`), a file over MAX_COPY_BYTES (a data set the tests read) is linked
    instead of copied, and the project's own links are kept; elsewhere big files are copied and links left out.
    Folders named in ``linked_folders`` (a runner's installed packages: node_modules), wherever they are, are linked
    to the originals instead of left out."""
    link = _links_are_safe() if link_large is None else link_large
    to_link: list[tuple[str, str]] = []  # (the original folder, its place in the copy)

    def ignore(folder: str, names: list[str]) -> set[str]:
        for name in names:
            if name in linked_folders and os.path.isdir(os.path.join(folder, name)):
                target = os.path.join(destination, os.path.relpath(folder, root), name)
                to_link.append((os.path.realpath(os.path.join(folder, name)), target))
        return {name for name in names if _skipped(folder, name, link) or name in linked_folders}

    def copy(source: str, target: str) -> None:
        if link and _size(source) > MAX_COPY_BYTES:
            os.symlink(os.path.abspath(source), target)
        else:
            shutil.copy2(source, target)

    shutil.copytree(root, destination, ignore=ignore, copy_function=copy, symlinks=link, dirs_exist_ok=True)
    for original, target in to_link:
        os.symlink(original, target)
    write_overlays(root, destination, overlays)


def write_overlays(root: Path, destination: Path, overlays: dict[str, str]) -> None:
    """Write ``overlays`` (absolute path -> text), those of files under ``root``, at their places in ``destination``."""
    for original, text in overlays.items():
        try:
            relative = Path(original).resolve().relative_to(root.resolve())
        except ValueError:  # an open buffer of another project, an unsaved one, a notebook cell: not this copy's
            continue
        write_into_copy(destination / relative, text)


def write_into_copy(target: Path, text: str) -> None:
    """Write ``text`` at ``target`` in a copy, replacing a link there (never writing through it to the original)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink():
        target.unlink()
    target.write_text(text, encoding="utf-8")


# Inside new mount, network and PID namespaces: make the whole filesystem read-only except the solve job's folder
# ($0: the candidate's copy and the job's shared build cache), so untrusted code can write nowhere else, reach no
# network, and see or signal no process outside its run. `sh` stays as the namespace's first process (immune to
# signals from inside), so a candidate that kills its parent kills the guard below it, and the run ends with that
# status instead of carrying on.
_CONFINE = 'mount --bind "$0" "$0" && mount -o remount,bind,ro / && cd "$(pwd)" && "$@"'
# The same with an overlay instead of a copy, mounted over the project's own folder ($1: the run sees the project
# where it is, so paths that lead out of it, a `path = "../common"` dependency, still lead where they do), $2 the
# candidate's own folder (its files over the project's; what the run writes or deletes lands there, where the server
# reads it after the run, the overlay gone with the namespace), $3 the overlay's work folder (beside it).
_CONFINE_OVERLAY = (
    'mount --bind "$0" "$0" && mount -o remount,bind,ro / && '
    'mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$1" && cd "$(pwd)" && shift 3 && "$@"'
)
_NAMESPACES = ["--mount", "--net", "--pid", "--fork", "--mount-proc", "--propagation", "private"]


@functools.cache
def isolation_prefix() -> tuple[str, ...]:
    """`unshare` arguments that confine a test run, as root or through an unprivileged user namespace; empty
    (limits, own session and process-group kill only) where the OS allows neither."""
    unshare = shutil.which("unshare")
    if unshare is None:
        logger.warning("sandbox: `unshare` not found; tests run without filesystem and network isolation")
        return ()
    # A user namespace first, even as root: there the process limit (RLIMIT_NPROC) holds, so a fork bomb stops.
    tries = [[unshare, "--user", "--map-root-user", *_NAMESPACES]]
    if os.geteuid() == 0:
        tries.append([unshare, *_NAMESPACES])
    for prefix in tries:
        probe_dir = tempfile.mkdtemp(prefix="atlas-probe-")
        try:
            done = subprocess.run(
                [*prefix, "--", "sh", "-c", _CONFINE, probe_dir, "true"], capture_output=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            continue
        finally:
            shutil.rmtree(probe_dir, ignore_errors=True)
        if done.returncode == 0:
            return (*prefix, "--")
    logger.warning("sandbox: namespaces unavailable; tests run without filesystem and network isolation")
    return ()


def overlay_work(upper: Path) -> Path:
    """The overlay's work folder for a candidate's own folder (on the same filesystem, outside it)."""
    return upper.with_name(upper.name + "-work")


def overlay_works(project: Path) -> bool:
    """Whether runs can see ``project`` through an overlay instead of a copy: confined runs (isolation_prefix), a
    kernel that lets their namespace mount an overlay (Linux 5.11 and later), a project folder an overlay can lie
    over (a network filesystem may not be), a path its mount options can hold (no comma or colon), and one that does
    not hold the candidates' own folders (the temporary folder, or `/`). Tried once."""
    prefix = isolation_prefix()
    if not prefix or not project.is_dir() or any(mark in str(project) for mark in ",:\\\n"):
        return False
    if Path(tempfile.gettempdir()).resolve().is_relative_to(project.resolve()):
        return False
    probe_dir = Path(tempfile.mkdtemp(prefix="atlas-probe-"))
    upper = probe_dir / "candidate"
    upper.mkdir()
    overlay_work(upper).mkdir()
    script = [str(probe_dir), str(project), str(upper), str(overlay_work(upper))]
    try:
        done = subprocess.run([*prefix, "sh", "-c", _CONFINE_OVERLAY, *script, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        remove_tree(probe_dir)
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip()[-200:]
        logger.info("sandbox: no overlay over %s (%s); each candidate gets a copy", project, why)
    return done.returncode == 0


def sandbox_summary() -> str:
    """How test runs are confined here, in a line (`atlas-lsp doctor`)."""
    with tempfile.TemporaryDirectory(prefix="atlas-doctor-") as folder:
        overlay = overlay_works(Path(folder))
    view = (
        "each candidate sees the project through an overlay (nothing copied)"
        if overlay
        else "each candidate gets a copy of the project (no overlay mounts here: Linux 5.11+)"
    )
    if not isolation_prefix():
        return f"not isolated (no namespaces here: unshare missing or not allowed), limits only; {view}"
    return f"isolated (a read-only filesystem but its own folder, no network, no process outside it); {view}"


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything in it, folders without permissions included (an overlay's work folder, which
    the kernel leaves with mode 000; a folder a test run made read-only)."""

    def unlock(_function: object, failed: str, error: tuple[type, BaseException, object]) -> None:
        if not isinstance(error[1], PermissionError) or not Path(failed).is_relative_to(path):
            return
        with contextlib.suppress(OSError):  # (what cannot be removed even so stays: the rest goes)
            os.chmod(os.path.dirname(failed), 0o700)
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, 0o700)
                shutil.rmtree(failed, ignore_errors=True)
            else:
                os.unlink(failed)

    shutil.rmtree(path, onerror=unlock)


def _limit(limits: Limits, address_space: bool) -> Callable[[], None]:
    """The limits, applied in the child before it runs the command. Memory: the address space (``address_space``),
    else the data segment (private writable memory: what a run really uses; a runtime that reserves more address
    space than it uses, as WebAssembly does, runs under it)."""
    memory = resource.RLIMIT_AS if address_space else resource.RLIMIT_DATA

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.setrlimit(memory, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def import_root(place: RunPlace, relative: Path) -> Path:
    """The folder Python imports the module at ``relative`` (in the run's ``place.workdir``) from: the one above its
    outermost package (folders with an ``__init__.py``), e.g. ``src`` in a src layout."""
    folder = (place.workdir / relative).parent
    while folder != place.workdir and place.source(folder / "__init__.py").is_file():
        folder = folder.parent
    return folder


def base_environment(workdir: Path, path_folders: list[str]) -> dict[str, str]:
    """What every run's environment starts from (nothing of the server's own): ``path_folders`` first on PATH, the
    copy for HOME and TMPDIR."""
    return {
        "PATH": ":".join(dict.fromkeys([*path_folders, "/usr/local/bin", "/usr/bin", "/bin"])),
        "HOME": str(workdir),
        "TMPDIR": str(workdir / ".tmp"),
        "LANG": "C.UTF-8",
    }


def run_confined(
    argv: list[str],
    place: RunPlace,
    environment: dict[str, str],
    limits: Limits,
    cancel: CancelToken | None = None,
    address_space: bool = True,
    cwd: Path | None = None,
) -> FinishedRun:
    """Run ``argv`` in ``place.workdir`` under the limits, confined where the OS allows (see isolation_prefix:
    writable are the candidate's own folder, its copy or its overlay's upper layer, and the job's shared folder,
    both under one folder), and killed with its whole process group when it ends, times out or is cancelled; never
    raises for what the command does."""
    started = time.monotonic()
    place.own(place.workdir / ".tmp").mkdir(exist_ok=True)
    prefix = isolation_prefix()
    own = place.upper or place.workdir  # the candidate's own folder: its copy, or its overlay's upper layer
    writable = os.path.commonpath([own, place.shared])  # (the overlay's work folder is beside it)
    confine = ["sh", "-c", _CONFINE, writable] if prefix else []
    if place.upper is not None:  # (the run would be in the project itself without the overlay: never unconfined)
        if not prefix:
            return FinishedRun(
                None, "", "an overlay needs a confined run (namespaces), which this system does not allow"
            )
        work = str(overlay_work(place.upper))
        confine = ["sh", "-c", _CONFINE_OVERLAY, writable, str(place.workdir), str(place.upper), work]
    command = [*prefix, *confine, limits.python, "-c", GUARD, *argv]
    process = subprocess.Popen(
        command,
        cwd=cwd or place.workdir,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_limit(limits, address_space),
    )
    assert process.stdout is not None
    output_tail = _OutputTail(process.stdout)  # type: ignore[arg-type]
    problem = ""
    try:
        while True:
            try:
                process.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() - started > limits.wall_seconds:
                    problem = f"timed out after {limits.wall_seconds:.0f} s (killed)"
                    break
                if cancel is not None and cancel.cancelled:
                    problem = "cancelled"
                    break
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the whole group: forks, grandchildren, orphans
        except ProcessLookupError:
            pass
        process.wait()
        output = output_tail.tail()
        process.stdout.close()
    return FinishedRun(None if problem else process.returncode, output.decode("utf-8", errors="replace"), problem)


def run_problem(run: FinishedRun, normal_exits: tuple[int, ...]) -> str:
    """Why the run as a whole failed: stopped (timeout, cancel), its guard killed (by the candidate, usually), or an
    exit status the runner never ends with by itself; "" for one of ``normal_exits``."""
    if run.problem or run.returncode in normal_exits:
        return run.problem
    if run.returncode in (-9, 137, 128 + 15, -15):
        return "the test run was killed from inside (did the candidate kill its parent?)"
    return f"the test run ended abnormally (exit {run.returncode})"


def whole_run_failed(run: FinishedRun, node_ids: list[str], problem: str) -> TestReport:
    """Every test failed with ``problem`` and the end of the run's output (no report to read)."""
    tail = run.output.strip().split("\n")[-15:]
    problem = problem + "\n" + "\n".join(tail)
    return TestReport([TestOutcome(node_id, False, problem) for node_id in node_ids], 0.0, problem)


class Sandbox:
    """Fresh copies of one project for one solve job (each candidate gets its own), tested by one runner."""

    def __init__(
        self,
        root: Path,
        buffers: dict[str, str],
        limits: Limits,
        runner: TestRunner | None = None,
        environment: dict[str, str] | None = None,
        overlay: bool | None = None,
    ) -> None:
        """``runner``: pytest unless given; ``environment``: the user's variables for the runs (`solve.passEnv`,
        `solve.env`), under those the runner sets; ``overlay``: whether the runs see the project through an overlay
        instead of a copy (default: where the OS allows it, overlay_works)."""
        self.overlay = overlay_works(root) if overlay is None else overlay and bool(isolation_prefix())
        if not self.overlay:
            check_copy_size(root)  # (raises ProjectTooLarge)
        if runner is None:
            from atlas_lsp.solve.runners.pytest_runner import PytestRunner  # (it builds on this module)

            runner = PytestRunner()
        self.root = root
        self.buffers = buffers
        self.limits = limits
        self.runner = runner
        self.environment = dict(environment or {})
        self._base = Path(tempfile.mkdtemp(prefix="atlas-solve-"))
        self._shared = self._base / "shared"  # kept across the job's candidates (a build cache)
        self._shared.mkdir()
        self._count = 0

    def run(
        self, overlays: dict[str, str], node_ids: list[str], extra_files: dict[str, str], cancel: CancelToken | None
    ) -> TestReport:
        self._count += 1
        own = self._base / f"candidate-{self._count}"  # the candidate's own folder: its copy, or its overlay's upper
        if self.overlay:  # (the run sees the project in its own folder with these files over it: nothing to copy)
            own.mkdir()
            overlay_work(own).mkdir()
            write_overlays(self.root, own, {**self.buffers, **overlays})
            place = RunPlace(self.root.resolve(), self._shared, (), own)
        else:  # (linked folders are read-only to runs where they are confined; see isolation_prefix)
            copy_project(self.root, own, {**self.buffers, **overlays}, linked_folders=self.runner.linked_folders)
            place = RunPlace(own, self._shared)
        for relative, text in extra_files.items():
            write_into_copy(place.own(place.workdir / relative), text)
        roots = []
        for path in overlays:
            try:
                roots.append(import_root(place, Path(path).resolve().relative_to(self.root.resolve())))
            except ValueError:
                continue  # (not in the project)
        place = replace(place, import_roots=tuple(roots))
        started = time.monotonic()
        try:
            command = self.runner.command(place, node_ids, self.limits)
            environment = {**command.defaults, **self.environment, **command.environment}
            limits = (
                self.limits if command.memory_bytes is None else replace(self.limits, memory_bytes=command.memory_bytes)
            )
            finished = run_confined(
                command.argv, place, environment, limits, cancel, command.limit_address_space, command.cwd
            )
            written = replace(command, report=place.own(command.report)) if command.report else command
            report = self.runner.outcomes(place, written, node_ids, finished)
            report.seconds = time.monotonic() - started
            return report
        finally:
            remove_tree(own)  # (never place.workdir: with an overlay, that is the project itself)
            if self.overlay:
                remove_tree(overlay_work(own))

    def close(self) -> None:
        remove_tree(self._base)
