"""`make bench`: the application measured against the raw limits of the same machine.

Run with ``python -m bench`` (or ``make bench``); ``BENCH_SCALE`` picks the data set size
(smoke, default, large). See docs/benchmarks.md for what is measured and the latest numbers.
"""
