"""llama.cpp's library is loaded before numpy by the command line (a CUDA build crashed loading a model when numpy
came first, on the GPU machine)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

WATCH_NUMPY = """
import sys

class Watch:
    seen = None
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" and Watch.seen is None:
            Watch.seen = "llama_cpp.llama_cpp" in sys.modules
        return None

sys.meta_path.insert(0, Watch())
import atlas_lsp.cli
import atlas_lsp.server
print("llama first" if Watch.seen else "numpy first")
"""


def test_the_command_line_loads_llama_cpp_before_numpy() -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", WATCH_NUMPY], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "llama first"
