"""What an allocation is computed from: recent returns, their covariance, expected returns.

Returns are log returns of closed candles only: at a decision at close *t* the newest candle used
is the one closing at *t* (no look-ahead). The covariance of the last ``window`` returns is shrunk
towards a scaled identity by Ledoit & Wolf's estimator (scikit-learn's ``LedoitWolf``): with a
week of hourly returns on a handful of symbols the sample covariance is noisy, and the shrunk one
is well conditioned. A candidate's expected return per candle is
``information_coefficient x score x confidence x volatility`` (Grinold's "alpha = IC x
volatility x score"): the agents' combined score, discounted by their confidence, read as a
forecast in units of the symbol's own volatility.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.covariance import LedoitWolf

from sigmax.domain.candles import CandleSeries
from sigmax.portfolio.problem import FloatArray, PortfolioInputError

Shrinkage = Literal["ledoit_wolf", "none"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A symbol that wants in: the agents' ``score`` (-1..1) and ``confidence`` (0..1), and
    ``cap``: the largest weight it may get (the risk agent's size over equity)."""

    symbol: str
    score: float
    confidence: float
    cap: float


def aligned_returns(
    series: Mapping[str, CandleSeries], symbols: Sequence[str], until_open_ms: int, window: int
) -> FloatArray:
    """The last ``window`` log returns of each symbol's closes, on the candles all of them have
    with an open time <= ``until_open_ms`` (rows: time, oldest first; columns: ``symbols``)."""
    cut = {s: series[s].until(until_open_ms) for s in symbols}
    common = None
    for s in symbols:
        stamps = cut[s].timestamp[-(window + 1) * 4 :]
        common = stamps if common is None else np.intersect1d(common, stamps, assume_unique=True)
    assert common is not None
    common = common[-(window + 1) :]
    if len(common) < 3:
        raise PortfolioInputError(
            "window",
            f"needs at least 3 candles common to {', '.join(symbols)} up to the decision "
            f"(found {len(common)})",
        )
    columns = []
    for s in symbols:
        positions = np.searchsorted(cut[s].timestamp, common)
        closes = cut[s].close[positions]
        columns.append(np.diff(np.log(closes)))
    return np.column_stack(columns)


def covariance(returns: FloatArray, shrinkage: Shrinkage) -> FloatArray:
    """The covariance of ``returns`` (rows: observations), shrunk or the sample one."""
    if returns.shape[0] < 2:
        raise PortfolioInputError("window", "needs at least 2 returns", returns.shape[0])
    if shrinkage == "ledoit_wolf":
        estimate = LedoitWolf(assume_centered=False).fit(returns).covariance_
    else:
        estimate = np.cov(returns, rowvar=False, ddof=1).reshape(returns.shape[1], -1)
    matrix = np.asarray(estimate, dtype=np.float64)
    return (matrix + matrix.T) / 2.0


def expected_returns(
    candidates: Sequence[Candidate], cov: FloatArray, information_coefficient: float
) -> FloatArray:
    """Per candle: ``information_coefficient x score x confidence x volatility``."""
    volatility = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    signal = np.array([c.score * c.confidence for c in candidates], dtype=np.float64)
    return np.asarray(information_coefficient * signal * volatility, dtype=np.float64)


def mean_returns(returns: FloatArray) -> FloatArray:
    """The trailing mean return of each column (the benchmark's expected returns when no
    agents' scores are at hand)."""
    return np.asarray(returns.mean(axis=0), dtype=np.float64)
