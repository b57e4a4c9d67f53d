"""Benchmarks, run by hand (python -m bench.NAME); figures go in the closing notes."""
