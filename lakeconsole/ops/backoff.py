"""Capped exponential backoff with full jitter, for NATS and storage retries."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays that double from `first` up to `cap`, each drawn uniformly below its ceiling.

    "Full jitter": the n-th delay (n from 0) is uniform in [first, min(cap, first * 2**n)],
    so many clients retrying at once spread out instead of hammering a recovering server in
    step. The floor `first` keeps a refusing server from being retried in a tight loop.
    """

    first: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    attempts: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.cap:
            raise ValueError(f"backoff needs 0 < first <= cap, got {self.first} and {self.cap}")

    def ceiling(self) -> float:
        """The upper bound of the next delay."""
        # min() before the power would overflow a float after ~1000 attempts.
        return min(self.cap, self.first * float(2 ** min(self.attempts, 64)))

    def next(self) -> float:
        """The next delay in seconds; each call moves one step further."""
        delay = self.rng.uniform(self.first, self.ceiling())
        self.attempts += 1
        return delay

    def reset(self) -> None:
        """Start again from `first` (after a success)."""
        self.attempts = 0
