"""Helpers for storelens' own tests and benchmarks (private servers on loopback); not an API."""
