"""Backtest metrics: a hand-computed fixture, edge cases, validation, properties and speed.

The fixture's expected values are worked out by hand below with exact fractions (``Fraction``)
from the numbers written in the table, not through the module's code path.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from sigmax.backtest.metrics import (
    METRIC_KEYS,
    ClosedTrade,
    EquityCurve,
    Metrics,
    MetricsInputError,
    buy_and_hold_return,
    compute_metrics,
    daily_returns,
    drawdowns,
)
from sigmax.errors import InputError

D = Decimal
HOUR = 3_600_000
BTC = "BTC/USDT"
ETH = "ETH/USDT"


def at(day: int, hour: int, minute: int = 0, ms: int = 0) -> int:
    """Milliseconds of 2024-01-<day> <hour>:<minute> UTC (+ ms)."""
    moment = datetime(2024, 1, day, tzinfo=UTC) + timedelta(hours=hour, minutes=minute)
    return int(moment.timestamp()) * 1000 + ms


def curve_of(
    closes: list[int], equity: list[float], initial: float, start: int | None = None
) -> EquityCurve:
    return EquityCurve(
        np.array(closes, dtype=np.int64), np.array(equity, dtype=np.float64), initial, start
    )


def run(
    curve: EquityCurve,
    trades: list[ClosedTrade] | None = None,
    *,
    exposed: list[bool] | None = None,
    buy_and_hold: float = 0.0,
    fees_paid: Decimal = D(0),
) -> Metrics:
    flags = np.zeros(curve.steps, dtype=np.bool_) if exposed is None else np.array(exposed)
    return compute_metrics(
        curve, trades or [], exposure=flags, buy_and_hold=buy_and_hold, fees_paid=fees_paid
    )


def trade(
    pnl: str, *, fees: str = "0", entry: int | None = None, exit_: int | None = None
) -> ClosedTrade:
    entry_ms = at(1, 21) if entry is None else entry
    return ClosedTrade(
        symbol=BTC,
        entry_ms=entry_ms,
        exit_ms=entry_ms if exit_ is None else exit_,
        qty=D("1"),
        entry_price=D("100"),
        exit_price=D("100"),
        pnl=D(pnl),
        fees=D(fees),
        exit_reason="signal",
    )


# -- the hand-computed fixture --------------------------------------------------------------------
#
# Hourly candles with two gaps in the data, over three UTC days. The run starts at the open of
# the first candle, 2024-01-01 20:00, with 1000 USD.
#
#  step  close (UTC)        equity  exposed  step length
#   0    01-01 21:00        1010    yes       1 h  (from the start, 20:00)
#   1    01-01 22:00        1030    yes       1 h
#   2    01-01 23:00        1000    no        1 h
#   3    01-02 00:00         990    no        1 h  <- closes at midnight: the last step of Jan 1
#   4    01-02 10:00        1040    no       10 h  (candles missing in the data)
#   5    01-02 11:00        1025    yes       1 h
#   6    01-02 12:00        1050    no        1 h
#   7    01-03 05:00        1050    yes      17 h  (candles missing in the data)
#   8    01-03 06:00        1045    yes       1 h
#   9    01-03 07:00        1060    no        1 h
#
# The span is 01-01 20:00 .. 01-03 07:00 = 35 h.

START = at(1, 20)
CLOSES = [
    at(1, 21),
    at(1, 22),
    at(1, 23),
    at(2, 0),
    at(2, 10),
    at(2, 11),
    at(2, 12),
    at(3, 5),
    at(3, 6),
    at(3, 7),
]
EQUITY = [1010.0, 1030.0, 1000.0, 990.0, 1040.0, 1025.0, 1050.0, 1050.0, 1045.0, 1060.0]
EXPOSED = [True, True, False, False, False, True, False, True, True, False]

# Four trades, pnl = (exit - entry) * qty - fees:
#   BTC 0.01 @ 42000 -> 44650: 26.50 - 1.00 = 25.50  (win)
#   ETH 0.5  @ 2200  -> 2180.5: -9.75 - 0.50 = -10.25 (loss)
#   BTC 0.01 @ 43000 -> 43025:  0.25 - 0.25 = 0       (break-even)
#   ETH 0.5  @ 2200  -> 2283:   41.50 - 0.75 = 40.75  (win)
TRADES = [
    ClosedTrade(BTC, at(1, 21), at(1, 23), D("0.01"), D("42000"), D("44650"), D("25.50"),
                D("1.00"), "take_profit"),
    ClosedTrade(ETH, at(2, 10), at(2, 11), D("0.5"), D("2200"), D("2180.5"), D("-10.25"),
                D("0.50"), "stop_loss"),
    ClosedTrade(BTC, at(2, 11), at(3, 5), D("0.01"), D("43000"), D("43025"), D("0"),
                D("0.25"), "signal"),
    ClosedTrade(ETH, at(3, 5), at(3, 7), D("0.5"), D("2200"), D("2283"), D("40.75"),
                D("0.75"), "signal"),
]  # fmt: skip
# The trades' fees (2.50) plus 0.60 of entry fee on a position still open at the end.
FEES_PAID = D("3.10")

# Buy and hold: BTC opened at 42000 and last closed at 43050 (x1.025); ETH opened at 2200 and
# last closed at 2310 (x1.05). Equal weight: (1.025 + 1.05) / 2 - 1 = 0.0375.
FIRST_OPEN = {BTC: 42000.0, ETH: 2200.0}
LAST_CLOSES = {
    BTC: np.array([42100.0, 41900.0, 43050.0]),
    ETH: np.array([2250.0, 2310.0]),
}

# Daily returns. Day equity is the equity at the day's last step:
#   Jan 1 -> 990 (step 3, closing at 00:00), Jan 2 -> 1050 (step 6), Jan 3 -> 1060 (step 9).
R = [
    Fraction(990, 1000) - 1,  # -1/100, measured from the initial 1000
    Fraction(1050, 990) - 1,  # 60/990 = 2/33
    Fraction(1060, 1050) - 1,  # 10/1050 = 1/105
]
MEAN = sum(R) / 3
SAMPLE_VARIANCE = sum((r - MEAN) ** 2 for r in R) / 2
DOWNSIDE_MEAN_SQUARE = (Fraction(1, 100) ** 2 + 0 + 0) / 3  # only Jan 1 lost

HAND_SHARPE = float(MEAN) / math.sqrt(SAMPLE_VARIANCE) * math.sqrt(365)
HAND_SORTINO = float(MEAN) / math.sqrt(DOWNSIDE_MEAN_SQUARE) * math.sqrt(365)
# Span 35 h; a year is 365.25 * 24 = 8766 h.
HAND_CAGR = 1.06 ** (8766 / 35) - 1
# Running peak: 1000, 1010, 1030, 1030, 1030, 1040, 1040, 1050, 1050, 1050, 1060. Deepest: 990
# under the peak 1030.
HAND_MAX_DRAWDOWN = 40 / 1030
HAND_CALMAR = HAND_CAGR / HAND_MAX_DRAWDOWN
# Drawdown spans: peak 1030 at 01-01 22:00, back to >= 1030 at 01-02 10:00: 12 h.
#   peak 1040 at 01-02 10:00, back at 11:00 + 1 h: 2 h.
#   1050 at 01-02 12:00 is matched (not undercut) at 01-03 05:00, which is the new peak; the dip
#   to 1045 at 06:00 recovers at 07:00: 2 h from 05:00 (19 h would be wrong: the peak moved).
HAND_DURATION_S = 12 * 3600.0
# Exposed steps: 0 (1 h), 1 (1 h), 5 (1 h), 7 (17 h), 8 (1 h) = 21 h of 35 h.
HAND_EXPOSURE = 21 / 35
HAND_PROFIT_FACTOR = (25.50 + 40.75) / 10.25
HAND_WIN_RATE = 2 / 4  # the break-even trade counts as a trade, not a win
HAND_EXPECTANCY = "14.00000000"  # (25.50 - 10.25 + 0 + 40.75) / 4 = 56 / 4


def fixture_metrics() -> Metrics:
    curve = curve_of(CLOSES, EQUITY, 1000.0, START)
    return compute_metrics(
        curve,
        TRADES,
        exposure=np.array(EXPOSED),
        buy_and_hold=buy_and_hold_return(FIRST_OPEN, LAST_CLOSES),
        fees_paid=FEES_PAID,
    )


def test_fixture_every_metric_matches_the_hand_computation() -> None:
    m = fixture_metrics()
    assert m.total_return == pytest.approx(0.06, rel=1e-12)
    assert m.cagr == pytest.approx(HAND_CAGR, rel=1e-12)
    assert m.sharpe == pytest.approx(HAND_SHARPE, rel=1e-12)
    assert m.sortino == pytest.approx(HAND_SORTINO, rel=1e-12)
    assert m.calmar == pytest.approx(HAND_CALMAR, rel=1e-12)
    assert m.max_drawdown == pytest.approx(HAND_MAX_DRAWDOWN, rel=1e-12)
    assert m.max_drawdown_duration == HAND_DURATION_S
    assert m.win_rate == HAND_WIN_RATE
    assert m.profit_factor == pytest.approx(HAND_PROFIT_FACTOR, rel=1e-12)
    assert m.expectancy == D(HAND_EXPECTANCY)
    assert m.exposure == pytest.approx(HAND_EXPOSURE, rel=1e-12)
    assert m.trades == 4
    assert m.fees_paid == D("3.10")
    assert m.final_equity == D("1060")
    assert m.buy_and_hold_return == pytest.approx(0.0375, rel=1e-12)


def test_fixture_daily_returns_and_drawdowns() -> None:
    curve = curve_of(CLOSES, EQUITY, 1000.0, START)
    starts, returns = daily_returns(curve)
    assert starts.tolist() == [at(1, 0), at(2, 0), at(3, 0)]
    assert returns.tolist() == pytest.approx([float(r) for r in R], rel=1e-12)
    peaks = [1010, 1030, 1030, 1030, 1040, 1040, 1050, 1050, 1050, 1060]
    expected = [1 - e / p for e, p in zip(EQUITY, peaks, strict=True)]
    assert drawdowns(curve).tolist() == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_fixture_json_is_fixed_text() -> None:
    def sig(x: float) -> float:
        return float(f"{x:.10g}")

    expected = {
        "total_return": sig(0.06),
        "cagr": sig(HAND_CAGR),
        "sharpe": sig(HAND_SHARPE),
        "sortino": sig(HAND_SORTINO),
        "calmar": sig(HAND_CALMAR),
        "max_drawdown": sig(HAND_MAX_DRAWDOWN),
        "max_drawdown_duration": 43200.0,
        "win_rate": 0.5,
        "profit_factor": sig(HAND_PROFIT_FACTOR),
        "expectancy": "14.00000000",
        "exposure": 0.6,
        "trades": 4,
        "fees_paid": "3.10000000",
        "final_equity": "1060.00000000",
        "buy_and_hold_return": 0.0375,
    }
    text = fixture_metrics().to_json()
    assert text == json.dumps(expected, indent=2)
    assert list(json.loads(text)) == [
        "total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown",
        "max_drawdown_duration", "win_rate", "profit_factor", "expectancy", "exposure",
        "trades", "fees_paid", "final_equity", "buy_and_hold_return",
    ]  # fmt: skip
    assert list(METRIC_KEYS) == list(json.loads(text))


def test_same_inputs_give_the_same_bytes() -> None:
    assert fixture_metrics().to_json().encode() == fixture_metrics().to_json().encode()


def test_start_is_derived_from_the_smallest_step() -> None:
    # Smallest interval between closes is 1 h, so the start is 21:00 - 1 h = 20:00.
    derived = curve_of(CLOSES, EQUITY, 1000.0)
    assert derived.period_start_ms == START
    assert derived.span_ms == 35 * HOUR


# -- edge cases -------------------------------------------------------------------------------


def test_no_trades_leaves_trade_metrics_null() -> None:
    m = run(curve_of(CLOSES, EQUITY, 1000.0))
    assert (m.win_rate, m.profit_factor, m.expectancy, m.trades) == (None, None, None, 0)
    out = m.to_dict()
    assert out["win_rate"] is None
    assert out["profit_factor"] is None
    assert out["expectancy"] is None
    assert out["trades"] == 0


def test_only_winners_have_no_profit_factor() -> None:
    m = run(curve_of(CLOSES, EQUITY, 1000.0), [trade("5"), trade("7.5")])
    assert m.profit_factor is None
    assert m.win_rate == 1.0
    assert m.expectancy == D("6.25")


def test_only_losers_have_profit_factor_zero() -> None:
    m = run(curve_of(CLOSES, EQUITY, 1000.0), [trade("-5"), trade("-1")])
    assert m.profit_factor == 0.0
    assert m.win_rate == 0.0
    assert m.expectancy == D("-3")
    assert m.to_dict()["expectancy"] == "-3.00000000"


def test_break_even_trades_are_neither_wins_nor_losses() -> None:
    m = run(curve_of(CLOSES, EQUITY, 1000.0), [trade("0"), trade("0"), trade("3")])
    assert m.win_rate == 1 / 3
    assert m.profit_factor is None  # no loss
    assert m.expectancy == D("1")


def test_expectancy_rounds_half_even_to_eight_places() -> None:
    # 0.00000001 / 2 = 0.000000005 -> ties to even: 0.00000000; 0.00000003 / 2 -> 0.00000002.
    curve = curve_of(CLOSES, EQUITY, 1000.0)
    assert run(curve, [trade("0.00000001"), trade("0")]).expectancy == D("0E-8")
    assert run(curve, [trade("0.00000003"), trade("0")]).expectancy == D("0.00000002")
    # A repeating quotient: 1 / 3 = 0.33333333...
    assert run(curve, [trade("1"), trade("0"), trade("0")]).expectancy == D("0.33333333")


def test_a_single_day_has_no_sharpe_or_sortino() -> None:
    m = run(curve_of([at(1, 1), at(1, 2), at(1, 3)], [990.0, 1010.0, 1020.0], 1000.0))
    assert m.sharpe is None
    assert m.sortino is None
    assert m.total_return == pytest.approx(0.02, rel=1e-12)
    assert m.max_drawdown == pytest.approx(0.01, rel=1e-12)


def test_flat_equity_has_no_ratios_and_no_drawdown() -> None:
    m = run(curve_of([at(1, 12), at(2, 12), at(3, 12)], [1000.0] * 3, 1000.0))
    assert m.total_return == 0.0
    assert m.cagr == 0.0
    assert m.sharpe is None  # standard deviation 0
    assert m.sortino is None  # no losing day
    assert m.max_drawdown == 0.0
    assert m.max_drawdown_duration == 0.0
    assert m.calmar is None  # no drawdown to divide by
    out = m.to_dict()
    assert (out["total_return"], out["cagr"], out["sharpe"], out["calmar"]) == (
        0.0,
        0.0,
        None,
        None,
    )


def test_no_losing_day_has_no_sortino_but_a_sharpe() -> None:
    # Daily candles: day equities 1010, 1030, 1040 from 1000: returns 1 %, 20/1010, 10/1030.
    closes = [at(2, 0), at(3, 0), at(4, 0)]
    m = run(curve_of(closes, [1010.0, 1030.0, 1040.0], 1000.0))
    r = [Fraction(1, 100), Fraction(20, 1010), Fraction(10, 1030)]
    mean = sum(r) / 3
    variance = sum((x - mean) ** 2 for x in r) / 2
    assert m.sortino is None
    assert m.sharpe == pytest.approx(float(mean) / math.sqrt(variance) * math.sqrt(365), rel=1e-12)


def test_unrecovered_drawdown_lasts_until_the_end() -> None:
    # Peak 1100 at 02:00; 1050 and 1080 after it: still under water at 06:00, 4 h later.
    # The earlier dip (990 at 01:00 under the 1000 start) lasted 00:00 -> 02:00: 2 h.
    closes = [at(1, 1), at(1, 2), at(1, 4), at(1, 6)]
    m = run(curve_of(closes, [990.0, 1100.0, 1050.0, 1080.0], 1000.0, at(1, 0)))
    assert m.max_drawdown_duration == 4 * 3600.0
    assert m.max_drawdown == pytest.approx(50 / 1100, rel=1e-12)


def test_a_drawdown_from_the_initial_equity_starts_at_the_start() -> None:
    # Under 1000 from the start (00:00) until 03:00, when equity is back at exactly 1000.
    closes = [at(1, 1), at(1, 2), at(1, 3)]
    m = run(curve_of(closes, [900.0, 950.0, 1000.0], 1000.0, at(1, 0)))
    assert m.max_drawdown_duration == 3 * 3600.0
    assert m.max_drawdown == pytest.approx(0.1, rel=1e-12)


def test_a_day_without_steps_keeps_the_previous_equity() -> None:
    # Daily candles for Jan 1 and Jan 3 (they close at Jan 2 00:00 and Jan 4 00:00); Jan 2 has
    # no candle, so its equity is Jan 1's and its return is 0.
    curve = curve_of([at(2, 0), at(4, 0)], [1100.0, 1210.0], 1000.0)
    starts, returns = daily_returns(curve)
    assert starts.tolist() == [at(1, 0), at(2, 0), at(3, 0)]
    assert returns.tolist() == pytest.approx([0.1, 0.0, 0.1], rel=1e-12, abs=0)
    assert returns[1] == 0.0


def test_a_step_belongs_to_the_day_its_candle_closed_in() -> None:
    # Closing at exactly 00:00 closes the previous day; one millisecond later is the new day.
    curve = curve_of(
        [at(1, 23), at(2, 0), at(2, 0, ms=1)], [1010.0, 1020.0, 1030.0], 1000.0, at(1, 22)
    )
    starts, returns = daily_returns(curve)
    assert starts.tolist() == [at(1, 0), at(2, 0)]
    assert returns.tolist() == pytest.approx([0.02, 10 / 1020], rel=1e-12)


def test_cagr_that_overflows_a_float_is_null() -> None:
    # Doubling in one hour annualises to 2 ** 8766, beyond float64: CAGR and Calmar are null.
    m = run(curve_of([at(1, 1), at(1, 2)], [1000.0, 2000.0], 1000.0, at(1, 0)))
    assert m.cagr is None
    assert m.calmar is None
    assert m.total_return == 1.0
    text = m.to_json()
    assert '"cagr": null' in text
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))


def test_huge_values_stay_exact_or_null_never_infinite() -> None:
    # Equity swinging between 1e-5 and 1e300 on daily candles: every daily return is ~1e305 or ~-1,
    # whose squares overflow, so Sharpe is not representable (null), not 0.
    closes = [at(2, 0), at(3, 0), at(4, 0), at(5, 0)]
    curve = curve_of(closes, [1e300, 1e-5, 1e300, 1e300], 1e-5)
    huge_win = trade("1E+400", entry=START, exit_=at(2, 0))
    tiny_loss = trade("-3E-20", entry=START, exit_=at(2, 0))
    m = run(curve, [huge_win, tiny_loss], fees_paid=D("1E+50"))
    assert m.sharpe is None
    assert m.profit_factor is None  # 1e400 / 3e-20 does not fit a float64
    out = m.to_dict()
    # Money is exact at any size: the float 1e300's exact integer value, 8 places.
    assert out["final_equity"] == f"{int(1e300)}.00000000"
    assert out["fees_paid"] == "1" + "0" * 50 + ".00000000"
    # (1e400 - 3e-20) / 2 to 8 places: 5 followed by 399 zeros; the -1.5e-20 rounds away.
    assert out["expectancy"] == "5" + "0" * 399 + ".00000000"
    json.loads(m.to_json(), parse_constant=lambda name: pytest.fail(f"{name} in JSON"))


def test_exposure_extremes() -> None:
    curve = curve_of(CLOSES, EQUITY, 1000.0, START)
    assert run(curve, exposed=[True] * 10).exposure == 1.0
    assert run(curve, exposed=[False] * 10).exposure == 0.0


def test_curve_keeps_its_own_read_only_copy() -> None:
    equity = np.array(EQUITY)
    closes = np.array(CLOSES, dtype=np.int64)
    curve = EquityCurve(closes, equity, 1000.0)
    equity[-1] = 1.0
    closes[0] = 0
    assert curve.final_equity == 1060.0
    assert int(curve.timestamps_ms[0]) == CLOSES[0]
    with pytest.raises(ValueError, match="read-only"):
        curve.equity[0] = 5.0


def test_negative_zero_prints_as_zero() -> None:
    # Equity back at exactly the initial 1000 (the last step's equity) gives total return 0.
    m = run(curve_of([at(1, 1), at(1, 2)], [900.0, 1000.0], 1000.0, at(1, 0)), buy_and_hold=-0.0)
    out = m.to_json()
    assert '"total_return": 0.0' in out
    assert '"buy_and_hold_return": 0.0' in out
    assert "-0.0" not in out


# -- validation -------------------------------------------------------------------------------

GOOD_TS = np.array([at(1, 1), at(1, 2)], dtype=np.int64)
GOOD_EQ = np.array([1000.0, 1001.0])


@pytest.mark.parametrize(
    ("kwargs", "field", "rule"),
    [
        ({"timestamps_ms": [at(1, 1), at(1, 2)]}, "timestamps_ms", "1-D int64 numpy array"),
        ({"timestamps_ms": GOOD_TS.astype(np.float64)}, "timestamps_ms", "1-D int64"),
        ({"timestamps_ms": GOOD_TS.reshape(1, 2)}, "timestamps_ms", "1-D int64"),
        ({"timestamps_ms": np.array([], dtype=np.int64), "equity": np.array([])},
         "timestamps_ms", "at least one step"),
        ({"timestamps_ms": np.array([at(1, 1), at(1, 1)], dtype=np.int64)},
         "timestamps_ms", "strictly increasing (step 1 is not after step 0)"),
        ({"timestamps_ms": np.array([at(1, 2), at(1, 1)], dtype=np.int64)},
         "timestamps_ms", "strictly increasing"),
        ({"timestamps_ms": np.array([-5, 10], dtype=np.int64)}, "timestamps_ms", "between 1970"),
        ({"equity": np.array([1000.0])}, "equity", "one value per step (2)"),
        ({"equity": np.array([1000, 1001])}, "equity", "1-D float64"),
        ({"equity": np.array([1000.0, math.nan])}, "equity", "finite (step 1)"),
        ({"equity": np.array([math.inf, 1.0])}, "equity", "finite (step 0)"),
        ({"equity": np.array([1000.0, 0.0])}, "equity", "> 0 (step 1)"),
        ({"equity": np.array([-1.0, 1.0])}, "equity", "> 0 (step 0)"),
        ({"equity": np.array([1e-300, 1e300]), "initial_equity": 1.0}, "equity", "fit a float64"),
        ({"initial_equity": 0.0}, "initial_equity", "finite number > 0"),
        ({"initial_equity": math.nan}, "initial_equity", "finite number > 0"),
        ({"initial_equity": True}, "initial_equity", "finite number > 0"),
        ({"initial_equity": "1000"}, "initial_equity", "finite number > 0"),
        ({"start_ms": at(1, 1)}, "start_ms", "before the first step"),
        ({"start_ms": float(at(1, 0))}, "start_ms", "must be an int"),
        ({"timestamps_ms": GOOD_TS[:1], "equity": GOOD_EQ[:1]}, "start_ms", "one-step curve"),
    ],
)  # fmt: skip
def test_equity_curve_rules(kwargs: dict[str, Any], field: str, rule: str) -> None:
    args: dict[str, Any] = {
        "timestamps_ms": GOOD_TS,
        "equity": GOOD_EQ,
        "initial_equity": 1000.0,
        "start_ms": None,
    }
    args.update(kwargs)
    with pytest.raises(MetricsInputError) as raised:
        EquityCurve(**args)
    assert raised.value.field == field
    assert rule in raised.value.rule
    assert isinstance(raised.value, InputError)
    assert raised.value.exit_code == 2
    assert str(raised.value).startswith(f"{field}: ")


def test_a_one_step_curve_with_a_start_is_valid() -> None:
    m = run(curve_of([at(1, 1)], [1010.0], 1000.0, at(1, 0)))
    assert m.total_return == pytest.approx(0.01, rel=1e-12)
    assert m.sharpe is None


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"symbol": ""}, "trade.symbol", "non-empty string"),
        ({"exit_reason": None}, "trade.exit_reason", "non-empty string"),
        ({"entry_ms": 1.5}, "trade.entry_ms", "must be an int"),
        ({"exit_ms": at(1, 20)}, "trade.exit_ms", "not be before entry_ms"),
        ({"qty": D("0")}, "trade.qty", "> 0"),
        ({"qty": 1.0}, "trade.qty", "finite Decimal"),
        ({"entry_price": D("-1")}, "trade.entry_price", "> 0"),
        ({"exit_price": D("NaN")}, "trade.exit_price", "finite Decimal"),
        ({"pnl": D("Infinity")}, "trade.pnl", "finite Decimal"),
        ({"fees": D("-0.01")}, "trade.fees", ">= 0"),
    ],
)
def test_closed_trade_rules(change: dict[str, Any], field: str, rule: str) -> None:
    args: dict[str, Any] = {
        "symbol": BTC,
        "entry_ms": at(1, 21),
        "exit_ms": at(1, 22),
        "qty": D("1"),
        "entry_price": D("100"),
        "exit_price": D("101"),
        "pnl": D("0.9"),
        "fees": D("0.1"),
        "exit_reason": "signal",
    }
    args.update(change)
    with pytest.raises(MetricsInputError) as raised:
        ClosedTrade(**args)
    assert raised.value.field == field
    assert rule in raised.value.rule


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"exposure": np.ones(3, dtype=np.bool_)}, "exposure", "one value per step (10)"),
        ({"exposure": np.ones(10, dtype=np.int64)}, "exposure", "1-D bool"),
        ({"buy_and_hold": math.nan}, "buy_and_hold", "finite return > -1"),
        ({"buy_and_hold": -1.0}, "buy_and_hold", "finite return > -1"),
        ({"fees_paid": 1.5}, "fees_paid", "finite Decimal"),
        ({"fees_paid": D("-1")}, "fees_paid", ">= 0"),
        ({"trades": [trade("1", entry=at(1, 19), exit_=at(1, 21))]}, "trades[0]", "within"),
        ({"trades": [trade("1"), trade("1", entry=at(3, 7), exit_=at(3, 8))]}, "trades[1]",
         "within"),
        ({"trades": ["not a trade"]}, "trades[0]", "must be a ClosedTrade"),
        ({"curve": "not a curve"}, "curve", "must be an EquityCurve"),
    ],
)  # fmt: skip
def test_compute_metrics_rules(change: dict[str, Any], field: str, rule: str) -> None:
    args: dict[str, Any] = {
        "curve": curve_of(CLOSES, EQUITY, 1000.0, START),
        "trades": [],
        "exposure": np.zeros(10, dtype=np.bool_),
        "buy_and_hold": 0.0,
        "fees_paid": D(0),
    }
    args.update(change)
    with pytest.raises(MetricsInputError) as raised:
        compute_metrics(args.pop("curve"), args.pop("trades"), **args)
    assert raised.value.field == field
    assert rule in raised.value.rule


def test_trades_at_the_edges_of_the_backtest_are_inside() -> None:
    m = run(curve_of(CLOSES, EQUITY, 1000.0, START), [trade("1", entry=START, exit_=CLOSES[-1])])
    assert m.trades == 1


@pytest.mark.parametrize(
    ("first_open", "closes", "field", "rule"),
    [
        ({}, {}, "first_open", "at least one symbol"),
        ({BTC: 1.0}, {ETH: np.array([1.0])}, "closes", "same symbols"),
        ({BTC: 0.0}, {BTC: np.array([1.0])}, f"first_open[{BTC}]", "price > 0"),
        ({BTC: math.inf}, {BTC: np.array([1.0])}, f"first_open[{BTC}]", "price > 0"),
        ({BTC: 1.0}, {BTC: np.array([], dtype=np.float64)}, f"closes[{BTC}]", "at least one"),
        ({BTC: 1.0}, {BTC: np.array([1.0, math.nan])}, f"closes[{BTC}]", "(index 1)"),
        ({BTC: 1.0}, {BTC: np.array([-1.0, 2.0])}, f"closes[{BTC}]", "(index 0)"),
        ({BTC: 1.0}, {BTC: [2.0]}, f"closes[{BTC}]", "1-D float64"),
    ],
)
def test_buy_and_hold_rules(
    first_open: dict[str, float], closes: dict[str, Any], field: str, rule: str
) -> None:
    with pytest.raises(MetricsInputError) as raised:
        buy_and_hold_return(first_open, closes)
    assert raised.value.field == field
    assert rule in raised.value.rule


def test_buy_and_hold_is_equal_weight_without_rebalancing() -> None:
    # BTC x2, ETH x0.5: half the money doubles, half halves: (2 + 0.5) / 2 - 1 = 0.25.
    result = buy_and_hold_return(
        {BTC: 100.0, ETH: 10.0}, {BTC: np.array([150.0, 200.0]), ETH: np.array([5.0])}
    )
    assert result == 0.25


# -- properties -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    closes: NDArray[np.int64]
    equity: NDArray[np.float64]
    initial: float
    exposed: NDArray[np.bool_]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    steps = draw(st.integers(min_value=2, max_value=60))
    # Steps of 1 h to 2 days, so curves cross midnights and skip whole days.
    gaps = draw(st.lists(st.integers(1, 48), min_size=steps, max_size=steps))
    first = at(1, 0) + draw(st.integers(0, 23)) * HOUR
    closes = first + np.cumsum(np.array(gaps, dtype=np.int64)) * HOUR
    moves = draw(
        st.lists(
            st.floats(-0.3, 0.3, allow_nan=False, allow_infinity=False),
            min_size=steps,
            max_size=steps,
        )
    )
    initial = draw(st.floats(1.0, 1e5, allow_nan=False, allow_infinity=False))
    equity = initial * np.exp(np.cumsum(moves))
    exposed = np.array(draw(st.lists(st.booleans(), min_size=steps, max_size=steps)))
    return Case(closes, equity, initial, exposed)


def metrics_of(case: Case, scale: float = 1.0, trades: list[ClosedTrade] | None = None) -> Metrics:
    curve = EquityCurve(case.closes, case.equity * scale, case.initial * scale)
    return compute_metrics(
        curve, trades or [], exposure=case.exposed, buy_and_hold=0.0, fees_paid=D(0)
    )


def reference_daily_returns(case: Case) -> list[float]:
    """Daily returns by a plain loop over calendar dates (no numpy)."""
    last_of_day: dict[date, float] = {}
    for close, equity in zip(case.closes.tolist(), case.equity.tolist(), strict=True):
        day = datetime.fromtimestamp((close - 1) / 1000, tz=UTC).date()
        last_of_day[day] = equity
    day, end = min(last_of_day), max(last_of_day)
    previous, returns = case.initial, []
    while day <= end:
        current = last_of_day.get(day, previous)
        returns.append(current / previous - 1.0)
        previous = current
        day += timedelta(days=1)
    return returns


def reference_drawdown(case: Case, start_ms: int) -> tuple[float, int]:
    """Max drawdown and longest peak-to-recovery span (ms) by a plain loop."""
    peak, peak_at, deepest, longest = case.initial, start_ms, 0.0, 0
    under = False
    for close, equity in zip(case.closes.tolist(), case.equity.tolist(), strict=True):
        if equity >= peak:
            if under:
                longest = max(longest, close - peak_at)
            peak, peak_at, under = equity, close, False
        else:
            under = True
            deepest = max(deepest, 1.0 - equity / peak)
    if under:
        longest = max(longest, int(case.closes[-1]) - peak_at)
    return deepest, longest


@settings(max_examples=200, deadline=None)
@given(cases())
def test_property_matches_plain_loop_references(case: Case) -> None:
    curve = EquityCurve(case.closes, case.equity, case.initial)
    _, returns = daily_returns(curve)
    assert returns.tolist() == pytest.approx(reference_daily_returns(case), rel=1e-12, abs=1e-15)
    deepest, longest = reference_drawdown(case, curve.period_start_ms)
    m = metrics_of(case)
    assert m.max_drawdown == pytest.approx(deepest, rel=1e-12, abs=1e-15)
    assert m.max_drawdown_duration == longest / 1000


@settings(max_examples=200, deadline=None)
@given(cases())
def test_property_ranges_and_consistency(case: Case) -> None:
    m = metrics_of(case)
    span_s = (int(case.closes[-1]) - (int(case.closes[0]) - int(np.diff(case.closes).min()))) / 1000
    assert 0.0 <= m.max_drawdown < 1.0
    assert 0.0 <= m.max_drawdown_duration <= span_s
    assert (m.max_drawdown == 0.0) == (m.max_drawdown_duration == 0.0)
    assert m.total_return == float(case.equity[-1]) / case.initial - 1.0
    assert m.final_equity == D(float(case.equity[-1])).quantize(D("0.00000001"))
    assert 0.0 <= m.exposure <= 1.0
    if m.sharpe is not None:
        _, returns = daily_returns(EquityCurve(case.closes, case.equity, case.initial))
        assert math.copysign(1.0, m.sharpe) == math.copysign(1.0, float(returns.mean()))
    if m.cagr is not None:
        assert (m.cagr > 0) == (m.total_return > 0) or m.total_return == 0.0
    text = m.to_json()
    parsed = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    assert list(parsed) == list(METRIC_KEYS)
    assert text == metrics_of(case).to_json()


@settings(max_examples=150, deadline=None)
@given(cases(), st.integers(-20, 20))
def test_property_scaling_by_a_power_of_two_changes_no_ratio(case: Case, power: int) -> None:
    # Multiplying by 2**k is exact in binary floating point, so every ratio is bit-identical.
    base = metrics_of(case).to_dict()
    scaled = metrics_of(case, 2.0**power).to_dict()
    assert base.pop("final_equity") is not None
    assert scaled.pop("final_equity") is not None
    assert scaled == base


@settings(max_examples=150, deadline=None)
@given(cases(), st.floats(0.01, 100.0, allow_nan=False))
def test_property_scaling_by_any_constant_keeps_returns_and_drawdown(
    case: Case, scale: float
) -> None:
    base, scaled = metrics_of(case), metrics_of(case, scale)
    assert scaled.total_return == pytest.approx(base.total_return, rel=1e-9, abs=1e-12)
    assert scaled.max_drawdown == pytest.approx(base.max_drawdown, rel=1e-9, abs=1e-12)
    assert scaled.exposure == base.exposure


@settings(max_examples=150, deadline=None)
@given(
    cases(),
    st.lists(st.decimals(min_value=-1000, max_value=1000, places=8, allow_nan=False), max_size=30),
)
def test_property_trade_statistics(case: Case, pnls: list[Decimal]) -> None:
    start = int(case.closes[0]) - int(np.diff(case.closes).min())
    trades = [trade(str(p), entry=start, exit_=int(case.closes[-1])) for p in pnls]
    m = metrics_of(case, trades=trades)
    assert m.trades == len(pnls)
    if not pnls:
        assert (m.win_rate, m.profit_factor, m.expectancy) == (None, None, None)
        return
    assert m.win_rate == sum(1 for p in pnls if p > 0) / len(pnls)
    assert m.expectancy is not None
    assert abs(m.expectancy - sum(pnls, D(0)) / len(pnls)) <= D("0.000000005")
    losses = [p for p in pnls if p < 0]
    if losses:
        assert m.profit_factor is not None
        expected = float(sum(p for p in pnls if p > 0) / -sum(losses))
        assert m.profit_factor == pytest.approx(expected, rel=1e-12)
    else:
        assert m.profit_factor is None


# -- speed ------------------------------------------------------------------------------------


def test_one_hundred_thousand_steps_well_under_50_ms() -> None:
    steps = 100_000
    rng = np.random.default_rng(7)
    closes = at(1, 0) + np.arange(1, steps + 1, dtype=np.int64) * HOUR
    equity = 1000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, steps)))
    exposed = rng.random(steps) < 0.4
    trades = [trade("1.5" if i % 3 else "-2", entry=at(1, 0), exit_=at(1, 1)) for i in range(1000)]
    best = math.inf
    for _ in range(5):
        began = time.perf_counter()
        curve = EquityCurve(closes, equity, 1000.0)
        compute_metrics(curve, trades, exposure=exposed, buy_and_hold=0.0, fees_paid=D("12.5"))
        best = min(best, time.perf_counter() - began)
    assert best < 0.050, f"{best * 1000:.1f} ms"
