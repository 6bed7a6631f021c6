"""A gymnasium environment over the backtest's whole-history arrays.

At each step the policy sees the observation at the close of candle ``t``
(:mod:`sigmax.rl.features`: nothing after that close) and chooses the position it wants: flat
or long (``Discrete(2)``), or a target fraction of equity in ``[0, 1]`` (``Box``). The order
fills at the open of candle ``t + 1``, as the paper venue fills a market order submitted at a
close, with the venue's fees and slippage (:class:`~sigmax.rl.costs.TradeCosts`); a candle that
traded nothing fills nothing. The reward is the change of log equity from the close of ``t`` to
the close of ``t + 1``, net of those costs, minus ``drawdown_penalty`` times the growth of the
drawdown from the episode's peak, times ``reward_scale``.

An episode is ``episode_length`` steps of one market from a random start inside the window (the
environment's seeded generator picks both), or the rest of the window when it is shorter. The
account is spot and all in quote currency: cash and a quantity of the base asset, never short.

Speed: the prices are Python lists and the observations one float32 matrix read by row (each
step returns a copy of its row, as gymnasium asks); ``sigmax bench rl`` reports steps per second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from sigmax.errors import InputError
from sigmax.rl.costs import TradeCosts
from sigmax.rl.features import CLIP, ObservationMatrix

ACTION_KINDS = ("discrete", "fraction")
#: A target fraction within this share of equity of the current one is no trade (no dust).
MIN_TRADE_FRACTION = 0.01


@dataclass(frozen=True, slots=True)
class MarketArrays:
    """One market's observations and prices, and the window of candles the env may use.

    ``first`` and ``last`` are candle indexes: decisions are made at the closes of ``first`` to
    ``last - 1`` and the last step's outcome is the close of ``last``.
    """

    symbol: str
    observations: ObservationMatrix
    open: np.ndarray[tuple[int], np.dtype[np.float64]]
    close: np.ndarray[tuple[int], np.dtype[np.float64]]
    volume: np.ndarray[tuple[int], np.dtype[np.float64]]
    first: int
    last: int

    def __post_init__(self) -> None:
        n = len(self.close)
        if not (len(self.open) == len(self.volume) == len(self.observations) == n):
            raise InputError(f"{self.symbol}: observations and prices must have equal lengths")
        if not 0 <= self.first < self.last < n:
            raise InputError(
                f"{self.symbol}: the window must hold at least two candles "
                f"(first {self.first}, last {self.last}, {n} candles)"
            )


@dataclass(frozen=True, slots=True)
class EnvConfig:
    """The environment's parameters (recorded with every model trained on it)."""

    episode_length: int = 720
    drawdown_penalty: float = 0.5
    reward_scale: float = 100.0
    actions: str = "discrete"
    capital: float = 10_000.0

    def __post_init__(self) -> None:
        if self.episode_length < 2:
            raise InputError(f"episode_length: must be at least 2 (got {self.episode_length})")
        if not 0 <= self.drawdown_penalty <= 100:
            raise InputError(
                f"drawdown_penalty: must be between 0 and 100 (got {self.drawdown_penalty})"
            )
        if not 0 < self.reward_scale <= 10_000:
            raise InputError(f"reward_scale: must be > 0 and <= 10000 (got {self.reward_scale})")
        if self.actions not in ACTION_KINDS:
            raise InputError(
                f"actions: must be one of {', '.join(ACTION_KINDS)} (got {self.actions})"
            )
        if not self.capital > 0:
            raise InputError(f"capital: must be > 0 (got {self.capital})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "episode_length": self.episode_length,
            "drawdown_penalty": self.drawdown_penalty,
            "reward_scale": self.reward_scale,
            "actions": self.actions,
            "capital": self.capital,
        }


