"""Anchored walk-forward folds: a test window never overlaps its training window."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigmax.errors import InputError
from sigmax.optimize.folds import MIN_BLOCK_CLOSES, anchored_folds

HOUR = 3_600_000


@settings(max_examples=200, deadline=None)
@given(
    folds=st.integers(min_value=1, max_value=12),
    extra=st.integers(min_value=0, max_value=3_000),
    gaps=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=40),
    start=st.integers(min_value=0, max_value=2_000_000_000).map(lambda h: h * HOUR),
)
def test_test_windows_never_overlap_their_training_windows(
    folds: int, extra: int, gaps: list[int], start: int
) -> None:
    count = (folds + 1) * MIN_BLOCK_CLOSES + extra
    # Closes with gaps in the data (a step of several hours now and then).
    steps = np.array([gaps[i % len(gaps)] if i % 7 == 0 else 1 for i in range(count)])
    closes = start + np.cumsum(steps) * HOUR
    result = anchored_folds(closes, folds)
    assert len(result) == folds
    for k, fold in enumerate(result):
        # Anchored: every training window starts at the first close.
        assert fold.train_from_ms == int(closes[0])
        assert fold.train_from_ms <= fold.train_to_ms < fold.test_from_ms <= fold.test_to_ms
        # No close lies in both windows, and the test follows the training without a gap.
        train = closes[(closes >= fold.train_from_ms) & (closes <= fold.train_to_ms)]
        test = closes[(closes >= fold.test_from_ms) & (closes <= fold.test_to_ms)]
        assert not set(train.tolist()) & set(test.tolist())
        assert int(np.searchsorted(closes, fold.test_from_ms)) == len(train)
        assert len(test) >= MIN_BLOCK_CLOSES
        if k > 0:
            # Each training window is the previous one plus the previous test window.
            assert fold.train_to_ms == result[k - 1].test_to_ms
    assert result[-1].test_to_ms == int(closes[-1])


def test_too_few_candles_or_folds_are_refused() -> None:
    closes = np.arange(100) * HOUR
    with pytest.raises(InputError, match="--folds: 4 folds need at least 120 candles"):
        anchored_folds(closes, 4)
    with pytest.raises(InputError, match="--folds: must be between 1 and 20"):
        anchored_folds(closes, 0)
    with pytest.raises(InputError, match="strictly increasing"):
        anchored_folds(closes[::-1], 1)


def test_folds_are_written_as_iso_times() -> None:
    closes = np.arange(1, 73) * HOUR
    (fold,) = anchored_folds(closes, 1)
    assert fold.to_dict() == {
        "fold": 1,
        "train_from": "1970-01-01T01:00:00Z",
        "train_to": "1970-01-02T12:00:00Z",
        "test_from": "1970-01-02T13:00:00Z",
        "test_to": "1970-01-04T00:00:00Z",
    }
