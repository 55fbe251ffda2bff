"""Latency histograms: merge bucket counts, then read percentiles off the merged counts.

Cloud Monitoring hands back per-series distributions; the right p95 of a revision comes from
the sum of their bucket counts, never from a percentile of per-series percentiles.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass


def linear_bounds(num_finite_buckets: int, width: float, offset: float) -> tuple[float, ...]:
    return tuple(offset + width * i for i in range(num_finite_buckets + 1))


def exponential_bounds(num_finite_buckets: int, growth_factor: float, scale: float) -> tuple[float, ...]:
    return tuple(scale * growth_factor**i for i in range(num_finite_buckets + 1))


@dataclass(frozen=True)
class Histogram:
    """Counts over buckets: bucket 0 is (-inf, bounds[0]), bucket i is [bounds[i-1], bounds[i]),
    the last is [bounds[-1], +inf) — Cloud Monitoring's layout for all three bucket kinds."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.counts) > len(self.bounds) + 1:
            raise ValueError(f"{len(self.counts)} bucket counts for {len(self.bounds)} bounds")
        if len(self.counts) < len(self.bounds) + 1:  # the API trims trailing zero buckets
            object.__setattr__(self, "counts", tuple(self.counts) + (0,) * (len(self.bounds) + 1 - len(self.counts)))

    @property
    def count(self) -> int:
        return sum(self.counts)

    def merged(self, other: Histogram) -> Histogram:
        if other.bounds != self.bounds:
            raise ValueError("cannot merge histograms with different bucket layouts")
        return Histogram(self.bounds, tuple(a + b for a, b in zip(self.counts, other.counts)))

    def percentile(self, q: float) -> float | None:
        """The q-quantile (0 < q < 1), interpolated linearly inside its bucket; None if empty."""
        total = self.count
        if total == 0:
            return None
        rank = q * total
        cumulative = 0
        for index, count in enumerate(self.counts):
            if count and cumulative + count >= rank:
                lower = self.bounds[index - 1] if index > 0 else min(0.0, self.bounds[0])
                if index >= len(self.bounds):  # overflow bucket: no upper edge to interpolate to
                    return lower
                upper = self.bounds[index]
                return lower + (upper - lower) * (rank - cumulative) / count
            cumulative += count
        return self.bounds[-1]

    def snap(self, threshold: float) -> float:
        """The bucket edge nearest to `threshold`: counts above an edge are exact."""
        index = bisect.bisect_left(self.bounds, threshold)
        candidates = [self.bounds[i] for i in (index - 1, index) if 0 <= i < len(self.bounds)]
        return min(candidates, key=lambda edge: (abs(edge - threshold), edge))

    def count_at_or_above(self, edge: float) -> int:
        """Requests in buckets that start at or above `edge` (use `snap` first)."""
        index = bisect.bisect_left(self.bounds, edge)
        if index >= len(self.bounds) or not math.isclose(self.bounds[index], edge, rel_tol=1e-9):
            raise ValueError(f"{edge} is not a bucket edge; snap it first")
        return sum(self.counts[index + 1 :])


def merge_all(histograms: Sequence[Histogram]) -> Histogram | None:
    merged: Histogram | None = None
    for histogram in histograms:
        merged = histogram if merged is None else merged.merged(histogram)
    return merged
