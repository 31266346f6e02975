"""Benchmarks: durasumi against bare temporalio (``python -m bench.core``)."""
