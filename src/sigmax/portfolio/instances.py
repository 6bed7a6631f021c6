"""Selection problems from real return data, for the solvers' benchmark and tests.

Eight real markets share one week: the four bundled Binance 1h markets (BTC, ETH, SOL, BNB
against USDT) and the four bundled arbitrage 1m markets (Binance.US BTC/USDT, BTC/USDC, BTC/USD
and Kraken BTC/USDC, the last close of each hour taken), 2023-03-01 to 2023-03-08 UTC. A
problem with ``n`` symbols takes the first ``n`` of them, the hourly log returns of a window
ending at ``end_hour`` (the covariance Ledoit-Wolf shrunk), the trailing mean return as the
expected return, each cap 1/k of the equity for ``k = max(1, n // 2)`` picks, a budget of the
whole equity, and the risk aversion that weighs risk and return equally for the equal-weight
selection of all ``n``, so neither term alone decides the selection.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from sigmax.data.catalog import bundled_data_dir
from sigmax.data.csv_store import load_candles
from sigmax.portfolio.estimates import covariance, mean_returns
from sigmax.portfolio.problem import FloatArray, PortfolioInputError, Problem

HOUR_MS = 3_600_000
WEEK_START_MS = 1_677_628_800_000  # 2023-03-01 00:00 UTC
#: Hour marks 01:00 of 2023-03-01 to 00:00 of 2023-03-08 (the first 1m candle closes at 00:01).
WEEK_HOURS = 168
#: The eight markets, in the order problems take them.
MARKETS: tuple[tuple[str, str], ...] = (
    ("candles", "binance_BTC-USDT_1h.csv"),
    ("candles", "binance_ETH-USDT_1h.csv"),
    ("candles", "binance_SOL-USDT_1h.csv"),
    ("candles", "binance_BNB-USDT_1h.csv"),
    ("arbitrage", "binanceus_BTC-USDC_1m.csv"),
    ("arbitrage", "kraken_BTC-USDC_1m.csv"),
    ("arbitrage", "binanceus_BTC-USD_1m.csv"),
    ("arbitrage", "binanceus_BTC-USDT_1m.csv"),
)


def _bundled(folder: str, name: str) -> Path:
    return bundled_data_dir().parent / folder / name


@cache
def hourly_closes() -> tuple[tuple[str, ...], FloatArray]:
    """The eight markets' hourly closes over the week (rows: the 168 hour marks from
    2023-03-01 01:00 to 2023-03-08 00:00; each the last close at or before that mark)."""
    names: list[str] = []
    columns: list[FloatArray] = []
    marks = WEEK_START_MS + HOUR_MS * np.arange(1, WEEK_HOURS + 1, dtype=np.int64)
    for folder, name in MARKETS:
        series = load_candles(_bundled(folder, name)).series
        closes_at = series.timestamp + series.timeframe.ms  # a candle's close time
        index = np.searchsorted(closes_at, marks, side="right") - 1
        if np.any(index < 0):
            raise PortfolioInputError("data", f"{name} has no candle closed by the week's start")
        names.append(f"{series.exchange}:{series.symbol}")
        columns.append(series.close[index])
    return tuple(names), np.column_stack(columns)


def real_problem(n: int, end_hour: int = WEEK_HOURS - 1, window: int = 72) -> Problem:
    """The selection problem of the first ``n`` markets over the ``window`` hours ending at
    ``end_hour`` (a row of :func:`hourly_closes`; see the module docstring)."""
    if not 1 <= n <= len(MARKETS):
        raise PortfolioInputError("n", f"must be between 1 and {len(MARKETS)}", n)
    if not window <= end_hour < WEEK_HOURS:
        raise PortfolioInputError("end_hour", f"must be in [{window}, {WEEK_HOURS})", end_hour)
    names, closes = hourly_closes()
    returns = np.diff(np.log(closes[end_hour - window : end_hour + 1, :n]), axis=0)
    cov = covariance(returns, "ledoit_wolf")
    mu = mean_returns(returns)
    picks = max(1, n // 2)
    cap = 1.0 / picks
    equal = np.full(n, cap)
    risk = float(equal @ cov @ equal)
    lam = 2.0 * float(np.abs(mu) @ equal) / risk if risk > 0 else 1.0
    return Problem(
        symbols=names[:n],
        mu=mu,
        cov=cov,
        upper=np.full(n, cap),
        budget=1.0,
        max_assets=picks,
        risk_aversion=lam,
    )
