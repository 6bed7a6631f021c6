"""A backtest's metrics over a window of its closes: a fold's training or test stretch.

A trial is one backtest over the whole study window; each fold's in-sample and out-of-sample
figures are the metrics of ``docs/METRICS.md`` computed on a slice of that run:

* the equity curve between the window's first and last close, starting from the equity at the
  close before it (the window's opening), so returns, Sharpe and drawdowns are the window's own;
* the trades opened and closed inside it (a trade that straddles the window's edge counts in
  neither side's trade statistics; the equity curve still carries it);
* the per-step exposure, buy-and-hold over the window's candles and the fees of its fills.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from sigmax.backtest.metrics import (
    EquityCurve,
    Metrics,
    buy_and_hold_return,
    compute_metrics,
    daily_returns,
)
from sigmax.backtest.result import BacktestResult
from sigmax.backtest.runner import BacktestRun
from sigmax.errors import InputError
from sigmax.optimize.folds import Fold

OBJECTIVES = ("sharpe", "sortino", "calmar", "total_return", "profit_factor")
#: What an undefined objective counts as: the figure of an account that never trades (no
#: variance, no drawdown, no losing trade): 0 for returns and ratios, 1 (break-even) for the
#: profit factor. docs/OPTIMIZE.md says so.
NEUTRAL = {"sharpe": 0.0, "sortino": 0.0, "calmar": 0.0, "total_return": 0.0, "profit_factor": 1.0}

IntArray = np.ndarray[tuple[int], np.dtype[np.int64]]
FloatArray = np.ndarray[tuple[int], np.dtype[np.float64]]


class RunWindows:
    """Slices of one finished backtest."""

    def __init__(self, run: BacktestRun, result: BacktestResult) -> None:
        self.run = run
        self.result = result
        curve = result.curve
        self.closes: IntArray = curve.timestamps_ms
        self.equity: FloatArray = curve.equity
        previous = np.concatenate(([curve.period_start_ms], self.closes[:-1]))
        exposed = np.zeros(len(self.closes), dtype=bool)
        spans = [(r.trade.entry_ms, r.trade.exit_ms) for r in result.trades]
        for symbol, position in run.ledger.open_positions().items():
            if position.qty > 0:
                opened = max(
                    (f.fill.timestamp_ms for f in run.sink.fills if f.fill.symbol == symbol),
                    default=int(self.closes[0]),
                )
                spans.append((opened, int(self.closes[-1])))
        for entry, exit_ in spans:
            exposed |= (previous < exit_) & (self.closes > entry)
        self.exposed = exposed
        self.fill_ms = np.array([f.fill.timestamp_ms for f in run.sink.fills], dtype=np.int64)
        self.fees = [f.fill.fee for f in run.sink.fills]

    def curve(self, from_ms: int, to_ms: int) -> tuple[EquityCurve, int, int]:
        """The equity curve of the closes in ``[from_ms, to_ms]`` and its index range."""
        first = int(np.searchsorted(self.closes, from_ms, "left"))
        stop = int(np.searchsorted(self.closes, to_ms, "right"))
        if stop <= first:
            raise InputError(
                f"window: no close of the backtest between {from_ms} and {to_ms} "
                "(the folds must lie inside the backtest's window)"
            )
        whole = self.result.curve
        if first == 0:
            start_ms, opening = whole.period_start_ms, whole.initial_equity
        else:
            start_ms, opening = int(self.closes[first - 1]), float(self.equity[first - 1])
        curve = EquityCurve(
            self.closes[first:stop].copy(),
            self.equity[first:stop].copy(),
            opening,
            start_ms=start_ms,
        )
        return curve, first, stop

    def metrics(self, from_ms: int, to_ms: int) -> tuple[Metrics, EquityCurve]:
        curve, first, stop = self.curve(from_ms, to_ms)
        start_ms, end_ms = curve.period_start_ms, curve.end_ms
        trades = [
            r.trade
            for r in self.result.trades
            if r.trade.entry_ms >= start_ms and r.trade.exit_ms <= end_ms
        ]
        first_open: dict[str, float] = {}
        window_closes: dict[str, FloatArray] = {}
        for symbol, series in self.run.series.items():
            ends = series.timestamp + np.int64(series.timeframe.ms)
            inside = (ends >= int(curve.timestamps_ms[0])) & (ends <= end_ms)
            if inside.any():
                first_open[symbol] = float(series.open[int(np.argmax(inside))])
                window_closes[symbol] = series.close[inside].astype(np.float64)
        in_window = (self.fill_ms >= start_ms) & (self.fill_ms < end_ms)
        fees = sum(
            (fee for fee, inside in zip(self.fees, in_window, strict=True) if inside),
            Decimal(0),
        )
        metrics = compute_metrics(
            curve,
            trades,
            exposure=self.exposed[first:stop].copy(),
            buy_and_hold=buy_and_hold_return(first_open, window_closes),
            fees_paid=fees,
        )
        return metrics, curve


def objective_value(metrics: Metrics, objective: str) -> float:
    """The objective of ``metrics``; an undefined one counts as :data:`NEUTRAL`."""
    value = metrics.to_dict()[objective]
    if value is None:
        return NEUTRAL[objective]
    if not isinstance(value, int | float):
        raise InputError(f"--objective: {objective} is not a number")
    return float(value)


def window_daily_returns(curve: EquityCurve) -> FloatArray:
    """The window's daily returns (``docs/METRICS.md``), for the overfitting estimate."""
    return daily_returns(curve)[1]


def read_folds(windows: RunWindows, folds: tuple[Fold, ...], objective: str) -> dict[str, Any]:
    """Each fold's in-sample and out-of-sample objective, the objective over all the test
    windows together, and its value fold by fold (the pruner's steps)."""
    rows = []
    steps = []
    first_test = folds[0].test_from_ms
    for fold in folds:
        in_sample, _ = windows.metrics(fold.train_from_ms, fold.train_to_ms)
        out_of_sample, _ = windows.metrics(fold.test_from_ms, fold.test_to_ms)
        so_far, _ = windows.metrics(first_test, fold.test_to_ms)
        rows.append(
            {
                "in_sample": objective_value(in_sample, objective),
                "out_of_sample": objective_value(out_of_sample, objective),
                "in_sample_metrics": in_sample.to_dict(),
                "out_of_sample_metrics": out_of_sample.to_dict(),
            }
        )
        steps.append(objective_value(so_far, objective))
    whole, curve = windows.metrics(first_test, folds[-1].test_to_ms)
    return {
        "value": objective_value(whole, objective),
        "steps": steps,
        "folds": rows,
        "out_of_sample_metrics": whole.to_dict(),
        "curve": curve,
    }
