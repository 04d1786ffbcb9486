"""Simulated users of the booking service (`hotel load`), with Prometheus metrics, and the
query catalogue they run under EXPLAIN (`hotel explain`); their benchmarks."""
