"""Latency and accuracy per task, backend, precision, batch size and sequence length.

Nothing here yet: the benchmark harness issue fills this package.
"""
