"""The safety state's versioned JSON: any state round-trips exactly, anything malformed is refused
with the field named; and the figures in log lines never hide why a trigger fired."""

from __future__ import annotations

import json
import operator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sigmax.safety.errors import SafetyStateError
from sigmax.safety.state import (
    MAX_VIOLATIONS,
    ApiErrorMark,
    Hold,
    SafetyState,
    Violation,
)
from sigmax.safety.triggers import TriggerName, honest_figure, iso_ms, next_utc_midnight

millis = st.integers(min_value=0, max_value=4_102_444_800_000)
money = st.decimals(allow_nan=False, allow_infinity=False)
names = st.text(min_size=1, max_size=24)


@st.composite
def holds(draw: st.DrawFn) -> dict[str, Hold]:
    keys = draw(st.lists(st.sampled_from(list(TriggerName)) | names, unique=True, max_size=6))
    return {
        str(key): Hold(
            trigger=str(key),
            reason=draw(st.text(max_size=80)),
            since_ms=draw(millis),
            until_ms=draw(st.none() | millis),
            clock=draw(st.sampled_from(["market", "wall"])),
        )
        for key in keys
    }


states = st.builds(
    SafetyState,
    holds=holds(),
    loss_streak=st.integers(min_value=0, max_value=10_000),
    api_errors=st.lists(st.builds(ApiErrorMark, at_ms=millis, source=names), max_size=10),
    day_pnl=st.none() | money,
    day_pnl_at_ms=st.none() | millis,
    daily_loss_baseline=st.none() | money,
    daily_loss_baseline_until_ms=st.none() | millis,
    last_slippage_pct=st.none() | money,
    sentiment=st.none() | st.floats(min_value=-1, max_value=1),
    sentiment_at_ms=st.none() | millis,
    sentiment_armed=st.booleans(),
    equity_peak=st.none() | money,
    equity=st.none() | money,
    last_privacy_finding=st.none() | st.text(max_size=40),
    cooldowns=st.dictionaries(names, millis, max_size=5),
    violations=st.lists(
        st.builds(Violation, at_ms=millis, trigger=names, message=st.text(max_size=80)),
        max_size=MAX_VIOLATIONS,
    ),
    updated_at_ms=st.none() | millis,
)


@given(states)
def test_any_state_round_trips_through_json(state: SafetyState) -> None:
    text = state.to_json()
    again = SafetyState.from_json(text)
    assert again == state
    assert again.to_json() == text
    # Decimals come back with their exact digits, not merely an equal value.
    for name in ("day_pnl", "daily_loss_baseline", "last_slippage_pct", "equity_peak", "equity"):
        assert str(getattr(again, name)) == str(getattr(state, name))


def test_the_json_of_a_fresh_state_is_versioned_and_stable() -> None:
    data = json.loads(SafetyState().to_json())
    assert data["version"] == 2
    assert data["holds"] == {}
    assert data["sentiment_armed"] is True


def test_a_version_1_state_reads_with_every_hold_in_market_time() -> None:
    """Version 1 had one clock: its holds keep counting in market time, so a stored pause lifts
    exactly when it did before the upgrade, and the state is written back as version 2."""
    old = {
        "version": 1,
        "holds": {
            "manual": {"trigger": "manual", "reason": "x", "since_ms": 5, "until_ms": 65},
            "daily_loss": {"trigger": "daily_loss", "reason": "y", "since_ms": 5, "until_ms": None},
        },
        "loss_streak": 0,
        "api_errors": [],
        "day_pnl": None,
        "day_pnl_at_ms": None,
        "daily_loss_baseline": None,
        "daily_loss_baseline_until_ms": None,
        "last_slippage_pct": None,
        "sentiment": None,
        "sentiment_at_ms": None,
        "sentiment_armed": True,
        "equity_peak": None,
        "equity": None,
        "last_privacy_finding": None,
        "cooldowns": {},
        "violations": [],
        "updated_at_ms": 5,
    }
    state = SafetyState.from_json(json.dumps(old))
    assert state.holds == {
        "manual": Hold("manual", "x", 5, 65, "market"),
        "daily_loss": Hold("daily_loss", "y", 5, None, "market"),
    }
    assert json.loads(state.to_json())["version"] == 2
    # A version-1 hold still has to be well formed.
    old["holds"]["manual"] = {"trigger": "manual", "reason": "x", "since_ms": "soon"}
    with pytest.raises(SafetyStateError, match=r"holds\.manual"):
        SafetyState.from_json(json.dumps(old))


