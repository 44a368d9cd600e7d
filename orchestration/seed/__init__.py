"""Simulated upstream system: writes the landing zone (``python -m orchestration.seed``).

It stands in for the source system, so nothing in the pipeline imports it; see
``orchestration.seed.landing`` for the landing-zone contract.
"""

from orchestration.seed.landing import SeedReport, seed_landing

__all__ = ["SeedReport", "seed_landing"]