class TradingEnv(gym.Env[np.ndarray[Any, Any], Any]):
    """Flat-or-long (or a target fraction) on one market at a time, the venue's costs."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium's attribute)

    def __init__(
        self, markets: Sequence[MarketArrays], costs: TradeCosts, config: EnvConfig
    ) -> None:
        if not markets:
            raise InputError("markets: the environment needs at least one market")
        features = {m.observations.shape[1] for m in markets}
        if len(features) != 1:
            raise InputError(f"markets: observations differ in width ({sorted(features)})")
        self.config = config
        self.costs = costs
        self._markets = tuple(markets)
        self._obs = tuple(m.observations for m in markets)
        self._open = tuple(m.open.tolist() for m in markets)
        self._close = tuple(m.close.tolist() for m in markets)
        self._volume = tuple(m.volume.tolist() for m in markets)
        width = features.pop()
        self.observation_space = gym.spaces.Box(-CLIP, CLIP, shape=(width,), dtype=np.float32)
        self.action_space: gym.spaces.Space[Any] = (
            gym.spaces.Discrete(2)
            if config.actions == "discrete"
            else gym.spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        )
        self._discrete = config.actions == "discrete"
        self._fee = costs.taker_fee
        # The episode's state, set by reset().
        self._m = 0
        self._t = 0
        self._end = 0
        self._cash = 0.0
        self._qty = 0.0
        self._equity = 0.0
        self._peak = 0.0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray[Any, Any], dict[str, Any]]:
        super().reset(seed=seed)
        m = int(self.np_random.integers(len(self._markets)))
        market = self._markets[m]
        span = market.last - market.first
        length = min(self.config.episode_length, span)
        start = market.first + int(self.np_random.integers(span - length + 1))
        self._m, self._t, self._end = m, start, start + length
        self._cash = self.config.capital
        self._qty = 0.0
        self._equity = self._peak = self.config.capital
        return self._obs[m][start].copy(), {"symbol": market.symbol}

    def step(self, action: Any) -> tuple[np.ndarray[Any, Any], float, bool, bool, dict[str, Any]]:
        m, t = self._m, self._t + 1
        target = float(action) if self._discrete else float(action[0])
        target = 0.0 if target < 0.0 else 1.0 if target > 1.0 else target
        open_, volume = self._open[m][t], self._volume[m][t]
        cash, qty = self._cash, self._qty
        if volume > 0.0:
            value = qty * open_
            wanted = target * (cash + value)
            change = wanted - value
            if change > MIN_TRADE_FRACTION * (cash + value):
                buy = change / open_
                price = self.costs.buy_price(open_, buy, volume)
                # Never spend more than the cash (the venue rejects a buy it cannot pay).
                affordable = cash / (price * (1.0 + self._fee))
                buy = buy if buy < affordable else affordable
                cash -= buy * price * (1.0 + self._fee)
                qty += buy
            elif -change > MIN_TRADE_FRACTION * (cash + value) or (target == 0.0 and qty > 0.0):
                sell = qty if target == 0.0 else min(qty, -change / open_)
                price = self.costs.sell_price(open_, sell, volume)
                cash += sell * price * (1.0 - self._fee)
                qty -= sell
        equity = cash + qty * self._close[m][t]
        before_drawdown = 1.0 - self._equity / self._peak
        peak = equity if equity > self._peak else self._peak
        drawdown = 1.0 - equity / peak
        growth = math.log(equity / self._equity) if equity > 0.0 else -CLIP
        deeper = drawdown - before_drawdown
        penalty = self.config.drawdown_penalty * deeper if deeper > 0.0 else 0.0
        reward = (growth - penalty) * self.config.reward_scale
        self._cash, self._qty, self._equity, self._peak, self._t = cash, qty, equity, peak, t
        terminated = equity <= 0.0
        truncated = t >= self._end
        return self._obs[m][t].copy(), reward, terminated, truncated, {}

    @property
    def equity(self) -> float:
        """The account's equity at the last close the episode reached."""
        return self._equity
