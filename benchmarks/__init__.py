"""Reproducible speed and quality measurements that print tables: `python -m benchmarks --help`."""
