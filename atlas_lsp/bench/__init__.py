"""Benchmarks (`atlas-lsp bench ...`): measured numbers for docs/benchmarks.md, never timed unit tests."""
