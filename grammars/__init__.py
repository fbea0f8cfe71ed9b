"""Language data (language.toml + queries), shipped as the package data `atlas_lsp.grammars`."""
