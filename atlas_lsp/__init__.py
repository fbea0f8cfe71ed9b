"""atlas-lsp: a language server with a local, warm code model that verifies before it proposes."""

from atlas_lsp.native import load_llama_before_numpy

__version__ = "0.1.0"

load_llama_before_numpy()  # before anything imports numpy (atlas_lsp/native.py says why)
