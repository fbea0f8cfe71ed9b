"""mvn test: runs the selected JUnit tests of the function's Maven module (surefire's `-Dtest` filter: each class
with its selected methods, a @Nested class as `Outer$Inner`) from the project's reactor root, offline, with the
user's local repository read-only, and reads surefire's XML reports; a module that does not compile gives the
compiler's errors (what a repair needs)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from atlas_lsp.solve.runs import (
    CASES_SUFFIX,
    NOT_COLLECTED,
    NOT_RUN,
    SKIPPED,
    FinishedRun,
    Limits,
    RunCommand,
    RunPlace,
    TestOutcome,
    TestReport,
)
from atlas_lsp.solve.sandbox import base_environment, run_problem, whole_run_failed
from atlas_lsp.syntax.registry import LanguageSpec

DOES_NOT_COMPILE = "the code does not compile"
WRAPPER = Path(".mvn") / "wrapper" / "maven-wrapper.properties"
_COMPILER_LINE = re.compile(r"^\[ERROR\] (?P<place>\S+\.java):\[(?P<line>\d+),(?P<column>\d+)\] (?P<message>.*)$")
_COMPILER_DETAIL = re.compile(r"^\s+(symbol|location|required|found|reason|where)\b.*:")  # (below an error line)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_OFFLINE_MISSING = ("in offline mode", "has not been downloaded from it before", "Could not resolve dependencies")
CACHE_HINT = (
    "the sandbox builds offline and cannot write to the local repository: run `mvn test` in the project once, so "
    "its plugins and dependencies are in ~/.m2/repository"
)
# Checks a build may bind that say nothing of a function's behaviour and can fail a run for a candidate's style
# (each is a user property of its plugin; one the project does not use is ignored)
SKIPPED_CHECKS = (
    "checkstyle.skip", "spotless.check.skip", "enforcer.skip", "pmd.skip", "cpd.skip", "spotbugs.skip",
    "rat.skip", "license.skip", "maven.javadoc.skip", "maven.source.skip", "gpg.skip", "japicmp.skip",
)  # fmt: skip
# Frames of a failure's stack trace that are the test framework's or the JVM's, not the project's: left out of what
# the repair sees
_FRAMEWORK_FRAMES = (
    "org.junit.", "org.opentest4j.", "org.apache.maven.", "java.base/", "jdk.internal.", "sun.reflect.",
    "java.lang.reflect.", "org.assertj.core.internal.", "org.hamcrest.",
)  # fmt: skip


def reactor_root(root: Path, module: Path) -> Path:
    """The folder Maven builds ``module`` from: the outermost folder above it (within ``root``) whose pom.xml lists,
    through its `<modules>`, the one below it; ``module`` itself when none does."""
    reactor = module
    folder = module
    root = root.resolve()
    while folder != root and root in folder.parents:
        folder = folder.parent
        if (folder / "pom.xml").is_file() and reactor.resolve() in _modules(folder):
            reactor = folder
    return reactor


def _modules(folder: Path) -> set[Path]:
    """The folders of the modules ``folder``'s pom.xml lists (its profiles' too)."""
    try:
        tree = ElementTree.parse(folder / "pom.xml")
    except (ElementTree.ParseError, OSError):
        return set()
    found: set[Path] = set()
    for element in tree.iter():
        if element.tag.rsplit("}", 1)[-1] == "module" and element.text and element.text.strip():
            path = (folder / element.text.strip()).resolve()
            found.add(path.parent if path.name.endswith(".xml") else path)
    return found


def package_of(spec: LanguageSpec, source: bytes) -> str:
    """The package a Java file declares ("" for the default package)."""
    tree = spec.parser().parse(source)
    for node in tree.root_node.named_children:
        if node.type == "package_declaration":
            name = next((child for child in node.named_children if "identifier" in child.type), None)
            return source[name.start_byte : name.end_byte].decode() if name is not None else ""
    return ""


class MavenTestRunner:
    name = "mvn test"
    linked_folders: tuple[str, ...] = ()
    note = ""  # which Maven runs the tests, when it is the project's wrapper's (choose_maven)

    def __init__(self, maven: str, spec: LanguageSpec, module: str, reactor: str) -> None:
        self.maven = maven
        self.spec = spec  # (Java: the test files' package declarations)
        self.module = module  # the folder of the function's pom.xml, relative to the project
        self.reactor = reactor  # the folder Maven runs in (the multi-module build's root, or the module's own)

    def test_class(self, place: RunPlace, node_id: str) -> tuple[str, str]:
        """A test id's class as surefire names it (``com.example.CalcTest$Negative``) and its method."""
        file, *names = node_id.removesuffix(CASES_SUFFIX).split("::")
        try:
            source = place.source(place.workdir / file).read_bytes()
        except OSError:
            source = b""
        package = package_of(self.spec, source)
        classes = "$".join(names[:-1])
        return (f"{package}.{classes}" if package else classes), names[-1] if names else ""

    def command(self, place: RunPlace, node_ids: list[str], limits: Limits) -> RunCommand:
        by_class: dict[str, list[str]] = {}
        for node_id in node_ids:
            test_class, method = self.test_class(place, node_id)
            by_class.setdefault(test_class, []).append(method)
        selected = ",".join(f"{name}#{'+'.join(dict.fromkeys(methods))}" for name, methods in by_class.items())
        reactor = place.workdir / self.reactor
        argv = [self.maven, "--offline", "--batch-mode", "--quiet", "-Dstyle.color=never"]
        if self.module != self.reactor:  # (the module and the modules it needs, from the reactor's root)
            argv += ["--projects", os.path.relpath(place.workdir / self.module, reactor), "--also-make"]
        argv += [
            "test", f"-Dtest={selected}", "-Dsurefire.failIfNoSpecifiedTests=false", "-DfailIfNoTests=false",
            *(f"-D{check}=true" for check in SKIPPED_CHECKS),
        ]  # fmt: skip
        # Maven's own JVM reads the user's settings and local repository (read-only in the sandbox) from the
        # user's home; the tests' JVM sees the run's HOME
        home = Path.home()
        options = " ".join(filter(None, [os.environ.get("MAVEN_OPTS", ""), f"-Duser.home={home}"]))
        environment = {
            **base_environment(place.workdir, [str(Path(self.maven).parent)]),
            "MAVEN_OPTS": options,
            "MAVEN_SKIP_RC": "true",  # (~/.mavenrc and /etc/mavenrc: the user's shell set-up, not the project's)
        }
        if "JAVA_HOME" in os.environ:
            environment["JAVA_HOME"] = os.environ["JAVA_HOME"]
        return RunCommand(argv, environment, None, limit_address_space=False, cwd=reactor)

    def outcomes(self, place: RunPlace, command: RunCommand, node_ids: list[str], run: FinishedRun) -> TestReport:
        reports = place.own(place.workdir / self.module / "target" / "surefire-reports")
        cases = read_reports(reports)
        problem = run_problem(run, (0, 1))
        if not cases:
            compiler = compiler_errors(run.output, place.workdir)
            missing = next((line for line in run.output.split("\n") if any(m in line for m in _OFFLINE_MISSING)), "")
            if not problem and compiler:
                problem = f"{DOES_NOT_COMPILE}:\n{compiler}"
            elif not problem and missing:  # (not the candidate's doing: it changes one method's body)
                problem = f"{NOT_COLLECTED}: Maven could not build them: {_plain(missing)}\n({CACHE_HINT})"
            else:
                return whole_run_failed(run, node_ids, problem or "mvn test ran no test")
            return TestReport([TestOutcome(node_id, False, problem) for node_id in node_ids], 0.0, problem)
        outcomes = []
        for node_id in node_ids:
            test_class, method = self.test_class(place, node_id)
            found = [
                case for case in cases.get(test_class, []) if case[0] == method or case[0].startswith(method + "(")
            ]
            ran = [case for case in found if case[1] != SKIPPED]
            if not found:
                outcomes.append(TestOutcome(node_id, False, f"{NOT_RUN} (no test by that name ran)"))
            elif not ran:
                outcomes.append(TestOutcome(node_id, False, SKIPPED, skipped=True))
            else:
                failures = [f"{name}: {message}" if len(ran) > 1 else message for name, message in ran if message]
                outcomes.append(TestOutcome(node_id, not failures, "\n".join(failures)[-2000:]))
        return TestReport(outcomes, 0.0, problem)


