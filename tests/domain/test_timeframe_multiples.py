"""Timeframe.times: the standard timeframe k times as long, or an extra one."""

from __future__ import annotations

import pytest

from sigmax.domain.candles import Timeframe


def test_standard_multiples_are_the_members_themselves() -> None:
    assert Timeframe.H1.times(4) is Timeframe.H4
    assert Timeframe.H1.times(24) is Timeframe.D1
    assert Timeframe.M15.times(4) is Timeframe.H1


def test_other_multiples_are_extra_timeframes_never_parsed_or_listed() -> None:
    eight = Timeframe.H2.times(4)
    assert (eight.value, eight.ms) == ("8h", 8 * 3_600_000)
    assert Timeframe.H2.times(4) is eight
    assert (Timeframe.H2.times(24).value, Timeframe.D1.times(24).value) == ("2d", "24d")
    assert Timeframe.M1.times(90).value == "90m"
    assert eight not in list(Timeframe)
    with pytest.raises(ValueError, match="must be one of"):
        Timeframe.parse("8h")
    with pytest.raises(ValueError, match=">= 1"):
        Timeframe.H1.times(0)
