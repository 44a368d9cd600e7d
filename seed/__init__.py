"""Simulated upstream system: writes the landing zone (``python -m seed``); see ``seed.landing``."""

from seed.landing import SeedReport, seed_landing

__all__ = ["SeedReport", "seed_landing"]
