"""Java: the selected JUnit tests of a Maven project run with the real Maven and JDK (from this machine's Debian
packages) offline against the local repository (~/.m2), each candidate in its own view of the project."""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from atlas_lsp.solve.loop import replace_function
from atlas_lsp.solve.runners import RunnerUnavailable, runner_for
from atlas_lsp.solve.runners.maven_test import MavenTestRunner, compiler_errors
from atlas_lsp.solve.runs import Limits
from atlas_lsp.solve.sandbox import Sandbox
from atlas_lsp.solve.service import project_root
from atlas_lsp.syntax.registry import LanguageRegistry, load_registry
from tests.unit.test_runners import prepare, run_candidates

# plugin and JUnit versions this machine's local repository holds with everything they need (the runs are offline)
PLUGINS = """  <build>
    <plugins>
      <plugin><artifactId>maven-resources-plugin</artifactId><version>3.3.1</version></plugin>
      <plugin><artifactId>maven-compiler-plugin</artifactId><version>3.13.0</version></plugin>
      <plugin><artifactId>maven-surefire-plugin</artifactId><version>3.2.5</version></plugin>
    </plugins>
  </build>
"""
JUNIT = """    <dependency>
      <groupId>org.junit.jupiter</groupId>
      <artifactId>junit-jupiter</artifactId>
      <version>5.11.4</version>
      <scope>test</scope>
    </dependency>
"""


def pom(artifact: str, dependencies: str = JUNIT, extra: str = "") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.example</groupId>
  <artifactId>{artifact}</artifactId>
  <version>1.0</version>
  <properties>
    <maven.compiler.release>17</maven.compiler.release>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
{extra}  <dependencies>
{dependencies}  </dependencies>
{PLUGINS}</project>
"""


CALC = """package com.example;

public class Calc {
    /** The sum of a and b. */
    public static int add(int a, int b) {
        throw new UnsupportedOperationException("TODO");
    }

    public static int twice(int a) {
        return 2 * a;
    }
}
"""
CALC_TESTS = """package com.example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CalcTest {
    @Test
    void addsSmallNumbers() {
        assertEquals(3, Calc.add(1, 2));
    }

    @Test
    void doublesANumber() {
        assertEquals(4, Calc.twice(2));
    }

    @ParameterizedTest
    @CsvSource({"1, 1, 2", "2, 3, 5"})
    void addsPairs(int a, int b, int sum) {
        assertEquals(sum, Calc.add(a, b));
    }

    @Test
    @Disabled("slow")
    void addsManyNumbers() {
        assertEquals(10, Calc.add(Calc.add(1, 2), Calc.add(3, 4)));
    }

    @Test
    void addsOnAnotherMachine() {
        assumeTrue(System.getenv("NO_SUCH_VARIABLE") != null);
        assertEquals(0, Calc.add(0, 0));
    }

    @Nested
    class Negative {
        @Test
        void addsNegatives() {
            assertEquals(-3, Calc.add(-1, -2));
        }
    }
}
"""
OTHER_TESTS = """package com.example.more;

import com.example.Calc;
import org.junit.jupiter.api.Assertions;

