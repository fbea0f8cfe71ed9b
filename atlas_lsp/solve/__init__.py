"""Solve this function: candidates from the model, the project's own tests in a sandbox, repair, an edit."""
