"""Eval cases, the bundle generator, cassettes, harness, scoring and benchmarks."""
