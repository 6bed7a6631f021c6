"""A learned policy as one more voter of the optimizer (the reinforcement-learning signal).

The orchestrator and the whole-history assessment take an optional :class:`PolicyVoter`; with
none (no model promoted) they are exactly what they were. A voter gives, for a decision, the
policy's action and its probability, read as a vote of score in [-1, 1] with confidence
``|score|``:

* a flat/long policy: action ``long`` or ``flat``, score ``2 * P(long) - 1``;
* a target-fraction policy: action ``target F`` (the fraction of equity it would hold) or
  ``flat`` at a target of 0; score ``F`` (a target of 0.5 is a long half as strong as 1), and
  when flat (exit) ``2 * P(long) - 1``, as against as it is sure of being flat. Its probability
  is that of being in the market, or flat, as it chose.

Its weight is the one its promotion set; the implementation lives in :mod:`sigmax.rl.voter`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sigmax.agents.market_view import MarketSnapshot, SymbolHistory
from sigmax.domain.candles import FloatArray

#: The voter's name in the optimizer's weights and in the decision record.
POLICY_VOTER = "rl"


@dataclass(frozen=True, slots=True)
class PolicyVote:
    """The policy at one decision."""

    #: ``long``, ``flat`` or ``target F`` (a fraction policy's target, two decimals).
    action: str
    #: The probability of ``action``: of being in the market (long, or any target above 0),
    #: or of being flat.
    probability: float
    long_probability: float
    model: str
    #: The vote's score in [-1, 1] (see the module).
    score: float
    #: A fraction policy's target fraction of equity in [0, 1]; None for a flat/long policy.
    target: float | None = None

    @property
    def confidence(self) -> float:
        return abs(self.score)


@dataclass(frozen=True, slots=True)
class PolicyVotes:
    """The policy at every candle close of a history (the batch path)."""

    score: FloatArray
    long_probability: FloatArray

    @property
    def confidence(self) -> FloatArray:
        values: FloatArray = np.abs(self.score)
        return values


class PolicyVoter(Protocol):
    """A promoted policy: its weight in the vote and what it says."""

    name: str
    weight: float
    #: The model id, its sha256 and the weight: part of the decisions' configuration digest.
    identity: str

    def vote(self, snapshot: MarketSnapshot) -> PolicyVote: ...

    def votes(self, history: SymbolHistory) -> PolicyVotes: ...
