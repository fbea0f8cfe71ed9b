"""llama.cpp's library is loaded before numpy by the package itself (a CUDA build crashed loading a model when numpy
came first, on the GPU machine: atlas_lsp/native.py)."""

from __future__ import annotations

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
