"""Mosaic's benchmark harness: ``python -m bench`` measures and writes docs/benchmarks.md."""
