"""The benchmark of issue #8 (`make bench`): the pipeline against a baseline without orchestration.

`python -m bench` runs it (bench/runner.py); docs/benchmark.md says what is measured and how.
"""
