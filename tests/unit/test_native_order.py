"""llama.cpp's library is loaded before numpy by the package itself (a CUDA build crashed loading a model when numpy
came first, on the GPU machine: atlas_lsp/native.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WATCH_NUMPY = """
import sys

class Watch:
    seen = None
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" and Watch.seen is None:
            Watch.seen = "llama_cpp.llama_cpp" in sys.modules
        return None

sys.meta_path.insert(0, Watch())
{imports}
print("llama first" if Watch.seen else "numpy first")
"""


@pytest.mark.parametrize(
    "imports",
    [
        "import atlas_lsp.cli\nimport atlas_lsp.server",  # the command line and the server
        "from atlas_lsp.model.service import load_backend",  # a script or a test that loads a model itself
        "import atlas_lsp.model.llama",
    ],
)
def test_importing_the_package_loads_llama_cpp_before_numpy(imports: str) -> None:
    root = Path(__file__).resolve().parents[2]
    script = WATCH_NUMPY.format(imports=imports)
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "llama first"


SHOW_SPIN_SETTING = "import os, atlas_lsp; print(os.environ.get('GOMP_SPINCOUNT', 'unset'))"


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, "3000"),  # bounded before llama.cpp (and libgomp with it) loads
        ({"GOMP_SPINCOUNT": "500"}, "500"),  # the user's own spin count is kept
        ({"OMP_WAIT_POLICY": "ACTIVE"}, "unset"),  # so is their wait policy: no spin count is added to it
    ],
)
def test_openmp_spin_wait_is_bounded_unless_the_user_chose_one(environment: dict[str, str], expected: str) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")} | environment
    done = subprocess.run(
        [sys.executable, "-c", SHOW_SPIN_SETTING], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == expected


IDLE_CPU_AFTER_A_BATCH = """
import json, resource, time
import atlas_lsp
from atlas_lsp.config import ModelSettings
from atlas_lsp.model.service import load_backend

llm = load_backend(ModelSettings(gpu_layers=0))._llm
tokens = llm.tokenize(b"def add(a, b):\\n    return a + b\\n" * 40)[:200]

def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

idle = []
for _ in range(3):
    llm.reset()
    llm.eval(tokens)  # a batch: n_threads_batch threads, one per core
    before = cpu_seconds()
    time.sleep(0.1)  # nothing runs in the process meanwhile, unless OpenMP's threads spin
    idle.append(cpu_seconds() - before)
print(json.dumps(sorted(idle)[1]))
"""


def test_the_process_is_idle_soon_after_a_multi_thread_batch() -> None:
    """After a prompt's batch, llama.cpp's OpenMP threads spun on a core for about 10 ms (CPU time in the 100 ms
    after it, 2-core machine like CI's: 9.6 ms in a ninth-session run) with libgomp's default; about 0.1 ms with
    the bounded spin count. (On one core a batch runs on one thread and nothing spins.)"""
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    done = subprocess.run(
        [sys.executable, "-c", IDLE_CPU_AFTER_A_BATCH], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    idle_cpu_ms = json.loads(done.stdout.strip().splitlines()[-1]) * 1000
    assert idle_cpu_ms < 5.0, f"{idle_cpu_ms:.1f} ms of CPU in the 100 ms after a batch"
