"""Tree-sitter: languages read from grammars/, queries, parsed documents, symbols and skeletons."""
