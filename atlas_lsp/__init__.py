"""atlas-lsp: a language server with a local, warm code model that verifies before it proposes."""

__version__ = "0.1.0"
