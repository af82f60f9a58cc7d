"""Benchmarks of Hushcut (not part of the test run): ``python -m bench [NAME ...]``."""