def read_reports(folder: Path) -> dict[str, list[tuple[str, str | None]]]:
    """Each test class's test cases in surefire's XML reports under ``folder``: (name, None when it passed,
    SKIPPED, else its failure: the message and the project's frames of its stack trace)."""
    found: dict[str, list[tuple[str, str | None]]] = {}
    for report in sorted(folder.glob("TEST-*.xml")) if folder.is_dir() else []:
        try:
            tree = ElementTree.parse(report)
        except (ElementTree.ParseError, OSError):
            continue
        for case in tree.iter("testcase"):
            outcome: str | None = None
            for child in case:
                if child.tag in ("failure", "error"):
                    outcome = _failure(child)
                elif child.tag == "skipped" and outcome is None:
                    outcome = SKIPPED
            found.setdefault(case.get("classname", ""), []).append((case.get("name", ""), outcome))
    return found


def _failure(element: ElementTree.Element) -> str:
    """A failure's message and the frames of its stack trace that are the project's own."""
    trace = (element.text or "").strip().split("\n")
    head = trace[0].strip() if trace else ""
    message = element.get("message") or ""
    first = head if message in head or not message else f"{element.get('type', '')}: {message}"
    own = [line.strip() for line in trace[1:] if line.strip().startswith("at ") and not _framework(line)]
    causes = [line.strip() for line in trace[1:] if line.strip().startswith("Caused by:")]
    return "\n".join([first or "failed", *own[:8], *causes[:3]])


