"""Reproducible benchmarks; `make bench` runs them and the figures go to docs/BENCHMARKS.md."""