def _valid() -> dict[str, Any]:
    state = SafetyState(
        holds={"manual": Hold("manual", "x", 1, None)},
        api_errors=[ApiErrorMark(1, "binance")],
        day_pnl=Decimal("-1.5"),
        cooldowns={"BTC/USDT": 5},
        violations=[Violation(1, "slippage", "m")],
    )
    data: dict[str, Any] = json.loads(state.to_json())
    return data


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d.update(version=3), "version 3 is not supported"),
        (lambda d: d.update(version=0), "version 0 is not supported"),
        (lambda d: d["holds"]["manual"].update(clock="exchange"), "clock: expected one of"),
        (lambda d: d["holds"]["manual"].pop("clock"), "holds.manual: missing field 'clock'"),
        (lambda d: d.pop("loss_streak"), "missing field 'loss_streak'"),
        (lambda d: d.update(surprise=1), "unknown fields surprise"),
        (lambda d: d.update(day_pnl="ten"), "day_pnl: expected a decimal string"),
        (lambda d: d.update(day_pnl=1.5), "day_pnl: expected a decimal string"),
        (lambda d: d.update(day_pnl="NaN"), "day_pnl: expected a finite decimal"),
        (lambda d: d.update(loss_streak=True), "loss_streak: expected an integer"),
        (lambda d: d.update(loss_streak=-1), "loss_streak: negative"),
        (lambda d: d.update(sentiment_armed=1), "sentiment_armed: expected true or false"),
        (lambda d: d.update(sentiment="low"), "sentiment: expected a number"),
        (lambda d: d["cooldowns"].update({"ETH/USDT": "soon"}), "cooldowns.ETH/USDT"),
        (lambda d: d["holds"]["manual"].update(trigger="panic"), "not its key"),
        (lambda d: d["holds"]["manual"].pop("until_ms"), "holds.manual: missing field"),
        (lambda d: d["api_errors"].append(3), "api_errors\\[1\\]: expected an object"),
        (lambda d: d["violations"][0].update(extra=1), "violations\\[0\\]: unknown fields"),
        (lambda d: d.update(holds=[]), "holds: expected an object"),
    ],
)
def test_malformed_state_is_refused_naming_the_field(damage: Any, message: str) -> None:
    data = _valid()
    damage(data)
    with pytest.raises(SafetyStateError, match=message):
        SafetyState.from_json(json.dumps(data))


def test_text_that_is_not_a_json_object_is_refused() -> None:
    with pytest.raises(SafetyStateError, match="not valid JSON"):
        SafetyState.from_json("{")
    with pytest.raises(SafetyStateError, match="expected an object, got list"):
        SafetyState.from_json("[]")


@pytest.mark.parametrize(
    ("value", "threshold", "compare", "places", "shown"),
    [
        ("2.7", "2.5", operator.gt, 1, "2.7"),
        ("2.68", "2.5", operator.gt, 1, "2.7"),
        ("2.5004", "2.5", operator.gt, 1, "2.5004"),
        ("2.54", "2.5", operator.gt, 1, "2.54"),
        ("-12.5", "-10", operator.lt, 2, "-12.50"),
        ("-10.001", "-10", operator.lt, 2, "-10.001"),
        ("9.99999", "10", operator.ge, 1, "9.99999"),  # would round up onto the limit
        ("10", "10.0", operator.ge, 1, "10.0"),
        ("33.3333333333333333333333333", "2.5", operator.gt, 1, "33.3"),
    ],
)
def test_honest_figure_keeps_the_comparison_true(
    value: str, threshold: str, compare: Any, places: int, shown: str
) -> None:
    assert honest_figure(Decimal(value), Decimal(threshold), compare, places) == shown


def test_time_helpers_are_exact_to_the_millisecond() -> None:
    assert iso_ms(1_679_565_600_123) == "2023-03-23T10:00:00.123Z"
    assert next_utc_midnight(1_679_529_600_000) == 1_679_616_000_000  # at midnight: the next one
    assert next_utc_midnight(1_679_615_999_999) == 1_679_616_000_000
