(use_declaration
  argument: (_) @import.module) @import
