"""Benchmarks for CohortService: `make bench`, bench.ab, bench.mix (docs/performance.md)."""
