"""Load order of native libraries.

llama.cpp's library must be loaded before numpy's: with numpy loaded first, a CUDA build of llama-cpp-python
0.3.36 crashed (SIGSEGV) loading any model on the GPU machine (Python 3.12, numpy 2 from that machine's image);
llama_cpp imported first, the same load works. The command line calls this before anything imports numpy.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def load_llama_before_numpy() -> None:
    """Import llama_cpp now if it is installed (a broken install is reported later, when a model loads)."""
    try:
        import llama_cpp  # noqa: F401
    except Exception as error:  # noqa: BLE001 - the model service reports it with advice
        logger.debug("llama_cpp not importable yet: %s", error)
