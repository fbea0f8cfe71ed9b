"""Load order of native libraries.

llama.cpp's library must be loaded before numpy's: with numpy loaded first, a CUDA build of llama-cpp-python
0.3.36 crashed (SIGSEGV) loading any model on the GPU machine (Python 3.12, numpy 2 from that machine's image);
llama_cpp imported first, the same load works. The package's ``__init__`` calls this, so importing any part of
atlas_lsp first is enough (a script that imported `atlas_lsp.model.service` directly crashed there while the
command line, which did this first, worked: seventh session).

llama.cpp's CPU backend runs its multi-thread steps (a prompt, a batch of guessed tokens) with OpenMP, and libgomp
keeps its worker threads spinning after each one: about 10 ms of a core on this project's 2-core machine (ninth
session), while the event loop answers the next request or the user's editor wants the core. Its spin count is read
once, when libgomp loads, so it is bounded here, before llama.cpp loads, unless the user chose an OpenMP wait policy.
"""

from __future__ import annotations

import logging
import os
import sys

logger = logging.getLogger(__name__)
OPENMP_SPIN_ROUNDS = "3000"  # libgomp's default is 300,000: ~9 ms of CPU spun after each step here, ~2 ms with
# 10,000, none measurable with 1,000 or 3,000; the barriers inside a step still spin enough (steps and 8-token batches
# as fast in all four, three runs each); with no spinning at all (OMP_WAIT_POLICY=PASSIVE) a batch took 2.4x as long
OPENMP_WAIT_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")  # a user who set either keeps their choice


def limit_openmp_spinning() -> None:
    """Bound how long llama.cpp's OpenMP threads spin after a step, unless the user set OpenMP's wait policy or
    libgomp is loaded already (it reads the setting once)."""
    if any(name in os.environ for name in OPENMP_WAIT_SETTINGS):
        return
    if "llama_cpp" in sys.modules:
        logger.debug("llama.cpp was loaded before atlas_lsp: OpenMP's spin wait left at its default")
        return
    os.environ["GOMP_SPINCOUNT"] = OPENMP_SPIN_ROUNDS


def load_llama_before_numpy() -> None:
    """Import llama_cpp now if it is installed (a broken install is reported later, when a model loads); warn when
    numpy came first and this llama.cpp can use a GPU."""
    numpy_first = "numpy" in sys.modules and "llama_cpp" not in sys.modules
    limit_openmp_spinning()
    try:
        import llama_cpp
    except Exception as error:  # noqa: BLE001 - the model service reports it with advice
        logger.debug("llama_cpp not importable yet: %s", error)
        return
    if numpy_first and llama_cpp.llama_supports_gpu_offload():
        logger.warning(
            "numpy was imported before llama.cpp: a CUDA build of llama-cpp-python may crash loading a model. "
            "Import atlas_lsp before numpy."
        )
