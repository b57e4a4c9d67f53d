"""The fault-injection suite's toolkit: `warta run` as real processes, killed at will."""
