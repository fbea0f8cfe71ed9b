"""Pure prompt builders: no I/O, no model calls."""
