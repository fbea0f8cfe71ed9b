"""Inline completion: context -> prompt -> model -> post-processing."""
