"""Benchmarks: each runs a same-run baseline and reports the ratio (see ../../shared/DESIGN.md,
"Measured, not assumed"). They are programs, not tests: ``python -m benchmarks.<name>``."""
