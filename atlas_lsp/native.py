"""Load order of native libraries.

llama.cpp's library must be loaded before numpy's: with numpy loaded first, a CUDA build of llama-cpp-python
0.3.36 crashed (SIGSEGV) loading any model on the GPU machine (Python 3.12, numpy 2 from that machine's image);
llama_cpp imported first, the same load works. The package's ``__init__`` calls this, so importing any part of
atlas_lsp first is enough (a script that imported `atlas_lsp.model.service` directly crashed there while the
command line, which did this first, worked: seventh session).
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger(__name__)


def load_llama_before_numpy() -> None:
    """Import llama_cpp now if it is installed (a broken install is reported later, when a model loads); warn when
    numpy came first and this llama.cpp can use a GPU."""
    numpy_first = "numpy" in sys.modules and "llama_cpp" not in sys.modules
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
