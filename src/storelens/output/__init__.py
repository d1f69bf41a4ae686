"""Outputs: annotated video, summaries, CSV and Parquet exports of the stored rows."""