def _framework(frame: str) -> bool:
    return frame.strip().removeprefix("at ").startswith(_FRAMEWORK_FRAMES)


def _plain(line: str) -> str:
    return line.strip().removeprefix("[ERROR]").strip()


def compiler_errors(output: str, workdir: Path) -> str:
    """javac's errors in Maven's output, each with its detail lines (``symbol: variable c``) and once (Maven prints
    them twice), with paths relative to the project."""
    errors: list[list[str]] = []
    current: list[str] | None = None
    for raw in output.split("\n"):
        line = _ANSI.sub("", raw).rstrip()
        found = _COMPILER_LINE.match(line.strip())
        if found is not None:
            place = found["place"].removeprefix(f"{workdir}/")
            current = [f"{place}:{found['line']}:{found['column']}: {found['message']}"]
            errors.append(current)
            continue
        detail = line.removeprefix("[ERROR]")
        if current is not None and _COMPILER_DETAIL.match(detail):
            current.append("  " + detail.strip())
        else:
            current = None
    unique = list(dict.fromkeys("\n".join(error) for error in errors))
    return "\n".join(unique[:30])


def maven_version(maven: str) -> str:
    """Which Maven and which Java run the tests ("Apache Maven 3.8.7 on Java 17.0.15"), or why Maven cannot run."""
    try:
        done = subprocess.run([maven, "--batch-mode", "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        return f"{maven} cannot be run: {error}"
    lines = [_ANSI.sub("", line).strip() for line in done.stdout.split("\n")]
    java = next((line.split(",")[0].removeprefix("Java version: ") for line in lines if line.startswith("Java ")), "")
    first = next((line for line in lines if line), done.stderr.strip()[:200])
    return f"{first} on Java {java}" if java else first


@dataclass(frozen=True)
class MavenChoice:
    maven: str | None
    note: str  # which Maven, when it is the project's wrapper's ("" for mvn on PATH)


def wrapper_distribution(folders: list[Path]) -> tuple[Path, str] | None:
    """The Maven distribution the project's Maven Wrapper pins (`.mvn/wrapper/maven-wrapper.properties` in the
    nearest folder above the file that has one): its `mvn` where the wrapper has unpacked it (under
    ``$MAVEN_USER_HOME/wrapper/dists``, default ``~/.m2``) and its name; None when there is no wrapper, or the name
    and no path when the wrapper has not fetched it (it would download it, and the runs are offline)."""
    properties = next((f / WRAPPER for f in folders if (f / WRAPPER).is_file()), None)
    if properties is None:
        return None
    try:
        lines = properties.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    url = next((line.split("=", 1)[1].strip() for line in lines if line.strip().startswith("distributionUrl")), "")
    name = url.replace("\\:", ":").rsplit("/", 1)[-1].removesuffix(".zip").removesuffix(".tar.gz")
    if not name:
        return None
    dists = Path(os.environ.get("MAVEN_USER_HOME", Path.home() / ".m2")) / "wrapper" / "dists"
    unpacked = sorted((dists / name).glob("*/*/bin/mvn")) + sorted((dists / name).glob("*/bin/mvn"))
    return (unpacked[0] if unpacked else Path()), name


def choose_maven(folders: list[Path]) -> MavenChoice:
    """The Maven that runs the project's tests: the one its Maven Wrapper pins where the wrapper has fetched it
    (the version the project builds with), else ``mvn`` on PATH, else in MAVEN_HOME's or M2_HOME's bin folder."""
    pinned = wrapper_distribution(folders)
    if pinned is not None and pinned[0].name == "mvn":
        return MavenChoice(str(pinned[0]), f"the tests run with {pinned[1]}, which the project's Maven Wrapper pins")
    found = shutil.which("mvn") or next(
        (
            str(candidate)
            for variable in ("MAVEN_HOME", "M2_HOME")
            if (candidate := Path(os.environ.get(variable, "/nonexistent")) / "bin" / "mvn").is_file()
        ),
        None,
    )
    if pinned is not None and found is not None:  # (a Maven the wrapper has not fetched: run ./mvnw once)
        return MavenChoice(
            found, f"the project's Maven Wrapper pins {pinned[1]}, not fetched yet: the tests run with {found}"
        )
    return MavenChoice(found, "")


def find_maven() -> str | None:
    """``mvn`` on PATH, else in MAVEN_HOME's or M2_HOME's bin folder (no project: what `doctor` reports)."""
    return choose_maven([]).maven
