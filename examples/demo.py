"""A tiny file to try atlas-lsp on: `atlas-lsp complete examples/demo.py:11`."""


def add(a: int, b: int) -> int:
    """Return the sum of a and b."""
    return a + b


def reverse(text: str) -> str:
    """Return text reversed."""
    return
