"""Benchmarks (not tests): run them by hand, see BENCHMARKS.md."""
