"""Context for prompts: the workspace index and ranked, budgeted context parts."""
