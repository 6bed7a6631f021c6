"""Anchored walk-forward folds over the candle closes of a window.

The window's closes are cut into ``K + 1`` consecutive blocks of (nearly) equal length. Fold
``k`` (1-based) trains on blocks ``0..k-1``, from the window's first close (the anchor), and
tests on block ``k``, the block that follows: the past to choose, the next stretch to judge.
A test window starts at the close after its training window's last close, so the two never
share a candle; consecutive test windows tile the tail of the window without gaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sigmax.domain.candles import ms_to_iso
from sigmax.errors import InputError

#: A test block shorter than this many closes measures nothing (a day of hourly candles).
MIN_BLOCK_CLOSES = 24
MAX_FOLDS = 20


@dataclass(frozen=True, slots=True)
class Fold:
    """Inclusive close-time bounds (epoch ms) of one fold's training and test windows."""

    index: int
    train_from_ms: int
    train_to_ms: int
    test_from_ms: int
    test_to_ms: int

    def to_dict(self) -> dict[str, str | int]:
        return {
            "fold": self.index,
            "train_from": ms_to_iso(self.train_from_ms),
            "train_to": ms_to_iso(self.train_to_ms),
            "test_from": ms_to_iso(self.test_from_ms),
            "test_to": ms_to_iso(self.test_to_ms),
        }


def anchored_folds(closes_ms: Sequence[int] | np.ndarray, folds: int) -> tuple[Fold, ...]:
    """``folds`` anchored folds over the sorted, unique close times ``closes_ms``."""
    if not 1 <= folds <= MAX_FOLDS:
        raise InputError(f"--folds: must be between 1 and {MAX_FOLDS} (got {folds})")
    closes = np.asarray(closes_ms, dtype=np.int64)
    if closes.ndim != 1 or (len(closes) > 1 and not bool(np.all(np.diff(closes) > 0))):
        raise InputError("closes: must be strictly increasing close times")
    blocks = folds + 1
    if len(closes) < blocks * MIN_BLOCK_CLOSES:
        raise InputError(
            f"--folds: {folds} folds need at least {blocks * MIN_BLOCK_CLOSES} candles "
            f"({blocks} blocks of {MIN_BLOCK_CLOSES}); the window holds {len(closes)}: "
            "widen --from/--to or use fewer folds"
        )
    # Block b holds closes[edges[b] : edges[b + 1]].
    edges = [round(b * len(closes) / blocks) for b in range(blocks + 1)]
    result = []
    for k in range(1, blocks):
        result.append(
            Fold(
                index=k,
                train_from_ms=int(closes[0]),
                train_to_ms=int(closes[edges[k] - 1]),
                test_from_ms=int(closes[edges[k]]),
                test_to_ms=int(closes[edges[k + 1] - 1]),
            )
        )
    return tuple(result)
