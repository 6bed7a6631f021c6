"""The probability of backtest overfitting (PBO), by combinatorially symmetric cross-validation.

Bailey, Borwein, López de Prado and Zhu, "The Probability of Backtest Overfitting" (Journal of
Computational Finance, 2017). The formula and its choices are in ``docs/METRICS.md``:

* ``M`` is the T x N matrix of the out-of-sample daily returns of the N parameter sets a study
  evaluated (every trial, pruned ones too: each is a configuration that was tried);
* its rows are cut into S equal blocks (S even; the last T mod S days are left out); for each of
  the C(S, S/2) ways of choosing half the blocks as a pseudo in-sample set J (the rest is its
  complement J'), the set with the best Sharpe ratio on J is found, and its relative rank on J'
  is ``w = rank / (N + 1)``; its logit is ``lambda = ln(w / (1 - w))``;
* PBO is the share of the splits with ``lambda <= 0``: how often the best in-sample choice is
  no better than the median out of sample.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Blocks: as many as 16 (12,870 splits), each at least 5 days long.
MAX_BLOCKS = 16
MIN_BLOCK_DAYS = 5


@dataclass(frozen=True, slots=True)
class Overfitting:
    method: str
    pbo: float | None
    blocks: int
    splits: int
    configurations: int
    days: int
    #: Median logit of the chosen set's out-of-sample rank (> 0: better than the median).
    median_logit: float | None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "pbo": None if self.pbo is None else round(self.pbo, 6),
            "blocks": self.blocks,
            "splits": self.splits,
            "configurations": self.configurations,
            "days": self.days,
            "median_logit": None if self.median_logit is None else round(self.median_logit, 6),
            "reason": self.reason,
        }


def _sharpe(sums: np.ndarray, squares: np.ndarray, count: int) -> np.ndarray:
    """Per column: mean / sample standard deviation of daily returns (0 when flat)."""
    mean = sums / count
    variance = np.maximum(squares / count - mean * mean, 0.0) * count / max(count - 1, 1)
    std = np.sqrt(variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(std > 1e-15, mean / std, 0.0)
    return np.asarray(ratio)


def _relative_rank(values: np.ndarray, chosen: int) -> float:
    """Rank of ``values[chosen]`` among ``values`` (1 = lowest, ties averaged) over N + 1."""
    target = values[chosen]
    below = int(np.sum(values < target))
    equal = int(np.sum(values == target))
    rank = below + (equal + 1) / 2.0
    return rank / (len(values) + 1)


def probability_of_overfitting(returns: Sequence[Sequence[float]]) -> Overfitting:
    """PBO of the configurations whose daily returns are the rows of ``returns`` (one row per
    configuration, every row over the same days)."""
    configurations = len(returns)
    days = min((len(r) for r in returns), default=0)
    if configurations < 2:
        return Overfitting("cscv_pbo", None, 0, 0, configurations, days, None,
                           "needs at least two evaluated parameter sets")  # fmt: skip
    if any(len(r) != days for r in returns):
        raise ValueError("returns: every configuration must cover the same days")
    blocks = min(MAX_BLOCKS, (days // MIN_BLOCK_DAYS) // 2 * 2)
    if blocks < 2:
        return Overfitting("cscv_pbo", None, 0, 0, configurations, days, None,
                           f"needs at least {2 * MIN_BLOCK_DAYS} out-of-sample days")  # fmt: skip
    matrix = np.asarray(returns, dtype=np.float64).T  # T x N
    size = days // blocks
    used = matrix[: size * blocks].reshape(blocks, size, configurations)
    block_sums = used.sum(axis=1)  # S x N
    block_squares = (used * used).sum(axis=1)
    total_sums, total_squares = block_sums.sum(axis=0), block_squares.sum(axis=0)
    half = blocks // 2
    count = half * size
    logits = []
    for chosen_blocks in itertools.combinations(range(blocks), half):
        index = list(chosen_blocks)
        in_sums = block_sums[index].sum(axis=0)
        in_squares = block_squares[index].sum(axis=0)
        in_sample = _sharpe(in_sums, in_squares, count)
        out_sample = _sharpe(total_sums - in_sums, total_squares - in_squares, count)
        best = int(np.argmax(in_sample))
        w = _relative_rank(out_sample, best)
        logits.append(math.log(w / (1.0 - w)))
    values = np.asarray(logits)
    return Overfitting(
        "cscv_pbo",
        float(np.mean(values <= 0.0)),
        blocks,
        len(logits),
        configurations,
        days,
        float(np.median(values)),
    )


#: The Euler-Mascheroni constant, in the expected maximum of N standard normal draws.
EULER_GAMMA = 0.5772156649015329


def deflated_sharpe(
    returns: Sequence[Sequence[float]], best: int, *, tried: int | None = None
) -> dict[str, Any]:
    """The deflated Sharpe ratio of configuration ``best`` among all the rows of ``returns``
    (Bailey and López de Prado, "The Deflated Sharpe Ratio", Journal of Portfolio Management,
    2014; ``docs/METRICS.md``): the probability that its true Sharpe ratio is above the highest
    one N configurations of no skill would be expected to show, given the length, skewness and
    kurtosis of its returns. ``tried``: the number of configurations tried, when some of them
    (pruned trials) have no row; N is the larger of it and the rows."""
    from statistics import NormalDist

    configurations = max(len(returns), tried or 0)
    empty: dict[str, Any] = {"value": None, "sharpe": None, "benchmark": None, "reason": None}
    if len(returns) < 2:
        return {**empty, "reason": "needs at least two evaluated parameter sets"}
    matrix = np.asarray(returns, dtype=np.float64)
    days = matrix.shape[1]
    if days < 3:
        return {**empty, "reason": "needs at least three out-of-sample days"}
    means = matrix.mean(axis=1)
    stds = matrix.std(axis=1, ddof=1)
    sharpes = np.where(stds > 1e-15, means / np.where(stds > 1e-15, stds, 1.0), 0.0)
    chosen = matrix[best]
    if not stds[best] > 1e-15:
        return {**empty, "reason": "the best configuration's returns do not vary"}
    sharpe = float(sharpes[best])
    normal = NormalDist()
    spread = float(np.sqrt(np.var(sharpes, ddof=1)))
    benchmark = spread * (
        (1 - EULER_GAMMA) * normal.inv_cdf(1 - 1 / configurations)
        + EULER_GAMMA * normal.inv_cdf(1 - 1 / (configurations * math.e))
    )
    centred = chosen - chosen.mean()
    deviation = float(np.sqrt(np.mean(centred**2)))
    skewness = float(np.mean(centred**3)) / deviation**3
    kurtosis = float(np.mean(centred**4)) / deviation**4
    denominator = 1 - skewness * sharpe + (kurtosis - 1) / 4 * sharpe**2
    if not denominator > 0:
        return {**empty, "sharpe": sharpe, "reason": "the returns' moments leave no variance"}
    statistic = (sharpe - benchmark) * math.sqrt(days - 1) / math.sqrt(denominator)
    return {
        "value": round(normal.cdf(statistic), 6),
        "sharpe": round(sharpe, 6),
        "benchmark": round(benchmark, 6),
        "skewness": round(skewness, 6),
        "kurtosis": round(kurtosis, 6),
        "days": days,
        "configurations": configurations,
        "reason": None,
    }
