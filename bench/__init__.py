"""Benchmarks for CohortService: `python -m bench.list_depth` (see docs/performance.md)."""
