"""Model backends behind one seam (`ModelBackend`), the inference worker, and model lifecycle."""