public class MoreTest {
    @org.junit.jupiter.api.Test
    public void addsZero() {
        Assertions.assertEquals(5, Calc.add(5, 0));
    }
}
"""
ADD = "public static int add(int a, int b) {{\n        {}\n    }}"
STUB = 'throw new UnsupportedOperationException("TODO");'
SUM = "return a + b;"


@functools.cache
def prime_local_repository() -> None:
    """Build and test a project of these plugins and JUnit once outside the sandbox, as a user builds theirs before
    solving: where the local repository lacks them, Maven downloads them now (the sandbox's runs are offline)."""
    project = Path(tempfile.mkdtemp(prefix="atlas-maven-"))
    try:
        maven_project(project, prime=False)
        (project / "src" / "main" / "java" / "com" / "example" / "Calc.java").write_text(CALC.replace(STUB, SUM))
        for mode in ("--offline", "--update-snapshots"):  # (offline first: what is there is enough, asks nothing)
            done = subprocess.run(
                ["mvn", "--batch-mode", "--quiet", mode, "test"],
                cwd=project,
                capture_output=True,
                text=True,
                timeout=600,
            )
            if done.returncode == 0:
                return
        raise AssertionError(done.stdout[-3000:] + done.stderr[-2000:])
    finally:
        shutil.rmtree(project, ignore_errors=True)


def maven_project(root: Path, artifact: str = "calc", prime: bool = True) -> Path:
    if prime:
        prime_local_repository()
    main = root / "src" / "main" / "java" / "com" / "example"
    tests = root / "src" / "test" / "java" / "com" / "example"
    main.mkdir(parents=True)
    (tests / "more").mkdir(parents=True)
    (root / "pom.xml").write_text(pom(artifact))
    (main / "Calc.java").write_text(CALC)
    (tests / "CalcTest.java").write_text(CALC_TESTS)
    (tests / "more" / "MoreTest.java").write_text(OTHER_TESTS)
    return main / "Calc.java"


@pytest.fixture(scope="module")
def registry() -> LanguageRegistry:
    return load_registry()


def test_maven_candidates_pass_fail_and_do_not_compile(registry: LanguageRegistry, tmp_path: Path) -> None:
    path = maven_project(tmp_path)
    found = prepare(registry, path, tmp_path, "add")
    assert isinstance(found.runner, MavenTestRunner)
    tests = "src/test/java/com/example/"
    assert found.node_ids == [  # (not the test of twice, nor the @Disabled one)
        f"{tests}CalcTest.java::CalcTest::addsSmallNumbers",
        f"{tests}CalcTest.java::CalcTest::addsPairs (cases)",
        f"{tests}CalcTest.java::CalcTest::addsOnAnotherMachine",
        f"{tests}CalcTest.java::CalcTest::Negative::addsNegatives",
        f"{tests}more/MoreTest.java::MoreTest::addsZero",
    ]
    # (each shown to the model as it reads on its own: its first line's indentation given back, all dedented)
    assert found.test_sources[0] == "@Test\nvoid addsSmallNumbers() {\n    assertEquals(3, Calc.add(1, 2));\n}"
    right, wrong, broken = run_candidates(
        found, tmp_path, path, [ADD.format("return a + b;"), ADD.format("return a - b;"), ADD.format("return c;")]
    )
    assert right.all_passed and (right.passed, right.total, right.skipped) == (4, 4, 1), right
    assert (wrong.passed, wrong.total) == (1, 4), wrong  # (adding zero only)
    failure = wrong.failure_text(4000)
    assert "CalcTest::addsSmallNumbers failed:\norg.opentest4j.AssertionFailedError: expected: <3> but was: <-1>" in (
        failure
    )
    assert "at com.example.CalcTest.addsSmallNumbers(CalcTest.java:15)" in failure  # (the test's own frame)
    assert "org.junit.jupiter.api.AssertEquals" not in failure  # (the framework's frames left out)
    assert "addsPairs(int, int, int)[2]: org.opentest4j.AssertionFailedError: expected: <5> but was: <-1>" in failure
    assert "Negative::addsNegatives failed" in failure and "expected: <-3> but was: <1>" in failure
    assert broken.passed == 0 and broken.problem.startswith("the code does not compile:")
    assert "src/main/java/com/example/Calc.java:6:16: cannot find symbol\n  symbol:   variable c" in broken.problem
    assert str(tmp_path) not in broken.problem
    assert not (tmp_path / "target").exists()  # (each build happens in its candidate's own folder)


PARENT_POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.example</groupId>
  <artifactId>parent</artifactId>
  <version>1.0</version>
  <packaging>pom</packaging>
  <modules>
    <module>draft</module>
    <module>core</module>
    <module>app</module>
  </modules>
</project>
"""
SIDES = "package com.example.core;\n\npublic class Sides {\n    public static final int SQUARE = 4;\n}\n"
CORE = """    <dependency>
      <groupId>com.example</groupId>
      <artifactId>core</artifactId>
      <version>1.0</version>
    </dependency>
"""
SHAPES = """package com.example.app;

import com.example.core.Sides;

public class Shapes {
    public static int perimeter(int side) {
        return 0;
    }
}
"""
SHAPES_TESTS = """package com.example.app;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class ShapesTest {
    @Test
    void squarePerimeter() {
        assertEquals(8, Shapes.perimeter(2));
    }
}
"""


def test_a_module_of_a_multi_module_build_runs_with_the_modules_it_needs(
    registry: LanguageRegistry, tmp_path: Path
) -> None:
    """A module that depends on its sibling builds from the build's root with it (`--projects app --also-make`):
    from the module's own folder, Maven looks for the sibling in the local repository, and offline it is not there;
    a module it does not need is not built (one half-written does not fail its runs)."""
    (tmp_path / "pom.xml").write_text(PARENT_POM)
    draft = tmp_path / "draft" / "src" / "main" / "java" / "com" / "example" / "draft"
    draft.mkdir(parents=True)
    (tmp_path / "draft" / "pom.xml").write_text(pom("draft", dependencies=""))
    (draft / "Draft.java").write_text("package com.example.draft;\n\npublic class Draft {\n    int half =\n}\n")
    core = tmp_path / "core" / "src" / "main" / "java" / "com" / "example" / "core"
    core.mkdir(parents=True)
    (tmp_path / "core" / "pom.xml").write_text(pom("core", dependencies=""))
    (core / "Sides.java").write_text(SIDES)
    app = tmp_path / "app"
    (app / "src" / "main" / "java" / "com" / "example" / "app").mkdir(parents=True)
    (app / "src" / "test" / "java" / "com" / "example" / "app").mkdir(parents=True)
    (app / "pom.xml").write_text(pom("app", dependencies=CORE + JUNIT))
    path = app / "src" / "main" / "java" / "com" / "example" / "app" / "Shapes.java"
    path.write_text(SHAPES)
    (app / "src" / "test" / "java" / "com" / "example" / "app" / "ShapesTest.java").write_text(SHAPES_TESTS)
    assert project_root(path, []) == tmp_path  # (outside a workspace: the build that lists the module)
    found = prepare(registry, path, tmp_path, "perimeter")
    assert isinstance(found.runner, MavenTestRunner)
    assert (found.runner.module, found.runner.reactor) == ("app", ".")
    assert found.node_ids == ["app/src/test/java/com/example/app/ShapesTest.java::ShapesTest::squarePerimeter"]
    code = "public static int perimeter(int side) {\n        return side * Sides.SQUARE;\n    }"
    (report,) = run_candidates(found, tmp_path, path, [code])
    assert report.all_passed, report.failure_text()


def test_a_dependency_missing_from_the_local_repository_says_what_to_do(
    registry: LanguageRegistry, tmp_path: Path
) -> None:
    path = maven_project(tmp_path)
    missing = "    <dependency>\n      <groupId>com.example.absent</groupId>\n      <artifactId>nothing</artifactId>\n"
    missing += "      <version>1.0</version>\n    </dependency>\n"
    (tmp_path / "pom.xml").write_text(pom("calc", dependencies=JUNIT + missing))
    found = prepare(registry, path, tmp_path, "add")
    (report,) = run_candidates(found, tmp_path, path, [ADD.format("return a + b;")])
    assert report.problem.startswith("the tests could not be collected: Maven could not build them:"), report.problem
    assert "com.example.absent:nothing" in report.problem and "run `mvn test` in the project once" in report.problem


def test_which_runner_a_java_file_gets(
    registry: LanguageRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    java = registry.languages["java"]
    gradle = tmp_path / "gradle"
    (gradle / "src").mkdir(parents=True)
    (gradle / "build.gradle.kts").write_text("plugins { java }\n")
    with pytest.raises(RunnerUnavailable, match=r"builds with Gradle .*not supported yet"):
        runner_for(java, gradle, gradle / "src" / "Calc.java")
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(RunnerUnavailable, match=r"no pom\.xml above Calc\.java"):
        runner_for(java, bare, bare / "Calc.java")
    path = maven_project(tmp_path / "maven")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    monkeypatch.delenv("MAVEN_HOME", raising=False)
    monkeypatch.delenv("M2_HOME", raising=False)
    with pytest.raises(RunnerUnavailable, match=r"install Maven \(mvn on PATH\)"):
        runner_for(java, tmp_path / "maven", path)


def test_compiler_errors_are_read_once_with_their_details() -> None:
    output = """\x1b[0m\x1b[0m[ERROR] COMPILATION ERROR :
[ERROR] /w/src/main/java/A.java:[6,20] cannot find symbol
  symbol:   variable c
  location: class A
[ERROR] /w/src/main/java/A.java:[9,5] missing return statement
[ERROR] Failed to execute goal org.apache.maven.plugins:maven-compiler-plugin:3.13.0:compile (default-compile)
[ERROR] /w/src/main/java/A.java:[6,20] cannot find symbol
[ERROR]   symbol:   variable c
[ERROR]   location: class A
[ERROR] /w/src/main/java/A.java:[9,5] missing return statement
[ERROR] -> [Help 1]
"""
    assert compiler_errors(output, Path("/w")) == (
        "src/main/java/A.java:6:20: cannot find symbol\n  symbol:   variable c\n  location: class A\n"
        "src/main/java/A.java:9:5: missing return statement"
    )


def test_the_maven_the_projects_wrapper_pins_runs_its_tests(
    registry: LanguageRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project with a Maven Wrapper builds with the Maven it pins: where the wrapper has fetched it (under
    MAVEN_USER_HOME's wrapper/dists) it runs the tests, with no mvn on PATH; one not fetched yet is said, and mvn
    from PATH runs them."""
    project = tmp_path / "project"
    path = maven_project(project)
    (project / ".mvn" / "wrapper").mkdir(parents=True)
    url = "distributionUrl=https\\://repo.maven.apache.org/maven2/org/apache/maven/apache-maven/{0}/apache-maven-{0}-bin.zip"
    (project / ".mvn" / "wrapper" / "maven-wrapper.properties").write_text(url.format("3.8.7") + "\n")
    dist = tmp_path / "m2" / "wrapper" / "dists" / "apache-maven-3.8.7-bin" / "5a1b2c3d"
    dist.mkdir(parents=True)
    (dist / "apache-maven-3.8.7").symlink_to(Path(shutil.which("mvn") or "mvn").resolve().parents[1])
    monkeypatch.setenv("MAVEN_USER_HOME", str(tmp_path / "m2"))
    monkeypatch.setenv("PATH", "/usr/local/sbin:/nothing")  # (no mvn; the sandbox's runs get their own PATH)
    found = prepare(registry, path, project, "add")
    assert isinstance(found.runner, MavenTestRunner)
    assert found.runner.maven == str(dist / "apache-maven-3.8.7" / "bin" / "mvn")
    assert found.runner.note == "the tests run with apache-maven-3.8.7-bin, which the project's Maven Wrapper pins"
    (report,) = run_candidates(found, project, path, [ADD.format(SUM)])
    assert report.all_passed, report.failure_text()
    monkeypatch.undo()
    (project / ".mvn" / "wrapper" / "maven-wrapper.properties").write_text(url.format("3.9.9") + "\n")
    found = prepare(registry, path, project, "add")
    assert found.runner.maven == shutil.which("mvn")  # type: ignore[attr-defined]
    assert found.runner.note.startswith("the project's Maven Wrapper pins apache-maven-3.9.9-bin, not fetched yet")  # type: ignore[attr-defined]


def test_a_hanging_java_test_is_killed_at_the_limit(registry: LanguageRegistry, tmp_path: Path) -> None:
    """A candidate that never returns: Maven and the JVM that runs the tests are killed together at the limit, and
    no Java process of the run is left behind."""
    path = maven_project(tmp_path)
    found = prepare(registry, path, tmp_path, "add")
    sandbox = Sandbox(tmp_path, {}, Limits(wall_seconds=12), found.runner)
    hanging = ADD.format("while (true) { }")
    try:
        report = sandbox.run(
            {str(path): replace_function(path.read_text(), found.target, hanging)}, found.node_ids, {}, None
        )
    finally:
        sandbox.close()
    assert report.passed == 0 and "timed out after 12 s" in report.problem, report.problem
    assert report.seconds < 30
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()
    assert left == [], left
