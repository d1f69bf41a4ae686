"""Outputs: annotated video, summaries."""
